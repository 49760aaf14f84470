"""The README's curl walk-through (examples/demo-flow.sh) works against the demo."""
import os
import re
import subprocess
import unittest

from hmtest import SOURCE_DIR, Server, run_tests
from test_api import config, demo_files


class DemoFlow(unittest.TestCase):
    def test_script(self):
        with Server(config(), workers=2, extra_files=demo_files()) as srv:
            out = subprocess.run([os.path.join(SOURCE_DIR, "examples", "demo-flow.sh"),
                                  "http://127.0.0.1:%d" % srv.port], capture_output=True, text=True,
                                 timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        text = out.stdout
        self.assertIn("Atlantis, The Palm", text)
        self.assertRegex(text, r"suppliers: .*=ok")
        self.assertIn("status 1 (1 = available), code 0", text)
        self.assertRegex(text, r"code 0: order status 2, supplier \d+, supplierReferenceNo \S+")
        self.assertIn("code 100001003: duplicate customerReferenceNo", text)
        self.assertRegex(text, r"demo-\d+ status 2")
        self.assertRegex(text, r"code 0: status 3, fee [\d.]+ USD")
        # several suppliers sell the same room under their own names
        rows = [l for l in text.splitlines() if l.startswith("Ocean King")]
        self.assertGreaterEqual(len({l.split()[2] for l in rows}), 3)


if __name__ == "__main__":
    run_tests(globals())
