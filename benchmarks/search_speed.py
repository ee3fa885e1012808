"""Search speed: the portal's Whoosh search vs. an SQLite FTS5 baseline.

Per corpus size N, in a subprocess each (clean peak RSS and caches), it measures
* indexing of N synthetic Dutch items, deterministic for ``--seed`` (practices
  50 %, lessons 25 %, profiles 25 %; Markdown bodies of 150-600 words from the
  field's vocabulary plus a Zipf tail of real Dutch words from wordfreq; real
  CBS codes; public/members/municipality visibility; 5 % drafts) through the
  real ``SearchIndex(tmp).rebuild(items, n, expected=n)`` (as ``portal reindex``): s, items/s, index MB, peak RSS
  (``resource.getrusage`` ru_maxrss of the worker, items in memory included);
* latency of ``portal.search.search(user, text, filters=..., per_page=10)``
  (facets, highlights, fuzzy retry, "did you mean") in a ``create_app`` app
  context whose INDEX_DIR is that index: single words, 2-3 words, compounds,
  missing accents, typos, questions, empty queries with filters; anonymous and
  member users alternating; a warm-up pass over every distinct query, then
  ``--queries`` timed ones: p50/p95/p99 ms and queries/s (one thread);
* a baseline: the same documents in SQLite FTS5 (unicode61 remove_diacritics 2),
  the queries as OR-queries of quoted words, bm25, LIMIT 10, snippet(), the
  same permission labels, GROUP BY facet counts on side tables. FTS5 does no
  Dutch stemming, compounds, synonyms, fuzzy retry or suggestions: less work.

Run from the project root (``--profile`` adds cProfile tables on stderr)::

    .venv/bin/python benchmarks/search_speed.py [--sizes 1000,10000] [--queries 200] [--seed 1]

``--keep-index DIR`` keeps each size's generated Whoosh index and FTS5
database in ``DIR`` and reuses them in later runs, which then time only the
queries (their indexing figures are those of the run that built them, shown
with its date): for re-measuring query latency after a change to the query
path. Delete ``DIR`` after a change to indexing or to the generator. Each
size's column ends with the load average (1/5/15 min) after it ran: the
machine may be shared.

Targets: search p95 <= 50 ms at 10,000 items and <= 150 ms at 100,000 (pass
``--sizes 100000``: long, see the printed estimate); reindex 10,000 <= 60 s.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import math
import os
import platform
import random
import re
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: (s per item indexed, s per query at 10,000 items) measured on the 2-core machine; refined as sizes finish
EST = (0.018, 0.6)

# -- vocabulary ----------------------------------------------------------------------
ROLES = ("wijkagent|jongerenwerker|sporttrainer|imam|docent|buurtbewoner|coördinator|"
         "beleidsmedewerker|moskeebestuurder|ervaringsdeskundige|leerplichtambtenaar|straatcoach|"
         "zorgprofessional|ondernemer|voorganger").split("|")
ROLES_PL = ("wijkagenten|jongerenwerkers|sporttrainers|imams|docenten|ouders|buurtbewoners|"
            "coördinatoren|sleutelfiguren|vrijwilligers|professionals|beleidsmedewerkers|"
            "moskeebesturen|migrantenorganisaties|leerkrachten").split("|")
PHENOMENA = ("polarisatie|radicalisering|extremisme|discriminatie|spanningen in de wijk|online haat|"
             "complotdenken|desinformatie|rechtsextremisme|jihadisme|antisemitisme|moslimhaat|"
             "eenzaamheid|uitsluiting|werving door extremisten").split("|")
GOALS = ("weerbaarheid|vertrouwen|samenwerking|signalering|radicaliseringspreventie|kennisdeling|"
         "netwerkopbouw|zichtbaarheid|draagvlak|dialoog|ouderbetrokkenheid|vroegsignalering|"
         "sociale stabiliteit|informatie-uitwisseling|deskundigheidsbevordering").split("|")
PLACES = ("de moskee|het buurthuis|het café|de sportvereniging|school|het wijkcentrum|"
          "de bibliotheek|het jongerencentrum|sociale media|de kerk|het stadhuis|de voetbalclub|"
          "de markt|WhatsApp-groepen|TikTok").split("|")
COMPOUNDS = ("sleutelfigurennetwerk|jongerenwerkers|radicaliseringspreventie|netwerkbijeenkomst|"
             "ouderavond|wijkteam|buurtpreventie|signaleringsoverleg|moskeebestuur|"
             "jongerenwerkorganisatie|weerbaarheidstraining|deskundigheidsbevordering|"
             "polarisatievraagstukken|veiligheidshuis|intervisiebijeenkomst|wervingsgesprek").split("|")
ADJ = ("geïnteresseerd|betrokken|kwetsbaar|informeel|formeel|preventief|lokaal|regionaal|"
       "zichtbaar|laagdrempelig|structureel|creatief|actief|ervaren").split("|")
LANGS = {"nl": "Nederlands", "so": "Somalisch", "ar": "Arabisch", "tr": "Turks", "ber": "Berbers",
         "en": "Engels", "pl": "Pools", "ti": "Tigrinya", "fa": "Perzisch", "pap": "Papiaments"}
FIRST = ("Fatima|Mohamed|Annemiek|Ruud|Hodan|Emre|Ilham|Yassin|Marloes|Sanne|Kees|Nadia|Jeroen|"
         "Ayse|Bilal|Petra|Daan|Samira|Ahmed|Lotte").split("|")
LAST = ("de Vries|Jansen|Yildiz|El Amrani|Bakker|Visser|Duale|Öztürk|Smit|Benali|van Dijk|Mulder|"
        "Bouzerda|de Jong|Hoekstra|Kaya|Meijer|Abdi").split("|")
TEMPLATES = (
    "De {role} werkt samen met {roles} om {phen} vroeg te signaleren.|In {place} organiseren {roles} "
    "gesprekken over {phen} en {goal}.|Het {comp} zorgt voor meer {goal} tussen {roles} en de gemeente.|Een "
    "{adj} {role} kent de wijk en weet wat er speelt rond {phen}.|{Roles} merkten dat jongeren via {place} in "
    "aanraking kwamen met {phen}.|De coördinator van het {comp} nodigt {roles} uit voor een bijeenkomst in "
    "{place}.|Wie {adj} is in anderen, bouwt sneller {goal} op met {roles}.|Ouders vroegen om een avond over "
    "{phen} en over de rol van {place}.|Na een incident in {place} kwamen {roles} en de {role} snel bij elkaar."
    "|De gemeente investeert in {goal} en in {comp} voor {roles}.|Belangrijk is dat {roles} elkaar kennen "
    "voordat er iets gebeurt rond {phen}.|Tijdens de {comp} deelden {roles} signalen over {phen} in {place}."
).split("|")


class Generator:
    """Deterministic synthetic items: ``item(i)`` is a SimpleNamespace with the
    attributes ``portal.search.documents.item_document`` reads."""

    def __init__(self, seed: int):
        from wordfreq import top_n_list

        from portal import taxonomy
        self.rnd = random.Random(seed)
        self.tail = [w for w in top_n_list("nl", 30000)[150:] if w.isalpha()]
        self.tail_cw = list(itertools.accumulate(1 / (i + 10) for i in range(len(self.tail))))
        with open(ROOT / "portal" / "data" / "gemeenten.csv", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        provinces = sorted({r["province"] for r in rows})  # a region per province
        self.munis = [SimpleNamespace(cbs_code=r["cbs_code"], name=r["name"],
                                      region_id=provinces.index(r["province"]) + 1) for r in rows]
        self.muni_cw = list(itertools.accumulate(1 / (i + 5) ** 0.8 for i in range(len(self.munis))))
        self.tax = {k: list(v) for k, v in taxonomy.BUILTIN.items()}

    def _fill(self, t: str) -> str:
        c, v = self.rnd.choice, self.topic
        roles = c(v["roles"])
        return t.format(role=c(v["role"]), roles=roles, Roles=roles.capitalize(), phen=c(v["phen"]),
                        goal=c(v["goal"]), place=c(v["place"]), comp=c(v["comp"]), adj=c(v["adj"]))

    def sentence(self) -> str:
        if self.rnd.random() < 0.65:
            return self._fill(self.rnd.choice(TEMPLATES))
        words = self.rnd.choices(self.tail, cum_weights=self.tail_cw, k=self.rnd.randint(6, 14))
        return f"Daarnaast {' '.join(words)} bij {self.rnd.choice(self.topic['comp'] + self.topic['roles'])}."

    def body(self, kind: str, name: str, langs: list[str]) -> str:
        r, target, out, words = self.rnd, self.rnd.randint(150, 600), [], 0
        heads = {"practice": ["Doel", "Doelgroep", "Aanpak", "Resultaten", "Tips"],
                 "lesson": ["Wat speelde er", "Wat ging er mis", "De les"],
                 "profile": [f"Waarmee kan {name} helpen?", "Achtergrond"]}[kind]
        if kind == "profile":
            out.append(f"{name} spreekt {' en '.join(LANGS[x] for x in langs)}.")
        for i in range(10_000):
            if words >= target:
                break
            if i % 6 == 0 and heads:
                out.append(f"\n## {heads.pop(0)}\n")
            if r.random() < 0.15:
                line = f"- **{r.choice(self.topic['goal']).capitalize()}.** {self.sentence()}"
            elif r.random() < 0.05:
                line = f"Zie [{r.choice(self.topic['comp'])}](../practices/{r.choice(COMPOUNDS)}.md). {self.sentence()}"
            else:
                line = " ".join(self.sentence() for _ in range(r.randint(1, 3)))
            out.append(line)
            words += len(line.split())
        return "\n\n".join(out)

    def item(self, i: int) -> SimpleNamespace:
        r, tax = self.rnd, self.tax
        # each item is about a few of the field's topics, as real texts are
        self.topic = {k: r.sample(words, 4) for k, words in (
            ("role", ROLES), ("roles", ROLES_PL), ("phen", PHENOMENA), ("goal", GOALS), ("place", PLACES),
            ("comp", COMPOUNDS), ("adj", ADJ))}
        if r.random() < 0.5:  # the portal's own subject
            self.topic["roles"].append("sleutelfiguren")
        v = self.topic
        kind = r.choices(["practice", "lesson", "profile"], [50, 25, 25])[0]
        picked = r.choices(self.munis, cum_weights=self.muni_cw, k=r.choice([1, 1, 1, 2, 3]))
        munis = list({m.cbs_code: m for m in picked}.values()) if r.random() < 0.95 else []
        langs = ["nl"] + r.sample([k for k in LANGS if k != "nl"], r.randint(0, 2)) if kind == "profile" else []
        name = f"{r.choice(FIRST)} {r.choice(LAST)}"
        title = {"practice": lambda: f"{r.choice(v['goal']).capitalize()} met {r.choice(v['roles'])} in "
                 f"{munis[0].name if munis else 'de regio'}",
                 "lesson": lambda: f"{r.choice(['Betrek', 'Zoek', 'Vertrouw op', 'Investeer in'])} "
                 f"{r.choice(v['roles'])} bij {r.choice(v['phen'])}",
                 "profile": lambda: name}[kind]()
        steps = sorted(r.sample(list(tax["step"]), r.randint(0, 3)))
        created = datetime(2015, 1, 1) + timedelta(days=r.randint(0, 4000), seconds=r.randint(0, 86400))
        vis = r.choices(["public", "members", "municipality"], [55, 30, 15])[0]
        status, kft = "published" if r.random() < 0.95 else "draft", r.choice(list(tax["key_figure_type"]))
        return SimpleNamespace(
            id=i, type=kind, slug=f"{kind}-{i}", title=title, summary=" ".join(self.sentence() for _ in range(2)),
            body=self.body(kind, name.split()[0], langs), visibility=vis, status=status, language="nl",
            date=created.date() if r.random() < 0.7 else None, created_at=created, published_at=created,
            updated_at=created + timedelta(days=r.randint(0, 300)), region_id=None,
            author_id=r.randint(1, 200), municipalities=munis,
            themes=r.sample(list(tax["theme"]), r.randint(1, 4)), steps=steps,
            phases=r.sample(list(tax["phase"]), r.randint(0, 2)), tags=r.sample(v["comp"] + v["roles"] + v["phen"], r.randint(2, 6)),
            target_groups=r.sample(list(tax["target_group"]), r.randint(1, 3)) if kind == "practice" else [],
            key_figure_types=r.sample(list(tax["key_figure_type"]), r.randint(0, 3)) if kind == "practice" else [],
            evidence=r.choice(list(tax["evidence"])) if kind == "practice" else None,
            key_figure_type=kft if kind == "profile" else None,
            expertise=r.sample(v["goal"] + v["phen"], 3) if kind == "profile" else [],
            communities=r.sample(v["roles"], 2) if kind == "profile" else [], languages=langs,
            role=r.choice(v["role"]) if kind == "profile" else None,
            organisation=f"Stichting {r.choice(GOALS).capitalize()}" if kind == "profile" else None)


# -- the query mix ---------------------------------------------------------------------
QUERIES = {
    "single": "sleutelfiguren|polarisatie|wijkagent|moskee|weerbaarheid|radicalisering|ouders|werving|netwerk",
    "words": "wijkagent moskee|sociale media jongeren|werving sleutelfiguren netwerk|ouders radicalisering"
             "|training docenten polarisatie|vertrouwen jongerenwerk",
    "compound": "jongerenwerkers|radicaliseringspreventie|sleutelfigurennetwerk|netwerkbijeenkomst"
                "|weerbaarheidstraining|moskeebesturen",
    "no-accent": "coordinator|geinteresseerd|cafe|coordinatoren netwerk|Ozturk",
    "typo": "sleutelfiguurren|polarsatie|radicaliserng|wijkagnet|jongerenwerkr|weerbarheid",
    "question": "wie spreekt Somalisch en kent jongerenwerk|hoe betrek ik ouders bij preventie van "
                "radicalisering|ik zoek een imam die ervaring heeft met polarisatie op sociale media"
                "|welke gemeente heeft een netwerk van sleutelfiguren opgezet"
                "|tips voor werving van vrijwilligers in de moskee",
}


def query_mix(code: str) -> list[tuple[str, str, dict]]:
    """(category, text, filters); ``code``: the member's municipality."""
    mix = [(cat, text, {}) for cat, texts in QUERIES.items() for text in texts.split("|")]
    mix += [("empty+filter", "", f) for f in ({"theme": ["polarisatie"]}, {"municipality": [code]},
                                             {"type": ["practice"], "phase": ["opzetten"]},
                                             {"type": ["profile"], "profile_language": ["so"]}, {})]
    return mix + [("text+filter", "training", {"type": ["practice"]}),
                  ("text+filter", "jongeren", {"theme": ["radicalisering", "polarisatie"]})]


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)] if s else float("nan")


