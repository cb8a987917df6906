"""Reading entries from the bank's CSV export."""

import csv
import datetime
import io

from ledger.entries import Entry
from ledger.money import parse_amount


def read_export(text):
    """Return the entries of a bank CSV export, one per ``day,category,description,amount`` row.

    Raises ValueError when a day or an amount cannot be read.
    """
    entries = []
    for row in csv.reader(io.StringIO(text)):
        day, category, description, amount = row
        entries.append(
            Entry(datetime.date.fromisoformat(day), category, description, parse_amount(amount))
        )
    return entries
