"""Attachments travel with the content format (issue #4): ``portal export``
writes each item's files beside it and lists them under the added
front-matter key ``attachments``; ``portal import`` reads them back with the
upload's own checks (content type, 10 MB), in the item's transaction."""

from __future__ import annotations

import hashlib
import io
import os
import textwrap
import zipfile
from pathlib import Path

import frontmatter
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Attachment, Item
from portal.services import attachments as attachment_service
from portal.services.items import SYSTEM, save_item

PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 120  # a Windows program


def docx_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("_rels/.rels", "<Relationships/>")
        z.writestr("word/document.xml", "<w:document/>")
    return buf.getvalue()


def write(folder: Path, rel: str, content: str | bytes) -> Path:
    path = folder / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(textwrap.dedent(content).lstrip(), encoding="utf-8")
    return path


def stored_files(app) -> list[str]:
    with app.app_context():
        folder = attachment_service.storage_dir()
    return sorted(os.listdir(folder))


def attachments_by_item(app) -> dict[str, list[tuple[str, str, bytes]]]:
    """slug -> [(name, MIME type, bytes)] in upload order, read through the storage."""
    out: dict[str, list[tuple[str, str, bytes]]] = {}
    with app.app_context():
        folder = attachment_service.storage_dir()
        for att in db.session.scalars(select(Attachment).order_by(Attachment.id)):
            with open(os.path.join(folder, att.stored_name), "rb") as fh:
                out.setdefault(att.item.slug, []).append((att.filename, att.content_type, fh.read()))
    return out


def test_round_trip_keeps_attachment_bytes_and_names(empty_app, tmp_path, client_for):
    from .conftest import make_app

    source = empty_app
    with source.app_context():
        plan = save_item(SYSTEM, "practice", {"title": "Buurtvaders", "municipality": "Delft"}, "Tekst.")
        les = save_item(SYSTEM, "lesson", {"title": "Te snel begonnen"}, "Les.")
        save_item(SYSTEM, "practice", {"title": "Zonder bijlagen"}, "Niets.")
        for item, data, name in ((plan, PDF, "plan.pdf"), (plan, PNG, "foto.png"), (plan, PDF, "plan.pdf"),
                                 (les, docx_bytes(), "verslag.docx")):
            attachment_service.add_attachment(SYSTEM, item, io.BytesIO(data), name)
    out = tmp_path / "export"
    result = source.test_cli_runner().invoke(args=["export", str(out)])
    assert result.exit_code == 0, result.output
    meta = frontmatter.load(out / "practices" / "buurtvaders.md").metadata
    assert meta["attachments"] == ["buurtvaders/plan.pdf", "buurtvaders/foto.png", "buurtvaders/2-plan.pdf"]
    assert (out / "practices" / "buurtvaders" / "foto.png").read_bytes() == PNG
    assert frontmatter.load(out / "lessons" / "te-snel-begonnen.md").metadata["attachments"] == [
        "te-snel-begonnen/verslag.docx"]
    assert "attachments" not in frontmatter.load(out / "practices" / "zonder-bijlagen.md").metadata

    fresh = make_app(tmp_path / "fresh", content=False)
    result = fresh.test_cli_runner().invoke(args=["import", str(out)])
    assert result.exit_code == 0, result.output
    before, after = attachments_by_item(source), attachments_by_item(fresh)
    assert after["buurtvaders"] == [("plan.pdf", "application/pdf", PDF), ("foto.png", "image/png", PNG),
                                    ("2-plan.pdf", "application/pdf", PDF)]
    assert [(n, d) for n, _, d in after["buurtvaders"]] == [
        (n if i != 2 else "2-plan.pdf", d) for i, (n, _, d) in enumerate(before["buurtvaders"])]
    assert after["te-snel-begonnen"] == before["te-snel-begonnen"]
    with fresh.app_context():
        assert "attachments" not in (db.session.scalar(select(Item).where(Item.slug == "buurtvaders")).extra or {})
    # the imported attachment is served like an uploaded one
    resp = client_for(fresh).get("/werkwijzen/buurtvaders")
    assert "plan.pdf" in resp.get_data(as_text=True)
    # importing again changes nothing: no new rows, no new files
    files = stored_files(fresh)
    result = fresh.test_cli_runner().invoke(args=["import", str(out)])
    assert result.exit_code == 0 and stored_files(fresh) == files
    assert attachments_by_item(fresh) == after


