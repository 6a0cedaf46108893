"""The role × permission matrix: every service method, called by a holder of every built-in role
and of a custom role for each single permission, is allowed or refused exactly as its required
permission says — and a refused call (or a read) changes nothing in the database, not even the
audit trail. The same table of calls proves the read-only mode refuses every write.
"""

from __future__ import annotations

import io
import itertools
import socket
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, text

from ecomdesk.db.catalog import BUILTIN_ROLES, PERMISSIONS
from ecomdesk.db.models import MovementKind, metadata
from ecomdesk.services.analytics import DashboardQuery, DateRange
from ecomdesk.services.auth import EVERYONE
from ecomdesk.services.context import Actor, ServiceContext
from ecomdesk.services.errors import PermissionDenied, ReadOnlyError
from ecomdesk.services.inventory import ItemFields
from ecomdesk.services.listing import ListQuery
from ecomdesk.services.registry import Services
from ecomdesk.services.reports import ReportRequest
from ecomdesk.services.stock import Adjustment
from ecomdesk.services.users import ProfileFields, UserFields
from ecomdesk.services.webhook_delivery import WebhookDeliverer
from ecomdesk.services.webhooks import EndpointDraft
from tests.services.conftest import PASSWORD, MakeUser, png, role_id

#: A role with no permission at all: "other user" targets hold it, so the guard against taking
#: over accounts with more rights than one's own never decides a case here.
NOBODY = "nobody"


@dataclass
class Env:
    services: Services
    engine: Engine
    admin: Actor
    actor: Actor
    make_user: MakeUser
    #: The services the call under test goes through (setup always uses the writable `services`).
    api: Services
    #: A local SMTP server's port on 127.0.0.1 (`mail.send_test` sends to it).
    smtp_port: int = 0

    def other(self, **kwargs: object) -> Actor:
        return self.make_user(NOBODY, **kwargs)

    def custom_role(self) -> int:
        n = len(self.services.roles.list_roles(self.admin))
        return self.services.roles.create_role(self.admin, f"spare role {n}", frozenset()).id

    def remembered(self, who: Actor) -> Actor:
        return self.services.auth.authenticate(who.email, PASSWORD, remember=True).actor


Call = Callable[[], object]


@dataclass(frozen=True)
class Op:
    name: str
    #: None: any signed-in user; otherwise any one of these permissions.
    needs: frozenset[str] | None
    #: READ, WRITE, or AUDITED: a read that leaves an audit entry when it can (a report run
    #: straight to a file: it works on a read-only snapshot too, unaudited there).
    writes: bool | str
    prepare: Callable[[Env], Call]
    #: Needed as well as one of `needs` (a report kind's own permission).
    also: frozenset[str] = frozenset()


def _needs(*codes: str) -> frozenset[str]:
    return frozenset(codes)


def _fields(env: Env, email: str) -> UserFields:
    return UserFields(email, "New", "Person", role_id(env.engine, NOBODY), "+49 30 1234567", "Main St 1")


def _with_avatar(env: Env, who: Actor) -> Actor:
    env.services.users.set_avatar(env.admin, who.user_id, png(), "a.png")
    return who


OPS: list[Op] = []
READ, WRITE, AUDITED = False, True, "audited"


def op(
    name: str, needs: frozenset[str] | None, writes: bool | str, also: frozenset[str] = frozenset()
) -> Callable[[Callable[[Env], Call]], None]:
    """Register a call: `prepare(env)` sets up what the call needs (as admin) and returns it."""

    def register(prepare: Callable[[Env], Call]) -> None:
        OPS.append(Op(name, needs, writes, prepare, also))

    return register


# -- users --


@op("users.list_users", _needs("users.read"), READ)
def _list_users(e: Env) -> Call:
    return lambda: e.api.users.list_users(e.actor, ListQuery())


