"""Following themes, phases, municipalities, regions and collections, and the
digest e-mail (issue #9).

* ``follow`` / ``unfollow`` / ``set_frequency``: a member's choices, each one
  transaction. Questions are followed in ``portal.network.questions``; they
  are listed here too (``followed``).
* In-app notifications: a session hook (``install``) notices an item being
  published for the first time, or added to a collection, and, in the same
  transaction, writes a ``FollowNews`` row and one notification per member who
  follows something it belongs to and may see it (``permissions.can_view``);
  never two notifications of the same item for one member.
* ``send_digests``: for every active member whose digest is due (daily,
  weekly, monthly after the last one), one e-mail in the outbox with what is
  new since then in what they follow, only what they may see at sending
  time; empty digests are not sent. Each e-mail carries a one-click
  unsubscribe link (RFC 8058) signed for that member and for digests only.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import render_template
from flask_babel import force_locale
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import event, or_, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import IntegrityError

from .. import permissions, taxonomy
from ..database import begin_write
from ..errors import NotFound, PermissionDenied, ValidationFailed
from ..extensions import db
from ..models import (
    Answer,
    Collection,
    CollectionEntry,
    DigestSetting,
    Follow,
    FollowNews,
    Item,
    Municipality,
    Notification,
    OutboxMessage,
    Question,
    QuestionFollow,
    Region,
    TaxonomyTerm,
    User,
)
from ..models.base import utcnow
from ..models.follows import DEFAULT_FREQUENCY, DIGEST_FREQUENCIES, FOLLOW_KINDS
from .common import audit
from .notifications import mail_language, notify

log = logging.getLogger("portal.follows")

#: Notification kind of "new in what you follow"; one per member and item.
NOTIFICATION_KIND = "follow.new"
#: itsdangerous salt: a token made for digests is worthless anywhere else.
UNSUBSCRIBE_SALT = "portal.digest.unsubscribe"
#: A run a little early still counts (cron jitter): due when at most this
#: much is left of the period.
DUE_SLACK = timedelta(hours=1)
_PATHS = {"practice": "werkwijzen", "lesson": "lessen", "profile": "sleutelfiguren"}
_PENDING = "portal.follows.pending"


# -- what can be followed ----------------------------------------------------------------


def _lang() -> str:
    try:
        from flask_babel import get_locale

        return "en" if str(get_locale() or "nl").startswith("en") else "nl"
    except (RuntimeError, KeyError):  # no request or app context
        return "nl"


def _term_label(kind: str, key: str) -> str | None:
    if key in taxonomy.BUILTIN[kind]:
        return taxonomy.label(kind, key, _lang())
    term = db.session.scalar(select(TaxonomyTerm).where(TaxonomyTerm.kind == kind, TaxonomyTerm.key == key))
    if term is None:
        return None
    return (term.label_en if _lang() == "en" and term.label_en else term.label_nl) or key


@dataclass
class Target:
    """One thing a member follows: ``kind`` (a ``FOLLOW_KINDS`` value or
    ``"question"``), its ``key``, a ``name`` to show and a ``path`` in the
    portal (``""`` when it has no page, e.g. a region)."""

    kind: str
    key: str
    name: str
    path: str = ""
    following: bool = False


def _is_id(key: str) -> bool:
    """Is ``key`` a row id: ASCII digits only (``str.isdigit`` also takes
    "²" and "١"), at most 9 of them (inside SQLite's and PostgreSQL's
    integer range)?"""
    return key.isascii() and key.isdigit() and len(key) <= 9


def describe(kind: str, key: str) -> Target | None:
    """The ``Target`` for ``kind``/``key``, or ``None`` when it does not exist
    (an unknown theme, a deleted collection)."""
    key = (key or "").strip()[:100]
    if not key:
        return None
    if kind in ("theme", "phase"):
        name = _term_label(kind, key)
        if name is None:
            return None
        return Target(kind, key, name, f"/{'themas' if kind == 'theme' else 'fasen'}/{key}")
    if kind == "municipality":
        muni = db.session.scalar(select(Municipality).where(Municipality.cbs_code == key.upper()))
        return Target(kind, muni.cbs_code, muni.name, f"/gemeenten/{muni.cbs_code}") if muni else None
    if kind == "region":
        region = db.session.get(Region, int(key)) if _is_id(key) else None
        return Target(kind, str(region.id), region.name) if region else None
    if kind == "collection":
        coll = db.session.get(Collection, int(key)) if _is_id(key) else None
        return Target(kind, str(coll.id), coll.title, f"/dossiers/{coll.slug}") if coll else None
    return None


def kind_label(kind: str) -> str:
    """The Dutch word for a kind ("Thema", "Fase", ...), translated."""
    from flask_babel import gettext as _

    return {"theme": _("Thema"), "phase": _("Fase"), "municipality": _("Gemeente"), "region": _("Regio"),
            "collection": _("Dossier"), "question": _("Vraag")}.get(kind, kind)


def _require_member(actor: Any) -> None:
    from flask_babel import gettext as _

    if not permissions.can_ask(actor):  # "ask, answer or follow": members only
        raise PermissionDenied(_("Log in om iets te volgen."))


def _target_or_error(kind: str, key: str) -> Target:
    from flask_babel import gettext as _

    if kind not in FOLLOW_KINDS:
        raise ValidationFailed({"kind": [_("Dit kunt u niet volgen: kies een thema, fase, gemeente, regio of dossier.")]})
    target = describe(kind, key)
    if target is None:
        raise ValidationFailed({kind: [_("Deze %(soort)s bestaat niet (meer).", soort=kind_label(kind).lower())]})
    return target


def is_following(actor: Any, kind: str, key: str) -> bool:
    """Does ``actor`` follow ``kind``/``key``? False for anonymous visitors."""
    if getattr(actor, "id", None) is None or not getattr(actor, "is_authenticated", False):
        return False
    return db.session.scalar(select(Follow.id).where(
        Follow.user_id == actor.id, Follow.kind == kind, Follow.key == key)) is not None


def follow(actor: Any, kind: str, key: str) -> Target:
    """``actor`` follows ``kind``/``key`` (idempotent); returns the target.
    Raises ``PermissionDenied`` (not a member), ``ValidationFailed`` (field
    ``kind``, or the kind itself, for an unknown target)."""
    begin_write()
    _require_member(actor)
    target = _target_or_error(kind, key)
    if not is_following(actor, kind, target.key):
        db.session.add(Follow(user_id=actor.id, kind=kind, key=target.key))
        audit(actor, "follow.add", f"{kind}/{target.key}")
    db.session.commit()
    target.following = True
    return target


def unfollow(actor: Any, kind: str, key: str) -> None:
    """``actor`` stops following ``kind``/``key`` (a question: ``kind`` is
    ``"question"`` and ``key`` its id); nothing happens when they did not."""
    _require_member(actor)
    if kind == "question":
        from ..network import questions

        if not key.isdigit():
            from flask_babel import gettext as _

            raise NotFound(_("Deze vraag bestaat niet."))
        questions.set_follow(actor, int(key), False)
        return
    begin_write()
    row = db.session.scalar(select(Follow).where(Follow.user_id == actor.id, Follow.kind == kind,
                                                 Follow.key == (key or "").strip()[:100]))
    if row is not None:
        db.session.delete(row)
        audit(actor, "follow.remove", f"{kind}/{row.key}")
    db.session.commit()


def followed(actor: Any) -> list[Target]:
    """Everything ``actor`` follows, questions included, in the order of
    ``FOLLOW_KINDS`` then name; rows whose target no longer exists are left out."""
    rows = db.session.scalars(select(Follow).where(Follow.user_id == actor.id)).all()
    targets = []
    for row in rows:
        target = describe(row.kind, row.key)
        if target is not None:
            target.following = True
            targets.append(target)
    questions = db.session.scalars(
        select(Question).join(QuestionFollow, QuestionFollow.question_id == Question.id)
        .where(QuestionFollow.user_id == actor.id).order_by(Question.title)).all()
    order = {k: i for i, k in enumerate(FOLLOW_KINDS)}
    targets.sort(key=lambda t: (order.get(t.kind, 99), t.name.lower()))
    targets += [Target("question", str(q.id), q.title, f"/vragen/{q.id}", True) for q in questions]
    return targets


def regions() -> list[Region]:
    """Every region, by name (for the "follow a region" choice)."""
    return list(db.session.scalars(select(Region).order_by(Region.name)).all())


# -- digest settings -----------------------------------------------------------------------


def frequency_of(actor: Any) -> str:
    """``actor``'s digest frequency (``DIGEST_FREQUENCIES``; default weekly)."""
    row = db.session.get(DigestSetting, actor.id)
    return row.frequency if row is not None else DEFAULT_FREQUENCY


