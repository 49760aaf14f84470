#!/usr/bin/env python3
"""Core benchmark: hotelmux vs nginx + lua-nginx-module on the same machine.

  hello   GET /hello -> {"hello":"world"} from a Lua handler
  fanout  GET /fan   -> 5 concurrent HTTP calls to the server's own /up over loopback, then
          {"ok":5} (hotelmux: hm.http.multi; nginx: ngx.location.capture_multi of proxy_pass
          subrequests to an upstream with keepalive 64)
  fanjson GET /fanjson -> the same 5 calls to /upjson, which answers a supplier-sized JSON body
          (2,840 bytes; a simulated supplier's answer for one hotel is 2-3.5 KB); each body is
          decoded and a 39 KB answer is encoded from them (a search's answer for one hotel is ~35 KB):
          the part of an uncached search that no connector code can avoid (hotelmux: hm.json;
          nginx: cjson)
  idle    RSS of hotelmux holding 10,000 idle keep-alive connections

Both servers run 2 workers (--workers), access logs off; wrk -t1 -c64 keep-alive against
each, alternating, --runs runs; medians reported, the ratio is the median of the per-run
ratios. Besides req/s and p50/p99 it prints the servers' CPU time and context switches
per request (all threads / processes, from /proc; voluntary = the server waited for
events, involuntary = the scheduler preempted it for another task). Without nginx + libnginx-mod-http-lua
(Debian packages `nginx` and `libnginx-mod-http-lua`) it says so and measures hotelmux alone.

    tests/bench/bench_hello.py [--seconds 8] [--runs 3] [--workers 2] [--tests hello,fanout,fanjson,idle]
"""
import argparse
import glob
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import benchlib  # noqa: E402
from benchlib import free_port, rss_kib, wrk_ms

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BINARY = os.environ.get("HM_BINARY") or os.path.join(ROOT, "build", "hotelmux")
NGINX_MODULES = "/usr/lib/nginx/modules"
TICKS = os.sysconf("SC_CLK_TCK")

HOTELMUX_CONFIG = """
return { workers = %(workers)d, log_level = "warn", routes = {
  ["GET /hello"] = function(req) return { json = { hello = "world" } } end,
  ["GET /up"] = function(req) return { json = { hotel = "H1", price = "100.00" } } end,
  ["GET /upjson"] = function(req)
    return { headers = { ["content-type"] = "application/json" }, body = [==[%(supplier_body)s]==] }
  end,
  ["GET /fanjson"] = function(req)
    local url = hm.self_url() .. "/upjson"
    local rs = hm.http.multi{ { url = url }, { url = url }, { url = url }, { url = url }, { url = url } }
    local bodies = {}
    for i, r in ipairs(rs) do
      if r.status ~= 200 then return { status = 502, json = { ok = i } } end
      bodies[i] = hm.json.decode(r.body)
    end
    local out = {}
    for _ = 1, %(repeat)d do for i = 1, 5 do out[#out + 1] = bodies[i] end end
    return { json = { code = 0, data = out } }
  end,
  ["GET /fan"] = function(req)
    local url = hm.self_url() .. "/up"
    local rs = hm.http.multi{ { url = url }, { url = url }, { url = url }, { url = url }, { url = url } }
    local ok = 0
    for _, r in ipairs(rs) do if r.status == 200 then ok = ok + 1 end end
    return { status = ok == 5 and 200 or 502, json = { ok = ok } }
  end,
} }
"""

NGINX_MODULES_LOAD = """load_module %(m)s/ndk_http_module.so;
load_module %(m)s/ngx_http_lua_module.so;"""

NGINX_HTTP = """
  lua_package_cpath "%(cpath)s;;";
  init_by_lua_block { local f = io.open("%(body_file)s"); SUPPLIER_BODY = f:read("*a"); f:close() }
  keepalive_requests 1000000;
  upstream self_up { server 127.0.0.1:%(port)d; keepalive 64; }
  server {
    listen 127.0.0.1:%(port)d reuseport backlog=4096;
    default_type application/json;
    location = /hello { content_by_lua_block { ngx.print(require("cjson").encode({ hello = "world" })) } }
    location = /up { content_by_lua_block { ngx.print(require("cjson").encode({ hotel = "H1", price = "100.00" })) } }
    location = /_up { internal; proxy_pass http://self_up/up; proxy_http_version 1.1; proxy_set_header Connection ""; }
    location = /upjson { content_by_lua_block { ngx.print(SUPPLIER_BODY) } }
    location = /_upjson { internal; proxy_pass http://self_up/upjson; proxy_http_version 1.1; proxy_set_header Connection ""; }
    location = /fanjson {
      content_by_lua_block {
        local cjson = require("cjson")
        local rs = { ngx.location.capture_multi{ {"/_upjson"}, {"/_upjson"}, {"/_upjson"}, {"/_upjson"}, {"/_upjson"} } }
        local bodies = {}
        for i, r in ipairs(rs) do
          if r.status ~= 200 then ngx.status = 502; ngx.print(cjson.encode({ ok = i })); return end
          bodies[i] = cjson.decode(r.body)
        end
        local out = {}
        for _ = 1, %(repeat)d do for i = 1, 5 do out[#out + 1] = bodies[i] end end
        ngx.print(cjson.encode({ code = 0, data = out }))
      }
    }
    location = /fan {
      content_by_lua_block {
        local rs = { ngx.location.capture_multi{ {"/_up"}, {"/_up"}, {"/_up"}, {"/_up"}, {"/_up"} } }
        local ok = 0
        for _, r in ipairs(rs) do if r.status == 200 then ok = ok + 1 end end
        if ok ~= 5 then ngx.status = 502 end
        ngx.print(require("cjson").encode({ ok = ok }))
      }
    }
  }
"""


