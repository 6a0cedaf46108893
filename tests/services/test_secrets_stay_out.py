"""No password, device token or hash of either ever reaches the logs or the audit trail — not even
with every logger (SQLAlchemy's statement log included) at DEBUG."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import Engine, select, text

from ecomdesk.db.engine import make_engine
from ecomdesk.db.models import DeviceSession, User
from ecomdesk.services.context import ServiceContext
from ecomdesk.services.errors import AuthenticationError, ValidationError
from ecomdesk.services.registry import Services
from ecomdesk.services.users import UserFields
from tests.services.conftest import FakeClock, role_id


def _stored_secrets(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        hashes = set(conn.scalars(select(User.password_hash)))
        hashes |= set(conn.scalars(select(DeviceSession.token_hash)))
    return hashes


def test_secrets_never_reach_logs_or_the_audit_trail(
    database_url: str, caplog: pytest.LogCaptureFixture, clock: FakeClock
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")  # as with echo=True: every statement
    engine = make_engine(database_url)  # built after the level is set, so it logs its SQL
    services = Services.from_context(ServiceContext(engine, clock=clock))
    secrets: set[str] = set()
    try:
        first = "first admin passphrase 2026"
        secrets.add(first)
        services.users.bootstrap_user(
            email="root@shop.example", role="admin", first_name="Root", last_name="Admin", password=first
        )
        admin = services.auth.authenticate("root@shop.example", first).actor
        secrets |= _stored_secrets(engine)

        created = services.users.create_user(
            admin, UserFields("clerk@shop.example", "Cleo", "Clerk", role_id(engine, "viewer"))
        )
        assert created.temporary_password
        secrets.add(created.temporary_password)
        signed_in = services.auth.authenticate(
            "clerk@shop.example", created.temporary_password, remember=True, device_name="Till"
        )
        assert signed_in.token
        secrets.add(signed_in.token)
        secrets |= _stored_secrets(engine)

        mine = "cleo picks a long passphrase"
        secrets.add(mine)
        services.auth.change_password(signed_in.actor, created.temporary_password, mine)
        secrets |= _stored_secrets(engine)
        services.auth.resume(signed_in.token)

        wrong = "a wrong guess of cleos password"
        secrets.add(wrong)
        with pytest.raises(AuthenticationError):
            services.auth.authenticate("clerk@shop.example", wrong)
        short = "tiny secret 9"
        secrets.add(short)
        with pytest.raises(ValidationError) as refused:
            services.auth.change_password(signed_in.actor, mine, short)
        reset = services.users.reset_password(admin, signed_in.actor.user_id)
        secrets.add(reset)
        secrets |= _stored_secrets(engine)
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT action, actor_email, entity_id, before, after FROM audit_log"))
            audit = " ".join(str(row) for row in rows)
    finally:
        engine.dispose()

    logged = caplog.text + " ".join(repr(r.args) for r in caplog.records)
    assert "SELECT" in logged, "the SQL log was not captured, so this test would prove nothing"
    assert "auth.login_failed" in audit and "user.password_reset" in audit
    errors = str(refused.value)
    for secret in secrets:
        assert secret not in logged
        assert secret not in audit
        assert secret not in errors
