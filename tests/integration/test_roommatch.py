"""Room mapping measured on real labelled data (issue 5).

Third-party data under HM_SHARED (default <repo>/../shared), never copied into
the repo: data/roommatch/ (see its README). Without it every case SKIPS.

What is learned from data, and on what it is evaluated:
  * Expedia <-> Booking pair matching: nothing is fitted, so there is nothing
    to cross-validate. The lexicon, the attribute penalties and the weights
    in core/roomname.c are hand-set from general hotel vocabulary; no rule
    names a pair, hotel, tower or brand of the data. But their authors read
    these files and looked at the failures while choosing the rules (e.g.
    "standard"/"traditional" as a weak class token, "lounge" = club tier), so
    every pair number below is a DEVELOPMENT-SET number, not a blind test;
    the 85-pair set is a subset of the 103-pair set, not an independent one.
  * GDS room categories: the averaged perceptron (hm_roomcat) is trained on
    80 % of the rows and scored on the other 20 %, split by md5 of the room
    text (the part after '|'), so no room text is on both sides; plus a 5-fold
    cross-validation over the same md5 buckets.

Metrics follow the README: top-1 over all distinct names of the other side
(pooled), ties counted as an expectation; lenient gold = any partner of the
identical query string, strict gold = the row's own partner. "Within hotel"
uses blocks of 10 consecutive rows (the file gives no hotel ids; consecutive
rows come in hotel blocks), candidates = the other side's distinct names in
the block.

Within a hotel, two ways to pick, both reported:
  * argmax: each query alone takes its best candidate (`map --best`).
  * one-to-one: `map --best --assign` (core/roomassign.c): a supplier lists
    each room once, so the best pairs are decided first and a merged
    candidate is out of the running for the other queries. This is what the
    product does: hotelRates (scripts/api/search.lua) and mapping.group place
    each supplier's rooms with mapping.assign, the same C routine. It
    learns nothing from data: its only inputs are the scores and the
    policy's merge_threshold and min_margin (unchanged), so there is nothing
    to cross-validate; its numbers are development-set numbers like the
    rest. The within-hotel targets are judged on the one-to-one numbers; the argmax
    ones stay asserted at what they reached. Pooled numbers are argmax only:
    the pooled lists mix hotels, where one name may rightly match several.
    Caveat: each block is a complete pairing (every query has its partner in
    the block), the best case for an assignment. partial_lists() stresses
    the other case (a room one side does not sell) and reports the wrong
    merges both ways make there.
"""
import csv
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hmtest import BINARY, SOURCE_DIR, Server, request, run_tests, shared_path  # noqa: E402

DATA = shared_path("data", "roommatch")
BLOCK = 10

# README baselines (char-3gram tf-idf, the best baseline, pooled top-1).
BASE_103 = {"e2b_lenient": 0.786, "e2b_strict": 0.738, "b2e_lenient": 0.757, "b2e_strict": 0.718}
BASE_85 = {"e2b": 0.812, "b2e_lenient": 0.741, "b2e_strict": 0.741}
BASE_GDS = 0.841


def read_pairs(path):
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    return [(r[0].strip(), r[1].strip()) for r in rows[1:] if len(r) >= 2]


def write_lines(d, name, lines):
    """A file in d with one entry a line; returns its path."""
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write("".join(x + "\n" for x in lines))
    return path


def score_matrix(queries, cands):
    with tempfile.TemporaryDirectory() as d:
        qp, cp = write_lines(d, "q.txt", queries), write_lines(d, "c.txt", cands)
        out = subprocess.run([BINARY, "map", "--matrix", qp, cp], check=True,
                             stdout=subprocess.PIPE, universal_newlines=True).stdout
    return [[float(x) for x in line.split("\t")] for line in out.splitlines()]


def top1(pairs, direction, lenient):
    """Expected top-1 accuracy (ties as expectation) over all rows of pairs."""
    src = [p[direction] for p in pairs]
    dst = [p[1 - direction] for p in pairs]
    cands = sorted(set(dst))
    queries = sorted(set(src))
    m = dict(zip(queries, score_matrix(queries, cands)))
    total = 0.0
    for i, (q, g) in enumerate(zip(src, dst)):
        gold = {dst[j] for j in range(len(src)) if src[j] == q} if lenient else {g}
        row = m[q]
        best = max(row)
        tied = [cands[k] for k, s in enumerate(row) if s == best]
        total += sum(1 for c in tied if c in gold) / len(tied)
    return total / len(src)


