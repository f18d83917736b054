"""What a remark states (portal/vn/remarks.py) and the dates it gives (portal/vn/dates.py)."""
import datetime as dt

import pytest

from portal.vn.dates import find_dates
from portal.vn.remarks import read_remark

LIST_MONTH = "2024-05"


@pytest.mark.parametrize("remark,kind,clause,effective", [
    # deaths: stop from the month after the death (Decree 20/2021/NĐ-CP Art. 8(2))
    ("Đã chết ngày 12/4/2024", "death", "1a", "2024-05"),
    ("đã chết", "death", "1a", "2024-06"),
    ("Chết", "death", "1a", "2024-06"),
    ("CHẾT NGÀY 30/05/2024", "death", "1a", "2024-06"),
    ("Từ trần ngày 3/5/2024", "death", "1a", "2024-06"),
    ("qua đời tháng 4/2024", "death", "1a", "2024-05"),
    ("Qua đời T4/2024", "death", "1a", "2024-05"),
    ("mất ngày 02-03-24", "death", "1a", "2024-04"),
    ("Bà đã mất 5/2024", "death", "1a", "2024-06"),
    ("Ông mất ngày 1.12.2023", "death", "1a", "2024-01"),
    ("đã tử vong do tai nạn", "death", "1a", "2024-06"),
    ("mất năm 2023", "death", "1a", "2024-01"),
    ("Đã mất", "death", "1a", "2024-06"),
    ("Mất", "death", "1a", "2024-06"),
    ("da chet ngay 12/4/2024", "death", "1a", "2024-05"),
    ("mat ngay 12 thang 4 nam 2024", "death", "1a", "2024-05"),
    ("Chết ngày 31/12/2024", "death", "1a", "2025-01"),
    ("Đã chết. Con gái nhận thay tháng 4", "death", "1a", "2024-06"),
    # moves away
    ("chuyển đi", "move_away", None, "2024-06"),
    ("Chuyển đi nơi khác", "move_away", None, "2024-06"),
    ("chuyển khẩu đi huyện khác", "move_away", None, "2024-06"),
    ("chuyển khẩu đi xã Bình Thạnh T6/2024", "move_away", None, "2024-07"),
    ("Chuyển hộ khẩu về tỉnh Bình Định ngày 15/05/2024", "move_away", None, "2024-06"),
    ("chuyển đến xã Bình Hòa", "move_away", None, "2024-06"),
    ("cắt khẩu 3/2024", "move_away", None, "2024-04"),
    ("chuyen khau di huyen khac", "move_away", None, "2024-06"),
    # stops
    ("cắt từ tháng 6/2024", "stop", None, "2024-06"),
    ("Cắt T7/2024", "stop", None, "2024-07"),
    ("thôi hưởng", "stop", None, "2024-06"),
    ("Thôi hưởng từ T7/2024 do đủ 16 tuổi", "stop", "1b", "2024-07"),
    ("thôi hưởng từ 01/06/2024, đang chấp hành án phạt tù", "stop", "1c", "2024-06"),
    ("Từ chối nhận, thôi hưởng từ tháng 6/2024", "stop", "1d", "2024-06"),
    ("dừng hưởng từ tháng 8 năm 2024", "stop", None, "2024-08"),
    ("Đi tù từ T6/2024", "stop", "1c", "2024-06"),
    ("đang ở tù", "stop", "1c", "2024-06"),
    # suspensions
    ("tạm dừng từ T6/2024 do không nhận 3 tháng", "suspend", "3a", "2024-06"),
    ("Tạm dừng từ tháng 6/2024", "suspend", None, "2024-06"),
    ("tạm dừng T06-24, tạm giam", "suspend", "3c", "2024-06"),
    ("Tạm ngừng chi trả: không thực hiện xác định lại mức độ khuyết tật", "suspend", "3b", "2024-06"),
])
def test_stated_change(remark, kind, clause, effective):
    r = read_remark(remark, LIST_MONTH)
    assert r.change is not None, r
    assert (r.change.kind, r.change.clause, r.change.effective_month) == (kind, clause, effective)
    assert r.change.quote == remark


