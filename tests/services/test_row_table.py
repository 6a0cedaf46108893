"""RowsTable: records already in memory paged, sorted, searched, filtered and exported exactly as the
database's tables do it — the export byte for byte as `SqlTable` writes the same rows."""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, insert

from ecomdesk.db.models import InventoryItem
from ecomdesk.services.context import Actor
from ecomdesk.services.errors import ValidationError
from ecomdesk.services.listing import ListQuery, SortKey
from ecomdesk.services.registry import Services
from ecomdesk.services.row_table import RowsTable
from ecomdesk.services.tables import (
    UTF8_BOM,
    Column,
    ExportCancelled,
    FilterKind,
    FilterSpec,
    Kind,
    TableSpec,
)
from tests.services.conftest import Staff

NOBODY = Actor(0, "nobody@shop.example", "viewer", frozenset())


@dataclass(frozen=True)
class Parcel:
    line: int
    code: str
    weight: int | None
    fragile: bool
    note: str
    price: Decimal | None = None
    sent: dt.datetime | None = None


SPEC = TableSpec(
    name="parcels",
    title="Parcels",
    singular="parcel",
    plural="parcels",
    columns=(
        Column("line", "Line", Kind.INTEGER),
        Column("code", "Code"),
        Column("weight", "Weight", Kind.INTEGER),
        Column("fragile", "Fragile", Kind.BOOL),
        Column("note", "Note", sortable=False),
        Column("price", "Price", Kind.MONEY, shown=False),
        Column("sent", "Sent", Kind.DATETIME, shown=False),
    ),
    default_sort=(SortKey("line"),),
    filters=(
        FilterSpec("code", "Code", FilterKind.CHOICE),
        FilterSpec("fragile", "Fragile", FilterKind.FLAG, ("Fragile only", "Sturdy")),
        FilterSpec("note", "Note", FilterKind.FLAG, ("With a note", "Without")),
    ),
)


def parcels() -> list[Parcel]:
    """Lines 1-8: codes repeat in mixed letter case, weights tie and two are missing."""
    return [
        Parcel(1, "b", 5, False, ""),
        Parcel(2, "A", None, True, "Handle with care"),
        Parcel(3, "c", 5, False, "left at the door"),
        Parcel(4, "a", 2, True, ""),
        Parcel(5, "B", 5, False, "CARE: glass"),
        Parcel(6, "c", None, False, ""),
        Parcel(7, "A", 9, False, ""),
        Parcel(8, "b", 2, True, "care"),
    ]


def lines(table: RowsTable[Parcel], query: ListQuery) -> list[int]:
    return [row.line for row in table.page(NOBODY, replace(query, limit=100)).rows]


def test_windows_page_through_the_rows_in_order_and_say_the_total_only_when_counted() -> None:
    table = RowsTable(SPEC, parcels())
    windows = [table.page(NOBODY, ListQuery(offset=offset, limit=3)) for offset in (0, 3, 6)]
    assert [[row.line for row in page.rows] for page in windows] == [[1, 2, 3], [4, 5, 6], [7, 8]]
    assert [page.total for page in windows] == [8, 8, 8]
    assert [page.has_more for page in windows] == [True, True, False]
    assert table.page(NOBODY, ListQuery(offset=20, limit=3)).rows == []
    assert table.page(NOBODY, ListQuery(limit=3, counted=False)).total is None
    # A total the caller already has is passed back as given, as SqlTable does.
    assert table.page(NOBODY, ListQuery(limit=3, known_total=8, counted=False)).total == 8
    assert table.count(NOBODY, ListQuery(limit=1)) == 8
    with pytest.raises(ValidationError) as bad:
        table.page(NOBODY, ListQuery(offset=-1, limit=0))
    assert set(bad.value.fields) == {"offset", "limit"}


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ((SortKey("weight"),), [4, 8, 1, 3, 5, 7, 2, 6]),
        ((SortKey("weight", descending=True),), [7, 1, 3, 5, 4, 8, 2, 6]),
        ((SortKey("code"),), [2, 4, 7, 1, 5, 8, 3, 6]),
        ((SortKey("code", descending=True),), [3, 6, 1, 5, 8, 2, 4, 7]),
        ((SortKey("fragile", descending=True), SortKey("weight")), [4, 8, 2, 1, 3, 5, 7, 6]),
        ((), [1, 2, 3, 4, 5, 6, 7, 8]),
    ],
    ids=["weight", "-weight", "code", "-code", "-fragile,weight", "default"],
)
def test_sorting_keeps_ties_in_the_given_order_puts_missing_values_last_and_ignores_letter_case(
    sort: tuple[SortKey, ...], expected: list[int]
) -> None:
    assert lines(RowsTable(SPEC, parcels()), ListQuery(sort=sort)) == expected