def set_frequency(actor: Any, frequency: str) -> str:
    """Set ``actor``'s digest frequency. ``ValidationFailed`` (field
    ``frequency``) for a value outside ``DIGEST_FREQUENCIES``."""
    from flask_babel import gettext as _

    begin_write()
    _require_member(actor)
    if frequency not in DIGEST_FREQUENCIES:
        raise ValidationFailed({"frequency": [_("Kies dagelijks, wekelijks, maandelijks of nooit.")]})
    _set_frequency(actor, frequency)
    db.session.commit()
    return frequency


def _set_frequency(user: Any, frequency: str) -> None:
    row = db.session.get(DigestSetting, user.id)
    if row is None:
        row = DigestSetting(user_id=user.id, frequency=frequency)
        db.session.add(row)
    row.frequency = frequency
    row.updated_at = utcnow()
    audit(user, "digest.frequency", f"user/{user.id}", frequency=frequency)


# -- one-click unsubscribe (RFC 8058) ------------------------------------------------------


def _serializer(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt=UNSUBSCRIBE_SALT)


def _email_tag(user: User) -> str:
    return hashlib.sha256((user.email or "").lower().encode()).hexdigest()[:16]


def unsubscribe_token(user: User, secret_key: str) -> str:
    """A signed token naming ``user`` (id and a hash of their address), valid
    only for stopping digests; it does not expire, as mail clients may keep
    the link for a long time (RFC 8058 section 3)."""
    return _serializer(secret_key).dumps({"u": user.id, "e": _email_tag(user)})


