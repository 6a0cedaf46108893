"""Every service of one database, built together so they share one context (engine, clock, mode)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from ecomdesk.services.auth import AuthService
from ecomdesk.services.context import ServiceContext
from ecomdesk.services.inventory import InventoryTable
from ecomdesk.services.roles import RoleService
from ecomdesk.services.tables import Table
from ecomdesk.services.users import UserService


@dataclass(frozen=True)
class Services:
    ctx: ServiceContext
    auth: AuthService
    users: UserService
    roles: RoleService
    inventory: InventoryTable
    #: Every list the app shows, by view name (`ecomdesk export <name>`, the grids).
    tables: dict[str, Table[Any]] = field(default_factory=dict)

    @classmethod
    def build(cls, engine: Engine, *, read_only: bool = False) -> Services:
        ctx = ServiceContext(engine, read_only=read_only)
        return cls.from_context(ctx)

    @classmethod
    def from_context(cls, ctx: ServiceContext) -> Services:
        inventory = InventoryTable(ctx)
        tables: dict[str, Table[Any]] = {table.spec.name: table for table in (inventory,)}
        return cls(ctx, AuthService(ctx), UserService(ctx), RoleService(ctx), inventory, tables)
