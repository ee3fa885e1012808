"""Whole numbers from the URL: page numbers, page sizes, day counts and ids.

One place for the rule, used by every blueprint (web, curation, people,
network, API): a number a visitor types into the URL is parsed with a
bounded length, then clamped (web pages) or refused with a Dutch message
(the API) before it reaches SQL, where ``pagina=99999999999999999999``
overflowed SQLite's 64-bit integers (a 500). ``BoundedIntConverter``
does the same for ``<int:...>`` parts of a route: a number no row can
have (above PostgreSQL's ``integer``) is a 404, never a query.
"""

from __future__ import annotations

from collections.abc import Mapping

from flask_babel import gettext as _
from werkzeug.routing import IntegerConverter, ValidationError

#: The highest page number anyone can ask for; far beyond any real listing.
MAX_PAGE = 10_000
#: Ids in the database are at most PostgreSQL's ``integer`` (4 bytes, signed).
MAX_ID = 2**31 - 1
#: A whole number in a URL has at most this many characters (sign included).
MAX_DIGITS = 12


class BadNumber(ValueError):
    """A query argument that is not a whole number in range; ``message`` is
    Dutch and fit to show."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def parse_int(raw: str | None, default: int, lo: int = 1, hi: int = MAX_PAGE, clamp: bool = True) -> int:
    """``raw`` (a query argument) as an int in ``lo..hi``.

    ``None`` or ``""`` gives ``default``. With ``clamp`` a number outside the
    range becomes ``lo`` or ``hi``; without, it raises ``BadNumber``. Text
    that is not a whole number (ASCII digits, an optional sign, at most
    ``MAX_DIGITS`` characters) always raises ``BadNumber``.
    """
    if raw is None:
        return default
    text = str(raw).strip()
    if text == "":
        return default
    digits = text[1:] if text[:1] in "+-" else text
    if not digits or not (digits.isascii() and digits.isdigit()):
        raise BadNumber(_("'%(value)s' is geen geheel getal.", value=text[:20]))
    if len(text) > MAX_DIGITS:
        value = hi + 1 if text[:1] != "-" else lo - 1  # far out of range either way
    else:
        value = int(text)
    if lo <= value <= hi:
        return value
    if clamp:
        return max(lo, min(hi, value))
    raise BadNumber(_("Kies een getal van %(low)s tot en met %(high)s.", low=lo, high=hi))


def int_arg(name: str, default: int = 1, lo: int = 1, hi: int = MAX_PAGE,
            args: Mapping[str, str] | None = None) -> int:
    """Query argument ``name`` of the current request (or of ``args``) for a
    web page: clamped to ``lo..hi``, ``default`` when it is missing or not a
    number. Never raises."""
    if args is None:
        from flask import request

        args = request.args
    try:
        return parse_int(args.get(name), default, lo, hi)
    except BadNumber:
        return default


def page_arg(name: str = "pagina", hi: int = MAX_PAGE, args: Mapping[str, str] | None = None) -> int:
    """The page number ``name`` (default ``pagina``) for a web page: ``1..hi``."""
    return int_arg(name, 1, 1, hi, args)


def last_page(page: int, total: int, per_page: int) -> int:
    """``page`` limited to the last page of ``total`` rows (at least 1)."""
    pages = max(1, -(-max(total, 0) // max(per_page, 1)))
    return max(1, min(page, pages))


class BoundedIntConverter(IntegerConverter):
    """``<int:...>`` that matches only ``0..MAX_ID`` (a larger number is a
    404 instead of an integer overflow in the database)."""

    def __init__(self, map, fixed_digits: int = 0, min: int | None = None,  # noqa: A002 (werkzeug's names)
                 max: int | None = MAX_ID, signed: bool = False) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)

    def to_python(self, value: str):
        if len(value) > MAX_DIGITS:  # do not even convert absurd digit runs
            raise ValidationError()
        return super().to_python(value)


def init_app(app) -> None:
    """Make ``<int:...>`` in every route bounded; call before registering
    blueprints (rules bind their converters when added)."""
    app.url_map.converters["int"] = BoundedIntConverter