# /fanjson's answer holds each decoded body this many times: an answer about 3x the bytes that came
# in, as a search's (one hotel: ~13 KB from five suppliers, a 35 KB answer)
REPEAT = 3


def supplier_body():
    """A supplier's answer for one hotel, shaped and sized like the simulators' (~2.7 KB of JSON:
    rooms, rates with their keys, cancellation policies and taxes)."""
    rooms = []
    for r, (code, name) in enumerate([("DBL.OV", "DOUBLE OCEAN VIEW"), ("DBL.ST", "DOUBLE STANDARD"),
                                      ("SUI.KG", "SUITE KING BED")]):
        rates = []
        for b, (board, board_name) in enumerate([("RO", "ROOM ONLY"), ("BB", "BED AND BREAKFAST")]):
            net = "%.2f" % (398 + 37 * r + 45 * b)
            rates.append({"rateKey": "20261202|20261203|W|148|87425|%s|FIT %s|%s||1~2~0||N@07" % (code, board, board),
                          "rateClass": "NRF" if b == 0 else "NOR", "net": net, "allotment": 5 - r,
                          "boardCode": board, "boardName": board_name, "rooms": 1, "adults": 2, "children": 0,
                          "cancellationPolicies": [{"amount": net, "from": "2026-12-01T23:59:00+04:00"}],
                          "taxes": {"allIncluded": False, "taxes": [{"included": False, "amount": "10.00",
                                                                    "currency": "AED", "type": "TAXESANDFEES"}]}})
        rooms.append({"code": code, "name": name, "rates": rates})
    return json.dumps({"hotel": {"code": 87425, "name": "Atlantis The Palm", "currency": "EUR", "rooms": rooms}})


def pids_of(p):
    """The server's process and its children (nginx workers)."""
    out = [p.pid]
    for f in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(f) as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == p.pid:
                out.append(int(f.split("/")[2]))
        except (OSError, IndexError, ValueError):
            pass
    return out


def usage(p):
    """(CPU seconds, voluntary, involuntary context switches) of every thread of the server."""
    cpu, vcs, ics = 0.0, 0, 0
    for pid in pids_of(p):
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            cpu += (int(fields[11]) + int(fields[12])) / TICKS
            for st in glob.glob("/proc/%d/task/*/status" % pid):
                with open(st) as f:
                    for line in f:
                        if line.startswith("voluntary_ctxt_switches"):
                            vcs += int(line.split()[1])
                        elif line.startswith("nonvoluntary_ctxt_switches"):
                            ics += int(line.split()[1])
        except OSError:
            pass
    return cpu, vcs, ics


def wrk(server, port, path, seconds):
    u0 = usage(server)
    out = subprocess.run(["wrk", "-t1", "-c64", "-d%ds" % seconds, "--latency",
                          "http://127.0.0.1:%d%s" % (port, path)], capture_output=True, text=True).stdout
    u1 = usage(server)
    if re.search(r"Non-2xx|Socket errors", out):
        sys.exit("bench_hello: errors during the run:\n" + out)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    n = float(re.search(r"(\d+) requests in", out).group(1))
    return {"rps": rps, "p50": wrk_ms(out, "50%"), "p99": wrk_ms(out, "99%"),
            "cpu_us": (u1[0] - u0[0]) * 1e6 / n, "vcs": (u1[1] - u0[1]) / n, "ics": (u1[2] - u0[2]) / n}


def start_hotelmux(tmp, port, workers):
    cfg = os.path.join(tmp, "hello.lua")
    with open(cfg, "w") as f:
        f.write(HOTELMUX_CONFIG % {"workers": workers, "supplier_body": supplier_body(), "repeat": REPEAT})
    return benchlib.run_hotelmux(BINARY, cfg, port, open(os.path.join(tmp, "hotelmux.log"), "wb"), "bench_hello")


