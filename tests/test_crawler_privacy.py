"""The crawler (issue #5, "done when"): as an anonymous visitor and as a
member of another region, follow every link from the home page and request
every GET route of the portal (item pages of every type with every slug,
search with profile names, e-mail addresses and phone numbers as queries,
facets, feeds, sitemap, API, exports, error pages, the expert finder), and
find none of the protected profile fields in any response. The anonymous
crawl also finds no text of a members-only question to the network or of its
answers (issue #9); members, of any region, may read those (the rule of the
question pages), and a member's crawl does find them.

Queries are sent in another letter case (or, for phone numbers, another
spelling) than the protected value, and the check is case-sensitive: a page
that echoes the query does not count, a page that shows the stored value does.
"""

from __future__ import annotations

import html
import json
import re
from collections import deque
from itertools import product
from urllib.parse import urlencode, urlsplit

import pytest
from sqlalchemy import select

from portal import taxonomy
from portal.extensions import db
from portal.models import Item, Municipality, Region, User
from portal.network.questions import answer_question, ask_question
from portal.services.items import SYSTEM, save_item
from portal.services.people import request_introduction

from .conftest import make_app
from .test_people import BODIES, OTHER_MEMBER, PROFILES, slug_of

MAX_CRAWL = 700  # pages per viewer reached by following links
HREF = re.compile(r"""(?:href|src|action)=["']([^"'#]+)""")
#: starter-library profiles in Delft: in region Haaglanden once build_world ran
DELFT_STARTER = ("ruud-hoogenbosch", "ilham-bouzerda")
#: a members-only question to the network and its answer; words found nowhere else
QUESTION = {"title": "Wie kent de Kraanvogelbrugaanpak voor moeders?",
            "body": "Ons Ooievaarsnestoverleg zoekt ervaring met moeders uit de Tanthofwijk.",
            "answer": "Bel het Lepelaarsteam, zij deden het Kraanvogelbrugproject in 2024."}


@pytest.fixture(scope="module")
def crawl_app(tmp_path_factory):
    from .test_people import build_world

    app = make_app(tmp_path_factory.mktemp("crawl"))
    ids = build_world(app)
    with app.app_context():
        other = db.session.scalar(select(User).where(User.email == OTHER_MEMBER))
        request_introduction(other, db.session.get(Item, ids["C"]),
                             "Ik werk in Utrecht en zoek iemand voor een gastles.")
        # a practice of the other member's own municipality, naming a region-only profile
        save_item(SYSTEM, "practice", {"title": "Utrechtse buurtgesprekken", "municipality": "Utrecht",
                                       "visibility": "members", "contact": slug_of(PROFILES["B"])}, "Gesprekken.")
        asker = db.session.scalar(select(User).where(User.email == "lid@delft.example.org"))
        question = ask_question(asker, {"title": QUESTION["title"], "body": QUESTION["body"],
                                        "municipality": "Delft"})
        curator = db.session.scalar(select(User).where(User.email == "curator@delft.example.org"))
        answer_question(curator, question.id, QUESTION["answer"])
        ids["question"] = question.id
    return app, ids


def question_texts() -> dict[str, str]:
    """The members-only question's texts -> what they are."""
    return {QUESTION["title"]: "title of a question", QUESTION["body"]: "text of a question",
            QUESTION["answer"]: "text of an answer"}


def protected(app, viewer: str | None) -> dict[str, str]:
    """Protected value -> what it is, for ``viewer``; decided here from the
    test data, not by the portal's permission code."""
    out: dict[str, str] = {}
    with app.app_context():
        profiles = db.session.scalars(select(Item).where(Item.type == "profile")).all()
        by_slug = {p.slug: p for p in profiles}

        def hide(p, fields=("title", "contact_email", "contact_phone", "slug")):
            for f in fields:
                value = getattr(p, f)
                if value:
                    out[value] = f"{f} of profile {p.slug}"

        if viewer is None:  # an anonymous visitor sees nothing of any profile
            for p in profiles:
                hide(p)
            for key, body in BODIES.items():
                out[body] = f"text of profile {key}"
            out.update(question_texts())  # questions and answers are for members only
            return out
        # a member of Utrecht (region Utrecht)
        for key in ("B", "D"):  # region-only elsewhere; expired consent
            hide(by_slug[slug_of(PROFILES[key])])
            out[BODIES[key]] = f"text of profile {key}"
        for key in ("A", "C"):  # direct but another region; via the curator
            hide(by_slug[slug_of(PROFILES[key])], ("contact_email", "contact_phone"))
        for slug in DELFT_STARTER:
            hide(by_slug[slug], ("contact_email", "contact_phone"))
    return out


