"""The content interchange format (``shared/content-format.md``): reading a
library folder into validated records, and writing items back as files.

Reading never stops at the first bad file: every file is parsed and checked
on its own, and every problem is reported with the file's path, the line
where known, the key and what is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import frontmatter
import yaml

from .errors import ValidationFailed
from .taxonomy import EXTENSIBLE
from .validation import SLUG_RE, Vocabulary, clean_text, validate_item

FOLDERS = {"practices": "practice", "profiles": "profile", "lessons": "lesson"}


class _FrontMatterLoader(yaml.SafeLoader):
    """SafeLoader without YAML's implicit timestamps: dates stay text here and
    are checked by the validator, so ``date: 2026-13-45`` is reported in Dutch
    on its own key and line, next to the file's other problems, instead of
    making the whole front matter unreadable."""


_FrontMatterLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _refuse_aliases(loader, parent, index):
    # Anchors and aliases (&a / *a) are not needed in front matter and allow
    # a few hundred bytes to expand to gigabytes ("billion laughs").
    if loader.check_event(yaml.AliasEvent):
        event = loader.peek_event()
        raise yaml.composer.ComposerError(None, None, "verwijzingen (*naam) zijn niet toegestaan", event.start_mark)
    return yaml.SafeLoader.compose_node(loader, parent, index)


_FrontMatterLoader.compose_node = _refuse_aliases  # type: ignore[assignment]

MAX_FILE_BYTES = 2 * 1024 * 1024


class _Handler(frontmatter.YAMLHandler):
    def load(self, fm, **kwargs):
        return yaml.load(fm, Loader=_FrontMatterLoader)  # noqa: S506  # nosec B506 - a SafeLoader subclass
FOLDER_OF = {v: k for k, v in FOLDERS.items()}


@dataclass
class FileProblem:
    """One thing wrong with one file."""

    path: str
    message: str
    key: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = self.path + (f":{self.line}" if self.line else "")
        return f"{where}: {self.key + ': ' if self.key else ''}{self.message}"


@dataclass
class Record:
    """A valid file, ready to be written: type, slug, clean fields, unknown
    keys, Markdown body and the raw front matter (for messages)."""

    path: str
    type: str
    slug: str
    fields: dict[str, Any]
    extra: dict[str, Any]
    body: str
    raw: dict[str, Any] = field(default_factory=dict)
    #: ``attachments`` of the front matter, checked: ``[(display name, bytes, MIME type)]``;
    #: ``None`` when the file has no such key (the item's attachments are then left alone).
    attachments: list[tuple[str, bytes, str]] | None = None


def read_taxonomy(folder: Path) -> tuple[dict[str, dict[str, tuple[str, str]]], list[FileProblem]]:
    """Read ``taxonomy.yaml`` if present: ``{kind: {key: (nl, en)}}``.

    Accepted shapes per list (``themes``, ``target_groups``, ``key_figure_types``):
    a mapping ``key: {nl: ..., en: ...}`` or ``key: label``, or a list of keys
    or of ``{key, nl, en}`` mappings.
    """
    path = folder / "taxonomy.yaml"
    if not path.exists():
        return {}, []
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        line = exc.problem_mark.line + 1 if getattr(exc, "problem_mark", None) else None
        return {}, [FileProblem(str(path), f"Geen geldige YAML: {getattr(exc, 'problem', exc)}", line=line)]
    except UnicodeDecodeError:
        return {}, [FileProblem(str(path), "Het bestand is geen UTF-8-tekst.")]
    if not isinstance(data, dict):
        return {}, [FileProblem(str(path), "Verwacht een lijst per soort (themes, target_groups, key_figure_types).")]
    out: dict[str, dict[str, tuple[str, str]]] = {}
    problems: list[FileProblem] = []
    for file_key, value in data.items():
        kind = EXTENSIBLE.get(file_key)
        if kind is None:
            continue  # unknown sections are ignored, like unknown front-matter keys
        entries: list[tuple[str, Any]] = []
        if isinstance(value, dict):
            entries = list(value.items())
        elif isinstance(value, list):
            for v in value:
                if isinstance(v, dict) and "key" in v:
                    entries.append((v["key"], v))
                else:
                    entries.append((v, None))
        else:
            problems.append(FileProblem(str(path), "Verwacht een lijst of tabel.", key=file_key))
            continue
        for key, labels in entries:
            key = str(key).strip()
            if not SLUG_RE.match(key):
                problems.append(FileProblem(str(path), f"'{key}' is geen geldige sleutel (kleine letters, cijfers, streepjes).", key=file_key))
                continue
            if isinstance(labels, dict):
                nl, en = str(labels.get("nl") or key), str(labels.get("en") or labels.get("nl") or key)
            else:
                nl = en = str(labels or key)
            out.setdefault(kind, {})[key] = (nl, en)
    return out, problems


def _key_lines(text: str) -> dict[str, int]:
    """Line number (1-based, in the whole file) of each top-level front-matter key."""
    lines: dict[str, int] = {}
    for n, line in enumerate(text.splitlines(), start=1):
        if n > 1 and line.strip() == "---":
            break
        m = re.match(r"^([A-Za-z_][\w-]*)\s*:", line)
        if m and m.group(1) not in lines:
            lines[m.group(1)] = n
    return lines


def library_files(folder: Path) -> list[Path]:
    """The item files of a library folder, in a stable order."""
    files: list[Path] = []
    for sub in FOLDERS:
        d = folder / sub
        if d.is_dir():
            files += sorted(p for p in d.glob("*.md") if p.is_file())
    return files


def read_file(path: Path, vocab: Vocabulary) -> tuple[Record | None, list[FileProblem]]:
    """Parse and validate one item file; returns the record or the problems."""
    spath = str(path)
    if path.stat().st_size > MAX_FILE_BYTES:
        return None, [FileProblem(spath, f"Het bestand is groter dan {MAX_FILE_BYTES // (1024 * 1024)} MB.")]
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None, [FileProblem(spath, "Het bestand is geen UTF-8-tekst.")]
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.lstrip().startswith("---"):
        return None, [FileProblem(spath, "Het bestand begint niet met front matter tussen '---'-regels.", line=1)]
    try:
        post = frontmatter.loads(text, handler=_Handler())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark else None  # +1 for 1-based, +1 for the opening ---
        return None, [FileProblem(spath, f"De front matter is geen geldige YAML: {getattr(exc, 'problem', None) or exc}", line=line)]
    except Exception as exc:  # frontmatter raises plain errors for odd delimiters
        return None, [FileProblem(spath, f"De front matter kan niet gelezen worden: {exc}", line=1)]
    meta = dict(post.metadata)
    lines = _key_lines(text)
    if not isinstance(post.metadata, dict) or any(not isinstance(k, str) for k in meta):
        return None, [FileProblem(spath, "Elke sleutel in de front matter moet tekst zijn.", line=1)]

    folder_type = FOLDERS.get(path.parent.name)
    item_type = meta.get("type") or folder_type
    if item_type not in FOLDER_OF:
        return None, [FileProblem(spath, f"Onbekend type '{item_type}': kies practice, profile of lesson.", key="type", line=lines.get("type"))]
    slug = meta.get("slug") or path.stem
    if not isinstance(slug, str) or not SLUG_RE.match(slug):
        return None, [FileProblem(spath, f"'{slug}' is geen geldige korte naam: alleen kleine letters a-z, cijfers en streepjes.", key="slug", line=lines.get("slug"))]
    try:
        result = validate_item(meta, item_type, vocab, body=post.content)
    except ValidationFailed as exc:
        return None, [FileProblem(spath, msg, key=key, line=lines.get(key))
                      for key, msgs in exc.errors.items() for msg in msgs]
    fields = result["fields"]
    fields["slug"] = slug
    if item_type == "profile" and not fields.get("consent"):
        fields["status"] = "draft"  # the format: no consent -> imported as a draft
    attachments, problems = read_attachments(path, item_type, result["extra"].pop(ATTACHMENTS_KEY, None),
                                             lines.get(ATTACHMENTS_KEY))
    if problems:
        return None, problems
    return Record(spath, item_type, slug, fields, result["extra"], clean_text(post.content), meta,
                  attachments), []


# -- attachments (a key this portal adds to the format) -------------------------------
#: Front-matter key: a list of paths, relative to the item's file, of its attachments,
#: e.g. ``attachments: [buurtvaders/plan.pdf]`` for ``practices/buurtvaders/plan.pdf``.
ATTACHMENTS_KEY = "attachments"
ATTACHMENT_TYPES = ("practice", "lesson")
MAX_ATTACHMENTS = 50


def read_attachments(path: Path, item_type: str, entries: Any,
                     line: int | None) -> tuple[list[tuple[str, bytes, str]] | None, list[FileProblem]]:
    """Check the ``attachments`` of the item file ``path``: each a file inside
    the item's folder, of at most 10 MB, of a type recognised by its content
    (``portal.services.attachments.check_content``, the upload's own check).
    Returns ``([(display name, bytes, MIME type)], [])``, ``(None, [])`` when
    the key is absent, or ``(None, problems)`` naming each bad file."""
    if entries is None:
        return None, []
    from .services.attachments import MAX_BYTES, check_content, clean_filename, ALLOWED

    spath = str(path)

    def problem(message: str) -> FileProblem:
        return FileProblem(spath, message, key=ATTACHMENTS_KEY, line=line)

    if item_type not in ATTACHMENT_TYPES:
        return None, [problem("Alleen werkwijzen en geleerde lessen kunnen bijlagen hebben.")]
    if not isinstance(entries, list) or not all(isinstance(e, str) and e.strip() for e in entries):
        return None, [problem("Verwacht een lijst van bestandsnamen, bijvoorbeeld [mijn-werkwijze/plan.pdf].")]
    if len(entries) > MAX_ATTACHMENTS:
        return None, [problem(f"Hoogstens {MAX_ATTACHMENTS} bijlagen per item.")]
    base = path.parent.resolve()
    found: list[tuple[str, bytes, str]] = []
    problems: list[FileProblem] = []
    for entry in entries:
        target = (path.parent / entry.strip())
        try:
            resolved = target.resolve()
        except (OSError, RuntimeError):
            resolved = None
        if (resolved is None or Path(entry).is_absolute() or not resolved.is_relative_to(base)
                or resolved == base):
            problems.append(problem(f"Bijlage '{entry}': het pad moet binnen de map van het item blijven."))
            continue
        if not resolved.is_file():
            problems.append(problem(f"Bijlage '{entry}': dit bestand bestaat niet."))
            continue
        if resolved.stat().st_size > MAX_BYTES:
            problems.append(problem(f"Bijlage '{entry}': het bestand is groter dan 10 MB."))
            continue
        with open(resolved, "rb") as fh:  # at most one byte past the limit, even if the file grew meanwhile
            data = fh.read(MAX_BYTES + 1)
        try:
            mime = check_content(data)
        except ValidationFailed as exc:
            problems.append(problem(f"Bijlage '{entry}': {' '.join(exc.errors.get('bijlage', [exc.message]))}"))
            continue
        found.append((clean_filename(resolved.name, ALLOWED[mime]), data, mime))
    return (None, problems) if problems else (found, [])


class StagedAttachments:
    """The attachment changes of one imported item inside its transaction:
    new files already on disk (removed again by :meth:`discard` when the
    transaction fails) and old files to remove after the commit (:meth:`finish`)."""

    def __init__(self) -> None:
        self.changed = False
        self.new_paths: list[str] = []
        self.old_stored: list[str] = []

    def discard(self) -> None:
        import os

        for p in self.new_paths:
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass
        self.new_paths = []

    def finish(self) -> None:
        import os

        from .services.attachments import storage_dir

        for stored in self.old_stored:
            try:
                os.unlink(os.path.join(storage_dir(), stored))
            except FileNotFoundError:
                pass
        self.old_stored = []


def stage_attachments(actor: Any, item: Any, wanted: list[tuple[str, bytes, str]] | None) -> StagedAttachments:
    """Make ``item``'s attachments exactly ``wanted`` (name and content) in the
    current transaction, without committing; ``None`` leaves them alone.
    ``item`` must have an id (flushed)."""
    import hashlib

    from sqlalchemy import select

    from .extensions import db
    from .models import Attachment
    from .services.attachments import store_bytes

    staged = StagedAttachments()
    if wanted is None:
        return staged
    have = list(db.session.scalars(select(Attachment).where(Attachment.item_id == item.id).order_by(Attachment.id)))
    keep: set[int] = set()
    try:
        for name, data, mime in wanted:
            digest = hashlib.sha256(data).hexdigest()
            same = next((a for a in have if a.id not in keep and a.filename == name and a.sha256 == digest), None)
            if same is not None:
                keep.add(same.id)
                continue
            stored, file_path = store_bytes(data)
            staged.new_paths.append(file_path)
            db.session.add(Attachment(item_id=item.id, filename=name, stored_name=stored, content_type=mime,
                                      size=len(data), sha256=digest, uploaded_by=getattr(actor, "id", None)))
            staged.changed = True
        for att in have:
            if att.id not in keep:
                staged.old_stored.append(att.stored_name)
                db.session.delete(att)
                staged.changed = True
    except BaseException:
        staged.discard()
        raise
    return staged


def write_private_file(root: Path, relative: str, data: bytes) -> Path:
    """Write ``data`` to ``root/relative`` (``relative`` like
    ``practices/plan/x.pdf``), readable by the portal's user only from the
    moment it exists (created 0600, never chmod-ed afterwards) and never
    outside ``root``: every folder below ``root`` is opened without following
    symlinks (``O_NOFOLLOW``, relative to its parent's descriptor), missing
    ones are made 0700, and a file already there is replaced by a new one
    (``O_EXCL``), so a symlink or someone else's file planted in an export
    folder such as ``/tmp/bibliotheek`` is never written through (CWE-59,
    CWE-377). Raises ``OSError`` (e.g. ``ELOOP`` for a planted symlink)."""
    import os

    parts = [p for p in relative.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise ValueError(f"not a relative path inside the export folder: {relative!r}")
    flags = os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_NOFOLLOW", 0)
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name in parts[:-1]:
            try:
                os.mkdir(name, 0o700, dir_fd=fd)
            except FileExistsError:
                pass
            child = os.open(name, flags, dir_fd=fd)
            os.close(fd)
            fd = child
        try:
            os.unlink(parts[-1], dir_fd=fd)
        except FileNotFoundError:
            pass
        out = os.open(parts[-1], os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600,
                      dir_fd=fd)
        with os.fdopen(out, "wb") as fh:
            fh.write(data)
    finally:
        os.close(fd)
    return root.joinpath(*parts)


def export_attachments(folder: Path, item: Any) -> list[str]:
    """Copy ``item``'s attachments to ``folder/<type folder>/<slug>/<name>``
    (through :func:`write_private_file`: 0600, never through a symlink);
    returns the entries for its ``attachments`` key (``<slug>/<name>``), in
    upload order; a name used twice gets a number (``2-plan.pdf``)."""
    import os

    from sqlalchemy import select

    from .extensions import db
    from .models import Attachment
    from .services.attachments import storage_dir

    rows = list(db.session.scalars(select(Attachment).where(Attachment.item_id == item.id).order_by(Attachment.id)))
    entries: list[str] = []
    used: set[str] = set()
    for att in rows:
        source = os.path.join(storage_dir(), att.stored_name)
        if not os.path.isfile(source):
            continue
        name, n = att.filename, 1
        while name in used:
            n += 1
            name = f"{n}-{att.filename}"
        used.add(name)
        with open(source, "rb") as fh:
            data = fh.read()
        write_private_file(folder, f"{FOLDER_OF[item.type]}/{item.slug}/{name}", data)
        entries.append(f"{item.slug}/{name}")
    return entries


# -- writing ------------------------------------------------------------------------
class _Dumper(yaml.SafeDumper):
    pass


def _str_presenter(dumper, data: str):
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str_presenter)


def render_file(meta: dict[str, Any], body: str) -> str:
    """One item as file text: ``---``, YAML front matter, ``---``, body."""
    # SafeDumper writes dates unquoted (2018-07-20), as authors write them.
    head = yaml.dump(dict(meta), Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=100)
    body = body if body.endswith("\n") or not body else body + "\n"
    return f"---\n{head}---\n{body}"


def write_taxonomy(folder: Path, terms: dict[str, dict[str, tuple[str, str]]]) -> None:
    """Write ``taxonomy.yaml`` for the added terms (nothing when there are none)."""
    if not any(terms.values()):
        return
    file_key = {v: k for k, v in EXTENSIBLE.items()}
    data = {file_key[kind]: {key: {"nl": nl, "en": en} for key, (nl, en) in keys.items()}
            for kind, keys in terms.items() if keys and kind in file_key}
    (folder / "taxonomy.yaml").write_text(
        yaml.dump(data, Dumper=_Dumper, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