@op("users.get_user(other)", _needs("users.read"), READ)
def _get_other(e: Env) -> Call:
    other = e.other()
    return lambda: e.api.users.get_user(e.actor, other.user_id)


@op("users.get_user(self)", None, READ)
def _get_self(e: Env) -> Call:
    return lambda: e.api.users.get_user(e.actor, e.actor.user_id)


@op("users.avatar(other)", _needs("users.read"), READ)
def _avatar_other(e: Env) -> Call:
    other = _with_avatar(e, e.other())
    return lambda: e.api.users.avatar(e.actor, other.user_id)


@op("users.avatar(self)", None, READ)
def _avatar_self(e: Env) -> Call:
    _with_avatar(e, e.actor)
    return lambda: e.api.users.avatar(e.actor, e.actor.user_id)


@op("users.create_user", _needs("users.write"), WRITE)
def _create(e: Env) -> Call:
    return lambda: e.api.users.create_user(e.actor, _fields(e, "brand.new@shop.example"))


@op("users.update_user", _needs("users.write"), WRITE)
def _update(e: Env) -> Call:
    other = e.other()
    return lambda: e.api.users.update_user(e.actor, other.user_id, _fields(e, other.email))


@op("users.update_my_profile", None, WRITE)
def _update_me(e: Env) -> Call:
    return lambda: e.api.users.update_my_profile(e.actor, ProfileFields("Renamed", "Me", None, None))


@op("users.set_avatar(other)", _needs("users.write"), WRITE)
def _set_avatar_other(e: Env) -> Call:
    other = e.other()
    return lambda: e.api.users.set_avatar(e.actor, other.user_id, png(), "x.png")


@op("users.set_avatar(self)", None, WRITE)
def _set_avatar_self(e: Env) -> Call:
    return lambda: e.api.users.set_avatar(e.actor, e.actor.user_id, png(), "me.png")


@op("users.remove_avatar(other)", _needs("users.write"), WRITE)
def _remove_avatar_other(e: Env) -> Call:
    other = _with_avatar(e, e.other())
    return lambda: e.api.users.remove_avatar(e.actor, other.user_id)


@op("users.remove_avatar(self)", None, WRITE)
def _remove_avatar_self(e: Env) -> Call:
    _with_avatar(e, e.actor)
    return lambda: e.api.users.remove_avatar(e.actor, e.actor.user_id)


@op("users.set_active", _needs("users.write"), WRITE)
def _deactivate(e: Env) -> Call:
    other = e.other()
    return lambda: e.api.users.set_active(e.actor, other.user_id, False)


@op("users.unlock", _needs("users.write"), WRITE)
def _unlock(e: Env) -> Call:
    other = e.other()
    return lambda: e.api.users.unlock(e.actor, other.user_id)


@op("users.reset_password", _needs("users.write"), WRITE)
def _reset(e: Env) -> Call:
    other = e.other()
    return lambda: e.api.users.reset_password(e.actor, other.user_id)


@op("users.delete_user", _needs("users.write"), WRITE)
def _delete(e: Env) -> Call:
    other = e.other()
    return lambda: e.api.users.delete_user(e.actor, other.user_id)


# -- roles --


@op("roles.list_permissions", None, READ)
def _list_permissions(e: Env) -> Call:
    return lambda: e.api.roles.list_permissions(e.actor)


@op("roles.list_roles", _needs("users.read", "roles.manage"), READ)
def _list_roles(e: Env) -> Call:
    return lambda: e.api.roles.list_roles(e.actor)


@op("roles.create_role", _needs("roles.manage"), WRITE)
def _create_role(e: Env) -> Call:
    return lambda: e.api.roles.create_role(e.actor, "Seasonal help", frozenset())


@op("roles.update_role", _needs("roles.manage"), WRITE)
def _update_role(e: Env) -> Call:
    role = e.custom_role()
    return lambda: e.api.roles.update_role(e.actor, role, name="Renamed role", permissions=frozenset())


