"""The unit of work every service call runs in: all or nothing, audit included; typed errors."""

from __future__ import annotations

import dataclasses
import threading

import pytest
from sqlalchemy import Engine, func, select, text

from ecomdesk.db.engine import make_engine
from ecomdesk.db.models import AuditEntry, Role
from ecomdesk.services.context import ServiceContext, redact
from ecomdesk.services.errors import Conflict, PermissionDenied, Unavailable
from ecomdesk.services.listing import ListQuery
from ecomdesk.services.registry import Services
from tests.services.conftest import Staff


def _audit_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(AuditEntry)) or 0


def test_a_unit_that_fails_after_writing_leaves_neither_the_change_nor_its_audit_entry(
    engine: Engine, staff: Staff
) -> None:
    ctx = ServiceContext(engine)
    before = _audit_count(engine)
    with pytest.raises(RuntimeError), ctx.write(staff.admin, "roles.manage") as uow:
        uow.session.add(Role(name="Half done", description=""))
        uow.session.flush()
        uow.audit("role.created", "role", 0, after={"name": "Half done"})
        raise RuntimeError("something failed after the audit entry was written")
    assert _audit_count(engine) == before
    with engine.connect() as conn:
        assert conn.scalar(select(Role.id).where(Role.name == "Half done")) is None


def test_a_read_unit_commits_nothing(engine: Engine, staff: Staff) -> None:
    ctx = ServiceContext(engine)
    with ctx.read(staff.admin, None) as uow:
        uow.session.add(Role(name="Never saved", description=""))
        uow.session.flush()
    with engine.connect() as conn:
        assert conn.scalar(select(Role.id).where(Role.name == "Never saved")) is None


def test_a_permission_needs_a_signed_in_actor(engine: Engine) -> None:
    with pytest.raises(PermissionDenied, match="sign in"), ServiceContext(engine).read(None, "users.read"):
        pass


def test_results_are_frozen_plain_data_not_orm_objects(services: Services, staff: Staff) -> None:
    results = [
        services.users.list_users(staff.admin, ListQuery()).rows[0],
        services.users.get_user(staff.admin, staff.viewer.user_id),
        services.roles.list_roles(staff.admin)[0],
        services.roles.list_permissions(staff.admin)[0],
    ]
    for result in results:
        assert dataclasses.is_dataclass(result)
        first = dataclasses.fields(result)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(result, first, None)
        assert not hasattr(result, "_sa_instance_state")


def test_an_unreachable_database_is_a_typed_error_with_a_plain_message(staff: Staff) -> None:
    dead = make_engine("postgresql+psycopg://nobody@127.0.0.1:9/none")
    try:
        services = Services.build(dead)
        with pytest.raises(Unavailable) as info:
            services.users.list_users(staff.admin, ListQuery())
    finally:
        dead.dispose()
    assert "cannot be reached" in info.value.message and "Nothing was changed" in info.value.message


def test_redact_removes_secret_keys_at_any_depth() -> None:
    payload = {"email": "a@b.c", "password": "x", "nested": [{"token": "t", "name": "n"}], "Secret": 1}
    assert redact(payload) == {"email": "a@b.c", "nested": [{"name": "n"}]}


def test_a_statement_over_the_time_limit_is_a_plain_unavailable(database_url: str) -> None:
    slow = make_engine(database_url, statement_timeout_ms=50)
    try:
        with pytest.raises(Unavailable, match="took too long"), ServiceContext(slow).read(None, None) as uow:
            uow.session.execute(text("SELECT pg_sleep(1)"))
    finally:
        slow.dispose()


def test_a_deadlock_is_a_conflict_to_retry_and_the_other_side_goes_through(engine: Engine) -> None:
    ctx = ServiceContext(engine)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO roles (name) VALUES ('left'), ('right')"))
    both_locked = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def lock_in_order(name: str, first: str, second: str) -> None:
        try:
            with ctx.write(None, None) as uow:
                uow.session.execute(
                    text("UPDATE roles SET description = :n WHERE name = :r"), {"n": name, "r": first}
                )
                both_locked.wait()
                uow.session.execute(
                    text("UPDATE roles SET description = :n WHERE name = :r"), {"n": name, "r": second}
                )
            outcomes[name] = "done"
        except Conflict as exc:
            outcomes[name] = exc

    threads = [
        threading.Thread(target=lock_in_order, args=("a", "left", "right")),
        threading.Thread(target=lock_in_order, args=("b", "right", "left")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(str(type(v).__name__) for v in outcomes.values()) == ["Conflict", "str"]
    loser = next(v for v in outcomes.values() if isinstance(v, Conflict))
    assert "try again" in loser.message
