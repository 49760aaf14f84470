"""hmtest -- shared harness for hotelmux integration tests (Python 3 stdlib only).

    from hmtest import Server, RawConn, raw, request, parse_responses, run_tests

    with Server(CONFIG_LUA, workers=2, extra_files={"app.lua": "..."}) as srv:
        status, headers, body = request(srv.port, "GET", "/hello")

Environment: HM_BINARY (the hotelmux binary), HM_SOURCE_DIR (repo root),
HM_KEEP_TMP=1 keeps the temp dirs (config + server log) for inspection.

A test file ends with `run_tests(globals())`, which runs its unittest.TestCase
classes, prints `N passed, N failed[, N skipped]` as the last line and exits
non-zero when anything failed.
"""

import http.client
import json
import atexit
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
from datetime import datetime, timezone

HOST = "127.0.0.1"
SOURCE_DIR = os.environ.get("HM_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
# Absolute: servers run with a temporary directory as their working directory.
BINARY = os.path.abspath(os.environ.get("HM_BINARY") or os.path.join(SOURCE_DIR, "build", "hotelmux"))
# Third-party research data (supplier captures, room-name sets): never copied
# into the repo. Tests that need it skip (and say so) when it is absent.
SHARED_DIR = os.path.abspath(os.environ.get("HM_SHARED") or os.path.join(SOURCE_DIR, "..", "shared"))


def shared_path(*parts):
    """Path under HM_SHARED, or None when that file/folder is not there."""
    p = os.path.join(SHARED_DIR, *parts)
    return p if os.path.exists(p) else None

def _write(d, name, text):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def replay(supplier, op, response_path=None, response_text=None, inp=None,
           config_path=None, config_text=None, connector=None):
    """Run `hotelmux replay`: the supplier's connector (scripts/connectors/
    SUPPLIER.lua unless connector names another file) on a saved answer, no
    network. The answer is a file (raw body or MockServer shape) or text; the
    config a file or text (default examples/demo.lua); inp the operation's
    input table. Returns the unified-model JSON the command prints."""
    connector = connector or os.path.join(SOURCE_DIR, "scripts", "connectors", supplier + ".lua")
    with tempfile.TemporaryDirectory(prefix="hm-replay-") as d:
        if response_text is not None:
            response_path = _write(d, "response.json", response_text)
        if config_text is not None:
            config_path = _write(d, "config.lua", config_text)
        args = [BINARY, "replay", "--connector", connector, "--op", op, "--response", response_path,
                "--config", config_path or os.path.join(SOURCE_DIR, "examples", "demo.lua"),
                "--supplier", supplier]
        if inp is not None:
            args += ["--input", _write(d, "input.json", json.dumps(inp))]
        out = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             universal_newlines=True, timeout=60)
    try:
        return json.loads(out.stdout)
    except ValueError:
        raise AssertionError("replay printed no JSON (rc=%d): %s %s"
                             % (out.returncode, out.stdout[:500], out.stderr[:2000]))


def mockserver(body, status=200, headers=None):
    """A MockServer-shaped answer ({httpResponse{statusCode, headers, body}})."""
    return {"httpResponse": {"statusCode": status, "headers": headers or {}, "body": body}}


def connector_route(supplier):
    """testroute.lua for a server running SUPPLIER's simulator: POST /t/{op}
    {"input": ..., "config": {overrides}, "deadline_s": n} runs the connector's
    op against the simulator on this very server; answers {result, error, elapsed}."""
    return r'''
local conn = require("connectors.%(s)s")
hm.route("POST", "/t/{op}", function(req)
  local b = hm.json.decode(req.body or "{}")
  local cfg = {}
  for k, v in pairs(hm.config.suppliers.%(s)s) do cfg[k] = v end
  for k, v in pairs(b.config or {}) do cfg[k] = v end
  cfg.base_url = hm.self_url() .. "/sim/%(s)s"
  local ctx = { supplier = "%(s)s", config = cfg, request_id = req.id,
                deadline = hm.time.monotonic() + (b.deadline_s or 5) }
  local t0 = hm.time.monotonic()
  local res, err = conn[req.params.op](ctx, b.input or {})
  return { json = { result = res, error = err, elapsed = hm.time.monotonic() - t0 } }
end)
''' % {"s": supplier}


START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0

# Log lines that mean memory/UB trouble when the binary is built with HM_SANITIZE.
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "ThreadSanitizer", "SUMMARY: UndefinedBehaviorSanitizer")


