"""Deterministic generator of synthetic commune files, for tests.

Every name is invented from lists of common Vietnamese surnames, middle and given names
drawn with a seeded ``random.Random``; no real person is described.

``make_people(n, seed, program)`` builds people as dicts; ``plant_problems(people)`` adds
the problems real files carry; ``write_list(people, shape, ...)`` writes them as a file in
one of :data:`SHAPES` and returns its bytes. After writing, each person dict carries:

- ``row``: the 1-based spreadsheet row (CSV: line) the person landed on;
- ``sheet``: the sheet name (``None`` for CSV);
- ``cells``: field → the value the reader must return for that cell (already decoded,
  NFC, typed as the format keeps it: a date cell is a ``date``, CSV cells are text);
- ``group``: the village sub-heading the person sits under, for grouped shapes.

Overrides a person dict may carry: ``id_cell`` (raw value written in the ID column, e.g.
``51190012345`` or ``"5.11900E+10"``), ``birth_cell`` (raw value written in the birth
column: a ``date``, ``"dd/mm/yyyy"``, a bare year, ``"00/00/1945"``, an Excel serial
number) and ``note``.

Pass ``info={}`` to ``write_list`` to receive the layout: per sheet the header rows, the
first data row, the totals row, footer rows and group rows (all 1-based).
"""
from __future__ import annotations

import csv
import datetime as dt
import html
import io
import random
import unicodedata

from portal.vn.text import encode_cp1258, encode_legacy, nfc

SHAPES = {
    "xlsx_two_row": "title block, two-row merged header (birth under Nam/Nữ, Tài khoản over "
                    "Số TK/Ngân hàng/Chủ TK), numbering row (1)(2)…, totals and signatures",
    "xlsx_one_row": "one-row header with short synonyms (TT, STK, Chủ TK), some names in "
                    "CAPITALS, births as dd/mm/yyyy text or a year, numbering row 1 2 3…",
    "xlsx_grouped": "one-row header, people under village sub-headings (I. Thôn …), "
                    "sub-totals 'Cộng thôn …', grand total, dated signature block",
    "xlsx_multi_sheet": "a notes sheet without a list, one sheet per village (alternating "
                        "two-row and one-row headers) and a hidden old copy",
    "xlsx_tcvn3": "TCVN3 (ABC) text, .VnTimeH title and .VnTime body fonts",
    "xlsx_vni": "VNI text, VNI-Times fonts",
    "xlsx_nfd": "the two-row layout with every string in Unicode NFD",
    "csv_semicolon_bom": "UTF-8 with BOM, ';', '.' thousands, a title line, CRLF, totals",
    "csv_comma": "UTF-8 without BOM, ',', plain amounts, addresses with commas (quoted)",
    "csv_cp1258": "Windows-1258 bytes (base letter + combining tone), ';'",
    "xls": "old .xls (BIFF8, xlwt) with the two-row merged header and date cells",
    "html_xls": "an HTML table as Excel's 'Web page' .xls",
    # Extension lies: the bytes of another shape, to be saved under a misleading name.
    "xlsx_as_xls": "xlsx bytes (xlsx_one_row) meant to be named .xls",
    "xlsx_as_csv": "xlsx bytes (xlsx_one_row) meant to be named .csv",
    "csv_as_xls": "CSV bytes (csv_semicolon_bom) meant to be named .xls",
}

SURNAMES = ["Nguyễn", "Trần", "Lê", "Phạm", "Huỳnh", "Hoàng", "Phan", "Vũ", "Võ", "Đặng",
            "Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý", "Trương", "Đinh", "Lương", "Tạ",
            "Châu", "Kiều", "Mai", "Tô"]
MALE_MIDDLE = ["Văn", "Hữu", "Đức", "Công", "Quang", "Minh", "Thanh", "Xuân", "Ngọc", ""]
FEMALE_MIDDLE = ["Thị", "Thu", "Ngọc", "Kim", "Mỹ", "Hồng", "Thanh", ""]
MALE_GIVEN = ["Bình", "Cường", "Dũng", "Hải", "Hùng", "Khánh", "Lộc", "Mạnh", "Nghĩa",
              "Phúc", "Quý", "Sơn", "Tâm", "Thắng", "Tín", "Trung", "Vinh", "Đông", "Tuấn",
              "Quyết", "Thuỷ"]