def best_picks(queries, cands, assign):
    """`hotelmux map --best [--assign]`: query -> (candidate, merged by the policy)."""
    with tempfile.TemporaryDirectory() as d:
        qp, cp = write_lines(d, "q.txt", queries), write_lines(d, "c.txt", cands)
        args = [BINARY, "map", "--best"] + (["--assign"] if assign else []) + [qp, cp]
        out = subprocess.run(args, check=True, stdout=subprocess.PIPE, universal_newlines=True,
                             cwd=SOURCE_DIR).stdout
    rows = [line.split("\t") for line in out.splitlines()]
    assert len(rows) == len(queries)
    return {q: (r[1], r[3] == "same") for q, r in zip(queries, rows)}


def gold_of(src, dst, q):
    return {dst[j] for j in range(len(src)) if src[j] == q}


def within_blocks(pairs, direction, lenient, assign=False):
    """Top-1 within 10-row blocks (lenient gold). argmax: each query alone
    (ties as an expectation). assign: `--best --assign`, the one-to-one
    decision hotelRates' grouping makes (a deterministic pick, no ties)."""
    n, acc = 0, 0.0
    for s in range(0, len(pairs), BLOCK):
        blk = pairs[s:s + BLOCK]
        if assign:
            src, dst = [p[direction] for p in blk], [p[1 - direction] for p in blk]
            picks = best_picks(sorted(set(src)), sorted(set(dst)), True)
            acc += sum(1 for q in src if picks[q][0] in gold_of(src, dst, q))
        else:
            acc += top1(blk, direction, lenient) * len(blk)
        n += len(blk)
    return acc / n


def partial_lists(pairs, direction):
    """Real hotels' lists overlap only in part; the blocks above are complete
    pairings, the best case for a one-to-one assignment. Stress it: in each
    block, drop one candidate at a time. The queries whose partner was dropped
    have no right answer: count how often the policy still merges them
    (a wrong merge; argmax vs --assign), and the top-1 of the other queries."""
    wrong, rest_ok, orphans, rest_n = {False: 0, True: 0}, {False: 0, True: 0}, 0, 0
    for s in range(0, len(pairs), BLOCK):
        blk = pairs[s:s + BLOCK]
        src = [p[direction] for p in blk]
        dst = [p[1 - direction] for p in blk]
        cands, queries = sorted(set(dst)), sorted(set(src))
        for drop in cands:
            left = [c for c in cands if c != drop]
            for mode in (False, True):
                picks = best_picks(queries, left, mode)
                for q in src:
                    gold = gold_of(src, dst, q) - {drop}
                    if not gold:
                        wrong[mode] += picks[q][1]
                    else:
                        rest_ok[mode] += picks[q][0] in gold
            orphans += sum(1 for q in src if not gold_of(src, dst, q) - {drop})
            rest_n += sum(1 for q in src if gold_of(src, dst, q) - {drop})
    return orphans, wrong, {m: rest_ok[m] / rest_n for m in rest_ok}


def report(title, got, base=None):
    b = "" if base is None else "   (README char-3gram tf-idf baseline %.3f)" % base
    print("  %-52s %.3f%s" % (title, got, b))
    sys.stdout.flush()


def within_both(pairs):
    """Within-hotel top-1, E->B and B->E: argmax, then one-to-one."""
    return (within_blocks(pairs, 0, True), within_blocks(pairs, 1, True),
            within_blocks(pairs, 0, True, assign=True), within_blocks(pairs, 1, True, assign=True))


def report_within(we, wb, we1, wb1):
    report("within %d-row blocks Expedia->Booking, argmax" % BLOCK, we)
    report("within %d-row blocks Booking->Expedia, argmax" % BLOCK, wb)
    report("within %d-row blocks Expedia->Booking, one-to-one" % BLOCK, we1)
    report("within %d-row blocks Booking->Expedia, one-to-one" % BLOCK, wb1)
    print("  (targets judged on one-to-one: `map --best --assign`, as hotelRates groups;"
          " blocks are complete pairings, see partial lists)")


