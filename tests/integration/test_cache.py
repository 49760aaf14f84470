"""The search cache (issue 4) end to end: build/hotelmux with the demo config,
its simulated suppliers, and (where a test needs L2) a real Redis started here.

  * a repeated search is answered from the cache: every rate says
    freshness{source:"cache", referencePrice:true} and no supplier is called;
  * checkAvail after a cached search still calls the supplier (ARI: live);
  * 20 and 100 concurrent identical searches make 1 supplier call per supplier
    (singleflight: followers park in the core until the leader lands, no polling);
  * a search whose check-in is < 3 h away is always live (server clock moved
    with HOTELMUX_CLOCK_OFFSET so the test does not depend on the time of day);
  * GET /api/content/hotel/{id}: Cache-Control, ETag, 304;
  * Redis killed mid-run: searches still answer (L1 + live), /admin/status says
    connectedWorkers 0; Redis restarted: reconnected within 5 s.
Prints the cache-hit latency it measures. Tests needing Redis skip when
redis-server is not installed."""

import calendar
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from hmtest import Server, SOURCE_DIR, free_port, request, run_tests

SUPPLIERS = [s for s in ("hotelbeds", "expedia", "agoda", "dida")
             if os.path.isfile(os.path.join(SOURCE_DIR, "scripts", "connectors", s + ".lua"))
             and os.path.isfile(os.path.join(SOURCE_DIR, "examples", "suppliers", s + ".lua"))]
HOTEL = "HM-DXB-0004"       # Atlantis, The Palm: sold by every simulated supplier
ADMIN = "cache-test-admin"
REDIS = shutil.which("redis-server")
# supplier -> (canonical hotel, supplier hotel code, supplier room code)
SAMPLE = {"dida": ("HM-DXB-0002", "15588", "401"), "agoda": ("HM-DXB-0001", "249518", "1034"),
          "hotelbeds": ("HM-DXB-0002", "731321", "DBL.ST")}
SECRETS = {"dida": "dd-demo-webhook-secret", "agoda": "ag-demo-webhook-secret",
           "hotelbeds": "hb-demo-webhook-secret"}


def config(redis_port=None, extra=""):
    scripts = ["%s/scripts/api/%s.lua" % (SOURCE_DIR, n)
               for n in ("auth", "search", "trade", "webhooks", "content")]
    scripts += ["%s/examples/suppliers/%s.lua" % (SOURCE_DIR, s) for s in SUPPLIERS]
    return """
local base = require("demo_base")
base.lua_path = { %(src)s .. "/scripts", %(src)s .. "/examples" }
base.scripts = { %(scripts)s }
base.ledger = "ledger.sqlite"
base.admin_token = %(admin)s
base.access_log = false
local keep = {}
for _, s in ipairs(%(sups)s) do keep[s] = base.suppliers[s] end
base.suppliers = keep
%(redis)s
%(extra)s
return base
""" % {"src": json.dumps(SOURCE_DIR), "scripts": ", ".join(json.dumps(s) for s in scripts),
       "admin": json.dumps(ADMIN), "sups": "{" + ", ".join(json.dumps(s) for s in SUPPLIERS) + "}",
       "redis": ('base.redis = "127.0.0.1:%d"' % redis_port) if redis_port else "", "extra": extra}


def demo_files():
    with open(os.path.join(SOURCE_DIR, "examples", "demo.lua")) as f:
        return {"demo_base.lua": f.read()}


def server(redis_port=None, extra="", env=None, workers=2):
    return Server(config(redis_port, extra), workers=workers, extra_files=demo_files(), env=env)


def call(port, path, body, ticket=None, headers=None, timeout=15.0):
    h = {"Content-Type": "application/json"}
    if ticket:
        h["Authorization"] = "Bearer " + ticket
    h.update(headers or {})
    status, _hdrs, data = request(port, "POST", path, headers=h, body=json.dumps(body), timeout=timeout)
    return status, json.loads(data.decode())