def user_for_token(token: str, secret_key: str) -> User:
    """The user a token from :func:`unsubscribe_token` names. Raises
    ``ValidationFailed`` (field ``token``) for a damaged or forged token, or
    one whose account (or address) no longer exists."""
    from flask_babel import gettext as _

    bad = ValidationFailed({"token": [_("Deze afmeldlink is ongeldig of beschadigd. Kopieer de volledige link uit "
                                        "de e-mail, of log in en kies bij 'Volgen en e-mail' voor 'nooit'.")]})
    try:
        data = _serializer(secret_key).loads(token or "")
    except BadSignature:
        raise bad from None
    if not isinstance(data, dict) or not isinstance(data.get("u"), int):
        raise bad
    user = db.session.get(User, data["u"])
    if user is None or data.get("e") != _email_tag(user):
        raise bad
    return user


def unsubscribe(token: str, secret_key: str) -> User:
    """Stop the digests of the user ``token`` names (frequency ``never``);
    the token is the authentication. Raises as :func:`user_for_token`."""
    begin_write()
    user = user_for_token(token, secret_key)
    _set_frequency(user, "never")
    audit(None, "digest.unsubscribe", f"user/{user.id}")
    db.session.commit()
    return user


# -- matching items to follows -------------------------------------------------------------


def _item_conditions(item: Item) -> list:
    conds = []
    if item.themes:
        conds.append((Follow.kind == "theme") & Follow.key.in_(list(item.themes)))
    if item.phases:
        conds.append((Follow.kind == "phase") & Follow.key.in_(list(item.phases)))
    codes = [m.cbs_code for m in item.municipalities]
    if codes:
        conds.append((Follow.kind == "municipality") & Follow.key.in_(codes))
    region_ids = [str(r) for r in permissions.item_region_ids(item)]
    if region_ids:
        conds.append((Follow.kind == "region") & Follow.key.in_(region_ids))
    return conds


def _matches(follows: list[Follow], item: Item, collection_id: int | None) -> list[Follow]:
    """The ``follows`` (of one member) that ``item`` belongs to; for news of a
    collection addition, only a follow of that collection counts."""
    if collection_id is not None:
        return [f for f in follows if f.kind == "collection" and f.key == str(collection_id)]
    keys = {
        "theme": set(item.themes or []), "phase": set(item.phases or []),
        "municipality": {m.cbs_code for m in item.municipalities},
        "region": {str(r) for r in permissions.item_region_ids(item)},
    }
    return [f for f in follows if f.key in keys.get(f.kind, ())]


def _followers(item: Item, collection_id: int | None) -> list[User]:
    """Active members following something ``item`` belongs to (or the
    collection ``collection_id``) who may see it now, by id."""
    if collection_id is not None:
        conds = [(Follow.kind == "collection") & (Follow.key == str(collection_id))]
    else:
        conds = _item_conditions(item)
    if not conds:
        return []
    users = db.session.scalars(
        select(User).where(User.active.is_(True), User.id.in_(select(Follow.user_id).where(or_(*conds))))
        .order_by(User.id)).all()
    return [u for u in users if permissions.can_view(u, item)]


