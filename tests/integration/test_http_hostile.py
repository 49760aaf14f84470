"""Malformed and hostile HTTP input, over raw sockets.

Each table case is sent on its own connection (cases run concurrently); the
verdict checks the status (or "closed without response"), how many responses
came back (a request behind a bad one must never be processed), that the server
closed where it must, timing for the timeout cases, and that error responses
carry Date, a correct Content-Length, Connection: close (when the server closes)
and the JSON envelope {"code":N,"msg":"...","data":null}. After the table the
server must still answer GET /hello and be alive. max_connections runs against
servers of its own."""

import os
import sys
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hmtest import (RawConn, Server, ParseError, check_error_body, check_framing,  # noqa: E402
                    parse_responses, raw_ex, request, run_tests)

CONFIG = r'''
return {
  admin_token = "hostile-token",
  limits = {
    max_header_bytes = 8192,
    max_url_bytes = 2048,
    max_headers = 20,
    max_body_bytes = 1024,
    header_timeout_ms = 1000,
    body_timeout_ms = 1000,
    keepalive_timeout_ms = 1000,
  },
  routes = {
    ["GET /hello"] = function(req) return { json = { hello = "world" } } end,
    ["POST /echo"] = function(req)
      return { status = 200, headers = { ["content-type"] = "application/octet-stream" }, body = req.body }
    end,
  },
}
'''

CLOSED = "closed without response"
OPEN = "no response, connection left open"

H = b"Host: t\r\n"
GET_HELLO = b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"
POST_CHUNKED = b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"

# A TLS 1.2 ClientHello (record header + handshake), as a browser would open with.
TLS_CLIENT_HELLO = bytes.fromhex(
    "16030100a5010000a10303" + "5b" * 32 + "00" + "0020" + "c02bc02fc02cc030cca9cca8c013c014"
    "009c009d002f0035000a00ff" + "0100" + "0058" + "000000140012" + "00000f6c6f63616c686f73742e74657374"
    + "000b000403000102" + "000a000c000a001d0017001e00190018" + "0023 0000".replace(" ", "")
    + "000d0020001e060106020603050105020503040104020403030103020303020102020203"
    + "0016 0000".replace(" ", "") + "0017 0000".replace(" ", ""))

GARBAGE = bytes((i * 151 + 7) % 256 for i in range(512))


def slow_steps(data, every=0.3):
    return [(every if i else 0.0, data[i:i + 1]) for i in range(len(data))]


class Case:
    def __init__(self, name, data=None, expect=(400,), close=True, n=None, seq=None, steps=None,
                 timeout=3.0, max_t=None, min_t=None, max_first=None, after_response=None,
                 max_total=None, note=""):
        self.name = name
        self.data = data
        self.steps = steps
        self.expect = set(expect)      # allowed status of the first response, or CLOSED
        self.close = close             # True: server must close; None: either; False: must stay open
        self.seq = seq                 # exact list of statuses of all responses
        self.n = n if n is not None else (len(seq) if seq else 1)
        self.timeout = timeout
        self.max_t = max_t             # close (or first byte) no later than this, from connect
        self.min_t = min_t             # ... and no earlier than this
        self.max_first = max_first     # first response byte no later than this
        self.after_response = after_response  # (lo, hi) seconds from first byte to close
        self.max_total = max_total
        self.note = note

    def request_bytes(self):
        if self.steps is not None:
            return b"".join(c for _d, c in self.steps)
        return self.data


def hdr_req(extra, method=b"GET", path=b"/hello", version=b"HTTP/1.1", body=b""):
    return b"%s %s %s\r\n%s\r\n%s" % (method, path, version, extra, body)


