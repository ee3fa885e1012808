"""Fixtures: a real SQLite file and a real Whoosh index in a temp folder per
app, the Flask test client, and logged-in clients per role. Test data is made
through the services, never by writing rows behind their back."""

from __future__ import annotations

import contextlib
import os
import re
import threading
from pathlib import Path

import pytest

from portal import create_app
from portal.services.items import SYSTEM
from portal.services.library import create_user
from portal.services.setup import initialise

ROOT = Path(__file__).resolve().parent.parent
CONTENT = ROOT / "content"
PASSWORD = "correct horse battery staple"


#: ``PORTAL_TEST_BACKEND=postgresql`` runs every app-based test on a fresh
#: PostgreSQL schema (in the database of PORTAL_TEST_DATABASE_URL) instead of SQLite.
BACKEND = os.environ.get("PORTAL_TEST_BACKEND", "sqlite")
_PG_DATABASES: list[str] = []
_PG_SCHEMAS: list[str] = []
#: libpq application_name of this test process's connections, so that the
#: clean-up at the end can close exactly those (one per xdist worker).
_PG_APPLICATION = f"portal-tests-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-{os.getpid()}"


def _admin_url() -> str:
    return os.environ["PORTAL_TEST_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")


def _new_postgres_database() -> str:
    """A new, empty PostgreSQL database; for tests that need a whole database
    of their own (back-up and restore). Dropped when the session ends."""
    import uuid

    import psycopg

    admin = _admin_url()
    name = f"portal_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    _PG_DATABASES.append(name)
    return f"{admin.rsplit('/', 1)[0]}/{name}"


def _new_postgres_schema() -> str:
    """URL of a new, empty schema in the test database: the connection's
    ``search_path`` is that schema alone, so the app, its migrations and
    Alembic's version table live there and see nothing else.

    A schema rather than a database per app because ``DROP DATABASE`` waits
    for a checkpoint (about 0.5-1 s each, measured on this server), and the
    PostgreSQL pass makes some 300 apps; ``DROP SCHEMA … CASCADE`` is cheap."""
    import uuid

    import psycopg

    name = f"portal_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_admin_url(), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    _PG_SCHEMAS.append(name)
    return _schema_url(name)


def _schema_url(name: str) -> str:
    from urllib.parse import quote

    admin = _admin_url()
    joiner = "&" if "?" in admin else "?"
    return (f"{admin}{joiner}options={quote(f'-csearch_path={name}', safe='')}"
            f"&application_name={_PG_APPLICATION}")


#: fixtures that drive headless Chromium
BROWSER_FIXTURES = {"browser", "driver"}


def pytest_collection_modifyitems(config, items):
    """On the PostgreSQL pass (``PORTAL_TEST_BACKEND=postgresql``, the second
    half of ``make test``) leave out what does not depend on the database:
    browser flows (what a person clicks is the same HTML on either database;
    every action they take is also tested through the test client on both),
    modules marked ``no_db`` (pure analysis, lint and catalog checks) and
    tests marked ``once`` (they use a database only as storage while checking
    something engine-independent: the permission table over HTTP, the URL-map
    walk, translations, ``--help``). They run once, on SQLite; the suite stays
    well inside CI's time."""
    if BACKEND != "postgresql":
        return
    once = pytest.mark.skip(reason="database-independent: runs once, in the SQLite pass")
    for item in items:
        if ("browser" in item.keywords or "no_db" in item.keywords or "once" in item.keywords
                or BROWSER_FIXTURES & set(getattr(item, "fixturenames", ()))):
            item.add_marker(once)


def pytest_sessionfinish(session, exitstatus):
    if not (_PG_DATABASES or _PG_SCHEMAS):
        return
    import psycopg

    with psycopg.connect(_admin_url(), autocommit=True) as conn:
        # the apps' pooled connections are still open (idle, maybe inside a
        # transaction that holds a lock): close them before dropping
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE application_name = %s AND pid <> pg_backend_pid()", (_PG_APPLICATION,))
        for name in _PG_SCHEMAS:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        for name in _PG_DATABASES:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _config(tmp: Path, extra: dict) -> dict:
    return {
        "TESTING": True,
        "INSTANCE_PATH": str(tmp / "instance"),
        "SQLALCHEMY_DATABASE_URI": "sqlite:///" + str(tmp / "instance" / "portal.sqlite3"),
        "INDEX_DIR": str(tmp / "index"),
        "CONTENT_DIR": str(CONTENT),
        "SECRET_KEY": "test-secret-key-not-for-production",
        # Existing tests log in as admin with the password alone; the TOTP
        # tests (tests/security/test_totp.py) turn this on.
        "REQUIRE_TOTP_FOR_ADMINS": False,
        **extra,
    }


def _build_app(tmp: Path, content: bool, extra: dict):
    app = create_app(_config(tmp, extra))
    with app.app_context():
        initialise(load_content=content)
        for email, role, muni in USERS:
            create_user(SYSTEM, email, role, name=email.split("@")[0], password=PASSWORD, municipality=muni)
    return app


#: content flag -> (folder with the ``instance/`` and ``index/`` of an app
#: built once per test process, on PostgreSQL also its schema's name and its
#: ``pg_dump`` as SQL)
_TEMPLATES: dict[bool, tuple[Path, str, str]] = {}