def ticket(port):
    status, j = call(port, "/api/auth/ticket", {"appKey": "demo", "appSecret": "demo-secret"})
    assert status == 200 and j["code"] == 0, j
    return j["data"]["ticket"]


_stay_seq = [0]


def fresh_stay(days=None, nights=2):
    """A stay no other test used (so its cache entries are new): 20..120 days away."""
    _stay_seq[0] += 1
    d = days if days is not None else 20 + (_stay_seq[0] * 7 + os.getpid()) % 100
    t = time.gmtime(time.time() + d * 86400)
    t2 = time.gmtime(time.time() + (d + nights) * 86400)
    return time.strftime("%Y-%m-%d", t), time.strftime("%Y-%m-%d", t2)


def rates_body(hotel, ci, co, **kw):
    b = {"hotelId": hotel, "checkIn": ci, "checkOut": co, "currency": "USD",
         "roomOccupancies": [{"adultCount": 2}]}
    b.update(kw)
    return b


def all_rates(j):
    return [r for room in j["data"]["rooms"] for r in room["rates"]]


def sim_calls(port, sup):
    st, _h, b = request(port, "GET", "/sim/%s/_stats" % sup)
    assert st == 200, b
    return json.loads(b)["calls"]


def calls(port):
    return {s: sim_calls(port, s) for s in SUPPLIERS}


def sim(port, sup, what, body):
    st, _h, b = request(port, "POST", "/sim/%s/%s" % (sup, what), body=json.dumps(body),
                        headers={"Content-Type": "application/json"})
    assert st == 200, (st, b)


def sf_metrics(port):
    """hotelmux_cache_singleflight_total by result, from /metrics."""
    st, _h, b = request(port, "GET", "/metrics")
    assert st == 200, b
    out = {}
    for line in b.decode().splitlines():
        if line.startswith("hotelmux_cache_singleflight_total{"):
            m = re.search(r'result="([a-z]+)"', line)
            out[m.group(1)] = out.get(m.group(1), 0) + float(line.rsplit(" ", 1)[1])
    return out


def admin_status(port):
    st, _h, b = request(port, "GET", "/admin/status", headers={"Authorization": "Bearer " + ADMIN})
    assert st == 200, b
    return json.loads(b)["data"]