@pytest.mark.parametrize("remark,warned", [
    # "mất" meaning lost, or part of a category
    ("mất giấy CCCD", False), ("bị mất sổ", False), ("Mất sức lao động", False),
    ("mất khả năng lao động", False), ("Đã mất CMND, chờ cấp lại", False), ("mất liên lạc", False),
    ("mất tích", True),
    # about someone else
    ("vợ mất năm 2019", True), ("cha mẹ đều đã chết", True), ("Ông nội mất 2010", True),
    ("Mẹ đã chết, sống với bà ngoại", True), ("chồng qua đời năm 2015", True),
    ("con trai chuyển đi TP HCM", True), ("người giám hộ đã chết", True),
    ("Trẻ mồ côi cả cha và mẹ", False),
    # "chuyển": a switch of payment, a move within the commune, a move in
    ("chuyển sang nhận qua tài khoản", False), ("chuyển khoản", False),
    ("Chuyển tiền mặt sang tài khoản Agribank", False), ("chuyển về thôn Phước Hòa", True),
    ("chuyển đi thôn An Thành", True), ("chuyển đến từ xã Bình Thạnh", False),
    ("chuyển về ở với con", False),
    # negations and other words
    ("chưa chết", False), ("không chuyển đi", False), ("mặt bị bỏng", False),
    ("chuyện gia đình", False), ("", False), ("Đang hưởng", False), ("Khuyết tật nặng", False),
])
def test_decoys_never_block(remark, warned):
    r = read_remark(remark, LIST_MONTH)
    assert r.change is None, r.change
    assert bool(r.warnings) is warned, r.warnings


def test_no_list_month_leaves_an_undated_change_without_a_month():
    assert read_remark("đã chết").change.effective_month is None
    assert read_remark("đã chết ngày 3/4/2024").change.effective_month == "2024-05"


def test_a_date_in_the_future_is_a_typing_error():
    r = read_remark("chết ngày 1/1/2030", LIST_MONTH, today=dt.date(2026, 12, 6))
    assert r.change.kind == "death" and r.change.effective_month == "2024-06" and r.change.stated is None
    assert "tương lai" in r.warnings[0]
    r = read_remark("Đã chết ngày 20/7/2024", LIST_MONTH, today=dt.date(2026, 12, 6))
    assert r.change.effective_month == "2024-08" and not r.warnings  # a later list's remark: real


def test_the_gravest_change_wins():
    r = read_remark("Tạm dừng từ T3/2024; đã chết ngày 10/4/2024", LIST_MONTH)
    assert (r.change.kind, r.change.effective_month) == ("death", "2024-05")


def test_label():
    assert read_remark("Đã chết ngày 12/4/2024").change.label == "Chết (12/04/2024)"
    assert read_remark("tạm dừng từ T6/2024").change.label == "Tạm dừng (06/2024)"
    assert read_remark("thôi hưởng").change.label == "Thôi hưởng"


@pytest.mark.parametrize("text,expected", [
    ("12/4/2024", [("day", dt.date(2024, 4, 12))]),
    ("12-04-24", [("day", dt.date(2024, 4, 12))]),
    ("1.12.2023", [("day", dt.date(2023, 12, 1))]),
    ("ngày 2 tháng 3 năm 2024", [("day", dt.date(2024, 3, 2))]),
    ("tháng 4/2024", [("month", "2024-04")]),
    ("tháng 4 năm 2024", [("month", "2024-04")]),
    ("T6/2024", [("month", "2024-06")]),
    ("T06-24", [("month", "2024-06")]),
    ("thg 6-2024", [("month", "2024-06")]),
    ("6/2024", [("month", "2024-06")]),
    ("năm 2019", [("year", 2019)]),
    ("31/02/2024", []), ("tháng 13/2024", []), ("", []), (None, []),
    ("từ 3/2024 đến 12/5/2024", [("month", "2024-03"), ("day", dt.date(2024, 5, 12))]),
])
def test_find_dates(text, expected):
    got = [(d.precision, d.day if d.precision == "day" else d.month if d.precision == "month" else d.year)
           for d in find_dates(text)]
    assert got == expected
