"""Who may do what, over HTTP (issue #4): role x item state x action.

The tables below are the specification, written out by hand from issue #4's
rules (and the privacy rules of issue #5); they are deliberately NOT derived
from ``portal.permissions``, so that a change to a predicate that changes
who may do what fails here until this table is changed too.

Outcomes, per cell:
  ``200``    the page (or JSON) is served
  ``302``    the action was done, and the browser is sent on (not to the login page)
  ``in``     an anonymous visitor is sent to the login page
  ``403``    the user may know the item exists but may not do this
  ``404``    the user may not know the item exists (or the thing is not there for them)
  ``400``    the request is refused for the item's state, not for the user

Besides, every endpoint in ``app.url_map`` must be classified at the bottom of
this file, so that a new endpoint fails the suite until someone decides who may
reach it.
"""

from __future__ import annotations

import io
import itertools
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Attachment, Item, Revision, User
from portal.services import attachments as attachment_service
from portal.services import items as item_service
from portal.services.items import SYSTEM, save_item
from portal.services.library import create_user, set_region

from .conftest import PASSWORD, login, make_app

pytestmark = pytest.mark.once  # HTTP outcomes of the permission rules: engine-independent, runs once (tests/conftest.py)

# -- the people ----------------------------------------------------------------------------
#: role key -> (e-mail, role, municipality). The items below are written by ``author``
#: (a contributor of Delft, region Haaglanden); Utrecht is in another region.
PEOPLE = {
    "anon": None,
    "m_oth": ("lid@utrecht.example.org", "member", "Utrecht"),  # member of another region
    "m_same": ("lid@delft.example.org", "member", "Delft"),  # member of the author's municipality
    "author": ("bijdrager@delft.example.org", "contributor", "Delft"),  # contributor, the author
    "c_same": ("collega@delft.example.org", "contributor", "Delft"),  # contributor, same municipality
    "c_oth": ("bijdrager@utrecht.example.org", "contributor", "Utrecht"),  # contributor elsewhere
    "cur": ("curator@delft.example.org", "curator", "Delft"),  # curator of the item's region
    "cur_oth": ("curator@utrecht.example.org", "curator", "Utrecht"),  # curator of another region
    "admin": ("beheer@example.org", "admin", None),
    "privacy": ("privacy@example.org", "privacy", None),  # privacy officer (issue #5)
}
ROLES = tuple(PEOPLE)
HEADER = "anon  m_oth m_same author c_same c_oth cur  cur_oth admin privacy"

# -- the specification: practices ----------------------------------------------------------------
# Columns:                     anon  m_oth m_same author c_same c_oth  cur  cur_oth admin privacy
HIDDEN_BUT_EDITORS = "404   404   404    200   200    404   200   404   200   404"
EVERYONE = "200   200   200    200   200    200   200   200   200   200"
EDITORS_200 = "in    404   404    200   200    404   200   404   200   404"
EDITORS_200_PUB = "in    403   403    200   200    403   200   403   200   403"
EDITORS_302 = "in    404   404    302   302    404   302   404   302   404"
EDITORS_302_PUB = "in    403   403    302   302    403   302   403   302   403"
CURATORS_302 = "in    404   404    403   403    404   302   404   302   404"
CURATORS_302_PUB = "in    403   403    403   403    403   302   403   302   403"
CURATORS_200 = "in    404   404    403   403    404   200   404   200   404"
NOBODY = "in    404   404    403   403    404   403   404   403   404"
NOBODY_PUB = "in    403   403    403   403    403   403   403   403   403"