def test_sorting_by_an_unknown_or_unsortable_column_is_refused() -> None:
    table = RowsTable(SPEC, parcels())
    for key in ("note", "password"):
        with pytest.raises(ValidationError) as bad:
            table.page(NOBODY, ListQuery(sort=(SortKey(key),)))
        assert bad.value.fields == {"sort": f"Cannot sort by {key}."}


def test_search_finds_text_in_the_named_attributes_only_whatever_the_letter_case() -> None:
    table = RowsTable(SPEC, parcels(), search=("note",))
    assert lines(table, ListQuery(search="  care ")) == [2, 5, 8]
    assert table.count(NOBODY, ListQuery(search="GLASS")) == 1
    assert lines(table, ListQuery(search="a")) == [2, 3, 5, 8]  # notes only: codes "A"/"a" do not count
    assert lines(RowsTable(SPEC, parcels()), ListQuery(search="care")) == []  # nothing searched
    assert lines(RowsTable(SPEC, parcels(), search=("code", "weight")), ListQuery(search="9")) == [7]


def test_filters_compare_values_flags_compare_truth_and_they_combine_with_search_and_sort() -> None:
    table = RowsTable(SPEC, parcels(), search=("note",))
    assert lines(table, ListQuery(filters={"code": "A"})) == [2, 7]
    assert lines(table, ListQuery(filters={"fragile": True})) == [2, 4, 8]
    assert lines(table, ListQuery(filters={"fragile": False, "code": None})) == [1, 3, 5, 6, 7]
    # A flag on a text attribute: set when the text is not empty.
    assert lines(table, ListQuery(filters={"note": True})) == [2, 3, 5, 8]
    assert lines(table, ListQuery(filters={"note": False})) == [1, 4, 6, 7]
    query = ListQuery(search="care", filters={"fragile": True}, sort=(SortKey("line", True),))
    assert lines(table, query) == [8, 2]
    assert table.count(NOBODY, query) == 2
    with pytest.raises(ValidationError) as unknown:
        table.page(NOBODY, ListQuery(filters={"weight": 5}))
    assert unknown.value.fields == {"filters": "Unknown filter: weight."}
    with pytest.raises(ValidationError) as not_a_flag:
        table.page(NOBODY, ListQuery(filters={"fragile": "yes"}))
    assert not_a_flag.value.fields == {"fragile": "Expected true or false."}


def test_choices_are_the_distinct_values_present_in_dictionary_order() -> None:
    table = RowsTable(SPEC, parcels())
    assert [c.value for c in table.choices(NOBODY, "code")] == ["A", "a", "B", "b", "c"]
    assert [c.label for c in table.choices(NOBODY, "code")] == ["A", "a", "B", "b", "c"]
    assert RowsTable(SPEC, []).choices(NOBODY, "code") == []
    for key in ("fragile", "weight"):
        with pytest.raises(ValidationError):
            table.choices(NOBODY, key)


def export(table: RowsTable[Any], query: ListQuery = ListQuery(), **options: Any) -> bytes:  # noqa: B008
    out = io.BytesIO()
    table.export_csv(NOBODY, query, out, **options)
    return out.getvalue()