FEMALE_GIVEN = ["Bích", "Cúc", "Dung", "Hạnh", "Hoa", "Huệ", "Lan", "Liễu", "Mai", "Nga",
                "Nhung", "Phượng", "Sương", "Thảo", "Thủy", "Trinh", "Xuyến", "Yến", "Hằng",
                "Ngọc", "Quỳnh"]
VILLAGES = ["Thôn Phước Hòa", "Thôn An Thành", "Thôn Tân Hy", "Thôn Phước Thiện",
            "Thôn Vạn Thạnh", "Thôn Đồng Tròn"]
COMMUNE = "Bình Chánh"  # the tests import into Bình Chánh (21052); write_list(commune=…)
KIND = "Xã"
BANKS = [("Agribank", 13), ("VietinBank", 12), ("BIDV", 12), ("Vietcombank", 10),
         ("LPBank", 12), ("Viettel Money", 10), ("VNPT Money", 10)]
BTXH_STANDARD = 360_000
BTXH_CATEGORIES = [
    ("Người cao tuổi từ đủ 80 tuổi trở lên", 1.5),
    ("Người cao tuổi thuộc hộ nghèo không có người phụng dưỡng", 1.5),
    ("Người khuyết tật đặc biệt nặng", 2),
    ("Người khuyết tật nặng", 1.5),
    ("Trẻ em mồ côi cả cha và mẹ", 2.5),
    ("Người đơn thân thuộc hộ nghèo đang nuôi con", 1),
]
NCC_CATEGORIES = [
    ("Thương binh", 2_850_000), ("Bệnh binh", 2_470_000), ("Thân nhân liệt sĩ", 2_055_000),
    ("Người hoạt động kháng chiến bị nhiễm chất độc hóa học", 2_660_000),
    ("Người có công giúp đỡ cách mạng", 1_585_000),
]
EXCEL_EPOCH = dt.date(1899, 12, 30)


# --------------------------------------------------------------------------- people

def _national_id(rng: random.Random, sex: str, year: int) -> str:
    century = 0 if year < 2000 else 2
    g = century + (0 if sex == "M" else 1)
    return f"051{g}{year % 100:02d}{rng.randrange(10**6):06d}"


def make_people(n: int, seed: int, program: str = "BTXH") -> list[dict]:
    """``n`` invented beneficiaries of ``program`` ("BTXH" or "NCC"), the same for the same seed.

    Keys: ``name``, ``sex`` ("M"/"F"), ``birth_date`` (date or None), ``birth_year``,
    ``national_id`` (12-digit str or None), ``village``, ``category``, ``coefficient``
    (BTXH, else None), ``amount`` (int đồng), ``account_number`` / ``bank`` (None for cash),
    ``note`` (None).
    """
    rng = random.Random(seed)
    people = []
    for _ in range(n):
        sex = rng.choice("MF")
        middle = rng.choice(MALE_MIDDLE if sex == "M" else FEMALE_MIDDLE)
        given = rng.choice(MALE_GIVEN if sex == "M" else FEMALE_GIVEN)
        name = " ".join(p for p in (rng.choice(SURNAMES), middle, given) if p)
        if program == "NCC":
            year = rng.randint(1925, 1975)
            category, amount = rng.choice(NCC_CATEGORIES)
            coefficient = None
        else:
            year = rng.choice([rng.randint(1925, 1964), rng.randint(1965, 2000),
                               rng.randint(2005, 2022)])
            category, coefficient = rng.choice(BTXH_CATEGORIES)
            amount = int(coefficient * BTXH_STANDARD)
        birth_date = None
        if rng.random() < 0.85:
            birth_date = dt.date(year, rng.randint(1, 12), rng.randint(1, 28))
        national_id = _national_id(rng, sex, year) if rng.random() < 0.92 else None
        account_number = bank = None
        if rng.random() < 0.4:
            bank, length = rng.choice(BANKS)
            if length == 10:
                account_number = "0" + "".join(str(rng.randrange(10)) for _ in range(9))
            else:
                account_number = str(rng.randint(1, 9)) + "".join(
                    str(rng.randrange(10)) for _ in range(length - 1))
        people.append({
            "name": name, "sex": sex, "birth_date": birth_date, "birth_year": year,
            "national_id": national_id, "village": rng.choice(VILLAGES),
            "category": category, "coefficient": coefficient, "amount": amount,
            "account_number": account_number, "bank": bank, "note": None,
        })
    return people


