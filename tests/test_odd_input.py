"""Odd input from a security test: dates near the end of the calendar, text
that made the personal-data check quadratic, numbers in URLs beyond what
the database holds, and JSON the parser or JSON itself cannot take. Each
must give a clear 400/404 (or a page), never a 500, and write nothing."""

from __future__ import annotations

import time
from datetime import date
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from portal import permissions
from portal.errors import ValidationFailed
from portal.extensions import db
from portal.models import Item, User
from portal.services import people as people_service
from portal.services.api_tokens import create_token
from portal.services.items import SYSTEM, add_months, save_item
from portal.validation import COMMON_KEYS, TYPE_KEYS, Vocabulary, allowed_keys, validate_item

from .conftest import csrf_token

CURATOR = "curator@delft.example.org"
HUGE = "99999999999999999999"


def _user(email: str) -> User:
    return db.session.scalar(select(User).where(User.email == email))


def _auth(app, email: str) -> dict[str, str]:
    with app.app_context():
        return {"Authorization": f"Bearer {create_token(SYSTEM, _user(email), 'test')[1]}"}


def _count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(Item.id)))


# -- 1. dates near the end of the calendar -----------------------------------------------
def test_api_refuses_consent_in_year_9999_and_stores_nothing(app):
    headers = _auth(app, CURATOR)
    before = _count(app)
    resp = app.test_client().post("/api/v1/items", headers=headers, json={
        "type": "profile", "front_matter": {"title": "Jaar Negenduizend", "municipality": "Groningen",
                                             "status": "published", "consent": "9999-06-01"}})
    assert resp.status_code == 400, resp.get_data(as_text=True)
    body = resp.get_json()
    assert "consent" in body["errors"] and "2199-12-31" in body["errors"]["consent"]
    assert _count(app) == before
    # the portal still works for everyone afterwards
    client = app.test_client()
    assert client.get("/").status_code == 200


DATE_KEYS = sorted({(t, k) for t in TYPE_KEYS for k, kind in allowed_keys(t).items() if kind == "date"})


def test_every_date_key_is_checked():
    keys = {k for _t, k in DATE_KEYS}
    assert {"date", "reviewed", "review_due", "consent", "consent_expires", "started", "ended"} <= keys
    assert {k for k, kind in COMMON_KEYS.items() if kind == "date"} <= keys


@pytest.mark.parametrize("item_type,key", DATE_KEYS)
@pytest.mark.parametrize("value", ["9999-06-01", "9998-01-01", "2200-01-01", "1899-12-31", "0001-01-01",
                                   date(9999, 12, 31)])
def test_dates_out_of_range_are_refused_naming_the_field(item_type, key, value):
    with pytest.raises(ValidationFailed) as caught:
        validate_item({"title": "Iemand", key: value}, item_type, Vocabulary())
    assert key in caught.value.errors
    assert any("1900-01-01" in m and "2199-12-31" in m for m in caught.value.errors[key])


@pytest.mark.parametrize("item_type,key", DATE_KEYS)
def test_dates_at_the_ends_of_the_range_are_taken(item_type, key):
    for value in ("1900-01-01", "2199-12-31"):
        data = {"title": "Iemand", key: value}
        clean = validate_item(data, item_type, Vocabulary())["fields"]
        assert clean[key] == date.fromisoformat(value)


def test_date_arithmetic_cannot_raise():
    assert add_months(date(9999, 12, 31), 12) == date.max
    assert add_months(date(9999, 6, 1), 12) == date.max
    assert add_months(date(1, 1, 1), -1) == date.min
    assert add_months(date(2024, 2, 29), 12) == date(2025, 2, 28)
    for consent in (date(9998, 1, 1), date(9999, 6, 1), date.max):
        profile = SimpleNamespace(consent=consent, consent_expires=None, type="profile")
        assert permissions.consent_expiry(profile) == date.max
        assert permissions.consent_valid(profile, date(2026, 1, 1))
    assert permissions.consent_expiry(SimpleNamespace(consent=date(2024, 2, 29), consent_expires=None)) \
        == date(2026, 2, 28)


