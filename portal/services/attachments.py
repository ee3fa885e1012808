"""Attachments of practices and lessons (issue #4).

Accepted are PDF, ODT, DOCX, PNG and JPEG files of at most 10 MB, recognised
by their content (the ``filetype`` library reads the magic bytes and, for ODT
and DOCX, the zip container), never by their name. The bytes are stored in
``ATTACHMENTS_DIR`` (default ``<instance>/attachments``, outside the static
folder) under a random name and served only as downloads, through
``permissions.can_view``. The database row is committed only after the file
is safely on disk; a failed commit removes the file again.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import unicodedata
from typing import Any, BinaryIO

import filetype
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from .. import permissions
from ..database import begin_write
from ..errors import NotFound, PermissionDenied, ValidationFailed
from ..extensions import db
from ..models import Attachment, Item
from .common import audit

MAX_BYTES = 10 * 1024 * 1024
#: MIME type found in the content -> extension of the stored download
ALLOWED = {
    "application/pdf": "pdf",
    "application/vnd.oasis.opendocument.text": "odt",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "image/png": "png",
    "image/jpeg": "jpg",
}
FIELD = "bijlage"


def storage_dir() -> str:
    """Folder of the stored files (made when missing)."""
    path = current_app.config.get("ATTACHMENTS_DIR") or os.path.join(current_app.instance_path, "attachments")
    os.makedirs(path, exist_ok=True)
    return path


def clean_filename(name: str, extension: str) -> str:
    """A display name safe in a ``Content-Disposition`` header: the base
    name without folders or control characters, ending in ``extension``."""
    base = os.path.basename((name or "").replace("\\", "/"))
    base = unicodedata.normalize("NFC", base)
    base = re.sub(r"[\x00-\x1f\x7f\"/;]", "", base).strip(" .") or "bijlage"
    stem = base.rsplit(".", 1)[0] if "." in base else base
    return f"{stem[:200]}.{extension}"


def attachments_of(user: Any, item: Item) -> list[Attachment]:
    """Attachments of ``item`` when ``user`` may see the item, oldest first."""
    if not permissions.can_view(user, item):
        return []
    return list(db.session.scalars(select(Attachment).where(Attachment.item_id == item.id)
                                   .order_by(Attachment.id)))


def add_attachment(actor: Any, item: Item, stream: BinaryIO | None, filename: str) -> Attachment:
    """Store one uploaded file for ``item``. Raises ``PermissionDenied`` or
    ``ValidationFailed({"bijlage": [...]})`` (no file, too large, type not
    allowed); nothing is written then."""
    if not permissions.can_attach(actor, item):
        raise PermissionDenied(_("U mag aan dit item geen bijlagen toevoegen."))
    data = stream.read(MAX_BYTES + 1) if stream is not None else b""
    mime = check_content(data)
    stored, path = store_bytes(data)
    try:
        begin_write()
        att = Attachment(item_id=item.id, filename=clean_filename(filename, ALLOWED[mime]), stored_name=stored,
                         content_type=mime, size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                         uploaded_by=getattr(actor, "id", None))
        db.session.add(att)
        audit(actor, "attachment.add", f"{item.type}/{item.slug}", filename=att.filename, size=len(data))
        db.session.commit()
    except BaseException:
        db.session.rollback()
        os.unlink(path)
        raise
    return att


def check_content(data: bytes) -> str:
    """The MIME type of an attachment's bytes, recognised by content (never by
    name); ``ValidationFailed({"bijlage": [...]})`` when empty, larger than
    ``MAX_BYTES`` or not one of ``ALLOWED``. The one check for uploads and
    for ``portal import`` alike."""
    if not data:
        raise ValidationFailed({FIELD: [_("Kies een bestand om toe te voegen.")]})
    if len(data) > MAX_BYTES:
        raise ValidationFailed({FIELD: [_("Het bestand is groter dan 10 MB.")]})
    kind = filetype.guess(data)
    mime = kind.mime if kind is not None else ""
    if mime not in ALLOWED:
        raise ValidationFailed({FIELD: [_("Dit soort bestand kan niet als bijlage: alleen PDF, ODT, DOCX, PNG of "
                                          "JPEG (gecontroleerd aan de inhoud, niet aan de naam).")]})
    return mime


def store_bytes(data: bytes) -> tuple[str, str]:
    """Write ``data`` under a new random name in ``storage_dir()`` (fsynced,
    renamed into place); returns ``(stored name, path)``. The caller removes
    the file again when its transaction fails."""
    stored = secrets.token_hex(16)
    path = os.path.join(storage_dir(), stored)
    tmp = path + ".part"
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return stored, path


def get_attachment(user: Any, item: Item, attachment_id: int) -> tuple[Attachment, str]:
    """``(attachment, path on disk)`` when ``user`` may see ``item``; ``NotFound`` otherwise."""
    att = db.session.get(Attachment, attachment_id)
    if att is None or att.item_id != item.id or not permissions.can_view(user, item):
        raise NotFound(_("Deze bijlage bestaat niet of u mag haar niet zien."))
    path = os.path.join(storage_dir(), att.stored_name)
    if not os.path.isfile(path):
        raise NotFound(_("Het bestand van deze bijlage ontbreekt."))
    return att, path


def remove_attachment(actor: Any, item: Item, attachment_id: int) -> None:
    """Delete an attachment (row first, then the file)."""
    begin_write()
    att = db.session.get(Attachment, attachment_id)
    if att is None or att.item_id != item.id:
        raise NotFound(_("Deze bijlage bestaat niet."))
    if not permissions.can_attach(actor, item):
        raise PermissionDenied(_("U mag bijlagen van dit item niet verwijderen."))
    stored = att.stored_name
    db.session.delete(att)
    audit(actor, "attachment.remove", f"{item.type}/{item.slug}", filename=att.filename)
    db.session.commit()
    try:
        os.unlink(os.path.join(storage_dir(), stored))
    except FileNotFoundError:
        pass
