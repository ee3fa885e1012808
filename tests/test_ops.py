"""Running it: health, production start-up checks, request ids, backups."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from portal import create_app, search
from portal.extensions import db
from portal.models import Item
from portal.ops import backup, restore
from portal.services.items import SYSTEM, save_item

from .conftest import make_app


def test_healthz_reports_database_and_index(library_app):
    resp = library_app.test_client().get("/healthz")
    assert resp.status_code == 200
    data = resp.get_json()
    assert data["status"] == "ok" and data["database"]["ok"] and data["index"]["ok"]
    assert data["index"]["pending"] == 0
    assert "sqlite:" not in resp.get_data(as_text=True)


def test_healthz_fails_when_the_index_is_unreadable(app):
    import shutil

    shutil.rmtree(app.config["INDEX_DIR"])
    app.extensions.pop("portal_search", None)
    resp = app.test_client().get("/healthz")
    assert resp.status_code == 503 and resp.get_json()["index"] == {"ok": False}


def test_request_id_is_returned_and_kept_from_proxy(library_app):
    client = library_app.test_client()
    rid = client.get("/").headers["X-Request-ID"]
    assert len(rid) == 32
    assert client.get("/", headers={"X-Request-ID": "proxy-abc-12345"}).headers["X-Request-ID"] == "proxy-abc-12345"
    assert client.get("/", headers={"X-Request-ID": "bad id <script>"}).headers["X-Request-ID"] != "bad id <script>"


@pytest.mark.parametrize("env,ok", [
    ({}, False),
    ({"PORTAL_SECRET_KEY": "dev"}, False),
    ({"PORTAL_SECRET_KEY": "short-key"}, False),
    ({"PORTAL_SECRET_KEY": "x" * 48}, True),
])
def test_production_refuses_missing_or_development_secret_key(tmp_path, env, ok):
    code = ("import portal; portal.create_app({'INSTANCE_PATH': %r, 'INDEX_DIR': %r})" %
            (str(tmp_path / "i"), str(tmp_path / "x")))
    full_env = {k: v for k, v in os.environ.items() if k != "PORTAL_SECRET_KEY"}
    full_env.update(env, PORTAL_ENV="production")
    out = subprocess.run([sys.executable, "-c", code], env=full_env, capture_output=True, text=True)
    assert (out.returncode == 0) == ok, out.stderr[-500:]
    if not ok:
        assert "PORTAL_SECRET_KEY" in out.stderr


def test_production_cookies_are_secure(tmp_path):
    app = create_app({"ENV": "production", "SECRET_KEY": "k" * 40, "INSTANCE_PATH": str(tmp_path),
                      "INDEX_DIR": str(tmp_path / "x")})
    assert app.config["SESSION_COOKIE_SECURE"] and app.config["SESSION_COOKIE_HTTPONLY"]
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_logs_are_json_lines_with_request_id(tmp_path):
    code = """
import logging, portal, portal.web.public as public
public.PUBLIC_ENDPOINTS = public.PUBLIC_ENDPOINTS | {'boom'}  # a test route, open to anonymous visitors
app = portal.create_app({'INSTANCE_PATH': %r, 'INDEX_DIR': %r, 'SECRET_KEY': 'x' * 40})
@app.route('/boom')
def boom():
    logging.getLogger('portal.test').warning('hallo')
    return 'ok'
