"""examples/grafana/hotelmux.json only queries metrics hotelmux exports: each
family it names is either on /metrics of a demo that served traffic or
registered by the core's sources (families that appear on events: a circuit
opening, a reload, a cross-node invalidation)."""
import glob
import json
import os
import re
import unittest

from hmtest import SOURCE_DIR, Server, request, run_tests
from test_api import call, config, demo_files, stay, ticket


def dashboard_families():
    with open(os.path.join(SOURCE_DIR, "examples", "grafana", "hotelmux.json")) as f:
        d = json.load(f)
    names = set()
    for p in d["panels"]:
        for t in p["targets"]:
            for m in re.findall(r"hotelmux_[a-z_]+", t["expr"]):
                names.add(re.sub(r"_(bucket|sum|count)$", "", m))
    return names


class Dashboard(unittest.TestCase):
    def test_every_queried_family_exists(self):
        names = dashboard_families()
        self.assertGreaterEqual(len(names), 8)
        with Server(config(), workers=2, extra_files=demo_files()) as srv:
            tk = ticket(srv.port)
            ci, co = stay()
            call(srv.port, "/api/search/hotelRates", {"hotelId": "HM-DXB-0004", "checkIn": ci, "checkOut": co,
                                                      "roomOccupancies": [{"adultCount": 2}]}, tk)
            _, _, m = request(srv.port, "GET", "/metrics")
        exported = set(re.findall(r"^# TYPE (hotelmux_[a-z_]+)", m.decode(), re.M))
        sources = ""
        for path in glob.glob(os.path.join(SOURCE_DIR, "core", "*.c")):
            with open(path) as f:
                sources += f.read()
        for n in sorted(names):
            self.assertTrue(n in exported or '"%s"' % n in sources, "dashboard queries unknown metric " + n)
        # the ones a search always produces are really there
        for n in ("hotelmux_http_requests_total", "hotelmux_supplier_requests_total", "hotelmux_cache_requests_total",
                  "hotelmux_supplier_latency_seconds"):
            self.assertIn(n, exported)


if __name__ == "__main__":
    run_tests(globals())
