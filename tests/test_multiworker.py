"""Several gunicorn workers writing at once: every saved item is searchable
within seconds, nothing is lost to Whoosh's write lock or SQLite's."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.cookiejar import CookieJar
from pathlib import Path

import pytest

from .conftest import PASSWORD, make_app

WORKERS, THREADS, ITEMS = 4, 8, 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    """A cookie-keeping HTTP client on loopback, CSRF token included."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=30) as resp:
            return resp.read().decode()

    def post(self, path: str, data: dict) -> int:
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', self.get(path)).group(1)
        body = urllib.parse.urlencode({**data, "csrf_token": token}, doseq=True).encode()
        with self.opener.open(self.base + path, data=body, timeout=60) as resp:
            return resp.status


def _start(tmp_path, app):
    """gunicorn with WORKERS workers on ``app``'s database and index; yields (base, log path)."""
    port = _free_port()
    env = dict(os.environ, PORTAL_INSTANCE_PATH=str(tmp_path / "instance"),
               PORTAL_DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
               PORTAL_INDEX_DIR=str(tmp_path / "index"), PORTAL_SECRET_KEY="test-secret-key-not-for-production",
               PORTAL_LOG_LEVEL="WARNING")
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "--workers", str(WORKERS), "--bind",
                             f"127.0.0.1:{port}", "--timeout", "120", "portal:create_app()"],
                            env=env, cwd=Path(__file__).parent.parent, stdout=subprocess.DEVNULL,
                            stderr=open(tmp_path / "gunicorn.log", "w"))
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(base + "/healthz", timeout=2)
            break
        except urllib.error.HTTPError:  # up, and reporting a problem (a missing index, say)
            break
        except OSError:
            time.sleep(0.2)
    try:
        yield base, tmp_path / "gunicorn.log"
    finally:
        proc.terminate()
        proc.wait(30)


@pytest.fixture
def gunicorn(tmp_path):
    yield from _start(tmp_path, make_app(tmp_path, content=False))  # schema, municipalities, users


def test_workers_rebuild_a_deleted_index_once(tmp_path):
    """The index is derived: deleted under running workers' feet (or before
    they start), the first searches rebuild it from the database, one
    process at a time, and every search answers."""
    import shutil

    app = make_app(tmp_path)
    shutil.rmtree(tmp_path / "index")
    for base, log in _start(tmp_path, app):
        with ThreadPoolExecutor(8) as pool:
            pages = list(pool.map(lambda _, base=base: Browser(base).get("/zoeken?q=sleutelfiguren"), range(8)))
        assert all("resultaten" in p.lower() and "Er ging iets mis" not in p for p in pages)
        found = [re.search(r"(\d+) resultaten", p) for p in pages]
        assert all(f and int(f.group(1)) >= 3 for f in found), found
        generations = [d for d in os.listdir(tmp_path / "index") if d.startswith("gen-")]
        assert len(generations) == 1, generations
        assert "Traceback" not in log.read_text()


def test_four_workers_saving_200_items_lose_nothing(gunicorn):
    base, log = gunicorn
    browsers = []
    for _ in range(THREADS):
        b = Browser(base)
        assert b.post("/inloggen", {"email": "curator@delft.example.org", "password": PASSWORD}) == 200
        browsers.append(b)

    def save(n: int) -> float:
        b = browsers[n % THREADS]
        status = b.post("/nieuw/werkwijzen", {"title": f"Gelijktijdig opgeslagen werkwijze {n}", "visibility": "public",
                                              "body": f"Kenmerk zoekcode{n:03d}x in deze tekst.", "action": "publish"})
        assert status == 200
        return time.monotonic()

    with ThreadPoolExecutor(THREADS) as pool:
        saved_at = list(pool.map(save, range(ITEMS)))
    late = []
    anon = Browser(base)
    limit = saved_at[-1] + 2.0  # every item searchable within 2 s of the last save
    for n in range(ITEMS):
        while True:
            page = anon.get(f"/zoeken?q=zoekcode{n:03d}x")
            if f">Gelijktijdig opgeslagen werkwijze {n}</a>" in page:  # a result, not the echoed query
                break
            if time.monotonic() > limit:
                late.append(n)
                break
            time.sleep(0.05)
    text = log.read_text()
    assert "LockError" not in text and "database is locked" not in text
    assert late == []
    health = anon.get("/healthz")
    assert '"pending":0' in health.replace(" ", "")


def test_a_long_search_link_gets_the_portals_answer_not_gunicorns_414(gunicorn):
    # gunicorn.conf.py raises gunicorn's request-line limit (4094 bytes by
    # default) to its maximum: 500 accented characters from the search form,
    # percent-encoded, plus filters, fit; a longer query is cut to 500
    # characters by the portal, with a notice (found by the new user).
    base, _log = gunicorn
    query = urllib.parse.urlencode({"q": "coördinatie café " * 200})  # ~6,500 bytes on the request line
    assert 4094 < len(query) < 8000
    page = Browser(base).get("/zoeken?" + query)
    assert "we hebben de eerste 500 tekens gebruikt" in page