CASES = [
    # ---- request line ----------------------------------------------------------------
    Case("bad_method_token", b"G@T /hello HTTP/1.1\r\nHost: t\r\n\r\n"),
    Case("unknown_method_token", b"FOO /hello HTTP/1.1\r\nHost: t\r\n\r\n", expect=(400, 405, 501)),
    Case("lowercase_method", b"get /hello HTTP/1.1\r\nHost: t\r\n\r\n", expect=(400, 501)),
    Case("huge_method", b"A" * 10000 + b" /hello HTTP/1.1\r\nHost: t\r\n\r\n", expect=(400, 431)),
    Case("request_line_missing_version", b"GET /hello\r\nHost: t\r\n\r\n", expect=(400, 505),
         note="HTTP/0.9-style simple request"),
    Case("request_line_extra_token", b"GET /hello HTTP/1.1 extra\r\nHost: t\r\n\r\n"),
    Case("request_line_double_space", b"GET  /hello HTTP/1.1\r\nHost: t\r\n\r\n"),
    Case("request_line_no_target", b"GET HTTP/1.1\r\nHost: t\r\n\r\n"),
    Case("target_without_slash", b"GET hello HTTP/1.1\r\nHost: t\r\n\r\n"),
    Case("asterisk_form_get", b"GET * HTTP/1.1\r\nHost: t\r\n\r\n", expect=(400, 404), close=None),
    Case("control_char_in_url", b"GET /hel\x01lo HTTP/1.1\r\nHost: t\r\n\r\n"),
    Case("del_in_url", b"GET /hel\x7flo HTTP/1.1\r\nHost: t\r\n\r\n"),
    Case("nul_in_url", b"GET /hel\x00lo HTTP/1.1\r\nHost: t\r\n\r\n"),
    Case("url_too_long", b"GET /hello?x=" + b"a" * 3000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", expect=(414,)),
    Case("absolute_form_uri", b"GET http://x/hello HTTP/1.1\r\nHost: x\r\n\r\n", expect=(200, 400),
         close=None, note="record: route by path, or 400"),
    Case("connect_method", b"CONNECT t:443 HTTP/1.1\r\nHost: t:443\r\n\r\n" + GET_HELLO,
         expect=(400, 404, 405, 501), close=None, n=1,
         note="no tunnel; the bytes after CONNECT are not a request"),
    # ---- version -----------------------------------------------------------------------
    Case("http_2_0", b"GET /hello HTTP/2.0\r\nHost: t\r\n\r\n", expect=(505,)),
    Case("http_9_9", b"GET /hello HTTP/9.9\r\nHost: t\r\n\r\n", expect=(505, 400)),
    Case("http_1_2", b"GET /hello HTTP/1.2\r\nHost: t\r\n\r\n", expect=(505,)),
    Case("http_0_9_version", b"GET /hello HTTP/0.9\r\nHost: t\r\n\r\n", expect=(505, 400)),
    Case("http_lowercase_version", b"GET /hello http/1.1\r\nHost: t\r\n\r\n"),
    Case("http_version_one_digit", b"GET /hello HTTP/1\r\nHost: t\r\n\r\n", expect=(400, 505)),
    # ---- Host ----------------------------------------------------------------------------
    Case("missing_host_http11", b"GET /hello HTTP/1.1\r\n\r\n"),
    Case("duplicate_host", b"GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
         note="RFC 9112 3.2: MUST 400 for more than one Host"),
    Case("http10_without_host_ok", b"GET /hello HTTP/1.0\r\n\r\n", expect=(200,), close=True),
    # ---- header syntax ----------------------------------------------------------------------
    Case("header_without_colon", hdr_req(H + b"X-Foo\r\n")),
    Case("space_before_colon", hdr_req(H + b"X-Foo : bar\r\n")),
    Case("empty_header_name", hdr_req(H + b": bar\r\n")),
    Case("invalid_char_in_header_name", hdr_req(H + b"X-F(o: bar\r\n")),
    Case("nul_in_header_value", hdr_req(H + b"X-Foo: a\x00b\r\n")),
    Case("bare_cr_in_header_value", hdr_req(H + b"X-Foo: a\rb\r\n")),
    Case("obs_fold_continuation", hdr_req(H + b"X-Foo: bar\r\n  baz\r\n")),
    Case("whitespace_before_first_header", b"GET /hello HTTP/1.1\r\n Host: t\r\n\r\n"),
    Case("obs_text_header_value_ok", hdr_req(H + b"X-Foo: caf\xe9\r\n"), expect=(200,), close=None,
         note="obs-text is valid in field values"),
    Case("lf_only_line_endings", b"GET /hello HTTP/1.1\nHost: t\n\n", expect=(200, 400), close=None,
         note="record"),
    # ---- size limits ----------------------------------------------------------------------------
    Case("oversized_single_header", hdr_req(H + b"X-Big: " + b"a" * 9000 + b"\r\n"), expect=(431,)),
    Case("oversized_total_head",
         hdr_req(H + b"".join(b"X-H%d: %s\r\n" % (i, b"b" * 800) for i in range(12))), expect=(431,)),
    Case("too_many_headers", hdr_req(H + b"".join(b"X-H%d: v\r\n" % i for i in range(25))),
         expect=(431,)),
    # ---- Content-Length -----------------------------------------------------------------------------
    Case("cl_and_te_both", hdr_req(H + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
                                   b"POST", b"/echo", body=b"0\r\n\r\n"), note="request smuggling"),
    Case("te_and_cl_both_reversed", hdr_req(H + b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n",
                                            b"POST", b"/echo", body=b"0\r\n\r\n")),
    Case("two_different_cl", hdr_req(H + b"Content-Length: 5\r\nContent-Length: 6\r\n", b"POST",
                                     b"/echo", body=b"hello!")),
    Case("cl_list_different", hdr_req(H + b"Content-Length: 5, 6\r\n", b"POST", b"/echo", body=b"hello!")),
    Case("cl_duplicate_same_value", hdr_req(H + b"Content-Length: 5\r\nContent-Length: 5\r\n", b"POST",
                                            b"/echo", body=b"hello"), expect=(200, 400), close=None,
         note="RFC: may accept or reject"),
    Case("cl_negative", hdr_req(H + b"Content-Length: -5\r\n", b"POST", b"/echo", body=b"hello")),
    Case("cl_non_numeric", hdr_req(H + b"Content-Length: abc\r\n", b"POST", b"/echo", body=b"hello")),
    Case("cl_trailing_garbage", hdr_req(H + b"Content-Length: 5x\r\n", b"POST", b"/echo", body=b"hello")),
    Case("cl_plus_sign", hdr_req(H + b"Content-Length: +5\r\n", b"POST", b"/echo", body=b"hello")),
    Case("cl_overflow", hdr_req(H + b"Content-Length: 99999999999999999999999\r\n", b"POST", b"/echo"),
         expect=(400, 413)),
    Case("cl_over_max_body_no_wait", hdr_req(H + b"Content-Length: 100000\r\n", b"POST", b"/echo"),
         expect=(413,), max_first=0.8, note="413 before any body byte, not after body_timeout"),
    Case("get_with_body_is_not_a_request",
         hdr_req(H + b"Content-Length: %d\r\n" % len(GET_HELLO), body=GET_HELLO),
         expect=(200,), close=None, n=1, note="the body must not be parsed as a second request"),
    Case("cl_body_short_then_idle", hdr_req(H + b"Content-Length: 10\r\n", b"POST", b"/echo", body=b"abc"),
         expect=(408, CLOSED), min_t=0.8, max_t=2.0, note="body_timeout_ms=1000"),
    # ---- chunked ------------------------------------------------------------------------------------
    Case("chunk_bad_hex", POST_CHUNKED + b"zz\r\nhello\r\n0\r\n\r\n"),
    Case("chunk_negative_size", POST_CHUNKED + b"-5\r\nhello\r\n0\r\n\r\n"),
    Case("chunk_size_overflow", POST_CHUNKED + b"fffffffffffffffffffff\r\nhello\r\n0\r\n\r\n",
         expect=(400, 413)),
    Case("chunk_size_over_max_body", POST_CHUNKED + b"7fffffffffffffff\r\n" + b"x" * 2000,
         expect=(413, 400)),
    Case("chunk_data_longer_than_size", POST_CHUNKED + b"3\r\nhello\r\n0\r\n\r\n"),
    Case("chunked_over_max_body", POST_CHUNKED + b"".join(b"200\r\n" + b"c" * 0x200 + b"\r\n"
                                                          for _ in range(4)) + b"0\r\n\r\n",
         expect=(413,)),
    Case("chunked_missing_final_crlf_idle", POST_CHUNKED + b"5\r\nhello\r\n0\r\n",
         expect=(408, CLOSED), min_t=0.8, max_t=2.0, note="body_timeout_ms=1000"),
    Case("long_chunk_extension", POST_CHUNKED + b"5;" + b"e" * 20000 + b"\r\nhello\r\n0\r\n\r\n",
         expect=(400, 413, 431)),
    # ---- Transfer-Encoding ---------------------------------------------------------------------------
    Case("te_gzip_alone", hdr_req(H + b"Transfer-Encoding: gzip\r\n", b"POST", b"/echo", body=b"hello"),
         expect=(400, 501)),
    Case("te_gzip_then_chunked", hdr_req(H + b"Transfer-Encoding: gzip, chunked\r\n", b"POST", b"/echo",
                                         body=b"5\r\nhello\r\n0\r\n\r\n"), expect=(400, 501)),
    Case("te_chunked_identity", hdr_req(H + b"Transfer-Encoding: chunked, identity\r\n", b"POST", b"/echo",
                                        body=b"5\r\nhello\r\n0\r\n\r\n")),
    Case("te_xchunked", hdr_req(H + b"Transfer-Encoding: xchunked\r\n", b"POST", b"/echo",
                                body=b"5\r\nhello\r\n0\r\n\r\n")),
    Case("te_chunked_twice", hdr_req(H + b"Transfer-Encoding: chunked, chunked\r\n", b"POST", b"/echo",
                                     body=b"5\r\nhello\r\n0\r\n\r\n")),
    Case("te_two_headers_chunked_gzip",
         hdr_req(H + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n", b"POST", b"/echo",
                 body=b"5\r\nhello\r\n0\r\n\r\n"), expect=(400, 501)),
    Case("te_space_before_colon", hdr_req(H + b"Transfer-Encoding : chunked\r\n", b"POST", b"/echo",
                                          body=b"5\r\nhello\r\n0\r\n\r\n")),
    Case("te_chunked_http10", b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"
                              b"3\r\nabc\r\n0\r\n\r\n" + GET_HELLO,
         expect=(200, 400), close=True, n=1, note="RFC 9112 6.1: faulty framing, close after"),
    # ---- Expect ---------------------------------------------------------------------------------------
    Case("expect_something_else", hdr_req(H + b"Expect: something-else\r\nContent-Length: 0\r\n",
                                          b"POST", b"/echo"), expect=(417,), close=None),
    Case("expect_other_with_smuggled_body",
         hdr_req(H + b"Expect: something-else\r\nContent-Length: %d\r\n" % len(GET_HELLO),
                 b"POST", b"/echo", body=GET_HELLO),
         expect=(417,), close=None, n=1, note="the unread body must not run as a request"),
    # ---- pipelining after errors / close --------------------------------------------------------------
    Case("pipelined_after_malformed", hdr_req(H + b"Bad Header\r\n") + GET_HELLO, n=1),
    Case("valid_malformed_valid", GET_HELLO + b"GET /hello HTTP/1.1\r\nX-Foo\r\n\r\n" + GET_HELLO,
         expect=(200,), seq=[200, 400]),
    Case("connection_close_then_pipelined", b"GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
                                            + GET_HELLO, expect=(200,), close=True, n=1),
    Case("upgrade_websocket_then_bytes",
         hdr_req(H + b"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n") + GET_HELLO,
         expect=(200, 400, 501), close=None, n=1,
         note="no protocol switch; what follows is not a request"),
    # ---- binary / other protocols ------------------------------------------------------------------------
    Case("garbage_binary", GARBAGE),
    Case("tls_client_hello", TLS_CLIENT_HELLO, expect=(400, CLOSED)),
    # ---- timeouts ----------------------------------------------------------------------------------------
    Case("slowloris_head", steps=slow_steps(b"GET /hello HTTP/1.1\r\nHost: t\r\nX-Slow: "
                                            + b"s" * 40 + b"\r\n\r\n"),
         expect=(408, CLOSED), min_t=0.8, max_t=2.0, max_total=4.0, note="header_timeout_ms=1000"),
    Case("idle_after_partial_request_line", b"GET /hel", expect=(408, CLOSED), min_t=0.8, max_t=2.0),
    Case("idle_no_bytes", b"", expect=(408, CLOSED), max_t=2.0),
    Case("keepalive_idle_timeout", GET_HELLO, expect=(200,), close=True, n=1, after_response=(0.8, 2.0),
         note="keepalive_timeout_ms=1000: closed silently after the response"),
]


def judge(case, res):
    """Return a list of problems (empty = pass) for one case's RawResult."""
    probs = []
    try:
        rs, rest = parse_responses(res.data, eof=res.closed)
    except ParseError as e:
        return ["unparseable response bytes (%s): %r" % (e, res.data[:300])]
    if rest:
        probs.append("trailing unparsed bytes %r" % rest[:200])
    if not rs:
        outcome = CLOSED if res.closed else OPEN
    else:
        outcome = rs[0].status
    if outcome not in case.expect:
        probs.append("expected %s, got %s" % (sorted(case.expect, key=str), outcome))
    if case.seq is not None and [r.status for r in rs] != case.seq:
        probs.append("expected responses %s, got %s" % (case.seq, [r.status for r in rs]))
    elif rs and len(rs) != case.n:
        probs.append("expected %d response(s), got %d: %s" % (case.n, len(rs), [r.status for r in rs]))
    for r in rs:
        try:
            check_framing(r)
            if r.status >= 400:
                check_error_body(r)
        except AssertionError as e:
            probs.append("response %d: %s" % (r.status, e))
    if case.close is True and not res.closed:
        probs.append("server did not close the connection within %.1f s" % case.timeout)
    if case.close is False and res.closed:
        probs.append("server closed the connection")
    if rs and res.closed and rs[-1].status >= 400 and not rs[-1].closes():
        probs.append("server closed after %d without sending Connection: close" % rs[-1].status)
    t_end = res.t_closed if res.closed else res.t_first_byte
    if case.max_t is not None and (t_end is None or t_end > case.max_t):
        probs.append("expected close/answer within %.1f s, got %s" % (case.max_t, t_end))
    if case.min_t is not None and t_end is not None and t_end < case.min_t:
        probs.append("closed/answered after %.3f s, before the %.1f s timeout" % (t_end, case.min_t))
    if case.max_first is not None and (res.t_first_byte is None or res.t_first_byte > case.max_first):
        probs.append("first response byte after %s s (want <= %.1f s)" % (res.t_first_byte, case.max_first))
    if case.after_response is not None:
        lo, hi = case.after_response
        if res.t_first_byte is None or res.t_closed is None:
            probs.append("no response or no close (%r)" % res)
        else:
            dt = res.t_closed - res.t_first_byte
            if not lo <= dt <= hi:
                probs.append("closed %.3f s after the response, want %.1f..%.1f s" % (dt, lo, hi))
    return probs


def run_case(port, case):
    try:
        if case.steps is not None:
            res = raw_ex(port, None, timeout=case.timeout, steps=case.steps, max_total=case.max_total)
        else:
            res = raw_ex(port, case.data, timeout=case.timeout)
    except OSError as e:
        return None, ["socket error: %r" % e]
    return res, judge(case, res)


def describe(rs):
    try:
        resps, _ = parse_responses(rs.data, eof=rs.closed)
        got = [r.status for r in resps] or ([CLOSED] if rs.closed else [OPEN])
    except ParseError:
        got = ["unparseable"]
    return "%s closed=%s t_first=%s t_closed=%s" % (got, rs.closed, rs.t_first_byte, rs.t_closed)


class HostileTable(unittest.TestCase):
    srv = None
    results = {}

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(CONFIG, workers=2)
        cls.srv.start()
        with ThreadPoolExecutor(max_workers=10) as ex:
            futs = {c.name: ex.submit(run_case, cls.srv.port, c) for c in CASES}
            cls.results = {name: f.result() for name, f in futs.items()}
        if os.environ.get("HM_VERBOSE"):
            for c in CASES:
                res, probs = cls.results[c.name]
                print("%-36s %s %s" % (c.name, describe(res) if res else None, probs))

    @classmethod
    def tearDownClass(cls):
        if cls.srv:
            try:
                cls.srv.stop(check=True)
            finally:
                cls.srv.cleanup()

    def test_zz_server_still_healthy_after_table(self):
        self.assertTrue(self.srv.alive(), "server process died\n" + self.srv.log_tail())
        status, _h, body = request(self.srv.port, "GET", "/hello")
        self.assertEqual(status, 200, body)
        with RawConn(self.srv.port) as c:
            c.send(GET_HELLO + GET_HELLO)
            self.assertEqual([r.status for r in c.read_responses(2)], [200, 200])
        self.assertIsNone(self.srv.sanitizer_report())


def _make_case_test(case):
    def test(self):
        res, probs = self.results[case.name]
        if probs:
            self.fail("%s\n  request: %r\n  got: %s\n  raw: %r%s" % (
                "; ".join(probs), case.request_bytes()[:300], describe(res) if res else None,
                res.data[:400] if res else None, ("\n  note: " + case.note) if case.note else ""))
    test.__doc__ = case.name
    return test


for _i, _c in enumerate(CASES):
    setattr(HostileTable, "test_%02d_%s" % (_i, _c.name), _make_case_test(_c))


# ---- max_connections -------------------------------------------------------------------------------

MAXCONN_CONFIG = r'''
return {
  limits = { max_connections = 50 },
  routes = { ["GET /hello"] = function(req) return { json = { hello = "world" } } end },
}
'''


class MaxConnections(unittest.TestCase):
    def _over_limit(self, port):
        """Connect one more: expect 503 + close (answering at accept or after a request)."""
        res = raw_ex(port, None, steps=[(0.5, GET_HELLO)], timeout=3.0)
        rs, _ = parse_responses(res.data, eof=res.closed)
        self.assertEqual([r.status for r in rs], [503], "over max_connections: %r" % res)
        check_framing(rs[0])
        check_error_body(rs[0], 503)
        self.assertTrue(res.closed, "server kept the over-limit connection open")
        self.assertTrue(rs[0].closes(), "503 lacks Connection: close")

    def _run(self, workers, extra_probes):
        with Server(MAXCONN_CONFIG, workers=workers) as srv:
            time.sleep(0.3)   # let the start-up health probe's connection go away
            conns = []
            try:
                for i in range(50):
                    c = RawConn(srv.port)
                    conns.append(c)
                    c.send(GET_HELLO)
                    r = c.read_response()
                    self.assertEqual(r.status, 200, "connection %d of 50: %r" % (i + 1, r))
                for _ in range(1 + extra_probes):
                    self._over_limit(srv.port)
                # the 50 still work
                conns[0].send(GET_HELLO)
                self.assertEqual(conns[0].read_response().status, 200)
                conns[-1].send(GET_HELLO)
                self.assertEqual(conns[-1].read_response().status, 200)
            finally:
                for c in conns:
                    c.close()
            # after closing them new connections work again (the close is async: retry briefly)
            deadline = time.monotonic() + 3.0
            while True:
                res = raw_ex(srv.port, b"GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                             timeout=2.0)
                rs, _ = parse_responses(res.data, eof=res.closed)
                if rs and rs[0].status == 200:
                    break
                if time.monotonic() > deadline:
                    self.fail("after closing the 50, a new connection got %r" % res)
                time.sleep(0.1)
            # and a burst of 50 fresh ones all fit again
            conns = []
            try:
                for i in range(50):
                    c = RawConn(srv.port)
                    conns.append(c)
                    c.send(GET_HELLO)
                    self.assertEqual(c.read_response().status, 200, "refill %d" % (i + 1))
            finally:
                for c in conns:
                    c.close()

    def test_max_connections_one_worker(self):
        self._run(1, 0)

    def test_max_connections_global_across_two_workers(self):
        self._run(2, 3)


if __name__ == "__main__":
    run_tests(globals())