#: (action, state) -> outcomes in ROLES order. States of a practice of Delft:
#: draft, submitted (for review), published, pending (published, with a change
#: waiting for review), archived. ``None``: the action has no meaning there.
PRACTICE = {
    # reading
    ("view", "draft"): HIDDEN_BUT_EDITORS,
    ("view", "submitted"): HIDDEN_BUT_EDITORS,
    ("view", "published"): EVERYONE,
    ("view", "pending"): EVERYONE,
    ("view", "archived"): HIDDEN_BUT_EDITORS,
    ("download", "draft"): HIDDEN_BUT_EDITORS,
    ("download", "submitted"): HIDDEN_BUT_EDITORS,
    ("download", "published"): EVERYONE,
    ("download", "pending"): EVERYONE,
    ("download", "archived"): HIDDEN_BUT_EDITORS,
    # writing (an author's edit of a published item becomes a pending change: still 302)
    ("edit_form", "draft"): EDITORS_200,
    ("edit_form", "submitted"): EDITORS_200,
    ("edit_form", "published"): EDITORS_200_PUB,
    ("edit_form", "pending"): EDITORS_200_PUB,
    ("edit_form", "archived"): EDITORS_200,
    ("save", "draft"): EDITORS_302,
    ("save", "submitted"): EDITORS_302,
    ("save", "published"): EDITORS_302_PUB,
    ("save", "pending"): EDITORS_302_PUB,
    ("save", "archived"): EDITORS_302,
    # autosave saves drafts only; on a published item its editors get 400, the rest 403
    ("autosave", "draft"): "in    404   404    200   200    404   200   404   200   404",
    ("autosave", "submitted"): "in    404   404    200   200    404   200   404   200   404",
    ("autosave", "published"): "in    403   403    400   400    403   400   403   400   403",
    ("autosave", "pending"): "in    403   403    400   400    403   400   403   400   403",
    ("autosave", "archived"): "in    404   404    200   200    404   200   404   200   404",
    # the workflow
    ("submit", "draft"): EDITORS_302,
    ("submit", "submitted"): NOBODY,
    ("submit", "published"): NOBODY_PUB,
    ("submit", "pending"): NOBODY_PUB,
    ("submit", "archived"): NOBODY,
    ("publish", "draft"): CURATORS_302,
    ("publish", "submitted"): CURATORS_302,
    ("publish", "published"): CURATORS_302_PUB,
    ("publish", "pending"): CURATORS_302_PUB,
    ("publish", "archived"): CURATORS_302,  # bringing an archived item back
    ("withdraw", "draft"): CURATORS_302,
    ("withdraw", "submitted"): CURATORS_302,
    ("withdraw", "published"): CURATORS_302_PUB,
    ("withdraw", "pending"): CURATORS_302_PUB,
    ("withdraw", "archived"): CURATORS_302,
    ("return_form", "draft"): NOBODY,
    ("return_form", "submitted"): CURATORS_200,
    ("return_form", "published"): NOBODY_PUB,
    ("return_form", "pending"): NOBODY_PUB,
    ("return_form", "archived"): NOBODY,
    ("return", "draft"): NOBODY,
    ("return", "submitted"): CURATORS_302,
    ("return", "published"): NOBODY_PUB,
    ("return", "pending"): NOBODY_PUB,
    ("return", "archived"): NOBODY,
    ("archive", "draft"): NOBODY,
    ("archive", "submitted"): NOBODY,
    ("archive", "published"): CURATORS_302_PUB,
    ("archive", "pending"): CURATORS_302_PUB,
    ("archive", "archived"): NOBODY,
    ("confirm", "draft"): NOBODY,
    ("confirm", "submitted"): NOBODY,
    ("confirm", "published"): CURATORS_302_PUB,
    ("confirm", "pending"): CURATORS_302_PUB,
    ("confirm", "archived"): NOBODY,
    # history, diff and restore: editors only (old text may have been removed on purpose)
    ("history", "draft"): EDITORS_200,
    ("history", "submitted"): EDITORS_200,
    ("history", "published"): EDITORS_200_PUB,
    ("history", "pending"): EDITORS_200_PUB,
    ("history", "archived"): EDITORS_200,
    ("restore", "draft"): EDITORS_302,
    ("restore", "submitted"): EDITORS_302,
    ("restore", "published"): EDITORS_302_PUB,
    ("restore", "pending"): EDITORS_302_PUB,
    ("restore", "archived"): EDITORS_302,
    # attachments: editors of a draft; on a published item only those who may publish it
    ("upload", "draft"): EDITORS_302,
    ("upload", "submitted"): EDITORS_302,
    ("upload", "published"): CURATORS_302_PUB,
    ("upload", "pending"): CURATORS_302_PUB,
    ("upload", "archived"): EDITORS_302,
    ("remove_attachment", "draft"): EDITORS_302,
    ("remove_attachment", "submitted"): EDITORS_302,
    ("remove_attachment", "published"): CURATORS_302_PUB,
    ("remove_attachment", "pending"): CURATORS_302_PUB,
    ("remove_attachment", "archived"): EDITORS_302,
    # a pending change: its page is for the item's editors, the verdict for its curators
    ("revision", "pending"): EDITORS_200,
    ("approve_revision", "pending"): CURATORS_302,
    ("return_revision", "pending"): CURATORS_302,
}

