"""`ecomdesk worker`: the headless process that does the shop's background jobs from the database's
queues — reports, webhook deliveries, e-mail alerts — so no staff machine has to stay switched on.

Any number of workers (and the desktop apps' own report runner) share the queues: every job is
claimed with `SELECT … FOR UPDATE SKIP LOCKED` under a lease (`services.jobs`), so none is done
twice, and one whose worker died is taken up again when its lease runs out.

The loop: drain every queue (one job at a time, round robin, so a burst of webhooks does not hold
up a report), run the handlers' periodic `tick()` (the daily digest), write the heartbeat, then
sleep until a `NOTIFY ecomdesk_jobs` (sent on commit by the `jobs` trigger) or the poll interval.
SIGTERM or SIGINT ends it cleanly: the job in hand is finished (a report is released for another
worker), the heartbeat row is marked stopped, and the process exits 0. `--once` drains what is due
and exits (cron, tests).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import select
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Final, Protocol

from ecomdesk.db.changes import Listener, ListenerLost, open_listener
from ecomdesk.services.errors import ServiceError, Unavailable
from ecomdesk.services.workers import BEAT_EVERY, Heartbeat

log = logging.getLogger(__name__)

#: The channel the `jobs` trigger notifies (migration 0008).
JOBS_CHANNEL: Final = "ecomdesk_jobs"
#: How long an idle worker sleeps when no notification wakes it.
POLL_SECONDS: Final = 5.0
#: How often the log gets a health line.
HEALTH_EVERY: Final = dt.timedelta(minutes=1)
#: After the database went away: wait this long before trying again (doubling up to the cap).
BACKOFF_START: Final = 1.0
BACKOFF_CAP: Final = 30.0


class JobHandler(Protocol):
    """What the worker runs: one queue's jobs, one at a time."""

    queue: str

    def run_next(self, worker: str, *, cancelled: Callable[[], bool] | None = None) -> object | None:
        """Claim one due job of `queue` and do it; None when nothing is due."""
        ...


@dataclass
class WorkerStats:
    """What a worker did, by queue (the health line and `--once`'s summary)."""

    done: dict[str, int] = field(default_factory=dict)
    errors: int = 0

    @property
    def total(self) -> int:
        return sum(self.done.values())

    def line(self) -> str:
        parts = ", ".join(f"{queue} {count}" for queue, count in sorted(self.done.items()) if count)
        return f"{self.total} job{'s' if self.total != 1 else ''} done" + (f" ({parts})" if parts else "")