def plant_problems(people: list[dict]) -> dict[int, str]:
    """Put the problems of real files on fixed people (needs ≥ 12); returns index → kind.

    1 ID lost its leading zero (number cell), 2 ID in scientific notation text, 3 ID typed
    with spaces, 4/5 the same ID twice, 6 "Đã chết ngày 02/04/2024", 7 "00/00/1945",
    8 birth as an Excel serial number, 9 bare birth year, 10 birth as dd/mm/yyyy text,
    11 no ID.
    """
    if len(people) < 12:
        raise ValueError("plant_problems needs at least 12 people")
    p = people
    for i in (1, 2, 3, 4, 8, 10):
        if p[i]["national_id"] is None:
            p[i]["national_id"] = f"051{'0' if p[i]['sex'] == 'M' else '1'}60{i:06d}"
            p[i]["birth_year"] = 1960
            if p[i]["birth_date"]:
                p[i]["birth_date"] = p[i]["birth_date"].replace(year=1960)
    for i in (8, 10):
        if p[i]["birth_date"] is None:
            p[i]["birth_date"] = dt.date(p[i]["birth_year"], 6, 15)
    nid = p[1]["national_id"]
    p[1]["id_cell"] = int(nid)
    p[2]["id_cell"] = f"{int(p[2]['national_id']):.5E}"
    s = p[3]["national_id"]
    p[3]["id_cell"] = f"{s[:3]} {s[3:6]} {s[6:]}"
    p[5]["national_id"] = p[4]["national_id"]
    p[6]["note"] = "Đã chết ngày 02/04/2024"
    p[7]["birth_date"], p[7]["birth_year"], p[7]["birth_cell"] = None, 1945, "00/00/1945"
    p[8]["birth_cell"] = (p[8]["birth_date"] - EXCEL_EPOCH).days
    p[9]["birth_date"] = None
    p[10]["birth_cell"] = p[10]["birth_date"].strftime("%d/%m/%Y")
    p[11]["national_id"] = None
    return {1: "id_lost_leading_zero", 2: "id_scientific", 3: "id_spaces",
            4: "duplicate_id", 5: "duplicate_id", 6: "stated_change",
            7: "birth_zero_day_month", 8: "birth_serial", 9: "birth_year_only",
            10: "birth_text", 11: "missing_id"}


# --------------------------------------------------------------------------- layouts

# (field, top label, sub label). A top label of None continues the merged parent on the left.
TWO_ROW = [
    ("seq", "STT", None), ("name", "Họ và tên", None),
    ("birth_male", "Ngày, tháng, năm sinh", "Nam"), ("birth_female", None, "Nữ"),
    ("national_id", "Số CCCD", None), ("village", "Thôn", None),
    ("category", "Diện đối tượng", None), ("coefficient", "Hệ số", None),
    ("amount", "Mức trợ cấp (đồng)", None),
    ("account_number", "Tài khoản", "Số TK"), ("bank", None, "Ngân hàng"),
    ("account_holder", None, "Chủ TK"), ("note", "Ghi chú", None),
]
ONE_ROW = [
    ("seq", "TT", None), ("name", "Họ tên", None), ("birth", "Năm sinh", None),
    ("sex", "Giới tính", None), ("national_id", "Số định danh cá nhân", None),
    ("village", "Địa chỉ", None), ("category", "Đối tượng", None),
    ("amount", "Mức hưởng", None), ("account_number", "STK", None),
    ("bank", "Tên ngân hàng", None), ("account_holder", "Chủ TK", None),
    ("note", "Ghi chú", None),
]
LEGACY = [
    ("seq", "STT", None), ("name", "Họ và tên", None), ("birth", "Ngày sinh", None),
    ("sex", "Giới tính", None), ("national_id", "Số CCCD", None), ("village", "Thôn", None),
    ("category", "Đối tượng", None), ("amount", "Số tiền", None),
    ("account_number", "Số tài khoản", None), ("bank", "Ngân hàng", None),
    ("note", "Ghi chú", None),
]
CSV_COLS = [
    ("seq", "STT", None), ("name", "Họ và tên", None), ("birth", "Ngày sinh", None),
    ("sex", "Giới tính", None), ("national_id", "CCCD", None), ("village", "Thôn/Tổ", None),
    ("category", "Diện hưởng", None), ("amount", "Mức trợ cấp", None),
    ("account_number", "Số tài khoản", None), ("bank", "Ngân hàng", None),
    ("payment_method", "Hình thức chi trả", None), ("note", "Ghi chú", None),
]


def _month_parts(month: str) -> tuple[int, int]:
    y, m = month.split("-")
    return int(y), int(m)


