"""``portal follow`` (issue #8): a local decision to archive or withdraw an
imported item wins over the source, and a broken or hostile source gives a
clear Dutch error instead of a crash. Sources are real apps on loopback."""

from __future__ import annotations

import time

import pytest
from flask import Flask, Response
from sqlalchemy import select

from portal.api.follow import MAX_DEPTH, MAX_RESPONSE, FollowError, follow_portal, parse_json
from portal.extensions import db
from portal.models import Item, User
from portal.services.items import SYSTEM, archive_item, save_item, set_status

from .conftest import make_app, serving

ADMIN = "beheer@example.org"


def _item(slug: str) -> Item:
    return db.session.scalar(select(Item).where(Item.slug == slug))


def _admin() -> User:
    return db.session.scalar(select(User).where(User.email == ADMIN))


def test_a_local_archive_or_withdrawal_survives_the_next_follow_run(tmp_path):
    source = make_app(tmp_path / "bron", content=False)
    follower = make_app(tmp_path / "volger", content=False)
    with source.app_context():
        for title in ("Buurtvaders", "Moederavonden", "Straatcoaches"):
            save_item(SYSTEM, "practice", {"title": title, "municipality": "Delft", "status": "published"},
                      f"{title}: de eerste tekst.")
    with serving(source) as url:
        with follower.app_context():
            first = follow_portal(SYSTEM, url)
            assert sorted(first.created) == ["practice/buurtvaders", "practice/moederavonden",
                                             "practice/straatcoaches"]
            archive_item(_admin(), _item("buurtvaders"))  # a curator here archives one
            set_status(_admin(), _item("moederavonden"), "draft")  # and withdraws another
        time.sleep(1.1)  # the API gives updated_at in whole seconds: a change in the same second is not seen
        with source.app_context():  # meanwhile the source changes both texts
            for slug in ("buurtvaders", "moederavonden"):
                item = _item(slug)
                save_item(SYSTEM, "practice", {"title": item.title, "municipality": "Delft"},
                          f"{item.title}: de tweede tekst.", item=item)
        with follower.app_context():
            second = follow_portal(SYSTEM, url)
            assert sorted(second.kept) == ["practice/buurtvaders", "practice/moederavonden"]
            assert second.unchanged == ["practice/straatcoaches"]
            archived, withdrawn = _item("buurtvaders"), _item("moederavonden")
            assert (archived.status, archived.review_state) == ("draft", "archived")  # still archived
            assert withdrawn.status == "draft"
            # the text still follows the source
            assert archived.body == "Buurtvaders: de tweede tekst."
            assert withdrawn.body == "Moederavonden: de tweede tekst."
        anonymous = follower.test_client()
        assert anonymous.get("/werkwijzen/buurtvaders").status_code == 404
        assert anonymous.get("/werkwijzen/moederavonden").status_code == 404
        with follower.app_context():  # and a third run changes nothing
            third = follow_portal(SYSTEM, url)
            assert sorted(third.kept) == ["practice/buurtvaders", "practice/moederavonden"]
            assert not third.updated and _item("buurtvaders").review_state == "archived"
        runner = follower.test_cli_runner()
        result = runner.invoke(args=["follow", url])
        assert result.exit_code == 0, result.output
        assert "NIET OPNIEUW GEPUBLICEERD practice/buurtvaders" in result.output


def test_an_item_the_follow_itself_withdrew_comes_back(tmp_path):
    source = make_app(tmp_path / "bron", content=False)
    follower = make_app(tmp_path / "volger", content=False)
    with source.app_context():
        save_item(SYSTEM, "lesson", {"title": "Te snel begonnen", "status": "published"}, "Les.")
    with serving(source) as url:
        with follower.app_context():
            follow_portal(SYSTEM, url)
        with source.app_context():
            set_status(SYSTEM, _item("te-snel-begonnen"), "draft")
        with follower.app_context():
            assert follow_portal(SYSTEM, url).withdrawn == ["lesson/te-snel-begonnen"]
        time.sleep(1.1)
        with source.app_context():
            set_status(SYSTEM, _item("te-snel-begonnen"), "published")
        with follower.app_context():
            again = follow_portal(SYSTEM, url)
            assert again.updated == ["lesson/te-snel-begonnen"] and not again.kept
            assert _item("te-snel-begonnen").status == "published"


def hostile_source(listing: bytes, detail: bytes = b"{}") -> Flask:
    """A loopback 'portal' that answers ``listing`` for the item list and ``detail`` for an item."""
    app = Flask("bron")

    @app.route("/api/v1/items")
    def items():
        return Response(listing, mimetype="application/json")

    @app.route("/api/v1/items/<item_type>/<slug>")
    def item(item_type, slug):
        return Response(detail, mimetype="application/json")

    return app


@pytest.mark.parametrize(("listing", "message"), [
    (b"[" * 100_000 + b"]" * 100_000, "te diep genest"),  # json.loads alone: RecursionError
    (b'{"items": ' + b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1) + b"}", "te diep genest"),
    (b'{"items": [}', "geen geldige JSON"),
    (b"\xff\xfe niet eens tekst", "geen geldige JSON"),
    (b'{"pages": 3}', "geen lijst met items"),
], ids=["deep", "just-too-deep", "broken", "not-utf8", "no-items"])
def test_a_broken_or_hostile_source_gives_a_dutch_error(tmp_path, listing, message):
    follower = make_app(tmp_path / "volger", content=False)
    with serving(hostile_source(listing)) as url:
        with follower.app_context():
            with pytest.raises(FollowError) as caught:
                follow_portal(SYSTEM, url)
            assert message in caught.value.message and url in caught.value.message
            assert db.session.scalar(select(Item.id)) is None  # nothing imported
        result = follower.test_cli_runner().invoke(args=["follow", url])
        assert result.exit_code == 1 and message in result.output
        assert "Traceback" not in result.output


def test_odd_items_in_a_source_are_skipped_not_a_crash(tmp_path):
    follower = make_app(tmp_path / "volger", content=False)
    listing = (b'{"pages": "veel", "items": [{"type": "practice", "slug": "a", "status": "published"},'
               b' {"type": "practice", "slug": ["geen", "tekst"]}, "geen item"]}')
    with serving(hostile_source(listing, detail=b'["geen", "item"]')) as url:
        with follower.app_context():
            report = follow_portal(SYSTEM, url)
            assert report.problems and report.problems[0].startswith("practice/a: ")
            assert not report.created


def test_the_size_limit_is_checked_before_parsing():
    with pytest.raises(FollowError) as caught:
        parse_json(b" " * (MAX_RESPONSE + 1), "http://bron.example/api/v1/items")
    assert "te groot" in caught.value.message
    assert parse_json(b'{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}', "x") == {
        "a": "[" * 40}  # brackets inside strings do not count as nesting