# -- the specification: profiles (key figures, issue #5) ------------------------------------------
# Profiles of Delft, written by a curator; a profile is never public, never
# edited by contributors, and without valid consent shown to its editors only.
# Columns:                                anon  m_oth m_same author c_same c_oth  cur  cur_oth admin privacy
PROFILE = {
    ("view", "members"): "404   200   200    200   200    200   200   200   200   200",
    ("view", "region"): "404   404   200    200   200    404   200   404   200   404",
    ("view", "expired"): "404   404   404    404   404    404   200   404   200   404",
    ("edit_form", "members"): "in    403   403    403   403    403   200   403   200   403",
    ("edit_form", "region"): "in    404   403    403   403    404   200   404   200   404",
    ("edit_form", "expired"): "in    404   404    404   404    404   200   404   200   404",
    ("history", "members"): "in    403   403    403   403    403   200   403   200   403",
    ("history", "region"): "in    404   403    403   403    404   200   404   200   404",
    ("history", "expired"): "in    404   404    404   404    404   200   404   200   404",
    ("archive", "members"): "in    403   403    403   403    403   302   403   302   403",
    ("archive", "region"): "in    404   403    403   403    404   302   404   302   404",
    # an expired profile cannot be published again until consent is renewed (400)
    ("publish", "expired"): "in    404   404    404   404    404   400   404   400   404",
    ("upload", "members"): "in    403   403    403   403    403   403   403   403   403",
    # an introduction is for members who do not see the contact details (outside the region)
    ("introduction", "members"): "in    200   404    404   404    200   404   200   404   200",
}

# -- the specification: a national practice (tied to no municipality) ------------------------------
# Every curator curates a national item; among contributors only its author edits it.
# Columns:                                  anon  m_oth m_same author c_same c_oth  cur  cur_oth admin privacy
NATIONAL = {
    ("view", "national"): "200   200   200    200   200    200   200   200   200   200",
    ("edit_form", "national"): "in    403   403    200   403    403   200   200   200   403",
    ("history", "national"): "in    403   403    200   403    403   200   200   200   403",
    ("archive", "national"): "in    403   403    403   403    403   302   302   302   403",
    ("upload", "national"): "in    403   403    403   403    403   302   302   302   403",
    ("withdraw", "national"): "in    403   403    403   403    403   302   302   302   403",
}

PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
TODAY = date.today()


def _cells(row: str) -> dict[str, str]:
    values = row.split()
    assert len(values) == len(ROLES), row
    return dict(zip(ROLES, values, strict=True))


# -- the world ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def world(tmp_path_factory):
    # CSRF off: this file tests who may do what; CSRF has its own tests
    app = make_app(tmp_path_factory.mktemp("matrix"), content=False, WTF_CSRF_ENABLED=False,
                   RATELIMIT_ENABLED=False)
    with app.app_context():
        set_region(SYSTEM, "Haaglanden", ["Delft"])
        set_region(SYSTEM, "Regio Utrecht", ["Utrecht"])
        existing = set(db.session.scalars(select(User.email)))
        for spec in PEOPLE.values():
            if spec and spec[0] not in existing:
                create_user(SYSTEM, spec[0], spec[1], name=spec[0].split("@")[0], password=PASSWORD,
                            municipality=spec[2])
    clients = {}
    for role, spec in PEOPLE.items():
        client = app.test_client()
        if spec:
            login(client, spec[0])
        clients[role] = client
    return app, clients


def _user(email: str) -> User:
    return db.session.scalar(select(User).where(User.email == email))


_counter = itertools.count(1)


