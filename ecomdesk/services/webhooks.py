"""Webhooks out, the admin's side: endpoints (where the shop's events go), their delivery log, and
the two buttons of the Integrations page — "send test event" and "redeliver".

Every call needs `integrations.manage`. An endpoint's signing secret is shown once, when it is
created or rotated, and never again: no row, audit entry or log line holds it (the audit trail's
redaction drops the "secret" key as a second line of defence). The sending itself is
`services.webhook_delivery`; the outbox is `services.events`.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import ColumnElement, case, delete, func, or_, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.orm import Session

from ecomdesk.db.models import Job, User, WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from ecomdesk.db.models.integrations import DELIVERY_STATUSES
from ecomdesk.services import events
from ecomdesk.services.context import Actor, ServiceContext, UnitOfWork
from ecomdesk.services.errors import Conflict, NotFound, ValidationError
from ecomdesk.services.jobs import enqueue
from ecomdesk.services.listing import SortKey, like_pattern
from ecomdesk.services.tables import Choice, Column, FilterKind, FilterSpec, Kind, Source, SqlTable, TableSpec
from ecomdesk.services.webhook_delivery import event_body
from ecomdesk.services.webhook_urls import Resolver, resolve_host, validate_endpoint_url

PERMISSION: Final = "integrations.manage"
#: A generated secret's prefix: a reader of a config file sees at once what the value is.
SECRET_PREFIX: Final = "whsec_"
MIN_SECRET_LENGTH: Final = 16
MAX_SECRET_LENGTH: Final = 200
MAX_DESCRIPTION: Final = 200
_ENDPOINT_GONE: Final = "This endpoint no longer exists (someone may have removed it)."
_DELIVERY_GONE: Final = "This delivery no longer exists (its endpoint may have been removed)."

_D = WebhookDelivery.__table__.c
_E = WebhookEvent.__table__.c
_P = WebhookEndpoint.__table__.c


def new_secret() -> str:
    """A fresh signing secret: 256 random bits."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class EndpointDraft:
    """What an admin enters for an endpoint (the secret is not part of it: see `add_endpoint`)."""

    url: str
    #: Event types (`events.EVENT_TYPES`) or "*" for all, including types added later.
    events: Sequence[str]
    description: str = ""
    active: bool = True
    #: The admin allowed an address in a private network (a receiver in the office, or loopback).
    allow_private: bool = False


@dataclass(frozen=True)
class EndpointRow:
    """One endpoint as the Integrations page lists it (never with its secret)."""

    id: int
    url: str
    description: str
    events: tuple[str, ...]
    active: bool
    allow_private: bool
    created_by: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    #: The newest delivery's status ("pending", "delivered", "dead") and when it last changed.
    last_status: str | None = None
    last_at: dt.datetime | None = None
    pending: int = 0
    dead: int = 0
    delivered: int = 0


@dataclass(frozen=True)
class CreatedEndpoint:
    endpoint: EndpointRow
    #: Shown to the admin this once; it cannot be read back later (only rotated).
    secret: str = field(repr=False)


@dataclass(frozen=True)
class DeliveryRow:
    """One event to one endpoint, as the delivery log lists it."""

    id: int
    created_at: dt.datetime
    event_type: str
    event_id: str
    endpoint_id: int
    endpoint_url: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    delivered_at: dt.datetime | None
    next_attempt_at: dt.datetime | None


@dataclass(frozen=True)
class AttemptRow:
    """One HTTP request of a delivery."""

    id: int
    number: int
    started_at: dt.datetime
    duration_ms: int
    #: None: no HTTP answer (refused, timed out, address not allowed) — `error` says which.
    status_code: int | None
    error: str | None
    response_excerpt: str
    worker: str


@dataclass(frozen=True)
class DeliveryDetail:
    """A delivery with the exact JSON body a receiver gets and every attempt, oldest first."""

    delivery: DeliveryRow
    occurred_at: dt.datetime
    body: str
    attempts: tuple[AttemptRow, ...]


