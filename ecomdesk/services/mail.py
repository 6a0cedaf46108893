"""E-mail alerts over SMTP: the daily low-stock digest and "your report is ready".

- **Settings** (`email.*` rows of `settings`) are changed with `integrations.manage` — the
  catalogue's "Manage webhooks and e-mail alerts" — not `settings.manage`, so a shop can let
  someone look after its integrations without handing them its sign-in policy. The SMTP password is
  never in the database: each worker gets it from `config.worker_secret("smtp-password")` (the
  `ECOMDESK_SMTP_PASSWORD` variable, else its keyring) and hands it to `Mailer`.
- **Opt-ins**: every person switches their own two alerts (`user_profiles.email_*`) on or off.
- **Jobs** wait in `jobs` (queue "email"); `Mailer` is a worker's job handler for them. Its
  `tick` claims the day's digest once for all workers (`schedule_marks`, one conditional upsert)
  and queues it; `queue_report_ready` queues the other kind inside a report's completing
  transaction.
- **Exactly one mail per person and subject** as far as SMTP allows: before a message is sent its
  `email_messages` row is inserted (unique kind, dedupe key, recipient) in a transaction that stays
  open while the server takes the message and commits right after, together with the job's
  dequeue for the last one. A retried job skips everyone already recorded; a second runner on the
  same job waits on the unique index and then skips. Only a crash between the server's "250" and
  the commit can repeat a message — SMTP has no way to ask "did you get it?".
- **Failures**: no connection, a 4xx or a refused login → the job is released with a growing delay,
  up to `MAX_SEND_ATTEMPTS` tries, then every remaining recipient is recorded `failed` with the
  reason; a 5xx for one recipient (or one message) fails that one at once and the rest go on.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import ipaddress
import logging
import smtplib
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from email.message import EmailMessage as MimeMessage
from email.utils import formataddr, formatdate, make_msgid
from typing import Any, Final

from sqlalchemy import Connection, and_, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from ecomdesk.db.catalog import DEFAULT_SETTINGS
from ecomdesk.db.models import (
    EmailMessage,
    InventoryItem,
    Job,
    Report,
    Role,
    ScheduleMark,
    SystemSetting,
    User,
    UserProfile,
    role_permissions,
)
from ecomdesk.services.access import require_actor
from ecomdesk.services.analytics import shop_settings
from ecomdesk.services.context import Actor, ServiceContext, database_errors
from ecomdesk.services.errors import ReadOnlyError, ValidationError
from ecomdesk.services.inventory import available_units, low_stock_threshold
from ecomdesk.services.jobs import ClaimedJob, JobQueue, dequeue, drain, enqueue
from ecomdesk.services.mail_messages import (
    DIGEST_MAX_ITEMS,
    LowItem,
    MailContent,
    digest_content,
    probe_content,
    report_ready_content,
)
from ecomdesk.services.report_kinds import REPORT_KINDS
from ecomdesk.services.settings import save_settings
from ecomdesk.services.users import EMAIL_RE

log = logging.getLogger(__name__)

#: The jobs queue of e-mails.
QUEUE: Final = "email"
REPORT_READY: Final = "report_ready"
LOW_STOCK_DIGEST: Final = "low_stock_digest"
#: `email.smtp_security`: STARTTLS on a plain connection (port 587), TLS from the first byte
#: (port 465), or no encryption at all (only to a relay on this machine).
SECURITY_MODES: Final = ("starttls", "tls", "none")
#: Tries of one job against a server that fails (connection, 4xx) before its mails are given up.
MAX_SEND_ATTEMPTS: Final = 5
#: The first retry's delay; each further one doubles it (30 s, 1, 2, 4 min).
RETRY_BASE: Final = dt.timedelta(seconds=30)
#: How long one SMTP exchange may wait for the server.
TIMEOUT_S: Final = 20.0
#: The permission each alert needs: a digest nobody may read in the app is not sent by mail either.
ALERT_PERMISSIONS: Final = {LOW_STOCK_DIGEST: "inventory.read", REPORT_READY: "reports.read"}

#: Field of `SmtpSettings` → its key in `settings`.
SMTP_KEYS: Final[dict[str, str]] = {
    "host": "email.smtp_host",
    "port": "email.smtp_port",
    "security": "email.smtp_security",
    "user": "email.smtp_user",
    "from_address": "email.from_address",
    "digest_hour": "email.digest_hour",
}
_INT_FIELDS: Final = {"port": (1, 65_535), "digest_hour": (0, 23)}
_HOST_MAX: Final = 253
_USER_MAX: Final = 254
_ERROR_MAX: Final = 1_000


# -- settings -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpSettings:
    """The shop's mail server as the database holds it (never a password)."""

    host: str
    port: int
    security: str
    user: str
    from_address: str
    digest_hour: int
    #: The latest change of an `email.*` setting (pass it back to `update_smtp_settings`).
    updated_at: dt.datetime | None = None

    @property
    def configured(self) -> bool:
        """A server and a sender: what sending needs at the least. Otherwise e-mail is off."""
        return bool(self.host and self.from_address)

    def values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in SMTP_KEYS}


