"""Integrations: webhooks out (endpoints, the outbox of events, deliveries and every attempt),
webhooks in (the events already taken, for idempotence), e-mail alerts, and the workers' heartbeats.

The outbox: a change writes its event (and one delivery per subscribed endpoint, and a `jobs` row
per delivery) in its own transaction, so a change that rolls back sends nothing and one that
commits is delivered even if every app closes right after. A delivery row is the state a receiver
sees (pending → delivered | dead); `webhook_attempts` is its history, one row per HTTP request.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ecomdesk.db.base import Base, BigIntPK, JSONType, created_at_column, updated_at_column

DELIVERY_STATUSES = ("pending", "delivered", "dead")
INBOUND_SOURCES = ("generic", "stripe")
EMAIL_STATUSES = ("sent", "failed")


class WebhookEndpoint(Base):
    """A receiver of the shop's events: where to POST, which events, and the signing secret."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    url: Mapped[str] = mapped_column(Text, nullable=False)
    description: Mapped[str] = mapped_column(String(200), nullable=False, default="", server_default="")
    #: Event types this endpoint hears (a JSON list; "*" for every type).
    events: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True, server_default="true")
    #: The HMAC key both sides hold. Every worker on every machine signs with it, so it lives here
    #: (not in one machine's keyring); never copied into a snapshot, never shown after creation.
    secret: Mapped[str] = mapped_column(String(200), nullable=False, info={"secret": True})
    #: An admin allowed a private or link-local address (a receiver in the office network).
    allow_private: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default="false"
    )
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime] = updated_at_column()


class WebhookEvent(Base):
    """The outbox: one row per event that at least one endpoint subscribed to when it happened."""

    __tablename__ = "webhook_events"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    #: What receivers de-duplicate by (a UUID, the same on every attempt and redelivery).
    event_id: Mapped[str] = mapped_column(String(36), nullable=False, unique=True)
    type: Mapped[str] = mapped_column(String(64), nullable=False)
    occurred_at: Mapped[dt.datetime] = mapped_column(nullable=False)
    data: Mapped[dict[str, Any]] = mapped_column(nullable=False, default=dict)
    created_at: Mapped[dt.datetime] = created_at_column()


class WebhookDelivery(Base):
    """One event to one endpoint: pending until a 2xx (delivered) or given up (dead)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint(f"status IN {DELIVERY_STATUSES!r}", name="status_known"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        UniqueConstraint("event_id", "endpoint_id"),
        # The delivery log, newest first, per endpoint.
        Index("ix_webhook_deliveries_endpoint_id_id", "endpoint_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("webhook_events.id", ondelete="CASCADE"), nullable=False)
    endpoint_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), nullable=False
    )
    status: Mapped[str] = mapped_column(
        String(16), nullable=False, default="pending", server_default="pending"
    )
    #: HTTP requests made so far (every one is a row of `webhook_attempts`).
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    next_attempt_at: Mapped[dt.datetime | None]
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime] = updated_at_column()


class WebhookAttempt(Base):
    """One HTTP request of a delivery: what the receiver answered, and how long it took."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), nullable=False, index=True
    )
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    started_at: Mapped[dt.datetime] = mapped_column(nullable=False)
    duration_ms: Mapped[int] = mapped_column(Integer, nullable=False)
    #: None: no HTTP answer at all (refused, timed out, TLS failed) — `error` says which.
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    #: The start of the receiver's answer, for whoever debugs the receiver.
    response_excerpt: Mapped[str] = mapped_column(Text, nullable=False, default="", server_default="")
    worker: Mapped[str] = mapped_column(String(200), nullable=False, default="", server_default="")


class InboundEvent(Base):
    """An order or payment event taken in by a worker's listener, kept so a repeat changes nothing."""

    __tablename__ = "inbound_events"
    __table_args__ = (
        CheckConstraint(f"source IN {INBOUND_SOURCES!r}", name="source_known"),
        UniqueConstraint("source", "event_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    source: Mapped[str] = mapped_column(String(16), nullable=False)
    #: The sender's id of the event (Stripe's `evt_…`, the generic format's `id`).
    event_id: Mapped[str] = mapped_column(String(255), nullable=False)
    type: Mapped[str] = mapped_column(String(64), nullable=False)
    order_id: Mapped[str | None] = mapped_column(String(64), index=True)
    received_at: Mapped[dt.datetime] = created_at_column()


class EmailMessage(Base):
    """An alert e-mail sent (or given up on): what keeps a digest from going out twice."""

    __tablename__ = "email_messages"
    __table_args__ = (
        CheckConstraint(f"status IN {EMAIL_STATUSES!r}", name="status_known"),
        # One message of a kind per subject matter and person (the digest of a day, a report).
        UniqueConstraint("kind", "dedupe_key", "recipient"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    dedupe_key: Mapped[str] = mapped_column(String(200), nullable=False)
    recipient: Mapped[str] = mapped_column(String(254), nullable=False)
    subject: Mapped[str] = mapped_column(String(300), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[dt.datetime] = created_at_column()


class ScheduleMark(Base):
    """The last day a daily task ran (the low-stock digest): one conditional UPDATE claims the
    day, so of all the workers exactly one runs it."""

    __tablename__ = "schedule_marks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_run_on: Mapped[dt.date] = mapped_column(Date, nullable=False)
    updated_at: Mapped[dt.datetime] = updated_at_column()


class WorkerHeartbeat(Base):
    """A running worker (or app runner) says it is alive: what the Integrations page counts."""

    __tablename__ = "worker_heartbeats"

    #: `jobs.runner_name()`: host, pid and what it is.
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    host: Mapped[str] = mapped_column(String(200), nullable=False)
    pid: Mapped[int] = mapped_column(Integer, nullable=False)
    version: Mapped[str] = mapped_column(String(40), nullable=False, default="", server_default="")
    #: The queues it works on, and the address it listens on for webhooks in (if any).
    queues: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    listening: Mapped[str | None] = mapped_column(String(200))
    started_at: Mapped[dt.datetime] = mapped_column(nullable=False)
    seen_at: Mapped[dt.datetime] = mapped_column(nullable=False, server_default=text("now()"))
    jobs_done: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0, server_default="0")
    last_job_at: Mapped[dt.datetime | None]
    #: Set by a clean shutdown, so a stopped worker is not mistaken for a silent one.
    stopped_at: Mapped[dt.datetime | None]


__all__ = [
    "EmailMessage",
    "InboundEvent",
    "ScheduleMark",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
    "WorkerHeartbeat",
]
