"""Dida connector: (a) replay contract tests on the real captures / docs examples in
$HM_SHARED/fixtures/dida (and the Dida-backed HotelByte capture), (b) a round trip
over real HTTP against the simulated Dida API (examples/suppliers/dida.lua)."""
import base64
import json
import os
import unittest

import hmtest
from hmtest import SOURCE_DIR, Server, request, run_tests, shared_path

# Server() runs the binary from a temp dir: a relative HM_BINARY must be made absolute.
hmtest.BINARY = BINARY = os.path.abspath(hmtest.BINARY)

CONNECTOR = os.path.join(SOURCE_DIR, "scripts", "connectors", "dida.lua")
DEMO = os.path.join(SOURCE_DIR, "examples", "demo.lua")
FIX = shared_path("fixtures", "dida")
HB_FIX = shared_path("fixtures", "hotelbyte", "hotelbyte_openapi_HotelList_HotelRates_dida_20260201.json")
# demo.lua's dida block
CLIENT_ID, LICENSE = "DidaDemo", "dd-demo-license"


def basic(cid, key):
    return "Basic " + base64.b64encode(("%s:%s" % (cid, key)).encode()).decode()


def replay(op, response, query=None, raw_response=False):
    """Run `hotelmux replay`; response is a MockServer-shaped dict (or raw text)."""
    return hmtest.replay("dida", op, response_text=response if raw_response else json.dumps(response),
                         inp=query)


mock = hmtest.mockserver


def wire_log_response(path):
    """HotelByte's wire logs keep the answer under "response" (not MockServer's httpResponse)."""
    with open(path) as f:
        r = json.load(f)["response"]
    return mock(r["body"], r["statusCode"], r["headers"])


def all_rates(result):
    out = {}
    for h in result["hotels"]:
        for room in h["rooms"]:
            for rate in room["rates"]:
                out[rate["rate_plan_id"]] = (h, room, rate)
    return out


def check_auth(tc, req, path):
    tc.assertEqual(req["method"], "POST")
    tc.assertTrue(req["url"].endswith(path + "?$format=json"), req["url"])
    tc.assertEqual(req["headers"]["Authorization"], basic(CLIENT_ID, LICENSE))
    tc.assertTrue(req["headers"]["Content-Type"].startswith("application/json"))
    body = json.loads(req["body"])
    tc.assertEqual(body["Header"], {"ClientID": CLIENT_ID, "LicenseKey": LICENSE})
    return body


QUERY_3AD = {"hotel_ids": ["10399"], "check_in": "2026-03-03", "check_out": "2026-03-05", "nights": 2,
             "rooms": [{"adults": 3}], "currency": "USD", "nationality": "US"}


