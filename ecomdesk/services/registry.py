"""Every service of one database, built together so they share one context (engine, clock, mode)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from ecomdesk.services.auth import AuthService
from ecomdesk.services.context import ServiceContext
from ecomdesk.services.roles import RoleService
from ecomdesk.services.users import UserService


@dataclass(frozen=True)
class Services:
    ctx: ServiceContext
    auth: AuthService
    users: UserService
    roles: RoleService

    @classmethod
    def build(cls, engine: Engine, *, read_only: bool = False) -> Services:
        ctx = ServiceContext(engine, read_only=read_only)
        return cls.from_context(ctx)

    @classmethod
    def from_context(cls, ctx: ServiceContext) -> Services:
        return cls(ctx, AuthService(ctx), UserService(ctx), RoleService(ctx))
