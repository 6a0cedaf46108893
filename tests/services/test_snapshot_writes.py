"""Every service write on a snapshot refuses with `ReadOnlyError`, before anything else can fail,
and the file stays byte for byte what it was.

Each write is called with arguments that would work on the live database (real ids, a real
picture, a valid import file), so the only reason left to refuse is the snapshot. Writes that do
not go through `ServiceContext.write` — sign-in, the report runner's job claiming, imports — must
refuse up front too. The file's hash is taken before the first call and compared after the last.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ecomdesk.db.models import MovementKind
from ecomdesk.db.seed import DEMO_PASSWORD
from ecomdesk.services.context import Actor
from ecomdesk.services.errors import ReadOnlyError
from ecomdesk.services.files import Upload
from ecomdesk.services.inventory import ItemFields
from ecomdesk.services.listing import ListQuery
from ecomdesk.services.registry import Services
from ecomdesk.services.reports import ReportRequest
from ecomdesk.services.stock import Adjustment
from ecomdesk.services.users import ProfileFields, UserFields
from ecomdesk.services.webhooks import EndpointDraft
from tests.services.snapshot_shop import ADMIN_EMAIL, MANAGER_EMAIL, Shop, png, sha256, snapshot_shop
from tests.services.test_snapshot_reads import FEED_READS, WRITES

INVENTORY_CSV = (
    b"sku,name,category,supplier,stock,reserved,price,cost\nFAIR-1,Fair banner,Office,Acme,5,0,19.90,7.50\n"
)
ORDERS_CSV = (
    b"order_id,customer_id,channel,amount,currency,status,occurred_at\n"
    b"FAIR-0001,C-FAIR,retail_pos,49.90,EUR,paid,2026-11-27T08:00:00+00:00\n"
)


@dataclass(frozen=True)
class Opened:
    shop: Shop
    hash_before: str


@pytest.fixture(scope="module")
def opened(
    pg_admin_url: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Opened]:
    """The snapshot, its hash taken before any write is tried; checked again after the last test."""
    with snapshot_shop(pg_admin_url, template_database, tmp_path_factory.mktemp("snapshot")) as shop:
        yield Opened(shop, sha256(shop.path))


Write = Callable[[Services, Actor, Path], Any]


def _user_id(services: Services, actor: Actor, email: str) -> int:
    rows = services.users.list_users(actor, ListQuery(search=email)).rows
    return next(row.id for row in rows if row.email == email)


def _item(services: Services, actor: Actor) -> Any:
    return services.inventory.table.page(actor, ListQuery(limit=1)).rows[0]


def _role_id(services: Services, actor: Actor, name: str) -> int:
    return next(role.id for role in services.roles.list_roles(actor) if role.name == name)


def _report_id(services: Services, actor: Actor) -> int:
    return services.reports.table.page(actor, ListQuery(limit=1)).rows[0].id


def _manager_fields(services: Services, actor: Actor) -> UserFields:
    record = services.users.get_user(actor, _user_id(services, actor, MANAGER_EMAIL))
    return UserFields(
        record.email, record.first_name, "Renamed", record.role_id, record.phone, record.address
    )


def _update_item(services: Services, actor: Actor, _tmp: Path) -> Any:
    item = _item(services, actor)
    fields = ItemFields(item.sku, item.name + " II", item.category, item.supplier, item.price, item.cost, 5)
    return services.inventory.update_item(actor, item.id, fields, expected_version=item.version)


def _endpoint_id(services: Services, actor: Actor) -> int:
    return services.webhooks.endpoints(actor)[0].id


def _delivery_id(services: Services, actor: Actor) -> int:
    return services.webhooks.deliveries.page(actor, ListQuery(limit=1)).rows[0].id


HOOK = EndpointDraft("http://127.0.0.1:8/fair", ["user.created"], "Fair", allow_private=True)


def _device_id(services: Services, actor: Actor) -> int:
    return services.auth.list_sessions(actor)[0].id


WRITE_CALLS: dict[str, Write] = {
    "auth.authenticate": lambda s, a, _t: s.auth.authenticate(ADMIN_EMAIL, DEMO_PASSWORD),
    "auth.resume": lambda s, a, _t: s.auth.resume("a-remembered-device-token"),
    "auth.change_password": lambda s, a, _t: s.auth.change_password(
        a, DEMO_PASSWORD, "another long passphrase 1"
    ),
    "auth.revoke_session": lambda s, a, _t: s.auth.revoke_session(a, _device_id(s, a)),
    "auth.revoke_user_sessions": lambda s, a, _t: s.auth.revoke_user_sessions(
        a, _user_id(s, a, MANAGER_EMAIL)
    ),
    "auth.sign_out": lambda s, a, _t: s.auth.sign_out(a),
    "users.bootstrap_user": lambda s, a, _t: s.users.bootstrap_user(
        email="new@demo.shop",
        role="viewer",
        first_name="New",
        last_name="Person",
        password="long enough password 1",
    ),
    "users.create_user": lambda s, a, _t: s.users.create_user(
        a,
        UserFields("fair@demo.shop", "Fair", "Helper", _role_id(s, a, "viewer")),
        picture=Upload(png((1, 2, 3)), "f.png"),
    ),
    "users.delete_user": lambda s, a, _t: s.users.delete_user(a, _user_id(s, a, MANAGER_EMAIL)),
    "users.remove_avatar": lambda s, a, _t: s.users.remove_avatar(a, a.user_id),
    "users.reset_password": lambda s, a, _t: s.users.reset_password(a, _user_id(s, a, MANAGER_EMAIL)),
    "users.set_active": lambda s, a, _t: s.users.set_active(a, _user_id(s, a, MANAGER_EMAIL), False),
    "users.set_avatar": lambda s, a, _t: s.users.set_avatar(a, a.user_id, png((9, 9, 9)), "new.png"),
    "users.unlock": lambda s, a, _t: s.users.unlock(a, _user_id(s, a, MANAGER_EMAIL)),
    "users.update_my_profile": lambda s, a, _t: s.users.update_my_profile(a, ProfileFields("Ada", "Fair")),
    "users.update_user": lambda s, a, _t: s.users.update_user(
        a, _user_id(s, a, MANAGER_EMAIL), _manager_fields(s, a)
    ),
    "roles.create_role": lambda s, a, _t: s.roles.create_role(a, "Fair staff", frozenset({"inventory.read"})),
    "roles.delete_role": lambda s, a, _t: s.roles.delete_role(a, _role_id(s, a, "viewer")),
    "roles.update_role": lambda s, a, _t: s.roles.update_role(
        a, _role_id(s, a, "viewer"), name="viewer", permissions=frozenset({"inventory.read", "reports.read"})
    ),
    "inventory.archive_item": lambda s, a, _t: s.inventory.archive_item(a, _item(s, a).id),
    "inventory.create_item": lambda s, a, _t: s.inventory.create_item(
        a, ItemFields("FAIR-1", "Fair banner", "Office", "Acme", Decimal("19.90"), Decimal("7.50")), stock=5
    ),
    "inventory.delete_item": lambda s, a, _t: s.inventory.delete_item(a, _item(s, a).id),
    "inventory.restore_item": lambda s, a, _t: s.inventory.restore_item(a, _item(s, a).id),
    "inventory.update_item": _update_item,
    "stock.adjust": lambda s, a, _t: s.stock.adjust(
        a, _item(s, a).id, Adjustment(MovementKind.RECEIVE, 3, "Fair")
    ),
    "importer.commit": lambda s, a, _t: s.importer.commit(a, INVENTORY_CSV, "items.csv"),
    "orders.preview": lambda s, a, _t: s.orders.preview(a, ORDERS_CSV, "orders.csv"),
    "orders.commit": lambda s, a, _t: s.orders.commit(a, ORDERS_CSV, "orders.csv"),
    "settings.update_system_settings": lambda s, a, _t: s.settings.update_system_settings(
        a, {"shop_name": "Fair"}
    ),
    "analytics.record_event": lambda s, a, _t: s.analytics.record_event(
        a, "page_view", 1, {"page": "/fair"}, dt.datetime(2026, 11, 27, 8, tzinfo=dt.UTC)
    ),
    "reports.request": lambda s, a, _t: s.reports.request(a, ReportRequest("inventory-valuation")),
    "reports.rerun": lambda s, a, _t: s.reports.rerun(a, _report_id(s, a)),
    "reports.delete": lambda s, a, _t: s.reports.delete(a, [_report_id(s, a)]),
    "reports.run_next": lambda s, a, _t: s.reports.run_next("snapshot-runner"),
    "reports.run_pending": lambda s, a, _t: s.reports.run_pending("snapshot-runner"),
    "snapshots.create": lambda s, a, tmp: s.snapshots.create(a, tmp / "again.ecomsnap"),
    "webhooks.add_endpoint": lambda s, a, _t: s.webhooks.add_endpoint(a, HOOK),
    "webhooks.update_endpoint": lambda s, a, _t: s.webhooks.update_endpoint(a, _endpoint_id(s, a), HOOK),
    "webhooks.rotate_secret": lambda s, a, _t: s.webhooks.rotate_secret(a, _endpoint_id(s, a)),
    "webhooks.delete_endpoint": lambda s, a, _t: s.webhooks.delete_endpoint(a, _endpoint_id(s, a)),
    "webhooks.send_test": lambda s, a, _t: s.webhooks.send_test(a, _endpoint_id(s, a)),
    # (Live, a pending delivery is refused as still being sent; the snapshot refuses first.)
    "webhooks.redeliver": lambda s, a, _t: s.webhooks.redeliver(a, _delivery_id(s, a)),
    "mail.update_smtp_settings": lambda s, a, _t: s.mail.update_smtp_settings(
        a, {"host": "127.0.0.1", "security": "none", "from_address": "alerts@demo.shop"}
    ),
    "mail.set_preferences": lambda s, a, _t: s.mail.set_preferences(
        a, low_stock_digest=True, report_ready=True
    ),
    "mail.send_test": lambda s, a, _t: s.mail.send_test(a, "fair@demo.shop", password=""),
}


def test_every_write_has_a_call_here() -> None:
    assert set(WRITE_CALLS) | {"changes.prune"} == set(WRITES)


@pytest.mark.parametrize("method", sorted(WRITE_CALLS))
def test_a_write_on_the_snapshot_is_refused_as_read_only(opened: Opened, method: str, tmp_path: Path) -> None:
    shop = opened.shop
    with pytest.raises(ReadOnlyError):
        WRITE_CALLS[method](shop.snap, shop.snap_actor, tmp_path)
    assert not (tmp_path / "again.ecomsnap").exists()


def test_pruning_the_change_log_of_a_snapshot_does_nothing(opened: Opened) -> None:
    assert opened.shop.snap.changes.prune(dt.timedelta(0)) == 0


def test_the_live_feed_is_read_only_on_a_snapshot_too() -> None:
    """(Its reads are checked in test_snapshot_reads; listed here so a reader finds them.)"""
    assert {"changes.start", "changes.poll", "changes.listen"} == FEED_READS


def test_the_writes_would_work_on_the_live_database(opened: Opened, tmp_path: Path) -> None:
    """The arguments are real: the same calls on the server get past the point where the
    snapshot refused (sign-in with the demo password works; an import preview finds the file good)."""
    shop = opened.shop
    assert shop.live.auth.authenticate(ADMIN_EMAIL, DEMO_PASSWORD).actor.email == ADMIN_EMAIL
    assert not shop.live.importer.preview(shop.admin, INVENTORY_CSV, "items.csv").problems
    assert not shop.live.orders.preview(shop.admin, ORDERS_CSV, "orders.csv").problems


def test_zz_the_snapshot_file_is_unchanged_after_every_write_was_tried(opened: Opened) -> None:
    """Runs last in this module (pytest keeps file order): the hash after every call above."""
    assert sha256(opened.shop.path) == opened.hash_before
