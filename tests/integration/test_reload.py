"""Hot reload (SIGHUP and POST /admin/reload), config check (-t), graceful stop."""
import http.client
import json
import os
import signal
import subprocess
import threading
import time
import unittest

from hmtest import BINARY, HOST, Server, request, run_tests

CONFIG = r'''
return {
  admin_token = "s3cret",
  scripts = { "app.lua" },
  limits = { drain_timeout_ms = 5000 },
}
'''


def app(version, broken=False):
    body = r'''
hm.route("GET", "/version", function(req) return { json = { version = VERSION } } end)
hm.route("GET", "/slow", function(req)
  hm.sleep(tonumber(req.args.s or "1"))
  return { json = { version = VERSION } }
end)
return { self_check = function() return VERSION ~= "selfcheck-fails", "version refused" end }
'''.replace("VERSION", '"%s"' % version)
    if broken:
        body += "\nthis is not lua (\n"
    return body


AUTH = {"Authorization": "Bearer s3cret"}


def status(port):
    st, _, body = request(port, "GET", "/admin/status", headers=AUTH)
    assert st == 200, body
    return json.loads(body)["data"]


def version(port):
    st, _, body = request(port, "GET", "/version")
    assert st == 200, (st, body)
    return json.loads(body)["version"]


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Reload(unittest.TestCase):
    def setUp(self):
        # Under ASan freed memory sits in a 256 MB quarantine, which would hide
        # or fake a leak in the RSS check; keep it small so RSS stays meaningful.
        env = None
        if os.environ.get("HM_SANITIZED") == "1":
            env = {"ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") +
                   ":quarantine_size_mb=4:allocator_release_to_os_interval_ms=100"}
        self.srv = Server(CONFIG, workers=2, extra_files={"app.lua": app("v1")}, env=env).start()
        self.script = os.path.join(self.srv.dir, "app.lua")

    def tearDown(self):
        self.srv.stop()
        self.srv.cleanup()

    def write(self, text):
        with open(self.script, "w") as f:
            f.write(text)

    def wait_generation(self, gen, timeout=5):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if status(self.srv.port)["generation"]["number"] >= gen:
                return
            time.sleep(0.02)
        self.fail("generation %d never came" % gen)

    def test_sighup_swaps_scripts(self):
        self.assertEqual(version(self.srv.port), "v1")
        self.assertEqual(status(self.srv.port)["generation"]["number"], 1)
        self.write(app("v2"))
        os.kill(self.srv.pid, signal.SIGHUP)
        self.wait_generation(2)
        time.sleep(0.05)
        for _ in range(10):  # every worker
            self.assertEqual(version(self.srv.port), "v2")

    def test_admin_reload_and_auth(self):
        st, _, body = request(self.srv.port, "POST", "/admin/reload")
        self.assertEqual(st, 401)
        self.assertEqual(json.loads(body)["code"], 401)
        st, _, _ = request(self.srv.port, "POST", "/admin/reload",
                           headers={"Authorization": "Bearer wrong"})
        self.assertEqual(st, 401)
        st, _, _ = request(self.srv.port, "GET", "/admin/reload", headers=AUTH)
        self.assertEqual(st, 405)
        self.write(app("v3"))
        st, _, body = request(self.srv.port, "POST", "/admin/reload", headers=AUTH)
        self.assertEqual(st, 200, body)
        self.assertEqual(json.loads(body)["data"]["generation"], 2)
        time.sleep(0.05)
        self.assertEqual(version(self.srv.port), "v3")

    def test_broken_reload_keeps_running_generation(self):
        self.write(app("v2", broken=True))
        st, _, body = request(self.srv.port, "POST", "/admin/reload", headers=AUTH)
        self.assertEqual(st, 422, body)
        j = json.loads(body)
        self.assertRegex(j["msg"], r"app\.lua:\d+:")
        self.assertEqual(j["data"]["generation"], 1)
        self.assertEqual(version(self.srv.port), "v1")
        s = status(self.srv.port)
        self.assertEqual(s["reloads"]["failure"], 1)
        self.assertRegex(s["reloads"]["lastError"], r"app\.lua:\d+:")
        # a failing self-check is refused the same way
        self.write(app("selfcheck-fails"))
        os.kill(self.srv.pid, signal.SIGHUP)
        time.sleep(0.5)
        self.assertEqual(version(self.srv.port), "v1")
        s = status(self.srv.port)
        self.assertEqual(s["reloads"]["failure"], 2)
        self.assertIn("self_check failed: version refused", s["reloads"]["lastError"])
        _, _, metrics = request(self.srv.port, "GET", "/metrics")
        self.assertIn('hotelmux_reloads_total{result="failure"} 2', metrics.decode())
        self.assertIn("reload failed", self.srv.log_text())

    def test_in_flight_request_finishes_on_its_generation(self):
        result = {}

        def slow():
            st, _, body = request(self.srv.port, "GET", "/slow?s=0.8")
            result["r"] = (st, json.loads(body))
        th = threading.Thread(target=slow)
        th.start()
        time.sleep(0.2)
        self.write(app("v2"))
        st, _, _ = request(self.srv.port, "POST", "/admin/reload", headers=AUTH)
        self.assertEqual(st, 200)
        self.assertEqual(version(self.srv.port), "v2")
        self.assertEqual(status(self.srv.port)["luaStates"], 3)  # 2 current + 1 draining
        th.join()
        self.assertEqual(result["r"], (200, {"version": "v1"}))
        time.sleep(0.1)
        self.assertEqual(status(self.srv.port)["luaStates"], 2)  # the old one is gone

    def test_reload_under_load_fails_nothing(self):
        stop = threading.Event()
        counts = {"ok": 0, "bad": []}
        lock = threading.Lock()

        def load():
            conn = http.client.HTTPConnection(HOST, self.srv.port, timeout=10)
            while not stop.is_set():
                try:
                    conn.request("GET", "/version")
                    resp = conn.getresponse()
                    data = resp.read()
                    with lock:
                        if resp.status == 200:
                            counts["ok"] += 1
                        else:
                            counts["bad"].append((resp.status, data))
                except Exception as e:  # noqa: BLE001 - any failure counts
                    with lock:
                        counts["bad"].append(repr(e))
                    conn.close()
                    conn = http.client.HTTPConnection(HOST, self.srv.port, timeout=10)
            conn.close()
        threads = [threading.Thread(target=load) for _ in range(4)]
        for t in threads:
            t.start()
        def reloads():
            r = status(self.srv.port)["reloads"]
            return r["success"] + r["failure"]
        for i in range(20):
            self.write(app("v%d" % (i + 2), broken=(i % 5 == 4)))
            before = reloads()
            os.kill(self.srv.pid, signal.SIGHUP)
            # one at a time: SIGHUPs that arrive together are one signal
            # (the kernel keeps one pending), so a loaded machine merged two
            deadline = time.time() + 10
            while reloads() == before and time.time() < deadline:
                time.sleep(0.01)
        stop.set()
        for t in threads:
            t.join()
        self.assertEqual(counts["bad"], [])
        self.assertGreater(counts["ok"], 100)
        s = status(self.srv.port)
        self.assertEqual(s["reloads"]["failure"], 4)
        self.assertEqual(s["reloads"]["success"], 16)

    def test_thousand_reloads_do_not_leak(self):
        for _ in range(50):
            request(self.srv.port, "POST", "/admin/reload", headers=AUTH)
        base = rss_kb(self.srv.pid)
        for _ in range(1000):
            st, _, body = request(self.srv.port, "POST", "/admin/reload", headers=AUTH)
            self.assertEqual(st, 200, body)
        time.sleep(0.2)
        s = status(self.srv.port)
        self.assertEqual(s["generation"]["number"], 1051)
        self.assertEqual(s["luaStates"], 2)
        grown = rss_kb(self.srv.pid) - base
        print("rss growth over 1000 reloads: %d KiB (from %d KiB)" % (grown, base))
        # sanitizer builds still keep a 4 MB quarantine and bigger allocations
        limit = 16 * 1024 if os.environ.get("HM_SANITIZED") == "1" else 8 * 1024
        self.assertLess(grown, limit)


