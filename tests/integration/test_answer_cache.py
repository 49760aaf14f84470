#!/usr/bin/env python3
"""The search cache's answer level (issue 4): a hotelRates answer composed
only from cached per-supplier entries is stored whole and served again
without being recomposed.

- a repeated identical search is served from the answer level (metric), with
  the same content except the per-request fields (session id) and the ages;
- ageSeconds grows with the (controllable) clock: it is the entries' true age;
- a webhook about one supplier hotel drops the answer: the next search
  recomposes and the sold-out room is gone;
- the first search (its suppliers called, its entries stored) stores its answer
  as a search composed from those entries would have it (parts from the cache,
  statuses as cache hits), while its own answer says live; a reload shows the
  two are the same; an answer with a failed part is never stored;
- another occupancy or currency is another answer;
- a supplier answer fetched before a webhook is not stored after it (the
  call was already under way when the webhook invalidated the hotel);
- a reload (which may change pricing, fx, data or the ratePkgId secret) starts
  fresh answers; the entries themselves stay;
- with Redis, looking up an answer (kept in each node's L1 only) never asks Redis;
- the core's answer memo (core/answer_memo.c) answers a repeated search
  without its script, with the same answer, headers and checks: an unknown
  or expired ticket still gets 401, the app's limits still give 429, another
  Currency header is another request.
"""
import base64
import copy
import gzip
import json
import threading
import time
import unittest

from hmtest import request, run_tests
from test_cache import ADMIN, REDIS, SAMPLE, SUPPLIERS, CacheBase, call, calls, fresh_stay, rates_body, sim
from test_stale_inventory import advance, metric, rates_of, sup_status
from test_webhooks import event_body, post_webhook


def answer_metric(port, result):
    return metric(port, "hotelmux_cache_requests_total", level="answer", result=result)


def stored(port):
    return metric(port, "hotelmux_search_cache_total", event="answer_stored")


def without_freshness(j):
    """The answer's content: no session id, freshness or supplier statuses."""
    d = copy.deepcopy(j["data"])
    d["basic"].pop("sessionId")
    d.pop("freshness")
    d.pop("suppliers")
    for room in d["rooms"]:
        for r in room["rates"]:
            r.pop("freshness")
    return d


def pkgs_decoded(d):
    """d with each rate's ratePkgId (supplier~base64url(json).mac) as its JSON content."""
    for room in d["rooms"]:
        for r in room["rates"]:
            sup, rest = r["ratePkgId"].split("~", 1)
            payload = rest.rsplit(".", 1)[0]
            r["ratePkgId"] = (sup, json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))
    return d


def without_dynamic(j):
    """The answer without what may differ between two servings of it."""
    d = copy.deepcopy(j["data"])
    d["basic"].pop("sessionId")
    d["freshness"].pop("ageSeconds", None)
    d["freshness"].pop("ttlSeconds", None)
    for room in d["rooms"]:
        for r in room["rates"]:
            r["freshness"].pop("ageSeconds")
    return d


