"""Agoda connector (scripts/connectors/agoda.lua) and simulator (examples/suppliers/agoda.lua).

(a) Contract tests: `hotelmux replay` on every response-carrying fixture in
    $HM_SHARED/fixtures/agoda/ (docs examples + the secondary Affiliate Lite
    response; there is no real Agoda traffic), with the expected values read by
    hand from the files; the request bodies the connector sends are compared with
    the docs' request examples; synthetic status-only answers check the error
    mapping (precheck 501/502/503, 401, 403 quota, garbage).
(b) Simulator round trip over real HTTP: search -> check_avail -> book ->
    query_order -> cancel through the connector against the sim on the same
    server, inventory, sold out, price change, auth, throttle, garbage, latency.
"""
import base64
import datetime
import json
import os
import unittest
from decimal import Decimal, ROUND_HALF_UP

import hmtest
from hmtest import Server, request, run_tests, shared_path


REPO = hmtest.SOURCE_DIR
CONNECTOR = os.path.join(REPO, "scripts", "connectors", "agoda.lua")
SIM = os.path.join(REPO, "examples", "suppliers", "agoda.lua")
DEMO = os.path.join(REPO, "examples", "demo.lua")
FIXTURES = shared_path("fixtures", "agoda")
AUTH = "1812345:ag-demo-key"          # site_id:api_key of examples/demo.lua


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return json.load(f)


def replay(op, response_text=None, response_file=None, inp=None, config_text=None):
    return hmtest.replay("agoda", op, response_path=response_file, response_text=response_text,
                         inp=inp, config_text=config_text)


def mockserver(status, body, headers=None):
    return json.dumps(hmtest.mockserver(body if isinstance(body, str) else json.dumps(body), status, headers))


def make_key(d):
    """The connector's own opaque key format ("AG1." + base64url(JSON))."""
    return "AG1." + base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")


SAMPLE_KEY = {"s": 555, "p": "249518", "r": "1034", "b": "blk-1", "i": "176.00", "c": "USD",
              "ci": "2026-12-01", "co": "2026-12-03", "n": 1, "a": 2, "k": []}


