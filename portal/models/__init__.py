"""The portal's tables. Import from here: ``from portal.models import Item``."""

from .items import ITEM_TYPES, STATUSES, VISIBILITIES, Item, Revision, TaxonomyTerm, item_municipalities
from .log import AuditEvent, SearchChange
from .places import Municipality, Region
from .users import ROLES, User

__all__ = [
    "ITEM_TYPES", "STATUSES", "VISIBILITIES", "ROLES",
    "Item", "Revision", "TaxonomyTerm", "item_municipalities",
    "AuditEvent", "SearchChange", "Municipality", "Region", "User",
]
