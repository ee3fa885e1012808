"""The same portal on PostgreSQL (production's database)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal import search
from portal.extensions import db
from portal.models import Item
from portal.services.items import SYSTEM, front_matter, save_item, set_status
from portal.services.library import export_library, import_library

from .conftest import make_app

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pg_app(postgres_url, tmp_path_factory):
    return make_app(tmp_path_factory.mktemp("pg"), SQLALCHEMY_DATABASE_URI=postgres_url)


def test_migrations_import_and_search_on_postgres(pg_app):
    with pg_app.app_context():
        assert db.engine.dialect.name == "postgresql"
        assert db.session.scalar(select(func.count(Item.id))) >= 20
        result = search.search(None, "sleutelfiguren werven")
        assert result.total >= 3 and all(h.type != "profile" for h in result.hits)
        from portal.services.items import recent_items

        assert len(recent_items(None, limit=6)) == 6


def test_publish_on_postgres_is_searchable_at_once(pg_app):
    with pg_app.app_context():
        item = save_item(SYSTEM, "practice", {"title": "Moskeebezoek met wijkagenten", "status": "draft",
                                               "municipality": "Delft", "themes": ["religie"]}, "Open dag.")
        assert all(h.slug != item.slug for h in search.search(None, "moskeebezoek").hits)
        set_status(SYSTEM, item, "published")
        assert search.search(None, "moskeebezoek").hits[0].slug == item.slug


def test_round_trip_on_postgres(pg_app, tmp_path):
    with pg_app.app_context():
        export_library(SYSTEM, tmp_path / "out")
        before = {(i.type, i.slug): (front_matter(i), i.body) for i in db.session.scalars(select(Item))}
        report = import_library(SYSTEM, tmp_path / "out")
        assert report.ok and not report.created and not report.updated
        after = {(i.type, i.slug): (front_matter(i), i.body) for i in db.session.scalars(select(Item))}
        assert before == after


def test_change_log_ids_become_visible_in_order(pg_app):
    """The indexer applies change-log rows above the last id it applied; a
    lower id committed after a higher one would never be indexed (CI saw one
    of 200 concurrent saves go missing that way). Writers must take turns."""
    import threading
    import time

    from portal.models import SearchChange
    from portal.services.common import log_search_change

    first_logged, second_done = threading.Event(), threading.Event()
    ids: dict[str, int] = {}

    def writer(name: str, hold: float) -> None:
        with pg_app.app_context():
            log_search_change(1)
            db.session.flush()
            ids[name] = db.session.scalar(select(func.max(SearchChange.id)))
            if name == "first":
                first_logged.set()
                time.sleep(hold)
            db.session.commit()
            if name == "second":
                second_done.set()

    a = threading.Thread(target=writer, args=("first", 1.0))
    a.start()
    assert first_logged.wait(10)
    b = threading.Thread(target=writer, args=("second", 0))
    b.start()
    # while the first transaction is open, the second one cannot take an id and commit
    assert not second_done.wait(0.5)
    a.join(10)
    b.join(10)
    assert second_done.is_set() and ids["second"] > ids["first"]
