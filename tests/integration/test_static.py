"""Static files (config `static`, core/static.c): content types, ETag/304,
HEAD, Cache-Control, index/redirect, reload, and every way out of the folder
refused (traversal, encoded dots and slashes, NUL, '//', absolute paths,
symlinks leaving the directory)."""

import json
import os
import socket
import unittest

from hmtest import Server, request, run_tests, HOST

CONFIG = """
return {
  admin_token = "tok",
  static = { ["/ui/"] = "web", ["/ui/docs"] = "docs" },
}
"""

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
FILES = {
    "web/index.html": "<!doctype html><title>ui</title>",
    "web/app.js": "console.log('hi');\n",
    "web/style.css": "body{color:red}\n",
    "web/logo.svg": "<svg xmlns='http://www.w3.org/2000/svg'/>",
    "web/logo.png": PNG,
    "web/data.json": '{"a":1}',
    "web/favicon.ico": b"\0\0\1\0",
    "web/font.woff2": b"wOF2\0\0",
    "web/ops.html": "<p>ops</p>",
    "web/sub/index.html": "<p>sub</p>",
    "web/.secret": "hidden",
    "docs/index.html": "<p>docs</p>",
    "outside.txt": "outside the web folder",
}


def get(port, path, headers=None, method="GET"):
    return request(port, method, path, headers=headers)