app.test_client().get('/boom', headers={'X-Request-ID': 'req-12345678'})
""" % (str(tmp_path / "i"), str(tmp_path / "x"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    line = [ln for ln in out.stderr.splitlines() if "hallo" in ln][0]
    record = json.loads(line)
    assert record["message"] == "hallo" and record["request_id"] == "req-12345678" and record["level"] == "WARNING"


def _snapshot():
    slugs = sorted(db.session.scalars(select(Item.slug)))
    hits = [h.slug for h in search.search(None, "sleutelfiguren werven").hits]
    return slugs, hits


def test_backup_and_restore_sqlite(app, tmp_path):
    import io

    from portal.services.attachments import add_attachment, get_attachment

    with app.app_context():
        item = db.session.scalars(select(Item).where(Item.type == "practice")).first()
        pdf = b"%PDF-1.4\n% back-up test\n%%EOF\n"
        att = add_attachment(SYSTEM, item, io.BytesIO(pdf), "verslag.pdf")
        before = _snapshot()
        path = backup(tmp_path / "backups")
        assert oct(path.stat().st_mode)[-3:] == "600"
        save_item(SYSTEM, "practice", {"title": "Na de back-up toegevoegd"}, "tekst")
        os.unlink(get_attachment(SYSTEM, item, att.id)[1])  # a lost disk, say
        assert _snapshot() != before
        restore(path)
        assert _snapshot() == before
        assert search.check() == {"missing": [], "orphaned": []}
        with open(get_attachment(SYSTEM, db.session.get(Item, item.id), att.id)[1], "rb") as fh:
            assert fh.read() == pdf


@pytest.mark.postgres
def test_backup_and_restore_postgres(postgres_database, tmp_path):
    import shutil

    if not shutil.which("pg_dump"):
        pytest.skip("pg_dump is not installed (Debian: postgresql-client)")
    app = make_app(tmp_path / "pgapp", SQLALCHEMY_DATABASE_URI=postgres_database())
    with app.app_context():
        before = _snapshot()
        path = backup(tmp_path / "backups")
        save_item(SYSTEM, "practice", {"title": "Na de back-up toegevoegd op PostgreSQL"}, "tekst")
        restore(path)
        assert _snapshot() == before
        assert db.session.scalar(select(func.count(Item.id))) == len(before[0])


def test_cli_backup_restore(app, tmp_path):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["backup", str(tmp_path / "b")])
    assert result.exit_code == 0
    path = result.output.split("Back-up geschreven: ")[1].strip()
    result = runner.invoke(args=["restore", path, "--yes"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["restore", str(tmp_path / "nope.sqlite3"), "--yes"])
    assert result.exit_code == 1 and "Geen back-up" in result.output


def test_proxyfix_trusts_the_configured_proxy_only(tmp_path, monkeypatch):
    from portal.web import public

    monkeypatch.setattr(public, "PUBLIC_ENDPOINTS", public.PUBLIC_ENDPOINTS | {"who"})  # the test route
    seen = {}

    def make(count):
        app = create_app({"INSTANCE_PATH": str(tmp_path / f"i{count}"), "INDEX_DIR": str(tmp_path / "x"),
                          "SECRET_KEY": "x" * 40, "PROXY_COUNT": count})

        @app.route("/wie")
        def who():
            from flask import request

            seen[count] = (request.remote_addr, request.scheme)
            return "ok"

        return app

    headers = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    make(1).test_client().get("/wie", headers=headers)
    make(0).test_client().get("/wie", headers=headers)
    assert seen[1] == ("203.0.113.7", "https")
    assert seen[0] == ("127.0.0.1", "http")


def test_db_upgrade_on_empty_and_existing_database(tmp_path):
    env = dict(os.environ, PORTAL_INSTANCE_PATH=str(tmp_path / "i"), PORTAL_INDEX_DIR=str(tmp_path / "x"),
               PORTAL_DATABASE_URL="sqlite:///" + str(tmp_path / "i" / "p.sqlite3"))
    for _ in range(2):  # empty, then existing (and up to date)
        out = subprocess.run([sys.executable, "-m", "portal.cli", "db", "upgrade"], env=env,
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stderr[-800:]
    out = subprocess.run([sys.executable, "-m", "portal.cli", "db", "current"], env=env, capture_output=True, text=True)
    assert "(head)" in out.stdout + out.stderr


@pytest.mark.parametrize("url, schema", [
    ("postgresql://h/db?options=-csearch_path%3Dportal", "portal"),
    ("postgresql://h/db?options=-c%20search_path%3Dportal_test_1&application_name=x", "portal_test_1"),
    ("postgresql://h/db?options=-csearch_path%3Dportal,public", None),  # several: dump the database
    ("postgresql://h/db?options=-cstatement_timeout%3D5000", None),
    ("postgresql://h/db", None),
])
def test_backup_confines_pg_dump_to_the_portal_schema(url, schema):
    from sqlalchemy.engine import make_url

    from portal.ops import portal_schema

    assert portal_schema(make_url(url)) == schema