@op("roles.delete_role", _needs("roles.manage"), WRITE)
def _delete_role(e: Env) -> Call:
    role = e.custom_role()
    return lambda: e.api.roles.delete_role(e.actor, role)


# -- remembered devices and one's own password --


@op("auth.list_sessions(self)", None, READ)
def _sessions_mine(e: Env) -> Call:
    return lambda: e.api.auth.list_sessions(e.actor)


@op("auth.list_sessions(other)", _needs("sessions.manage"), READ)
def _sessions_other(e: Env) -> Call:
    other = e.remembered(e.other())
    return lambda: e.api.auth.list_sessions(e.actor, other.user_id)


@op("auth.list_sessions(everyone)", _needs("sessions.manage"), READ)
def _sessions_everyone(e: Env) -> Call:
    return lambda: e.api.auth.list_sessions(e.actor, EVERYONE)


@op("auth.revoke_session(own)", None, WRITE)
def _revoke_mine(e: Env) -> Call:
    mine = e.remembered(e.actor)
    return lambda: e.api.auth.revoke_session(e.actor, mine.session_id or 0)


@op("auth.revoke_session(other)", _needs("sessions.manage"), WRITE)
def _revoke_other(e: Env) -> Call:
    theirs = e.remembered(e.other())
    return lambda: e.api.auth.revoke_session(e.actor, theirs.session_id or 0)


@op("auth.revoke_user_sessions(other)", _needs("sessions.manage"), WRITE)
def _revoke_all_other(e: Env) -> Call:
    theirs = e.remembered(e.other())
    return lambda: e.api.auth.revoke_user_sessions(e.actor, theirs.user_id)


@op("auth.sign_out", None, WRITE)
def _sign_out(e: Env) -> Call:
    mine = e.remembered(e.actor)
    return lambda: e.api.auth.sign_out(mine)


@op("auth.change_password", None, WRITE)
def _change_password(e: Env) -> Call:
    return lambda: e.api.auth.change_password(e.actor, PASSWORD, "another long passphrase 2027")


# -- system settings --


@op("settings.get_system_settings", None, READ)
def _get_settings(e: Env) -> Call:
    return lambda: e.api.settings.get_system_settings(e.actor)


@op("settings.update_system_settings", _needs("settings.manage"), WRITE)
def _update_settings(e: Env) -> Call:
    return lambda: e.api.settings.update_system_settings(e.actor, {"shop_name": "Renamed Shop"})


# -- inventory, stock and imports --


_SKUS = itertools.count(1)


def _item(e: Env, stock: int = 5) -> int:
    """A fresh item (its own SKU: every op of a role shares one database)."""
    fields = ItemFields(
        f"OPS-{next(_SKUS)}", "Matrix mug", "Kitchen", "Acme", Decimal("9.00"), Decimal("3.00")
    )
    return e.services.inventory.create_item(e.admin, fields, stock=stock).id


def _item_fields(sku: str) -> ItemFields:
    return ItemFields(sku, "Matrix mug, blue", "Kitchen", "Acme", Decimal("9.50"), Decimal("3.00"))


@op("inventory.get_item", _needs("inventory.read"), READ)
def _get_item(e: Env) -> Call:
    item = _item(e)
    return lambda: e.api.inventory.get_item(e.actor, item)


@op("inventory.find_sku", _needs("inventory.read"), READ)
def _find_sku(e: Env) -> Call:
    sku = e.services.inventory.get_item(e.admin, _item(e)).sku
    return lambda: e.api.inventory.find_sku(e.actor, sku.lower())


@op("inventory.sku_taken", _needs("inventory.read"), READ)
def _sku_taken(e: Env) -> Call:
    return lambda: e.api.inventory.sku_taken(e.actor, "OPS-1")


@op("inventory.summary", _needs("inventory.read"), READ)
def _summary(e: Env) -> Call:
    _item(e)
    return lambda: e.api.inventory.summary(e.actor, "category")


