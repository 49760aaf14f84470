#!/usr/bin/env python3
"""Soak: N minutes (default 10) of mixed load against the demo, watching the
gateway's memory and file descriptors for leaks (issue 7).

Two hotelmux processes: the gateway (examples/demo.lua's client API:
auth, search, trade, webhooks, content; SQLite ledger in a temp dir) and the
simulated suppliers (examples/suppliers/*.lua). The suppliers run apart
because the simulators keep every booking in hm.shared by design, which is
growth that is not a leak; the gateway keeps nothing per request except ledger
rows (on disk). Load (Python threads, no pacing):

  * searches (hotelList for Dubai, hotelRates) over a fixed set of 24 stays,
    so the search cache reaches its steady size within the first minute;
  * checkAvail and book (unique customerReferenceNo), cancel of earlier
    bookings, queryOrders, GET /api/content/hotel/{id};
  * webhooks: every 5 s a room is flipped sold out / available at the
    simulators, which push signed ROOM_SOLD_OUT / NEW_AVAILABILITY events to
    POST /webhooks/NAME on the gateway;
  * light supplier faults (errors, garbage, throttling, an occasional 10 s
    hang) so error and timeout paths run too;
  * SIGHUP (hot reload of every script) every 30 s.

Every 10 s the gateway's VmRSS (/proc/PID/status) and open fds
(/proc/PID/fd) are sampled; the table is printed at the end. The run fails
(exit 1) on steady growth: a least-squares line through the last 2/3 of the
samples (the first third is warm-up: caches, pools, allocator arenas) whose
slope is above the threshold AND whose rise over that window is more than the
noise allowance (see README-soak.md for why these numbers):

  RSS: slope > 1.0 MiB/min and rise > 3 MiB
  fds: slope > 0.5 /min    and rise > 4

It also fails if the gateway dies, does not stop cleanly (exit 0) or logs a
sanitizer report, or if fewer than 90 % of the requests got an HTTP answer.

    tests/bench/soak.py [--minutes 10] [--threads 4] [--workers 2] [--interval 10]
"""
import argparse
import json
import os
import random
import signal
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from hmtest import SOURCE_DIR, free_port, request  # noqa: E402
from test_api import book_body, demo_files  # noqa: E402
# SUPS: the suppliers written and switched on in demo.lua; Node: a server on a
# port chosen beforehand (the two configs name each other's port)
from test_chaos import SUPS as READY, Node, lua_list, only_ready, pkg_fields, post, stay, suppliers_config  # noqa: E402

RSS_SLOPE_MIB_MIN = 1.0
RSS_RISE_MIB = 3.0
FD_SLOPE_MIN = 0.5
FD_RISE = 4
FAULTS = {"error_rate": 0.03, "garbage_rate": 0.02, "throttle_rate": 0.02, "timeout_rate": 0.003,
          "latency_ms": 5, "jitter_ms": 20}


def gateway_config(sup_port):
    scripts = ["%s/scripts/api/%s.lua" % (SOURCE_DIR, n) for n in ("auth", "search", "trade", "webhooks", "content")
               if os.path.isfile("%s/scripts/api/%s.lua" % (SOURCE_DIR, n))]
    return """
local base = require("demo_base")
base.lua_path = { %(src)s .. "/scripts", %(src)s .. "/examples" }
base.scripts = %(scripts)s
base.ledger = "ledger.sqlite"
base.static = nil
base.access_log = false
""" % {"src": json.dumps(SOURCE_DIR), "scripts": lua_list(scripts)} + \
        only_ready('s.base_url = "http://127.0.0.1:%d/sim/" .. n' % sup_port)


def proc_sample(pid):
    rss = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return rss, len(os.listdir("/proc/%d/fd" % pid))