DELIVERIES_SPEC = TableSpec(
    name="webhook_deliveries",
    title="Webhook deliveries",
    singular="delivery",
    plural="deliveries",
    columns=(
        Column("id", "Delivery", Kind.INTEGER),
        Column("created_at", "Created", Kind.DATETIME),
        Column("event_type", "Event type"),
        Column("event_id", "Event id"),
        Column("endpoint_url", "Endpoint"),
        Column("status", "Status"),
        Column("attempts", "Attempts", Kind.INTEGER),
        Column("last_status_code", "Last HTTP status", Kind.INTEGER),
        Column("last_error", "Last error"),
        Column("delivered_at", "Delivered", Kind.DATETIME),
        Column("next_attempt_at", "Next attempt", Kind.DATETIME),
    ),
    # Newest first by id: the primary key's index, whatever the log's size.
    default_sort=(SortKey("id", descending=True),),
    filters=(
        FilterSpec("endpoint", "Endpoint", FilterKind.CHOICE),
        FilterSpec("status", "Status", FilterKind.CHOICE),
        FilterSpec("event_type", "Event type", FilterKind.CHOICE),
    ),
    search_hint="Search event ids, types and endpoints",
)


class DeliveriesTable(SqlTable[DeliveryRow]):
    spec = DELIVERIES_SPEC
    permission = PERMISSION

    def source(self) -> Source:
        return Source(
            from_=WebhookDelivery.__table__.join(WebhookEvent.__table__, _E.id == _D.event_id).join(
                WebhookEndpoint.__table__, _P.id == _D.endpoint_id
            ),
            columns={
                "id": _D.id,
                "created_at": _D.created_at,
                "event_type": _E.type,
                "event_id": _E.event_id,
                "endpoint_url": _P.url,
                "status": _D.status,
                "attempts": _D.attempts,
                "last_status_code": _D.last_status_code,
                "last_error": _D.last_error,
                "delivered_at": _D.delivered_at,
                "next_attempt_at": _D.next_attempt_at,
            },
            primary_key=_D.id,
            extra={"endpoint_id": _D.endpoint_id},
        )

    def search(self, text: str) -> ColumnElement[bool]:
        pattern = like_pattern(text)
        return or_(
            _E.event_id.ilike(pattern, escape="\\"),
            _E.type.ilike(pattern, escape="\\"),
            _P.url.ilike(pattern, escape="\\"),
        )

    def filter(self, key: str, value: Any) -> ColumnElement[bool]:
        if key == "endpoint":
            if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
                raise ValidationError({"endpoint": "Expected an endpoint's id."})
            return _D.endpoint_id == int(value)
        if key == "status":
            if value not in DELIVERY_STATUSES:
                raise ValidationError({"status": f"Expected one of: {', '.join(DELIVERY_STATUSES)}."})
            return _D.status == str(value)
        if key == "event_type":
            if not isinstance(value, str):
                raise ValidationError({"event_type": "Expected an event type."})
            return _E.type == value
        return super().filter(key, value)

    def record(self, row: RowMapping) -> DeliveryRow:
        return DeliveryRow(**{name: row[name] for name in DeliveryRow.__dataclass_fields__})

    def choices_query(self, session: Session, key: str) -> list[Choice]:
        if key == "endpoint":
            rows = session.execute(select(_P.id, _P.url, _P.description).order_by(_P.url, _P.id))
            return [Choice(r.id, f"{r.url} — {r.description}" if r.description else r.url) for r in rows]
        if key == "status":
            return [Choice(status, status.capitalize()) for status in DELIVERY_STATUSES]
        if key == "event_type":
            known = [*events.EVENT_TYPES, events.TEST_EVENT]
            return [Choice(name, name) for name in known]
        return super().choices_query(session, key)


