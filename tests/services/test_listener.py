"""Webhooks in over real HTTP: the listener (uvicorn in a thread) on 127.0.0.1, a fresh database,
requests sent with httpx and signed here from the documented scheme (hmac + hashlib, not the app's
own `sign`).

What a sender must be able to rely on: a taken event merges its order once (a repeat changes
nothing), a bad or old signature stores nothing, every refusal says why, and a failure keeps no
trace, so the sender's retry can succeed."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from ecomdesk.db.engine import make_engine
from ecomdesk.db.models import AuditEntry, InboundEvent, OrderEvent
from ecomdesk.listener import ListenerConfig, RunningListener, start_listener
from ecomdesk.services.context import ServiceContext
from ecomdesk.services.registry import Services
from tests.services.conftest import Staff, audit_entries, row_count

GENERIC_SECRET = "generic-secret-for-tests"
STRIPE_SECRET = "whsec_stripe_secret_for_tests"


def signed(secret: str, body: bytes, *, at: int | None = None) -> str:
    t = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def order_event(event_id: str = "evt-1", type_: str = "order.paid", **data: Any) -> bytes:
    fields: dict[str, Any] = {
        "order_id": "W-1",
        "customer_id": "C-1",
        "amount": "42.50",
        "currency": "EUR",
        "occurred_at": "2026-11-20T10:00:00+00:00",
        "channel": "web",
        "lines": [{"sku": "MUG-1", "quantity": 2, "unit_price": "21.25"}],
        "metadata": {"campaign": "winter"},
    }
    fields.update(data)
    return json.dumps(
        {"id": event_id, "type": type_, "created": "2026-11-20T10:00:01Z", "data": fields}
    ).encode()


@pytest.fixture
def listener_config() -> ListenerConfig:
    return ListenerConfig(generic_secret=GENERIC_SECRET, stripe_secret=STRIPE_SECRET)


@pytest.fixture
def listener(services: Services, listener_config: ListenerConfig) -> Iterator[RunningListener]:
    running = start_listener(services, host="127.0.0.1", port=0, config=listener_config)
    yield running
    running.stop()
    assert not running.alive


@pytest.fixture
def client(listener: RunningListener) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=listener.url, timeout=10) as c:
        yield c


def post_generic(client: httpx.Client, body: bytes, *, signature: str | None = None) -> httpx.Response:
    header = signature if signature is not None else signed(GENERIC_SECRET, body)
    return client.post("/webhooks/orders", content=body, headers={"Ecomdesk-Signature": header})


def post_stripe(client: httpx.Client, event: dict[str, Any]) -> httpx.Response:
    body = json.dumps(event).encode()
    return client.post(
        "/webhooks/stripe", content=body, headers={"Stripe-Signature": signed(STRIPE_SECRET, body)}
    )


def stored_orders(engine: Engine) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT order_id, xmin::text AS xmin, customer_id, channel, status, amount, refund_amount,"
                 " paid_date, metadata FROM order_events")
        ).mappings()  # fmt: skip
        return {row["order_id"]: dict(row) for row in rows}


def revenue(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [
            tuple(r) for r in conn.execute(text("SELECT date, channel, revenue, orders FROM sales_metrics"))
        ]


# -- the generic format -----------------------------------------------------------------------------


def test_health_answers_ok_and_the_listener_reports_its_real_port(
    listener: RunningListener, client: httpx.Client
) -> None:
    host, port = listener.address.rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0
    response = client.get("/health")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_a_signed_generic_event_stores_its_order_items_and_metrics_and_audits_the_webhook(
    client: httpx.Client, engine: Engine
) -> None:
    response = post_generic(client, order_event())
    assert (response.status_code, response.json()) == (200, {"received": True, "orders": ["W-1"]})
    order = stored_orders(engine)["W-1"]
    assert (order["status"], order["amount"], order["channel"]) == ("paid", Decimal("42.50"), "web")
    assert order["metadata"] == {"campaign": "winter"}
    # 10:00 UTC on 20 November is the same day in the shop's zone (Europe/Berlin, UTC+1).
    assert revenue(engine) == [(order["paid_date"], "web", Decimal("42.50"), 1)]
    with engine.connect() as conn:
        lines = conn.execute(text("SELECT sku, quantity FROM order_lines")).all()
        taken = conn.execute(text("SELECT source, event_id, type, order_id FROM inbound_events")).all()
    assert [tuple(line) for line in lines] == [("MUG-1", 2)]
    assert [tuple(t) for t in taken] == [("generic", "evt-1", "order.paid", "W-1")]
    [entry] = audit_entries(engine, "orders.imported")
    assert (entry.actor_id, entry.actor_email) == (None, "webhook:generic")


def test_a_repeated_event_answers_duplicate_and_changes_nothing(client: httpx.Client, engine: Engine) -> None:
    assert post_generic(client, order_event()).status_code == 200
    before = (
        stored_orders(engine),
        revenue(engine),
        row_count(engine, AuditEntry),
        row_count(engine, InboundEvent),
    )
    again = post_generic(client, order_event())
    assert (again.status_code, again.json()) == (200, {"received": True, "duplicate": True})
    # xmin is in stored_orders: an UPDATE that wrote the same values would still change it.
    after = (
        stored_orders(engine),
        revenue(engine),
        row_count(engine, AuditEntry),
        row_count(engine, InboundEvent),
    )
    assert after == before


def test_events_of_one_order_move_it_forward_in_any_order(client: httpx.Client, engine: Engine) -> None:
    refund = order_event("evt-r", "order.refunded", amount="10.00", occurred_at="2026-11-21T09:00:00Z")
    refund = json.dumps({**json.loads(refund), "data": {
        k: v for k, v in json.loads(refund)["data"].items() if k != "lines"}}).encode()  # fmt: skip
    assert post_generic(client, refund).status_code == 200
    assert post_generic(client, order_event("evt-p")).status_code == 200
    order = stored_orders(engine)["W-1"]
    assert (order["status"], order["amount"], order["refund_amount"]) == (
        "refunded",
        Decimal("42.50"),
        Decimal("10.00"),
    )


def test_a_bad_signature_is_401_and_stores_nothing(client: httpx.Client, engine: Engine) -> None:
    body = order_event()
    for header in (signed("not-the-secret", body), "", signed(GENERIC_SECRET, body + b" ")):
        response = post_generic(client, body, signature=header)
        assert response.status_code == 401, header
        assert response.json()["error"]
    assert row_count(engine, InboundEvent) == 0 and row_count(engine, OrderEvent) == 0


def test_a_replayed_request_with_an_old_timestamp_is_401(client: httpx.Client, engine: Engine) -> None:
    body = order_event()
    old = signed(GENERIC_SECRET, body, at=int(time.time()) - 301)  # the default tolerance is 300 s
    response = post_generic(client, body, signature=old)
    assert response.status_code == 401 and "from now" in response.json()["error"]
    assert row_count(engine, InboundEvent) == 0


def test_an_oversized_body_is_413_whether_declared_or_streamed(services: Services, engine: Engine) -> None:
    config = ListenerConfig(generic_secret=GENERIC_SECRET, max_body=1024)
    running = start_listener(services, config=config)
    try:
        big = order_event(metadata={"note": "x" * 2000})
        with httpx.Client(base_url=running.url, timeout=10) as c:
            declared = post_generic(c, big)
            # A chunked body has no Content-Length: refused while it is read.
            streamed = c.post(
                "/webhooks/orders",
                content=iter([big[:600], big[600:]]),
                headers={"Ecomdesk-Signature": signed(GENERIC_SECRET, big)},
            )
            fits = post_generic(c, order_event())
    finally:
        running.stop()
    assert "content-length" not in streamed.request.headers
    assert (declared.status_code, streamed.status_code, fits.status_code) == (413, 413, 200)
    assert "larger than 1,024 bytes" in declared.json()["error"]
    assert row_count(engine, InboundEvent) == 1


def test_malformed_json_is_400_with_the_parser_s_reason(client: httpx.Client) -> None:
    response = post_generic(client, b'{"id": "evt-1", ')
    assert response.status_code == 400
    assert response.json()["error"].startswith("The body is not valid JSON: Expecting property name")


def test_a_missing_or_invalid_field_is_400_naming_it(client: httpx.Client, engine: Engine) -> None:
    body = json.loads(order_event())
    del body["data"]["customer_id"]
    missing = post_generic(client, json.dumps(body).encode())
    assert missing.status_code == 400 and "data lacks customer_id" in missing.json()["error"]
    # A value the import's rules refuse: its message, named by the field.
    bad_time = post_generic(client, order_event(occurred_at="yesterday"))
    assert bad_time.status_code == 400 and bad_time.json()["error"].startswith(
        "data.occurred_at: Use an ISO 8601"
    )
    assert row_count(engine, InboundEvent) == 0


def test_a_failing_ingestion_keeps_no_record_so_the_sender_s_retry_succeeds(
    client: httpx.Client, engine: Engine
) -> None:
    assert post_generic(client, order_event("evt-1")).status_code == 200
    # Refunding more than was paid passes the shape check and fails in the merge, after the event
    # was recorded: the record must go with the rest.
    too_much = order_event("evt-2", "order.refunded", amount="99.00", lines=[])
    response = post_generic(client, too_much)
    assert response.status_code == 400 and "more than the 42.50 paid" in response.json()["error"]
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM inbound_events WHERE event_id = 'evt-2'")) == 0
    fixed = order_event("evt-2", "order.refunded", amount="9.00", lines=[])
    assert post_generic(client, fixed).status_code == 200
    assert stored_orders(engine)["W-1"]["refund_amount"] == Decimal("9.00")


def test_the_sixth_request_within_the_window_is_429_with_retry_after(services: Services) -> None:
    config = ListenerConfig(generic_secret=GENERIC_SECRET, rate_limit=5, rate_window_s=60)
    running = start_listener(services, config=config)
    try:
        with httpx.Client(base_url=running.url, timeout=10) as c:
            # Refused requests count too: a flood of bad signatures is limited like good events.
            statuses = [
                post_generic(c, order_event(f"evt-{n}"), signature="t=1,v1=00").status_code for n in range(5)
            ]
            limited = post_generic(c, order_event("evt-6"))
            health = c.get("/health")
    finally:
        running.stop()
    assert statuses == [401] * 5
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert health.status_code == 200  # not a webhook route: not counted


def test_a_route_without_a_secret_is_503_and_never_accepts_unsigned_events(
    services: Services, engine: Engine
) -> None:
    running = start_listener(services, config=ListenerConfig(generic_secret=GENERIC_SECRET))
    try:
        with httpx.Client(base_url=running.url, timeout=10) as c:
            response = c.post("/webhooks/stripe", content=b"{}")
    finally:
        running.stop()
    assert response.status_code == 503 and "no secret for stripe" in response.json()["error"]


def test_an_unreachable_database_is_503_with_retry_after() -> None:
    # Nothing listens on port 1: every connection is refused at once.
    engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/none")
    running = start_listener(ServiceContext(engine), config=ListenerConfig(generic_secret=GENERIC_SECRET))
    try:
        with httpx.Client(base_url=running.url, timeout=30) as c:
            response = post_generic(c, order_event())
    finally:
        running.stop()
        engine.dispose()
    assert response.status_code == 503 and int(response.headers["Retry-After"]) > 0


# -- Stripe ----------------------------------------------------------------------------------------


def checkout(
    event_id: str = "evt_checkout_1",
    *,
    amount_total: int = 4999,
    currency: str = "eur",
    payment_status: str = "paid",
    **session: Any,
) -> dict[str, Any]:
    obj = {
        "id": "cs_test_a1",
        "object": "checkout.session",
        "amount_total": amount_total,
        "currency": currency,
        "customer": None,
        "customer_details": {"email": "Buyer@Example.com"},
        "client_reference_id": None,
        "metadata": {"order_id": "S-100", "campaign": "black-friday"},
        "payment_intent": "pi_3AbC",
        "payment_status": payment_status,
        "created": 1_795_000_000,
    }
    obj.update(session)
    return {"id": event_id, "object": "event", "type": "checkout.session.completed", "created": 1_795_000_100,
            "data": {"object": obj}}  # fmt: skip


def charge_refunded(
    event_id: str = "evt_refund_1", *, amount_refunded: int = 1500, **charge: Any
) -> dict[str, Any]:
    obj = {
        "id": "ch_3AbC",
        "object": "charge",
        "amount": 4999,
        "amount_refunded": amount_refunded,
        "currency": "eur",
        "payment_intent": "pi_3AbC",
        "metadata": {},
        "created": 1_795_000_050,
    }
    obj.update(charge)
    return {"id": event_id, "object": "event", "type": "charge.refunded", "created": 1_795_086_400,
            "data": {"object": obj}}  # fmt: skip


def test_a_paid_checkout_becomes_a_paid_order_and_its_refunded_charge_refunds_it(
    client: httpx.Client, engine: Engine
) -> None:
    paid = post_stripe(client, checkout())
    assert (paid.status_code, paid.json()) == (200, {"received": True, "orders": ["S-100"]})
    order = stored_orders(engine)["S-100"]
    assert (order["status"], order["amount"], order["channel"]) == ("paid", Decimal("49.99"), "stripe")
    assert order["customer_id"] == "buyer@example.com"
    assert order["metadata"] == {
        "campaign": "black-friday", "stripe_session": "cs_test_a1", "stripe_payment_intent": "pi_3AbC"
    }  # fmt: skip
    # The charge names no order: it is found by the payment intent the checkout stored.
    refunded = post_stripe(client, charge_refunded())
    assert (refunded.status_code, refunded.json()["orders"]) == (200, ["S-100"])
    order = stored_orders(engine)["S-100"]
    assert (order["status"], order["refund_amount"]) == ("refunded", Decimal("15.00"))
    assert order["metadata"]["stripe_charge"] == "ch_3AbC"
    assert [e.actor_email for e in audit_entries(engine, "orders.imported")] == ["webhook:stripe"] * 2


def test_a_zero_decimal_currency_checkout_is_stored_in_whole_units(
    services: Services, staff: Staff, client: httpx.Client, engine: Engine
) -> None:
    services.settings.update_system_settings(staff.admin, {"currency": "JPY"})
    response = post_stripe(client, checkout(amount_total=5000, currency="jpy", client_reference_id="J-7"))
    assert response.status_code == 200, response.text
    order = stored_orders(engine)["J-7"]
    assert (order["amount"], order["status"]) == (Decimal("5000.00"), "paid")


def test_an_unpaid_checkout_is_a_pending_order_named_by_its_session_without_other_ids(
    client: httpx.Client, engine: Engine
) -> None:
    response = post_stripe(client, checkout(payment_status="unpaid", metadata={}))
    assert response.status_code == 200
    assert stored_orders(engine)["cs_test_a1"]["status"] == "pending"


def test_a_refund_of_an_unknown_order_and_an_unknown_type_are_acknowledged_and_ignored(
    client: httpx.Client, engine: Engine
) -> None:
    orphan = post_stripe(client, charge_refunded(payment_intent="pi_nobody"))
    other = post_stripe(client, {"id": "evt_x", "type": "invoice.paid", "data": {"object": {"id": "in_1"}}})
    assert orphan.status_code == 200 and "pi_nobody" in orphan.json()["ignored"]
    assert other.status_code == 200 and "invoice.paid" in other.json()["ignored"]
    assert row_count(engine, OrderEvent) == 0 and row_count(engine, InboundEvent) == 0


def test_a_stripe_event_signed_with_the_generic_secret_is_401(client: httpx.Client, engine: Engine) -> None:
    body = json.dumps(checkout()).encode()
    response = client.post(
        "/webhooks/stripe", content=body, headers={"Stripe-Signature": signed(GENERIC_SECRET, body)}
    )
    assert response.status_code == 401 and row_count(engine, OrderEvent) == 0