def raw_path(port, path, method="GET"):
    """Send the request line as-is (http.client would not keep every byte)."""
    s = socket.create_connection((HOST, port), timeout=5)
    try:
        s.sendall(("%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % (method, path)).encode("latin-1"))
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


class StaticFiles(unittest.TestCase):
    srv = None

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(CONFIG, workers=2, extra_files=FILES)
        cls.srv.start()
        d = cls.srv.dir
        os.symlink(os.path.join(d, "outside.txt"), os.path.join(d, "web", "leak.txt"))
        os.symlink("/etc", os.path.join(d, "web", "etc"))
        os.symlink(os.path.join(d, "web", "app.js"), os.path.join(d, "web", "alias.js"))
        st, _h, body = request(cls.srv.port, "POST", "/admin/reload", headers={"Authorization": "Bearer tok"})
        assert st == 200, body

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.cleanup()

    @property
    def port(self):
        return self.srv.port

    def test_content_types(self):
        want = {
            "/ui/": "text/html; charset=utf-8", "/ui/app.js": "text/javascript; charset=utf-8",
            "/ui/style.css": "text/css; charset=utf-8", "/ui/logo.svg": "image/svg+xml",
            "/ui/logo.png": "image/png", "/ui/data.json": "application/json",
            "/ui/favicon.ico": "image/x-icon", "/ui/font.woff2": "font/woff2",
        }
        for path, ctype in want.items():
            st, h, body = get(self.port, path)
            self.assertEqual(st, 200, path)
            self.assertEqual(h["Content-Type"], ctype, path)
            self.assertEqual(h["X-Content-Type-Options"], "nosniff")
        st, _h, body = get(self.port, "/ui/logo.png")
        self.assertEqual(body, PNG)

    def test_index_redirect_and_html_fallback(self):
        st, h, body = get(self.port, "/ui/")
        self.assertEqual((st, body), (200, FILES["web/index.html"].encode()))
        st, h, _ = get(self.port, "/ui")
        self.assertEqual(st, 301)
        self.assertEqual(h["Location"], "/ui/")
        self.assertEqual(get(self.port, "/ui/sub/")[2], b"<p>sub</p>")
        self.assertEqual(get(self.port, "/ui/ops")[2], b"<p>ops</p>")
        # the longer prefix wins
        self.assertEqual(get(self.port, "/ui/docs/")[2], b"<p>docs</p>")

    def test_cache_control(self):
        self.assertEqual(get(self.port, "/ui/")[1]["Cache-Control"], "no-cache")
        self.assertIn("max-age=", get(self.port, "/ui/app.js")[1]["Cache-Control"])
        self.assertIn("default-src 'self'", get(self.port, "/ui/")[1]["Content-Security-Policy"])

    def test_etag_304(self):
        st, h, body = get(self.port, "/ui/app.js")
        etag = h["ETag"]
        self.assertTrue(etag.startswith('"') and etag.endswith('"'), etag)
        for inm in (etag, "W/" + etag, '"nope", ' + etag, "*"):
            st, h2, body2 = get(self.port, "/ui/app.js", {"If-None-Match": inm})
            self.assertEqual(st, 304, inm)
            self.assertEqual(body2, b"")
            self.assertEqual(h2["ETag"], etag)
        st, _h, body = get(self.port, "/ui/app.js", {"If-None-Match": '"other"'})
        self.assertEqual((st, body), (200, FILES["web/app.js"].encode()))
        self.assertNotEqual(get(self.port, "/ui/style.css")[1]["ETag"], etag)

    def test_head(self):
        st, h, body = get(self.port, "/ui/app.js", method="HEAD")
        self.assertEqual(st, 200)
        self.assertEqual(body, b"")
        self.assertEqual(int(h["Content-Length"]), len(FILES["web/app.js"]))
        self.assertEqual(h["Content-Type"], "text/javascript; charset=utf-8")

    def test_methods(self):
        for m in ("POST", "PUT", "DELETE"):
            st, h, body = request(self.port, m, "/ui/app.js", body=b"x")
            self.assertEqual(st, 405, m)
            self.assertIn("GET", h["Allow"])
            check_error_body_loose(self, body, 405)

    def test_missing(self):
        for path in ("/ui/nope.js", "/ui/sub/nope", "/ui/nodir/", "/ui/docs/app.js"):
            st, h, body = get(self.port, path)
            self.assertEqual(st, 404, path)
            self.assertEqual(h["Content-Type"], "application/json")
            check_error_body_loose(self, body, 404)
        # dotfiles are never loaded; a dot-name is refused outright
        st, _h, body = get(self.port, "/ui/.secret")
        self.assertIn(st, (400, 404))
        self.assertNotIn(b"hidden", body)

    def test_traversal(self):
        for path in ("/ui/../core/main.c", "/ui/..", "/ui/sub/../app.js", "/ui/%2e%2e/outside.txt",
                     "/ui/%2E%2E/outside.txt", "/ui/.%2e/outside.txt", "/ui/sub/%2e%2e/%2e%2e/outside.txt",
                     "/ui//etc/passwd", "/ui//app.js", "/ui/%2fetc%2fpasswd", "/ui/sub%2f..%2f..%2foutside.txt",
                     "/ui/%00app.js", "/ui/app.js%00.png", "/ui/..%5c..%5coutside.txt", "/ui/.\\..\\outside.txt",
                     "/ui/./app.js", "/ui/%", "/ui/%zz"):
            st, body = raw_path(self.port, path)
            self.assertIn(st, (400, 404), path)
            self.assertNotIn(b"outside the web folder", body, path)
            self.assertNotIn(b"root:", body, path)

    def test_absolute_and_symlinks(self):
        for path in ("/ui//etc/passwd", "/ui/etc/passwd", "/ui/leak.txt", "/ui/" + self.srv.dir + "/outside.txt"):
            st, body = raw_path(self.port, path)
            self.assertIn(st, (400, 404), path)
            self.assertNotIn(b"outside the web folder", body)
            self.assertNotIn(b"root:", body)
        # a symlink that stays inside the folder is served
        st, _h, body = get(self.port, "/ui/alias.js")
        self.assertEqual((st, body), (200, FILES["web/app.js"].encode()))

    def test_other_paths_untouched(self):
        st, _h, _b = get(self.port, "/health")
        self.assertEqual(st, 200)
        st, _h, _b = get(self.port, "/uix/app.js")
        self.assertEqual(st, 404)

    def test_reload_refreshes(self):
        p = os.path.join(self.srv.dir, "web", "new.txt")
        with open(p, "w") as f:
            f.write("fresh")
        self.assertEqual(get(self.port, "/ui/new.txt")[0], 404)
        st, _h, body = request(self.port, "POST", "/admin/reload", headers={"Authorization": "Bearer tok"})
        self.assertEqual(st, 200, body)
        st, h, body = get(self.port, "/ui/new.txt")
        self.assertEqual((st, body), (200, b"fresh"))
        self.assertEqual(h["Content-Type"], "text/plain; charset=utf-8")


class StaticConfig(unittest.TestCase):
    def test_missing_dir_serves_404(self):
        with Server('return { static = { ["/ui/"] = "nowhere" } }', workers=1) as srv:
            st, _h, body = get(srv.port, "/ui/")
            self.assertEqual(st, 404)
            self.assertIn("nowhere", srv.log_text())

    def test_bad_prefix_refused(self):
        for bad in ('"ui/"', '"/a/../b/"', '"/a//b/"', '"/a b/"'):
            srv = Server('return { static = { [%s] = "web" } }' % bad, workers=1, expect_exit_code=1)
            with self.assertRaises(Exception):
                srv.start()
            self.assertIn("static", srv.log_text())
            srv.cleanup()


def check_error_body_loose(tc, body, status):
    j = json.loads(body.decode())
    tc.assertEqual(j["code"], status)
    tc.assertIsInstance(j["msg"], str)
    tc.assertIsNone(j["data"])


if __name__ == "__main__":
    run_tests(globals())
