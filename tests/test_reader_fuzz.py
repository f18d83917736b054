"""Fuzz tests of every reader: whatever the bytes, reading ends in rows or in the reader's
own ``FileProblem``, inside a memory and time ceiling, and the rows stay within the limits.

Each example is read by :func:`portal.sheets.reader.read_workbook_unguarded` in a child
process capped at :data:`CEILING` (:func:`portal.sheets.guard.run_limited`): a reader that
allocated a huge grid, aborted, or spun would end the child as ``memory``, ``killed`` or
``timeout``, and the test fails with the example that did it.

Bounded in time: ``FUZZ_EXAMPLES`` examples per reader (default 40), no deadline per
example (a fork costs a few milliseconds); CI runs them derandomized, so that a run can be
reproduced, while a developer's run explores new inputs each time.
"""
import io
import os
from xml.sax.saxutils import escape, quoteattr

import pytest
import xlwt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.sheets import guard
from portal.sheets.extent import MAX_CELLS, MAX_COLS, MAX_ROWS
from portal.sheets.reader import FileProblem, read_workbook_unguarded
from tests.hostile import col_letters, html_table, spreadsheetml, xlsx_from_sheet_xml, SHEET_NS

CEILING = guard.Limits(memory_mb=512, seconds=30)
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=bool(os.environ.get("CI")),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
                database=None)


def read_within_ceiling(data: bytes, reader=read_workbook_unguarded) -> None:
    out = guard.run_limited(reader, data, None, limits=CEILING)
    assert out.kind in ("ok", "raised"), f"the reader passed the ceiling: {out.kind} {out.detail}"
    if out.kind == "raised":
        assert isinstance(out.value, FileProblem), f"not the reader's own error: {out.value!r}"
        assert out.value.message
        return
    for sheet in out.value:
        assert len(sheet.rows) <= MAX_ROWS
        assert all(len(r) <= MAX_COLS for r in sheet.rows)
        assert sum(map(len, sheet.rows)) <= MAX_CELLS


# Rows and columns: mostly near the data, sometimes at or far beyond every limit.
rows = st.one_of(st.integers(0, 60), st.integers(0, MAX_ROWS + 5),
                 st.sampled_from([MAX_ROWS - 1, MAX_ROWS, 89_999, 1_048_575, 60_000_000, 2**31]))
cols = st.one_of(st.integers(0, 20), st.integers(0, MAX_COLS + 5),
                 st.sampled_from([MAX_COLS - 1, MAX_COLS, 16_383, 16_000_000]))
text = st.text(st.sampled_from("aăâbcdđeêghiklmnoôơpqrstuưvxyÀÁẢÃẠằẳỵ0123456789 ;,\t\n\"'<>&=+-@"),
               max_size=30)
numbers = st.one_of(st.integers(-10**12, 10**12), st.floats(allow_nan=True, allow_infinity=True))


def _cut(data: bytes, cut, junk: bytes) -> bytes:
    """Optionally break well-formed bytes: cut them short, or splice junk in."""
    if cut is None:
        return data
    at = min(cut, len(data))
    return data[:at] + junk + (data[at + 1:] if junk else b"")


@st.composite
def xlsx_cells(draw):
    cells = []
    for _ in range(draw(st.integers(0, 12))):
        r, c = draw(rows), draw(cols)
        ref = f'{col_letters(c)}{r + 1}' if draw(st.booleans()) else None
        attr = f' r="{ref}"' if ref else ""
        kind = draw(st.sampled_from(["number", "inline", "formula", "formula_value", "styled",
                                     "bad_ref", "empty_v"]))
        if kind == "number":
            cells.append((r, f'<c{attr}><v>{draw(numbers)}</v></c>'))
        elif kind == "inline":
            cells.append((r, f'<c{attr} t="inlineStr"><is><t>{escape(draw(text))}</t></is></c>'))
        elif kind == "formula":
            cells.append((r, f'<c{attr}><f>{escape(draw(text))}</f></c>'))
        elif kind == "formula_value":
            cells.append((r, f'<c{attr}><f>1+1</f><v>{draw(numbers)}</v></c>'))
        elif kind == "styled":
            cells.append((r, f'<c{attr} s="3"/>'))
        elif kind == "empty_v":
            cells.append((r, f'<c{attr}><v></v></c>'))
        else:
            cells.append((r, f'<c r={quoteattr(draw(text))}><v>1</v></c>'))
    return cells


@FUZZ
@given(cells=xlsx_cells(), sort=st.booleans(), row_r=st.booleans(),
       dimension=st.one_of(st.none(), st.sampled_from(["A1", "A1:XFD1048576", "ZZZZ9", "bad"])),
       cut=st.one_of(st.none(), st.integers(0, 2000)), junk=st.binary(max_size=8))
def test_xlsx(cells, sort, row_r, dimension, cut, junk):
    if sort:
        cells = sorted(cells, key=lambda rc: rc[0])
    body = "".join(("<row r=\"%d\">" % (r + 1) if row_r else "<row>") + c + "</row>"
                   for r, c in cells)
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    sheet_xml = (f'<?xml version="1.0" encoding="UTF-8"?><worksheet {SHEET_NS.decode()}>{dim}'
                 f"<sheetData>{body}</sheetData></worksheet>").encode()
    read_within_ceiling(xlsx_from_sheet_xml(_cut(sheet_xml, cut, junk)))


