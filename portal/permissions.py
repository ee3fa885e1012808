"""Who may do what: pure predicates over a user (or ``None`` for an anonymous
visitor) and an item. Services, templates and the search index's permission
labels all derive from these functions, so a rule lives in one place.

Rules (issue #2, #4, #5):

* Anonymous visitors see published public practices and lessons only.
* Members see published items that are public or members-only, and items
  limited to their own municipality. A profile is never public.
* Nobody sees a draft unless they may edit it.
* Contributors create practices and lessons and edit their own items and
  those of their own municipality; curators edit and publish items of the
  municipalities in their region (their own municipality while it has no
  region yet) and national items tied to no municipality; admins may do
  everything.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

CREATE_TYPES = {"contributor": {"practice", "lesson"}}


def _authenticated(user: Any) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False) and user.is_active)


def _role_at_least(user: Any, role: str) -> bool:
    return _authenticated(user) and user.has_role(role)


def _municipality_codes(item: Any) -> set[str]:
    return {m.cbs_code for m in item.municipalities}


def item_region_ids(item: Any) -> set[int]:
    ids = {m.region_id for m in item.municipalities if m.region_id}
    if item.region_id:
        ids.add(item.region_id)
    return ids


#: Consent lasts this many months when no expiry date was recorded (issue #5).
CONSENT_MONTHS = 24


def _today() -> date:
    return datetime.now(UTC).date()


def consent_expiry(item: Any) -> date | None:
    """The day a profile's consent ends: ``consent_expires`` when recorded,
    else ``consent`` + 24 months (29 February -> 28 February), at most
    ``date.max`` (never raises); ``None`` without a consent date."""
    consent = getattr(item, "consent", None)
    if consent is None:
        return None
    expires = getattr(item, "consent_expires", None)
    if expires is not None:
        return expires
    year, month = consent.year + CONSENT_MONTHS // 12, consent.month + CONSENT_MONTHS % 12
    if month > 12:
        year, month = year + 1, month - 12
    if year > date.max.year:  # a row stored before dates were range-checked
        return date.max
    try:
        return consent.replace(year=year, month=month)
    except ValueError:
        return consent.replace(year=year, month=month, day=28)


def consent_valid(item: Any, today: date | None = None) -> bool:
    """True when a profile has consent on ``today`` (default: today, UTC):
    a consent date, and ``today`` before its expiry. A profile without valid
    consent is never shown to readers (only to its editors, to renew it)."""
    expiry = consent_expiry(item)
    return expiry is not None and (today or _today()) < expiry


def _hidden_profile(item: Any) -> bool:
    return item.type == "profile" and not consent_valid(item)


def effective_visibility(item: Any) -> str:
    """The visibility that applies: a profile marked ``public`` counts as
    ``members`` (the content format forbids public profiles)."""
    if item.type == "profile" and item.visibility == "public":
        return "members"
    return item.visibility or "public"


def item_labels(item: Any) -> list[str]:
    """Permission labels of a *published* item for the search index; an
    unpublished item gets only its author's label (and curators find drafts
    through their dashboard, not through search)."""
    if item.status != "published":
        return [f"author-{item.author_id}"] if item.author_id else []
    if _hidden_profile(item):
        return []  # no valid consent: in nobody's search (consent-check unpublishes it)
    vis = effective_visibility(item)
    if vis == "public":
        return ["public"]
    if vis == "members":
        return ["members"]
    if vis == "region":
        return [f"region-{rid}" for rid in sorted(item_region_ids(item))]
    # Limited to a municipality but tied to none: only its editors may see it,
    # and they find it through their drafts list, not through search.
    return [f"municipality-{code}" for code in sorted(_municipality_codes(item))]


def user_labels(user: Any) -> list[str]:
    """The labels a caller's queries are restricted to (ORed together, then
    ANDed into every search)."""
    labels = ["public"]
    if not _authenticated(user):
        return labels
    labels.append("members")
    labels.append(f"author-{user.id}")
    if user.municipality is not None:
        labels.append(f"municipality-{user.municipality.cbs_code}")
    if getattr(user, "region_id", None) is not None:
        labels.append(f"region-{user.region_id}")
    return labels


def can_view(user: Any, item: Any) -> bool:
    """May ``user`` read ``item`` (page, search result, export, API)?"""
    if item.status != "published" or _hidden_profile(item):
        return can_edit(user, item)
    vis = effective_visibility(item)
    if vis == "public":
        return True
    if not _authenticated(user):
        return False
    if vis == "members":
        return True
    if can_edit(user, item):
        return True
    if vis == "region":
        return getattr(user, "region_id", None) is not None and user.region_id in item_region_ids(item)
    return user.municipality is not None and user.municipality.cbs_code in _municipality_codes(item)


def can_view_contact(user: Any, item: Any) -> bool:
    """May ``user`` see a profile's e-mail address and phone number?

    Its editors (the region's curators, admins) always; other members only
    when the contact route is direct (the default) and they work in the
    profile's region (every member, for a profile tied to no region). All
    others ask the curator for an introduction instead."""
    if item.type != "profile" or not _authenticated(user) or not can_view(user, item):
        return False
    if can_edit(user, item):
        return True
    if (getattr(item, "contact_route", None) or "direct") != "direct":
        return False
    regions = item_region_ids(item)
    return not regions or getattr(user, "region_id", None) in regions


def can_request_introduction(user: Any, item: Any) -> bool:
    """May ``user`` ask the curator to introduce them to a profile's person?
    Every member who may see the profile but not its contact details."""
    return (item.type == "profile" and _authenticated(user) and can_view(user, item)
            and not can_view_contact(user, item))


def can_handle_introductions(user: Any, item: Any) -> bool:
    """May ``user`` read and forward introduction requests for a profile?
    Those who may edit it: its region's curators and admins."""
    return item.type == "profile" and can_edit(user, item)


def can_read_privacy_log(user: Any) -> bool:
    """May ``user`` read who viewed which profile? The privacy officer only
    (role ``privacy``). Admins may not: whoever can change everything should
    not also see who looked at whom; an admin who is also the privacy officer
    needs a second account with that role."""
    return _authenticated(user) and getattr(user, "role", None) == "privacy"


def can_manage_person_data(user: Any) -> bool:
    """May ``user`` export or erase everything held about a person (GDPR
    articles 15, 17, 20)? Admins only."""
    return can_administer(user)


def can_create(user: Any, item_type: str) -> bool:
    """May ``user`` create a new item of ``item_type``?"""
    if _role_at_least(user, "curator"):
        return True
    if _role_at_least(user, "contributor"):
        return item_type in CREATE_TYPES["contributor"]
    return False


def _curates(user: Any, item: Any) -> bool:
    """A curator's area is their region's municipalities; a curator whose
    municipality has no region yet curates that municipality only. Items tied
    to no municipality or region (national items) are open to every curator.
    A curator with neither region nor municipality curates national items only."""
    if not _role_at_least(user, "curator"):
        return False
    if user.role == "admin":
        return True
    codes = _municipality_codes(item)
    regions = item_region_ids(item)
    if not codes and not regions:
        return True
    if user.region_id is not None:
        return user.region_id in regions
    own = getattr(user, "municipality", None)
    return own is not None and own.cbs_code in codes


def can_edit(user: Any, item: Any) -> bool:
    """May ``user`` change ``item``?"""
    if not _authenticated(user):
        return False
    if _curates(user, item):
        return True
    if not _role_at_least(user, "contributor") or item.type not in CREATE_TYPES["contributor"]:
        return False
    if item.author_id is not None and item.author_id == user.id:
        return True
    return user.municipality is not None and user.municipality.cbs_code in _municipality_codes(item)


def can_publish(user: Any, item: Any) -> bool:
    """May ``user`` publish or unpublish ``item`` (curators of its region, admins)?

    A save that leaves an item published must pass this both for the item as
    it was and as it will be (new municipality or region): see
    ``portal.services.items.save_item``, which checks a transient copy."""
    return _curates(user, item)


def can_curate(user: Any) -> bool:
    """May ``user`` open the curator's pages at all?"""
    return _role_at_least(user, "curator")


def can_administer(user: Any) -> bool:
    return _role_at_least(user, "admin")


# -- workflow (issue #4) ---------------------------------------------------------------
# An item's workflow state is ``status`` (the content format's draft/published)
# plus ``review_state``: "" | "submitted" | "returned" | "archived".


def _review_state(item: Any) -> str:
    return getattr(item, "review_state", "") or ""


def can_submit(user: Any, item: Any) -> bool:
    """May ``user`` submit the draft ``item`` for review (or resubmit it after
    a curator returned it)? Its editors, while it is a draft not yet waiting."""
    return item.status == "draft" and _review_state(item) in ("", "returned") and can_edit(user, item)


def can_return(user: Any, item: Any) -> bool:
    """May ``user`` send a submitted ``item`` back to its author with a comment?"""
    return item.status == "draft" and _review_state(item) == "submitted" and can_publish(user, item)


def can_review_revision(user: Any, item: Any) -> bool:
    """May ``user`` approve or return a pending change of ``item``?"""
    return can_publish(user, item)


def can_archive(user: Any, item: Any) -> bool:
    """May ``user`` archive the published ``item`` (it leaves the library)?"""
    return item.status == "published" and can_publish(user, item)


def can_confirm_review(user: Any, item: Any) -> bool:
    """May ``user`` confirm the published ``item`` is still right ("nog juist")?"""
    return item.status == "published" and can_publish(user, item)


def can_view_history(user: Any, item: Any) -> bool:
    """May ``user`` read ``item``'s revisions and their differences? Only its
    editors: an old revision may hold text that was removed on purpose."""
    return can_edit(user, item)


def can_restore(user: Any, item: Any) -> bool:
    """May ``user`` restore an old revision of ``item`` (a new revision; for a
    published item and a user who may not publish it, a pending change)?"""
    return can_edit(user, item)


def can_read_audit_log(user: Any) -> bool:
    """May ``user`` read the audit log (admins only)?"""
    return can_administer(user)


def can_attach(user: Any, item: Any) -> bool:
    """May ``user`` add or remove attachments of ``item``? Practices and
    lessons only; editors while it is a draft, and on a published item (where
    changes are reviewed first) only those who may publish it."""
    if item.type not in ("practice", "lesson"):
        return False
    if item.status == "published":
        return can_publish(user, item)
    return can_edit(user, item)


# -- the network (issue #9): meetings and questions -------------------------------------
# A meeting belongs to a region (or to no region: a national meeting). Its organisers
# are the curators of that region and admins; a national meeting is organised by any
# curator, like a national item. Questions are for members only.


def can_organise_meeting(user: Any, region_id: int | None) -> bool:
    """May ``user`` create a meeting for region ``region_id`` (``None``: national)?"""
    if not _role_at_least(user, "curator"):
        return False
    if user.role == "admin" or region_id is None:
        return True
    return user.region_id is not None and user.region_id == region_id


def can_manage_meeting(user: Any, meeting: Any) -> bool:
    """May ``user`` edit ``meeting``, add its report, and see its attendee
    list and CSV export (its organisers only)?"""
    return can_organise_meeting(user, meeting.region_id)


def can_view_meeting_details(user: Any, meeting: Any) -> bool:
    """May ``user`` see a meeting's members-only details (the online link)?
    Title, time, place and description are public."""
    return _authenticated(user)


def can_register(user: Any, meeting: Any) -> bool:
    """May ``user`` sign up for (or cancel) ``meeting``? Any member; whether the
    meeting has passed is the service's check, not a permission."""
    return _authenticated(user)


def can_view_questions(user: Any) -> bool:
    """May ``user`` read questions to the network and their answers (members only)?"""
    return _authenticated(user)


def can_ask(user: Any) -> bool:
    """May ``user`` ask the network a question, answer one or follow one?"""
    return _authenticated(user)


def can_moderate_question(user: Any, question: Any) -> bool:
    """Is ``user`` a curator for ``question``: admins; curators of the region of
    the question's municipality (of that municipality while it has no region);
    every curator for a question tied to no municipality."""
    if not _role_at_least(user, "curator"):
        return False
    if user.role == "admin":
        return True
    muni = question.municipality
    if muni is None:
        return True
    if user.region_id is not None:
        return muni.region_id == user.region_id
    own = getattr(user, "municipality", None)
    return own is not None and own.cbs_code == muni.cbs_code


def can_settle_question(user: Any, question: Any) -> bool:
    """May ``user`` mark the best answer of ``question`` or close it (the asker
    or a curator for it)?"""
    if not _authenticated(user):
        return False
    if question.author_id is not None and question.author_id == user.id:
        return True
    return can_moderate_question(user, question)


def can_make_lesson_from_answer(user: Any, question: Any) -> bool:
    """May ``user`` turn an answer to ``question`` into a lesson draft (a curator
    for the question who may create lessons)?"""
    return can_moderate_question(user, question) and can_create(user, "lesson")


# -- insight and the guided entry (issue #9) --------------------------------------------


def can_view_insight(user: Any) -> bool:
    """May ``user`` open the curators' insight page (search statistics,
    counts, the municipality map)? Curators and admins."""
    return _role_at_least(user, "curator")


def can_mark_progress(user: Any, municipality: Any) -> bool:
    """May ``user`` record where ``municipality`` stands in the handreiking
    ("Waar staat u?")? Any logged-in member of that municipality, nobody else."""
    return (_authenticated(user) and municipality is not None
            and getattr(user, "municipality", None) is not None
            and user.municipality.cbs_code == municipality.cbs_code)


# -- curated collections ("dossiers", issue #4) ------------------------------------------


def can_manage_collection(user: Any, region_id: int | None) -> bool:
    """May ``user`` create, edit, reorder and feature a collection of region
    ``region_id`` (``None``: a national collection)? Curators of that region
    and admins; a national collection, every curator (like a national item)."""
    return can_organise_meeting(user, region_id)