class WebhookService:
    """Endpoints, deliveries and attempts for the Integrations page and `ecomdesk webhook`."""

    def __init__(self, ctx: ServiceContext, *, resolve: Resolver = resolve_host) -> None:
        self.ctx = ctx
        self.resolve = resolve
        self.deliveries = DeliveriesTable(ctx)

    # -- endpoints ----------------------------------------------------------------------------

    def event_types(self) -> dict[str, str]:
        """Every type an endpoint may subscribe to, with what it means (no database needed)."""
        return dict(events.EVENT_TYPES)

    def endpoints(self, actor: Actor) -> list[EndpointRow]:
        """Every endpoint, by URL, with its newest delivery and its counts of pending, dead and
        delivered deliveries."""
        with self.ctx.read(actor, PERMISSION) as uow:
            return self._endpoints(uow.session, None)

    def endpoint(self, actor: Actor, endpoint_id: int) -> EndpointRow:
        with self.ctx.read(actor, PERMISSION) as uow:
            return self._endpoint(uow.session, endpoint_id)

    def add_endpoint(
        self, actor: Actor, draft: EndpointDraft, *, secret: str | None = None
    ) -> CreatedEndpoint:
        """A new endpoint; its secret (`secret`, or a generated one) is in the result and nowhere else."""
        with self.ctx.write(actor, PERMISSION) as uow:
            problems, cleaned = self._checked(draft)
            if secret is not None:
                secret = secret.strip()
                if len(secret) < MIN_SECRET_LENGTH:
                    problems["secret"] = (
                        f"Use at least {MIN_SECRET_LENGTH} characters, or let one be generated."
                    )
                elif len(secret) > MAX_SECRET_LENGTH:
                    problems["secret"] = f"Use at most {MAX_SECRET_LENGTH} characters."
            if problems:
                raise ValidationError(problems)
            assert uow.actor is not None
            chosen = secret or new_secret()
            endpoint = WebhookEndpoint(**cleaned, secret=chosen, created_by=uow.actor.user_id)
            uow.session.add(endpoint)
            uow.session.flush()
            uow.audit("webhook.endpoint_added", "webhook_endpoint", endpoint.id, after=_audited(cleaned))
            return CreatedEndpoint(self._endpoint(uow.session, endpoint.id), chosen)

    def update_endpoint(self, actor: Actor, endpoint_id: int, draft: EndpointDraft) -> EndpointRow:
        """Change an endpoint's URL, description, events, active flag or private-network permission
        (audited with the fields that changed)."""
        with self.ctx.write(actor, PERMISSION) as uow:
            endpoint = self._locked(uow, endpoint_id)
            problems, cleaned = self._checked(draft)
            if problems:
                raise ValidationError(problems)
            before = {key: getattr(endpoint, key) for key in cleaned}
            changed = {key: value for key, value in cleaned.items() if before[key] != value}
            if changed:
                for key, value in changed.items():
                    setattr(endpoint, key, value)
                endpoint.updated_at = uow.now
                uow.session.flush()
                uow.audit(
                    "webhook.endpoint_changed",
                    "webhook_endpoint",
                    endpoint_id,
                    before=_audited({key: before[key] for key in changed}),
                    after=_audited(changed),
                )
            return self._endpoint(uow.session, endpoint_id)

    def rotate_secret(self, actor: Actor, endpoint_id: int) -> str:
        """A new secret for the endpoint, returned this once: deliveries from now on are signed
        with it (the receiver must be given it first)."""
        with self.ctx.write(actor, PERMISSION) as uow:
            endpoint = self._locked(uow, endpoint_id)
            secret = new_secret()
            endpoint.secret = secret
            endpoint.updated_at = uow.now
            uow.session.flush()
            uow.audit("webhook.secret_rotated", "webhook_endpoint", endpoint_id, after={"url": endpoint.url})
            return secret

    def delete_endpoint(self, actor: Actor, endpoint_id: int) -> None:
        """Remove an endpoint with its deliveries, attempts and queued jobs (a request already on its
        way ends as "gone": nothing is recorded for it)."""
        with self.ctx.write(actor, PERMISSION) as uow:
            endpoint = self._locked(uow, endpoint_id)
            before = {
                "url": endpoint.url,
                "events": list(endpoint.events),
                "description": endpoint.description,
            }
            ids = select(_D.id).where(_D.endpoint_id == endpoint_id)
            uow.session.execute(
                delete(Job).where(
                    # Any queue a delivery job may be in (`webhook`, or a tool's own: the screenshots').
                    Job.queue.startswith(events.QUEUE),
                    Job.status == "queued",
                    Job.payload["delivery_id"].as_integer().in_(ids.scalar_subquery()),
                )
            )
            uow.session.delete(endpoint)
            uow.session.flush()
            uow.audit("webhook.endpoint_removed", "webhook_endpoint", endpoint_id, before=before)

    # -- the buttons --------------------------------------------------------------------------

    def send_test(self, actor: Actor, endpoint_id: int) -> str:
        """Queue a test event (`ecomdesk.test`) for this endpoint alone, whatever it subscribes to;
        returns the event id the receiver will see."""
        with self.ctx.write(actor, PERMISSION) as uow:
            endpoint = self._locked(uow, endpoint_id)
            if not endpoint.active:
                raise Conflict("This endpoint is paused: resume it to send a test event.")
            assert uow.actor is not None
            data = {
                "message": "A test event from ecomdesk: this endpoint receives the shop's events.",
                "endpoint_id": endpoint_id,
                "sent_by": uow.actor.email,
            }
            event_id = events.emit(uow.session, events.TEST_EVENT, data, at=uow.now, endpoint_id=endpoint_id)
            uow.audit(
                "webhook.test_sent",
                "webhook_endpoint",
                endpoint_id,
                after={"event_id": event_id, "url": endpoint.url},
            )
            return event_id

    def redeliver(self, actor: Actor, delivery_id: int) -> DeliveryRow:
        """Send a delivered or dead delivery again: pending with a new job and a fresh round of
        attempts, with the same event id (receivers de-duplicate by it)."""
        with self.ctx.write(actor, PERMISSION) as uow:
            delivery = uow.session.get(WebhookDelivery, delivery_id, with_for_update=True)
            if delivery is None:
                raise NotFound(_DELIVERY_GONE)
            if delivery.status == "pending":
                raise Conflict(
                    "This delivery is still being sent; it can be redelivered once it is delivered or dead."
                )
            endpoint = uow.session.get(WebhookEndpoint, delivery.endpoint_id)
            if endpoint is None or not endpoint.active:
                raise Conflict("This endpoint is paused: resume it to redeliver its events.")
            before = {"status": delivery.status, "attempts": delivery.attempts}
            delivery.status = "pending"
            delivery.delivered_at = None
            delivery.next_attempt_at = uow.now
            delivery.updated_at = uow.now
            uow.session.flush()
            enqueue(
                uow.session, events.QUEUE, {"delivery_id": delivery_id, "attempts_before": delivery.attempts}
            )
            uow.audit("webhook.redelivered", "webhook_delivery", delivery_id, before=before)
            row = self.deliveries.fetch(uow.session, delivery_id)
            assert row is not None
            return row

    # -- the delivery log ---------------------------------------------------------------------

    def delivery(self, actor: Actor, delivery_id: int) -> DeliveryDetail:
        """One delivery with the JSON body sent (byte for byte) and its attempts."""
        with self.ctx.read(actor, PERMISSION) as uow:
            row = self.deliveries.fetch(uow.session, delivery_id)
            if row is None:
                raise NotFound(_DELIVERY_GONE)
            event = uow.session.execute(
                select(_E.event_id, _E.type, _E.occurred_at, _E.data)
                .select_from(WebhookEvent.__table__.join(WebhookDelivery.__table__, _D.event_id == _E.id))
                .where(_D.id == delivery_id)
            ).one()
            body = event_body(event.event_id, event.type, event.occurred_at, event.data or {}).decode("utf-8")
            return DeliveryDetail(
                row, event.occurred_at, body, tuple(self._attempts(uow.session, delivery_id))
            )

    def attempts(self, actor: Actor, delivery_id: int) -> list[AttemptRow]:
        """Every HTTP request of a delivery, oldest first."""
        with self.ctx.read(actor, PERMISSION) as uow:
            if uow.session.get(WebhookDelivery, delivery_id) is None:
                raise NotFound(_DELIVERY_GONE)
            return self._attempts(uow.session, delivery_id)

    # -- helpers ------------------------------------------------------------------------------

    def _checked(self, draft: EndpointDraft) -> tuple[dict[str, str], dict[str, Any]]:
        """Every problem of a draft at once, and its cleaned values."""
        problems: dict[str, str] = {}
        url = draft.url.strip() if isinstance(draft.url, str) else ""
        try:
            url = validate_endpoint_url(url, allow_private=draft.allow_private, resolve=self.resolve)
        except ValidationError as exc:
            problems.update(exc.fields)
        chosen: list[str] = []
        for name in draft.events:
            name = name.strip()
            if name and name not in chosen:
                chosen.append(name)
        unknown = [name for name in chosen if name not in events.EVENT_TYPES and name != events.ALL_EVENTS]
        if unknown:
            problems["events"] = (
                f"Unknown event type: {', '.join(unknown)}. Choose from: {', '.join(events.EVENT_TYPES)}, "
                f"or {events.ALL_EVENTS} for all."
            )
        elif not chosen:
            problems["events"] = "Choose at least one event type (or * for all)."
        if events.ALL_EVENTS in chosen:
            chosen = [events.ALL_EVENTS]
        description = draft.description.strip()
        if len(description) > MAX_DESCRIPTION:
            problems["description"] = f"Use at most {MAX_DESCRIPTION} characters ({len(description)} given)."
        cleaned = {
            "url": url,
            "description": description,
            "events": chosen,
            "active": bool(draft.active),
            "allow_private": bool(draft.allow_private),
        }
        return problems, cleaned

    @staticmethod
    def _locked(uow: UnitOfWork, endpoint_id: int) -> WebhookEndpoint:
        endpoint = uow.session.get(WebhookEndpoint, endpoint_id, with_for_update=True)
        if endpoint is None:
            raise NotFound(_ENDPOINT_GONE)
        return endpoint

    def _endpoint(self, session: Session, endpoint_id: int) -> EndpointRow:
        found = self._endpoints(session, endpoint_id)
        if not found:
            raise NotFound(_ENDPOINT_GONE)
        return found[0]

    @staticmethod
    def _endpoints(session: Session, endpoint_id: int | None) -> list[EndpointRow]:
        counts = (
            select(
                _D.endpoint_id,
                func.count().filter(_D.status == "pending").label("pending"),
                func.count().filter(_D.status == "dead").label("dead"),
                func.count().filter(_D.status == "delivered").label("delivered"),
                func.max(_D.id).label("last_id"),
            )
            .group_by(_D.endpoint_id)
            .subquery()
        )
        last = WebhookDelivery.__table__.alias("last")
        user = User.__table__.c
        stmt = (
            select(
                _P.id,
                _P.url,
                _P.description,
                _P.events,
                _P.active,
                _P.allow_private,
                user.email.label("created_by"),
                _P.created_at,
                _P.updated_at,
                last.c.status.label("last_status"),
                case((last.c.delivered_at.is_not(None), last.c.delivered_at), else_=last.c.updated_at).label(
                    "last_at"
                ),
                func.coalesce(counts.c.pending, 0).label("pending"),
                func.coalesce(counts.c.dead, 0).label("dead"),
                func.coalesce(counts.c.delivered, 0).label("delivered"),
            )
            .select_from(
                WebhookEndpoint.__table__.outerjoin(User.__table__, user.id == _P.created_by)
                .outerjoin(counts, counts.c.endpoint_id == _P.id)
                .outerjoin(last, last.c.id == counts.c.last_id)
            )
            .order_by(func.lower(_P.url), _P.id)
        )
        if endpoint_id is not None:
            stmt = stmt.where(_P.id == endpoint_id)
        rows = session.execute(stmt).mappings()
        return [
            EndpointRow(
                **{**dict(row), "events": tuple(row["events"] or ()), "description": row["description"] or ""}
            )
            for row in rows
        ]

    @staticmethod
    def _attempts(session: Session, delivery_id: int) -> list[AttemptRow]:
        a = WebhookAttempt.__table__.c
        stmt = (
            select(
                a.id,
                a.number,
                a.started_at,
                a.duration_ms,
                a.status_code,
                a.error,
                a.response_excerpt,
                a.worker,
            )
            .where(a.delivery_id == delivery_id)
            .order_by(a.number, a.id)
        )
        return [AttemptRow(**dict(row)) for row in session.execute(stmt).mappings()]


def _audited(values: dict[str, Any]) -> dict[str, Any]:
    """An endpoint's fields as the audit trail keeps them (JSON-ready; never the secret)."""
    return {
        key: list(value) if isinstance(value, list | tuple) else value
        for key, value in values.items()
        if key != "secret"
    }


__all__ = [
    "DELIVERIES_SPEC",
    "PERMISSION",
    "AttemptRow",
    "CreatedEndpoint",
    "DeliveriesTable",
    "DeliveryDetail",
    "DeliveryRow",
    "EndpointDraft",
    "EndpointRow",
    "WebhookService",
    "new_secret",
]
