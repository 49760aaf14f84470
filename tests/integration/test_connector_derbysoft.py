"""DerbySoft connector: (a) replay contract tests on the real GO v4 (Choice) and BTS v1.2
(Hilton) captures in $HM_SHARED/fixtures/derbysoft, (b) a round trip over real HTTP against
the simulated DerbySoft API (examples/suppliers/derbysoft.lua)."""
import json
import os
import unittest
from decimal import Decimal

import hmtest
from hmtest import SOURCE_DIR, Server, request, run_tests, shared_path

hmtest.BINARY = BINARY = os.path.abspath(hmtest.BINARY)

CONNECTOR = os.path.join(SOURCE_DIR, "scripts", "connectors", "derbysoft.lua")
FIX = shared_path("fixtures", "derbysoft")
TOKEN, DIST, SUP = "ds-demo-token", "HOTELMUX", "DEMOHOTELS"

# demo.lua's (commented) derbysoft block, plus the hotels' UTC offsets for "4PM" deadlines
REPLAY_CONFIG = '''return { suppliers = { derbysoft = { connector = "connectors.derbysoft",
  base_url = "https://ds.example", token = "%s", distributor_id = "%s", supplier_id = "%s",
  timeout_ms = 300, hotel_utc_offsets = { GB113 = "+01:00" } } } }''' % (TOKEN, DIST, SUP)


def fixture(name):
    with open(os.path.join(FIX, name)) as f:
        return json.load(f)


def replay(op, response, inp=None, raw_response=False):
    return hmtest.replay("derbysoft", op, response_text=response if raw_response else json.dumps(response),
                         inp=inp, config_text=REPLAY_CONFIG)


mock = hmtest.mockserver


def rates_of(result):
    out = {}
    for h in result["hotels"]:
        for room in h["rooms"]:
            for rate in room["rates"]:
                out[(h["id"], room["id"], rate["rate_id"])] = rate
    return out


