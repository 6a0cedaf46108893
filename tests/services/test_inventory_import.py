"""The inventory CSV import: reading the file, the per-row rules, matching by SKU, all or nothing,
stock movements, re-imports, permissions, cancellation and a race with a stock adjustment."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from decimal import Decimal

import psycopg
import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from ecomdesk.db.engine import libpq_url
from ecomdesk.db.models import AuditEntry, InventoryItem, MovementKind, StockMovement
from ecomdesk.services.context import ServiceContext
from ecomdesk.services.errors import Conflict, PermissionDenied, ReadOnlyError
from ecomdesk.services.inventory import ItemConflict, ItemFields
from ecomdesk.services.inventory_import import (
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    ImportCancelled,
    ImportFileError,
    ImportProblem,
    ImportRejected,
    InventoryImport,
    RowAction,
)
from ecomdesk.services.registry import Services
from ecomdesk.services.stock import Adjustment
from tests.services.conftest import FakeClock, Staff, audit_entries, row_count

HEADER = "sku,name,category,supplier,stock,reserved,price,cost"


def csv_file(*lines: str, header: str = HEADER) -> bytes:
    return ("\n".join((header, *lines)) + "\n").encode()


@pytest.fixture
def importer(services: Services) -> InventoryImport:
    return InventoryImport(services.ctx)


def add_item(
    services: Services,
    staff: Staff,
    sku: str,
    *,
    name: str = "Kite",
    price: str = "10.00",
    cost: str = "4.00",
    stock: int = 0,
    reserved: int = 0,
    reorder_level: int | None = None,
) -> int:
    fields = ItemFields(sku, name, "Toys", "Acme", Decimal(price), Decimal(cost), reorder_level)
    return services.inventory.create_item(staff.admin, fields, stock=stock, reserved=reserved).id


def item(engine: Engine, sku: str) -> InventoryItem:
    with Session(engine, expire_on_commit=False) as session:
        found = session.scalars(select(InventoryItem).where(InventoryItem.sku == sku)).one()
        session.expunge(found)
        return found


def movements(engine: Engine, sku: str) -> list[tuple[str, int, int, int, int, str]]:
    """(kind, stock delta, reserved delta, stock after, reserved after, reason), oldest first."""
    stmt = (
        select(
            StockMovement.kind,
            StockMovement.stock_delta,
            StockMovement.reserved_delta,
            StockMovement.stock_after,
            StockMovement.reserved_after,
            StockMovement.reason,
        )
        .join(InventoryItem, InventoryItem.id == StockMovement.item_id)
        .where(InventoryItem.sku == sku)
        .order_by(StockMovement.id)
    )
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(stmt)]  # type: ignore[misc]


def file_error(importer: InventoryImport, staff: Staff, data: bytes) -> str:
    with pytest.raises(ImportFileError) as info:
        importer.preview(staff.manager, data, "items.csv")
    assert info.value.fields == {"file": info.value.message}
    return info.value.message


def problems(importer: InventoryImport, staff: Staff, data: bytes) -> list[tuple[int, str | None, str]]:
    result = importer.preview(staff.manager, data, "items.csv")
    return [(p.line, p.column, p.message) for p in result.problems]


# -- reading the file -----------------------------------------------------------------------------


def test_a_clean_file_creates_every_item_with_its_opening_stock_as_a_movement(
    importer: InventoryImport, staff: Staff, engine: Engine, clock: FakeClock
) -> None:
    data = csv_file(
        "elec-000001 , USB  cable,Electronics,Acme,12,2,9.90,3.10",
        "ELEC-000002,Charger,Electronics,Acme,0,0,19,7.5",
    )
    result = importer.commit(staff.manager, data, "items.csv")

    assert (result.created, result.updated, result.unchanged) == (2, 0, 0)
    assert result.committed and not result.dry_run and result.ok
    assert result.summary == "2 rows: 2 new, 0 changed, 0 unchanged."
    cable = item(engine, "ELEC-000001")
    assert (cable.name, cable.stock, cable.reserved, cable.price, cable.cost) == (
        "USB cable",
        12,
        2,
        Decimal("9.90"),
        Decimal("3.10"),
    )
    assert cable.version == 1 and cable.last_updated == clock.now and cable.reorder_level is None
    assert movements(engine, "ELEC-000001") == [("opening", 12, 2, 12, 2, "Import of items.csv")]
    assert movements(engine, "ELEC-000002") == []  # nothing in stock: no movement
    [entry] = audit_entries(engine, "inventory.imported")
    assert entry.actor_email == "max@shop.example" and entry.entity_type == "inventory_import"
    assert entry.after == {
        "file_name": "items.csv",
        "sha256": hashlib.sha256(data).hexdigest(),
        "rows": 2,
        "created": 2,
        "updated": 0,
        "unchanged": 0,
    }


def test_header_names_match_in_any_order_and_letter_case_with_the_optional_column(
    importer: InventoryImport, staff: Staff, engine: Engine
) -> None:
    header = " Price ,COST,Reorder_Level,reserved,stock,Supplier,category,NAME,SKU"
    data = csv_file("12.50,5,7,1,3,Acme,Toys,Kite,T-1", header=header)
    importer.commit(staff.manager, data, "items.csv")
    kite = item(engine, "T-1")
    assert (kite.name, kite.category, kite.supplier, kite.stock, kite.reserved) == (
        "Kite",
        "Toys",
        "Acme",
        3,
        1,
    )
    assert (kite.price, kite.cost, kite.reorder_level) == (Decimal("12.50"), Decimal("5.00"), 7)


def test_an_excel_utf8_file_with_a_byte_order_mark_and_crlf_lines_imports_normally(
    importer: InventoryImport, staff: Staff, engine: Engine
) -> None:
    data = b"\xef\xbb\xbf" + f"{HEADER}\r\nT-1,Caf\u00e9 table,Furniture,M\u00f6bel AG,1,0,99,40\r\n".encode()
    result = importer.commit(staff.manager, data, "items.csv")
    assert result.ok and result.rows[0].line == 2
    assert item(engine, "T-1").name == "Café table" and item(engine, "T-1").supplier == "Möbel AG"


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_semicolon_and_tab_files_read_decimal_commas(
    importer: InventoryImport, staff: Staff, engine: Engine, delimiter: str
) -> None:
    header = HEADER.replace(",", delimiter)
    data = csv_file(
        delimiter.join(["T-1", "Kite, red", "Toys", "Acme", "3", "0", "12,50", "4,5"]), header=header
    )
    importer.commit(staff.manager, data, "items.csv")
    kite = item(engine, "T-1")
    assert (kite.name, kite.price, kite.cost) == ("Kite, red", Decimal("12.50"), Decimal("4.50"))


def test_a_comma_file_does_not_read_a_decimal_comma(importer: InventoryImport, staff: Staff) -> None:
    data = csv_file('T-1,Kite,Toys,Acme,3,0,"12,50",4')
    assert problems(importer, staff, data) == [
        (2, "price", "Enter an amount like 12.50 (digits, a point, at most two decimals).")
    ]


def test_missing_and_unknown_columns_are_named_exactly(importer: InventoryImport, staff: Staff) -> None:
    message = file_error(
        importer, staff, csv_file("T-1,Kite,Toys,Acme,3,1", header="sku,name,category,supplier,qty,price")
    )
    assert message == (
        "Missing columns: stock, reserved, cost. Unknown columns: qty. Expected: sku, name, category, "
        "supplier, stock, reserved, price, cost, and optionally reorder_level "
        "(in any order, one header line)."
    )
    assert REQUIRED_COLUMNS + OPTIONAL_COLUMNS == (
        "sku", "name", "category", "supplier", "stock", "reserved", "price", "cost", "reorder_level"
    )  # fmt: skip


def test_a_column_named_twice_is_refused(importer: InventoryImport, staff: Staff) -> None:
    message = file_error(importer, staff, csv_file("T-1,Kite,Toys,Acme,3,0,9,4,4", header=HEADER + ",Stock"))
    assert message == "Columns appear twice: stock (columns 5 and 9). Keep one of each."


def test_a_utf16_file_is_refused_with_advice_to_save_it_as_csv_utf8(
    importer: InventoryImport, staff: Staff
) -> None:
    message = file_error(importer, staff, csv_file("T-1,Kite,Toys,Acme,3,0,9,4").decode().encode("utf-16"))
    assert message.startswith("This file is UTF-16 text")
    assert '"CSV UTF-8"' in message


def test_a_windows_1252_file_is_refused_naming_the_line_and_the_byte(
    importer: InventoryImport, staff: Staff
) -> None:
    data = csv_file("T-1,Kite,Toys,Acme,3,0,9,4", "T-2,Café table,Furniture,Acme,1,0,99,40").decode()
    message = file_error(importer, staff, data.encode("cp1252"))
    assert message.startswith("Line 3 is not UTF-8 text: byte 0xE9 (“é” in Windows-1252).")
    assert '"CSV UTF-8"' in message


@pytest.mark.parametrize(
    ("data", "start"),
    [
        (
            b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 40,
            "This is an Excel workbook (.xlsx) or another zip archive",
        ),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 40, "This is an old Excel workbook (.xls)"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "This is a PDF document"),
        (HEADER.encode() + b"\nT-1,\x00\x01\x02", "This is not a text file: line 2 holds binary data"),
        (b"", "The file is empty."),
        (b" \r\n\n", "The file is empty."),
        (HEADER.encode() + b"\r\n\r\n,,,,,,,\r\n", "The file has a header line but no rows to import."),
    ],
    ids=["xlsx", "xls", "pdf", "binary", "empty", "blank", "header-only"],
)
def test_a_file_that_is_not_an_inventory_csv_gets_a_precise_message(
    importer: InventoryImport, staff: Staff, data: bytes, start: str
) -> None:
    assert file_error(importer, staff, data).startswith(start)


# -- the rows -------------------------------------------------------------------------------------


def test_every_problem_of_every_row_is_reported_with_its_line_and_column(
    importer: InventoryImport, staff: Staff, engine: Engine
) -> None:
    data = csv_file(
        "T-1,Kite,Toys,Acme,3,0,9.99,4",  # fine
        "bad sku!,,Toys,Acme,-2,x,12.505,-1",
        f"T-3,Kite,{'C' * 101},  ,3,5,10,12",
        "T-4,Kite,Toys,Acme,3,0,10,4,extra",
        "T-5,Kite,Toys",
        "T-6,Kite,Toys,Acme,2.5,0,,4",
        header=HEADER,
    )
    found = problems(importer, staff, data)
    assert found == [
        (
            3,
            "sku",
            "Use letters, digits and . _ / - only, starting with a letter or digit (e.g. ELEC-000123).",
        ),
        (3, "name", "Required."),
        (3, "stock", "Must not be negative."),
        (3, "reserved", "Enter a whole number of units, e.g. 12."),
        (3, "price", "At most two decimals (cents), e.g. 12.50."),
        (3, "cost", "Must not be negative."),
        (4, "category", "At most 100 characters."),
        (4, "supplier", "Required."),
        (4, "reserved", "Cannot reserve more than is in stock (5 reserved, 3 in stock)."),
        (
            4,
            "cost",
            "The cost (12.00) is above the price (10.00): every sale would lose money. "
            "Check that the two are not swapped.",
        ),
        (
            5,
            None,
            "This line has 9 cells but the header has 8: look for a stray comma or a missing quote. "
            "The line was not checked further.",
        ),
        (
            6,
            None,
            "This line has 3 cells but the header has 8: look for a stray comma or a missing quote. "
            "The line was not checked further.",
        ),
        (7, "stock", "Enter a whole number of units, e.g. 12."),
        (7, "price", "Required."),
    ]
    result = importer.preview(staff.manager, data, "items.csv")
    assert [row.action for row in result.rows] == [RowAction.CREATE] + [RowAction.INVALID] * 5
    assert result.rows[5].problems == "stock: Enter a whole number of units, e.g. 12.; price: Required."
    assert result.summary == "5 rows have problems; nothing can be imported until they are fixed."
    assert row_count(engine, InventoryItem) == 0


def test_reorder_level_is_optional_per_row_but_must_be_a_whole_number(
    importer: InventoryImport, staff: Staff
) -> None:
    header = HEADER + ",reorder_level"
    data = csv_file("T-1,Kite,Toys,Acme,3,0,9,4,", "T-2,Kite,Toys,Acme,3,0,9,4,-1", header=header)
    result = importer.preview(staff.manager, data, "items.csv")
    assert result.rows[0].reorder_level is None and result.rows[0].action is RowAction.CREATE
    assert result.problems == [ImportProblem(3, "reorder_level", "Must not be negative.")]


def test_line_numbers_count_quoted_line_breaks_and_blank_lines(
    importer: InventoryImport, staff: Staff
) -> None:
    data = csv_file(
        'T-1,"Kite,\nred and\nblue",Toys,Acme,3,0,9,4',
        "",
        "T-2,Kite,Toys,Acme,3,0,9,12",
    )
    result = importer.preview(staff.manager, data, "items.csv")
    assert [row.line for row in result.rows] == [2, 6]
    assert result.rows[0].name == "Kite, red and blue"
    assert [(p.line, p.column) for p in result.problems] == [(6, "cost")]


def test_the_same_sku_twice_in_the_file_is_a_problem_on_each_later_line(
    importer: InventoryImport, staff: Staff
) -> None:
    data = csv_file(
        "T-1,Kite,Toys,Acme,3,0,9,4",
        "T-2,Ball,Toys,Acme,3,0,9,4",
        " t-1 ,Kite again,Toys,Acme,3,0,9,4",
        "T-1,Kite thrice,Toys,Acme,3,0,9,4",
    )
    assert problems(importer, staff, data) == [
        (4, "sku", "SKU T-1 already appears on line 2; list each item once."),
        (5, "sku", "SKU T-1 already appears on line 2; list each item once."),
    ]


def test_an_archived_items_sku_is_refused_until_it_is_restored(
    importer: InventoryImport, services: Services, staff: Staff
) -> None:
    item_id = add_item(services, staff, "T-1")
    services.inventory.archive_item(staff.admin, item_id)
    data = csv_file("T-1,Kite,Toys,Acme,3,0,9,4")
    assert problems(importer, staff, data) == [
        (2, "sku", "T-1 is archived; restore it in the app first, then import again.")
    ]
    services.inventory.restore_item(staff.admin, item_id)
    assert importer.commit(staff.manager, data, "items.csv").updated == 1


# -- create, update, unchanged ---------------------------------------------------------------------


def test_one_bad_row_imports_nothing_at_all(
    importer: InventoryImport, services: Services, staff: Staff, engine: Engine
) -> None:
    add_item(services, staff, "T-1", stock=5)
    before = item(engine, "T-1")
    counts = (
        row_count(engine, InventoryItem),
        row_count(engine, StockMovement),
        row_count(engine, AuditEntry),
    )
    data = csv_file(
        "T-1,Kite renamed,Toys,Acme,9,0,11,4",
        "T-2,Ball,Toys,Acme,3,0,9,4",
        "T-3,Yo-yo,Toys,Acme,1,0,2,1",
        "T-4,Top,Toys,Acme,1,0,2,3",  # cost above price
    )
    with pytest.raises(ImportRejected) as info:
        importer.commit(staff.manager, data, "items.csv")

    result = info.value.result
    assert result.summary == "1 row has problems; nothing was imported."
    assert not result.committed and not result.dry_run
    assert [(p.line, p.column) for p in result.problems] == [(5, "cost")]
    assert [row.action for row in result.rows] == [
        RowAction.UPDATE, RowAction.CREATE, RowAction.CREATE, RowAction.INVALID
    ]  # fmt: skip
    after = (
        row_count(engine, InventoryItem),
        row_count(engine, StockMovement),
        row_count(engine, AuditEntry),
    )
    assert after == counts
    unchanged = item(engine, "T-1")
    assert (unchanged.name, unchanged.stock, unchanged.price, unchanged.version) == (
        before.name, before.stock, before.price, before.version
    )  # fmt: skip


def test_preview_classifies_rows_and_writes_nothing_then_commit_does_what_it_showed(
    importer: InventoryImport, services: Services, staff: Staff, engine: Engine
) -> None:
    add_item(services, staff, "T-1", name="Kite", price="12.50", stock=4)
    add_item(services, staff, "T-2", name="Ball", stock=7)
    data = csv_file(
        "T-1,Kite,Toys,Acme,9,0,13,4",
        "T-2,Ball,Toys,Acme,7,0,10,4",
        "T-3,Yo-yo,Toys,Acme,1,0,2,1",
    )
    preview = importer.preview(staff.manager, data, "items.csv")
    assert [(r.sku, r.action, r.changes) for r in preview.rows] == [
        ("T-1", RowAction.UPDATE, "price 12.50 → 13.00, stock 4 → 9"),
        ("T-2", RowAction.UNCHANGED, ""),
        ("T-3", RowAction.CREATE, ""),
    ]
    assert preview.dry_run and not preview.committed
    assert preview.summary == "3 rows: 1 new, 1 changed, 1 unchanged."
    assert row_count(engine, InventoryItem) == 2 and item(engine, "T-1").stock == 4

    result = importer.commit(staff.manager, data, "items.csv")
    assert (result.created, result.updated, result.unchanged) == (1, 1, 1)
    assert [r.action for r in result.rows] == [r.action for r in preview.rows]
    assert item(engine, "T-1").price == Decimal("13.00") and item(engine, "T-1").stock == 9


def test_reimporting_the_same_file_changes_nothing(
    importer: InventoryImport, services: Services, staff: Staff, engine: Engine, clock: FakeClock
) -> None:
    add_item(services, staff, "T-1", stock=4)
    data = csv_file("T-1,Kite,Toys,Acme,9,1,13,4", "T-2,Ball,Toys,Acme,3,0,9,4")
    importer.commit(staff.manager, data, "items.csv")
    before = [item(engine, sku) for sku in ("T-1", "T-2")]
    moves, audits = row_count(engine, StockMovement), len(audit_entries(engine, "inventory.imported"))

    clock.advance(hours=1)
    again = importer.commit(staff.manager, data, "items.csv")

    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    assert again.summary == "2 rows: 0 new, 0 changed, 2 unchanged."
    after = [item(engine, sku) for sku in ("T-1", "T-2")]
    assert [(i.version, i.last_updated) for i in after] == [(i.version, i.last_updated) for i in before]
    assert row_count(engine, StockMovement) == moves
    assert len(audit_entries(engine, "inventory.imported")) == audits == 1


def test_changed_levels_are_import_movements_and_changed_details_a_new_version(
    importer: InventoryImport, services: Services, staff: Staff, engine: Engine, clock: FakeClock
) -> None:
    add_item(services, staff, "T-1", stock=10, reserved=4)  # details change, levels change
    add_item(services, staff, "T-2", stock=5)  # only the levels change
    add_item(services, staff, "T-3", stock=5, reorder_level=3)  # only a detail changes
    clock.advance(minutes=5)
    data = csv_file(
        "T-1,Kite XL,Toys,Acme,6,1,10,4,",
        "T-2,Kite,Toys,Acme,8,2,10,4,",
        "T-3,Kite,Toys,Acme,5,0,10,4,",
        header=HEADER + ",reorder_level",
    )
    result = importer.commit(staff.manager, data, "stock.csv")

    assert [r.changes for r in result.rows] == [
        "name “Kite” → “Kite XL”, stock 10 → 6, reserved 4 → 1",
        "stock 5 → 8, reserved 0 → 2",
        "reorder level 3 → none",
    ]
    t1, t2, t3 = (item(engine, sku) for sku in ("T-1", "T-2", "T-3"))
    assert (t1.version, t2.version, t3.version) == (2, 1, 2)
    assert t1.last_updated == t2.last_updated == t3.last_updated == clock.now
    assert t3.reorder_level is None
    assert movements(engine, "T-1")[-1] == ("import", -4, -3, 6, 1, "Import of stock.csv")
    assert movements(engine, "T-2")[-1] == ("import", 3, 2, 8, 2, "Import of stock.csv")
    assert [m[0] for m in movements(engine, "T-3")] == ["opening"]


def test_an_edit_form_opened_before_the_import_sees_a_conflict(
    importer: InventoryImport, services: Services, staff: Staff
) -> None:
    item_id = add_item(services, staff, "T-1", price="10.00")
    opened = services.inventory.get_item(staff.manager, item_id)
    importer.commit(staff.manager, csv_file("T-1,Kite,Toys,Acme,0,0,11,4"), "items.csv")

    edit = ItemFields("T-1", "Kite", "Toys", "Acme", Decimal("12.00"), Decimal("4.00"))
    with pytest.raises(ItemConflict) as info:
        services.inventory.update_item(staff.manager, item_id, edit, expected_version=opened.version)
    assert info.value.theirs is not None and info.value.theirs.price == Decimal("11.00")


def test_a_viewer_may_neither_preview_nor_import(
    importer: InventoryImport, staff: Staff, engine: Engine
) -> None:
    data = csv_file("T-1,Kite,Toys,Acme,3,0,9,4")
    for call in (importer.preview, importer.commit):
        with pytest.raises(PermissionDenied):
            call(staff.viewer, data, "items.csv")
    assert row_count(engine, InventoryItem) == 0
    assert importer.commit(staff.manager, data, "items.csv").created == 1


def test_a_read_only_copy_previews_but_refuses_the_commit(engine: Engine, staff: Staff) -> None:
    read_only = InventoryImport(ServiceContext(engine, read_only=True))
    data = csv_file("T-1,Kite,Toys,Acme,3,0,9,4")
    assert read_only.preview(staff.manager, data, "items.csv").created == 1
    with pytest.raises(ReadOnlyError):
        read_only.commit(staff.manager, data, "items.csv")
    assert row_count(engine, InventoryItem) == 0


# -- progress, cancellation, races -----------------------------------------------------------------


def many_rows(count: int) -> bytes:
    return csv_file(*(f"T-{n},Kite {n},Toys,Acme,{n % 7},0,9.99,4" for n in range(count)))


def test_progress_rises_to_the_total_and_a_commit_counts_its_writing_as_a_second_pass(
    importer: InventoryImport, staff: Staff
) -> None:
    def reports(call: Callable[..., object]) -> list[tuple[int, int]]:
        seen: list[tuple[int, int]] = []
        call(staff.manager, many_rows(4_500), "items.csv", progress=lambda d, t: seen.append((d, t)))
        assert len(seen) >= 3
        assert all(done <= total for done, total in seen)
        assert [done for done, _ in seen] == sorted(done for done, _ in seen)
        return seen

    assert reports(importer.preview)[-1] == (4_500, 4_500)
    committing = reports(importer.commit)
    assert committing[-1] == (9_000, 9_000)
    assert (4_500, 9_000) in committing  # read and checked; the writing follows


def other_transaction_holds_an_xid(engine: Engine) -> bool:
    """True once another connection's transaction has written or locked rows (it has an xid)."""
    with engine.connect() as conn:
        return bool(
            conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL"
                )
            )
        )