# -- FTS5 baseline ---------------------------------------------------------------------------
def fts_build(path: str, items) -> float:
    from portal.search.documents import item_document
    from portal.search.schema import FACET_FIELDS

    t = time.perf_counter()
    con = sqlite3.connect(path)
    con.executescript("""
        CREATE VIRTUAL TABLE docs USING fts5(title, summary, body, tokenize='unicode61 remove_diacritics 2');
        CREATE TABLE meta(id INTEGER PRIMARY KEY, type TEXT, date TEXT);
        CREATE TABLE perm(item_id INTEGER, label TEXT);
        CREATE TABLE facet(item_id INTEGER, field TEXT, value TEXT);""")
    for item in items:
        d = item_document(item)
        i = int(d["id"])
        con.execute("INSERT INTO docs(rowid, title, summary, body) VALUES (?,?,?,?)",
                    (i, d.get("title", ""), d.get("summary", ""), d.get("body", "")))
        con.execute("INSERT INTO meta VALUES (?,?,?)", (i, d["type"], d["date"].isoformat()))
        con.executemany("INSERT INTO perm VALUES (?,?)", [(i, x) for x in d.get("labels", "").split(",") if x])
        con.executemany("INSERT INTO facet VALUES (?,?,?)", [(i, f, v) for f in FACET_FIELDS
                                                             for v in d.get(f, "").split(",") if v])
    con.executescript("""
        CREATE INDEX perm_l ON perm(label, item_id); CREATE INDEX facet_f ON facet(field, value, item_id);
        CREATE INDEX facet_i ON facet(item_id, field, value); CREATE INDEX meta_d ON meta(date);
        INSERT INTO docs(docs) VALUES ('optimize'); ANALYZE;""")
    con.commit()
    con.close()
    return time.perf_counter() - t


