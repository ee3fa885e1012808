"""Municipalities (CBS reference data) and regions."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db


class Region(db.Model):
    """A regional cooperation (regionaal samenwerkingsverband) of municipalities."""

    __tablename__ = "regions"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)

    municipalities: Mapped[list[Municipality]] = relationship(back_populates="region")

    def __repr__(self) -> str:
        return f"<Region {self.name}>"


class Municipality(db.Model):
    """A Dutch municipality, keyed on its CBS code (``GM`` + 4 digits)."""

    __tablename__ = "municipalities"

    id: Mapped[int] = mapped_column(primary_key=True)
    cbs_code: Mapped[str] = mapped_column(String(6), unique=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    province: Mapped[str] = mapped_column(String(100), default="")
    region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"), index=True)

    region: Mapped[Region | None] = relationship(back_populates="municipalities")

    def __repr__(self) -> str:
        return f"<Municipality {self.cbs_code} {self.name}>"
