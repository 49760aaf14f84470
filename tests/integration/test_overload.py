"""A worker at capacity (core/lua_fanout.c, core/fanout_gate.c): the gateway's
own lag is not blamed on suppliers, and searches' fan-outs wait for the
worker to keep up or are told busy.

One worker, so a route that holds its loop (what a burst of searches on cold
JIT traces does) delays everything else on it. The suppliers are a small HTTP
server in this test process, on its own threads: their timing is real."""
import json
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from hmtest import Server, request, run_tests

APP = r'''
-- Hold this worker's loop for ms (slice > 0: in slices, letting the loop
-- run between them, as a stream of heavy searches does).
hm.route("GET", "/hog", function(req)
  local ms, slice = tonumber(req.args.ms), tonumber(req.args.slice or 0)
  local t0 = hm.time.monotonic()
  while (hm.time.monotonic() - t0) * 1000 < ms do
    local s0 = hm.time.monotonic()
    while slice > 0 and (hm.time.monotonic() - s0) * 1000 < slice do end
    if slice > 0 then hm.sleep(0.001) end
  end
  return { json = { held = true } }
end)

-- One supplier call through hm.fanout (the breaker counts its outcome).
hm.route("GET", "/call", function(req)
  local tmo = tonumber(req.args.tmo or 300)
  local r = hm.fanout({ { supplier = req.args.sup, timeout_ms = tmo, breaker_min_calls = 4,
    breaker_open_seconds = 30, fn = function()
      local res, err = hm.http.request({ url = req.args.url, timeout_ms = tmo })
      if not res then return nil, { kind = err == "timeout" and "timeout" or "supplier", message = err } end
      return { status = res.status }
    end } }, { deadline_ms = 1000 })
  local e = r[1].err
  return { json = { status = r[1].status, state = hm.supplier.circuit(req.args.sup),
                    err = type(e) == "table" and (e.message or e.kind) or e } }
end)

-- A gated fan-out (as searches make) whose one job sleeps `hold` seconds,
-- with a deadline 50 ms longer than the job's timeout: it queues 50 ms at most.
hm.route("GET", "/gated", function(req)
  local hold = tonumber(req.args.hold or 0)
  local tmo = hold * 1000 + 350
  local r, busy = hm.fanout({ { name = "j", timeout_ms = tmo, fn = function()
    if hold > 0 then hm.sleep(hold) end
    return true
  end } }, { deadline_ms = tmo + 50, gate = true })
  if not r then return { json = { busy = busy } } end
  return { json = { status = r[1].status } }
end)
'''

CONFIG = 'return { workers = 1, scripts = { "app.lua" } }'


class Supplier(BaseHTTPRequestHandler):
    """GET /?ms=N answers 200 after N ms."""

    def do_GET(self):
        ms = int(parse_qs(urlparse(self.path).query).get("ms", ["0"])[0])
        time.sleep(ms / 1000)
        body = b'{"ok":true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def background(fn, *args):
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("r", fn(*args)), daemon=True)
    t.start()
    return t, out


class Overload(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sup = ThreadingHTTPServer(("127.0.0.1", 0), Supplier)
        threading.Thread(target=cls.sup.serve_forever, daemon=True).start()
        cls.srv = Server(CONFIG, workers=1, extra_files={"app.lua": APP}).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.sup.shutdown()

    def get(self, path, timeout=10):
        st, _, body = request(self.srv.port, "GET", path, timeout=timeout)
        self.assertEqual(st, 200, body)
        return json.loads(body)

    def sup_url(self, ms):
        return "http://127.0.0.1:%d/?ms=%d" % (self.sup.server_address[1], ms)

    def call(self, sup, ms, tmo=300, hog_ms=0):
        """One supplier call; with hog_ms, the worker's loop is held for that
        long from just after the call started."""
        t, out = background(self.get, "/call?sup=%s&tmo=%d&url=%s" % (sup, tmo, self.sup_url(ms).replace("&", "%26")))
        if hog_ms:
            time.sleep(0.03)
            self.get("/hog?ms=%d" % hog_ms)
        t.join(10)
        return out["r"]

    def metric(self, name):
        _, _, m = request(self.srv.port, "GET", "/metrics")
        for line in m.decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
        return 0.0

    def test_an_answer_that_arrived_in_time_is_read_not_timed_out(self):
        # the supplier answers in 50 ms; the loop is held until ~630 ms, past
        # the 300 ms deadline: the answer waits in the socket, and is read
        # before the late deadline is seen
        r = self.call("s1", 50, hog_ms=600)
        self.assertEqual(r, {"status": "ok", "state": "closed"})

    def test_timeouts_of_a_saturated_worker_do_not_open_the_breaker(self):
        # a supplier slower than its deadline, while the worker is saturated:
        # timeouts, but the worker could not have read anything either
        for _ in range(5):
            r = self.call("s2", 2000, hog_ms=500)
            self.assertEqual(r["status"], "timeout")
        self.assertEqual(r["state"], "closed")
        self.assertEqual(self.metric('hotelmux_supplier_stalled_timeouts_total{supplier="s2"}'), 5)
        # the same timeouts with the worker idle are the supplier's: it opens
        for _ in range(4):
            r = self.call("s3", 2000)
            self.assertEqual(r["status"], "timeout")
        self.assertEqual(r["state"], "open")
        self.assertEqual(self.metric('hotelmux_supplier_stalled_timeouts_total{supplier="s3"}'), 0)

    def test_gated_fanouts_wait_for_a_lagging_worker_then_are_told_busy(self):
        before = self.metric('hotelmux_fanout_gate_total{event="busy"}')
        # two fan-outs hold their slots; then the loop lags (50 ms slices:
        # every probe fires ~40 ms late, over the 20 ms target)
        holders = [background(self.get, "/gated?hold=3")[0] for _ in range(2)]
        time.sleep(0.1)
        hog, _ = background(self.get, "/hog?ms=1500&slice=50")
        time.sleep(0.9)          # the limit shrinks a quarter per 100 ms of lag, to 2
        self.assertLessEqual(self.metric('hotelmux_fanout_gate_limit{worker="0"}'), 2.5)
        t0 = time.monotonic()
        j = self.get("/gated")
        waited = time.monotonic() - t0
        self.assertIn("busy", j.get("busy", ""), j)
        self.assertGreaterEqual(waited, 0.05)     # it waited its 50 ms first
        self.assertEqual(self.metric('hotelmux_fanout_gate_total{event="busy"}'), before + 1)
        hog.join(10)
        for t in holders:
            t.join(10)
        # the loop keeps up again: admitted
        self.assertEqual(self.get("/gated"), {"status": "ok"})


if __name__ == "__main__":
    run_tests(globals())
