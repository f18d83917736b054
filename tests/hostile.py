"""Hostile and odd workbooks, built byte by byte (no third-party file is kept in the repo).

The three files that once took a worker down (issue 15), each a few hundred bytes:

- :func:`far_cell_xlsx`: two cells, A1 and XFD90000 (calamine asked for 47 GB);
- :func:`huge_index_spreadsheetml`: ``<Row ss:Index="60000000">`` and
  ``<Cell ss:Index="16000000">`` in an XML Spreadsheet 2003 named ``.xls``;
- :func:`huge_span_html`: ``<td rowspan="100000000" colspan="100000">`` in an HTML table
  named ``.xls``.

And the writers the fuzz tests and the other tests build on: :func:`xlsx_from_sheet_xml`
(an xlsx whose one worksheet part is the given XML, with inline strings, so no shared
strings part), :func:`spreadsheetml`, :func:`html_table`.
"""
from __future__ import annotations

import io
import zipfile
from xml.sax.saxutils import escape

_CONTENT_TYPES = (
    b'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
    b'package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.'
    b'openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="'
    b'application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.'
    b'openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/'
    b'worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.'
    b'spreadsheetml.worksheet+xml"/></Types>')
_RELS = (
    b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.'
    b'org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
    b'openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/'
    b'workbook.xml"/></Relationships>')
_WORKBOOK_RELS = (
    b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.'
    b'org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
    b'openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/'
    b'sheet1.xml"/></Relationships>')
SHEET_NS = b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'


def xlsx_from_sheet_xml(sheet_xml: bytes, sheet_name: str = "DS") -> bytes:
    """A minimal valid xlsx with one worksheet (``sheet_name``) whose part is ``sheet_xml``."""
    workbook = (
        '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.'
        'org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/'
        f'2006/relationships"><sheets><sheet name="{escape(sheet_name)}" sheetId="1" r:id="rId1"/>'
        '</sheets></workbook>').encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", _CONTENT_TYPES)
        z.writestr("_rels/.rels", _RELS)
        z.writestr("xl/workbook.xml", workbook)
        z.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        z.writestr("xl/worksheets/sheet1.xml", sheet_xml)
    return out.getvalue()


def col_letters(col: int) -> str:
    """0-based column → Excel letters (independent of the code under test)."""
    s = ""
    col += 1
    while col:
        col, rem = divmod(col - 1, 26)
        s = chr(65 + rem) + s
    return s


def xlsx_cell(row: int, col: int, value=None, formula: str | None = None) -> str:
    """One ``<c>`` at 0-based ``(row, col)``: a number, an inline string, a formula with or
    without a saved value (``value=None`` with a formula: never calculated)."""
    ref = f"{col_letters(col)}{row + 1}"
    f = f"<f>{escape(formula)}</f>" if formula is not None else ""
    if value is None:
        return f'<c r="{ref}">{f}</c>'
    if isinstance(value, str):
        if formula is not None:
            return f'<c r="{ref}" t="str">{f}<v>{escape(value)}</v></c>'
        return f'<c r="{ref}" t="inlineStr"><is><t>{escape(value)}</t></is></c>'
    return f'<c r="{ref}">{f}<v>{value}</v></c>'


def xlsx_rows(rows: dict[int, list[str]], dimension: str | None = None) -> bytes:
    """A worksheet part from ``{0-based row: [cell xml, …]}`` (see :func:`xlsx_cell`)."""
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    body = "".join(f'<row r="{r + 1}">{"".join(cells)}</row>' for r, cells in sorted(rows.items()))
    return (f'<?xml version="1.0" encoding="UTF-8"?><worksheet {SHEET_NS.decode()}>{dim}'
            f"<sheetData>{body}</sheetData></worksheet>").encode()


def far_cell_xlsx() -> bytes:
    """Two cells, A1 and XFD90000: a grid of 1.5 billion cells if read as one."""
    return xlsx_from_sheet_xml(xlsx_rows({0: [xlsx_cell(0, 0, "Họ và tên")],
                                          89_999: [xlsx_cell(89_999, 16_383, 1)]}))


def spreadsheetml(rows: list[str], sheet_name: str = "DS") -> bytes:
    """An XML Spreadsheet 2003 (what Excel saves as "XML Spreadsheet", often named .xls)."""
    return ('<?xml version="1.0"?><Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet" '
            'xmlns:ss="urn:schemas-microsoft-com:office:spreadsheet">'
            f'<Worksheet ss:Name="{escape(sheet_name)}"><Table>{"".join(rows)}</Table>'
            "</Worksheet></Workbook>").encode()


def huge_index_spreadsheetml() -> bytes:
    return spreadsheetml([
        '<Row><Cell><Data ss:Type="String">Họ và tên</Data></Cell></Row>',
        '<Row ss:Index="60000000"><Cell ss:Index="16000000"><Data ss:Type="Number">1</Data>'
        "</Cell></Row>"])


def html_table(rows: list[str]) -> bytes:
    """An Excel "Web page" .xls: an HTML table."""
    return ("<html><head><meta charset=utf-8></head><body><table>" + "".join(rows)
            + "</table></body></html>").encode()


def huge_span_html() -> bytes:
    return html_table(['<tr><td rowspan="100000000" colspan="100000">Họ và tên</td></tr>'])


REGRESSION_FILES = {
    "far_cell.xlsx": far_cell_xlsx,
    "huge_index.xls": huge_index_spreadsheetml,
    "huge_span.xls": huge_span_html,
}