def test_a_stored_row_with_year_9999_breaks_no_page_or_command(app, client_for):
    """A profile stored before dates were range-checked (written here behind
    the services' back on purpose: the services now refuse it)."""
    with app.app_context():
        profile = save_item(SYSTEM, "profile", {
            "title": "Jaar Negenduizend", "municipality": "Delft", "status": "published",
            "consent": date.today().isoformat(), "contact_email": "negen@example.org"}, "Oud profiel.")
        profile.consent = date(9999, 6, 1)
        profile.review_due = date(9999, 12, 31)
        if db.engine.dialect.name == "sqlite":  # PostgreSQL's json type refuses NaN itself
            extra = dict(profile.extra or {})
            extra["score"] = float("nan")  # an old row with NaN in an unknown key
            profile.extra = extra
        db.session.commit()
        slug = profile.slug
    curator = client_for(app, CURATOR)
    for path in ("/sleutelfiguren", "/nieuw/werkwijzen", "/nieuw/sleutelfiguren", f"/sleutelfiguren/{slug}",
                 "/curatie", "/wie-kan-helpen?q=negen"):
        resp = curator.get(path)
        assert resp.status_code in (200, 302), (path, resp.status_code)
    resp = curator.get(f"/api/v1/items/profile/{slug}")
    assert resp.status_code == 200
    import json

    json.loads(resp.get_data(as_text=True), parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    with app.app_context():
        report = people_service.consent_check(date(2026, 6, 1))
        assert "Jaar Negenduizend" not in report.unpublished
        # a later change is caught up by the search index
        save_item(SYSTEM, "practice", {"title": "Na het oude profiel", "municipality": "Delft",
                                       "status": "published"}, "Tekst.")
    runner = app.test_cli_runner()
    for args in (["reindex"], ["consent-check"]):
        result = runner.invoke(args=args)
        assert result.exit_code == 0, (args, result.output, result.exception)


# -- 2. the personal-data warning in linear time -------------------------------------------
WORST = [
    "a" * 200_000,                 # the reported case: word characters without '@'
    "a." * 100_000,
    "@" + "a" * 199_999,
    "a@" * 100_000,
    "a@b" + ".b" * 99_998,
    "0" * 200_000,
    "0 " * 100_000,
    "+31" * 66_666,
    "06-" * 66_666,
    "jan " * 50_000,
]


@pytest.mark.parametrize("text", WORST, ids=range(len(WORST)))
def test_personal_data_warnings_are_fast_on_worst_case_input(text):
    names = ["Jan " * 70 + "Piet", "Jan Jan Jan", "aaa"] * 20
    start = time.perf_counter()
    people_service.personal_data_warnings(text, names)
    assert time.perf_counter() - start < 0.5


def test_personal_data_warnings_still_find_what_they_should():
    text = ("Mail naar jan.de-vries+wijk@gemeente.delft.nl of bel 06-12345678. "
            "Gerrit-Jan Plomp komt ook, en Jan-Willem niet.")
    found = " ".join(people_service.personal_data_warnings(text, ["Gerrit-Jan Plomp", "Ann", "Willem"]))
    assert "jan.de-vries+wijk@gemeente.delft.nl" in found
    assert "06-12345678" in found
    assert "Gerrit-Jan Plomp" in found and "Willem" in found
    assert "Ann" not in found.replace("Anna", "")
    assert people_service.personal_data_warnings("Johanna en Plompen", ["Anna", "Plomp"]) == []


def test_contact_email_check_is_fast_on_a_run_of_dots():
    start = time.perf_counter()
    with pytest.raises(ValidationFailed) as caught:
        validate_item({"title": "Iemand", "contact_email": "a@" + "." * 200_000 + " "}, "profile", Vocabulary())
    assert "contact_email" in caught.value.errors
    assert time.perf_counter() - start < 0.5
    ok = validate_item({"title": "Iemand", "contact_email": "a.b@sub.example.org"}, "profile", Vocabulary())
    assert ok["fields"]["contact_email"] == "a.b@sub.example.org"


def test_editor_preview_with_a_long_run_of_letters_answers_quickly(app, client_for):
    client = client_for(app, "bijdrager@delft.example.org")
    token = csrf_token(client, "/nieuw/werkwijzen")
    start = time.perf_counter()
    resp = client.post("/nieuw/werkwijzen", data={
        "csrf_token": token, "title": "Lang", "municipality": "Delft", "body": "a" * 150_000,
        "action": "preview"})
    assert resp.status_code in (200, 400)
    assert time.perf_counter() - start < 5


# -- 3. numbers in URLs -----------------------------------------------------------------
@pytest.mark.parametrize("path", [
    f"/meldingen?pagina={HUGE}", "/meldingen?pagina=-5", "/meldingen?pagina=abc",
    f"/beheer/logboek?pagina={HUGE}", f"/zoeken?pagina={HUGE}", f"/werkwijzen?pagina={HUGE}",
    f"/wie-kan-helpen?q=&pagina={HUGE}", f"/privacy?dagen={HUGE}", f"/bijeenkomsten?regio={HUGE}",
    f"/werkwijzen/buurtvaders-rotterdam/geschiedenis?naar={HUGE}&van={HUGE}",
])
def test_huge_numbers_in_query_arguments_are_clamped(app, client_for, path):
    client = client_for(app, "beheer@example.org")
    resp = client.get(path)
    assert resp.status_code in (200, 403, 404), (path, resp.status_code)
    assert resp.status_code != 500


def test_page_beyond_the_last_shows_the_last_page(library_app, client_for):
    client = client_for(library_app)
    html = client.get("/zoeken?pagina=1000").get_data(as_text=True)
    assert "Pagina 1000" not in html
    first = client.get("/zoeken").get_data(as_text=True)
    import re

    m = re.search(r"Pagina 1 van (\d+)", first)
    if m:
        assert f"Pagina {m.group(1)} van {m.group(1)}" in html


def test_huge_ids_in_routes_are_404(app, client_for):
    client = client_for(app, CURATOR)
    for path in (f"/curatie/wijzigingen/{HUGE}", f"/curatie/wijzigingen/{2**31}"):
        assert client.get(path).status_code == 404


@pytest.mark.parametrize("query", [f"page={HUGE}", f"per_page={HUGE}", "page=0", "page=abc", "page=" + "9" * 5000])
def test_api_paging_refuses_odd_numbers_with_400(library_app, query):
    for endpoint in ("/api/v1/items", "/api/v1/search"):
        resp = library_app.test_client().get(f"{endpoint}?{query}")
        assert resp.status_code == 400, (endpoint, query, resp.status_code)
        assert resp.get_json()["errors"]


# -- 3. JSON the parser or JSON itself cannot take ----------------------------------------
@pytest.mark.parametrize("raw", [
    '{"type": "practice", "front_matter": ' + "[" * 5000 + "]" * 5000 + "}",
    '{"type": "practice", "front_matter": {"title": "x", "deep": ' + '{"a": ' * 5000 + "1" + "}" * 5000 + "}}",
    '{"type": "practice", "front_matter": {"title": "Los \\ud800 surrogaat", "municipality": "Delft"}}',
    '{"type": "practice", "front_matter": {"title": "Sleutel", "\\udc00": 1, "municipality": "Delft"}}',
    '{"type": "\\ud800"}',
    '{"type": "practice", "front_matter": {"title": "Niet eindig", "score": NaN, "municipality": "Delft"}}',
    '{"type": "practice", "front_matter": {"title": "Niet eindig", "score": Infinity, "municipality": "Delft"}}',
    '{"type": "practice", "front_matter": {"title": "Niet eindig", "score": -Infinity, "municipality": "Delft"}}',
])
def test_api_refuses_json_it_cannot_take_with_400(app, raw):
    headers = _auth(app, CURATOR) | {"Content-Type": "application/json"}
    before = _count(app)
    resp = app.test_client().post("/api/v1/items", headers=headers, data=raw)
    assert resp.status_code == 400, resp.get_data(as_text=True)[:300]
    assert resp.get_json()["errors"]["body"]
    assert _count(app) == before


@pytest.mark.parametrize("number", [float("nan"), float("inf"), -float("inf")])
def test_validation_refuses_non_finite_numbers_in_unknown_keys(number):
    with pytest.raises(ValidationFailed) as caught:
        validate_item({"title": "Iemand", "score": {"list": [1, number]}}, "practice", Vocabulary())
    assert "NaN" in " ".join(caught.value.errors["score"])
    assert validate_item({"title": "Iemand", "score": 1.5}, "practice", Vocabulary())["extra"] == {"score": 1.5}


@pytest.mark.parametrize("text", ["## a" + " " * 200_000 + "b", "## " + " #" * 100_000 + "b", "##" + " " * 200_000],
                         ids=range(3))
def test_body_sections_are_fast_on_worst_case_headings(text):
    """The editor's completeness check reads the ``##`` headings of the body
    on every render; its regex was cubic in a run of spaces."""
    from portal.services.items import body_sections

    start = time.perf_counter()
    body_sections(text)
    assert time.perf_counter() - start < 0.5
    assert body_sections("## Doel ##\nx\n## Aanpak\ny") == {"doel": "x", "aanpak": "y"}
