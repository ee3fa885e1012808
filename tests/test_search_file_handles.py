"""A portal that keeps changing its index keeps a bounded number of index
files open.

Every published change writes a Whoosh segment; searches read segments
through memory maps. The postings caches of ``portal.search.whoosh_speed``
once held each postings file itself as part of their keys, which kept every
old segment's map (and its file descriptor) open: about 30 descriptors per
item change, until the test process ran out of them (EMFILE). Counted here
through ``/proc/self/fd`` with a real index and the real search page.
"""
from __future__ import annotations

import gc
import os
from pathlib import Path

import pytest

from portal.services.items import SYSTEM, save_item, set_status

PROC_FDS = Path("/proc/self/fd")


def _open_index_files(index_dir: str) -> int:
    count = 0
    for fd in os.listdir(PROC_FDS):
        try:
            target = os.readlink(PROC_FDS / fd)
        except OSError:  # closed between listing and reading
            continue
        if target.startswith(index_dir):
            count += 1
    return count


@pytest.mark.skipif(not PROC_FDS.is_dir(), reason="counts descriptors through Linux's /proc")
def test_index_changes_and_searches_do_not_pile_up_open_files(empty_app):
    client = empty_app.test_client()
    index_dir = str(Path(empty_app.config["INDEX_DIR"]).resolve())
    counts = []
    for n in range(12):
        with empty_app.app_context():
            item = save_item(SYSTEM, "practice", {"title": f"Buurtgesprekken {n}", "municipality": "Delft"},
                             f"Gesprekken in de wijk met jongerenwerkers, ronde {n}.")
            set_status(SYSTEM, item, "published")
        page = client.get("/zoeken?q=buurtgesprekken+jongerenwerker")
        assert page.status_code == 200 and "Buurtgesprekken" in page.get_data(as_text=True)
        gc.collect()  # closed segments in reference cycles wait for the collector; that is fine
        counts.append(_open_index_files(index_dir))
    # a handful of live segments, whatever the number of changes made
    assert max(counts[-4:]) <= 12, counts
    assert counts[-1] <= counts[3] + 4, counts