def fts_search(con, stop, text: str, labels: list[str], filters: dict):
    """Top 10 with snippets, total and facet counts; ``+rowid`` keeps SQLite
    from probing FTS5 once per permission row."""
    words = list(dict.fromkeys(w for w in re.findall(r"\w+", text.lower()) if w not in stop))
    cond, args = f"+rowid IN (SELECT item_id FROM perm WHERE label IN ({','.join('?' * len(labels))}))", [*labels]
    for field, values in filters.items():
        cond += f" AND +rowid IN (SELECT item_id FROM facet WHERE field=? AND value IN ({','.join('?' * len(values))}))"
        args += [field, *values]
    if words:
        match = " OR ".join('"%s"' % w.replace('"', '""') for w in words)
        args = [match, *args]
        hits = f"SELECT rowid AS id, bm25(docs, 3.0, 2.0, 1.0) AS score FROM docs WHERE docs MATCH ? AND {cond}"
        ids = [r[0] for r in con.execute(hits + " ORDER BY score LIMIT 10", args)]
        top = con.execute(f"SELECT rowid, snippet(docs, 2, '<mark>', '</mark>', '…', 24) FROM docs WHERE docs "
                          f"MATCH ? AND rowid IN ({','.join(map(str, ids)) or 0})", [match]).fetchall()
    else:
        hits = f"SELECT rowid AS id, date FROM meta WHERE {cond}"
        top = con.execute(f"SELECT h.id, substr(d.summary, 1, 240) FROM ({hits} ORDER BY date DESC LIMIT 10) h "
                          "JOIN docs d ON d.rowid = h.id", args).fetchall()
    groups = con.execute(f"WITH h AS MATERIALIZED ({hits}) SELECT f.field, f.value, count(*) FROM facet f "
                         "JOIN h ON f.item_id = h.id GROUP BY f.field, f.value "
                         "UNION ALL SELECT '_total', '', count(*) FROM h", args).fetchall()
    return top, groups


