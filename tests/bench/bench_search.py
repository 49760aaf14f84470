#!/usr/bin/env python3
"""Uncached search fan-out benchmark (issue 3).

Starts build/hotelmux with the demo config and the simulated suppliers, every
supplier answering after a fixed latency (default 20 ms). By default the
simulators run in a second hotelmux process (--sims separate, --sim-workers)
on the same machine, so the CPU each side takes can be told apart; --sims
inprocess serves them from the gateway itself, like the demo. wrk sends
POST /api/search/hotelRates for a hotel that every supplier sells, with
check-in today, and the gateway's search cache off (search_cache = false):
check-in today is live by the ARI rules only from 3 h before the hotel's
check-in time (05:00 UTC for the demo's Dubai hotels); before that the search
cache answered and the bench measured cache hits. For each concurrency it prints searches/s, p50/p99, complete
searches/s (every supplier called), supplier calls/s (the simulators' own
counters), the engine's overhead (p50 minus the p50 of one plain HTTP call to
a simulator route that only waits the supplier latency: meaningful where
nothing queues, c=1) and the CPU time per search of the gateway and of the
simulators.

    tests/bench/bench_search.py [--latency-ms 20] [--seconds 10] [--workers 2]
                                [--connections 1,4,64,256] [--sims separate|inprocess]
                                [--perf FILE]   (perf record the gateway during the last run)
"""
import argparse
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

from benchlib import cpu_seconds, free_port, run_hotelmux, suppliers_lua, wrk_ms

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BINARY = os.environ.get("HM_BINARY") or os.path.join(ROOT, "build", "hotelmux")
SUPPLIERS = ["hotelbeds", "expedia", "agoda", "derbysoft", "dida"]
HOTEL = "HM-DXB-0004"   # sold by all five simulated suppliers


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


def outcomes(port):
    """The gateway's supplier calls by outcome (hotelmux_supplier_requests_total)."""
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        text = r.read().decode()
    out = {}
    for m in re.finditer(r'^hotelmux_supplier_requests_total\{[^}]*outcome="([a-z_]+)"\} ([\d.e+]+)$', text, re.M):
        out[m.group(1)] = out.get(m.group(1), 0) + float(m.group(2))
    return out


def server_timing(port, body, ticket, n):
    """n sequential searches on one keep-alive connection: the p50 of the
    gateway's own Server-Timing (total minus the upstream span: first supplier
    call to last answer) and of the client's total minus that span."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    own, beyond = [], []
    data = json.dumps(body)
    for _ in range(n):
        t0 = time.monotonic()
        conn.request("POST", "/api/search/hotelRates", body=data,
                     headers={"Content-Type": "application/json", "Authorization": "Bearer " + ticket})
        r = conn.getresponse()
        r.read()
        total = (time.monotonic() - t0) * 1000
        m = re.match(r"upstream;dur=([\d.]+), gateway;dur=([\d.]+)", r.getheader("Server-Timing") or "")
        if m:
            own.append(float(m.group(2)))
            beyond.append(total - float(m.group(1)))
    conn.close()
    if not own:
        return None
    own.sort()
    beyond.sort()
    return own[len(own) // 2], own[len(own) * 9 // 10], beyond[len(beyond) // 2]


def parse_wrk(out):
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, wrk_ms(out, "50%"), wrk_ms(out, "99%"), int(errors.group(1)) if errors else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--latency-ms", type=int, default=20)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--connections", default="1,4,64,256")
    ap.add_argument("--sims", choices=("separate", "inprocess"), default="separate")
    ap.add_argument("--sim-workers", type=int, default=2)
    ap.add_argument("--perf", help="perf record the gateway during the last run into this file")
    a = ap.parse_args()
    for tool in ("wrk",):
        if not shutil.which(tool):
            sys.exit("bench_search: %s is not installed (tools/install-deps.sh)" % tool)
    present = [s for s in SUPPLIERS if os.path.exists(os.path.join(ROOT, "examples", "suppliers", s + ".lua"))
               and os.path.exists(os.path.join(ROOT, "scripts", "connectors", s + ".lua"))]
    tmp = tempfile.mkdtemp(prefix="hm-bench-search-")
    port, sim_port = free_port(), free_port()
    api = ['"%s/scripts/api/%s.lua"' % (ROOT, n) for n in ("auth", "search", "trade")]
    sims = ['"%s/examples/suppliers/%s.lua"' % (ROOT, s) for s in present]
    shutil.copy(os.path.join(ROOT, "examples", "demo.lua"), os.path.join(tmp, "demo_base.lua"))
    config = """
