#!/bin/bash
# User-space instructions per cached search, counted by callgrind: unlike
# req/s or CPU time this number does not move with what else the machine is
# doing, so it shows what a change to the cached path saved.
#
# Starts build/hotelmux (1 worker) under valgrind with the demo config,
# warms one hotelRates answer, lets wrk repeat that search for 3 s without
# counting (JIT traces), then counts instructions over 10 s of it and prints
# the total divided by the requests answered. Kernel time is not counted.
#
#   tests/bench/cached_instructions.sh            # prints "... per search N"
#   KEEP=1 tests/bench/cached_instructions.sh     # keeps the callgrind file for callgrind_annotate
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${HM_BINARY:-$ROOT/build/hotelmux}
command -v valgrind >/dev/null && command -v callgrind_control >/dev/null && command -v wrk >/dev/null || {
  echo "cached_instructions: needs valgrind (callgrind_control) and wrk" >&2; exit 1; }
TMP=$(mktemp -d /tmp/hm-cached-instr-XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cp "$ROOT/examples/demo.lua" "$TMP/demo_base.lua"
cat > "$TMP/instr.lua" <<EOF
local base = require("demo_base")
local root = "$ROOT"
base.lua_path = { root .. "/scripts", root .. "/examples" }
for i, s in ipairs(base.scripts) do base.scripts[i] = s:gsub("^%.%./", root .. "/"):gsub("^suppliers/", root .. "/examples/suppliers/") end
base.room_mapping_csv = root .. "/examples/data/rooms.csv"
base.static = nil
base.workers = 1
base.access_log = false
base.ledger = "$TMP/ledger.sqlite"
base.apps.demo.limits = { qps = 1e7, ari_qps = 2000, orders_qps = 2000, daily = 1e12 }
-- valgrind is ~50x slower: the simulated suppliers must not time out while warming
for _, s in pairs(base.suppliers) do s.timeout_ms = 5000; s.sim = { latency_ms = 1 } end
base.search_deadline_ms = 20000
return base
EOF
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$TMP/callgrind.out" \
  "$BIN" -c "$TMP/instr.lua" --listen "127.0.0.1:$PORT" > "$TMP/server.log" 2>&1 &
VG=$!
cleanup() { kill -TERM $VG 2>/dev/null || true; wait $VG 2>/dev/null || true
            if [ -z "${KEEP:-}" ]; then rm -rf "$TMP"; else echo "kept $TMP"; fi; }
trap cleanup EXIT
for _ in $(seq 1 120); do curl -s -o /dev/null "127.0.0.1:$PORT/" && break; sleep 1; done
T=$(curl -s -XPOST "127.0.0.1:$PORT/api/auth/ticket" -d '{"appKey":"demo","appSecret":"demo-secret"}' |
    python3 -c 'import sys,json; print(json.load(sys.stdin)["data"]["ticket"])')
CI=$(date -u -d '+30 days' +%F); CO=$(date -u -d '+32 days' +%F)
B='{"hotelId":"HM-DXB-0005","checkIn":"'$CI'","checkOut":"'$CO'","roomOccupancies":[{"adultCount":2}]}'
for _ in 1 2 3; do   # live, then composed from cached entries, then the stored answer
  SIZE=$(curl -s -o /dev/null -w '%{size_download}' -XPOST "127.0.0.1:$PORT/api/search/hotelRates" \
         -H "Authorization: Bearer $T" -d "$B")
done
cat > "$TMP/wrk.lua" <<EOF
wrk.method = "POST"
wrk.body = '$B'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $T"
EOF
URL="http://127.0.0.1:$PORT/api/search/hotelRates"
wrk -t1 -c4 -d3s -s "$TMP/wrk.lua" "$URL" > /dev/null
callgrind_control -i on $VG > /dev/null 2>&1
wrk -t1 -c4 -d10s -s "$TMP/wrk.lua" "$URL" > "$TMP/wrk.out"
callgrind_control -i off $VG > /dev/null 2>&1
callgrind_control -d $VG > /dev/null 2>&1
REQS=$(awk '/requests in/ {print $1}' "$TMP/wrk.out")
if grep -q Non-2xx "$TMP/wrk.out"; then echo "cached_instructions: some answers were not 2xx" >&2; exit 1; fi
TOTAL=$(callgrind_annotate "$(ls -S "$TMP"/callgrind.out* | head -1)" 2>/dev/null |
        awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}')
echo "cached hotelRates, $SIZE-byte answer: $REQS searches, $TOTAL instructions, per search $((TOTAL / REQS))"