@dataclass(frozen=True)
class SmtpStatus:
    """What the settings page says about e-mail on this machine."""

    configured: bool
    #: The server wants a login (a user is set), so a password is needed.
    needs_password: bool
    #: A password was found on this machine (environment variable or keyring).
    password_available: bool
    host: str
    security: str

    @property
    def ready(self) -> bool:
        return self.configured and (self.password_available or not self.needs_password)


@dataclass(frozen=True)
class EmailPreferences:
    """One person's alert e-mails."""

    email: str
    low_stock_digest: bool
    report_ready: bool
    #: Whether their role lets them have each alert at all (the page greys out the others).
    may_have_digest: bool = True
    may_have_report_ready: bool = True


@dataclass(frozen=True)
class TestDelivery:
    """What the server said to `ecomdesk mail test`."""

    recipient: str
    host: str
    port: int
    security: str
    logged_in_as: str | None
    #: The server's greeting after EHLO (first line) and its answer to the message's data.
    greeting: str
    reply: str


def is_loopback(host: str) -> bool:
    """A host on this machine: the only place plain, unencrypted SMTP may go."""
    name = host.strip().strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def validate_smtp_settings(values: Mapping[str, Any]) -> dict[str, str]:
    """Per-field messages for a complete set of values; empty when they can be saved. An empty host
    is valid: it switches e-mail off."""
    problems: dict[str, str] = {}
    host = values["host"]
    if not isinstance(host, str) or any(ch.isspace() for ch in host) or len(host) > _HOST_MAX:
        problems["host"] = "Enter the mail server's name, e.g. smtp.example.com (no spaces)."
    for name, (low, high) in _INT_FIELDS.items():
        value = values[name]
        if not isinstance(value, int) or isinstance(value, bool):
            problems[name] = "Enter a whole number."
        elif not low <= value <= high:
            problems[name] = f"Enter a number from {low} to {high}."
    security = values["security"]
    if security not in SECURITY_MODES:
        problems["security"] = "Choose STARTTLS, TLS or none."
    elif security == "none" and isinstance(host, str) and host and not is_loopback(host):
        problems["security"] = (
            "Unencrypted SMTP would send the password and every alert readable on the network: "
            "it is allowed only to a mail relay on this machine (localhost). Use STARTTLS or TLS."
        )
    user = values["user"]
    if not isinstance(user, str) or len(user) > _USER_MAX or any(ch in user for ch in "\r\n"):
        problems["user"] = f"At most {_USER_MAX} characters on one line."
    sender = values["from_address"]
    if not isinstance(sender, str) or (sender and not EMAIL_RE.match(sender)) or len(sender) > 254:
        problems["from_address"] = "Enter an e-mail address like alerts@example.com."
    elif host and not sender:
        problems["from_address"] = "Enter the address alerts are sent from."
    return problems


def read_smtp_settings(session: Session | Connection) -> SmtpSettings:
    """The `email.*` settings in one query; a value of the wrong type reads as its default."""
    rows = session.execute(
        select(SystemSetting.key, SystemSetting.value, SystemSetting.updated_at).where(
            SystemSetting.key.in_(SMTP_KEYS.values())
        )
    ).all()
    stored = {row.key: row.value for row in rows}
    latest = max((row.updated_at for row in rows), default=None)
    values: dict[str, Any] = {}
    for name, key in SMTP_KEYS.items():
        default = DEFAULT_SETTINGS[key]
        raw = stored.get(key, default)
        if name in _INT_FIELDS:
            try:
                values[name] = int(raw)
            except (TypeError, ValueError):
                values[name] = int(default)
        else:
            values[name] = raw.strip() if isinstance(raw, str) else str(default)
    if values["security"] not in SECURITY_MODES:
        values["security"] = str(DEFAULT_SETTINGS[SMTP_KEYS["security"]])
    return SmtpSettings(**values, updated_at=latest)


