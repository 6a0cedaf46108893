"""The shop's events for webhooks out, written to the outbox inside the transaction of the change
that caused them: a change that rolls back sends nothing, and one that commits is delivered even
if the app that made it closes the next moment.

`emit` (and `emit_many`, for an import's thousands of rows) is one statement: when at least one
active endpoint subscribes to the type, it writes the event, a delivery per subscribed endpoint,
and a `webhook` job per delivery, which the jobs trigger announces to listening workers on commit.
With no subscriber it writes nothing at all, so a shop without webhooks pays one indexed probe.

PostgreSQL only (JSONB operators); a snapshot is read-only and never emits.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Final

from sqlalchemy import Connection, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.types import String

#: Every event type an endpoint may subscribe to, with what it means (the Integrations page and
#: `ecomdesk webhook add --event` list them).
EVENT_TYPES: Final[dict[str, str]] = {
    "inventory.low_stock": "An item's available stock fell to its reorder level or below",
    "inventory.item.changed": "An item was created, edited, archived or deleted, or its stock changed",
    "report.completed": "A report finished and can be downloaded",
    "report.failed": "A report could not be generated",
    "user.created": "A staff account was created",
    "order.ingested": "An order or payment event came in and changed an order",
}
#: Subscribes to every type, including those added by later versions.
ALL_EVENTS: Final = "*"
#: Sent only by "Send test event", to the one endpoint chosen.
TEST_EVENT: Final = "ecomdesk.test"
#: The job queue of deliveries.
QUEUE: Final = "webhook"

_EMIT_SQL: Final = text(
    """
    WITH subscribers AS (
        SELECT id FROM webhook_endpoints
        WHERE (CAST(:endpoint AS bigint) IS NULL AND active AND (events ? :type OR events ? '*'))
           OR id = CAST(:endpoint AS bigint)
    ), stored AS (
        INSERT INTO webhook_events (event_id, type, occurred_at, data)
        SELECT coalesce(item ->> 'event_id', gen_random_uuid()::text), :type, :at, item -> 'data'
        FROM jsonb_array_elements(CAST(:items AS jsonb)) AS item
        WHERE EXISTS (SELECT 1 FROM subscribers)
        RETURNING id
    ), deliveries AS (
        INSERT INTO webhook_deliveries (event_id, endpoint_id, next_attempt_at)
        SELECT stored.id, subscribers.id, now() FROM stored CROSS JOIN subscribers
        RETURNING id
    )
    INSERT INTO jobs (queue, payload)
    SELECT :queue, jsonb_build_object('delivery_id', id) FROM deliveries ORDER BY id
    """
)


#: Which of the given types at least one active endpoint hears: the one probe a unit of work
#: makes before it builds any payload (a tiny table, read in well under a millisecond).
_SUBSCRIBED_SQL: Final = text(
    """
    SELECT t FROM unnest(:types) AS t
    WHERE EXISTS (SELECT 1 FROM webhook_endpoints WHERE active AND (events ? t OR events ? '*'))
    """
).bindparams(bindparam("types", type_=ARRAY(String)))


def subscribed(session: Session | Connection, *types: str) -> frozenset[str]:
    """The `types` that some active endpoint subscribes to, in one query: a change asks this
    first and skips building payloads nobody will receive (an import of a million rows then pays
    one probe, not a million dictionaries)."""
    if not types:
        return frozenset()
    return frozenset(session.execute(_SUBSCRIBED_SQL, {"types": list(types)}).scalars())


def has_subscribers(session: Session | Connection, type_: str) -> bool:
    """Whether any active endpoint hears `type_` now (in the caller's transaction)."""
    return type_ in subscribed(session, type_)


def _at(session: Session | Connection, at: dt.datetime | None) -> dt.datetime:
    return at if at is not None else dt.datetime.now(dt.UTC)


def emit(
    session: Session | Connection,
    type_: str,
    data: Mapping[str, Any],
    *,
    at: dt.datetime | None = None,
    endpoint_id: int | None = None,
) -> str:
    """Queue one event for every active endpoint subscribed to `type_` (or only for `endpoint_id`,
    whatever it subscribes to: a test event), in the caller's transaction. Returns the event id
    receivers will see (nothing is stored when nobody subscribes)."""
    event_id = str(uuid.uuid4())
    _emit(session, type_, [{"event_id": event_id, "data": dict(data)}], at, endpoint_id)
    return event_id


def emit_many(
    session: Session | Connection,
    type_: str,
    items: Sequence[Mapping[str, Any]],
    *,
    at: dt.datetime | None = None,
) -> None:
    """`emit` for many events of one type in one statement (an import's rows)."""
    if items:
        _emit(session, type_, [{"data": dict(item)} for item in items], at, None)


def _emit(
    session: Session | Connection,
    type_: str,
    items: list[dict[str, Any]],
    at: dt.datetime | None,
    endpoint_id: int | None,
) -> None:
    if type_ not in EVENT_TYPES and type_ != TEST_EVENT:
        raise ValueError(f"unknown event type {type_!r}")
    params = {
        "type": type_,
        "at": _at(session, at),
        "items": json.dumps(items, default=_json_default),
        "endpoint": endpoint_id,
        "queue": QUEUE,
    }
    session.execute(_EMIT_SQL, params)


def _json_default(value: object) -> object:
    """Dates, times and money in an event's data as JSON: ISO text and decimal strings."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)
