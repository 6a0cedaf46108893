"""The activity list (`services.tables["activity"]`): shop-day ranges, choices, the typed
before/after of an entry, and who may read it."""

from __future__ import annotations

import datetime as dt
import io
import zoneinfo
from collections.abc import Mapping
from typing import Any

import pytest
from sqlalchemy import Engine, insert

from ecomdesk.db.models import AuditEntry
from ecomdesk.services.audit import ActivityRow, ChangeKind, FieldChange
from ecomdesk.services.errors import PermissionDenied, ValidationError
from ecomdesk.services.listing import ListQuery
from ecomdesk.services.registry import Services
from tests.services.conftest import Staff

NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


def _at(day: int, hour: int, minute: int) -> dt.datetime:
    """A moment of November 2026 on New York's clock (UTC−5 then)."""
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=NEW_YORK)


def _write(engine: Engine, *entries: Mapping[str, Any]) -> None:
    """Entries written straight into the table, as another program (or psql) would."""
    with engine.begin() as conn:
        conn.execute(insert(AuditEntry), [{"entity_type": "inventory_item", **e} for e in entries])


def _ids(services: Services, staff: Staff, **filters: Any) -> list[str | None]:
    query = ListQuery(filters={"action": "stock.counted", **filters})
    return [row.entity_id for row in services.tables["activity"].page(staff.admin, query).rows]


@pytest.fixture
def new_york_shop(services: Services, staff: Staff) -> None:
    services.settings.update_system_settings(staff.admin, {"timezone": "America/New_York"})


@pytest.mark.usefixtures("new_york_shop")
def test_a_day_range_means_whole_shop_days_in_the_shops_time_zone(
    engine: Engine, services: Services, staff: Staff
) -> None:
    # 23:30 in New York on the 27th is already the 28th in UTC (04:30): it belongs to the 27th.
    _write(
        engine,
        {"action": "stock.counted", "entity_id": "26 late", "occurred_at": _at(26, 23, 59)},
        {"action": "stock.counted", "entity_id": "27 early", "occurred_at": _at(27, 0, 0)},
        {"action": "stock.counted", "entity_id": "27 late", "occurred_at": _at(27, 23, 30)},
        {"action": "stock.counted", "entity_id": "28 early", "occurred_at": _at(28, 0, 30)},
    )
    the_27th = dt.date(2026, 11, 27)
    assert _ids(services, staff, date_from=the_27th, date_to=the_27th) == ["27 late", "27 early"]
    assert _ids(services, staff, date_from=dt.date(2026, 11, 28)) == ["28 early"]
    assert _ids(services, staff, date_to=dt.date(2026, 11, 26)) == ["26 late"]
    # The command line gives days as text: `--filter date_from=2026-11-27`.
    assert _ids(services, staff, date_from="2026-11-27", date_to="2026-11-27") == ["27 late", "27 early"]
    assert (
        services.tables["activity"].count(
            staff.admin, ListQuery(filters={"action": "stock.counted", "date_from": the_27th})
        )
        == 3
    )


@pytest.mark.usefixtures("new_york_shop")
def test_the_export_keeps_to_the_day_range(engine: Engine, services: Services, staff: Staff) -> None:
    _write(
        engine,
        {"action": "stock.counted", "entity_id": "27 late", "occurred_at": _at(27, 23, 30)},
        {"action": "stock.counted", "entity_id": "28 early", "occurred_at": _at(28, 0, 30)},
    )
    out = io.BytesIO()
    query = ListQuery(filters={"action": "stock.counted", "date_to": dt.date(2026, 11, 27)})
    rows = services.tables["activity"].export_csv(
        staff.admin, query, out, columns=["occurred_at", "entity_id"]
    )
    assert rows == 1
    assert out.getvalue().decode().splitlines() == ["When,Entity id", "2026-11-28T04:30:00Z,27 late"]


def test_a_range_that_ends_before_it_starts_is_refused_with_a_sentence(
    services: Services, staff: Staff
) -> None:
    table = services.tables["activity"]
    backwards = {"date_from": dt.date(2026, 11, 28), "date_to": dt.date(2026, 11, 27)}
    for read in (
        lambda: table.page(staff.admin, ListQuery(filters=backwards)),
        lambda: table.count(staff.admin, ListQuery(filters=backwards)),
        lambda: table.export_csv(staff.admin, ListQuery(filters=backwards), io.BytesIO()),
    ):
        with pytest.raises(ValidationError) as refused:
            read()
        assert refused.value.fields == {
            "date_to": "The date range ends before it starts: choose a “to” day on or after the “from” day."
        }
    with pytest.raises(ValidationError) as bad:
        table.page(staff.admin, ListQuery(filters={"date_from": "last tuesday"}))
    assert bad.value.fields == {"date_from": "Expected a day, e.g. 2026-11-27."}
    # One day, from and to the same, is a range.
    same = dt.date(2026, 11, 27)
    assert table.page(staff.admin, ListQuery(filters={"date_from": same, "date_to": same})).total is not None


