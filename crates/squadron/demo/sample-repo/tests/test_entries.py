"""Tests of ledger.entries."""

import dataclasses
import datetime
import unittest

from ledger.entries import Entry


class EntryTest(unittest.TestCase):
    def test_entries_are_values(self):
        day = datetime.date(2026, 1, 15)
        self.assertEqual(Entry(day, "food", "lunch", 1250), Entry(day, "food", "lunch", 1250))

    def test_entries_cannot_be_changed(self):
        entry = Entry(datetime.date(2026, 1, 15), "food", "lunch", 1250)
        with self.assertRaises(dataclasses.FrozenInstanceError):
            entry.cents = 0  # type: ignore[misc]