class ServerError(AssertionError):
    pass


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((HOST, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def inject_workers(text, workers):
    """Make the config's returned table say workers = N (unless it sets workers itself)."""
    if workers is None or re.search(r"\bworkers\s*=", text):
        return text
    matches = list(re.finditer(r"\breturn\s*\{", text))
    if matches:
        m = matches[-1]
        return text[:m.end()] + " workers = %d, " % workers + text[m.end():]
    m = re.search(r"\breturn\s+([A-Za-z_][A-Za-z0-9_]*)\s*$", text)
    if m:
        return (text[:m.start()] + "%s.workers = %s.workers or %d\n" % (m.group(1), m.group(1), workers)
                + text[m.start():])
    raise ValueError("cannot inject workers into config (no `return {` / `return name`)")


# Every server's temp dir; removed when the test process exits (unless
# HM_KEEP_TMP), so tests that stop servers without cleanup() leave nothing.
_TEMP_DIRS = []


def _remove_temp_dirs():
    if not os.environ.get("HM_KEEP_TMP"):
        for d in _TEMP_DIRS:
            shutil.rmtree(d, ignore_errors=True)


atexit.register(_remove_temp_dirs)


class Server:
    """Run hotelmux with a config written to a temp dir; stop it with SIGTERM on exit."""

    def __init__(self, config_lua_text, workers=2, extra_files=None, args=None, env=None,
                 expect_exit_code=0):
        self.config_text = inject_workers(config_lua_text, workers)
        self.extra_files = dict(extra_files or {})
        self.args = list(args or [])
        self.env = env
        self.expect_exit_code = expect_exit_code
        self.proc = None
        self.port = None
        self.dir = None
        self.log_path = None
        self.config_path = None
        self.exit_code = None
        self._log = None

    # -- lifecycle ---------------------------------------------------------
    def __enter__(self):
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            self.stop(check=exc_type is None)
        finally:
            self.cleanup(keep=exc_type is not None)
        return False

    def start(self):
        if not os.path.isfile(BINARY) or not os.access(BINARY, os.X_OK):
            raise ServerError("hotelmux binary not found: %s (set HM_BINARY)" % BINARY)
        self.dir = tempfile.mkdtemp(prefix="hmtest-")
        _TEMP_DIRS.append(self.dir)
        self.config_path = os.path.join(self.dir, "config.lua")
        with open(self.config_path, "w") as f:
            f.write(self.config_text)
        for name, text in self.extra_files.items():
            p = os.path.join(self.dir, name)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "wb" if isinstance(text, bytes) else "w") as f:
                f.write(text)
        self.log_path = os.path.join(self.dir, "server.log")
        last_err = None
        for _attempt in range(3):
            self.port = free_port()
            try:
                self._spawn()
                return self
            except ServerError as e:
                last_err = e
                # a lost race for the port: retry with another one
                if "address already in use" not in self.log_text().lower():
                    break
        raise last_err

    def _spawn(self):
        env = dict(os.environ)
        if self.env:
            env.update(self.env)
        self._log = open(self.log_path, "ab")
        cmd = [BINARY, "-c", self.config_path, "--listen", "%s:%d" % (HOST, self.port)] + self.args
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=self.dir, env=env)
        deadline = time.monotonic() + START_TIMEOUT
        last = None
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                self.exit_code = rc
                raise ServerError("hotelmux exited during startup (rc=%d)\n%s" % (rc, self.log_tail()))
            try:
                status, _h, _b = request(self.port, "GET", "/health", timeout=1.0)
                if status == 200:
                    return
                last = "GET /health -> %d" % status
            except (OSError, http.client.HTTPException) as e:
                last = repr(e)
            time.sleep(0.05)
        self._kill()
        raise ServerError("hotelmux did not answer GET /health 200 within %.0f s (last: %s)\n%s"
                          % (START_TIMEOUT, last, self.log_tail()))

    def _kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.exit_code = self.proc.returncode if self.proc else None

    def stop(self, check=True, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """SIGTERM, wait, and (check=True) assert exit code 0. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._kill()
                if self._log:
                    self._log.close()
                raise ServerError("hotelmux did not exit within %.0f s of %s (killed)\n%s"
                                  % (timeout, signal.Signals(sig).name, self.log_tail()))
        self.exit_code = self.proc.returncode
        if self._log:
            self._log.close()
            self._log = None
        if check:
            if self.exit_code != self.expect_exit_code:
                raise ServerError("hotelmux exit code %s, expected %s\n%s"
                                  % (self.exit_code, self.expect_exit_code, self.log_tail()))
            san = self.sanitizer_report()
            if san:
                raise ServerError("sanitizer report in server log:\n%s" % san)
        return self.exit_code

    def cleanup(self, keep=False):
        if self.dir and not keep and not os.environ.get("HM_KEEP_TMP"):
            shutil.rmtree(self.dir, ignore_errors=True)
        elif self.dir:
            sys.stderr.write("hmtest: kept %s\n" % self.dir)

    # -- inspection ----------------------------------------------------------
    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except (OSError, TypeError):
            return ""

    def log_tail(self, n=40):
        lines = self.log_text().splitlines()
        return "---- server log (last %d lines) ----\n%s\n----" % (n, "\n".join(lines[-n:]))

    def sanitizer_report(self):
        text = self.log_text()
        for m in SANITIZER_MARKERS:
            i = text.find(m)
            if i >= 0:
                return text[max(0, i - 200):i + 3000]
        return None


# ---- client helpers ---------------------------------------------------------

def request(port, method, path, headers=None, body=None, timeout=10.0):
    """One request over a fresh http.client connection: (status, HTTPMessage headers, body bytes)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}))
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, resp.headers, data
    finally:
        conn.close()


