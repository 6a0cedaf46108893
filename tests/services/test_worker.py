"""The worker loop on a real database: it drains its queues, sleeps until a job is queued (NOTIFY on
commit), stops cleanly, and tells the shop it is alive through its heartbeat row."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, text

from ecomdesk.services.jobs import JobQueue, dequeue, enqueue
from ecomdesk.services.registry import Services
from ecomdesk.services.workers import WorkerService
from ecomdesk.worker import Worker


class CountingJobs:
    """A real job handler on its own queue: claims with the shared JobQueue, records the payload
    and deletes the job in one transaction — what every real handler does, minus the work."""

    def __init__(self, engine: Engine, queue: str) -> None:
        self.queue = queue
        self.jobs = JobQueue(engine)
        self.engine = engine
        self.seen: list[int] = []

    def run_next(self, worker: str, *, cancelled: Callable[[], bool] | None = None) -> object | None:
        job = self.jobs.claim(self.queue, worker)
        if job is None:
            return None
        with self.engine.begin() as conn:
            assert dequeue(conn, job.id, job.token)
        self.seen.append(int(job.payload["n"]))
        return job.id


def _queue(engine: Engine, queue: str, count: int, start: int = 0) -> None:
    with engine.begin() as conn:
        for n in range(start, start + count):
            enqueue(conn, queue, {"n": n})


def test_once_drains_every_queue_round_robin_then_exits(engine: Engine) -> None:
    _queue(engine, "alpha", 3)
    _queue(engine, "beta", 2)
    alpha, beta = CountingJobs(engine, "alpha"), CountingJobs(engine, "beta")
    order: list[str] = []
    for handler in (alpha, beta):
        run = handler.run_next

        def traced(worker: str, *, cancelled=None, run=run, name=handler.queue):
            outcome = run(worker, cancelled=cancelled)
            if outcome is not None:
                order.append(name)
            return outcome

        handler.run_next = traced  # type: ignore[method-assign]

    stats = Worker(engine, [alpha, beta], name="test:1 worker", once=True).run()

    assert alpha.seen == [0, 1, 2] and beta.seen == [0, 1]
    assert order == ["alpha", "beta", "alpha", "beta", "alpha"], "one job per queue in turn"
    assert stats.done == {"alpha": 3, "beta": 2}
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM jobs")) == 0


def test_an_idle_worker_wakes_on_the_commit_of_a_new_job_not_at_its_next_poll(engine: Engine) -> None:
    handler = CountingJobs(engine, "alpha")
    worker = Worker(engine, [handler], name="test:2 worker", poll=30.0)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        time.sleep(0.5)  # idle, listening
        queued = time.monotonic()
        _queue(engine, "alpha", 1)
        while not handler.seen and time.monotonic() - queued < 10:
            time.sleep(0.01)
        waited = time.monotonic() - queued
    finally:
        worker.stop()
        thread.join(10)
    assert handler.seen == [0]
    assert waited < 5, f"picked up after {waited:.1f} s: the NOTIFY did not wake it (poll is 30 s)"
    assert not thread.is_alive(), "stop() ends an idle worker at once"


def test_heartbeat_counts_alive_workers_and_a_clean_stop_is_not_counted(
    engine: Engine, services: Services, staff
) -> None:
    first = Worker(engine, [CountingJobs(engine, "alpha")], name="host-a:1 worker", poll=30.0)
    second = Worker(engine, [CountingJobs(engine, "beta")], name="host-b:2 worker", poll=30.0)
    _queue(engine, "alpha", 2)
    threads = [threading.Thread(target=w.run) for w in (first, second)]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 10
        status = WorkerService(services.ctx).status(staff.viewer)
        while (len(status.alive) < 2 or status.last_job_at is None) and time.monotonic() < deadline:
            time.sleep(0.05)
            status = WorkerService(services.ctx).status(staff.viewer)
        assert status.summary().startswith("2 workers alive, last job ")
        assert {w.name for w in status.alive} == {"host-a:1 worker", "host-b:2 worker"}
        first.stop()
        threads[0].join(10)
        status = WorkerService(services.ctx).status(staff.viewer)
        assert [w.name for w in status.alive] == ["host-b:2 worker"]
        assert status.summary().startswith("1 worker alive")
    finally:
        for worker, thread in zip((first, second), threads, strict=True):
            worker.stop()
            thread.join(10)
    assert WorkerService(services.ctx).status(None).summary().startswith("No worker is running")


def test_a_silent_worker_stops_counting_after_thirty_seconds(engine: Engine, services: Services) -> None:
    Worker(engine, [CountingJobs(engine, "alpha")], name="gone:1 worker", once=True).heartbeat.beat()
    assert len(WorkerService(services.ctx).status(None).alive) == 1
    with engine.begin() as conn:  # as if it had been SIGKILLed 31 s ago
        conn.execute(text("UPDATE worker_heartbeats SET seen_at = now() - interval '31 seconds'"))
    status = WorkerService(services.ctx).status(None)
    assert status.alive == () and len(status.workers) == 1


def test_once_gives_up_with_a_clear_error_when_the_server_cannot_be_reached(tmp_path) -> None:
    from ecomdesk.db.engine import make_engine
    from ecomdesk.services.errors import Unavailable

    # A socket folder with no server in it: refused at once, like a stopped server.
    gone = make_engine(f"postgresql+psycopg://postgres@/x?host={tmp_path}&port=5999&connect_timeout=2")
    try:
        with pytest.raises(Unavailable):
            Worker(gone, [CountingJobs(gone, "alpha")], name="test:3 worker", once=True).run()
    finally:
        gone.dispose()


def test_a_crashing_handler_is_logged_and_the_other_queues_go_on(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    class Crashing(CountingJobs):
        def run_next(self, worker: str, *, cancelled: Callable[[], bool] | None = None) -> object | None:
            raise RuntimeError("a bug in a handler")

    _queue(engine, "beta", 2)
    healthy = CountingJobs(engine, "beta")
    stats = Worker(engine, [Crashing(engine, "alpha"), healthy], name="test:4 worker", once=True).run()
    assert healthy.seen == [0, 1] and stats.errors >= 1  # (--once looks twice: once more after work)
    assert "a alpha job crashed" in caplog.text and "a bug in a handler" in caplog.text
