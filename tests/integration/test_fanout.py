"""hm.fanout (concurrent jobs, per-job and overall deadlines, supplier circuit
breaker and rate limit), hm.money and hm.shared from real handlers."""
import json
import time
import unittest

from hmtest import Server, request, run_tests

APP = r'''
local M = {}
function M.init_worker()
  hm.shared.incr("init:" .. hm.worker_id, 1, 0)
end
local function job(name, ms, result, supplier, timeout_ms)
  return { name = name, supplier = supplier, timeout_ms = timeout_ms, fn = function()
    if ms > 0 then hm.sleep(ms / 1000) end
    if result == "raise" then error("boom in " .. name) end
    if result == "throttled" then return nil, { kind = "throttled", retry_after = 2 } end
    if result == "fail" then return nil, { kind = "supplier", message = "bad" } end
    if result == "http" then
      local r = hm.http.request({ url = hm.self_url() .. "/slow", timeout_ms = 5000 })
      return r and r.status
    end
    return { name = name, ms = ms }
  end }
end

hm.route("GET", "/slow", function() hm.sleep(2) return { json = { slow = true } } end)
hm.route("GET", "/wait", function(req) hm.sleep(tonumber(req.args.ms) / 1000) return { json = {} } end)

-- hm.http.span: from the first outbound call (in any fan-out job) to the last answer
hm.route("GET", "/span", function()
  local before = hm.http.span()
  hm.sleep(0.3)                       -- not upstream time
  local function call(ms)
    return { name = "w" .. ms, fn = function()
      return hm.http.request({ url = hm.self_url() .. "/wait?ms=" .. ms, timeout_ms = 2000 }).status end }
  end
  hm.fanout({ call(100), call(200) })
  return { json = { before = before == nil, span = hm.http.span() } }
end)

hm.route("GET", "/mixed", function()
  local t0 = hm.time.monotonic()
  local r = hm.fanout({
    job("a", 50, "ok"), job("b", 150, "ok"), job("c", 0, "ok"),
    job("d", 10, "raise"), job("e", 10, "fail"), job("f", 10, "throttled"),
    job("g", 2000, "ok", nil, 200), job("h", 0, "http", nil, 250),
  }, { deadline_ms = 600 })
  return { json = { r = r, elapsed = hm.time.monotonic() - t0 } }
end)

hm.route("GET", "/deadline", function()
  local t0 = hm.time.monotonic()
  local r = hm.fanout({ job("x", 1000, "ok"), job("y", 20, "ok") }, { deadline_ms = 100 })
  return { json = { r = r, elapsed = hm.time.monotonic() - t0 } }
end)

hm.route("GET", "/sync", function()
  local r = hm.fanout({ job("s1", 0, "ok"), job("s2", 0, "ok") })
  return { json = { r = r } }
end)

hm.route("GET", "/breaker", function(req)
  local out = {}
  for i = 1, tonumber(req.args.n or 1) do
    local r = hm.fanout({ { name = "sup", supplier = req.args.sup, breaker_min_calls = 4,
      breaker_open_seconds = tonumber(req.args.open or 1), fn = function()
        if req.args.mode == "fail" then return nil, { kind = "supplier" } end
        return { ok = true }
      end } })
    out[i] = r[1].status
  end
  return { json = { statuses = out, state = hm.supplier.circuit(req.args.sup) } }
end)
-- The supplier call inside an outer job that times out first: the supplier
-- job is aborted without an outcome (as when a client goes away).
hm.route("GET", "/breaker/aborted", function(req)
  local r = hm.fanout({ { name = "outer", timeout_ms = 50, fn = function()
    return hm.fanout({ { name = "sup", supplier = req.args.sup, breaker_min_calls = 4, breaker_open_seconds = 1,
                         timeout_ms = 1000, fn = function() hm.sleep(0.3); return { ok = true } end } })[1]
  end } })
  return { json = { status = r[1].status, state = hm.supplier.circuit(req.args.sup) } }
end)

hm.route("GET", "/qps", function(req)
  local out = {}
  for i = 1, 10 do
    local r = hm.fanout({ { supplier = "limited", qps = 3, fn = function() return 1 end } })
    out[i] = r[1].status
  end
  return { json = { statuses = out } }
end)

hm.route("GET", "/throttle", function(req)
  local first = hm.fanout({ { supplier = "thr", fn = function() return nil, { kind = "throttled", retry_after = 1 } end } })
  local second = hm.fanout({ { supplier = "thr", fn = function() return 1 end } })
  return { json = { first = first[1].status, second = second[1].status } }
end)

hm.route("GET", "/money", function()
  local m = hm.money
  return { json = { m.norm(84.5), m.add("0.1", "0.2"), m.mul("78.00", "1.15"), m.div("10", "3", 2),
    m.round("2.345", 2), m.round("-2.345", 2), m.cmp("1.0", "1.00"), m.norm("abc") == nil,
    m.sub("1", "2.5"), m.norm("120.0000004"), m.norm("1e5") == nil } }
end)

hm.route("GET", "/timer", function(req)
  local ok = hm.timer.at(0.05, function()
    hm.sleep(0.01)   -- background coroutines may wait like handlers
    hm.shared.set("timer:" .. req.args.k, "fired")
  end)
  return { json = { armed = ok, before = hm.shared.get("timer:" .. req.args.k) } }
end)

hm.route("GET", "/timer/{k}", function(req)
  return { json = { v = hm.shared.get("timer:" .. req.params.k),
                    init = hm.shared.get("init:" .. hm.worker_id) } }
end)

hm.route("GET", "/metric", function(req)
  hm.metrics.counter("hotelmux_test_events_total", { kind = req.args.kind, supplier = "x\"y" }, 2)
  hm.metrics.gauge("hotelmux_test_level", nil, 7)
  hm.metrics.observe("hotelmux_test_seconds", { op = "a" }, 0.003)
  local ok, err = pcall(hm.metrics.counter, "not_ours_total", nil, 1)
  local ok2, err2 = pcall(hm.metrics.gauge, "hotelmux_test_events_total", nil, 1)   -- another kind
  return { json = { ok, tostring(err):match("start with hotelmux_") ~= nil, ok2 } }
end)

hm.route("GET", "/shared", function(req)
  local k = req.args.k
  local v = hm.shared.incr(k, -1, 3, 0)
  return { json = { left = v } }
end)

return M
'''

