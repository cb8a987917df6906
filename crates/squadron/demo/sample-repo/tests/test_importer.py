"""Tests of ledger.importer."""

import datetime
import unittest

from ledger.entries import Entry
from ledger.importer import read_export


class ReadExportTest(unittest.TestCase):
    def test_rows_become_entries(self):
        text = "2026-01-15,food,groceries,12.50\n2026-01-16,rent,January,900\n"
        self.assertEqual(
            read_export(text),
            [
                Entry(datetime.date(2026, 1, 15), "food", "groceries", 1250),
                Entry(datetime.date(2026, 1, 16), "rent", "January", 90000),
            ],
        )