@op("inventory.create_item", _needs("inventory.write"), WRITE)
def _create_item(e: Env) -> Call:
    return lambda: e.api.inventory.create_item(e.actor, _item_fields(f"OPS-{next(_SKUS)}"), stock=3)


@op("inventory.update_item", _needs("inventory.write"), WRITE)
def _update_item(e: Env) -> Call:
    row = e.services.inventory.get_item(e.admin, _item(e))
    return lambda: e.api.inventory.update_item(
        e.actor, row.id, _item_fields(row.sku), expected_version=row.version
    )


@op("inventory.archive_item", _needs("inventory.write"), WRITE)
def _archive_item(e: Env) -> Call:
    item = _item(e)
    return lambda: e.api.inventory.archive_item(e.actor, item)


@op("inventory.restore_item", _needs("inventory.write"), WRITE)
def _restore_item(e: Env) -> Call:
    item = _item(e)
    e.services.inventory.archive_item(e.admin, item)
    return lambda: e.api.inventory.restore_item(e.actor, item)


@op("inventory.delete_item", _needs("inventory.write"), WRITE)
def _delete_item(e: Env) -> Call:
    item = _item(e)
    return lambda: e.api.inventory.delete_item(e.actor, item)


@op("stock.adjust", _needs("inventory.adjust"), WRITE)
def _adjust(e: Env) -> Call:
    item = _item(e)
    return lambda: e.api.stock.adjust(e.actor, item, Adjustment(MovementKind.RECEIVE, 2, "delivery 9"))


@op("stock.history", _needs("inventory.read"), READ)
def _history(e: Env) -> Call:
    item = _item(e)
    return lambda: e.api.stock.history(e.actor, item)


def _import_file() -> bytes:
    """A one-row file with a SKU of its own."""
    header = "sku,name,category,supplier,stock,reserved,price,cost"
    return f"{header}\nIMP-{next(_SKUS)},Kite,Toys,Acme,3,0,9,4\n".encode()


@op("importer.preview", _needs("inventory.write"), READ)
def _import_preview(e: Env) -> Call:
    data = _import_file()
    return lambda: e.api.importer.preview(e.actor, data, "items.csv")


@op("importer.commit", _needs("inventory.write"), WRITE)
def _import_commit(e: Env) -> Call:
    data = _import_file()
    return lambda: e.api.importer.commit(e.actor, data, "items.csv")


# -- orders --


def _orders_file() -> bytes:
    """A one-row file with an order of its own."""
    header = "order_id,customer_id,channel,amount,currency,status,occurred_at"
    return f"{header}\nOPS-{next(_SKUS)},C-1,web,9.00,EUR,paid,2026-11-20T10:00:00Z\n".encode()


@op("orders.preview", _needs("analytics.write"), READ)
def _orders_preview(e: Env) -> Call:
    data = _orders_file()
    return lambda: e.api.orders.preview(e.actor, data, "orders.csv")


@op("orders.commit", _needs("analytics.write"), WRITE)
def _orders_commit(e: Env) -> Call:
    data = _orders_file()
    return lambda: e.api.orders.commit(e.actor, data, "orders.csv")


# -- analytics --


@op("analytics.dashboard", _needs("analytics.read"), READ)
def _dashboard(e: Env) -> Call:
    days = DateRange(date(2026, 11, 1), date(2026, 11, 27))
    return lambda: e.api.analytics.dashboard(e.actor, DashboardQuery(days))


@op("analytics.today", _needs("analytics.read"), READ)
def _today(e: Env) -> Call:
    return lambda: e.api.analytics.today(e.actor)


@op("analytics.record_event", _needs("analytics.write"), WRITE)
def _record_event(e: Env) -> Call:
    return lambda: e.api.analytics.record_event(e.actor, "page_view", 1, {"channel": "web"})


