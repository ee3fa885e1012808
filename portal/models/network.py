"""The network (issue #9): meetings with sign-ups and a waiting list, and
questions to the network with answers and followers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import utcnow
from .places import Municipality, Region
from .users import User

#: Kinds of meeting, in the order the forms offer them.
MEETING_KINDS = {
    "netwerkbijeenkomst": "Brede netwerkbijeenkomst",
    "trainingsdag": "Trainingsdag",
    "informatieavond": "Informatieavond",
    "overig": "Andere bijeenkomst",
}
#: Registration states: a seat, or a place on the waiting list.
REGISTRATION_STATES = ("confirmed", "waiting")


class Meeting(db.Model):
    """A meeting of a region's network (or a national one when ``region_id``
    is empty). Times are naive UTC; the interface shows Europe/Amsterdam."""

    __tablename__ = "meetings"

    id: Mapped[int] = mapped_column(primary_key=True)
    region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40), default="netwerkbijeenkomst")
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    ends_at: Mapped[datetime] = mapped_column(DateTime)
    place: Mapped[str] = mapped_column(String(300), default="")
    online_url: Mapped[str] = mapped_column(String(500), default="")
    capacity: Mapped[int | None] = mapped_column(Integer)  # None: no limit
    notes: Mapped[str] = mapped_column(Text, default="")  # the organiser's report afterwards
    related: Mapped[list] = mapped_column(JSON, default=list)  # slugs of practices and lessons
    organiser_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    region: Mapped[Region | None] = relationship()
    organiser: Mapped[User | None] = relationship()
    registrations: Mapped[list[MeetingRegistration]] = relationship(
        back_populates="meeting", cascade="all, delete-orphan",
        order_by="MeetingRegistration.id",
    )

    def __repr__(self) -> str:
        return f"<Meeting {self.id} {self.title!r}>"


class MeetingRegistration(db.Model):
    """One member's sign-up: a seat (``confirmed``) or a place on the waiting
    list (``waiting``, served in ``created_at`` order). Cancelling deletes it."""

    __tablename__ = "meeting_registrations"
    __table_args__ = (UniqueConstraint("meeting_id", "user_id", name="uq_meeting_registrations_meeting_user"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="confirmed")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    meeting: Mapped[Meeting] = relationship(back_populates="registrations")
    user: Mapped[User] = relationship()


class Question(db.Model):
    """A question to the network (members only). ``last_activity_at`` moves
    with every answer; a question without activity for 90 days is locked."""

    __tablename__ = "questions"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    themes: Mapped[list] = mapped_column(JSON, default=list)
    phase: Mapped[str | None] = mapped_column(String(40))
    municipality_id: Mapped[int | None] = mapped_column(ForeignKey("municipalities.id"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="open")  # open or closed
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    last_activity_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)

    municipality: Mapped[Municipality | None] = relationship()
    author: Mapped[User | None] = relationship()
    answers: Mapped[list[Answer]] = relationship(
        back_populates="question", cascade="all, delete-orphan", order_by="Answer.id"
    )

    def __repr__(self) -> str:
        return f"<Question {self.id} {self.title!r}>"


class Answer(db.Model):
    """A member's answer; at most one per question is marked ``best``."""

    __tablename__ = "answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text, default="")
    best: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    question: Mapped[Question] = relationship(back_populates="answers")
    author: Mapped[User | None] = relationship()


class QuestionFollow(db.Model):
    """A member follows a question (for notifications and "my questions")."""

    __tablename__ = "question_follows"

    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
