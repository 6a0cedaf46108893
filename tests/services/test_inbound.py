"""Taking inbound events without HTTP: the record that makes a repeat change nothing holds under
concurrency, a taken event tells webhooks out (`order.ingested`), and Stripe refunds the merge
cannot hold are acknowledged, not refused forever."""

from __future__ import annotations

import json
import threading
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, text

from ecomdesk.db.models import InboundEvent
from ecomdesk.services import inbound
from ecomdesk.services.inbound import InboundService, Taken
from ecomdesk.services.registry import Services
from tests.services.conftest import row_count


def paid_event(event_id: str = "evt-1", order_id: str = "W-1") -> inbound.Incoming:
    body = {
        "id": event_id,
        "type": "order.paid",
        "data": {
            "order_id": order_id, "customer_id": "C-1", "amount": "30.00", "currency": "EUR",
            "occurred_at": "2026-11-20T10:00:00Z", "channel": "web",
        },
    }  # fmt: skip
    return inbound.parse_generic(json.dumps(body).encode())


def test_the_same_event_taken_by_two_threads_at_once_is_merged_once(
    services: Services, engine: Engine
) -> None:
    service = InboundService(services.ctx)
    event = paid_event()
    start = threading.Barrier(2)
    results: list[Taken] = []

    def take() -> None:
        start.wait()
        results.append(service.take(event))

    threads = [threading.Thread(target=take) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(r.duplicate for r in results) == [False, True]
    assert row_count(engine, InboundEvent) == 1
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM audit_log WHERE action = 'orders.imported'")) == 1


def test_a_taken_event_emits_order_ingested_naming_the_webhook(services: Services, engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO webhook_endpoints (url, events, secret) "
                "VALUES ('http://127.0.0.1:9/hook', '[\"order.ingested\"]', 's')"
            )
        )
    InboundService(services.ctx).take(paid_event())
    with engine.connect() as conn:
        data: list[dict[str, Any]] = list(
            conn.scalars(text("SELECT data FROM webhook_events WHERE type = 'order.ingested'"))
        )
    assert [(d["order_id"], d["status"], d["source"]) for d in data] == [("W-1", "paid", "webhook:generic")]


def stripe_refund(event_id: str, amount_refunded: int) -> inbound.Incoming:
    body = {
        "id": event_id, "type": "charge.refunded", "created": 1_795_086_400,
        "data": {"object": {"id": "ch_1", "amount_refunded": amount_refunded, "currency": "eur",
                            "payment_intent": "pi_1", "metadata": {"order_id": "W-1"}}},
    }  # fmt: skip
    return inbound.parse_stripe(json.dumps(body).encode())


def test_a_second_partial_stripe_refund_is_acknowledged_and_left_out(
    services: Services, engine: Engine
) -> None:
    # Stripe sends the charge's refunded total each time; an order holds one refund.
    service = InboundService(services.ctx)
    service.take(paid_event())
    first = service.take(stripe_refund("evt_r1", 1000))
    second = service.take(stripe_refund("evt_r2", 1500))
    assert first.orders == ("W-1",) and first.ignored is None
    assert second.ignored is not None and "refunded 10.00 already" in second.ignored
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT refund_amount FROM order_events")) == Decimal("10.00")
    # The first refund again (Stripe's retry of a delivery it thinks failed): a duplicate.
    assert service.take(stripe_refund("evt_r1", 1000)).duplicate