@unittest.skipUnless(FIXTURES, "fixtures/agoda not found under HM_SHARED (%s)" % hmtest.SHARED_DIR)
class FixtureReplay(unittest.TestCase):
    # the fixture files that carry a response, each covered by a test below
    RESPONSE_FIXTURES = {"docs_cancel_response.json", "secondary_affiliate_lite_response.json"}

    def test_every_response_fixture_is_covered(self):
        found = {f for f in os.listdir(FIXTURES) if f.endswith(".json") and "response" in f}
        self.assertEqual(found, self.RESPONSE_FIXTURES,
                         "new/missing Agoda response fixtures: write assertions for them")

    def check_auth(self, requests):
        self.assertTrue(requests)
        for r in requests:
            self.assertEqual(r["method"], "POST")
            self.assertEqual(r["headers"]["Authorization"], AUTH)     # siteId:apiKey, verbatim
            self.assertEqual(r["headers"]["Content-Type"], "application/json")

    def test_cancel_docs_response(self):
        out = replay("cancel", response_file=os.path.join(FIXTURES, "docs_cancel_response.json"),
                     inp={"supplier_ref": "80000610"})
        self.assertNotIn("error", out, out)
        res = out["result"]
        self.assertEqual(res["status"], "cancelled")
        self.assertEqual(res["supplier_ref"], "80000610")            # cancellationSummary.bookingId
        self.assertEqual(res["cancellation_ref"], "989326276")        # cancellationSummary.reference
        # paymentRate[0] {USD, 551.65} - refundRate[0] {USD, 551.65} = fee 0.00
        self.assertEqual(res["paid"], {"amount": "551.65", "currency": "USD"})
        self.assertEqual(res["refund"], {"amount": "551.65", "currency": "USD"})
        self.assertEqual(res["fee"], {"amount": "0.00", "currency": "USD"})
        self.assertEqual(len(res["policy"]), 3)                       # three cancellationPolicy texts
        self.assertTrue(res["policy"][0].startswith("Risk-free booking!"))
        reqs = out["requests"]
        self.check_auth(reqs)
        self.assertEqual(len(reqs), 2)                                # preview, then confirm
        self.assertTrue(reqs[0]["url"].endswith("/api/v4/postBooking/cancel"))
        # the preview body is exactly the docs request example
        self.assertEqual(json.loads(reqs[0]["body"]), fixture("docs_cancel_request.json"))
        confirm = json.loads(reqs[1]["body"])
        self.assertEqual(confirm["bookingId"], 80000610)
        self.assertEqual(confirm["reference"], 989326276)
        self.assertEqual(confirm["refundRate"], [{"currency": "USD", "inclusive": 551.65}])

    def test_affiliate_lite_response(self):
        lite_req = fixture("secondary_affiliate_lite_hotellist_request.json")
        cr = lite_req["criteria"]
        q = {"hotel_ids": [str(h) for h in cr["hotelId"]], "check_in": cr["checkInDate"],
             "check_out": cr["checkOutDate"], "currency": "USD",
             "rooms": [{"adults": 2, "children": [10, 12]}]}
        cfg = 'return { suppliers = { agoda = { base_url = "https://affiliateapi7643.agoda.com", ' \
              'site_id = "1812345", api_key = "ag-demo-key", product = "lite" } } }'
        out = replay("search", response_file=os.path.join(FIXTURES, "secondary_affiliate_lite_response.json"),
                     inp=q, config_text=cfg)
        self.assertNotIn("error", out, out)
        hotels = out["result"]["hotels"]
        self.assertEqual(len(hotels), 1)                              # results[] has one entry
        h = hotels[0]
        self.assertEqual(h["id"], "463019")                           # results[0].hotelId
        self.assertEqual(h["name"], "Decor Do Hostel")                # results[0].hotelName
        rate = h["rooms"][0]["rates"][0]
        self.assertFalse(rate["bookable"])
        self.assertEqual(rate["price"]["currency"], "USD")            # results[0].currency
        self.assertEqual(rate["price"]["net"], "18.54")               # dailyRate 18.54 x 1 night x 1 room
        self.assertEqual(rate["price"]["crossed_out"], "50.34")       # crossedOutRate
        self.assertEqual(rate["board"]["id"], "RO")                   # includeBreakfast false
        reqs = out["requests"]
        self.check_auth(reqs)
        self.assertEqual(reqs[0]["url"], "https://affiliateapi7643.agoda.com/affiliateservice/lt_v1")
        sent = json.loads(reqs[0]["body"])["criteria"]
        self.assertEqual(sent["checkInDate"], cr["checkInDate"])
        self.assertEqual(sent["checkOutDate"], cr["checkOutDate"])
        self.assertEqual(sent["hotelId"], cr["hotelId"])
        for k in ("currency", "discountOnly", "language"):
            self.assertEqual(sent["additional"][k], cr["additional"][k])
        occ = sent["additional"]["occupancy"]
        self.assertEqual(occ["numberOfAdult"], 2)
        self.assertEqual(occ["childrenAges"], [10, 12])
        # the fixture says numberOfChildren 1 next to two ages (a slip in the
        # transcription); we send the count of the ages
        self.assertEqual(occ["numberOfChildren"], 2)

    def test_affiliate_lite_two_nights_two_rooms(self):
        q = {"hotel_ids": ["463019"], "check_in": "2018-09-02", "check_out": "2018-09-04", "currency": "USD",
             "rooms": [{"adults": 2}, {"adults": 2}]}
        cfg = 'return { suppliers = { agoda = { site_id = "1", api_key = "k", product = "lite" } } }'
        out = replay("search", response_file=os.path.join(FIXTURES, "secondary_affiliate_lite_response.json"),
                     inp=q, config_text=cfg)
        rate = out["result"]["hotels"][0]["rooms"][0]["rates"][0]
        self.assertEqual(rate["price"]["net"], "74.16")               # 18.54 x 2 nights x 2 rooms
        self.assertEqual(rate["nightly"], ["18.54", "18.54"])
        self.assertEqual(out["requests"][0]["headers"]["Authorization"], "1:k")

    def test_search_request_matches_docs_example(self):
        doc = fixture("docs_search_request.json")
        cr = doc["criteria"]
        q = {"hotel_ids": [str(i) for i in cr["propertyIds"]], "check_in": cr["checkIn"],
             "check_out": cr["checkOut"], "currency": cr["currency"], "nationality": cr["userCountry"],
             "rooms": [{"adults": 2, "children": [5, 6]}]}
        out = replay("search", response_text='{"searchId": 1, "properties": []}', inp=q)
        self.assertNotIn("error", out, out)
        self.assertEqual(out["result"]["hotels"], [] if isinstance(out["result"]["hotels"], list) else {})
        self.check_auth(out["requests"])
        self.assertTrue(out["requests"][0]["url"].endswith("/api/v4/property/availability"))
        self.assertEqual(json.loads(out["requests"][0]["body"]), doc)

    def test_booking_details_request_matches_docs_example(self):
        body = {"bookings": [{"id": 80000040, "status": "BookingCharged", "tag": "HM-1",
                              "payment": {"currency": "USD", "inclusive": 120.5}}]}
        out = replay("query_order", response_text=json.dumps(body), inp={"supplier_ref": "80000040"})
        self.assertNotIn("error", out, out)
        self.assertEqual(json.loads(out["requests"][0]["body"]), fixture("docs_booking_details_request.json"))
        self.check_auth(out["requests"])
        res = out["result"]
        self.assertEqual(res["status"], "confirmed")                 # BookingCharged is a confirmed booking
        self.assertEqual(res["price"], {"currency": "USD", "net": "120.50"})
        out = replay("query_order", response_text='{"bookings": []}', inp={"supplier_ref": "80000040"})
        self.assertEqual(out["result"]["status"], "not_found")


