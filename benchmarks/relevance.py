"""Relevance benchmark for the portal's Dutch search.

What it measures
    Every query in ``relevance_judgments.yaml`` is run through
    ``portal.search.search(user, query, per_page=10)`` on a throwaway portal that
    holds the starter library (``content/``) plus the judged extra corpus
    (``benchmarks/relevance_corpus/``, 33 hand-written items, slugs ``rb-*``).
    Queries marked ``as: member`` run as a logged-in member (municipality Delft);
    the rest run anonymously. Reported: nDCG@10, MRR and recall@10, overall and
    per query class, plus the worst queries and what ranked first.

How the judgments were made
    By reading every document of both folders, before any search was run, and
    never adjusted to fit the results. Grade 2 = exactly what the user means;
    grade 1 = partially relevant (a real section or clear sub-point on the topic;
    for person queries the right role or language in another town, or a practice
    whose ``contact`` is the person sought); unlisted = 0 (shared words only,
    passing mentions, deliberate near-miss distractors). Profiles are judged only
    for member queries, since anonymous visitors cannot see them.

Metrics
    nDCG@10 with gain 2^grade - 1 and log2 discount; the ideal ranking uses only
    judged items the searcher may see. MRR: 1/rank of the first hit with grade
    >= 1 (0 when none in the top 10). Recall@10: share of grade >= 1 items in the
    top 10. Target: mean nDCG@10 >= 0.90.

Usage
    .venv/bin/python benchmarks/relevance.py [--json] [--verbose]

It always exits 0: these are figures, not a test.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CONTENT = ROOT / "content"
CORPUS = HERE / "relevance_corpus"
JUDGMENTS = HERE / "relevance_judgments.yaml"
TARGET = 0.90
K = 10
CLASSES = ("exact", "plural", "derivation", "compound", "accent",
           "synonym", "typo", "person", "question", "multiword")
MEMBER_EMAIL = "lid@benchmark.example.org"

sys.path.insert(0, str(ROOT))


def build_portal(tmp: Path):
    """A fresh portal exactly as tests/conftest.py ``make_app`` builds one."""
    import portal
    from portal.services.items import SYSTEM
    from portal.services.library import create_user, import_library
    from portal.services.setup import initialise

    app = portal.create_app({
        "TESTING": True,
        "INSTANCE_PATH": str(tmp / "instance"),
        "SQLALCHEMY_DATABASE_URI": "sqlite:///" + str(tmp / "instance" / "portal.sqlite3"),
        "INDEX_DIR": str(tmp / "index"),
        "CONTENT_DIR": str(CONTENT),
        "SECRET_KEY": "benchmark-secret-key-not-for-production",
    })
    with app.app_context():
        initialise(load_content=True)
        report = import_library(SYSTEM, CORPUS)
        for problem in report.problems:
            print(f"corpus problem: {problem}", file=sys.stderr)
        create_user(SYSTEM, MEMBER_EMAIL, "member", name="benchmark",
                    password="benchmark horse battery staple", municipality="Delft")
    return app


def visible_slugs(search, user) -> set[str]:
    """Everything ``user`` may see, listed by an empty query (no ranking involved)."""
    slugs, page = set(), 1
    while True:
        res = search(user, "", page=page, per_page=100, facets=False)
        slugs.update(h.slug for h in res.hits)
        if page >= res.pages:
            return slugs
        page += 1


def ndcg(ranked: list[str], judged: dict[str, int]) -> float:
    dcg = sum((2 ** judged.get(s, 0) - 1) / math.log2(i + 2) for i, s in enumerate(ranked[:K]))
    ideal = sorted(judged.values(), reverse=True)[:K]
    idcg = sum((2 ** g - 1) / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def rr(ranked: list[str], judged: dict[str, int]) -> float:
    return next((1 / (i + 1) for i, s in enumerate(ranked[:K]) if judged.get(s, 0) >= 1), 0.0)


def recall(ranked: list[str], judged: dict[str, int]) -> float:
    rel = {s for s, g in judged.items() if g >= 1}
    return len(rel & set(ranked[:K])) / len(rel) if rel else 0.0


def run() -> dict:
    logging.disable(logging.WARNING)
    spec = yaml.safe_load(JUDGMENTS.read_text(encoding="utf-8"))["queries"]
    warnings: list[str] = []
    rows = []
    with tempfile.TemporaryDirectory(prefix="relevance-bench-") as tmpdir:
        app = build_portal(Path(tmpdir))
        with app.app_context():
            from sqlalchemy import select

            from portal.extensions import db
            from portal.models import User
            from portal.search import search

            member = db.session.scalar(select(User).where(User.email == MEMBER_EMAIL))
            seen = {None: visible_slugs(search, None), "member": visible_slugs(search, member)}
            for n, q in enumerate(spec, 1):
                who = q.get("as")
                if q.get("class") not in CLASSES:
                    warnings.append(f"query {n} {q['query']!r}: unknown class {q.get('class')!r}")
                judged = {str(s): int(g) for s, g in (q.get("judgments") or {}).items()}
                for slug in judged:
                    if slug not in seen["member"]:
                        warnings.append(f"{q['query']!r}: judged slug {slug!r} does not exist")
                    elif slug not in seen[who]:
                        warnings.append(f"{q['query']!r}: {slug!r} is invisible to {who or 'anonymous'}")
                judged = {s: g for s, g in judged.items() if s in seen[who] and g > 0}
                started = time.perf_counter()
                res = search(member if who == "member" else None, q["query"], per_page=K)
                ms = (time.perf_counter() - started) * 1000
                ranked = [h.slug for h in res.hits]
                rows.append({
                    "query": q["query"], "class": q["class"], "as": who or "anonymous",
                    "ndcg": ndcg(ranked, judged), "rr": rr(ranked, judged),
                    "recall": recall(ranked, judged), "total": res.total,
                    "fuzzy": res.fuzzy, "suggestion": res.suggestion, "error": res.error,
                    "ms": round(ms, 1), "top": ranked, "judged": judged,
                })
    by_class = defaultdict(list)
    for r in rows:
        by_class[r["class"]].append(r)

    def summary(rs):
        n = len(rs) or 1
        return {"queries": len(rs), "ndcg@10": sum(r["ndcg"] for r in rs) / n,
                "mrr": sum(r["rr"] for r in rs) / n, "recall@10": sum(r["recall"] for r in rs) / n}

    overall = summary(rows)
    return {
        "overall": overall, "target_ndcg@10": TARGET, "target_met": overall["ndcg@10"] >= TARGET,
        "per_class": {c: summary(by_class[c]) for c in CLASSES if by_class[c]},
        "queries": rows, "warnings": warnings,
    }


def show(slug: str | None, judged: dict[str, int]) -> str:
    return "(nothing)" if slug is None else f"{slug} [{judged.get(slug, 0)}]"


def print_report(data: dict, verbose: bool) -> None:
    for w in data["warnings"]:
        print(f"WARNING: {w}")
    rows = data["queries"]
    if verbose:
        for r in rows:
            flags = " (fuzzy)" if r["fuzzy"] else ""
            print(f"\n[{r['class']}] {r['query']!r} as {r['as']}: nDCG {r['ndcg']:.3f}, "
                  f"{r['total']} hits{flags}")
            for i, slug in enumerate(r["top"][:5], 1):
                print(f"   {i}. {show(slug, r['judged'])}")
        print()
    o = data["overall"]
    print(f"Relevance benchmark: {o['queries']} queries, content/ + relevance_corpus/\n")
    print(f"{'class':<12}{'n':>4}{'nDCG@10':>10}{'MRR':>8}{'R@10':>8}")
    for c, s in data["per_class"].items():
        print(f"{c:<12}{s['queries']:>4}{s['ndcg@10']:>10.3f}{s['mrr']:>8.3f}{s['recall@10']:>8.3f}")
    print(f"{'OVERALL':<12}{o['queries']:>4}{o['ndcg@10']:>10.3f}{o['mrr']:>8.3f}{o['recall@10']:>8.3f}")
    met = "MET" if data["target_met"] else "NOT MET"
    print(f"\nTarget nDCG@10 >= {data['target_ndcg@10']:.2f}: {met} ({o['ndcg@10']:.3f})")
    print("\nWorst 10 queries (nDCG@10 ascending):")
    for r in sorted(rows, key=lambda r: (r["ndcg"], r["rr"]))[:10]:
        first = r["top"][0] if r["top"] else None
        ranks = {s: (r["top"].index(s) + 1 if s in r["top"] else "-") for s in r["judged"]}
        wanted = ", ".join(f"{s}={g}@{ranks[s]}" for s, g in
                           sorted(r["judged"].items(), key=lambda kv: -kv[1]))
        extra = " fuzzy" if r["fuzzy"] else ""
        extra += f" suggestion={r['suggestion']!r}" if r["suggestion"] else ""
        print(f"- [{r['class']}] {r['query']!r} ({r['as']}) nDCG {r['ndcg']:.3f} "
              f"RR {r['rr']:.2f}, {r['total']} hits{extra}")
        print(f"    first: {show(first, r['judged'])}")
        print(f"    judged (slug=grade@rank): {wanted or '(none visible)'}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print machine-readable figures")
    parser.add_argument("--verbose", action="store_true", help="print the top 5 per query")
    args = parser.parse_args(argv)
    try:
        data = run()
    except Exception as exc:  # figures, not a test: report and exit 0
        print(f"benchmark could not run: {exc!r}", file=sys.stderr)
        return 0
    if args.json:
        print(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    else:
        print_report(data, args.verbose)
    return 0


if __name__ == "__main__":
    sys.exit(main())