@unittest.skipUnless("dida" in SUPPLIERS, "needs the dida simulator (webhooks)")
class AnswerLevel(CacheBase):
    server_env = {"HOTELMUX_TEST_CLOCK": "1"}     # advance() moves the clock

    def stored_answer(self, body):
        """The first search: live, and its answer stored for the next ones.
        Returns the next search's answer, served from the answer level."""
        s0 = stored(self.port)
        live = self.rates(body)
        self.assertEqual(stored(self.port), s0 + 1, "the answer of entries just stored was not stored")
        rates = [r for room in live["data"]["rooms"] for r in room["rates"]]
        self.assertTrue(rates)
        for r in rates:     # this request's own answer: live data
            self.assertEqual((r["freshness"]["source"], r["freshness"]["ttlSeconds"], r["freshness"]["referencePrice"]),
                             ("live", 0, False), r["freshness"])
        self.assertEqual({st["cache"]["hits"] for st in live["data"]["suppliers"]}, {0})
        j = self.served(body)
        self.assertEqual(without_freshness(j), without_freshness(live))
        for r in (r for room in j["data"]["rooms"] for r in room["rates"]):
            self.assertEqual(r["freshness"]["source"], "cache")
            self.assertTrue(r["freshness"]["referencePrice"])
            self.assertGreater(r["freshness"]["ttlSeconds"], 0)
            self.assertLessEqual(r["freshness"]["ageSeconds"], 1)
        for st in j["data"]["suppliers"]:
            self.assertEqual((st["status"], st["latencyMs"], st["cache"]["misses"]), ("ok", 0, 0), st)
        return j

    def served(self, body):
        """One search that must be served from the answer level."""
        hits, before = answer_metric(self.port, "hit"), calls(self.port)
        j = self.rates(body)
        self.assertEqual(answer_metric(self.port, "hit"), hits + 1, "not served from the answer level")
        self.assertEqual(calls(self.port), before, "an answer-level hit called a supplier")
        return j

    def test_repeat_served_from_answer_level_with_fresh_per_request_fields(self):
        ci, co = fresh_stay()
        body = rates_body(SAMPLE["dida"][0], ci, co)
        composed = self.stored_answer(body)
        j = self.served(body)
        self.assertEqual(without_dynamic(j), without_dynamic(composed))
        self.assertNotEqual(j["data"]["basic"]["sessionId"], composed["data"]["basic"]["sessionId"])
        self.assertEqual(j["data"]["freshness"]["source"], "cache")
        # the client's own session id is echoed, not the stored one
        j = self.served(dict(body, sessionId="client-session-42"))
        self.assertEqual(j["data"]["basic"]["sessionId"], "client-session-42")
        self.assertEqual(without_dynamic(j), without_dynamic(composed))

    def test_age_grows_with_the_clock(self):
        ci, co = fresh_stay()
        body = rates_body(SAMPLE["dida"][0], ci, co)
        self.stored_answer(body)
        j1 = self.served(body)
        advance(self.port, 7)
        j2 = self.served(body)
        by_id = lambda j: {r["ratePkgId"]: r["freshness"] for room in j["data"]["rooms"] for r in room["rates"]}
        f1, f2 = by_id(j1), by_id(j2)
        self.assertEqual(set(f1), set(f2))
        self.assertTrue(f1)
        for k, f in f2.items():
            # 7 s later by the clock (plus the real time between the two requests)
            self.assertGreaterEqual(f["ageSeconds"], f1[k]["ageSeconds"] + 7, (f1[k], f))
            self.assertLessEqual(f["ageSeconds"], f["ttlSeconds"], f)
            self.assertEqual(f["ttlSeconds"], f1[k]["ttlSeconds"])
        # the answer's freshness: the oldest part, and what is left of the shortest TTL
        top1, top2 = j1["data"]["freshness"], j2["data"]["freshness"]
        self.assertEqual(top2["ageSeconds"], max(f["ageSeconds"] for f in f2.values()))
        self.assertLessEqual(top2["ttlSeconds"], top1["ttlSeconds"] - 7)

    def test_webhook_drops_the_answer(self):
        hotel, code, room = SAMPLE["dida"]
        ci, co = fresh_stay()
        body = rates_body(hotel, ci, co)
        self.stored_answer(body)
        j = self.served(body)
        self.assertIn(room, [r["originalRoomNaming"]["id"] for r in rates_of(j, "dida")])
        sim(self.port, "dida", "_inventory", {"hotel": code, "room": room, "count": 0})
        try:
            st, w = post_webhook(self.port, "dida", event_body("dida", "ROOM_SOLD_OUT", code, room))
            self.assertEqual((st, w["code"]), (200, 0), w)
            misses = answer_metric(self.port, "miss")
            j = self.rates(body)
            self.assertEqual(answer_metric(self.port, "miss"), misses + 1, "the answer survived the webhook")
            self.assertEqual(sup_status(j, "dida")["cache"]["misses"], 1, sup_status(j, "dida"))
            self.assertNotIn(room, [r["originalRoomNaming"]["id"] for r in rates_of(j, "dida")])
            # the other suppliers' parts still come from their entries
            others = [st for st in j["data"]["suppliers"] if st["supplier"] != "dida"]
            self.assertTrue(others)
            for st in others:
                self.assertEqual(st["cache"]["misses"], 0, st)
        finally:
            sim(self.port, "dida", "_inventory", {"hotel": code, "room": room, "count": 5})

    def test_answer_with_a_failed_part_is_not_stored(self):
        ci, co = fresh_stay()
        body = rates_body(SAMPLE["dida"][0], ci, co)
        bad = [s for s in SUPPLIERS if s != "dida"][0]
        sim(self.port, bad, "_faults", {"error_rate": 1})
        s0, hits = stored(self.port), answer_metric(self.port, "hit")
        for _ in range(3):
            j = self.rates(body)
            self.assertEqual(sup_status(j, bad)["status"], "error", sup_status(j, bad))
        self.assertEqual(stored(self.port), s0, "an answer with a failed part was stored")
        self.assertEqual(answer_metric(self.port, "hit"), hits)

    def test_other_occupancy_or_currency_is_another_answer(self):
        ci, co = fresh_stay()
        body = rates_body(SAMPLE["dida"][0], ci, co)
        self.stored_answer(body)
        self.served(body)
        for other in (dict(body, currency="EUR"), dict(body, roomOccupancies=[{"adultCount": 1}]),
                      dict(body, roomOccupancies=[{"adultCount": 2}, {"adultCount": 2}])):
            with self.subTest(other=other):
                hits = answer_metric(self.port, "hit")
                j = self.rates(other)
                self.assertEqual(answer_metric(self.port, "hit"), hits, "served another request's answer")
                if other.get("currency") == "EUR":
                    self.assertEqual({r["totalRate"]["netRate"]["currency"] for r in rates_of(j, "dida")}, {"EUR"})

    def test_answer_fetched_before_a_webhook_is_not_stored(self):
        hotel, code, room = SAMPLE["dida"]
        ci, co = fresh_stay()
        body = rates_body(hotel, ci, co)
        sim(self.port, "dida", "_faults", {"latency_ms": 200})
        got = {}
        try:
            th = threading.Thread(target=lambda: got.update(j=self.rates(body)))
            th.start()
            time.sleep(0.08)    # the gateway's dida call is under way
            st, w = post_webhook(self.port, "dida", event_body("dida", "PRICE_CHANGED", code, room))
            self.assertEqual((st, w["code"]), (200, 0), w)
            th.join(10)
        finally:
            sim(self.port, "dida", "_faults", {})
        self.assertEqual(sup_status(got["j"], "dida")["status"], "ok", got["j"]["data"]["suppliers"])
        j = self.rates(body)
        self.assertEqual(sup_status(j, "dida")["cache"]["misses"], 1,
                         "a pre-webhook answer was stored: %s" % sup_status(j, "dida"))

    def test_reload_starts_fresh_answers(self):
        ci, co = fresh_stay()
        body = rates_body(SAMPLE["dida"][0], ci, co)
        from_live = self.stored_answer(body)
        self.served(body)
        st, _h, b = request(self.port, "POST", "/admin/reload", headers={"Authorization": "Bearer " + ADMIN})
        self.assertEqual(st, 200, b)
        misses, before = answer_metric(self.port, "miss"), calls(self.port)
        composed = self.rates(body)
        self.assertEqual(answer_metric(self.port, "miss"), misses + 1, "an answer outlived the reload")
        self.assertEqual(calls(self.port), before, "the entries should have survived the reload")
        # the answer stored from the live search is the one its entries compose
        # (ratePkgIds compared by content: the new Lua state may order a
        # package's JSON keys differently, so its signature differs)
        self.assertEqual(pkgs_decoded(without_dynamic(composed)), pkgs_decoded(without_dynamic(from_live)))
        self.served(body)


