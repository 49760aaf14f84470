"""Hotelbeds APItude connector (scripts/connectors/hotelbeds.lua) and its simulator
(examples/suppliers/hotelbeds.lua).

(a) Contract tests: `hotelmux replay` on every real capture in $HM_SHARED/fixtures/hotelbeds/
    (skipped when the folder is missing). Expected values are written literally; each was
    read by hand from the fixture named next to it.
(b) Round trip over real HTTP against the simulator served by hotelmux itself.
"""
import hashlib
import json
import os
import tempfile
import time
import unittest

import hmtest
from hmtest import SOURCE_DIR, Server, request, run_tests

import atexit as _atexit
import shutil as _shutil
# every temporary file of this test lives here and goes at exit
_TMPROOT = tempfile.mkdtemp(prefix="hm-connector-test-")
_atexit.register(_shutil.rmtree, _TMPROOT, True)

# Server() starts the binary from a temp dir: a relative HM_BINARY must not depend on the cwd.
hmtest.BINARY = BINARY = os.path.abspath(hmtest.BINARY)

SHARED = os.environ.get("HM_SHARED") or os.path.join(SOURCE_DIR, "..", "shared")
FIXTURES = os.path.join(SHARED, "fixtures", "hotelbeds")
CONNECTOR = os.path.join(SOURCE_DIR, "scripts", "connectors", "hotelbeds.lua")
HAVE_FIXTURES = os.path.isdir(FIXTURES)

KEY, SECRET = "hb-test-key", "hb-test-secret"


def sig(key, secret, ts):
    return hashlib.sha256(("%s%s%d" % (key, secret, ts)).encode()).hexdigest()


def arr(x):
    """cjson encodes an empty Lua table as {}: read it as an empty list."""
    return x if isinstance(x, list) else []


# ---------------------------------------------------------------------------
# (a) replay on the captures
# ---------------------------------------------------------------------------

REPLAY_CONFIG = """return { suppliers = { hotelbeds = {
  base_url = "https://api.test.hotelbeds.com", api_key = "%s", secret = "%s", version = "1.2" } } }
""" % (KEY, SECRET)


def replay(op, fixture, inp=None, response_path=None):
    """The unified-model JSON, and the clock window the replay ran in (signatures carry a timestamp)."""
    t0 = int(time.time())
    out = hmtest.replay("hotelbeds", op, response_path=response_path or os.path.join(FIXTURES, fixture),
                        inp=inp, config_text=REPLAY_CONFIG)
    return out, (t0, int(time.time()))


def write_mock(status, headers, body):
    """A synthetic MockServer answer (for error shapes no capture has)."""
    tmp = tempfile.mkdtemp(prefix="hb-mock-", dir=_TMPROOT)
    path = os.path.join(tmp, "mock.json")
    with open(path, "w") as f:
        json.dump({"httpResponse": {"statusCode": status, "headers": {k: [v] for k, v in headers.items()},
                                    "body": body}}, f)
    return path


# fixture file -> operation; every file with a response must be listed here.
FIXTURE_OPS = {
    "smf_v1.2_availability_hotels_POST.mockserver.json": "search",
    "smf_v1.2_availability_single_hotel_POST.mockserver.json": "search",
    "smf_v1.2_checkrates_POST.mockserver.json": "check_avail",
    "smf_v1.2_bookings_POST.mockserver.json": "book",
    "smf_v1.2_booking_detail_GET.mockserver.json": "query_order",
    "smf_v1.2_booking_cancel_DELETE.mockserver.json": "cancel",
    "0x9ef_availability_response.json": "search",
    "0x9ef_checkrates_response.json": "check_avail",
    "0x9ef_booking_confirm_response.json": "book",
}
REQUEST_ONLY = {"docs_availability_request.json", "SOURCE.txt"}

Q_AUG = {"hotel_ids": ["156652"], "check_in": "2026-08-13", "check_out": "2026-08-18", "nights": 5,
         "rooms": [{"adults": 1, "children": []}], "currency": "EUR"}


def rates_of(hotel):
    return [r for room in arr(hotel["rooms"]) for r in arr(room["rates"])]


