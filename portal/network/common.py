"""Small helpers shared by the network's services and views: reading whole
numbers typed by people (ids, capacities) without ever handing the database
a number it cannot store, and the Dutch long date-and-time style."""

from __future__ import annotations

from datetime import datetime

from babel.dates import format_date

#: The largest value of a 32-bit signed INTEGER column (PostgreSQL ``integer``;
#: SQLite stores up to 64 bits, PostgreSQL refuses more than this).
MAX_DB_INT = 2**31 - 1

#: The ``int`` URL converter limited to what an id column can hold: a larger
#: number in a URL is a 404 instead of a database overflow.
ID = "int(max=2147483647)"


def parse_int(text: str | None, low: int = 1, high: int = MAX_DB_INT) -> int | None:
    """``text`` as a whole number within ``low``..``high``, else ``None``.

    Only ASCII digits (with an optional leading ``-``) count: ``int()`` would
    also take ``'1_000'``, ``' 7 '`` or other scripts' digits. Never raises;
    the caller turns ``None`` into a Dutch message naming its field.
    """
    text = (text or "").strip()
    digits = text[1:] if text.startswith("-") else text
    if not digits or len(digits) > 12 or not (digits.isascii() and digits.isdigit()):
        return None
    value = int(text)
    return value if low <= value <= high else None


def valid_id(value: int | None) -> bool:
    """Is ``value`` a possible primary key (1..``MAX_DB_INT``)?"""
    return isinstance(value, int) and 1 <= value <= MAX_DB_INT


def long_datetime(local: datetime | None, locale: str = "nl") -> str:
    """``datetime(2026, 12, 10, 19, 30)`` -> ``'10 december 2026 19:30'``:
    the long date of the ``nldate`` filter (CLDR "long" via Babel) plus the
    time. ``''`` for ``None``."""
    if local is None:
        return ""
    return f"{format_date(local.date(), 'long', locale=locale)} {local:%H:%M}"
