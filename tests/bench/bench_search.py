#!/usr/bin/env python3
"""Uncached search fan-out benchmark (issue 3).

Starts build/hotelmux with the demo config: the gateway and the simulated
suppliers in one process, every supplier answering after a fixed latency
(default 20 ms). wrk sends POST /api/search/hotelRates for a hotel that every
supplier sells, with check-in today (the ARI rules make such searches live:
no cache can answer them). Prints searches/s, p50/p99 at several
concurrencies, supplier calls/s (from the simulators' own counters), and the
engine's overhead: p50 minus the supplier latency, at a low concurrency where
nothing queues.

    tests/bench/bench_search.py [--latency-ms 20] [--seconds 10] [--workers 2]
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BINARY = os.environ.get("HM_BINARY") or os.path.join(ROOT, "build", "hotelmux")
SUPPLIERS = ["hotelbeds", "expedia", "agoda", "derbysoft", "dida"]
HOTEL = "HM-DXB-0004"   # sold by all five simulated suppliers


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def post(port, path, body, ticket=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    if ticket:
        req.add_header("Authorization", "Bearer " + ticket)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def sim_calls(port, present):
    total = 0
    for s in present:
        with urllib.request.urlopen("http://127.0.0.1:%d/sim/%s/_stats" % (port, s), timeout=5) as r:
            total += json.loads(r.read())["calls"]
    return total


def parse_wrk(out):
    def ms(label):
        m = re.search(r"^\s+%s\s+([\d.]+)(us|ms|s)\s*$" % label, out, re.M)
        if not m:
            return float("nan")
        v = float(m.group(1))
        return v / 1000 if m.group(2) == "us" else v * 1000 if m.group(2) == "s" else v
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, ms("50%"), ms("99%"), int(errors.group(1)) if errors else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--latency-ms", type=int, default=20)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--connections", default="4,64,256")
    a = ap.parse_args()
    for tool in ("wrk",):
        if not shutil.which(tool):
            sys.exit("bench_search: %s is not installed (tools/install-deps.sh)" % tool)
    present = [s for s in SUPPLIERS if os.path.exists(os.path.join(ROOT, "examples", "suppliers", s + ".lua"))
               and os.path.exists(os.path.join(ROOT, "scripts", "connectors", s + ".lua"))]
    tmp = tempfile.mkdtemp(prefix="hm-bench-search-")
    port = free_port()
    scripts = ['"%s/scripts/api/%s.lua"' % (ROOT, n) for n in ("auth", "search", "trade")]
    scripts += ['"%s/examples/suppliers/%s.lua"' % (ROOT, s) for s in present]
    shutil.copy(os.path.join(ROOT, "examples", "demo.lua"), os.path.join(tmp, "demo_base.lua"))
    with open(os.path.join(tmp, "bench.lua"), "w") as f:
        f.write("""
local base = require("demo_base")
base.lua_path = { %(root)s .. "/scripts", %(root)s .. "/examples" }
base.scripts = { %(scripts)s }
base.ledger = %(ledger)s
base.workers = %(workers)d
base.access_log = false
base.static = nil
local keep = { %(keep)s }
for name, s in pairs(base.suppliers) do
  if keep[name] then s.qps = 1e9; s.sim = { latency_ms = %(lat)d } else base.suppliers[name] = nil end
end
return base
""" % {"root": json.dumps(ROOT),
       "scripts": ", ".join(scripts), "ledger": json.dumps(os.path.join(tmp, "ledger.sqlite")),
       "workers": a.workers, "lat": a.latency_ms, "keep": ", ".join("%s = true" % s for s in present)})
    log = open(os.path.join(tmp, "server.log"), "wb")
    srv = subprocess.Popen([BINARY, "-c", os.path.join(tmp, "bench.lua"), "--listen", "127.0.0.1:%d" % port],
                           stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        ticket = post(port, "/api/auth/ticket", {"appKey": "demo", "appSecret": "demo-secret"})["data"]["ticket"]
        today = time.strftime("%Y-%m-%d", time.gmtime())
        tomorrow = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400))
        body = {"hotelId": HOTEL, "checkIn": today, "checkOut": tomorrow, "currency": "USD",
                "roomOccupancies": [{"adultCount": 2}]}
        j = post(port, "/api/search/hotelRates", body, ticket)
        statuses = {s["supplier"]: s["status"] for s in j["data"]["suppliers"]}
        rates = sum(len(r["rates"]) for r in j["data"]["rooms"])
        print("suppliers: %s; %d rates for %s; supplier latency %d ms; %d workers"
              % (", ".join("%s=%s" % kv for kv in sorted(statuses.items())), rates, HOTEL, a.latency_ms,
                 a.workers))
        if any(v != "ok" for v in statuses.values()):
            sys.exit("bench_search: not every supplier answered ok; fix that first")
        lua = os.path.join(tmp, "post.lua")
        with open(lua, "w") as f:
            f.write('wrk.method = "POST"\nwrk.body = %s\nwrk.headers["Content-Type"] = "application/json"\n'
                    'wrk.headers["Authorization"] = "Bearer %s"\n' % (json.dumps(json.dumps(body)), ticket))
        print("%6s %12s %14s %10s %10s %12s %16s %8s" % ("conns", "searches/s", "complete/s", "p50 ms", "p99 ms",
                                                         "overhead ms", "supplier calls/s", "errors"))
        for c in [int(x) for x in a.connections.split(",")]:
            before = sim_calls(port, present)
            t0 = time.time()
            out = subprocess.run(["wrk", "-t%d" % min(2, c), "-c%d" % c, "-d%ds" % a.seconds, "--latency", "-s", lua,
                                  "http://127.0.0.1:%d/api/search/hotelRates" % port],
                                 capture_output=True, text=True).stdout
            calls = (sim_calls(port, present) - before) / (time.time() - t0)
            rps, p50, p99, errors = parse_wrk(out)
            # complete = every supplier was called: beyond capacity, per-supplier
            # deadlines and circuit breakers turn searches into fast partial answers
            print("%6d %12.0f %14.0f %10.2f %10.2f %12.2f %16.0f %8d"
                  % (c, rps, calls / len(present), p50, p99, p50 - a.latency_ms, calls, errors))
    finally:
        srv.send_signal(signal.SIGTERM)
        srv.wait(15)
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
