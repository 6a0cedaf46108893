"""`ecomdesk worker` as real processes on a real database: two workers share 500 deliveries with
none done twice; a worker killed (SIGKILL) mid-delivery leaves its job to the other once the lease
runs out; SIGTERM stops a worker cleanly; `worker status` sees them; `--listen` takes signed orders."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO

import httpx
import pytest
from sqlalchemy import Engine, text

from ecomdesk.services.context import Actor
from ecomdesk.services.events import emit
from ecomdesk.services.registry import Services
from ecomdesk.services.webhooks import EndpointDraft
from tests.services.webhook_receiver import Answer, Receiver, running_receiver

SECRET = "whsec_test-secret-of-the-receiver"


def _worker(database_url: str, *options: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    # Its log goes to a file, not a pipe: a pipe nobody reads fills up and blocks the worker.
    log = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed by `_workers`
    proc = subprocess.Popen(
        [sys.executable, "-m", "ecomdesk", "worker", "--database-url", database_url, *options],
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    _LOGS[proc.pid] = log
    return proc


_LOGS: dict[int, IO[str]] = {}


@contextmanager
def _workers(*procs: subprocess.Popen[str]) -> Iterator[tuple[subprocess.Popen[str], ...]]:
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(30)
            log = _LOGS.pop(proc.pid)
            log.seek(0)
            print(
                f"--- worker {proc.pid} (exit {proc.returncode}):\n{log.read()[-3000:]}"
            )  # shown on failure
            log.close()


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def _scalar(engine: Engine, sql: str) -> object:
    with engine.connect() as conn:
        return conn.scalar(text(sql))


def _endpoint(services: Services, admin: Actor, receiver: Receiver) -> int:
    created = services.webhooks.add_endpoint(
        admin, EndpointDraft(receiver.url(), ["user.created"], allow_private=True), secret=SECRET
    )
    return created.endpoint.id


def test_two_workers_deliver_500_events_exactly_once_and_stop_cleanly_on_sigterm(
    database_url: str, engine: Engine, services: Services, staff
) -> None:
    with running_receiver(SECRET) as receiver:
        _endpoint(services, staff.admin, receiver)
        # A little latency per request, as a real receiver has, so both workers get a share.
        receiver.answer(*[Answer(delay=0.004)] * 500)
        with engine.begin() as conn:
            for n in range(500):
                emit(conn, "user.created", {"n": n})
        with _workers(
            _worker(database_url, "--queue", "webhook"), _worker(database_url, "--queue", "webhook")
        ) as (
            first,
            second,
        ):
            _wait(lambda: _scalar(engine, "SELECT count(*) FROM jobs") == 0, 120, "the queue to drain")
            status = subprocess.run(
                [sys.executable, "-m", "ecomdesk", "worker", "status", "--database-url", database_url],
                capture_output=True,
                text=True,
                timeout=60,
            )
            first.send_signal(signal.SIGTERM)
            second.send_signal(signal.SIGTERM)
            codes = [first.wait(30), second.wait(30)]
        received = [r.json["data"]["n"] for r in receiver.received]
        assert all(r.signature_ok for r in receiver.received)
    assert codes == [0, 0], "SIGTERM is a clean stop"
    assert sorted(received) == list(range(500)), "every event once, none twice"
    with engine.connect() as conn:
        delivered = conn.scalar(text("SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered'"))
        attempts = conn.execute(text("SELECT worker, number FROM webhook_attempts")).all()
        stopped = conn.scalar(text("SELECT count(*) FROM worker_heartbeats WHERE stopped_at IS NOT NULL"))
    assert delivered == 500 and len(attempts) == 500 and {n for _, n in attempts} == {1}
    shares = Counter(worker for worker, _ in attempts)
    assert len(shares) == 2 and min(shares.values()) > 0, f"both workers worked: {dict(shares)}"
    assert status.returncode == 0 and status.stdout.startswith("2 workers alive, last job "), status.stdout
    assert stopped == 2


def test_a_worker_killed_mid_delivery_leaves_the_job_to_the_other_after_the_lease(
    database_url: str, engine: Engine, services: Services, staff
) -> None:
    with running_receiver(SECRET) as receiver:
        _endpoint(services, staff.admin, receiver)
        receiver.answer(Answer(delay=20))  # the first request hangs: its worker is then killed
        with engine.begin() as conn:
            event_id = emit(conn, "user.created", {"who": "kept"})
        lease = ("--lease", "2", "--queue", "webhook")
        with _workers(_worker(database_url, *lease, "--name", "doomed")) as (doomed,):
            _wait(lambda: len(receiver.received) == 1, 60, "the first worker's request")
            doomed.send_signal(signal.SIGKILL)
            doomed.wait(30)
        with _workers(_worker(database_url, *lease, "--name", "survivor")) as (survivor,):
            _wait(
                lambda: _scalar(engine, "SELECT status FROM webhook_deliveries") == "delivered",
                60,
                "the other worker to deliver it",
            )
            survivor.send_signal(signal.SIGTERM)
            assert survivor.wait(30) == 0
        ids = [r.json["id"] for r in receiver.received]
    assert ids == [event_id, event_id], "delivered again after the kill, with the same event id"
    with engine.connect() as conn:
        attempts = conn.execute(text("SELECT worker, number, status_code FROM webhook_attempts")).all()
        jobs = conn.scalar(text("SELECT count(*) FROM jobs"))
    # The killed worker logged nothing (it died before its transaction); the survivor's is attempt 1.
    assert attempts == [("survivor", 1, 200)]
    assert jobs == 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_listening_worker_takes_a_signed_order_and_refuses_a_forged_one(
    database_url: str, engine: Engine
) -> None:
    port = _free_port()
    secret = "inbound-secret-for-the-test"
    proc = _worker(database_url, "--listen", f"127.0.0.1:{port}", env={"ECOMDESK_INBOUND_SECRET": secret})
    with _workers(proc):
        _wait(lambda: _answers(port), 60, "the listener")
        body = json.dumps(
            {
                "id": "evt-process-1",
                "type": "order.paid",
                "created": "2026-11-27T10:00:00Z",
                "data": {
                    "order_id": "WEB-1001",
                    "customer_id": "cust-77",
                    "amount": "49.90",
                    "currency": "EUR",
                    "occurred_at": "2026-11-27T09:58:00Z",
                    "channel": "web",
                },
            }
        ).encode()
        stamp = int(time.time())
        good = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
        url = f"http://127.0.0.1:{port}/webhooks/orders"
        forged = httpx.post(url, content=body, headers={"Ecomdesk-Signature": f"t={stamp},v1={'0' * 64}"})
        taken = httpx.post(url, content=body, headers={"Ecomdesk-Signature": f"t={stamp},v1={good}"})
        again = httpx.post(url, content=body, headers={"Ecomdesk-Signature": f"t={stamp},v1={good}"})
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    assert forged.status_code == 401
    assert taken.status_code == 200, taken.text
    assert again.status_code == 200 and again.json().get("duplicate") is True
    with engine.connect() as conn:
        order = conn.execute(
            text("SELECT status, amount FROM order_events WHERE order_id = 'WEB-1001'")
        ).one()
    assert (order.status, str(order.amount)) == ("paid", "49.90")


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.parametrize("argument", ["nonsense", "127.0.0.1:99999", ":80"])
def test_a_bad_listen_address_is_a_usage_error(database_url: str, argument: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ecomdesk", "worker", "--database-url", database_url, "--listen", argument],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "--listen wants HOST:PORT" in done.stderr
