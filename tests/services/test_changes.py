"""`ChangeService.poll`: what others changed, and whether the signed-in user is still who the app
thinks — a new right reaches them within one poll, an ended sign-in ends the poll, and the user is
re-read only when a table that shapes their rights changed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, event, text

from ecomdesk.services.changes import IDENTITY_TABLES
from ecomdesk.services.context import Actor, ServiceContext
from ecomdesk.services.errors import AuthenticationError
from ecomdesk.services.registry import Services
from tests.services.conftest import PASSWORD, MakeUser, Staff


@pytest.fixture
def statements(engine: Engine) -> Iterator[list[str]]:
    """Every SQL statement the engine sends from now on."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    yield sent
    event.remove(engine, "before_cursor_execute", record)


def _add_item_by_sql(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO inventory_items (sku, name, category, supplier, price, cost) "
                "VALUES ('MUG', 'Mug', 'Home', 'Acme', 9.90, 4.00)"
            )
        )


def test_a_poll_with_nothing_about_the_user_changed_returns_no_new_actor(
    services: Services, staff: Staff
) -> None:
    cursor = services.changes.start()
    update = services.changes.poll(staff.viewer, cursor)
    assert update.actor is None
    assert not update.batch


def test_an_unrelated_change_is_delivered_without_re_reading_the_user(
    services: Services, staff: Staff, engine: Engine, statements: list[str]
) -> None:
    cursor = services.changes.start()
    _add_item_by_sql(engine)
    statements.clear()
    update = services.changes.poll(staff.viewer, cursor)
    assert update.batch.tables == {"inventory_items"} and update.actor is None
    assert statements and all("change_log" in sql for sql in statements), statements


def test_another_users_change_re_reads_the_user_and_finds_them_unchanged(
    services: Services, staff: Staff, statements: list[str]
) -> None:
    cursor = services.changes.start()
    services.users.set_active(staff.admin, staff.manager.user_id, False)
    statements.clear()
    update = services.changes.poll(staff.viewer, cursor)
    assert update.batch.touches(IDENTITY_TABLES)
    assert update.actor is None  # re-read (see below), and the same as before
    assert any("user_profiles" in sql for sql in statements)


def test_a_permission_granted_to_the_users_role_reaches_them_in_the_next_poll(
    services: Services, staff: Staff
) -> None:
    granted = next(
        p.code for p in services.roles.list_permissions(staff.admin) if p.code not in staff.viewer.permissions
    )
    cursor = services.changes.start()
    viewer_role = next(r for r in services.roles.list_roles(staff.admin) if r.name == "viewer")
    services.roles.update_role(
        staff.admin, viewer_role.id, name="viewer", permissions=viewer_role.permissions | {granted}
    )
    update = services.changes.poll(staff.viewer, cursor)
    assert update.actor is not None
    assert update.actor.permissions == staff.viewer.permissions | {granted}
    assert (update.actor.user_id, update.actor.role) == (staff.viewer.user_id, "viewer")
    assert "role_permissions" in update.batch.tables


def test_a_revoked_device_session_ends_the_poll_with_an_authentication_error(
    services: Services, make_user: MakeUser, staff: Staff
) -> None:
    make_user("viewer", email="remy@shop.example")
    remembered = services.auth.authenticate("remy@shop.example", PASSWORD, remember=True, device_name="till")
    actor: Actor = remembered.actor
    assert actor.session_id is not None
    cursor = services.changes.start()
    services.auth.revoke_session(staff.admin, actor.session_id)
    with pytest.raises(AuthenticationError, match="sign-in has ended"):
        services.changes.poll(actor, cursor)


def test_a_deactivated_account_ends_the_poll_with_an_authentication_error(
    services: Services, staff: Staff
) -> None:
    cursor = services.changes.start()
    services.users.set_active(staff.admin, staff.viewer.user_id, False)
    with pytest.raises(AuthenticationError, match="no longer active"):
        services.changes.poll(staff.viewer, cursor)


def test_two_service_sessions_see_each_others_changes(
    services: Services, staff: Staff, engine: Engine, database_url: str
) -> None:
    """A second app on the same database: its own engine, its own services, its own cursor."""
    from ecomdesk.db.engine import make_engine

    other_engine = make_engine(database_url)
    try:
        other = Services.from_context(ServiceContext(other_engine))
        mine, theirs = services.changes.start(), other.changes.start()
        other.roles.create_role(staff.admin, "Packers", frozenset({"inventory.read"}))
        services.users.set_active(staff.admin, staff.manager.user_id, False)
        seen_here = services.changes.poll(staff.admin, mine).batch
        seen_there = other.changes.poll(staff.admin, theirs).batch
    finally:
        other_engine.dispose()
    for batch in (seen_here, seen_there):
        assert {"roles", "role_permissions", "user_profiles", "audit_log"} <= batch.tables
        assert batch.rows("user_profiles") == frozenset({str(staff.manager.user_id)})
    assert [c.id for c in seen_here.changes] == [c.id for c in seen_there.changes]
