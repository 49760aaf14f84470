"""Per-appKey rate limits: overall QPS and the lower checkAvail/book limit,
429 in the HotelByte envelope with Retry-After; per node without Redis and
cluster-wide (two nodes, one budget) with Redis."""
import json
import os
import shutil
import signal
import subprocess
import time
import unittest

from hmtest import SOURCE_DIR, Server, free_port, request, run_tests

CONFIG = r'''
return {
  workers = 2,
  lua_path = { "%(src)s/scripts", "%(src)s/examples" },
  scripts = { "%(src)s/scripts/api/auth.lua", "%(src)s/scripts/api/search.lua",
              "%(src)s/scripts/api/trade.lua" },
  ledger = "ledger.sqlite",
  %(redis)s
  apps = {
    lim = { secret = "s", limits = { qps = 5, ari_qps = 2 } },
    lim2 = { secret = "s", limits = { qps = 5, ari_qps = 2 } },
    lim3 = { secret = "s", limits = { qps = 5, ari_qps = 2 } },
    big = { secret = "s" },
  },
  suppliers = {},
}
'''


def ticket(port, app):
    st, _, b = request(port, "POST", "/api/auth/ticket", body=json.dumps({"appKey": app, "appSecret": "s"}).encode(),
                       headers={"Content-Type": "application/json"})
    assert st == 200, b
    return json.loads(b)["data"]["ticket"]


def call(port, tok, path, body=None):
    return request(port, "POST", path, body=json.dumps(body or {}).encode(),
                   headers={"Content-Type": "application/json", "Authorization": "Bearer " + tok})


class LocalLimits(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(CONFIG % {"src": SOURCE_DIR, "redis": ""}, workers=2).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def test_overall_qps_then_429_with_retry_after(self):
        tok = ticket(self.srv.port, "lim")
        statuses = [call(self.srv.port, tok, "/api/search/hotelList", {"destinationName": "Nowhere"})[0]
                    for _ in range(8)]
        self.assertNotIn(429, statuses[:5])
        self.assertIn(429, statuses[5:])
        st, h, b = call(self.srv.port, tok, "/api/search/hotelList", {})
        self.assertEqual(st, 429)
        j = json.loads(b)
        self.assertEqual(j["code"], 100000429)
        self.assertIn("rate limit", j["msg"])
        self.assertGreaterEqual(int(h["retry-after"]), 1)

    def test_ari_class_has_its_own_lower_limit(self):
        tok = ticket(self.srv.port, "lim2")
        statuses = [call(self.srv.port, tok, "/api/search/checkAvail", {"ratePkgId": "x"})[0] for _ in range(4)]
        self.assertNotIn(429, statuses[:2])
        self.assertEqual(statuses[2:], [429, 429])

    def test_other_apps_are_not_affected(self):
        tok = ticket(self.srv.port, "big")
        statuses = [call(self.srv.port, tok, "/api/search/hotelList", {})[0] for _ in range(20)]
        self.assertNotIn(429, statuses)


@unittest.skipUnless(shutil.which("redis-server"), "redis-server is not installed")
class ClusterLimits(unittest.TestCase):
    """Two nodes share one budget through Redis."""

    @classmethod
    def setUpClass(cls):
        cls.rport = free_port()
        cls.redis = subprocess.Popen(["redis-server", "--port", str(cls.rport), "--save", "", "--appendonly", "no"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3)
        cfg = CONFIG % {"src": SOURCE_DIR, "redis": 'redis = "127.0.0.1:%d",' % cls.rport}
        cls.a = Server(cfg, workers=1).start()
        cls.b = Server(cfg, workers=1).start()
        time.sleep(0.3)

    @classmethod
    def tearDownClass(cls):
        cls.a.stop()
        cls.b.stop()
        cls.redis.send_signal(signal.SIGTERM)
        cls.redis.wait(5)

    def test_budget_is_shared(self):
        ta, tb = ticket(self.a.port, "lim3"), ticket(self.b.port, "lim3")
        statuses = []
        for i in range(8):   # alternate nodes: 5 allowed in total, not 5 per node
            port, tok = (self.a.port, ta) if i % 2 == 0 else (self.b.port, tb)
            statuses.append(call(port, tok, "/api/search/hotelList", {})[0])
        self.assertEqual(sum(1 for s in statuses if s != 429), 5, statuses)



@unittest.skipUnless(shutil.which("redis-server"), "redis-server is not installed")
class RedisDown(unittest.TestCase):
    """Redis killed under a node: its limits fall back to this node's own
    budget: the configured one, neither zero (everything 429) nor unlimited."""

    def test_local_budget_when_redis_is_gone(self):
        rport = free_port()
        redis = subprocess.Popen(["redis-server", "--port", str(rport), "--save", "", "--appendonly", "no"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        srv = None
        try:
            time.sleep(0.3)
            cfg = CONFIG % {"src": SOURCE_DIR, "redis": 'redis = "127.0.0.1:%d",' % rport}
            srv = Server(cfg, workers=1).start()
            tok = ticket(srv.port, "lim2")
            redis.kill()
            redis.wait(5)
            statuses = [call(srv.port, tok, "/api/search/hotelList", {})[0] for _ in range(8)]
            self.assertEqual(sum(1 for s in statuses if s != 429), 5, statuses)
            srv.stop()
        finally:
            if redis.poll() is None:
                redis.kill()
                redis.wait(5)
            if srv and srv.alive():
                srv.stop(check=False)

if __name__ == "__main__":
    run_tests(globals())