# -- reports (low-stock: the kind needs inventory.read as well) --

_LOW_STOCK = ReportRequest("low-stock")
_KIND = _needs("inventory.read")


def _completed_report(e: Env) -> int:
    report_id = e.services.reports.request(e.admin, _LOW_STOCK).id
    e.services.reports.run_pending("matrix")
    return report_id


@op("reports.kinds", _needs("reports.generate"), READ)
def _report_kinds(e: Env) -> Call:
    return lambda: e.api.reports.kinds(e.actor)


@op("reports.defaults", _needs("reports.generate"), READ, _KIND)
def _report_defaults(e: Env) -> Call:
    return lambda: e.api.reports.defaults(e.actor, "low-stock")


@op("reports.choices", _needs("reports.generate"), READ, _KIND)
def _report_choices(e: Env) -> Call:
    return lambda: e.api.reports.choices(e.actor, "low-stock", "category")


@op("reports.default_title", _needs("reports.generate"), READ, _KIND)
def _report_title(e: Env) -> Call:
    return lambda: e.api.reports.default_title(e.actor, "low-stock", {})


@op("reports.request", _needs("reports.generate"), WRITE, _KIND)
def _report_request(e: Env) -> Call:
    return lambda: e.api.reports.request(e.actor, _LOW_STOCK)


@op("reports.rerun", _needs("reports.generate"), WRITE, _KIND)
def _report_rerun(e: Env) -> Call:
    report_id = _completed_report(e)
    return lambda: e.api.reports.rerun(e.actor, report_id)


@op("reports.delete", _needs("reports.generate"), WRITE, _KIND)
def _report_delete(e: Env) -> Call:
    report_id = _completed_report(e)
    return lambda: e.api.reports.delete(e.actor, [report_id])


@op("reports.get", _needs("reports.read"), READ)
def _report_get(e: Env) -> Call:
    report_id = _completed_report(e)
    return lambda: e.api.reports.get(e.actor, report_id)


@op("reports.preview", _needs("reports.read"), READ, _KIND)
def _report_preview(e: Env) -> Call:
    report_id = _completed_report(e)
    return lambda: e.api.reports.preview(e.actor, report_id)


@op("reports.write_content", _needs("reports.read"), READ, _KIND)
def _report_content(e: Env) -> Call:
    report_id = _completed_report(e)
    return lambda: e.api.reports.write_content(e.actor, report_id, io.BytesIO())


@op("reports.save", _needs("reports.read"), READ, _KIND)
def _report_save(e: Env) -> Call:
    report_id = _completed_report(e)
    target = Path(tempfile.mkdtemp()) / "report.csv"
    return lambda: e.api.reports.save(e.actor, report_id, target)


@op("reports.run_to_file", _needs("reports.generate"), AUDITED, _KIND)
def _report_run(e: Env) -> Call:
    return lambda: e.api.reports.run_to_file(e.actor, _LOW_STOCK, None, out=io.BytesIO())


# -- integrations: webhooks, e-mail, workers --

_URLS = itertools.count(1)


def _endpoint(e: Env) -> int:
    """A fresh endpoint on loopback (allowed as private, so no DNS is asked), for an event no op
    causes: only its test events queue deliveries."""
    draft = EndpointDraft(
        f"http://127.0.0.1:9/hook/{next(_URLS)}", ["report.failed"], "Matrix", allow_private=True
    )
    return e.services.webhooks.add_endpoint(e.admin, draft).endpoint.id


def _dead_delivery(e: Env) -> int:
    """A test event's delivery, dead after one refused attempt (port 9; at most one attempt)."""
    endpoint = _endpoint(e)
    e.services.webhooks.send_test(e.admin, endpoint)
    with e.engine.begin() as conn:  # (not a setting the settings page offers)
        conn.execute(
            text(
                "INSERT INTO settings (key, value) VALUES ('webhooks.max_attempts', '1') "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
            )
        )
    with WebhookDeliverer(e.services.ctx) as deliverer:
        assert deliverer.run_pending("matrix")
    page = e.services.webhooks.deliveries.page(e.admin, ListQuery(filters={"endpoint": endpoint}))
    (row,) = page.rows
    assert row.status == "dead", row
    return row.id