def _program_title(program: str) -> str:
    if program == "NCC":
        return "DANH SÁCH CHI TRẢ TRỢ CẤP ƯU ĐÃI NGƯỜI CÓ CÔNG"
    return "DANH SÁCH CHI TRẢ TRỢ CẤP XÃ HỘI"


def _birth_raw(p: dict, style: str):
    """Raw birth cell: ``style`` "date" writes a date cell and a year as a number, "text"
    writes dd/mm/yyyy text and a year as text."""
    if "birth_cell" in p:
        return p["birth_cell"]
    if p["birth_date"] is not None:
        return p["birth_date"] if style == "date" else p["birth_date"].strftime("%d/%m/%Y")
    return p["birth_year"] if style == "date" else str(p["birth_year"])


def _raw(p: dict, fld: str, i: int, opts: dict):
    """The value written for ``fld`` of person ``p`` (``i``: 1-based position)."""
    if fld == "seq":
        return i
    if fld == "name":
        return p["name"].upper() if opts.get("caps") and i % 3 == 0 else p["name"]
    if fld == "birth":
        return _birth_raw(p, opts.get("birth", "date"))
    if fld in ("birth_male", "birth_female"):
        mine = (fld == "birth_male") == (p["sex"] == "M")
        return _birth_raw(p, opts.get("birth", "date")) if mine else None
    if fld == "sex":
        return "Nam" if p["sex"] == "M" else "Nữ"
    if fld == "national_id":
        return p["id_cell"] if "id_cell" in p else p["national_id"]
    if fld == "village":
        return f"{p['village']}, {KIND.lower()} {COMMUNE}" if opts.get("address") else p["village"]
    if fld == "coefficient":
        c = p.get("coefficient")
        return int(c) if isinstance(c, float) and c.is_integer() else c
    if fld == "account_holder":
        return p["name"] if p.get("account_number") else None
    if fld == "payment_method":
        return "Qua tài khoản" if p.get("account_number") else "Tiền mặt"
    return p.get(fld)


def _expected_text(s: str) -> str | None:
    s = unicodedata.normalize("NFC", s)
    if any(ch.isalpha() for ch in s):
        return nfc(s) or None
    return s.strip() or None


def _expected(raw, text_only: bool = False, thousands: str | None = None):
    """What the reader returns for a cell written as ``raw``."""
    if raw is None:
        return None
    if text_only:
        return _expected_text(_csv_text(raw, thousands))
    if isinstance(raw, str):
        return _expected_text(raw)
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    return raw


def _csv_text(raw, thousands: str | None = None) -> str:
    if raw is None:
        return ""
    if isinstance(raw, dt.date):
        return raw.strftime("%d/%m/%Y")
    if isinstance(raw, int) and thousands and raw >= 1000 and not (1880 <= raw <= 2100):
        return f"{raw:,}".replace(",", thousands)
    if isinstance(raw, float):
        return str(raw).replace(".", ",") if thousands == "." else str(raw)
    return str(raw)


def _record(people, cols, first_row, sheet, opts, text_only=False, thousands=None):
    for i, p in enumerate(people, 1):
        p["row"] = first_row + i - 1
        p["sheet"] = sheet
        p["cells"] = {f: _expected(_raw(p, f, i, opts), text_only,
                                   thousands if f == "amount" else None)
                      for f, _, _ in cols}


def _labels(cols) -> dict[str, str]:
    """Field → header label as the reader shows it."""
    out, parent = {}, None
    for f, top, sub in cols:
        if top is not None:
            parent = top
        out[f] = f"{parent} - {sub}" if sub else top
    return out


# --------------------------------------------------------------------------- xlsx

