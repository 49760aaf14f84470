"""access_log = true: one JSON line per response, tied to the request id,
without query strings (they can carry credentials or guests' data)."""
import json
import socket
import time
import unittest

from hmtest import Server, request, run_tests

CONFIG = r'''
return { workers = 1, access_log = true, routes = {
  ["GET /hello"] = function() return { json = { hello = "world" } } end,
} }
'''


class AccessLog(unittest.TestCase):
    def test_lines(self):
        with Server(CONFIG, workers=1) as srv:
            st, h, _ = request(srv.port, "GET", "/hello?appSecret=hunter2&email=ann@example.com")
            self.assertEqual(st, 200)
            rid = h["x-request-id"]
            st, _, _ = request(srv.port, "GET", "/missing")
            self.assertEqual(st, 404)
            s = socket.create_connection(("127.0.0.1", srv.port))
            s.sendall(b"BREW /pot HTTP/1.1\r\nHost: t\r\n\r\n")
            s.recv(4096)
            s.close()
            time.sleep(0.2)
            lines = [json.loads(l) for l in srv.log_text().splitlines()
                     if l.startswith("{") and '"type":"access"' in l]
        by_status = {l["status"]: l for l in lines}
        self.assertEqual(set(by_status), {200, 404, 400})
        ok = by_status[200]
        self.assertEqual((ok["method"], ok["path"], ok["rid"]), ("GET", "/hello", rid))
        self.assertGreater(ok["bytes"], 0)
        self.assertGreaterEqual(ok["ms"], 0)
        self.assertEqual(ok["peer"], "127.0.0.1")
        self.assertIn("ts", ok)
        text = json.dumps(lines)
        self.assertNotIn("hunter2", text)
        self.assertNotIn("example.com", text)


if __name__ == "__main__":
    run_tests(globals())
