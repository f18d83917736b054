"""Banks and wallets: the list, resolving names as staff write them, account checks."""
import pytest

from portal.vn.banks import (
    Bank,
    all_banks,
    by_bin,
    check_account_number,
    mask_account,
    normalise_account,
    resolve_bank,
)


def test_all_banks_loaded():
    banks = all_banks()
    assert len(banks) == 35
    assert all(isinstance(b, Bank) for b in banks)
    assert all(len(b.bin) == 6 and b.bin.isdigit() for b in banks)
    assert all(b.kind in ("bank", "wallet") for b in banks)
    assert all(b.name_vi for b in banks)
    assert len({b.bin for b in banks}) == len(banks)


def test_by_bin():
    assert by_bin("970405").short_name == "Agribank"
    assert by_bin(970449).short_name == "LPBank"
    assert by_bin("999888").name_vi == "Ngân hàng Chính sách xã hội"
    assert by_bin("971005").kind == "wallet"
    assert by_bin("123456") is None
    assert by_bin(None) is None


def test_bank_fields():
    agri = by_bin("970405")
    assert agri.name_vi == "Ngân hàng Nông nghiệp và Phát triển Nông thôn Việt Nam"
    assert "NHNo&PTNT" in agri.aliases
    assert by_bin("970422").name_vi == "MB"  # no full name in the list: the short name


@pytest.mark.parametrize(
    "text, bin",
    [
        # Agribank written many ways
        ("Agribank", "970405"),
        ("agribank", "970405"),
        ("AGRIBANK", "970405"),
        ("Agri", "970405"),
        ("NHNo&PTNT", "970405"),
        ("NHNo & PTNT", "970405"),
        ("nhno-ptnt", "970405"),
        ("NH Nông nghiệp", "970405"),
        ("Ngân hàng Nông nghiệp", "970405"),
        ("Ngân hàng Nông nghiệp và PTNT", "970405"),
        ("ngan hang nong nghiep va phat trien nong thon", "970405"),
        ("Agribank CN Bình Sơn", "970405"),
        ("Agribank - chi nhánh huyện Bình Sơn", "970405"),
        ("970405", "970405"),
        # VietinBank
        ("VietinBank", "970415"),
        ("Viettinbank", "970415"),
        ("Vietin", "970415"),
        ("NH Công thương", "970415"),
        ("Ngân hàng TMCP Công Thương Việt Nam", "970415"),
        # LPBank
        ("LienVietPostBank", "970449"),
        ("Lien Viet Post Bank", "970449"),
        ("Liên Việt", "970449"),
        ("Bưu điện Liên Việt", "970449"),
        ("LPBank", "970449"),
        # others
        ("VCB", "970436"),
        ("Ngoại thương", "970436"),
        ("Vietcombank Quảng Ngãi", "970436"),
        ("BIDV", "970418"),
        ("Ngân hàng Đầu tư", "970418"),
        ("NHCSXH", "999888"),
        ("Ngân hàng Chính sách xã hội huyện Bình Sơn", "999888"),
        ("MB Bank", "970422"),
        ("Sài Gòn Thương Tín", "970403"),
        ("NH Sài Gòn", "970429"),
        ("Co-op Bank", "970446"),
        ("Viettel Money", "971005"),
        ("ViettelPay", "971005"),
        ("VNPT Money", "971011"),
        ("Ví Bưu điện VNPT", "971011"),
    ],
)
def test_resolve_bank(text, bin):
    bank = resolve_bank(text)
    assert bank is not None, text
    assert bank.bin == bin


@pytest.mark.parametrize(
    "text",
    [None, "", "  ", "Ngân hàng", "NH", "Bưu điện", "Việt", "Bank", "xyz", "Tiền mặt", "Vi"],
)
def test_resolve_bank_unknown_or_ambiguous(text):
    assert resolve_bank(text) is None


@pytest.mark.parametrize(
    "raw, normal",
    [
        ("7328014448208", "7328014448208"),
        ("7328 0144 48208", "7328014448208"),
        ("7328-0144-48208", "7328014448208"),
        ("7328.0144.48208", "7328014448208"),
        ("'0394989111", "0394989111"),
        (7328014448208, "7328014448208"),
        (7328014448208.0, "7328014448208"),
        ("7328014448208.0", "7328014448208"),
        ("9.70415E+15", None),
        ("9,70415E+15", None),
        (9.704151234567891e18, None),
        (None, None),
        ("", None),
        ("ABC123", "ABC123"),
        (-5, None),
        (12.5, None),
    ],
)
def test_normalise_account(raw, normal):
    assert normalise_account(raw) == normal


AGRI = by_bin("970405")
VIETTEL = by_bin("971005")


@pytest.mark.parametrize(
    "number, bank, problems",
    [
        ("7328014448208", AGRI, []),
        ("7328 0144 48208", AGRI, []),
        ("123456", AGRI, []),
        ("1234567890123456789", AGRI, []),
        ("12345", AGRI, ["account_bad_length"]),
        ("12345678901234567890", AGRI, ["account_bad_length"]),
        ("7328O14448208", AGRI, ["account_not_digits"]),
        ("9.70415E+15", AGRI, ["account_not_digits"]),
        ("9704051234567890", AGRI, ["account_is_card_number"]),
        ("9704051234567890123", AGRI, ["account_is_card_number"]),
        ("9704 0512 3456 7890", None, ["account_is_card_number"]),
        ("970405123456789", AGRI, []),  # 15 digits: not a card length
        ("5555051234567890", AGRI, []),
        ("0962154404", VIETTEL, []),
        ("962154404", VIETTEL, ["account_bad_length"]),  # leading zero lost
        ("09621544041", VIETTEL, ["account_bad_length"]),
        ("1962154404", VIETTEL, ["account_bad_length"]),
        ("12345", None, ["account_bad_length"]),
        ("", AGRI, []),
        (None, AGRI, []),
        (7328014448208, AGRI, []),
    ],
)
def test_check_account_number(number, bank, problems):
    assert check_account_number(number, bank) == problems


@pytest.mark.parametrize(
    "s, masked",
    [("7328014448208", "•••••••••8208"), ("0962154404", "••••••4404"), ("123", "•••"), (None, ""), ("", "")],
)
def test_mask_account(s, masked):
    assert mask_account(s) == masked
