"""Insight for curators (issue #9): the anonymous search log, its yearly
pruning, the figures of the insight page and the municipality map.

The search log holds no identity at all (no user, IP address, session or
user agent): only the normalised query, the filters, the number of results
and the time. Rows are kept at most a year (``portal prune-search-log``).

The map is drawn from ``portal/data/gemeenten-2025.topojson`` (CBS / PDOK,
Gebiedsindelingen 2025, simplified by cartomap/nl; CC BY 4.0). TopoJSON is
decoded here by :func:`decode_topojson` following the TopoJSON specification
(https://github.com/topojson/topojson-specification): quantized, delta-encoded
arcs; a negative arc index ``~i`` means arc ``i`` reversed.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, insert, select

from .. import permissions, taxonomy
from ..database import begin_write
from ..errors import PermissionDenied
from ..extensions import db
from ..models import Item, Municipality, SearchLogEntry, item_municipalities
from ..models.base import utcnow
from ..search.documents import effective_phases
from .common import audit

log = logging.getLogger(__name__)

#: Longest query text kept in the log (characters, after normalising).
MAX_LOGGED_QUERY = 200
#: Filter values kept per field, and their length.
MAX_FILTER_VALUES = 20
MAX_FILTER_VALUE = 100
#: Rows older than this many days are deleted by ``prune_search_log``.
KEEP_DAYS = 365
#: Weeks shown in "searches per week".
WEEKS = 26
TOP = 15
#: a query is listed only when searched at least this often: what one person
#: typed (a name, say) is theirs, and curators of every region read the page
MIN_QUERY_COUNT = 3
#: On SQLite, how long a search waits for another writer before it skips its log row.
LOG_BUSY_MS = 1000

TOPOJSON = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "gemeenten-2025.topojson")
MAP_CREDIT = _l("Kaart: CBS / PDOK, Gebiedsindelingen 2025 (vereenvoudigd door cartomap/nl), CC BY 4.0")


# -- the search log ----------------------------------------------------------------------
def normalise_query(text: str) -> str:
    """``'  Sleutelfiguren   WERVEN '`` -> ``'sleutelfiguren werven'``:
    case-folded, whitespace collapsed, at most ``MAX_LOGGED_QUERY`` characters."""
    return re.sub(r"\s+", " ", (text or "")).strip().casefold()[:MAX_LOGGED_QUERY].strip()


def _clean_filters(filters: dict[str, list[str]] | None) -> dict[str, list[str]]:
    from ..search import FILTER_FIELDS

    out: dict[str, list[str]] = {}
    for name, values in (filters or {}).items():
        if name not in FILTER_FIELDS:
            continue
        kept = [str(v)[:MAX_FILTER_VALUE] for v in values if str(v).strip()][:MAX_FILTER_VALUES]
        if kept:
            out[name] = kept
    return out


def log_search(text: str, filters: dict[str, list[str]] | None, result_count: int) -> bool:
    """Write one anonymous row for a search: normalised ``text``, ``filters``
    (``{field: [values]}``, unknown fields dropped) and ``result_count``.

    One INSERT on its own short connection, so the request's session (and
    what it has loaded) is untouched. Never raises: a database error is
    logged and the search goes on. Returns whether the row was written."""
    try:
        row = {"at": utcnow(), "query": normalise_query(text), "filters": _clean_filters(filters),
               "result_count": max(0, int(result_count))}
        with db.engine.begin() as conn:
            sqlite = conn.dialect.name == "sqlite"
            if sqlite:  # wait at most briefly for another writer: statistics can be skipped
                conn.exec_driver_sql(f"PRAGMA busy_timeout={LOG_BUSY_MS}")
            try:
                conn.execute(insert(SearchLogEntry.__table__).values(**row))
            finally:
                if sqlite:
                    conn.exec_driver_sql("PRAGMA busy_timeout=30000")
        return True
    except Exception:  # statistics must never break a search
        log.warning("search log: could not write a row", exc_info=True)
        return False


def prune_search_log(actor: Any, now: datetime | None = None, keep_days: int = KEEP_DAYS) -> int:
    """Delete search-log rows older than ``keep_days`` (default: a year)
    before ``now`` (naive UTC, default: now); returns how many. Only the
    system (command line) or an admin may prune: ``PermissionDenied`` otherwise."""
    begin_write()
    if not permissions.can_administer(actor):
        raise PermissionDenied(_("Alleen een beheerder mag het zoeklogboek opschonen."))
    cutoff = (now or utcnow()) - timedelta(days=keep_days)
    result = db.session.execute(delete(SearchLogEntry).where(SearchLogEntry.at < cutoff))
    deleted = result.rowcount or 0
    audit(actor, "search_log.prune", "search_log", deleted=deleted, before=cutoff.isoformat())
    db.session.commit()
    return deleted


# -- the municipality map ----------------------------------------------------------------
def decode_topojson(topology: dict, object_name: str) -> list[dict]:
    """Decode one GeometryCollection of a TopoJSON ``topology`` into
    ``[{"id", "name", "rings": [[(lon, lat), ...], ...]}]``; every ring of a
    Polygon or MultiPolygon is one list (holes too: draw with even-odd).
    Raises ``KeyError`` when ``object_name`` is missing."""
    transform = topology.get("transform")
    arcs: list[list[tuple[float, float]]] = []
    for arc in topology["arcs"]:
        points = []
        if transform:
            (sx, sy), (tx, ty) = transform["scale"], transform["translate"]
            x = y = 0
            for dx, dy, *_ in arc:
                x += dx
                y += dy
                points.append((x * sx + tx, y * sy + ty))
        else:
            points = [(p[0], p[1]) for p in arc]
        arcs.append(points)

    def ring(indices: list[int]) -> list[tuple[float, float]]:
        out: list[tuple[float, float]] = []
        for index in indices:
            points = arcs[index] if index >= 0 else arcs[~index][::-1]
            out.extend(points if not out else points[1:])  # arcs share their end points
        return out

    shapes = []
    for geometry in topology["objects"][object_name]["geometries"]:
        kind, parts = geometry.get("type"), geometry.get("arcs") or []
        polygons = [parts] if kind == "Polygon" else parts if kind == "MultiPolygon" else []
        props = geometry.get("properties") or {}
        shapes.append({
            "id": geometry.get("id") or props.get("statcode"),
            "name": props.get("statnaam", ""),
            "rings": [ring(r) for polygon in polygons for r in polygon],
        })
    return shapes


def project(lon: float, lat: float, bounds: tuple[float, float, float, float], width: float) -> tuple[float, float]:
    """Equirectangular projection at the middle latitude of ``bounds``
    (``min_lon, min_lat, max_lon, max_lat``) onto an SVG canvas ``width``
    wide (y grows downwards). Good enough for a country the size of the
    Netherlands; not for measuring."""
    min_lon, min_lat, max_lon, max_lat = bounds
    k = math.cos(math.radians((min_lat + max_lat) / 2))
    scale = width / ((max_lon - min_lon) * k)
    return (lon - min_lon) * k * scale, (max_lat - lat) * scale


def _path(points: list[tuple[float, float]]) -> str:
    """An SVG path for one closed ring, on whole units, repeated points dropped."""
    parts: list[str] = []
    last = None
    for x, y in points:
        p = (round(x), round(y))
        if p == last:
            continue
        parts.append(f"{p[0]} {p[1]}")
        last = p
    return ("M" + " L".join(parts) + "Z") if len(parts) > 2 else ""


@lru_cache(maxsize=2)
def map_geometry(path: str = TOPOJSON, width: int = 600) -> tuple[int, int, tuple[tuple[str, str, str], ...]]:
    """``(width, height, ((cbs_code, name, svg_path), ...))`` for every
    municipality in the TopoJSON file at ``path``, projected onto a canvas
    ``width`` wide; computed once per process (the file is fixed)."""
    with open(path, encoding="utf-8") as fh:
        topology = json.load(fh)
    name = next(iter(topology["objects"]))
    shapes = decode_topojson(topology, name)
    lons = [p[0] for s in shapes for r in s["rings"] for p in r]
    lats = [p[1] for s in shapes for r in s["rings"] for p in r]
    bounds = (min(lons), min(lats), max(lons), max(lats))
    height = math.ceil(project(bounds[0], bounds[1], bounds, width)[1]) + 1
    out = []
    for shape in shapes:
        d = " ".join(filter(None, (_path([project(lon, lat, bounds, width) for lon, lat in r])
                                   for r in shape["rings"])))
        out.append((shape["id"], shape["name"], d))
    return width, height, tuple(out)


#: Classes of the choropleth: (lowest count, class, fill colour, legend text).
MAP_CLASSES = (
    (0, "gm-k0", "#e4e4e4", _l("geen bijdragen")),
    (1, "gm-k1", "#9ecae1", "1"),
    (2, "gm-k2", "#6baed6", "2–3"),
    (4, "gm-k3", "#2171b5", "4–6"),
    (7, "gm-k4", "#08306b", _l("7 of meer")),
)


def map_class(count: int) -> tuple[str, str]:
    """``(css_class, fill)`` of a municipality with ``count`` published items."""
    chosen = MAP_CLASSES[0]
    for row in MAP_CLASSES:
        if count >= row[0]:
            chosen = row
    return chosen[1], chosen[2]


# -- the figures -----------------------------------------------------------------------
def _published_items() -> list[Item]:
    return db.session.scalars(select(Item).where(Item.status == "published")).all()


def _type_counts(items: list[Item], key) -> dict[str, dict[str, int]]:
    """``{value: {"practice": n, "lesson": n, "profile": n, "total": n}}``."""
    out: dict[str, dict[str, int]] = {}
    for item in items:
        for value in key(item) or []:
            row = out.setdefault(value, {"practice": 0, "lesson": 0, "profile": 0, "total": 0})
            row[item.type] = row.get(item.type, 0) + 1
            row["total"] += 1
    return out


def _empty() -> dict[str, int]:
    return {"practice": 0, "lesson": 0, "profile": 0, "total": 0}


def _week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def insight_report(actor: Any, today: date | None = None) -> dict[str, Any]:
    """The figures of the curators' insight page, for ``actor`` (curators
    and admins; ``PermissionDenied`` otherwise). Counts cover published
    items only; profiles appear only as numbers, never by name.

    Returns ``{"phases": [...], "steps": [...], "themes": [...],
    "municipalities": [(code, name, count)], "map": [(code, name, d, count, cls, fill)],
    "map_size": (width, height),
    "weeks": [(monday, count)], "top": [(query, count)], "zero": [(query, count)],
    "overdue": {"count", "profiles", "items": [Item]}, "open_questions": {...} | None,
    "searches": total}``; each figure row is ``(key, label, {type: n, "total": n})``."""
    if not permissions.can_view_insight(actor):
        raise PermissionDenied(_("Alleen regionale coördinatoren en beheerders zien het inzicht."))
    today = today or utcnow().date()
    items = _published_items()
    by_phase = _type_counts(items, effective_phases)  # a sub-step implies its phase, as in search
    by_step = _type_counts(items, lambda i: i.steps)
    by_theme = _type_counts(items, lambda i: i.themes)
    # labels in the interface language (the report is shown, never stored)
    phases = [(k, taxonomy.display_label("phase", k), by_phase.get(k, _empty())) for k in taxonomy.BUILTIN["phase"]]
    steps = [(k, f"{k} {taxonomy.display_label('step', k)}", by_step.get(k, _empty()))
             for k in taxonomy.BUILTIN["step"]]
    theme_keys = list(taxonomy.BUILTIN["theme"]) + sorted(k for k in by_theme if k not in taxonomy.BUILTIN["theme"])
    themes = [(k, taxonomy.display_label("theme", k), by_theme.get(k, _empty())) for k in theme_keys]

    counts = dict(db.session.execute(
        select(Municipality.cbs_code, func.count(func.distinct(Item.id)))
        .join(item_municipalities, item_municipalities.c.municipality_id == Municipality.id)
        .join(Item, Item.id == item_municipalities.c.item_id)
        .where(Item.status == "published")
        .group_by(Municipality.cbs_code)).all())
    names = dict(db.session.execute(select(Municipality.cbs_code, Municipality.name)).all())
    municipalities = sorted(((c, names.get(c, c), n) for c, n in counts.items() if n),
                            key=lambda r: (-r[2], r[1]))
    shapes = []
    map_width, map_height, geometry = map_geometry()
    for code, name, d in geometry:
        n = counts.get(code, 0)
        cls, fill = map_class(n)
        shapes.append((code, names.get(code, name), d, n, cls, fill))

    monday = _week_start(today)
    weeks = []
    for back in range(WEEKS - 1, -1, -1):
        start = monday - timedelta(weeks=back)
        lo, hi = datetime.combine(start, datetime.min.time()), datetime.combine(start + timedelta(days=7), datetime.min.time())
        n = db.session.scalar(select(func.count(SearchLogEntry.id))
                              .where(SearchLogEntry.at >= lo, SearchLogEntry.at < hi)) or 0
        weeks.append((start, n))
    since = datetime.combine(today - timedelta(days=KEEP_DAYS), datetime.min.time())
    total = db.session.scalar(select(func.count(SearchLogEntry.id)).where(SearchLogEntry.at >= since)) or 0

    def top(*conditions) -> list[tuple[str, int]]:
        n = func.count(SearchLogEntry.id)
        stmt = (select(SearchLogEntry.query, n).where(SearchLogEntry.at >= since, SearchLogEntry.query != "",
                                                      *conditions)
                .group_by(SearchLogEntry.query).having(n >= MIN_QUERY_COUNT)
                .order_by(n.desc(), SearchLogEntry.query).limit(TOP))
        return [(q, c) for q, c in db.session.execute(stmt).all()]

    overdue: dict[str, Any] = {"count": 0, "profiles": 0, "items": [], "available": hasattr(Item, "review_due")}
    if overdue["available"]:
        due = db.session.scalars(select(Item).where(Item.status == "published", Item.review_due.is_not(None),
                                                    Item.review_due < today).order_by(Item.review_due)).all()
        overdue["count"] = len(due)
        overdue["profiles"] = sum(1 for i in due if i.type == "profile")
        overdue["items"] = [i for i in due if i.type != "profile" and permissions.can_view(actor, i)]
    return {
        "phases": phases, "steps": steps, "themes": themes,
        "municipalities": municipalities, "map": shapes, "map_size": (map_width, map_height),
        "weeks": weeks, "searches": total,
        "top": top(), "zero": top(SearchLogEntry.result_count == 0),
        "overdue": overdue, "open_questions": _open_questions(),
        "items_total": len(items),
    }


def _open_questions() -> dict[str, int] | None:
    """``{"open": n, "unanswered": n}`` over questions to the network, or
    ``None`` where the network's tables are absent. Numbers only."""
    try:
        from ..models import Answer, Question
    except ImportError:  # pragma: no cover - the network is part of the portal
        return None
    answered = select(Answer.question_id).distinct()
    open_n = db.session.scalar(select(func.count(Question.id)).where(Question.status == "open")) or 0
    unanswered = db.session.scalar(select(func.count(Question.id)).where(
        Question.status == "open", Question.id.not_in(answered))) or 0
    return {"open": open_n, "unanswered": unanswered}
