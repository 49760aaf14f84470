"""Chaos: two gateway nodes under load while suppliers fail, Redis dies, scripts
reload (some broken) and one node is kill -9'd (issue 7, "Chaos and soak").

Topology (all real processes, started here):
  * redis-server on a free port (killed and restarted during the run);
  * one "suppliers" hotelmux serving only the simulated suppliers
    (examples/suppliers/*.lua) plus a probe script that reads the simulators'
    own booking records and inventory (they keep state in hm.shared, so a
    gateway crash does not wipe them);
  * two gateway nodes (scripts/api/*.lua) sharing Redis and one SQLite ledger
    file, their suppliers' base_url pointing at the suppliers process.

While Python threads run searches, checkAvail, books (unique
customerReferenceNo), cancels and queryOrders against both nodes for ~45 s,
a chaos thread: re-rolls supplier faults (slow, timeout, garbage, throttle,
error; one "anchor" supplier always healthy), flips one room per supplier
between sold out and available, kills and restarts Redis, sends SIGHUP to
the gateways (some reloads with a broken script), and kill -9s node A and
restarts it.

Assertions:
  * every search answers HTTP 200, code 0, with at least one supplier "ok"
    (requests to node A while it is down are excused, nothing else);
  * checkAvail / book answers agree with the supplier's state at the time:
    "available" never while the room's inventory was 0 for the whole call;
    "sold out" / a refused booking only with inventory 0 or a fault injected
    at that supplier during the call; every booking the gateway confirmed
    is confirmed (or cancelled by us) at the supplier; none it failed is;
  * after the run (queryOrders on every reference reconciles what kill -9
    left Confirming) the ledger equals the suppliers' booking records:
    confirmed there <=> status 2 in the ledger, cancelled <=> 3, per
    supplier counts equal, nothing left Confirming;
  * no process crashed (exit codes, sanitizer markers in the logs).

CHAOS_SECONDS (default 45) sets the length of the load phase.
"""
import base64
import http.client
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import sys
import tempfile
import threading
import time
import traceback
import unittest

import hmtest
from hmtest import SOURCE_DIR, Server, ServerError, free_port, request, run_tests
from test_api import READY, SAMPLE, book_body, demo_files
from test_cache import Redis, sim_calls   # Redis: redis-server on a free port; kill() and start() again on it

REDIS = shutil.which("redis-server")


def _in_demo(name):
    """demo.lua configures this supplier (not commented out)."""
    with open(os.path.join(SOURCE_DIR, "examples", "demo.lua")) as f:
        return re.search(r"^\s*%s\s*=\s*\{" % re.escape(name), f.read(), re.M) is not None


# connector and simulator written, and switched on in demo.lua
SUPS = [s for s in READY if _in_demo(s)]
CHAOS_SECONDS = float(os.environ.get("CHAOS_SECONDS", "45"))
THREADS = 6
ADMIN = "change-me"          # demo.lua's admin_token
BIG = 100000                 # "plenty of rooms"
FAULT_PROFILES = [
    {"latency_ms": 300, "jitter_ms": 500},                 # slow (over the 300 ms search timeout at times)
    {"timeout_rate": 0.5},                                  # hangs 10 s, then 504
    {"garbage_rate": 0.6},                                  # HTML / truncated JSON
    {"throttle_rate": 0.7},                                 # the supplier's own 429/403/...
    {"error_rate": 0.6},                                    # 5xx
    {"latency_ms": 100, "jitter_ms": 200, "error_rate": 0.3, "garbage_rate": 0.2},
    {"jitter_ms": 2500},                                    # slow bookings: in flight for seconds
]


def now():
    return time.monotonic()


# ---------------------------------------------------------------------------
# Processes

class Node(Server):
    """A hotelmux on a port chosen beforehand (the suppliers' webhook_url and the
    gateways' base_url must be known when the configs are written), restartable
    on the same port after kill -9."""

    def __init__(self, config_text, port, **kw):
        super().__init__(config_text, **kw)
        self.fixed_port = port

    def start(self):
        self.dir = tempfile.mkdtemp(prefix="hmchaos-")
        hmtest._TEMP_DIRS.append(self.dir)
        self.config_path = os.path.join(self.dir, "config.lua")
        with open(self.config_path, "w") as f:
            f.write(self.config_text)
        for name, text in self.extra_files.items():
            with open(os.path.join(self.dir, name), "w") as f:
                f.write(text)
        self.log_path = os.path.join(self.dir, "server.log")
        self.port = self.fixed_port
        self._spawn()
        return self

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        rc = self.proc.wait()
        if self._log:
            self._log.close()
            self._log = None
        return rc

    def restart(self):
        deadline = now() + 10
        while True:
            try:
                self._spawn()
                return
            except ServerError:
                if now() > deadline or "address already in use" not in self.log_text().lower():
                    raise
                time.sleep(0.2)


