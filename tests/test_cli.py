"""The ``portal`` command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Item, User


def run(app, *args):
    return app.test_cli_runner().invoke(args=list(args), catch_exceptions=False)


def test_search_json_shape_and_anonymous_default(library_app):
    result = run(library_app, "search", "sleutelfiguren", "werven", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data) == {"query", "total", "results", "facets", "suggestion", "no_words"}
    assert data["query"] == "sleutelfiguren werven" and data["total"] >= 3 and data["no_words"] is False
    first = data["results"][0]
    assert set(first) == {"type", "slug", "title", "url", "score", "snippet"}
    scores = [r["score"] for r in data["results"]]
    assert scores == sorted(scores, reverse=True)
    assert all(r["type"] != "profile" for r in data["results"])
    assert "profile" not in data["facets"]["type"]


def test_search_as_user_sees_profiles(library_app):
    data = json.loads(run(library_app, "search", "jongerenwerker", "--user", "lid@delft.example.org", "--json").output)
    assert any(r["type"] == "profile" for r in data["results"])
    assert all("example.org" not in r["snippet"] for r in data["results"])


def test_search_filters(library_app):
    data = json.loads(run(library_app, "search", "netwerk", "--type", "lesson", "--limit", "3", "--json").output)
    assert len(data["results"]) <= 3 and all(r["type"] == "lesson" for r in data["results"])
    data = json.loads(run(library_app, "search", "", "--municipality", "Delft", "--phase", "opzetten", "--json").output)
    assert data["total"] >= 1
    result = library_app.test_cli_runner().invoke(args=["search", "x", "--municipality", "Atlantis"])
    assert result.exit_code == 1 and "Atlantis" in result.output


def test_create_user_and_errors(empty_app):
    result = run(empty_app, "create-user", "nieuw@delft.nl", "--role", "contributor", "--municipality", "Delft")
    assert result.exit_code == 0 and "Wachtwoord" in result.output
    result = empty_app.test_cli_runner().invoke(args=["create-user", "nieuw@delft.nl"])
    assert result.exit_code == 1 and "al een gebruiker" in result.output


def test_init_is_idempotent_and_prints_no_password_twice(app):
    result = run(app, "init")
    assert result.exit_code == 0
    assert "wachtwoord" not in result.output.lower()
    with app.app_context():
        assert db.session.scalar(select(func.count(User.id)).where(User.role == "admin")) == 2  # init's + test's
        n = db.session.scalar(select(func.count(Item.id)))
    run(app, "init")
    with app.app_context():
        assert db.session.scalar(select(func.count(Item.id))) == n


def test_reindex_and_check(app):
    result = run(app, "reindex")
    assert result.exit_code == 0 and "geïndexeerd" in result.output
    result = run(app, "search-index-check")
    assert result.exit_code == 0 and "0 ontbrekend, 0 verweesd" in result.output
    result = run(app, "search-index", "check")  # the same command, as issue #6 spells it
    assert result.exit_code == 0 and "0 ontbrekend, 0 verweesd" in result.output
    assert run(app, "reindex", "--catch-up").exit_code == 0


@pytest.mark.once  # --help text: engine-independent
def test_every_command_has_help_with_example():
    env = dict(os.environ, PORTAL_INSTANCE_PATH="/tmp/portal-help-instance")
    for cmd in ("init", "import", "export", "reindex", "create-user", "serve", "search"):
        out = subprocess.run([sys.executable, "-m", "portal.cli", cmd, "--help"], capture_output=True,
                             text=True, env=env, cwd=Path(__file__).parent.parent)
        assert out.returncode == 0, out.stderr
        assert "Example" in out.stdout, cmd


def test_fresh_init_creates_admin_with_random_password(tmp_path):
    env = dict(os.environ, PORTAL_INSTANCE_PATH=str(tmp_path / "inst"), PORTAL_INDEX_DIR=str(tmp_path / "idx"),
               PORTAL_DATABASE_URL="sqlite:///" + str(tmp_path / "inst" / "p.sqlite3"))
    env.pop("PORTAL_SECRET_KEY", None)
    outs = []
    for _ in range(2):
        out = subprocess.run([sys.executable, "-m", "portal.cli", "init"], capture_output=True, text=True, env=env)
        assert out.returncode == 0, out.stderr
        outs.append(out.stdout)
    assert "wachtwoord:" in outs[0] and "wachtwoord:" not in outs[1]
    password = outs[0].split("wachtwoord:")[1].split()[0]
    assert len(password) >= 12 and password not in ("admin", "password", "changeme")
    assert (tmp_path / "inst" / "secret_key").exists()
    assert any(p.name.startswith("gen-") for p in (tmp_path / "idx").iterdir())


def test_region_command_scopes_curators(app):
    from portal.models import Municipality
    from portal.permissions import can_publish
    from portal.services.items import SYSTEM, save_item

    result = run(app, "region", "Haaglanden", "Delft", "'s-Gravenhage", "Zoetermeer")
    assert result.exit_code == 0 and "Haaglanden" in result.output
    bad = app.test_cli_runner().invoke(args=["region", "X", "Delft", "Atlantis"])
    assert bad.exit_code == 1 and "Atlantis" in bad.output
    with app.app_context():
        delft_curator = db.session.scalar(select(User).where(User.email == "curator@delft.example.org"))
        item = save_item(SYSTEM, "practice", {"title": "Zoetermeerse aanpak", "municipality": "Zoetermeer",
                                              "status": "draft"}, "tekst")
        assert can_publish(delft_curator, item)
        other = save_item(SYSTEM, "practice", {"title": "Groningse aanpak", "municipality": "Groningen",
                                               "status": "draft"}, "tekst")
        assert not can_publish(delft_curator, other)
        assert db.session.scalar(select(Municipality).where(Municipality.name == "Zoetermeer")).region.name == "Haaglanden"
