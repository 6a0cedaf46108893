"""Webhooks out, the sending side: one `webhook` job is one HTTP POST of one event to one endpoint.

`WebhookDeliverer.run_next` claims a job (`services.jobs`), reads what to send in a short
transaction, checks the endpoint's address again (DNS may have changed since it was saved), POSTs
the signed event, and then records the outcome in ONE transaction that matches the claim: the
attempt row, the delivery's new state, and the job either deleted (delivered or dead) or released
with a delay (a retry). A runner that lost its claim meanwhile writes nothing — whoever overtook it
records its own attempt — so an attempt is logged once, and receivers de-duplicate by event id.

Outcomes: a 2xx is delivered. No answer (refused, timed out, TLS failed), a 3xx (redirects are never
followed: a receiver must not send the shop's requests elsewhere), a 5xx, 408 or 429 is retried
with exponential backoff and jitter (at least what `Retry-After` asks for); once
`webhooks.max_attempts` attempts are used the delivery is dead (a dead letter an admin may
redeliver). Any other 4xx is dead at once: the receiver refused this event, and sending it again
unchanged will not help.

The signature (`Ecomdesk-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`)
covers the timestamp, so a receiver can refuse an old request replayed at it.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import hmac
import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import httpx
from sqlalchemy import Connection, Engine, func, insert, select, text, update

from ecomdesk import __version__
from ecomdesk.db.catalog import DEFAULT_SETTINGS
from ecomdesk.db.models import SystemSetting, WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from ecomdesk.services.context import ServiceContext, database_errors
from ecomdesk.services.errors import ReadOnlyError, ValidationError
from ecomdesk.services.events import QUEUE
from ecomdesk.services.jobs import LEASE, ClaimedJob, JobQueue, dequeue, drain
from ecomdesk.services.webhook_urls import Resolver, UnresolvableHost, check_endpoint_url, resolve_host

log = logging.getLogger(__name__)

SIGNATURE_HEADER: Final = "Ecomdesk-Signature"
EVENT_ID_HEADER: Final = "Ecomdesk-Event-Id"
ATTEMPT_HEADER: Final = "Ecomdesk-Delivery-Attempt"
USER_AGENT: Final = f"ecomdesk/{__version__}"
#: Seconds to open a connection, and to wait for each part of the answer.
CONNECT_TIMEOUT: Final = 5.0
READ_TIMEOUT: Final = 10.0
#: Seconds one attempt may take in all (a receiver trickling its answer byte by byte is cut off).
TOTAL_TIMEOUT: Final = 15.0
#: The longest wait between attempts that the backoff itself picks, and the longest a receiver's
#: `Retry-After` may ask for (beyond it, the delivery would outlive anyone's interest in it).
MAX_BACKOFF_S: Final = 3_600.0
MAX_RETRY_AFTER_S: Final = 6 * 3_600.0
#: Characters of the receiver's answer kept with an attempt, and bytes read to find them.
EXCERPT_CHARS: Final = 500
_READ_AT_MOST: Final = 64 * 1024
#: Status codes that say "try again later" rather than "no".
_RETRYABLE_4XX: Final = frozenset({408, 429})

_D = WebhookDelivery.__table__.c
_E = WebhookEvent.__table__.c
_P = WebhookEndpoint.__table__.c


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The `Ecomdesk-Signature` header's value for `body` sent at `timestamp` (unix seconds)."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def _iso_utc(moment: dt.datetime) -> str:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
    return aware.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event_body(event_id: str, type_: str, occurred_at: dt.datetime, data: Mapping[str, Any]) -> bytes:
    """The JSON a receiver gets: the same bytes on every attempt and redelivery of the event."""
    document = {"id": event_id, "type": type_, "created": _iso_utc(occurred_at), "data": dict(data)}
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def retry_delay(attempt: int, base: float, rng: random.Random, retry_after: float | None = None) -> float:
    """Seconds before the next try after the `attempt`-th failure of this round: `base * 2**(n-1)`
    capped at an hour, times a random 0.5–1.0 (so a receiver coming back is not hit by every
    delivery at once), and never less than the receiver's `Retry-After` (itself capped)."""
    delay = min(base * 2.0 ** (attempt - 1), MAX_BACKOFF_S) * rng.uniform(0.5, 1.0)
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER_S))
    return delay