def _shop_name(session: Session | Connection) -> str:
    value = session.scalar(select(SystemSetting.value).where(SystemSetting.key == "shop.name"))
    return value if isinstance(value, str) and value.strip() else str(DEFAULT_SETTINGS["shop.name"])


def _has_permission(role_id: Any, permission: str) -> Any:
    return exists().where(
        role_permissions.c.role_id == role_id, role_permissions.c.permission_code == permission
    )


def queue_report_ready(session: Session | Connection, report_id: int, requester_id: int | None) -> bool:
    """Queue "your report is ready" inside the transaction that completes the report, when its
    requester asked for it and e-mail is set up (one query when not). True when queued."""
    if requester_id is None:
        return False
    opted_in = session.scalar(
        select(UserProfile.email_report_ready).where(UserProfile.user_id == requester_id)
    )
    if not opted_in or not read_smtp_settings(session).configured:
        return False
    enqueue(session, QUEUE, {"kind": REPORT_READY, "report_id": report_id})
    return True


# -- sending --------------------------------------------------------------------------------------


class SmtpProblem(Exception):
    """Sending did not work. `permanent`: this message to this recipient will never go (a 5xx
    answer to it); otherwise another try later may work (no connection, a 4xx, a refused login)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent


def _reply(code: int, message: bytes | str) -> str:
    text_ = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    return f"{code} {' '.join(text_.split())}".strip()


def _open(
    settings: SmtpSettings, password: str | None, ssl_context: ssl.SSLContext | None, timeout: float
) -> smtplib.SMTP:
    """A connection to the shop's server, encrypted as configured and logged in when a user is
    set. Every failure is an `SmtpProblem` worth another try later."""
    if not settings.configured:
        raise SmtpProblem("E-mail is not set up: enter the mail server and sender address in the settings.")
    if settings.security == "none" and not is_loopback(settings.host):
        raise SmtpProblem("Unencrypted SMTP is allowed only to a server on this machine.")
    if settings.user and not password:
        raise SmtpProblem(
            "The mail server wants a login but this machine has no SMTP password: set "
            "ECOMDESK_SMTP_PASSWORD or run `ecomdesk worker secret set smtp-password`."
        )
    context = ssl_context or ssl.create_default_context()
    smtp: smtplib.SMTP | None = None
    try:
        if settings.security == "tls":
            smtp = smtplib.SMTP_SSL(settings.host, settings.port, timeout=timeout, context=context)
        else:
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=timeout)
        smtp.ehlo()
        if settings.security == "starttls":
            smtp.starttls(context=context)
            smtp.ehlo()
        if settings.user:
            assert password is not None
            smtp.login(settings.user, password)
        return smtp
    except smtplib.SMTPAuthenticationError as exc:
        _close(smtp)
        raise SmtpProblem(
            f"The mail server refused the login of {settings.user}: {_reply(exc.smtp_code, exc.smtp_error)}"
        ) from exc
    except smtplib.SMTPNotSupportedError as exc:
        _close(smtp)
        raise SmtpProblem(f"The mail server does not offer what the settings ask for: {exc}") from exc
    except smtplib.SMTPResponseException as exc:
        _close(smtp)
        raise SmtpProblem(f"The mail server answered {_reply(exc.smtp_code, exc.smtp_error)}") from exc
    except (smtplib.SMTPException, OSError) as exc:  # refused, unreachable, timed out, TLS failed
        _close(smtp)
        raise SmtpProblem(
            f"Cannot reach the mail server {settings.host}:{settings.port} ({settings.security}): "
            f"{exc or type(exc).__name__}"
        ) from exc


def _close(smtp: smtplib.SMTP | None) -> None:
    if smtp is None:
        return
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def _deliver(smtp: smtplib.SMTP, sender: str, message: MimeMessage, recipient: str) -> str:
    """One message to one recipient; returns the server's answer to it. A 5xx about the recipient
    or the message is permanent; anything else is worth another try."""
    try:
        code, answer = smtp.mail(sender)
        if code != 250:
            smtp.rset()
            raise SmtpProblem(f"The server refused the sender {sender}: {_reply(code, answer)}")
        code, answer = smtp.rcpt(recipient)
        if code not in (250, 251):
            smtp.rset()
            raise SmtpProblem(
                f"The server refused {recipient}: {_reply(code, answer)}", permanent=code >= 500
            )
        code, answer = smtp.data(message.as_bytes(policy=email.policy.SMTP))
        if code != 250:
            smtp.rset()
            raise SmtpProblem(
                f"The server refused the message: {_reply(code, answer)}", permanent=code >= 500
            )
        return _reply(code, answer)
    except (smtplib.SMTPException, OSError) as exc:
        raise SmtpProblem(f"The connection to the mail server broke: {exc or type(exc).__name__}") from exc


def _mime(settings: SmtpSettings, shop_name: str, recipient: str, content: MailContent) -> MimeMessage:
    message = MimeMessage()
    message["From"] = formataddr((shop_name, settings.from_address))
    message["To"] = recipient
    message["Subject"] = content.subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=settings.from_address.rpartition("@")[2] or None)
    # Out-of-office replies and mailing-list software leave automatic mails alone (RFC 3834).
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(content.text)
    if content.html is not None:
        message.add_alternative(content.html, subtype="html")
    return message


# -- the service the app calls ----------------------------------------------------------------------


def _default_password() -> str | None:
    from ecomdesk.config import worker_secret

    return worker_secret("smtp-password")


class MailService:
    """SMTP settings (admins), each person's alert opt-ins, and a test message."""

    def __init__(
        self, ctx: ServiceContext, *, password: Callable[[], str | None] = _default_password
    ) -> None:
        self.ctx = ctx
        #: Where this machine's SMTP password comes from (asked only for the status and a test).
        self.password = password

    def smtp_settings(self, actor: Actor) -> SmtpSettings:
        with self.ctx.read(actor, "integrations.manage") as uow:
            return read_smtp_settings(uow.session)

    def update_smtp_settings(
        self, actor: Actor, changes: Mapping[str, Any], expected_updated_at: dt.datetime | None = None
    ) -> SmtpSettings:
        """Change some `SmtpSettings` fields; validated as a whole, audited (changed keys only).
        `expected_updated_at`: what the form was loaded with — a save in between is a `Conflict`."""
        with self.ctx.write(actor, "integrations.manage") as uow:
            current, changed = save_settings(
                uow,
                SMTP_KEYS,
                read_smtp_settings,
                validate_smtp_settings,
                changes,
                expected_updated_at,
                what="e-mail settings",
                unknown_message="Not an e-mail setting.",
            )
            if not changed:
                return current
            uow.audit(
                "settings.changed",
                "settings",
                None,
                before={SMTP_KEYS[k]: getattr(current, k) for k in changed},
                after={SMTP_KEYS[k]: v for k, v in changed.items()},
            )
            return read_smtp_settings(uow.session)

    def smtp_status(self, actor: Actor) -> SmtpStatus:
        """Any signed-in person may ask: their settings page says whether alerts can go out."""
        with self.ctx.read(actor, None) as uow:
            require_actor(uow)
            settings = read_smtp_settings(uow.session)
        return SmtpStatus(
            configured=settings.configured,
            needs_password=bool(settings.user),
            password_available=bool(self.password()),
            host=settings.host,
            security=settings.security,
        )

    def preferences(self, actor: Actor) -> EmailPreferences:
        with self.ctx.read(actor, None) as uow:
            me = require_actor(uow)
            return self._preferences(uow.session, me)

    def set_preferences(
        self, actor: Actor, *, low_stock_digest: bool, report_ready: bool
    ) -> EmailPreferences:
        """Each person switches their own alerts, with no special permission; an alert their role
        cannot read in the app is refused. Audited when something changed."""
        with self.ctx.write(actor, None) as uow:
            me = require_actor(uow)
            problems = {}
            if low_stock_digest and not me.can(ALERT_PERMISSIONS[LOW_STOCK_DIGEST]):
                problems["low_stock_digest"] = (
                    "Your role cannot see the inventory, so it gets no low-stock digest."
                )
            if report_ready and not me.can(ALERT_PERMISSIONS[REPORT_READY]):
                problems["report_ready"] = "Your role cannot open reports, so it gets no report e-mails."
            if problems:
                raise ValidationError(problems)
            profile = uow.session.get(UserProfile, me.user_id, with_for_update={"key_share": True})
            assert profile is not None
            before = {
                "email_low_stock_digest": profile.email_low_stock_digest,
                "email_report_ready": profile.email_report_ready,
            }
            after = {"email_low_stock_digest": low_stock_digest, "email_report_ready": report_ready}
            if before != after:
                profile.email_low_stock_digest = low_stock_digest
                profile.email_report_ready = report_ready
                uow.session.flush()
                uow.audit("user.email_preferences_changed", "user", me.user_id, before=before, after=after)
            return self._preferences(uow.session, me)

    @staticmethod
    def _preferences(session: Session, me: Actor) -> EmailPreferences:
        profile = session.get(UserProfile, me.user_id)
        assert profile is not None
        return EmailPreferences(
            me.email,
            profile.email_low_stock_digest,
            profile.email_report_ready,
            may_have_digest=me.can(ALERT_PERMISSIONS[LOW_STOCK_DIGEST]),
            may_have_report_ready=me.can(ALERT_PERMISSIONS[REPORT_READY]),
        )

    def send_test(
        self,
        actor: Actor,
        recipient: str,
        *,
        password: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = TIMEOUT_S,
    ) -> TestDelivery:
        """Send one test message with the saved settings (`ecomdesk mail test`); `SmtpProblem`
        says what went wrong. `password`: None asks this machine's source. Audited."""
        if self.ctx.read_only:
            raise ReadOnlyError("This is a read-only copy: it sends no e-mail.")
        recipient = recipient.strip()
        if not EMAIL_RE.match(recipient):
            raise ValidationError({"to": "Enter an e-mail address like name@example.com."})
        with self.ctx.read(actor, "integrations.manage") as uow:
            settings = read_smtp_settings(uow.session)
            shop = _shop_name(uow.session)
        secret = password if password is not None else self.password()
        smtp = _open(settings, secret, ssl_context, timeout)
        try:
            greeting = _reply(250, (smtp.ehlo_resp or b"").splitlines()[0] if smtp.ehlo_resp else b"")
            content = probe_content(shop, settings.host, settings.security)
            reply = _deliver(
                smtp, settings.from_address, _mime(settings, shop, recipient, content), recipient
            )
        finally:
            _close(smtp)
        with self.ctx.write(actor, None) as uow:
            uow.audit(
                "email.test_sent",
                "email",
                None,
                after={"recipient": recipient, "host": settings.host, "reply": reply},
            )
        return TestDelivery(
            recipient, settings.host, settings.port, settings.security, settings.user or None, greeting, reply
        )