# -- one size, in a subprocess ----------------------------------------------------------------
def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def time_plan(run, mix, users, plan, cpu: list | None = None) -> tuple[list[float], dict[str, list[float]]]:
    """Wall-clock ms per planned query (and per category) after a warm-up;
    ``cpu``, when given, receives each query's CPU time in ms (this
    process's, so other load on a shared machine counts less than in the
    wall-clock figure)."""
    for m, u in itertools.product(mix, users):  # warm-up: every distinct query once per user
        run(m, u)
    lat, cats = [], {}
    for m, u in plan:
        c = time.process_time()
        t = time.perf_counter()
        run(m, u)
        lat.append((time.perf_counter() - t) * 1000)
        if cpu is not None:
            cpu.append((time.process_time() - c) * 1000)
        cats.setdefault(m[0], []).append(lat[-1])
    return lat, cats


def run_size(n: int, n_queries: int, seed: int, profile: bool, keep: str | None = None) -> dict:
    """Measure one size. ``keep``: a folder where the generated Whoosh index
    and FTS5 database of this size and seed are kept (``<keep>/n<N>-s<seed>``)
    and reused by later runs: their indexing is then not measured again (the
    reused figures are those of the run that built them). Delete the folder
    after a change to indexing or the generator."""
    from portal.search import SearchIndex
    from portal.search.documents import item_document

    kept = os.path.join(os.path.abspath(keep), f"n{n}-s{seed}") if keep else None
    if kept and os.path.exists(os.path.join(kept, "result.json")):
        with open(os.path.join(kept, "result.json")) as fh:
            res = json.load(fh)
        res["reused"] = kept
        log(f"n={n}: reusing the index in {kept} (built {res.get('built', '?')})")
        gen = Generator(seed)
        return _time_queries(res, gen, os.path.join(kept, "index"), os.path.join(kept, "fts.sqlite3"),
                             kept, n_queries, profile)
    t = time.perf_counter()
    gen = Generator(seed)
    items = [gen.item(i) for i in range(1, n + 1)]
    res: dict = {"n": n, "gen_s": time.perf_counter() - t, "rss_before_mb": rss_mb(),
                 "avg_words": sum(len(i.body.split()) for i in items) / n}
    log(f"n={n}: generated in {res['gen_s']:.1f}s, {res['avg_words']:.0f} body words on average")
    tmp = tempfile.mkdtemp(prefix=f"search_speed_{n}_")
    try:
        idx, fts_path = os.path.join(tmp, "index"), os.path.join(tmp, "fts.sqlite3")
        t = time.perf_counter()
        # expected=n: the item count ``portal.search.rebuild()`` passes, so the
        # benchmark takes the portal's own path (two writer processes from
        # 2,000 items on a multi-core machine), not a single-process rebuild
        SearchIndex(idx).rebuild(items, n, expected=n)
        res.update(index_s=time.perf_counter() - t, rss_peak_mb=rss_mb(),
                   index_mb=sum(f.stat().st_size for f in Path(idx).rglob("*") if f.is_file()) / 2**20)
        log(f"n={n}: Whoosh rebuild {res['index_s']:.1f}s ({n / res['index_s']:.0f} items/s)")
        t = time.perf_counter()
        for item in items:
            item_document(item)
        res["docs_s"] = time.perf_counter() - t
        res["fts_index_s"] = fts_build(fts_path, items)
        res["fts_mb"] = os.path.getsize(fts_path) / 2**20
        del items
        if kept:
            os.makedirs(os.path.dirname(kept), exist_ok=True)
            shutil.rmtree(kept, ignore_errors=True)
            shutil.copytree(tmp, kept)
            with open(os.path.join(kept, "result.json"), "w") as fh:
                json.dump({**res, "built": time.strftime("%Y-%m-%d %H:%M:%S")}, fh)
        return _time_queries(res, gen, idx, fts_path, tmp, n_queries, profile)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _time_queries(res: dict, gen, idx: str, fts_path: str, tmp: str, n_queries: int, profile: bool) -> dict:
    """Time the query mix on the Whoosh index ``idx`` and the FTS5 database
    ``fts_path``; the app's database and instance folder go to ``tmp``."""
    from portal import create_app
    from portal.search import search
    from portal.search.analysis import STOP_WORDS

    n = res["n"]
    code = gen.munis[0].cbs_code
    member = SimpleNamespace(is_authenticated=True, is_active=True, id=7, role="member", region_id=1,
                             municipality=SimpleNamespace(cbs_code=code), has_role=lambda r: r == "member")
    users = [(None, ["public"]), (member, ["public", "members", "author-7", f"municipality-{code}"])]
    mix = query_mix(code)
    plan = [(mix[k % len(mix)], users[k % 2]) for k in range(n_queries)]
    app = create_app({"INDEX_DIR": idx, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/db.sqlite3",
                      "INSTANCE_PATH": f"{tmp}/instance", "SECRET_KEY": "x", "TESTING": True})
    seen: list = []
    with app.app_context():
        from portal.services.setup import upgrade_database

        # a portal's database (empty: the items live only in the index here),
        # as search() reads it for profiles' consent
        upgrade_database()

        def whoosh_run(m, u):
            r = search(u[0], m[1], filters=m[2], per_page=10)
            seen.append((r.fuzzy, r.total))
        cpu: list[float] = []
        lat, cats = time_plan(whoosh_run, mix, users, plan, cpu)
        timed = seen[2 * len(mix):]
        if profile:
            import cProfile
            import pstats
            pr = cProfile.Profile()
            pr.runcall(lambda: [whoosh_run(m, users[1]) for m in mix if m[0] in ("question", "typo", "words")])
            st = pstats.Stats(pr, stream=sys.stderr).strip_dirs()
            st.sort_stats("cumulative").print_stats(35)
            st.sort_stats("tottime").print_stats(25)
    from portal.search import dense
    # memory the query path keeps: decoded postings (portal.search.dense), and
    # the worker's peak RSS by the end of the queries
    res.update(cpu_p50=pct(cpu, 50), cpu_p95=pct(cpu, 95), postings_mb=dense.kept_bytes() / 2**20,
               rss_queries_mb=rss_mb())
    res.update(p50=pct(lat, 50), p95=pct(lat, 95), p99=pct(lat, 99), qps=1000 * len(lat) / sum(lat),
               fuzzy_rate=sum(f for f, _ in timed) / len(timed), hits=sum(h for _, h in timed) / len(timed),
               cats={c: (pct(v, 50), pct(v, 95)) for c, v in cats.items()})
    log(f"n={n}: Whoosh p50 {res['p50']:.1f} ms, p95 {res['p95']:.1f} ms; now FTS5")
    con = sqlite3.connect(fts_path)
    fcpu: list[float] = []
    flat, _ = time_plan(lambda m, u: fts_search(con, STOP_WORDS, m[1], u[1], m[2]), mix, users, plan, fcpu)
    con.close()
    res.update(fts_p50=pct(flat, 50), fts_p95=pct(flat, 95), fts_cpu_p50=pct(fcpu, 50), fts_cpu_p95=pct(fcpu, 95))
    return res


