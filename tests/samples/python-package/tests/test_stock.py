import unittest

from inventory.stock import Stock


class AddingStock(unittest.TestCase):
    def test_added_units_are_counted(self):
        stock = Stock()
        stock.add("tea", 3)
        stock.add("tea", 2)
        self.assertEqual(stock.units("tea"), 5)


if __name__ == "__main__":
    unittest.main()
