"""Users and their roles."""

from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db
from .base import utcnow
from .places import Municipality

#: Roles in ascending order of power; each includes what the ones before it may do.
ROLES = ("member", "contributor", "curator", "admin")


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(300), default="")
    role: Mapped[str] = mapped_column(String(20), default="member")
    municipality_id: Mapped[int | None] = mapped_column(ForeignKey("municipalities.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    municipality: Mapped[Municipality | None] = relationship()

    def set_password(self, password: str) -> None:
        """Hash with scrypt (werkzeug's default), never store the plain text."""
        self.password_hash = generate_password_hash(password, method="scrypt")

    def check_password(self, password: str) -> bool:
        return bool(self.password_hash) and check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:  # flask-login refuses inactive users
        return bool(self.active)

    @property
    def region_id(self) -> int | None:
        return self.municipality.region_id if self.municipality else None

    def has_role(self, role: str) -> bool:
        """True when this user's role is ``role`` or a more powerful one."""
        return ROLES.index(self.role) >= ROLES.index(role)

    def __repr__(self) -> str:
        return f"<User {self.email} {self.role}>"