@op("webhooks.endpoints", _needs("integrations.manage"), READ)
def _endpoints(e: Env) -> Call:
    _endpoint(e)
    return lambda: e.api.webhooks.endpoints(e.actor)


@op("webhooks.endpoint", _needs("integrations.manage"), READ)
def _endpoint_one(e: Env) -> Call:
    endpoint = _endpoint(e)
    return lambda: e.api.webhooks.endpoint(e.actor, endpoint)


@op("webhooks.add_endpoint", _needs("integrations.manage"), WRITE)
def _add_endpoint(e: Env) -> Call:
    draft = EndpointDraft(f"http://127.0.0.1:9/new/{next(_URLS)}", ["user.created"], allow_private=True)
    return lambda: e.api.webhooks.add_endpoint(e.actor, draft)


@op("webhooks.update_endpoint", _needs("integrations.manage"), WRITE)
def _update_endpoint(e: Env) -> Call:
    endpoint = _endpoint(e)
    draft = EndpointDraft(f"http://127.0.0.1:9/moved/{next(_URLS)}", ["*"], "Moved", allow_private=True)
    return lambda: e.api.webhooks.update_endpoint(e.actor, endpoint, draft)


@op("webhooks.rotate_secret", _needs("integrations.manage"), WRITE)
def _rotate_secret(e: Env) -> Call:
    endpoint = _endpoint(e)
    return lambda: e.api.webhooks.rotate_secret(e.actor, endpoint)


@op("webhooks.delete_endpoint", _needs("integrations.manage"), WRITE)
def _delete_endpoint(e: Env) -> Call:
    endpoint = _endpoint(e)
    return lambda: e.api.webhooks.delete_endpoint(e.actor, endpoint)


@op("webhooks.send_test", _needs("integrations.manage"), WRITE)
def _webhook_test(e: Env) -> Call:
    endpoint = _endpoint(e)
    return lambda: e.api.webhooks.send_test(e.actor, endpoint)


@op("webhooks.redeliver", _needs("integrations.manage"), WRITE)
def _redeliver(e: Env) -> Call:
    delivery = _dead_delivery(e)
    return lambda: e.api.webhooks.redeliver(e.actor, delivery)


@op("webhooks.delivery", _needs("integrations.manage"), READ)
def _delivery(e: Env) -> Call:
    delivery = _dead_delivery(e)
    return lambda: e.api.webhooks.delivery(e.actor, delivery)


@op("webhooks.attempts", _needs("integrations.manage"), READ)
def _attempts(e: Env) -> Call:
    delivery = _dead_delivery(e)
    return lambda: e.api.webhooks.attempts(e.actor, delivery)


_SENDERS = itertools.count(1)


def _smtp_configured(e: Env) -> None:
    """Plain SMTP to the local test server (allowed to a loopback host)."""
    values = {
        "host": "127.0.0.1",
        "port": e.smtp_port,
        "security": "none",
        "from_address": "alerts@shop.example",
    }
    e.services.mail.update_smtp_settings(e.admin, values)


@op("mail.smtp_settings", _needs("integrations.manage"), READ)
def _smtp_settings(e: Env) -> Call:
    return lambda: e.api.mail.smtp_settings(e.actor)


@op("mail.update_smtp_settings", _needs("integrations.manage"), WRITE)
def _update_smtp(e: Env) -> Call:
    changes = {"from_address": f"alerts{next(_SENDERS)}@shop.example"}
    return lambda: e.api.mail.update_smtp_settings(e.actor, changes)