def _notice(item: Item, collection: Collection | None) -> str:
    # Stored text (shown to one member who may see the item); Dutch like the
    # other notifications. A key figure's name is never in it.
    if item.type == "profile":
        what = "Nieuw profiel van een sleutelfiguur"
    elif item.type == "lesson":
        what = f"Nieuwe les: {item.title}"
    else:
        what = f"Nieuwe werkwijze: {item.title}"
    if collection is not None:
        return f"{what} (in dossier {collection.title})"
    return f"{what} (in wat u volgt)"


def _announce(session, item: Item, collection_id: int | None, exclude: set[int]) -> int:
    """Write the news row and the notifications for one event; returns how
    many members were told."""
    session.add(FollowNews(item_id=item.id, collection_id=collection_id))
    if item.status != "published":
        return 0
    users = [u for u in _followers(item, collection_id) if u.id not in exclude]
    if not users:
        return 0
    told_before = set(session.scalars(select(Notification.user_id).where(
        Notification.item_id == item.id, Notification.kind == NOTIFICATION_KIND,
        Notification.user_id.in_([u.id for u in users]))).all())
    users = [u for u in users if u.id not in told_before]
    collection = session.get(Collection, collection_id) if collection_id is not None else None
    return notify(users, NOTIFICATION_KIND, _notice(item, collection), f"/{_PATHS[item.type]}/{item.slug}",
                  item=item, mail=False)


def _before_flush(session, _context, _instances) -> None:
    pending = session.info.setdefault(_PENDING, [])
    for obj in list(session.new) + list(session.dirty):
        if isinstance(obj, Item) and obj.status == "published" and obj.published_at is not None:
            history = sa_inspect(obj).attrs.published_at.history
            if history.added and not any(v is not None for v in history.deleted):
                pending.append(("item", obj))
        elif isinstance(obj, CollectionEntry) and obj in session.new:
            pending.append(("entry", obj))


def _before_commit(session) -> None:
    # Flush first (the commit would anyway): ``_before_flush`` then sees the
    # changes still unflushed, and new rows get their ids.
    session.flush()
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    exclude: set[int] = set()
    try:
        from flask import has_request_context
        from flask_login import current_user

        if has_request_context() and getattr(current_user, "is_authenticated", False):
            exclude.add(current_user.id)  # nobody is told about their own action
    except RuntimeError:
        pass
    done: set[tuple[int, int | None]] = set()
    for kind, obj in pending:
        if kind == "item":
            item, collection_id = obj, None
        else:
            item, collection_id = obj.item or session.get(Item, obj.item_id), obj.collection_id
        if item is None or item.id is None or (item.id, collection_id) in done:
            continue
        done.add((item.id, collection_id))
        _announce(session, item, collection_id, exclude | ({item.author_id} if item.author_id else set()))


def _forget(session, *_args) -> None:
    session.info.pop(_PENDING, None)


def install() -> None:
    """Register the session hooks (once per process; idempotent)."""
    from sqlalchemy.orm import Session

    for name, fn in (("before_flush", _before_flush), ("before_commit", _before_commit),
                     ("after_rollback", _forget), ("after_soft_rollback", _forget)):
        if not event.contains(Session, name, fn):
            event.listen(Session, name, fn)


# -- digests -------------------------------------------------------------------------------


def _add_months(when: datetime, months: int) -> datetime:
    from .items import add_months

    day = add_months(when.date(), months)
    return datetime.combine(day, when.time())


def period_start(frequency: str, now: datetime) -> datetime:
    """The start of a first digest's window: one period before ``now``."""
    if frequency == "daily":
        return now - timedelta(days=1)
    if frequency == "monthly":
        return _add_months(now, -1)
    return now - timedelta(days=7)


def is_due(frequency: str, last: datetime | None, now: datetime) -> bool:
    """Is a digest of ``frequency`` due at ``now`` when the last one covered
    up to ``last``? Never for ``never``; always when there was none; else
    when a day, seven days or a calendar month (less ``DUE_SLACK``) passed."""
    if frequency not in ("daily", "weekly", "monthly"):
        return False
    if last is None:
        return True
    if frequency == "daily":
        nxt = last + timedelta(days=1)
    elif frequency == "weekly":
        nxt = last + timedelta(days=7)
    else:
        nxt = _add_months(last, 1)
    return now >= nxt - DUE_SLACK


