"""Tests of ledger.money."""

import unittest

from ledger.money import format_cents, parse_amount


class ParseAmountTest(unittest.TestCase):
    def test_whole_and_fractional_amounts(self):
        self.assertEqual(parse_amount("12.50"), 1250)
        self.assertEqual(parse_amount("12.5"), 1250)
        self.assertEqual(parse_amount(" 7 "), 700)

    def test_refuses_what_is_not_an_amount(self):
        for text in ["", "abc", "-3", "1.234", "1.x"]:
            with self.subTest(text=text):
                with self.assertRaisesRegex(ValueError, "not an amount"):
                    parse_amount(text)


class FormatCentsTest(unittest.TestCase):
    def test_two_decimals(self):
        self.assertEqual(format_cents(1250), "12.50")
        self.assertEqual(format_cents(5), "0.05")

    def test_negative_amounts(self):
        self.assertEqual(format_cents(-305), "-3.05")