class Worker:
    """Drains the handlers' queues until stopped (or, with `once`, until nothing is due)."""

    def __init__(
        self,
        engine: Any,
        handlers: Sequence[JobHandler],
        *,
        name: str,
        once: bool = False,
        poll: float = POLL_SECONDS,
        listening: str | None = None,
    ) -> None:
        self.engine = engine
        self.handlers = tuple(handlers)
        self.name = name
        self.once = once
        self.poll = poll
        self.stats = WorkerStats({h.queue: 0 for h in self.handlers})
        self.heartbeat = Heartbeat(engine, name, [h.queue for h in self.handlers], listening=listening)
        self._stop = threading.Event()
        # A byte on this pipe wakes the idle wait at once (written by `stop()`, signal-safe).
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._listener: Listener | None = None
        self._last_beat = -BEAT_EVERY.total_seconds()
        self._beaten_jobs = 0
        self._next_health = time.monotonic() + HEALTH_EVERY.total_seconds()

    # -- control ------------------------------------------------------------------------------

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        """Finish the job in hand and exit (safe from a signal handler and other threads)."""
        self._stop.set()
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    @contextlib.contextmanager
    def signals_stop(self) -> Iterator[None]:
        """SIGTERM (systemd, `kill`) and SIGINT (Ctrl+C) stop the worker cleanly while in the block."""

        def handler(signum: int, frame: FrameType | None) -> None:
            log.info(
                "Worker %s: %s received, stopping after the job in hand",
                self.name,
                signal.Signals(signum).name,
            )
            self.stop()

        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)

    # -- the loop -----------------------------------------------------------------------------

    def run(self) -> WorkerStats:
        queues = ", ".join(h.queue for h in self.handlers)
        log.info("Worker %s started: queues %s%s", self.name, queues, " (once)" if self.once else "")
        backoff = BACKOFF_START
        try:
            while not self.stopping:
                try:
                    self._beat_if_due()
                    did = self._drain()
                    self._tick()
                    backoff = BACKOFF_START
                except Unavailable as exc:
                    self.stats.errors += 1
                    log.warning("Worker %s: %s Trying again in %.0f s.", self.name, exc.message, backoff)
                    self._close_listener()
                    if self.once:
                        raise
                    self._sleep(backoff)
                    backoff = min(backoff * 2, BACKOFF_CAP)
                    continue
                self._health_if_due()
                if self.once and not did:
                    break
                if not did and not self.stopping:
                    self._idle()
        finally:
            self._close_listener()
            with contextlib.suppress(Exception):
                self.heartbeat.stopped()
            os.close(self._wake_r)
            os.close(self._wake_w)
        log.info("Worker %s stopped: %s", self.name, self.stats.line())
        return self.stats

    def _drain(self) -> bool:
        """Round robin over the queues, one job each, until all are empty (or stopping)."""
        did_any = False
        busy = list(self.handlers)
        while busy and not self.stopping:
            for handler in list(busy):
                if self._stop.is_set():  # (a signal may arrive between two jobs)
                    break
                outcome = self._run_one(handler)
                if outcome is None:
                    busy.remove(handler)
                    continue
                did_any = True
                self.stats.done[handler.queue] = self.stats.done.get(handler.queue, 0) + 1
                self.heartbeat.job_done()
                self._beat_if_due()
                self._health_if_due()
        return did_any

    def _run_one(self, handler: JobHandler) -> object | None:
        try:
            outcome = handler.run_next(self.name, cancelled=lambda: self.stopping)
        except Unavailable:
            raise
        except ServiceError as exc:
            # Refused for its own reasons (recorded by its handler): leave this queue until the
            # next wake-up rather than spin on it.
            self.stats.errors += 1
            log.warning("Worker %s: a %s job failed: %s", self.name, handler.queue, exc.message)
            return None
        except Exception:
            # A bug, not the job's fault: the worker lives on. The job stays claimed until its lease
            # runs out, then is tried again (and given up by its handler after a few such deaths).
            self.stats.errors += 1
            log.exception("Worker %s: a %s job crashed", self.name, handler.queue)
            return None
        if outcome is not None:
            log.debug("Worker %s: %s job done: %s", self.name, handler.queue, outcome)
        return outcome

    def _tick(self) -> None:
        for handler in self.handlers:
            tick = getattr(handler, "tick", None)
            if tick is not None:
                tick()

    def _beat_if_due(self) -> None:
        """Every `BEAT_EVERY`; and within a second of a job done, so "last job" is current."""
        now = time.monotonic()
        fresh_news = self.heartbeat.jobs_done != self._beaten_jobs and now >= self._last_beat + 1.0
        if now >= self._last_beat + BEAT_EVERY.total_seconds() or fresh_news:
            self.heartbeat.beat()
            self._last_beat = now
            self._beaten_jobs = self.heartbeat.jobs_done

    def _health_if_due(self) -> None:
        now = time.monotonic()
        if now < self._next_health:
            return
        self._next_health = now + HEALTH_EVERY.total_seconds()
        last = self.heartbeat.last_job_at
        ago = f"{(dt.datetime.now(dt.UTC) - last).total_seconds():.0f} s ago" if last else "none yet"
        log.info(
            "Worker %s healthy: %s, %d error%s, last job %s",
            self.name,
            self.stats.line(),
            self.stats.errors,
            "" if self.stats.errors == 1 else "s",
            ago,
        )

    # -- waiting ------------------------------------------------------------------------------

    def _idle(self) -> None:
        """Sleep until a job is queued (NOTIFY), the poll interval passes, or `stop()`; wake for
        the next heartbeat too."""
        listener = self._ensure_listener()
        next_beat = self._last_beat + (
            1.0 if self.heartbeat.jobs_done != self._beaten_jobs else BEAT_EVERY.total_seconds()
        )
        timeout = min(self.poll, max(0.05, next_beat - time.monotonic()))
        waits: list[Any] = [self._wake_r] + ([listener] if listener is not None else [])
        try:
            ready, _, _ = select.select(waits, [], [], timeout)
        except InterruptedError:
            return
        if self._wake_r in ready:
            with contextlib.suppress(BlockingIOError, OSError):
                os.read(self._wake_r, 64)
        if listener is not None and listener in ready:
            try:
                listener.drain()
            except ListenerLost as exc:
                log.info("Worker %s: stopped listening for new jobs (%s); polling", self.name, exc)
                self._close_listener()

    def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(InterruptedError):
            select.select([self._wake_r], [], [], seconds)

    def _ensure_listener(self) -> Listener | None:
        if self._listener is None:
            try:
                self._listener = open_listener(self.engine, JOBS_CHANNEL)
            except Exception as exc:  # a pooler that refuses LISTEN, a server going away
                log.debug("Worker %s: cannot LISTEN (%s); polling every %.0f s", self.name, exc, self.poll)
                return None
        return self._listener

    def _close_listener(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(Exception):
                self._listener.close()
            self._listener = None
