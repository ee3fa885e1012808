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
#: PostgreSQL database (on the server of PORTAL_TEST_DATABASE_URL) instead of SQLite.
BACKEND = os.environ.get("PORTAL_TEST_BACKEND", "sqlite")
_PG_DATABASES: list[str] = []


def _new_postgres_database() -> str:
    import uuid

    import psycopg

    admin = os.environ["PORTAL_TEST_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    name = f"portal_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    _PG_DATABASES.append(name)
    return f"{admin.rsplit('/', 1)[0]}/{name}"


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
    if not _PG_DATABASES:
        return
    import psycopg

    admin = os.environ["PORTAL_TEST_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        for name in _PG_DATABASES:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_app(tmp: Path, content: bool = True, **extra):
    if BACKEND == "postgresql" and "SQLALCHEMY_DATABASE_URI" not in extra:
        extra["SQLALCHEMY_DATABASE_URI"] = _new_postgres_database()
    config = {
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
    app = create_app(config)
    with app.app_context():
        initialise(load_content=content)
        for email, role, muni in USERS:
            create_user(SYSTEM, email, role, name=email.split("@")[0], password=PASSWORD, municipality=muni)
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