# -- the job handler ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MailOutcome:
    """What a runner did with one e-mail job."""

    kind: str
    dedupe_key: str
    #: "done" (every recipient sent, skipped or failed for good), "retry" (released for later),
    #: "failed" (given up after `MAX_SEND_ATTEMPTS`), "nothing" (no one to write to, or nothing
    #: to say), "released" (this runner stops), "lost" (another runner took the job over).
    status: str
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    error: str | None = None


@dataclass(frozen=True)
class _Letter:
    recipient: str
    content: MailContent


@dataclass(frozen=True)
class _Plan:
    kind: str
    key: str
    letters: tuple[_Letter, ...]
    why_none: str = ""


_MARKS: Final = ScheduleMark.__table__
#: How long `tick` stays quiet after finding it too early or e-mail not set up (it is called
#: every few seconds; the hour and the settings change rarely).
_TICK_QUIET: Final = dt.timedelta(minutes=1)
_JOBS: Final = Job.__table__.c


class Mailer:
    """The job handler of queue "email" (a worker's, or the desktop app's runner's). `password`
    comes from this machine (`config.worker_secret("smtp-password")`), never from the database."""

    queue: Final = QUEUE

    def __init__(
        self,
        ctx: ServiceContext,
        *,
        password: str | None,
        ssl_context: ssl.SSLContext | None = None,
        retry_base: dt.timedelta = RETRY_BASE,
        timeout: float = TIMEOUT_S,
    ) -> None:
        self.ctx = ctx
        self._password = password
        self.ssl_context = ssl_context
        self.retry_base = retry_base
        self.timeout = timeout
        self.jobs = JobQueue(ctx.engine, read_only=ctx.read_only)
        #: The shop day whose digest is known to be claimed (by anyone): no query until the next.
        self._digest_done: tuple[dt.date, Any] | None = None
        #: Too early or e-mail not set up: `tick` asks the database again only after this moment.
        self._quiet_until: dt.datetime | None = None

    def __repr__(self) -> str:  # never the password, even in a traceback's locals
        return f"Mailer(queue={self.queue!r})"

    # -- the daily digest ---------------------------------------------------------------------

    def tick(self) -> None:
        """Queue today's low-stock digest once it is `email.digest_hour` in the shop's time zone —
        for all workers together exactly once a day (one conditional upsert of the day's mark)."""
        if self.ctx.read_only:
            return
        now = self.ctx.clock()
        if self._digest_done is not None:
            day, zone = self._digest_done
            if now.astimezone(zone).date() == day:
                return
        if self._quiet_until is not None and now < self._quiet_until:
            return
        with self.ctx.write(None, None) as uow:
            settings = read_smtp_settings(uow.session)
            zone = shop_settings(uow.session).zone
            local = uow.now.astimezone(zone)
            if not settings.configured or local.hour < settings.digest_hour:
                self._quiet_until = now + _TICK_QUIET
                return
            day = local.date()
            claim = (
                pg_insert(ScheduleMark)
                .values(name=LOW_STOCK_DIGEST, last_run_on=day, updated_at=func.now())
                .on_conflict_do_update(
                    index_elements=[_MARKS.c.name],
                    set_={"last_run_on": day, "updated_at": func.now()},
                    where=_MARKS.c.last_run_on < day,
                )
                .returning(_MARKS.c.name)
            )
            won = uow.session.execute(claim).scalar_one_or_none() is not None
            if won:
                enqueue(uow.session, QUEUE, {"kind": LOW_STOCK_DIGEST, "day": day.isoformat()})
                uow.audit("email.digest_queued", "email", day.isoformat(), actor_email="worker")
                log.info("Queued the low-stock digest of %s", day)
        self._digest_done = (day, zone)

    # -- the jobs -----------------------------------------------------------------------------

    def run_next(self, worker: str, *, cancelled: Callable[[], bool] | None = None) -> MailOutcome | None:
        """Claim one due e-mail job and send its messages; None when none is due."""
        if self.ctx.read_only:
            raise ReadOnlyError("This is a read-only copy: it sends no e-mail.")
        with database_errors():
            job = self.jobs.claim(QUEUE, worker)
            if job is None:
                return None
            with Session(self.ctx.engine) as session:
                plan = self._plan(session, job)
                settings = read_smtp_settings(session)
                shop = _shop_name(session)
                session.rollback()
            if job.exhausted:
                log.error("E-mail job %s stopped its runners %s times; given up", job.id, job.attempts - 1)
                return self._give_up(job, plan, "The runner sending it stopped or crashed repeatedly.")
            if not plan.letters:
                log.info(
                    "E-mail job %s (%s %s): nothing to send: %s", job.id, plan.kind, plan.key, plan.why_none
                )
                with self.ctx.engine.begin() as conn:
                    dequeue(conn, job.id, job.token)
                return MailOutcome(plan.kind, plan.key, "nothing", error=plan.why_none)
            return self._send(job, plan, settings, shop, cancelled)

    def run_pending(self, worker: str, *, limit: int | None = None) -> list[MailOutcome]:
        """`run_next` until nothing is due (or `limit` jobs): `--once`, and tests."""
        return drain(lambda: self.run_next(worker), limit)

    def _send(
        self,
        job: ClaimedJob,
        plan: _Plan,
        settings: SmtpSettings,
        shop: str,
        cancelled: Callable[[], bool] | None,
    ) -> MailOutcome:
        sent = failed = skipped = 0
        try:
            smtp = _open(settings, self._password, self.ssl_context, self.timeout)
        except SmtpProblem as problem:
            return self._retry(job, plan, problem.message)
        try:
            for number, letter in enumerate(plan.letters, start=1):
                if cancelled is not None and cancelled():
                    self.jobs.release(job)
                    return MailOutcome(plan.kind, plan.key, "released", sent, failed, skipped)
                last = number == len(plan.letters)
                with self.ctx.engine.begin() as conn:
                    # Inserted before sending and committed right after: a concurrent sender of the
                    # same message waits here and then finds it taken.
                    mine = conn.execute(
                        pg_insert(EmailMessage)
                        .values(
                            kind=plan.kind,
                            dedupe_key=plan.key,
                            recipient=letter.recipient,
                            subject=letter.content.subject[:300],
                            status="sent",
                        )
                        .on_conflict_do_nothing()
                        .returning(EmailMessage.id)
                    ).scalar_one_or_none()
                    if mine is None:
                        skipped += 1
                    else:
                        try:
                            message = _mime(settings, shop, letter.recipient, letter.content)
                            reply = _deliver(smtp, settings.from_address, message, letter.recipient)
                        except SmtpProblem as problem:
                            if not problem.permanent:
                                conn.rollback()
                                return self._retry(
                                    job, plan, problem.message, sent=sent, failed=failed, skipped=skipped
                                )
                            log.warning("E-mail to %s failed for good: %s", letter.recipient, problem.message)
                            conn.execute(
                                update(EmailMessage)
                                .where(EmailMessage.id == mine)
                                .values(status="failed", error=problem.message[:_ERROR_MAX])
                            )
                            failed += 1
                        else:
                            log.info("Sent %s (%s) to %s: %s", plan.kind, plan.key, letter.recipient, reply)
                            sent += 1
                    if last:
                        if not dequeue(conn, job.id, job.token):
                            log.warning("E-mail job %s was taken over by another runner", job.id)
                            return MailOutcome(plan.kind, plan.key, "lost", sent, failed, skipped)
                    elif not self.jobs.extend(job, conn):
                        return MailOutcome(plan.kind, plan.key, "lost", sent, failed, skipped)
        finally:
            _close(smtp)
        return MailOutcome(plan.kind, plan.key, "done", sent, failed, skipped)

    def _retry(
        self, job: ClaimedJob, plan: _Plan, error: str, *, sent: int = 0, failed: int = 0, skipped: int = 0
    ) -> MailOutcome:
        """Hand the job back for a later try, or give up after `MAX_SEND_ATTEMPTS`."""
        tries = int(job.payload.get("tries") or 0) + 1
        if tries >= MAX_SEND_ATTEMPTS:
            log.error(
                "E-mail job %s (%s %s) given up after %s tries: %s", job.id, plan.kind, plan.key, tries, error
            )
            outcome = self._give_up(job, plan, f"Gave up after {tries} tries: {error}")
            return replace(outcome, sent=sent + outcome.sent, skipped=skipped, failed=failed + outcome.failed)
        delay = self.retry_base * (2 ** (tries - 1))
        log.warning(
            "E-mail job %s (%s %s): try %s failed, again in %s: %s",
            job.id,
            plan.kind,
            plan.key,
            tries,
            delay,
            error,
        )
        with self.ctx.engine.begin() as conn:
            if self.jobs.release(job, conn, error=error[:_ERROR_MAX], after=delay):
                conn.execute(
                    update(Job)
                    .where(_JOBS.id == job.id)
                    .values(payload=_JOBS.payload.op("||")(func.jsonb_build_object("tries", tries)))
                )
        return MailOutcome(plan.kind, plan.key, "retry", sent, failed, skipped, error)

    def _give_up(self, job: ClaimedJob, plan: _Plan, error: str) -> MailOutcome:
        """Record every recipient not yet recorded as failed, with the reason, and drop the job."""
        with self.ctx.engine.begin() as conn:
            if not dequeue(conn, job.id, job.token):
                return MailOutcome(plan.kind, plan.key, "lost", error=error)
            failed = 0
            for letter in plan.letters:
                stored = conn.execute(
                    pg_insert(EmailMessage)
                    .values(
                        kind=plan.kind,
                        dedupe_key=plan.key,
                        recipient=letter.recipient,
                        subject=letter.content.subject[:300],
                        status="failed",
                        error=error[:_ERROR_MAX],
                    )
                    .on_conflict_do_nothing()
                    .returning(EmailMessage.id)
                ).scalar_one_or_none()
                failed += stored is not None
        return MailOutcome(plan.kind, plan.key, "failed", failed=failed, error=error)

    # -- what a job says ----------------------------------------------------------------------

    def _plan(self, conn: Session, job: ClaimedJob) -> _Plan:
        kind = str(job.payload.get("kind") or "")
        if kind == LOW_STOCK_DIGEST:
            return self._digest(conn, str(job.payload.get("day") or ""))
        if kind == REPORT_READY:
            return self._report_ready(conn, int(job.payload.get("report_id") or 0))
        log.error("E-mail job %s has an unknown kind %r; dropped", job.id, kind)
        return _Plan(kind or "?", str(job.id), (), f"unknown kind {kind!r}")

    def _digest(self, conn: Session, day_text: str) -> _Plan:
        try:
            day = dt.date.fromisoformat(day_text)
        except ValueError:
            return _Plan(LOW_STOCK_DIGEST, day_text, (), f"not a day: {day_text!r}")
        recipients = _recipients(conn, "email_low_stock_digest", ALERT_PERMISSIONS[LOW_STOCK_DIGEST])
        if not recipients:
            return _Plan(LOW_STOCK_DIGEST, day_text, (), "nobody asked for the digest")
        items, total = low_items(conn)
        if total == 0:
            return _Plan(LOW_STOCK_DIGEST, day_text, (), "no item is low on stock")
        content = digest_content(_shop_name(conn), day, items, total)
        return _Plan(LOW_STOCK_DIGEST, day_text, tuple(_Letter(r, content) for r in recipients))

    def _report_ready(self, conn: Session, report_id: int) -> _Plan:
        key = str(report_id)
        c = Report.__table__.c
        report = conn.execute(select(Report.__table__).where(c.id == report_id)).one_or_none()
        if report is None or report.status != "completed":
            return _Plan(REPORT_READY, key, (), "the report is gone or not completed")
        recipients = _recipients(
            conn, "email_report_ready", ALERT_PERMISSIONS[REPORT_READY], user_id=report.generated_by
        )
        if not recipients:
            return _Plan(
                REPORT_READY, key, (), "its requester no longer wants the e-mail (or may not read reports)"
            )
        kind = REPORT_KINDS.get(report.kind)
        finished = report.finished_at or report.updated_at
        content = report_ready_content(
            _shop_name(conn),
            report_id=report.id,
            title=report.title,
            kind_title=kind.title if kind is not None else report.kind,
            format=report.format,
            rows=int(report.row_count or 0),
            size_bytes=int(report.size_bytes or 0),
            finished_at=finished.astimezone(shop_settings(conn).zone),
        )
        return _Plan(REPORT_READY, key, (_Letter(recipients[0], content),))


