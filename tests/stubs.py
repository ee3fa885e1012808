"""Stand-ins for users and municipalities, for testing the permission
predicates on their own (they read attributes only, never the database)."""

from __future__ import annotations

from types import SimpleNamespace as NS

DELFT = NS(cbs_code="GM0503", region_id=1)
UTRECHT = NS(cbs_code="GM0344", region_id=2)
LOOSE = NS(cbs_code="GM0001", region_id=None)  # a municipality in no region


class U(NS):
    """A logged-in user: ``U(id=1, role="member", municipality=DELFT)``."""

    is_authenticated = True
    is_active = True

    def has_role(self, role):
        order = ("member", "contributor", "curator", "admin")
        return order.index(self.role) >= order.index(role)

    @property
    def region_id(self):
        return self.municipality.region_id if self.municipality else None