def _xlsx_sheet(ws, people, cols, *, program, month, opts, sheet_info, legacy=None,
                nfd=False, groups=False):
    """Fill one openpyxl worksheet; returns nothing, records rows on the people."""
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    y, m = _month_parts(month)
    body_font = Font(name={"tcvn3": ".VnTime", "vni": "VNI-Times"}.get(legacy, "Times New Roman"))
    title_font = Font(name={"tcvn3": ".VnTimeH", "vni": "VNI-Times"}.get(legacy, "Times New Roman"),
                      bold=True)

    def enc(s, upper_font=False):
        if s is None or not isinstance(s, str):
            return s
        if nfd:
            return unicodedata.normalize("NFD", s)
        if legacy == "tcvn3":
            return encode_legacy(s.lower() if upper_font else s, "tcvn3")
        if legacy == "vni":
            return encode_legacy(s, "vni")
        return s

    def put(r, c, v, font=None, upper_font=False):
        cell = ws.cell(row=r, column=c, value=enc(v, upper_font))
        cell.font = font or body_font
        if isinstance(v, dt.date):
            cell.number_format = "dd/mm/yyyy"
        return cell

    ncols = len(cols)
    two_row = any(sub for _, _, sub in cols)
    title_style = opts.get("title", "long")
    if title_style == "long":
        put(1, 1, f"UBND {KIND.upper()} {COMMUNE.upper()}", title_font, True)
        put(1, 6, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", title_font, True)
        put(2, 6, "Độc lập - Tự do - Hạnh phúc")
        put(4, 1, f"{_program_title(program)} THÁNG {m} NĂM {y}", title_font, True)
        ws.merge_cells(start_row=4, start_column=1, end_row=4, end_column=ncols)
        put(5, ncols, "Đơn vị tính: đồng")
        header_row = 7
    else:
        put(1, 1, f"UBND {KIND.upper()} {COMMUNE.upper()}", title_font, True)
        put(2, 1, f"{_program_title(program)}", title_font, True)
        put(3, 1, f"Kỳ chi trả tháng {m}/{y}")
        header_row = 5
    # header
    hdr_font = Font(name=body_font.name, bold=True)
    c = 1
    while c <= ncols:
        f, top, sub = cols[c - 1]
        if sub is None:
            put(header_row, c, top, hdr_font)
            if two_row:
                ws.merge_cells(start_row=header_row, start_column=c, end_row=header_row + 1,
                               end_column=c)
            c += 1
            continue
        end = c
        while end < ncols and cols[end][1] is None and cols[end][2]:
            end += 1
        put(header_row, c, top, hdr_font)
        if end > c:
            ws.merge_cells(start_row=header_row, start_column=c, end_row=header_row,
                           end_column=end)
        for k in range(c, end + 1):
            put(header_row + 1, k, cols[k - 1][2], hdr_font)
        c = end + 1
    for k in range(1, ncols + 1):
        ws.cell(row=header_row, column=k).alignment = Alignment(wrap_text=True)
    last_header = header_row + (1 if two_row else 0)
    r = last_header + 1
    numbering = opts.get("numbering", "paren")
    if numbering:
        for k in range(1, ncols + 1):
            put(r, k, f"({k})" if numbering == "paren" else k)
        r += 1
    first_data = r
    sheet_info.update(header_rows=tuple(range(header_row, last_header + 1)),
                      first_data_row=first_data, group_rows={}, subtotal_rows=[])
    amount_col = next((k for k, (f, _, _) in enumerate(cols, 1) if f == "amount"), None)
    # people (optionally under village headings)
    blocks = [(None, people)]
    if groups:
        blocks = []
        for v in sorted({p["village"] for p in people}, key=VILLAGES.index):
            blocks.append((v, [p for p in people if p["village"] == v]))
    seq = 0
    for bi, (village, members) in enumerate(blocks):
        if village is not None:
            roman = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII"][bi]
            if bi % 2 == 0:
                put(r, 1, roman, hdr_font)
                put(r, 2, village, hdr_font)
            else:
                put(r, 1, f"{roman}. {village}", hdr_font)
                ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=ncols)
            sheet_info["group_rows"][r] = village
            r += 1
        for p in members:
            seq += 1
            p["group"] = village
            for k, (f, _, _) in enumerate(cols, 1):
                v = _raw(p, f, seq, opts)
                if v is not None:
                    put(r, k, v)
            p["row"] = r
            p["sheet"] = ws.title
            p["cells"] = {f: _expected(_raw(p, f, seq, opts)) for f, _, _ in cols}
            r += 1
        if village is not None:
            put(r, 2, f"Cộng {village}", hdr_font)
            if amount_col:
                put(r, amount_col, sum(p["amount"] for p in members))
            sheet_info["subtotal_rows"].append(r)
            r += 1
    # totals and signatures
    total_row = r
    put(r, 1, "Tổng cộng" if opts.get("total", "long") == "long" else "Cộng", hdr_font)
    if ncols > 1:
        ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=2)
    if amount_col:
        put(r, amount_col, sum(p["amount"] for p in people))
    r += 2
    footer = []
    if opts.get("dated_footer"):
        put(r, max(ncols - 3, 1), f"{COMMUNE}, ngày 25 tháng {m} năm {y}")
        footer.append(r)
        r += 1
    put(r, 2, "Người lập biểu", hdr_font)
    put(r, 5, "Kế toán", hdr_font)
    put(r, max(ncols - 2, 1), "TM. UBND XÃ", hdr_font)
    footer.append(r)
    r += 1
    put(r, max(ncols - 2, 1), "CHỦ TỊCH", hdr_font)
    footer.append(r)
    r += 1
    put(r, 2, "(Ký, ghi rõ họ tên)")
    footer.append(r)
    sheet_info.update(total_row=total_row, footer_rows=footer, last_row=r)
    for k in range(1, ncols + 1):
        ws.column_dimensions[get_column_letter(k)].width = 16


