"""Insight for curators (issue #9): the anonymous search log, its pruning,
the /inzicht page with its SVG charts and municipality map, and who may see it."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import func, inspect, select

from portal.extensions import db
from portal.models import Item, Municipality, SearchLogEntry, item_municipalities
from portal.models.base import utcnow
from portal.services import insight as insight_service
from portal.services.items import SYSTEM, confirm_review

from .conftest import make_app

CURATOR = "curator@delft.example.org"
ADMIN = "beheer@example.org"
MEMBER = "lid@delft.example.org"
CONTRIBUTOR = "bijdrager@delft.example.org"


@pytest.fixture(scope="module")
def insight_app(tmp_path_factory):
    """One app with the starter library for this module's tests."""
    return make_app(tmp_path_factory.mktemp("insight"))


def _rows(app) -> list[SearchLogEntry]:
    with app.app_context():
        rows = db.session.scalars(select(SearchLogEntry).order_by(SearchLogEntry.id)).all()
        db.session.expunge_all()
        return rows


def _section(html: str, table_id: str) -> str:
    m = re.search(rf'<table id="{table_id}">(.*?)</table>', html, re.S)
    assert m, f"no table {table_id}"
    return m.group(1)


# -- the search log ----------------------------------------------------------------------
def test_search_log_has_no_identity_columns(insight_app):
    with insight_app.app_context():
        columns = {c["name"] for c in inspect(db.engine).get_columns("search_log")}
        foreign = inspect(db.engine).get_foreign_keys("search_log")
    assert columns == {"id", "at", "query", "filters", "result_count"}
    assert not [c for c in columns if re.search(r"user|ip|session|agent|email|actor|addr", c)]
    assert foreign == []


def test_every_search_writes_one_anonymous_row(insight_app, client_for):
    before = len(_rows(insight_app))
    member = client_for(insight_app, MEMBER)
    resp = member.get("/zoeken", query_string={"q": "  Sleutelfiguren   WERVEN ", "type": "practice"})
    assert resp.status_code == 200
    rows = _rows(insight_app)
    assert len(rows) == before + 1
    row = rows[-1]
    assert row.query == "sleutelfiguren werven"
    assert row.filters == {"type": ["practice"]}
    assert row.result_count > 0
    # page 2 of the same search and the browse pages are not new searches
    member.get("/zoeken", query_string={"q": "sleutelfiguren werven", "pagina": "2"})
    member.get("/werkwijzen")
    assert len(_rows(insight_app)) == before + 1


def test_logged_query_is_capped(insight_app, client_for):
    client_for(insight_app).get("/zoeken", query_string={"q": "radicalisering " * 40})
    assert len(_rows(insight_app)[-1].query) <= insight_service.MAX_LOGGED_QUERY


def test_search_log_failure_never_fails_the_search(app, client_for):
    with app.app_context():
        SearchLogEntry.__table__.drop(db.engine)  # a real database error on insert
    resp = client_for(app).get("/zoeken", query_string={"q": "sleutelfiguren"})
    assert resp.status_code == 200
    assert "werkwijze" in resp.get_data(as_text=True).lower()
    with app.app_context():
        assert insight_service.log_search("x", {}, 0) is False


def test_prune_search_log_keeps_at_most_a_year(insight_app):
    runner = insight_app.test_cli_runner()
    with insight_app.app_context():
        assert insight_service.log_search("oude zoekopdracht", {}, 3)
        total = db.session.scalar(select(func.count(SearchLogEntry.id)))
        assert insight_service.prune_search_log(SYSTEM) == 0  # nothing is a year old yet
        # a year and a day later every row written today is too old
        later = utcnow() + timedelta(days=366)
        assert insight_service.prune_search_log(SYSTEM, now=later) == total
        assert db.session.scalar(select(func.count(SearchLogEntry.id))) == 0
    result = runner.invoke(args=["prune-search-log"])
    assert result.exit_code == 0, result.output
    assert "0 zoekopdracht(en)" in result.output


