"""Expedia Rapid connector: (a) replay contract tests on the OpenAPI examples and real
captures in $HM_SHARED/fixtures/expedia_rapid, (b) a round trip over real HTTP against
the simulated Rapid API (examples/suppliers/expedia.lua)."""
import base64
import hashlib
import json
import os
import re
import time
import unittest
import urllib.parse

import hmtest
from hmtest import SOURCE_DIR, Server, request, run_tests, shared_path

# Server() runs the binary from a temp dir: a relative HM_BINARY must be made absolute.
hmtest.BINARY = BINARY = os.path.abspath(hmtest.BINARY)

CONNECTOR = os.path.join(SOURCE_DIR, "scripts", "connectors", "expedia.lua")
DEMO = os.path.join(SOURCE_DIR, "examples", "demo.lua")
FIX = shared_path("fixtures", "expedia_rapid")
# demo.lua's expedia block
API_KEY, SECRET = "ex-demo-key", "ex-demo-secret"


def fx(name):
    return os.path.join(FIX, name)


def replay(op, response_path=None, query=None, response_text=None):
    """Run `hotelmux replay` on a fixture file (or on response_text)."""
    return hmtest.replay("expedia", op, response_path=response_path, response_text=response_text, inp=query)


def rates_of(result):
    """[(hotel id, room id, rate)] in answer order."""
    out = []
    for h in result["hotels"]:
        for r in h["rooms"]:
            for rt in r["rates"]:
                out.append((h["id"], r["id"], rt))
    return out


def taxes(price):
    """{(type, included, pay_at_hotel): (amount, currency)}"""
    return {(t["type"], t["included"], t["pay_at_hotel"]): (t["amount"], t["currency"]) for t in price.get("taxes", [])}


def key_of(rate):
    k = rate["key"]
    return json.loads(base64.urlsafe_b64decode(k + "=" * (-len(k) % 4)))


def check_auth_header(tc, req, key=API_KEY, secret=SECRET):
    """Authorization: EAN APIKey=..,Signature=sha512hex(key+secret+ts),timestamp=.. (SUPPLIERS.md 2.1)."""
    h = req["headers"]["Authorization"]
    m = re.match(r"^EAN APIKey=([^,]+),Signature=([0-9a-f]{128}),timestamp=(\d+)$", h)
    tc.assertIsNotNone(m, h)
    tc.assertEqual(m.group(1), key)
    ts = int(m.group(3))
    tc.assertLess(abs(time.time() - ts), 120)
    tc.assertEqual(m.group(2), hashlib.sha512((key + secret + m.group(3)).encode()).hexdigest())
    tc.assertEqual(req["headers"]["Accept"], "application/json")
    tc.assertIn("Customer-Ip", req["headers"])


STAY_SMF = {"hotel_ids": ["1723385"], "check_in": "2026-08-13", "check_out": "2026-08-18", "nights": 5,
            "rooms": [{"adults": 1}], "currency": "AED", "residency": "AE"}


# ---- (a) replay contract tests ---------------------------------------------------

