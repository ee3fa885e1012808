"""The permission predicates on their own, as a table."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace as NS

import pytest

from portal import permissions as p

from .stubs import DELFT, UTRECHT, U


ANON = None
MEMBER = U(id=1, role="member", municipality=DELFT)
CONTRIB = U(id=2, role="contributor", municipality=DELFT)
CONTRIB_U = U(id=3, role="contributor", municipality=UTRECHT)
CURATOR = U(id=4, role="curator", municipality=DELFT)
CURATOR_U = U(id=5, role="curator", municipality=UTRECHT)
ADMIN = U(id=6, role="admin", municipality=None)


def item(type="practice", status="published", visibility="public", munis=(DELFT,), author_id=None):
    # profiles carry a valid consent (issue #5: without one a profile is never shown)
    return NS(type=type, status=status, visibility=visibility, municipalities=list(munis),
              region_id=None, author_id=author_id, consent=date.today())


VIEW = [
    # item, (anon, member, contrib, contrib_utrecht, curator, curator_utrecht, admin)
    (item(), (1, 1, 1, 1, 1, 1, 1)),
    (item(visibility="members"), (0, 1, 1, 1, 1, 1, 1)),
    (item(visibility="municipality"), (0, 1, 1, 0, 1, 0, 1)),
    (item(type="profile", visibility="members"), (0, 1, 1, 1, 1, 1, 1)),
    (item(type="profile", visibility="public"), (0, 1, 1, 1, 1, 1, 1)),  # never public
    (item(status="draft"), (0, 0, 1, 0, 1, 0, 1)),
    (item(status="draft", author_id=3), (0, 0, 1, 1, 1, 0, 1)),
    (item(type="profile", status="draft"), (0, 0, 0, 0, 1, 0, 1)),
]
USERS = (ANON, MEMBER, CONTRIB, CONTRIB_U, CURATOR, CURATOR_U, ADMIN)


@pytest.mark.parametrize("it,expected", VIEW)
def test_can_view_table(it, expected):
    assert tuple(int(p.can_view(u, it)) for u in USERS) == expected


def test_publish_only_curators_of_region_and_admins():
    it = item(status="draft")
    assert [p.can_publish(u, it) for u in USERS] == [False, False, False, False, True, False, True]
    national = item(status="draft", munis=())
    assert p.can_publish(CURATOR_U, national)


NOREGION_DELFT = NS(cbs_code="GM0503", region_id=None)
NOREGION_GRONINGEN = NS(cbs_code="GM0014", region_id=None)


def test_curators_without_a_region_curate_their_own_municipality_only():
    delft_item = item(status="draft", munis=(NOREGION_DELFT,))
    delft_curator = U(id=10, role="curator", municipality=NOREGION_DELFT)
    groningen_curator = U(id=11, role="curator", municipality=NOREGION_GRONINGEN)
    homeless_curator = U(id=12, role="curator", municipality=None)
    assert p.can_publish(delft_curator, delft_item)
    assert not p.can_publish(groningen_curator, delft_item)
    assert not p.can_publish(homeless_curator, delft_item)
    assert not p.can_view(groningen_curator, item(visibility="municipality", munis=(NOREGION_DELFT,)))
    assert p.can_publish(homeless_curator, item(status="draft", munis=()))


def test_create_rights():
    assert not p.can_create(ANON, "practice") and not p.can_create(MEMBER, "practice")
    assert p.can_create(CONTRIB, "practice") and p.can_create(CONTRIB, "lesson")
    assert not p.can_create(CONTRIB, "profile")
    assert p.can_create(CURATOR, "profile")


def test_labels_of_items_and_users():
    assert p.item_labels(item()) == ["public"]
    assert p.item_labels(item(type="profile", visibility="public")) == ["members"]
    assert p.item_labels(item(visibility="municipality")) == ["municipality-GM0503"]
    assert p.item_labels(item(status="draft", author_id=7)) == ["author-7"]
    assert p.user_labels(ANON) == ["public"]
    assert set(p.user_labels(MEMBER)) == {"public", "members", "author-1", "municipality-GM0503", "region-1"}


def test_contact_details_only_for_permitted_members():
    prof = item(type="profile", visibility="members")
    assert not p.can_view_contact(ANON, prof)
    assert p.can_view_contact(MEMBER, prof)
    assert not p.can_view_contact(MEMBER, item())


def wf_item(status="draft", review_state="", munis=(DELFT,), author_id=2, type="practice"):
    it = item(type=type, status=status, munis=munis, author_id=author_id)
    it.review_state = review_state
    return it


#: issue #4, the workflow: (predicate, item) -> (anon, member, contrib, contrib_utrecht, curator,
#: curator_utrecht, admin)
WORKFLOW = [
    (p.can_submit, wf_item(), (0, 0, 1, 0, 1, 0, 1)),
    (p.can_submit, wf_item(review_state="returned"), (0, 0, 1, 0, 1, 0, 1)),
    (p.can_submit, wf_item(review_state="submitted"), (0, 0, 0, 0, 0, 0, 0)),
    (p.can_submit, wf_item(status="published"), (0, 0, 0, 0, 0, 0, 0)),
    (p.can_return, wf_item(review_state="submitted"), (0, 0, 0, 0, 1, 0, 1)),
    (p.can_return, wf_item(), (0, 0, 0, 0, 0, 0, 0)),
    (p.can_return, wf_item(status="published"), (0, 0, 0, 0, 0, 0, 0)),
    (p.can_review_revision, wf_item(status="published"), (0, 0, 0, 0, 1, 0, 1)),
    (p.can_archive, wf_item(status="published"), (0, 0, 0, 0, 1, 0, 1)),
    (p.can_archive, wf_item(review_state="archived"), (0, 0, 0, 0, 0, 0, 0)),
    (p.can_confirm_review, wf_item(status="published"), (0, 0, 0, 0, 1, 0, 1)),
    (p.can_confirm_review, wf_item(), (0, 0, 0, 0, 0, 0, 0)),
    (p.can_view_history, wf_item(status="published"), (0, 0, 1, 0, 1, 0, 1)),
    (p.can_view_history, wf_item(status="published", author_id=3), (0, 0, 1, 1, 1, 0, 1)),
    (p.can_view_history, wf_item(status="published", type="profile"), (0, 0, 0, 0, 1, 0, 1)),
    (p.can_restore, wf_item(status="published"), (0, 0, 1, 0, 1, 0, 1)),
]


@pytest.mark.parametrize("predicate,it,expected", WORKFLOW)
def test_workflow_table(predicate, it, expected):
    assert tuple(int(predicate(u, it)) for u in USERS) == expected


def test_audit_log_for_admins_only():
    assert [p.can_read_audit_log(u) for u in USERS] == [False] * 6 + [True]


def test_attach_table():
    table = [
        (wf_item(), (0, 0, 1, 0, 1, 0, 1)),
        (wf_item(status="published"), (0, 0, 0, 0, 1, 0, 1)),
        (wf_item(type="profile"), (0, 0, 0, 0, 0, 0, 0)),
    ]
    for it, expected in table:
        assert tuple(int(p.can_attach(u, it)) for u in USERS) == expected
