"""Issue #4: draft -> submitted -> returned -> resubmitted -> published, pending
changes of published items, history with diffs and restore, notifications,
the curator's dashboard, review dates, the audit log and the e-mail outbox.
Through the Flask test client, with the real database and the real index."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import select

from portal import search
from portal.extensions import db
from portal.models import (
    AuditEvent,
    Item,
    Municipality,
    Notification,
    OutboxMessage,
    Region,
    Revision,
    User,
)
from portal.services.items import (
    SYSTEM,
    add_months,
    completeness,
    front_matter,
    save_item,
    template_body,
)
from portal.services.library import create_user

from .conftest import PASSWORD, csrf_token

PRACTICE = {
    "title": "Buurtvaders in Tanthof",
    "summary": "Vaders uit de wijk lopen avondrondes en praten met jongeren.",
    "municipality": "Delft",
    "visibility": "public",
    "themes": ["jongeren"],
    "phase": ["onderhouden"],
    "evidence": "ervaring",
    "body": "## Aanpak\n\nDe buurtvaders zoeken contact met hangjongeren bij het winkelcentrum.",
    "action": "save",
}
SLUG = "buurtvaders-in-tanthof"
PAGE = f"/werkwijzen/{SLUG}"


def post(client, path, data=None, page="/"):
    return client.post(path, data=dict(data or {}, csrf_token=csrf_token(client, page)))


@pytest.fixture
def regions_app(app):
    """The test app with Delft and Utrecht in two regions and a curator in Utrecht."""
    with app.app_context():
        west, mid = Region(name="Haaglanden"), Region(name="Midden-Nederland")
        db.session.add_all([west, mid])
        db.session.scalar(select(Municipality).where(Municipality.name == "Delft")).region = west
        db.session.scalar(select(Municipality).where(Municipality.name == "Utrecht")).region = mid
        db.session.commit()
        create_user(SYSTEM, "curator@utrecht.example.org", "curator", name="curator-utrecht",
                    password=PASSWORD, municipality="Utrecht")
    return app


def notes_of(app, email):
    with app.app_context():
        uid = db.session.scalar(select(User.id).where(User.email == email))
        return db.session.scalars(select(Notification).where(Notification.user_id == uid)
                                  .order_by(Notification.id)).all()


def item_row(app, slug=SLUG):
    with app.app_context():
        item = db.session.scalar(select(Item).where(Item.slug == slug))
        db.session.expunge(item)
        return item


def slugs_found(app, text, user=None):
    with app.app_context():
        return [h.slug for h in search.search(user, text).hits]


def test_submit_return_resubmit_publish_then_pending_edit(regions_app, client_for):
    app = regions_app
    contributor = client_for(app, "bijdrager@delft.example.org")
    curator = client_for(app, "curator@delft.example.org")
    other_curator = client_for(app, "curator@utrecht.example.org")
    anon = app.test_client()

    # the editor starts from the practice template and says what is missing
    html = contributor.get("/nieuw/werkwijzen").get_data(as_text=True)
    for section in ("## Doel", "## Doelgroep", "## Werkzame elementen", "## Evaluatie"):
        assert section in html
    assert "Nog niet compleet" in html and "Sectie ‘Randvoorwaarden’" in html

    assert post(contributor, "/nieuw/werkwijzen", PRACTICE, "/nieuw/werkwijzen").status_code == 302
    assert item_row(app).status == "draft"

    # submit: the curators of the item's region hear of it, the other region's do not
    resp = post(contributor, PAGE + "/indienen", page=PAGE)
    assert resp.status_code == 302
    assert item_row(app).review_state == "submitted"
    delft_notes = notes_of(app, "curator@delft.example.org")
    assert [n.kind for n in delft_notes] == ["item.submitted"] and delft_notes[0].link == PAGE
    assert notes_of(app, "curator@utrecht.example.org") == []
    assert notes_of(app, "beheer@example.org") == []  # a curator of the region exists
    with app.app_context():
        assert db.session.scalar(select(OutboxMessage.to_address)) == "curator@delft.example.org"
    header = curator.get("/").get_data(as_text=True)
    assert re.search(r"Meldingen <span class=\"badge badge-count\">1<", header)
    assert "Buurtvaders in Tanthof" in curator.get("/meldingen").get_data(as_text=True)
    assert "Buurtvaders in Tanthof" in curator.get("/curatie").get_data(as_text=True)
    assert "Buurtvaders in Tanthof" not in other_curator.get("/curatie").get_data(as_text=True)

    # a curator of another region can neither publish nor return it
    assert post(other_curator, PAGE + "/publiceren", page="/").status_code == 404
    assert post(other_curator, PAGE + "/terugsturen", {"comment": "nee"}).status_code == 404
    assert item_row(app).status == "draft"

    # return: a comment is required; the typed text is kept when refused
    assert "Commentaar voor de auteur" in curator.get(PAGE + "/terugsturen").get_data(as_text=True)
    assert other_curator.get(PAGE + "/terugsturen").status_code == 404
    resp = post(curator, PAGE + "/terugsturen", {"comment": "   "}, PAGE + "/terugsturen")
    assert resp.status_code == 400 and "Schrijf bij het terugsturen" in resp.get_data(as_text=True)
    assert item_row(app).review_state == "submitted"
    comment = "Beschrijf de <resultaten> en de evaluatie."
    assert post(curator, PAGE + "/terugsturen", {"comment": comment}, PAGE + "/terugsturen").status_code == 302
    row = item_row(app)
    assert row.review_state == "returned" and row.review_comment == comment
    assert [n.kind for n in notes_of(app, "bijdrager@delft.example.org")] == ["item.returned"]
    page = contributor.get(PAGE).get_data(as_text=True)
    assert "Teruggestuurd" in page and "Beschrijf de &lt;resultaten&gt; en de evaluatie." in page
    assert "Beschrijf de &lt;resultaten&gt;" in contributor.get(PAGE + "/bewerken").get_data(as_text=True)

    # resubmit: the curator hears again
    assert post(contributor, PAGE + "/indienen", page=PAGE).status_code == 302
    assert item_row(app).review_state == "submitted"
    assert [n.kind for n in notes_of(app, "curator@delft.example.org")] == ["item.submitted", "item.submitted"]
    assert "Opnieuw ter beoordeling" in notes_of(app, "curator@delft.example.org")[-1].message

    # publish: searchable at once, the author hears of it
    assert post(curator, PAGE + "/publiceren", {"action": "publish"}, PAGE).status_code == 302
    row = item_row(app)
    assert row.status == "published" and row.review_state == "" and row.review_comment == ""
    assert SLUG in slugs_found(app, "buurtvaders")
    assert notes_of(app, "bijdrager@delft.example.org")[-1].kind == "item.published"

    # a second edit by the contributor waits; the first version stays live and searchable
    with app.app_context():
        version = db.session.scalar(select(Item.version).where(Item.slug == SLUG))
    edit = dict(PRACTICE, body="## Aanpak\n\nNu met wijkwandelingen op zaterdag. <script>alert(1)</script>",
                version=str(version))
    resp = post(contributor, PAGE + "/bewerken", edit, PAGE + "/bewerken")
    assert resp.status_code == 302
    row = item_row(app)
    assert "hangjongeren" in row.body and "wijkwandelingen" not in row.body and row.version == version
    assert "hangjongeren" in anon.get(PAGE).get_data(as_text=True)
    assert "wijkwandelingen" not in anon.get(PAGE).get_data(as_text=True)
    assert SLUG in slugs_found(app, "hangjongeren")
    assert SLUG not in slugs_found(app, "wijkwandelingen")
    with app.app_context():
        rev = db.session.scalar(select(Revision).where(Revision.state == "pending"))
        rev_id = rev.id
    assert notes_of(app, "curator@delft.example.org")[-1].link == f"/curatie/wijzigingen/{rev_id}"
    # the author continues from the pending text, not from the live one
    assert "wijkwandelingen" in contributor.get(PAGE + "/bewerken").get_data(as_text=True)

    # the curator sees the difference, escaped, and approves
    html = curator.get(f"/curatie/wijzigingen/{rev_id}").get_data(as_text=True)
    assert "wijkwandelingen" in html and "hangjongeren" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert" not in html
    assert post(other_curator, f"/curatie/wijzigingen/{rev_id}/goedkeuren").status_code == 404
    assert post(contributor, f"/curatie/wijzigingen/{rev_id}/goedkeuren").status_code == 403
    assert post(curator, f"/curatie/wijzigingen/{rev_id}/goedkeuren").status_code == 302
    row = item_row(app)
    assert "wijkwandelingen" in row.body and row.status == "published"
    assert SLUG in slugs_found(app, "wijkwandelingen")
    assert SLUG not in slugs_found(app, "hangjongeren")
    assert "wijkwandelingen" in anon.get(PAGE).get_data(as_text=True)
    assert notes_of(app, "bijdrager@delft.example.org")[-1].kind == "revision.approved"
    with app.app_context():
        actions = set(db.session.scalars(select(AuditEvent.action)))
    assert {"item.submit", "item.return", "item.resubmit", "item.publish", "revision.submit",
            "revision.approve"} <= actions


def _publish(app, title="Gepubliceerde werkwijze", body="Oude tekst over buurtvaders."):
    with app.app_context():
        item = save_item(SYSTEM, "practice", {"title": title, "municipality": "Delft"}, body)
        return item.slug


def test_returned_change_keeps_live_version_and_the_authors_text(regions_app, client_for):
    app = regions_app
    slug = _publish(app)
    path = f"/werkwijzen/{slug}"
    contributor = client_for(app, "bijdrager@delft.example.org")
    curator = client_for(app, "curator@delft.example.org")
    edit = {"title": "Gepubliceerde werkwijze", "municipality": "Delft", "body": "Mijn nieuwe alinea.",
            "action": "save"}
    assert post(contributor, path + "/bewerken", edit, path + "/bewerken").status_code == 302
    with app.app_context():
        rev_id = db.session.scalar(select(Revision.id).where(Revision.state == "pending"))
    resp = post(curator, f"/curatie/wijzigingen/{rev_id}/terugsturen", {"comment": ""})
    assert resp.status_code == 400
    with app.app_context():
        assert db.session.get(Revision, rev_id).state == "pending"
    resp = post(curator, f"/curatie/wijzigingen/{rev_id}/terugsturen", {"comment": "Graag een bron."})
    assert resp.status_code == 302
    assert item_row(app, slug).body == "Oude tekst over buurtvaders."
    assert notes_of(app, "bijdrager@delft.example.org")[-1].kind == "revision.returned"
    html = contributor.get(path + "/bewerken").get_data(as_text=True)
    assert "Graag een bron." in html and "Mijn nieuwe alinea." in html
    # saving again makes a new pending change
    assert post(contributor, path + "/bewerken", dict(edit, body="Met bron."), path + "/bewerken").status_code == 302
    with app.app_context():
        states = [r.state for r in db.session.scalars(select(Revision).join(Item).where(Item.slug == slug)
                                                          .order_by(Revision.number))]
    assert states == ["", "returned", "pending"]
    # a second save before review supersedes the first pending one
    assert post(contributor, path + "/bewerken", dict(edit, body="Met twee bronnen."),
                path + "/bewerken").status_code == 302
    with app.app_context():
        states = [r.state for r in db.session.scalars(select(Revision).join(Item).where(Item.slug == slug)
                                                          .order_by(Revision.number))]
    assert states == ["", "returned", "superseded", "pending"]


def test_history_diff_and_restore(regions_app, client_for):
    app = regions_app
    slug = _publish(app, body="Eerste versie <b>vet</b>.")
    path = f"/werkwijzen/{slug}"
    with app.app_context():
        item = db.session.scalar(select(Item).where(Item.slug == slug))
        save_item(SYSTEM, "practice", {"title": item.title, "municipality": "Delft"}, "Tweede versie.", item=item)
    curator = client_for(app, "curator@delft.example.org")
    html = curator.get(path + "/geschiedenis?van=1&naar=2").get_data(as_text=True)
    assert '<span class="diff-del">-Eerste versie &lt;b&gt;vet&lt;/b&gt;.</span>' in html
    assert '<span class="diff-add">+Tweede versie.</span>' in html
    # restore version 1: a new revision, version 3, with the old text
    assert post(curator, path + "/geschiedenis/1/terugzetten", page=path).status_code == 302
    row = item_row(app, slug)
    assert row.body == "Eerste versie <b>vet</b>." and row.status == "published"
    with app.app_context():
        revs = db.session.scalars(select(Revision).join(Item).where(Item.slug == slug).order_by(Revision.number)).all()
        assert [r.number for r in revs] == [1, 2, 3] and revs[-1].note == "hersteld uit versie 1"
    assert SLUG not in slugs_found(app, "tweede")
    # a contributor's restore of a published item waits for review
    contributor = client_for(app, "bijdrager@delft.example.org")
    assert post(contributor, path + "/geschiedenis/2/terugzetten", page=path).status_code == 302
    assert item_row(app, slug).body == "Eerste versie <b>vet</b>."
    with app.app_context():
        assert db.session.scalar(select(Revision.body).where(Revision.state == "pending")) == "Tweede versie."


def test_dashboard_review_due_and_still_right(regions_app, client_for):
    app = regions_app
    with app.app_context():
        save_item(SYSTEM, "practice", {"title": "Oude werkwijze", "municipality": "Delft",
                                       "review_due": "2020-01-01"}, "tekst")
    curator = client_for(app, "curator@delft.example.org")
    html = curator.get("/curatie").get_data(as_text=True)
    section = html.split('id="controle-kop"')[1].split("</section>")[0]
    assert "Oude werkwijze" in section
    other = client_for(app, "curator@utrecht.example.org")
    assert "Oude werkwijze" not in other.get("/curatie").get_data(as_text=True).split('id="controle-kop"')[1]
    assert post(other, "/werkwijzen/oude-werkwijze/nog-juist").status_code == 403
    assert post(curator, "/werkwijzen/oude-werkwijze/nog-juist", {"next": "dashboard"}).status_code == 302
    row = item_row(app, "oude-werkwijze")
    with app.app_context():
        today = db.session.scalar(select(AuditEvent.at).order_by(AuditEvent.id.desc())).date()
    assert row.reviewed == today and row.review_due == add_months(today, 12)
    section = curator.get("/curatie").get_data(as_text=True).split('id="controle-kop"')[1].split("</section>")[0]
    assert "Oude werkwijze" not in section


def test_archive_leaves_search_and_exports_a_valid_status(regions_app, client_for):
    app = regions_app
    slug = _publish(app, title="Te archiveren werkwijze", body="Uniekwoord zebrapad.")
    assert slug in slugs_found(app, "zebrapad")
    curator = client_for(app, "curator@delft.example.org")
    assert post(curator, f"/werkwijzen/{slug}/archiveren").status_code == 302
    assert slug not in slugs_found(app, "zebrapad")
    assert app.test_client().get(f"/werkwijzen/{slug}").status_code == 404
    with app.app_context():
        item = db.session.scalar(select(Item).where(Item.slug == slug))
        assert item.review_state == "archived" and front_matter(item)["status"] == "draft"


def test_anonymous_and_outsiders_never_reach_the_new_pages(regions_app, client_for):
    app = regions_app
    slug = _publish(app)
    with app.app_context():
        rev_id = db.session.scalar(select(Revision.id))
    anon = app.test_client()
    gets = ["/curatie", "/meldingen", "/beheer/logboek", f"/werkwijzen/{slug}/geschiedenis",
            f"/curatie/wijzigingen/{rev_id}", f"/werkwijzen/{slug}/terugsturen"]
    for path in gets:
        resp = anon.get(path)
        assert resp.status_code == 302 and "/inloggen" in resp.headers["Location"], path
    posts = [f"/werkwijzen/{slug}/indienen", f"/werkwijzen/{slug}/archiveren", f"/werkwijzen/{slug}/nog-juist",
             f"/werkwijzen/{slug}/geschiedenis/1/terugzetten", f"/curatie/wijzigingen/{rev_id}/goedkeuren",
             f"/curatie/wijzigingen/{rev_id}/terugsturen", "/meldingen/gelezen", "/meldingen/1/openen"]
    for path in posts:
        assert anon.post(path).status_code == 400, path  # no CSRF token
        resp = post(anon, path, {"comment": "x"}, "/inloggen")
        assert resp.status_code == 302 and "/inloggen" in resp.headers["Location"], path
    assert item_row(app, slug).status == "published"

    member = client_for(app, "lid@delft.example.org")
    for path in ("/curatie", "/beheer/logboek", f"/werkwijzen/{slug}/geschiedenis", f"/curatie/wijzigingen/{rev_id}"):
        assert member.get(path).status_code in (403, 404), path
    assert post(member, f"/werkwijzen/{slug}/archiveren").status_code == 403
    # a contributor of another municipality: no history, no drafts of Delft
    utrecht = client_for(app, "bijdrager@utrecht.example.org")
    assert utrecht.get(f"/werkwijzen/{slug}/geschiedenis").status_code == 403
    assert utrecht.get(f"/curatie/wijzigingen/{rev_id}").status_code == 404
    assert post(utrecht, f"/werkwijzen/{slug}/geschiedenis/1/terugzetten").status_code == 403
    # curators read no audit log; admins do, paged and filtered
    assert client_for(app, "curator@delft.example.org").get("/beheer/logboek").status_code == 403
    admin = client_for(app, "beheer@example.org")
    html = admin.get("/beheer/logboek?actie=item.create").get_data(as_text=True)
    assert "item.create" in html and "user.create" not in html.split("<tbody>")[1]
    assert admin.get("/beheer/logboek?pagina=999").status_code == 200


def test_notifications_are_private_and_can_be_read(regions_app, client_for):
    app = regions_app
    contributor = client_for(app, "bijdrager@delft.example.org")
    post(contributor, "/nieuw/werkwijzen", PRACTICE, "/nieuw/werkwijzen")
    post(contributor, PAGE + "/indienen", page=PAGE)
    note = notes_of(app, "curator@delft.example.org")[0]
    # someone else's notification does not exist for you
    assert post(contributor, f"/meldingen/{note.id}/openen").status_code == 404
    curator = client_for(app, "curator@delft.example.org")
    resp = post(curator, f"/meldingen/{note.id}/openen")
    assert resp.status_code == 302 and resp.headers["Location"].endswith(PAGE)
    assert notes_of(app, "curator@delft.example.org")[0].read_at is not None
    assert "badge-count" not in curator.get("/").get_data(as_text=True)


def test_send_mail_only_where_smtp_is_configured(regions_app, client_for):
    app = regions_app
    contributor = client_for(app, "bijdrager@delft.example.org")
    post(contributor, "/nieuw/werkwijzen", PRACTICE, "/nieuw/werkwijzen")
    post(contributor, PAGE + "/indienen", page=PAGE)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["send-mail"])
    assert result.exit_code == 0 and "niet ingesteld" in result.output
    with app.app_context():
        assert db.session.scalar(select(OutboxMessage.sent_at)) is None

    from aiosmtpd.controller import Controller

    received = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            received.append(envelope)
            return "250 OK"

    import socket

    with socket.socket() as probe:  # a free port (aiosmtpd's start() cannot use port 0)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=str(port), MAIL_FROM="portal@example.org")
        result = runner.invoke(args=["send-mail"])
    finally:
        controller.stop()
    assert result.exit_code == 0, result.output
    assert "Verstuurd: 1" in result.output
    assert [e.rcpt_tos for e in received] == [["curator@delft.example.org"]]
    assert b"Buurtvaders in Tanthof" in received[0].content
    with app.app_context():
        assert db.session.scalar(select(OutboxMessage.sent_at)) is not None
    result = runner.invoke(args=["send-mail"])  # nothing twice
    assert "Verstuurd: 0" in result.output


def test_completeness_and_templates():
    body = template_body("lesson")
    assert body.split("\n\n")[:4] == ["## Situatie", "## Wat er gebeurde", "## Les", "## Aanbeveling"]
    empty = completeness("lesson", {}, body)
    assert "Sectie ‘Les’" in empty["missing"] and "Samenvatting" in empty["missing"]
    full_body = "## Situatie\n\nA\n\n## Wat er gebeurde\n\nB\n\n## Les\n\nC\n\n## Aanbeveling\n\nD\n"
    full = completeness("lesson", {"summary": "s", "themes": ["jongeren"], "phase": ["opzetten"]}, full_body)
    assert full["missing"] == [] and full["done"] == full["total"]
    assert "Erkenningsniveau" in completeness("practice", {}, template_body("practice"))["missing"]


def test_add_months_clips_to_month_end():
    assert add_months(date(2024, 2, 29), 12) == date(2025, 2, 28)
    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)
    assert add_months(date(2026, 1, 15), 12) == date(2027, 1, 15)


def test_two_pending_edits_at_once_end_in_a_conflict_with_nothing_lost(regions_app, client_for):
    app = regions_app
    slug = _publish(app)
    path = f"/werkwijzen/{slug}"
    first = client_for(app, "bijdrager@delft.example.org")
    second = client_for(app, "bijdrager@delft.example.org")  # another window
    form_html = {c: c.get(path + "/bewerken").get_data(as_text=True) for c in (first, second)}

    def submit(client, body):
        html = form_html[client]
        fields = dict(re.findall(r'<input type="hidden" name="(csrf_token|version|change)" value="([^"]*)"', html))
        assert "change" in fields and fields["change"] == ""
        return client.post(path + "/bewerken", data=dict(fields, title="Gepubliceerde werkwijze",
                                                         municipality="Delft", body=body, action="save"))

    assert submit(first, "Tekst uit het eerste venster.").status_code == 302
    resp = submit(second, "Tekst uit het tweede venster.")
    assert resp.status_code == 409
    html = resp.get_data(as_text=True)
    assert "Tekst uit het tweede venster." in html and "Tekst uit het eerste venster." in html
    with app.app_context():
        pending = db.session.scalars(select(Revision).where(Revision.state == "pending")).all()
        assert [r.body for r in pending] == ["Tekst uit het eerste venster."]
        first_id = pending[0].id
    # saving again from the conflict page is a deliberate choice and works
    assert f'name="change" value="{first_id}"' in html
    assert submit_again(second, path, html, "Samengevoegde tekst.").status_code == 302
    assert item_row(app, slug).body == "Oude tekst over buurtvaders."  # still the live version


def submit_again(client, path, html, body):
    fields = dict(re.findall(r'<input type="hidden" name="(csrf_token|version|change)" value="([^"]*)"', html))
    return client.post(path + "/bewerken", data=dict(fields, title="Gepubliceerde werkwijze",
                                                     municipality="Delft", body=body, action="save"))
