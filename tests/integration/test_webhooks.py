"""Webhook invalidation (issue 4, DESIGN §5 rule 4) end to end.

POST /webhooks/{supplier}, signed X-Timestamp + X-Signature (hex HMAC-SHA256
of "<timestamp>.<raw body>" with config.suppliers[x].webhook_secret; see
scripts/lib/webhook.lua):
  * ROOM_SOLD_OUT / PRICE_CHANGED drop the hotel's search entries before the
    answer: the next search calls the supplier again;
  * a bad signature or a stale timestamp -> 401, nothing invalidated;
  * an unknown type -> 200, nothing invalidated; NEW_AVAILABILITY -> nothing;
  * the simulators push these webhooks themselves when a room sells out or
    its price changes (POST /sim/NAME/_inventory, /_price, a booking);
  * two hotelmux processes on one Redis: a webhook on node A drops node B's
    entry; the delay from A's answer until B no longer has it is printed."""

import hashlib
import hmac
import json
import time
import unittest

from hmtest import request, run_tests
from test_cache import (SAMPLE, CacheBase, SECRETS, SUPPLIERS, Redis, all_rates, call, fresh_stay, need_redis,
                        rates_body, server, sim, sim_calls, ticket)

WH = [s for s in ("dida", "agoda", "hotelbeds") if s in SUPPLIERS]


def event_body(sup, typ, hotel_code, room_code=None):
    if sup == "dida":
        ev = {"Type": typ, "HotelID": int(hotel_code)}
        if room_code:
            ev["RoomTypeID"] = int(room_code)
        return json.dumps({"Events": [ev]})
    if sup == "agoda":
        ev = {"type": typ, "propertyId": int(hotel_code)}
        if room_code:
            ev["roomId"] = int(room_code)
        return json.dumps({"events": [ev]})
    ev = {"type": typ, "hotelCode": int(hotel_code)}
    if room_code:
        ev["roomCode"] = room_code
    return json.dumps({"events": [ev]})


def post_webhook(port, sup, body, secret=None, ts=None, sig=None):
    ts = str(int(time.time()) if ts is None else ts)
    secret = SECRETS[sup] if secret is None else secret
    if sig is None:
        sig = hmac.new(secret.encode(), (ts + "." + body).encode(), hashlib.sha256).hexdigest()
    st, _h, b = request(port, "POST", "/webhooks/" + sup, body=body,
                        headers={"Content-Type": "application/json", "X-Timestamp": ts, "X-Signature": sig})
    return st, json.loads(b)


def sup_status(j, sup):
    return [s for s in j["data"]["suppliers"] if s["supplier"] == sup][0]