@op("mail.smtp_status", None, READ)
def _smtp_status(e: Env) -> Call:
    return lambda: e.api.mail.smtp_status(e.actor)


@op("mail.preferences", None, READ)
def _mail_preferences(e: Env) -> Call:
    return lambda: e.api.mail.preferences(e.actor)


@op("mail.set_preferences", None, WRITE)
def _set_mail_preferences(e: Env) -> Call:
    # Opted in to both (as if the role had lost a permission since): switching off is anyone's.
    with e.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE user_profiles SET email_low_stock_digest = true, email_report_ready = true "
                "WHERE user_id = :id"
            ),
            {"id": e.actor.user_id},
        )
    return lambda: e.api.mail.set_preferences(e.actor, low_stock_digest=False, report_ready=False)


@op("mail.send_test", _needs("integrations.manage"), WRITE)
def _mail_test(e: Env) -> Call:
    _smtp_configured(e)
    # password="": the server wants no login, so this machine's keyring is not asked.
    return lambda: e.api.mail.send_test(e.actor, "someone@shop.example", password="")


@op("workers.status", None, READ)
def _worker_status(e: Env) -> Call:
    return lambda: e.api.workers.status(e.actor)


# -- tables (grids and exports) --

TABLE_READ = {
    "users": _needs("users.read"),
    "roles": _needs("users.read", "roles.manage"),
    "inventory": _needs("inventory.read"),
    "stock_movements": _needs("inventory.read"),
    "reports": _needs("reports.read"),
    "activity": _needs("audit.read"),
    "sales_metrics": _needs("analytics.read"),
    "customer_metrics": _needs("analytics.read"),
    "orders": _needs("analytics.read"),
    "order_lines": _needs("analytics.read"),
    "analytics_events": _needs("analytics.read"),
    "webhook_deliveries": _needs("integrations.manage"),
}


def _table_ops(name: str, needs: frozenset[str]) -> None:
    @op(f"tables.{name}.page", needs, READ)
    def _page(e: Env) -> Call:
        return lambda: e.api.tables[name].page(e.actor, ListQuery())

    @op(f"tables.{name}.export_csv", needs, READ)
    def _export(e: Env) -> Call:
        return lambda: e.api.tables[name].export_csv(e.actor, ListQuery(), io.BytesIO())

    filters = [f.key for f in Services.table_specs()[name].filters if f.kind == "choice"]
    if filters:

        @op(f"tables.{name}.choices", needs, READ)
        def _choices(e: Env) -> Call:
            return lambda: [e.api.tables[name].choices(e.actor, key) for key in filters]


for _name, _needed in TABLE_READ.items():
    _table_ops(_name, _needed)


def fingerprint(engine: Engine) -> dict[str, str]:
    """Every table's row count and a digest of all its rows: equal fingerprints, equal data."""
    result = {}
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            result[table.name] = conn.execute(
                text(
                    f"SELECT count(*) || ':' || md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "
                    f"FROM {table.name} t"
                )
            ).scalar_one()
    return result


def _allowed(op: Op, held: frozenset[str]) -> bool:
    return (op.needs is None or bool(op.needs & held)) and op.also <= held


ROLES = [*BUILTIN_ROLES, NOBODY, *PERMISSIONS]


def _permissions_of(role: str) -> frozenset[str]:
    if role in BUILTIN_ROLES:
        return BUILTIN_ROLES[role][1]
    return frozenset() if role == NOBODY else frozenset({role})