@unittest.skipUnless(FIX, "Dida fixtures (HM_SHARED/fixtures/dida) not present")
class ReplayFixtures(unittest.TestCase):
    def ps_capture(self):
        return wire_log_response(os.path.join(FIX, "hotelbyte_log_PriceSearch_realtime_20260201.json"))

    def test_pricesearch_realtime_capture(self):
        out = replay("search", self.ps_capture(), QUERY_3AD)
        self.assertIn("result", out, out.get("error"))
        res = out["result"]
        # body.Success.PriceDetails.HotelList: one hotel, 18 RatePlans, 9 RoomTypeIDs + 1 plan without one
        self.assertEqual(len(res["hotels"]), 1)
        h = res["hotels"][0]
        self.assertEqual(h["id"], "10399")
        self.assertEqual(h["name"], "Al Maha, A Luxury Collection Desert Resort & Spa, Dubai")
        self.assertEqual(len(h["rooms"]), 10)
        rates = all_rates(res)
        self.assertEqual(len(rates), 18)
        # RatePlan[0] -7512310342609318687: Bedouin Villa, TotalPrice 3881.16, PriceList 2 x 1940.58
        # MealType 4, InventoryCount 99, ExcludedFeeList city tax 10.94,
        # policies 2026-02-15T00:00+08:00 -> 1940.58, 2026-03-02T00:00+08:00 -> 3881.16
        _, room, r = rates["-7512310342609318687"]
        self.assertEqual((room["id"], room["name"]), ("15883248", "Bedouin Villa"))
        self.assertEqual(r["price"]["net"], "3881.16")
        self.assertEqual(r["price"]["currency"], "USD")
        self.assertEqual(r["nightly"], ["1940.58", "1940.58"])
        self.assertEqual(r["board"]["id"], "FB")
        self.assertEqual(r["allotment"], 99)
        self.assertEqual(r["price"]["taxes"], [{"type": "CITY_TAX", "name": "A tax is imposed by the city",
                                                "amount": "10.94", "currency": "USD", "included": False,
                                                "pay_at_hotel": True}])
        self.assertEqual(r["cancel_fees"], [
            {"until": "2026-02-14T15:59:59Z", "fee": {"amount": "0.00", "currency": "USD"}},
            {"until": "2026-03-01T15:59:59Z", "fee": {"amount": "1940.58", "currency": "USD"}}])
        # every FromDate in the capture is in the past now: the full price is due
        self.assertEqual(r["refundable"], "no")
        # RatePlan[1] -4322989437416420218: IncludedFeeList 439.13 + 452.08 + 692.01 (inside 3888.28),
        # ExcludedFeeList mandatory_tax 10.94, InventoryCount 5, first FromDate 2026-02-16T20:00:00+08:00
        _, room, r = rates["-4322989437416420218"]
        self.assertEqual(room["id"], "25707309")
        self.assertEqual(r["price"]["net"], "3888.28")
        self.assertEqual(r["allotment"], 5)
        inc = [(t["name"], t["amount"]) for t in r["price"]["taxes"] if t["included"]]
        exc = [(t["name"], t["amount"], t["pay_at_hotel"]) for t in r["price"]["taxes"] if not t["included"]]
        self.assertEqual(inc, [("property_fee", "439.13"), ("tax_and_service_fee", "452.08"),
                               ("extra_person_fee", "692.01")])
        self.assertEqual(exc, [("mandatory_tax", "10.94", True)])
        self.assertEqual(r["cancel_fees"][0]["until"], "2026-02-16T11:59:59Z")
        self.assertEqual(r["cancel_fees"][1]["fee"]["amount"], "1944.14")
        # RatePlan[2] 1536477127384580019: TotalPrice 3901 (integer on the wire), single policy
        # 2026-02-15T08:00:00+08:00 -> free until 2026-02-15T00:00Z minus 1 s
        _, _, r = rates["1536477127384580019"]
        self.assertEqual(r["price"]["net"], "3901.00")
        self.assertEqual(r["nightly"], ["1950.50", "1950.50"])
        self.assertEqual(r["cancel_fees"], [{"until": "2026-02-14T23:59:59Z",
                                             "fee": {"amount": "0.00", "currency": "USD"}}])
        # RatePlan[5] -6601262553316623115: MealType 1 / MealAmount 0 -> room only
        self.assertEqual(rates["-6601262553316623115"][2]["board"]["id"], "RO")
        self.assertEqual(rates["-6601262553316623115"][2]["price"]["net"], "6281.66")
        # RatePlan[9] -6646802598606699229 "Villa - Emirates" has no RoomTypeID/RoomName
        _, room, r = rates["-6646802598606699229"]
        self.assertEqual((room["id"], room["name"]), ("rateplan:-6646802598606699229", "Villa - Emirates"))
        self.assertEqual(r["price"]["net"], "7733.62")
        # the request: real wire format and auth
        self.assertEqual(len(out["requests"]), 1)
        body = check_auth(self, out["requests"][0], "/api/rate/PriceSearch")
        self.assertEqual(body["HotelIDList"], [10399])
        self.assertEqual(body["IsRealTime"], {"Value": True, "RoomCount": 1})
        self.assertEqual(body["RealTimeOccupancy"]["AdultCount"], 3)
        self.assertEqual(body["RealTimeOccupancy"]["ChildCount"], 0)
        self.assertEqual((body["CheckInDate"], body["CheckOutDate"]), ("2026-03-03", "2026-03-05"))
        # same keys as HotelByte's real request in the capture (plus IsNeedOnRequest from the docs)
        with open(os.path.join(FIX, "hotelbyte_log_PriceSearch_realtime_20260201.json")) as f:
            real = json.load(f)["requestBody"]
        self.assertEqual(set(real) | {"IsNeedOnRequest"}, set(body))

    def test_pricesearch_two_rooms_multiplies_per_room_prices(self):
        q = dict(QUERY_3AD, rooms=[{"adults": 3}, {"adults": 2, "children": [7]}])
        out = replay("search", self.ps_capture(), q)
        r = all_rates(out["result"])["-7512310342609318687"][2]
        # PriceSearch prices are per room: 2 x 3881.16, 2 x 10.94, 2 x 1940.58
        self.assertEqual(r["price"]["net"], "7762.32")
        self.assertEqual(r["price"]["taxes"][0]["amount"], "21.88")
        self.assertEqual(r["cancel_fees"][1]["fee"]["amount"], "3881.16")
        body = json.loads(out["requests"][0]["body"])
        self.assertEqual(body["IsRealTime"], {"Value": True, "RoomCount": 2})
        self.assertEqual(body["RealTimeOccupancy"], {"AdultCount": 3, "ChildCount": 1, "ChildAgeDetails": [7]})

    def test_docs_onrequest_response(self):
        with open(os.path.join(FIX, "docs_pricesearch_onrequest_response.json")) as f:
            doc = json.load(f)
        q = {"hotel_ids": ["542586"], "check_in": "2021-09-13", "check_out": "2021-09-14", "nights": 1,
             "rooms": [{"adults": 2}], "currency": "CNY", "nationality": "CN"}
        out = replay("search", mock(doc), q)
        h = out["result"]["hotels"][0]
        self.assertEqual((h["id"], h["name"]), ("542586", "Wan Li Duo Hotel (Mingshu)"))
        r = all_rates(out["result"])["-8930392398183591101"][2]
        # TotalPrice 127.07 CNY, MealType 2 / MealAmount 2, InventoryCount 10, IsOnRequest true,
        # FromDate "2021-09-11 00:00:00" without offset = Beijing time = 2021-09-10T16:00:00Z
        self.assertEqual(r["price"]["net"], "127.07")
        self.assertEqual(r["price"]["currency"], "CNY")
        self.assertEqual(r["board"]["id"], "BB")
        self.assertEqual(r["allotment"], 10)
        self.assertTrue(r["on_request"])
        self.assertEqual(r["cancel_fees"], [{"until": "2021-09-10T15:59:59Z",
                                             "fee": {"amount": "0.00", "currency": "CNY"}}])
        self.assertEqual(r["refundable"], "no")

    def test_price_confirm_request_matches_docs(self):
        """check_avail = PriceConfirm(PreBook): request keys as in docs_price_confirm_request.json;
        the answer (PriceSearch shape, docs example) -> available at the same price."""
        with open(os.path.join(FIX, "docs_pricesearch_onrequest_response.json")) as f:
            doc = json.load(f)
        q = {"hotel_ids": ["542586"], "check_in": "2021-09-13", "check_out": "2021-09-14", "nights": 1,
             "rooms": [{"adults": 2}], "currency": "CNY", "nationality": "CN"}
        rate = all_rates(replay("search", mock(doc), q)["result"])["-8930392398183591101"][2]
        out = replay("check_avail", mock(doc), {"key": rate["key"], "price": {"net": "127.07"}})
        self.assertEqual(out["result"]["status"], "available")
        self.assertEqual(out["result"]["rate"]["price"]["net"], "127.07")
        body = check_auth(self, out["requests"][0], "/api/rate/PriceConfirm")
        with open(os.path.join(FIX, "docs_price_confirm_request.json")) as f:
            docs_req = json.load(f)
        self.assertEqual(set(docs_req), set(body))
        self.assertEqual(body["PreBook"], True)
        self.assertEqual(body["RatePlanID"], "-8930392398183591101")
        self.assertEqual(body["HotelID"], 542586)
        self.assertEqual(set(docs_req["OccupancyDetails"][0]), set(body["OccupancyDetails"][0]))
        # a different expected price -> price_changed
        out = replay("check_avail", mock(doc), {"key": rate["key"], "price": {"net": "120.00"}})
        self.assertEqual(out["result"]["status"], "price_changed")
        # no rate plan in the answer -> sold_out
        empty = {"Success": {"PriceDetails": {"CheckInDate": "2021-09-13 00:00:00", "HotelList": []}}}
        out = replay("check_avail", mock(empty), {"key": rate["key"]})
        self.assertEqual(out["result"]["status"], "sold_out")

    def test_booking_requests_match_docs(self):
        with open(os.path.join(FIX, "docs_booking_confirm_request.json")) as f:
            docs_book = json.load(f)
        with open(os.path.join(FIX, "docs_booking_search_request_by_bookingid.json")) as f:
            docs_search = json.load(f)
        # a key that already carries a ReferenceNo (from check_avail): book is one call
        key = "v1." + base64.urlsafe_b64encode(json.dumps(
            {"h": "512", "rp": "1494507509528725623", "ci": "2023-08-01", "co": "2023-08-02", "n": 1, "a": 2,
             "c": [1], "nat": "CN", "cur": "USD", "ref": "1674000176857108480"}).encode()).decode().rstrip("=")
        answer = {"Success": {"BookingDetails": {"BookingID": "1674000176857108480", "Status": 2,
                                                 "TotalPrice": 100.5, "Currency": "USD"}}}
        order = {"key": key, "customer_ref": "v-test-2023-06-28",
                 "holder": {"first_name": "vincent", "last_name": "ye", "email": "a@b.c", "phone": "1"},
                 "guests": [{"room_index": 1, "first_name": "vincent", "last_name": "ye"},
                            {"room_index": 1, "first_name": "ye", "last_name": "vincent", "is_child": True,
                             "age": 1}]}
        out = replay("book", mock(answer), order)
        self.assertEqual(out["result"]["status"], "confirmed")
        self.assertEqual(out["result"]["supplier_ref"], "1674000176857108480")
        self.assertEqual(out["result"]["price"], {"currency": "USD", "net": "100.50"})
        body = check_auth(self, out["requests"][0], "/api/booking/HotelBookingConfirm")
        self.assertEqual(set(docs_book), set(body))
        self.assertEqual(body["ReferenceNo"], "1674000176857108480")
        self.assertEqual(body["ClientReference"], "v-test-2023-06-28")
        self.assertEqual(set(docs_book["GuestList"][0]), set(body["GuestList"][0]))
        self.assertEqual(body["GuestList"][0]["GuestInfo"][1], {"Name": {"First": "ye", "Last": "vincent"},
                                                                "IsAdult": False, "Age": 1})
        out = replay("query_order", mock(answer), {"supplier_ref": "1674000176857108480"})
        self.assertEqual(out["result"]["status"], "confirmed")
        body = check_auth(self, out["requests"][0], "/api/booking/HotelBookingSearch")
        self.assertEqual(body, docs_search | {"Header": body["Header"]})

    def test_error_answers_are_typed(self):
        q = QUERY_3AD
        err = {"Error": {"Code": "2024", "Message": "IncorrectRealTimeAndOccupancy"}}
        self.assertEqual(replay("search", mock(err), q)["error"]["kind"], "bad_request")
        self.assertEqual(replay("search", mock({"Error": {"Code": "1001", "Message": "Invalid LicenseKey"}}), q)
                         ["error"]["kind"], "auth")
        self.assertEqual(replay("search", mock("", 429, {"Retry-After": "2"}), q)["error"]["kind"], "throttled")
        self.assertEqual(replay("search", mock("", 503), q)["error"]["kind"], "supplier")
        self.assertEqual(replay("search", "<html>oops", q, raw_response=True)["error"]["kind"], "bad_response")