def raw(port, data, timeout=3.0):
    """Send bytes on a fresh socket; return everything read until the server closes or timeout."""
    return raw_ex(port, data, timeout).data


class RawResult:
    def __init__(self):
        self.data = b""
        self.closed = False          # server closed (EOF or reset)
        self.reset = False           # ... with a reset
        self.t_first_byte = None     # seconds from connect to the first response byte
        self.t_closed = None         # seconds from connect to EOF/reset
        self.send_error = None

    def __repr__(self):
        return "RawResult(closed=%s reset=%s t_first=%s t_closed=%s data=%r)" % (
            self.closed, self.reset, _fmt_t(self.t_first_byte), _fmt_t(self.t_closed),
            self.data[:300])


def _fmt_t(t):
    return None if t is None else "%.3f" % t


def raw_ex(port, data, timeout=3.0, steps=None, max_total=None):
    """Send `data` (or `steps`: list of (delay_s, bytes)) and read until close or until
    `timeout` seconds after the last send. Sending stops as soon as the server closes,
    or once `max_total` seconds have passed since connecting."""
    res = RawResult()
    steps = steps if steps is not None else [(0.0, data)]
    sock = socket.create_connection((HOST, port), timeout=5.0)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    t0 = time.monotonic()

    def pump(wait):
        """Read whatever arrives within `wait` seconds; stop early on close."""
        end = time.monotonic() + wait
        while not res.closed:
            left = end - time.monotonic()
            if left <= 0:
                return
            r, _, _ = select.select([sock], [], [], left)
            if not r:
                return
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                res.closed = res.reset = True
                res.t_closed = time.monotonic() - t0
                return
            if not chunk:
                res.closed = True
                res.t_closed = time.monotonic() - t0
                return
            if res.t_first_byte is None:
                res.t_first_byte = time.monotonic() - t0
            res.data += chunk

    try:
        for delay, chunk in steps:
            if delay:
                pump(delay)
            if res.closed or (max_total is not None and time.monotonic() - t0 > max_total):
                break
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError) as e:
                res.send_error = e
                break
            pump(0)
        pump(timeout)
    finally:
        sock.close()
    return res


