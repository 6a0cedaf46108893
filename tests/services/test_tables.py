"""The tables every grid and export reads: windows in any sort order, search, filters, CSV export."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, insert, update

from ecomdesk.db.models import InventoryItem, SystemSetting
from ecomdesk.services.errors import PermissionDenied, ValidationError
from ecomdesk.services.listing import ListQuery, SortKey
from ecomdesk.services.registry import Services
from ecomdesk.services.tables import UTF8_BOM, ExportCancelled
from tests.services.conftest import Staff


def _items(engine: Engine, rows: list[dict[str, Any]]) -> None:
    defaults = {
        "category": "Toys",
        "supplier": "Acme",
        "stock": 10,
        "reserved": 0,
        "price": "9.99",
        "cost": "5.00",
        "reorder_level": None,
    }
    with engine.begin() as conn:
        conn.execute(insert(InventoryItem), [defaults | row for row in rows])


@pytest.fixture
def namesakes(engine: Engine) -> None:
    """40 items with many equal names and stock levels and some NULL reorder levels, so every
    order has ties (broken by id) and NULLs (last in either direction)."""
    _items(
        engine,
        [
            {
                "sku": f"SKU-{n:03}",
                "name": f"Item {n % 4}",
                "stock": n % 5,
                "reorder_level": None if n % 3 == 0 else n % 7,
                "category": "Books" if n % 2 else "Toys",
            }
            for n in range(40)
        ],
    )


@pytest.mark.usefixtures("namesakes")
@pytest.mark.parametrize(
    "sort",
    [
        (),
        (SortKey("name"),),
        (SortKey("name", descending=True),),
        (SortKey("stock"), SortKey("name", descending=True)),
        (SortKey("reorder_level"),),
        (SortKey("reorder_level", descending=True),),
    ],
    ids=lambda sort: ",".join(("-" if k.descending else "") + k.key for k in sort) or "default",
)
def test_windows_read_backwards_near_the_end_match_the_forward_order(
    services: Services, staff: Staff, sort: tuple[SortKey, ...]
) -> None:
    table = services.tables["inventory"]
    everything = table.page(staff.viewer, ListQuery(sort=sort, limit=100))
    order = [row.sku for row in everything.rows]
    assert everything.total == 40 and len(set(order)) == 40
    for offset in range(0, 40, 7):  # windows past the middle are read backwards
        window = table.page(staff.viewer, ListQuery(sort=sort, offset=offset, limit=7, known_total=40))
        assert [row.sku for row in window.rows] == order[offset : offset + 7], offset
    nulls = [row.reorder_level for row in everything.rows if row.reorder_level is None]
    if sort and sort[0].key == "reorder_level":
        assert [row.reorder_level for row in everything.rows][-len(nulls) :] == nulls


@pytest.mark.usefixtures("namesakes")
def test_ties_follow_the_id_in_the_direction_of_the_last_key(services: Services, staff: Staff) -> None:
    table = services.tables["inventory"]
    up = table.page(staff.viewer, ListQuery(sort=(SortKey("name"),), limit=10)).rows
    down = table.page(staff.viewer, ListQuery(sort=(SortKey("name", descending=True),), limit=10)).rows
    assert [r.name for r in up] == ["Item 0"] * 10
    assert [r.id for r in up] == sorted(r.id for r in up)
    assert [r.name for r in down] == ["Item 3"] * 10
    assert [r.id for r in down] == sorted((r.id for r in down), reverse=True)


def test_search_takes_wildcards_literally_and_filters_combine(
    services: Services, staff: Staff, engine: Engine
) -> None:
    _items(
        engine,
        [
            {"sku": "A-1", "name": "100% cotton shirt", "category": "Apparel", "stock": 3},
            {"sku": "A-2", "name": "1000 cotton shirts", "category": "Apparel", "stock": 50},
            {"sku": "B_1", "name": "Book", "category": "Books", "stock": 2, "reorder_level": 1},
        ],
    )
    table = services.tables["inventory"]

    def skus(search: str = "", **filters: Any) -> list[str]:
        page = table.page(staff.viewer, ListQuery(search=search, filters=filters, sort=(SortKey("sku"),)))
        assert page.total == len(page.rows)
        return [row.sku for row in page.rows]

    assert skus("100%") == ["A-1"]
    assert skus("b_") == ["B_1"]
    assert skus("shirt", category="Apparel") == ["A-1", "A-2"]
    # Low stock: available at or below the item's reorder level, else the shop's threshold (10).
    assert skus(low_stock=True) == ["A-1"]
    assert skus(low_stock=False) == ["A-2", "B_1"]
    with engine.begin() as conn:
        conn.execute(
            update(SystemSetting).where(SystemSetting.key == "inventory.low_stock_threshold").values(value=2)
        )
    assert skus(low_stock=True) == []
    assert [c.value for c in table.choices(staff.viewer, "category")] == ["Apparel", "Books"]


def test_bad_sorts_filters_and_windows_are_refused_with_field_messages(
    services: Services, staff: Staff
) -> None:
    table = services.tables["inventory"]
    with pytest.raises(ValidationError) as sort:
        table.page(staff.viewer, ListQuery(sort=(SortKey("cost_secret"),)))
    assert sort.value.fields == {"sort": "Cannot sort by cost_secret."}
    with pytest.raises(ValidationError) as flag:
        table.page(staff.viewer, ListQuery(filters={"low_stock": "yes"}))
    assert flag.value.fields == {"low_stock": "Expected true or false."}
    with pytest.raises(ValidationError) as unknown:
        table.page(staff.viewer, ListQuery(filters={"colour": "red"}))
    assert unknown.value.fields == {"filters": "Unknown filter: colour."}


def test_each_table_needs_its_read_permission(services: Services, staff: Staff) -> None:
    query = ListQuery(limit=5)
    assert services.tables["inventory"].page(staff.viewer, query).total == 0
    for name in ("users", "roles", "activity"):
        with pytest.raises(PermissionDenied):
            services.tables[name].page(staff.viewer, query)
        with pytest.raises(PermissionDenied):
            services.tables[name].export_csv(staff.viewer, query, io.BytesIO())
    # The manager reads users, hence role names too, and the activity log.
    assert services.tables["roles"].page(staff.manager, query).total == 3
    assert services.tables["activity"].count(staff.manager, query) > 0


def test_every_table_lists_and_exports_what_it_describes(services: Services, staff: Staff) -> None:
    for name, table in services.tables.items():
        assert table.spec.name == name
        page = table.page(staff.admin, ListQuery(limit=50))
        for row in page.rows:
            for column in table.spec.columns:
                getattr(row, column.key)  # every column is an attribute of the record
        out = io.BytesIO()
        exported = table.export_csv(staff.admin, ListQuery(), out)
        lines = list(csv.reader(io.StringIO(out.getvalue().decode())))
        assert lines[0] == [c.title for c in table.spec.columns if c.shown]
        assert exported == page.total == len(lines) - 1, name


def _export(services: Services, staff: Staff, query: ListQuery, **options: Any) -> bytes:
    out = io.BytesIO()
    services.tables["inventory"].export_csv(staff.viewer, query, out, **options)
    return out.getvalue()


def test_export_quotes_per_rfc_4180_and_neutralises_formulas_but_not_numbers(
    services: Services, staff: Staff, engine: Engine
) -> None:
    names = {
        "F-1": '=HYPERLINK("http://evil","click")',
        "F-2": "+1+1",
        "F-3": "-2+3",
        "F-4": "@SUM(A1)",
        "F-5": "\tTabbed",
        "F-6": "\rReturn",
        "Q-1": 'Comma, "quotes" and\nline break',
        "Q-2": "Plain = inside",
    }
    _items(engine, [{"sku": sku, "name": name} for sku, name in names.items()])
    # A loss-making item: its negative margin is a number, not a formula.
    _items(engine, [{"sku": "N-1", "name": "Loss leader", "price": "5.00", "cost": "6.00"}])
    data = _export(services, staff, ListQuery(sort=(SortKey("sku"),)), columns=["sku", "name", "margin"])
    assert not data.startswith(UTF8_BOM)
    rows = list(csv.reader(io.StringIO(data.decode(), newline="")))
    assert rows[0] == ["SKU", "Name", "Margin %"]
    got = {sku: (name, margin) for sku, name, margin in rows[1:]}
    for sku in ("F-1", "F-2", "F-3", "F-4", "F-5", "F-6"):
        assert got[sku][0] == "'" + names[sku], sku
    assert got["Q-1"][0] == names["Q-1"]
    assert got["Q-2"][0] == "Plain = inside"
    assert Decimal(got["N-1"][1]) == Decimal("-20.0")
    assert b'"Comma, ""quotes"" and\nline break"' in data


@pytest.mark.usefixtures("namesakes")
def test_export_writes_every_matching_row_in_the_query_order_with_an_optional_bom(
    services: Services, staff: Staff
) -> None:
    query = ListQuery(
        search="item", filters={"category": "Books"}, sort=(SortKey("name", True),), offset=5, limit=3
    )
    listed = services.tables["inventory"].page(
        staff.viewer, ListQuery(query.search, query.filters, query.sort, limit=100)
    )
    progress: list[tuple[int, int]] = []
    data = _export(
        services, staff, query, columns=["sku"], bom=True, progress=lambda d, t: progress.append((d, t))
    )
    assert data.startswith(UTF8_BOM)
    skus = data[len(UTF8_BOM) :].decode().split("\n")
    assert skus[0] == "SKU" and skus[-1] == ""
    assert skus[1:-1] == [row.sku for row in listed.rows] and len(skus) - 2 == 20
    assert progress[-1] == (20, 20)


@pytest.mark.usefixtures("namesakes")
def test_a_cancelled_export_stops_and_bad_columns_are_refused(services: Services, staff: Staff) -> None:
    with pytest.raises(ExportCancelled):
        _export(services, staff, ListQuery(), cancelled=lambda: True)
    with pytest.raises(ValidationError) as bad:
        _export(services, staff, ListQuery(), columns=["sku", "password"])
    assert bad.value.fields == {"columns": "Unknown column: password."}


def test_activity_rows_say_what_changed_in_one_line(services: Services, staff: Staff) -> None:
    role = services.roles.create_role(staff.admin, "Packers", frozenset({"inventory.read"}))
    services.roles.update_role(staff.admin, role.id, name="Shipping", permissions=role.permissions)
    rows = services.tables["activity"].page(staff.admin, ListQuery(filters={"entity_type": "role"})).rows
    changes = {row.action: row.changes for row in rows}
    assert 'name: "Packers" → "Shipping"' in changes["role.updated"]
    assert (
        changes["role.created"].startswith('description: ""; ')
        and 'name: "Packers"' in changes["role.created"]
    )