def make_item(app, state: str, item_type: str = "practice", title: str = "Buurtgesprekken") -> dict:
    """An item of Delft (``item_type``: practice or lesson) by ``author`` in
    ``state``, with one PDF attached; returns its slug, attachment id, (for
    ``pending``) pending revision id, URL type path and title."""
    n = next(_counter)
    title = f"{title} {n}"
    with app.app_context():
        author, curator = _user(PEOPLE["author"][0]), _user(PEOPLE["cur"][0])
        item = save_item(author, item_type, {"title": title, "municipality": "Delft",
                                             "status": "draft"}, f"Versie een van {n}.")
        att = attachment_service.add_attachment(author, item, io.BytesIO(PDF), "plan.pdf")
        if state == "submitted":
            item_service.submit_item(author, item)
        if state in ("published", "pending", "archived"):
            item_service.set_status(curator, item, "published")
        if state == "pending":
            save_item(author, item_type, {"title": title, "municipality": "Delft",
                                          "status": "published"}, f"Versie twee van {n}.",
                      item=item, expected_version=item.version)
        if state == "archived":
            item_service.archive_item(curator, item)
        pending = db.session.scalar(select(Revision.id).where(Revision.item_id == item.id,
                                                              Revision.state == "pending"))
        return {"slug": item.slug, "attachment": att.id, "revision": pending,
                "type_path": "werkwijzen" if item_type == "practice" else "lessen", "title": item.title}


def make_practice(app, state: str) -> dict:
    """A practice in ``state`` (see :func:`make_item`)."""
    return make_item(app, state)


def make_national(app, state: str) -> dict:
    """A published practice tied to no municipality, by ``author``, with one PDF."""
    n = next(_counter)
    with app.app_context():
        author = _user(PEOPLE["author"][0])
        item = save_item(author, "practice", {"title": f"Landelijke aanpak {n}", "status": "draft"}, "Landelijk.")
        att = attachment_service.add_attachment(author, item, io.BytesIO(PDF), "plan.pdf")
        item_service.set_status(_user(PEOPLE["admin"][0]), item, "published")
        return {"slug": item.slug, "attachment": att.id, "revision": None, "type_path": "werkwijzen",
                "title": item.title}


def make_profile(app, state: str) -> dict:
    n = next(_counter)
    consent = TODAY - timedelta(days=3 * 365 if state == "expired" else 20)
    with app.app_context():
        item = save_item(SYSTEM, "profile", {
            "title": f"Sleutelfiguur {n}", "municipality": "Delft",
            "visibility": "region" if state == "region" else "members",
            "consent": consent.isoformat(), "status": "published"}, "Loopt rondes.")
        return {"slug": item.slug, "attachment": None, "revision": None, "type_path": "sleutelfiguren",
                "title": item.title}


def _snapshot(app, slug: str) -> tuple:
    """What a refused request must leave unchanged."""
    with app.app_context():
        item = db.session.scalar(select(Item).where(Item.slug == slug))
        return (item.status, item.review_state, item.version, item.body, item.reviewed,
                db.session.scalar(select(func.count(Attachment.id)).where(Attachment.item_id == item.id)),
                db.session.scalar(select(func.count(Revision.id)).where(Revision.item_id == item.id)))


# -- the requests ---------------------------------------------------------------------------------
def request_for(action: str, it: dict) -> tuple[str, str, dict]:
    """(method, path, form data) of ``action`` on the item ``it``."""
    base = f"/{it['type_path']}/{it['slug']}"
    form = {"title": it["title"] + " bijgewerkt", "municipality": "Delft", "body": "Nieuwe tekst.",
            "action": "save"}
    return {
        "view": ("GET", base, {}),
        "download": ("GET", f"{base}/bijlagen/{it['attachment']}", {}),
        "edit_form": ("GET", f"{base}/bewerken", {}),
        "save": ("POST", f"{base}/bewerken", form),
        "autosave": ("POST", f"{base}/autosave", form),
        "submit": ("POST", f"{base}/indienen", {}),
        "publish": ("POST", f"{base}/publiceren", {"action": "publish"}),
        "withdraw": ("POST", f"{base}/publiceren", {"action": "unpublish"}),
        "return_form": ("GET", f"{base}/terugsturen", {}),
        "return": ("POST", f"{base}/terugsturen", {"comment": "Graag de resultaten aanvullen."}),
        "archive": ("POST", f"{base}/archiveren", {}),
        "confirm": ("POST", f"{base}/nog-juist", {}),
        "history": ("GET", f"{base}/geschiedenis?van=1&naar=2", {}),  # with the diff of two revisions
        "restore": ("POST", f"{base}/geschiedenis/1/terugzetten", {}),
        "upload": ("POST", f"{base}/bijlagen", {"bijlage": (io.BytesIO(PDF), "verslag.pdf")}),
        "remove_attachment": ("POST", f"{base}/bijlagen/{it['attachment']}/verwijderen", {}),
        "revision": ("GET", f"/curatie/wijzigingen/{it['revision']}", {}),
        "approve_revision": ("POST", f"/curatie/wijzigingen/{it['revision']}/goedkeuren", {}),
        "return_revision": ("POST", f"/curatie/wijzigingen/{it['revision']}/terugsturen",
                            {"comment": "Nog niet: de bron ontbreekt."}),
        "introduction": ("GET", f"/sleutelfiguren/{it['slug']}/introductie", {}),
    }[action]