def _xlsx_bytes(wb) -> bytes:
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _write_xlsx(people, shape, *, program, month, sheet_name, info) -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    sheets_info = info.setdefault("sheets", {})
    if shape in ("xlsx_two_row", "xlsx_nfd"):
        ws.title = sheet_name or f"{program} T5-2024"
        sheets_info[ws.title] = si = {}
        _xlsx_sheet(ws, people, TWO_ROW, program=program, month=month, sheet_info=si,
                    opts={"birth": "date", "numbering": "paren", "title": "long",
                          "dated_footer": True}, nfd=shape == "xlsx_nfd")
        info["labels"] = _labels(TWO_ROW)
    elif shape in ("xlsx_one_row", "xlsx_as_xls", "xlsx_as_csv"):
        ws.title = sheet_name or program
        sheets_info[ws.title] = si = {}
        _xlsx_sheet(ws, people, ONE_ROW, program=program, month=month, sheet_info=si,
                    opts={"birth": "text", "numbering": "int", "title": "short",
                          "caps": True, "address": True, "total": "short"})
        info["labels"] = _labels(ONE_ROW)
    elif shape == "xlsx_grouped":
        ws.title = sheet_name or "Danh sach"
        sheets_info[ws.title] = si = {}
        _xlsx_sheet(ws, people, LEGACY, program=program, month=month, sheet_info=si,
                    opts={"birth": "date", "numbering": None, "title": "long",
                          "dated_footer": True}, groups=True)
        info["labels"] = _labels(LEGACY)
    elif shape in ("xlsx_tcvn3", "xlsx_vni"):
        ws.title = sheet_name or "Sheet1"
        sheets_info[ws.title] = si = {}
        _xlsx_sheet(ws, people, LEGACY, program=program, month=month, sheet_info=si,
                    opts={"birth": "text", "numbering": None, "title": "long"},
                    legacy="tcvn3" if shape == "xlsx_tcvn3" else "vni")
        info["labels"] = _labels(LEGACY)
    elif shape == "xlsx_multi_sheet":
        ws.title = "Hướng dẫn"
        ws["A1"] = "Danh sách gồm một trang tính cho mỗi thôn."
        ws["A2"] = "Không sửa dòng tiêu đề."
        villages = sorted({p["village"] for p in people}, key=VILLAGES.index)
        for k, v in enumerate(villages):
            members = [p for p in people if p["village"] == v]
            wsv = wb.create_sheet(v.replace("Thôn ", ""))
            sheets_info[wsv.title] = si = {}
            if k % 2 == 0:
                _xlsx_sheet(wsv, members, TWO_ROW, program=program, month=month,
                            sheet_info=si, opts={"birth": "date", "numbering": "paren",
                                                 "title": "long"})
            else:
                _xlsx_sheet(wsv, members, ONE_ROW, program=program, month=month,
                            sheet_info=si, opts={"birth": "text", "numbering": "int",
                                                 "title": "short", "address": True})
        old = wb.create_sheet("Cũ")
        old.sheet_state = "hidden"
        old_people = [dict(p) for p in people[:2]]
        _xlsx_sheet(old, old_people, ONE_ROW, program=program, month="2023-12",
                    sheet_info={}, opts={"birth": "text", "numbering": None, "title": "short"})
        info["hidden_sheet"] = old.title
    else:  # pragma: no cover - guarded by write_list
        raise ValueError(shape)
    return _xlsx_bytes(wb)


# --------------------------------------------------------------------------- xls

