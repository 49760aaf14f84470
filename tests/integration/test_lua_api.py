"""The hm Lua API from real handlers: yielding HTTP fan-out, sleep, errors, sandbox."""
import http.server
import json
import os
import re
import socketserver
import threading
import time
import unittest

from hmtest import Server, request, run_tests


class _Upstream(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_GET(self):
        m = re.search(r"ms=(\d+)", self.path)
        delay = int(m.group(1)) if m else 0
        time.sleep(delay / 1000.0)
        body = json.dumps({"port": self.server.server_address[1], "delay": delay,
                           "rid": self.headers.get("X-Request-Id")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Upstream", "yes")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _ThreadingServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def start_upstream():
    srv = _ThreadingServer(("127.0.0.1", 0), _Upstream)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


APP = r'''
hm.route("GET", "/fanout", function(req)
  local reqs = {}
  for port in req.args.ports:gmatch("%d+") do
    reqs[#reqs + 1] = { url = "http://127.0.0.1:" .. port .. "/?ms=" .. req.args["ms" .. #reqs + 1] }
  end
  local t0 = hm.time.monotonic()
  local results = hm.http.multi(reqs)
  local out = {}
  for i, r in ipairs(results) do
    out[i] = r.error and { error = r.error } or hm.json.decode(r.body)
  end
  return { json = { results = out, elapsed = hm.time.monotonic() - t0,
                    upstream_header = results[1].headers and results[1].headers["x-upstream"] } }
end)

hm.route("GET", "/one", function(req)
  local res, err = hm.http.request{ url = req.args.url, timeout_ms = tonumber(req.args.timeout or "2000") }
  if not res then return { status = 502, json = { err = err } } end
  return { json = { status = res.status, body = res.body } }
end)

hm.route("GET", "/sleep", function(req)
  hm.sleep(tonumber(req.args.s))
  return "slept"
end)

hm.route("GET", "/boom", function(req)
  local t = nil
  return t.field   -- line 30: attempt to index a nil value
end)

hm.route("GET", "/req/{id}", function(req)
  return { json = { method = req.method, path = req.path, query = req.query, args = req.args,
                    params = req.params, ua = req.headers["user-agent"], id = req.id,
                    body = req.body } }
end)

hm.route("POST", "/req/{id}", function(req)
  return { status = 201, headers = { ["x-len"] = #req.body, ["content-type"] = "text/x-test" },
           body = req.body }
end)

hm.route("GET", "/bad/{kind}", function(req)
  local k = req.params.kind
  if k == "status" then return { status = 99 } end
  if k == "type" then return 42 end
  if k == "headers" then return { headers = { 1, 2 } } end
  if k == "json" then return { json = { f = function() end } } end
  if k == "yield" then coroutine.yield() end
  if k == "route" then hm.route("GET", "/late", function() end) end
  if k == "nested" then
    local co = coroutine.wrap(function() hm.sleep(0.01) end)
    co()
  end
  if k == "nilret" then return nil end
  return "unreachable"
end)

hm.route("GET", "/sandbox", function(req)
  local ok_req, err_req = pcall(require, "cjson")
  local lf, lf_err = loadfile("/etc/passwd")
  local bc = load(string.dump(function() return 1 end))
  local helper = require("helpers.util")
  return { json = {
    os_execute = os.execute == nil, io = io == nil, ffi = package.preload.ffi == nil,
    loadlib = package.loadlib == nil, require_c = not ok_req, loadfile_outside = lf == nil,
    bytecode = bc == nil, helper = helper.twice(21), sethook = debug.sethook == nil,
  } }
end)

hm.route("GET", "/api", function(req)
  local doc = hm.xml.parse('<a x="1"><b>hi</b></a>')
  return { json = {
    sha = hm.crypto.sha256_hex("abc"),
    b64 = hm.crypto.base64_encode("hello"),
    xml = doc.tag .. ":" .. doc.attr.x .. ":" .. doc[1].text,
    now = hm.time.now() > 1.7e9,
    json = hm.json.decode('{"k":[1,2]}').k[2],
    worker = hm.worker_id >= 0,
  } }
end)

return { self_check = function() return true end }
'''

HELPER = "return { twice = function(x) return x * 2 end }\n"

CONFIG = r'''
return {
  admin_token = "t0ken",
  scripts = { "app.lua" },
  limits = { drain_timeout_ms = 3000 },
  routes = { ["GET /hello"] = function(req) return { json = { hello = "world" } } end },
}
'''


class LuaApi(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ups = [start_upstream() for _ in range(3)]
        cls.srv = Server(CONFIG, workers=1,
                         extra_files={"app.lua": APP, "helpers/util.lua": HELPER}).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.cleanup()
        for u in cls.ups:
            u.shutdown()

    def get(self, path, **kw):
        return request(self.srv.port, "GET", path, **kw)

    def test_multi_is_concurrent(self):
        ports = ",".join(str(u.server_address[1]) for u in self.ups)
        t0 = time.monotonic()
        st, _, body = self.get("/fanout?ports=%s&ms1=100&ms2=200&ms3=300" % ports)
        wall = time.monotonic() - t0
        self.assertEqual(st, 200, body)
        j = json.loads(body)
        self.assertEqual([r["delay"] for r in j["results"]], [100, 200, 300])
        # ~ the slowest (300 ms), far from the sum (600 ms)
        self.assertGreaterEqual(j["elapsed"], 0.29)
        self.assertLess(j["elapsed"], 0.5, j)
        self.assertLess(wall, 0.6)
        self.assertEqual(j["upstream_header"], "yes")
        # the request id travels to the supplier call
        self.assertTrue(j["results"][0]["rid"])

    def test_multi_reports_failures_in_place(self):
        ports = "%d,1" % self.ups[0].server_address[1]
        st, _, body = self.get("/fanout?ports=%s&ms1=0&ms2=0" % ports)
        j = json.loads(body)
        self.assertEqual(st, 200)
        self.assertEqual(j["results"][0]["delay"], 0)
        self.assertIn("error", j["results"][1])

    def test_request_timeout_and_refused(self):
        port = self.ups[0].server_address[1]
        st, _, body = self.get("/one?url=http://127.0.0.1:%d/%%3Fms=1000&timeout=100" % port)
        self.assertEqual(st, 502)
        self.assertEqual(json.loads(body)["err"], "timeout")
        st, _, body = self.get("/one?url=http://127.0.0.1:1/")
        self.assertEqual(st, 502)
        self.assertTrue(json.loads(body)["err"])

    def test_sleep_does_not_block_the_worker(self):
        # one worker: while a handler sleeps, others are still served
        result = {}

        def slow():
            result["r"] = self.get("/sleep?s=1")
        th = threading.Thread(target=slow)
        t0 = time.monotonic()
        th.start()
        time.sleep(0.1)
        st, _, _ = self.get("/hello")
        fast = time.monotonic() - t0
        th.join()
        self.assertEqual(st, 200)
        self.assertLess(fast, 0.6)
        self.assertEqual(result["r"][0], 200)
        self.assertEqual(result["r"][2], b"slept")

    def test_script_error_is_a_500_envelope_with_file_line(self):
        st, hdrs, body = self.get("/boom", headers={"X-Request-Id": "boom-1"})
        self.assertEqual(st, 500)
        j = json.loads(body)
        self.assertEqual(j["code"], 500)
        self.assertEqual(j["requestId"], "boom-1")
        self.assertNotIn("field", body.decode())  # no script internals to the client
        time.sleep(0.1)
        log = self.srv.log_text()
        self.assertRegex(log, r"app\.lua:30: attempt to index")
        self.assertIn("boom-1", log)
        st, _, _ = self.get("/hello")
        self.assertEqual(st, 200)

    def test_request_fields(self):
        st, hdrs, body = self.get("/req/abc%20d?x=1&y=a+b&z=%41", headers={"User-Agent": "t/1"})
        self.assertEqual(st, 200)
        j = json.loads(body)
        self.assertEqual(j["method"], "GET")
        self.assertEqual(j["path"], "/req/abc%20d")
        self.assertEqual(j["params"], {"id": "abc d"})
        self.assertEqual(j["args"], {"x": "1", "y": "a b", "z": "A"})
        self.assertEqual(j["ua"], "t/1")
        self.assertEqual(j["id"], hdrs.get("x-request-id"))
        st, hdrs, body = request(self.srv.port, "POST", "/req/1", body=b"\x00\x01binary")
        self.assertEqual(st, 201)
        self.assertEqual(body, b"\x00\x01binary")
        self.assertEqual(hdrs.get("x-len"), "8")
        self.assertEqual(hdrs.get("content-type"), "text/x-test")

    def test_bad_handler_results_are_500s(self):
        for kind in ("status", "type", "headers", "json", "yield", "route", "nested"):
            st, _, body = self.get("/bad/" + kind)
            self.assertEqual(st, 500, kind)
            self.assertEqual(json.loads(body)["code"], 500, kind)
        st, _, body = self.get("/bad/nilret")
        self.assertEqual(st, 204)
        self.assertEqual(body, b"")
        log = self.srv.log_text()
        self.assertIn("yielded outside an hm", log)
        self.assertIn("routes can only be declared while scripts load", log)
        self.assertIn("nested coroutine", log)

    def test_sandbox(self):
        st, _, body = self.get("/sandbox")
        self.assertEqual(st, 200, body)
        j = json.loads(body)
        for k, v in j.items():
            if k != "helper":
                self.assertTrue(v, k)
        self.assertEqual(j["helper"], 42)

    def test_library_modules(self):
        st, _, body = self.get("/api")
        self.assertEqual(st, 200, body)
        j = json.loads(body)
        self.assertEqual(j["sha"], "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        self.assertEqual(j["b64"], "aGVsbG8=")
        self.assertEqual(j["xml"], "a:1:hi")
        self.assertTrue(j["now"])
        self.assertEqual(j["json"], 2)
        self.assertTrue(j["worker"])


# Every Lua state draws its own math.random sequence: LuaJIT seeds each state
# with the same constant, so two workers once made the same "random" booking
# ids (found by test_chaos: two DerbySoft bookings sharing one derbyResId).
RANDOM_CONFIG = r"""
hm.shared.set("first:" .. hm.worker_id .. ":" .. hm.generation, math.random(1, 2^31 - 1))
return {
  listen = "127.0.0.1:0",
  routes = {
    ["GET /firsts"] = function()
      local out = {}
      for _, k in ipairs(hm.shared.keys("first:", 100)) do out[k] = hm.shared.get(k) end
      return { json = out }
    end,
  },
}
"""


class RandomSeeds(unittest.TestCase):
    def test_each_lua_state_has_its_own_random_sequence(self):
        srv = Server(RANDOM_CONFIG, workers=2).start()
        try:
            st, _, body = request(srv.port, "GET", "/firsts")
            self.assertEqual(st, 200, body)
            firsts = json.loads(body)
            workers = {k: v for k, v in firsts.items() if not k.startswith("first:-1:")}   # not the loader's state
            self.assertEqual(len(workers), 2, firsts)
            self.assertEqual(len(set(firsts.values())), len(firsts), firsts)
        finally:
            srv.stop()


if __name__ == "__main__":
    run_tests(globals())
