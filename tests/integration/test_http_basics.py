"""HTTP/1.1 basics against the real binary: keep-alive, pipelining, request bodies
(Content-Length and chunked), HEAD, Expect: 100-continue, connection close rules,
Date/Content-Length on every response, 404/405, JSON/text/nil handler results."""

import http.client
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hmtest import (RawConn, Server, check_date, check_error_body, check_framing,  # noqa: E402
                    parse_responses, raw_ex, request, run_tests)

CONFIG = r'''
return {
  admin_token = "basics-token",
  scripts = { "app.lua" },
  routes = {
    ["GET /hello"] = function(req) return { json = { hello = "world" } } end,
    ["POST /echo"] = function(req)
      return { status = 200, headers = { ["content-type"] = "application/octet-stream" }, body = req.body }
    end,
    ["GET /text"] = function(req) return "hi there" end,
    ["GET /nothing"] = function(req) return nil end,
  },
}
'''

APP = r'''
hm.route("GET", "/hotel/{id}", function(req)
  return { json = { id = req.params.id, q = req.args.q, method = req.method, path = req.path } }
end)
'''

GET_HELLO = b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"


def echo_req(body, extra=b""):
    return (b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n%s\r\n" % (len(body), extra)) + body


def chunked(body, sizes):
    out = b""
    p = 0
    for n in sizes:
        piece = body[p:p + n]
        p += n
        if piece:
            out += b"%x\r\n%s\r\n" % (len(piece), piece)
    assert p >= len(body)
    return out + b"0\r\n\r\n"


BINARY_BODY = bytes(range(256)) * 64 + b"\r\n\r\n\x00\x00HTTP/1.1 200 OK\r\n\r\n"


class HttpBasics(unittest.TestCase):
    srv = None

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(CONFIG, workers=2, extra_files={"app.lua": APP})
        cls.srv.start()

    @classmethod
    def tearDownClass(cls):
        if cls.srv:
            try:
                cls.srv.stop(check=True)
            finally:
                cls.srv.cleanup()

    @property
    def port(self):
        return self.srv.port

    def assertHelloResponse(self, r):
        self.assertEqual(r.status, 200, r)
        check_framing(r)
        self.assertEqual((r.header("content-type") or "").split(";")[0].strip(), "application/json", r)
        self.assertEqual(r.json(), {"hello": "world"})

    # ---- routes / handler results -----------------------------------------------
    def test_json_route(self):
        status, headers, body = request(self.port, "GET", "/hello")
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("Content-Type", "").split(";")[0].strip(), "application/json")
        import json
        self.assertEqual(json.loads(body), {"hello": "world"})
        self.assertEqual(int(headers["Content-Length"]), len(body))
        check_date(headers.get("Date"))

    def test_query_string_does_not_change_route(self):
        with RawConn(self.port) as c:
            c.send(b"GET /hello?a=1&b=2 HTTP/1.1\r\nHost: t\r\n\r\n")
            self.assertHelloResponse(c.read_response())

    def test_text_route(self):
        with RawConn(self.port) as c:
            c.send(b"GET /text HTTP/1.1\r\nHost: t\r\n\r\n")
            r = c.read_response()
        self.assertEqual(r.status, 200, r)
        check_framing(r)
        self.assertEqual((r.header("content-type") or "").split(";")[0].strip(), "text/plain", r)
        self.assertEqual(r.body, b"hi there")

    def test_nil_route_is_204_without_body(self):
        with RawConn(self.port) as c:
            # a second request right behind it proves the 204 carried no body
            c.send(b"GET /nothing HTTP/1.1\r\nHost: t\r\n\r\n" + GET_HELLO)
            r1, r2 = c.read_responses(2)
        self.assertEqual(r1.status, 204, r1)
        check_framing(r1)
        self.assertEqual(r1.body, b"")
        self.assertHelloResponse(r2)

    def test_script_route_with_params_and_args(self):
        with RawConn(self.port) as c:
            c.send(b"GET /hotel/h-42?q=a%20b&x=1 HTTP/1.1\r\nHost: t\r\n\r\n")
            r = c.read_response()
        self.assertEqual(r.status, 200, r)
        check_framing(r)
        j = r.json()
        self.assertEqual(j.get("id"), "h-42", j)
        self.assertEqual(j.get("q"), "a b", j)
        self.assertEqual(j.get("method"), "GET", j)
        self.assertEqual(j.get("path"), "/hotel/h-42", j)

    def test_404_unknown_path(self):
        with RawConn(self.port) as c:
            c.send(b"GET /no/such/path HTTP/1.1\r\nHost: t\r\n\r\n")
            r = c.read_response()
            self.assertEqual(r.status, 404, r)
            check_framing(r)
            check_error_body(r, 404)
            # a 404 is not a protocol error: the connection stays usable
            if not r.closes():
                c.send(GET_HELLO)
                self.assertHelloResponse(c.read_response())

    def test_405_wrong_method(self):
        cases = [(b"POST", b"/hello", "GET"), (b"DELETE", b"/hello", "GET"),
                 (b"GET", b"/echo", "POST"), (b"PUT", b"/echo", "POST")]
        with RawConn(self.port) as c:
            for method, path, allowed in cases:
                c.send(b"%s %s HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n" % (method, path))
                r = c.read_response()
                self.assertEqual(r.status, 405, (method, path, r))
                check_framing(r)
                check_error_body(r, 405)
                allow = [t.strip().upper() for t in (r.header("allow") or "").split(",")]
                self.assertIn(allowed, allow, "Allow header %r for %s %s" % (r.header("allow"), method, path))
                self.assertFalse(r.closes(), "405 should not close the connection: %r" % r)

    # ---- built-in endpoints -------------------------------------------------------
    def test_builtin_health_ready_metrics(self):
        for path in ("/health", "/ready", "/metrics"):
            status, headers, body = request(self.port, "GET", path)
            self.assertEqual(status, 200, path)
            self.assertEqual(int(headers["Content-Length"]), len(body), path)
            check_date(headers.get("Date"))
        status, headers, body = request(self.port, "GET", "/metrics")
        self.assertTrue(headers.get("Content-Type", "").startswith("text/plain"), headers.get("Content-Type"))

    def test_admin_requires_bearer_token(self):
        for hdrs in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "basics-token"}):
            status, _h, body = request(self.port, "GET", "/admin/status", headers=hdrs)
            self.assertEqual(status, 401, (hdrs, body))
        status, _h, body = request(self.port, "GET", "/admin/status",
                                   headers={"Authorization": "Bearer basics-token"})
        self.assertEqual(status, 200, body)

    # ---- keep-alive / pipelining ----------------------------------------------------
    def test_keepalive_several_requests_one_socket(self):
        with RawConn(self.port) as c:
            for i in range(6):
                if i % 2:
                    body = b"req-%d" % i
                    c.send(echo_req(body))
                    r = c.read_response()
                    self.assertEqual(r.status, 200, r)
                    check_framing(r)
                    self.assertEqual(r.body, body)
                else:
                    c.send(GET_HELLO)
                    r = c.read_response()
                    self.assertHelloResponse(r)
                self.assertFalse(r.closes(), "keep-alive response says Connection: close: %r" % r)
                self.assertFalse(c.closed, "server closed a keep-alive connection after request %d" % i)
            self.assertFalse(c.wait_closed(0.3), "server closed an idle keep-alive connection early")

    def test_keepalive_http_client_reuses_socket(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request("GET", "/hello")
            resp = conn.getresponse()
            resp.read()
            self.assertEqual(resp.status, 200)
            sock = conn.sock
            self.assertIsNotNone(sock, "http.client saw the connection close after the first response")
            for _ in range(4):
                conn.request("POST", "/echo", body=b"xyz")
                resp = conn.getresponse()
                self.assertEqual(resp.read(), b"xyz")
                self.assertIs(conn.sock, sock, "connection was not kept alive")
        finally:
            conn.close()

    def test_pipelining_three_in_one_write(self):
        with RawConn(self.port) as c:
            c.send(echo_req(b"first") + GET_HELLO + echo_req(b"third"))
            r1, r2, r3 = c.read_responses(3)
            self.assertEqual(r1.status, 200, r1)
            self.assertEqual(r1.body, b"first")
            self.assertHelloResponse(r2)
            self.assertEqual(r3.status, 200, r3)
            self.assertEqual(r3.body, b"third")
            for r in (r1, r3):
                check_framing(r)
            self.assertEqual(c.idle_bytes(0.2), b"", "extra bytes after the three responses")

    def test_pipelining_many_in_order(self):
        n = 50
        data = b"".join(echo_req(b"n=%03d" % i) for i in range(n))
        with RawConn(self.port) as c:
            c.send(data)
            rs = c.read_responses(n, timeout=10)
        self.assertEqual([r.body for r in rs], [b"n=%03d" % i for i in range(n)])
        for r in rs:
            check_framing(r)

    def test_pipelining_split_mid_request(self):
        data = echo_req(b"alpha") + GET_HELLO + echo_req(b"gamma")
        cut = len(echo_req(b"alpha")) + 10   # inside the second request line
        with RawConn(self.port) as c:
            c.send(data[:cut])
            r1 = c.read_response()
            self.assertEqual(r1.body, b"alpha")
            time.sleep(0.1)
            c.send(data[cut:-3])
            self.assertHelloResponse(c.read_response())
            self.assertEqual(c.idle_bytes(0.2), b"")
            c.send(data[-3:])
            r3 = c.read_response()
            self.assertEqual(r3.body, b"gamma")

    # ---- request bodies ------------------------------------------------------------
    def test_body_content_length_binary(self):
        with RawConn(self.port) as c:
            c.send(echo_req(BINARY_BODY))
            r = c.read_response()
        self.assertEqual(r.status, 200, r)
        check_framing(r)
        self.assertEqual(r.header("content-type"), "application/octet-stream")
        self.assertEqual(len(r.body), len(BINARY_BODY))
        self.assertEqual(r.body, BINARY_BODY)

    def test_body_content_length_zero(self):
        with RawConn(self.port) as c:
            c.send(echo_req(b""))
            r = c.read_response()
        self.assertEqual(r.status, 200, r)
        check_framing(r)
        self.assertEqual(r.body, b"")

    def test_body_content_length_sent_slowly(self):
        body = bytes(range(256)) * 8
        head = b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body)
        with RawConn(self.port) as c:
            c.send(head[:20])
            time.sleep(0.05)
            c.send(head[20:] + body[:100])
            time.sleep(0.05)
            c.send(body[100:1000])
            time.sleep(0.05)
            c.send(body[1000:])
            r = c.read_response()
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, body)

    def test_body_at_max_body_bytes(self):
        body = (bytes(range(256)) * 4096)[:1048576]   # default max_body_bytes exactly
        with RawConn(self.port, timeout=20) as c:
            c.send(echo_req(body))
            r = c.read_response(timeout=20)
        self.assertEqual(r.status, 200, repr(r)[:300])
        check_framing(r)
        self.assertTrue(r.body == body, "1 MiB echo differs (got %d bytes)" % len(r.body))

    def test_body_chunked_binary(self):
        sizes = [1, 2, 300, 4096, 17, 100000]
        enc = chunked(BINARY_BODY, sizes)
        with RawConn(self.port) as c:
            c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + enc)
            r = c.read_response()
            self.assertEqual(r.status, 200, r)
            check_framing(r)
            self.assertEqual(r.body, BINARY_BODY)
            # and the connection is still good for the next request
            c.send(GET_HELLO)
            self.assertHelloResponse(c.read_response())

    def test_body_chunked_uppercase_hex_extension_trailer(self):
        body = b"A" * 0x1F + b"bcdef"
        enc = (b"1F;name=value\r\n" + b"A" * 0x1F + b"\r\n" + b"5\r\nbcdef\r\n"
               + b"0\r\nX-Trailer: yes\r\n\r\n")
        with RawConn(self.port) as c:
            c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + enc
                   + GET_HELLO)
            r1, r2 = c.read_responses(2)
        self.assertEqual(r1.status, 200, r1)
        self.assertEqual(r1.body, body)
        self.assertHelloResponse(r2)

    def test_body_chunked_in_pieces(self):
        enc = chunked(BINARY_BODY, [1000, 5000, 20000])
        with RawConn(self.port) as c:
            c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
            for i in range(0, len(enc), 3001):
                c.send(enc[i:i + 3001])
                time.sleep(0.01)
            r = c.read_response()
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, BINARY_BODY)

    # ---- HEAD -----------------------------------------------------------------------
    def test_head_same_headers_as_get_no_body(self):
        for path in (b"/hello", b"/text"):
            with RawConn(self.port) as c:
                c.send(b"GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % path)
                g = c.read_response()
                # HEAD then GET pipelined: the GET's response must start right after the HEAD head
                c.send(b"HEAD %s HTTP/1.1\r\nHost: t\r\n\r\n" % path + GET_HELLO)
                h, nxt = c.read_responses(2, head=[True, False])
            self.assertEqual(g.status, 200, g)
            self.assertEqual(h.status, 200, h)
            self.assertEqual(h.body, b"")
            self.assertTrue(h.raw.endswith(b"\r\n\r\n"))
            self.assertEqual(h.header("content-length"), g.header("content-length"),
                             "HEAD Content-Length must equal GET's (%s)" % path)
            self.assertEqual(h.header("content-type"), g.header("content-type"))
            check_date(h.header("date"))
            self.assertHelloResponse(nxt)
            self.assertEqual(sorted(k.lower() for k, _ in h.headers if k.lower() != "date"),
                             sorted(k.lower() for k, _ in g.headers if k.lower() != "date"),
                             "HEAD header names differ from GET's")

    def test_head_unknown_path_404_no_body(self):
        with RawConn(self.port) as c:
            c.send(b"HEAD /nope HTTP/1.1\r\nHost: t\r\n\r\n" + GET_HELLO)
            h, nxt = c.read_responses(2, head=[True, False])
        self.assertEqual(h.status, 404, h)
        self.assertEqual(h.body, b"")
        self.assertHelloResponse(nxt)

    # ---- Expect: 100-continue ---------------------------------------------------------
    def _expect_continue(self, value):
        body = b"payload-after-continue"
        with RawConn(self.port) as c:
            c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nExpect: %s\r\nContent-Length: %d\r\n\r\n"
                   % (value, len(body)))
            interim = c.read_until(b"\r\n\r\n", timeout=2)
            self.assertTrue(interim.startswith(b"HTTP/1.1 100 Continue\r\n"),
                            "expected 100 Continue before sending the body, got %r" % interim)
            c.send(body)
            r = c.read_response()
        self.assertEqual(r.status, 200, r)
        check_framing(r)
        self.assertEqual(r.body, body)

    def test_expect_100_continue(self):
        self._expect_continue(b"100-continue")

    def test_expect_100_continue_case_insensitive(self):
        self._expect_continue(b"100-Continue")

    def test_expect_100_continue_chunked(self):
        with RawConn(self.port) as c:
            c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n")
            interim = c.read_until(b"\r\n\r\n", timeout=2)
            self.assertTrue(interim.startswith(b"HTTP/1.1 100 Continue\r\n"), interim)
            c.send(b"3\r\nabc\r\n0\r\n\r\n")
            r = c.read_response()
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, b"abc")

    # ---- connection close rules ---------------------------------------------------------
    def test_connection_close_header(self):
        with RawConn(self.port) as c:
            c.send(b"GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            r = c.read_response()
            self.assertHelloResponse(r)
            self.assertTrue(r.closes(), "response to Connection: close lacks Connection: close")
            self.assertTrue(c.wait_closed(2.0), "server did not close after Connection: close")
            self.assertEqual(c.buf, b"")

    def test_http10_without_keepalive_closes(self):
        with RawConn(self.port) as c:
            c.send(b"GET /hello HTTP/1.0\r\n\r\n")
            r = c.read_response()
            self.assertHelloResponse(r)
            self.assertTrue(c.wait_closed(2.0), "server kept an HTTP/1.0 connection open")
            self.assertEqual(c.buf, b"")
        self.assertIn(r.version, ("HTTP/1.0", "HTTP/1.1"))
        self.assertNotIn("keep-alive", (r.header("connection") or "").lower())

    def test_http10_post_body(self):
        res = raw_ex(self.port, b"POST /echo HTTP/1.0\r\nContent-Length: 4\r\n\r\nab\x00c", timeout=3)
        rs, rest = parse_responses(res.data, eof=res.closed)
        self.assertEqual(len(rs), 1, res)
        self.assertEqual(rs[0].status, 200)
        self.assertEqual(rs[0].body, b"ab\x00c")
        self.assertTrue(res.closed, res)

    # ---- Date / Content-Length on every response -------------------------------------------
    def test_date_and_content_length_on_every_response(self):
        reqs = [
            (GET_HELLO, 200, False),
            (b"GET /text HTTP/1.1\r\nHost: t\r\n\r\n", 200, False),
            (b"GET /nothing HTTP/1.1\r\nHost: t\r\n\r\n", 204, False),
            (b"GET /nope HTTP/1.1\r\nHost: t\r\n\r\n", 404, False),
            (b"POST /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", 405, False),
            (echo_req(b"12345"), 200, False),
            (b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n", 200, False),
            (b"GET /ready HTTP/1.1\r\nHost: t\r\n\r\n", 200, False),
            (b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n", 200, False),
            (b"GET /admin/status HTTP/1.1\r\nHost: t\r\n\r\n", 401, False),
            (b"GET /hotel/1 HTTP/1.1\r\nHost: t\r\n\r\n", 200, False),
        ]
        with RawConn(self.port) as c:
            for data, status, _ in reqs:
                c.send(data)
                r = c.read_response()
                self.assertEqual(r.status, status, (data, r))
                check_framing(r)
                self.assertIsNone(r.header("transfer-encoding"), r)
                if status >= 400:
                    check_error_body(r, status)
        # a protocol error response too (400, then close)
        res = raw_ex(self.port, b"GET /hello HTTP/1.1\r\n\r\n", timeout=3)
        rs, _ = parse_responses(res.data, eof=res.closed)
        self.assertEqual([r.status for r in rs], [400], res)
        check_framing(rs[0])
        check_error_body(rs[0], 400)

    def test_date_header_updates(self):
        _s, h1, _b = request(self.port, "GET", "/hello")
        d1 = check_date(h1.get("Date"))
        time.sleep(2.1)
        _s, h2, _b = request(self.port, "GET", "/hello")
        d2 = check_date(h2.get("Date"))
        self.assertGreaterEqual((d2 - d1).total_seconds(), 1, "Date did not advance: %s -> %s" % (d1, d2))


if __name__ == "__main__":
    run_tests(globals())
