"""Generated reports and their life cycle (pending → processing → completed | failed), and their
content: the finished file, kept in the database so every staff machine can open it.

`report_chunks` has no foreign key to `reports` on purpose: a row written by the transaction that
generates a report would take a KEY SHARE lock on its report, and deleting that report (which is
how a running report is cancelled) would wait for the whole generation. Chunks only ever commit in
the same transaction that marks their report completed, and deleting a report deletes its chunks
in the same transaction (`services.reports`), so no chunk outlives its report.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ecomdesk.db.base import Base, BigIntPK, created_at_column, updated_at_column

REPORT_STATUSES = ("pending", "processing", "completed", "failed")
REPORT_FORMATS = ("csv", "json")


class Report(Base):
    __tablename__ = "reports"
    __table_args__ = (
        CheckConstraint(f"status IN {REPORT_STATUSES!r}", name="status_known"),
        CheckConstraint(f"format IN {REPORT_FORMATS!r}", name="format_known"),
        CheckConstraint("size_bytes IS NULL OR size_bytes >= 0", name="size_not_negative"),
        CheckConstraint("row_count IS NULL OR row_count >= 0", name="row_count_not_negative"),
        Index("ix_reports_created_at_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    kind: Mapped[str] = mapped_column(String(50), nullable=False)
    parameters: Mapped[dict[str, Any]] = mapped_column(
        nullable=False, default=dict, server_default=text("'{}'")
    )
    format: Mapped[str] = mapped_column(String(10), nullable=False, default="csv", server_default="csv")
    status: Mapped[str] = mapped_column(
        String(20), nullable=False, default="pending", server_default="pending", index=True
    )
    error: Mapped[str | None] = mapped_column(Text)
    generated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    #: The seed's `file_path`: where a copy was last saved by its author, if anywhere.
    file_path: Mapped[str | None] = mapped_column(Text)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    #: Data rows written so far while processing, all of them once completed.
    row_count: Mapped[int | None] = mapped_column(BigInteger)
    #: When the current (or last) generation started and when it completed or failed.
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime] = updated_at_column()


class ReportChunk(Base):
    """One piece (about a megabyte) of a completed report's file, in order of `seq`. PostgreSQL
    compresses each in TOAST, so the CSV of a large report takes a fraction of its size on disk."""

    __tablename__ = "report_chunks"

    report_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