def _write_xls(people, *, program, month, sheet_name, info) -> bytes:
    import xlwt

    y, m = _month_parts(month)
    wb = xlwt.Workbook(encoding="utf-8")
    name = sheet_name or f"{program} T{m}"
    ws = wb.add_sheet(name)
    date_style = xlwt.easyxf(num_format_str="dd/mm/yyyy")
    bold = xlwt.easyxf("font: bold on; align: wrap on")
    ncols = len(TWO_ROW)
    ws.write(0, 0, f"UBND {KIND.upper()} {COMMUNE.upper()}", bold)
    ws.write_merge(2, 2, 0, ncols - 1, f"{_program_title(program)} THÁNG {m} NĂM {y}", bold)
    hr = 4  # 0-based: Excel rows 5 and 6
    c = 0
    while c < ncols:
        f, top, sub = TWO_ROW[c]
        if sub is None:
            ws.write_merge(hr, hr + 1, c, c, top, bold)
            c += 1
            continue
        end = c
        while end + 1 < ncols and TWO_ROW[end + 1][1] is None and TWO_ROW[end + 1][2]:
            end += 1
        ws.write_merge(hr, hr, c, end, top, bold)
        for k in range(c, end + 1):
            ws.write(hr + 1, k, TWO_ROW[k][2], bold)
        c = end + 1
    for k in range(ncols):
        ws.write(hr + 2, k, k + 1)
    r = hr + 3
    opts = {"birth": "date"}
    for i, p in enumerate(people, 1):
        for k, (f, _, _) in enumerate(TWO_ROW):
            v = _raw(p, f, i, opts)
            if v is None:
                continue
            if isinstance(v, dt.date):
                ws.write(r, k, v, date_style)
            else:
                ws.write(r, k, v)
        p["row"], p["sheet"] = r + 1, name
        p["cells"] = {f: _expected(_raw(p, f, i, opts)) for f, _, _ in TWO_ROW}
        r += 1
    ws.write_merge(r, r, 0, 1, "Tổng cộng", bold)
    ws.write(r, 8, sum(p["amount"] for p in people))
    ws.write(r + 2, 1, "Người lập biểu", bold)
    ws.write(r + 2, 10, "CHỦ TỊCH", bold)
    info.setdefault("sheets", {})[name] = {
        "header_rows": (hr + 1, hr + 2), "first_data_row": hr + 4, "total_row": r + 1,
        "footer_rows": [r + 3], "group_rows": {}, "subtotal_rows": []}
    info["labels"] = _labels(TWO_ROW)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# --------------------------------------------------------------------------- csv / html

def _write_csv(people, shape, *, program, month, info) -> bytes:
    y, m = _month_parts(month)
    delim = "," if shape == "csv_comma" else ";"
    thousands = "." if delim == ";" else None
    opts = {"birth": "text", "address": shape == "csv_comma"}
    out = io.StringIO(newline="")
    w = csv.writer(out, delimiter=delim, lineterminator="\r\n")
    lines = 0
    header_line = 1
    if shape in ("csv_semicolon_bom", "csv_as_xls"):
        w.writerow([f"{_program_title(program)} THÁNG {m} NĂM {y}"] + [""] * (len(CSV_COLS) - 1))
        w.writerow([""] * len(CSV_COLS))
        header_line = 3
    elif shape == "csv_cp1258":
        w.writerow([f"Danh sách chi trả tháng {m}/{y}"])
        header_line = 2
    w.writerow([top for _, top, _ in CSV_COLS])
    lines = header_line
    for i, p in enumerate(people, 1):
        w.writerow([_csv_text(_raw(p, f, i, opts), thousands if f == "amount" else None)
                    for f, _, _ in CSV_COLS])
    _record(people, CSV_COLS, header_line + 1, None, opts, text_only=True, thousands=thousands)
    lines = header_line + len(people)
    total_row = None
    if shape != "csv_comma":
        row = [""] * len(CSV_COLS)
        row[0] = "Tổng cộng"
        row[7] = _csv_text(sum(p["amount"] for p in people), thousands)
        w.writerow(row)
        total_row = lines + 1
    info.setdefault("sheets", {})[None] = {
        "header_rows": (header_line,), "first_data_row": header_line + 1,
        "total_row": total_row, "footer_rows": [], "group_rows": {}, "subtotal_rows": []}
    info["labels"] = _labels(CSV_COLS)
    text = out.getvalue()
    if shape == "csv_cp1258":
        return encode_cp1258(text)
    if shape == "csv_comma":
        return text.encode("utf-8")
    return b"\xef\xbb\xbf" + text.encode("utf-8")