class ErrorMapping(unittest.TestCase):
    """Status-only answers (synthetic; Agoda documents the codes, not bodies)."""

    def precheck(self, status, body="{}", headers=None):
        rate = {"key": make_key(SAMPLE_KEY), "price": {"currency": "USD", "net": "176.00"}}
        return replay("check_avail", response_text=mockserver(status, body, headers), inp=rate)

    def test_precheck_statuses(self):
        self.assertEqual(self.precheck(501)["result"]["status"], "price_changed")
        self.assertEqual(self.precheck(502)["result"]["status"], "sold_out")
        self.assertEqual(self.precheck(503)["result"]["status"], "sold_out")
        ok = self.precheck(200, {})
        self.assertEqual(ok["result"]["status"], "available")
        sent = json.loads(ok["requests"][0]["body"])["precheckDetails"]
        self.assertEqual(sent["property"]["propertyId"], 249518)
        self.assertEqual(sent["property"]["rooms"][0]["blockId"], "blk-1")
        self.assertEqual(sent["property"]["rooms"][0]["rate"]["inclusive"], 176)
        self.assertEqual(ok["requests"][0]["headers"]["Authorization"], AUTH)

    def test_typed_errors(self):
        e = self.precheck(401, {"error": {"id": 401, "message": "Unauthorized"}})["error"]
        self.assertEqual((e["kind"], e["status"]), ("auth", 401))
        e = self.precheck(403, {"error": {"id": 403, "message": "Quota exceeded"}}, {"Retry-After": "7"})["error"]
        self.assertEqual((e["kind"], e["retry_after"]), ("throttled", 7))
        e = self.precheck(429, "")["error"]
        self.assertEqual(e["kind"], "throttled")
        e = self.precheck(500, {"error": {"id": 500, "message": "boom"}})["error"]
        self.assertEqual(e["kind"], "supplier")
        e = self.precheck(400, {"error": {"id": 400, "message": "bad"}})["error"]
        self.assertEqual(e["kind"], "bad_request")
        e = self.precheck(200, "<html>oops")["error"]
        self.assertEqual(e["kind"], "bad_response")

    def test_book_refusal_is_failed(self):
        order = {"key": make_key(SAMPLE_KEY), "customer_ref": "HM-9", "price": "176.00",
                 "holder": {"first_name": "Ann", "last_name": "Lee", "email": "a@x.io"}}
        out = replay("book", response_text=mockserver(502, {"error": {"id": 502, "message": "gone"}}), inp=order)
        self.assertEqual(out["result"]["status"], "failed")
        self.assertEqual(out["result"]["signal"], "sold_out")
        sent = json.loads(out["requests"][0]["body"])
        self.assertEqual(sent["bookingDetails"]["tag"], "HM-9")
        self.assertIs(sent["bookingDetails"]["allowDuplication"], False)
        out = replay("book", response_text='{"bookingDetails": [{"id": 81, "itineraryId": 9, "processing": true}]}',
                     inp=order)
        self.assertEqual(out["result"]["status"], "pending")          # processing=true
        self.assertEqual(out["result"]["supplier_ref"], "81")
        e = replay("book", response_text=mockserver(500, "{}"), inp=order)["error"]
        self.assertEqual(e["kind"], "supplier")                       # outage: uncertain, not "failed"


