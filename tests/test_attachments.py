"""Attachments of practices and lessons (issue #4): checked by content, at
most 10 MB, stored outside the static folder under a random name, served as
downloads only to those who may see the item."""

from __future__ import annotations

import io
import os
import zipfile

from sqlalchemy import select

from portal.extensions import db
from portal.models import Attachment, AuditEvent
from portal.services.items import SYSTEM, save_item

from .conftest import csrf_token

PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def docx_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("_rels/.rels", "<Relationships/>")
        z.writestr("word/document.xml", "<w:document/>")
    return buf.getvalue()


def upload(client, path, data: bytes, name: str):
    return client.post(path + "/bijlagen", content_type="multipart/form-data",
                       data={"csrf_token": csrf_token(client, path), "bijlage": (io.BytesIO(data), name)})


def make(app, title, status="draft"):
    with app.app_context():
        return save_item(SYSTEM, "practice", {"title": title, "municipality": "Delft", "status": status}, "tekst").slug


def test_upload_download_remove(app, client_for):
    slug = make(app, "Werkwijze met bijlage")
    path = f"/werkwijzen/{slug}"
    contributor = client_for(app, "bijdrager@delft.example.org")
    assert upload(contributor, path, PDF, "../../Plan van aanpak.pdf").status_code == 302
    assert upload(contributor, path, docx_bytes(), "verslag.docx").status_code == 302
    with app.app_context():
        rows = db.session.scalars(select(Attachment).order_by(Attachment.id)).all()
        assert [(r.filename, r.content_type) for r in rows] == [
            ("Plan van aanpak.pdf", "application/pdf"),
            ("verslag.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document")]
        stored = os.path.join(app.instance_path, "attachments", rows[0].stored_name)
        first_id = rows[0].id
        assert "attachment.add" in db.session.scalars(select(AuditEvent.action)).all()
    assert len(rows[0].stored_name) == 32 and "aanpak" not in rows[0].stored_name
    assert not stored.startswith(os.path.join(os.path.dirname(__file__), "..", "portal", "static"))
    with open(stored, "rb") as fh:
        assert fh.read() == PDF
    html = contributor.get(path).get_data(as_text=True)
    assert "Plan van aanpak.pdf" in html and "verslag.docx" in html

    resp = contributor.get(f"{path}/bijlagen/{first_id}")
    assert resp.status_code == 200 and resp.data == PDF
    assert resp.headers["Content-Type"] == "application/pdf"
    assert resp.headers["Content-Disposition"].startswith("attachment;")
    assert "no-store" in resp.headers["Cache-Control"]  # a draft's file

    # a draft's files are as hidden as the draft
    assert app.test_client().get(f"{path}/bijlagen/{first_id}").status_code == 404
    assert client_for(app, "bijdrager@utrecht.example.org").get(f"{path}/bijlagen/{first_id}").status_code == 404

    # remove: row and file go
    resp = contributor.post(f"{path}/bijlagen/{first_id}/verwijderen", data={"csrf_token": csrf_token(contributor, path)})
    assert resp.status_code == 302
    assert not os.path.exists(stored)
    assert contributor.get(f"{path}/bijlagen/{first_id}").status_code == 404


def test_content_not_name_decides_and_size_is_limited(app, client_for):
    slug = make(app, "Werkwijze met foute bijlagen")
    path = f"/werkwijzen/{slug}"
    contributor = client_for(app, "bijdrager@delft.example.org")
    html_as_pdf = b"<html><script>alert(1)</script></html>"
    resp = upload(contributor, path, html_as_pdf, "echt.pdf")
    assert resp.status_code == 303
    page = contributor.get(path).get_data(as_text=True)
    assert "Bijlage niet toegevoegd" in page and "aan de inhoud" in page
    assert upload(contributor, path, b"MZ\x90\x00" + b"\x00" * 60, "foto.png").status_code == 303
    assert upload(contributor, path, b"", "leeg.pdf").status_code == 303
    too_big = PDF + b"0" * (10 * 1024 * 1024)
    assert upload(contributor, path, too_big, "groot.pdf").status_code == 303
    assert "groter dan 10 MB" in contributor.get(path).get_data(as_text=True)
    # a PNG named .pdf is stored as what it is
    assert upload(contributor, path, PNG, "plaatje.pdf").status_code == 302
    with app.app_context():
        rows = db.session.scalars(select(Attachment)).all()
        assert [(r.filename, r.content_type) for r in rows] == [("plaatje.png", "image/png")]
    assert os.listdir(os.path.join(app.instance_path, "attachments")) == [rows[0].stored_name]


def test_who_may_attach_and_download(app, client_for):
    slug = make(app, "Gepubliceerde werkwijze met bijlage", status="published")
    path = f"/werkwijzen/{slug}"
    contributor = client_for(app, "bijdrager@delft.example.org")
    # on a published item only those who may publish it add files (changes are reviewed)
    assert upload(contributor, path, PDF, "a.pdf").status_code == 403
    member = client_for(app, "lid@delft.example.org")
    assert upload(member, path, PDF, "a.pdf").status_code == 403
    curator = client_for(app, "curator@delft.example.org")
    assert upload(curator, path, PDF, "a.pdf").status_code == 302
    with app.app_context():
        att_id = db.session.scalar(select(Attachment.id))
    anon = app.test_client()
    resp = anon.get(f"{path}/bijlagen/{att_id}")
    assert resp.status_code == 200 and resp.data == PDF  # a public item's file is public
    assert anon.post(f"{path}/bijlagen/{att_id}/verwijderen").status_code == 400  # no CSRF token
    resp = anon.post(f"{path}/bijlagen/{att_id}/verwijderen", data={"csrf_token": csrf_token(anon, "/inloggen")})
    assert resp.status_code == 302 and "/inloggen" in resp.headers["Location"]
    assert contributor.post(f"{path}/bijlagen/{att_id}/verwijderen",
                            data={"csrf_token": csrf_token(contributor, path)}).status_code == 403
    # profiles take no attachments
    with app.app_context():
        prof = save_item(SYSTEM, "profile", {"title": "Ayse", "municipality": "Delft", "consent": "2024-01-01"}, "x").slug
    assert upload(curator, f"/sleutelfiguren/{prof}", PDF, "a.pdf").status_code == 403


def test_files_of_a_municipality_only_item_stay_in_that_municipality(app, client_for):
    with app.app_context():
        slug = save_item(SYSTEM, "practice", {"title": "Alleen voor Delft", "municipality": "Delft",
                                              "visibility": "municipality"}, "tekst").slug
    path = f"/werkwijzen/{slug}"
    curator = client_for(app, "curator@delft.example.org")
    assert upload(curator, path, PDF, "intern.pdf").status_code == 302
    with app.app_context():
        att_id = db.session.scalar(select(Attachment.id))
    assert client_for(app, "lid@delft.example.org").get(f"{path}/bijlagen/{att_id}").status_code == 200
    assert client_for(app, "bijdrager@utrecht.example.org").get(f"{path}/bijlagen/{att_id}").status_code == 404
    assert app.test_client().get(f"{path}/bijlagen/{att_id}").status_code == 404
