#!/bin/sh
# The whole client flow against the running demo, with curl:
#   ticket -> hotelList (Dubai) -> hotelRates -> checkAvail -> book -> queryOrders -> cancel
#   examples/demo-flow.sh [http://127.0.0.1:8080]
# Needs curl and python3 (to pick fields out of the JSON answers).
set -eu
BASE=${1:-http://127.0.0.1:8080}
CI=$(date -u -d "+30 days" +%F)
CO=$(date -u -d "+32 days" +%F)
field() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }
post() { curl -sS -X POST "$BASE$1" -H "Content-Type: application/json" ${TICKET:+-H "Authorization: Bearer $TICKET"} -d "$2"; }

echo "== 1. ticket (appKey demo / appSecret demo-secret)"
TICKET=$(post /api/auth/ticket '{"appKey":"demo","appSecret":"demo-secret"}' | field 'd["data"]["ticket"]')
echo "ticket: $(echo "$TICKET" | cut -c1-24)..."

echo "== 2. hotelList: Dubai, $CI to $CO, 2 adults, cheapest first"
LIST=$(post /api/search/hotelList "{\"destinationName\":\"Dubai\",\"checkIn\":\"$CI\",\"checkOut\":\"$CO\",\"currency\":\"USD\",\"roomOccupancies\":[{\"adultCount\":2}],\"sortBy\":\"price-asc\"}")
echo "$LIST" | field '"\n".join("%-14s %-40s from %s %s" % (h["id"], h["name"]["en"], h["minPrice"]["amountText"], h["minPrice"]["currency"]) for h in d["data"]["list"])'
echo "suppliers: $(echo "$LIST" | field '", ".join("%s=%s(%sms)" % (s["supplier"], s["status"], s["latencyMs"]) for s in d["data"]["suppliers"])')"

HOTEL=HM-DXB-0004   # Atlantis, The Palm: sold by every supplier, each under its own names
echo "== 3. hotelRates for $HOTEL: every supplier's offers, grouped by room"
RATES=$(post /api/search/hotelRates "{\"hotelId\":\"$HOTEL\",\"checkIn\":\"$CI\",\"checkOut\":\"$CO\",\"currency\":\"USD\",\"roomOccupancies\":[{\"adultCount\":2}]}")
echo "$RATES" | field '"\n".join("%-28s %-10s %-36s %9s %s" % (r["roomTypeName"]["en"][:28], x["supplier"], x["originalRoomNaming"]["name"][:36], x["totalRate"]["netRate"]["amountText"], x["board"]["boardId"]) for r in d["data"]["rooms"] for x in r["rates"])'
PKG=$(echo "$RATES" | field 'min((x for r in d["data"]["rooms"] for x in r["rates"]), key=lambda x: x["totalRate"]["netRate"]["amount"])["ratePkgId"]')

echo "== 4. checkAvail (always live at the supplier)"
post /api/search/checkAvail "{\"ratePkgId\":\"$PKG\"}" | field '"status %s (1 = available), code %s %s" % (d["data"]["status"] if d.get("data") else None, d["code"], d["msg"])'

REF="demo-$(date +%s)"
echo "== 5. book as $REF (idempotent on customerReferenceNo)"
post /api/trade/book "{\"customerReferenceNo\":\"$REF\",\"ratePkgId\":\"$PKG\",\"holder\":{\"firstName\":\"Ann\",\"lastName\":\"Lee\",\"email\":\"ann@example.com\",\"phone\":{\"countryCode\":\"GB\",\"countryNumber\":\"44\",\"number\":\"7700900123\"}},\"guests\":[{\"roomIndex\":1,\"firstName\":\"Ann\",\"lastName\":\"Lee\",\"age\":35}]}" \
  | field '"code %s: order status %s, supplier %s, supplierReferenceNo %s" % (d["code"], d["data"]["status"], d["data"]["order"]["supplier"], d["data"]["order"]["supplierReferenceNo"])'
echo "   the same booking again:"
post /api/trade/book "{\"customerReferenceNo\":\"$REF\",\"ratePkgId\":\"$PKG\",\"holder\":{\"firstName\":\"Ann\",\"lastName\":\"Lee\",\"email\":\"ann@example.com\",\"phone\":{\"countryCode\":\"GB\",\"countryNumber\":\"44\",\"number\":\"7700900123\"}},\"guests\":[{\"roomIndex\":1,\"firstName\":\"Ann\",\"lastName\":\"Lee\",\"age\":35}]}" \
  | field '"code %s: %s" % (d["code"], d["msg"])'

echo "== 6. queryOrders"
post /api/trade/queryOrders "{\"customerReferenceNos\":[\"$REF\"]}" | field '"\n".join("%s status %s" % (o["customerReferenceNo"], o["status"]) for o in d["data"]["orders"])'

echo "== 7. cancel"
post /api/trade/cancel "{\"customerReferenceNo\":\"$REF\"}" | field '"code %s: status %s, fee %s %s" % (d["code"], d["data"]["status"], d["data"]["serviceFee"]["amountText"], d["data"]["serviceFee"]["currency"])'
