"""The small world of issue #9's "Done when" story (used by
tests/test_network_done_when_browser.py): two regions, an allowed municipal
e-mail domain, a key figure (a region-only profile) at Buurtwerk Delft, two
coming regional meetings and a national one, one practice from Utrecht; and
the check that what the story made never reaches anyone outside its audience.

Everything is made through the portal's services, never by writing rows."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from portal.extensions import db
from portal.models import OutboxMessage, Region, User
from portal.network import meetings as meeting_service
from portal.services.items import SYSTEM, save_item
from portal.services.library import create_user, set_region
from portal.signup import service as signup_service

from .conftest import PASSWORD, login

DELFT_DOMAIN = "delft.nl"
CURATOR = "curator@delft.example.org"  # conftest: curator of Delft (region Haaglanden)
CONTRIBUTOR = "bijdrager@delft.example.org"
OTHER_MEMBER = "lid@utrecht.example.org"  # a member of another region (Midden-Nederland)
OTHER_CURATOR = "curator@utrecht.example.org"  # organises Midden-Nederland, not Haaglanden

#: the query nobody finds anything for (three searches put it on the dashboard)
QUERY = "extremisme in gamechats"
KEY_FIGURE = "Samira Bouzid"  # a region-only key figure profile in Delft
KEY_FIGURE_ORG = "Buurtwerk Delft"
NEXT_MEETING = "Voorjaarsbijeenkomst Haaglanden"
LATER_MEETING = "Najaarsbijeenkomst Haaglanden"
NATIONAL_MEETING = "Landelijke trainingsdag sleutelfiguren"
MEETING_PLACE = "Stadhuis Delft, Raadzaal"
UTRECHT_PRACTICE = "Dialoogtafels in Kanaleneiland"
NEW_PRACTICE = "Gamecoaches in het buurthuis"


def local_time(days: int, hour: int = 19, minute: int = 30) -> str:
    """Amsterdam wall-clock time ``days`` from now, in the meeting form's shape."""
    day = datetime.now() + timedelta(days=days)
    return day.replace(hour=hour, minute=minute, second=0, microsecond=0).strftime("%Y-%m-%dT%H:%M")


def user(email: str) -> User:
    return db.session.scalar(select(User).where(User.email == email))


def region_id(name: str) -> int:
    return db.session.scalar(select(Region.id).where(Region.name == name))


def build_world(app) -> dict[str, Any]:
    """Regions, the allow-list, extra people, the key figure, meetings and
    one Utrecht practice. Returns ``{"meetings": {title: id}, "regions": {name: id}}``."""
    with app.app_context():
        set_region(SYSTEM, "Haaglanden", ["Delft"])
        set_region(SYSTEM, "Midden-Nederland", ["Utrecht"])
        signup_service.add_domain(SYSTEM, "GM0503", DELFT_DOMAIN)
        create_user(SYSTEM, OTHER_MEMBER, "member", name="Lid Utrecht", password=PASSWORD, municipality="Utrecht")
        create_user(SYSTEM, OTHER_CURATOR, "curator", name="Curator Utrecht", password=PASSWORD,
                    municipality="Utrecht")
        save_item(SYSTEM, "profile", {
            "title": KEY_FIGURE, "status": "published", "municipality": "Delft", "visibility": "region",
            "role": "jongerenwerker", "organisation": KEY_FIGURE_ORG, "themes": ["jongeren"],
            "expertise": ["gesprekken met jongeren", "straatcultuur"], "consent": date.today().isoformat()},
            "Kent de jongeren in de Buitenhof.")
        save_item(SYSTEM, "practice", {"title": UTRECHT_PRACTICE, "status": "published", "municipality": "Utrecht",
                                       "themes": ["polarisatie"]}, "Bewoners praten maandelijks aan tafel.")
        curator = user(CURATOR)
        haaglanden = region_id("Haaglanden")
        ids = {}
        for title, days, region in ((LATER_MEETING, 180, haaglanden), (NEXT_MEETING, 30, haaglanden),
                                    (NATIONAL_MEETING, 10, None)):
            data = {"title": title, "kind": "netwerkbijeenkomst", "description": "We bespreken **het jaarplan**.",
                    "starts_at": local_time(days), "ends_at": local_time(days, 22, 0), "place": MEETING_PLACE,
                    "online_url": "", "capacity": "40", "region": str(region or "")}
            actor = curator if region else user("beheer@example.org")
            ids[title] = meeting_service.save_meeting(actor, data).id
        return {"meetings": ids, "regions": {"Haaglanden": haaglanden,
                                             "Midden-Nederland": region_id("Midden-Nederland")}}


def publish_new_practice(app) -> str:
    """A contributor's practice on the followed theme, published by the
    region's curator (the way the workflow tests do it). Returns its slug."""
    from portal.services.items import set_status

    with app.app_context():
        item = save_item(user(CONTRIBUTOR), "practice", {
            "title": NEW_PRACTICE, "municipality": "Delft", "themes": ["jongeren"],
            "summary": "Jongerenwerkers gamen mee en praten over wat er in de chat gebeurt."},
            "## Aanpak\n\nElke woensdag een gamemiddag met een jongerenwerker.")
        set_status(user(CURATOR), item, "published")
        return item.slug


def last_mail(app, address: str) -> OutboxMessage | None:
    with app.app_context():
        row = db.session.scalars(select(OutboxMessage).where(OutboxMessage.to_address == address)
                                 .order_by(OutboxMessage.id.desc())).first()
        if row is not None:
            db.session.expunge(row)
        return row


def links_in(text: str) -> list[str]:
    return re.findall(r"https?://[^\s<>\"')]+", text or "")


def _readable(resp) -> str:
    """A response as text to look for secrets in: iCalendar lines unfolded
    (RFC 5545 folds at 75 octets) and its escapes undone; HTML entities of
    plain text are left alone (the secrets hold none)."""
    text = resp.get_data(as_text=True)
    if resp.mimetype == "text/calendar":
        text = text.replace("\r\n ", "").replace("\r\n\t", "").replace("\\,", ",").replace("\\;", ";")
    return text


def leaks(app, urls: list[str], secrets: dict[str, list[tuple[str, str]]], people: dict[str, str | None]) -> list[str]:
    """For each outsider in ``people`` (label -> e-mail, ``None`` for an
    anonymous visitor), GET every URL (following redirects, e.g. to the
    login page) with the Flask test client and look for the secrets this
    outsider must not get: ``secrets[label]`` is ``[(text, path_prefix)]``,
    the text banned on every URL starting with ``path_prefix`` ("" for all).
    Returns readable findings ([] when nothing leaked)."""
    found = []
    for who, email in people.items():
        client = app.test_client()
        if email:
            login(client, email)
        for url in urls:
            resp = client.get(url, follow_redirects=True)
            body = _readable(resp)
            for text, prefix in secrets.get(who, []):
                if url.startswith(prefix) and text in body:
                    found.append(f"{who} got {text!r} from {url} ({resp.status_code})")
    return found


def sees(app, email: str, url: str) -> str:
    """What ``email`` (an insider) gets from ``url``: the positive control of :func:`leaks`."""
    client = app.test_client()
    login(client, email)
    resp = client.get(url, follow_redirects=True)
    assert resp.status_code == 200, (url, resp.status_code)
    return _readable(resp)