# -- driver --------------------------------------------------------------------------------------
def machine() -> str:
    import whoosh

    def git(*a):
        return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True).stdout
    head, dirty = git("rev-parse", "--short", "HEAD").strip(), git("status", "--porcelain", "portal").split()[1::2]
    return (f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}, "
            f"Whoosh {whoosh.versionstring()}, SQLite {sqlite3.sqlite_version}; git {head}"
            + (f" + uncommitted {', '.join(dirty)}" if dirty else ""))


def estimate(sizes: list[int], n_queries: int, s_item: float, s_query_10k: float) -> str:
    """Minutes for ``sizes``: indexing (Whoosh + FTS5) per item, queries (warm-up
    included) scaling with N because facet counting walks the whole index."""
    return f"~{sum(n * s_item + (n_queries + 100) * s_query_10k * n / 1e4 for n in sizes) / 60:.0f} min"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1000,10000", help="comma-separated corpus sizes (100000 takes long)")
    ap.add_argument("--queries", type=int, default=200, help="timed queries per size")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--profile", action="store_true", help="cProfile some slow queries (stderr)")
    ap.add_argument("--keep-index", metavar="DIR",
                    help="keep each size's generated indexes in DIR and reuse them in later runs "
                         "(only the queries are timed again; delete DIR after changing indexing)")
    ap.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print("RESULT " + json.dumps(run_size(args.worker, args.queries, args.seed, args.profile,
                                              args.keep_index)), flush=True)
        return
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    cmd = " ".join([os.path.relpath(sys.executable, ROOT), os.path.relpath(__file__, ROOT), *sys.argv[1:]])
    print(f"command: {cmd}\nmachine: {machine()}")
    print(f"time budget: {estimate(sizes, args.queries, *EST)} for sizes {sizes} (rough)", flush=True)
    results = []
    for k, n in enumerate(sizes):
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, __file__, "--worker", str(n), "--queries", str(args.queries),
                               "--seed", str(args.seed)] + ["--profile"] * args.profile
                              + (["--keep-index", args.keep_index] if args.keep_index else []),
                              stdout=subprocess.PIPE, text=True, cwd=ROOT)
        line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
        if proc.returncode or not line:
            sys.exit(f"size {n} failed (exit {proc.returncode})")
        r = json.loads(line[-1][7:])
        r["load"] = "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())  # 1, 5, 15 min, after the size ran
        results.append(r)
        if sizes[k + 1:]:
            s_item = (r["index_s"] + r["docs_s"] + r["fts_index_s"] + r["gen_s"]) / n
            left = estimate(sizes[k + 1:], args.queries, s_item * 1.1, r["p50"] / 1000 * 1e4 / n)
            print(f"size {n} took {time.perf_counter() - t:.0f}s; {sizes[k + 1:]} need {left}", flush=True)
    report(results, cmd)


