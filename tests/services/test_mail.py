"""E-mail alerts against a real SMTP server (aiosmtpd on 127.0.0.1): the low-stock digest's
recipients and content, STARTTLS with a certificate made here and AUTH with the password from the
environment, one digest a day however many workers tick, retries after a refusal, "your report is
ready", the SMTP settings and opt-ins, and the password never stored or logged."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import logging
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage as MimeMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import Engine, func, insert, select, text, update

from ecomdesk.config import worker_secret
from ecomdesk.db.models import Base, EmailMessage, InventoryItem, Job, UserProfile
from ecomdesk.services.context import Actor, ServiceContext
from ecomdesk.services.errors import PermissionDenied, ValidationError
from ecomdesk.services.mail import MAX_SEND_ATTEMPTS, QUEUE, Mailer, SmtpProblem
from ecomdesk.services.registry import Services
from ecomdesk.services.reports import ReportRequest
from tests.services.conftest import FakeClock, MakeUser, Staff, audit_entries

SENDER = "alerts@shop.example"
SMTP_USER = "shop-alerts"
SMTP_PASSWORD = "smtp passphrase never stored 7f3a"


# -- a real SMTP server ---------------------------------------------------------------------------


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: MimeMessage
    tls: bool
    login: str | None


@dataclass
class Recorder:
    """aiosmtpd handler: keeps every accepted message; answers DATA with the queued `replies`
    first (e.g. a 451), and refuses the recipients in `refuse` with a permanent 550."""

    received: list[Received] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)

    async def handle_RCPT(
        self, server: SMTPServer, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        if self.replies:
            return self.replies.pop(0)
        content = envelope.original_content or b""
        message = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(message, MimeMessage)
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        self.received.append(
            Received(
                str(envelope.mail_from), list(envelope.rcpt_tos), message, session.ssl is not None, login
            )
        )
        return "250 2.0.0 Queued as test-1"

    def to(self, recipient: str) -> list[Received]:
        return [r for r in self.received if recipient in r.rcpt_tos]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    handler: Recorder
    port: int
    controller: Controller

    def stop(self) -> None:
        self.controller.stop()


def _authenticate(
    server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == SMTP_USER.encode()
        and auth_data.password == SMTP_PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


@pytest.fixture
def plain_server() -> Iterator[Server]:
    """Plain SMTP on 127.0.0.1 (security "none" is allowed to a loopback host)."""
    handler = Recorder()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    server = Server(handler, port, controller)
    yield server
    if controller._thread is not None:
        controller.stop()


@dataclass(frozen=True)
class Certificate:
    server: ssl.SSLContext
    client: ssl.SSLContext


@pytest.fixture(scope="module")
def certificate() -> Certificate:
    """A self-signed certificate for 127.0.0.1, and a client context trusting only it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ecomdesk test SMTP")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "cert.pem").write_bytes(cert_pem)
        (Path(folder) / "key.pem").write_bytes(key_pem)
        server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server.load_cert_chain(Path(folder) / "cert.pem", Path(folder) / "key.pem")
    client = ssl.create_default_context(cadata=cert_pem.decode())
    return Certificate(server, client)


@pytest.fixture
def tls_server(certificate: Certificate) -> Iterator[Server]:
    """STARTTLS required before anything else, and AUTH (only over TLS) as SMTP_USER."""
    handler = Recorder()
    port = free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        tls_context=certificate.server,
        require_starttls=True,
        authenticator=_authenticate,
        auth_required=True,
        auth_require_tls=True,
    )
    controller.start()
    yield Server(handler, port, controller)
    controller.stop()


# -- the shop -------------------------------------------------------------------------------------


def configure(services: Services, admin: Actor, port: int, **changes: Any) -> None:
    values = {"host": "127.0.0.1", "port": port, "security": "none", "from_address": SENDER, "digest_hour": 8}
    services.mail.update_smtp_settings(admin, values | changes)


