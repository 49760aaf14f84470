#!/usr/bin/env python3
"""Cached search benchmark (issue 4).

Starts build/hotelmux with the demo config over a generated 1,000-hotel world
(tests/bench/world1000.lua: every simulated supplier and the gateway see it;
the simulators run in a second hotelmux process unless --sims inprocess),
warms every (supplier, hotel) entry with the adaptive TTLs (a stay > 14 days
away: 300 s for suppliers with webhooks, 60 s without), then runs wrk with a
Zipf(s) workload of POST /api/search/hotelRates over the 1,000 hotels.
Prints, per run: searches/s, p50/p99, the cache hit ratio over the run (from
/metrics: hotelmux_search_cache_total{event="hits"|"misses"} and
hotelmux_cache_requests_total{level="answer",result="hit"}:
a search served whole from the answer level counts as one hit), supplier calls
made during it, and the server's RSS; then the medians. The machine may be
shared: read the medians, not one run.

    tests/bench/bench_cached.py [--seconds 10] [--runs 3] [--connections 64] [--workers 2] [--zipf 1.0] [--sims inprocess]
                                [--warmup 3] [--no-nginx]
With nginx installed, each run is followed by one of nginx serving the hottest
hotel's answer (the same bytes) as a static file to the same wrk script (the
same POSTs), the ceiling a cached answer can approach on this machine; the
per-run req/s ratio is printed.
"""
import argparse
import gzip
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_search import parse_wrk, post, sim_calls  # noqa: E402
from benchlib import cpu_seconds, free_port, rss_kib, run_hotelmux, start_nginx, suppliers_lua  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BINARY = os.environ.get("HM_BINARY") or os.path.join(ROOT, "build", "hotelmux")
SUPPLIERS = ["hotelbeds", "expedia", "agoda", "derbysoft", "dida"]
N = 1000

# The ceiling reference: nginx serving the hottest hotel's answer, the same
# bytes, as a static file (no auth, no limits, no cache lookup, no ages).
def start_nginx_static(tmp, workers, body):
    os.makedirs(os.path.join(tmp, "www"))
    with open(os.path.join(tmp, "www", "answer.json"), "wb") as f:
        f.write(body)
    # for --gzip: the same answer compressed once (level 1, as hotelmux does)
    with open(os.path.join(tmp, "www", "answer.json.gz"), "wb") as f:
        f.write(gzip.compress(body, compresslevel=1))
    port = free_port()
    http = """  keepalive_requests 10000000;
  server {
    listen 127.0.0.1:%d;
    # every request gets the file, POST too (the static module answers
    # POST with 405; error_page turns that into the file), so wrk runs the
    # same script against both servers and the client's work is the same
    location / {
      root %s/www; default_type application/json; gzip_static on;
      try_files /answer.json =404;
      error_page 405 =200 /answer.json;
    }
  }""" % (port, tmp)
    return start_nginx(tmp, workers, port, http), port


WRK_LUA = r"""
local N, S, BODY, TICKET = %(n)d, %(s)f, %(body)s, %(ticket)s
local reqs, cdf = {}, {}
local headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. TICKET }
if %(gzip)s then headers["Accept-Encoding"] = "gzip" end
function init(args)
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
  local sum = 0
  for r = 1, N do sum = sum + 1 / r ^ S; cdf[r] = sum end
  for r = 1, N do
    cdf[r] = cdf[r] / sum
    -- rank r -> hotel: a fixed permutation, so hot hotels are spread over the templates
    local h = (r * 7919) %% N + 1
    reqs[r] = wrk.format("POST", "/api/search/hotelRates", headers,
                         (BODY:gsub("HOTEL", string.format("HM-DXB-B%%04d", h))))
  end
end
function request()
  local u, lo, hi = math.random(), 1, N
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if cdf[mid] < u then lo = mid + 1 else hi = mid end
  end
  return reqs[lo]
end
"""