@unittest.skipUnless(HAVE_FIXTURES, "hotelbeds fixtures not found under HM_SHARED (%s)" % FIXTURES)
class ReplayFixtures(unittest.TestCase):

    def assert_signed(self, out, window, method, url_suffix):
        reqs = out["requests"]
        self.assertEqual(len(reqs), 1, reqs)
        r = reqs[0]
        self.assertEqual(r["method"], method)
        self.assertTrue(r["url"].startswith("https://api.test.hotelbeds.com/hotel-api/1.2/"), r["url"])
        self.assertTrue(r["url"].endswith(url_suffix), r["url"])
        h = r["headers"]
        self.assertEqual(h["Api-key"], KEY)
        self.assertEqual(h["Accept"], "application/json")
        # X-Signature = sha256 hex of key + secret + unix seconds, for a second during the run
        valid = {sig(KEY, SECRET, t) for t in range(window[0], window[1] + 1)}
        self.assertIn(h["X-Signature"], valid)
        self.assertNotEqual(h["X-Signature"], sig(KEY, SECRET, window[0] - 3600))
        return r

    def test_every_fixture_is_covered(self):
        for name in os.listdir(FIXTURES):
            if name in REQUEST_ONLY:
                continue
            self.assertIn(name, FIXTURE_OPS, "new fixture %s has no contract test" % name)
        for name, op in FIXTURE_OPS.items():
            if not os.path.exists(os.path.join(FIXTURES, name)):
                continue
            out, _ = replay(op, name, {"key": "x", "supplier_ref": "1-1", "check_in": "2026-08-13",
                                       "hotel_ids": ["1"], "rooms": [{"adults": 1}],
                                       "holder": {"first_name": "A", "last_name": "B"}})
            self.assertIn("result", out, "%s: %s" % (name, out.get("error")))

    def test_search_many_hotels(self):
        q = dict(Q_AUG, hotel_ids=["162651", "438060"])
        out, win = replay("search", "smf_v1.2_availability_hotels_POST.mockserver.json", q)
        r = self.assert_signed(out, win, "POST", "/hotels")
        body = json.loads(r["body"])
        self.assertEqual(body["stay"], {"checkIn": "2026-08-13", "checkOut": "2026-08-18"})
        self.assertEqual(body["occupancies"], [{"rooms": 1, "adults": 1, "children": 0}])
        self.assertEqual(body["hotels"], {"hotel": [162651, 438060]})
        hotels = out["result"]["hotels"]
        # hotels.total = 44, one room with one rate each
        self.assertEqual(len(hotels), 44)
        self.assertEqual(sum(len(rates_of(h)) for h in hotels), 44)
        h0 = hotels[0]
        # first hotel: code 162651 "Golden Sands Hotel & Residences", room TWN.PI-2 "Premier Twin"
        self.assertEqual((h0["id"], h0["name"]), ("162651", "Golden Sands Hotel & Residences"))
        room = h0["rooms"][0]
        self.assertEqual((room["id"], room["name"]), ("TWN.PI-2", "Premier Twin"))
        rate = room["rates"][0]
        # rateClass NOR, net "216.05", allotment 16, boardCode RO
        self.assertEqual(rate["key"], "20260813|20260818|W|148|162651|TWN.PI-2|OTARO|RO||1~1~0||P@07~~20f11d~"
                         "1194361053~N~~~NOR~~5D822A2EE24A45A178068328586805AWAE00440000000008205d8")
        self.assertEqual(rate["price"]["net"], "216.05")
        self.assertEqual(rate["price"]["currency"], "EUR")
        self.assertNotIn("gross", rate["price"])
        self.assertEqual(rate["allotment"], 16)
        self.assertEqual(rate["board"]["id"], "RO")
        self.assertEqual(rate["refundable"], "full")
        # taxes: City Tax 75.00 AED, included false (pay at hotel), clientAmount 17.53 EUR
        tax = rate["price"]["taxes"][0]
        self.assertEqual((tax["type"], tax["amount"], tax["currency"], tax["included"], tax["pay_at_hotel"]),
                         ("CITY_TAX", "75.00", "AED", False, True))
        self.assertEqual((tax["client_amount"], tax["client_currency"]), ("17.53", "EUR"))
        # cancellationPolicies [{amount "216.05", from "2026-06-04T23:59:00+04:00"}] -> free until 19:59Z
        self.assertEqual(rate["cancel_fees"], [{"until": "2026-06-04T19:59:00Z",
                                                "fee": {"amount": "0.00", "currency": "EUR"}}])
        # Al Habtoor Palace (438060): net 603.50, policy 120.70 from 2026-08-10T23:59:00+04:00
        palace = [h for h in hotels if h["id"] == "438060"][0]
        pr = rates_of(palace)[0]
        self.assertEqual(pr["price"]["net"], "603.50")
        self.assertEqual(pr["cancel_fees"], [
            {"until": "2026-08-10T19:59:00Z", "fee": {"amount": "0.00", "currency": "EUR"}},
            {"until": "2026-08-13T12:00:00Z", "fee": {"amount": "120.70", "currency": "EUR"}}])
        tax = pr["price"]["taxes"][0]
        self.assertEqual((tax["amount"], tax["client_amount"]), ("100.00", "23.38"))
        # Marhaba (731321) NRF "73793.70"
        marhaba = [h for h in hotels if h["id"] == "731321"][0]
        self.assertEqual(rates_of(marhaba)[0]["price"]["net"], "73793.70")
        self.assertEqual(rates_of(marhaba)[0]["refundable"], "no")

    def test_search_single_hotel(self):
        out, win = replay("search", "smf_v1.2_availability_single_hotel_POST.mockserver.json", Q_AUG)
        self.assert_signed(out, win, "POST", "/hotels")
        hotels = out["result"]["hotels"]
        self.assertEqual(len(hotels), 1)
        h = hotels[0]
        self.assertEqual((h["id"], h["name"]), ("156652", "Sun And Sands Downtown"))
        # rooms DBL.ST, TWN.ST, SUI.AS with two rates (RO, BB) each
        self.assertEqual([r["id"] for r in h["rooms"]], ["DBL.ST", "TWN.ST", "SUI.AS"])
        got = [(r["board"]["id"], r["price"]["net"], r["allotment"], r["refundable"]) for r in rates_of(h)]
        self.assertEqual(got, [("RO", "89.25", 5, "no"), ("BB", "136.40", 5, "no"),
                               ("RO", "89.25", 5, "no"), ("BB", "136.40", 5, "no"),
                               ("RO", "384.45", 2, "no"), ("BB", "434.05", 2, "no")])
        for r in rates_of(h):   # every rate: City Tax 50.00 AED payable at the hotel
            self.assertEqual([(t["amount"], t["currency"], t["included"]) for t in r["price"]["taxes"]],
                             [("50.00", "AED", False)])

    def test_search_0x9ef_numbers(self):
        # 0x9ef fixture: numbers instead of strings; sellingRate present; 8 rooms, 19 rates
        q = dict(Q_AUG, hotel_ids=["6619"], check_in="2024-04-02", check_out="2024-04-03", nights=1)
        out, win = replay("search", "0x9ef_availability_response.json", q)
        self.assert_signed(out, win, "POST", "/hotels")
        h = out["result"]["hotels"][0]
        self.assertEqual(h["id"], "6619")
        self.assertEqual(len(h["rooms"]), 8)
        rates = rates_of(h)
        self.assertEqual(len(rates), 19)
        r0 = rates[0]   # DBL.ST "BAR AP 7 DAY 14": net 212.4, sellingRate 227.22, NRF, allotment 115
        self.assertEqual((r0["price"]["net"], r0["price"]["gross"], r0["price"]["binding"]), ("212.40", "227.22", False))
        self.assertEqual((r0["allotment"], r0["refundable"]), (115, "no"))
        self.assertEqual(r0["cancel_fees"], [{"until": "2024-02-22T23:59:00Z",
                                              "fee": {"amount": "0.00", "currency": "EUR"}}])
        r2 = rates[2]   # DBL.ST "BAR BB FLEX 14": net 280.72, sellingRate 300.3, from 2024-04-01T14:00:00+01:00
        self.assertEqual((r2["price"]["net"], r2["price"]["gross"]), ("280.72", "300.30"))
        self.assertEqual(r2["board"]["id"], "BB")
        self.assertEqual(r2["cancel_fees"], [{"until": "2024-04-01T13:00:00Z",
                                              "fee": {"amount": "0.00", "currency": "EUR"}}])

    def test_request_body_matches_docs_example(self):
        # docs_availability_request.json: 1 room, 2 adults, hotels 3424 and 168
        with open(os.path.join(FIXTURES, "docs_availability_request.json")) as f:
            docs = json.load(f)
        q = {"hotel_ids": ["3424", "168"], "check_in": "2021-06-15", "check_out": "2021-06-16", "nights": 1,
             "rooms": [{"adults": 2, "children": []}]}
        out, _ = replay("search", "smf_v1.2_availability_single_hotel_POST.mockserver.json", q)
        self.assertEqual(json.loads(out["requests"][0]["body"]), docs)

    def test_checkrates(self):
        key = ("20260813|20260818|W|148|156652|DBL.ST|FIT NRF RO|RO||1~1~0||N@07~~21959~-15287454~N~~~NRF~~"
               "35180BFE2F53496178068329223905AWAE0001000000000521959")
        rate = dict(Q_AUG, key=key, hotel_id="156652", room_id="DBL.ST", price={"currency": "EUR", "net": "89.25"})
        out, win = replay("check_avail", "smf_v1.2_checkrates_POST.mockserver.json", rate)
        r = self.assert_signed(out, win, "POST", "/checkrates")
        self.assertEqual(json.loads(r["body"]), {"rooms": [{"rateKey": key}]})
        res = out["result"]
        # hotel 156652, room DBL.ST, net "89.25", allotment 5, NRF; City Tax 50.00 AED (11.69 EUR)
        self.assertEqual(res["status"], "available")
        self.assertEqual(res["hotel"], {"id": "156652", "name": "Sun And Sands Downtown"})
        self.assertEqual(res["room"], {"id": "DBL.ST", "name": "Standard Room King Size Bed"})
        self.assertEqual(res["rate"]["key"], key)
        self.assertEqual(res["rate"]["price"]["net"], "89.25")
        self.assertEqual(res["rate"]["allotment"], 5)
        self.assertTrue(res["rate"]["comment"].startswith("Estimated total amount of taxes & fees"))
        self.assertEqual(res["rate"]["price"]["taxes"][0]["client_amount"], "11.69")
        # the same capture against an expectation of 85.00: the supplier's price moved
        rate["price"] = {"currency": "EUR", "net": "85.00"}
        out, _ = replay("check_avail", "smf_v1.2_checkrates_POST.mockserver.json", rate)
        self.assertEqual(out["result"]["status"], "price_changed")
        self.assertEqual(out["result"]["rate"]["price"]["net"], "89.25")

    def test_checkrates_0x9ef(self):
        key = ("20240402|20240403|W|164|6619|TWN.ST|BAR BB FLEX 14|BB||1~1~0||N@06~~21e12c~1630615603~S~~~NOR~"
               "5F05A4B7D40E44A170871765642600AADE00000010000000006248118")
        out, _ = replay("check_avail", "0x9ef_checkrates_response.json",
                        {"key": key, "room_id": "TWN.ST", "check_in": "2024-04-02", "price": {"net": "280.72"}})
        res = out["result"]
        # net 280.72, sellingRate 300.30, allotment 6, NOR, policy 280.72 from 2024-04-01T14:00:00+01:00
        self.assertEqual(res["status"], "available")
        self.assertEqual((res["rate"]["price"]["net"], res["rate"]["price"]["gross"]), ("280.72", "300.30"))
        self.assertEqual(res["rate"]["refundable"], "full")
        self.assertEqual(res["rate"]["allotment"], 6)

    def test_book(self):
        order = dict(Q_AUG, customer_ref="HOTELNU", key="20260813|20260818|W|148|156652|DBL.ST|FIT NRF RO|RO||1~1~0||N@07",
                     hotel_id="156652", room_id="DBL.ST", price={"net": "89.25"},
                     holder={"first_name": "BookingOne", "last_name": "Doeww"},
                     guests=[{"room_index": 1, "first_name": "BookingOne", "last_name": "Doeww"}],
                     remarks="Please keep prayer mats in room")
        out, win = replay("book", "smf_v1.2_bookings_POST.mockserver.json", order)
        r = self.assert_signed(out, win, "POST", "/bookings")
        self.assertEqual(r["headers"]["Content-Type"], "application/json")
        body = json.loads(r["body"])
        self.assertEqual(body["holder"], {"name": "BookingOne", "surname": "Doeww"})
        self.assertEqual(body["clientReference"], "HOTELNU")
        self.assertEqual(body["rooms"], [{"rateKey": order["key"], "paxes": [
            {"roomId": 1, "type": "AD", "name": "BookingOne", "surname": "Doeww"}]}])
        res = out["result"]
        # booking.reference "148-6069492", status CONFIRMED, totalNet 91.03 (a number), EUR
        self.assertEqual((res["status"], res["supplier_ref"]), ("confirmed", "148-6069492"))
        self.assertEqual(res["price"], {"currency": "EUR", "net": "91.03"})
        # policy 91.03 from 2026-06-04T23:59:00+04:00 (= the whole price)
        self.assertEqual(res["cancel_fees"], [{"until": "2026-06-04T19:59:00Z",
                                               "fee": {"amount": "0.00", "currency": "EUR"}}])

    def test_book_0x9ef(self):
        out, _ = replay("book", "0x9ef_booking_confirm_response.json",
                        {"key": "k", "customer_ref": "INTEGRATIONAGENCY", "rooms": [{"adults": 2}],
                         "holder": {"first_name": "HolderFirstName", "last_name": "HolderLastName"}})
        body = json.loads(out["requests"][0]["body"])
        # two adults: the holder names the first, the second is an unnamed AD pax
        self.assertEqual(body["rooms"][0]["paxes"], [
            {"roomId": 1, "type": "AD", "name": "HolderFirstName", "surname": "HolderLastName"},
            {"roomId": 1, "type": "AD"}])
        res = out["result"]
        # reference "207-12306403", totalNet 899.23 GBP, policy 899.23 from 2024-03-26T23:59:00+01:00
        self.assertEqual((res["status"], res["supplier_ref"]), ("confirmed", "207-12306403"))
        self.assertEqual(res["price"], {"currency": "GBP", "net": "899.23"})
        self.assertEqual(res["cancel_fees"], [{"until": "2024-03-26T22:59:00Z",
                                               "fee": {"amount": "0.00", "currency": "GBP"}}])

    def test_query_order(self):
        out, win = replay("query_order", "smf_v1.2_booking_detail_GET.mockserver.json",
                          {"supplier_ref": "148-6069492", "customer_ref": "HOTELNU"})
        r = self.assert_signed(out, win, "GET", "/bookings/148-6069492")
        self.assertNotIn("Content-Type", r["headers"])
        res = out["result"]
        # the detail was fetched after the cancel: status CANCELLED, totalNet 0
        self.assertEqual((res["status"], res["supplier_ref"]), ("cancelled", "148-6069492"))
        self.assertEqual(res["price"], {"currency": "EUR", "net": "0.00"})

    def test_query_order_by_client_ref(self):
        # no supplier reference: the list call filtered by clientReference
        body = {"auditData": {}, "bookings": {"from": 1, "to": 0, "total": 0}}
        path = write_mock(200, {"Content-Type": "application/json"}, body)
        out, win = replay("query_order", None, {"customer_ref": "HM-1 2"}, response_path=path)
        r = self.assert_signed(out, win, "GET", "&clientReference=HM-1%202")
        self.assertIn("/bookings?start=", r["url"])
        self.assertIn("filterType=CREATION", r["url"])
        self.assertEqual(out["result"]["status"], "not_found")

    def test_cancel(self):
        out, win = replay("cancel", "smf_v1.2_booking_cancel_DELETE.mockserver.json", {"supplier_ref": "148-6069492"})
        self.assert_signed(out, win, "DELETE", "/bookings/148-6069492?cancellationFlag=CANCELLATION")
        # status CANCELLED, hotel.cancellationAmount 0, cancellationReference "fbee3c30df0f317a1dd7"
        self.assertEqual(out["result"], {"status": "cancelled", "supplier_ref": "148-6069492",
                                         "cancellation_ref": "fbee3c30df0f317a1dd7",
                                         "fee": {"amount": "0.00", "currency": "EUR"}})

    # -- error shapes (no capture carries one; these are the documented forms) --

    def test_throttle_over_qps(self):
        path = write_mock(403, {"Content-Type": "text/xml", "X-Mashery-Error-Code": "ERR_403_DEVELOPER_OVER_QPS",
                                "X-Error-Detail-Header": "Account Over Queries Per Second Limit"},
                          "<h1>Developer Over Qps</h1>")
        out, _ = replay("search", None, Q_AUG, response_path=path)
        self.assertEqual(out["error"]["kind"], "throttled")
        self.assertEqual(out["error"]["retry_after"], 1)

    def test_throttle_over_rate(self):
        # hotelbeds-sdk-java issue #14: 403 + X-Mashery-Error-Code ERR_403_DEVELOPER_OVER_RATE (daily quota)
        path = write_mock(403, {"Content-Type": "text/xml", "X-Mashery-Error-Code": "ERR_403_DEVELOPER_OVER_RATE",
                                "X-Error-Detail-Header": "Account Over Rate Limit",
                                "X-Ratelimit-Reset": str(int(time.time()) + 120)},
                          "<h1>Developer Over Rate</h1>")
        out, _ = replay("check_avail", None, {"key": "k"}, response_path=path)
        self.assertEqual(out["error"]["kind"], "throttled")
        self.assertTrue(100 <= out["error"]["retry_after"] <= 121, out["error"])

    def test_not_authorized(self):
        # hotelbeds-sdk-Net issue #33: bad signature -> 403 ERR_403_NOT_AUTHORIZED, text/xml
        path = write_mock(403, {"Content-Type": "text/xml", "X-Mashery-Error-Code": "ERR_403_NOT_AUTHORIZED",
                                "X-Error-Detail-Header": "Not Authorized"}, "<h1>Not Authorized</h1>")
        out, _ = replay("search", None, Q_AUG, response_path=path)
        self.assertEqual(out["error"]["kind"], "auth")
        path = write_mock(401, {"Content-Type": "text/xml"}, "<h1>Not Authorized</h1>")
        out, _ = replay("book", None, {"key": "k"}, response_path=path)
        self.assertEqual(out["error"]["kind"], "auth")

    def test_product_errors_on_checkrates(self):
        for msg, status in (("ProductException(1, CHECK_RATE, Insufficient allotment)", "sold_out"),
                            ("ProductException(1, CHECK_RATE, Hotel not Available)", "sold_out"),
                            ("Stop sales", "sold_out"), ("Price has changed", "price_changed")):
            path = write_mock(503, {"Content-Type": "application/json"},
                              {"auditData": {}, "error": {"code": "PRODUCT_ERROR", "message": msg}})
            out, _ = replay("check_avail", None, {"key": "k"}, response_path=path)
            self.assertEqual(out.get("result", {}).get("status"), status, (msg, out))

    def test_other_errors(self):
        cases = [
            (400, {"auditData": {}, "error": {"code": "INVALID_DATA", "message": "Invalid stay"}}, "search", "bad_request"),
            (500, {"auditData": {}, "error": {"code": "SYSTEM_ERROR", "message": "x"}}, "search", "supplier"),
            (404, {"auditData": {}, "error": {"code": "PRODUCT_ERROR", "message": "Booking does not exist"}},
             "cancel", "not_found"),
            (200, "<html>502 Bad Gateway</html>{", "search", "bad_response"),
            (502, "<html>bad gateway</html>", "search", "supplier"),
        ]
        for status, body, op, kind in cases:
            path = write_mock(status, {"Content-Type": "application/json"}, body)
            out, _ = replay(op, None, dict(Q_AUG, supplier_ref="1-2", key="k"), response_path=path)
            self.assertEqual(out.get("error", {}).get("kind"), kind, (status, body, out))
        path = write_mock(404, {"Content-Type": "application/json"},
                          {"auditData": {}, "error": {"code": "PRODUCT_ERROR", "message": "Booking does not exist"}})
        out, _ = replay("query_order", None, {"supplier_ref": "1-2"}, response_path=path)
        self.assertEqual(out["result"]["status"], "not_found")
        path = write_mock(503, {"Content-Type": "application/json"},
                          {"auditData": {}, "error": {"code": "PRODUCT_ERROR", "message": "Insufficient allotment"}})
        out, _ = replay("book", None, {"key": "k", "customer_ref": "X"}, response_path=path)
        self.assertEqual(out["result"]["status"], "failed")