@unittest.skipUnless(FIX and HB_FIX, "HotelByte Dida fixture not present")
class HotelByteCrossCheck(unittest.TestCase):
    def test_boards_and_names_agree_with_hotelbyte(self):
        """HotelByte's HotelList for the same Dida search (same hotel, dates, 3 adults) shows three
        rates: '6<HB>1<HB><RatePlanID>' with originalRoomNaming.name and board FB."""
        with open(HB_FIX) as f:
            hb = json.load(f)
        cap = wire_log_response(os.path.join(FIX, "hotelbyte_log_PriceSearch_realtime_20260201.json"))
        rates = all_rates(replay("search", cap, QUERY_3AD)["result"])
        seen = 0
        for room in hb["hotelListResp"]["list"][0]["rooms"]:
            for r in room["rates"]:
                rp = r["originalRoomNaming"]["id"]
                self.assertEqual(r["ratePkgId"].split("<HB>")[-1], rp)
                _, our_room, ours = rates[rp]
                self.assertEqual(our_room["name"], r["originalRoomNaming"]["name"])
                self.assertEqual(ours["board"]["id"], r["board"]["boardId"])
                seen += 1
        self.assertEqual(seen, 3)


# ---- (b) simulator round trip ----------------------------------------------------

CONFIG = '''return { listen = "127.0.0.1:0", workers = 1,
  lua_path = { "%(src)s/scripts", "%(src)s/examples", "." },
  scripts = { "%(src)s/examples/suppliers/dida.lua", "testroute.lua" },
  suppliers = { dida = { connector = "connectors.dida", base_url = "/sim/dida",
                         client_id = "DidaDemo", license_key = "dd-demo-license", timeout_ms = 1000 } } }
'''

