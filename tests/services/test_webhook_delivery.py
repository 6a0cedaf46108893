"""Webhooks out, the sending side, against a real receiver on 127.0.0.1 (`webhook_receiver`) that
checks the signature itself: retries with backoff until delivered, dead letters, Retry-After,
redirects not followed, timeouts, redelivery with the same event id, the address checked again at
delivery time, and secrets kept out of the log."""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import ssl
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import Engine, delete, func, select, text, update

from ecomdesk.db.engine import make_engine
from ecomdesk.db.models import (
    AuditEntry,
    Job,
    SystemSetting,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from ecomdesk.services import events
from ecomdesk.services.context import ServiceContext
from ecomdesk.services.registry import Services
from ecomdesk.services.webhook_delivery import DeliveryOutcome, WebhookDeliverer
from ecomdesk.services.webhooks import EndpointDraft, WebhookService
from tests.services.conftest import FakeClock, Staff
from tests.services.webhook_receiver import Answer, Receiver, running_receiver

SECRET = "whsec_the-test-receivers-own-secret"
WORKER = "test-host:1 worker"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver(SECRET) as running:
        yield running


@pytest.fixture
def deliverer(services: Services) -> Iterator[WebhookDeliverer]:
    # A short read timeout so the "hang" test waits a fraction of a second, not ten.
    with WebhookDeliverer(services.ctx, rng=random.Random(7), read_timeout=0.5) as made:
        yield made


def _settings(engine: Engine, **values: float) -> None:
    with engine.begin() as conn:
        for key, value in values.items():
            conn.execute(
                update(SystemSetting).where(SystemSetting.key == f"webhooks.{key}").values(value=value)
            )


def _endpoint(services: Services, staff: Staff, url: str, *types: str) -> int:
    draft = EndpointDraft(url, types or ("inventory.low_stock",), allow_private=True)
    return services.webhooks.add_endpoint(staff.admin, draft, secret=SECRET).endpoint.id


def _emit(services: Services, type_: str = "inventory.low_stock", **data: object) -> str:
    """An event emitted by a (system) unit of work, as the services emit theirs."""
    with services.ctx.write(None, None) as uow:
        return events.emit(uow.session, type_, data or {"sku": "KITE-1", "available": 2}, at=uow.now)


def _due_now(engine: Engine) -> None:
    """Make every queued webhook job due at once: the backoff in these tests is real but only its
    being scheduled matters here, not waiting it out."""
    with engine.begin() as conn:
        conn.execute(text("UPDATE jobs SET run_after = now() WHERE queue = 'webhook'"))


def _run(deliverer: WebhookDeliverer, engine: Engine) -> DeliveryOutcome:
    _due_now(engine)
    outcome = deliverer.run_next(WORKER)
    assert outcome is not None
    return outcome


def _attempts(engine: Engine, delivery_id: int) -> list[WebhookAttempt]:
    with engine.connect() as conn:
        stmt = select(WebhookAttempt.__table__).where(WebhookAttempt.delivery_id == delivery_id)
        return list(conn.execute(stmt.order_by(WebhookAttempt.number)).all())  # type: ignore[arg-type]


def _delivery(engine: Engine, delivery_id: int) -> WebhookDelivery:
    with engine.connect() as conn:
        row = conn.execute(select(WebhookDelivery.__table__).where(WebhookDelivery.id == delivery_id)).one()
        return row  # type: ignore[return-value]


def _jobs(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(Job).where(Job.queue == "webhook")) or 0)


