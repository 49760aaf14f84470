"""examples/prometheus/alerts.yml: `promtool check rules` accepts it, and every
metric (and label) its expressions use is in a live /metrics of the demo
gateway (with Redis) after a few searches and a webhook, so no rule silently
watches a series that does not exist. Skips when promtool (Debian package
prometheus) is not installed."""

import os
import re
import shutil
import subprocess
import unittest

from hmtest import SOURCE_DIR, request, run_tests
from test_cache import REDIS, SUPPLIERS, Redis, call, fresh_stay, rates_body, server, ticket
from test_webhooks import WH, event_body, post_webhook
from test_cache import SAMPLE

RULES = os.path.join(SOURCE_DIR, "examples", "prometheus", "alerts.yml")
PROMTOOL = shutil.which("promtool")
SELECTOR = re.compile(r'\b(hotelmux_[a-z0-9_]+)(\{[^}]*\})?')
LABEL = re.compile(r'([a-z_]+)\s*(?:=~|!~|!=|=)\s*"')


def exprs():
    """Every `expr:` of the rules file (block scalars included), without a YAML library."""
    out, cur, indent = [], None, 0
    for line in open(RULES):
        m = re.match(r'^(\s*)expr:\s*(.*)$', line)
        if m:
            if cur is not None:
                out.append(cur)
            indent = len(m.group(1))
            cur = "" if m.group(2).strip() in ("|", ">") else m.group(2)
            continue
        if cur is not None:
            if line.strip() and len(line) - len(line.lstrip()) <= indent:
                out.append(cur)
                cur = None
            else:
                cur += " " + line.strip()
    if cur is not None:
        out.append(cur)
    return out


def exposed(text):
    """metric name -> set of label names seen on it in a /metrics text."""
    seen = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s', line)
        if m:
            seen.setdefault(m.group(1), set()).update(re.findall(r'([a-zA-Z_]+)="', m.group(2) or ""))
    return seen


class Alerts(unittest.TestCase):
    def test_promtool_check_rules(self):
        if not PROMTOOL:
            self.skipTest("promtool not installed (Debian package prometheus)")
        p = subprocess.run([PROMTOOL, "check", "rules", RULES], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("SUCCESS", p.stdout)

    def test_every_metric_used_is_exposed(self):
        used = {}
        for e in exprs():
            for name, sel in SELECTOR.findall(e):
                used.setdefault(name, set()).update(LABEL.findall(sel or ""))
            # labels named in by (...) / without (...) belong to the selectors inside
            for grp in re.findall(r'\bby\s*\(([^)]*)\)', e):
                for name, _sel in SELECTOR.findall(e):
                    used[name].update(l.strip() for l in grp.split(",") if l.strip() not in ("le", "instance", ""))
        self.assertGreaterEqual(len(used), 10, used)
        redis = Redis().start() if REDIS else None
        try:
            with server(redis_port=redis.port if redis else None) as srv:
                tk = ticket(srv.port)
                ci, co = fresh_stay()
                for _ in range(2):   # a miss, then hits
                    st, j = call(srv.port, "/api/search/hotelRates", rates_body("HM-DXB-0002", ci, co), tk)
                    self.assertEqual((st, j["code"]), (200, 0), j)
                if WH:
                    sup = WH[0]
                    st, j = post_webhook(srv.port, sup, event_body(sup, "ROOM_SOLD_OUT", SAMPLE[sup][1]))
                    self.assertEqual(st, 200, j)
                st, _h, body = request(srv.port, "GET", "/metrics")
                self.assertEqual(st, 200)
                seen = exposed(body.decode())
        finally:
            if redis:
                redis.close()
        missing = sorted(n for n in used if n not in seen)
        self.assertEqual(missing, [], "rules use metrics /metrics does not expose")
        for name, labels in used.items():
            self.assertLessEqual(labels, seen[name], "%s: labels %s not on the exposed series" %
                                 (name, sorted(labels - seen[name])))


if __name__ == "__main__":
    run_tests(globals())
