"""Load test: gunicorn with 4 workers on PostgreSQL, a realistic request mix.

    .venv/bin/python benchmarks/load.py [--rate 50] [--seconds 300] [--workers 4]
                                        [--database-url postgresql://postgres@127.0.0.1:5432/test]

It makes a throwaway installation (a fresh PostgreSQL database on the named
server, dropped afterwards; the starter library; a member and a curator),
starts gunicorn on a free loopback port and sends requests at a fixed rate
(open loop: a slow answer does not slow the sender) for the given time:
50 % item pages, 20 % searches, 15 % profile views (as a member), 10 % logins,
5 % saves of a new practice (as a curator). Traffic goes to 127.0.0.1 only and
stops by itself. It prints requests per second, p50/p95/p99 latency, errors,
and each worker's resident memory before and after. Target (issue #6):
p95 <= 300 ms and 0 errors at 50 requests per second.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.cookiejar import CookieJar
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "load test password 2026"
QUERIES = ["sleutelfiguren werven", "polarisatie", "jongerenwerker", "wie spreekt Somalisch", "coordinator",
           "radicalisring", "netwerk onderhouden", "ouders sociale media", "mkb", "wijkagent Delft"]


class Session:
    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        self.lock = threading.Lock()

    def get(self, path: str) -> tuple[int, str]:
        try:
            with self.opener.open(self.base + path, timeout=30) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, ""

    def post(self, path: str, data: dict) -> int:
        status, page = self.get(path)
        m = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
        if not m:
            return status if status >= 400 else 599
        body = urllib.parse.urlencode({**data, "csrf_token": m.group(1)}).encode()
        try:
            with self.opener.open(self.base + path, data=body, timeout=30) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def worker_pids(master: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rate", type=float, default=50.0)
    ap.add_argument("--seconds", type=float, default=300.0)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--database-url", default=os.environ.get("PORTAL_TEST_DATABASE_URL",
                                                              "postgresql://postgres@127.0.0.1:5432/test"))
    args = ap.parse_args()
    import psycopg

    tmp = Path(tempfile.mkdtemp(prefix="portal-load-"))
    admin = args.database_url.replace("postgresql+psycopg://", "postgresql://")
    name = f"portal_load_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    env = dict(os.environ, PORTAL_DATABASE_URL=f"{admin.rsplit('/', 1)[0]}/{name}",
               PORTAL_INSTANCE_PATH=str(tmp / "instance"), PORTAL_INDEX_DIR=str(tmp / "index"),
               PORTAL_SECRET_KEY="load-test-secret-key-0123456789-abcdefghijkl", PORTAL_LOG_LEVEL="WARNING")
    portal = [sys.executable, "-m", "portal.cli"]
    subprocess.run([*portal, "init"], env=env, cwd=ROOT, check=True, capture_output=True)
    for email, role in (("lid@load.example.org", "member"), ("curator@load.example.org", "curator")):
        subprocess.run([*portal, "create-user", email, "--role", role, "--municipality", "Delft",
                        "--password", PASSWORD], env=env, cwd=ROOT, check=True, capture_output=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gunicorn = subprocess.Popen([sys.executable, "-m", "gunicorn", "--workers", str(args.workers),
                                 "--bind", f"127.0.0.1:{port}", "--timeout", "60", "portal:create_app()"],
                                env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=open(tmp / "gunicorn.log", "w"))
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=2)
                break
            except OSError:
                time.sleep(0.2)
        anon = Session(base)
        _, listing = anon.get("/zoeken?q=&pagina=1")
        pages = sorted(set(re.findall(r'href="(/(?:werkwijzen|lessen)/[a-z0-9-]+)"', listing))) or ["/"]
        for p in (2, 3):
            pages += re.findall(r'href="(/(?:werkwijzen|lessen)/[a-z0-9-]+)"', anon.get(f"/zoeken?q=&pagina={p}")[1])
        member = Session(base)
        member.post("/inloggen", {"email": "lid@load.example.org", "password": PASSWORD})
        profiles = sorted(set(re.findall(r'href="(/sleutelfiguren/[a-z0-9-]+)"', member.get("/sleutelfiguren")[1])))
        curator = Session(base)
        curator.post("/inloggen", {"email": "curator@load.example.org", "password": PASSWORD})
        for _ in range(20):
            anon.get(random.choice(pages))
        mem_before = {pid: rss_mb(pid) for pid in worker_pids(gunicorn.pid)}

        rng = random.Random(1)
        results: list[tuple[str, float, int]] = []
        lock = threading.Lock()
        counter = [0]

        def one(kind: str) -> None:
            start = time.monotonic()
            if kind == "item":
                status = anon.get(rng.choice(pages))[0]
            elif kind == "search":
                status = anon.get("/zoeken?" + urllib.parse.urlencode({"q": rng.choice(QUERIES)}))[0]
            elif kind == "profile":
                status = member.get(rng.choice(profiles))[0] if profiles else 599
            elif kind == "login":
                status = Session(base).post("/inloggen", {"email": "lid@load.example.org", "password": PASSWORD})
                status = 200 if status in (200, 302) else status
            else:
                with lock:
                    counter[0] += 1
                    n = counter[0]
                status = curator.post("/nieuw/werkwijzen", {"title": f"Belastingtest werkwijze {n}",
                                                            "body": "Tekst over sleutelfiguren.", "action": "save"})
            with lock:
                results.append((kind, (time.monotonic() - start) * 1000, status))

        kinds = ["item"] * 50 + ["search"] * 20 + ["profile"] * 15 + ["login"] * 10 + ["save"] * 5
        total = int(args.rate * args.seconds)
        threads: list[threading.Thread] = []
        t0 = time.monotonic()
        for i in range(total):
            delay = t0 + i / args.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            th = threading.Thread(target=one, args=(rng.choice(kinds),), daemon=True)
            th.start()
            threads.append(th)
        for th in threads:
            th.join(60)
        elapsed = time.monotonic() - t0
        mem_after = {pid: rss_mb(pid) for pid in worker_pids(gunicorn.pid)}
    finally:
        gunicorn.terminate()
        gunicorn.wait(30)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    lat = sorted(r[1] for r in results)
    errors = [r for r in results if r[2] >= 400]

    def pct(values, q):
        return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")

    print(f"command: {' '.join(sys.argv)}")
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; gunicorn {args.workers} workers, PostgreSQL")
    print(f"requests {len(results)} in {elapsed:.1f} s = {len(results) / elapsed:.1f} req/s (target rate {args.rate})")
    print(f"latency ms p50 {pct(lat, .5):.1f}  p95 {pct(lat, .95):.1f}  p99 {pct(lat, .99):.1f}  max {lat[-1]:.1f}")
    for kind in ("item", "search", "profile", "login", "save"):
        ks = sorted(r[1] for r in results if r[0] == kind)
        if ks:
            print(f"  {kind:8s} n={len(ks):5d}  p50 {statistics.median(ks):7.1f}  p95 {pct(ks, .95):7.1f}")
    print(f"errors {len(errors)}" + (f" (statuses {sorted({e[2] for e in errors})})" if errors else ""))
    print("worker RSS MB before: " + ", ".join(f"{v:.0f}" for v in mem_before.values()))
    print("worker RSS MB after:  " + ", ".join(f"{v:.0f}" for v in mem_after.values()))
    print(f"target p95 <= 300 ms and 0 errors: {'MET' if pct(lat, .95) <= 300 and not errors else 'NOT MET'}")


if __name__ == "__main__":
    main()
