"""No oversell: 50 concurrent bookings of one rate with 3 rooms left give
exactly 3 confirmations, for every supplier (the supplier's inventory is the
truth; every confirmed booking is in the ledger)."""
import json
import os
import sqlite3
import threading
import unittest

from hmtest import Server, run_tests
from test_api import READY, SAMPLE, book_body, call, config, demo_files, new_ref, rates_of, sim, stay, ticket


class Oversell(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(config(), workers=2, extra_files=demo_files()).start()
        cls.tk = ticket(cls.srv.port)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def run_supplier(self, supplier):
        port = self.srv.port
        hotel, code, room = SAMPLE[supplier]
        sim(port, supplier, "_faults", {})
        sim(port, supplier, "_inventory", {"hotel": code, "room": room, "count": 3})
        ci, co = stay(days=50)
        st, j = call(port, "/api/search/hotelRates", {"hotelId": hotel, "checkIn": ci, "checkOut": co,
                                                     "currency": "USD", "roomOccupancies": [{"adultCount": 2}]},
                     self.tk)
        self.assertEqual(st, 200, j)
        pkgs = [r["ratePkgId"] for rm, r in rates_of(j, supplier)
                if r["originalRoomNaming"].get("id") == room]
        self.assertTrue(pkgs, "no rate for %s room %s" % (supplier, room))
        pkg = pkgs[0]
        results = []
        lock = threading.Lock()

        def book():
            st, j = call(port, "/api/trade/book", book_body(new_ref("O"), pkg), self.tk, timeout=30)
            with lock:
                results.append((st, j.get("code"), (j.get("data") or {}).get("status")))

        threads = [threading.Thread(target=book) for _ in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        confirmed = [r for r in results if r[1] == 0 and r[2] == 2]
        self.assertEqual(len(confirmed), 3, results)
        # nothing else claims to be confirmed, and the ledger agrees
        db = sqlite3.connect(os.path.join(self.srv.dir, "ledger.sqlite"))
        try:
            rows = db.execute("SELECT COUNT(*) FROM orders WHERE supplier = ? AND status = 2 AND "
                              "customer_ref LIKE 'O%'", (supplier,)).fetchone()
        finally:
            db.close()
        self.assertEqual(rows[0], 3)


def make(supplier):
    @unittest.skipUnless(supplier in READY, supplier + " connector/simulator not present")
    def test(self):
        self.run_supplier(supplier)
    return test


for _s in ["hotelbeds", "expedia", "agoda", "derbysoft", "dida"]:
    setattr(Oversell, "test_" + _s, make(_s))

if __name__ == "__main__":
    run_tests(globals())
