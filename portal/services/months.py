"""Months as the monthly cycle names them: ``"YYYY-MM"`` strings (a payment period)."""
import calendar
import re
from datetime import date

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
# The years date() can hold with a month to spare on each side: months.add() steps across
# them (the narrower bounds of a proposal are the services' to check, with their message).
FIRST_YEAR, LAST_YEAR = 1, 9998


def parse(text):
    """Check a ``YYYY-MM`` month of the years :data:`FIRST_YEAR`–:data:`LAST_YEAR` and
    return it; ``ValueError`` (Vietnamese) otherwise."""
    text = (text or "").strip()
    if not _MONTH.match(text):
        raise ValueError(f"Tháng «{text}» không đúng dạng YYYY-MM (ví dụ 2024-05).")
    if not FIRST_YEAR <= int(text[:4]) <= LAST_YEAR:
        # Well formed, but year 0 (or 9999-12 + 1 month) is not a date: start() and add()
        # would raise ValueError deep in a view.
        raise ValueError(f"Tháng «{text}» phải trong các năm {FIRST_YEAR}–{LAST_YEAR}.")
    return text


def start(month):
    """``"2024-05"`` → ``date(2024, 5, 1)``."""
    y, m = month.split("-")
    return date(int(y), int(m), 1)


def end(month):
    """``"2024-02"`` → ``date(2024, 2, 29)``: the last day of the month."""
    d = start(month)
    return d.replace(day=calendar.monthrange(d.year, d.month)[1])


def of(day):
    """The month (``YYYY-MM``) a date falls in."""
    return f"{day.year:04d}-{day.month:02d}"


def add(month, n):
    """``add("2024-12", 1)`` → ``"2025-01"``; ``n`` may be negative."""
    d = start(month)
    index = d.year * 12 + d.month - 1 + n
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def after(day):
    """The month after ``day``: a stop takes effect then (Decree 20/2021/NĐ-CP Art. 8(2))."""
    return add(of(day), 1)


def between(first, stop):
    """The months from ``first`` up to, not including, ``stop``: ``between("2024-03",
    "2024-05")`` → ``["2024-03", "2024-04"]``; empty when ``first >= stop``."""
    out, m = [], first
    while m < stop:
        out.append(m)
        m = add(m, 1)
    return out


def label(month):
    """``"2024-05"`` → ``"05/2024"``, as the forms and reports write it."""
    return f"{month[5:]}/{month[:4]}"