class RawConn:
    """A persistent raw socket with an incremental response reader."""

    def __init__(self, port, timeout=5.0):
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.closed = False

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def _recv(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        r, _, _ = select.select([self.sock], [], [], left)
        if not r:
            return False
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.closed = True
            return False
        self.buf += chunk
        return True

    def read_responses(self, n, timeout=5.0, head=False):
        """Read exactly n responses (1xx interim responses count too)."""
        deadline = time.monotonic() + timeout
        while True:
            resps, rest = parse_responses(self.buf, head=head, eof=self.closed)
            if len(resps) >= n:
                # keep the bytes after the n-th response in the buffer
                consumed = sum(len(r.raw) for r in resps[:n])
                self.buf = self.buf[consumed:]
                return resps[:n]
            if self.closed or not self._recv(deadline):
                if self.closed:
                    raise AssertionError("connection closed after %d of %d responses; buffered %r"
                                         % (len(resps), n, self.buf[:300]))
                raise AssertionError("timeout waiting for %d responses (got %d); buffered %r"
                                     % (n, len(resps), self.buf[:300]))

    def read_response(self, timeout=5.0, head=False):
        return self.read_responses(1, timeout, head)[0]

    def read_until(self, marker, timeout=5.0):
        deadline = time.monotonic() + timeout
        while marker not in self.buf:
            if self.closed or not self._recv(deadline):
                raise AssertionError("did not receive %r; buffered %r" % (marker, self.buf[:300]))
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def wait_closed(self, timeout=3.0):
        """True if the server closes within timeout. Any bytes received stay in self.buf."""
        deadline = time.monotonic() + timeout
        while not self.closed:
            if not self._recv(deadline) and not self.closed:
                return False
        return True

    def idle_bytes(self, wait):
        """Bytes that arrive within `wait` seconds (nothing expected)."""
        before = len(self.buf)
        deadline = time.monotonic() + wait
        while not self.closed and self._recv(deadline):
            pass
        return self.buf[before:]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ---- response parsing -----------------------------------------------------------

class ParseError(Exception):
    pass


class Response:
    def __init__(self):
        self.version = None
        self.status = None
        self.reason = None
        self.headers = []          # [(name, value)] as received
        self.body = b""
        self.raw = b""             # the whole response as received
        self.chunked = False
        self.until_close = False   # body delimited by connection close

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def closes(self):
        return any("close" in [t.strip().lower() for t in v.split(",")]
                   for v in self.header_all("connection"))

    def __repr__(self):
        return "Response(%s %s %r, headers=%r, body=%r)" % (
            self.version, self.status, self.reason, self.headers, self.body[:200])


_STATUS_RE = re.compile(rb"^HTTP/(1\.[01]) ([1-5][0-9][0-9]) ?([^\r\n]*)$")


def parse_responses(data, head=False, eof=False):
    """Parse as many complete HTTP/1.x responses as `data` holds.

    head: bool (every request was HEAD) or a list of bools, one per final (non-1xx)
    response. eof: the connection is closed, so a response without framing ends here.
    Returns (responses, rest) where rest is the unparsed tail. Raises ParseError on
    bytes that are not a valid response."""
    out = []
    pos = 0
    nfinal = 0
    while pos < len(data):
        end = data.find(b"\r\n\r\n", pos)
        if end < 0:
            tail = data[pos:pos + 5]
            if not (tail.startswith(b"HTTP/") or b"HTTP/".startswith(tail)):
                raise ParseError("not an HTTP response at offset %d: %r" % (pos, data[pos:pos + 80]))
            break
        head_bytes = data[pos:end]
        lines = head_bytes.split(b"\r\n")
        m = _STATUS_RE.match(lines[0])
        if not m:
            raise ParseError("bad status line %r" % lines[0][:200])
        r = Response()
        r.version = "HTTP/" + m.group(1).decode()
        r.status = int(m.group(2))
        r.reason = m.group(3).decode("latin-1")
        for ln in lines[1:]:
            if b":" not in ln or ln[:1] in (b" ", b"\t"):
                raise ParseError("bad header line %r" % ln[:200])
            k, v = ln.split(b":", 1)
            if k != k.strip() or not k:
                raise ParseError("bad header name %r" % k)
            r.headers.append((k.decode("latin-1"), v.strip(b" \t").decode("latin-1")))
        body_start = end + 4
        interim = 100 <= r.status < 200
        is_head = head if isinstance(head, bool) else (nfinal < len(head) and head[nfinal])
        te = r.header("transfer-encoding")
        cls = r.header_all("content-length")
        if interim or is_head or r.status in (204, 304):
            body_end = body_start
        elif te is not None:
            if te.strip().lower() != "chunked":
                raise ParseError("unsupported transfer-encoding %r" % te)
            r.chunked = True
            p = body_start
            body = b""
            complete = False
            while True:
                le = data.find(b"\r\n", p)
                if le < 0:
                    break
                size_s = data[p:le].split(b";")[0].strip()
                try:
                    size = int(size_s, 16)
                except ValueError:
                    raise ParseError("bad chunk size %r" % size_s)
                if size == 0:
                    te_end = data.find(b"\r\n\r\n", le)
                    if data[le:le + 4] == b"\r\n\r\n":
                        te_end = le
                    if te_end < 0:
                        break
                    p = te_end + 4
                    complete = True
                    break
                if len(data) < le + 2 + size + 2:
                    break
                body += data[le + 2:le + 2 + size]
                if data[le + 2 + size:le + 4 + size] != b"\r\n":
                    raise ParseError("chunk not followed by CRLF")
                p = le + 4 + size
            if not complete:
                break
            r.body = body
            body_end = p
        elif cls:
            if len(set(cls)) != 1 or not cls[0].isdigit():
                raise ParseError("bad Content-Length %r" % cls)
            n = int(cls[0])
            if len(data) < body_start + n:
                break
            body_end = body_start + n
        else:
            if not eof:
                break
            r.until_close = True
            body_end = len(data)
        if not r.chunked:
            r.body = data[body_start:body_end]
        r.raw = data[pos:body_end]
        out.append(r)
        if not interim:
            nfinal += 1
        pos = body_end
    return out, data[pos:]


# ---- assertions shared by the test files -------------------------------------------

_IMF_RE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep"
                     r"|Oct|Nov|Dec) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$")


