"""Items (practice, profile, lesson), their revisions and extra taxonomy terms.

Every front-matter key of ``shared/content-format.md`` has a home here: scalar
keys as columns, list keys as JSON lists, and keys the format does not know in
``extra`` (kept, never dropped, and written back on export).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import utcnow
from .places import Municipality, Region
from .users import User

ITEM_TYPES = ("practice", "profile", "lesson")
VISIBILITIES = ("public", "members", "municipality", "region")
STATUSES = ("draft", "published")

item_municipalities = Table(
    "item_municipalities",
    db.metadata,
    Column("item_id", ForeignKey("items.id", ondelete="CASCADE"), primary_key=True),
    Column("municipality_id", ForeignKey("municipalities.id"), primary_key=True),
    Column("position", Integer, nullable=False, default=0),
)


class Item(db.Model):
    __tablename__ = "items"
    __table_args__ = (UniqueConstraint("type", "slug", name="uq_items_type_slug"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(20), index=True)
    slug: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(300))
    summary: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    visibility: Mapped[str] = mapped_column(String(20), default="public")
    status: Mapped[str] = mapped_column(String(20), default="draft", index=True)
    language: Mapped[str] = mapped_column(String(5), default="nl")
    date: Mapped[date | None] = mapped_column(Date)
    reviewed: Mapped[date | None] = mapped_column(Date)
    review_due: Mapped[date | None] = mapped_column(Date)
    #: Workflow beside ``status`` (which keeps the content format's values):
    #: "" (plain draft or published), "submitted" (ter beoordeling),
    #: "returned" (teruggestuurd, see ``review_comment``) or "archived" (a draft).
    review_state: Mapped[str] = mapped_column(String(20), default="", server_default="", index=True)
    review_comment: Mapped[str] = mapped_column(Text, default="", server_default="")
    region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"), index=True)

    themes: Mapped[list] = mapped_column(JSON, default=list)
    phases: Mapped[list] = mapped_column(JSON, default=list)
    steps: Mapped[list] = mapped_column(JSON, default=list)
    tags: Mapped[list] = mapped_column(JSON, default=list)

    # practice
    municipal_role: Mapped[str | None] = mapped_column(String(20))
    target_groups: Mapped[list] = mapped_column(JSON, default=list)
    key_figure_types: Mapped[list] = mapped_column(JSON, default=list)
    evidence: Mapped[str | None] = mapped_column(String(40))
    started: Mapped[date | None] = mapped_column(Date)
    ended: Mapped[date | None] = mapped_column(Date)
    contact: Mapped[str | None] = mapped_column(String(200))
    related: Mapped[list] = mapped_column(JSON, default=list)

    # profile
    role: Mapped[str | None] = mapped_column(String(300))
    organisation: Mapped[str | None] = mapped_column(String(300))
    key_figure_type: Mapped[str | None] = mapped_column(String(60))
    formal: Mapped[bool | None] = mapped_column(Boolean)
    expertise: Mapped[list] = mapped_column(JSON, default=list)
    languages: Mapped[list] = mapped_column(JSON, default=list)
    communities: Mapped[list] = mapped_column(JSON, default=list)
    outside_office_hours: Mapped[bool | None] = mapped_column(Boolean)
    contact_email: Mapped[str | None] = mapped_column(String(320))
    contact_phone: Mapped[str | None] = mapped_column(String(60))
    consent: Mapped[date | None] = mapped_column(Date)
    #: Consent (issue #5): what the person agreed to, which text version, until
    #: when (``None``: ``consent`` + 24 months, see permissions.consent_expiry),
    #: and when the curator was last reminded of the coming expiry.
    consent_scope: Mapped[str | None] = mapped_column(String(300))
    consent_version: Mapped[str | None] = mapped_column(String(60))
    consent_expires: Mapped[date | None] = mapped_column(Date)
    consent_reminded: Mapped[date | None] = mapped_column(Date)
    #: "direct" (None counts as direct) or "curator": an introduction request
    #: through the region's curator, contact details hidden.
    contact_route: Mapped[str | None] = mapped_column(String(20))

    # lesson
    outcome: Mapped[str | None] = mapped_column(String(20))

    extra: Mapped[dict] = mapped_column(JSON, default=dict)

    featured: Mapped[bool] = mapped_column(Boolean, default=False)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(DateTime)
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    # Optimistic locking: every UPDATE checks and bumps the version, so two
    # people saving the same item can never silently overwrite each other.
    __mapper_args__ = {"version_id_col": version}

    municipalities: Mapped[list[Municipality]] = relationship(
        secondary=item_municipalities, order_by=item_municipalities.c.position
    )
    region: Mapped[Region | None] = relationship()
    author: Mapped[User | None] = relationship()
    revisions: Mapped[list[Revision]] = relationship(
        back_populates="item", cascade="all, delete-orphan", order_by="Revision.number"
    )

    @property
    def is_published(self) -> bool:
        return self.status == "published"

    def __repr__(self) -> str:
        return f"<Item {self.type}/{self.slug}>"


class Revision(db.Model):
    """A snapshot of an item at one save: the full front matter and body."""

    __tablename__ = "revisions"
    __table_args__ = (UniqueConstraint("item_id", "number", name="uq_revisions_item_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    meta: Mapped[dict] = mapped_column(JSON, default=dict)
    note: Mapped[str] = mapped_column(String(500), default="")
    #: "" (applied to the item), "pending" (an edit of a published item waiting
    #: for a curator), "approved", "returned" (see ``comment``) or "superseded".
    state: Mapped[str] = mapped_column(String(20), default="", server_default="", index=True)
    comment: Mapped[str] = mapped_column(Text, default="", server_default="")

    item: Mapped[Item] = relationship(back_populates="revisions")
    author: Mapped[User | None] = relationship()


class TaxonomyTerm(db.Model):
    """A key added to a controlled list by a library's ``taxonomy.yaml``."""

    __tablename__ = "taxonomy_terms"
    __table_args__ = (UniqueConstraint("kind", "key", name="uq_taxonomy_kind_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(100))
    label_nl: Mapped[str] = mapped_column(String(200), default="")
    label_en: Mapped[str] = mapped_column(String(200), default="")
