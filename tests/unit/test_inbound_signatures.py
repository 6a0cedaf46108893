"""Webhooks in without a database: the signature scheme (checked against HMACs computed here from
the documented scheme, not with the app's `sign`), Stripe's amounts, the shape checks that
answer 400 with a reason, and the listener's rate limiter."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading

import pytest

from ecomdesk.listener import RateLimiter
from ecomdesk.services import inbound
from ecomdesk.services.inbound import MalformedEvent, SignatureRejected, verify_signature

SECRET = "whsec_test_0123456789abcdef"
BODY = b'{"id": "evt_1", "type": "charge.refunded"}'
NOW = 1_790_000_000


def hmac_hex(secret: str, timestamp: int, body: bytes) -> str:
    """The documented scheme: hex HMAC-SHA256 keyed by the secret string over "<t>." + raw body."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def test_a_signature_made_by_the_documented_scheme_is_accepted_and_its_time_returned() -> None:
    header = f"t={NOW},v1={hmac_hex(SECRET, NOW, BODY)}"
    assert verify_signature(SECRET, header, BODY, now=NOW + 10) == NOW


def test_any_of_several_v1_signatures_may_match_and_v0_is_ignored() -> None:
    good = hmac_hex(SECRET, NOW, BODY)
    other = hmac_hex("whsec_old_secret", NOW, BODY)
    header = f"t={NOW},v1={other},v1={good},v0={'0' * 64}"
    assert verify_signature(SECRET, header, BODY, now=NOW) == NOW


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "not signed"),
        ("", "not signed"),
        (f"v1={'a' * 64}", "no timestamp"),
        (f"t={NOW}", "no v1"),
        (f"t=yesterday,v1={'a' * 64}", "not a whole number"),
        # The right digest under Stripe's test-only scheme name is not a v1 signature.
        (f"t={NOW},v0={hmac_hex(SECRET, NOW, BODY)}", "no v1"),
    ],
)
def test_a_missing_or_malformed_header_is_rejected_with_its_reason(header: str | None, reason: str) -> None:
    with pytest.raises(SignatureRejected, match=reason):
        verify_signature(SECRET, header, BODY, now=NOW)


def test_a_changed_body_another_secret_or_another_timestamp_does_not_match() -> None:
    digest = hmac_hex(SECRET, NOW, BODY)
    with pytest.raises(SignatureRejected, match="No signature matches"):
        verify_signature(SECRET, f"t={NOW},v1={digest}", BODY + b" ", now=NOW)
    with pytest.raises(SignatureRejected, match="No signature matches"):
        verify_signature("whsec_other", f"t={NOW},v1={digest}", BODY, now=NOW)
    with pytest.raises(SignatureRejected, match="No signature matches"):
        verify_signature(SECRET, f"t={NOW + 1},v1={digest}", BODY, now=NOW)


def test_a_timestamp_outside_the_tolerance_is_rejected_on_both_sides_of_now() -> None:
    header = f"t={NOW},v1={hmac_hex(SECRET, NOW, BODY)}"
    assert verify_signature(SECRET, header, BODY, now=NOW + 300, tolerance_s=300) == NOW
    with pytest.raises(SignatureRejected, match="301 s from now"):
        verify_signature(SECRET, header, BODY, now=NOW + 301, tolerance_s=300)
    with pytest.raises(SignatureRejected, match="more than the 60 s allowed"):
        verify_signature(SECRET, header, BODY, now=NOW - 61, tolerance_s=60)


@pytest.mark.parametrize(
    ("minor", "currency", "expected"),
    [
        (1999, "USD", "19.99"),
        (5000, "JPY", "5000"),  # zero-decimal: ¥5,000 is sent as 5000
        (0, "EUR", "0.00"),
        (1230, "KWD", "1.23"),  # three-decimal: thousandths, the last digit 0
    ],
)
def test_stripe_amounts_in_minor_units_become_decimal_text(minor: int, currency: str, expected: str) -> None:
    assert inbound.stripe_amount(minor, currency, "amount") == expected