def check_date(value, skew=120):
    """Raise AssertionError unless value is an RFC 7231 IMF-fixdate close to now."""
    if value is None:
        raise AssertionError("no Date header")
    m = _IMF_RE.match(value)
    if not m:
        raise AssertionError("Date %r is not an IMF-fixdate" % value)
    try:
        dt = datetime.strptime(value, "%a, %d %b %Y %H:%M:%S GMT").replace(tzinfo=timezone.utc)
    except ValueError as e:
        raise AssertionError("Date %r does not parse: %s (wrong weekday?)" % (value, e))
    if dt.strftime("%a") != m.group(1):
        raise AssertionError("Date %r: weekday does not match the date" % value)
    delta = abs((datetime.now(timezone.utc) - dt).total_seconds())
    if delta > skew:
        raise AssertionError("Date %r is %.0f s away from now" % (value, delta))
    return dt


def check_framing(resp):
    """Every response: exactly one valid Date; Content-Length equal to the body length
    (absent for 1xx/204/304; HEAD checks are the caller's)."""
    dates = resp.header_all("date")
    if len(dates) != 1:
        raise AssertionError("expected exactly one Date header, got %r in %r" % (dates, resp))
    check_date(dates[0])
    cls = resp.header_all("content-length")
    if resp.status in (204, 304) or 100 <= resp.status < 200:
        if cls:
            raise AssertionError("%d response carries Content-Length %r" % (resp.status, cls))
        return
    if resp.chunked:
        return
    if len(cls) != 1:
        raise AssertionError("expected one Content-Length, got %r in %r" % (cls, resp))
    if int(cls[0]) != len(resp.body):
        raise AssertionError("Content-Length %s but body is %d bytes" % (cls[0], len(resp.body)))


def check_error_body(resp, status=None):
    """Server-generated errors: JSON {"code":status,"msg":"...","data":null}."""
    status = status if status is not None else resp.status
    ctype = (resp.header("content-type") or "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise AssertionError("error %d has Content-Type %r, want application/json"
                             % (resp.status, resp.header("content-type")))
    try:
        j = resp.json()
    except ValueError as e:
        raise AssertionError("error body is not JSON (%s): %r" % (e, resp.body[:200]))
    if not isinstance(j, dict) or set(j) != {"code", "msg", "data"}:
        raise AssertionError("error body keys %r, want code/msg/data: %r" % (
            sorted(j) if isinstance(j, dict) else j, resp.body[:200]))
    if j["code"] != status or not isinstance(j["msg"], str) or not j["msg"] or j["data"] is not None:
        raise AssertionError("bad error envelope for %d: %r" % (status, j))
    return j


# ---- runner ---------------------------------------------------------------------

class _CountingResult(unittest.TextTestResult):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.passed = 0

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed += 1


def run_tests(module_globals, verbosity=2):
    """Run the unittest.TestCase classes in module_globals; print the summary line; exit."""
    loader = unittest.TestLoader()
    suite = unittest.TestSuite()
    for name, obj in sorted(module_globals.items()):
        if isinstance(obj, type) and issubclass(obj, unittest.TestCase) and obj.__module__ == \
                module_globals.get("__name__"):
            suite.addTests(loader.loadTestsFromTestCase(obj))
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=verbosity,
                                     resultclass=_CountingResult)
    result = runner.run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    line = "%d passed, %d failed" % (result.passed, failed)
    if skipped:
        line += ", %d skipped" % skipped
    sys.stdout.flush()
    print(line)
    sys.stdout.flush()
    if failed or result.testsRun == 0:
        sys.exit(1)
    # Everything skipped (e.g. ../shared absent): 77 makes ctest report it as
    # skipped, not passed.
    sys.exit(77 if result.passed == 0 else 0)