def outcome(resp) -> str:
    """The response as a table cell (see the module docstring)."""
    if resp.status_code in (301, 302, 303):
        return "in" if "/inloggen" in resp.headers.get("Location", "") else "302"
    return str(resp.status_code)


def run_cell(app, client, make, action: str, state: str, shared: dict, expected: str) -> str:
    """Do ``action`` on an item in ``state``; returns the outcome. A GET uses
    the shared item of that state. A POST that is expected to succeed gets a
    fresh item (it changes it); one expected to be refused uses a shared item
    of that state, which the refusal must leave exactly as it was (if not, the
    cell fails and the next one gets a fresh shared item)."""
    method = request_for(action, {"type_path": "-", "slug": "-", "title": "-", "attachment": 0,
                                  "revision": 0})[0]
    key = state
    if method == "POST":
        key = ("refused", state)
        if expected not in ("in", "403", "404") or key not in shared:
            shared[key] = make(app, state)
        it = shared[key]
        before = _snapshot(app, it["slug"])
    else:
        it = shared[key]
    method, path, data = request_for(action, it)
    if method == "GET":
        resp = client.get(path)
    else:
        resp = client.post(path, data=data, content_type="multipart/form-data")
    got = outcome(resp)
    if method == "POST" and got in ("in", "403", "404", "400"):
        after = _snapshot(app, it["slug"])
        if after != before:
            shared.pop(key, None)
            return f"{got}, but the item changed"
    if method == "POST" and expected not in ("in", "403", "404"):
        shared.pop(key, None)  # changed (or should have been): never reused
    return got


def _check_table(world, make, table, action, states):
    app, clients = world
    shared = {s: make(app, s) for s in states}
    wrong = []
    for state in states:
        row = table.get((action, state))
        if row is None:
            continue
        for role, expected in _cells(row).items():
            got = run_cell(app, clients[role], make, action, state, shared, expected)
            if got != expected:
                wrong.append(f"{action:18} {state:10} {role:8} expected {expected:4} got {got}")
    assert not wrong, "\n" + "\n".join(wrong)


PRACTICE_ACTIONS = sorted({a for a, _ in PRACTICE})
PRACTICE_STATES = ("draft", "submitted", "published", "pending", "archived")
PROFILE_ACTIONS = sorted({a for a, _ in PROFILE})
PROFILE_STATES = ("members", "region", "expired")


@pytest.mark.parametrize("action", PRACTICE_ACTIONS)
def test_practice_matrix(world, action):
    _check_table(world, make_practice, PRACTICE, action, PRACTICE_STATES)


@pytest.mark.parametrize("action", PROFILE_ACTIONS)
def test_profile_matrix(world, action):
    _check_table(world, make_profile, PROFILE, action, PROFILE_STATES)


@pytest.mark.parametrize("action", sorted({a for a, _ in NATIONAL}))
def test_national_practice_matrix(world, action):
    _check_table(world, make_national, NATIONAL, action, ("national",))


def test_every_practice_cell_is_specified():
    """Each action is either specified for a state or explicitly meaningless there."""
    only_pending = {"revision", "approve_revision", "return_revision"}
    for action in PRACTICE_ACTIONS:
        states = ("pending",) if action in only_pending else PRACTICE_STATES
        for state in states:
            assert (action, state) in PRACTICE, (action, state)