@unittest.skipIf(DATA is None, "shared data not present (HM_SHARED/data/roommatch): SKIPPED")
class PairMatching(unittest.TestCase):
    def test_levitate85(self):
        pairs = read_pairs(os.path.join(DATA, "expedia_booking_levitate85", "hotel_rooms.csv"))
        self.assertEqual(len(pairs), 85)
        e2b = top1(pairs, 0, True)
        b2e_l, b2e_s = top1(pairs, 1, True), top1(pairs, 1, False)
        we, wb, we1, wb1 = within_both(pairs)
        print("\n85-pair set (levitate), pooled top-1 (84 candidates), no fitting; development-set"
              " numbers (rules chosen looking at this data), not cross-validated:")
        report("Expedia->Booking", e2b, BASE_85["e2b"])
        report("Booking->Expedia lenient", b2e_l, BASE_85["b2e_lenient"])
        report("Booking->Expedia strict", b2e_s, BASE_85["b2e_strict"])
        report_within(we, wb, we1, wb1)
        # Issue targets: asserted at the target. Within-hotel is judged on the
        # one-to-one numbers (what hotelRates does, see the docstring).
        self.assertGreaterEqual(round(e2b, 3), 0.900)     # target >= 0.90
        self.assertGreaterEqual(round(we1, 3), 0.950)     # target within-hotel >= 0.95
        self.assertGreaterEqual(round(wb1, 3), 0.950)     # target within-hotel >= 0.95
        # argmax within-hotel: asserted at what it reached (a regression fails)
        self.assertGreaterEqual(round(we, 3), 0.950)
        self.assertGreaterEqual(round(wb, 3), 0.929)
        self.assertGreaterEqual(round(b2e_l, 3), 0.882)   # no target on this set
        self.assertGreaterEqual(round(b2e_s, 3), 0.871)

    def test_susanli103(self):
        pairs = read_pairs(os.path.join(DATA, "expedia_booking_susanli", "room_type.csv"))
        self.assertEqual(len(pairs), 103)
        r = {"e2b_lenient": top1(pairs, 0, True), "e2b_strict": top1(pairs, 0, False),
             "b2e_lenient": top1(pairs, 1, True), "b2e_strict": top1(pairs, 1, False)}
        we, wb, we1, wb1 = within_both(pairs)
        print("\n103-pair set (Susan Li), pooled top-1 (94 candidates), no fitting; development-set"
              " numbers (rules chosen looking at this data), not cross-validated:")
        for k in ("e2b_lenient", "e2b_strict", "b2e_lenient", "b2e_strict"):
            report(k.replace("e2b", "Expedia->Booking").replace("b2e", "Booking->Expedia")
                   .replace("_", " "), r[k], BASE_103[k])
        report_within(we, wb, we1, wb1)
        self.assertGreaterEqual(round(r["e2b_lenient"], 3), 0.850)  # target >= 0.85: reached
        self.assertGreaterEqual(round(r["b2e_lenient"], 3), 0.850)  # target >= 0.85: reached
        self.assertGreaterEqual(round(we1, 3), 0.950)               # target >= 0.95 (one-to-one)
        self.assertGreaterEqual(round(wb1, 3), 0.950)               # target >= 0.95 (one-to-one)
        self.assertGreaterEqual(round(we, 3), 0.950)                # argmax: as reached
        self.assertGreaterEqual(round(wb, 3), 0.942)                # argmax: as reached
        self.assertGreaterEqual(round(r["e2b_strict"], 3), 0.840)
        self.assertGreaterEqual(round(r["b2e_strict"], 3), 0.825)


@unittest.skipIf(DATA is None, "shared data not present (HM_SHARED/data/roommatch): SKIPPED")
@unittest.skipIf(os.environ.get("HM_SANITIZED") == "1",
                 "sanitizer build: ~800 runs of the same --best/--assign paths the blocks above already"
                 " cover; the numbers do not depend on the build")
class PartialLists(unittest.TestCase):
    """The case one-to-one could make worse: a room on one side only."""

    def test_partial_lists(self):
        print("\nPartial lists: in each 10-row block, one candidate dropped at a time;"
              " policy decisions (merge_threshold, min_margin):")
        for title, path in (("85", ("expedia_booking_levitate85", "hotel_rooms.csv")),
                            ("103", ("expedia_booking_susanli", "room_type.csv"))):
            pairs = read_pairs(os.path.join(DATA, *path))
            for direction, name in ((1, "Booking->Expedia"), (0, "Expedia->Booking")):
                orphans, wrong, rest = partial_lists(pairs, direction)
                print("  %-3s %s: queries without a partner %d, wrongly merged: argmax %d,"
                      " one-to-one %d; top-1 of the others: argmax %.3f, one-to-one %.3f"
                      % (title, name, orphans, wrong[False], wrong[True], rest[False], rest[True]))
                sys.stdout.flush()
                # one-to-one must not buy its accuracy with wrong merges
                self.assertLessEqual(wrong[True], wrong[False])
                self.assertGreaterEqual(rest[True], rest[False])