def metrics(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        m = re.match(r'hotelmux_search_cache_total\{event="([a-z_]+)"\} ([\d.e+]+)', line)
        if m:
            out[m.group(1)] = out.get(m.group(1), 0) + float(m.group(2))
        m = re.match(r'hotelmux_cache_requests_total\{level="answer",result="hit"\} ([\d.e+]+)', line)
        if m:
            out["answer_hits"] = out.get("answer_hits", 0) + float(m.group(1))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--zipf", type=float, default=1.0)
    ap.add_argument("--refresh-ahead", type=int, default=20,
                    help="refresh_ahead_per_s: background refreshes a second the node may make (demo: 20)")
    ap.add_argument("--warmup", type=int, default=3, help="seconds of unmeasured load before the runs")
    ap.add_argument("--sims", choices=("inprocess", "separate"), default="separate",
                    help="the simulated suppliers in the gateway (as in the demo) or in a second hotelmux "
                         "process, so that an expiry wave's supplier work is not done on the gateway's loops")
    ap.add_argument("--gzip", action="store_true",
                    help="gzip_level = 1 and wrk sends Accept-Encoding: gzip (nginx: gzip_static, the file "
                         "compressed once)")
    ap.add_argument("--no-nginx", dest="nginx", action="store_false",
                    help="skip the reference runs of nginx serving the same answer as a static file")
    a = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench_cached: wrk is not installed (tools/install-deps.sh)")
    present = [s for s in SUPPLIERS if os.path.exists(os.path.join(ROOT, "examples", "suppliers", s + ".lua"))
               and os.path.exists(os.path.join(ROOT, "scripts", "connectors", s + ".lua"))]
    tmp = tempfile.mkdtemp(prefix="hm-bench-cached-")
    os.makedirs(os.path.join(tmp, "world", "data"))
    shutil.copy(os.path.join(ROOT, "examples", "data", "dubai.lua"), os.path.join(tmp, "world", "data", "dubai_real.lua"))
    shutil.copy(os.path.join(ROOT, "tests", "bench", "world1000.lua"), os.path.join(tmp, "world", "data", "dubai.lua"))
    shutil.copy(os.path.join(ROOT, "examples", "demo.lua"), os.path.join(tmp, "demo_base.lua"))
    port = free_port()
    separate = a.sims == "separate"
    sim_port = free_port() if separate else port
    api = ['"%s/scripts/api/%s.lua"' % (ROOT, n) for n in ("auth", "search", "trade", "webhooks")]
    sims = ['"%s/examples/suppliers/%s.lua"' % (ROOT, s) for s in present]
    config = """
local base = require("demo_base")
base.lua_path = { %(world)s, %(root)s .. "/scripts", %(root)s .. "/examples" }
base.scripts = { %(scripts)s }
base.ledger = %(ledger)s
base.workers = %(workers)d
base.access_log = false
base.static = nil
-- the app's own limits stay on (every search still takes its tokens), set above the load
base.apps.demo.limits = { qps = 1e7, ari_qps = 2000, orders_qps = 2000, daily = 1e12 }
base.refresh_ahead_per_s = %(ra)d
base.gzip_level = %(gz)d
%(suppliers)sreturn base
"""
    common = {"root": json.dumps(ROOT), "world": json.dumps(os.path.join(tmp, "world")),
              "ledger": json.dumps(os.path.join(tmp, "ledger.sqlite")),
              "ra": a.refresh_ahead, "gz": 1 if a.gzip else 0}
    with open(os.path.join(tmp, "bench.lua"), "w") as f:
        # separate simulators: the gateway calls them there, they push webhooks here
        f.write(config % dict(common, scripts=", ".join(api + ([] if separate else sims)), workers=a.workers,
                              suppliers=suppliers_lua(present, 1, sims_at=sim_port if separate else 0)))
    with open(os.path.join(tmp, "sims.lua"), "w") as f:
        f.write(config % dict(common, scripts=", ".join(sims), workers=2,
                              ledger=json.dumps(os.path.join(tmp, "sims-ledger.sqlite")),
                              suppliers=suppliers_lua(present, 1, webhooks_to=port)))
    log = open(os.path.join(tmp, "server.log"), "wb")
    procs = []
    ng = ng_port = None
    try:
        if separate:
            procs.append(run_hotelmux(BINARY, os.path.join(tmp, "sims.lua"), sim_port, log, "simulators"))
        srv = run_hotelmux(BINARY, os.path.join(tmp, "bench.lua"), port, log, "hotelmux")
        procs.append(srv)
        ticket = post(port, "/api/auth/ticket", {"appKey": "demo", "appSecret": "demo-secret"})["data"]["ticket"]
        ci = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 30 * 86400))
        co = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 32 * 86400))
        stay = {"checkIn": ci, "checkOut": co, "currency": "USD", "roomOccupancies": [{"adultCount": 2}]}
        # warm every entry: 1,000 hotels, 50 per hotelList
        ids = ["HM-DXB-B%04d" % i for i in range(1, N + 1)]
        bad = 0
        for k in range(0, N, 50):
            # a supplier late under load (its deadline is 300 ms) is asked again:
            # the entries that arrived are cached, so a retry asks only the rest
            for _ in range(3):
                j = post(port, "/api/search/hotelList", dict(stay, hotelIds=ids[k:k + 50], pageSize=50), ticket)
                late = sum(1 for s in j["data"]["suppliers"] if s["status"] != "ok")
                if not late:
                    break
            bad += late
        if bad:
            sys.exit("bench_cached: %d supplier answers were not ok while warming" % bad)
        j = post(port, "/api/search/hotelRates", dict(stay, hotelId=ids[0]), ticket)
        ttls = sorted({r["freshness"]["ttlSeconds"] for room in j["data"]["rooms"] for r in room["rates"]})
        print("%d hotels warmed (%d suppliers: %s); stay %s..%s; entry TTLs now %s s; %d workers, "
              "wrk -t%d -c%d, Zipf s=%.2f; simulators %s"
              % (N, len(present), ",".join(present), ci, co, ttls, a.workers, a.threads, a.connections, a.zipf,
                 "in another process (2 workers; CPU us/search is the gateway's alone)" if separate
                 else "in the gateway"))
        lua = os.path.join(tmp, "zipf.lua")
        body = json.dumps(dict(stay, hotelId="HOTEL"))
        with open(lua, "w") as f:
            f.write(WRK_LUA % {"n": N, "s": a.zipf, "body": json.dumps(body), "ticket": json.dumps(ticket),
                               "gzip": "true" if a.gzip else "false"})
        # CPU us/search: the server's CPU time over the requests it answered; with
        # other load on the machine it is the steadier number (2 cores / it = the ceiling)
        if a.nginx and shutil.which("nginx"):
            hot = "HM-DXB-B%04d" % ((1 * 7919) % N + 1)
            req = urllib.request.Request("http://127.0.0.1:%d/api/search/hotelRates" % port,
                                         data=json.dumps(dict(stay, hotelId=hot)).encode(),
                                         headers={"Authorization": "Bearer " + ticket})
            answer = urllib.request.urlopen(req, timeout=10).read()
            ng, ng_port = start_nginx_static(tmp, a.workers, answer)
            subprocess.run(["wrk", "-t%d" % a.threads, "-c%d" % a.connections, "-d2s", "-s", lua,
                            "http://127.0.0.1:%d" % ng_port], capture_output=True)
            probe = urllib.request.urlopen(urllib.request.Request("http://127.0.0.1:%d/api/search/hotelRates"
                                                                  % ng_port, data=b"{}"), timeout=10).read()
            if probe != answer:
                sys.exit("bench_cached: nginx does not answer a POST with the file")
            print("reference: nginx (%d workers) serving the hottest hotel's answer (%d bytes) as a static file, "
                  "alternating with the runs" % (a.workers, len(answer)))
        elif a.nginx:
            print("nginx not installed (apt-get install nginx): no static-file reference")
        # an unmeasured pass first: the first seconds pay for JIT traces and
        # each worker's first sight of every search (its memo, its verified ticket)
        subprocess.run(["wrk", "-t%d" % a.threads, "-c%d" % a.connections, "-d%ds" % a.warmup, "-s", lua,
                        "http://127.0.0.1:%d" % port], capture_output=True)
        print("%4s %12s %9s %9s %10s %14s %9s %7s %14s" % ("run", "searches/s", "p50 ms", "p99 ms", "hit ratio",
                                                           "supplier calls", "RSS MiB", "errors", "CPU us/search"))
        rows, ngrows = [], []
        for run in range(1, a.runs + 1):
            m0, c0, t0 = metrics(port), sim_calls(sim_port, present), cpu_seconds(srv.pid)
            out = subprocess.run(["wrk", "-t%d" % a.threads, "-c%d" % a.connections, "-d%ds" % a.seconds,
                                  "--latency", "-s", lua, "http://127.0.0.1:%d" % port],
                                 capture_output=True, text=True).stdout
            m1, c1, t1 = metrics(port), sim_calls(sim_port, present), cpu_seconds(srv.pid)
            rps, p50, p99, errors = parse_wrk(out)
            cpu_us = (t1 - t0) * 1e6 / max(1.0, rps * a.seconds)
            # lookups served from the cache: an answer-level hit is one (the
            # whole search); an answer-level miss goes on to the entries, whose
            # hits and misses count for it (the answer miss itself is not counted twice)
            hits = m1.get("hits", 0) - m0.get("hits", 0) + m1.get("answer_hits", 0) - m0.get("answer_hits", 0)
            misses = m1.get("misses", 0) - m0.get("misses", 0)
            ratio = hits / (hits + misses) if hits + misses else float("nan")
            rss = rss_kib(srv.pid) / 1024.0
            rows.append((rps, p50, p99, ratio, c1 - c0, rss, errors, cpu_us))
            print("%4d %12.0f %9.2f %9.2f %9.1f%% %14d %9.1f %7d %14.0f" % (run, rps, p50, p99, ratio * 100, c1 - c0,
                                                                             rss, errors, cpu_us))
            if ng:
                out = subprocess.run(["wrk", "-t%d" % a.threads, "-c%d" % a.connections, "-d%ds" % a.seconds,
                                      "--latency", "-s", lua, "http://127.0.0.1:%d" % ng_port],
                                     capture_output=True, text=True).stdout
                nrps, np50, np99, _ = parse_wrk(out)
                ngrows.append((nrps, np50, np99, rps / nrps if nrps else float("nan")))
                print("%4s %12.0f %9.2f %9.2f   nginx static file; hotelmux/nginx req/s %.2f"
                      % ("", nrps, np50, np99, ngrows[-1][3]))
        med = [statistics.median(col) for col in zip(*rows)]
        print("%4s %12.0f %9.2f %9.2f %9.1f%% %14d %9.1f %7d %14.0f" % ("med", med[0], med[1], med[2], med[3] * 100,
                                                                         med[4], med[5], med[6], med[7]))
        if ngrows:
            nmed = [statistics.median(col) for col in zip(*ngrows)]
            print("%4s %12.0f %9.2f %9.2f   nginx static file (medians); hotelmux/nginx req/s %.2f"
                  % ("med", nmed[0], nmed[1], nmed[2], nmed[3]))
    finally:
        if ng:
            ng.send_signal(signal.SIGQUIT)
            ng.wait(15)
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