def memo_served(port):
    return metric(port, "hotelmux_answer_memo_total", result="served")


def post(port, path, body, tk, headers=None):
    h = {"Content-Type": "application/json", "Authorization": "Bearer " + tk}
    h.update(headers or {})
    st, hdrs, b = request(port, "POST", path, headers=h, body=json.dumps(body))
    return st, hdrs, json.loads(b.decode())


@unittest.skipUnless("dida" in SUPPLIERS, "needs the dida simulator")
class CoreMemo(CacheBase):
    """Repeated searches answered by the core itself (answer_memo.h)."""
    server_env = {"HOTELMUX_TEST_CLOCK": "1"}
    # a small overall limit for a second app, so 429 can be seen; demo keeps its own
    server_extra = """
base.apps.tight = { secret = "tight-secret", limits = { qps = 3 } }
base.gzip_level = 1
"""

    def warm(self, path, body, tk=None, n=12):
        """Search until each worker's memo holds the request (live, then
        served by the core); returns the last answer. Each request is a new
        connection that SO_REUSEPORT gives to either worker: with 6, all went
        to one worker about once in 32 runs, and the other's first repeat went
        to the script (seen once under load); with 12, once in 2,048."""
        for _ in range(n):
            st, h, j = post(self.port, path, body, tk or self.tk)
            self.assertEqual((st, j["code"]), (200, 0), j)
        return st, h, j

    def test_repeat_served_by_core_with_the_scripts_answer(self):
        ci, co = fresh_stay()
        body = rates_body(SAMPLE["dida"][0], ci, co)
        self.warm("/api/search/hotelRates", body)
        s0, hits, before = memo_served(self.port), answer_metric(self.port, "hit"), calls(self.port)
        answers = [post(self.port, "/api/search/hotelRates", body, self.tk) for _ in range(6)]
        self.assertEqual(memo_served(self.port), s0 + 6, "the core did not answer the repeats")
        self.assertEqual(answer_metric(self.port, "hit"), hits + 6)
        self.assertEqual(calls(self.port), before)
        composed = answers[0][2]
        ids = set()
        for st, h, j in answers:
            self.assertEqual((st, j["code"], j["msg"]), (200, 0, "success"))
            self.assertEqual(without_dynamic(j), without_dynamic(composed))
            self.assertEqual(h["Content-Type"], "application/json")
            self.assertTrue(h["Request-Id"])
            self.assertGreaterEqual(int(h["Server-Cost-Milliseconds"]), 0)
            ids.add(j["data"]["basic"]["sessionId"])
            self.assertRegex(j["data"]["basic"]["sessionId"], "^[0-9a-f]{16}$")
        self.assertEqual(len(ids), 6, "session ids repeat")

    def test_gzip_clients_get_the_same_answer_compressed_once(self):
        ci, co = fresh_stay()
        body = rates_body(SAMPLE["dida"][0], ci, co)
        self.warm("/api/search/hotelRates", body)
        s0 = memo_served(self.port)
        st, h, plain = post(self.port, "/api/search/hotelRates", body, self.tk)
        self.assertEqual(h.get("Vary"), "Accept-Encoding")
        sids = set()
        for _ in range(3):
            st, h, b = request(self.port, "POST", "/api/search/hotelRates", body=json.dumps(body),
                               headers={"Content-Type": "application/json", "Authorization": "Bearer " + self.tk,
                                        "Accept-Encoding": "gzip"})
            self.assertEqual(st, 200)
            self.assertEqual((h.get("Content-Encoding"), h.get("Vary")), ("gzip", "Accept-Encoding"))
            self.assertLess(len(b), int(h["Content-Length"]) + 1)
            j = json.loads(gzip.decompress(b))
            self.assertEqual(without_dynamic(j), without_dynamic(plain))
            sids.add(j["data"]["basic"]["sessionId"])
        self.assertEqual(len(sids), 3, "each request has its own session id in the compressed answer")
        self.assertEqual(memo_served(self.port), s0 + 4, "not answered by the core")
        # a later rendering (the ages moved on, the text is compressed once per
        # stored version): still the same answer as the plain one, ages included
        advance(self.port, 7)
        _, _, plain2 = post(self.port, "/api/search/hotelRates", body, self.tk)
        st, h, b = request(self.port, "POST", "/api/search/hotelRates", body=json.dumps(body),
                           headers={"Content-Type": "application/json", "Authorization": "Bearer " + self.tk,
                                    "Accept-Encoding": "gzip"})
        j = json.loads(gzip.decompress(b))
        for d in (j, plain2):
            d["data"]["basic"].pop("sessionId")
        self.assertEqual(j, plain2)
        self.assertGreaterEqual(j["data"]["freshness"]["ageSeconds"], plain["data"]["freshness"]["ageSeconds"] + 7)

    def test_ages_advance_and_webhooks_apply_to_core_answers(self):
        # The core keeps each answer as it last rendered it and sends that
        # again while it reads the same: a later clock must show later ages,
        # and an invalidated entry must not be sent from the kept copy.
        hotel, code, room = SAMPLE["dida"]
        ci, co = fresh_stay()
        body = rates_body(hotel, ci, co)
        self.warm("/api/search/hotelRates", body)
        ages = lambda j: sorted((r["ratePkgId"], r["freshness"]["ageSeconds"])
                                for room in j["data"]["rooms"] for r in room["rates"])
        s0 = memo_served(self.port)
        first = [post(self.port, "/api/search/hotelRates", body, self.tk)[2] for _ in range(4)]
        advance(self.port, 7)
        later = [post(self.port, "/api/search/hotelRates", body, self.tk)[2] for _ in range(4)]
        self.assertEqual(memo_served(self.port), s0 + 8, "the core did not answer the repeats")
        old_age = dict(ages(first[-1]))
        for j in later:
            self.assertEqual([k for k, _ in ages(j)], sorted(old_age))
            for k, age in ages(j):
                self.assertGreaterEqual(age, old_age[k] + 7, k)
        self.assertIn(room, [r["originalRoomNaming"]["id"] for r in rates_of(later[-1], "dida")])
        sim(self.port, "dida", "_inventory", {"hotel": code, "room": room, "count": 0})
        try:
            st, w = post_webhook(self.port, "dida", event_body("dida", "ROOM_SOLD_OUT", code, room))
            self.assertEqual((st, w["code"]), (200, 0), w)
            s1 = memo_served(self.port)
            for i in range(4):   # whichever worker takes it; then from the new answer
                st, _h, j = post(self.port, "/api/search/hotelRates", body, self.tk)
                self.assertEqual((st, j["code"]), (200, 0), j)
                self.assertNotIn(room, [r["originalRoomNaming"]["id"] for r in rates_of(j, "dida")])
                if i == 0:
                    self.assertEqual(memo_served(self.port), s1, "served from before the webhook")
        finally:
            sim(self.port, "dida", "_inventory", {"hotel": code, "room": room, "count": 5})

    def test_hotel_list_sends_its_session_id_header(self):
        ci, co = fresh_stay()
        body = {"destinationId": "DXB", "checkIn": ci, "checkOut": co, "pageSize": 5,
                "roomOccupancies": [{"adultCount": 2}], "currency": "USD"}
        st, _h, j = post(self.port, "/api/search/hotelList", body, self.tk)
        self.assertEqual((st, j["code"]), (200, 0), j)
        self.warm("/api/search/hotelList", body)
        s0 = memo_served(self.port)
        for _ in range(4):
            st, h, j = post(self.port, "/api/search/hotelList", body, self.tk)
            self.assertEqual((st, j["code"]), (200, 0), j)
            self.assertEqual(h["Session-Id"], j["data"]["basic"]["sessionId"])
            self.assertEqual(j["data"]["basic"]["destinationId"], "DXB")
        self.assertEqual(memo_served(self.port), s0 + 4)

    def test_bad_or_expired_ticket_is_refused(self):
        ci, co = fresh_stay()
        body = rates_body(SAMPLE["dida"][0], ci, co)
        self.warm("/api/search/hotelRates", body)
        s0 = memo_served(self.port)
        for auth in ("Bearer " + self.tk[:-2] + "xx", "Bearer nope", "Basic abc", ""):
            st, _h, j = post(self.port, "/api/search/hotelRates", body, self.tk, {"Authorization": auth})
            self.assertEqual((st, j["code"]), (401, 100000401), (auth, j["msg"]))
        # the ticket sent twice: not the plain case, the script decides
        st, _h, j = post(self.port, "/api/search/hotelRates", body, self.tk,
                         {"Currency": "USD", "currency": "EUR"})
        self.assertIn(st, (200, 400), j)
        self.assertEqual(memo_served(self.port), s0, "the core answered a request the script refuses")
        tk = ticket_of(self.port, "demo", "demo-secret", ttl=30)
        self.warm("/api/search/hotelRates", body, tk)
        advance(self.port, 31)        # past the ticket's expiry, not the answer's
        s0 = memo_served(self.port)
        st, _h, j = post(self.port, "/api/search/hotelRates", body, tk)
        self.assertEqual((st, j["code"]), (401, 100000401), j["msg"])
        self.assertEqual(memo_served(self.port), s0)
        st, _h, j = post(self.port, "/api/search/hotelRates", body, self.tk)   # the answer is still there
        self.assertEqual((st, j["code"]), (200, 0), j["msg"])

    def test_app_limits_still_apply(self):
        ci, co = fresh_stay()
        body = rates_body(SAMPLE["dida"][0], ci, co)
        self.warm("/api/search/hotelRates", body)      # the answer is stored
        tk = ticket_of(self.port, "tight", "tight-secret")
        time.sleep(1.2)
        s0 = memo_served(self.port)
        t0 = time.monotonic()
        sts = [post(self.port, "/api/search/hotelRates", body, tk)[0] for _ in range(12)]
        refilled = int((time.monotonic() - t0) * 3)   # a loaded machine is slower than 1/3 s
        # qps 3 with a burst of 3, one node
        self.assertGreaterEqual(sts.count(200), 3, sts)
        self.assertLessEqual(sts.count(200), 3 + refilled, sts)
        self.assertEqual(sts.count(200) + sts.count(429), 12, sts)
        self.assertGreaterEqual(memo_served(self.port), s0)

    def test_other_currency_header_is_another_request(self):
        ci, co = fresh_stay()
        body = rates_body(SAMPLE["dida"][0], ci, co)
        self.warm("/api/search/hotelRates", body)
        s0 = memo_served(self.port)
        st, _h, j = post(self.port, "/api/search/hotelRates", body, self.tk, {"Currency": "EUR"})
        self.assertEqual((st, j["code"]), (200, 0), j)
        self.assertEqual(memo_served(self.port), s0, "served the answer of a request without the header")