def test_the_hidden_and_the_missing_look_alike(world):
    """A draft someone may not see answers exactly like an item that does not exist."""
    app, clients = world
    it = make_practice(app, "draft")
    for role in ("m_same", "c_oth", "cur_oth", "privacy"):
        for suffix in ("", "/bewerken", "/geschiedenis", f"/bijlagen/{it['attachment']}"):
            hidden = clients[role].get(f"/werkwijzen/{it['slug']}{suffix}")
            missing = clients[role].get(f"/werkwijzen/bestaat-niet-{it['slug']}{suffix}")
            assert hidden.status_code == missing.status_code == 404, (role, suffix)
            assert it["title"] not in hidden.get_data(as_text=True)


# -- every endpoint, classified ---------------------------------------------------------------------
#: Item-scoped endpoints, covered by the tables above (endpoint -> its actions there).
ITEM_SCOPED = {
    "web.item": ("view",),
    "web.edit": ("edit_form", "save"),
    "web.publish": ("publish", "withdraw"),
    "curation.autosave": ("autosave",),
    "curation.submit": ("submit",),
    "curation.return_item": ("return_form", "return"),
    "curation.archive": ("archive",),
    "curation.confirm": ("confirm",),
    "curation.history": ("history",),
    "curation.restore": ("restore",),
    "curation.upload_attachment": ("upload",),
    "curation.download_attachment": ("download",),
    "curation.remove_attachment": ("remove_attachment",),
    "curation.revision": ("revision",),
    "curation.approve_revision": ("approve_revision",),
    "curation.return_revision": ("return_revision",),
    "people.introduction": ("introduction",),
}

#: Anonymous visitors may reach these (the view may still refuse); a GET path
#: where one exists without data, checked to answer 200 to an anonymous visitor.
PUBLIC = {
    "static": None, "web.home": "/", "web.about": "/over", "web.search_page": "/zoeken",
    "web.browse_type": "/werkwijzen", "web.browse_theme": "/themas/polarisatie", "web.browse_phase": "/fasen/opzetten",
    "web.browse_municipality": "/gemeenten/GM0503", "web.municipalities": "/gemeenten", "web.healthz": "/healthz",
    "feeds.all_items": "/feeds/alles.atom", "feeds.by_type": "/feeds/werkwijzen.atom",
    "feeds.by_theme": "/feeds/themas/polarisatie.atom", "feeds.by_phase": "/feeds/fasen/opzetten.atom",
    "feeds.by_municipality": "/feeds/gemeenten/GM0503.atom", "feeds.by_search": "/feeds/zoeken.atom?q=buurt",
    "feeds.sitemap": "/sitemap.xml", "statement.accessibility": "/toegankelijkheid",
    "network.meetings": "/bijeenkomsten", "network.meeting": None, "network.meeting_ics": None,
    "network.region_ics": None, "collections.index": "/dossiers", "collections.view": None,
    "guide.index": "/waar-staat-u", "language.switch": None,
    # getting in (and out)
    "auth.login": "/inloggen", "auth.login_code": None, "auth.reset_password": None, "auth.logout": None,
    "auth.oidc_start": None, "auth.oidc_callback": None,
    "auth.forgot_password": "/wachtwoord-vergeten", "auth.forgot_password_sent": "/wachtwoord-vergeten/verstuurd",
    "signup.form": "/account-aanvragen", "signup.sent": "/account-aanvragen/verstuurd",
    "signup.confirm": None, "signup.confirm_post": None, "signup.confirm_request": None,
    "signup.confirm_request_post": None,  # links with their own token, mailed to the applicant
    "follows.unsubscribe": None,  # the digest's one-click unsubscribe link carries its own token
}