def test_receiver_failing_three_times_then_accepting_gets_one_delivery_with_four_logged_attempts(
    services: Services, staff: Staff, engine: Engine, receiver: Receiver, deliverer: WebhookDeliverer
) -> None:
    _settings(engine, retry_base_seconds=0.01)
    _endpoint(services, staff, receiver.url())
    receiver.answer(*[Answer(500, body=b"database down")] * 3)
    event_id = _emit(services, sku="KITE-1", available=2)

    outcomes = [_run(deliverer, engine) for _ in range(4)]

    assert [o.status for o in outcomes] == ["retry", "retry", "retry", "delivered"]
    assert deliverer.run_next(WORKER) is None  # nothing left: no job
    assert _jobs(engine) == 0
    delivery_id = outcomes[0].delivery_id
    assert {o.delivery_id for o in outcomes} == {delivery_id}
    delivery = _delivery(engine, delivery_id)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 4, 200)
    assert delivery.delivered_at is not None and delivery.last_error is None
    attempts = _attempts(engine, delivery_id)
    assert [(a.number, a.status_code) for a in attempts] == [(1, 500), (2, 500), (3, 500), (4, 200)]
    assert attempts[0].response_excerpt == "database down" and attempts[0].worker == WORKER
    # The receiver: four signed requests of the same event, numbered, with the same body.
    assert len(receiver.received) == 4
    assert all(r.signature_ok for r in receiver.received)
    assert {r.headers["Ecomdesk-Event-Id"] for r in receiver.received} == {event_id}
    assert [r.headers["Ecomdesk-Delivery-Attempt"] for r in receiver.received] == ["1", "2", "3", "4"]
    assert len({r.body for r in receiver.received}) == 1
    first = receiver.received[0]
    assert first.headers["Content-Type"] == "application/json"
    assert first.headers["User-Agent"].startswith("ecomdesk/")
    assert first.json["id"] == event_id
    assert first.json["type"] == "inventory.low_stock"
    assert first.json["data"] == {"sku": "KITE-1", "available": 2}
    # `created` is the fake clock's moment of the change, in UTC.
    assert first.json["created"] == "2026-11-27T09:00:00.000Z"
    assert b" " not in first.body  # compact JSON


def test_a_4xx_answer_is_a_dead_letter_after_one_attempt(
    services: Services, staff: Staff, engine: Engine, receiver: Receiver, deliverer: WebhookDeliverer
) -> None:
    _endpoint(services, staff, receiver.url())
    receiver.answer(Answer(404, body=b"no such hook"))
    _emit(services)

    outcome = _run(deliverer, engine)

    assert (outcome.status, outcome.attempt, outcome.status_code) == ("dead", 1, 404)
    assert outcome.error is not None and "HTTP 404" in outcome.error
    assert _jobs(engine) == 0
    assert len(_attempts(engine, outcome.delivery_id)) == 1
    assert _delivery(engine, outcome.delivery_id).status == "dead"


def test_failures_up_to_max_attempts_end_as_a_dead_letter(
    services: Services, staff: Staff, engine: Engine, receiver: Receiver, deliverer: WebhookDeliverer
) -> None:
    _settings(engine, retry_base_seconds=0.01, max_attempts=3)
    _endpoint(services, staff, receiver.url())
    receiver.answer(*[Answer(503)] * 10)
    _emit(services)

    outcomes = [_run(deliverer, engine) for _ in range(3)]

    assert [o.status for o in outcomes] == ["retry", "retry", "dead"]
    assert deliverer.run_next(WORKER) is None
    assert len(receiver.received) == 3
    delivery = _delivery(engine, outcomes[0].delivery_id)
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("dead", 3, None)
    assert delivery.last_error is not None and "Gave up after 3 attempts" in delivery.last_error


def test_retries_back_off_exponentially_with_jitter(
    services: Services, staff: Staff, engine: Engine, receiver: Receiver, deliverer: WebhookDeliverer
) -> None:
    _settings(engine, retry_base_seconds=10, max_attempts=5)
    _endpoint(services, staff, receiver.url())
    receiver.answer(*[Answer(500)] * 4)
    _emit(services)

    delays = [_run(deliverer, engine).retry_in for _ in range(4)]

    # base * 2**(n-1) times a jitter between 0.5 and 1: 10, 20, 40, 80 s at most, half at least.
    for n, delay in enumerate(delays, start=1):
        assert delay is not None
        assert 10 * 2 ** (n - 1) * 0.5 <= delay <= 10 * 2 ** (n - 1)