@unittest.skipUnless(FIX, "fixtures/expedia_rapid not found under HM_SHARED")
class Replay(unittest.TestCase):

    def smf_search(self):
        out = replay("search", fx("smf_property_availability_GET.mockserver.json"), STAY_SMF)
        self.assertIn("result", out, out)
        return out

    # availability_200.json: the OpenAPI example, one property with two occupancies "2" and "1-7,10"
    def test_availability_example(self):
        q = {"hotel_ids": ["19248"], "check_in": "2026-12-01", "check_out": "2026-12-03", "nights": 2,
             "rooms": [{"adults": 2}, {"adults": 1, "children": [7, 10]}], "currency": "USD", "residency": "GB"}
        out = replay("search", fx("availability_200.json"), q)
        rates = rates_of(out["result"])
        self.assertEqual(len(rates), 1)                 # one room "123abc", one rate "333abc", one bed group "12345"
        hid, rid, rt = rates[0]
        self.assertEqual((hid, rid, rt["rate_id"], rt["bed_group"]), ("19248", "123abc", "333abc", "12345"))
        p = rt["price"]
        # totals.inclusive.billable_currency 702.00 CAD for "2" + 702.00 CAD for "1-7,10"
        self.assertEqual((p["net"], p["currency"]), ("1404.00", "CAD"))
        t = taxes(p)
        # nightly tax_and_service_fee 37.00 x 2 nights x 2 occupancies (included in inclusive)
        self.assertEqual(t[("VAT", True, False)], ("148.00", "CAD"))
        # fees{} (collected at the property): 5.00 CAD each, per occupancy
        self.assertEqual(t[("CITY_TAX", False, True)], ("10.00", "CAD"))     # mandatory_tax
        self.assertEqual(len([x for x in p["taxes"] if x["pay_at_hotel"]]), 3)  # + mandatory_fee, resort_fee
        self.assertEqual(rt["nightly"], ["692.00", "692.00"])               # (309 + 37) x 2 rooms per night
        self.assertEqual(rt["allotment"], 12)                               # available_rooms
        self.assertEqual(rt["refundable"], "partial")                       # current_refundability partially_refundable
        self.assertEqual(rt["board"]["id"], "RO")                           # amenity "Free Wireless Internet" only
        # cancel_penalties [{start=end=2018-02-12T11:59:00.000-08:00, amount 10.00 USD}]
        self.assertEqual(rt["cancel_fees"], [
            {"until": "2018-02-12T19:59:00Z", "fee": {"amount": "0.00", "currency": "CAD"}},
            {"until": "2018-02-12T19:59:00Z", "fee": {"amount": "10.00", "currency": "USD"}}])
        k = key_of(rt)
        self.assertEqual(k["pc"], "/v3/properties/19248/rooms/abc123/rates/abc123?token=MY5S3j36cOcL")
        # the request: GET with repeated occupancy, property_id; signed
        req = out["requests"][0]
        self.assertEqual(req["method"], "GET")
        u = urllib.parse.urlsplit(req["url"])
        self.assertTrue(u.path.endswith("/v3/properties/availability"), u.path)   # base_url + path
        qs = urllib.parse.parse_qs(u.query)
        self.assertEqual(qs["occupancy"], ["2", "1-7,10"])
        self.assertEqual(qs["property_id"], ["19248"])
        self.assertEqual((qs["checkin"], qs["checkout"], qs["currency"]), (["2026-12-01"], ["2026-12-03"], ["USD"]))
        check_auth_header(self, req)
        # one room of occupancy "2" only: 702.00
        q1 = dict(q, rooms=[{"adults": 2}])
        self.assertEqual(rates_of(replay("search", fx("availability_200.json"), q1)["result"])[0][2]["price"]["net"],
                         "702.00")

    # smf_property_availability_GET: real capture, property 1723385, 5 nights, occupancy "1", AED
    def test_availability_capture(self):
        rates = rates_of(self.smf_search()["result"])
        # Deluxe Room 201836237: rates 209336313, 209336316 x bed groups 37316, 37341; Suite 201841057:
        # rates 209336317, 209336314 x bed group 37316 -> 6 unified rates
        got = sorted((r, rt["rate_id"], rt["bed_group"], rt["allotment"]) for _h, r, rt in rates)
        self.assertEqual(got, [("201836237", "209336313", "37316", 15), ("201836237", "209336313", "37341", 15),
                               ("201836237", "209336316", "37316", 15), ("201836237", "209336316", "37341", 15),
                               ("201841057", "209336314", "37316", 2), ("201841057", "209336317", "37316", 2)])
        by_id = {(rt["rate_id"], rt["bed_group"]): rt for _h, _r, rt in rates}
        self.assertEqual(len(by_id), 6)
        expect = {  # rate id: (inclusive, tax_and_service_fee x5, property_fee stay, board)
            "209336313": ("526.75", "53.75", "43.00", "RO"),
            "209336316": ("710.50", "72.50", "58.00", "BB"),
            "209336317": ("2664.40", "271.90", "217.50", "BB"),
            "209336314": ("2480.65", "253.15", "202.50", "RO"),
        }
        for (rid, _bg), rt in by_id.items():
            net, vat, pfee, board = expect[rid]
            p = rt["price"]
            self.assertEqual((p["net"], p["currency"]), (net, "AED"))
            t = taxes(p)
            self.assertEqual(t[("VAT", True, False)], (vat, "AED"))
            self.assertEqual(t[("SERVICE_CHARGE", True, False)], (pfee, "AED"))
            self.assertEqual(t[("CITY_TAX", False, True)], ("50.00", "AED"))   # fees.mandatory_tax
            self.assertEqual(rt["board"]["id"], board)
            self.assertEqual(rt["refundable"], "no")                          # refundable false
            # 100% from 2026-06-04T22:28:30.410+04:00 to 2026-08-13T23:59:00.000+04:00
            self.assertEqual(rt["cancel_fees"], [{"until": "2026-08-13T19:59:00Z",
                                                  "fee": {"amount": net, "currency": "AED"}}])
        self.assertEqual(by_id[("209336313", "37316")]["nightly"], ["96.75"] * 5)  # 86.00 + 10.75
        self.assertEqual(by_id[("209336313", "37341")]["comment"], "2 Twin Beds")

    def check_key(self):
        out = self.smf_search()
        rt = [rt for _h, _r, rt in rates_of(out["result"]) if rt["rate_id"] == "209336313" and rt["bed_group"] == "37316"][0]
        return rt

    def test_price_check_capture(self):
        rt = self.check_key()
        out = replay("check_avail", fx("smf_price_check_GET.mockserver.json"),
                     {"key": rt["key"], "price": {"net": "526.75", "currency": "AED"}, "rooms": [{"adults": 1}]})
        r = out["result"]
        self.assertEqual(r["status"], "available")
        self.assertEqual((r["hotel"]["id"], r["room"]["id"], r["room"]["name"]), ("1723385", "201836237", "Deluxe Room"))
        self.assertEqual((r["rate"]["price"]["net"], r["rate"]["price"]["currency"]), ("526.75", "AED"))
        self.assertEqual(taxes(r["rate"]["price"])[("CITY_TAX", False, True)], ("50.00", "AED"))
        # book link from links.book.href
        self.assertTrue(key_of(r["rate"])["bk"].startswith("/v3/itineraries?token=QldfCGlcUA4FVFBaBwACVg9D"))
        req = out["requests"][0]
        self.assertEqual(req["method"], "GET")
        # the bed group's price_check href, verbatim (token and all)
        self.assertTrue(req["url"].endswith("/v3/properties/1723385/rooms/201836237/rates/209336313?token="
                                            "F~OjogZCQ0NhkyAQ9PYWUCZ3kgD2gCCVAPS1YBFAQHITJUAVQFGAlcTgVcc2d1I3dkHVQAAFAMVFUBFFACBwUbBgVXBh5UCwgCGgcEVAEGWVdcB1ABDD5BUQsGAwYNXlcVAAZTBBpVUgEJGQYDVl0fB1tUBAQGVg9QAQcDVDJQA1wPDwZBNAAAVAdCZ1K2YDNyaySzMGELUQnzNGQBA1VSBK80PlRGcQ1BVw1URnZWUJBgH2oZQEIbE1QWWEd3QF9VcVIGFUgUSlEbURsJFiBAVVUSThdJRFINQF1EHRAOVE440DNmV1H6YGUNUQcaUgSDOTXQZTPDNWK8ZDT1ZDb-OmTENjXJMBECBgUCUgNYXBgAAlBbSAMBXAYfXFdUBxVdVQBVBQ1QUVZUVwCLNnsBAFMHHgdSSAMNMgdeAwMBXwcGSgwFVlIJA1cEUGKOYzYTUetkYyCJB7o="),
                        req["url"])
        check_auth_header(self, req)
        # same answer, but we expected another total: price_changed
        out2 = replay("check_avail", fx("smf_price_check_GET.mockserver.json"),
                      {"key": rt["key"], "price": "500.00", "rooms": [{"adults": 1}]})
        self.assertEqual(out2["result"]["status"], "price_changed")

    def test_price_check_examples(self):
        rt = self.check_key()
        # price_check_200_matched.json: status available, inclusive 346.00 CAD (309.00 + 37.00), mandatory_fee 5.00
        r = replay("check_avail", fx("price_check_200_matched.json"), {"key": rt["key"]})["result"]
        self.assertEqual(r["status"], "available")
        self.assertEqual((r["rate"]["price"]["net"], r["rate"]["price"]["currency"]), ("346.00", "CAD"))
        t = taxes(r["rate"]["price"])
        self.assertEqual(t[("VAT", True, False)], ("37.00", "CAD"))
        self.assertEqual(t[("OTHER", False, True)], ("5.00", "CAD"))
        self.assertEqual(key_of(r["rate"])["bk"], "/v3/itineraries?token=MY5S3j36cOcL")
        # price_check_200_price_changed.json: status price_changed, inclusive 215.00 USD
        r = replay("check_avail", fx("price_check_200_price_changed.json"), {"key": rt["key"]})["result"]
        self.assertEqual(r["status"], "price_changed")
        self.assertEqual((r["rate"]["price"]["net"], r["rate"]["price"]["currency"]), ("215.00", "USD"))
        self.assertEqual(taxes(r["rate"]["price"])[("OTHER", False, True)], ("8.50", "EUR"))
        self.assertTrue(key_of(r["rate"])["bk"].startswith("/v3/itineraries?token=MY5S3j36cOcLfLBZ"))
        # price_check_200_sold_out.json: status sold_out, no rate
        r = replay("check_avail", fx("price_check_200_sold_out.json"), {"key": rt["key"]})["result"]
        self.assertEqual(r["status"], "sold_out")
        self.assertNotIn("rate", r)

    def book_input(self):
        rt = self.check_key()
        r = replay("check_avail", fx("smf_price_check_GET.mockserver.json"),
                   {"key": rt["key"], "rooms": [{"adults": 1}]})["result"]
        return {"key": r["rate"]["key"], "customer_ref": "HM-EX-0001", "price": "526.75", "rooms": [{"adults": 1}],
                "holder": {"first_name": "Amal", "last_name": "Haddad", "email": "a@example.com", "phone": "+971 4 5550101"},
                "guests": [{"room_index": 1, "first_name": "Amal", "last_name": "Haddad"}], "remarks": "late arrival"}

    def test_create_itinerary_capture(self):
        out = replay("book", fx("smf_create_itinerary_POST.mockserver.json"), self.book_input())
        r = out["result"]
        self.assertEqual((r["status"], r["supplier_ref"]), ("confirmed", "7556800480832"))   # itinerary_id
        self.assertEqual(r["price"], {"net": "526.75", "currency": "AED"})
        self.assertEqual(len(out["requests"]), 1)
        req = out["requests"][0]
        self.assertEqual(req["method"], "POST")
        self.assertIn("/v3/itineraries?token=QldfCGlcUA4FVFBaBwACVg9D", req["url"])
        self.assertEqual(req["headers"]["Content-Type"], "application/json")
        check_auth_header(self, req)
        body = json.loads(req["body"])
        self.assertEqual(body["affiliate_reference_id"], "HM-EX-0001")
        self.assertEqual(body["rooms"], [{"given_name": "Amal", "family_name": "Haddad", "smoking": False,
                                          "special_request": "late arrival"}])
        self.assertEqual(body["phone"], {"country_code": "971", "number": "45550101"})
        self.assertIs(body["hold"], False)
        self.assertEqual(body["payments"][0]["type"], "affiliate_collect")
        # create_itinerary_201.json (OpenAPI example): itinerary_id 8999989898988
        r = replay("book", fx("create_itinerary_201.json"), self.book_input())["result"]
        self.assertEqual(r["supplier_ref"], "8999989898988")

    def test_duplicate_itinerary(self):
        # create_itinerary_400_duplicate.json: invalid_input / errors[0].type duplicate_itinerary
        e = replay("book", fx("create_itinerary_400_duplicate.json"), self.book_input())["error"]
        self.assertEqual((e["kind"], e["code"]), ("duplicate", "duplicate_itinerary"))
        # the same body with the real 400 status
        with open(fx("create_itinerary_400_duplicate.json")) as f:
            body = json.load(f)
        wrapped = json.dumps({"httpResponse": {"statusCode": 400, "headers": {}, "body": body}})
        e = replay("book", query=self.book_input(), response_text=wrapped)["error"]
        self.assertEqual((e["kind"], e["status"]), ("duplicate", 400))

    def test_too_many_requests(self):
        # error_429_too_many_requests.json, raw (replay serves it as 200) and with the real 429 + Retry-After
        e = replay("search", fx("error_429_too_many_requests.json"), STAY_SMF)["error"]
        self.assertEqual((e["kind"], e["code"]), ("throttled", "too_many_requests"))
        with open(fx("error_429_too_many_requests.json")) as f:
            body = json.load(f)
        wrapped = json.dumps({"httpResponse": {"statusCode": 429, "headers": {"Retry-After": ["7"]}, "body": body}})
        e = replay("search", query=STAY_SMF, response_text=wrapped)["error"]
        self.assertEqual((e["kind"], e["status"], e["retry_after"]), ("throttled", 429, 7))

    def test_retrieve_capture(self):
        # smf_retrieve_itinerary_GET: itinerary 7556800480832, one room status "canceled"
        out = replay("query_order", fx("smf_retrieve_itinerary_GET.mockserver.json"), {"supplier_ref": "7556800480832"})
        r = out["result"]
        self.assertEqual(r["status"], "cancelled")
        self.assertEqual((r["supplier_ref"], r["customer_ref"], r["hotel_id"]),
                         ("7556800480832", "37565552795689", "1723385"))
        self.assertEqual(r["hotel_confirm_no"], "864190928244763")       # confirmation_id.expedia (no property one)
        self.assertEqual(r["price"], {"net": "526.75", "currency": "AED"})  # rate.pricing.totals.inclusive
        req = out["requests"][0]
        self.assertEqual(req["method"], "GET")
        self.assertIn("/v3/itineraries/7556800480832?email=", req["url"])
        check_auth_header(self, req)
        # cancelling an already cancelled itinerary: no DELETE, fee 0
        out = replay("cancel", fx("smf_retrieve_itinerary_GET.mockserver.json"), {"supplier_ref": "7556800480832"})
        self.assertEqual(out["result"]["status"], "cancelled")
        self.assertEqual(out["result"]["fee"], {"amount": "0.00", "currency": "AED"})
        self.assertEqual([q["method"] for q in out["requests"]], ["GET"])

    def test_retrieve_example(self):
        # retrieve_itinerary_200.json: 8999989898988, property 8150374, room booked, confirmation BEF23123AA, 368.15 USD
        r = replay("query_order", fx("retrieve_itinerary_200.json"), {"customer_ref": "4480ABC"})
        self.assertIn("affiliate_reference_id=4480ABC", r["requests"][0]["url"])
        r = r["result"]
        self.assertEqual((r["status"], r["supplier_ref"], r["hotel_id"]), ("confirmed", "8999989898988", "8150374"))
        self.assertEqual(r["hotel_confirm_no"], "BEF23123AA")
        self.assertEqual(r["price"], {"net": "368.15", "currency": "USD"})
        # cancel: DELETE on the room's links.cancel.href; penalty window ended 2018-12-12 -> fee 0
        out = replay("cancel", fx("retrieve_itinerary_200.json"), {"supplier_ref": "8999989898988"})
        self.assertEqual(out["result"]["status"], "cancelled")
        self.assertEqual(out["result"]["fee"], {"amount": "0.00", "currency": "USD"})
        self.assertEqual(out["requests"][1]["method"], "DELETE")
        self.assertTrue(out["requests"][1]["url"].endswith(
            "/v3/itineraries/8999989898988/rooms/d08572fc-82d2-4d5d-ad30-60f5be7fb53e?token=MY5S3j36cOcLfLBZjPYQ1abhfc8CqmjmFVzkk7euvWaunE57LLeDgaxm516m"))
        check_auth_header(self, out["requests"][1])

    def test_cancel_capture(self):
        # smf_cancel_room_DELETE: DELETE /v3/itineraries/7556800480832/rooms/8d2abd9a-... -> empty body
        room = "8d2abd9a-2497-4e94-b042-be536369cefb"
        out = replay("cancel", fx("smf_cancel_room_DELETE.mockserver.json"),
                     {"supplier_ref": "7556800480832", "itinerary_rooms": [room]})
        self.assertEqual(out["result"]["status"], "cancelled")
        self.assertEqual(len(out["requests"]), 1)
        req = out["requests"][0]
        self.assertEqual(req["method"], "DELETE")
        self.assertIn("/v3/itineraries/7556800480832/rooms/" + room + "?", req["url"])
        check_auth_header(self, req)
        # cancel_400_room_already_cancelled.json: already cancelled is success (idempotent cancel)
        with open(fx("cancel_400_room_already_cancelled.json")) as f:
            body = json.load(f)
        wrapped = json.dumps({"httpResponse": {"statusCode": 400, "headers": {}, "body": body}})
        out = replay("cancel", query={"supplier_ref": "7556800480832", "itinerary_rooms": [room]}, response_text=wrapped)
        self.assertEqual(out["result"]["status"], "cancelled")
        out = replay("cancel", fx("cancel_400_room_already_cancelled.json"),
                     {"supplier_ref": "7556800480832", "itinerary_rooms": [room]})
        self.assertEqual(out["result"]["status"], "cancelled")

    def test_garbage(self):
        e = replay("search", query=STAY_SMF, response_text="<html>502 Bad Gateway</html>")["error"]
        self.assertEqual(e["kind"], "bad_response")

    def test_every_fixture_is_covered(self):
        covered = {"availability_200.json", "smf_property_availability_GET.mockserver.json",
                   "smf_price_check_GET.mockserver.json", "price_check_200_matched.json",
                   "price_check_200_price_changed.json", "price_check_200_sold_out.json",
                   "smf_create_itinerary_POST.mockserver.json", "create_itinerary_201.json",
                   "create_itinerary_400_duplicate.json", "error_429_too_many_requests.json",
                   "smf_retrieve_itinerary_GET.mockserver.json", "retrieve_itinerary_200.json",
                   "smf_cancel_room_DELETE.mockserver.json", "cancel_400_room_already_cancelled.json",
                   "create_itinerary_request.json"}   # a request body: no response to replay
        present = {f for f in os.listdir(FIX) if f.endswith(".json")}
        self.assertEqual(present - covered, set())