def _write_html(people, *, program, month, info) -> bytes:
    y, m = _month_parts(month)
    opts = {"birth": "text", "address": True}
    esc = html.escape
    n = len(ONE_ROW)
    parts = ['<html xmlns:o="urn:schemas-microsoft-com:office:office" '
             'xmlns:x="urn:schemas-microsoft-com:office:excel">',
             '<head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">'
             '<style>td{mso-number-format:"\\@";}</style></head><body><table border=1>',
             f'<tr><td colspan={n}><b>{esc(_program_title(program))}<br>THÁNG {m} NĂM {y}'
             '</b></td></tr>',
             "<tr>" + "".join(f"<th>{esc(top)}</th>" for _, top, _ in ONE_ROW) + "</tr>"]
    for i, p in enumerate(people, 1):
        cells = []
        for f, _, _ in ONE_ROW:
            v = _raw(p, f, i, opts)
            cells.append(f"<td>{esc(_csv_text(v))}</td>" if v is not None else "<td></td>")
        parts.append("<tr>" + "".join(cells) + "</tr>")
    _record(people, ONE_ROW, 3, None, opts, text_only=True)
    total_row = 3 + len(people)
    parts.append(f'<tr><td colspan=2>Tổng cộng</td><td colspan=5></td>'
                 f'<td>{sum(p["amount"] for p in people)}</td></tr>')
    parts.append("</table></body></html>")
    info.setdefault("sheets", {})[None] = {
        "header_rows": (2,), "first_data_row": 3, "total_row": total_row,
        "footer_rows": [], "group_rows": {}, "subtotal_rows": []}
    info["labels"] = _labels(ONE_ROW)
    return "\n".join(parts).encode("utf-8")


# --------------------------------------------------------------------------- entry point

_LAYOUTS = ("TWO_ROW", "ONE_ROW", "LEGACY", "CSV_COLS")


def write_list(people: list[dict], shape: str, path_or_none=None, *, program: str = "BTXH",
               month: str = "2024-05", sheet_name: str | None = None,
               info: dict | None = None, commune: str | None = None,
               columns: tuple = ()) -> bytes:
    """Write ``people`` as a commune file of ``shape`` (a key of :data:`SHAPES`).

    Returns the file's bytes (also written to ``path_or_none`` when given) and records
    ``row``, ``sheet``, ``cells`` (and ``group``) on each person; ``info`` receives the
    layout (see the module docstring).

    ``commune`` names another commune than :data:`COMMUNE` in the title block, the
    addresses and the signature place (``"Bình Dương"``, ``"Thị trấn Châu Ổ"``: a leading
    kind replaces "Xã"). ``columns`` adds one-row columns after the others, as ``(field,
    label)`` pairs (``("commune", "Xã/Phường")``, ``("start_month", "Hưởng từ tháng")``);
    each person's cell is ``person[field]`` (absent: empty).
    """
    global COMMUNE, KIND
    if commune is None and not columns:
        return _write_list(people, shape, path_or_none, program=program, month=month,
                           sheet_name=sheet_name, info=info)
    saved = (COMMUNE, KIND) + tuple(globals()[n] for n in _LAYOUTS)
    try:
        if commune is not None:
            KIND, COMMUNE = next(((k, commune[len(k) + 1:]) for k in ("Thị trấn", "Phường", "Xã")
                                  if commune.startswith(k + " ")), ("Xã", commune))
        for n in _LAYOUTS:
            globals()[n] = globals()[n] + [(f, label, None) for f, label in columns]
        return _write_list(people, shape, path_or_none, program=program, month=month,
                           sheet_name=sheet_name, info=info)
    finally:
        COMMUNE, KIND = saved[:2]
        for n, layout in zip(_LAYOUTS, saved[2:], strict=True):
            globals()[n] = layout


def _write_list(people, shape, path_or_none=None, *, program, month, sheet_name, info):
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; one of {sorted(SHAPES)}")
    info = {} if info is None else info
    if shape.startswith("xlsx"):
        data = _write_xlsx(people, shape, program=program, month=month,
                           sheet_name=sheet_name, info=info)
    elif shape == "xls":
        data = _write_xls(people, program=program, month=month, sheet_name=sheet_name,
                          info=info)
    elif shape in ("csv_semicolon_bom", "csv_comma", "csv_cp1258", "csv_as_xls"):
        data = _write_csv(people, shape, program=program, month=month, info=info)
    elif shape == "html_xls":
        data = _write_html(people, program=program, month=month, info=info)
    else:  # pragma: no cover
        raise ValueError(shape)
    if path_or_none is not None:
        with open(path_or_none, "wb") as f:
            f.write(data)
    return data