def md5_bucket(text, k):
    return int(hashlib.md5(text.encode("utf-8")).hexdigest(), 16) % k


@unittest.skipIf(DATA is None, "shared data not present (HM_SHARED/data/roommatch): SKIPPED")
class GdsCategory(unittest.TestCase):
    def load(self):
        path = os.path.join(DATA, "gds_room_category_gri", "Product_Normalization_GRI.csv")
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))[1:]
        out = []
        for r in rows:
            if len(r) < 2 or not r[1].strip():
                continue
            room = r[0].split("|", 1)[-1].replace("\t", " ").replace("\n", " ").strip()
            out.append((room, r[1].strip()))
        return out

    def run_split(self, rows, is_test):
        train = [r for r in rows if not is_test(r[0])]
        test = [r for r in rows if is_test(r[0])]
        with tempfile.TemporaryDirectory() as d:
            tp, ep = os.path.join(d, "train.tsv"), os.path.join(d, "test.txt")
            with open(tp, "w") as f:
                f.write("".join("%s\t%s\n" % (lab, t) for t, lab in train))
            with open(ep, "w") as f:
                f.write("".join(t + "\n" for t, _ in test))
            out = subprocess.run([BINARY, "map", "--classify", tp, ep], check=True,
                                 stdout=subprocess.PIPE, universal_newlines=True).stdout.splitlines()
        self.assertEqual(len(out), len(test))
        ok = sum(1 for p, (_, lab) in zip(out, test) if p == lab)
        return len(train), len(test), ok / len(test)

    def test_category_heldout(self):
        rows = self.load()
        ntr, nte, acc = self.run_split(rows, lambda t: md5_bucket(t, 5) == 0)
        print("\nGDS room category (35 classes), averaged perceptron on parsed attributes + tokens"
              " + char 3-grams;\n  trained on %d rows, evaluated on %d held-out rows"
              " (split by md5 of the room text):" % (ntr, nte))
        report("held-out accuracy", acc, BASE_GDS)
        cv = []
        for k in range(5):
            cv.append(self.run_split(rows, lambda t, k=k: md5_bucket(t, 5) == k)[2])
        report("5-fold CV by room text, mean (min %.3f)" % min(cv), sum(cv) / len(cv))
        self.assertGreaterEqual(acc, 0.90)                 # issue target >= 0.90: reached
        self.assertGreaterEqual(sum(cv) / len(cv), 0.90)


class BenchCommand(unittest.TestCase):
    # The throughput itself is measured by tests/bench/bench_mapping.sh, not
    # asserted here (timings in the suite would be flaky on a noisy machine).
    def test_bench_runs(self):
        out = subprocess.run([BINARY, "map", "--bench", "20000"], check=True,
                             stdout=subprocess.PIPE, universal_newlines=True).stdout
        pps = float(out.split("pairs/s")[0].split(":")[-1])
        self.assertGreater(pps, 0)