def wait_for_lock_waiter(engine: Engine, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            waiting = conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock'"
                )
            )
            if waiting:
                return
            time.sleep(0.02)
    raise AssertionError("nobody started waiting for the lock")


@pytest.mark.parametrize("when", ["while reading", "after locking"])
def test_cancelling_writes_nothing(
    importer: InventoryImport, services: Services, staff: Staff, engine: Engine, when: str
) -> None:
    add_item(services, staff, "T-1", stock=2)
    counts = (
        row_count(engine, InventoryItem),
        row_count(engine, StockMovement),
        row_count(engine, AuditEntry),
    )
    asked: list[bool] = []

    def cancelled() -> bool:
        locked = other_transaction_holds_an_xid(engine)
        asked.append(locked)
        return locked if when == "after locking" else True

    with pytest.raises(ImportCancelled):
        importer.commit(staff.manager, many_rows(4_500), "items.csv", cancelled=cancelled)
    assert asked[-1] is (when == "after locking")
    after = (
        row_count(engine, InventoryItem),
        row_count(engine, StockMovement),
        row_count(engine, AuditEntry),
    )
    assert after == counts and item(engine, "T-1").stock == 2


def run_in_thread(call: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    outcome: list[object] = []

    def target() -> None:
        try:
            outcome.append(call())
        except Exception as exc:  # handed to the test thread, which asserts on it
            outcome.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    return thread, outcome


def test_an_adjustment_made_while_the_import_holds_its_lock_applies_after_it(
    importer: InventoryImport, services: Services, staff: Staff, engine: Engine
) -> None:
    add_item(services, staff, "T-1", stock=10)
    adjuster: list[tuple[threading.Thread, list[object]]] = []

    def cancelled() -> bool:
        if not adjuster and other_transaction_holds_an_xid(engine):  # the import has locked T-1
            ship = Adjustment(MovementKind.SHIP, 3, "order 1001")
            adjuster.append(run_in_thread(lambda: services.stock.adjust(staff.manager, "T-1", ship)))
            wait_for_lock_waiter(engine)
        return False

    importer.commit(staff.manager, csv_file("T-1,Kite,Toys,Acme,20,0,10,4"), "count.csv", cancelled=cancelled)
    [(thread, outcome)] = adjuster
    thread.join(10)
    assert not isinstance(outcome[0], Exception), outcome
    assert item(engine, "T-1").stock == 17
    assert movements(engine, "T-1") == [
        ("opening", 10, 0, 10, 0, "Opening stock"),
        ("import", 10, 0, 20, 0, "Import of count.csv"),
        ("ship", -3, 0, 17, 0, "order 1001"),
    ]


def test_the_imports_delta_is_computed_against_the_locked_level_not_the_previewed_one(
    importer: InventoryImport, services: Services, staff: Staff, engine: Engine, database_url: str
) -> None:
    add_item(services, staff, "T-1", stock=10)
    data = csv_file("T-1,Kite,Toys,Acme,20,0,10,4")
    assert importer.preview(staff.manager, data, "count.csv").rows[0].changes == "stock 10 → 20"

    with psycopg.connect(libpq_url(database_url)) as other:  # a delivery being booked meanwhile
        other.execute("UPDATE inventory_items SET stock = stock + 5 WHERE sku = 'T-1'")
        thread, outcome = run_in_thread(lambda: importer.commit(staff.manager, data, "count.csv"))
        wait_for_lock_waiter(engine)
        other.commit()
    thread.join(10)

    [result] = outcome
    assert not isinstance(result, Exception), result
    assert item(engine, "T-1").stock == 20
    assert movements(engine, "T-1")[-1] == ("import", 5, 0, 20, 0, "Import of count.csv")


def test_two_imports_creating_the_same_sku_at_once_end_in_a_conflict_for_the_second(
    importer: InventoryImport, staff: Staff, engine: Engine
) -> None:
    data = csv_file("T-9,Kite,Toys,Acme,3,0,10,4")
    second: list[tuple[threading.Thread, list[object]]] = []

    def cancelled() -> bool:
        if not second and other_transaction_holds_an_xid(engine):  # the first has inserted T-9
            second.append(run_in_thread(lambda: importer.commit(staff.admin, data, "b.csv")))
            wait_for_lock_waiter(engine)
        return False

    assert importer.commit(staff.manager, data, "a.csv", cancelled=cancelled).created == 1
    [(thread, outcome)] = second
    thread.join(10)
    assert isinstance(outcome[0], Conflict)
    assert str(outcome[0]).startswith("Someone else added an item with a SKU from this file")
    assert movements(engine, "T-9") == [("opening", 3, 0, 3, 0, "Import of a.csv")]
    assert len(audit_entries(engine, "inventory.imported")) == 1