@pytest.fixture(scope="module")
def smtp_port() -> Iterator[int]:
    """A local SMTP server that takes every message (`mail.send_test` needs a real exchange)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    controller = Controller(_Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    yield port
    controller.stop()


class _Sink:
    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        return "250 OK"


def _env(engine: Engine, services: Services, make_user: MakeUser, role: str, smtp_port: int) -> Env:
    admin = make_user("admin", email="root@shop.example")
    services.roles.create_role(admin, NOBODY, frozenset())
    role_name = role
    if role not in BUILTIN_ROLES and role != NOBODY:
        role_name = f"only {role}"
        services.roles.create_role(admin, role_name, frozenset({role}))
    actor = make_user(role_name, email="actor@shop.example", first_name="Acting", last_name="Person")
    return Env(services, engine, admin, actor, make_user, services, smtp_port)


def test_the_matrix_covers_every_public_service_method() -> None:
    covered = {op.name.split("(")[0] for op in OPS}
    services = (
        ("users", "UserService"),
        ("roles", "RoleService"),
        ("auth", "AuthService"),
        ("settings", "SettingsService"),
        ("inventory", "InventoryService"),
        ("stock", "StockService"),
        ("importer", "InventoryImport"),
        ("orders", "OrderImport"),
        ("analytics", "AnalyticsService"),
        ("reports", "ReportService"),
        ("webhooks", "WebhookService"),
        ("mail", "MailService"),
        ("workers", "WorkerService"),
    )
    for service_name, service in services:
        module_name = "inventory_import" if service_name == "importer" else service_name
        module = __import__(f"ecomdesk.services.{module_name}", fromlist=[service])
        methods = {
            f"{service_name}.{name}"
            for name in vars(getattr(module, service))
            if not name.startswith("_") and callable(getattr(getattr(module, service), name))
        }
        # Signing in and resuming are what make an actor (tested in test_auth); bootstrapping is
        # the database owner's, with no actor at all (test_cli); a report runner acts for each
        # report's requester, checked when it generates (test_reports). The webhook event types
        # are a constant catalogue, read with no database and no actor (test_webhooks).
        unacted = {"auth.authenticate", "auth.resume", "users.bootstrap_user", "webhooks.event_types"}
        missing = methods - covered - unacted - {"reports.run_next", "reports.run_pending"}
        assert not missing, f"add these to OPS: {sorted(missing)}"
    assert set(TABLE_READ) == set(Services.table_specs()), "add every table to TABLE_READ"


@pytest.mark.parametrize("role", ROLES)
def test_each_call_is_allowed_or_refused_exactly_as_the_matrix_says(
    role: str, engine: Engine, services: Services, make_user: MakeUser, smtp_port: int
) -> None:
    env = _env(engine, services, make_user, role, smtp_port)
    held = _permissions_of(role)
    assert env.services.users.get_user(env.admin, env.actor.user_id).role in (role, f"only {role}")
    wrong: list[str] = []
    for op in OPS:
        call = op.prepare(env)
        before = fingerprint(engine)
        expected = _allowed(op, held)
        try:
            call()
        except PermissionDenied:
            if expected:
                wrong.append(f"{op.name}: refused but should be allowed")
            elif fingerprint(engine) != before:
                wrong.append(f"{op.name}: refused but changed the database")
            continue
        if not expected:
            wrong.append(f"{op.name}: allowed but needs {sorted(op.needs or ())} and {sorted(op.also)}")
        elif not op.writes and fingerprint(engine) != before:
            wrong.append(f"{op.name}: a read changed the database")
        elif op.writes and fingerprint(engine)["audit_log"] == before["audit_log"]:
            wrong.append(f"{op.name}: a write left no audit entry")
    assert wrong == []


def test_read_only_mode_refuses_every_write_and_changes_nothing(
    engine: Engine, services: Services, make_user: MakeUser, smtp_port: int
) -> None:
    env = _env(engine, services, make_user, "admin", smtp_port)
    read_only = Services.from_context(ServiceContext(engine, read_only=True, clock=services.ctx.clock))
    for op in OPS:
        call = op.prepare(Env(services, engine, env.admin, env.actor, make_user, read_only, smtp_port))
        before = fingerprint(engine)
        if op.writes is WRITE:
            with pytest.raises(ReadOnlyError):
                call()
        else:
            call()
        assert fingerprint(engine) == before, op.name