def start_nginx(tmp, port, workers):
    cpath = sorted(set(os.path.dirname(p) for p in glob.glob("/usr/lib/*/lua/5.1/cjson.so")))
    body_file = os.path.join(tmp, "supplier_body.json")
    with open(body_file, "w") as f:
        f.write(supplier_body())
    http = NGINX_HTTP % {"port": port, "cpath": ";".join(d + "/?.so" for d in cpath), "body_file": body_file,
                         "repeat": REPEAT}
    return benchlib.start_nginx(tmp, workers, port, http, modules=NGINX_MODULES_LOAD % {"m": NGINX_MODULES},
                                conns=20000)


def idle_connections(port, pid, n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    n = min(n, hard - 100)
    before = rss_kib(pid)
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET /hello HTTP/1.1\r\nHost: bench\r\n\r\n")
        socks.append(s)
    for s in socks:
        if not s.recv(4096).startswith(b"HTTP/1.1 200"):
            sys.exit("bench_hello: an idle connection got no 200")
    time.sleep(1)
    after = rss_kib(pid)
    for s in socks:
        s.close()
    return n, before, after


def report(path, rows):
    print("\n%s: wrk -t1 -c64, median of %d runs (runs alternate)" % (path, len(rows["hotelmux"])))
    print("%-10s %10s %8s %8s %11s %15s   runs (req/s)" % ("server", "req/s", "p50 ms", "p99 ms",
                                                            "CPU us/req", "ctxsw/req v+i"))
    for name, rs in rows.items():
        if rs:
            print("%-10s %10.0f %8.3f %8.3f %11.1f %7.3f+%.3f   %s"
                  % (name, *(statistics.median(r[k] for r in rs) for k in ("rps", "p50", "p99", "cpu_us", "vcs", "ics")),
                     " ".join("%.0f" % r["rps"] for r in rs)))
    if rows["nginx+lua"]:
        ratios = [h["rps"] / n["rps"] for h, n in zip(rows["hotelmux"], rows["nginx+lua"])]
        print("hotelmux / nginx+lua req/s: %.2f (per run: %s)"
              % (statistics.median(ratios), " ".join("%.2f" % r for r in ratios)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--idle", type=int, default=10000)
    ap.add_argument("--tests", default="hello,fanout,fanjson,idle")
    a = ap.parse_args()
    tests = a.tests.split(",")
    if not shutil.which("wrk"):
        sys.exit("bench_hello: wrk is not installed (tools/install-deps.sh)")
    have_nginx = shutil.which("nginx") and os.path.exists(os.path.join(NGINX_MODULES, "ngx_http_lua_module.so"))
    if not have_nginx:
        print("nginx + lua-nginx-module not installed (apt-get install nginx libnginx-mod-http-lua): "
              "hotelmux alone")
    tmp = tempfile.mkdtemp(prefix="hm-bench-hello-")
    hp, np_ = free_port(), free_port()
    hm = start_hotelmux(tmp, hp, a.workers)
    ng = start_nginx(tmp, np_, a.workers) if have_nginx else None
    try:
        for path, test in (("/hello", "hello"), ("/fan", "fanout"), ("/fanjson", "fanjson")):
            if test not in tests:
                continue
            if path == "/fanjson":
                sizes = [len(urllib.request.urlopen("http://127.0.0.1:%d/fanjson" % p, timeout=10).read())
                         for p in ((hp, np_) if ng else (hp,))]
                print("\n/fanjson: 5 supplier bodies of %d bytes decoded, an answer of %s bytes encoded"
                      % (len(supplier_body()), " / ".join(map(str, sizes))))
            rows = {"hotelmux": [], "nginx+lua": []}
            wrk(hm, hp, path, 2)   # warm up (JIT, connection pools)
            if ng:
                wrk(ng, np_, path, 2)
            for _ in range(a.runs):
                rows["hotelmux"].append(wrk(hm, hp, path, a.seconds))
                if ng:
                    rows["nginx+lua"].append(wrk(ng, np_, path, a.seconds))
            report(path, rows)
        print("\nhotelmux RSS: %.1f MiB" % (rss_kib(hm.pid) / 1024))
        if "idle" in tests:
            n, before, after = idle_connections(hp, hm.pid, a.idle)
            print("hotelmux RSS with %d idle keep-alive connections: %.1f MiB (%.1f MiB before; %.2f KiB each)"
                  % (n, after / 1024, before / 1024, (after - before) / n))
    finally:
        for p in (hm, ng):
            if p:
                p.send_signal(signal.SIGTERM)
                p.wait(15)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
