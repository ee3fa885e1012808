"""Introduction requests (issue #5): a member asks the region's curator to
put them in touch with a key figure whose contact route is "via the curator"."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import utcnow
from .items import Item
from .users import User

#: open (waiting for the curator), forwarded (passed on to the person), declined
INTRODUCTION_STATES = ("open", "forwarded", "declined")


class IntroductionRequest(db.Model):
    __tablename__ = "introduction_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    profile_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    requester_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    message: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="open")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    handled_at: Mapped[datetime | None] = mapped_column(DateTime)
    handled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    profile: Mapped[Item] = relationship()
    requester: Mapped[User | None] = relationship(foreign_keys=[requester_id])