def test_prune_search_log_refuses_members(insight_app):
    from portal.errors import PermissionDenied
    from portal.models import User

    with insight_app.app_context():
        member = db.session.scalar(select(User).where(User.email == MEMBER))
        with pytest.raises(PermissionDenied):
            insight_service.prune_search_log(member)


# -- who may open /inzicht ---------------------------------------------------------------
def test_insight_only_for_curators_and_admins(insight_app, client_for):
    anon = client_for(insight_app).get("/inzicht")
    assert anon.status_code == 302 and "/inloggen" in anon.headers["Location"]
    assert client_for(insight_app, MEMBER).get("/inzicht").status_code == 403
    assert client_for(insight_app, CONTRIBUTOR).get("/inzicht").status_code == 403
    assert client_for(insight_app, CURATOR).get("/inzicht").status_code == 200
    assert client_for(insight_app, ADMIN).get("/inzicht").status_code == 200


def test_nav_link_only_for_curators(insight_app, client_for):
    assert 'href="/inzicht"' not in client_for(insight_app, MEMBER).get("/").get_data(as_text=True)
    assert 'href="/inzicht"' in client_for(insight_app, CURATOR).get("/").get_data(as_text=True)


# -- the figures -------------------------------------------------------------------------
def test_zero_result_query_is_among_top_no_results(insight_app, client_for):
    anon = client_for(insight_app)
    for _ in range(3):
        resp = anon.get("/zoeken", query_string={"q": "Zwembadrooster"})
        assert resp.status_code == 200
        anon.get("/zoeken", query_string={"q": "sleutelfiguren"})
    anon.get("/zoeken", query_string={"q": "Eenmalig Gezochte Naam"})  # typed once: never listed
    html = client_for(insight_app, CURATOR).get("/inzicht").get_data(as_text=True)
    zero = _section(html, "zoektermen-zonder-resultaat")
    assert re.search(r"zwembadrooster</th><td>3</td>", zero)
    assert "sleutelfiguren<" not in zero  # it found something
    assert "zwembadrooster" in _section(html, "top-zoektermen")
    assert "eenmalig gezochte naam" not in html.lower()


def test_map_has_a_path_per_municipality_and_fill_classes(insight_app, client_for):
    with insight_app.app_context():
        delft = db.session.scalar(select(Municipality).where(Municipality.name == "Delft"))
        delft_count = db.session.scalar(
            select(func.count(func.distinct(Item.id)))
            .join(item_municipalities, item_municipalities.c.item_id == Item.id)
            .where(item_municipalities.c.municipality_id == delft.id, Item.status == "published"))
        total = db.session.scalar(select(func.count(Municipality.id)))
    assert delft_count > 0
    html = client_for(insight_app, CURATOR).get("/inzicht").get_data(as_text=True)
    paths = re.findall(r'<path class="gm (gm-k\d)" data-gemeente="(GM\d{4})"', html)
    assert len(paths) == total == 342
    classes = dict((code, cls) for cls, code in paths)
    expected, _fill = insight_service.map_class(delft_count)
    assert classes["GM0503"] == expected != "gm-k0"
    assert classes["GM0088"] == "gm-k0"  # Schiermonnikoog: no contributions in the starter library
    assert re.search(r'<path[^>]*data-gemeente="GM0503"[^>]*d="M\d+ \d+ L', html)
    assert f"Delft: {delft_count}" in html
    assert "CBS / PDOK" in html
    # the same figures in a table beside the map
    assert re.search(rf'>Delft</a></th><td>{delft_count}</td>', html)


def test_charts_are_inline_svg_without_script_or_style(insight_app, client_for):
    resp = client_for(insight_app, CURATOR).get("/inzicht")
    html = resp.get_data(as_text=True)
    assert html.count("<svg") >= 6
    assert "<script" not in html and "style=" not in html
    assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html
    assert resp.headers["Cache-Control"] == "private, no-store"
    # every chart has its table: phases and steps with their labels and counts
    assert "1.1 Doel en bestaansrecht" in html and "<caption>Items per stap</caption>" in html
    assert "<caption>Items per thema</caption>" in html and "Zoekopdrachten per week" in html