class Redis:
    """redis-server on a free port, no persistence; kill() and start() again on the same port."""

    def __init__(self):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="hmtest-redis-")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", self.dir],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError("redis-server did not start on port %d" % self.port)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def cli(self, *args):
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            parts = [b"*%d\r\n" % len(args)]
            for a in args:
                a = a.encode() if isinstance(a, str) else a
                parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
            s.sendall(b"".join(parts))
            return s.recv(65536)

    def close(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def need_redis(tc):
    if not REDIS:
        tc.skipTest("redis-server is not installed (Debian package redis-server): L2 tests skipped")


# Deadlines for the cache tests' servers: what they test is what is cached,
# and a supplier slowed on purpose (200 ms, so concurrent searches overlap)
# must not miss the demo's 300 ms deadline on a loaded machine or under ASan.
# Deadlines themselves are tested in test_fanout and test_chaos.
CACHE_DEADLINES = """
for _, s in pairs(base.suppliers) do s.timeout_ms = 3000 end
base.search_deadline_ms = 5000
"""


class CacheBase(unittest.TestCase):
    server_env = None     # extra environment for the class's server
    server_extra = ""     # extra config lines for the class's server
    with_redis = False    # True: the server gets a Redis of its own (L2), when redis-server is installed
    redis = None

    @classmethod
    def setUpClass(cls):
        cls.redis = Redis().start() if cls.with_redis and REDIS else None
        cls.srv = server(redis_port=cls.redis.port if cls.redis else None, extra=CACHE_DEADLINES + cls.server_extra,
                         env=cls.server_env).start()
        cls.port = cls.srv.port
        cls.tk = ticket(cls.port)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.cleanup()
        if cls.redis:
            cls.redis.close()

    def setUp(self):
        for s in SUPPLIERS:
            sim(self.port, s, "_faults", {})

    def rates(self, body, port=None):
        st, j = call(port or self.port, "/api/search/hotelRates", body, self.tk)
        self.assertEqual((st, j["code"]), (200, 0), j)
        return j


class TestSearchCache(CacheBase):
    def test_repeat_search_served_from_cache(self):
        ci, co = fresh_stay()
        body = rates_body(HOTEL, ci, co)
        j1 = self.rates(body)
        r1 = all_rates(j1)
        self.assertTrue(r1, j1)
        self.assertTrue(all(r["freshness"]["source"] == "live" and r["freshness"]["referencePrice"] is False
                            for r in r1), [r["freshness"] for r in r1])
        self.assertEqual(j1["data"]["freshness"]["referencePrice"], False)
        before = calls(self.port)
        j2 = self.rates(body)
        after = calls(self.port)
        self.assertEqual(before, after, "a cached search called a supplier")
        r2 = all_rates(j2)
        self.assertEqual(len(r2), len(r1))
        for r in r2:
            f = r["freshness"]
            self.assertEqual((f["source"], f["referencePrice"]), ("cache", True), f)
            self.assertGreater(f["ttlSeconds"], 0)
            self.assertGreaterEqual(f["ageSeconds"], 0)
        # the same offers (ratePkgIds are not compared: JSON key order differs between workers)
        offer = lambda r: (r["supplier"], r["originalRoomNaming"]["id"], json.dumps(r["totalRate"], sort_keys=True))
        self.assertEqual(sorted(map(offer, r2)), sorted(map(offer, r1)))
        self.assertEqual(j2["data"]["freshness"]["source"], "cache")
        for st in j2["data"]["suppliers"]:
            self.assertEqual(st["status"], "ok", st)
            self.assertEqual(st["cache"]["misses"], 0, st)
            self.assertGreaterEqual(st["cache"]["hits"], 1, st)
        # cache-hit latency, measured from the client over loopback
        lat = []
        for _ in range(200):
            t0 = time.perf_counter()
            self.rates(body)
            lat.append((time.perf_counter() - t0) * 1000)
        lat.sort()
        print("\n    cached hotelRates (%d suppliers, 1 hotel): p50 %.2f ms, p99 %.2f ms over %d requests"
              % (len(SUPPLIERS), lat[len(lat) // 2], lat[int(len(lat) * 0.99) - 1], len(lat)))
        self.assertEqual(calls(self.port), after)

    def test_hotel_list_composes_from_entries(self):
        ci, co = fresh_stay()
        # one hotel first: its entries are reused by the destination search
        self.rates(rates_body(HOTEL, ci, co))
        st, j = call(self.port, "/api/search/hotelList",
                     {"destinationName": "Dubai", "checkIn": ci, "checkOut": co, "currency": "USD",
                      "roomOccupancies": [{"adultCount": 2}], "pageSize": 50}, self.tk)
        self.assertEqual((st, j["code"]), (200, 0), j)
        by = {s["supplier"]: s for s in j["data"]["suppliers"]}
        for s in SUPPLIERS:
            self.assertGreaterEqual(by[s]["cache"]["hits"], 1, by[s])
            self.assertGreaterEqual(by[s]["cache"]["misses"], 1, by[s])
        rove = [h for h in j["data"]["list"] if h["id"] == HOTEL][0]
        srcs = {r["freshness"]["source"] for room in rove["rooms"] for r in room["rates"]}
        self.assertEqual(srcs, {"cache"})
        others = [r["freshness"]["source"] for h in j["data"]["list"] if h["id"] != HOTEL
                  for room in h["rooms"] for r in room["rates"]]
        self.assertTrue(others and set(others) == {"live"}, set(others))

    def test_other_occupancy_currency_nationality_are_other_entries(self):
        ci, co = fresh_stay()
        self.rates(rates_body(HOTEL, ci, co))
        for kw in ({"currency": "EUR"}, {"nationalityCode": "FR"},
                   {"roomOccupancies": [{"adultCount": 1}]}):
            j = self.rates(rates_body(HOTEL, ci, co, **kw))
            self.assertTrue(all(st["cache"]["hits"] == 0 for st in j["data"]["suppliers"]), (kw, j["data"]["suppliers"]))

    def test_check_avail_after_cached_search_is_live(self):
        ci, co = fresh_stay()
        body = rates_body(HOTEL, ci, co)
        self.rates(body)
        j = self.rates(body)
        rate = all_rates(j)[0]
        self.assertEqual(rate["freshness"]["source"], "cache")
        sup = rate["supplier"]
        before = sim_calls(self.port, sup)
        st, c = call(self.port, "/api/search/checkAvail", {"ratePkgId": rate["ratePkgId"]}, self.tk)
        self.assertEqual((st, c["code"]), (200, 0), c)
        self.assertEqual(c["data"]["status"], 1, c)
        self.assertEqual(c["data"]["freshness"]["source"], "live")
        self.assertGreater(sim_calls(self.port, sup), before, "checkAvail did not call the supplier")
        # and the cache still answers the search afterwards
        j = self.rates(body)
        self.assertEqual({r["freshness"]["source"] for r in all_rates(j)}, {"cache"})

    def test_singleflight_20_concurrent_identical_searches(self):
        ci, co = fresh_stay()
        body = rates_body(HOTEL, ci, co)
        for s in SUPPLIERS:       # every supplier call takes 150 ms: the 20 searches overlap
            sim(self.port, s, "_faults", {"latency_ms": 150})
        before = calls(self.port)
        out = []
        barrier = threading.Barrier(20)

        def one():
            barrier.wait()
            out.append(call(self.port, "/api/search/hotelRates", body, self.tk))

        ts = [threading.Thread(target=one) for _ in range(20)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        after = calls(self.port)
        self.assertEqual(len(out), 20)
        n_rates = set()
        for st, j in out:
            self.assertEqual((st, j["code"]), (200, 0), j)
            self.assertTrue(all(s["status"] == "ok" for s in j["data"]["suppliers"]), j["data"]["suppliers"])
            n_rates.add(len(all_rates(j)))
        self.assertEqual(len(n_rates), 1, "every search got the same rates")
        delta = {s: after[s] - before[s] for s in SUPPLIERS}
        print("\n    20 concurrent identical searches -> supplier calls %s" % delta)
        self.assertEqual(delta, {s: 1 for s in SUPPLIERS})
        coalesced = sum(s["cache"]["coalesced"] for _st, j in out for s in j["data"]["suppliers"])
        self.assertGreater(coalesced, 0)

    def test_singleflight_100_concurrent_cold_searches_park_not_poll(self):
        # 100 identical searches on a cold key: one leader per supplier calls it,
        # the 99 others park in the core (hm.cache.await) and are woken by its land.
        ci, co = fresh_stay()
        body = rates_body(HOTEL, ci, co)
        for s in SUPPLIERS:
            sim(self.port, s, "_faults", {"latency_ms": 200})
        before, m0 = calls(self.port), sf_metrics(self.port)
        out = []
        barrier = threading.Barrier(100)

        def one():
            barrier.wait()
            out.append(call(self.port, "/api/search/hotelRates", body, self.tk, timeout=30))

        ts = [threading.Thread(target=one) for _ in range(100)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        after, m1 = calls(self.port), sf_metrics(self.port)
        self.assertEqual(len(out), 100)
        offers = set()
        for st, j in out:
            self.assertEqual((st, j["code"]), (200, 0), j)
            self.assertTrue(all(s["status"] == "ok" for s in j["data"]["suppliers"]), j["data"]["suppliers"])
            offers.add(tuple(sorted((r["supplier"], r["originalRoomNaming"]["id"],
                                     json.dumps(r["totalRate"], sort_keys=True)) for r in all_rates(j))))
        self.assertEqual(len(offers), 1, "every search got the same offers")
        delta = {s: after[s] - before[s] for s in SUPPLIERS}
        sf = {k: m1.get(k, 0) - m0.get(k, 0) for k in set(m0) | set(m1)}
        print("\n    100 concurrent identical searches -> supplier calls %s, singleflight %s" % (delta, sf))
        self.assertEqual(delta, {s: 1 for s in SUPPLIERS})
        self.assertEqual(sf.get("lead", 0), len(SUPPLIERS))
        self.assertEqual(sf.get("timeout", 0), 0)
        self.assertEqual(sf.get("failed", 0), 0)
        # every other search's supplier lookup was served by the leader's answer
        coalesced = sum(s["cache"]["coalesced"] for _st, j in out for s in j["data"]["suppliers"])
        hits = sum(s["cache"]["hits"] for _st, j in out for s in j["data"]["suppliers"])
        self.assertEqual(coalesced + hits, 99 * len(SUPPLIERS))
        self.assertEqual(sf.get("coalesced", 0) + sf.get("landed", 0), coalesced)

    def test_supplier_failure_not_cached(self):
        ci, co = fresh_stay()
        body = rates_body(HOTEL, ci, co)
        bad = SUPPLIERS[-1]
        sim(self.port, bad, "_faults", {"error_rate": 1})
        j = self.rates(body)
        by = {s["supplier"]: s for s in j["data"]["suppliers"]}
        self.assertEqual(by[bad]["status"], "error", by[bad])
        sim(self.port, bad, "_faults", {})
        before = sim_calls(self.port, bad)
        j = self.rates(body)
        by = {s["supplier"]: s for s in j["data"]["suppliers"]}
        self.assertEqual(by[bad]["status"], "ok", by[bad])
        self.assertEqual(by[bad]["cache"]["misses"], 1, by[bad])
        self.assertEqual(sim_calls(self.port, bad), before + 1)

    def test_content_etag_304(self):
        st, h, b = request(self.port, "GET", "/api/content/hotel/" + HOTEL)
        self.assertEqual(st, 401, b)
        auth = {"Authorization": "Bearer " + self.tk}
        st, h, b = request(self.port, "GET", "/api/content/hotel/" + HOTEL, headers=auth)
        self.assertEqual(st, 200, b)
        j = json.loads(b)
        self.assertEqual(j["code"], 0)
        d = j["data"]
        self.assertEqual(d["id"], HOTEL)
        self.assertEqual(d["name"]["en"], "Atlantis, The Palm")
        self.assertTrue(d["address"]["en"] and d["star"] and d["latlngCoordinator"]["google"]["lat"])
        self.assertTrue(d["rooms"] and all(r["roomTypeName"]["en"] for r in d["rooms"]), d["rooms"])
        self.assertEqual(h["Cache-Control"], "public, max-age=86400")
        etag = h["ETag"]
        self.assertRegex(etag, r'^"[0-9a-f]{32}"$')
        st2, h2, b2 = request(self.port, "GET", "/api/content/hotel/" + HOTEL, headers=auth)
        self.assertEqual((st2, h2["ETag"], b2), (200, etag, b))
        for inm in (etag, "W/" + etag, '"nope", ' + etag, "*"):
            st3, h3, b3 = request(self.port, "GET", "/api/content/hotel/" + HOTEL,
                                  headers=dict(auth, **{"If-None-Match": inm}))
            self.assertEqual((st3, b3), (304, b""), inm)
            self.assertEqual(h3["ETag"], etag)
            self.assertIsNone(h3.get("Content-Length"))
        st4, _h4, _b4 = request(self.port, "GET", "/api/content/hotel/" + HOTEL,
                                headers=dict(auth, **{"If-None-Match": '"other"'}))
        self.assertEqual(st4, 200)
        st5, _h5, b5 = request(self.port, "GET", "/api/content/hotel/HM-NOPE", headers=auth)
        self.assertEqual(st5, 404, b5)


class TestRefreshAhead(unittest.TestCase):
    def test_hot_entry_refreshed_before_expiry(self):
        # A 2 s TTL policy (policies/ttl.lua in the server's dir, first on lua_path),
        # refresh after 3 reads once < 20 % of the TTL is left.
        files = demo_files()
        files["policies/ttl.lua"] = "return { ttl = function(ctx, q) return 2 end }\n"
        srv = Server(config(extra='table.insert(base.lua_path, 1, ".")\nbase.refresh_ahead_min_reads = 3'),
                     workers=2, extra_files=files)
        with srv:
            tk = ticket(srv.port)
            ci, co = fresh_stay()
            body = rates_body(HOTEL, ci, co)
            call(srv.port, "/api/search/hotelRates", body, tk)
            for _ in range(3):
                st, j = call(srv.port, "/api/search/hotelRates", body, tk)
                self.assertEqual({r["freshness"]["source"] for r in all_rates(j)}, {"cache"})
            before = calls(srv.port)
            time.sleep(1.7)          # 0.3 s left of 2 s: < 20 %
            st, j = call(srv.port, "/api/search/hotelRates", body, tk)
            self.assertEqual({r["freshness"]["source"] for r in all_rates(j)}, {"cache"})
            deadline = time.monotonic() + 2
            # the background refreshes run concurrently: wait until every supplier's has landed
            while (any(calls(srv.port)[s] == before[s] for s in SUPPLIERS)
                   and time.monotonic() < deadline):
                time.sleep(0.02)
            after = calls(srv.port)
            self.assertEqual({s: after[s] - before[s] for s in SUPPLIERS}, {s: 1 for s in SUPPLIERS})
            time.sleep(0.6)          # past the old entry's expiry: the refreshed one answers
            st, j = call(srv.port, "/api/search/hotelRates", body, tk)
            self.assertEqual({r["freshness"]["source"] for r in all_rates(j)}, {"cache"}, j["data"]["suppliers"])
            self.assertTrue(all(r["freshness"]["ageSeconds"] <= 1 for r in all_rates(j)))
            self.assertEqual(calls(srv.port), after)


class TestNearCheckIn(unittest.TestCase):
    def test_check_in_within_3_hours_is_always_live(self):
        # The server's clock says it is 1 hour before noon (Dubai, UTC+4) of check-in day.
        day = time.gmtime(time.time() + 86400)
        ci = time.strftime("%Y-%m-%d", day)
        co = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 2 * 86400))
        noon_dubai = calendar.timegm(time.strptime(ci, "%Y-%m-%d")) + 8 * 3600
        offset = (noon_dubai - 3600) - time.time()
        with server(env={"HOTELMUX_CLOCK_OFFSET": "%.0f" % offset}) as srv:
            tk = ticket(srv.port)
            body = rates_body(HOTEL, ci, co)
            for i in range(3):
                before = calls(srv.port)
                st, j = call(srv.port, "/api/search/hotelRates", body, tk)
                self.assertEqual((st, j["code"]), (200, 0), j)
                self.assertTrue(all_rates(j), j)
                self.assertEqual({r["freshness"]["source"] for r in all_rates(j)}, {"live"})
                after = calls(srv.port)
                self.assertEqual({s: after[s] - before[s] for s in SUPPLIERS}, {s: 1 for s in SUPPLIERS}, i)
                self.assertTrue(all("cache" not in s for s in j["data"]["suppliers"]), j["data"]["suppliers"])


class TestRedis(unittest.TestCase):
    def setUp(self):
        need_redis(self)
        self.redis = Redis().start()

    def tearDown(self):
        self.redis.close()

    def test_redis_killed_and_restarted(self):
        with server(self.redis.port) as srv:
            tk = ticket(srv.port)
            st = admin_status(srv.port)
            self.assertEqual(st["redis"]["connectedWorkers"], 2, st["redis"])
            ci, co = fresh_stay()
            body = rates_body(HOTEL, ci, co)
            st_, j = call(srv.port, "/api/search/hotelRates", body, tk)
            self.assertEqual(j["code"], 0, j)
            deadline = time.monotonic() + 2      # L2 writes do not wait
            while b"hm:c:s1:" not in self.redis.cli("KEYS", "hm:c:s1:*") and time.monotonic() < deadline:
                time.sleep(0.02)
            self.assertIn(b"hm:c:s1:", self.redis.cli("KEYS", "hm:c:s1:*"), "search entries were not written to L2")
            self.redis.kill()
            t_kill = time.monotonic()
            # L1 still answers the cached stay; a new stay is answered live
            st_, j = call(srv.port, "/api/search/hotelRates", body, tk)
            self.assertEqual(j["code"], 0, j)
            self.assertEqual({r["freshness"]["source"] for r in all_rates(j)}, {"cache"})
            ci2, co2 = fresh_stay()
            t0 = time.monotonic()
            st_, j = call(srv.port, "/api/search/hotelRates", rates_body(HOTEL, ci2, co2), tk)
            took = time.monotonic() - t0
            self.assertEqual(j["code"], 0, j)
            self.assertTrue(all_rates(j))
            self.assertTrue(all(s["status"] == "ok" for s in j["data"]["suppliers"]), j["data"]["suppliers"])
            self.assertLess(took, 1.5)
            deadline = time.monotonic() + 5
            while admin_status(srv.port)["redis"]["connectedWorkers"] != 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertEqual(admin_status(srv.port)["redis"]["connectedWorkers"], 0)
            print("\n    redis down: /admin/status connectedWorkers 0 within %.2f s" % (time.monotonic() - t_kill))
            self.redis.start()
            t_up = time.monotonic()
            while time.monotonic() - t_up < 5:
                if admin_status(srv.port)["redis"]["connectedWorkers"] == 2:
                    break
                time.sleep(0.05)
            took = time.monotonic() - t_up
            self.assertEqual(admin_status(srv.port)["redis"]["connectedWorkers"], 2, "not reconnected within 5 s")
            print("    redis restarted: reconnected in %.2f s" % took)
            ci3, co3 = fresh_stay()
            call(srv.port, "/api/search/hotelRates", rates_body(HOTEL, ci3, co3), tk)
            deadline = time.monotonic() + 2
            while b"hm:c:s1:" not in self.redis.cli("KEYS", "hm:c:s1:*") and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertIn(b"hm:c:s1:", self.redis.cli("KEYS", "hm:c:s1:*"), "L2 not written after reconnect")

    def test_l2_shared_by_two_nodes(self):
        with server(self.redis.port) as a, server(self.redis.port) as b:
            tk = ticket(a.port)
            ci, co = fresh_stay()
            body = rates_body(HOTEL, ci, co)
            st, j = call(a.port, "/api/search/hotelRates", body, tk)
            self.assertEqual(j["code"], 0, j)
            time.sleep(0.1)       # L2 writes do not wait
            before = calls(b.port)
            st, j = call(b.port, "/api/search/hotelRates", body, tk)
            self.assertEqual(j["code"], 0, j)
            self.assertEqual(calls(b.port), before, "node B called suppliers for entries in L2")
            self.assertEqual({r["freshness"]["source"] for r in all_rates(j)}, {"cache"})


if __name__ == "__main__":
    run_tests(globals())
