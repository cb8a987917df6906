"""Money as integer cents: parsing what people type and formatting for display."""


def parse_amount(text):
    """Return the amount written in ``text`` (e.g. ``"12.50"``) in integer cents.

    Raises ValueError naming the text when it is not a non-negative amount with at most
    two decimals.
    """
    whole, _, fraction = text.strip().partition(".")
    if not whole.isdigit() or len(fraction) > 2 or (fraction and not fraction.isdigit()):
        raise ValueError(f"not an amount: {text!r}")
    return int(whole) * 100 + int(fraction.ljust(2, "0"))


def format_cents(cents):
    """Return ``cents`` as text with two decimals, e.g. ``"12.50"`` or ``"-3.05"``."""
    sign = "-" if cents < 0 else ""
    whole, rest = divmod(abs(cents), 100)
    return f"{sign}{whole}.{rest:02d}"