def _recipients(conn: Session, opt_in: str, permission: str, *, user_id: int | None = None) -> list[str]:
    """Active people who opted in to an alert and whose role may read what it is about."""
    profile = UserProfile.__table__.c
    stmt = (
        select(User.email)
        .join(UserProfile, UserProfile.user_id == User.id)
        .join(Role, Role.id == User.role_id)
        .where(
            profile[opt_in].is_(True),
            profile.is_active.is_(True),
            User.locked_at.is_(None),
            _has_permission(User.role_id, permission),
        )
        .order_by(func.lower(User.email))
    )
    if user_id is not None:
        stmt = stmt.where(User.id == user_id)
    return list(conn.scalars(stmt))


def low_items(conn: Connection | Session, limit: int = DIGEST_MAX_ITEMS) -> tuple[list[LowItem], int]:
    """The most urgent low items (largest shortfall first, then SKU) and how many are low in all —
    the inventory list's "Low stock" rule: live items with available ≤ their threshold."""
    item = InventoryItem.__table__.c
    threshold = low_stock_threshold()
    available = available_units()
    low = and_(item.archived_at.is_(None), available <= threshold)
    total = int(conn.scalar(select(func.count()).select_from(InventoryItem.__table__).where(low)) or 0)
    rows = conn.execute(
        select(item.sku, item.name, available.label("available"), threshold.label("threshold"), item.supplier)
        .where(low)
        .order_by((threshold - available).desc(), item.sku)
        .limit(limit)
    )
    items = [LowItem(r.sku, r.name, int(r.available), int(r.threshold), r.supplier) for r in rows]
    return items, total


__all__ = [
    "LOW_STOCK_DIGEST",
    "MAX_SEND_ATTEMPTS",
    "QUEUE",
    "REPORT_READY",
    "SECURITY_MODES",
    "SMTP_KEYS",
    "EmailPreferences",
    "MailOutcome",
    "MailService",
    "Mailer",
    "SmtpProblem",
    "SmtpSettings",
    "SmtpStatus",
    "TestDelivery",
    "is_loopback",
    "low_items",
    "queue_report_ready",
    "read_smtp_settings",
    "validate_smtp_settings",
]