def test_retry_after_is_respected_as_the_earliest_next_attempt(
    services: Services, staff: Staff, engine: Engine, receiver: Receiver, deliverer: WebhookDeliverer
) -> None:
    _settings(engine, retry_base_seconds=0.01)
    _endpoint(services, staff, receiver.url())
    receiver.answer(Answer(429, {"Retry-After": "120"}, b"slow down"))
    _emit(services)

    outcome = _run(deliverer, engine)

    assert outcome.status == "retry" and outcome.retry_in == 120
    with engine.connect() as conn:
        wait = conn.scalar(
            text("SELECT extract(epoch FROM run_after - now()) FROM jobs WHERE queue = 'webhook'")
        )
    assert wait is not None and 110 < float(wait) <= 120
    assert deliverer.run_next(WORKER) is None  # not due yet
    assert _delivery(engine, outcome.delivery_id).next_attempt_at is not None


def test_a_redirect_is_not_followed_and_counts_as_a_failed_attempt(
    services: Services, staff: Staff, engine: Engine, receiver: Receiver, deliverer: WebhookDeliverer
) -> None:
    _endpoint(services, staff, receiver.url("/hook"))
    receiver.answer(Answer(302, {"Location": receiver.url("/elsewhere")}))
    _emit(services)

    outcome = _run(deliverer, engine)

    assert [r.path for r in receiver.received] == ["/hook"]
    assert (outcome.status, outcome.status_code) == ("retry", 302)
    assert outcome.error is not None and "redirect" in outcome.error and "/elsewhere" in outcome.error


def test_a_receiver_that_hangs_is_logged_as_an_attempt_without_a_status(
    services: Services, staff: Staff, engine: Engine, receiver: Receiver, deliverer: WebhookDeliverer
) -> None:
    _endpoint(services, staff, receiver.url())
    receiver.answer(Answer(200, delay=5))  # far beyond the deliverer's 0.5 s read timeout
    _emit(services)

    outcome = _run(deliverer, engine)

    assert (outcome.status, outcome.status_code) == ("retry", None)
    (attempt,) = _attempts(engine, outcome.delivery_id)
    assert attempt.status_code is None
    assert attempt.error is not None and "timed out" in attempt.error
    assert 400 <= attempt.duration_ms < 5_000


def test_a_closed_port_is_a_network_error_that_is_retried(
    services: Services, staff: Staff, engine: Engine, deliverer: WebhookDeliverer
) -> None:
    with running_receiver(SECRET) as gone:
        url = gone.url()
    _endpoint(services, staff, url)  # nothing listens there any more
    _emit(services)

    outcome = _run(deliverer, engine)

    assert (outcome.status, outcome.status_code) == ("retry", None)
    assert outcome.error is not None and "Could not connect" in outcome.error


def test_redeliver_sends_the_same_event_id_again_as_a_new_attempt(
    services: Services, staff: Staff, engine: Engine, receiver: Receiver, deliverer: WebhookDeliverer
) -> None:
    _endpoint(services, staff, receiver.url())
    event_id = _emit(services)
    first = _run(deliverer, engine)
    assert first.status == "delivered"

    row = services.webhooks.redeliver(staff.admin, first.delivery_id)
    assert row.status == "pending"
    again = _run(deliverer, engine)

    assert (again.delivery_id, again.status, again.attempt) == (first.delivery_id, "delivered", 2)
    assert [r.headers["Ecomdesk-Event-Id"] for r in receiver.received] == [event_id, event_id]
    assert [r.headers["Ecomdesk-Delivery-Attempt"] for r in receiver.received] == ["1", "2"]
    assert [a.number for a in _attempts(engine, first.delivery_id)] == [1, 2]


