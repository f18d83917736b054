"""Births as commune files write them, list months, display formats."""
import datetime as dt

import pytest

from portal.vn.dates import BirthResult, format_birth, format_date, parse_birth, parse_month

D = dt.date
BAD = "bad_birth_date"


@pytest.mark.parametrize(
    "value, expected",
    [
        # date cells
        (dt.datetime(1998, 9, 15), BirthResult(D(1998, 9, 15), 1998, None)),
        (D(1945, 1, 2), BirthResult(D(1945, 1, 2), 1945, None)),
        # text dates
        ("15/09/1998", BirthResult(D(1998, 9, 15), 1998, None)),
        ("5/9/1998", BirthResult(D(1998, 9, 5), 1998, None)),
        ("15-09-1998", BirthResult(D(1998, 9, 15), 1998, None)),
        ("15.09.1998", BirthResult(D(1998, 9, 15), 1998, None)),
        (" 15 / 09 / 1998 ", BirthResult(D(1998, 9, 15), 1998, None)),
        ("1998-09-15", BirthResult(D(1998, 9, 15), 1998, None)),
        ("1998-09-15 00:00:00", BirthResult(D(1998, 9, 15), 1998, None)),
        ("05/1945", BirthResult(None, 1945, None)),
        # years
        ("1945", BirthResult(None, 1945, None)),
        (1945, BirthResult(None, 1945, None)),
        (1945.0, BirthResult(None, 1945, None)),
        ("1945.0", BirthResult(None, 1945, None)),
        (1880, BirthResult(None, 1880, None)),
        (2024, BirthResult(None, 2024, None)),
        # unknown day or month
        ("00/00/1945", BirthResult(None, 1945, None)),
        ("0/0/1945", BirthResult(None, 1945, None)),
        ("00/05/1945", BirthResult(None, 1945, None)),
        # Excel serial numbers (epoch 1899-12-30)
        (23456, BirthResult(D(1964, 3, 20), 1964, None)),
        ("23456", BirthResult(D(1964, 3, 20), 1964, None)),
        (23456.75, BirthResult(D(1964, 3, 20), 1964, None)),
        (36000, BirthResult(D(1998, 7, 24), 1998, None)),
        # empty
        (None, BirthResult(None, None, None)),
        ("", BirthResult(None, None, None)),
        ("   ", BirthResult(None, None, None)),
    ],
)
def test_parse_birth(value, expected):
    assert parse_birth(value, today_year=2024) == expected


@pytest.mark.parametrize(
    "value, year",
    [
        ("31/02/1950", 1950),  # impossible date, plausible year kept
        ("29/02/1951", 1951),
        ("05/25/1965", 1965),  # US order is not swapped
        ("15/13/1970", 1970),
        ("13/1970", 1970),
        ("abc", None),
        ("15/09/98", None),  # 2-digit year never guessed
        ("1879", None),
        (1879, None),
        ("2025", None),  # future year
        ("01/01/2025", None),  # future date
        (dt.date(2030, 1, 1), None),
        (50000, None),  # serial in 2036
        (1500, None),  # neither a year nor a plausible serial
        (0, None),
        (-5, None),
        ("1945.5", None),
        (True, None),
        ("31/02/1850", None),
    ],
)
def test_parse_birth_problems(value, year):
    result = parse_birth(value, today_year=2024)
    assert result.problem == BAD
    assert result.date is None
    assert result.year == year


def test_parse_birth_today_by_default():
    assert parse_birth(dt.date.today()).problem is None
    assert parse_birth(dt.date.today() + dt.timedelta(days=1)).problem == BAD
    assert parse_birth(str(dt.date.today().year)).year == dt.date.today().year


def test_birth_result_unpacks():
    date, year, problem = parse_birth("15/09/1998", today_year=2024)
    assert (date, year, problem) == (D(1998, 9, 15), 1998, None)


@pytest.mark.parametrize(
    "title, month",
    [
        ("Tháng 5 năm 2024", "2024-05"),
        ("THÁNG 05 NĂM 2024", "2024-05"),
        ("Danh sách chi trả tháng 5/2024", "2024-05"),
        ("tháng 05-2024", "2024-05"),
        ("Kỳ chi trả tháng 12 / 2023", "2023-12"),
        ("tháng 5, năm 2024", "2024-05"),
        ("BTXH T5-2024", "2024-05"),
        ("T5/2024", "2024-05"),
        ("Danh sách kỳ 05/2024", "2024-05"),
        ("DANH SÁCH CHI TRẢ TRỢ CẤP XÃ HỘI THÁNG 5/2024", "2024-05"),
        ("DANH S¸CH CHI TR¶ TRî CÊP X· HéI TH¸NG 5/2024", "2024-05"),  # still TCVN3
        ("Th¸ng 5 n¨m 2024", "2024-05"),
        ("Thaùng 5 naêm 2024", "2024-05"),  # still VNI
        ("Tháng 13 năm 2024", None),
        ("Quyết định ngày 12/05/2024", None),  # a full date is not a month
        ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_month(title, month):
    assert parse_month(title) == month


def test_format_date():
    assert format_date(D(1998, 9, 5)) == "05/09/1998"
    assert format_date(dt.datetime(1945, 12, 31, 10, 0)) == "31/12/1945"
    assert format_date(None) == ""


@pytest.mark.parametrize(
    "date, year, text",
    [(D(1998, 9, 15), 1998, "15/09/1998"), (None, 1945, "1945"), (None, None, ""), (D(2001, 1, 2), None, "02/01/2001")],
)
def test_format_birth(date, year, text):
    assert format_birth(date, year) == text
