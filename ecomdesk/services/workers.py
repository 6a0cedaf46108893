"""Who is doing the shop's background work: each running worker (and desktop app runner) writes a
heartbeat row every few seconds, and the Integrations page counts those seen lately.

"Alive" is judged by the database's clock (`seen_at` against `now()`), so a worker on a machine
whose clock is off is still counted right. A clean shutdown marks its row stopped; a killed worker
simply falls silent and stops counting after `ALIVE_WITHIN`. Rows silent for a day are pruned by
the next heartbeat of any worker, so the table stays as small as the number of workers.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from sqlalchemy import Engine, text

from ecomdesk import __version__
from ecomdesk.services.context import Actor, ServiceContext, database_errors

#: How often a worker writes its heartbeat.
BEAT_EVERY: Final = dt.timedelta(seconds=10)
#: A worker not heard from for this long is not counted as alive (three missed beats).
ALIVE_WITHIN: Final = dt.timedelta(seconds=30)
#: Rows of workers silent for this long are deleted.
FORGET_AFTER: Final = dt.timedelta(days=1)

_BEAT_SQL: Final = text(
    """
    INSERT INTO worker_heartbeats
        (name, host, pid, version, queues, listening, started_at, seen_at, jobs_done, last_job_at)
    VALUES (:name, :host, :pid, :version, CAST(:queues AS jsonb), :listening, :started_at, now(),
            :jobs_done, :last_job_at)
    ON CONFLICT (name) DO UPDATE SET
        seen_at = now(), jobs_done = excluded.jobs_done, last_job_at = excluded.last_job_at,
        listening = excluded.listening, queues = excluded.queues, stopped_at = NULL
    """
)
_PRUNE_SQL: Final = text("DELETE FROM worker_heartbeats WHERE seen_at < now() - CAST(:forget AS interval)")
_STOP_SQL: Final = text("UPDATE worker_heartbeats SET stopped_at = now(), seen_at = now() WHERE name = :name")
_STATUS_SQL: Final = text(
    """
    SELECT name, host, pid, version, queues, listening, started_at, seen_at, jobs_done, last_job_at,
           stopped_at IS NULL AND seen_at >= now() - CAST(:within AS interval) AS alive,
           now() AS now
    FROM worker_heartbeats ORDER BY seen_at DESC
    """
)


@dataclass(frozen=True)
class WorkerRow:
    name: str
    host: str
    pid: int
    version: str
    queues: tuple[str, ...]
    listening: str | None
    started_at: dt.datetime
    seen_at: dt.datetime
    jobs_done: int
    last_job_at: dt.datetime | None
    alive: bool


@dataclass(frozen=True)
class WorkerStatus:
    """What the Integrations page says about the background work."""

    workers: tuple[WorkerRow, ...]
    #: The database's time when this was read (ages are measured against it).
    now: dt.datetime

    @property
    def alive(self) -> tuple[WorkerRow, ...]:
        return tuple(w for w in self.workers if w.alive)

    @property
    def last_job_at(self) -> dt.datetime | None:
        times = [w.last_job_at for w in self.workers if w.last_job_at is not None]
        return max(times) if times else None

    def summary(self) -> str:
        """ "2 workers alive, last job 10 s ago" — or what it means that none is."""
        count = len(self.alive)
        if count == 0:
            head = "No worker is running: webhooks and e-mail wait until one starts (ecomdesk worker)"
        else:
            head = f"{count} worker{'s' if count != 1 else ''} alive"
        last = self.last_job_at
        if last is None:
            return f"{head}, no job done yet"
        return f"{head}, last job {_ago(self.now - last)}"


def _ago(age: dt.timedelta) -> str:
    seconds = max(0, int(age.total_seconds()))
    if seconds < 90:
        return f"{seconds} s ago"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min ago"
    if seconds < 36 * 3600:
        return f"{round(seconds / 3600)} h ago"
    return f"{round(seconds / 86400)} days ago"


class Heartbeat:
    """One worker's heartbeat row: `beat()` every `BEAT_EVERY`, `stopped()` on a clean exit."""

    def __init__(
        self, engine: Engine, name: str, queues: Sequence[str], *, listening: str | None = None
    ) -> None:
        self.engine = engine
        self.name = name[:200]
        self.queues = tuple(queues)
        self.listening = listening
        self.started_at = dt.datetime.now(dt.UTC)
        self.jobs_done = 0
        self.last_job_at: dt.datetime | None = None

    def job_done(self) -> None:
        self.jobs_done += 1
        self.last_job_at = dt.datetime.now(dt.UTC)

    def beat(self) -> None:
        import json

        with database_errors(), self.engine.begin() as conn:
            conn.execute(
                _BEAT_SQL,
                {
                    "name": self.name,
                    "host": socket.gethostname()[:200],
                    "pid": os.getpid(),
                    "version": __version__,
                    "queues": json.dumps(list(self.queues)),
                    "listening": self.listening,
                    "started_at": self.started_at,
                    "jobs_done": self.jobs_done,
                    "last_job_at": self.last_job_at,
                },
            )
            conn.execute(_PRUNE_SQL, {"forget": f"{int(FORGET_AFTER.total_seconds())} seconds"})

    def stopped(self) -> None:
        with database_errors(), self.engine.begin() as conn:
            conn.execute(_STOP_SQL, {"name": self.name})


class WorkerService:
    """The workers' status for any signed-in user (it says whether background work is happening)."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def status(self, actor: Actor | None) -> WorkerStatus:
        """Every worker heard from lately (None: a command with no sign-in, `ecomdesk worker status`)."""
        with self.ctx.read(actor, None) as uow:
            if uow.session.get_bind().dialect.name != "postgresql":
                # A snapshot: nobody works on a copy.
                return WorkerStatus((), uow.now)
            rows = uow.session.execute(
                _STATUS_SQL, {"within": f"{int(ALIVE_WITHIN.total_seconds())} seconds"}
            ).all()
        now = rows[0].now if rows else uow.now
        workers = tuple(
            WorkerRow(
                r.name,
                r.host,
                r.pid,
                r.version,
                tuple(r.queues or ()),
                r.listening,
                r.started_at,
                r.seen_at,
                int(r.jobs_done),
                r.last_job_at,
                bool(r.alive),
            )
            for r in rows
        )
        return WorkerStatus(workers, now)
