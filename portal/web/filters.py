"""Jinja filters and globals shared by every template."""

from __future__ import annotations

from datetime import date, datetime

from flask import url_for
from flask_babel import format_date
from flask_login import current_user

from .. import permissions, taxonomy

TYPE_PATHS = {"practice": "werkwijzen", "lesson": "lessen", "profile": "sleutelfiguren"}
PATH_TYPES = {v: k for k, v in TYPE_PATHS.items()}


def item_url(item_type: str, slug: str, **kw) -> str:
    return url_for("web.item", type_path=TYPE_PATHS[item_type], slug=slug, **kw)


def _label(key: str, kind: str) -> str:
    return taxonomy.label(kind, key)


def _date(value, fmt: str = "long") -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return format_date(value, fmt)
    return str(value)


#: The query arguments a listing page understands; anything else in the URL
#: is dropped when links are built (``url_for`` would read ``endpoint``,
#: ``_external`` or a view argument's name as its own parameters).
LISTING_ARGS = {"q", "pagina", "sorteer", "type", "theme", "phase", "step", "municipality", "region",
                "evidence", "key_figure_type", "profile_language"}


def _listing_args() -> dict[str, list[str]]:
    from flask import request

    view_args = request.view_args or {}
    return {k: v for k, v in request.args.to_dict(flat=False).items() if k in LISTING_ARGS and k not in view_args}


def toggle_filter_url(name: str, value: str) -> str:
    """The current page's URL with facet ``name=value`` switched on or off
    (back to page 1)."""
    from flask import request

    args = _listing_args()
    values = args.get(name, [])
    args[name] = [v for v in values if v != value] if value in values else values + [value]
    args.pop("pagina", None)
    return url_for(request.endpoint, **(request.view_args or {}), **args)


def page_url(**changes) -> str:
    """The current page's URL with some query arguments replaced."""
    from flask import request

    args = _listing_args()
    for key, value in changes.items():
        args[key] = [str(value)]
    return url_for(request.endpoint, **(request.view_args or {}), **args)


def _language(code: str) -> str:
    """ISO 639-1 code -> the language's name in the interface language (CLDR via Babel)."""
    from babel import Locale
    from flask_babel import get_locale

    locale = get_locale() or Locale("nl")
    return locale.languages.get(code, code)


def register(app) -> None:
    app.jinja_env.filters["label"] = _label
    app.jinja_env.filters["nldate"] = _date
    app.jinja_env.filters["language"] = _language
    app.jinja_env.globals.update(
        item_url=item_url,
        toggle_filter_url=toggle_filter_url,
        page_url=page_url,
        TYPE_PATHS=TYPE_PATHS,
        taxonomy=taxonomy,
        can_edit=lambda item: permissions.can_edit(current_user, item),
        can_publish=lambda item: permissions.can_publish(current_user, item),
        can_create=lambda t: permissions.can_create(current_user, t),
        can_curate=lambda: permissions.can_curate(current_user),
    )
