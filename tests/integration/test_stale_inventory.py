"""The seed's "stale inventory" scenario (v2.0's mistake, v3.0's fix), end to
end with the demo's simulated suppliers, a real Redis (L1 + L2) and a
controllable clock (HOTELMUX_TEST_CLOCK=1, POST /admin/clock?advance=S moves
the core's wall and monotonic clocks: no 60 s wait):

  * a room is searched (cached), then sells out at the supplier (/_inventory);
  * with a webhook (dida): the supplier's push drops the entry before it is
    acknowledged; the next search calls the supplier and no longer shows it;
  * without a webhook (expedia): the next search may still show it, marked
    as a cached reference price with ttlSeconds <= 60 (the core's clamp for a
    supplier without webhooks); once the clock passes that TTL the entry is
    gone from L1 and L2 and the room is no longer shown;
  * checkAvail on the stale rate is answered live, sold out, every time.
Also: a hit just before expiry, a miss just after, and ttl/age under time travel."""

import json
import time
import unittest

from hmtest import request, run_tests
from test_cache import ADMIN, SUPPLIERS, CacheBase, all_rates, call, fresh_stay, rates_body, sim, sim_calls

# canonical hotel, supplier hotel code, supplier room code
DIDA = ("HM-DXB-0002", "15588", "401")          # webhooks = true in the demo
EXPEDIA = ("HM-DXB-0002", "10629446", "215533881")  # no webhooks


def advance(port, seconds):
    st, _h, b = request(port, "POST", "/admin/clock?advance=%g" % seconds,
                        headers={"Authorization": "Bearer " + ADMIN})
    assert st == 200, (st, b)
    return json.loads(b)["data"]["advanced"]


