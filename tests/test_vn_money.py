"""Amounts in đồng: parsing, formatting, words."""
from decimal import Decimal

import pytest

from portal.vn.money import amount_in_words, format_int, format_vnd, parse_amount


@pytest.mark.parametrize(
    "value, amount",
    [
        (540000, 540000),
        (540000.0, 540000),
        (1.5 * 360000, 540000),
        (0.1 * 3 * 1_000_000, 300000),  # float noise from Excel arithmetic
        (Decimal("2055000"), 2055000),
        ("540000", 540000),
        ("540.000", 540000),
        ("540,000", 540000),
        ("540 000", 540000),
        ("540\u00a0000", 540000),
        ("540.000 đ", 540000),
        ("540.000đ", 540000),
        ("1.500.000đ", 1500000),
        ("1.500.000 đồng", 1500000),
        ("2.055.000 VNĐ", 2055000),
        ("2,055,000 VND", 2055000),
        ("VNĐ 360.000", 360000),
        ("540.000,00", 540000),
        ("540,000.00", 540000),
        ("540000.0", 540000),
        ("0", 0),
        (0, 0),
        (None, None),
        ("", None),
        ("   ", None),
    ],
)
def test_parse_amount(value, amount):
    assert parse_amount(value) == amount


@pytest.mark.parametrize(
    "value",
    ["abc", "-540000", "(540.000)", -1, -1.0, "1,5", "540000,5", "1.50", 540000.5, "5.40.000", "540.00.000",
     "1.500,000", "đ", "12abc", "540.000 USD", float("nan"), float("inf"), True],
)
def test_parse_amount_rejects(value):
    with pytest.raises(ValueError):
        parse_amount(value)


def test_parse_amount_message_names_the_value():
    with pytest.raises(ValueError, match="abc"):
        parse_amount("abc")
    with pytest.raises(ValueError, match="negative"):
        parse_amount("-5")


@pytest.mark.parametrize(
    "n, int_text, vnd_text",
    [(0, "0", "0 đ"), (540000, "540.000", "540.000 đ"), (1500000, "1.500.000", "1.500.000 đ"),
     (999, "999", "999 đ"), (1000, "1.000", "1.000 đ"), (-2055000, "-2.055.000", "-2.055.000 đ")],
)
def test_format(n, int_text, vnd_text):
    assert format_int(n) == int_text
    assert format_vnd(n) == vnd_text


def test_format_none():
    assert format_int(None) == format_vnd(None) == ""


@pytest.mark.parametrize(
    "n, words",
    [
        (0, "Không đồng"),
        (1, "Một đồng"),
        (5, "Năm đồng"),
        (10, "Mười đồng"),
        (11, "Mười một đồng"),
        (15, "Mười lăm đồng"),
        (21, "Hai mươi mốt đồng"),
        (25, "Hai mươi lăm đồng"),
        (55, "Năm mươi lăm đồng"),
        (100, "Một trăm đồng"),
        (105, "Một trăm lẻ năm đồng"),
        (110, "Một trăm mười đồng"),
        (1001, "Một nghìn không trăm lẻ một đồng"),
        (1_010, "Một nghìn không trăm mười đồng"),
        (360_000, "Ba trăm sáu mươi nghìn đồng"),
        (540_000, "Năm trăm bốn mươi nghìn đồng"),
        (1_500_000, "Một triệu năm trăm nghìn đồng"),
        (2_055_000, "Hai triệu không trăm năm mươi lăm nghìn đồng"),
        (2_789_000, "Hai triệu bảy trăm tám mươi chín nghìn đồng"),
        (1_000_500, "Một triệu năm trăm đồng"),
        (1_005_000, "Một triệu không trăm lẻ năm nghìn đồng"),
        (21_000_000, "Hai mươi mốt triệu đồng"),
        (1_000_000_000, "Một tỷ đồng"),
        (1_000_000_005, "Một tỷ không trăm lẻ năm đồng"),
        (1_050_000_000, "Một tỷ không trăm năm mươi triệu đồng"),
        (12_345_678_901, "Mười hai tỷ ba trăm bốn mươi lăm triệu sáu trăm bảy mươi tám nghìn chín trăm lẻ một đồng"),
        (1_000_000_000_000, "Một nghìn tỷ đồng"),
    ],
)
def test_amount_in_words(n, words):
    assert amount_in_words(n) == words


def test_amount_in_words_linh():
    assert amount_in_words(105, odd="linh") == "Một trăm linh năm đồng"


@pytest.mark.parametrize("n", [-1, 1.5])
def test_amount_in_words_rejects(n):
    with pytest.raises(ValueError):
        amount_in_words(n)