class ConfigCheck(unittest.TestCase):
    def run_t(self, files):
        import tempfile
        with tempfile.TemporaryDirectory(prefix="hmcheck-") as d:
            for name, text in files.items():
                with open(os.path.join(d, name), "w") as f:
                    f.write(text)
            p = subprocess.run([BINARY, "-t", "-c", os.path.join(d, "config.lua")],
                               capture_output=True, text=True, timeout=20)
        return p.returncode, p.stdout + p.stderr

    def test_good_config(self):
        code, out = self.run_t({"config.lua": CONFIG, "app.lua": app("v1")})
        self.assertEqual(code, 0, out)
        self.assertIn("ok", out)

    def test_broken_script(self):
        code, out = self.run_t({"config.lua": CONFIG, "app.lua": app("v1", broken=True)})
        self.assertEqual(code, 1)
        self.assertRegex(out, r"app\.lua:\d+:")

    def test_bad_config_values(self):
        for cfg, needle in (("return { workers = 0 }", "workers"),
                            ("return { listen = 'nope' }", "listen"),
                            ("return { limits = { max_body_bytes = -1 } }", "max_body_bytes"),
                            ("return 42", "must return a table"),
                            ("return { scripts = { 'missing.lua' } }", "missing.lua"),
                            ("return { routes = { ['GET'] = function() end } }", "METHOD /path"),
                            ("return { scripts = { '/etc/passwd' } }", "outside")):
            code, out = self.run_t({"config.lua": cfg})
            self.assertEqual(code, 1, cfg)
            self.assertIn(needle, out, cfg)

    def test_cli(self):
        p = subprocess.run([BINARY, "--version"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0)
        self.assertRegex(p.stdout, r"hotelmux \d+\.\d+\.\d+")
        p = subprocess.run([BINARY, "--help"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0)
        self.assertIn("--listen", p.stdout)
        p = subprocess.run([BINARY, "--bogus"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 2)


class GracefulStop(unittest.TestCase):
    def test_sigterm_finishes_in_flight_requests(self):
        srv = Server(CONFIG, workers=2, extra_files={"app.lua": app("v1")}).start()
        try:
            result = {}

            def slow():
                result["r"] = request(srv.port, "GET", "/slow?s=1")
            th = threading.Thread(target=slow)
            th.start()
            time.sleep(0.2)
            os.kill(srv.pid, signal.SIGTERM)
            th.join()
            self.assertEqual(result["r"][0], 200)
            self.assertEqual(srv.proc.wait(timeout=10), 0)
        finally:
            srv.stop(check=False)
            srv.cleanup()


if __name__ == "__main__":
    run_tests(globals())