# ---------------------------------------------------------------------------
# (b) simulator round trip over real HTTP
# ---------------------------------------------------------------------------

def sim_config():
    repo = SOURCE_DIR
    return """return {
  listen = "127.0.0.1:0", workers = 2,
  lua_path = { "%(r)s/scripts", "%(r)s/examples", "." },
  scripts = { "%(r)s/examples/suppliers/hotelbeds.lua", "testroute.lua" },
  suppliers = { hotelbeds = { connector = "connectors.hotelbeds", base_url = "/sim/hotelbeds",
                              api_key = "%(k)s", secret = "%(s)s", timeout_ms = 2000, qps = 200 } },
}
""" % {"r": repo, "k": KEY, "s": SECRET}


Q_SIM = {"hotel_ids": ["162651", "731321", "999999"], "check_in": "2027-03-10", "check_out": "2027-03-13",
         "nights": 3, "rooms": [{"adults": 2, "children": []}], "currency": "EUR"}


class SimulatorRoundTrip(unittest.TestCase):
    srv = None

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(sim_config(), workers=2, extra_files={"testroute.lua": hmtest.connector_route("hotelbeds")})
        cls.srv.start()

    @classmethod
    def tearDownClass(cls):
        if cls.srv:
            cls.srv.stop()
            cls.srv.cleanup()

    def setUp(self):
        self.post("/sim/hotelbeds/_reset", {})

    def post(self, path, body, headers=None):
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        status, hdrs, data = request(self.srv.port, "POST", path, headers=h, body=json.dumps(body).encode())
        return status, hdrs, data

    def op(self, name, inp, **extra):
        body = dict(extra, input=inp)
        status, _h, data = self.post("/t/" + name, body)
        self.assertEqual(status, 200, data)
        return json.loads(data)

    def find_rate(self, res, hotel, room, board):
        for h in arr(res["result"]["hotels"]):
            if h["id"] != hotel:
                continue
            for rm in arr(h["rooms"]):
                if rm["id"] == room:
                    for r in arr(rm["rates"]):
                        if r["board"]["id"] == board:
                            return r
        return None

    def test_search_prices_from_data(self):
        res = self.op("search", Q_SIM)
        self.assertIsNone(res.get("error"), res)
        hotels = {h["id"]: h for h in arr(res["result"]["hotels"])}
        self.assertEqual(set(hotels), {"162651", "731321"})          # 999999 is not a hotelbeds hotel
        self.assertEqual(hotels["162651"]["name"], "Golden Sands Hotel Apartments")
        self.assertEqual([r["id"] for r in hotels["162651"]["rooms"]], ["STU.ST", "APT.B1"])
        # STU.ST 78.00/night; 2027-03-10..13 = Wed, Thu, Fri -> Friday +15 %: 78 + 78 + 89.70 = 245.70
        ro = self.find_rate(res, "162651", "STU.ST", "RO")
        self.assertEqual(ro["price"]["net"], "245.70")
        self.assertEqual(ro["price"]["currency"], "EUR")
        self.assertEqual(ro["refundable"], "no")
        self.assertEqual(ro["allotment"], 5)
        # city tax 10 AED x 3 nights, payable at the hotel
        self.assertEqual([(t["amount"], t["currency"], t["pay_at_hotel"]) for t in ro["price"]["taxes"]],
                         [("30.00", "AED", True)])
        bb = self.find_rate(res, "162651", "STU.ST", "BB")
        # (78 + 15) x 2 + 93 x 1.15 = 186 + 106.95 = 292.95; 1 night (93.00) due from 2027-03-07 23:59 +04:00
        self.assertEqual(bb["price"]["net"], "292.95")
        self.assertEqual(bb["refundable"], "full")
        self.assertEqual(bb["rate_type"], "RECHECK")
        self.assertEqual(bb["cancel_fees"], [
            {"until": "2027-03-07T19:59:00Z", "fee": {"amount": "0.00", "currency": "EUR"}},
            {"until": "2027-03-10T12:00:00Z", "fee": {"amount": "93.00", "currency": "EUR"}}])

    def test_book_check_cancel_inventory(self):
        res = self.op("search", Q_SIM)
        rate = self.find_rate(res, "162651", "STU.ST", "BB")
        self.assertEqual(rate["allotment"], 5)
        stay = {k: Q_SIM[k] for k in ("check_in", "check_out", "nights", "rooms", "currency")}
        chk = self.op("check_avail", dict(stay, key=rate["key"], hotel_id="162651", room_id="STU.ST",
                                          price=rate["price"]))
        self.assertEqual(chk["result"]["status"], "available", chk)
        self.assertEqual(chk["result"]["rate"]["rate_type"], "BOOKABLE")
        self.assertEqual(chk["result"]["room"], {"id": "STU.ST", "name": "STUDIO STANDARD"})
        # a stale expected price -> price_changed with the fresh one
        chk2 = self.op("check_avail", dict(stay, key=rate["key"], room_id="STU.ST",
                                           price={"currency": "EUR", "net": "1.00"}))
        self.assertEqual(chk2["result"]["status"], "price_changed")
        self.assertEqual(chk2["result"]["rate"]["price"]["net"], rate["price"]["net"])

        order = dict(stay, key=rate["key"], hotel_id="162651", room_id="STU.ST", customer_ref="HM-RT-1",
                     price=rate["price"], holder={"first_name": "Ada", "last_name": "Lovelace"},
                     guests=[{"room_index": 1, "first_name": "Ada", "last_name": "Lovelace"}])
        bk = self.op("book", order)
        self.assertIsNone(bk.get("error"), bk)
        b = bk["result"]
        self.assertEqual(b["status"], "confirmed")
        self.assertTrue(b["supplier_ref"].startswith("148-"))
        self.assertEqual(b["price"], {"currency": "EUR", "net": "292.95"})
        # inventory decremented, for both rate plans of the room
        after = self.op("search", Q_SIM)
        self.assertEqual(self.find_rate(after, "162651", "STU.ST", "BB")["allotment"], 4)
        self.assertEqual(self.find_rate(after, "162651", "STU.ST", "RO")["allotment"], 4)
        # the same client reference again: the same booking, no second room taken
        again = self.op("book", order)
        self.assertEqual(again["result"]["supplier_ref"], b["supplier_ref"])
        self.assertEqual(self.find_rate(self.op("search", Q_SIM), "162651", "STU.ST", "RO")["allotment"], 4)
        # found by reference and by client reference
        q = self.op("query_order", {"supplier_ref": b["supplier_ref"]})
        self.assertEqual((q["result"]["status"], q["result"]["price"]["net"]), ("confirmed", "292.95"))
        q = self.op("query_order", {"customer_ref": "HM-RT-1"})
        self.assertEqual((q["result"]["status"], q["result"]["supplier_ref"]), ("confirmed", b["supplier_ref"]))
        self.assertEqual(self.op("query_order", {"customer_ref": "nope"})["result"]["status"], "not_found")
        self.assertEqual(self.op("query_order", {"supplier_ref": "148-1"})["result"]["status"], "not_found")
        # cancel (free: the 1-night fee starts 3 days before arrival) restores the room
        cx = self.op("cancel", {"supplier_ref": b["supplier_ref"]})
        self.assertEqual(cx["result"]["status"], "cancelled", cx)
        self.assertEqual(cx["result"]["fee"], {"amount": "0.00", "currency": "EUR"})
        self.assertEqual(self.find_rate(self.op("search", Q_SIM), "162651", "STU.ST", "BB")["allotment"], 5)
        q = self.op("query_order", {"supplier_ref": b["supplier_ref"]})
        self.assertEqual(q["result"]["status"], "cancelled")
        # cancelling twice does not give the room back twice
        self.op("cancel", {"supplier_ref": b["supplier_ref"]})
        self.assertEqual(self.find_rate(self.op("search", Q_SIM), "162651", "STU.ST", "BB")["allotment"], 5)
        self.assertEqual(self.op("cancel", {"supplier_ref": "148-1"})["error"]["kind"], "not_found")

    def test_nrf_cancel_costs_the_price(self):
        res = self.op("search", Q_SIM)
        rate = self.find_rate(res, "731321", "DBL.ST", "RO")
        bk = self.op("book", dict(Q_SIM, key=rate["key"], customer_ref="HM-NRF-1",
                                  holder={"first_name": "A", "last_name": "B"}))
        cx = self.op("cancel", {"supplier_ref": bk["result"]["supplier_ref"]})
        # DBL.ST 64.00: Wed, Thu 64.00 + Fri 73.60 = 201.60, charged in full (NRF)
        self.assertEqual(cx["result"]["fee"], {"amount": "201.60", "currency": "EUR"})

    def test_last_room_sold_out(self):
        status, _h, _b = self.post("/sim/hotelbeds/_inventory", {"hotel": "731321", "room": "DBL.ST", "count": 1})
        self.assertEqual(status, 200)
        res = self.op("search", Q_SIM)
        rate = self.find_rate(res, "731321", "DBL.ST", "RO")
        self.assertEqual(rate["allotment"], 1)
        bk = self.op("book", dict(Q_SIM, key=rate["key"], customer_ref="HM-LAST-1",
                                  holder={"first_name": "Grace", "last_name": "Hopper"}))
        self.assertEqual(bk["result"]["status"], "confirmed", bk)
        chk = self.op("check_avail", dict(Q_SIM, key=rate["key"], room_id="DBL.ST", price=rate["price"]))
        self.assertEqual(chk["result"]["status"], "sold_out", chk)
        res = self.op("search", Q_SIM)
        self.assertIsNone(self.find_rate(res, "731321", "DBL.ST", "RO"))
        self.assertIsNotNone(self.find_rate(res, "731321", "TWN.ST", "RO"))
        # booking it anyway: the supplier says no
        late = self.op("book", dict(Q_SIM, key=rate["key"], customer_ref="HM-LAST-2",
                                    holder={"first_name": "A", "last_name": "B"}))
        self.assertEqual(late["result"]["status"], "failed", late)
        self.op("cancel", {"supplier_ref": bk["result"]["supplier_ref"]})
        self.assertEqual(self.find_rate(self.op("search", Q_SIM), "731321", "DBL.ST", "RO")["allotment"], 1)

    def raw_sim(self, key, ts_offset=0, secret=SECRET, signature=None):
        ts = int(time.time()) + ts_offset
        h = {"Content-Type": "application/json", "Accept": "application/json"}
        if key is not None:
            h["Api-key"] = key
            h["X-Signature"] = signature or sig(key, secret, ts)
        body = {"stay": {"checkIn": "2027-03-10", "checkOut": "2027-03-11"},
                "occupancies": [{"rooms": 1, "adults": 2, "children": 0}], "hotels": {"hotel": [162651]}}
        return request(self.srv.port, "POST", "/sim/hotelbeds/hotel-api/1.0/hotels", headers=h,
                       body=json.dumps(body).encode())

    def test_sim_auth(self):
        status, hdrs, body = self.raw_sim(KEY)
        self.assertEqual(status, 200, body)
        doc = json.loads(body)
        self.assertEqual(doc["hotels"]["total"], 1)
        self.assertEqual(doc["hotels"]["hotels"][0]["code"], 162651)
        self.assertIsInstance(doc["hotels"]["hotels"][0]["rooms"][0]["rates"][0]["net"], str)
        hd = {k.lower(): v for k, v in hdrs.items()}
        self.assertEqual(hd.get("x-ratelimit-limit"), "50000")
        # a small clock skew is accepted
        self.assertEqual(self.raw_sim(KEY, ts_offset=-90)[0], 200)
        self.assertEqual(self.raw_sim(KEY, ts_offset=90)[0], 200)
        # uppercase hex is the same signature
        self.assertEqual(self.raw_sim(KEY, signature=sig(KEY, SECRET, int(time.time())).upper())[0], 200)
        for kwargs in ({"ts_offset": -3600}, {"ts_offset": 1800}, {"secret": "wrong"}):
            status, hdrs, body = self.raw_sim(KEY, **kwargs)
            hd = {k.lower(): v for k, v in hdrs.items()}
            self.assertEqual(status, 403, kwargs)
            self.assertEqual(hd.get("x-mashery-error-code"), "ERR_403_NOT_AUTHORIZED")
            self.assertEqual(body, b"<h1>Not Authorized</h1>")
            self.assertTrue(hd.get("content-type", "").startswith("text/xml"))
        status, hdrs, body = self.raw_sim("someone-else")
        self.assertEqual(status, 403)
        self.assertEqual(body, b"<h1>Developer Inactive</h1>")
        self.assertEqual(self.raw_sim(None)[0], 401)

    def test_connector_bad_credentials(self):
        res = self.op("search", Q_SIM, config={"secret": "not-the-secret"})
        self.assertEqual(res["error"]["kind"], "auth", res)
        self.assertEqual(res["error"]["status"], 403)
        res = self.op("search", Q_SIM, config={"api_key": "other"})
        self.assertEqual(res["error"]["kind"], "auth", res)

    def set_faults(self, f):
        status, _h, _b = self.post("/sim/hotelbeds/_faults", f)
        self.assertEqual(status, 200)

    def test_faults(self):
        try:
            self.set_faults({"throttle_rate": 1})
            res = self.op("search", Q_SIM)
            self.assertEqual(res["error"]["kind"], "throttled", res)
            self.assertEqual(res["error"]["status"], 403)
            self.assertEqual(res["error"]["retry_after"], 1)
            self.set_faults({"garbage_rate": 1})
            self.assertEqual(self.op("check_avail", {"key": "x"})["error"]["kind"], "bad_response")
            self.set_faults({"error_rate": 1})
            self.assertEqual(self.op("search", Q_SIM)["error"]["kind"], "supplier")
            self.set_faults({"latency_ms": 300})
            res = self.op("search", Q_SIM)
            self.assertIsNone(res.get("error"), res)
            self.assertGreaterEqual(res["elapsed"], 0.3)
            res = self.op("search", Q_SIM, deadline_s=0.1)
            self.assertEqual(res["error"]["kind"], "timeout", res)
            self.set_faults({})
            res = self.op("search", Q_SIM)
            self.assertIsNone(res.get("error"), res)
            self.assertLess(res["elapsed"], 0.3)
        finally:
            self.set_faults({})

    def test_bad_rate_key(self):
        res = self.op("check_avail", {"key": "20270310|20270313|W|148|162651|STU.ST|FIT NRF RO|RO||1~2~0||N@07~~FORGED"})
        self.assertEqual(res["error"]["kind"], "bad_request", res)


if __name__ == "__main__":
    run_tests(globals())