# ---- (b) simulator round trip ----------------------------------------------------

CONFIG = '''return { listen = "127.0.0.1:0", workers = 1,
  lua_path = { "%(src)s/scripts", "%(src)s/examples", "." },
  scripts = { "%(src)s/examples/suppliers/expedia.lua", "testroute.lua" },
  suppliers = { expedia = { connector = "connectors.expedia", base_url = "/sim/expedia",
                            api_key = "ex-demo-key", secret = "ex-demo-secret", timeout_ms = 1000 } } }
'''

GOLDEN, ROVE = "1147233", "10629446"
STUDIO = "200774123"        # Golden Sands "Studio, 1 Queen Bed", 86.00 USD/night in data/dubai.lua
# 2027-03-10 (Wed) .. 03-12: two week nights, no weekend uplift
STAY = {"check_in": "2027-03-10", "check_out": "2027-03-12", "nights": 2, "rooms": [{"adults": 2}],
        "currency": "USD", "residency": "GB"}


class SimRoundTrip(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(CONFIG % {"src": SOURCE_DIR}, workers=1, extra_files={"testroute.lua": hmtest.connector_route("expedia")})
        cls.srv.start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.cleanup()

    def setUp(self):
        self.post("/sim/expedia/_reset", {})

    def post(self, path, body, headers=None):
        st, _h, data = request(self.srv.port, "POST", path, body=json.dumps(body),
                               headers=dict({"Content-Type": "application/json"}, **(headers or {})))
        self.assertEqual(st, 200, data)
        return json.loads(data)

    def op(self, op, inp, config=None, deadline_s=None):
        body = {"input": inp, "config": config or {}}
        if deadline_s:
            body["deadline_s"] = deadline_s
        return self.post("/t/" + op, body)

    def search(self, ids=(GOLDEN, ROVE), stay=STAY):
        out = self.op("search", dict(stay, hotel_ids=list(ids)))
        self.assertIn("result", out, out)
        return out["result"]

    def studio_rate(self, result, rate_suffix="1"):
        for h in result.get("hotels") or []:
            for r in h["rooms"]:
                for rt in r["rates"]:
                    if h["id"] == GOLDEN and r["id"] == STUDIO and rt["rate_id"] == STUDIO + rate_suffix:
                        return rt
        return None

    def test_search_prices_from_data(self):
        res = self.search()
        ids = sorted(h["id"] for h in res["hotels"])
        self.assertEqual(ids, [ROVE, GOLDEN] if ROVE < GOLDEN else [GOLDEN, ROVE])
        rt = self.studio_rate(res)
        # 2 x 86.00 + 12.5 % tax (2 x 10.75) + 10 % property fee (17.20) = 210.70
        self.assertEqual((rt["price"]["net"], rt["price"]["currency"]), ("210.70", "USD"))
        self.assertEqual(taxes(rt["price"])[("CITY_TAX", False, True)], ("8.16", "USD"))
        self.assertEqual(rt["allotment"], 5)
        self.assertEqual(rt["refundable"], "full")
        self.assertEqual(rt["cancel_fees"][0]["fee"]["amount"], "0.00")
        self.assertEqual(rt["cancel_fees"][1], {"until": "2027-03-10T19:59:00Z", "fee": {"amount": "96.75", "currency": "USD"}})
        nr = self.studio_rate(res, "2")
        self.assertEqual((nr["refundable"], nr["board"]["id"]), ("no", "BB"))

    def test_round_trip(self):
        rt = self.studio_rate(self.search())
        left0 = rt["allotment"]
        chk = self.op("check_avail", {"key": rt["key"], "price": rt["price"], "rooms": STAY["rooms"]})["result"]
        self.assertEqual(chk["status"], "available")
        self.assertEqual(chk["rate"]["price"]["net"], rt["price"]["net"])
        order = {"key": chk["rate"]["key"], "customer_ref": "HMT-%d" % int(time.time() * 1000), "price": rt["price"]["net"],
                 "rooms": STAY["rooms"], "holder": {"first_name": "Sara", "last_name": "Ali", "phone": "+971 50 1234567"},
                 "guests": [{"room_index": 1, "first_name": "Sara", "last_name": "Ali"}]}
        bk = self.op("book", order)
        self.assertIn("result", bk, bk)
        ref = bk["result"]["supplier_ref"]
        self.assertEqual(bk["result"]["status"], "confirmed")
        self.assertEqual(self.studio_rate(self.search())["allotment"], left0 - 1)
        # the same client reference again: Expedia's duplicate_itinerary, inventory untouched
        dup = self.op("book", order)
        self.assertEqual(dup.get("error", {}).get("kind"), "duplicate", dup)
        self.assertEqual(self.studio_rate(self.search())["allotment"], left0 - 1)
        q = self.op("query_order", {"supplier_ref": ref})["result"]
        self.assertEqual((q["status"], q["supplier_ref"], q["hotel_id"]), ("confirmed", ref, GOLDEN))
        self.assertEqual(q["price"], {"net": "210.70", "currency": "USD"})
        self.assertTrue(q["hotel_confirm_no"])
        q2 = self.op("query_order", {"customer_ref": order["customer_ref"]})["result"]
        self.assertEqual(q2["supplier_ref"], ref)
        self.assertEqual(self.op("query_order", {"customer_ref": "NOPE-123"})["result"]["status"], "not_found")
        c = self.op("cancel", {"supplier_ref": ref})["result"]
        self.assertEqual(c["status"], "cancelled")
        self.assertEqual(c["fee"]["currency"], "USD")
        self.assertEqual(self.studio_rate(self.search())["allotment"], left0)
        self.assertEqual(self.op("query_order", {"supplier_ref": ref})["result"]["status"], "cancelled")
        # cancelling again is idempotent and does not restore inventory twice
        self.assertEqual(self.op("cancel", {"supplier_ref": ref})["result"]["status"], "cancelled")
        self.assertEqual(self.studio_rate(self.search())["allotment"], left0)

    def test_last_room_sold_out(self):
        self.post("/sim/expedia/_inventory", {"hotel": GOLDEN, "room": STUDIO, "count": 1})
        rt = self.studio_rate(self.search())
        self.assertEqual(rt["allotment"], 1)
        order = {"key": rt["key"], "customer_ref": "HMT-LAST-%d" % int(time.time() * 1000), "price": rt["price"]["net"],
                 "rooms": STAY["rooms"], "holder": {"first_name": "Omar", "last_name": "Khan"}}
        bk = self.op("book", order)          # a search key: book runs the price check itself
        self.assertEqual(bk["result"]["status"], "confirmed", bk)
        self.assertEqual(self.op("check_avail", {"key": rt["key"], "rooms": STAY["rooms"]})["result"]["status"], "sold_out")
        self.assertIsNone(self.studio_rate(self.search()))
        # another room of the hotel is still sold
        res = self.search(ids=(GOLDEN,))
        self.assertEqual([r["id"] for h in res["hotels"] for r in h["rooms"]], ["200774124"])
        self.op("cancel", {"supplier_ref": bk["result"]["supplier_ref"]})
        self.assertEqual(self.studio_rate(self.search())["allotment"], 1)

    def test_bad_credentials(self):
        for cfg in ({"secret": "wrong"}, {"api_key": "other-key"}):
            e = self.op("search", dict(STAY, hotel_ids=[GOLDEN]), config=cfg)["error"]
            self.assertEqual((e["kind"], e["status"], e["code"]), ("auth", 401, "request_unauthenticated"))
        # the raw answer: 401, Expedia's error body, WWW-Authenticate
        st, h, data = request(self.srv.port, "GET", "/sim/expedia/v3/properties/availability?checkin=2027-03-10",
                              headers={"Authorization": "EAN APIKey=ex-demo-key,Signature=00,timestamp=%d" % time.time()})
        self.assertEqual(st, 401)
        self.assertEqual(json.loads(data)["type"], "request_unauthenticated")
        self.assertIsNotNone(h.get("WWW-Authenticate"))
        # right signature, clock 10 minutes off: refused; within the window: accepted
        for skew, want in ((600, 401), (60, 200)):
            ts = str(int(time.time()) - skew)
            sig = hashlib.sha512((API_KEY + SECRET + ts).encode()).hexdigest()
            st, _h, _d = request(self.srv.port, "GET",
                                 "/sim/expedia/v3/properties/availability?checkin=2027-03-10&checkout=2027-03-12"
                                 "&occupancy=2&property_id=" + GOLDEN,
                                 headers={"Authorization": "EAN APIKey=%s,Signature=%s,timestamp=%s" % (API_KEY, sig, ts)})
            self.assertEqual(st, want, skew)
        # without the EAN prefix
        ts = str(int(time.time()))
        sig = hashlib.sha512((API_KEY + SECRET + ts).encode()).hexdigest()
        st, _h, _d = request(self.srv.port, "GET", "/sim/expedia/v3/properties/availability",
                             headers={"Authorization": "APIKey=%s,Signature=%s,timestamp=%s" % (API_KEY, sig, ts)})
        self.assertEqual(st, 401)

    def faults(self, f):
        self.post("/sim/expedia/_faults", f)

    def test_throttle(self):
        self.faults({"throttle_rate": 1})
        e = self.op("search", dict(STAY, hotel_ids=[GOLDEN]))["error"]
        self.assertEqual((e["kind"], e["status"], e["retry_after"]), ("throttled", 429, 1))

    def test_garbage(self):
        self.faults({"garbage_rate": 1})
        e = self.op("search", dict(STAY, hotel_ids=[GOLDEN]))["error"]
        self.assertEqual(e["kind"], "bad_response")

    def test_error(self):
        self.faults({"error_rate": 1})
        e = self.op("search", dict(STAY, hotel_ids=[GOLDEN]))["error"]
        self.assertEqual((e["kind"], e["status"]), ("supplier", 500))

    def test_latency_and_timeout(self):
        self.faults({"latency_ms": 300})
        out = self.op("search", dict(STAY, hotel_ids=[GOLDEN]))
        self.assertIn("result", out, out)
        self.assertGreaterEqual(out["elapsed"], 0.28)
        # the same latency against a 150 ms deadline: typed timeout
        out = self.op("search", dict(STAY, hotel_ids=[GOLDEN]), deadline_s=0.15)
        self.assertEqual(out.get("error", {}).get("kind"), "timeout", out)
        self.assertLess(out["elapsed"], 0.28)


if __name__ == "__main__":
    run_tests(globals())
