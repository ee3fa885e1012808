"""SQLite under concurrent writers: every write transaction begins with
BEGIN IMMEDIATE, so read-then-write from many processes neither fails with
"database is locked" nor loses an update."""

from __future__ import annotations

import multiprocessing as mp

import pytest

from sqlalchemy import text

from portal import create_app
from portal.database import begin_write
from portal.extensions import db

PROCESSES, ROUNDS = 8, 15


def _worker(config: dict, barrier, errors) -> None:
    app = create_app(config)
    with app.app_context():
        barrier.wait()
        for _ in range(ROUNDS):
            try:
                db.session.execute(text("SELECT count(*) FROM items")).scalar()  # a read first
                begin_write()
                n = db.session.execute(text("SELECT n FROM counter")).scalar()
                db.session.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})
                db.session.commit()
            except Exception as exc:  # reported to the parent, which fails the test
                db.session.rollback()
                errors.put(repr(exc))


def test_eight_processes_read_then_write(empty_app):
    if empty_app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("BEGIN IMMEDIATE is SQLite's; PostgreSQL items rely on the version column (next test)")
    config = {k: empty_app.config[k] for k in ("SQLALCHEMY_DATABASE_URI", "INDEX_DIR", "SECRET_KEY", "CONTENT_DIR")}
    config["INSTANCE_PATH"] = empty_app.instance_path
    with empty_app.app_context():
        db.session.execute(text("CREATE TABLE counter (n INTEGER NOT NULL)"))
        db.session.execute(text("INSERT INTO counter VALUES (0)"))
        db.session.commit()
    ctx = mp.get_context("spawn")
    barrier, errors = ctx.Barrier(PROCESSES), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(config, barrier, errors)) for _ in range(PROCESSES)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    found = []
    while not errors.empty():
        found.append(errors.get())
    assert found == []
    assert all(p.exitcode == 0 for p in procs)
    with empty_app.app_context():
        assert db.session.execute(text("SELECT n FROM counter")).scalar() == PROCESSES * ROUNDS


def test_concurrent_saves_of_one_item_conflict_instead_of_overwriting(app):
    from sqlalchemy import select

    from portal.errors import Conflict
    from portal.models import Item
    from portal.services.items import SYSTEM, save_item

    with app.app_context():
        item = db.session.scalar(select(Item).where(Item.slug == "fase-opzetten"))
        version = item.version
        save_item(SYSTEM, "practice", {"title": "Eerste opslag"}, "a", item=item, expected_version=version)
        try:
            save_item(SYSTEM, "practice", {"title": "Tweede opslag"}, "b", item=item, expected_version=version)
        except Conflict:
            pass
        else:
            raise AssertionError("the second save with a stale version must be refused")
        db.session.refresh(item)
        assert item.title == "Eerste opslag"