class Webhooks(CacheBase):
    def rates(self, hotel, ci, co, port=None):
        st, j = call(port or self.port, "/api/search/hotelRates", rates_body(hotel, ci, co), self.tk)
        self.assertEqual((st, j["code"]), (200, 0), j)
        return j

    def cached_stay(self, sup):
        """A fresh stay whose entries for the sample hotel are cached; returns (ci, co)."""
        hotel = SAMPLE[sup][0]
        ci, co = fresh_stay()
        self.rates(hotel, ci, co)
        j = self.rates(hotel, ci, co)
        self.assertEqual(sup_status(j, sup)["cache"]["hits"], 1, sup_status(j, sup))
        return ci, co

    def assert_still_cached(self, sup, ci, co):
        before = sim_calls(self.port, sup)
        j = self.rates(SAMPLE[sup][0], ci, co)
        self.assertEqual(sup_status(j, sup)["cache"], {"hits": 1, "misses": 0, "coalesced": 0})
        self.assertEqual(sim_calls(self.port, sup), before)

    def assert_live_again(self, sup, ci, co):
        before = sim_calls(self.port, sup)
        j = self.rates(SAMPLE[sup][0], ci, co)
        st = sup_status(j, sup)
        self.assertEqual((st["cache"]["hits"], st["cache"]["misses"]), (0, 1), st)
        self.assertEqual(sim_calls(self.port, sup), before + 1)
        return j

    def test_sold_out_and_price_changed_invalidate(self):
        for sup in WH:
            for typ in ("ROOM_SOLD_OUT", "PRICE_CHANGED"):
                with self.subTest(sup=sup, type=typ):
                    _h, code, room = SAMPLE[sup]
                    ci, co = self.cached_stay(sup)
                    st, j = post_webhook(self.port, sup, event_body(sup, typ, code, room))
                    self.assertEqual((st, j["code"]), (200, 0), j)
                    self.assertEqual(j["data"]["events"][0]["action"], "invalidated", j)
                    self.assertGreaterEqual(j["data"]["invalidated"], 1, j)
                    self.assert_live_again(sup, ci, co)

    def test_invalidation_touches_only_that_hotel_and_supplier(self):
        sup = WH[0]
        _h, code, room = SAMPLE[sup]
        ci, co = self.cached_stay(sup)
        other = [s for s in SUPPLIERS if s != sup][0]
        st, j = post_webhook(self.port, sup, event_body(sup, "ROOM_SOLD_OUT", code, room))
        self.assertEqual(st, 200, j)
        j = self.rates(SAMPLE[sup][0], ci, co)
        self.assertEqual(sup_status(j, sup)["cache"]["misses"], 1)
        self.assertEqual(sup_status(j, other)["cache"]["hits"], 1, "another supplier's entry was dropped")

    def test_bad_signature_and_stale_timestamp_401(self):
        sup = WH[0]
        _h, code, room = SAMPLE[sup]
        ci, co = self.cached_stay(sup)
        body = event_body(sup, "ROOM_SOLD_OUT", code, room)
        cases = [dict(secret="wrong-secret"), dict(sig="0" * 64), dict(sig=""),
                 dict(ts=int(time.time()) - 301), dict(ts=int(time.time()) + 400)]
        for kw in cases:
            st, j = post_webhook(self.port, sup, body, **kw)
            self.assertEqual((st, j["code"]), (401, 100000401), (kw, j))
        # signed, then the body edited
        ts = str(int(time.time()))
        sig = hmac.new(SECRETS[sup].encode(), (ts + "." + body).encode(), hashlib.sha256).hexdigest()
        st, j = post_webhook(self.port, sup, body.replace("ROOM_SOLD_OUT", "PRICE_CHANGED"), ts=ts, sig=sig)
        self.assertEqual(st, 401, j)
        # no signature headers at all
        st, _h2, b = request(self.port, "POST", "/webhooks/" + sup, body=body)
        self.assertEqual(st, 401, b)
        self.assert_still_cached(sup, ci, co)

    def test_unknown_type_and_new_availability_invalidate_nothing(self):
        sup = WH[0]
        _h, code, room = SAMPLE[sup]
        ci, co = self.cached_stay(sup)
        for typ, action in (("ROOM_RENOVATED", "ignored"), ("NEW_AVAILABILITY", "none")):
            st, j = post_webhook(self.port, sup, event_body(sup, typ, code, room))
            self.assertEqual((st, j["code"]), (200, 0), j)
            self.assertEqual(j["data"]["invalidated"], 0, j)
            self.assertEqual(j["data"]["events"][0]["action"], action, j)
        self.assertIn("unknown type", self.srv.log_text())
        self.assert_still_cached(sup, ci, co)

    def test_unknown_supplier_404(self):
        st, j = post_webhook(self.port, "dida", "{}")
        self.assertEqual(st, 200, j)       # signed, no events
        st, _h, b = request(self.port, "POST", "/webhooks/nosuch", body="{}")
        self.assertEqual(st, 404, b)

    def search_after_push(self, sup, hotel, ci, co):
        """Search until sup's entry is a miss: the simulator's webhook (pushed
        asynchronously, within 3 s) dropped it. Returns that search's answer."""
        deadline = time.monotonic() + 3
        while True:
            j = self.rates(hotel, ci, co)
            if sup_status(j, sup)["cache"]["misses"] == 1 or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        self.assertEqual(sup_status(j, sup)["cache"]["misses"], 1, "webhook did not drop the entry")
        return j

    def test_simulator_pushes_sold_out(self):
        """The stale-inventory scenario: the supplier sells its last room; its
        webhook drops the entry; the next search no longer shows the room."""
        for sup in WH:
            with self.subTest(sup=sup):
                hotel, code, room = SAMPLE[sup]
                ci, co = self.cached_stay(sup)
                sim(self.port, sup, "_inventory", {"hotel": code, "room": room, "count": 0})
                try:
                    j = self.search_after_push(sup, hotel, ci, co)
                    rooms = [r["originalRoomNaming"]["id"] for r in all_rates(j) if r["supplier"] == sup]
                    self.assertNotIn(room, rooms)
                finally:
                    sim(self.port, sup, "_inventory", {"hotel": code, "room": room, "count": 5})

    def test_simulator_pushes_price_changed(self):
        for sup in WH:
            with self.subTest(sup=sup):
                hotel, code, room = SAMPLE[sup]
                ci, co = self.cached_stay(sup)
                sim(self.port, sup, "_price", {"hotel": code, "room": room, "price": "777.00"})
                try:
                    self.search_after_push(sup, hotel, ci, co)
                finally:
                    sim(self.port, sup, "_price", {"hotel": code, "room": room, "price": None})