local base = require("demo_base")
base.lua_path = { %(root)s .. "/scripts", %(root)s .. "/examples" }
base.scripts = { %(scripts)s }
base.ledger = %(ledger)s
base.workers = %(workers)d
base.access_log = false
base.static = nil
-- every search live (search.lua takes the same path as near check-in)
base.search_cache = false
-- the baseline: one HTTP call to a "supplier" that only waits its latency
base.routes = { ["GET /bench/sleep"] = function() hm.sleep(%(lat)d / 1000) return "" end }
%(suppliers)s
return base
"""
    common = {"root": json.dumps(ROOT), "ledger": json.dumps(os.path.join(tmp, "ledger.sqlite")),
              "lat": a.latency_ms}
    separate = a.sims == "separate"
    with open(os.path.join(tmp, "bench.lua"), "w") as f:
        f.write(config % dict(common, scripts=", ".join(api + ([] if separate else sims)), workers=a.workers,
                              suppliers=suppliers_lua(present, a.latency_ms, sims_at=sim_port if separate else 0)))
    with open(os.path.join(tmp, "sims.lua"), "w") as f:
        f.write(config % dict(common, scripts=", ".join(sims), workers=a.sim_workers,
                              suppliers=suppliers_lua(present, a.latency_ms, webhooks_to=port)))
    log = open(os.path.join(tmp, "server.log"), "wb")
    procs = []
    if separate:
        procs.append(run_hotelmux(BINARY, os.path.join(tmp, "sims.lua"), sim_port, log, "bench_search"))
    try:
        srv = run_hotelmux(BINARY, os.path.join(tmp, "bench.lua"), port, log, "bench_search")
        procs.append(srv)
        sim_pid = procs[0].pid if separate else None
        ticket = post(port, "/api/auth/ticket", {"appKey": "demo", "appSecret": "demo-secret"})["data"]["ticket"]
        today = time.strftime("%Y-%m-%d", time.gmtime())
        tomorrow = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400))
        body = {"hotelId": HOTEL, "checkIn": today, "checkOut": tomorrow, "currency": "USD",
                "roomOccupancies": [{"adultCount": 2}]}
        j = post(port, "/api/search/hotelRates", body, ticket)
        statuses = {s["supplier"]: s["status"] for s in j["data"]["suppliers"]}
        rates = sum(len(r["rates"]) for r in j["data"]["rooms"])
        print("suppliers: %s; %d rates for %s; supplier latency %d ms; gateway %d workers; simulators %s"
              % (", ".join("%s=%s" % kv for kv in sorted(statuses.items())), rates, HOTEL, a.latency_ms,
                 a.workers, "in the gateway" if not separate else "in another process, %d workers" % a.sim_workers))
        if any(v != "ok" for v in statuses.values()):
            sys.exit("bench_search: not every supplier answered ok; fix that first")
        lua = os.path.join(tmp, "post.lua")
        with open(lua, "w") as f:
            f.write('wrk.method = "POST"\nwrk.body = %s\nwrk.headers["Content-Type"] = "application/json"\n'
                    'wrk.headers["Authorization"] = "Bearer %s"\n' % (json.dumps(json.dumps(body)), ticket))
        sim_port_ = sim_port if separate else port
        out = subprocess.run(["wrk", "-t1", "-c1", "-d3s", "--latency", "http://127.0.0.1:%d/bench/sleep" % sim_port_],
                             capture_output=True, text=True).stdout
        base_p50 = parse_wrk(out)[1]
        print("one supplier call that only waits %d ms: p50 %.2f ms (the overhead below is search p50 minus this)"
              % (a.latency_ms, base_p50))
        for _ in range(2):   # warm the JIT on both workers
            subprocess.run(["wrk", "-t1", "-c2", "-d3s", "-s", lua, "http://127.0.0.1:%d/api/search/hotelRates" % port],
                           capture_output=True)
        st = server_timing(port, body, ticket, 300)
        if st:
            print("engine overhead, 300 sequential searches (Server-Timing): the gateway's own time p50 %.2f ms,"
                  " p90 %.2f ms; the client's total minus the supplier span p50 %.2f ms" % st)
        print("%5s %10s %10s %8s %8s %9s %14s %12s %12s %7s %8s" % (
            "conns", "searches/s", "complete/s", "p50 ms", "p99 ms", "overhead", "supplier calls/s",
            "gw CPU/search", "sim CPU/search", "errors", "calls !ok"))
        conns = [int(x) for x in a.connections.split(",")]
        for i, c in enumerate(conns):
            before = sim_calls(sim_port_, present)
            oc0 = outcomes(port)
            cpu0 = cpu_seconds(srv.pid), cpu_seconds(sim_pid) if sim_pid else 0.0
            t0 = time.time()
            wrk = subprocess.Popen(["wrk", "-t%d" % min(2, c), "-c%d" % c, "-d%ds" % a.seconds, "--latency",
                                    "-s", lua, "http://127.0.0.1:%d/api/search/hotelRates" % port],
                                   stdout=subprocess.PIPE, text=True)
            if a.perf and i == len(conns) - 1:
                time.sleep(1)
                subprocess.run(["perf", "record", "-o", a.perf, "-F", "1999", "-g", "-p", str(srv.pid), "--",
                                "sleep", str(max(1, a.seconds - 2))], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
            out = wrk.communicate()[0]
            dt = time.time() - t0
            calls = (sim_calls(sim_port_, present) - before) / dt
            rps, p50, p99, errors = parse_wrk(out)
            oc1 = outcomes(port)
            delta = {k: v - oc0.get(k, 0) for k, v in oc1.items()}
            not_ok = sum(v for k, v in delta.items() if k != "ok") / max(1, sum(delta.values()))
            gw_cpu = (cpu_seconds(srv.pid) - cpu0[0]) / dt / rps * 1e6
            sim_cpu = (cpu_seconds(sim_pid) - cpu0[1]) / dt / rps * 1e6 if sim_pid else float("nan")
            # complete = every supplier was called: beyond capacity, per-supplier
            # deadlines and circuit breakers turn searches into fast partial answers
            print("%5d %10.0f %10.0f %8.2f %8.2f %9.2f %14.0f %11.0fus %12.0fus %7d %7.1f%%"
                  % (c, rps, calls / len(present), p50, p99, p50 - base_p50, calls, gw_cpu, sim_cpu,
                     errors, 100 * not_ok))
        print("(CPU/search: CPU time the gateway / the simulators' process used per search answered;"
              " errors: non-2xx answers, e.g. 429 busy; calls !ok: supplier calls that timed out,"
              " failed or were refused)")
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
            p.wait(15)
        log.close()
        if os.environ.get("HM_KEEP_TMP"):
            print("kept", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