def test_counts_only_published_items(insight_app):
    with insight_app.app_context():
        report = insight_service.insight_report(SYSTEM)
        published = db.session.scalar(select(func.count(Item.id)).where(Item.status == "published"))
        steps = {key: counts["total"] for key, _label, counts in report["steps"]}
        by_step = sum(1 for i in db.session.scalars(select(Item).where(Item.status == "published"))
                      if "1.1" in (i.steps or []))
    assert report["items_total"] == published
    assert steps["1.1"] == by_step > 0


def test_overdue_profiles_count_only_as_numbers(app, client_for):
    with app.app_context():
        profile = db.session.scalar(select(Item).where(Item.type == "profile", Item.status == "published"))
        practice = db.session.scalar(select(Item).where(Item.slug == "fase-opzetten"))
        name, practice_title = profile.title, practice.title
        confirm_review(SYSTEM, profile, today=date(2020, 1, 1))  # next check 2021: overdue
        confirm_review(SYSTEM, practice, today=date(2020, 1, 1))
    html = client_for(app, "beheer@example.org").get("/inzicht").get_data(as_text=True)
    assert "2 gepubliceerde items zijn over hun controledatum, waarvan 1 profielen" in html
    assert practice_title in html
    assert name not in html
    # and no profile name anywhere on the page
    with app.app_context():
        names = [i.title for i in db.session.scalars(select(Item).where(Item.type == "profile"))]
    assert not [n for n in names if n in html]


# -- the map's decoding ------------------------------------------------------------------
def test_decode_topojson_follows_shared_and_reversed_arcs():
    topology = {
        "type": "Topology",
        "transform": {"scale": [0.5, 0.5], "translate": [10, 20]},
        "arcs": [
            [[0, 0], [0, 2]],              # shared edge, upwards: (10,20) -> (10,21)
            [[0, 2], [-2, 0], [0, -2], [2, 0]],  # west square, from the top of the shared edge
            [[0, 0], [2, 0], [0, 2], [-2, 0]],   # east square, from the bottom
        ],
        "objects": {"x": {"type": "GeometryCollection", "geometries": [
            {"type": "Polygon", "id": "W", "arcs": [[0, 1]], "properties": {"statnaam": "West"}},
            {"type": "MultiPolygon", "id": "E", "arcs": [[[2, ~0]]], "properties": {"statnaam": "Oost"}},
        ]}},
    }
    west, east = insight_service.decode_topojson(topology, "x")
    assert west["id"] == "W" and west["name"] == "West"
    assert west["rings"] == [[(10, 20), (10, 21), (9, 21), (9, 20), (10, 20)]]
    assert east["rings"] == [[(10, 20), (11, 20), (11, 21), (10, 21), (10, 20)]]
    for shape in (west, east):
        assert shape["rings"][0][0] == shape["rings"][0][-1]  # closed


def test_shipped_boundaries_decode_to_closed_rings():
    import json

    with open(insight_service.TOPOJSON, encoding="utf-8") as fh:
        shapes = insight_service.decode_topojson(json.load(fh), "gemeente_2025")
    assert len(shapes) == 342
    assert all(r[0] == r[-1] for s in shapes for r in s["rings"])
    width, height, geometry = insight_service.map_geometry()
    assert width == 600 and 600 < height < 800  # the Netherlands is taller than wide
    assert all(d.startswith("M") for _c, _n, d in geometry)
    assert insight_service.map_geometry() is insight_service.map_geometry()  # cached per process


def test_map_classes():
    assert insight_service.map_class(0)[0] == "gm-k0"
    assert insight_service.map_class(1)[0] == "gm-k1"
    assert insight_service.map_class(3)[0] == "gm-k2"
    assert insight_service.map_class(6)[0] == "gm-k3"
    assert insight_service.map_class(50)[0] == "gm-k4"