def add_items(engine: Engine) -> None:
    """Against the default threshold of 10 unless an item has its own reorder level:
    K-1 Kite (available 2, level 10: short by 8), B-1 Atlas (available 2 of 5, level 4: short by 2),
    T-1 Top (available 10, default 10: short by 0 — at the level counts as low),
    D-1 Drum (available 40: enough), G-1 Globe (available 0 but archived: never listed)."""
    base: dict[str, Any] = {
        "category": "Toys", "supplier": "Acme", "price": "10.00", "cost": "4.00", "archived_at": None,
    }  # fmt: skip
    rows: list[dict[str, Any]] = [
        base | {"sku": "T-1", "name": "Top", "stock": 10, "reserved": 0, "reorder_level": None},
        base | {"sku": "D-1", "name": "Drum", "stock": 40, "reserved": 0, "reorder_level": None},
        base | {"sku": "K-1", "name": "Kite", "stock": 2, "reserved": 0, "reorder_level": 10},
        base | {"sku": "B-1", "name": "Atlas", "stock": 5, "reserved": 3, "reorder_level": 4,
                "supplier": "Papyrus"},
        base | {"sku": "G-1", "name": "Globe", "stock": 0, "reserved": 0, "reorder_level": None,
                "archived_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)},
    ]  # fmt: skip
    with engine.begin() as conn:
        conn.execute(insert(InventoryItem), rows)


def mailer(engine: Engine, clock: FakeClock, **options: Any) -> Mailer:
    """A worker's mailer on its own context (as another process would have)."""
    options.setdefault("password", None)
    options.setdefault("retry_base", dt.timedelta(0))
    return Mailer(ServiceContext(engine, clock=clock), **options)


def email_jobs(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(p) for p in conn.scalars(select(Job.payload).where(Job.queue == QUEUE).order_by(Job.id))]


def messages(engine: Engine) -> list[tuple[str, str, str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                EmailMessage.kind, EmailMessage.dedupe_key, EmailMessage.recipient, EmailMessage.status
            ).order_by(EmailMessage.recipient)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


def body(message: MimeMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


# -- the digest -----------------------------------------------------------------------------------


def test_the_digest_goes_to_opted_in_active_staff_with_inventory_read_listing_low_items_most_urgent_first(
    services: Services,
    staff: Staff,
    make_user: MakeUser,
    engine: Engine,
    clock: FakeClock,
    plain_server: Server,
) -> None:
    configure(services, staff.admin, plain_server.port)
    add_items(engine)
    for actor in (staff.admin, staff.viewer):
        services.mail.set_preferences(actor, low_stock_digest=True, report_ready=False)
    # Max (manager) never opted in; Gone opted in and was deactivated; Bea's role cannot read the
    # inventory (she opted in while it still could: the digest checks the role when it is sent).
    gone = make_user("manager", email="gone@shop.example")
    services.mail.set_preferences(gone, low_stock_digest=True, report_ready=False)
    services.users.set_active(staff.admin, gone.user_id, False)
    services.roles.create_role(staff.admin, "Bookkeeper", frozenset({"reports.read"}))
    bea = make_user("Bookkeeper", email="bea@shop.example")
    with engine.begin() as conn:
        conn.execute(
            update(UserProfile).where(UserProfile.user_id == bea.user_id).values(email_low_stock_digest=True)
        )

    worker = mailer(engine, clock)
    worker.tick()  # 09:00 UTC is 10:00 in Berlin, past the digest hour of 8
    assert email_jobs(engine) == [{"kind": "low_stock_digest", "day": "2026-11-27"}]
    outcomes = worker.run_pending("test-worker")

    assert [(o.status, o.sent) for o in outcomes] == [("done", 2)]
    assert sorted(r for got in plain_server.handler.received for r in got.rcpt_tos) == [
        "ada@shop.example",
        "vic@shop.example",
    ]
    got = plain_server.handler.to("vic@shop.example")[0]
    assert got.mail_from == SENDER
    assert got.message["From"].addresses[0].addr_spec == SENDER
    assert got.message["Subject"] == "Low stock: 3 items at or below their reorder level — Demo Shop"
    text_ = body(got.message)
    listed = [line.split()[0] for line in text_.splitlines() if line[:2] in ("K-", "B-", "T-", "D-", "G-")]
    assert listed == ["K-1", "B-1", "T-1"]  # shortfalls 8, 2, 0; Drum has enough, Globe is archived
    kite = next(line for line in text_.splitlines() if line.startswith("K-1"))
    assert kite.split() == ["K-1", "Kite", "2", "10", "Acme"]
    html = got.message.get_body(("html",))
    assert html is not None and "Atlas" in html.get_content()
    assert messages(engine) == [
        ("low_stock_digest", "2026-11-27", "ada@shop.example", "sent"),
        ("low_stock_digest", "2026-11-27", "vic@shop.example", "sent"),
    ]
    assert email_jobs(engine) == []


def test_a_long_digest_lists_the_first_fifty_and_counts_the_rest(
    services: Services, staff: Staff, engine: Engine, clock: FakeClock, plain_server: Server
) -> None:
    configure(services, staff.admin, plain_server.port)
    base = {"category": "Toys", "supplier": "Acme", "price": "1.00", "cost": "0.50", "reserved": 0}
    with engine.begin() as conn:  # none in stock, reorder levels 0‥59: all low, short by 0‥59
        conn.execute(
            insert(InventoryItem),
            [
                base | {"sku": f"S-{n:02}", "name": f"Spare {n}", "stock": 0, "reorder_level": n}
                for n in range(60)
            ],
        )
    services.mail.set_preferences(staff.admin, low_stock_digest=True, report_ready=False)
    worker = mailer(engine, clock)
    worker.tick()
    worker.run_pending("w")

    got = plain_server.handler.received[0]
    assert got.message["Subject"].startswith("Low stock: 60 items")
    lines = body(got.message).splitlines()
    listed = [line.split()[0] for line in lines if line.startswith("S-")]
    assert listed == [f"S-{n:02}" for n in range(59, 9, -1)]  # the 50 largest shortfalls, largest first
    assert any(line.startswith("… and 10 more items.") for line in lines)


def test_no_low_items_means_no_digest(
    services: Services, staff: Staff, engine: Engine, clock: FakeClock, plain_server: Server
) -> None:
    configure(services, staff.admin, plain_server.port)
    services.mail.set_preferences(staff.admin, low_stock_digest=True, report_ready=False)
    worker = mailer(engine, clock)
    worker.tick()
    outcomes = worker.run_pending("w")
    assert [(o.status, o.error) for o in outcomes] == [("nothing", "no item is low on stock")]
    assert plain_server.handler.received == []


def test_the_digest_waits_for_its_hour_in_the_shop_time_zone(
    services: Services, staff: Staff, engine: Engine, clock: FakeClock, plain_server: Server
) -> None:
    configure(services, staff.admin, plain_server.port)
    clock.now = dt.datetime(2026, 11, 27, 6, 30, tzinfo=dt.UTC)  # 07:30 in Berlin
    worker = mailer(engine, clock)
    worker.tick()
    assert email_jobs(engine) == []
    clock.advance(minutes=30)  # 08:00 in Berlin
    worker.tick()
    assert email_jobs(engine) == [{"kind": "low_stock_digest", "day": "2026-11-27"}]


def test_two_workers_ticking_the_same_day_queue_one_digest_and_the_next_day_another(
    services: Services, staff: Staff, engine: Engine, clock: FakeClock, plain_server: Server
) -> None:
    configure(services, staff.admin, plain_server.port)
    add_items(engine)
    services.mail.set_preferences(staff.admin, low_stock_digest=True, report_ready=False)
    workers = [mailer(engine, clock) for _ in range(4)]
    start = threading.Barrier(len(workers))

    def tick_twice(worker: Mailer) -> None:
        start.wait()
        worker.tick()
        worker.tick()

    threads = [threading.Thread(target=tick_twice, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(email_jobs(engine)) == 1
    for worker in workers:
        worker.run_pending(f"worker-{id(worker)}")
    assert len(plain_server.handler.to("ada@shop.example")) == 1

    clock.advance(days=1)
    for worker in workers:
        worker.tick()
    assert email_jobs(engine) == [{"kind": "low_stock_digest", "day": "2026-11-28"}]


def test_a_digest_job_run_again_sends_nobody_the_same_digest_twice(
    services: Services, staff: Staff, engine: Engine, clock: FakeClock, plain_server: Server
) -> None:
    """As when a worker died after sending but before its job was gone: the same day's job again."""
    configure(services, staff.admin, plain_server.port)
    add_items(engine)
    services.mail.set_preferences(staff.admin, low_stock_digest=True, report_ready=False)
    worker = mailer(engine, clock)
    worker.tick()
    worker.run_pending("w")
    with engine.begin() as conn:
        conn.execute(
            insert(Job).values(queue=QUEUE, payload={"kind": "low_stock_digest", "day": "2026-11-27"})
        )
    outcomes = worker.run_pending("w")
    assert [(o.status, o.sent, o.skipped) for o in outcomes] == [("done", 0, 1)]
    assert len(plain_server.handler.received) == 1


# -- TLS, login, failures ---------------------------------------------------------------------------


def test_starttls_and_login_with_the_password_from_the_environment(
    services: Services,
    staff: Staff,
    engine: Engine,
    clock: FakeClock,
    tls_server: Server,
    certificate: Certificate,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    configure(services, staff.admin, tls_server.port, security="starttls", user=SMTP_USER)
    add_items(engine)
    services.mail.set_preferences(staff.manager, low_stock_digest=True, report_ready=False)
    monkeypatch.setenv("ECOMDESK_SMTP_PASSWORD", SMTP_PASSWORD)

    worker = mailer(engine, clock, password=worker_secret("smtp-password"), ssl_context=certificate.client)
    worker.tick()
    outcomes = worker.run_pending("w")

    assert [(o.status, o.sent) for o in outcomes] == [("done", 1)]
    [got] = tls_server.handler.received
    assert (got.tls, got.login, got.rcpt_tos) == (True, SMTP_USER, ["max@shop.example"])


def test_a_wrong_password_is_retried_and_finally_recorded_as_failed(
    services: Services,
    staff: Staff,
    engine: Engine,
    clock: FakeClock,
    tls_server: Server,
    certificate: Certificate,
) -> None:
    configure(services, staff.admin, tls_server.port, security="starttls", user=SMTP_USER)
    add_items(engine)
    services.mail.set_preferences(staff.manager, low_stock_digest=True, report_ready=False)
    worker = mailer(engine, clock, password="not the password", ssl_context=certificate.client)
    worker.tick()
    outcomes = worker.run_pending("w")

    assert [o.status for o in outcomes] == ["retry"] * (MAX_SEND_ATTEMPTS - 1) + ["failed"]
    assert "refused the login of shop-alerts" in (outcomes[0].error or "")
    assert messages(engine) == [("low_stock_digest", "2026-11-27", "max@shop.example", "failed")]
    assert tls_server.handler.received == []


def test_a_certificate_the_client_does_not_trust_is_not_sent_to(
    services: Services, staff: Staff, engine: Engine, clock: FakeClock, tls_server: Server
) -> None:
    configure(services, staff.admin, tls_server.port, security="starttls", user=SMTP_USER)
    add_items(engine)
    services.mail.set_preferences(staff.manager, low_stock_digest=True, report_ready=False)
    worker = mailer(engine, clock, password=SMTP_PASSWORD)  # the system's trust store: not our CA
    worker.tick()
    outcome = worker.run_next("w")
    assert outcome is not None and outcome.status == "retry"
    assert "CERTIFICATE_VERIFY_FAILED" in (outcome.error or "")
    assert tls_server.handler.received == []


def test_a_server_saying_451_once_gets_the_message_on_the_retry_exactly_once(
    services: Services, staff: Staff, engine: Engine, clock: FakeClock, plain_server: Server
) -> None:
    configure(services, staff.admin, plain_server.port)
    add_items(engine)
    services.mail.set_preferences(staff.admin, low_stock_digest=True, report_ready=False)
    plain_server.handler.replies.append("451 4.3.0 Mailbox busy, try again later")
    worker = mailer(engine, clock)
    worker.tick()

    first = worker.run_next("w")
    assert first is not None and first.status == "retry" and "451" in (first.error or "")
    assert messages(engine) == []  # nothing recorded: the retry must still send it
    second = worker.run_next("w")
    assert second is not None and (second.status, second.sent) == ("done", 1)
    assert len(plain_server.handler.received) == 1
    assert worker.run_next("w") is None


def test_a_stopped_server_is_retried_with_growing_delays_and_then_delivered(
    services: Services, staff: Staff, engine: Engine, clock: FakeClock, plain_server: Server
) -> None:
    configure(services, staff.admin, plain_server.port)
    add_items(engine)
    services.mail.set_preferences(staff.admin, low_stock_digest=True, report_ready=False)
    plain_server.stop()
    worker = mailer(engine, clock, retry_base=dt.timedelta(minutes=1))
    worker.tick()
    outcome = worker.run_next("w")
    assert outcome is not None and outcome.status == "retry" and "Cannot reach" in (outcome.error or "")
    with engine.connect() as conn:
        wait = conn.scalar(
            select(func.extract("epoch", Job.run_after - func.now())).where(Job.queue == QUEUE)
        )
    assert wait is not None and 50 < wait <= 60
    assert worker.run_next("w") is None  # not due yet

    again = Controller(plain_server.handler, hostname="127.0.0.1", port=plain_server.port)
    again.start()
    try:
        with engine.begin() as conn:
            conn.execute(update(Job).where(Job.queue == QUEUE).values(run_after=func.now()))
        outcome = worker.run_next("w")
        assert outcome is not None and (outcome.status, outcome.sent) == ("done", 1)
        with engine.connect() as conn:
            assert conn.scalar(select(func.count()).select_from(Job).where(Job.queue == QUEUE)) == 0
    finally:
        again.stop()
    assert len(plain_server.handler.received) == 1


def test_a_recipient_refused_for_good_fails_at_once_and_the_others_still_get_theirs(
    services: Services, staff: Staff, engine: Engine, clock: FakeClock, plain_server: Server
) -> None:
    configure(services, staff.admin, plain_server.port)
    add_items(engine)
    for actor in (staff.admin, staff.manager):
        services.mail.set_preferences(actor, low_stock_digest=True, report_ready=False)
    plain_server.handler.refuse.add("ada@shop.example")
    worker = mailer(engine, clock)
    worker.tick()
    outcomes = worker.run_pending("w")
    assert [(o.status, o.sent, o.failed) for o in outcomes] == [("done", 1, 1)]
    assert messages(engine) == [
        ("low_stock_digest", "2026-11-27", "ada@shop.example", "failed"),
        ("low_stock_digest", "2026-11-27", "max@shop.example", "sent"),
    ]


# -- your report is ready ---------------------------------------------------------------------------


def test_a_completed_report_mails_its_opted_in_requester_and_nobody_else(
    services: Services, staff: Staff, engine: Engine, clock: FakeClock, plain_server: Server
) -> None:
    configure(services, staff.admin, plain_server.port)
    add_items(engine)
    services.mail.set_preferences(staff.manager, low_stock_digest=False, report_ready=True)
    wanted = services.reports.request(staff.manager, ReportRequest("low-stock", title="Reorder list"))
    unwanted = services.reports.request(staff.admin, ReportRequest("low-stock", title="Admin's list"))
    assert email_jobs(engine) == []  # queued only when a report completes
    services.reports.run_pending("app-runner")
    assert email_jobs(engine) == [{"kind": "report_ready", "report_id": wanted.id}]

    outcomes = mailer(engine, clock).run_pending("w")

    assert [(o.kind, o.dedupe_key, o.sent) for o in outcomes] == [("report_ready", str(wanted.id), 1)]
    [got] = plain_server.handler.received
    assert got.rcpt_tos == ["max@shop.example"]
    assert got.message["Subject"] == "Your report is ready: Reorder list — Demo Shop"
    text_ = body(got.message)
    assert "3 rows" in text_  # Kite, Atlas and Top are low
    assert f"ecomdesk report save {wanted.id} --out FILE" in text_
    assert not list(got.message.iter_attachments())
    assert unwanted.id != wanted.id


def test_no_report_mail_is_queued_while_email_is_not_set_up(
    services: Services, staff: Staff, engine: Engine
) -> None:
    services.mail.set_preferences(staff.manager, low_stock_digest=False, report_ready=True)
    services.reports.request(staff.manager, ReportRequest("low-stock"))
    services.reports.run_pending("app-runner")
    assert email_jobs(engine) == []


# -- settings, opt-ins, test message ----------------------------------------------------------------


def test_smtp_settings_need_integrations_manage_and_refuse_plain_smtp_to_another_machine(
    services: Services, staff: Staff
) -> None:
    with pytest.raises(PermissionDenied):
        services.mail.update_smtp_settings(staff.viewer, {"host": "127.0.0.1"})
    with pytest.raises(ValidationError) as refused:
        services.mail.update_smtp_settings(
            staff.admin, {"host": "smtp.example.com", "security": "none", "from_address": SENDER}
        )
    assert set(refused.value.fields) == {"security"}
    with pytest.raises(ValidationError) as refused:
        services.mail.update_smtp_settings(
            staff.admin, {"host": "smtp.example.com", "port": 0, "digest_hour": 24}
        )
    assert set(refused.value.fields) == {"port", "digest_hour", "from_address"}

    saved = services.mail.update_smtp_settings(
        staff.admin, {"host": "smtp.example.com", "port": 465, "security": "tls", "from_address": SENDER}
    )
    assert (saved.host, saved.port, saved.security, saved.configured) == (
        "smtp.example.com",
        465,
        "tls",
        True,
    )
    [entry] = audit_entries(services.ctx.engine, "settings.changed")
    assert entry.after == {
        "email.smtp_host": "smtp.example.com",
        "email.smtp_port": 465,
        "email.smtp_security": "tls",
        "email.from_address": SENDER,
    }


def test_each_person_sets_their_own_alerts_and_the_change_is_audited(
    services: Services, staff: Staff, make_user: MakeUser
) -> None:
    assert services.mail.preferences(staff.viewer).low_stock_digest is False
    changed = services.mail.set_preferences(staff.viewer, low_stock_digest=True, report_ready=True)
    assert (changed.low_stock_digest, changed.report_ready) == (True, True)
    assert services.mail.preferences(staff.viewer) == changed
    services.mail.set_preferences(staff.viewer, low_stock_digest=True, report_ready=True)  # no change
    [entry] = audit_entries(services.ctx.engine, "user.email_preferences_changed")
    assert (entry.actor_email, entry.after) == (
        "vic@shop.example",
        {"email_low_stock_digest": True, "email_report_ready": True},
    )
    services.roles.create_role(staff.admin, "Packer", frozenset({"reports.read"}))
    packer = make_user("Packer")
    with pytest.raises(ValidationError) as refused:
        services.mail.set_preferences(packer, low_stock_digest=True, report_ready=True)
    assert set(refused.value.fields) == {"low_stock_digest"}


def test_smtp_status_says_whether_this_machine_has_the_password(
    services: Services, staff: Staff, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ECOMDESK_SMTP_PASSWORD", raising=False)
    assert services.mail.smtp_status(staff.viewer).configured is False
    services.mail.update_smtp_settings(
        staff.admin, {"host": "smtp.example.com", "user": SMTP_USER, "from_address": SENDER}
    )
    status = services.mail.smtp_status(staff.viewer)
    assert (status.configured, status.needs_password, status.password_available, status.ready) == (
        True,
        True,
        False,
        False,
    )
    monkeypatch.setenv("ECOMDESK_SMTP_PASSWORD", SMTP_PASSWORD)
    assert services.mail.smtp_status(staff.viewer).ready is True


def test_a_test_message_reports_what_the_server_said(
    services: Services, staff: Staff, plain_server: Server
) -> None:
    configure(services, staff.admin, plain_server.port)
    delivery = services.mail.send_test(staff.admin, "max@shop.example")
    assert delivery.reply == "250 2.0.0 Queued as test-1"
    assert plain_server.handler.received[0].rcpt_tos == ["max@shop.example"]
    plain_server.stop()
    with pytest.raises(SmtpProblem, match="Cannot reach the mail server"):
        services.mail.send_test(staff.admin, "max@shop.example")


def test_the_smtp_password_never_reaches_the_database_the_audit_trail_or_the_log(
    services: Services,
    staff: Staff,
    engine: Engine,
    clock: FakeClock,
    tls_server: Server,
    certificate: Certificate,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("ECOMDESK_SMTP_PASSWORD", SMTP_PASSWORD)
    configure(services, staff.admin, tls_server.port, security="starttls", user=SMTP_USER)
    add_items(engine)
    services.mail.set_preferences(staff.admin, low_stock_digest=True, report_ready=False)
    services.mail.send_test(staff.admin, "ada@shop.example", ssl_context=certificate.client)
    good = mailer(engine, clock, password=worker_secret("smtp-password"), ssl_context=certificate.client)
    good.tick()
    good.run_pending("w")
    # A failing login too: its error text goes to the job and the log.
    with engine.begin() as conn:
        conn.execute(
            insert(Job).values(queue=QUEUE, payload={"kind": "low_stock_digest", "day": "2026-11-28"})
        )
    mailer(engine, clock, password=SMTP_PASSWORD + "x", ssl_context=certificate.client).run_next("w")
    assert len(tls_server.handler.received) == 2

    with engine.connect() as conn:
        everything = "\n".join(
            str(row) for table in Base.metadata.sorted_tables for row in conn.execute(select(table))
        )
        everything += "\n".join(str(r) for r in conn.execute(text("SELECT * FROM settings")))
    assert "email.smtp_user" in everything  # the dump did read the settings …
    assert "smtp passphrase" not in everything  # … and holds no trace of the password
    assert "smtp passphrase" not in caplog.text
    assert "smtp passphrase" not in repr(good)
