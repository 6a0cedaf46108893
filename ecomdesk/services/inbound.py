"""Webhooks in: order and payment events from other systems, checked and fed to the same idempotent
order merge as the CSV import (`services.orders.ingest`).

Two formats arrive, both signed the same way (Stripe's scheme, which webhooks out use too):
`t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>`, several `v1` allowed (a secret
being rolled), the time within a tolerance so a captured request cannot be replayed later.

- The generic format: `{"id", "type": "order.placed|paid|refunded|cancelled", "created", "data":
  {order_id, customer_id, amount, currency, occurred_at, channel, lines, metadata}}`.
- Stripe's `checkout.session.completed` (a paid or pending order) and `charge.refunded` (the refund
  of the order the charge paid for); every other Stripe type is acknowledged and ignored, as Stripe
  retries anything but a 2xx for days.

Idempotence: one write unit records the event (`inbound_events`, unique by source and event id)
and merges the order. A repeat finds the record and changes nothing; a failure rolls back the
record with the order, so the sender's retry can succeed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import text

from ecomdesk.services import orders
from ecomdesk.services.context import ServiceContext, UnitOfWork
from ecomdesk.services.errors import ServiceError, ValidationError

log = logging.getLogger(__name__)

GENERIC: Final = "generic"
STRIPE: Final = "stripe"
#: Seconds a signature's time may be away from now (Stripe's libraries default to 300 too).
DEFAULT_TOLERANCE_S: Final = 300
#: The generic format's event types and the import's statuses they are.
GENERIC_TYPES: Final[dict[str, str]] = {
    "order.placed": orders.PENDING,
    "order.paid": orders.PAID,
    "order.refunded": orders.REFUNDED,
    "order.cancelled": orders.CANCELLED,
}
_GENERIC_REQUIRED: Final = ("order_id", "customer_id", "amount", "currency", "occurred_at", "channel")
_GENERIC_OPTIONAL: Final = ("lines", "metadata")
#: The channel of orders that come from Stripe Checkout.
STRIPE_CHANNEL: Final = "stripe"
CHECKOUT_COMPLETED: Final = "checkout.session.completed"
CHARGE_REFUNDED: Final = "charge.refunded"
#: Currencies whose Stripe amounts are whole units, not hundredths (Stripe's list of zero-decimal
#: currencies), and those given in thousandths.
ZERO_DECIMAL: Final = frozenset(
    ("BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF",
     "XOF", "XPF")
)  # fmt: skip
THREE_DECIMAL: Final = frozenset(("BHD", "JOD", "KWD", "OMR", "TND"))
MAX_EVENT_ID: Final = 255

_RECORD_SQL: Final = text(
    """
    INSERT INTO inbound_events (source, event_id, type, order_id, received_at)
    VALUES (:source, :event_id, :type, :order_id, :now)
    ON CONFLICT (source, event_id) DO NOTHING
    RETURNING id
    """
)
_ORDER_SQL: Final = text(
    "SELECT order_id, customer_id, channel, status, refund_amount FROM order_events WHERE order_id = :id"
)
#: Orders paid by Stripe Checkout keep the payment intent in their metadata (no index: refunds are
#: rare, and a refund's charge usually names the order in its own metadata first).
_ORDER_BY_INTENT_SQL: Final = text(
    "SELECT order_id, customer_id, channel, status, refund_amount FROM order_events"
    " WHERE metadata ->> 'stripe_payment_intent' = :intent ORDER BY id LIMIT 1"
)


# -- errors ---------------------------------------------------------------------------------------


class SignatureRejected(ServiceError):
    """The request is not proven to come from the holder of the secret (or is too old): 401."""


class MalformedEvent(ValidationError):
    """The body cannot be taken as an event; the message says what a developer should fix: 400."""

    def __init__(self, message: str, field_name: str = "body") -> None:
        super().__init__({field_name: message}, message)


# -- signatures -----------------------------------------------------------------------------------


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of `"<timestamp>." + body` with `secret` (its UTF-8 bytes: for Stripe
    the whole `whsec_…` string is the key)."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def parse_signature_header(header: str) -> tuple[int, list[str]]:
    """`t=…,v1=…[,v1=…][,v0=…]` → (t, every v1). Other schemes (Stripe's test-only v0) are skipped."""
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise SignatureRejected("The signature's timestamp t is not a whole number.") from None
        elif key == "v1":
            signatures.append(value.strip())
    if timestamp is None:
        raise SignatureRejected("The signature header has no timestamp (t=…).")
    if not signatures:
        raise SignatureRejected("The signature header has no v1 signature.")
    return timestamp, signatures


def verify_signature(
    secret: str,
    header: str | None,
    body: bytes,
    *,
    now: float,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> int:
    """Check a signature header against the raw body; returns its timestamp. Raises
    `SignatureRejected` when the header is missing or malformed, no v1 matches, or its time is
    more than `tolerance_s` from `now` (a replay, or a clock far off)."""
    if not header:
        raise SignatureRejected("The request is not signed (no signature header).")
    timestamp, signatures = parse_signature_header(header)
    expected = sign(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise SignatureRejected("No signature matches the body and the secret.")
    if abs(now - timestamp) > tolerance_s:
        raise SignatureRejected(
            f"The signature's time is {abs(now - timestamp):.0f} s from now, more than the "
            f"{tolerance_s:.0f} s allowed: an old request replayed, or a clock that is wrong."
        )
    return timestamp


# -- what came in ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefundOf:
    """A Stripe refund that names its order only through the payment: found when it is taken."""

    order_id: str | None
    payment_intent: str | None
    amount: str
    currency: str
    occurred_at: str
    meta: dict[str, Any]


@dataclass(frozen=True)
class Incoming:
    """One verified, parsed event: the import rows it comes to (or the refund to resolve first),
    or why it is acknowledged and left alone."""

    source: str
    event_id: str
    type: str
    order_id: str | None = None
    #: Rows as a JSON Lines order file holds them (`services.orders`' columns).
    rows: tuple[dict[str, Any], ...] = ()
    refund: RefundOf | None = None
    #: Why nothing is taken (an event type this shop does not use).
    ignored: str | None = None


@dataclass(frozen=True)
class Taken:
    """What taking an event did: the orders it merged, or that it was a repeat or ignored."""

    event_id: str
    duplicate: bool = False
    orders: tuple[str, ...] = ()
    ignored: str | None = None
    created: int = 0
    updated: int = 0
    unchanged: int = 0


def _json_object(body: bytes) -> dict[str, Any]:
    try:  # decoded here: `json.loads` of bytes would take UTF-16 and UTF-32 too
        value = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise MalformedEvent("The body is not UTF-8 text.") from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise MalformedEvent(f"The body is not valid JSON: {exc.msg} at {where}.") from None
    if not isinstance(value, dict):
        raise MalformedEvent(f"The body is a JSON {type(value).__name__}, not an object.")
    return value


def _text(value: Any, name: str, *, limit: int = MAX_EVENT_ID) -> str:
    if not isinstance(value, str) or not value.strip():
        raise MalformedEvent(f"{name} is required: a non-empty string.", name)
    if len(value) > limit:
        raise MalformedEvent(f"{name} is longer than {limit} characters.", name)
    return value.strip()


def parse_generic(body: bytes) -> Incoming:
    """The generic signed JSON format as one import row; shape errors raise `MalformedEvent`
    (the values themselves are checked by the import's rules when the event is taken)."""
    event = _json_object(body)
    event_id = _text(event.get("id"), "id")
    type_ = _text(event.get("type"), "type", limit=64)
    if type_ not in GENERIC_TYPES:
        raise MalformedEvent(f"type {type_!r} is not one of {', '.join(GENERIC_TYPES)}.", "type")
    data = event.get("data")
    if not isinstance(data, dict):
        raise MalformedEvent("data is required: an object with the order's fields.", "data")
    missing = [key for key in _GENERIC_REQUIRED if data.get(key) in (None, "")]
    if missing:
        raise MalformedEvent(
            f"data lacks {', '.join(missing)} (required: {', '.join(_GENERIC_REQUIRED)}).", "data"
        )
    unknown = sorted(set(data) - set(_GENERIC_REQUIRED) - set(_GENERIC_OPTIONAL))
    if unknown:
        raise MalformedEvent(
            f"data has unknown keys {', '.join(unknown)} (allowed: "
            f"{', '.join(_GENERIC_REQUIRED + _GENERIC_OPTIONAL)}).",
            "data",
        )
    row: dict[str, Any] = {key: data[key] for key in _GENERIC_REQUIRED}
    row["status"] = GENERIC_TYPES[type_]
    for key in _GENERIC_OPTIONAL:
        if data.get(key) is not None:
            row[key] = data[key]
    order_id = data["order_id"] if isinstance(data["order_id"], str) else str(data["order_id"])
    return Incoming(GENERIC, event_id, type_, order_id[: orders.MAX_ID], rows=(row,))


def stripe_amount(minor: Any, currency: str, name: str) -> str:
    """Stripe's integer amount in the currency's smallest unit as a decimal text: 1999 USD →
    "19.99", 5000 JPY → "5000" (zero-decimal), 1230 KWD → "1.23" (thousandths)."""
    if type(minor) is not int or minor < 0:
        raise MalformedEvent(f"{name} must be a whole number of the currency's smallest unit.", name)
    places = 0 if currency in ZERO_DECIMAL else 3 if currency in THREE_DECIMAL else 2
    value = Decimal(minor).scaleb(-places)
    if value != value.quantize(Decimal("0.01")):
        raise MalformedEvent(f"{name} {minor} {currency} has more than two decimals.", name)
    return f"{value.quantize(Decimal('0.01')) if places else value}"


def _stripe_moment(value: Any, name: str) -> str:
    if type(value) is not int:
        raise MalformedEvent(f"{name} must be a Unix time in seconds.", name)
    return dt.datetime.fromtimestamp(value, dt.UTC).isoformat()


def _metadata(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def parse_stripe(body: bytes) -> Incoming:
    """A Stripe event: a checkout becomes a paid (or pending) order, a refunded charge the refund
    of its order (resolved when taken); other types are ignored."""
    event = _json_object(body)
    event_id = _text(event.get("id"), "id")
    type_ = _text(event.get("type"), "type", limit=64)
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if type_ not in (CHECKOUT_COMPLETED, CHARGE_REFUNDED):
        return Incoming(STRIPE, event_id, type_, ignored=f"Stripe event type {type_} is not used")
    if not isinstance(obj, dict):
        raise MalformedEvent("data.object is required: the checkout session or charge.", "data.object")
    currency = _text(obj.get("currency"), "data.object.currency", limit=3).upper()
    meta = _metadata(obj.get("metadata"))
    intent = obj.get("payment_intent") if isinstance(obj.get("payment_intent"), str) else None
    created = event.get("created", obj.get("created"))
    if type_ == CHARGE_REFUNDED:
        refund = RefundOf(
            meta.get("order_id") if isinstance(meta.get("order_id"), str) else None,
            intent,
            stripe_amount(obj.get("amount_refunded"), currency, "data.object.amount_refunded"),
            currency,
            _stripe_moment(created, "created"),
            {"stripe_charge": obj["id"]} if isinstance(obj.get("id"), str) else {},
        )
        return Incoming(STRIPE, event_id, type_, refund.order_id, refund=refund)
    session_id = _text(obj.get("id"), "data.object.id")
    order_id = obj.get("client_reference_id") or meta.get("order_id") or session_id
    if not isinstance(order_id, str):
        raise MalformedEvent("client_reference_id / metadata.order_id must be a string.", "data.object")
    details = obj.get("customer_details")
    email = details.get("email") if isinstance(details, dict) else None
    customer = obj.get("customer") or email or obj.get("customer_email")
    if not isinstance(customer, str) or not customer:
        raise MalformedEvent(
            "The checkout session names no customer (customer, customer_details.email or customer_email).",
            "data.object.customer",
        )
    paid = obj.get("payment_status") == "paid"
    order_meta = {k: v for k, v in meta.items() if k != "order_id"}
    order_meta["stripe_session"] = session_id
    if intent:
        order_meta["stripe_payment_intent"] = intent
    row = {
        "order_id": order_id,
        "customer_id": customer.lower() if "@" in customer else customer,
        "channel": STRIPE_CHANNEL,
        "amount": stripe_amount(obj.get("amount_total"), currency, "data.object.amount_total"),
        "currency": currency,
        "status": orders.PAID if paid else orders.PENDING,
        "occurred_at": _stripe_moment(created, "created"),
        "metadata": order_meta,
    }
    return Incoming(STRIPE, event_id, type_, order_id[: orders.MAX_ID], rows=(row,))


# -- taking an event ------------------------------------------------------------------------------


class InboundService:
    """Takes verified events: records each once and merges its orders, in one system unit of work
    (no person acts; the audit trail names "webhook:<source>")."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def take(self, event: Incoming) -> Taken:
        """Record and merge `event` once. A repeat changes nothing (`duplicate`); an event that
        names no known order or an unused type is `ignored`; rows the import refuses raise
        `MalformedEvent` and nothing is kept (the record included)."""
        if event.ignored:
            log.info("inbound %s event %s ignored: %s", event.source, event.event_id, event.ignored)
            return Taken(event.event_id, ignored=event.ignored)
        with self.ctx.write(None, None) as uow:
            rows = event.rows
            if event.refund is not None:
                resolved = self._refund_rows(uow, event.refund)
                if isinstance(resolved, str):
                    log.warning("inbound %s event %s ignored: %s", event.source, event.event_id, resolved)
                    return Taken(event.event_id, ignored=resolved)
                rows = resolved
            order_id = str(rows[0]["order_id"])[: orders.MAX_ID] if rows else event.order_id
            params = {
                "source": event.source,
                "event_id": event.event_id,
                "type": event.type[:64],
                "order_id": order_id,
                "now": uow.now,
            }
            if uow.session.execute(_RECORD_SQL, params).first() is None:
                return Taken(event.event_id, duplicate=True)
            try:  # (`ingest` waits for any other order commit: see `orders.MERGE_LOCK_SQL`)
                result = orders.ingest(uow, rows, source=event.source)
            except orders.OrdersRejected as exc:
                problems = [
                    f"{_field(event.source, p.column)}: {p.message}" if p.column else p.message
                    for p in exc.result.problems
                ]
                raise MalformedEvent(" ".join(problems), "data") from exc
        return Taken(
            event.event_id,
            orders=tuple(dict.fromkeys(str(row["order_id"]) for row in rows)),
            created=result.created,
            updated=result.updated,
            unchanged=result.unchanged,
        )

    @staticmethod
    def _refund_rows(uow: UnitOfWork, refund: RefundOf) -> tuple[dict[str, Any], ...] | str:
        """The refund as an import row for the stored order it belongs to, or why it is ignored."""
        found = None
        if refund.order_id:
            found = uow.session.execute(_ORDER_SQL, {"id": refund.order_id}).first()
        if found is None and refund.payment_intent:
            found = uow.session.execute(_ORDER_BY_INTENT_SQL, {"intent": refund.payment_intent}).first()
        if found is None:
            return (
                f"no order has metadata.order_id {refund.order_id!r} or payment intent "
                f"{refund.payment_intent!r}"
            )
        order_id, customer_id, channel, status, refund_amount = found
        if status == orders.REFUNDED and refund_amount != Decimal(refund.amount):
            # Stripe sends the charge's total refunded so far; an order holds one refund.
            return (
                f"order {order_id} is refunded {refund_amount} already; a further refund (now "
                f"{refund.amount} in all) is not recorded"
            )
        row = {
            "order_id": order_id,
            "customer_id": customer_id,
            "channel": channel,
            "amount": refund.amount,
            "currency": refund.currency,
            "status": orders.REFUNDED,
            "occurred_at": refund.occurred_at,
            "metadata": refund.meta or None,
        }
        return ({k: v for k, v in row.items() if v is not None},)


def _field(source: str, column: str) -> str:
    return f"data.{column}" if source == GENERIC else column


def parse(source: str, body: bytes) -> Incoming:
    """The parser of a source."""
    return PARSERS[source](body)


PARSERS: Final[Mapping[str, Callable[[bytes], Incoming]]] = {GENERIC: parse_generic, STRIPE: parse_stripe}