#: Any logged-in user (anonymous visitors go to the login page); a GET path to check.
LOGIN_ONLY = {
    "web.drafts": "/concepten", "web.preview": None, "curation.notifications": "/meldingen",
    "curation.read_all": None, "people.finder": "/wie-kan-helpen", "network.questions": "/vragen",
    "network.ask": "/vragen/nieuw", "auth.change_password": "/wachtwoord-wijzigen",
    "auth.totp_setup": "/tweestapsverificatie", "auth.totp_start": None, "auth.totp_confirm": None,
    "auth.totp_disable": None, "auth.totp_recovery_codes": None, "auth.sessions": "/sessies",
    "auth.end_session": None, "auth.end_other_sessions": None, "auth.oidc_link": None, "auth.oidc_reauth": None,
    "api_account.tokens": "/account/sleutels", "api_account.tokens_en": None, "api_account.revoke": None,
    "guide.mark": None, "follows.index": "/volgen", "follows.follow": None, "follows.unfollow": None,
    "follows.frequency": None,
}

#: Only some roles: endpoint -> (GET path, outcomes in ROLES order), or (None, who) for a
#: POST (its refusals are tested with its object in the test file named in ``who``).
# Columns:                                                    anon  m_oth m_same author c_same c_oth  cur  cur_oth admin privacy
ROLE_ONLY = {
    "web.create": ("/nieuw/werkwijzen", "in    403   403    200   200    200   200   200   200   403"),
    "curation.autosave_new": (None, "contributors and up: tests/test_contributing.py"),
    "curation.dashboard": ("/curatie", "in    403   403    403   403    403   200   200   200   403"),
    "curation.audit_log": ("/beheer/logboek", "in    403   403    403   403    403   403   403   200   403"),
    "insight.dashboard": ("/inzicht", "in    403   403    403   403    403   200   200   200   403"),
    "people.introductions": ("/introductieverzoeken",
                             "in    403   403    403   403    403   200   200   200   403"),
    "people.persons": ("/beheer/personen", "in    403   403    403   403    403   403   403   200   403"),
    "people.privacy_overview": ("/privacy", "in    403   403    403   403    403   403   403   403   200"),
    "people.privacy_profile": (None, "privacy officer: test_privacy_pages below"),
    "people.erase_person": (None, "admins: test_privacy_pages below"),
    "people.export_person": (None, "admins: tests/test_people.py"),
    "people.handle_introduction": (None, "the profile's curators: tests/test_people.py"),
    "collections.create": ("/dossiers/nieuw", "in    403   403    403   403    403   200   200   200   403"),
    "network.create_meeting": ("/bijeenkomsten/nieuw",
                               "in    403   403    403   403    403   200   200   200   403"),
    # access requests are vetted by curators (issue #9), the domain allow-list by admins
    "signup.requests": ("/beheer/toegangsverzoeken",
                        "in    403   403    403   403    403   200   200   200   403"),
    "signup.domains": ("/beheer/domeinen", "in    403   403    403   403    403   403   403   200   403"),
    "signup.request_detail": (None, "curators: tests of the sign-up"),
    "signup.approve": (None, "curators: tests of the sign-up"),
    "signup.refuse": (None, "curators: tests of the sign-up"),
    "signup.add_domain": (None, "admins: tests of the sign-up"),
    "signup.remove_domain": (None, "admins: tests of the sign-up"),
}

#: Scoped to another object than an item (meeting, question, dossier, notification): members only,
#: the object's own rules tested in the file named.
OTHER_OBJECTS = {
    "network.question": "tests/test_network.py", "network.answer": "tests/test_network.py",
    "network.best": "tests/test_network.py", "network.close": "tests/test_network.py",
    "network.follow": "tests/test_network.py", "network.make_lesson": "tests/test_network.py",
    "network.register": "tests/test_meetings.py", "network.cancel": "tests/test_meetings.py",
    "network.edit_meeting": "tests/test_meetings.py", "network.meeting_report": "tests/test_meetings.py",
    "network.attendees": "tests/test_meetings.py", "network.attendees_csv": "tests/test_meetings.py",
    "collections.edit": "tests/test_collections.py", "collections.manage": "tests/test_collections.py",
    "collections.add": "tests/test_collections.py", "collections.move": "tests/test_collections.py",
    "collections.remove": "tests/test_collections.py", "collections.feature": "tests/test_collections.py",
    "curation.open_notification": "tests/test_workflow.py",
}

#: The JSON API authenticates every request itself (tests/test_api.py).
API_PREFIX = "api."


