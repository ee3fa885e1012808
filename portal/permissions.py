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
    vis = effective_visibility(item)
    if vis == "public":
        return ["public"]
    if vis == "members":
        return ["members"]
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
    return labels


def can_view(user: Any, item: Any) -> bool:
    """May ``user`` read ``item`` (page, search result, export, API)?"""
    if item.status != "published":
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
    return user.municipality is not None and user.municipality.cbs_code in _municipality_codes(item)


def can_view_contact(user: Any, item: Any) -> bool:
    """May ``user`` see a profile's e-mail address and phone number?"""
    return item.type == "profile" and _authenticated(user) and can_view(user, item)


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
    """May ``user`` publish or unpublish ``item`` (curators of its region, admins)?"""
    return _curates(user, item)


def can_curate(user: Any) -> bool:
    """May ``user`` open the curator's pages at all?"""
    return _role_at_least(user, "curator")


def can_administer(user: Any) -> bool:
    return _role_at_least(user, "admin")