STAY = {"check_in": "2027-03-10", "check_out": "2027-03-12", "nights": 2, "rooms": [{"adults": 2}],
        "currency": "USD", "nationality": "GB"}


class SimRoundTrip(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(CONFIG % {"src": SOURCE_DIR}, workers=1, extra_files={"testroute.lua": hmtest.connector_route("dida")})
        cls.srv.start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.cleanup()

    def setUp(self):
        self.post("/sim/dida/_reset", {})

    def post(self, path, body, headers=None):
        st, _h, data = request(self.srv.port, "POST", path, body=json.dumps(body),
                               headers=dict({"Content-Type": "application/json"}, **(headers or {})))
        self.assertEqual(st, 200, data)
        return json.loads(data)

    def op(self, op, inp, config=None):
        return self.post("/t/" + op, {"input": inp, "config": config or {}})

    def search(self, hotels=("15420", "15588", "16017")):
        r = self.op("search", dict(STAY, hotel_ids=list(hotels)))
        self.assertIsNone(r.get("error"), r)
        return r["result"]

    def rate(self, result, hotel, room, board="RO"):
        for h in result["hotels"]:
            if h["id"] == hotel:
                for rm in h["rooms"]:
                    if rm["id"] == room:
                        for rt in rm["rates"]:
                            if rt["board"]["id"] == board:
                                return rm, rt
        return None, None

    def test_search_prices_from_demo_data(self):
        res = self.search()
        self.assertEqual(sorted(h["id"] for h in res["hotels"]), ["15420", "15588", "16017"])
        # dubai.lua: dida 15420 room 301 "Studio Apartment" 84.50/night; 2027-03-10 is a Wednesday,
        # 2027-03-11 a Thursday: no weekend uplift -> 169.00 for the stay
        room, rate = self.rate(res, "15420", "301")
        self.assertEqual(room["name"], "Studio Apartment")
        self.assertEqual(rate["price"]["net"], "169.00")
        self.assertEqual(rate["price"]["currency"], "USD")
        self.assertEqual(rate["allotment"], 5)
        self.assertEqual(rate["refundable"], "full")
        # free until 2027-03-07 00:00 Beijing (= 03-06 16:00Z) minus 1 s, then the first night
        self.assertEqual(rate["cancel_fees"][0], {"until": "2027-03-06T15:59:59Z",
                                                  "fee": {"amount": "0.00", "currency": "USD"}})
        self.assertEqual(rate["cancel_fees"][1]["fee"]["amount"], "84.50")
        _, bb = self.rate(res, "15420", "301", "BB")
        self.assertEqual(bb["price"]["net"], "189.28")      # 169.00 x 1.12
        self.assertEqual(bb["refundable"], "no")

    def test_book_decrements_cancel_restores(self):
        _, rate = self.rate(self.search(), "16017", "501")
        self.assertEqual(rate["allotment"], 5)
        chk = self.op("check_avail", {"key": rate["key"], "room_id": "501", "price": rate["price"]})["result"]
        self.assertEqual(chk["status"], "available")
        order = {"key": chk["rate"]["key"], "customer_ref": "HM-T-1", "price": rate["price"]["net"],
                 "holder": {"first_name": "Ann", "last_name": "Lee", "email": "a@x.io", "phone": "1"},
                 "guests": [{"room_index": 1, "first_name": "Ann", "last_name": "Lee"}]}
        bk = self.op("book", order)["result"]
        self.assertEqual(bk["status"], "confirmed", bk)
        self.assertEqual(bk["price"]["net"], rate["price"]["net"])
        _, after = self.rate(self.search(), "16017", "501")
        self.assertEqual(after["allotment"], 4)
        # same customer_ref again: the same booking, no second room taken
        chk2 = self.op("check_avail", {"key": rate["key"], "room_id": "501"})["result"]
        again = self.op("book", dict(order, key=chk2["rate"]["key"]))["result"]
        self.assertEqual(again["supplier_ref"], bk["supplier_ref"])
        self.assertEqual(self.rate(self.search(), "16017", "501")[1]["allotment"], 4)
        q = self.op("query_order", {"customer_ref": "HM-T-1"})["result"]
        self.assertEqual((q["status"], q["supplier_ref"]), ("confirmed", bk["supplier_ref"]))
        c = self.op("cancel", {"supplier_ref": bk["supplier_ref"]})["result"]
        self.assertEqual(c["status"], "cancelled")
        self.assertEqual(c["fee"], {"amount": "0.00", "currency": "USD"})   # still inside the free window
        self.assertEqual(self.op("query_order", {"supplier_ref": bk["supplier_ref"]})["result"]["status"],
                         "cancelled")
        self.assertEqual(self.rate(self.search(), "16017", "501")[1]["allotment"], 5)
        self.assertEqual(self.op("query_order", {"supplier_ref": "999"})["result"]["status"], "not_found")

    def test_last_room_sold_out(self):
        self.post("/sim/dida/_inventory", {"hotel": "17702", "room": "601", "count": 1})
        _, rate = self.rate(self.search(["17702"]), "17702", "601")
        self.assertEqual(rate["allotment"], 1)
        bk = self.op("book", {"key": rate["key"], "customer_ref": "HM-T-2", "price": rate["price"]["net"],
                              "holder": {"first_name": "B", "last_name": "C"}})["result"]
        self.assertEqual(bk["status"], "confirmed", bk)
        chk = self.op("check_avail", {"key": rate["key"], "room_id": "601"})["result"]
        self.assertEqual(chk["status"], "sold_out")
        self.assertFalse(self.search(["17702"])["hotels"])   # {} or []: Lua cannot tell
        again = self.op("book", {"key": rate["key"], "customer_ref": "HM-T-3",
                                 "holder": {"first_name": "B", "last_name": "C"}})["result"]
        self.assertEqual(again["status"], "failed")

    def test_bad_credentials_rejected(self):
        r = self.op("search", dict(STAY, hotel_ids=["15420"]), {"license_key": "wrong"})
        self.assertEqual(r["error"]["kind"], "auth")
        # the sim's own answer, straight from the wire
        body = {"Header": {"ClientID": "DidaDemo", "LicenseKey": "nope"}, "HotelIDList": [15420],
                "CheckInDate": "2027-03-10", "CheckOutDate": "2027-03-12"}
        j = self.post("/sim/dida/api/rate/PriceSearch?$format=json", body)
        self.assertEqual(j["Error"]["Code"], "1001")
        body["Header"]["LicenseKey"] = LICENSE
        j = self.post("/sim/dida/api/rate/PriceSearch?$format=json", body,
                      {"Authorization": basic(CLIENT_ID, "other")})
        self.assertIn("Error", j)
        j = self.post("/sim/dida/api/rate/PriceSearch?$format=json", body,
                      {"Authorization": basic(CLIENT_ID, LICENSE)})
        self.assertIn("Success", j)
        # cached prices are only for 1 room / 2 adults (real Dida error 2024)
        body.update(IsRealTime={"Value": False, "RoomCount": 2})
        self.assertEqual(self.post("/sim/dida/api/rate/PriceSearch?$format=json", body)["Error"]["Code"], "2024")

    def test_faults(self):
        self.post("/sim/dida/_faults", {"throttle_rate": 1})
        r = self.op("search", dict(STAY, hotel_ids=["15420"]))
        self.assertEqual(r["error"]["kind"], "throttled")
        self.post("/sim/dida/_faults", {"garbage_rate": 1})
        self.assertEqual(self.op("search", dict(STAY, hotel_ids=["15420"]))["error"]["kind"], "bad_response")
        self.post("/sim/dida/_faults", {"error_rate": 1})
        self.assertEqual(self.op("search", dict(STAY, hotel_ids=["15420"]))["error"]["kind"], "supplier")
        self.post("/sim/dida/_faults", {"latency_ms": 250})
        r = self.op("search", dict(STAY, hotel_ids=["15420"]))
        self.assertIsNone(r.get("error"), r)
        self.assertGreaterEqual(r["elapsed"], 0.25)
        r = self.op("search", dict(STAY, hotel_ids=["15420"]), {"timeout_ms": 100})
        self.assertEqual(r["error"]["kind"], "timeout")
        self.post("/sim/dida/_faults", {})
        r = self.op("search", dict(STAY, hotel_ids=["15420"]))
        self.assertIsNone(r.get("error"), r)
        self.assertLess(r["elapsed"], 0.25)


if __name__ == "__main__":
    run_tests(globals())
