"""Writing workbooks safely: text stays text.

A value typed into a name or an account number that starts with ``=``, ``+``, ``-`` or
``@`` would become a formula in Excel or LibreOffice (``=HYPERLINK(...)`` runs when the
file is opened). Every string written through :func:`cell` is stored as a string.
"""
from openpyxl.cell import WriteOnlyCell


def cell(ws, value, number_format=None, font=None):
    """A write-only cell for ``ws``; strings are forced to the string type (never a formula)."""
    c = WriteOnlyCell(ws, value=value)
    if isinstance(value, str):
        c.data_type = "s"
    if number_format:
        c.number_format = number_format
    if font is not None:
        c.font = font
    return c