class CoreMemoRefreshBudget(CacheBase):
    """Answers that near expiry together reach the script for their
    refresh-ahead no more often than its budget (refresh_ahead_per_s)."""
    server_env = {"HOTELMUX_TEST_CLOCK": "1"}
    server_extra = """
base.refresh_ahead_per_s = 1
"""

    def test_expiring_answers_pass_within_the_budget(self):
        ci, co = fresh_stay()
        bodies = [rates_body("HM-DXB-%04d" % h, ci, co, sortBy=order)
                  for h in range(1, 7) for order in ("price-asc", "price-desc")]
        left = None
        for b in bodies:     # stored, then read often enough for refresh-ahead (5)
            for _ in range(9):
                st, _h, j = post(self.port, "/api/search/hotelRates", b, self.tk)
                self.assertEqual((st, j["code"]), (200, 0), j)
            left = min(left or 1e9, j["data"]["freshness"]["ttlSeconds"])
        self.assertGreater(left, 20)
        advance(self.port, left * 0.9)       # every answer now in its last 20 %
        passed, served = memo_passed(self.port), memo_served(self.port)
        for b in bodies * 2:
            st, _h, j = post(self.port, "/api/search/hotelRates", b, self.tk)
            self.assertEqual((st, j["code"]), (200, 0), j)
        passes = memo_passed(self.port) - passed
        # one a second in each of the 2 workers (the real clock may tick once)
        self.assertGreaterEqual(passes, 1, "no refresh-ahead reached the script")
        self.assertLessEqual(passes, 4, "every expiring answer went to the script")
        self.assertEqual(memo_served(self.port) - served, len(bodies) * 2 - passes)


