#!/usr/bin/env python3
"""Seeds for fuzz_connector from the real supplier captures, made at test time.

The captures in $HM_SHARED/fixtures/<supplier>/ are third-party data: they are
never copied into the repository. This script reads them, writes fuzz inputs
(see fuzz_connector.c for the format) into OUT, then runs RUNNER (the corpus
runner or the libFuzzer binary, with any extra arguments) on OUT. Rate keys for
check_avail/book seeds come from replaying each search capture with
`hotelmux replay` and the driver's query. Exits 77 (ctest SKIP) when there
are no captures.

usage: connector_seeds.py HOTELMUX OUT RUNNER [RUNNER_ARGS...]
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
SHARED = os.environ.get("HM_SHARED") or os.path.join(SRC, "..", "shared")
# connector (index as in fuzz_connector.c) -> fixtures folder
CONNECTORS = [("hotelbeds", "hotelbeds"), ("expedia", "expedia_rapid"), ("agoda", "agoda"),
              ("derbysoft", "derbysoft"), ("dida", "dida")]
# the driver's query, without the key (fuzz_connector.c query_fmt)
QUERY = {"hotel_ids": ["156652", "GB113", "10399", "16017", "1"], "check_in": "2027-03-01",
         "check_out": "2027-03-03", "nights": 2, "rooms": [{"adults": 2, "children": []}],
         "currency": "USD", "nationality": "US"}


def keys_in(doc, out):
    if isinstance(doc, dict):
        for k, v in doc.items():
            if k == "key" and isinstance(v, str) and v:
                out.append(v)
            else:
                keys_in(v, out)
    elif isinstance(doc, list):
        for v in doc:
            keys_in(v, out)


def main():
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    hotelmux, out, runner = sys.argv[1], sys.argv[2], sys.argv[3:]
    fixtures = os.path.join(SHARED, "fixtures")
    if not os.path.isdir(fixtures):
        print("no supplier captures under %s: skipped" % fixtures)
        return 77
    os.makedirs(out, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="hm-fuzz-seeds-")
    qpath = os.path.join(tmp, "q.json")
    with open(qpath, "w") as f:
        json.dump(QUERY, f)
    n = 0
    for idx, (name, folder) in enumerate(CONNECTORS):
        d = os.path.join(fixtures, folder)
        if not os.path.isdir(d):
            continue
        files = sorted(f for f in os.listdir(d) if f.endswith(".json") and "request" not in f)
        keys = []
        for f in files:
            p = subprocess.run([hotelmux, "replay", "--connector",
                                os.path.join(SRC, "scripts", "connectors", name + ".lua"),
                                "--op", "search", "--response", os.path.join(d, f), "--input", qpath,
                                "--config", os.path.join(SRC, "examples", "demo.lua"),
                                "--supplier", name], capture_output=True, timeout=60)
            try:
                keys_in(json.loads(p.stdout.decode("utf-8", "replace") or "{}").get("result"), keys)
            except ValueError:
                pass
        key = (keys[0] if keys else "k").encode()
        for f in files:
            with open(os.path.join(d, f), "rb") as fh:
                body = fh.read()
            for op in range(3):
                seed = bytes([idx, op]) + (key + b"\n" if op else b"") + body
                with open(os.path.join(out, "%s-%d-%s" % (name, op, f)), "wb") as fh:
                    fh.write(seed)
                n += 1
    if n == 0:
        print("no supplier captures under %s: skipped" % fixtures)
        return 77
    print("%d seeds from the captures in %s" % (n, out))
    sys.stdout.flush()
    return subprocess.call(runner + [out])


if __name__ == "__main__":
    sys.exit(main())
