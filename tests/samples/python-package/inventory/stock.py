"""Stock levels by product code."""


class Stock:
    """How many units of each product are on the shelf."""

    def __init__(self):
        self._units = {}

    def add(self, code, units):
        """Puts `units` more of product `code` on the shelf."""
        self._units[code] = self._units.get(code, 0) + units

    def units(self, code):
        """How many units of product `code` are on the shelf."""
        return self._units.get(code, 0)