@pytest.mark.parametrize("minor", [-1, 12.5, "100", True, 1234])
def test_a_stripe_amount_that_is_not_a_whole_count_of_minor_units_is_refused(minor: object) -> None:
    # 1234 KWD thousandths is 1.234, which an order's two decimals cannot hold.
    with pytest.raises(MalformedEvent):
        inbound.stripe_amount(minor, "KWD", "amount")


def generic(**changes: object) -> bytes:
    event: dict[str, object] = {
        "id": "e-1",
        "type": "order.paid",
        "created": "2026-11-27T09:00:00Z",
        "data": {
            "order_id": "A-1",
            "customer_id": "C-1",
            "amount": "20.00",
            "currency": "EUR",
            "occurred_at": "2026-11-27T08:59:00Z",
            "channel": "web",
        },
    }
    event.update(changes)
    return json.dumps(event).encode()


def test_a_generic_event_becomes_one_import_row_with_the_status_of_its_type() -> None:
    parsed = inbound.parse_generic(generic(type="order.placed"))
    assert (parsed.source, parsed.event_id, parsed.order_id) == ("generic", "e-1", "A-1")
    assert parsed.rows == (
        {
            "order_id": "A-1",
            "customer_id": "C-1",
            "amount": "20.00",
            "currency": "EUR",
            "occurred_at": "2026-11-27T08:59:00Z",
            "channel": "web",
            "status": "pending",
        },
    )


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not valid JSON: Expecting property name"),
        (b"[1, 2]", "JSON list, not an object"),
        (b"\xff\xfe", "not UTF-8"),
        (generic(id=""), "id is required"),
        (generic(type="order.shipped"), "'order.shipped' is not one of"),
        (generic(data=[]), "data is required"),
        (generic(data={"order_id": "A-1", "channel": "web"}), "data lacks customer_id, amount, currency"),
        (
            generic(
                data={
                    "order_id": "A-1", "customer_id": "C", "amount": 1, "currency": "EUR",
                    "occurred_at": "2026-11-27T08:59:00Z", "channel": "web", "colour": "red",
                }
            ),
            "unknown keys colour",
        ),
    ],
)  # fmt: skip
def test_a_malformed_generic_event_is_refused_with_a_reason_a_developer_can_act_on(
    body: bytes, reason: str
) -> None:
    with pytest.raises(MalformedEvent, match=reason):
        inbound.parse_generic(body)


def test_stripe_types_other_than_checkout_and_refund_are_ignored_not_refused() -> None:
    body = json.dumps({"id": "evt_9", "type": "customer.created", "data": {"object": {}}}).encode()
    parsed = inbound.parse_stripe(body)
    assert parsed.ignored is not None and "customer.created" in parsed.ignored
    assert parsed.rows == ()


# -- the listener's rate limiter -------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_rate_limiter_refuses_past_the_limit_and_says_when_a_slot_frees() -> None:
    clock = Clock()
    limiter = RateLimiter(3, 60, clock=clock)
    for _ in range(3):
        assert limiter.acquire("a") is None
        clock.now += 10
    # Requests at 1000, 1010, 1020; now 1030: the first slot frees at 1060.
    assert limiter.acquire("a") == 30
    assert limiter.acquire("b") is None  # another client has its own budget
    clock.now = 1060
    assert limiter.acquire("a") is None


def test_the_rate_limiter_forgets_silent_clients_and_caps_how_many_it_holds() -> None:
    clock = Clock()
    limiter = RateLimiter(2, 60, max_clients=100, clock=clock)
    for n in range(500):
        limiter.acquire(f"10.0.{n // 256}.{n % 256}")
    assert len(limiter) <= 100
    clock.now += 61
    limiter.acquire("late")
    assert len(limiter) == 1


def test_the_rate_limiter_admits_exactly_the_limit_under_concurrent_requests() -> None:
    limiter = RateLimiter(1000, 60)
    admitted: list[bool] = []
    lock = threading.Lock()

    def hammer() -> None:
        mine = [limiter.acquire("one-client") is None for _ in range(500)]
        with lock:
            admitted.extend(mine)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(admitted) == 1000 and len(admitted) == 2000