def test_a_redelivered_dead_letter_gets_a_fresh_round_of_attempts(
    services: Services, staff: Staff, engine: Engine, receiver: Receiver, deliverer: WebhookDeliverer
) -> None:
    _settings(engine, retry_base_seconds=0.01, max_attempts=2)
    _endpoint(services, staff, receiver.url())
    receiver.answer(*[Answer(500)] * 3)
    _emit(services)
    first = [_run(deliverer, engine) for _ in range(2)]
    assert [o.status for o in first] == ["retry", "dead"]

    delivery_id = first[0].delivery_id
    services.webhooks.redeliver(staff.admin, delivery_id)

    # Two more tries (not zero: the earlier round's attempts do not count against this one).
    assert [_run(deliverer, engine).status for _ in range(2)] == ["retry", "delivered"]
    assert _delivery(engine, delivery_id).attempts == 4


def test_an_address_that_became_private_is_refused_at_delivery_time(
    services: Services, staff: Staff, engine: Engine
) -> None:
    # The shop saved the endpoint when its name pointed at a public address; now the name points
    # into the office network (DNS rebinding, or a changed record): nothing is sent.
    admin_side = WebhookService(services.ctx, resolve=lambda host, port: ["93.184.216.34"])
    draft = EndpointDraft("https://hooks.partner.example/in", ["inventory.low_stock"])
    admin_side.add_endpoint(staff.admin, draft)
    _emit(services)
    contacted: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        contacted.append(host)
        return ["10.1.2.3"]

    with WebhookDeliverer(services.ctx, resolve=resolve) as deliverer:
        outcome = _run(deliverer, engine)

    assert contacted == ["hooks.partner.example"]
    assert outcome.status == "dead" and outcome.status_code is None
    assert outcome.error is not None and "10.1.2.3" in outcome.error and "private network" in outcome.error
    assert _jobs(engine) == 0