@dataclass
class Digest:
    """What one digest holds: ``items`` [(item, [names of the follows it
    matched])], ``profiles`` (count of new key-figure profiles: names never
    go by e-mail), ``answers`` [(question, new answers)], ``questions``
    [(question, [names of the follows it matched])]: new questions to the
    network in what the member follows (title and link only: the asker's
    name never goes by e-mail)."""

    items: list[tuple[Item, list[str]]] = field(default_factory=list)
    profiles: int = 0
    answers: list[tuple[Question, int]] = field(default_factory=list)
    questions: list[tuple[Question, list[str]]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.items and not self.profiles and not self.answers and not self.questions


def _question_matches(follows: list[Follow], question: Question) -> list[Follow]:
    """The ``follows`` (of one member) that ``question`` belongs to: its
    themes, its phase, its municipality and that municipality's region.
    Collections hold no questions."""
    muni = question.municipality
    keys = {
        "theme": set(question.themes or []), "phase": {question.phase} if question.phase else set(),
        "municipality": {muni.cbs_code} if muni is not None else set(),
        "region": {str(muni.region_id)} if muni is not None and muni.region_id is not None else set(),
    }
    return [f for f in follows if f.key in keys.get(f.kind, ())]


def _new_questions(user: User, follows: list[Follow], since: datetime, until: datetime,
                   names: dict[tuple[str, str], str]) -> list[tuple[Question, list[str]]]:
    """Questions asked in ``(since, until]`` by someone else than ``user``
    in what ``user`` follows, oldest first, each with the names of the
    follows it matched; empty when ``user`` may not read questions
    (``permissions.can_view_questions``, the only rule for reading a
    question: every member reads every question)."""
    if not follows or not permissions.can_view_questions(user):
        return []
    rows = db.session.scalars(
        select(Question).where(Question.created_at > since, Question.created_at <= until,
                               or_(Question.author_id.is_(None), Question.author_id != user.id))
        .order_by(Question.created_at, Question.id)).all()
    found = []
    for question in rows:
        hits = _question_matches(follows, question)
        if hits:
            found.append((question, [label for label in dict.fromkeys(_follow_label(f, names) for f in hits)
                                     if label]))
    return found


def _follow_label(follow_row: Follow, names: dict[tuple[str, str], str]) -> str:
    """"Thema: Jongeren" for a follow, cached in ``names``; ``""`` when its
    target no longer exists."""
    key = (follow_row.kind, follow_row.key)
    if key not in names:
        target = describe(follow_row.kind, follow_row.key)
        names[key] = f"{kind_label(follow_row.kind)}: {target.name}" if target else ""
    return names[key]


def compose_digest(user: User, since: datetime, until: datetime) -> Digest:
    """What is new for ``user`` in ``(since, until]``: items first published
    in, or added to a collection of, what they follow, which they may see
    now (``permissions.can_view``), each once; new questions by others in
    the themes, phases and places they follow, and new answers by others on
    the questions they follow (both when they may read questions). The
    follow names are in the current locale (``force_locale`` for a mail)."""
    digest = Digest()
    if not user.active:
        return digest
    follows = db.session.scalars(select(Follow).where(Follow.user_id == user.id)).all()
    names: dict[tuple[str, str], str] = {}
    seen: dict[int, list[str]] = {}
    order: list[Item] = []
    if follows:
        news = db.session.scalars(
            select(FollowNews).where(FollowNews.created_at > since, FollowNews.created_at <= until)
            .order_by(FollowNews.created_at, FollowNews.id)).all()
        for row in news:
            item = row.item
            if item is None or item.status != "published" or not permissions.can_view(user, item):
                continue
            hits = _matches(follows, item, row.collection_id)
            if not hits:
                continue
            if item.id not in seen:
                seen[item.id] = []
                order.append(item)
            for f in hits:
                label = _follow_label(f, names)
                if label and label not in seen[item.id]:
                    seen[item.id].append(label)
    for item in order:
        if item.type == "profile":
            digest.profiles += 1
        else:
            digest.items.append((item, seen[item.id]))
    if permissions.can_view_questions(user):
        rows = db.session.execute(
            select(Question, Answer.id).join(Answer, Answer.question_id == Question.id)
            .join(QuestionFollow, QuestionFollow.question_id == Question.id)
            .where(QuestionFollow.user_id == user.id, Answer.created_at > since, Answer.created_at <= until,
                   or_(Answer.author_id.is_(None), Answer.author_id != user.id))
            .order_by(Question.id)).all()
        counts: dict[int, list] = {}
        for question, _answer_id in rows:
            counts.setdefault(question.id, [question, 0])[1] += 1
        digest.answers = [(q, n) for q, n in counts.values()]
    digest.questions = _new_questions(user, list(follows), since, until, names)
    return digest


def _candidates(frequency: str | None) -> list[User]:
    """Active users who follow anything (or a question), by id."""
    followers = select(Follow.user_id).union(select(QuestionFollow.user_id))
    users = db.session.scalars(select(User).where(User.active.is_(True), User.id.in_(followers))
                               .order_by(User.id)).all()
    if frequency is None:
        return list(users)
    return [u for u in users if frequency_of(u) == frequency]


def _render_mail(user: User, digest: Digest, since: datetime, until: datetime, frequency: str,
                 base: str, token: str) -> tuple[str, str, str]:
    """``(subject, text, html)`` of ``user``'s digest in the current locale
    (the caller wraps it in ``force_locale(mail_language(user))``)."""
    from flask_babel import gettext as _

    unsubscribe_url = f"{base}/volgen/afmelden/{token}"
    context = {
        "user": user, "digest": digest, "since": since, "until": until, "base": base,
        "paths": _PATHS, "unsubscribe_url": unsubscribe_url, "settings_url": f"{base}/volgen",
        "frequency_name": {"daily": _("dagelijkse"), "weekly": _("wekelijkse"),
                           "monthly": _("maandelijkse")}.get(frequency, ""),
    }
    subject = _("Kennisportaal: nieuw in wat u volgt")
    text = render_template("follows/digest_text.html", **context)
    html = render_template("follows/digest_mail.html", **context)
    return subject, text, html


def send_digests(config: dict, now: datetime | None = None, frequency: str | None = None) -> dict[str, int]:
    """Write the due digests to the outbox (``portal send-digests``).

    ``config``: the app's config (``BASE_URL`` for absolute links, required;
    ``SECRET_KEY`` signs the unsubscribe tokens). ``now``: naive UTC
    (default: the current time). ``frequency``: only members with that one.
    Each member is one transaction that re-reads (and on PostgreSQL locks) the
    settings row, so running twice, or twice at once, sends one digest.
    Returns ``{"sent": n, "empty": n, "not_due": n}``. Raises ``ValueError``
    for an unknown ``frequency`` or without ``BASE_URL``.
    """
    if frequency is not None and frequency not in DIGEST_FREQUENCIES:
        raise ValueError(f"unknown frequency {frequency!r}")
    from ..links import site_root

    base = site_root(config) if (config.get("BASE_URL") or "").strip() else ""  # the one link rule
    if not base:
        raise ValueError("BASE_URL is empty")
    now = now or utcnow()
    counts = {"sent": 0, "empty": 0, "not_due": 0}
    user_ids = [u.id for u in _candidates(frequency)]
    db.session.commit()
    for uid in user_ids:
        begin_write()
        setting = db.session.scalar(select(DigestSetting).where(DigestSetting.user_id == uid).with_for_update())
        user = db.session.get(User, uid)
        freq = setting.frequency if setting is not None else DEFAULT_FREQUENCY
        last = setting.last_digest_at if setting is not None else None
        if user is None or not user.active or (frequency is not None and freq != frequency) \
                or not is_due(freq, last, now):
            counts["not_due"] += 1
            db.session.rollback()
            continue
        since = last or period_start(freq, now)
        with force_locale(mail_language(user)):  # the follow names, too, in the member's language
            digest = compose_digest(user, since, now)
        if setting is None:
            setting = DigestSetting(user_id=uid, frequency=freq)
            db.session.add(setting)
        setting.last_digest_at = now
        outcome = "empty"
        if not digest.empty and user.email:
            token = unsubscribe_token(user, config["SECRET_KEY"])
            with force_locale(mail_language(user)):
                subject, text, html = _render_mail(user, digest, since, now, freq, base, token)
            db.session.add(OutboxMessage(
                to_address=user.email, subject=subject[:300], body=text, html_body=html,
                headers={"List-Unsubscribe": f"<{base}/volgen/afmelden/{token}>",
                         "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}))
            audit(None, "digest.sent", f"user/{uid}", items=len(digest.items) + digest.profiles,
                  answers=len(digest.answers), questions=len(digest.questions))
            outcome = "sent"
        try:
            db.session.commit()
        except IntegrityError:  # another run inserted this member's settings row first
            db.session.rollback()
            log.warning("digest for user %s skipped: another run got there first", uid)
            outcome = "not_due"
        counts[outcome] += 1
    return counts