def parse_retry_after(value: str | None, now: dt.datetime | None = None) -> float | None:
    """`Retry-After` as seconds from now: delta-seconds or an HTTP-date; None when absent or
    unreadable (then the backoff alone decides)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - (now or dt.datetime.now(dt.UTC))).total_seconds())


@dataclass(frozen=True)
class DeliveryOutcome:
    """What a runner did with one `webhook` job."""

    delivery_id: int
    #: "delivered", "retry" (released with a delay), "dead", "released" (cancelled before sending),
    #: "gone" (the delivery or its endpoint was deleted), "skipped" (no longer pending), or "lost"
    #: (another runner took the job over meanwhile: nothing recorded).
    status: str
    #: The attempt's number over the delivery's life (0: no request was made).
    attempt: int = 0
    status_code: int | None = None
    error: str | None = None
    #: Seconds until the retry (status "retry").
    retry_in: float | None = None


@dataclass(frozen=True)
class _Work:
    job: ClaimedJob
    delivery_id: int
    #: This attempt's number over the delivery's life, and attempts made before this round began
    #: (a redelivery starts a fresh round of `max_attempts`).
    attempt: int
    round_start: int
    url: str
    allow_private: bool
    secret: str
    event_id: str
    event_type: str
    body: bytes
    max_attempts: int
    base_seconds: float


@dataclass(frozen=True)
class _Answer:
    """One HTTP attempt's result."""

    started_at: dt.datetime
    duration_ms: int
    status_code: int | None = None
    #: Why there is no usable answer (network, timeout, refused address); None for an HTTP answer.
    error: str | None = None
    excerpt: str = ""
    retry_after: float | None = None
    location: str | None = None
    #: The address was refused: no retry will help until an admin changes the endpoint.
    refused: bool = False


class _TooSlow(Exception):
    """The answer took longer than `TOTAL_TIMEOUT` in all."""


def delivery_settings(conn: Connection) -> tuple[int, float]:
    """`webhooks.max_attempts` (≥ 1) and `webhooks.retry_base_seconds` (> 0, fractions allowed) as
    stored; a missing or unreadable value counts as its default."""
    keys = ("webhooks.max_attempts", "webhooks.retry_base_seconds")
    query = select(SystemSetting.key, SystemSetting.value).where(SystemSetting.key.in_(keys))
    stored: dict[str, Any] = {key: value for key, value in conn.execute(query)}
    try:
        attempts = int(stored.get(keys[0], DEFAULT_SETTINGS[keys[0]]))
    except (TypeError, ValueError):
        attempts = int(DEFAULT_SETTINGS[keys[0]])
    try:
        base = float(stored.get(keys[1], DEFAULT_SETTINGS[keys[1]]))
    except (TypeError, ValueError):
        base = float(DEFAULT_SETTINGS[keys[1]])
    if not base > 0:
        base = float(DEFAULT_SETTINGS[keys[1]])
    return max(1, attempts), base


#: How long the delivery log keeps an event whose deliveries are finished (delivered or dead).
KEEP_EVENTS: Final = dt.timedelta(days=30)
#: How often a worker looks for events to forget.
PRUNE_EVERY: Final = dt.timedelta(hours=1)
#: Events deleted per statement.
PRUNE_BATCH: Final = 5_000

_PRUNE_SQL: Final = text(
    """
    DELETE FROM webhook_events WHERE id IN (
        SELECT e.id FROM webhook_events AS e
        WHERE e.created_at < now() - CAST(:keep AS interval)
          AND NOT EXISTS (
              SELECT 1 FROM webhook_deliveries AS d WHERE d.event_id = e.id AND d.status = 'pending'
          )
        ORDER BY e.id LIMIT :batch
        FOR UPDATE SKIP LOCKED
    )
    """
)


