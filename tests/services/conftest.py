"""Fixtures for service tests: the services on a fresh database, and staff of every built-in role.

Users are created through the service itself (as the CLI's bootstrap does), so every fixture
account went through the same validation and hashing as a real one.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from PIL import Image
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ecomdesk.db.models import AuditEntry, Base, Role
from ecomdesk.services.context import Actor, ServiceContext
from ecomdesk.services.registry import Services

PASSWORD = "correct horse battery staple"


class FakeClock:
    """A clock the test moves by hand (throttling and expiry are about time)."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def services(engine: Engine, clock: FakeClock) -> Services:
    return Services.from_context(ServiceContext(engine, clock=clock))


def audit_entries(engine: Engine, action: str) -> list[AuditEntry]:
    """The audit trail's entries of one action, oldest first."""
    with Session(engine) as session:
        stmt = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        return list(session.scalars(stmt))


def row_count(engine: Engine, model: type[Base]) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(model)) or 0


def png(colour: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (16, 16)) -> bytes:
    """A small real PNG made in memory."""
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def role_id(engine: Engine, name: str) -> int:
    with engine.connect() as conn:
        return conn.execute(select(Role.id).where(Role.name == name)).scalar_one()


@dataclass(frozen=True)
class Staff:
    admin: Actor
    manager: Actor
    viewer: Actor

    def by_role(self, role: str) -> Actor:
        actor: Actor = getattr(self, role)
        return actor


MakeUser = Callable[..., Actor]


@pytest.fixture
def make_user(services: Services, engine: Engine) -> MakeUser:
    """Create an account (role by name) and return it as a signed-in actor."""
    counter = iter(range(1, 10_000))

    def make(
        role: str = "viewer",
        *,
        email: str | None = None,
        first_name: str = "Test",
        last_name: str | None = None,
        password: str = PASSWORD,
    ) -> Actor:
        n = next(counter)
        email = email or f"{role}{n}@shop.example"
        services.users.bootstrap_user(
            email=email,
            role=role,
            first_name=first_name,
            last_name=last_name or f"User{n}",
            password=password,
        )
        return services.auth.authenticate(email, password).actor

    return make


@pytest.fixture
def staff(make_user: MakeUser) -> Staff:
    return Staff(
        admin=make_user("admin", email="ada@shop.example", first_name="Ada", last_name="Admin"),
        manager=make_user("manager", email="max@shop.example", first_name="Max", last_name="Manager"),
        viewer=make_user("viewer", email="vic@shop.example", first_name="Vic", last_name="Viewer"),
    )