def fit(xs, ys):
    """Least-squares slope of ys over xs, and the fitted rise across xs."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return 0.0, 0.0
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    return slope, slope * (xs[-1] - xs[0])


class Soak:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.counts = {}
        self.booked = []
        self.seq = 0
        self.samples = []

    def count(self, kind, ok):
        with self.lock:
            c = self.counts.setdefault(kind, [0, 0])
            c[0 if ok else 1] += 1

    def start(self):
        gw_port, sup_port = free_port(), free_port()
        while sup_port == gw_port:
            sup_port = free_port()
        files = demo_files()
        self.sup = Node(suppliers_config(gw_port, probe=False), sup_port, workers=2, extra_files=files).start()
        self.gw = Node(gateway_config(sup_port), gw_port, workers=self.args.workers, extra_files=files).start()
        st, j, err = post(gw_port, "/api/auth/ticket", {"appKey": "demo", "appSecret": "demo-secret"})
        assert st == 200 and j["code"] == 0, (st, j, err)
        self.tk = j["data"]["ticket"]
        ci, co = stay(40)
        st, j, err = post(gw_port, "/api/search/hotelList",
                          {"destinationName": "Dubai", "checkIn": ci, "checkOut": co, "currency": "USD",
                           "roomOccupancies": [{"adultCount": 2}], "pageSize": 100}, self.tk)
        assert st == 200 and j["code"] == 0, (st, j, err)
        self.hotels = [h["id"] for h in j["data"]["list"]]
        self.pkgs = []           # (supplier, hotel code, room code, ratePkgId)
        seen = set()
        for h in j["data"]["list"]:
            for room in h["rooms"]:
                for r in room["rates"]:
                    sup = r["originalRoomNaming"].get("supplierName")
                    f = pkg_fields(r["ratePkgId"])
                    key = (sup, str(f["h"]), str(f["r"]))
                    if key not in seen:
                        seen.add(key)
                        self.pkgs.append(key + (r["ratePkgId"],))
        # plenty of rooms, so bookings keep succeeding for the whole run
        for sup, h, r, _p in self.pkgs:
            self.sim(sup, "_inventory", {"hotel": h, "room": r, "count": 10 ** 6})
        # one room per webhook supplier flips sold out / available (the simulator pushes the webhooks)
        self.flips = []
        for sup in ("hotelbeds", "agoda", "dida"):
            rooms = [p for p in self.pkgs if p[0] == sup]
            if len(rooms) > 1:
                self.flips.append(rooms[-1])
        self.bookable = [p for p in self.pkgs if p not in self.flips]
        for s in READY:
            self.sim(s, "_faults", FAULTS)

    def sim(self, sup, what, body):
        st, _h, data = request(self.sup.port, "POST", "/sim/%s/%s" % (sup, what), body=json.dumps(body),
                               headers={"Content-Type": "application/json"}, timeout=10)
        assert st == 200, (sup, what, st, data)

    # -- load ----------------------------------------------------------------
    def load(self, seed):
        rnd = random.Random(seed)
        port = self.gw.port
        stays = [stay(30 + d, 1 + d % 3) for d in range(24)]
        while not self.stop.is_set():
            x = rnd.random()
            if x < 0.40:
                ci, co = rnd.choice(stays)
                if rnd.random() < 0.5:
                    body = {"destinationName": "Dubai", "checkIn": ci, "checkOut": co, "currency": "USD",
                            "roomOccupancies": [{"adultCount": 2}], "pageSize": 50}
                    st, j, _e = post(port, "/api/search/hotelList", body, self.tk)
                else:
                    body = {"hotelId": rnd.choice(self.hotels), "checkIn": ci, "checkOut": co, "currency": "USD",
                            "roomOccupancies": [{"adultCount": 2}]}
                    st, j, _e = post(port, "/api/search/hotelRates", body, self.tk)
                self.count("search", st == 200 and j and j.get("code") == 0)
            elif x < 0.60:
                p = rnd.choice(self.pkgs)
                st, j, _e = post(port, "/api/search/checkAvail", {"ratePkgId": p[3]}, self.tk)
                self.count("checkAvail", st is not None)
            elif x < 0.80:
                p = rnd.choice(self.bookable)
                with self.lock:
                    self.seq += 1
                    ref = "SK%05d-%d" % (int(time.time()) % 100000, self.seq)
                st, j, _e = post(port, "/api/trade/book", book_body(ref, p[3]), self.tk)
                ok = st == 200 and j and j.get("code") == 0
                self.count("book", st is not None)
                if ok and j["data"].get("status") == 2:
                    with self.lock:
                        self.booked.append(ref)
            elif x < 0.90:
                with self.lock:
                    ref = self.booked.pop(rnd.randrange(len(self.booked))) if self.booked else None
                if ref:
                    st, j, _e = post(port, "/api/trade/cancel", {"customerReferenceNo": ref}, self.tk)
                    self.count("cancel", st is not None)
            elif x < 0.95:
                with self.lock:
                    refs = [self.booked[rnd.randrange(len(self.booked))] for _ in range(3)] if self.booked else []
                st, j, _e = post(port, "/api/trade/queryOrders", {"customerReferenceNos": refs}, self.tk)
                self.count("queryOrders", st == 200 and j and j.get("code") == 0)
            else:
                try:
                    st, _h, _d = request(port, "GET", "/api/content/hotel/" + rnd.choice(self.hotels), timeout=10)
                except Exception:      # noqa: BLE001
                    st = None
                self.count("content", st is not None)

    def chaos(self):
        """Webhooks (via the simulators) every 5 s, SIGHUP every 30 s."""
        t0 = time.monotonic()
        next_hup = 30.0
        flip = 0
        while not self.stop.wait(5.0):
            flip += 1
            for sup, h, r, _p in self.flips:
                try:
                    self.sim(sup, "_inventory", {"hotel": h, "room": r, "count": 0 if flip % 2 else 10 ** 6})
                    self.count("webhook flips", True)
                except Exception:      # noqa: BLE001
                    self.count("webhook flips", False)
            if time.monotonic() - t0 >= next_hup:
                next_hup += 30.0
                self.gw.proc.send_signal(signal.SIGHUP)
                self.count("reloads", True)

    # -- run -------------------------------------------------------------------
    def run(self):
        a = self.args
        self.start()
        threads = [threading.Thread(target=self.load, args=(i,), daemon=True) for i in range(a.threads)]
        threads.append(threading.Thread(target=self.chaos, daemon=True))
        t0 = time.monotonic()
        for t in threads:
            t.start()
        end = t0 + a.minutes * 60
        next_sample = t0
        print("%7s %10s %6s %10s %8s %8s %10s" % ("t(s)", "RSS(MiB)", "fds", "requests", "req/s", "failed",
                                                  "sup RSS"), flush=True)
        last_n, last_t = 0, t0
        problem = None
        while True:
            now = time.monotonic()
            if now >= next_sample:
                if not self.gw.alive():
                    problem = "the gateway died (rc %s)" % self.gw.proc.poll()
                    break
                rss, fds = proc_sample(self.gw.pid)
                srss, _sfds = proc_sample(self.sup.pid) if self.sup.alive() else (0, 0)
                with self.lock:
                    n = sum(c[0] + c[1] for c in self.counts.values())
                    bad = sum(c[1] for c in self.counts.values())
                rate = (n - last_n) / max(now - last_t, 1e-6)
                last_n, last_t = n, now
                self.samples.append((now - t0, rss / 1024.0, fds))
                print("%7.0f %10.1f %6d %10d %8.0f %8d %10.1f" % (now - t0, rss / 1024.0, fds, n, rate, bad,
                                                                   srss / 1024.0), flush=True)
                next_sample += a.interval
                if now >= end:
                    break
            time.sleep(min(0.5, max(0.0, next_sample - time.monotonic())))
        self.stop.set()
        for t in threads:
            t.join(30)
        return self.verdict(problem)

    def verdict(self, problem):
        print("\ncalls (answered / not):")
        for k in sorted(self.counts):
            print("  %-14s %8d / %d" % (k, self.counts[k][0], self.counts[k][1]))
        failures = []
        if problem:
            failures.append(problem)
        total = sum(c[0] + c[1] for k, c in self.counts.items() if k not in ("webhook flips", "reloads"))
        bad = sum(c[1] for k, c in self.counts.items() if k not in ("webhook flips", "reloads"))
        if total == 0 or bad > 0.10 * total:
            failures.append("%d of %d requests got no (good) answer" % (bad, total))
        pushed = 0
        for sup in sorted({f[0] for f in self.flips}):
            try:
                _st, _h, data = request(self.sup.port, "GET", "/sim/%s/_stats" % sup, timeout=5)
                pushed += int(json.loads(data.decode()).get("webhooks") or 0)
            except Exception:      # noqa: BLE001
                pass
        rejected = self.sup.log_text().count("sim webhook not accepted")
        print("  %-14s %8d / %d (pushed by the simulators / not accepted by the gateway)"
              % ("webhooks", pushed, rejected))
        if self.flips and pushed == 0:
            failures.append("no webhook was pushed")
        if rejected:
            failures.append("%d webhook deliveries not accepted (suppliers log)" % rejected)
        win = self.samples[len(self.samples) // 3:]
        if len(win) >= 3:
            xs = [s[0] / 60.0 for s in win]
            rs, rrise = fit(xs, [s[1] for s in win])
            fs, frise = fit(xs, [s[2] for s in win])
            print("\nlast 2/3 (%d samples, %.1f min): RSS slope %.3f MiB/min (fitted rise %.2f MiB), "
                  "fd slope %.3f /min (fitted rise %.1f)" % (len(win), xs[-1] - xs[0], rs, rrise, fs, frise))
            print("limits: RSS %.1f MiB/min and %.1f MiB rise; fds %.1f /min and %d rise"
                  % (RSS_SLOPE_MIB_MIN, RSS_RISE_MIB, FD_SLOPE_MIN, FD_RISE))
            if rs > RSS_SLOPE_MIB_MIN and rrise > RSS_RISE_MIB:
                failures.append("RSS grows steadily: %.3f MiB/min" % rs)
            if fs > FD_SLOPE_MIN and frise > FD_RISE:
                failures.append("open fds grow steadily: %.3f /min" % fs)
        else:
            failures.append("too few samples to judge (%d); run longer" % len(self.samples))
        for name, srv in (("gateway", self.gw), ("suppliers", self.sup)):
            try:
                srv.stop(check=True)
            except AssertionError as e:
                failures.append("%s did not stop cleanly: %s" % (name, str(e)[:2000]))
        if failures:
            print("\nSOAK FAILED:\n  " + "\n  ".join(failures))
            for srv in (self.gw, self.sup):
                srv.cleanup(keep=True)
            return 1
        print("\nSOAK PASSED")
        for srv in (self.gw, self.sup):
            srv.cleanup()
        return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--interval", type=float, default=10.0, help="seconds between samples")
    a = ap.parse_args()
    sys.exit(Soak(a).run())


if __name__ == "__main__":
    main()