# The suppliers process also loads this: the simulators' booking records
# (hm.shared "sim:NAME:cref:<client ref>" -> booking ref, "sim:NAME:bk:<ref>"
# -> record) with each supplier's own status normalised, and rooms left.
PROBE_LUA = r'''
local sim = require("suppliers.simlib")
local NAMES = %(names)s
local function status_of(name, r)
  if type(r) ~= "table" then return "pending" end
  if name == "hotelbeds" then
    local s = r.booking and r.booking.status
    return s == "CONFIRMED" and "confirmed" or s == "CANCELLED" and "cancelled" or tostring(s)
  elseif name == "expedia" then
    local s = r.rooms and r.rooms[1] and r.rooms[1].status
    return s == "booked" and "confirmed" or s == "canceled" and "cancelled" or tostring(s)
  elseif name == "agoda" then
    return r.status == "BookingConfirmed" and "confirmed" or r.status == "BookingCancelled" and "cancelled"
           or tostring(r.status)
  elseif name == "derbysoft" then
    return r.status == "Confirmed" and "confirmed" or r.status == "Cancelled" and "cancelled" or tostring(r.status)
  elseif name == "dida" then
    return r.status == 2 and "confirmed" or r.status == 3 and "cancelled" or r.status == 4 and "failed"
           or tostring(r.status)
  end
  return "unknown"
end
hm.route("GET", "/chaos/bookings", function(req)
  local out = {}
  for _, name in ipairs(NAMES) do
    local prefix = "sim:" .. name .. ":cref:"
    local list = {}
    for _, k in ipairs(hm.shared.keys(prefix, 1000000)) do
      local ref = hm.shared.get(k)
      local s = ref and hm.shared.get("sim:" .. name .. ":bk:" .. tostring(ref))
      local ok, rec = pcall(hm.json.decode, s or "null")
      list[#list + 1] = { cref = k:sub(#prefix + 1), ref = tostring(ref), status = status_of(name, ok and rec or nil) }
    end
    out[name] = list
  end
  return { json = out }
end)
hm.route("GET", "/chaos/left", function(req)
  return { json = { left = sim.left(req.args.supplier, req.args.hotel, req.args.room) } }
end)
'''

# The gateways load this from the shared temp dir; it is rewritten (sometimes
# broken) between SIGHUPs.
def extra_script(version, broken=False):
    s = 'hm.route("GET", "/chaos/version", function() return { json = { version = %s } } end)\n' % json.dumps(version)
    if broken:
        s += "this is not lua (\n"
    return s


def lua_list(items):
    return "{ " + ", ".join(json.dumps(x) for x in items) + " }"


def only_ready(assign):
    """Lua for the end of a config built on demo_base: drop the suppliers not in
    SUPS; `assign` (Lua, with `s` the supplier's table and `n` its name) for the others."""
    return """local keep = {}
for _, n in ipairs(%s) do keep[n] = true end
for n, s in pairs(base.suppliers) do
  if not keep[n] then base.suppliers[n] = nil else %s end
end
return base
""" % (lua_list(SUPS), assign)


def suppliers_config(gw_port, probe=True):
    """The simulators only (pushing webhooks to the gateway on gw_port), plus
    probe.lua (PROBE_LUA, in extra_files) when probe."""
    sims = ["%s/examples/suppliers/%s.lua" % (SOURCE_DIR, s) for s in SUPS]
    return ("""
local base = require("demo_base")
base.lua_path = { %(src)s .. "/scripts", %(src)s .. "/examples" }
base.scripts = %(scripts)s
base.ledger = nil
base.redis = nil
base.static = nil
base.access_log = false
""" + only_ready('s.webhook_url = "http://127.0.0.1:%(gw)d/webhooks/" .. n')) % \
        {"src": json.dumps(SOURCE_DIR), "scripts": lua_list(sims + (["probe.lua"] if probe else [])),
         "gw": gw_port}


def gateway_config(shared_dir, sup_port, redis_port, extra=""):
    scripts = ["%s/scripts/api/%s.lua" % (SOURCE_DIR, n) for n in ("auth", "search", "trade", "webhooks")]
    scripts.append(os.path.join(shared_dir, "extra.lua"))
    return ("""
local base = require("demo_base")
base.lua_path = { %(src)s .. "/scripts", %(src)s .. "/examples", %(shared)s }
base.scripts = %(scripts)s
base.ledger = %(ledger)s
base.redis = "127.0.0.1:%(redis)d"
base.static = nil
base.reconcile_delay_s = 0.5
base.reconcile_interval_s = 5
-- a booking's window (book timeout + margin): a supplier's "no booking" is
-- final only after it; short so the run settles quickly
base.book_timeout_ms = 4000
base.reconcile_margin_s = 2
%(extra)s
""" + only_ready('s.base_url = "http://127.0.0.1:%(sup)d/sim/" .. n')) % \
        {"src": json.dumps(SOURCE_DIR), "scripts": lua_list(scripts),
         "ledger": json.dumps(os.path.join(shared_dir, "ledger.sqlite")), "redis": redis_port, "sup": sup_port,
         "shared": json.dumps(shared_dir), "extra": extra}


# ---------------------------------------------------------------------------
# HTTP

def post(port, path, body, tk=None, timeout=25.0):
    """(http status, json or None, error string or None)."""
    h = {"Content-Type": "application/json"}
    if tk:
        h["Authorization"] = "Bearer " + tk
    try:
        st, _h, data = request(port, "POST", path, headers=h, body=json.dumps(body), timeout=timeout)
    except (OSError, http.client.HTTPException) as e:
        return None, None, repr(e)
    try:
        return st, json.loads(data.decode()), None
    except ValueError:
        return st, None, "not JSON: %r" % data[:300]


def get_json(port, path, headers=None):
    st, _h, data = request(port, "GET", path, headers=headers or {}, timeout=10)
    assert st == 200, (path, st, data[:300])
    return json.loads(data.decode())


def sim_post(port, sup, what, body):
    st, _h, data = request(port, "POST", "/sim/%s/%s" % (sup, what), body=json.dumps(body),
                           headers={"Content-Type": "application/json"}, timeout=10)
    assert st == 200, (sup, what, st, data)


def pkg_fields(pkg):
    """The (unsigned-to-us) JSON inside a ratePkgId: h = supplier hotel, r = room."""
    body = pkg.split("~", 1)[1].rsplit(".", 1)[0]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def stay(days, nights=2):
    t = time.gmtime(time.time() + days * 86400)
    t2 = time.gmtime(time.time() + (days + nights) * 86400)
    return time.strftime("%Y-%m-%d", t), time.strftime("%Y-%m-%d", t2)


# ---------------------------------------------------------------------------

