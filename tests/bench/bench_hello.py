#!/usr/bin/env python3
"""Core benchmark (issue 2): a Lua route answering a small JSON body.

hotelmux (2 workers) and nginx + lua-nginx-module (2 worker processes, Debian's
libnginx-mod-http-lua) do the same work on the same machine; wrk -t1 -c64
keep-alive against each, alternating, 3 runs each, medians reported. Then the
RSS of hotelmux with 10,000 idle keep-alive connections open.

    tests/bench/bench_hello.py [--seconds 8] [--runs 3] [--workers 2]
"""
import argparse
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

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BINARY = os.environ.get("HM_BINARY") or os.path.join(ROOT, "build", "hotelmux")
NGINX_MODULES = "/usr/lib/nginx/modules"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), 0.1).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit("bench_hello: nothing listens on %d" % port)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def wrk(port, seconds):
    out = subprocess.run(["wrk", "-t1", "-c64", "-d%ds" % seconds, "--latency",
                          "http://127.0.0.1:%d/hello" % port], capture_output=True, text=True).stdout

    def ms(label):
        m = re.search(r"^\s+%s\s+([\d.]+)(us|ms|s)\s*$" % label, out, re.M)
        v = float(m.group(1))
        return v / 1000 if m.group(2) == "us" else v * 1000 if m.group(2) == "s" else v
    if re.search(r"Non-2xx|Socket errors", out):
        sys.exit("bench_hello: errors during the run:\n" + out)
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), ms("50%"), ms("99%")


def start_hotelmux(tmp, port, workers):
    cfg = os.path.join(tmp, "hello.lua")
    with open(cfg, "w") as f:
        f.write('return { workers = %d, routes = { ["GET /hello"] = function(req)\n'
                '  return { json = { hello = "world" } } end } }\n' % workers)
    log = open(os.path.join(tmp, "hotelmux.log"), "wb")
    p = subprocess.Popen([BINARY, "-c", cfg, "--listen", "127.0.0.1:%d" % port], stdout=log,
                         stderr=subprocess.STDOUT)
    wait_port(port)
    return p


def start_nginx(tmp, port, workers):
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write("""
load_module %(m)s/ndk_http_module.so;
load_module %(m)s/ngx_http_lua_module.so;
worker_processes %(w)d;
daemon off;
error_log %(t)s/nginx-error.log;
pid %(t)s/nginx.pid;
events { worker_connections 20000; }
http {
  access_log off;
  client_body_temp_path %(t)s; proxy_temp_path %(t)s; fastcgi_temp_path %(t)s;
  uwsgi_temp_path %(t)s; scgi_temp_path %(t)s;
  server {
    listen 127.0.0.1:%(p)d reuseport;
    location /hello {
      default_type application/json;
      content_by_lua_block { ngx.print(require("cjson").encode({ hello = "world" })) }
    }
  }
}
""" % {"m": NGINX_MODULES, "w": workers, "t": tmp, "p": port})
    p = subprocess.Popen(["nginx", "-p", tmp, "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return p


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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--idle", type=int, default=10000)
    a = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench_hello: wrk is not installed (tools/install-deps.sh)")
    have_nginx = shutil.which("nginx") and os.path.exists(os.path.join(NGINX_MODULES, "ngx_http_lua_module.so"))
    if not have_nginx:
        print("nginx + libnginx-mod-http-lua not installed: hotelmux alone (tools/install-deps.sh installs them)")
    tmp = tempfile.mkdtemp(prefix="hm-bench-hello-")
    hp, np_ = free_port(), free_port()
    hm = start_hotelmux(tmp, hp, a.workers)
    ng = start_nginx(tmp, np_, a.workers) if have_nginx else None
    results = {"hotelmux": [], "nginx+lua": []}
    try:
        for _ in range(a.runs):
            results["hotelmux"].append(wrk(hp, a.seconds))
            if ng:
                results["nginx+lua"].append(wrk(np_, a.seconds))
        hm_rss = rss_kib(hm.pid)
        print("wrk -t1 -c64 -d%ds, %d workers each, %d runs (median; runs alternate)" % (a.seconds, a.workers, a.runs))
        print("%-10s %12s %9s %9s   runs (req/s)" % ("server", "req/s", "p50 ms", "p99 ms"))
        for name, rs in results.items():
            if not rs:
                continue
            print("%-10s %12.0f %9.3f %9.3f   %s" % (name, statistics.median(r[0] for r in rs),
                                                   statistics.median(r[1] for r in rs),
                                                   statistics.median(r[2] for r in rs),
                                                   " ".join("%.0f" % r[0] for r in rs)))
        if ng:
            print("hotelmux / nginx+lua: %.2f" % (statistics.median(r[0] for r in results["hotelmux"]) /
                                                   statistics.median(r[0] for r in results["nginx+lua"])))
        print("hotelmux RSS after the runs: %.1f MiB" % (hm_rss / 1024))
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