def queries(secret: dict[str, str]) -> list[str]:
    """Search texts built from the protected values (and the profiles'
    expertise), never equal to a protected value in case or spelling."""
    texts = set()
    for value in secret:
        if "@" in value:
            texts.add(value.upper())
        elif re.fullmatch(r"[\d -]+", value):
            texts.add(re.sub(r"\D", "", value))
        else:
            texts.add(value.lower())
            texts.update(w.lower() for w in value.split() if len(w) > 3)
    for p in PROFILES.values():
        texts.update(p.get("expertise", []))
        texts.update(p.get("communities", []))
    for value in question_texts():  # every viewer searches for the question's words
        texts.add(value.lower())
        texts.update(w.lower().strip("?.,") for w in value.split() if len(w) > 3)
    return sorted(texts)


def route_urls(app, ids: dict[str, int]) -> list[str]:
    """Every GET route of the app with its path parameters filled from real
    data (and a few values that do not exist)."""
    with app.app_context():
        items = db.session.scalars(select(Item)).all()
        codes = sorted({m.cbs_code for i in items for m in i.municipalities} | {"GM0503", "GM0344", "GM9999"})
        region_ids = [str(r.id) for r in db.session.scalars(select(Region))] + ["999"]
        slugs = {t: sorted(i.slug for i in items if i.type == t) for t in ("practice", "lesson", "profile")}
        max_id = max(i.id for i in items)
    ints = sorted(set(range(1, 6)) | set(ids.values()) | {max_id, 99999})
    type_slugs = {"werkwijzen": "practice", "lessen": "lesson", "sleutelfiguren": "profile"}
    values = {
        "phase": list(taxonomy.BUILTIN["phase"]) + ["onbekend"],
        "theme": list(taxonomy.BUILTIN["theme"])[:6] + ["onbekend"],
        "code": codes, "region_id": region_ids, "token": ["ongeldig-token"],
        "filename": ["portal.css"], "number": ["1", "2", "99"],
    }
    urls = set()
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or ()):
            continue
        args = sorted(rule.arguments)
        choices = []
        for name in args:
            conv = rule._converters.get(name)
            if name == "slug":
                choices.append(None)  # filled together with the type below
            elif conv is not None and hasattr(conv, "items"):
                choices.append(sorted(conv.items))
            elif name in values:
                choices.append(values[name])
            elif conv is not None and type(conv).__name__ == "IntegerConverter":
                choices.append([str(i) for i in ints])
            else:
                choices.append(["x"])
        for combo in product(*[c if c is not None else [None] for c in choices]):
            params = dict(zip(args, combo))
            if "slug" in params:
                kind = params.get("type_path") or params.get("item_type")
                kind = type_slugs.get(kind, kind)
                candidates = slugs.get(kind, []) + slugs["profile"] + ["bestaat-niet"]
                for slug in dict.fromkeys(candidates):
                    urls.add(_build(rule, dict(params, slug=slug)))
            else:
                urls.add(_build(rule, params))
    return sorted(u for u in urls if u)


def _build(rule, params):
    path = rule.rule
    for name, value in params.items():
        path = re.sub(r"<(?:[^<>:]+:)?" + name + r">", value, path)
    return path if "<" not in path else None


def search_urls(secret: dict[str, str], app) -> list[str]:
    with app.app_context():
        regions = [str(r.id) for r in db.session.scalars(select(Region))]
    urls = []
    for q in queries(secret):
        for path in ("/zoeken", "/api/v1/search", "/feeds/zoeken.atom", "/wie-kan-helpen"):
            urls.append(f"{path}?{urlencode({'q': q})}")
        urls.append(f"/zoeken?{urlencode({'q': q, 'type': 'profile'})}")
    facets = [("type", "profile")] + [("profile_language", c) for c in ("so", "tr", "ar", "nl")] + \
        [("key_figure_type", k) for k in taxonomy.BUILTIN["key_figure_type"]] + [("region", r) for r in regions]
    for name, value in facets:
        for path in ("/zoeken", "/api/v1/search", "/api/v1/items", "/feeds/zoeken.atom"):
            urls.append(f"{path}?{urlencode({name: value})}")
    for r in regions:
        urls.append(f"/wie-kan-helpen?{urlencode({'regio': r})}")
    for lang in ("so", "tr", "ar"):
        urls.append(f"/wie-kan-helpen?{urlencode({'taal': lang})}")
    urls += ["/wie-kan-helpen?q=", "/api/v1/items?type=profile&per_page=100", "/sitemap.xml",
             "/bestaat-niet", "/sleutelfiguren/bestaat-niet", "/api/v1/items/profile/bestaat-niet",
             "/zoeken?q=%22", "/zoeken?pagina=99999&type=profile"]
    return urls