@FUZZ
@given(cells=st.lists(st.tuples(st.integers(0, 65_535), st.integers(0, 255),
                                st.one_of(text, st.integers(-10**9, 10**9), st.floats(-1e9, 1e9))),
                      max_size=10),
       flips=st.lists(st.tuples(st.integers(0, 8000), st.integers(0, 255)), max_size=6))
def test_xls(cells, flips):
    wb = xlwt.Workbook()
    ws = wb.add_sheet("DS")
    seen = set()
    for r, c, v in cells:
        if (r, c) not in seen:
            seen.add((r, c))
            ws.write(r, c, v)
    buf = io.BytesIO()
    wb.save(buf)
    data = bytearray(buf.getvalue())
    for at, byte in flips:  # damage the container or a record (row, column, length …)
        data[at % len(data)] = byte
    read_within_ceiling(bytes(data))


index = st.one_of(st.integers(-3, 70), st.integers(0, 20_000_000).map(str),
                  st.sampled_from(["", "abc", "1e9", "99999999999999999999999", "-5", "+7"]))


@st.composite
def spreadsheetml_rows(draw):
    out = []
    for _ in range(draw(st.integers(0, 8))):
        attrs = f' ss:Index="{draw(index)}"' if draw(st.booleans()) else ""
        cells = []
        for _ in range(draw(st.integers(0, 5))):
            a = ""
            for name in ("ss:Index", "ss:MergeAcross", "ss:MergeDown"):
                if draw(st.integers(0, 3)) == 0:
                    a += f' {name}="{draw(index)}"'
            typ = draw(st.sampled_from(["String", "Number", "DateTime", "Boolean", "Bogus"]))
            cells.append(f'<Cell{a}><Data ss:Type="{typ}">{escape(draw(text))}</Data></Cell>')
        out.append(f"<Row{attrs}>{''.join(cells)}</Row>")
    return out


@FUZZ
@given(rows_=spreadsheetml_rows(), cut=st.one_of(st.none(), st.integers(0, 1500)),
       junk=st.binary(max_size=8))
def test_spreadsheetml(rows_, cut, junk):
    read_within_ceiling(_cut(spreadsheetml(rows_), cut, junk))


span = st.one_of(st.integers(-3, 5).map(str), st.integers(0, 10**12).map(str),
                 st.sampled_from(["", "abc", "1e9", "0x10", "٣", "99999999999999999999999"]))


@st.composite
def html_rows(draw):
    out = []
    for _ in range(draw(st.integers(0, 10))):
        cells = []
        for _ in range(draw(st.integers(0, 6))):
            tag = draw(st.sampled_from(["td", "th"]))
            a = "".join(f' {n}="{draw(span)}"' for n in ("rowspan", "colspan")
                        if draw(st.integers(0, 2)) == 0)
            close = f"</{tag}>" if draw(st.booleans()) else ""  # HTML lets it be omitted
            cells.append(f"<{tag}{a}>{escape(draw(text))}{close}")
        close = "</tr>" if draw(st.booleans()) else ""
        out.append(f"<tr>{''.join(cells)}{close}")
    return out


@FUZZ
@given(rows_=html_rows(), cut=st.one_of(st.none(), st.integers(0, 1500)),
       junk=st.binary(max_size=8))
def test_html(rows_, cut, junk):
    read_within_ceiling(_cut(html_table(rows_), cut, junk))


@FUZZ
@given(body=st.text(st.sampled_from("Họ và tênNgàysinh0123456789;,\t\"\r\n\x00 éđ"), max_size=400),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1258", "latin-1"]),
       wide=st.integers(0, 300))
def test_csv_and_tsv(body, encoding, wide):
    text_ = "Họ và tên;Ngày sinh" + ";" * wide + "\n" + body
    try:
        data = text_.encode(encoding)
    except UnicodeEncodeError:
        data = text_.encode("utf-8")
    read_within_ceiling(data)


@FUZZ
@given(data=st.binary(min_size=1, max_size=600),
       head=st.sampled_from([b"", b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"<",
                             b"\xef\xbb\xbf", b"\xff\xfe"]))
def test_any_bytes(data, head):
    read_within_ceiling(head + data)


def test_the_property_catches_a_reader_that_passes_the_ceiling():
    """The test of the tests: a reader that allocates 1 GB, or raises something of its own,
    fails the property."""
    with pytest.raises(AssertionError, match="ceiling: memory"):
        read_within_ceiling(b"x", reader=_greedy)
    with pytest.raises(AssertionError, match="reader's own error"):
        read_within_ceiling(b"x", reader=_buggy)
    read_within_ceiling(b"x", reader=_fine)


def _greedy(data, filename=None):
    return bytearray(1024 ** 3)


def _buggy(data, filename=None):
    return [][1]


def _fine(data, filename=None):
    return []