# ---------------------------------------------------------------------------
# (b) simulator round trip
# ---------------------------------------------------------------------------

SIM_CONFIG = r'''
return {
  lua_path = { "%(repo)s/scripts", "%(repo)s/examples", "." },
  scripts = { "%(sim)s", "testroute.lua" },
  suppliers = {
    agoda = { connector = "connectors.agoda", base_url = "/sim/agoda",
              site_id = "1812345", api_key = "ag-demo-key", timeout_ms = 3000 },
  },
}
''' % {"repo": REPO, "sim": SIM}

TWO = Decimal("0.01")


def stay_price(nightly, check_in, nights):
    """simlib.stay_price: +15 % on Friday/Saturday nights, each night rounded."""
    total = Decimal(0)
    d0 = datetime.date.fromisoformat(check_in)
    for i in range(nights):
        d = d0 + datetime.timedelta(days=i)
        p = Decimal(nightly)
        if d.weekday() in (4, 5):
            p = (p * Decimal("1.15")).quantize(TWO, ROUND_HALF_UP)
        total += p
    return total.quantize(TWO)


class SimRoundTrip(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(SIM_CONFIG, workers=2, extra_files={"testroute.lua": hmtest.connector_route("agoda")})
        cls.srv.start()
        d = datetime.date.today() + datetime.timedelta(days=30)
        cls.check_in = d.isoformat()
        cls.check_out = (d + datetime.timedelta(days=2)).isoformat()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.cleanup()

    def setUp(self):
        self.post("/sim/agoda/_reset", {})

    def post(self, path, body, headers=None):
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        status, _h, data = request(self.srv.port, "POST", path, headers=h, body=json.dumps(body))
        return status, (json.loads(data) if data else None)

    def op(self, op, inp, config=None):
        config = config or {}
        # the connector's deadline follows its configured timeout (default 3 s)
        deadline = (config.get("timeout_ms") or 3000) / 1000.0
        status, out = self.post("/t/" + op, {"input": inp, "config": config, "deadline_s": deadline})
        self.assertEqual(status, 200, out)
        return out

    def query(self, hotels=("249518",), rooms=None):
        return {"hotel_ids": list(hotels), "check_in": self.check_in, "check_out": self.check_out,
                "nights": 2, "rooms": rooms or [{"adults": 2}], "currency": "USD", "nationality": "GB"}

    def search_rooms(self, hotels=("249518",)):
        out = self.op("search", self.query(hotels))
        self.assertNotIn("error", out, out)
        res = {}
        for h in out["result"]["hotels"] or []:
            for r in h["rooms"]:
                res[(h["id"], r["id"])] = r
        return res

    def flex(self, room):
        return [r for r in room["rates"] if r["board"]["id"] == "RO"][0]

    def test_search_prices_taxes_policies(self):
        rooms = self.search_rooms(("249518", "602914", "999"))
        self.assertEqual(set(rooms), {("249518", "1034"), ("602914", "7781")})   # data/dubai.lua, agoda codes
        studio = rooms[("249518", "1034")]
        self.assertEqual(studio["name"], "Studio")
        flex = self.flex(studio)
        net = stay_price("88.00", self.check_in, 2)
        self.assertEqual(flex["price"]["net"], str(net))
        self.assertEqual(flex["price"]["currency"], "USD")
        self.assertEqual(flex["allotment"], 5)
        self.assertEqual(flex["refundable"], "full")
        taxes = {t["name"]: t for t in flex["price"]["taxes"]}
        exclusive = (net / Decimal("1.155")).quantize(TWO, ROUND_HALF_UP)
        self.assertEqual(taxes["Taxes"]["amount"], str(net - exclusive))
        self.assertTrue(taxes["Taxes"]["included"])
        dirham = taxes["Tourism Dirham Fee"]
        self.assertEqual((dirham["amount"], dirham["included"], dirham["pay_at_hotel"], dirham["type"]),
                         ("10.90", False, True, "TOURISM_FEE"))           # 5.45 x 2 nights
        # free until 3 days before arrival 00:00 ICT (= 17:00 UTC the day before), then all
        free = datetime.date.fromisoformat(self.check_in) - datetime.timedelta(days=4)
        self.assertEqual(flex["cancel_fees"], [{"until": free.isoformat() + "T16:59:59Z",
                                                "fee": {"amount": "0.00", "currency": "USD"}}])
        nrf = [r for r in studio["rates"] if r["board"]["id"] == "BB"][0]
        self.assertEqual(nrf["refundable"], "no")
        self.assertEqual(nrf["price"]["net"], str(stay_price("102.00", self.check_in, 2)))   # +14.00 breakfast

    def test_book_query_cancel_restores_inventory(self):
        flex = self.flex(self.search_rooms()[("249518", "1034")])
        rate = dict(flex, hotel_id="249518", room_id="1034", check_in=self.check_in, check_out=self.check_out)
        chk = self.op("check_avail", rate)
        self.assertEqual(chk["result"]["status"], "available", chk)
        self.assertEqual(chk["result"]["rate"]["price"]["net"], flex["price"]["net"])
        order = {"customer_ref": "HM-RT-1", "key": flex["key"], "price": flex["price"]["net"],
                 "holder": {"first_name": "Ann", "last_name": "Lee", "email": "ann@example.com"},
                 "guests": [{"room_index": 1, "first_name": "Ann", "last_name": "Lee"}]}
        bk = self.op("book", order)
        self.assertEqual(bk["result"]["status"], "confirmed", bk)
        ref = bk["result"]["supplier_ref"]
        self.assertEqual(self.flex(self.search_rooms()[("249518", "1034")])["allotment"], 4)
        # same tag again: the same booking, no second room
        again = self.op("book", order)
        self.assertEqual(again["result"]["supplier_ref"], ref)
        self.assertEqual(self.flex(self.search_rooms()[("249518", "1034")])["allotment"], 4)
        q = self.op("query_order", {"supplier_ref": ref})
        self.assertEqual(q["result"]["status"], "confirmed")
        self.assertEqual(q["result"]["client_ref"], "HM-RT-1")
        self.assertEqual(q["result"]["price"]["net"], flex["price"]["net"])
        cx = self.op("cancel", {"supplier_ref": ref})
        self.assertEqual(cx["result"]["status"], "cancelled", cx)
        self.assertEqual(cx["result"]["fee"], {"amount": "0.00", "currency": "USD"})   # inside the free window
        self.assertEqual(cx["result"]["refund"]["amount"], flex["price"]["net"])
        self.assertEqual(self.flex(self.search_rooms()[("249518", "1034")])["allotment"], 5)
        self.assertEqual(self.op("query_order", {"supplier_ref": ref})["result"]["status"], "cancelled")
        e = self.op("cancel", {"supplier_ref": ref})["error"]
        self.assertEqual(e["kind"], "bad_request")                       # already cancelled
        self.assertEqual(self.op("query_order", {"supplier_ref": "1"})["result"]["status"], "not_found")

    def test_last_room_sold_out(self):
        self.post("/sim/agoda/_inventory", {"hotel": "249518", "room": "1034", "count": 1})
        flex = self.flex(self.search_rooms()[("249518", "1034")])
        self.assertEqual(flex["allotment"], 1)
        order = {"customer_ref": "HM-LAST", "key": flex["key"], "price": flex["price"]["net"],
                 "holder": {"first_name": "Bo", "last_name": "Ng"}}
        ref = self.op("book", order)["result"]["supplier_ref"]
        chk = self.op("check_avail", dict(flex))
        self.assertEqual(chk["result"]["status"], "sold_out", chk)      # precheck 502
        self.assertNotIn(("249518", "1034"), self.search_rooms())
        again = self.op("book", dict(order, customer_ref="HM-LAST-2"))
        self.assertEqual(again["result"]["status"], "failed")
        self.op("cancel", {"supplier_ref": ref})
        self.assertIn(("249518", "1034"), self.search_rooms())

    def test_price_changed(self):
        flex = self.flex(self.search_rooms()[("249518", "1034")])
        stale = dict(flex, price=dict(flex["price"], net="1.00"))
        chk = self.op("check_avail", stale)
        self.assertEqual(chk["result"]["status"], "price_changed", chk)  # precheck 501

    def test_bad_credentials(self):
        out = self.op("search", self.query(), config={"api_key": "wrong"})
        self.assertEqual((out["error"]["kind"], out["error"]["status"]), ("auth", 401))
        out = self.op("search", self.query(), config={"site_id": "999"})
        self.assertEqual(out["error"]["kind"], "auth")
        body = {"criteria": {"propertyIds": [249518], "checkIn": self.check_in, "checkOut": self.check_out}}
        for hdr in ({}, {"Authorization": "Bearer ag-demo-key"}, {"Authorization": "1812345:nope"}):
            status, doc = self.post("/sim/agoda/api/v4/property/availability", body, hdr)
            self.assertEqual(status, 401)
            self.assertIn("Unauthorized", doc["error"]["message"])
        status, doc = self.post("/sim/agoda/api/v4/property/availability", body, {"Authorization": AUTH})
        self.assertEqual(status, 200)
        self.assertEqual(doc["properties"][0]["propertyId"], 249518)

    def test_faults(self):
        try:
            self.post("/sim/agoda/_faults", {"throttle_rate": 1})
            e = self.op("search", self.query())["error"]
            self.assertEqual((e["kind"], e["status"], e["retry_after"]), ("throttled", 403, 1))
            self.post("/sim/agoda/_faults", {"garbage_rate": 1})
            self.assertEqual(self.op("search", self.query())["error"]["kind"], "bad_response")
            self.post("/sim/agoda/_faults", {"error_rate": 1})
            self.assertEqual(self.op("search", self.query())["error"]["kind"], "supplier")
            self.post("/sim/agoda/_faults", {"latency_ms": 300})
            out = self.op("search", self.query())
            self.assertNotIn("error", out)
            self.assertGreaterEqual(out["elapsed"], 0.29)
            out = self.op("search", self.query(), config={"timeout_ms": 100})
            self.assertEqual(out["error"]["kind"], "timeout")
        finally:
            self.post("/sim/agoda/_faults", {})
        out = self.op("search", self.query())
        self.assertNotIn("error", out)
        self.assertLess(out["elapsed"], 0.29)

    def test_lite_product(self):
        out = self.op("search", self.query(("1088321", "254410")), config={"product": "lite"})
        hotels = {h["id"]: h for h in out["result"]["hotels"]}
        self.assertEqual(set(hotels), {"1088321", "254410"})
        rate = hotels["1088321"]["rooms"][0]["rates"][0]
        self.assertEqual(rate["price"]["net"], "104.00")                  # 52.00 x 2 nights
        self.assertFalse(rate["bookable"])


if __name__ == "__main__":
    run_tests(globals())