def l2_keys(redis, sup, code):
    """The supplier's search entries for its hotel code in L2 (a fresh Redis per test)."""
    prefix = ("hm:c:s1:%s:%s:" % (sup, code)).encode()
    return [ln for ln in redis.cli("KEYS", prefix + b"*").split(b"\r\n") if ln.startswith(prefix)]


class TwoNodes(unittest.TestCase):
    def setUp(self):
        need_redis(self)
        self.redis = Redis().start()

    def tearDown(self):
        self.redis.close()

    def test_webhook_on_a_drops_entry_on_b(self):
        sup = WH[0]
        hotel, code, room = SAMPLE[sup]
        delays = []
        with server(self.redis.port) as a, server(self.redis.port) as b:
            tk = ticket(b.port)

            def search_b(ci, co):
                st, j = call(b.port, "/api/search/hotelRates", rates_body(hotel, ci, co), tk)
                self.assertEqual(j["code"], 0, j)
                return sup_status(j, sup)["cache"]

            for i in range(5):
                ci, co = fresh_stay()
                search_b(ci, co)
                self.assertEqual(search_b(ci, co)["hits"], 1)
                if i == 0:
                    # L2 writes do not wait: let B's entry land before the webhook deletes it
                    deadline = time.monotonic() + 5
                    while not l2_keys(self.redis, sup, code) and time.monotonic() < deadline:
                        time.sleep(0.01)
                st, j = post_webhook(a.port, sup, event_body(sup, "ROOM_SOLD_OUT", code, room))
                t_ans = time.perf_counter()
                self.assertEqual((st, j["code"]), (200, 0), j)
                ev = j["data"]["events"][0]
                self.assertTrue(ev["published"], ev)
                self.assertGreaterEqual(ev["receivers"], 2, ev)      # both nodes' subscribers
                if i == 0:
                    self.assertGreaterEqual(ev["l2Deleted"], 1, ev)
                else:
                    # within the first webhook's fence no L2 store of this hotel is
                    # accepted: a store of data fetched before a webhook may reach Redis
                    # after the webhook's delete, and would outlive it on every node
                    self.assertEqual(ev["l2Deleted"], 0, ev)
                    self.assertEqual(l2_keys(self.redis, sup, code), [], "an entry of an invalidated hotel reached L2")
                # node B confirmed before A answered (DESIGN §5 rule 4)
                self.assertEqual((ev["nodesExpected"], ev["nodesAcked"]), (1, 1), ev)
                # poll node B until its entry is gone (the first miss re-caches it: stop there)
                polls = 0
                while True:
                    polls += 1
                    c = search_b(ci, co)
                    if c["misses"] == 1:
                        break
                    self.assertLess(time.perf_counter() - t_ans, 2.0, "node B still has the entry after 2 s")
                delays.append(((time.perf_counter() - t_ans) * 1000, polls))
            st, _h, m = request(b.port, "GET", "/metrics")
            text = m.decode()
            s_ = [ln for ln in text.splitlines() if ln.startswith("hotelmux_invalidation_delay_seconds_sum")]
            n_ = [ln for ln in text.splitlines() if ln.startswith("hotelmux_invalidation_delay_seconds_count")]
        print("\n    webhook on node A -> entry gone on node B: %s after A answered (ms, polls of B; one poll ="
              " one search round trip to B)" % ", ".join("%.2f/%d" % d for d in delays))
        if s_ and n_ and float(n_[0].split()[-1]) > 0:
            print("    node B's hotelmux_invalidation_delay_seconds (A publishes -> B applies): mean %.3f ms over %d"
                  % (float(s_[0].split()[-1]) / float(n_[0].split()[-1]) * 1000, int(float(n_[0].split()[-1]))))
        # A answers only after B acknowledged dropping its entries, so B's very
        # first search after A's answer misses.
        self.assertEqual([p for _d, p in delays], [1] * len(delays), delays)


if __name__ == "__main__":
    run_tests(globals())