def test_export_writes_titles_then_values_as_copy_does_neutralising_formulas_but_not_numbers() -> None:
    berlin = dt.timezone(dt.timedelta(hours=1))
    rows = [
        Parcel(1, '=HYPERLINK("http://evil","x")', -3, True, "", Decimal("-5.50")),
        Parcel(
            2,
            "+1",
            0,
            False,
            'a, "quoted"\nnote',
            Decimal("1E+2"),
            dt.datetime(2026, 3, 1, 9, 30, 15, 999_999),
        ),
        Parcel(3, "@SUM(A1)", None, False, "\rcarriage", None, dt.datetime(2026, 3, 1, 10, 0, tzinfo=berlin)),
        Parcel(4, "-2", 7, False, "\ttab", Decimal("0.10")),
    ]
    table = RowsTable(SPEC, rows)
    data = export(table, columns=["line", "code", "weight", "fragile", "note", "price", "sent"])
    assert not data.startswith(UTF8_BOM)
    assert data.decode().split("\n") == [
        "Line,Code,Weight,Fragile,Note,Price,Sent",
        '1,"\'=HYPERLINK(""http://evil"",""x"")",-3,true,"",-5.50,',
        '2,\'+1,0,false,"a, ""quoted""',
        'note",100,2026-03-01T09:30:15Z',  # a naive time is UTC; seconds are cut, not rounded
        "3,'@SUM(A1),,false,\"'\rcarriage\",,2026-03-01T09:00:00Z",
        "4,'-2,7,false,'\ttab,0.10,",
        "",
    ]
    parsed = list(csv.reader(io.StringIO(data.decode(), newline="")))
    assert parsed[2][4] == 'a, "quoted"\nnote' and parsed[3][4] == "'\rcarriage"


def test_export_follows_the_query_and_the_shown_columns_with_an_optional_bom_and_progress() -> None:
    table = RowsTable(SPEC, parcels(), search=("note",))
    progress: list[tuple[int, int]] = []
    query = ListQuery(search="care", sort=(SortKey("weight"),), offset=2, limit=1)  # the window is ignored
    data = export(table, query, bom=True, progress=lambda done, total: progress.append((done, total)))
    assert data.startswith(UTF8_BOM)
    assert data[len(UTF8_BOM) :].decode().split("\n") == [
        "Line,Code,Weight,Fragile,Note",
        "8,b,2,true,care",
        "5,B,5,false,CARE: glass",
        "2,A,,true,Handle with care",
        "",
    ]
    assert progress[-1] == (3, 3)


def test_a_cancelled_export_stops_and_bad_columns_are_refused() -> None:
    table = RowsTable(SPEC, parcels())
    with pytest.raises(ExportCancelled):
        export(table, cancelled=lambda: True)
    with pytest.raises(ValidationError) as bad:
        export(table, columns=["line", "password"])
    assert bad.value.fields == {"columns": "Unknown column: password."}
    with pytest.raises(ValidationError) as none:
        export(table, columns=[])
    assert none.value.fields == {"columns": "Choose at least one column to export."}


def test_export_is_byte_for_byte_what_the_database_tables_write_for_the_same_rows(
    services: Services, staff: Staff, engine: Engine
) -> None:
    """Every list's rows read once, then exported by the database (COPY) and from memory: texts
    that look like formulas, quotes and line breaks, negative and NULL numbers, money, percentages,
    yes/no and times must come out the same."""
    defaults: dict[str, object] = {
        "category": "Toys",
        "supplier": "Acme",
        "stock": 10,
        "reserved": 2,
        "reorder_level": None,
    }
    items: list[dict[str, object]] = [
        {"sku": "F-1", "name": '=HYPERLINK("http://evil","click")', "price": "9.99", "cost": "5.00"},
        {"sku": "F-2", "name": "-2+3", "price": "5.00", "cost": "6.00", "reorder_level": 4},
        {"sku": "F-3", "name": '\rReturn, and "more"', "price": "0.00", "cost": "0.00"},
        {"sku": "Q-1", "name": 'Comma, "quotes" and\nline break', "price": "1234567.89", "cost": "0.01"},
    ]
    with engine.begin() as conn:
        conn.execute(insert(InventoryItem), [defaults | item for item in items])
    services.roles.create_role(staff.admin, "=Packers", frozenset({"inventory.read"}))
    compared = 0
    for name in ("inventory", "users", "roles"):
        table = services.tables[name]
        rows = table.page(staff.admin, ListQuery(limit=1000)).rows
        assert rows, name
        # Kept in the order read: the list's own order, whatever the server's collation.
        in_memory = RowsTable(replace(table.spec, default_sort=()), rows)
        # Columns whose SQL text is the record's value (roles' "Granted" is a set in the record).
        columns = [c.key for c in table.spec.columns if c.key != "permissions"]
        database = io.BytesIO()
        table.export_csv(staff.admin, ListQuery(), database, columns=columns, bom=True)
        assert export(in_memory, columns=columns, bom=True) == database.getvalue(), name
        compared += len(rows)
    assert compared >= 4 + 3 + 4
