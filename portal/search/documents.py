"""Item row -> Whoosh document. Contact details are never indexed."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

import logging

from .. import permissions, taxonomy
from ..markdown import plain_text

log = logging.getLogger(__name__)


def effective_phases(item: Any) -> list[str]:
    """The item's phases plus those its sub-steps imply (a step implies its phase)."""
    phases = list(item.phases or [])
    for step in item.steps or []:
        try:
            phase = taxonomy.phase_of_step(step)
        except KeyError:
            continue
        if phase not in phases:
            phases.append(phase)
    return phases


def language_names(codes: list[str]) -> list[str]:
    """ISO 639-1 codes -> Dutch and English language names from CLDR (via
    Babel), so "wie spreekt Somalisch" finds a profile listing ``so``."""
    from babel import Locale

    names: list[str] = []
    for locale in ("nl", "en"):
        table = Locale(locale).languages
        names += [table[c] for c in codes if c in table]
    return names


def _labels(kind: str, keys: list[str]) -> list[str]:
    return [taxonomy.label(kind, k) for k in keys]


def safe_document(item: Any) -> dict[str, Any]:
    """``item_document``, or when building it fails (a body the renderer
    chokes on), the same without the body: the item stays findable by its
    title and, above all, keeps correct permission labels, and the change log
    is never blocked by one bad item."""
    try:
        return item_document(item)
    except Exception:
        log.exception("indexing %s/%s without its body", item.type, item.slug)
        return item_document(item, with_body=False)


def item_document(item: Any, with_body: bool = True) -> dict[str, Any]:
    """The index document of ``item``: text fields, facet keys, permission labels.

    Leaves out ``contact_email`` and ``contact_phone`` on purpose: what is not
    in the index cannot leak through a snippet or a match.
    """
    tags: list[str] = list(item.tags or [])
    tags += _labels("theme", item.themes or [])
    tags += [taxonomy.label("step", s) for s in item.steps or []]
    kfts = list(item.key_figure_types or [])
    if item.type == "practice":
        tags += _labels("target_group", item.target_groups or [])
    if item.type == "profile":
        if item.key_figure_type:
            kfts.append(item.key_figure_type)
        tags += list(item.expertise or []) + list(item.communities or [])
        tags += [x for x in (item.role, item.organisation) if x]
        tags += language_names(item.languages or [])
    tags += _labels("key_figure_type", kfts)
    tags += [m.name for m in item.municipalities]
    body = plain_text(item.body or "") if with_body else ""
    when = item.date or (item.published_at or item.created_at or datetime(1970, 1, 1)).date()
    doc = {
        "id": str(item.id),
        "type": item.type,
        "slug": item.slug,
        "title": item.title or "",
        "summary": item.summary or "",
        "tags": " ; ".join(tags),
        "body": body,
        # "Did you mean" draws on this field for every caller, so it holds only
        # words everyone may see: a restricted item's words never reach it.
        "spell": " ".join([item.title or "", item.summary or "", " ".join(tags), body])
        if permissions.item_labels(item) == ["public"] else "",
        "labels": ",".join(permissions.item_labels(item)),
        "theme": ",".join(item.themes or []),
        "phase": ",".join(effective_phases(item)),
        "step": ",".join(item.steps or []),
        "municipality": ",".join(m.cbs_code for m in item.municipalities),
        "region": ",".join(str(r) for r in sorted(permissions.item_region_ids(item))),
        "evidence": item.evidence or "",
        "key_figure_type": ",".join(kfts),
        "profile_language": ",".join(item.languages or []) if item.type == "profile" else "",
        "language": item.language or "nl",
        "date": datetime.combine(when, time()),
        "updated": int((item.updated_at or datetime(1970, 1, 1)).timestamp()),
    }
    return {k: v for k, v in doc.items() if v != ""}


def question_labels(question: Any) -> list[str]:
    """Permission labels of a question to the network and its answers.

    The question pages admit whoever ``permissions.can_view_questions``
    admits (members, whatever their municipality or region); the search adds
    the matching label to exactly those callers (``portal.search.caller_labels``).
    One label for every question while questions have no narrower audience."""
    from . import QUESTION_LABEL

    return [QUESTION_LABEL]


def question_document(question: Any) -> dict[str, Any]:
    """The index document of a question to the network: its title, its text
    and its answers' texts (never an author's name), themes, phase and
    municipality as facets. ``id`` is ``q-<id>`` (items use their plain id),
    ``slug`` the question id as text. Nothing of it reaches the ``spell``
    field: "did you mean" holds public words only."""
    from . import question_doc_id

    muni = question.municipality
    tags = _labels("theme", question.themes or [])
    if question.phase:
        tags.append(taxonomy.label("phase", question.phase))
    if muni is not None:
        tags.append(muni.name)
    texts = [plain_text(question.body or "")] + [plain_text(a.body or "") for a in question.answers]
    when = question.created_at or datetime(1970, 1, 1)
    active = question.last_activity_at or when
    doc = {
        "id": question_doc_id(question.id),
        "type": "question",
        "slug": str(question.id),
        "title": question.title or "",
        "tags": " ; ".join(tags),
        "body": "\n\n".join(t for t in texts if t),
        "labels": ",".join(question_labels(question)),
        "theme": ",".join(question.themes or []),
        "phase": question.phase or "",
        "municipality": muni.cbs_code if muni is not None else "",
        "region": str(muni.region_id) if muni is not None and muni.region_id else "",
        "language": "nl",
        "date": datetime.combine(when.date(), time()),
        "updated": int(active.timestamp()),
    }
    return {k: v for k, v in doc.items() if v != ""}