def check_request(tc, req, path):
    """Real auth: Bearer token header + body header{supplierId, distributorId, version, token}."""
    tc.assertEqual(req["method"], "POST")
    tc.assertEqual(req["url"], "https://ds.example" + path)
    tc.assertEqual(req["headers"]["Authorization"], "Bearer " + TOKEN)
    tc.assertTrue(req["headers"]["Content-Type"].startswith("application/json"))
    body = json.loads(req["body"])
    h = body["header"]
    tc.assertEqual((h["distributorId"], h["supplierId"], h["version"]), (DIST, SUP, "v4"))
    tc.assertRegex(h["token"], r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$")
    return body


def money(x):
    return None if x is None else {"amount": x[0], "currency": x[1]}


Q_CHOICE = {"hotel_ids": ["GB113", "AW007", "PA637"], "check_in": "2026-05-12", "check_out": "2026-05-13",
            "nights": 1, "rooms": [{"adults": 2}], "currency": "GBP"}
Q_HILTON = {"hotel_ids": ["RUHSK"], "check_in": "2025-11-01", "check_out": "2025-11-02", "nights": 1,
            "rooms": [{"adults": 1}]}


@unittest.skipUnless(FIX, "DerbySoft fixtures (HM_SHARED/fixtures/derbysoft) not present")
class ReplayFixtures(unittest.TestCase):
    def search(self, name, q):
        out = replay("search", fixture(name), q)
        self.assertIn("result", out, out.get("error"))
        return out

    def test_shoppingengine_multihotels(self):
        out = self.search("smf_choice_go_v4_shoppingengine_multihotels.mockserver.json", Q_CHOICE)
        res = out["result"]
        # availHotels: GB113 (10 availRoomRates), AW007 (18), PA637 (0 -> left out)
        self.assertEqual([h["id"] for h in res["hotels"]], ["GB113", "AW007"])
        self.assertEqual([r["id"] for r in res["hotels"][0]["rooms"]], ["ND", "NDT", "NDD", "SD"])
        self.assertEqual(len(res["hotels"][1]["rooms"]), 6)
        rates = rates_of(res)
        self.assertEqual(len(rates), 28)
        # GB113 availRoomRates[0]: ND/LWTO GBP inventory 3, amountBeforeTax [183.75] = amountAfterTax
        # [183.75], fee TaxPercent 20 % Exclusive -> on top (36.75), paid at the hotel;
        # cancel 4PM1D100P: free until 16:00 (+01:00 in config) on 05-11, then the full stay
        r = rates[("GB113", "ND", "LWTO")]
        self.assertEqual(r["price"]["net"], "183.75")
        self.assertEqual(r["price"]["currency"], "GBP")
        self.assertEqual(r["allotment"], 3)
        self.assertEqual(r["board"]["id"], "RO")
        self.assertEqual(r["nightly"], ["183.75"])
        self.assertEqual(r["price"]["taxes"], [{"type": "OTHER", "name": "TaxPercent", "amount": "36.75",
                                                "currency": "GBP", "included": False, "pay_at_hotel": True}])
        self.assertEqual(r["cancel_fees"], [{"until": "2026-05-11T15:00:00Z",
                                             "fee": {"amount": "0.00", "currency": "GBP"}}])
        self.assertEqual(r["refundable"], "no")        # that deadline has passed
        # GB113 SD/SITC: 284.75 GBP, inventory 2, tax 56.95
        r = rates[("GB113", "SD", "SITC")]
        self.assertEqual((r["price"]["net"], r["allotment"]), ("284.75", 2))
        self.assertEqual(r["price"]["taxes"][0]["amount"], "56.95")
        # AW007 KNE1/LWTO: before 193.5, after 252.15 USD = 193.5 + 28.5 % (55.1475) + 3.5 -> included
        r = rates[("AW007", "KNE1", "LWTO")]
        self.assertEqual((r["price"]["net"], r["price"]["currency"], r["allotment"]), ("252.15", "USD", 7))
        self.assertEqual([(t["name"], t["amount"], t["included"], t["pay_at_hotel"]) for t in r["price"]["taxes"]],
                         [("TaxPercent", "55.15", True, False), ("TaxAmount", "3.50", True, False)])
        self.assertEqual(r["cancel_fees"][0]["until"], "2026-05-11T16:00:00Z")   # no offset configured: UTC
        # AW007 KNE1/SIT: 4PM7D100P_100P -> free until 16:00 seven days before; 344 -> 445.54
        r = rates[("AW007", "KNE1", "SIT")]
        self.assertEqual(r["price"]["net"], "445.54")
        self.assertEqual(r["price"]["taxes"][0]["amount"], "98.04")
        self.assertEqual(r["cancel_fees"], [{"until": "2026-05-05T16:00:00Z",
                                             "fee": {"amount": "0.00", "currency": "USD"}}])
        # the request
        self.assertEqual(len(out["requests"]), 1)
        body = check_request(self, out["requests"][0], "/api/go/shoppingengine/v4/shopping/multihotels")
        self.assertEqual(body["hotels"], [{"supplierId": SUP, "hotelId": "GB113"}, {"supplierId": SUP, "hotelId": "AW007"},
                                          {"supplierId": SUP, "hotelId": "PA637"}])
        self.assertEqual(body["stayRange"], {"checkin": "2026-05-12", "checkout": "2026-05-13"})
        self.assertEqual(body["roomCriteria"], {"roomCount": 1, "adultCount": 2, "childCount": 0})
        # the docs' multihotels request has these keys too (corpCode/iata/extensions optional)
        docs = fixture("docs_bts_shopping_multihotels_request.json")
        self.assertLessEqual(set(body), set(docs))

    def test_bookingusb_availability_and_livecheck(self):
        # smf_choice_go_v4_bookingusb_availability: hotelId GB113, 10 roomRates, adultCount 1
        out = self.search("smf_choice_go_v4_bookingusb_availability.mockserver.json", dict(Q_CHOICE, hotel_ids=["GB113"]))
        rates = rates_of(out["result"])
        self.assertEqual(len(rates), 10)
        self.assertEqual(rates[("GB113", "NDT", "SIT")]["price"]["net"], "216.00")
        self.assertEqual(rates[("GB113", "NDT", "SIT")]["allotment"], 7)
        self.assertEqual(rates[("GB113", "NDT", "SIT")]["price"]["taxes"][0]["amount"], "43.20")
        # live check with productCandidate ND/LWTO: the same price -> available
        key = rates[("GB113", "ND", "LWTO")]["key"]
        live = fixture("smf_choice_go_v4_bookingusb_availability_livecheck_productCandidate.mockserver.json")
        out = replay("check_avail", live, {"key": key, "price": {"net": "183.75"}})
        self.assertEqual(out["result"]["status"], "available")
        self.assertEqual(out["result"]["rate"]["price"]["net"], "183.75")
        self.assertEqual(out["result"]["rate"]["allotment"], 3)
        body = check_request(self, out["requests"][0], "/api/go/bookingusb/v4/availability")
        self.assertEqual(body["productCandidate"], {"roomId": "ND", "rateId": "LWTO"})
        self.assertEqual(body["hotelId"], "GB113")
        # the key came from that availability answer, whose roomCriteria said adultCount 1
        self.assertEqual(body["roomCriteria"], {"roomCount": 1, "adultCount": 1, "childCount": 0})
        # the search said 180.00: price_changed
        out = replay("check_avail", live, {"key": key, "price": {"net": "180.00"}})
        self.assertEqual(out["result"]["status"], "price_changed")
        # a product the live check does not return (NDT/SIT) -> sold_out
        out = replay("check_avail", live, {"key": rates[("GB113", "NDT", "SIT")]["key"]})
        self.assertEqual(out["result"]["status"], "sold_out")
        # DerbySoft's own NoAllotment answer -> sold_out
        out = replay("check_avail", mock({"errorCode": "NoAllotment", "errorMessage": "no allotment"}, 400), {"key": key})
        self.assertEqual(out["result"]["status"], "sold_out")

    def test_bts_availability_and_livecheck(self):
        out = self.search("smf_hilton_bts_v1.2_availability.mockserver.json", Q_HILTON)
        rates = rates_of(out["result"])
        self.assertEqual(len(rates), 56)
        self.assertEqual(sorted({k[1] for k in rates}), ["K1", "K1RC", "Q1RRQ", "T2"])
        # roomRates[0] K1/OD30DV HB SAR: 686.7 -> 829.19 = + Tax1 15.75 % (108.15525) + Tax2 5 % (34.335);
        # rounded 108.16 + 34.34 = 142.50 != 142.49: the cent comes off Tax2
        r = rates[("RUHSK", "K1", "OD30DV")]
        self.assertEqual((r["price"]["net"], r["price"]["currency"], r["board"]["id"], r["allotment"]),
                         ("829.19", "SAR", "HB", 9))
        self.assertEqual([(t["name"], t["amount"], t["included"]) for t in r["price"]["taxes"]],
                         [("Tax1", "108.16", True), ("Tax2", "34.33", True)])
        # 1D1N_1N without a time: free until 00:00 the day before, then 1 night = the whole 1-night stay
        self.assertEqual(r["cancel_fees"], [{"until": "2025-10-31T00:00:00Z", "fee": {"amount": "0.00", "currency": "SAR"}}])
        # K1/OG15TB: 5 days before arrival
        self.assertEqual(rates[("RUHSK", "K1", "OG15TB")]["cancel_fees"][0]["until"], "2025-10-27T00:00:00Z")
        self.assertEqual(rates[("RUHSK", "K1", "OG15TB")]["price"]["net"], "896.03")
        # K1/OGAPF5: offsetTimeValue 999 "any date time", FullStay 100 % -> non-refundable
        r = rates[("RUHSK", "K1", "OGAPF5")]
        self.assertEqual((r["price"]["net"], r["refundable"]), ("703.18", "no"))
        self.assertFalse(r["cancel_fees"])          # [] or {}: Lua cannot tell an empty list
        self.assertEqual([t["amount"] for t in r["price"]["taxes"]], ["91.72", "29.12"])
        # every rate: included taxes add up to amountAfterTax - amountBeforeTax of the capture
        raw = fixture("smf_hilton_bts_v1.2_availability.mockserver.json")["httpResponse"]["body"]["roomRates"]
        for rr in raw:
            mine = rates[("RUHSK", rr["roomId"], rr["rateId"])]
            diff = Decimal(str(rr["amountAfterTax"][0])) - Decimal(str(rr["amountBeforeTax"][0]))
            self.assertEqual(sum(Decimal(t["amount"]) for t in mine["price"]["taxes"]), diff, rr["rateId"])
            self.assertEqual([t["name"] for t in mine["price"]["taxes"]], ["Tax1", "Tax2"])
        # BTS livecheck K1/ODCC30: 564.2 -> 681.27
        live = fixture("smf_hilton_bts_v1.2_livecheck.mockserver.json")
        out = replay("check_avail", live, {"key": rates[("RUHSK", "K1", "ODCC30")]["key"]})
        self.assertEqual(out["result"]["status"], "available")
        self.assertEqual(out["result"]["rate"]["price"]["net"], "681.27")
        self.assertEqual([t["amount"] for t in out["result"]["rate"]["price"]["taxes"]], ["88.86", "28.21"])

    def order(self, key, ref):
        return {"key": key, "customer_ref": ref,
                "holder": {"first_name": "Majdi", "last_name": "Test", "email": "m@x.io", "phone": "1"},
                "guests": [{"room_index": 1, "first_name": "Majdi", "last_name": "Test"}]}

    def test_book(self):
        out = self.search("smf_choice_go_v4_shoppingengine_multihotels.mockserver.json", Q_CHOICE)
        key = rates_of(out["result"])[("GB113", "ND", "LWTO")]["key"]
        out = replay("book", fixture("smf_choice_go_v4_reservation_book.mockserver.json"),
                     self.order(key, "X7LaiK4d4dgrJk3-0-4ouiYl"))
        res = out["result"]
        # reservationIds: derbyResId SKBSQHMHG5AHOPX0FPSU9, supplierResId 33297027
        self.assertEqual((res["status"], res["supplier_ref"], res["hotel_confirm_no"]),
                         ("confirmed", "SKBSQHMHG5AHOPX0FPSU9", "33297027"))
        self.assertEqual(res["price"], {"currency": "GBP", "net": "183.75"})
        self.assertEqual(res["cancel_fees"][0]["until"], "2026-05-11T15:00:00Z")
        # prebook then book, same body
        self.assertEqual(len(out["requests"]), 2)
        pre = check_request(self, out["requests"][0], "/api/go/bookingusb/v4/reservation/prebook")
        body = check_request(self, out["requests"][1], "/api/go/bookingusb/v4/reservation/book")
        self.assertEqual(body["reservationIds"], {"distributorResId": "X7LaiK4d4dgrJk3-0-4ouiYl"})
        self.assertEqual(body["hotelId"], "GB113")
        self.assertEqual(body["roomRates"][0]["roomId"], "ND")
        self.assertEqual(body["roomRates"][0]["rateId"], "LWTO")
        self.assertEqual(body["roomRates"][0]["amountAfterTax"], [183.75])
        self.assertEqual(body["total"], {"amountBeforeTax": 183.75, "amountAfterTax": 183.75})
        self.assertEqual({k: v for k, v in pre.items() if k != "header"}, {k: v for k, v in body.items() if k != "header"})
        # BTS Hilton book answer
        out = self.search("smf_hilton_bts_v1.2_availability.mockserver.json", Q_HILTON)
        key = rates_of(out["result"])[("RUHSK", "K1", "ODCC30")]["key"]
        out = replay("book", fixture("smf_hilton_bts_v1.2_reservation_book.mockserver.json"),
                     self.order(key, "BtmrbPTvqbVqiYJ-0-EJZnTK"))
        self.assertEqual((out["result"]["supplier_ref"], out["result"]["hotel_confirm_no"]),
                         ("2N8KS2G4CK1SX52Z6O3Z7", "3309725003"))
        self.assertEqual(out["result"]["price"], {"currency": "SAR", "net": "681.27"})
        # a stale expected price is refused before any call
        out = replay("book", fixture("smf_hilton_bts_v1.2_reservation_book.mockserver.json"),
                     dict(self.order(key, "R1"), price="600.00"))
        self.assertEqual((out["result"]["status"], out["result"]["reason"]), ("failed", "price_changed"))
        self.assertEqual(out["requests"], {})

    def test_detail(self):
        out = replay("query_order", fixture("smf_choice_go_v4_reservation_detail.mockserver.json"),
                     {"customer_ref": "X7LaiK4d4dgrJk3-0-4ouiYl", "supplier_ref": "SKBSQHMHG5AHOPX0FPSU9"})
        # reservations[0]: status Cancelled, total.amountAfterTax 183.75 GBP
        self.assertEqual(out["result"]["status"], "cancelled")
        self.assertEqual(out["result"]["supplier_ref"], "SKBSQHMHG5AHOPX0FPSU9")
        self.assertEqual(out["result"]["hotel_confirm_no"], "33297027")
        self.assertEqual(out["result"]["price"], {"currency": "GBP", "net": "183.75"})
        body = check_request(self, out["requests"][0], "/api/go/bookingusb/v4/reservation/detail")
        self.assertEqual(body["reservationIds"], {"distributorResId": "X7LaiK4d4dgrJk3-0-4ouiYl",
                                                  "derbyResId": "SKBSQHMHG5AHOPX0FPSU9"})
        out = replay("query_order", fixture("smf_hilton_bts_v1.2_reservation_detail.mockserver.json"),
                     {"customer_ref": "BtmrbPTvqbVqiYJ-0-EJZnTK"})
        self.assertEqual((out["result"]["status"], out["result"]["supplier_ref"], out["result"]["price"]),
                         ("cancelled", "2N8KS2G4CK1SX52Z6O3Z7", {"currency": "SAR", "net": "681.27"}))
        out = replay("query_order", mock({"errorCode": "ReservationNotFound", "errorMessage": "x"}, 404),
                     {"customer_ref": "nope"})
        self.assertEqual(out["result"]["status"], "not_found")

    def test_cancel(self):
        # cancel = detail, then reservation/cancel; replay answers both with the cancel capture
        out = replay("cancel", fixture("smf_choice_go_v4_reservation_cancel.mockserver.json"),
                     {"customer_ref": "X7LaiK4d4dgrJk3-0-4ouiYl", "supplier_ref": "SKBSQHMHG5AHOPX0FPSU9"})
        self.assertEqual(out["result"]["status"], "cancelled")
        self.assertEqual(out["result"]["cancellation_id"], "966702973")
        self.assertIsNone(out["result"].get("fee"))          # no detail answer: fee unknown
        self.assertEqual(len(out["requests"]), 2)
        body = check_request(self, out["requests"][1], "/api/go/bookingusb/v4/reservation/cancel")
        self.assertEqual(body["reservationIds"], {"distributorResId": "X7LaiK4d4dgrJk3-0-4ouiYl",
                                                  "derbyResId": "SKBSQHMHG5AHOPX0FPSU9"})
        out = replay("cancel", fixture("smf_hilton_bts_v1.2_reservation_cancel.mockserver.json"),
                     {"customer_ref": "BtmrbPTvqbVqiYJ-0-EJZnTK"})
        self.assertEqual(out["result"]["cancellation_id"], "1754501953")
        # the detail capture says Cancelled already: no cancel call; the fee from its policy now
        # (past the deadline: Choice FullStay 100 % = 183.75, Hilton 1 night = 681.27)
        out = replay("cancel", fixture("smf_choice_go_v4_reservation_detail.mockserver.json"),
                     {"customer_ref": "X7LaiK4d4dgrJk3-0-4ouiYl"})
        self.assertEqual(len(out["requests"]), 1)
        self.assertEqual((out["result"]["status"], out["result"]["fee"]), ("cancelled", money(("183.75", "GBP"))))
        out = replay("cancel", fixture("smf_hilton_bts_v1.2_reservation_detail.mockserver.json"),
                     {"customer_ref": "BtmrbPTvqbVqiYJ-0-EJZnTK"})
        self.assertEqual(out["result"]["fee"], money(("681.27", "SAR")))

    def test_errors_are_typed(self):
        q = Q_CHOICE
        e = replay("search", mock({"error_msg": "too frequent"}, 429,
                                  {"X-RateLimit-Limit": ["1500"], "X-RateLimit-Remaining": ["0"], "X-RateLimit-Reset": ["7"]}), q)["error"]
        self.assertEqual((e["kind"], e["retry_after"]), ("throttled", 7))
        self.assertEqual(replay("search", mock({"error": "Key not authorised"}, 401), q)["error"]["kind"], "auth")
        self.assertEqual(replay("search", mock({"errorCode": "SystemError", "errorMessage": "x"}, 500), q)["error"]["kind"],
                         "supplier")
        self.assertEqual(replay("search", mock({"errorCode": "ExceedRoomCount", "errorMessage": "x"}, 400), q)["error"]["kind"],
                         "bad_request")
        self.assertEqual(replay("search", mock("", 502), q)["error"]["kind"], "supplier")
        self.assertEqual(replay("search", "<html>oops", q, raw_response=True)["error"]["kind"], "bad_response")


# ---- (b) simulator round trip ----------------------------------------------------

CONFIG = '''return { listen = "127.0.0.1:0", workers = 1,
  lua_path = { "%(src)s/scripts", "%(src)s/examples", "." },
  scripts = { "%(src)s/examples/suppliers/derbysoft.lua", "testroute.lua" },
  suppliers = { derbysoft = { connector = "connectors.derbysoft", base_url = "/sim/derbysoft",
                              token = "ds-demo-token", distributor_id = "HOTELMUX", supplier_id = "DEMOHOTELS",
                              timeout_ms = 1000, hotel_utc_offset = "+04:00" } } }
'''

STAY = {"check_in": "2027-03-10", "check_out": "2027-03-12", "nights": 2, "rooms": [{"adults": 2}], "currency": "AED"}
SIM = "/sim/derbysoft/api/go"


class SimRoundTrip(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(CONFIG % {"src": SOURCE_DIR}, workers=1, extra_files={"testroute.lua": hmtest.connector_route("derbysoft")})
        cls.srv.start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.cleanup()

    def setUp(self):
        self.post("/sim/derbysoft/_reset", {})
        self.post("/sim/derbysoft/_faults", {})

    def post(self, path, body, headers=None, status=200):
        st, _h, data = request(self.srv.port, "POST", path, body=json.dumps(body),
                               headers=dict({"Content-Type": "application/json"}, **(headers or {})))
        self.assertEqual(st, status, data)
        return json.loads(data)

    def op(self, op, inp, config=None):
        return self.post("/t/" + op, {"input": inp, "config": config or {}})

    def search(self, hotels=("DXBRD", "DXBJW", "DXBATL")):
        r = self.op("search", dict(STAY, hotel_ids=list(hotels)))
        self.assertIsNone(r.get("error"), r)
        return r["result"]

    def rate(self, result, hotel, room, rate_id="BAR"):
        return rates_of(result).get((hotel, room, rate_id))

    def order(self, key, ref):
        return {"key": key, "customer_ref": ref,
                "holder": {"first_name": "Ann", "last_name": "Lee", "email": "a@x.io", "phone": "1"},
                "guests": [{"room_index": 1, "first_name": "Ann", "last_name": "Lee"}]}

    def test_search_prices_from_demo_data(self):
        res = self.search()
        self.assertEqual(sorted(h["id"] for h in res["hotels"]), ["DXBATL", "DXBJW", "DXBRD"])
        # dubai.lua: derbysoft DXBRD room RVQ 255.00 AED/night; 2027-03-10 Wed, 03-11 Thu: no weekend
        # uplift -> before 510.00, after 2 x 285.60 (VAT 5 % + municipality 7 %, inside)
        r = self.rate(res, "DXBRD", "RVQ")
        self.assertEqual((r["price"]["net"], r["price"]["currency"], r["allotment"]), ("571.20", "AED", 5))
        self.assertEqual(r["nightly"], ["285.60", "285.60"])
        self.assertEqual([(t["name"], t["amount"], t["included"]) for t in r["price"]["taxes"]],
                         [("VAT", "25.50", True), ("Municipality Fee", "35.70", True)])
        # free until 16:00 Dubai (+04:00) on 03-09, then one night, until the end of the arrival day
        self.assertEqual(r["cancel_fees"], [
            {"until": "2027-03-09T12:00:00Z", "fee": {"amount": "0.00", "currency": "AED"}},
            {"until": "2027-03-10T19:59:59Z", "fee": {"amount": "285.60", "currency": "AED"}}])
        self.assertEqual(r["refundable"], "full")
        bb = self.rate(res, "DXBRD", "RVQ", "BARBB")
        self.assertEqual((bb["board"]["id"], bb["price"]["net"], bb["refundable"]), ("BB", "639.74", "no"))

    def test_book_decrements_cancel_restores(self):
        r = self.rate(self.search(), "DXBATL", "OCK")
        self.assertEqual(r["allotment"], 5)
        chk = self.op("check_avail", {"key": r["key"], "price": r["price"]})["result"]
        self.assertEqual(chk["status"], "available")
        bk = self.op("book", self.order(chk["rate"]["key"], "HM-DS-1"))["result"]
        self.assertEqual(bk["status"], "confirmed", bk)
        self.assertEqual(bk["price"]["net"], r["price"]["net"])
        self.assertEqual(len(bk["supplier_ref"]), 21)
        self.assertEqual(self.rate(self.search(), "DXBATL", "OCK")["allotment"], 4)
        # same distributorResId again: DerbySoft says DuplicateReservation -> the same booking
        again = self.op("book", self.order(chk["rate"]["key"], "HM-DS-1"))["result"]
        self.assertEqual(again["supplier_ref"], bk["supplier_ref"])
        self.assertEqual(self.rate(self.search(), "DXBATL", "OCK")["allotment"], 4)
        q = self.op("query_order", {"customer_ref": "HM-DS-1"})["result"]
        self.assertEqual((q["status"], q["supplier_ref"], q["price"]["net"]), ("confirmed", bk["supplier_ref"], r["price"]["net"]))
        c = self.op("cancel", {"customer_ref": "HM-DS-1", "supplier_ref": bk["supplier_ref"]})["result"]
        self.assertEqual(c["status"], "cancelled", c)
        self.assertEqual(c["fee"], {"amount": "0.00", "currency": "AED"})     # inside the free window
        self.assertEqual(self.op("query_order", {"customer_ref": "HM-DS-1"})["result"]["status"], "cancelled")
        self.assertEqual(self.rate(self.search(), "DXBATL", "OCK")["allotment"], 5)
        # cancelling again gives the same cancellation, inventory not restored twice
        c2 = self.op("cancel", {"customer_ref": "HM-DS-1"})["result"]
        self.assertEqual(c2["cancellation_id"], c["cancellation_id"])
        self.assertEqual(self.rate(self.search(), "DXBATL", "OCK")["allotment"], 5)
        self.assertEqual(self.op("query_order", {"customer_ref": "nope"})["result"]["status"], "not_found")
        self.assertEqual(self.op("cancel", {"customer_ref": "nope"})["error"]["kind"], "not_found")

    def test_last_room_sold_out_and_price_change(self):
        self.post("/sim/derbysoft/_inventory", {"hotel": "DXBHA", "room": "K1", "count": 1})
        r = self.rate(self.search(["DXBHA"]), "DXBHA", "K1")
        self.assertEqual(r["allotment"], 1)
        bk = self.op("book", self.order(r["key"], "HM-DS-2"))["result"]
        self.assertEqual(bk["status"], "confirmed", bk)
        self.assertEqual(self.op("check_avail", {"key": r["key"]})["result"]["status"], "sold_out")
        self.assertFalse(self.search(["DXBHA"])["hotels"])
        again = self.op("book", self.order(r["key"], "HM-DS-3"))["result"]
        self.assertEqual((again["status"], again["reason"]), ("failed", "sold_out"))
        # a new price at the supplier: the live check says price_changed
        r = self.rate(self.search(["DXBRD"]), "DXBRD", "RVT")
        self.post("/sim/derbysoft/_price", {"hotel": "DXBRD", "room": "RVT", "price": "300.00"})
        chk = self.op("check_avail", {"key": r["key"], "price": r["price"]})["result"]
        self.assertEqual(chk["status"], "price_changed")
        self.assertEqual(chk["rate"]["price"]["net"], "672.00")          # 2 x 300 x 1.12

    def test_bad_credentials_rejected(self):
        r = self.op("search", dict(STAY, hotel_ids=["DXBRD"]), {"token": "wrong"})
        self.assertEqual(r["error"]["kind"], "auth")
        self.assertEqual(r["error"]["status"], 401)
        hdr = {"distributorId": DIST, "supplierId": SUP, "version": "v4", "token": "0a493bf0-7c71-433c-bb54-dd35f06ebbc5"}
        body = {"header": hdr, "hotelId": "DXBRD", "stayRange": {"checkin": "2027-03-10", "checkout": "2027-03-11"},
                "roomCriteria": {"roomCount": 1, "adultCount": 2, "childCount": 0}}
        # the bare key (no "Bearer") and a wrong key: 401 {"error":"Key not authorised"}
        for auth in (TOKEN, "Bearer nope"):
            j = self.post(SIM + "/bookingusb/v4/availability", body, {"Authorization": auth}, status=401)
            self.assertEqual(j, {"error": "Key not authorised"})
        j = self.post(SIM + "/bookingusb/v4/availability", body, {"Authorization": "Bearer " + TOKEN})
        self.assertEqual(j["header"], hdr)            # the echo token comes back
        self.assertEqual(len(j["roomRates"]), 4)
        j = self.post(SIM + "/bookingusb/v4/availability", dict(body, header=dict(hdr, distributorId="OTHER")),
                      {"Authorization": "Bearer " + TOKEN}, status=400)
        self.assertEqual(j["errorCode"], "ChannelNotFound")
        r = self.op("search", dict(STAY, hotel_ids=["DXBRD"]), {"distributor_id": "OTHER"})
        self.assertEqual(r["error"]["kind"], "bad_request")

    def test_faults(self):
        self.post("/sim/derbysoft/_faults", {"throttle_rate": 1})
        r = self.op("search", dict(STAY, hotel_ids=["DXBRD"]))
        self.assertEqual((r["error"]["kind"], r["error"]["retry_after"]), ("throttled", 2))
        self.post("/sim/derbysoft/_faults", {"garbage_rate": 1})
        self.assertEqual(self.op("search", dict(STAY, hotel_ids=["DXBRD"]))["error"]["kind"], "bad_response")
        self.post("/sim/derbysoft/_faults", {"error_rate": 1})
        self.assertEqual(self.op("search", dict(STAY, hotel_ids=["DXBRD"]))["error"]["kind"], "supplier")
        self.post("/sim/derbysoft/_faults", {"latency_ms": 250})
        r = self.op("search", dict(STAY, hotel_ids=["DXBRD"]))
        self.assertIsNone(r.get("error"), r)
        self.assertGreaterEqual(r["elapsed"], 0.25)
        r = self.op("search", dict(STAY, hotel_ids=["DXBRD"]), {"timeout_ms": 100})
        self.assertEqual(r["error"]["kind"], "timeout")
        self.post("/sim/derbysoft/_faults", {})
        r = self.op("search", dict(STAY, hotel_ids=["DXBRD"]))
        self.assertIsNone(r.get("error"), r)
        self.assertLess(r["elapsed"], 0.25)


if __name__ == "__main__":
    run_tests(globals())