def test_the_filters_offer_the_users_entities_and_actions_on_record(
    engine: Engine, services: Services, staff: Staff
) -> None:
    _write(
        engine,
        {"action": "stock.counted", "actor_email": "zoe@gone.example", "entity_type": "shelf"},
        {"action": "stock.counted", "actor_email": None, "entity_type": "shelf"},
    )
    services.roles.create_role(staff.admin, "Packers", frozenset({"inventory.read"}))
    table = services.tables["activity"]
    users = [choice.value for choice in table.choices(staff.admin, "actor_email")]
    entities = [choice.value for choice in table.choices(staff.admin, "entity_type")]
    actions = [choice.value for choice in table.choices(staff.admin, "action")]
    # An address of an account since deleted stays choosable; the system (no address) is not a user.
    assert "zoe@gone.example" in users and "ada@shop.example" in users and None not in users
    assert users == sorted(users)
    assert {"shelf", "role"} <= set(entities) and entities == sorted(entities)
    assert {"stock.counted", "role.created"} <= set(actions) and actions == sorted(actions)
    assert len(actions) == len(set(actions))
    chosen = table.page(staff.admin, ListQuery(filters={"actor_email": "zoe@gone.example"})).rows
    assert [(row.action, row.entity_type) for row in chosen] == [("stock.counted", "shelf")]


def _entry(services: Services, staff: Staff, action: str) -> ActivityRow:
    rows = services.tables["activity"].page(staff.admin, ListQuery(filters={"action": action})).rows
    assert len(rows) == 1 and isinstance(rows[0], ActivityRow)
    return rows[0]


def test_the_field_changes_of_a_created_updated_and_deleted_record(services: Services, staff: Staff) -> None:
    role = services.roles.create_role(staff.admin, "Packers", frozenset({"inventory.read"}))
    services.roles.update_role(
        staff.admin, role.id, name="Shipping", permissions=frozenset({"inventory.read", "inventory.adjust"})
    )
    services.roles.delete_role(staff.admin, role.id)

    created = _entry(services, staff, "role.created").field_changes()
    assert created == [
        FieldChange("description", None, "", ChangeKind.ADDED),
        FieldChange("name", None, "Packers", ChangeKind.ADDED),
        FieldChange("permissions", None, ["inventory.read"], ChangeKind.ADDED),
    ]
    updated = {change.field: change for change in _entry(services, staff, "role.updated").field_changes()}
    assert updated["name"] == FieldChange("name", "Packers", "Shipping", ChangeKind.CHANGED)
    assert updated["description"].kind is ChangeKind.SAME
    assert updated["permissions"] == FieldChange(
        "permissions", ["inventory.read"], ["inventory.adjust", "inventory.read"], ChangeKind.CHANGED
    )
    assert updated["added"] == FieldChange("added", None, ["inventory.adjust"], ChangeKind.ADDED)
    deleted = _entry(services, staff, "role.deleted").field_changes()
    assert [(c.field, c.before, c.kind) for c in deleted] == [
        ("description", "", ChangeKind.REMOVED),
        ("name", "Shipping", ChangeKind.REMOVED),
        ("permissions", ["inventory.adjust", "inventory.read"], ChangeKind.REMOVED),
    ]


def test_values_equal_in_python_but_not_in_json_count_as_changed() -> None:
    row = ActivityRow(
        1, dt.datetime(2026, 11, 27, tzinfo=dt.UTC), None, "x.y", "x", "1",
        before={"flag": 1, "price": 1, "same": {"a": [1, 2]}},
        after={"flag": True, "price": 1.0, "same": {"a": [1, 2]}},
    )  # fmt: skip
    assert {c.field: c.kind for c in row.field_changes()} == {
        "flag": ChangeKind.CHANGED,
        "price": ChangeKind.CHANGED,
        "same": ChangeKind.SAME,
    }
    assert row.changes == "flag: 1 → true; price: 1 → 1.0"


def test_a_secret_written_into_the_log_by_another_program_never_shows(
    engine: Engine, services: Services, staff: Staff
) -> None:
    _write(
        engine,
        {
            "action": "stock.counted",
            "before": {"name": "Mug", "password": "hunter2"},
            "after": {"name": "Cup", "token": "abc", "nested": {"secret": "s3"}},
        },
    )
    entry = _entry(services, staff, "stock.counted")
    shown = repr(entry.field_changes()) + entry.changes
    assert "hunter2" not in shown and "abc" not in shown and "s3" not in shown
    assert [c.field for c in entry.field_changes()] == ["name", "nested"]


def test_a_viewer_without_audit_read_is_refused_every_read(services: Services, staff: Staff) -> None:
    table = services.tables["activity"]
    assert not staff.viewer.can("audit.read")
    for read in (
        lambda: table.page(staff.viewer, ListQuery()),
        lambda: table.count(staff.viewer, ListQuery()),
        lambda: table.choices(staff.viewer, "actor_email"),
        lambda: table.export_csv(staff.viewer, ListQuery(), io.BytesIO()),
    ):
        with pytest.raises(PermissionDenied):
            read()