def _tls_for(name: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a certificate for `name` only, and a client context trusting it."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "cert.pem").write_bytes(cert_pem)
        (Path(folder) / "key.pem").write_bytes(key_pem)
        server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server.load_cert_chain(Path(folder) / "cert.pem", Path(folder) / "key.pem")
    return server, ssl.create_default_context(cadata=cert_pem.decode())


def test_the_request_goes_to_the_address_checked_with_the_name_kept_for_host_and_tls(
    services: Services, staff: Staff, engine: Engine, receiver: Receiver
) -> None:
    # A name only the deliverer's resolver knows (the machine's DNS has no answer for it): the
    # request can only arrive if it connects to the address the check resolved, and the receiver's
    # certificate (for the name, not the address) only verifies if TLS still uses the name.
    name = "hooks.partner.example"
    server_tls, client_tls = _tls_for(name)
    receiver.server.socket = server_tls.wrap_socket(receiver.server.socket, server_side=True)
    admin_side = WebhookService(services.ctx, resolve=lambda host, port: ["127.0.0.1"])
    draft = EndpointDraft(f"https://{name}:{receiver.port}/in", ["inventory.low_stock"], allow_private=True)
    admin_side.add_endpoint(staff.admin, draft, secret=SECRET)
    event_id = _emit(services)

    asked: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["127.0.0.1"]

    client = httpx.Client(verify=client_tls, follow_redirects=False)
    with WebhookDeliverer(services.ctx, resolve=resolve, client=client) as deliverer:
        outcome = _run(deliverer, engine)
    client.close()

    assert outcome.status == "delivered", outcome.error
    assert asked == [name]
    [request] = receiver.received
    assert request.headers["Host"] == f"{name}:{receiver.port}"
    assert request.json["id"] == event_id and request.signature_ok


def test_a_paused_endpoint_is_not_sent_what_was_queued_before(
    services: Services, staff: Staff, engine: Engine, receiver: Receiver, deliverer: WebhookDeliverer
) -> None:
    endpoint_id = _endpoint(services, staff, receiver.url())
    _emit(services)
    draft = EndpointDraft(receiver.url(), ["inventory.low_stock"], active=False, allow_private=True)
    services.webhooks.update_endpoint(staff.admin, endpoint_id, draft)

    outcome = _run(deliverer, engine)

    assert outcome.status == "dead" and outcome.error is not None and "paused" in outcome.error
    assert receiver.received == []
    assert _attempts(engine, outcome.delivery_id) == []


def test_a_job_whose_delivery_was_removed_with_its_endpoint_just_ends(
    services: Services, staff: Staff, engine: Engine, deliverer: WebhookDeliverer
) -> None:
    endpoint_id = _endpoint(services, staff, "http://127.0.0.1:9/hook")
    _emit(services)
    with engine.begin() as conn:  # the endpoint vanishes, its job stays (as if already claimed once)
        conn.execute(delete(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id))

    assert _run(deliverer, engine).status == "gone"
    assert _jobs(engine) == 0


def test_a_lost_claim_records_nothing(
    services: Services, staff: Staff, engine: Engine, receiver: Receiver, deliverer: WebhookDeliverer
) -> None:
    _endpoint(services, staff, receiver.url())
    _emit(services)
    # The receiver takes its time; meanwhile another runner takes the job over (its claim token
    # changes, as when a lease ran out).
    receiver.answer(Answer(200, delay=0.2))

    def overtake() -> None:
        with engine.begin() as conn:
            conn.execute(update(Job).where(Job.queue == "webhook").values(claim_token="someone-else"))

    import threading

    timer = threading.Timer(0.05, overtake)
    timer.start()
    outcome = _run(deliverer, engine)
    timer.join()

    assert outcome.status == "lost"
    assert _attempts(engine, outcome.delivery_id) == []
    assert _delivery(engine, outcome.delivery_id).status == "pending"


def test_the_signing_secret_never_reaches_the_log_or_the_audit_trail(
    database_url: str, staff: Staff, clock: FakeClock, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")  # every statement, as with echo=True
    engine = make_engine(database_url)  # built after the level is set, so it logs its SQL
    services = Services.from_context(ServiceContext(engine, clock=clock))
    try:
        created = services.webhooks.add_endpoint(
            staff.admin, EndpointDraft(receiver.url(), ["*"], allow_private=True)
        )
        receiver.secret = created.secret
        rotated = services.webhooks.rotate_secret(staff.admin, created.endpoint.id)
        receiver.secret = rotated
        services.webhooks.send_test(staff.admin, created.endpoint.id)
        with WebhookDeliverer(services.ctx) as deliverer:
            assert _run(deliverer, engine).status == "delivered"
        assert receiver.received[0].signature_ok
        with engine.connect() as conn:
            audit = json.dumps(
                [[row.before, row.after] for row in conn.execute(select(AuditEntry.before, AuditEntry.after))]
            )
    finally:
        engine.dispose()
    assert "Webhook delivery" in caplog.text and "INSERT INTO webhook_endpoints" in caplog.text
    for secret in (created.secret, rotated):
        assert secret not in caplog.text
        assert secret not in audit
        assert secret not in repr(created) and secret not in repr(services.webhooks.endpoints(staff.admin))


def test_finished_events_older_than_thirty_days_are_forgotten_with_their_attempts(
    services: Services, staff: Staff, engine: Engine, receiver: Receiver, deliverer: WebhookDeliverer
) -> None:
    _endpoint(services, staff, receiver.url())
    receiver.answer(Answer(200), Answer(404))
    delivered, dead, pending, recent = (_emit(services, n=n) for n in range(4))
    _run(deliverer, engine)
    _run(deliverer, engine)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE webhook_events SET created_at = now() - interval '31 days' WHERE event_id <> :new"),
            {"new": recent},
        )

    deliverer.tick()  # the worker's hourly housekeeping
    deliverer.tick()  # (not again within the hour)

    with engine.connect() as conn:
        kept = set(conn.scalars(text("SELECT event_id FROM webhook_events")))
        attempts = conn.scalar(text("SELECT count(*) FROM webhook_attempts"))
    assert kept == {pending, recent}, "the one still being sent and the recent one stay"
    assert attempts == 0, "the attempts went with their deliveries"
    assert {delivered, dead}.isdisjoint(kept)
