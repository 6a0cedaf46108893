"""Declarative base shared by every model: one type map, one naming convention.

The same metadata must create and read on SQLite (offline snapshots), so portable types are
chosen here once: JSON becomes JSONB on PostgreSQL, money is Numeric, times carry a zone.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Integer, MetaData, Numeric, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: JSONB on PostgreSQL (indexable, compact), plain JSON text elsewhere.
JSONType = JSON().with_variant(JSONB(), "postgresql")
#: A surrogate key that is 64-bit on PostgreSQL and the rowid alias on SQLite.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")
#: Money: two decimals, never a float.
Money = Numeric(14, 2)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A moment on SQLite, which stores text without a zone: written in UTC and read back as UTC,
    so a snapshot answers with the same aware datetimes as the server it came from."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        return value.astimezone(dt.UTC) if value is not None and value.tzinfo is not None else value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        return value.replace(tzinfo=dt.UTC) if value is not None and value.tzinfo is None else value


#: A moment with its zone: timestamptz on PostgreSQL (no conversion on the way), `UTCDateTime` on SQLite.
Moment = DateTime(timezone=True).with_variant(UTCDateTime(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        dt.datetime: Moment,
        Decimal: Money,
        dict[str, Any]: JSONType,
        str: String(255),
    }


def created_at_column() -> Mapped[dt.datetime]:
    """The creation time, set by the database so every client agrees on the clock."""
    return mapped_column(Moment, server_default=func.now(), nullable=False)


def updated_at_column() -> Mapped[dt.datetime]:
    """Last change time; the ORM bumps it and the database fills it on insert."""
    return mapped_column(Moment, server_default=func.now(), onupdate=func.now(), nullable=False)