class CliDecisions(unittest.TestCase):
    """The CLI decides with the policy file's numbers (one source of truth)
    and writes the mapping table from a reviewed sheet."""

    def run_map(self, *args, cwd=None, ok=True):
        p = subprocess.run([BINARY, "map"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, cwd=cwd)
        if ok:
            self.assertEqual(p.returncode, 0, p.stderr)
        return p

    def policy_threshold(self):
        with open(os.path.join(SOURCE_DIR, "scripts", "policies", "mapping.lua")) as f:
            for line in f:
                if line.startswith("M.merge_threshold"):
                    return float(line.split("=")[1].split("--")[0])
        self.fail("no merge_threshold in the policy")

    def test_explain_uses_policy_threshold(self):
        t = self.policy_threshold()
        out = self.run_map("King Room with City View", "Deluxe King - City View", cwd=SOURCE_DIR).stdout
        self.assertIn("merge_threshold %.2f" % t, out)
        self.assertIn("scripts/policies/mapping.lua", out)
        self.assertIn("decision: SAME ROOM", out)
        self.assertIn("beds=king", out)
        with tempfile.TemporaryDirectory() as d:
            pol = os.path.join(d, "strict.lua")
            with open(pol, "w") as f:
                f.write("return { merge_threshold = 0.99, min_margin = 0 }\n")
            out = self.run_map("--policy", pol, "King Room with City View", "Deluxe King - City View").stdout
            self.assertIn("decision: DIFFERENT", out)
            self.assertIn("merge_threshold 0.99", out)
            p = self.run_map("--policy", os.path.join(d, "missing.lua"), "a", "b", ok=False)
            self.assertEqual(p.returncode, 1)
        out = self.run_map("--threshold", "0.95", "King Room with City View", "Deluxe King - City View").stdout
        self.assertIn("decision: DIFFERENT", out)

    def test_best_assign(self):
        with tempfile.TemporaryDirectory() as d:
            q = write_lines(d, "q.txt", ["King Room", "Deluxe King Room", ""])
            c = write_lines(d, "c.txt", ["Deluxe Room, 1 King Bed", "Room, 1 King Bed, Non Smoking (notes here)"])
            alone = [x.split("\t") for x in self.run_map("--best", q, c, cwd=SOURCE_DIR).stdout.splitlines()]
            self.assertEqual([x[1] for x in alone], ["Deluxe Room, 1 King Bed"] * 2 + [""])
            one = [x.split("\t") for x in self.run_map("--best", "--assign", q, c, cwd=SOURCE_DIR)
                   .stdout.splitlines()]
            self.assertEqual([(x[1], x[3]) for x in one],
                             [("Room, 1 King Bed, Non Smoking (notes here)", "same"),
                              ("Deluxe Room, 1 King Bed", "same"), ("", "new")])
            # --suggest: lines sharing an id are one canonical room, taken once
            rooms = write_lines(d, "rooms.tsv", ["R1\tKing Room", "R2\tDeluxe King Room"])
            canon = write_lines(d, "canon.tsv", ["DLX\tDeluxe Room, 1 King Bed", "DLX\tDeluxe King",
                                                 "STD\tRoom, 1 King Bed"])
            sheet = self.run_map("--suggest", "--assign", rooms, canon, cwd=SOURCE_DIR).stdout.splitlines()
            got = {r.split("\t")[4]: (r.split("\t")[0], r.split("\t")[6]) for r in sheet[1:]}
            self.assertEqual(got, {"R1": ("yes", "STD"), "R2": ("yes", "DLX")})
            self.assertEqual(self.run_map("--matrix", "--assign", q, c, ok=False).returncode, 2)

    def test_best_suggest_write_table(self):
        with tempfile.TemporaryDirectory() as d:
            rooms, canon = os.path.join(d, "rooms.txt"), os.path.join(d, "canon.txt")
            with open(rooms, "w") as f:
                f.write("X1\tRover Room, 2 Twin Beds\nX2\tRover Room, 1 Queen Bed\nX3\tFamily Suite, Burj View\n")
            with open(canon, "w") as f:
                f.write("RV-DBL\tRover Room Queen\nRV-DBL\tDOUBLE STANDARD\nRV-TWN\tRover Room Twin\n")
            names = os.path.join(d, "names.txt")
            with open(names, "w") as f:
                f.write("Twin Room\nKing Room\n")
            best = self.run_map("--best", names, names, cwd=SOURCE_DIR).stdout.splitlines()
            self.assertEqual([x.split("\t") for x in best],
                             [["Twin Room", "Twin Room", "1.0000", "same"], ["King Room", "King Room", "1.0000", "same"]])
            sheet = self.run_map("--suggest", "--supplier", "expedia", "--hotel", "10629446", rooms, canon,
                                 cwd=SOURCE_DIR).stdout.splitlines()
            self.assertEqual(sheet[0].split("\t")[:7], ["decision", "score", "supplier", "hotel_id", "room",
                                                         "room_name", "canonical_room_id"])
            rows = {r.split("\t")[4]: r.split("\t") for r in sheet[1:]}
            self.assertEqual((rows["X1"][0], rows["X1"][6]), ("yes", "RV-TWN"))
            self.assertEqual((rows["X2"][0], rows["X2"][6]), ("yes", "RV-DBL"))
            self.assertEqual(rows["X3"][0], "no")
            review = os.path.join(d, "review.tsv")
            with open(review, "w") as f:           # the engineer rejects X2 and confirms the rest
                f.write("\n".join(sheet).replace("yes\t1.0000", "no\t1.0000") + "\n")
            old = os.path.join(d, "old.csv")
            with open(old, "w") as f:
                f.write("supplier,hotel_id,room,canonical_room_id\n# kept\nagoda,1,\"Room, big\",A\n"
                        "expedia,10629446,X1,WRONG\n")
            out = self.run_map("--write-table", review, "--table", old).stdout
            self.assertEqual(out, "supplier,hotel_id,room,canonical_room_id\n# kept\nagoda,1,\"Room, big\",A\n"
                                  "expedia,10629446,X1,RV-TWN\n")
            # a confirmed line without a canonical id: an error, nothing written
            with open(review, "a") as f:
                f.write("yes\t0.1\texpedia\t10629446\tX3\tFamily Suite, Burj View\t\t\n")
            p = self.run_map("--write-table", review, ok=False)
            self.assertEqual((p.returncode, p.stdout), (1, ""))
            self.assertIn("field is empty", p.stderr)


LUA_CONFIG = r'''
return {
  lua_path = { %s },
  scripts = { "app.lua" },
}
''' % json.dumps(os.path.join(SOURCE_DIR, "scripts"))

LUA_APP = r'''
local mapping = require("policies.mapping")
hm.route("POST", "/parse", function(req)
  return { json = hm.mapping.parse(hm.json.decode(req.body).name) }
end)
hm.route("POST", "/score", function(req)
  local b = hm.json.decode(req.body)
  local s, ex = hm.mapping.score(b.a, b.b, true)
  local i, bs = hm.mapping.best(b.a, b.cands or { b.b })
  return { json = { score = s, explain = ex, best = i, best_score = bs } }
end)
hm.route("POST", "/assign", function(req)
  local b = hm.json.decode(req.body)
  local picks = hm.mapping.assign(b.names, b.rooms, mapping.merge_threshold, mapping.min_margin)
  local out = {}
  for i, p in ipairs(picks) do out[i] = { room = p.room or 0, merged = p.merged, score = p.score } end
  local argmax = {}
  for i, n in ipairs(b.names) do
    local flat = {}
    for j, r in ipairs(b.rooms) do flat[j] = type(r) == "table" and r[1] or r end
    argmax[i] = hm.mapping.best(n, flat)
  end
  local bad = {
    pcall(hm.mapping.assign, { 5 }, { "x" }, 0.5),            -- a name that is not a string
    (pcall(hm.mapping.assign, { "x" }, { { "y", false } }, 0.5)), -- nor a room's name
  }
  local none = hm.mapping.assign({}, { "x" }, 0.5)
  return { json = { picks = out, argmax = argmax, bad = bad, none = #none } }
end)
hm.route("POST", "/group", function(req)
  local b = hm.json.decode(req.body)
  mapping.table = {}
  if b.csv then mapping.load_table_csv(b.csv) end
  local rooms = mapping.group(b.hotel, b.offers)
  local out = {}
  for i, r in ipairs(rooms) do
    local prices = {}
    for j, o in ipairs(r.offers) do prices[j] = o.price end
    out[i] = { id = r.id, source = r.source, prices = prices, names = r.names }
  end
  return { json = { rooms = out, csv = mapping.to_csv(b.hotel, rooms) } }
end)
'''


class LuaMapping(unittest.TestCase):
    """hm.mapping and scripts/policies/mapping.lua inside a real worker."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(LUA_CONFIG, workers=1, extra_files={"app.lua": LUA_APP}).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.cleanup()

    def post(self, path, body):
        status, _h, data = request(self.srv.port, "POST", path, body=json.dumps(body),
                                   headers={"Content-Type": "application/json"})
        self.assertEqual(status, 200, data)
        return json.loads(data.decode())

    def test_parse(self):
        a = self.post("/parse", {"name": "Deluxe Room, 2 Queen Beds, Ocean View (Non Refundable)"})
        self.assertEqual(a["tier"], ["deluxe"])
        self.assertEqual(a["beds"], ["queen"])
        self.assertEqual(a["bed_count"], 2)
        self.assertEqual(a["view"], ["sea"])
        self.assertIn("non_refundable", a["rate_words"])

    def test_score_and_best(self):
        r = self.post("/score", {"a": "King Room with City View", "b": "Deluxe King - City View",
                                 "cands": ["Twin Room", "Deluxe King - City View", "King Suite"]})
        self.assertGreater(r["score"], 0.7)
        self.assertEqual(r["best"], 2)
        r = self.post("/score", {"a": "Twin Room", "b": "King Room"})
        self.assertLess(r["score"], 0.35)
        self.assertIn("bed_type", r["explain"]["conflicts"])

    def test_assign(self):
        # the plain name's argmax is the upgraded room; one-to-one, the
        # upgraded query takes it first and the plain one gets the plain room
        names = ["King Room", "Deluxe King Room", "Mystery Loft"]
        rooms = ["Deluxe Room, 1 King Bed", ["Room, 1 King Bed, Non Smoking (notes here)", "King Guest Room"]]
        r = self.post("/assign", {"names": names, "rooms": rooms})
        self.assertEqual(r["argmax"][:2], [1, 1])
        self.assertEqual([(p["room"], p["merged"]) for p in r["picks"]], [(2, True), (1, True), (0, False)])
        self.assertEqual(r["picks"][1]["score"], 1)
        self.assertEqual((r["bad"], r["none"]), ([False, False], 0))
        # a name a room already holds (another supplier spelled it the same) scores 1
        r = self.post("/assign", {"names": ["King Guest Room"], "rooms": rooms})
        self.assertEqual((r["picks"][0]["room"], r["picks"][0]["score"]), (2, 1))

    def test_group_one_to_one(self):
        # supplier a answers first (cheapest); b's plain "King Room" must join
        # a's plain room, not the deluxe one its name scores higher
        offers = [
            {"supplier": "a", "room_id": "A1", "room_name": "Deluxe Room, 1 King Bed", "price": "100"},
            {"supplier": "b", "room_id": "B1", "room_name": "King Room", "price": "110"},
            {"supplier": "a", "room_id": "A2", "room_name": "Room, 1 King Bed, Non Smoking (notes here)",
             "price": "150"},
            {"supplier": "b", "room_id": "B2", "room_name": "Deluxe King Room", "price": "160"},
        ]
        rooms = self.post("/group", {"hotel": "H1", "offers": offers})["rooms"]
        self.assertEqual(sorted((x["names"].get("a", ""), x["names"].get("b", "")) for x in rooms),
                         [("Deluxe Room, 1 King Bed", "Deluxe King Room"),
                          ("Room, 1 King Bed, Non Smoking (notes here)", "King Room")])

    def test_group(self):
        offers = [
            {"supplier": "a", "room_id": "A1", "room_name": "King Room with City View", "price": "120.00"},
            {"supplier": "b", "room_id": "B7", "room_name": "Deluxe King - City View", "price": "110.50"},
            {"supplier": "c", "room_id": "C2", "room_name": "King Bed City View", "price": "130"},
            {"supplier": "b", "room_id": "B8", "room_name": "Twin Room", "price": "90"},
            {"supplier": "a", "room_id": "A2", "room_name": "Superior Twin", "price": "95"},
            {"supplier": "c", "room_id": "C9", "room_name": "Mystery Loft", "price": "80"},
        ]
        r = self.post("/group", {"hotel": "H1", "offers": offers})
        rooms = r["rooms"]
        self.assertEqual(rooms[0]["prices"], ["80"])                     # cheapest room first
        king = [x for x in rooms if "a" in x["names"] and x["names"]["a"].startswith("King")][0]
        self.assertEqual(king["prices"], ["110.50", "120.00", "130"])    # merged, cheapest first
        twin = [x for x in rooms if x["names"].get("b") == "Twin Room"][0]
        self.assertIn("a", twin["names"])                                # Twin ~ Superior Twin
        # the table wins over the model: it splits the two twin rooms the model
        # merged, and names the king room (the model adds the other suppliers' offers)
        csv_text = ("supplier,hotel_id,room,canonical_room_id\n"
                    "c,H1,C2,KING-CV\nb,H1,B8,STD-TWIN\na,H1,Superior Twin,SUP-TWIN\n")
        r = self.post("/group", {"hotel": "H1", "offers": offers, "csv": csv_text})
        ids = {x["id"]: x for x in r["rooms"]}
        self.assertEqual(ids["STD-TWIN"]["prices"], ["90"])
        self.assertEqual(ids["SUP-TWIN"]["prices"], ["95"])
        self.assertEqual(ids["KING-CV"]["prices"], ["110.50", "120.00", "130"])
        self.assertEqual(ids["KING-CV"]["source"], "table")
        self.assertIn("b,H1,B7,KING-CV", r["csv"])


if __name__ == "__main__":
    run_tests(globals())
