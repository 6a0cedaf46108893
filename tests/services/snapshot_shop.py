"""One demo shop on PostgreSQL and the snapshot its admin took of it, shared by the snapshot read
and write tests (module-scoped fixtures build one each: seeding takes a few seconds).

The seed lacks a few things a snapshot must carry too, so they are added through the services
first: an avatar picture, a stock adjustment, generated reports with stored content, audit entries.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from PIL import Image
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from ecomdesk.bootstrap import OpenSnapshot, open_snapshot
from ecomdesk.db.engine import make_engine
from ecomdesk.db.models import AuditEntry, MovementKind, User
from ecomdesk.db.seed import DEMO_PASSWORD, seed_demo_data
from ecomdesk.services.context import Actor, ServiceContext, load_actor
from ecomdesk.services.inventory import ItemFields
from ecomdesk.services.listing import ListQuery
from ecomdesk.services.passwords import hash_password
from ecomdesk.services.registry import Services
from ecomdesk.services.stock import Adjustment
from ecomdesk.services.webhook_delivery import WebhookDeliverer
from ecomdesk.services.webhooks import EndpointDraft
from tests.conftest import scratch_database

#: The seed's "today"; the clock of both sides stands on its morning (shop zone Berlin).
TODAY = dt.date(2026, 11, 27)
NOW = dt.datetime(2026, 11, 27, 9, 30, tzinfo=dt.UTC)
ADMIN_EMAIL = "admin@demo.shop"
MANAGER_EMAIL = "manager@demo.shop"


def fixed_clock() -> dt.datetime:
    return NOW


def png(colour: tuple[int, int, int], size: tuple[int, int] = (24, 24)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class Shop:
    """The live shop (services with the fixed clock, its admin) and the snapshot opened from it."""

    engine: Engine
    live: Services
    admin: Actor
    path: Path
    opened: OpenSnapshot
    #: The newest audit entry the snapshot holds.
    last_audit_id: int

    def forget_later_activity(self) -> None:
        """Delete the audit entries written after the snapshot (its own `snapshot.created`, and what
        a live read audits, e.g. `report.run`), so the activity lists on both sides hold the same."""
        with self.engine.begin() as conn:
            conn.execute(delete(AuditEntry).where(AuditEntry.id > self.last_audit_id))

    @property
    def snap(self) -> Services:
        return self.opened.services

    @property
    def snap_actor(self) -> Actor:
        return self.opened.actor


@contextmanager
def seeded_database(pg_admin_url: str, template_database: str) -> Iterator[Engine]:
    with scratch_database(pg_admin_url, template_database, "ecomdesk_snapshot") as url:
        engine = make_engine(url)
        try:
            seed_demo_data(engine, hash_password=hash_password, today=TODAY, scale=0.1)
            yield engine
        finally:
            engine.dispose()


def _admin(engine: Engine) -> Actor:
    with Session(engine) as session:
        user_id = session.scalars(select(User.id).where(User.email == ADMIN_EMAIL)).one()
        return load_actor(session, user_id, None, NOW)


def _add_what_the_seed_lacks(live: Services, admin: Actor) -> None:
    # Remembered devices, one of them signed out (the seed has none).
    for email in (ADMIN_EMAIL, MANAGER_EMAIL, MANAGER_EMAIL):
        signed_in = live.auth.authenticate(email, DEMO_PASSWORD, remember=True, device_name=f"{email} laptop")
    live.auth.sign_out(signed_in.actor)
    viewer = live.users.list_users(admin, ListQuery(search="viewer@demo.shop")).rows[0]
    live.users.set_active(admin, viewer.id, False)
    live.users.set_avatar(admin, admin.user_id, png((30, 120, 200)), "me.png")
    # A webhook endpoint: the item changes below queue deliveries (they stay pending: see the end).
    hook = EndpointDraft("http://127.0.0.1:9/ecomdesk", ["inventory.item.changed"], "ERP", allow_private=True)
    live.webhooks.add_endpoint(admin, hook)
    item = live.inventory.table.page(admin, ListQuery(limit=5)).rows[0]
    # Text a spreadsheet would run as a formula, with quotes and a comma: exports neutralise and quote it.
    formula = ItemFields(
        "FAIR-0002", '=HYPERLINK("x", "Fair, banner")', "Office", "-Acme", Decimal("2.00"), Decimal("1.50")
    )
    live.inventory.create_item(admin, formula, stock=2)
    live.stock.adjust(admin, item.id, Adjustment(MovementKind.RECEIVE, 12, "Delivery for the fair"))
    live.settings.update_system_settings(admin, {"shop_name": "Demo Shop — Zürich & Co"})
    # The seed queues its example reports; generate them as the app's runner would.
    live.reports.run_pending("snapshot-test")
    # One delivery attempt (port 9 refuses it): the delivery log has an attempt to compare; the
    # delivery stays pending, waiting for its retry.
    with WebhookDeliverer(live.ctx) as deliverer:
        deliverer.run_next("snapshot-test")


@contextmanager
def snapshot_shop(pg_admin_url: str, template_database: str, folder: Path) -> Iterator[Shop]:
    with seeded_database(pg_admin_url, template_database) as engine:
        live = Services.from_context(ServiceContext(engine, clock=fixed_clock))
        admin = _admin(engine)
        _add_what_the_seed_lacks(live, admin)
        path = folder / "shop.ecomsnap"
        live.snapshots.create(admin, path, source_label="test server")
        opened = open_snapshot(path)
        opened.services.ctx.clock = fixed_clock
        with opened.services.ctx.engine.connect() as conn:
            last_audit_id = conn.scalar(select(func.max(AuditEntry.id))) or 0
        made = Shop(engine, live, admin, path, opened, last_audit_id)
        made.forget_later_activity()
        try:
            yield made
        finally:
            opened.close()
