"""A tiny household ledger: record expenses in integer cents and summarise them."""

from ledger.entries import Entry
from ledger.money import format_cents, parse_amount

__all__ = ["Entry", "format_cents", "parse_amount"]