def test_a_bad_attachment_refuses_its_item_whole_and_names_the_file(empty_app, tmp_path):
    lib = tmp_path / "lib"
    write(lib, "practices/goed.md", "---\ntitle: Goed\nattachments: [goed/plan.pdf]\n---\nTekst.\n")
    write(lib, "practices/goed/plan.pdf", PDF)
    write(lib, "practices/vermomd.md", "---\ntitle: Vermomd\nattachments: [vermomd/plan.pdf, vermomd/programma.pdf]\n---\n")
    write(lib, "practices/vermomd/plan.pdf", PDF)
    write(lib, "practices/vermomd/programma.pdf", EXE)  # a program named .pdf
    write(lib, "practices/te-groot.md", "---\ntitle: Te groot\nattachments: [te-groot/groot.pdf]\n---\n")
    write(lib, "practices/te-groot/groot.pdf", PDF + b"0" * (attachment_service.MAX_BYTES + 1 - len(PDF)))
    write(lib, "practices/ontsnapt.md", "---\ntitle: Ontsnapt\nattachments: [../../geheim.pdf]\n---\n")
    write(tmp_path / "geheim.pdf", "", PDF)
    write(lib, "practices/weg.md", "---\ntitle: Weg\nattachments: [weg/bestaat-niet.pdf]\n---\n")
    write(lib, "practices/lijst.md", "---\ntitle: Lijst\nattachments: plan.pdf\n---\n")
    write(lib, "profiles/persoon.md", "---\ntitle: Persoon\nconsent: 2026-01-01\nattachments: [x.pdf]\n---\n")
    result = empty_app.test_cli_runner().invoke(args=["import", str(lib)])
    assert result.exit_code == 1
    out = result.output
    assert "programma.pdf" in out and "alleen PDF, ODT, DOCX, PNG of JPEG" in out
    assert "groot.pdf" in out and "groter dan 10 MB" in out
    assert "geheim.pdf" in out and "binnen de map van het item" in out
    assert "bestaat-niet.pdf" in out and "bestaat niet" in out
    assert "lijst.md" in out and "Verwacht een lijst van bestandsnamen" in out
    assert "persoon.md" in out and "Alleen werkwijzen en geleerde lessen kunnen bijlagen hebben" in out
    with empty_app.app_context():
        assert set(db.session.scalars(select(Item.slug))) == {"goed"}  # nothing else, not even half
        assert db.session.scalar(select(func.count(Attachment.id))) == 1
    assert len(stored_files(empty_app)) == 1  # no stray files of refused items


def test_exactly_ten_megabytes_is_accepted(empty_app, tmp_path):
    lib = tmp_path / "lib"
    write(lib, "lessons/groot.md", "---\ntitle: Groot\nattachments: [groot/precies.pdf]\n---\n")
    data = PDF + b"0" * (attachment_service.MAX_BYTES - len(PDF))
    write(lib, "lessons/groot/precies.pdf", data)
    result = empty_app.test_cli_runner().invoke(args=["import", str(lib)])
    assert result.exit_code == 0, result.output
    with empty_app.app_context():
        att = db.session.scalar(select(Attachment))
        assert att.size == 10 * 1024 * 1024 and att.sha256 == hashlib.sha256(data).hexdigest()


def test_reimport_replaces_the_list_and_a_file_without_the_key_leaves_them(empty_app, tmp_path):
    lib = tmp_path / "lib"
    md = write(lib, "practices/a.md", "---\ntitle: A\nattachments: [a/een.pdf, a/twee.png]\n---\nTekst.\n")
    write(lib, "practices/a/een.pdf", PDF)
    write(lib, "practices/a/twee.png", PNG)
    runner = empty_app.test_cli_runner()
    assert runner.invoke(args=["import", str(lib)]).exit_code == 0
    assert [n for n, _, _ in attachments_by_item(empty_app)["a"]] == ["een.pdf", "twee.png"]
    md.write_text("---\ntitle: A\nattachments: [a/twee.png]\n---\nTekst.\n", encoding="utf-8")
    result = runner.invoke(args=["import", str(lib)])
    assert result.exit_code == 0 and "1 bijgewerkt" in result.output, result.output
    assert [n for n, _, _ in attachments_by_item(empty_app)["a"]] == ["twee.png"]
    assert len(stored_files(empty_app)) == 1  # the removed file is gone from the storage too
    md.write_text("---\ntitle: A\n---\nTekst.\n", encoding="utf-8")
    assert runner.invoke(args=["import", str(lib)]).exit_code == 0
    assert [n for n, _, _ in attachments_by_item(empty_app)["a"]] == ["twee.png"]
