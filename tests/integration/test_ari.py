"""The ARI rules hold against hostile scripts: ARI requests never touch the
cache, policy TTLs are clamped, errors fail closed, near check-ins are live."""
import json
import os
import time
import unittest
from datetime import datetime, timedelta, timezone

from hmtest import SOURCE_DIR, Server, request, run_tests

# A hostile TTL policy: its answer is chosen per hotel id.
POLICY = r'''
local M = {}
function M.ttl(ctx, q)
  local h = q.hotel_id
  if h == "huge" then return 1e9 end
  if h == "raise" then error("policy blew up") end
  if h == "nan" then return 0/0 end
  if h == "zero" then return 0 end
  if h == "neg" then return -5 end
  if h == "nil" then return nil end
  if h == "str" then return "300" end
  if h == "short" then return 1 end
  return 30
end
return M
'''

CONNECTOR = r'''
return { id = "pushy", features = { webhooks = true }, search = function() end }
'''

APP = r'''
local function body(req) return hm.json.decode(req.body) end

local function set_search(b)
  local ttl, why = hm.cache.set_search(b.key, b.value or "v", { supplier = b.supplier,
    hotel_id = b.hotel, check_in = b.check_in, nights = 1, utc_offset_hours = b.offset })
  local v, meta = hm.cache.get(b.key)
  return { ttl = ttl, why = why, got = v, meta = meta }
end

hm.route("POST", "/api/search/hotelRates", function(req) return { json = set_search(body(req)) } end)

-- An ARI path whose script tries every trick.
hm.route("POST", "/api/search/checkAvail", function(req)
  local b = body(req)
  local out = {}
  out.set = { hm.cache.set("rate:" .. b.key, "rate", { ttl = 60 }) }
  out.set_search = { hm.cache.set_search(b.key, "rate-under-search-key", { supplier = "plain",
    hotel_id = "h", check_in = b.check_in }) }
  out.get = { hm.cache.get(b.key) }
  -- a fan-out job inherits the mark
  local r = hm.fanout({ { fn = function() return { hm.cache.get(b.key) } end } })
  out.job_get = r[1].value
  return { json = out }
end)

hm.route("POST", "/api/trade/book", function(req)
  local b = body(req)
  return { json = { get = { hm.cache.get(b.key) } } }
end)

hm.route("GET", "/peek", function(req)
  local v, meta = hm.cache.get(req.args.key)
  return { json = { v = v, meta = meta } }
end)
'''

CONFIG = r'''
return {
  workers = 2,
  lua_path = { ".", "%s/scripts" },
  scripts = { "app.lua", "policies/ttl.lua" },
  suppliers = {
    pushy = { connector = "pushy", webhooks = true },
    plain = { connector = "pushy" },             -- config does not claim webhooks
    liar  = { connector = "nowebhooks", webhooks = true },
  },
  routes = { ["GET /load"] = function() require("pushy") return "" end },
}
''' % SOURCE_DIR


def day(offset_days):
    return (datetime.now(timezone.utc) + timedelta(days=offset_days)).strftime("%Y-%m-%d")


class AriRules(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        files = {"app.lua": APP, "policies/ttl.lua": POLICY, "pushy.lua": CONNECTOR,
                 "nowebhooks.lua": "return { id = 'nowebhooks', features = { webhooks = false } }"}
        cls.srv = Server(CONFIG, workers=2, extra_files=files).start()
        # load the connector modules in both workers' states (as the gateway would)
        for _ in range(4):
            request(cls.srv.port, "GET", "/load")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def post(self, path, obj):
        st, _, b = request(self.srv.port, "POST", path, body=json.dumps(obj).encode(),
                           headers={"Content-Type": "application/json"})
        self.assertEqual(st, 200, b)
        return json.loads(b)

    def search(self, key, supplier, hotel, check_in=None, offset=None):
        return self.post("/api/search/hotelRates", {"key": key, "supplier": supplier, "hotel": hotel,
                                                    "check_in": check_in or day(20), "offset": offset})

    def metric(self, name):
        _, _, m = request(self.srv.port, "GET", "/metrics")
        total = 0.0
        for line in m.decode().splitlines():
            if line.startswith(name):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def test_policy_ttl_is_clamped(self):
        r = self.search("k-huge-push", "pushy", "huge")
        self.assertEqual(r["ttl"], 300)
        self.assertEqual(r["meta"]["ttl"], 300)
        r = self.search("k-huge-plain", "plain", "huge")      # no webhooks: 60
        self.assertEqual(r["ttl"], 60)
        r = self.search("k-huge-liar", "liar", "huge")        # config claims, connector does not
        self.assertEqual(r["ttl"], 60)

    def test_bad_policy_answers_fail_closed(self):
        for hotel in ("raise", "nan", "zero", "neg", "nil", "str"):
            r = self.search("k-" + hotel, "pushy", hotel)
            self.assertNotIn("ttl", r, hotel)
            self.assertEqual(r["why"], "policy said do not cache", hotel)
            self.assertNotIn("got", r, hotel)

    def test_entry_never_outlives_its_ttl(self):
        r = self.search("k-short", "pushy", "short")
        self.assertEqual(r["ttl"], 1)
        time.sleep(1.1)
        st, _, b = request(self.srv.port, "GET", "/peek?key=k-short")
        self.assertEqual(json.loads(b), {"meta": "miss"})

    def test_near_checkin_is_live(self):
        today = datetime.now(timezone.utc).strftime("%Y-%m-%d")
        r = self.search("k-today", "pushy", "ok", check_in=today)
        self.assertEqual(r["why"], "live window")
        # the day after tomorrow at UTC+4 is far enough
        r = self.search("k-later", "pushy", "ok", check_in=day(2), offset=4)
        self.assertEqual(r["ttl"], 30)
        r = self.search("k-bad-date", "pushy", "ok", check_in="soon")
        self.assertEqual(r["why"], "live window")

    def test_ari_requests_never_touch_the_cache(self):
        self.search("k-shared", "pushy", "ok")      # a real search entry exists
        before = self.metric("hotelmux_ari_cache_refusals_total")
        r = self.post("/api/search/checkAvail", {"key": "k-shared", "check_in": day(20)})
        self.assertEqual(r["set"], [None, "ari"])
        self.assertEqual(r["set_search"], [None, "ari"])
        self.assertEqual(r["get"], [None, "ari"])
        self.assertEqual(r["job_get"], [None, "ari"])
        r = self.post("/api/trade/book", {"key": "k-shared"})
        self.assertEqual(r["get"], [None, "ari"])
        after = self.metric("hotelmux_ari_cache_refusals_total")
        self.assertEqual(after - before, 5)
        # the rate never landed under any key
        st, _, b = request(self.srv.port, "GET", "/peek?key=rate:k-shared")
        self.assertEqual(json.loads(b), {"meta": "miss"})
        st, _, b = request(self.srv.port, "GET", "/peek?key=k-shared")
        self.assertEqual(json.loads(b)["v"], "v")   # unchanged by the checkAvail script


if __name__ == "__main__":
    run_tests(globals())