@unittest.skipUnless(REDIS, "redis-server is not installed (Debian package redis-server)")
@unittest.skipUnless(len(SUPS) >= 2, "fewer than two suppliers written")
class Chaos(unittest.TestCase):
    def setUp(self):
        self.procs = []
        self.redis = None
        self.shared = tempfile.mkdtemp(prefix="hmchaos-shared-")
        self.failed = False

    def tearDown(self):
        keep = self.failed or bool(os.environ.get("HM_KEEP_TMP"))
        for p in self.procs:
            try:
                if p.alive():
                    p.stop(check=False)
            except Exception:
                pass
            p.cleanup(keep=keep)
            if keep and p.dir in hmtest._TEMP_DIRS:
                hmtest._TEMP_DIRS.remove(p.dir)      # hmtest's atexit would remove it
        if self.redis:
            self.redis.close()
        if keep:
            sys.stderr.write("test_chaos: kept %s\n" % self.shared)
        else:
            shutil.rmtree(self.shared, ignore_errors=True)

    # -- setup -----------------------------------------------------------------
    def start_all(self):
        self.redis = Redis().start()
        port_a, port_b, port_s = free_port(), free_port(), free_port()
        while len({port_a, port_b, port_s}) < 3:
            port_b, port_s = free_port(), free_port()
        with open(os.path.join(self.shared, "extra.lua"), "w") as f:
            f.write(extra_script("v1"))
        files = demo_files()
        files_s = dict(files, **{"probe.lua": PROBE_LUA % {"names": lua_list(SUPS)}})
        self.sup = Node(suppliers_config(port_b), port_s, workers=2, extra_files=files_s).start()
        self.procs.append(self.sup)
        gw = gateway_config(self.shared, port_s, self.redis.port)
        # B first: it creates the ledger schema while A is not yet there
        self.b = Node(gw, port_b, workers=2, extra_files=files).start()
        self.procs.append(self.b)
        self.a = Node(gw, port_a, workers=2, extra_files=files).start()
        self.procs.append(self.a)
        self.nodes = {"A": self.a, "B": self.b}
        st, j, err = post(port_b, "/api/auth/ticket", {"appKey": "demo", "appSecret": "demo-secret"})
        self.assertEqual((st, j and j["code"]), (200, 0), (j, err))
        self.tk = j["data"]["ticket"]

    def discover(self):
        """Plenty of rooms everywhere, then one 'main' and one 'flip' rate per supplier."""
        ci, co = stay(40)
        rooms = {s: {} for s in SUPS}
        deadline = now() + 15
        while True:        # a supplier can miss the 300 ms search timeout on a busy machine: ask again
            st, j, err = post(self.b.port, "/api/search/hotelList",
                              {"destinationName": "Dubai", "checkIn": ci, "checkOut": co, "currency": "USD",
                               "roomOccupancies": [{"adultCount": 2}], "pageSize": 100}, self.tk)
            self.assertEqual((st, j and j["code"]), (200, 0), (j, err))
            for h in j["data"]["list"]:
                for room in h["rooms"]:
                    for r in room["rates"]:
                        sup = r["originalRoomNaming"].get("supplierName")
                        if sup in rooms:
                            f = pkg_fields(r["ratePkgId"])
                            rooms[sup].setdefault((str(f["h"]), str(f["r"])), r["ratePkgId"])
            if all(len(rooms[s]) >= 2 for s in SUPS) or now() > deadline:
                break
            time.sleep(0.3)
        self.assertTrue(all(len(rooms[s]) >= 2 for s in SUPS),
                        "rooms found per supplier %r; last answer's suppliers %r"
                        % ({s: len(rooms[s]) for s in SUPS}, j["data"].get("suppliers")))
        for s in SUPS:
            for (h, r) in rooms[s]:
                sim_post(self.sup.port, s, "_inventory", {"hotel": h, "room": r, "count": BIG})
        self.rates = {}
        for s in SUPS:
            keys = sorted(rooms[s])
            _hid, code, room = SAMPLE[s]
            main = (code, room) if (code, room) in rooms[s] else keys[0]
            others = [k for k in keys if k != main]
            self.assertTrue(others, "%s: need two rooms, found %r" % (s, keys))
            self.rates[s] = {"main": (main, rooms[s][main]), "flip": (others[0], rooms[s][others[0]])}

    # -- shared state of the run ----------------------------------------------
    def init_state(self):
        self.t_start = now()
        self.lock = threading.Lock()
        self.stop_load = threading.Event()
        self.ops = []                        # every call: dict
        self.violations = []
        self.seq = 0
        self.booked = []                     # refs the gateways confirmed (candidates for cancel)
        self.cancel_sent = set()
        self.all_refs = []
        # fault intervals per supplier [(start, end)], open one in self.fault_since
        self.fault_iv = {s: [] for s in SUPS}
        self.fault_since = {s: None for s in SUPS}
        self.faults_now = {s: {} for s in SUPS}
        # flip-room inventory: [(t_from, t_to, count)] with count fixed in [t_from, t_to]
        self.inv_iv = {s: [] for s in SUPS}
        self.inv_cur = {s: (now(), BIG) for s in SUPS}
        self.inv_pending = {s: None for s in SUPS}
        # node A down windows [(t_kill, t_ready)]
        self.down = {"A": [], "B": []}
        self.events = []

    def t(self, x=None):
        return (now() if x is None else x) - self.t_start

    def event(self, what):
        with self.lock:
            self.events.append((self.t(), what))

    def violation(self, kind, op, why):
        with self.lock:
            self.violations.append((kind, why, op))

    # -- chaos actions ---------------------------------------------------------
    def set_faults(self, sup, prof):
        t0 = now()
        sim_post(self.sup.port, sup, "_faults", prof)
        t1 = now()
        with self.lock:
            self.faults_now[sup] = prof
            if prof and self.fault_since[sup] is None:
                self.fault_since[sup] = t0
            elif not prof and self.fault_since[sup] is not None:
                self.fault_iv[sup].append((self.fault_since[sup], t1))
                self.fault_since[sup] = None

    def set_flip(self, sup, count):
        (h, r), _pkg = self.rates[sup]["flip"]
        t0 = now()
        with self.lock:
            self.inv_pending[sup] = t0
        sim_post(self.sup.port, sup, "_inventory", {"hotel": h, "room": r, "count": count})
        t1 = now()
        with self.lock:
            since, old = self.inv_cur[sup]
            self.inv_iv[sup].append((since, t0, old))   # the old count held until we started the change
            self.inv_cur[sup] = (t1, count)             # the new one holds from when the change returned
            self.inv_pending[sup] = None

    def faulted(self, sup, a, b):
        """Was a fault injected at sup at any time in [a, b]?"""
        with self.lock:
            if self.fault_since[sup] is not None and self.fault_since[sup] <= b:
                return True
            return any(s <= b and e >= a for s, e in self.fault_iv[sup])

    def flip_count(self, sup, a, b):
        """The flip room's count if it held for the whole of [a, b], else None."""
        with self.lock:
            since, cur = self.inv_cur[sup]
            pending = self.inv_pending[sup]
            if since <= a and (pending is None or pending > b):
                return cur
            for s, e, c in self.inv_iv[sup]:
                if s <= a and b <= e:
                    return c
        return None

    def node_down(self, name, a, b):
        with self.lock:
            return any(s <= b and (e is None or e >= a) for s, e in self.down[name])

    def anchor_at(self, k):
        return SUPS[k % len(SUPS)]

    def chaos(self):
        """The chaos schedule; runs in its own thread for CHAOS_SECONDS."""
        rnd = random.Random(7)
        T = CHAOS_SECONDS
        phase = max(8.0, T / 3)              # the anchor (always healthy) changes every phase
        version = [1]
        extra = os.path.join(self.shared, "extra.lua")
        plan = []                            # (t, name, fn)
        t = 1.0
        while t < T - 3:
            plan.append((t, "faults", None))
            t += 2.5
        t = 1.5
        flip = 0
        while t < T - 2:
            plan.append((t, "flip", flip % 2 == 0))
            flip += 1
            t += 2.0 + rnd.random() * 1.5
        t = 2.0
        n = 0
        while t < T - 2:
            plan.append((t, "hup", n))
            n += 1
            t += 3.0
        plan += [(0.25 * T, "redis_kill", None), (0.25 * T + 4, "redis_start", None),
                 (0.45 * T, "kill_a", None), (0.45 * T + 3, "start_a", None),
                 (0.70 * T, "redis_kill", None), (0.70 * T + 3, "redis_start", None),
                 (0.20 * T, "break_script", None), (0.35 * T, "fix_script", None)]
        plan.sort(key=lambda x: x[0])
        broken = [False]
        self.broken_reloads = 0
        for at, what, arg in plan:
            delay = self.t_start + at - now()
            if delay > 0:
                time.sleep(delay)
            try:
                if what == "faults":
                    k = int(self.t() // phase)
                    protected = {self.anchor_at(k), self.anchor_at(k + 1)}
                    for s in SUPS:
                        if s in protected:
                            if self.faults_now[s]:
                                self.set_faults(s, {})
                        elif rnd.random() < 0.75:
                            self.set_faults(s, rnd.choice(FAULT_PROFILES))
                        else:
                            self.set_faults(s, {})
                    self.event("faults %s" % {s: self.faults_now[s] for s in SUPS})
                elif what == "flip":
                    for s in SUPS:
                        self.set_flip(s, 0 if arg else BIG)
                    self.event("flip rooms -> %s" % (0 if arg else BIG))
                elif what == "hup":
                    if not broken[0]:
                        version[0] += 1
                        with open(extra, "w") as f:
                            f.write(extra_script("v%d" % version[0]))
                    else:
                        self.broken_reloads += 1
                    name = "B" if arg % 2 else "A"
                    node = self.nodes[name]
                    if node.alive():
                        node.proc.send_signal(signal.SIGHUP)
                    self.event("SIGHUP %s (%s)" % (name, "broken script" if broken[0] else "v%d" % version[0]))
                elif what == "break_script":
                    broken[0] = True
                    with open(extra, "w") as f:
                        f.write(extra_script("v-broken", broken=True))
                    self.event("extra.lua broken")
                elif what == "fix_script":
                    broken[0] = False
                    version[0] += 1
                    with open(extra, "w") as f:
                        f.write(extra_script("v%d" % version[0]))
                    self.event("extra.lua fixed (v%d)" % version[0])
                elif what == "redis_kill":
                    self.redis.kill()
                    self.event("redis killed")
                elif what == "redis_start":
                    self.redis.start()
                    self.event("redis started")
                elif what == "kill_a":
                    with self.lock:
                        self.down["A"].append([now(), None])
                    rc = self.a.kill9()
                    self.event("node A kill -9 (rc %s)" % rc)
                elif what == "start_a":
                    self.a.restart()
                    with self.lock:
                        self.down["A"][-1][1] = now()
                    self.event("node A restarted")
            except Exception:
                self.chaos_error = traceback.format_exc()
                self.event("chaos action %s failed" % what)
                raise
        self.final_version = "v%d" % version[0]
        # all healthy again before the load stops
        remaining = self.t_start + T - now()
        if remaining > 0:
            time.sleep(remaining)

    # -- load ------------------------------------------------------------------
    def new_ref(self):
        with self.lock:
            self.seq += 1
            ref = "CH%05d-%d" % (int(time.time()) % 100000, self.seq)
            self.all_refs.append(ref)
            return ref

    def record(self, op):
        with self.lock:
            self.ops.append(op)

    def load(self, seed):
        rnd = random.Random(seed)
        while not self.stop_load.is_set():
            node = rnd.choice(["A", "B"])
            port = self.nodes[node].port
            x = rnd.random()
            try:
                if x < 0.35:
                    self.op_search(rnd, node, port)
                elif x < 0.60:
                    self.op_check(rnd, node, port)
                elif x < 0.85:
                    self.op_book(rnd, node, port)
                elif x < 0.95:
                    self.op_cancel(rnd, node, port)
                else:
                    self.op_query(rnd, node, port)
            except Exception:
                self.violation("load thread error", None, traceback.format_exc())

    def call(self, node, port, path, body, kind, **extra):
        t0 = now()
        st, j, err = post(port, path, body, self.tk)
        t1 = now()
        op = dict(kind=kind, node=node, path=path, body=body, t0=t0, t1=t1, status=st, answer=j, err=err, **extra)
        op["excused"] = err is not None and self.node_down(node, t0, t1)
        self.record(op)
        if op["excused"]:
            time.sleep(0.05)          # the node is down: do not spin on connection refused
        return op

    def short(self, op):
        j = op.get("answer")
        d = (j or {}).get("data") if isinstance(j, dict) else None
        if isinstance(d, dict):
            d = {k: d[k] for k in ("status", "suppliers", "customerReferenceNo", "reason") if k in d}
            if isinstance(d.get("suppliers"), list):
                d["suppliers"] = [(s.get("supplier"), s.get("status"), s.get("error")) for s in d["suppliers"]]
        return {"kind": op["kind"], "node": op["node"], "t": "%.2f-%.2f" % (self.t(op["t0"]), self.t(op["t1"])),
                "sup": op.get("sup"), "room": op.get("room"), "ref": op.get("ref"), "http": op["status"],
                "code": j.get("code") if isinstance(j, dict) else None,
                "msg": j.get("msg") if isinstance(j, dict) else None, "data": d, "err": op["err"],
                "remark": op.get("remark")}

    def op_search(self, rnd, node, port):
        ci, co = stay(rnd.randint(30, 60))
        if rnd.random() < 0.5:
            path = "/api/search/hotelList"
            body = {"destinationName": "Dubai", "checkIn": ci, "checkOut": co, "currency": "USD",
                    "roomOccupancies": [{"adultCount": 2}], "pageSize": 50}
        else:
            path = "/api/search/hotelRates"
            body = {"hotelId": "HM-DXB-0001", "checkIn": ci, "checkOut": co, "currency": "USD",
                    "roomOccupancies": [{"adultCount": rnd.choice([1, 2])}]}
        op = self.call(node, port, path, body, "search")
        if op["excused"]:
            return
        j = op["answer"]
        if op["status"] != 200 or not isinstance(j, dict) or j.get("code") != 0:
            self.violation("search failed", self.short(op), "HTTP %s code %s" % (
                op["status"], j.get("code") if isinstance(j, dict) else None))
            return
        sts = j["data"].get("suppliers") or []
        if not any(s.get("status") == "ok" for s in sts):
            self.violation("search without any ok supplier", self.short(op), "anchor healthy throughout")

    def op_check(self, rnd, node, port):
        sup = rnd.choice(SUPS)
        which = "flip" if rnd.random() < 0.5 else "main"
        _hr, pkg = self.rates[sup][which]
        op = self.call(node, port, "/api/search/checkAvail", {"ratePkgId": pkg}, "checkAvail", sup=sup, room=which)
        if op["err"] is not None:
            if not op["excused"]:
                self.violation("checkAvail transport error", self.short(op), op["err"])
            return
        j = op["answer"] or {}
        if j.get("code") != 0:
            return            # an error answer says nothing about rooms (counted in the summary)
        status = j["data"].get("status")
        a, b = op["t0"], op["t1"]
        count = BIG if which == "main" else self.flip_count(sup, a, b)
        if status == 1 and count == 0:
            self.violation("checkAvail available while sold out", self.short(op), "inventory 0 for the whole call")
        if status == 2 and count and not self.faulted(sup, a - 0.2, b + 0.2):
            self.violation("checkAvail sold out while rooms left", self.short(op),
                           "%d rooms left for the whole call, no fault injected" % count)

    def op_book(self, rnd, node, port):
        sup = rnd.choice(SUPS)
        which = "flip" if rnd.random() < 0.3 else "main"
        _hr, pkg = self.rates[sup][which]
        ref = self.new_ref()
        op = self.call(node, port, "/api/trade/book", book_body(ref, pkg), "book", sup=sup, room=which, ref=ref)
        if op["err"] is not None:
            if not op["excused"]:
                self.violation("book transport error", self.short(op), op["err"])
            return
        j = op["answer"] or {}
        if j.get("code") != 0:
            if op["status"] >= 500 and not self.faulted(sup, op["t0"] - 0.2, op["t1"] + 0.2):
                self.violation("book error while supplier healthy", self.short(op), "")
            return
        st = j["data"].get("status")
        op["remark"] = (j["data"].get("order") or {}).get("statusRemark")
        a, b = op["t0"], op["t1"]
        count = BIG if which == "main" else self.flip_count(sup, a, b)
        if st == 2:
            if which == "main":       # flip-room bookings are never cancelled: a cancel gives the room back
                with self.lock:
                    self.booked.append((ref, sup))
            if count == 0:
                self.violation("book confirmed while sold out", self.short(op), "inventory 0 for the whole call")
        elif st == 4 and count and not self.faulted(sup, a - 0.2, b + 0.2) \
                and not str(op["remark"]).startswith("supplier not called"):
            self.violation("book refused while rooms left", self.short(op),
                           "%d rooms left for the whole call, no fault injected" % count)

    def op_cancel(self, rnd, node, port):
        with self.lock:
            left = [x for x in self.booked if x[0] not in self.cancel_sent]
            if not left:
                return
            ref, sup = rnd.choice(left)
            self.cancel_sent.add(ref)
        self.call(node, port, "/api/trade/cancel", {"customerReferenceNo": ref, "reason": "chaos"}, "cancel",
                  sup=sup, ref=ref)

    def op_query(self, rnd, node, port):
        with self.lock:
            refs = rnd.sample(self.all_refs, min(5, len(self.all_refs))) if self.all_refs else []
        self.call(node, port, "/api/trade/queryOrders", {"customerReferenceNos": refs}, "queryOrders")

    # -- after the run ---------------------------------------------------------
    def settle(self):
        """Clear faults, then queryOrders every reference until nothing is left
        Confirming (queryOrders reconciles at most 32 per call)."""
        for s in SUPS:
            self.set_faults(s, {})
        time.sleep(6)          # breakers opened by the faults close again (open_seconds 5)
        refs = list(self.all_refs)
        pending = refs
        deadline = now() + 20   # the last bookings' windows (6 s) pass; the sweep and these calls reconcile
        while True:
            left = []
            for i in range(0, len(pending), 100):
                chunk = pending[i:i + 100]
                st, j, err = post(self.b.port, "/api/trade/queryOrders", {"customerReferenceNos": chunk}, self.tk)
                self.assertEqual((st, j and j.get("code")), (200, 0), (j, err))
                for o in j["data"]["orders"]:
                    if o["status"] in (0, 1):
                        left.append(o["customerReferenceNo"])
            if not left:
                return []
            pending = left
            if now() > deadline:
                return pending
            time.sleep(0.5)

    def compare(self, still_pending):
        bookings = get_json(self.sup.port, "/chaos/bookings")
        mine = set(self.all_refs)
        at_sup = {}
        for s in SUPS:
            for b in bookings.get(s) or []:
                if b["cref"] in mine:
                    at_sup[b["cref"]] = (s, b["status"], b["ref"])
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(self.shared, "ledger.sqlite"), uri=True, timeout=10)
        try:
            rows = db.execute("SELECT customer_ref, supplier, status, supplier_ref, status_remark FROM orders "
                              "WHERE app_key = 'demo'").fetchall()
        finally:
            db.close()
        ledger = {r[0]: r[1:] for r in rows if r[0] in mine}
        problems = []
        for ref in still_pending:
            problems.append(("left Confirming after queryOrders", ref, ledger.get(ref), at_sup.get(ref)))
        counts = {s: {"supplier_confirmed": 0, "ledger_confirmed": 0, "supplier_cancelled": 0,
                      "ledger_cancelled": 0} for s in SUPS}
        for ref, (s, status, sref) in at_sup.items():
            l = ledger.get(ref)
            if status == "confirmed":
                counts[s]["supplier_confirmed"] += 1
                if not l or l[1] != 2:
                    problems.append(("confirmed at the supplier, not in the ledger as confirmed", ref,
                                     l, (s, status, sref)))
            elif status == "cancelled":
                counts[s]["supplier_cancelled"] += 1
                if not l or l[1] != 3:
                    sent = [self.short(op) for op in self.ops if op["kind"] == "cancel" and op.get("ref") == ref]
                    problems.append(("cancelled at the supplier, ledger disagrees", ref, l, (s, status, sref),
                                     {"cancel calls": sent}))
            elif status == "pending":
                problems.append(("supplier record half-written", ref, l, (s, status, sref)))
        for ref, l in ledger.items():
            s, status = l[0], l[1]
            if status == 2:
                counts[s]["ledger_confirmed"] += 1
            if status == 3:
                counts[s]["ledger_cancelled"] += 1
            sup = at_sup.get(ref)
            if status in (2, 3) and (not sup or sup[1] not in ("confirmed", "cancelled")):
                problems.append(("ledger says %d, the supplier has no booking" % status, ref, l, sup))
        # what the gateways told the clients
        cancelled_ok = set()
        for op in self.ops:
            j = op.get("answer")
            if op["kind"] == "cancel" and isinstance(j, dict) and j.get("code") == 0 and \
                    (j.get("data") or {}).get("status") == 3:
                cancelled_ok.add(op["ref"])
        for op in self.ops:
            j = op.get("answer")
            if op["kind"] != "book" or not isinstance(j, dict) or j.get("code") != 0:
                continue
            st = (j.get("data") or {}).get("status")
            sup = at_sup.get(op["ref"])
            if st == 2 and (not sup or sup[1] not in ("confirmed", "cancelled")):
                problems.append(("gateway answered Confirmed, the supplier has no booking", op["ref"],
                                 self.short(op), sup))
            if st == 4 and sup and sup[1] in ("confirmed", "cancelled"):
                problems.append(("gateway answered Failed, the supplier confirmed it", op["ref"],
                                 self.short(op), sup))
        # queryOrders answers (either node, any time): a terminal status must be the supplier's
        for op in self.ops:
            j = op.get("answer")
            if op["kind"] != "queryOrders" or not isinstance(j, dict) or j.get("code") != 0:
                continue
            for o in (j.get("data") or {}).get("orders") or []:
                sup = at_sup.get(o.get("customerReferenceNo"))
                confirmed = bool(sup and sup[1] in ("confirmed", "cancelled"))
                if o.get("status") == 4 and confirmed:
                    problems.append(("queryOrders answered Failed, the supplier confirmed it",
                                     o.get("customerReferenceNo"), self.short(op), o.get("statusRemark"), sup))
                elif o.get("status") == 2 and not confirmed:
                    problems.append(("queryOrders answered Confirmed, the supplier has no booking",
                                     o.get("customerReferenceNo"), self.short(op), o.get("statusRemark"), sup))
        for ref in cancelled_ok:
            sup = at_sup.get(ref)
            if not sup or sup[1] != "cancelled":
                problems.append(("gateway answered Cancelled, the supplier did not cancel", ref, ledger.get(ref), sup))
        return problems, counts, ledger, at_sup

    def summary(self, counts):
        by = {}
        for op in self.ops:
            j = op.get("answer")
            if op["err"] is not None:
                key = "excused transport error" if op["excused"] else "transport error"
            elif isinstance(j, dict):
                d = j.get("data") if isinstance(j.get("data"), dict) else {}
                key = "code %s%s" % (j.get("code"), (" status %s" % d["status"]) if "status" in d and
                                     op["kind"] in ("book", "checkAvail", "cancel") else "")
            else:
                key = "HTTP %s" % op["status"]
            by.setdefault(op["kind"], {}).setdefault(key, 0)
            by[op["kind"]][key] += 1
        print("\n== chaos: %d calls in %.0f s" % (len(self.ops), CHAOS_SECONDS))
        for kind in sorted(by):
            print("  %-12s %s" % (kind, ", ".join("%s: %d" % kv for kv in sorted(by[kind].items()))))
        print("  per supplier (refs of this run): %s" % json.dumps(counts, sort_keys=True))
        # informational: error answers from a supplier with no fault injected during the call
        # (circuit breakers still open after a fault, or worse), and searches where the anchor was not ok
        clean_err, anchor = {}, {}
        phase = max(8.0, CHAOS_SECONDS / 3)
        for op in self.ops:
            j = op.get("answer")
            if not isinstance(j, dict):
                continue
            if op["kind"] in ("checkAvail", "book", "cancel") and j.get("code") != 0 and \
                    not self.faulted(op["sup"], op["t0"] - 0.2, op["t1"] + 0.2):
                k = "%s %s %s: %s" % (op["kind"], op["sup"], j.get("code"), str(j.get("msg"))[:70])
                clean_err[k] = clean_err.get(k, 0) + 1
            if op["kind"] == "search" and j.get("code") == 0:
                for st in j["data"].get("suppliers") or []:
                    sup = st.get("supplier")
                    if st.get("status") != "ok" and sup in self.fault_iv and \
                            not self.faulted(sup, op["t0"] - 0.2, op["t1"] + 0.2):
                        k = "search %s %s" % (sup, st.get("status"))
                        clean_err[k] = clean_err.get(k, 0) + 1
                k0, k1 = int(self.t(op["t0"]) // phase), int(self.t(op["t1"]) // phase)
                if k0 == k1:
                    a = self.anchor_at(k0)
                    for st in j["data"].get("suppliers") or []:
                        if st.get("supplier") == a:
                            key = "%s %s" % (a, st.get("status"))
                            anchor[key] = anchor.get(key, 0) + 1
        print("  anchor supplier status in searches: %s" % json.dumps(anchor, sort_keys=True))
        print("  error answers (and search statuses) with no fault injected at that supplier:")
        for k, n in sorted(clean_err.items(), key=lambda kv: -kv[1])[:15]:
            print("    %5d  %s" % (n, k))
        print("  events:")
        for t, what in self.events:
            print("    %6.2f  %s" % (t, what))
        sys.stdout.flush()

    # -- the test ----------------------------------------------------------------
    def test_chaos(self):
        self.start_all()
        self.discover()
        self.init_state()
        self.chaos_error = None
        chaos = threading.Thread(target=self.chaos, name="chaos")
        workers = [threading.Thread(target=self.load, args=(i,), name="load-%d" % i) for i in range(THREADS)]
        chaos.start()
        for w in workers:
            w.start()
        alive_problems = []
        while chaos.is_alive():
            chaos.join(0.5)
            for name, p in (("suppliers", self.sup), ("B", self.b)):
                if not p.alive() and (name, p.proc.returncode) not in alive_problems:
                    alive_problems.append((name, p.proc.returncode))
            if not self.a.alive() and not self.node_down("A", now(), now()):
                alive_problems.append(("A", self.a.proc.returncode))
        self.stop_load.set()
        for w in workers:
            w.join(40)
        try:
            self.assertIsNone(self.chaos_error, self.chaos_error)
            self.assertEqual(alive_problems, [], "a process died on its own")
            for p in (self.sup, self.a, self.b):
                self.assertTrue(p.alive(), "%s\n%s" % (p.config_path, p.log_tail()))

            # reloads: both nodes serve the last good extra.lua; the broken ones were refused
            for name, node in self.nodes.items():
                node.proc.send_signal(signal.SIGHUP)
            deadline = now() + 5
            while True:
                vers = {n: get_json(node.port, "/chaos/version")["version"] for n, node in self.nodes.items()}
                if all(v == self.final_version for v in vers.values()) or now() > deadline:
                    break
                time.sleep(0.1)
            self.assertEqual(vers, {"A": self.final_version, "B": self.final_version})
            if self.broken_reloads:
                st = get_json(self.b.port, "/admin/status", {"Authorization": "Bearer " + ADMIN})["data"]
                self.assertGreaterEqual(st["reloads"]["failure"], 1, st["reloads"])

            pending = self.settle()
            problems, counts, ledger, at_sup = self.compare(pending)
            self.summary(counts)
            if self.violations:
                print("\n== %d violations during the run (first 25):" % len(self.violations))
                for kind, why, op in self.violations[:25]:
                    print("  - %s: %s\n      %s" % (kind, why, json.dumps(op, default=str)[:1500]))
            if problems:
                print("\n== %d ledger/supplier disagreements (first 25):" % len(problems))
                for p in problems[:25]:
                    print("  - %s" % json.dumps(p, default=str)[:1500])
            kinds = {}
            for kind, _w, _o in self.violations:
                kinds[kind] = kinds.get(kind, 0) + 1
            self.assertEqual(kinds, {}, "violations during the run (details above)")
            self.assertEqual(problems, [], "ledger and suppliers disagree (details above)")
            for s in SUPS:
                c = counts[s]
                self.assertEqual((c["ledger_confirmed"], c["ledger_cancelled"]),
                                 (c["supplier_confirmed"], c["supplier_cancelled"]), (s, c))
            # the run did what it says: bookings confirmed, cancelled, searches served
            self.assertGreater(sum(c["supplier_confirmed"] + c["supplier_cancelled"] for c in counts.values()), 10)
            self.assertGreater(sum(1 for o in self.ops if o["kind"] == "search"), 50)

            # every process stops cleanly (exit 0, no sanitizer report)
            for p in (self.a, self.b, self.sup):
                p.stop(check=True)
        except BaseException:
            self.failed = True
            for name, p in (("A", self.a), ("B", self.b), ("suppliers", self.sup)):
                print("\n---- %s: %s" % (name, p.log_path))
                print(p.log_tail(30))
            raise



@unittest.skipUnless(REDIS, "redis-server is not installed (Debian package redis-server)")
@unittest.skipUnless(len(SUPS) >= 1, "no supplier written")
class CancelJournal(unittest.TestCase):
    """A cancel is in the ledger (cancel_sent) before the supplier is called.
    The gateway is frozen (SIGSTOP) while its cancel call is at the (slow)
    supplier, which completes what it received; then kill -9 and a restart:
    reconciliation must give the ledger the supplier's state."""

    def test_cancel_outcome_lost_by_kill9_is_reconciled(self):
        shared = tempfile.mkdtemp(prefix="hmchaos-shared-")
        redis = Redis().start()
        procs = []
        try:
            with open(os.path.join(shared, "extra.lua"), "w") as f:
                f.write(extra_script("v1"))
            port_g, port_s = free_port(), free_port()
            while port_s == port_g:
                port_s = free_port()
            files = demo_files()
            sup = Node(suppliers_config(port_g), port_s, workers=2,
                       extra_files=dict(files, **{"probe.lua": PROBE_LUA % {"names": lua_list(SUPS)}})).start()
            procs.append(sup)
            gw = Node(gateway_config(shared, port_s, redis.port, extra="base.cancel_timeout_ms = 3000"),
                      port_g, workers=2, extra_files=files).start()
            procs.append(gw)
            st, j, err = post(port_g, "/api/auth/ticket", {"appKey": "demo", "appSecret": "demo-secret"})
            tk = j["data"]["ticket"]
            ledger = os.path.join(shared, "ledger.sqlite")

            def row(ref):
                db = sqlite3.connect("file:%s?mode=ro" % ledger, uri=True, timeout=10)
                try:
                    return db.execute("SELECT status, cancel_sent FROM orders WHERE customer_ref = ?",
                                      (ref,)).fetchone()
                finally:
                    db.close()

            # hotelbeds cancels in one call; agoda in two (preview, confirm): frozen between them
            for name in [s for s in ("hotelbeds", "agoda") if s in SUPS]:
                with self.subTest(supplier=name):
                    hid = SAMPLE[name][0]
                    ci, co = stay(45)
                    st, j, err = post(port_g, "/api/search/hotelRates", {"hotelId": hid, "checkIn": ci,
                                      "checkOut": co, "currency": "USD", "roomOccupancies": [{"adultCount": 2}]}, tk)
                    pkgs = [r["ratePkgId"] for room in j["data"]["rooms"] for r in room["rates"]
                            if r["originalRoomNaming"].get("supplierName") == name]
                    self.assertTrue(pkgs, j["data"].get("suppliers"))
                    ref = "CJ%d-%s" % (int(time.time()) % 100000, name)
                    st, j, err = post(port_g, "/api/trade/book", book_body(ref, pkgs[0]), tk)
                    self.assertEqual(j["data"]["status"], 2, j)
                    sim_post(port_s, name, "_faults", {"latency_ms": 1500})
                    calls0 = sim_calls(port_s, name)
                    threading.Thread(target=post, daemon=True,
                                     args=(port_g, "/api/trade/cancel", {"customerReferenceNo": ref}, tk)).start()
                    deadline = now() + 10
                    while row(ref)[1] is None:
                        self.assertLess(now(), deadline, "cancel_sent never written")
                        time.sleep(0.02)
                    # the journal is written before the call leaves: freeze only once the
                    # supplier has it (on a loaded machine the call could still be ours)
                    while sim_calls(port_s, name) == calls0:
                        self.assertLess(now(), deadline, "the cancel never reached the supplier")
                        time.sleep(0.01)
                    gw.proc.send_signal(signal.SIGSTOP)     # the call is at the supplier (1.5 s latency)
                    time.sleep(2.5)                         # ... which completes it
                    gw.kill9()
                    self.assertEqual(row(ref)[0], 2, "the cancel's answer was never recorded")
                    sim_post(port_s, name, "_faults", {})
                    gw.restart()
                    deadline = now() + 20                   # cancel window: 3 s + margin 2 s
                    while True:
                        st, j, err = post(port_g, "/api/trade/queryOrders", {"customerReferenceNos": [ref]}, tk)
                        status, sent = row(ref)
                        if sent is None or now() > deadline:
                            break
                        time.sleep(0.3)
                    at_sup = {b["cref"]: b["status"] for b in get_json(port_s, "/chaos/bookings")[name]}
                    self.assertIsNone(sent, "cancel journal never resolved")
                    self.assertEqual(status, {"cancelled": 3, "confirmed": 2}[at_sup[ref]], (name, at_sup[ref]))
                    if name == "hotelbeds":
                        self.assertEqual(status, 3)
                    self.assertEqual(j["data"]["orders"][0]["status"], status, j)
            for p in procs:
                p.stop(check=True)
        finally:
            for p in procs:
                if p.alive():
                    p.stop(check=False)
                p.cleanup()
            redis.close()
            shutil.rmtree(shared, ignore_errors=True)


if __name__ == "__main__":
    run_tests(globals())
