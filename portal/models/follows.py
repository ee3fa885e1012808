"""Following themes, phases, municipalities, regions and collections, the
digest e-mail settings, and the news that follows feed on (issue #9).

Questions are followed through ``QuestionFollow`` (``models/network.py``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import utcnow
from .items import Item
from .users import User

#: What a member can follow here, and how ``Follow.key`` names it:
#: theme/phase -> taxonomy key, municipality -> CBS code (``GM0503``),
#: region -> region id, collection -> collection id (as text).
FOLLOW_KINDS = ("theme", "phase", "municipality", "region", "collection")
#: Digest frequencies; ``weekly`` when a member never chose.
DIGEST_FREQUENCIES = ("daily", "weekly", "monthly", "never")
DEFAULT_FREQUENCY = "weekly"


class Follow(db.Model):
    """A member follows one theme, phase, municipality, region or collection."""

    __tablename__ = "follows"
    __table_args__ = (UniqueConstraint("user_id", "kind", "key", name="uq_follows_user_kind_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    key: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    user: Mapped[User] = relationship()


class DigestSetting(db.Model):
    """How often a member gets the digest e-mail, and the end of the window
    the last digest covered (set also when it was empty and not sent, so the
    windows join up and the rhythm holds). No row: weekly, never sent."""

    __tablename__ = "digest_settings"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    frequency: Mapped[str] = mapped_column(String(10), default=DEFAULT_FREQUENCY)
    last_digest_at: Mapped[datetime | None] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class FollowNews(db.Model):
    """Something new for followers: an item published for the first time
    (``collection_id`` empty) or an item added to a collection. Written in the
    transaction of the change itself; digests read the rows of their window."""

    __tablename__ = "follow_news"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    collection_id: Mapped[int | None] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"),
                                                      index=True)

    item: Mapped[Item] = relationship()
