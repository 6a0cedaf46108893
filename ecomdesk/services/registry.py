"""Every service of one database, built together so they share one context (engine, clock, mode)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from ecomdesk.services.analytics import AnalyticsService
from ecomdesk.services.analytics_tables import ANALYTICS_SPECS, ANALYTICS_TABLES
from ecomdesk.services.audit import ACTIVITY_SPEC, ActivityTable
from ecomdesk.services.auth import AuthService
from ecomdesk.services.changes import ChangeService
from ecomdesk.services.context import ServiceContext
from ecomdesk.services.inventory import INVENTORY_SPEC, InventoryService
from ecomdesk.services.inventory_import import InventoryImport
from ecomdesk.services.mail import MailService
from ecomdesk.services.orders import OrderImport
from ecomdesk.services.reports import REPORTS_SPEC, ReportService
from ecomdesk.services.roles import ROLES_SPEC, RoleService, RolesTable
from ecomdesk.services.settings import SettingsService
from ecomdesk.services.snapshots import SnapshotService
from ecomdesk.services.stock import MOVEMENTS_SPEC, StockService
from ecomdesk.services.tables import Table, TableSpec
from ecomdesk.services.users import USERS_SPEC, UserService
from ecomdesk.services.webhooks import DELIVERIES_SPEC, WebhookService
from ecomdesk.services.workers import WorkerService


@dataclass(frozen=True)
class Services:
    ctx: ServiceContext
    auth: AuthService
    users: UserService
    roles: RoleService
    inventory: InventoryService
    stock: StockService
    importer: InventoryImport
    settings: SettingsService
    analytics: AnalyticsService
    orders: OrderImport
    reports: ReportService
    changes: ChangeService
    snapshots: SnapshotService
    workers: WorkerService
    webhooks: WebhookService
    mail: MailService
    #: Every list the app shows, by view name (`ecomdesk export <name>`, the grids).
    tables: dict[str, Table[Any]] = field(default_factory=dict)

    @staticmethod
    def table_specs() -> dict[str, TableSpec]:
        """Every list's description by view name, without a database (help texts, screenshots)."""
        specs = (
            USERS_SPEC,
            ROLES_SPEC,
            INVENTORY_SPEC,
            MOVEMENTS_SPEC,
            REPORTS_SPEC,
            ACTIVITY_SPEC,
            DELIVERIES_SPEC,
            *ANALYTICS_SPECS,
        )
        return {spec.name: spec for spec in specs}

    @classmethod
    def build(cls, engine: Engine, *, read_only: bool = False) -> Services:
        ctx = ServiceContext(engine, read_only=read_only)
        return cls.from_context(ctx)

    @classmethod
    def from_context(cls, ctx: ServiceContext) -> Services:
        users = UserService(ctx)
        inventory = InventoryService(ctx)
        stock = StockService(ctx)
        reports = ReportService(ctx)
        webhooks = WebhookService(ctx)
        listed: tuple[Table[Any], ...] = (
            users.table,
            RolesTable(ctx),
            inventory.table,
            stock.movements,
            reports.table,
            ActivityTable(ctx),
            webhooks.deliveries,
            *(table(ctx) for table in ANALYTICS_TABLES),
        )
        tables = {table.spec.name: table for table in listed}
        return cls(
            ctx,
            AuthService(ctx),
            users,
            RoleService(ctx),
            inventory,
            stock,
            InventoryImport(ctx),
            SettingsService(ctx),
            AnalyticsService(ctx),
            OrderImport(ctx),
            reports,
            ChangeService(ctx),
            SnapshotService(ctx),
            WorkerService(ctx),
            webhooks,
            MailService(ctx),
            tables,
        )
