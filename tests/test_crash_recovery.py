"""kill -9 in the middle of indexing loses nothing that was confirmed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import select

from portal import search
from portal.extensions import db
from portal.models import Item
from portal.services.items import SYSTEM, save_item

ROOT = Path(__file__).resolve().parent.parent


def _env(app) -> dict:
    return dict(os.environ, PORTAL_INSTANCE_PATH=app.instance_path, PORTAL_INDEX_DIR=app.config["INDEX_DIR"],
                PORTAL_DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"], PORTAL_LOG_LEVEL="ERROR",
                PORTAL_SECRET_KEY="test-secret-key-not-for-production")


def _portal(app, *args, **kw):
    return subprocess.run([sys.executable, "-m", "portal.cli", *args], env=_env(app), cwd=ROOT,
                          capture_output=True, text=True, **kw)


def test_killed_reindex_leaves_the_old_index_working(app):
    with app.app_context():
        for n in range(150):
            save_item(SYSTEM, "lesson", {"title": f"Extra les {n}"}, "Over sleutelfiguren en vertrouwen. " * 40)
        expected = search.search(None, "sleutelfiguren").total
    index_dir = Path(app.config["INDEX_DIR"])
    before = {p.name for p in index_dir.iterdir()}
    proc = subprocess.Popen([sys.executable, "-m", "portal.cli", "reindex"], env=_env(app), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not ({p.name for p in index_dir.iterdir()} - before) and time.monotonic() < deadline:
        time.sleep(0.02)  # wait until the new generation's folder exists: the build is under way
    time.sleep(0.3)
    assert proc.poll() is None, "reindex finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with app.app_context():
        app.extensions.pop("portal_search", None)
        assert search.search(None, "sleutelfiguren").total == expected
        assert search.check() == {"missing": [], "orphaned": []}
    result = _portal(app, "reindex")
    assert result.returncode == 0, result.stderr
    gens = [p for p in Path(app.config["INDEX_DIR"]).iterdir() if p.name.startswith("gen-")]
    assert len(gens) == 1  # the killed build's folder is cleaned up by the next swap


def test_change_committed_by_a_killed_worker_is_indexed_on_restart(app):
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from portal import create_app; from portal import search\n"
        "app = create_app()\n"
        "with app.app_context():\n"
        "    w = search._service().open().writer()\n"
        "    print('locked', flush=True)\n"
        "    time.sleep(120)\n")], env=_env(app), cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    writer = subprocess.Popen([sys.executable, "-c", (
        "import os, signal; from portal import create_app\n"
        "from portal.services.items import SYSTEM, save_item\n"
        "app = create_app({'INDEX_WRITE_TIMEOUT': 0.2})\n"
        "with app.app_context():\n"
        "    save_item(SYSTEM, 'practice', {'title': 'Bevestigd voor de crash'}, 'tekst')\n"
        "    print('saved', flush=True)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n")], env=_env(app), cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "saved"  # confirmed to the user
    writer.wait(30)
    holder.send_signal(signal.SIGKILL)
    holder.wait(30)
    with app.app_context():
        assert db.session.scalar(select(Item).where(Item.slug == "bevestigd-voor-de-crash")) is not None
        app.extensions.pop("portal_search", None)
        assert search.search(None, "bevestigd crash").total == 0  # not yet in the index
    result = _portal(app, "init")  # what `make run` does on restart
    assert result.returncode == 0, result.stderr
    with app.app_context():
        app.extensions.pop("portal_search", None)
        assert search.search(None, "bevestigd crash").hits[0].slug == "bevestigd-voor-de-crash"