CONFIG = 'return { workers = 2, scripts = { "app.lua" } }'


class Fanout(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(CONFIG, workers=2, extra_files={"app.lua": APP}).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def get(self, path):
        st, _, body = request(self.srv.port, "GET", path)
        self.assertEqual(st, 200, body)
        return json.loads(body)

    def test_mixed_outcomes_in_job_order(self):
        j = self.get("/mixed")
        r = j["r"]
        self.assertEqual([x["name"] for x in r], list("abcdefgh"))
        st = {x["name"]: x["status"] for x in r}
        self.assertEqual(st, {"a": "ok", "b": "ok", "c": "ok", "d": "error", "e": "error",
                              "f": "throttled", "g": "timeout", "h": "timeout"})
        self.assertEqual(r[1]["value"], {"name": "b", "ms": 150})
        self.assertIn("boom in d", r[3]["err"]["message"])
        self.assertEqual(r[3]["err"]["kind"], "script")
        self.assertEqual(r[4]["err"]["kind"], "supplier")
        # all ran concurrently: done when the slowest settled (g at 200 ms, h at 250 ms)
        self.assertGreater(j["elapsed"], 0.24)
        self.assertLess(j["elapsed"], 0.45)
        self.assertGreaterEqual(r[6]["latency_ms"], 195)
        self.assertLess(r[6]["latency_ms"], 300)

    def test_overall_deadline_cuts_slow_jobs(self):
        j = self.get("/deadline")
        self.assertEqual([x["status"] for x in j["r"]], ["timeout", "ok"])
        self.assertLess(j["elapsed"], 0.3)

    def test_upstream_span_covers_the_calls_of_every_job(self):
        j = self.get("/span")
        self.assertTrue(j["before"])                  # nil before any call
        self.assertGreaterEqual(j["span"], 0.195)     # until the 200 ms call answered
        self.assertLess(j["span"], 0.45)              # not the 300 ms before the first call

    def test_jobs_that_never_wait(self):
        j = self.get("/sync")
        self.assertEqual([x["value"]["name"] for x in j["r"]], ["s1", "s2"])

    def test_circuit_opens_then_half_open_probe_closes(self):
        j = self.get("/breaker?sup=b1&mode=fail&n=6&open=1")
        self.assertEqual(j["statuses"], ["error"] * 4 + ["circuit_open"] * 2)
        self.assertEqual(j["state"], "open")
        time.sleep(1.1)
        j = self.get("/breaker?sup=b1&mode=ok&n=2")
        self.assertEqual(j["statuses"], ["ok", "ok"])
        self.assertEqual(j["state"], "closed")
        st, _, body = request(self.srv.port, "GET", "/admin/status")  # no token configured: 403/401
        _, _, metrics = request(self.srv.port, "GET", "/metrics")
        self.assertIn('hotelmux_supplier_requests_total{supplier="b1",op="call",outcome="error"} 4', metrics.decode())

    def test_aborted_half_open_probe_does_not_keep_the_circuit_open(self):
        j = self.get("/breaker?sup=b2&mode=fail&n=4&open=1")
        self.assertEqual(j["state"], "open")
        time.sleep(1.1)
        j = self.get("/breaker/aborted?sup=b2")      # the half-open probe, aborted
        self.assertEqual((j["status"], j["state"]), ("timeout", "half_open"))
        j = self.get("/breaker?sup=b2&mode=ok&n=2")  # the next call probes (it used to be refused forever)
        self.assertEqual(j["statuses"], ["ok", "ok"])
        self.assertEqual(j["state"], "closed")

    def test_rate_limit(self):
        j = self.get("/qps")
        self.assertEqual(j["statuses"][:3], ["ok"] * 3)
        self.assertIn("throttled", j["statuses"][3:])

    def test_supplier_throttle_answer_blocks_until_retry_after(self):
        j = self.get("/throttle")
        self.assertEqual(j, {"first": "throttled", "second": "throttled"})

    def test_timer_and_init_worker(self):
        j = self.get("/timer?k=t1")
        self.assertEqual(j, {"armed": True})
        time.sleep(0.2)
        j = self.get("/timer/t1")
        self.assertEqual(j["v"], "fired")
        self.assertEqual(j["init"], 1)   # init_worker ran once on this worker's generation

    def test_script_metrics(self):
        self.assertEqual(self.get("/metric?kind=sold_out"), [False, True, False])
        _, _, m = request(self.srv.port, "GET", "/metrics")
        text = m.decode()
        self.assertIn('hotelmux_test_events_total{kind="sold_out",supplier="x\\"y"} 2', text)
        self.assertIn("hotelmux_test_level 7", text)
        self.assertIn('hotelmux_test_seconds_count{op="a"} 1', text)

    def test_money(self):
        self.assertEqual(self.get("/money"),
                         ["84.50", "0.30", "89.70", "3.33", "2.35", "-2.35", 0, True, "-1.50",
                          "120.00", True])

    def test_shared_is_one_store_for_all_workers(self):
        # 5 requests spread over 2 workers: the counter starts at 3 and stops at 0
        lefts = [self.get("/shared?k=rooms").get("left") for _ in range(5)]
        self.assertEqual(lefts[:3], [2, 1, 0])
        self.assertEqual(lefts[3:], [None, None])


if __name__ == "__main__":
    run_tests(globals())