def _classified() -> dict[str, str]:
    kinds: dict[str, str] = {}
    for name, table in (("item", ITEM_SCOPED), ("public", PUBLIC), ("login", LOGIN_ONLY),
                        ("role", ROLE_ONLY), ("object", OTHER_OBJECTS)):
        for endpoint in table:
            assert endpoint not in kinds, f"{endpoint} is classified twice"
            kinds[endpoint] = name
    return kinds


def test_every_endpoint_is_classified(world):
    app, _ = world
    kinds = _classified()
    endpoints = {r.endpoint for r in app.url_map.iter_rules()}
    unclassified = sorted(e for e in endpoints if e not in kinds and not e.startswith(API_PREFIX))
    assert not unclassified, ("classify these endpoints in tests/test_permission_matrix.py: "
                              + ", ".join(unclassified))
    stale = sorted(set(kinds) - endpoints)
    assert not stale, f"classified but gone: {stale}"


def test_the_public_list_is_exactly_the_public_class(world):
    from portal.web.public import PUBLIC_ENDPOINTS

    app, _ = world
    endpoints = {r.endpoint for r in app.url_map.iter_rules()}
    expected = {e for e in endpoints if e in PUBLIC} | {"web.item", "curation.download_attachment"}
    assert set(PUBLIC_ENDPOINTS) == expected, set(PUBLIC_ENDPOINTS) ^ expected


def test_item_scoped_endpoints_are_in_the_tables():
    specified = {a for a, _ in PRACTICE} | {a for a, _ in PROFILE}
    for endpoint, actions in ITEM_SCOPED.items():
        for action in actions:
            assert action in specified, (endpoint, action)


def test_public_pages_answer_anonymous_visitors(world):
    app, clients = world
    for endpoint, path in PUBLIC.items():
        if path:
            resp = clients["anon"].get(path)
            assert resp.status_code == 200, (endpoint, path, resp.status_code)


def test_login_only_pages(world):
    app, clients = world
    wrong = []
    for endpoint, path in LOGIN_ONLY.items():
        if not path:
            continue
        for role in ROLES:
            got = outcome(clients[role].get(path))
            expected = "in" if role == "anon" else "200"
            if got != expected:
                wrong.append(f"{endpoint:28} {role:8} expected {expected} got {got}")
    assert not wrong, "\n" + "\n".join(wrong)


def test_role_only_pages(world):
    app, clients = world
    wrong = []
    for endpoint, (path, row) in ROLE_ONLY.items():
        if not path:
            continue
        for role, expected in _cells(row).items():
            got = outcome(clients[role].get(path))
            if got != expected:
                wrong.append(f"{endpoint:28} {role:8} expected {expected} got {got}")
    assert not wrong, "\n" + "\n".join(wrong)


def test_creating_a_profile_is_for_curators(world):
    app, clients = world
    row = "in    403   403    403   403    403   200   200   200   403"
    got = {role: outcome(clients[role].get("/nieuw/sleutelfiguren")) for role in ROLES}
    assert got == _cells(row)


def test_privacy_pages(world):
    """The privacy log of one profile: the privacy officer only; the erasure
    preview of one person: admins only (issue #5)."""
    app, clients = world
    it = make_profile(app, "members")
    with app.app_context():
        profile_id = db.session.scalar(select(Item.id).where(Item.slug == it["slug"]))
    rows = {f"/privacy/profielen/{profile_id}": "in    403   403    403   403    403   403   403   403   200",
            f"/beheer/personen/{profile_id}/wissen": "in    403   403    403   403    403   403   403   200   403"}
    wrong = []
    for path, row in rows.items():
        for role, expected in _cells(row).items():
            got = outcome(clients[role].get(path))
            if got != expected:
                wrong.append(f"{path:36} {role:8} expected {expected} got {got}")
    assert not wrong, "\n" + "\n".join(wrong)


def test_objects_of_other_kinds_refuse_anonymous_visitors(world):
    app, clients = world
    samples = {"network.question": "/vragen/1", "network.attendees": "/bijeenkomsten/1/deelnemers",
               "collections.manage": "/dossiers/x/beheren", "collections.edit": "/dossiers/x/bewerken"}
    for endpoint, path in samples.items():
        assert endpoint in OTHER_OBJECTS
        assert outcome(clients["anon"].get(path)) == "in", endpoint
