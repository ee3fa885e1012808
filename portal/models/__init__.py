"""The portal's tables. Import from here: ``from portal.models import Item``."""

from .api_tokens import ApiToken
from .attachments import Attachment
from .auth_sessions import UserIdentity, UserSession  # noqa: F401  (issue #7)
from .collections import Collection, CollectionEntry, KeptForm
from .kept_forms_without_session import SessionlessForm  # noqa: F401  (issue #4)
from .follows import DIGEST_FREQUENCIES, FOLLOW_KINDS, DigestSetting, Follow, FollowNews  # noqa: F401
from .items import ITEM_TYPES, STATUSES, VISIBILITIES, Item, Revision, TaxonomyTerm, item_municipalities
from .log import AuditEvent, SearchChange
from .insight import PROGRESS_STATES, GuideProgress, SearchLogEntry
from .network import MEETING_KINDS, Answer, Meeting, MeetingRegistration, Question, QuestionFollow
from .notifications import Notification, OutboxMessage
from .people import INTRODUCTION_STATES, IntroductionRequest
from .places import Municipality, Region
from .signup import ACCESS_REQUEST_STATES, AccessRequest, AllowedDomain, SignupConfirmation  # noqa: F401
from .users import ROLES, User

__all__ = [
    "PROGRESS_STATES", "GuideProgress", "SearchLogEntry",
    "ITEM_TYPES", "STATUSES", "VISIBILITIES", "ROLES",
    "ApiToken",
    "Collection", "CollectionEntry", "KeptForm",
    "Item", "Revision", "TaxonomyTerm", "item_municipalities",
    "AuditEvent", "SearchChange", "Municipality", "Region", "User",
    "INTRODUCTION_STATES", "IntroductionRequest",
    "Notification", "OutboxMessage", "Attachment",
    "MEETING_KINDS", "Answer", "Meeting", "MeetingRegistration", "Question", "QuestionFollow",
]