def _normalise(resp) -> str:
    raw = resp.get_data()
    text = raw.decode("utf-8", "replace")
    if resp.mimetype and "json" in resp.mimetype:
        try:
            text += "\n" + json.dumps(json.loads(text), ensure_ascii=False)
        except ValueError:
            pass
    headers = "\n".join(f"{k}: {v}" for k, v in resp.headers.items())
    return html.unescape(text) + "\n" + headers


def crawl(client, start_urls: list[str], secret: dict[str, str]) -> tuple[list[str], int]:
    """Request ``start_urls`` and every page reached by following links from
    the home page; returns ``(leaks, pages requested)``."""
    leaks: list[str] = []
    seen: set[str] = set()
    queue = deque(["/"])
    followed = 0

    def check(url: str):
        resp = client.get(url)
        body = _normalise(resp)
        for value, what in secret.items():
            if what.startswith("slug") and value in url:
                continue  # a slug the request itself named
            if value in body:
                leaks.append(f"{url} [{resp.status_code}] shows {what}: {value!r}")
        return resp, body

    while queue and followed < MAX_CRAWL:
        url = queue.popleft()
        if url in seen:
            continue
        seen.add(url)
        followed += 1
        resp, body = check(url)
        if resp.mimetype not in ("text/html",):
            continue
        for href in HREF.findall(resp.get_data(as_text=True)):
            href = html.unescape(href)
            parts = urlsplit(href)
            if parts.scheme in ("mailto", "tel", "javascript", "data") or (parts.netloc and parts.netloc != "localhost"):
                continue
            path = parts.path or url.split("?")[0]
            if not path.startswith("/") or path.startswith("/static/"):
                continue
            nxt = path + (f"?{parts.query}" if parts.query else "")
            if nxt not in seen:
                queue.append(nxt)
    for url in start_urls:
        if url not in seen:
            seen.add(url)
            check(url)
    return leaks, len(seen)


@pytest.mark.parametrize("viewer", [None, OTHER_MEMBER], ids=["anonymous", "member-of-another-region"])
def test_no_protected_profile_field_leaks_anywhere(crawl_app, client_for, viewer):
    app, ids = crawl_app
    secret = protected(app, viewer)
    assert len(secret) >= 10
    client = client_for(app, viewer)
    urls = route_urls(app, ids) + search_urls(secret, app)
    leaks, n = crawl(client, urls, secret)
    assert n > 300  # it really went everywhere
    assert not leaks, f"{len(leaks)} leaks, first ones:\n" + "\n".join(leaks[:20])


def test_the_crawler_sees_what_the_viewer_may_see(crawl_app, client_for):
    """The same crawl as a member of the profiles' own region finds the
    values the other viewers may not see: the crawler can fail."""
    app, ids = crawl_app
    secret = protected(app, OTHER_MEMBER)
    client = client_for(app, "lid@delft.example.org")
    urls = [f"/sleutelfiguren/{slug_of(PROFILES[k])}" for k in ("A", "B")] + search_urls(secret, app)[:40]
    leaks, _ = crawl(client, urls, secret)
    found = " ".join(leaks)
    for value in (PROFILES["B"]["title"], PROFILES["A"]["contact_email"], PROFILES["B"]["contact_phone"],
                  BODIES["B"]):
        assert value in found, value
    with app.app_context():  # the region the crawl relies on
        delft = db.session.scalar(select(Municipality).where(Municipality.cbs_code == "GM0503"))
        assert delft.region is not None and delft.region.name == "Haaglanden"


def test_a_member_crawl_finds_the_question_texts(crawl_app, client_for):
    """Members of any region may read questions (the rule of the question
    pages): their crawl finds the texts the anonymous crawl must not, through
    the search page and the question page, so that check can fail."""
    app, ids = crawl_app
    secret = question_texts()
    for email in ("lid@delft.example.org", OTHER_MEMBER):
        client = client_for(app, email)
        urls = [f"/zoeken?{urlencode({'q': q})}" for q in ("kraanvogelbrugaanpak", "lepelaarsteam")]
        leaks, _ = crawl(client, urls + [f"/vragen/{ids['question']}"], secret)
        found = " ".join(leaks)
        for value in secret:
            assert value in found, (email, value)
        assert any(u.startswith("/zoeken?q=lepelaarsteam") and "title of a question" in u for u in leaks), email
