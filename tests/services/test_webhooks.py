"""Webhooks out, the admin's side: endpoints (validation with every problem at once, the secret
shown once, audited changes), the outbox written in the change's own transaction, "send test
event" for one endpoint, the delivery log as a table, and who may do any of it."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine, func, select

from ecomdesk.db.models import AuditEntry, Job, WebhookDelivery, WebhookEndpoint, WebhookEvent
from ecomdesk.services import events
from ecomdesk.services.errors import Conflict, NotFound, PermissionDenied, ValidationError
from ecomdesk.services.listing import ListQuery
from ecomdesk.services.registry import Services
from ecomdesk.services.webhook_delivery import WebhookDeliverer
from ecomdesk.services.webhooks import EndpointDraft, WebhookService
from tests.services.conftest import Staff, audit_entries, row_count
from tests.services.webhook_receiver import Receiver, running_receiver

SECRET = "whsec_a-secret-both-sides-know"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver(SECRET) as running:
        yield running


def _local(url: str, *types: str, active: bool = True) -> EndpointDraft:
    return EndpointDraft(url, types or ("inventory.low_stock",), active=active, allow_private=True)


def _emit(services: Services, type_: str = "inventory.low_stock") -> str:
    with services.ctx.write(None, None) as uow:
        return events.emit(uow.session, type_, {"sku": "KITE-1"}, at=uow.now)


def test_a_new_endpoint_gets_a_generated_secret_shown_only_in_the_result(
    services: Services, staff: Staff, engine: Engine
) -> None:
    created = services.webhooks.add_endpoint(
        staff.admin, _local("http://127.0.0.1:8080/in", "inventory.low_stock", "user.created")
    )

    assert created.secret.startswith("whsec_") and len(created.secret) >= 40
    assert created.secret not in repr(created)
    listed = services.webhooks.endpoints(staff.admin)
    assert [e.id for e in listed] == [created.endpoint.id]
    assert created.secret not in repr(listed)
    assert listed[0].events == ("inventory.low_stock", "user.created")
    assert (listed[0].active, listed[0].allow_private, listed[0].created_by) == (
        True,
        True,
        "ada@shop.example",
    )
    assert (listed[0].last_status, listed[0].pending, listed[0].dead) == (None, 0, 0)
    with engine.connect() as conn:
        assert conn.scalar(select(WebhookEndpoint.secret)) == created.secret  # the workers sign with it
    (entry,) = audit_entries(engine, "webhook.endpoint_added")
    assert entry.after is not None and entry.after["url"] == "http://127.0.0.1:8080/in"
    assert created.secret not in json.dumps(entry.after)


def test_a_given_secret_is_used_and_a_short_one_refused(
    services: Services, staff: Staff, engine: Engine
) -> None:
    created = services.webhooks.add_endpoint(
        staff.admin, _local("http://127.0.0.1:1/a"), secret=f"  {SECRET}\n"
    )
    assert created.secret == SECRET

    with pytest.raises(ValidationError) as short:
        services.webhooks.add_endpoint(staff.admin, _local("http://127.0.0.1:1/b"), secret="too-short")
    assert set(short.value.fields) == {"secret"}
    assert row_count(engine, WebhookEndpoint) == 1


def test_every_problem_of_an_endpoint_is_reported_at_once(
    services: Services, staff: Staff, engine: Engine
) -> None:
    draft = EndpointDraft(
        "ftp://files.example/in", ["inventory.low_stock", "order.shipped"], description="x" * 201
    )

    with pytest.raises(ValidationError) as refused:
        services.webhooks.add_endpoint(staff.admin, draft)

    assert set(refused.value.fields) == {"url", "events", "description"}
    assert "order.shipped" in refused.value.fields["events"]
    with pytest.raises(ValidationError) as empty:
        services.webhooks.add_endpoint(
            staff.admin, EndpointDraft("http://127.0.0.1:1/a", [], allow_private=True)
        )
    assert set(empty.value.fields) == {"events"}
    assert row_count(engine, WebhookEndpoint) == 0


def test_a_private_address_needs_the_admins_explicit_permission(services: Services, staff: Staff) -> None:
    # "intranet.shop" resolves into the office network (a resolver standing in for DNS).
    hooks = WebhookService(services.ctx, resolve=lambda host, port: ["192.168.1.20"])
    refused_draft = EndpointDraft("https://intranet.shop/hooks", ["*"])
    with pytest.raises(ValidationError) as refused:
        hooks.add_endpoint(staff.admin, refused_draft)
    assert "private network" in refused.value.fields["url"]

    allowed = hooks.add_endpoint(
        staff.admin, EndpointDraft("https://intranet.shop/hooks", ["*"], allow_private=True)
    )
    assert allowed.endpoint.allow_private


def test_an_endpoint_is_changed_with_an_audit_of_what_changed(
    services: Services, staff: Staff, engine: Engine
) -> None:
    endpoint = services.webhooks.add_endpoint(staff.admin, _local("http://127.0.0.1:1/a")).endpoint

    changed = services.webhooks.update_endpoint(
        staff.admin,
        endpoint.id,
        EndpointDraft("http://127.0.0.1:1/b", ["*", "user.created"], "ERP", active=False, allow_private=True),
    )

    assert (changed.url, changed.events, changed.description, changed.active) == (
        "http://127.0.0.1:1/b",
        ("*",),
        "ERP",
        False,
    )
    (entry,) = audit_entries(engine, "webhook.endpoint_changed")
    assert entry.before == {
        "url": "http://127.0.0.1:1/a",
        "description": "",
        "events": ["inventory.low_stock"],
        "active": True,
    }
    assert entry.after == {
        "url": "http://127.0.0.1:1/b",
        "description": "ERP",
        "events": ["*"],
        "active": False,
    }
    with pytest.raises(NotFound):
        services.webhooks.update_endpoint(staff.admin, endpoint.id + 99, _local("http://127.0.0.1:1/a"))


def test_rotating_the_secret_returns_a_new_one_and_audits_without_it(
    services: Services, staff: Staff, engine: Engine
) -> None:
    created = services.webhooks.add_endpoint(staff.admin, _local("http://127.0.0.1:1/a"))

    rotated = services.webhooks.rotate_secret(staff.admin, created.endpoint.id)

    assert rotated != created.secret and rotated.startswith("whsec_")
    with engine.connect() as conn:
        assert conn.scalar(select(WebhookEndpoint.secret)) == rotated
    (entry,) = audit_entries(engine, "webhook.secret_rotated")
    assert rotated not in json.dumps([entry.before, entry.after])


def test_an_event_emitted_in_a_change_that_rolls_back_leaves_no_event_delivery_or_job(
    services: Services, staff: Staff, engine: Engine
) -> None:
    services.webhooks.add_endpoint(staff.admin, _local("http://127.0.0.1:1/a"))

    with pytest.raises(RuntimeError), services.ctx.write(None, None) as uow:
        events.emit(uow.session, "inventory.low_stock", {"sku": "KITE-1"}, at=uow.now)
        raise RuntimeError("the change fails after emitting")

    assert row_count(engine, WebhookEvent) == 0
    assert row_count(engine, WebhookDelivery) == 0
    assert row_count(engine, Job) == 0
    _emit(services)  # the same emission committed: one of each
    assert (row_count(engine, WebhookEvent), row_count(engine, WebhookDelivery), row_count(engine, Job)) == (
        1,
        1,
        1,
    )


def test_an_inactive_or_unsubscribed_endpoint_gets_no_delivery(
    services: Services, staff: Staff, engine: Engine
) -> None:
    services.webhooks.add_endpoint(staff.admin, _local("http://127.0.0.1:1/paused", active=False))
    listening = services.webhooks.add_endpoint(staff.admin, _local("http://127.0.0.1:1/on", "*")).endpoint
    services.webhooks.add_endpoint(staff.admin, _local("http://127.0.0.1:1/users", "user.created"))

    _emit(services)

    with engine.connect() as conn:
        assert list(conn.scalars(select(WebhookDelivery.endpoint_id))) == [listening.id]


def test_a_test_event_reaches_only_the_chosen_endpoint(
    services: Services, staff: Staff, engine: Engine, receiver: Receiver
) -> None:
    chosen = services.webhooks.add_endpoint(
        staff.admin, _local(receiver.url("/chosen"), "user.created"), secret=SECRET
    )
    services.webhooks.add_endpoint(staff.admin, _local(receiver.url("/other"), "*"), secret=SECRET)

    event_id = services.webhooks.send_test(staff.admin, chosen.endpoint.id)
    with WebhookDeliverer(services.ctx) as deliverer:
        outcomes = deliverer.run_pending("test-host:1 worker")

    assert [o.status for o in outcomes] == ["delivered"]
    (got,) = receiver.received
    assert got.path == "/chosen" and got.signature_ok
    assert (got.json["id"], got.json["type"]) == (event_id, "ecomdesk.test")
    (entry,) = audit_entries(engine, "webhook.test_sent")
    assert entry.after is not None and entry.after["event_id"] == event_id
    row = services.webhooks.endpoint(staff.admin, chosen.endpoint.id)
    assert (row.last_status, row.delivered, row.pending) == ("delivered", 1, 0)

    services.webhooks.update_endpoint(
        staff.admin, chosen.endpoint.id, _local(receiver.url("/chosen"), active=False)
    )
    with pytest.raises(Conflict):
        services.webhooks.send_test(staff.admin, chosen.endpoint.id)


def test_a_delivery_shows_the_exact_body_sent_and_its_attempts(
    services: Services, staff: Staff, receiver: Receiver
) -> None:
    endpoint = services.webhooks.add_endpoint(staff.admin, _local(receiver.url()), secret=SECRET).endpoint
    _emit(services)
    with WebhookDeliverer(services.ctx) as deliverer:
        (outcome,) = deliverer.run_pending("test-host:1 worker")

    detail = services.webhooks.delivery(staff.admin, outcome.delivery_id)

    assert detail.body.encode() == receiver.received[0].body
    assert detail.delivery.endpoint_id == endpoint.id and detail.delivery.status == "delivered"
    assert [(a.number, a.status_code, a.response_excerpt) for a in detail.attempts] == [(1, 200, "ok")]
    assert services.webhooks.attempts(staff.admin, outcome.delivery_id) == list(detail.attempts)
    with pytest.raises(NotFound):
        services.webhooks.delivery(staff.admin, outcome.delivery_id + 99)
    _emit(services)
    (pending,) = services.webhooks.deliveries.page(staff.admin, ListQuery(filters={"status": "pending"})).rows
    with pytest.raises(Conflict):  # still on its way: nothing to redeliver yet
        services.webhooks.redeliver(staff.admin, pending.id)


def test_the_delivery_log_lists_newest_first_with_filters_and_exports(
    services: Services, staff: Staff, engine: Engine
) -> None:
    first = services.webhooks.add_endpoint(staff.admin, _local("http://127.0.0.1:1/a", "*")).endpoint
    second = services.webhooks.add_endpoint(
        staff.admin, _local("http://127.0.0.1:1/b", "user.created")
    ).endpoint
    _emit(services, "inventory.low_stock")  # → a
    _emit(services, "user.created")  # → a and b
    table = services.tables["webhook_deliveries"]

    rows = table.page(staff.admin, ListQuery()).rows
    assert [(r.event_type, r.endpoint_url) for r in rows] == [
        ("user.created", "http://127.0.0.1:1/b"),
        ("user.created", "http://127.0.0.1:1/a"),
        ("inventory.low_stock", "http://127.0.0.1:1/a"),
    ]
    assert {r.status for r in rows} == {"pending"} and rows[0].attempts == 0
    by_endpoint = table.page(staff.admin, ListQuery(filters={"endpoint": first.id})).rows
    assert {r.endpoint_id for r in by_endpoint} == {first.id} and len(by_endpoint) == 2
    assert (
        table.count(staff.admin, ListQuery(filters={"endpoint": str(second.id)})) == 1
    )  # as `export --filter` gives it
    assert table.count(staff.admin, ListQuery(filters={"event_type": "inventory.low_stock"})) == 1
    assert table.count(staff.admin, ListQuery(filters={"status": "dead"})) == 0
    with pytest.raises(ValidationError):
        table.count(staff.admin, ListQuery(filters={"status": "lost"}))
    assert [c.value for c in table.choices(staff.admin, "endpoint")] == [first.id, second.id]
    out = io.BytesIO()
    assert table.export_csv(staff.admin, ListQuery(), out) == 3
    assert out.getvalue().decode().splitlines()[0].startswith("Delivery,Created,Event type,Event id,Endpoint")


def test_removing_an_endpoint_removes_its_deliveries_and_queued_jobs(
    services: Services, staff: Staff, engine: Engine
) -> None:
    gone = services.webhooks.add_endpoint(staff.admin, _local("http://127.0.0.1:1/a")).endpoint
    kept = services.webhooks.add_endpoint(staff.admin, _local("http://127.0.0.1:1/b")).endpoint
    _emit(services)

    services.webhooks.delete_endpoint(staff.admin, gone.id)

    assert [e.id for e in services.webhooks.endpoints(staff.admin)] == [kept.id]
    with engine.connect() as conn:
        assert list(conn.scalars(select(WebhookDelivery.endpoint_id))) == [kept.id]
        assert conn.scalar(select(func.count()).select_from(Job)) == 1
    (entry,) = audit_entries(engine, "webhook.endpoint_removed")
    assert entry.before is not None and entry.before["url"] == "http://127.0.0.1:1/a"
    with pytest.raises(NotFound):
        services.webhooks.delete_endpoint(staff.admin, gone.id)


@pytest.mark.parametrize("role", ["manager", "viewer"])
def test_only_admins_manage_webhooks(services: Services, staff: Staff, engine: Engine, role: str) -> None:
    endpoint = services.webhooks.add_endpoint(staff.admin, _local("http://127.0.0.1:1/a")).endpoint
    _emit(services)
    actor = staff.by_role(role)
    calls: list[Callable[[], object]] = [
        lambda: services.webhooks.endpoints(actor),
        lambda: services.webhooks.add_endpoint(actor, _local("http://127.0.0.1:1/b")),
        lambda: services.webhooks.update_endpoint(actor, endpoint.id, _local("http://127.0.0.1:1/b")),
        lambda: services.webhooks.rotate_secret(actor, endpoint.id),
        lambda: services.webhooks.send_test(actor, endpoint.id),
        lambda: services.webhooks.delete_endpoint(actor, endpoint.id),
        lambda: services.webhooks.redeliver(actor, 1),
        lambda: services.webhooks.attempts(actor, 1),
        lambda: services.webhooks.delivery(actor, 1),
        lambda: services.tables["webhook_deliveries"].page(actor, ListQuery()),
    ]
    for call in calls:
        with pytest.raises(PermissionDenied):
            call()
    assert row_count(engine, WebhookEndpoint) == 1
    with engine.connect() as conn:
        assert (
            conn.scalar(
                select(func.count()).select_from(AuditEntry).where(AuditEntry.action.like("webhook.%"))
            )
            == 1
        )
