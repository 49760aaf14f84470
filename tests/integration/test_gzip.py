"""gzip answers (core/gzip.c, http_conn.c), with gzip_level set: a client
that sends Accept-Encoding: gzip gets JSON and text of gzip_min_bytes or more
compressed, with Vary: Accept-Encoding; everything else goes as it is. Read
back by real curl (--compressed) and Python's gzip module. Off by default."""
import gzip
import json
import subprocess
import unittest

from hmtest import BINARY, Server, request, run_tests

APP = r'''
local big = {}
for i = 1, 400 do big[i] = { id = i, room = "DOUBLE STANDARD " .. i, price = "123.45" } end
hm.route("GET", "/big", function() return { json = big } end)
hm.route("GET", "/small", function() return { json = { ok = true } } end)
hm.route("GET", "/png", function()
  return { headers = { ["Content-Type"] = "image/png" }, body = string.rep("x", 5000) } end)
hm.route("GET", "/own", function()   -- the script encodes itself: left alone
  return { headers = { ["Content-Type"] = "application/json", ["Content-Encoding"] = "br" },
           body = string.rep("y", 5000) } end)
'''


class Gzip(unittest.TestCase):
    config = 'return { workers = 1, scripts = { "app.lua" }, gzip_level = 1 }'

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(cls.config, workers=1, extra_files={"app.lua": APP}).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def get(self, path, enc=None, method="GET"):
        st, h, body = request(self.srv.port, method, path, headers={"Accept-Encoding": enc} if enc else {})
        self.assertEqual(st, 200, body)
        return h, body

    def test_json_gzipped_for_a_client_that_accepts_it(self):
        h0, plain = self.get("/big")
        self.assertIsNone(h0.get("Content-Encoding"))
        self.assertEqual(h0.get("Vary"), "Accept-Encoding")     # another client would get gzip
        h, body = self.get("/big", "gzip, deflate")
        self.assertEqual(h.get("Content-Encoding"), "gzip")
        self.assertEqual(h.get("Vary"), "Accept-Encoding")
        self.assertEqual(int(h["Content-Length"]), len(body))
        self.assertLess(len(body), len(plain) / 4)
        self.assertEqual(gzip.decompress(body), plain)
        self.assertEqual(len(json.loads(plain)), 400)

    def test_real_curl_reads_it(self):
        url = "http://127.0.0.1:%d/big" % self.srv.port
        out = subprocess.run(["curl", "-s", "--compressed", "-w", "\n%{size_download} %{content_type}", url],
                             capture_output=True, text=True, check=True).stdout
        body, stats = out.rsplit("\n", 1)
        self.assertEqual(len(json.loads(body)), 400)
        self.assertLess(int(stats.split()[0]), len(body) / 4)   # what came over the wire

    def test_what_stays_as_it_is(self):
        for path, enc in (("/small", "gzip"), ("/png", "gzip"), ("/big", "gzip;q=0"), ("/big", "br, identity"),
                          ("/own", "gzip")):
            with self.subTest(path=path, enc=enc):
                h, body = self.get(path, enc)
                self.assertNotEqual(h.get("Content-Encoding"), "gzip")
                self.assertEqual(int(h["Content-Length"]), len(body))
        h, body = self.get("/own", "gzip")
        self.assertEqual((h.get("Content-Encoding"), body), ("br", b"y" * 5000))

    def test_head_answers_without_a_body(self):
        h, body = self.get("/big", "gzip", method="HEAD")
        self.assertEqual(body, b"")
        self.assertIsNone(h.get("Content-Encoding"))


class GzipOff(Gzip):
    """Off unless configured."""
    config = 'return { workers = 1, scripts = { "app.lua" } }'

    def test_json_gzipped_for_a_client_that_accepts_it(self):
        h, body = self.get("/big", "gzip")
        self.assertIsNone(h.get("Content-Encoding"))
        self.assertIsNone(h.get("Vary"))
        self.assertEqual(len(json.loads(body)), 400)

    def test_real_curl_reads_it(self):
        self.skipTest("gzip is off: nothing compressed to read")

    def test_bad_settings_are_refused(self):
        for bad in ("gzip_level = 10", "gzip_level = -1", "gzip_min_bytes = 'x'"):
            with self.subTest(bad=bad):
                p = subprocess.run([BINARY, "-t", "-c", "/dev/stdin"], input="return { %s }" % bad,
                                   capture_output=True, text=True)
                self.assertNotEqual(p.returncode, 0)
                self.assertIn("gzip_", p.stderr + p.stdout)


if __name__ == "__main__":
    run_tests(globals())
