"""Ask the network (vraag het netwerk): questions, answers, the best answer,
following, closing, the 90-day lock, and turning an answer into a lesson draft.

Questions and answers are for members only: every reading function refuses
an anonymous actor (``NotFound``, so nothing is revealed). Every writing
function calls ``begin_write()`` first, checks permission through
``portal.permissions``, writes an audit row and commits once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import delete, or_, select
from sqlalchemy.orm import selectinload

from .. import permissions, search
from ..database import begin_write
from ..errors import NotFound, PermissionDenied, ValidationFailed
from ..extensions import db
from ..models import Answer, Item, Question, QuestionFollow, User
from ..models.base import utcnow
from ..services.common import audit, municipality_resolver, vocabulary
from ..services.notifications import notify
from .common import valid_id

#: A question without a new answer for this long is locked (no new answers).
LOCK_AFTER = timedelta(days=90)
MAX_BODY = 20_000
MAX_QUERY = 200


def is_locked(question: Question, now: datetime | None = None) -> bool:
    """Closed, or no activity (question or answer) for ``LOCK_AFTER``."""
    now = now or utcnow()
    return question.status == "closed" or question.last_activity_at < now - LOCK_AFTER


def _require_member(actor: Any) -> None:
    if not permissions.can_view_questions(actor):
        raise NotFound(_("Deze pagina bestaat niet (meer), of u mag haar niet zien."))


def validate_question(data: dict[str, Any]) -> dict[str, Any]:
    """Check a question form: ``title`` (required, at most 300), ``body``
    (Markdown, optional), ``themes`` (list of theme keys of the taxonomy,
    incl. terms added by a library), ``phase`` (one phase key or empty),
    ``municipality`` (official name or CBS code, optional). Returns clean
    values for the ``Question`` columns; raises ``ValidationFailed``."""
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    title = (data.get("title") or "").strip()
    if not title:
        errors["title"] = [_("Vul uw vraag in (de titel).")]
    elif len(title) > 300:
        errors["title"] = [_("De vraag is te lang: hoogstens 300 tekens. Zet de toelichting hieronder.")]
    clean["title"] = title
    body = (data.get("body") or "").replace("\r\n", "\n")
    if len(body) > MAX_BODY:
        errors["body"] = [_("De toelichting is te lang: hoogstens 20.000 tekens.")]
    clean["body"] = body
    vocab = vocabulary()
    themes = [t for t in dict.fromkeys(data.get("themes") or []) if t]
    unknown = [t for t in themes if t not in vocab.allowed("theme")]
    if unknown:
        errors["themes"] = [_("Onbekend thema: %(themes)s. Kies uit de lijst.", themes=", ".join(unknown))]
    clean["themes"] = themes
    phase = (data.get("phase") or "").strip()
    if phase and phase not in vocab.allowed("phase"):
        errors["phase"] = [_("Onbekende fase '%(phase)s'. Kies opzetten, werving en selectie of onderhouden.",
                             phase=phase[:40])]
    clean["phase"] = phase or None
    muni_text = (data.get("municipality") or "").strip()
    clean["municipality"] = None
    if muni_text:
        muni = municipality_resolver()(muni_text)
        if muni is None:
            errors["municipality"] = [_("Onbekende gemeente '%(name)s'. Kies een gemeente uit de lijst.",
                                        name=muni_text[:80])]
        clean["municipality"] = muni
    if errors:
        raise ValidationFailed(errors)
    return clean


# -- reading ---------------------------------------------------------------------------
def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def list_questions(actor: Any, q: str = "", theme: str = "", phase: str = "", followed: bool = False,
                   limit: int = 100) -> list[Question]:
    """Questions, newest activity first, for members only (``NotFound``
    otherwise). ``q`` matches title or body case-insensitively (ILIKE on
    PostgreSQL, LIKE on SQLite, case-insensitive for ASCII); every word of
    ``q`` must match. ``theme`` and ``phase`` filter on the controlled lists;
    ``followed`` keeps the questions ``actor`` follows."""
    _require_member(actor)
    stmt = select(Question).options(selectinload(Question.answers), selectinload(Question.municipality))
    for word in (q or "")[:MAX_QUERY].split():
        pattern = _like(word)
        stmt = stmt.where(or_(Question.title.ilike(pattern, escape="\\"), Question.body.ilike(pattern, escape="\\")))
    if phase:
        stmt = stmt.where(Question.phase == phase)
    if followed:
        stmt = stmt.join(QuestionFollow, QuestionFollow.question_id == Question.id).where(
            QuestionFollow.user_id == actor.id)
    stmt = stmt.order_by(Question.last_activity_at.desc(), Question.id.desc())
    rows = list(db.session.scalars(stmt.limit(limit * 4 if theme else limit)))
    if theme:  # themes are a JSON list: filtered here, the same on both databases
        rows = [r for r in rows if theme in (r.themes or [])][:limit]
    return rows


def get_question(actor: Any, question_id: int) -> Question:
    """The question, for members only; ``NotFound`` otherwise."""
    _require_member(actor)
    question = db.session.get(Question, question_id) if valid_id(question_id) else None
    if question is None:
        raise NotFound(_("Deze vraag bestaat niet (meer)."))
    return question


def followers(question: Question) -> list[User]:
    """The people following ``question`` who may still read it
    (``permissions.can_view_questions``: active members), by id."""
    rows = db.session.scalars(select(User).join(QuestionFollow, QuestionFollow.user_id == User.id)
                              .where(QuestionFollow.question_id == question.id).order_by(User.id)).all()
    return [u for u in rows if permissions.can_view_questions(u)]


def _tell_followers(actor: Any, question: Question, kind: str, message: str) -> int:
    """Notify the followers of ``question`` except ``actor`` (in-app and an
    outbox e-mail) in the current transaction. ``message`` carries the
    question's title only, never a question's or answer's text: an e-mail
    leaves the portal, and the page behind the link checks who may read."""
    return notify(followers(question), kind, message, f"/vragen/{question.id}", exclude=actor)


def follows(actor: Any, question: Question) -> bool:
    """Does ``actor`` follow ``question``?"""
    if not permissions.can_view_questions(actor):
        return False
    return db.session.get(QuestionFollow, (question.id, actor.id)) is not None


def lessons_from(actor: Any, question: Question) -> list[Item]:
    """Lesson drafts and lessons made from this question's answers that
    ``actor`` may see."""
    rows = db.session.scalars(select(Item).where(Item.type == "lesson").order_by(Item.id))
    return [i for i in rows
            if (i.extra or {}).get("question_id") == question.id and permissions.can_view(actor, i)]


# -- writing ---------------------------------------------------------------------------
def ask_question(actor: Any, data: dict[str, Any]) -> Question:
    """Ask the network; the asker follows the question from the start.
    Raises ``PermissionDenied`` (not a member) or ``ValidationFailed``."""
    begin_write()
    if not permissions.can_ask(actor):
        raise PermissionDenied(_("Log in om een vraag te stellen."))
    clean = validate_question(data)
    now = utcnow()
    question = Question(title=clean["title"], body=clean["body"], themes=clean["themes"], phase=clean["phase"],
                        municipality=clean["municipality"], author_id=actor.id, status="open",
                        created_at=now, last_activity_at=now)
    db.session.add(question)
    db.session.flush()
    db.session.add(QuestionFollow(question_id=question.id, user_id=actor.id))
    audit(actor, "question.ask", f"question/{question.id}")
    search.log_question_change(question.id)
    db.session.commit()
    search.nudge()
    return question


def answer_question(actor: Any, question_id: int, body: str) -> Answer:
    """Add an answer (Markdown). Raises ``PermissionDenied``, ``NotFound`` or
    ``ValidationFailed`` (empty, too long, or the question is closed or locked)."""
    begin_write()
    if not permissions.can_ask(actor):
        raise PermissionDenied(_("Log in om te antwoorden."))
    question = get_question(actor, question_id)
    body = (body or "").replace("\r\n", "\n").strip()
    if is_locked(question):
        raise ValidationFailed({"body": [_("Deze vraag is gesloten: er kunnen geen antwoorden meer bij.")]})
    if not body:
        raise ValidationFailed({"body": [_("Schrijf eerst uw antwoord.")]})
    if len(body) > MAX_BODY:
        raise ValidationFailed({"body": [_("Het antwoord is te lang: hoogstens 20.000 tekens.")]})
    answer = Answer(question_id=question.id, author_id=actor.id, body=body)
    db.session.add(answer)
    question.last_activity_at = utcnow()
    db.session.flush()
    told = _tell_followers(actor, question, "question.answered",
                           f"Nieuw antwoord op een vraag die u volgt: {question.title}")
    audit(actor, "question.answer", f"question/{question.id}", answer=answer.id, notified=told)
    search.log_question_change(question.id)
    db.session.commit()
    search.nudge()
    return answer


def _answer_of(actor: Any, question_id: int, answer_id: int) -> tuple[Question, Answer]:
    question = get_question(actor, question_id)
    answer = db.session.get(Answer, answer_id) if valid_id(answer_id) else None
    if answer is None or answer.question_id != question.id:
        raise NotFound(_("Dit antwoord bestaat niet (meer)."))
    return question, answer


def mark_best(actor: Any, question_id: int, answer_id: int) -> Answer:
    """Mark ``answer_id`` as the best answer (any earlier best one is
    unmarked); marking the best answer again unmarks it. The asker or a
    curator for the question only (``PermissionDenied``)."""
    begin_write()
    question, answer = _answer_of(actor, question_id, answer_id)
    if not permissions.can_settle_question(actor, question):
        raise PermissionDenied(_("Alleen wie de vraag stelde of een coördinator mag het beste antwoord kiezen."))
    was_best = answer.best
    for other in question.answers:
        other.best = False
    answer.best = not was_best
    told = 0
    if answer.best:
        told = _tell_followers(actor, question, "question.best",
                               f"Er is een beste antwoord gekozen bij een vraag die u volgt: {question.title}")
    audit(actor, "question.best" if answer.best else "question.unbest", f"question/{question.id}",
          answer=answer.id, notified=told)
    search.log_question_change(question.id)
    db.session.commit()
    search.nudge()
    return answer


def close_question(actor: Any, question_id: int) -> Question:
    """Close a question (no new answers). The asker or a curator for it."""
    begin_write()
    question = get_question(actor, question_id)
    if not permissions.can_settle_question(actor, question):
        raise PermissionDenied(_("Alleen wie de vraag stelde of een coördinator mag de vraag sluiten."))
    if question.status != "closed":
        question.status = "closed"
        question.closed_at = utcnow()
        told = _tell_followers(actor, question, "question.closed",
                               f"Een vraag die u volgt is gesloten: {question.title}")
        audit(actor, "question.close", f"question/{question.id}", notified=told)
        search.log_question_change(question.id)
    db.session.commit()
    search.nudge()
    return question


def set_follow(actor: Any, question_id: int, follow: bool) -> bool:
    """Follow (``True``) or stop following a question; returns the new state."""
    begin_write()
    if not permissions.can_ask(actor):
        raise PermissionDenied(_("Log in om een vraag te volgen."))
    question = get_question(actor, question_id)
    existing = db.session.get(QuestionFollow, (question.id, actor.id))
    if follow and existing is None:
        db.session.add(QuestionFollow(question_id=question.id, user_id=actor.id))
        audit(actor, "question.follow", f"question/{question.id}")
    elif not follow and existing is not None:
        db.session.execute(delete(QuestionFollow).where(QuestionFollow.question_id == question.id,
                                                        QuestionFollow.user_id == actor.id))
        audit(actor, "question.unfollow", f"question/{question.id}")
    db.session.commit()
    return follow


def lesson_from_answer(actor: Any, question_id: int, answer_id: int) -> Item:
    """Turn an answer into a lesson draft (``portal.services.items.save_item``,
    status draft, members-only), keeping the link to the question in the
    item's ``extra`` (``question_id``, ``answer_id``). Curators for the
    question only (``PermissionDenied``)."""
    from ..services.items import save_item

    question, answer = _answer_of(actor, question_id, answer_id)
    if not permissions.can_make_lesson_from_answer(actor, question):
        raise PermissionDenied(_("Alleen een coördinator mag een antwoord omzetten in een les."))
    data: dict[str, Any] = {
        "title": question.title,
        "status": "draft",
        "visibility": "members",
        "themes": list(question.themes or []),
        "question_id": question.id,
        "answer_id": answer.id,
    }
    if question.phase:
        data["phase"] = [question.phase]
    if question.municipality is not None:
        data["municipality"] = question.municipality.name
    body = (f"## Situatie\n\n{question.body.strip() or question.title}\n\n"
            f"## Les\n\n{answer.body.strip()}\n\n## Aanbeveling\n\n")
    return save_item(actor, "lesson", data, body,
                     note=f"gemaakt van een antwoord op vraag {question.id}")
