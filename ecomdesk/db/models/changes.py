"""The change log: one row per row that changed in a table the app shows, written by triggers.

Triggers (migration 0007, PostgreSQL only) fill it, so a change made by psql or another program
counts exactly like one made by the app. `txid` is the writing transaction's id: a reader that
only trusts rows below its snapshot's xmin horizon, and re-reads from there, never misses a
transaction that committed after one that started later (`ecomdesk.db.changes`).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, CheckConstraint, Index, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from ecomdesk.db.base import Base, BigIntPK

CHANGE_OPS = ("insert", "update", "delete", "truncate")


class ChangeEntry(Base):
    __tablename__ = "change_log"
    __table_args__ = (
        CheckConstraint(f"op IN {CHANGE_OPS!r}", name="op_known"),
        CheckConstraint("row_count >= 0", name="row_count_not_negative"),
        # What a poll reads: the rows of transactions at or beyond a horizon.
        Index("ix_change_log_txid", "txid"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    #: The writing transaction's id (`pg_current_xact_id()`, 64-bit: it never wraps around).
    txid: Mapped[int] = mapped_column(BigInteger, nullable=False)
    changed_at: Mapped[dt.datetime] = mapped_column(nullable=False, server_default=func.clock_timestamp())
    table_name: Mapped[str] = mapped_column(String(63), nullable=False)
    op: Mapped[str] = mapped_column(String(8), nullable=False)
    #: The changed row's key as text; None when one statement changed many rows (`row_count` says
    #: how many) or emptied the table.
    row_id: Mapped[str | None] = mapped_column(String(200))
    row_count: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1")
