"""The database queue of background work (`jobs`): what lets every desktop app and any headless
worker share report generation (and later webhooks and e-mail) with no job done twice or lost.

- **Claim**: one short transaction takes the oldest due job with `SELECT … FOR UPDATE SKIP LOCKED`,
  so concurrent runners never wait on or take the same row, and marks it running under a lease
  with a fresh claim token.
- **Lease**: while working, the runner extends its lease (`extend`). A runner that dies stops
  extending; once the lease runs out the job is due again and the next claim takes it up, with
  its attempt counted — a job that keeps killing its runner can be given up by its handler.
- **Finish**: the runner deletes the job in the same transaction as the job's result, matching its
  claim token, so a runner that lost its lease (and was overtaken) cannot also commit a result.

Times are the database's (`now()`), so machines whose clocks disagree still agree on leases.
Claiming needs PostgreSQL (SKIP LOCKED); an offline snapshot has no runner.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from sqlalchemy import Connection, Engine, and_, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from ecomdesk.db.models import Job
from ecomdesk.services.errors import ReadOnlyError

#: How long a claim lasts without being extended.
LEASE: Final = dt.timedelta(minutes=2)
#: Claims of one job before its handler should give it up (a job that crashes its runner every time).
MAX_ATTEMPTS: Final = 3

_JOBS = Job.__table__.c


@dataclass(frozen=True)
class ClaimedJob:
    id: int
    queue: str
    payload: Mapping[str, Any]
    #: Claims so far including this one.
    attempts: int
    token: str
    worker: str

    @property
    def exhausted(self) -> bool:
        """Claimed more often than `MAX_ATTEMPTS`: earlier runners died while working on it."""
        return self.attempts > MAX_ATTEMPTS


T = TypeVar("T")


def drain(run_next: Callable[[], T | None], limit: int | None = None) -> list[T]:
    """Run a handler's `run_next` until nothing is due (or `limit` jobs): what `--once` and the
    tests do with a queue."""
    outcomes: list[T] = []
    while limit is None or len(outcomes) < limit:
        outcome = run_next()
        if outcome is None:
            break
        outcomes.append(outcome)
    return outcomes


def runner_name(what: str) -> str:
    """How a runner names itself in `jobs.claimed_by`: which machine and process, and what it is
    ("app", "worker", "demo") — what a DBA looking at a stuck job wants to know."""
    return f"{socket.gethostname()}:{os.getpid()} {what}"


def enqueue(session: Session | Connection, queue: str, payload: Mapping[str, Any]) -> int:
    """Queue a job inside the caller's transaction: it exists only if the caller commits."""
    stmt = insert(Job).values(queue=queue, payload=dict(payload), status="queued").returning(Job.id)
    return int(session.execute(stmt).scalar_one())


def dequeue(session: Session | Connection, job_id: int, token: str) -> bool:
    """Delete a claimed job inside the caller's transaction (with the job's result); False when the
    claim was lost — the caller must then roll back."""
    result = session.execute(delete(Job).where(_JOBS.id == job_id, _JOBS.claim_token == token))
    return bool(result.rowcount)  # type: ignore[attr-defined]


class JobQueue:
    """Claims, leases and releases jobs of one database, each in its own short transaction."""

    def __init__(self, engine: Engine, *, lease: dt.timedelta = LEASE, read_only: bool = False) -> None:
        self.engine = engine
        self.lease = lease
        #: A snapshot: nothing is claimed, leased or released (each would write outside a unit of work).
        self.read_only = read_only

    def _writable(self) -> None:
        if self.read_only:
            raise ReadOnlyError("This is a read-only copy: it has no job queue to work on.")

    def claim(self, queue: str, worker: str) -> ClaimedJob | None:
        """The oldest due job of `queue` — queued, or running under a lease that ran out — now
        running for `worker`; None when there is none (one indexed probe of an empty queue)."""
        self._writable()
        now = func.now()
        due = (
            select(_JOBS.id)
            .where(
                _JOBS.queue == queue,
                or_(
                    and_(_JOBS.status == "queued", _JOBS.run_after <= now),
                    and_(_JOBS.status == "running", _JOBS.lease_until < now),
                ),
            )
            .order_by(_JOBS.id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        token = str(uuid.uuid4())
        stmt = (
            update(Job)
            .where(_JOBS.id == due)
            .values(
                status="running",
                attempts=_JOBS.attempts + 1,
                claimed_by=worker[:200],
                claim_token=token,
                lease_until=now + self.lease,
                updated_at=now,
            )
            .returning(_JOBS.id, _JOBS.queue, _JOBS.payload, _JOBS.attempts)
        )
        with self.engine.begin() as conn:
            row = conn.execute(stmt).one_or_none()
        if row is None:
            return None
        return ClaimedJob(int(row.id), row.queue, dict(row.payload or {}), int(row.attempts), token, worker)

    def extend(self, job: ClaimedJob, conn: Connection | None = None) -> bool:
        """Renew the lease; False when the job is no longer this claim's (deleted or overtaken).
        With `conn`, inside the caller's (short) transaction."""
        self._writable()
        stmt = (
            update(Job)
            .where(_JOBS.id == job.id, _JOBS.claim_token == job.token)
            .values(lease_until=func.now() + self.lease, updated_at=func.now())
        )
        if conn is not None:
            return bool(conn.execute(stmt).rowcount)
        with self.engine.begin() as own:
            return bool(own.execute(stmt).rowcount)

    def release(
        self,
        job: ClaimedJob,
        conn: Connection | None = None,
        *,
        error: str | None = None,
        after: dt.timedelta | None = None,
    ) -> bool:
        """Hand a claimed job back to the queue (this runner is stopping; or, `after` a delay, a
        retry its handler scheduled); the claim does not count as an attempt, since the runner did
        not die on it. False when it was no longer ours. With `conn`, inside the caller's
        transaction."""
        self._writable()
        run_after = func.now() if after is None else func.now() + after
        stmt = (
            update(Job)
            .where(_JOBS.id == job.id, _JOBS.claim_token == job.token)
            .values(
                status="queued",
                run_after=run_after,
                attempts=func.greatest(_JOBS.attempts - 1, 0),
                claimed_by=None,
                claim_token=None,
                lease_until=None,
                last_error=error,
                updated_at=func.now(),
            )
        )
        if conn is not None:
            return bool(conn.execute(stmt).rowcount)
        with self.engine.begin() as own:
            return bool(own.execute(stmt).rowcount)