def report(results: list[dict], cmd: str) -> None:
    rows = [("avg body words", "{avg_words:.0f}"), ("Whoosh reindex s", "{index_s:.1f}"),
            ("  items/s", lambda r: f"{r['n'] / r['index_s']:.0f}"),
            ("  item_document alone s", "{docs_s:.1f}"), ("  index size MB", "{index_mb:.1f}"),
            ("  peak RSS MB (ru_maxrss)", "{rss_peak_mb:.0f} ({rss_before_mb:.0f} before)"),
            ("FTS5 index s / MB", "{fts_index_s:.1f} / {fts_mb:.1f}"),
            ("Whoosh p50 / p95 / p99 ms", "{p50:.1f} / {p95:.1f} / {p99:.1f}"),
            ("  queries/s (1 thread)", "{qps:.1f}"), ("  mean hits per query", "{hits:.0f}"),
            ("  fuzzy retry used", "{fuzzy_rate:.0%}"),
            ("  decoded postings kept MB / peak RSS MB", lambda r: "{:.0f} / {:.0f}".format(r.get("postings_mb", math.nan),
                                                                               r.get("rss_queries_mb", math.nan))), ("FTS5 p50 / p95 ms", "{fts_p50:.2f} / {fts_p95:.2f}"),
            ("Whoosh/FTS5 p50 | p95", lambda r: f"{r['p50'] / r['fts_p50']:.1f}x | {r['p95'] / r['fts_p95']:.1f}x"),
            ("CPU ms p50 / p95 Whoosh", lambda r: "{:.1f} / {:.1f}".format(r.get("cpu_p50", math.nan),
                                                                       r.get("cpu_p95", math.nan))),
            ("CPU ms p50 / p95 FTS5", lambda r: "{:.2f} / {:.2f}".format(r.get("fts_cpu_p50", math.nan),
                                                                      r.get("fts_cpu_p95", math.nan))),
            ("load average after (1/5/15)", lambda r: r.get("load", "?")),
            ("index reused from", lambda r: "-" if not r.get("reused") else f"run of {r.get('built', '?')}")]
    for c in sorted({c for r in results for c in r["cats"]}):
        rows.append((f"  {c} p50/p95 ms", lambda r, c=c: "{:.1f} / {:.1f}".format(*r["cats"].get(c, (0, 0)))))
    w = max(len(h) for h, _ in rows) + 2
    print("\n" + "=" * (w + 26 * len(results)))
    print(f"{'items':{w}}" + "".join(f"{r['n']:>26,}" for r in results))
    for head, fmt in rows:
        print(f"{head:{w}}" + "".join(f"{fmt(r) if callable(fmt) else fmt.format(**r):>26}" for r in results))
    print("-" * (w + 26 * len(results)) + "\ntargets:")
    by_n = {r["n"]: r for r in results}
    for label, n, key, limit, unit in [("search p95 at 10,000", 10000, "p95", 50, "ms"),
                                       ("search p95 at 100,000", 100000, "p95", 150, "ms"),
                                       ("full reindex of 10,000", 10000, "index_s", 60, "s")]:
        r = by_n.get(n)
        verdict = "not measured" if r is None else f"{r[key]:.1f} {unit}: {'MET' if r[key] <= limit else 'NOT MET'}"
        print(f"  {label:<24} <= {limit:g} {unit:<3} {verdict}")
    print("notes: latency = portal.search.search() with facets, highlights, fuzzy retry and suggestion; one\n"
          "       thread, warm. FTS5 does no Dutch stemming, compounds, synonyms, fuzzy retry or suggestions,\n"
          "       so it does less work. Peak RSS: the worker's ru_maxrss, generated items in memory included.")
    print(f"command: {cmd}\nmachine: {machine()}")


if __name__ == "__main__":
    main()
