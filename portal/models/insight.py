"""Insight for curators and the guided entry (issue #9): the anonymous search
log and each municipality's progress through the handreiking's sub-steps."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..i18n import N_
from .base import utcnow
from .places import Municipality

#: Where a municipality stands on a sub-step, in order.
#: labels marked for extraction (``N_``) and translated where shown (``_(label)``)
PROGRESS_STATES = {"niet-begonnen": N_("Niet begonnen"), "bezig": N_("Bezig"), "gereed": N_("Gereed")}


class SearchLogEntry(db.Model):
    """One search on the search page, for the curators' statistics.

    Deliberately without any identity: no user, no IP address, no session,
    no user agent. Rows older than a year are deleted by
    ``portal prune-search-log``."""

    __tablename__ = "search_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    #: normalised query text (case-folded, whitespace collapsed, capped)
    query: Mapped[str] = mapped_column(String(200), default="", index=True)
    #: the facet filters used: ``{field: [values]}``
    filters: Mapped[dict] = mapped_column(JSON, default=dict)
    result_count: Mapped[int] = mapped_column(Integer, default=0)


class GuideProgress(db.Model):
    """Where a municipality stands on one sub-step of the handreiking
    (``1.1`` .. ``3.3``): one of :data:`PROGRESS_STATES`. Changes are audited."""

    __tablename__ = "guide_progress"
    __table_args__ = (UniqueConstraint("municipality_id", "step", name="uq_guide_progress_municipality_step"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipalities.id", ondelete="CASCADE"), index=True)
    step: Mapped[str] = mapped_column(String(10))
    state: Mapped[str] = mapped_column(String(20), default="niet-begonnen")
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    municipality: Mapped[Municipality] = relationship()
