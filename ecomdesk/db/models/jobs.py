"""The queue of background work shared by every app and worker on the database.

A row exists while its work is to be done: queued, or running under a lease. Whoever finishes a job
deletes its row in the same transaction as the job's result; the outcome lives with what the job
made (a report's status and error, say). A runner that dies leaves its job `running` with a lease
that runs out, and the next claim takes the job up again. Times are the database's clock, so
machines whose clocks disagree still agree on leases.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import CheckConstraint, Index, Integer, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from ecomdesk.db.base import Base, BigIntPK, created_at_column, updated_at_column

JOB_STATUSES = ("queued", "running")

_QUEUED = text("status = 'queued'")
_RUNNING = text("status = 'running'")


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(f"status IN {JOB_STATUSES!r}", name="status_known"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        CheckConstraint(
            "(status = 'running') = (lease_until IS NOT NULL AND claim_token IS NOT NULL)",
            name="lease_when_running",
        ),
        # What a claim reads: the oldest due job of a queue, and running jobs whose lease ran out.
        Index("ix_jobs_due", "queue", "run_after", "id", postgresql_where=_QUEUED, sqlite_where=_QUEUED),
        Index("ix_jobs_lease", "queue", "lease_until", postgresql_where=_RUNNING, sqlite_where=_RUNNING),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    #: Which kind of work: "report" (and the integrations' queues).
    queue: Mapped[str] = mapped_column(String(50), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(nullable=False, default=dict, server_default=text("'{}'"))
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="queued", server_default="queued")
    #: Claims so far, this one included: a job that keeps killing its runner is given up.
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    run_after: Mapped[dt.datetime] = mapped_column(nullable=False, server_default=func.now())
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claim_token: Mapped[str | None] = mapped_column(String(36))
    lease_until: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime] = updated_at_column()