def prune_events(engine: Engine, keep: dt.timedelta = KEEP_EVENTS, batch: int = PRUNE_BATCH) -> int:
    """Delete finished events older than `keep`, `batch` at a time; returns how many went."""
    total = 0
    while True:
        with engine.begin() as conn:
            gone = conn.execute(
                _PRUNE_SQL, {"keep": f"{int(keep.total_seconds())} seconds", "batch": batch}
            ).rowcount
        total += gone
        if gone < batch:
            return total


class WebhookDeliverer:
    """Drains the `webhook` queue (the worker's job-handler protocol: `queue` and `run_next`).

    One `httpx.Client` per deliverer, so deliveries to the same receiver reuse their connection;
    `close()` (or `with`) ends it when the deliverer built it."""

    def __init__(
        self,
        ctx: ServiceContext,
        *,
        client: httpx.Client | None = None,
        resolve: Resolver = resolve_host,
        rng: random.Random | None = None,
        connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
        total_timeout: float = TOTAL_TIMEOUT,
        lease: dt.timedelta = LEASE,
        clock: Callable[[], float] = time.time,
        queue: str = QUEUE,
    ) -> None:
        self.ctx = ctx
        #: The jobs queue drained: the shop's `webhook`, or a private one (the screenshots' own).
        self.queue = queue
        self.jobs = JobQueue(ctx.engine, lease=lease, read_only=ctx.read_only)
        self.resolve = resolve
        self.rng = rng if rng is not None else random.Random()
        self.timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
        self.total_timeout = total_timeout
        #: Unix seconds for the signature's timestamp.
        self.clock = clock
        self._next_prune = 0.0
        self._own_client = client is None
        self.client = (
            client if client is not None else httpx.Client(follow_redirects=False, timeout=self.timeout)
        )

    def close(self) -> None:
        if self._own_client:
            self.client.close()

    def __enter__(self) -> WebhookDeliverer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the job handler ----------------------------------------------------------------------

    def run_next(self, worker: str, *, cancelled: Callable[[], bool] | None = None) -> DeliveryOutcome | None:
        """Claim one due delivery and make one attempt at it; None when none is due."""
        if self.ctx.read_only:
            raise ReadOnlyError("This is a read-only copy: it sends no webhooks.")
        with database_errors():
            job = self.jobs.claim(self.queue, worker)
            if job is None:
                return None
            started = self._start(job)
        if isinstance(started, DeliveryOutcome):
            self._log(started, job)
            return started
        if cancelled is not None and cancelled():
            with database_errors():
                self.jobs.release(started.job)
            return DeliveryOutcome(started.delivery_id, "released")
        answer = self._post(started)
        with database_errors():
            outcome = self._finish(started, answer)
        self._log(outcome, job, started)
        return outcome

    def tick(self) -> None:
        """At most once an hour per worker: forget events older than `KEEP_EVENTS` whose deliveries
        are all finished (their deliveries and attempts go with them), a batch at a time so no
        statement holds its locks for long."""
        now = time.monotonic()
        if self.ctx.read_only or now < self._next_prune:
            return
        self._next_prune = now + PRUNE_EVERY.total_seconds()
        with database_errors():
            pruned = prune_events(self.ctx.engine)
        if pruned:
            log.info("Webhooks: forgot %d finished events older than %d days", pruned, KEEP_EVENTS.days)

    def run_pending(self, worker: str, *, limit: int | None = None) -> list[DeliveryOutcome]:
        """`run_next` until nothing is due (or `limit` jobs): `ecomdesk worker --once`, tests."""
        return drain(lambda: self.run_next(worker), limit)

    # -- steps --------------------------------------------------------------------------------

    def _start(self, job: ClaimedJob) -> _Work | DeliveryOutcome:
        """What to send, or the end of a job with nothing to send."""
        delivery_id = int(job.payload.get("delivery_id") or 0)
        round_start = int(job.payload.get("attempts_before") or 0)
        stmt = (
            select(
                _D.status,
                _D.attempts,
                _E.event_id,
                _E.type,
                _E.occurred_at,
                _E.data,
                _P.url,
                _P.active,
                _P.secret,
                _P.allow_private,
            )
            .select_from(
                WebhookDelivery.__table__.join(WebhookEvent.__table__, _E.id == _D.event_id).join(
                    WebhookEndpoint.__table__, _P.id == _D.endpoint_id
                )
            )
            .where(_D.id == delivery_id)
        )
        with self.ctx.engine.begin() as conn:
            row = conn.execute(stmt).one_or_none()
            if row is None:  # deleted with its endpoint
                dequeue(conn, job.id, job.token)
                return DeliveryOutcome(delivery_id, "gone")
            if row.status != "pending":
                dequeue(conn, job.id, job.token)
                return DeliveryOutcome(delivery_id, "skipped", row.attempts)
            error: str | None = None
            if not row.active:
                error = "Not sent: the endpoint is paused. Resume it, then redeliver this event."
            elif job.exhausted:
                error = (
                    f"Sending this event stopped {job.attempts - 1} times before it finished (the worker "
                    "sending it quit or crashed), so it was not tried again. Redeliver it to try once more."
                )
            if error is not None:
                if dequeue(conn, job.id, job.token):
                    conn.execute(
                        update(WebhookDelivery)
                        .where(_D.id == delivery_id)
                        .values(status="dead", last_error=error, next_attempt_at=None, updated_at=func.now())
                    )
                return DeliveryOutcome(delivery_id, "dead", row.attempts, error=error)
            max_attempts, base = delivery_settings(conn)
        body = event_body(row.event_id, row.type, row.occurred_at, row.data or {})
        return _Work(
            job,
            delivery_id,
            int(row.attempts) + 1,
            min(round_start, int(row.attempts)),
            row.url,
            bool(row.allow_private),
            row.secret,
            row.event_id,
            row.type,
            body,
            max_attempts,
            base,
        )

    def _post(self, work: _Work) -> _Answer:
        """One signed POST; never raises for what the network or the receiver does."""
        started_at = dt.datetime.now(dt.UTC)
        began = time.monotonic()

        def took() -> int:
            return round((time.monotonic() - began) * 1000)

        try:
            target = check_endpoint_url(work.url, allow_private=work.allow_private, resolve=self.resolve)
        except UnresolvableHost as exc:
            return _Answer(started_at, took(), error=exc.fields.get("url", exc.message))
        except ValidationError as exc:
            reason = exc.fields.get("url", exc.message)
            return _Answer(started_at, took(), error=f"Not sent: {reason}", refused=True)
        timestamp = int(self.clock())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: sign(work.secret, timestamp, work.body),
            EVENT_ID_HEADER: work.event_id,
            ATTEMPT_HEADER: str(work.attempt),
        }
        deadline = began + self.total_timeout
        try:
            # To the address just checked, not wherever the name points a moment later: the Host
            # header and (for https) the TLS server name and certificate check keep the name.
            with self.client.stream(
                "POST",
                target.pinned_url(),
                content=work.body,
                headers={**headers, "Host": target.netloc},
                timeout=self.timeout,
                follow_redirects=False,
                extensions={"sni_hostname": target.host},
            ) as response:
                excerpt = _excerpt(response, deadline)
                return _Answer(
                    started_at,
                    took(),
                    status_code=response.status_code,
                    excerpt=excerpt,
                    retry_after=parse_retry_after(response.headers.get("Retry-After")),
                    location=response.headers.get("Location"),
                )
        except httpx.ConnectTimeout:
            error = f"Could not connect within {self.timeout.connect:g} s (timed out)."
        except (httpx.TimeoutException, _TooSlow):
            error = f"The receiver did not answer in time (timed out after {took() / 1000:.1f} s)."
        except httpx.ConnectError as exc:
            error = f"Could not connect: {exc or type(exc).__name__}."
        except httpx.HTTPError as exc:
            error = f"The connection failed: {exc or type(exc).__name__}."
        return _Answer(started_at, took(), error=error)

    def _verdict(self, work: _Work, answer: _Answer) -> tuple[str, str | None, float | None]:
        """(status, the delivery's last error, seconds until a retry)."""
        code = answer.status_code
        if code is not None and 200 <= code < 300:
            return "delivered", None, None
        if answer.refused:
            return "dead", answer.error, None
        if code is not None and 400 <= code < 500 and code not in _RETRYABLE_4XX:
            return (
                "dead",
                f"The receiver refused the event (HTTP {code}); it is not sent again by itself. "
                "Fix the receiver, then redeliver it.",
                None,
            )
        if code is None:
            reason = answer.error or "No answer."
        elif 300 <= code < 400:
            where = f" to {answer.location}" if answer.location else ""
            reason = (
                f"The receiver answered with a redirect (HTTP {code}){where}; redirects are not followed."
            )
        else:
            reason = f"The receiver answered HTTP {code}."
        used = work.attempt - work.round_start
        if used >= work.max_attempts:
            return "dead", f"{reason} Gave up after {used} attempts.", None
        return "retry", reason, retry_delay(used, work.base_seconds, self.rng, answer.retry_after)

    def _finish(self, work: _Work, answer: _Answer) -> DeliveryOutcome:
        """The attempt, the delivery's state and the job's fate in one transaction matching the claim."""
        status, last_error, delay = self._verdict(work, answer)
        job = work.job
        with self.ctx.engine.connect() as conn, conn.begin() as tx:
            if status == "retry":
                assert delay is not None
                ours = self.jobs.release(job, conn, error=last_error, after=dt.timedelta(seconds=delay))
            else:
                ours = dequeue(conn, job.id, job.token)
            if not ours:
                tx.rollback()
                return DeliveryOutcome(
                    work.delivery_id, "lost", work.attempt, answer.status_code, answer.error
                )
            values: dict[str, Any] = {
                "status": "pending" if status == "retry" else status,
                "attempts": work.attempt,
                "last_status_code": answer.status_code,
                "last_error": last_error,
                "next_attempt_at": func.now() + dt.timedelta(seconds=delay) if delay is not None else None,
                "updated_at": func.now(),
            }
            if status == "delivered":
                values["delivered_at"] = func.clock_timestamp()
            changed = conn.execute(
                update(WebhookDelivery)
                .where(_D.id == work.delivery_id, _D.status == "pending")
                .values(**values)
            )
            if not changed.rowcount:  # deleted (with its endpoint) while the request was on its way
                return DeliveryOutcome(
                    work.delivery_id, "gone", work.attempt, answer.status_code, answer.error
                )
            conn.execute(
                insert(WebhookAttempt).values(
                    delivery_id=work.delivery_id,
                    number=work.attempt,
                    started_at=answer.started_at,
                    duration_ms=answer.duration_ms,
                    status_code=answer.status_code,
                    error=answer.error,
                    response_excerpt=answer.excerpt,
                    worker=job.worker[:200],
                )
            )
        return DeliveryOutcome(work.delivery_id, status, work.attempt, answer.status_code, last_error, delay)

    @staticmethod
    def _log(outcome: DeliveryOutcome, job: ClaimedJob, work: _Work | None = None) -> None:
        what = (
            f"event {work.event_id} ({work.event_type}) to {work.url}"
            if work is not None
            else f"job {job.id}"
        )
        retry = f", retry in {outcome.retry_in:.1f} s" if outcome.retry_in is not None else ""
        log.info(
            "Webhook delivery %s, %s: attempt %s → %s (HTTP %s)%s%s",
            outcome.delivery_id,
            what,
            outcome.attempt,
            outcome.status,
            outcome.status_code if outcome.status_code is not None else "-",
            retry,
            f": {outcome.error}" if outcome.error else "",
        )


def _excerpt(response: httpx.Response, deadline: float) -> str:
    """The start of the answer as text, read within the overall deadline."""
    data = bytearray()
    for chunk in response.iter_bytes():
        data += chunk
        if time.monotonic() > deadline:
            raise _TooSlow()
        if len(data) >= _READ_AT_MOST:
            break
    return bytes(data).decode("utf-8", errors="replace")[:EXCERPT_CHARS]


__all__ = [
    "ATTEMPT_HEADER",
    "EVENT_ID_HEADER",
    "SIGNATURE_HEADER",
    "USER_AGENT",
    "DeliveryOutcome",
    "WebhookDeliverer",
    "delivery_settings",
    "event_body",
    "parse_retry_after",
    "retry_delay",
    "sign",
]