def metric(port, name, **labels):
    st, _h, b = request(port, "GET", "/metrics")
    assert st == 200
    total = 0.0
    for line in b.decode().splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all('%s="%s"' % (k, v) in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def rates_of(j, sup):
    return [r for r in all_rates(j) if r["supplier"] == sup]


def sup_status(j, sup):
    return [s for s in j["data"]["suppliers"] if s["supplier"] == sup][0]


@unittest.skipUnless("dida" in SUPPLIERS and "expedia" in SUPPLIERS, "needs the dida and expedia simulators")
class StaleInventory(CacheBase):
    with_redis = True
    server_env = {"HOTELMUX_TEST_CLOCK": "1"}

    def rates(self, hotel, ci, co):
        st, j = call(self.port, "/api/search/hotelRates", rates_body(hotel, ci, co), self.tk)
        self.assertEqual((st, j["code"]), (200, 0), j)
        return j

    def check_avail_sold_out(self, rate):
        sup = rate["supplier"]
        before = sim_calls(self.port, sup)
        st, c = call(self.port, "/api/search/checkAvail", {"ratePkgId": rate["ratePkgId"]}, self.tk)
        self.assertEqual(st, 200, c)
        self.assertEqual(c["data"]["status"], 2, c)      # sold out: never the cached answer
        self.assertEqual(c["data"]["freshness"]["source"], "live")
        self.assertEqual(sim_calls(self.port, sup), before + 1, "checkAvail did not ask the supplier")

    def cached(self, hotel, sup, room, ci, co):
        """Search twice: the second answer is from the cache and shows the room."""
        self.rates(hotel, ci, co)
        j = self.rates(hotel, ci, co)
        self.assertEqual(sup_status(j, sup)["cache"]["hits"], 1, sup_status(j, sup))
        rs = [r for r in rates_of(j, sup) if r["originalRoomNaming"]["id"] == room]
        self.assertTrue(rs, "room %s not offered" % room)
        self.assertEqual({r["freshness"]["source"] for r in rs}, {"cache"})
        return rs[0]

    def test_with_webhook_next_search_no_longer_shows_it(self):
        hotel, code, room = DIDA
        ci, co = fresh_stay()
        stale = self.cached(hotel, "dida", room, ci, co)
        n0 = metric(self.port, "hotelmux_invalidations_total", supplier="dida", type="ROOM_SOLD_OUT")
        sim(self.port, "dida", "_inventory", {"hotel": code, "room": room, "count": 0})
        try:
            # the simulator pushes its webhook from a timer: wait for the gateway
            # to have handled it (the handler counts it after every node dropped the entry)
            for _ in range(1000):
                if metric(self.port, "hotelmux_invalidations_total", supplier="dida", type="ROOM_SOLD_OUT") > n0:
                    break
                time.sleep(0.01)
            self.assertGreater(metric(self.port, "hotelmux_invalidations_total", supplier="dida",
                                      type="ROOM_SOLD_OUT"), n0, "the simulator's webhook never arrived")
            calls0 = sim_calls(self.port, "dida")
            j = self.rates(hotel, ci, co)
            self.assertEqual(sup_status(j, "dida")["cache"]["misses"], 1, sup_status(j, "dida"))
            self.assertEqual(sim_calls(self.port, "dida"), calls0 + 1)
            self.assertNotIn(room, [r["originalRoomNaming"]["id"] for r in rates_of(j, "dida")])
            self.check_avail_sold_out(stale)
            self.check_avail_sold_out(stale)
        finally:
            sim(self.port, "dida", "_inventory", {"hotel": code, "room": room, "count": 5})

    def test_without_webhook_gone_within_the_clamp(self):
        hotel, code, room = EXPEDIA
        ci, co = fresh_stay()
        stale = self.cached(hotel, "expedia", room, ci, co)
        ttl = stale["freshness"]["ttlSeconds"]
        self.assertTrue(0 < ttl <= 60, stale["freshness"])   # no webhooks: clamped to 60 s
        sim(self.port, "expedia", "_inventory", {"hotel": code, "room": room, "count": 0})
        try:
            # still within the TTL: the cached answer may show it, but only as a reference price,
            # and booking it is stopped by a live checkAvail
            advance(self.port, ttl - 2)
            j = self.rates(hotel, ci, co)
            rs = [r for r in rates_of(j, "expedia") if r["originalRoomNaming"]["id"] == room]
            self.assertTrue(rs, "a hit just before expiry")
            f = rs[0]["freshness"]
            self.assertEqual((f["source"], f["referencePrice"], f["ttlSeconds"]), ("cache", True, ttl), f)
            self.assertGreaterEqual(f["ageSeconds"], ttl - 2)
            self.check_avail_sold_out(rs[0])
            # past the TTL: L1 and L2 both miss, the supplier is asked, the room is gone
            advance(self.port, 3)
            calls0 = sim_calls(self.port, "expedia")
            j = self.rates(hotel, ci, co)
            self.assertEqual(sup_status(j, "expedia")["cache"], {"hits": 0, "misses": 1, "coalesced": 0})
            self.assertEqual(sim_calls(self.port, "expedia"), calls0 + 1)
            self.assertNotIn(room, [r["originalRoomNaming"]["id"] for r in rates_of(j, "expedia")])
            self.check_avail_sold_out(stale)
        finally:
            sim(self.port, "expedia", "_inventory", {"hotel": code, "room": room, "count": 5})

    def test_webhook_supplier_ttl_clamped_to_300(self):
        # > 14 days out the policy asks 5 min; a supplier with webhooks keeps it (<= 300 s)
        hotel, code, room = DIDA
        ci, co = fresh_stay(days=40)
        rate = self.cached(hotel, "dida", room, ci, co)
        ttl = rate["freshness"]["ttlSeconds"]
        self.assertTrue(60 < ttl <= 300, rate["freshness"])
        advance(self.port, ttl - 1)
        j = self.rates(hotel, ci, co)
        self.assertEqual(sup_status(j, "dida")["cache"]["hits"], 1)
        advance(self.port, 1)
        j = self.rates(hotel, ci, co)
        self.assertEqual(sup_status(j, "dida")["cache"]["misses"], 1)


if __name__ == "__main__":
    run_tests(globals())