def _pg_dump_schema(url: str, schema: str) -> str:
    """``schema`` of the database at ``url`` as plain SQL (multi-row INSERTs, so
    that one ``execute`` replays it), without psql's meta-commands."""
    import subprocess

    from sqlalchemy.engine import make_url

    u = make_url(url)
    out = subprocess.run(
        ["pg_dump", "--host", u.host or "localhost", "--port", str(u.port or 5432),
         "--username", u.username or "postgres", "--dbname", u.database, f"--schema={schema}",
         "--inserts", "--rows-per-insert=1000", "--no-owner", "--no-privileges"],
        capture_output=True, text=True, check=True).stdout
    return "\n".join(line for line in out.splitlines() if not line.startswith("\\"))


def _template(content: bool) -> tuple[Path, str, str]:
    if content not in _TEMPLATES:
        import atexit
        import shutil
        import tempfile

        root = Path(tempfile.mkdtemp(prefix="portal-template-"))
        atexit.register(shutil.rmtree, root, True)
        extra, schema, dump = {}, "", ""
        if BACKEND == "postgresql":
            extra["SQLALCHEMY_DATABASE_URI"] = _new_postgres_schema()
            schema = _PG_SCHEMAS[-1]
        app = _build_app(root, content, extra)
        with app.app_context():
            from portal.extensions import db

            db.session.remove()
            db.engine.dispose()  # closes the file: the copy is complete
        if schema:
            dump = _pg_dump_schema(_admin_url(), schema)
        _TEMPLATES[content] = (root, schema, dump)
    return _TEMPLATES[content]


def _copy_postgres_schema(template: str, dump: str) -> str:
    """URL of a new schema holding a copy of ``template`` (replaying its dump
    under a new name)."""
    import uuid

    import psycopg

    name = f"portal_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_admin_url(), autocommit=True) as conn:
        conn.execute(dump.replace(template, name))  # no parameters: one simple query, many statements
    _PG_SCHEMAS.append(name)
    return _schema_url(name)


def make_app(tmp: Path, content: bool = True, **extra):
    """A Flask app on its own database and Whoosh index under ``tmp``, set up
    as ``portal init`` does (schema, municipalities, the starter library when
    ``content``) plus the test users of :data:`USERS`; ``extra`` is config.

    An app without extra config is a copy of one built once per test process
    (the SQLite file, or on PostgreSQL its schema replayed from ``pg_dump``
    under a new name; and the index folder), brought up by ``initialise()``
    as a restarted portal would be: a copy takes about a tenth of a build
    (0.1 s against 0.8-1.4 s, mostly the library import and the index), and
    each pass of the suite makes some 300 of them. With extra config (or
    without ``pg_dump``) every app is built in full."""
    import shutil

    if extra or (BACKEND == "postgresql" and not shutil.which("pg_dump")):
        if BACKEND == "postgresql" and "SQLALCHEMY_DATABASE_URI" not in extra:
            extra["SQLALCHEMY_DATABASE_URI"] = _new_postgres_schema()
        return _build_app(tmp, content, extra)
    root, schema, dump = _template(content)
    for part in ("instance", "index"):
        shutil.copytree(root / part, tmp / part, dirs_exist_ok=True)
    if schema:
        extra["SQLALCHEMY_DATABASE_URI"] = _copy_postgres_schema(schema, dump)
    app = create_app(_config(tmp, extra))
    with app.app_context():
        report = initialise(load_content=content)
        assert not report.index_rebuilt and not report.imported, "the copied app was not complete"
    return app


#: (email, role, municipality) made in every test app
USERS = [
    ("lid@delft.example.org", "member", "Delft"),
    ("bijdrager@delft.example.org", "contributor", "Delft"),
    ("bijdrager@utrecht.example.org", "contributor", "Utrecht"),
    ("curator@delft.example.org", "curator", "Delft"),
    ("beheer@example.org", "admin", None),
]


@pytest.fixture(scope="session")
def library_app(tmp_path_factory):
    """One app with the starter library, shared by tests that only read."""
    return make_app(tmp_path_factory.mktemp("library"))


@pytest.fixture
def app(tmp_path):
    """A fresh app with the starter library, for tests that write."""
    return make_app(tmp_path / "app")


@pytest.fixture
def empty_app(tmp_path):
    """A fresh app without the starter library."""
    return make_app(tmp_path / "empty", content=False)


def _client(app, email=None):
    client = app.test_client()
    if email:
        login(client, email)
    return client


@contextlib.contextmanager
def serving(app):
    """Serve ``app`` on a free loopback port in a thread; yields its base URL
    (``http://127.0.0.1:PORT``) and stops the server afterwards."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


def csrf_token(client, path="/inloggen") -> str:
    html = client.get(path).get_data(as_text=True)
    m = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(r'value="([^"]+)"[^>]*name="csrf_token"', html)
    assert m, f"no CSRF token on {path}"
    return m.group(1)


def login(client, email, password=PASSWORD):
    token = csrf_token(client)
    resp = client.post("/inloggen", data={"email": email, "password": password, "csrf_token": token})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    return resp


@pytest.fixture
def anon(library_app):
    return _client(library_app)


@pytest.fixture
def member(library_app):
    return _client(library_app, "lid@delft.example.org")


@pytest.fixture
def client_for():
    """``client_for(app, email)``: a test client, logged in when email is given."""
    return _client


def _require_postgres() -> None:
    if not os.environ.get("PORTAL_TEST_DATABASE_URL"):
        pytest.skip("PostgreSQL tests need PORTAL_TEST_DATABASE_URL (set by .ci/run when the server answers)")


@pytest.fixture
def postgres_database():
    """``postgres_database()`` -> URL of a new, empty PostgreSQL database
    (dropped when the test session ends)."""
    _require_postgres()
    return _new_postgres_database


@pytest.fixture(scope="module")
def postgres_url():
    """One fresh PostgreSQL database for a test module."""
    _require_postgres()
    return _new_postgres_database()
