"""Running the portal: health, backups and restores."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import time
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from . import search
from .extensions import db


def health() -> tuple[dict[str, Any], bool]:
    """Database and index state for ``/healthz``: ``(report, healthy)``.

    ``report`` = ``{"status": "ok"|"fail", "database": {...}, "index":
    {"ok", "last_applied", "pending"}}``; nothing secret (no URLs or paths).
    """
    from .models import SearchChange

    report: dict[str, Any] = {"status": "ok"}
    healthy = True
    try:
        db.session.execute(text("SELECT 1"))
        latest = db.session.scalar(select(func.max(SearchChange.id))) or 0
        report["database"] = {"ok": True, "backend": db.engine.dialect.name}
    except Exception:
        db.session.rollback()
        report["database"] = {"ok": False}
        healthy, latest = False, None
    try:
        svc = search._service()
        with svc.open().searcher() as s:
            applied = svc.last_applied(s)
        pending = max(0, latest - applied) if latest is not None else None
        report["index"] = {"ok": True, "last_applied": applied, "pending": pending}
    except Exception:
        report["index"] = {"ok": False}
        healthy = False
    if not healthy:
        report["status"] = "fail"
    return report, healthy


def _database_url():
    return make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])


def backup(directory: str | Path) -> Path:
    """Write a consistent copy of the database into ``directory`` and return
    its path: SQLite through the online backup API (safe while the portal
    runs), PostgreSQL through ``pg_dump --format=custom``. The attachments
    go beside it as ``<name>.attachments.tar`` (see :func:`attachments_archive`).
    Raises ``RuntimeError`` when ``pg_dump`` is missing or fails."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    url = _database_url()
    if url.get_backend_name() == "sqlite":
        target = directory / f"portal-{stamp}.sqlite3"
        src = sqlite3.connect(url.database)
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
            src.close()
    else:
        target = directory / f"portal-{stamp}.pgdump"
        _run_pg(["pg_dump", "--format=custom", "--no-owner", f"--file={target}"], url)
    target.chmod(0o600)  # contact details and password hashes
    archive = attachments_archive(target)
    with tarfile.open(archive, "w") as tar:
        tar.add(_attachments_dir(), arcname="attachments")
    archive.chmod(0o600)
    return target


def attachments_archive(backup_path: str | Path) -> Path:
    """The attachments archive that belongs to a database backup file."""
    backup_path = Path(backup_path)
    return backup_path.with_name(backup_path.name + ".attachments.tar")


def _attachments_dir() -> Path:
    from .services.attachments import storage_dir

    return Path(storage_dir())


def restore(path: str | Path) -> None:
    """Replace the database with the backup at ``path`` (made by
    :func:`backup`), then rebuild the search index from it. Stop the web
    workers first: a restore is not meant to run under traffic."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Geen back-up gevonden op {path}")
    url = _database_url()
    db.session.remove()
    db.engine.dispose()
    if url.get_backend_name() == "sqlite":
        src = sqlite3.connect(path)
        dst = sqlite3.connect(url.database)
        try:
            src.backup(dst)
        finally:
            dst.close()
            src.close()
    else:
        _run_pg(["pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction", str(path)], url)
    archive = attachments_archive(path)
    if archive.is_file():
        # Attachments are written once under random names and never changed,
        # so extracting over the folder restores the backup's files; files
        # added since stay (no row refers to them any more). The "data"
        # filter refuses absolute paths, links out of the folder and devices.
        target = _attachments_dir()
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers() if m.name.startswith("attachments/")]
            for m in members:
                m.name = m.name[len("attachments/"):]
            tar.extractall(target, members=members, filter="data")
    search.rebuild()


def portal_schema(url) -> str | None:
    """The schema a PostgreSQL URL confines the portal to, or ``None``.

    A deployment that shares a database keeps the portal in a schema of its
    own with libpq's ``options`` parameter, e.g.
    ``postgresql://host/db?options=-csearch_path%3Dportal``; a back-up then
    dumps that schema only. Only a single plain name counts (a search path
    of several schemas leaves the dump database-wide)."""
    options = url.query.get("options")
    if isinstance(options, tuple):
        options = " ".join(options)
    if not options:
        return None
    match = re.search(r"(?:^|\s)-c\s*search_path\s*=\s*([A-Za-z_][A-Za-z0-9_]*)(?:\s|$)", options)
    return match.group(1) if match else None


def _run_pg(argv: list[str], url) -> None:
    if shutil.which(argv[0]) is None:
        raise RuntimeError(f"{argv[0]} is niet geïnstalleerd (Debian: postgresql-client)")
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = url.password
    conn = ["--host", url.host or "localhost", "--port", str(url.port or 5432),
            "--username", url.username or "postgres", "--dbname", url.database]
    schema = portal_schema(url)
    if schema and argv[0] == "pg_dump":
        conn.append(f"--schema={schema}")  # the portal's tables only, not its neighbours'
    result = subprocess.run([*argv, *conn], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{argv[0]} mislukte: {result.stderr.strip()[:500]}")