def memo_passed(port):
    return metric(port, "hotelmux_answer_memo_total", result="passed")


def ticket_of(port, app, secret, ttl=None):
    st, j = call(port, "/api/auth/ticket", dict({"appKey": app, "appSecret": secret}, **({"ttl": ttl} if ttl else {})))
    assert st == 200 and j["code"] == 0, j
    return j["data"]["ticket"]


@unittest.skipUnless(REDIS, "redis-server not installed")
class AnswerLevelWithRedis(CacheBase):
    with_redis = True

    def test_answer_lookup_does_not_ask_redis(self):
        ci, co = fresh_stay()
        body = rates_body(SAMPLE["dida"][0], ci, co)
        self.rates(body)                      # live; every supplier's entry is stored
        self.rates(body)                      # composed from L1 entries; the answer stored
        l2 = lambda: sum(metric(self.port, "hotelmux_cache_requests_total", level="l2", result=r)
                         for r in ("hit", "miss", "error"))
        before, misses = l2(), answer_metric(self.port, "miss")
        # Another sort order: an answer-level miss, its parts all L1 hits.
        self.rates(dict(body, sortBy="price-desc"))
        self.assertEqual(answer_metric(self.port, "miss"), misses + 1)
        self.assertEqual(l2(), before, "an answer-level lookup or an L1 hit went to Redis")


if __name__ == "__main__":
    run_tests(globals())
