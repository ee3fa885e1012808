"""Jinja filters and globals shared by every template."""

from __future__ import annotations

from datetime import date, datetime

from flask import url_for
from flask_babel import format_date
from flask_login import current_user

from .. import permissions, taxonomy
from ..i18n import N_, stored_text

TYPE_PATHS = {"practice": "werkwijzen", "lesson": "lessen", "profile": "sleutelfiguren"}
PATH_TYPES = {v: k for k, v in TYPE_PATHS.items()}


def item_url(item_type: str, slug: str, **kw) -> str:
    return url_for("web.item", type_path=TYPE_PATHS[item_type], slug=slug, **kw)


def _label(key: str, kind: str) -> str:
    """The display label of a controlled-list key in the interface language."""
    return taxonomy.display_label(kind, key)


#: The forms of the (Dutch) notes stored with revisions (``revisions.note``),
#: translated when shown (``portal.i18n.stored_text``); other notes as stored.
REVISION_NOTES = (
    N_("automatisch opgeslagen"), N_("geïmporteerd"), N_("gepubliceerd"), N_("teruggezet naar concept"),
    N_("gearchiveerd"), N_("wijziging ter beoordeling"), N_("toestemming verlopen"),
    N_("contactpersoon gewist"), N_("via API"), N_("hersteld uit versie %(number)s"),
    N_("gemaakt van een antwoord op vraag %(number)s"), N_("gevolgd van %(source)s"),
    N_("niet meer openbaar bij %(source)s"),
)


def revision_note(note: str | None) -> str:
    """A revision's stored note in the interface language."""
    return stored_text(note, REVISION_NOTES)


def listing_feed() -> dict | None:
    """The Atom feed of the listing page being rendered (type, theme, phase,
    municipality or search), as ``{"url", "title"}``; None on other pages and
    for profiles (feeds hold public practices and lessons only). The feed
    URLs are those of ``portal.web.feeds``."""
    from flask import request
    from flask_babel import gettext as _

    from .. import search

    endpoint = request.endpoint or ""
    args = request.view_args or {}
    try:
        if endpoint == "web.browse_type" and args.get("type_path") in ("werkwijzen", "lessen"):
            return {"url": url_for("feeds.by_type", type_path=args["type_path"]),
                    "title": _("Atom-feed van deze lijst")}
        if endpoint == "web.browse_theme":
            return {"url": url_for("feeds.by_theme", theme=args["theme"]), "title": _("Atom-feed van dit thema")}
        if endpoint == "web.browse_phase":
            return {"url": url_for("feeds.by_phase", phase=args["phase"]), "title": _("Atom-feed van deze fase")}
        if endpoint == "web.browse_municipality":
            return {"url": url_for("feeds.by_municipality", code=args["code"]),
                    "title": _("Atom-feed van deze gemeente")}
        if endpoint == "web.search_page":
            query = {name: request.args.getlist(name) for name in search.FILTER_FIELDS if request.args.getlist(name)}
            if request.args.get("q", "").strip():
                query["q"] = request.args.get("q", "")[:500]
            return {"url": url_for("feeds.by_search", **query), "title": _("Atom-feed van deze zoekopdracht")}
    except Exception:  # a listing page without its view argument: no feed, never a broken page
        return None
    return None


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
    from ..services.notifications import display_message

    app.jinja_env.filters["notification_text"] = display_message
    app.jinja_env.filters["revision_note"] = revision_note
    app.jinja_env.globals.update(
        item_url=item_url,
        toggle_filter_url=toggle_filter_url,
        page_url=page_url,
        listing_feed=listing_feed,
        term_labels=lambda kind: {k: taxonomy.display_label(kind, k) for k in taxonomy.BUILTIN[kind]},
        TYPE_PATHS=TYPE_PATHS,
        taxonomy=taxonomy,
        can_edit=lambda item: permissions.can_edit(current_user, item),
        can_publish=lambda item: permissions.can_publish(current_user, item),
        can_create=lambda t: permissions.can_create(current_user, t),
        can_curate=lambda: permissions.can_curate(current_user),
    )
