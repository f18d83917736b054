"""Personal ID numbers: structure PPP G YY NNNNNN (Decree 137/2015 Art. 13)."""
import pytest

from portal.vn.ids import (
    IdResult,
    century_sex_digit,
    id_consistency,
    mask_id,
    parse_national_id,
    province_name,
)


@pytest.mark.parametrize(
    "sex, year, digit",
    [
        ("M", 1900, 0),
        ("F", 1958, 1),
        ("M", 1999, 0),
        ("M", 2000, 2),
        ("F", 2016, 3),
        ("M", 2100, 4),
        ("F", 2199, 5),
        ("F", 2399, 9),
    ],
)
def test_century_sex_digit(sex, year, digit):
    assert century_sex_digit(sex, year) == digit


@pytest.mark.parametrize("sex, year", [("X", 1950), (None, 1950), ("M", 1899), ("F", 2400)])
def test_century_sex_digit_rejects(sex, year):
    with pytest.raises(ValueError):
        century_sex_digit(sex, year)


@pytest.mark.parametrize(
    "nid, sex, year, problems",
    [
        ("051158411098", "F", 1958, []),
        ("051058411098", "F", 1958, ["id_sex_century_mismatch"]),  # woman born 1958, G=0
        ("051165157221", "M", 1965, ["id_sex_century_mismatch"]),  # man with a woman's G
        ("051133906124", "F", 2016, ["id_sex_century_mismatch", "id_year_mismatch"]),  # child, adult's ID
        ("051316906124", "F", 2016, []),
        ("051158411098", "F", 1959, ["id_year_mismatch"]),
        ("051158411098", None, 1958, []),  # year-only birth, no sex: century still checked
        ("051358411098", None, 1958, ["id_sex_century_mismatch"]),
        ("051158411098", None, 1960, ["id_year_mismatch"]),
        ("051158411098", "M", None, ["id_sex_century_mismatch"]),  # sex alone: parity
        ("051158411098", None, None, []),
        ("51158411098", "M", 1990, []),  # not 12 digits: nothing to check
        (None, "F", 1958, []),
        ("051158411098", "Nữ", 1958, []),  # Vietnamese sex words accepted
        ("051158411098", "Nam", 1958, ["id_sex_century_mismatch"]),
    ],
)
def test_id_consistency(nid, sex, year, problems):
    assert id_consistency(nid, sex, year) == problems


@pytest.mark.parametrize(
    "code, name",
    [("051", "Quảng Ngãi"), ("001", "Hà Nội"), ("079", "Hồ Chí Minh"), (51, "Quảng Ngãi"), ("1", "Hà Nội"),
     ("003", None), ("999", None), ("abc", None), (None, None), ("0051", None)],
)
def test_province_name(code, name):
    assert province_name(code) == name


@pytest.mark.parametrize(
    "raw, sex, year, value, kind, problems",
    [
        # well-formed (051 0 90 …: a man born 1990; 051 1 90 …: a woman)
        ("051090012345", "M", 1990, "051090012345", "cccd", []),
        ("051 190 012 345", "F", 1990, "051190012345", "cccd", []),
        ("051.190.012.345", None, None, "051190012345", "cccd", []),
        ("051-190-012345", None, None, "051190012345", "cccd", []),
        ("\u00a0051190012345 ", None, None, "051190012345", "cccd", []),
        ("'051190012345", None, None, "051190012345", "cccd", []),
        # Excel dropped the leading zero: restored when consistent
        ("51190012345", "F", 1990, "051190012345", "cccd", ["id_lost_leading_zero"]),
        (51090012345, "M", 1990, "051090012345", "cccd", ["id_lost_leading_zero"]),
        (51090012345.0, "M", 1990, "051090012345", "cccd", ["id_lost_leading_zero"]),
        ("51190012345.0", None, None, "051190012345", "cccd", ["id_lost_leading_zero"]),
        (51135825690, "F", 1935, "051135825690", "cccd", ["id_lost_leading_zero"]),
        (51088830407, "M", 1988, "051088830407", "cccd", ["id_lost_leading_zero"]),
        ("31190012345", None, None, "031190012345", "cccd", ["id_lost_leading_zero"]),  # 031 Hải Phòng
        (1090012345, "M", 1990, "001090012345", "cccd", ["id_lost_leading_zero"]),  # Hà Nội 001: two zeros
        # ...but not when the restored number contradicts the person or the province is unknown
        ("51190012345", "M", 1990, None, "invalid", ["id_bad_length"]),
        ("51190012345", "F", 1991, None, "invalid", ["id_bad_length"]),
        ("51190012345", "F", 2016, None, "invalid", ["id_bad_length"]),
        ("53190012345", None, None, None, "invalid", ["id_bad_length"]),  # 053 unknown
        ("3190012345", None, None, None, "invalid", ["id_bad_length"]),  # 003 unknown
        # scientific notation: digits lost, never guessed
        ("5.11900E+10", None, None, None, "invalid", ["id_scientific_notation"]),
        ("5,119E+10", None, None, None, "invalid", ["id_scientific_notation"]),
        ("5.119e+10", None, None, None, "invalid", ["id_scientific_notation"]),
        ("5.11900E + 10", None, None, None, "invalid", ["id_scientific_notation"]),
        (5.119e20, None, None, None, "invalid", ["id_scientific_notation"]),
        # old CMND
        ("212345678", None, None, "212345678", "cmnd", ["cmnd_legacy"]),
        (212345678, None, None, "212345678", "cmnd", ["cmnd_legacy"]),
        # unusable
        ("12345", None, None, None, "invalid", ["id_bad_length"]),
        ("0511900123456", None, None, None, "invalid", ["id_bad_length"]),
        ("05119001234A", None, None, None, "invalid", ["id_not_digits"]),
        ("CCCD 051190012345", None, None, None, "invalid", ["id_not_digits"]),
        (-51190012345, None, None, None, "invalid", ["id_not_digits"]),
        (51190012345.5, None, None, None, "invalid", ["id_not_digits"]),
        (True, None, None, None, "invalid", ["id_not_digits"]),
        # empty
        (None, None, None, None, "empty", []),
        ("", None, None, None, "empty", []),
        ("  ", None, None, None, "empty", []),
    ],
)
def test_parse_national_id(raw, sex, year, value, kind, problems):
    result = parse_national_id(raw, sex, year)
    assert (result.value, result.kind, result.problems) == (value, kind, problems)


def test_parse_national_id_keeps_warnings_with_value():
    r = parse_national_id("053190012345", "F", 2016)
    assert r.value == "053190012345"
    assert r.kind == "cccd"
    assert r.problems == ["id_unknown_province", "id_sex_century_mismatch", "id_year_mismatch"]


def test_parse_national_id_child_with_adults_id():
    r = parse_national_id("051133906124", "F", 2016)
    assert r.value == "051133906124"
    assert r.problems == ["id_sex_century_mismatch", "id_year_mismatch"]


def test_parse_national_id_raw():
    assert parse_national_id(51090012345.0, "M", 1990).raw == "51090012345"
    assert parse_national_id("051 190 012 345").raw == "051 190 012 345"
    assert parse_national_id(None).raw == ""
    assert isinstance(parse_national_id("1"), IdResult)


@pytest.mark.parametrize(
    "s, masked",
    [("051190012345", "••••••••2345"), ("212345678", "•••••5678"), ("1234", "••••"), ("", ""), (None, "")],
)
def test_mask_id(s, masked):
    assert mask_id(s) == masked
