"""PagedTableModel on a real database: totals, server order, windows on demand, refresh in place."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import psycopg
import pytest
from PySide6.QtCore import QLocale, Qt
from sqlalchemy import make_url, text

from ecomdesk.services.errors import Unavailable
from ecomdesk.services.listing import ListQuery, SortKey
from ecomdesk.services.tables import Kind
from ecomdesk.ui.grid.format import alignment, display_text
from ecomdesk.ui.grid.model import PLACEHOLDER, PagedTableModel, RowRole, RowStyleRole, SortRole
from ecomdesk.ui.session import AppSession, ConnectionState
from tests.ui.grid_data import (
    BIG_LIVE,
    US,
    BigDb,
    Gated,
    big_db,
    big_session,
    insert_items,
    live_ids,
    scalar,
)

__all__ = ["big_db", "big_session"]

WAIT_MS = 10_000


def loaded_model(qtbot, session: AppSession, query: ListQuery | None = None, **kwargs) -> PagedTableModel:
    model = PagedTableModel(session, session.services.tables["inventory"], locale=US, **kwargs)
    with qtbot.waitSignal(model.loaded, timeout=WAIT_MS):
        model.set_query(query or ListQuery())
    return model


def ids_of_rows(qtbot, model: PagedTableModel, first: int, last: int) -> list[int]:
    """Ask for rows as a view would (data() on each) and wait until all of them are in memory."""
    for row in range(first, last + 1):
        model.data(model.index(row, 0))
    qtbot.waitUntil(lambda: all(model.record(r) is not None for r in range(first, last + 1)), timeout=WAIT_MS)
    return [model.record(row).id for row in range(first, last + 1)]


def ids_and_rows(qtbot, model: PagedTableModel) -> range:
    """Every row of a small model, loaded (for assertions over all of them)."""
    model.fetch_rows(0, model.rowCount() - 1)
    rows = range(model.rowCount())
    qtbot.waitUntil(lambda: all(model.record(row) is not None for row in rows), timeout=WAIT_MS)
    return rows


# -- the big table -------------------------------------------------------------------------------


def test_big_table_opens_with_the_server_total_and_its_first_rows_in_name_order(
    qtbot, big_db: BigDb, big_session
):
    model = loaded_model(qtbot, big_session)

    assert model.rowCount() == BIG_LIVE
    assert model.count_text() == "99,900 items"
    assert [model.record(row).id for row in range(200)] == live_ids(big_db.engine, limit=200)
    assert model.cached_windows() == [0]
    assert big_session.last_refreshed is not None


def test_count_changed_carries_the_total_and_its_sentence(qtbot, big_session):
    model = PagedTableModel(big_session, big_session.services.tables["inventory"])
    with qtbot.waitSignal(model.count_changed, timeout=WAIT_MS) as signal:
        model.set_query(ListQuery(search="Item 0042"))
    assert signal.args == [50, "50 items"]


def test_first_rows_show_before_the_count_and_the_rest_are_inserted_when_it_comes(qtbot, big_session):
    table = Gated(big_session.services.tables["inventory"], hold_count=True)
    model = PagedTableModel(big_session, table, locale=US)
    with qtbot.waitSignal(model.modelReset, timeout=WAIT_MS):
        model.set_query(ListQuery())
    assert model.rowCount() == 200 and not model.is_loaded
    assert model.record(0) is not None

    with qtbot.waitSignals([model.rowsInserted, model.loaded], timeout=WAIT_MS):
        table.gate.set()
    assert table.answered == ["rows", "count"]
    assert model.rowCount() == BIG_LIVE
    assert model.count_text() == "99,900 items"


def test_a_count_that_comes_first_waits_for_the_rows(qtbot, big_session):
    table = Gated(big_session.services.tables["inventory"], hold_count=False)
    model = PagedTableModel(big_session, table, locale=US)
    counted: list[int] = []
    model.count_changed.connect(lambda total, _text: counted.append(total))
    model.set_query(ListQuery())
    # The count (started after a short wait for the rows) is answered and delivered; the rows are not.
    qtbot.waitUntil(lambda: table.answered == ["count"] and big_session.runner.pending == 1, timeout=WAIT_MS)
    assert model.rowCount() == 0 and counted == []

    with qtbot.waitSignal(model.loaded, timeout=WAIT_MS):
        table.gate.set()
    assert model.rowCount() == BIG_LIVE
    assert counted == [BIG_LIVE]


@pytest.mark.parametrize("descending", [False, True])
def test_sort_by_name_matches_the_database_order_with_ties_broken_by_id(
    qtbot, big_db: BigDb, big_session, descending
):
    model = loaded_model(qtbot, big_session)
    order = Qt.SortOrder.DescendingOrder if descending else Qt.SortOrder.AscendingOrder
    with qtbot.waitSignal(model.loaded, timeout=WAIT_MS):
        model.sort(model.column_index("name"), order)

    sql_order = "name DESC, id DESC" if descending else "name, id"
    expected = live_ids(big_db.engine, order=sql_order)
    assert model.query.sort == (SortKey("name", descending),)
    # The first window, and one deep inside: 50 rows share each name, so only the id keeps them in place.
    assert ids_of_rows(qtbot, model, 0, 120) == expected[:121]
    assert ids_of_rows(qtbot, model, 40_010, 40_060) == expected[40_010:40_061]


def test_sorting_by_another_column_keeps_the_usual_order_for_ties(qtbot, big_db: BigDb, big_session):
    model = loaded_model(qtbot, big_session)
    with qtbot.waitSignal(model.loaded, timeout=WAIT_MS):
        model.sort(model.column_index("category"), Qt.SortOrder.AscendingOrder)

    assert model.query.sort == (SortKey("category"), SortKey("name"))
    assert ids_of_rows(qtbot, model, 0, 99) == live_ids(big_db.engine, order="category, name, id", limit=100)


def test_search_and_filters_change_the_total_and_the_rows(qtbot, big_db: BigDb, big_session):
    model = loaded_model(qtbot, big_session)

    with qtbot.waitSignal(model.loaded, timeout=WAIT_MS):
        model.set_search("item 0042")
    assert model.rowCount() == 50
    assert {model.record(row).name for row in range(50)} == {"Item 0042"}

    with qtbot.waitSignal(model.loaded, timeout=WAIT_MS):
        model.set_filter("category", "Kitchen")
    where = "name = 'Item 0042' AND category = 'Kitchen'"
    assert model.rowCount() == scalar(
        big_db.engine, f"SELECT count(*) FROM inventory_items WHERE archived_at IS NULL AND {where}"
    )
    assert [model.record(row).id for row in range(model.rowCount())] == live_ids(big_db.engine, where)

    with qtbot.waitSignal(model.loaded, timeout=WAIT_MS):
        model.set_search("")
    with qtbot.waitSignal(model.loaded, timeout=WAIT_MS):
        model.set_filter("category", None)
    assert model.rowCount() == BIG_LIVE


def test_low_stock_flag_filter_splits_the_list(qtbot, big_session):
    model = loaded_model(qtbot, big_session, ListQuery(filters={"low_stock": True}))
    low = model.rowCount()
    assert all(model.record(row).low_stock for row in range(min(low, 200)))
    with qtbot.waitSignal(model.loaded, timeout=WAIT_MS):
        model.set_filter("low_stock", False)
    assert 0 < low < BIG_LIVE
    assert model.rowCount() == BIG_LIVE - low


def test_jumping_to_the_last_row_loads_its_window_only(qtbot, big_db: BigDb, big_session):
    model = loaded_model(qtbot, big_session)
    last = model.rowCount() - 1

    assert model.data(model.index(last, 0)) == PLACEHOLDER  # not in memory yet: a mark, and a request
    qtbot.waitUntil(lambda: model.record(last) is not None, timeout=WAIT_MS)

    assert model.record(last).id == live_ids(big_db.engine, order="name DESC, id DESC", limit=1)[0]
    assert model.data(model.index(last, model.column_index("sku"))) == model.record(last).sku
    assert sorted(model.cached_windows()) == [0, last // model.window_size]


def test_scrolling_everywhere_keeps_a_bounded_number_of_windows(qtbot, big_session):
    model = loaded_model(qtbot, big_session, max_windows=4)
    for row in range(0, model.rowCount(), 9_000):
        model.fetch_rows(row, row + 50)
        qtbot.waitUntil(lambda r=row: model.record(r) is not None, timeout=WAIT_MS)
        assert len(model.cached_windows()) <= 4
    # The most recent ones are the ones kept.
    assert model.cached_windows()[-1] == (model.rowCount() // 9_000 * 9_000) // model.window_size


def test_rows_arrive_with_data_changed_for_their_window(qtbot, big_session):
    model = loaded_model(qtbot, big_session)
    with qtbot.waitSignal(model.dataChanged, timeout=WAIT_MS) as signal:
        model.data(model.index(1_234, 0))
    top, bottom = signal.args[0], signal.args[1]
    assert (top.row(), bottom.row()) == (1_200, 1_399)
    assert (top.column(), bottom.column()) == (0, model.columnCount() - 1)


def test_only_the_latest_search_applies_when_two_are_typed_quickly(qtbot, big_session):
    model = loaded_model(qtbot, big_session)
    applied: list[int] = []
    model.loaded.connect(lambda: applied.append(model.rowCount()))

    model.set_search("Item 00")  # 5,000 rows; its answer must never show
    model.set_search("Item 0043")
    qtbot.waitUntil(lambda: bool(applied), timeout=WAIT_MS)
    big_session.runner.wait(WAIT_MS)
    qtbot.wait(50)  # let any late (stale) result reach the GUI thread

    assert applied == [50]
    assert {model.record(row).name for row in range(50)} == {"Item 0043"}


def test_roles_give_raw_values_records_and_aligned_text(qtbot, big_session):
    model = loaded_model(
        qtbot, big_session, row_style=lambda record: "attention" if record.low_stock else None
    )
    record = model.record(0)
    price = model.index(0, model.column_index("price"))
    assert model.data(price, SortRole) == record.price
    assert isinstance(model.data(price, SortRole), Decimal)
    assert model.data(price, RowRole) is record
    assert model.data(price) == f"{record.price:,.2f}"
    assert model.data(price, Qt.ItemDataRole.TextAlignmentRole) == alignment(Kind.MONEY)
    assert model.data(price, RowStyleRole) == ("attention" if record.low_stock else None)
    assert model.headerData(price.column(), Qt.Orientation.Horizontal) == "Price"


def test_model_passes_qts_model_tester_through_loading_sorting_and_refresh(qtbot, qtmodeltester, big_session):
    model = loaded_model(qtbot, big_session, ListQuery(search="Item 010"))
    qtmodeltester.check(model)  # stays attached: checks every signal below too
    with qtbot.waitSignal(model.loaded, timeout=WAIT_MS):
        model.sort(model.column_index("price"), Qt.SortOrder.DescendingOrder)
    with qtbot.waitSignal(model.dataChanged, timeout=WAIT_MS):
        model.data(model.index(model.rowCount() - 1, 0))
    with qtbot.waitSignal(model.refreshed, timeout=WAIT_MS):
        model.refresh()


# -- refresh in place (a database of its own: another connection changes rows) ------------------


@pytest.fixture
def small_session(engine, services, staff, runner) -> AppSession:
    insert_items(engine, 1, 1_000, modulus=1_000)
    return AppSession(services, staff.viewer, runner, database_label="grid test")


def test_refresh_inserts_new_rows_in_place_instead_of_resetting(qtbot, engine, small_session):
    model = loaded_model(qtbot, small_session)
    before = model.rowCount()
    resets: list[bool] = []
    model.modelReset.connect(lambda: resets.append(True))
    with engine.begin() as conn:  # another member of staff adds two items
        conn.execute(
            text(
                "INSERT INTO inventory_items (sku, name, category, supplier, price, cost)"
                " VALUES ('NEW-1', 'Aardvark mug', 'Kitchen', 'Acme', 5, 2),"
                "        ('NEW-2', 'Zebra mug', 'Kitchen', 'Acme', 5, 2)"
            )
        )

    with qtbot.waitSignals([model.rowsInserted, model.refreshed], timeout=WAIT_MS):
        model.refresh()

    assert resets == []
    assert model.rowCount() == before + 2
    assert model.record(0).name == "Aardvark mug"
    assert [model.record(row).id for row in range(200)] == live_ids(engine, limit=200)


def test_refresh_removes_rows_at_the_end_when_others_were_archived(qtbot, engine, small_session):
    model = loaded_model(qtbot, small_session)
    before = model.rowCount()
    with engine.begin() as conn:
        conn.execute(text("UPDATE inventory_items SET archived_at = now() WHERE name = 'Item 0001'"))
    gone = before - len(live_ids(engine))

    with qtbot.waitSignals([model.rowsRemoved, model.refreshed], timeout=WAIT_MS):
        model.refresh()

    assert gone > 0
    assert model.rowCount() == before - gone
    assert "Item 0001" not in {model.record(row).name for row in ids_and_rows(qtbot, model)}


def test_refresh_shows_values_another_connection_changed(qtbot, engine, small_session):
    model = loaded_model(qtbot, small_session)
    first = model.record(0)
    with engine.begin() as conn:
        conn.execute(text("UPDATE inventory_items SET stock = stock + 7 WHERE id = :id"), {"id": first.id})

    with qtbot.waitSignals([model.dataChanged, model.refreshed], timeout=WAIT_MS):
        model.refresh()

    assert model.record(0).id == first.id
    assert model.record(0).stock == first.stock + 7


def test_unreachable_database_marks_the_session_reconnecting_and_reports_the_error(
    qtbot, pg_admin_url, database_url, small_session
):
    model = loaded_model(qtbot, small_session)
    model.inline_errors = True
    name = make_url(database_url).database
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:  # the server loses the database
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')

    with qtbot.waitSignal(model.failed, timeout=WAIT_MS) as signal:
        model.refresh()

    assert isinstance(signal.args[0], Unavailable)
    assert small_session.state is ConnectionState.RECONNECTING
    assert model.rowCount() > 0  # what was shown stays


# -- formatting ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kind", "english", "german"),
    [
        (1234567, Kind.INTEGER, "1,234,567", "1.234.567"),
        (-5, Kind.INTEGER, "-5", "-5"),
        (1200, Kind.CHANGE, "+1,200", "+1.200"),
        (-3, Kind.CHANGE, "-3", "-3"),
        (0, Kind.CHANGE, "0", "0"),
        (Decimal("1234567890.05"), Kind.MONEY, "1,234,567,890.05", "1.234.567.890,05"),
        (Decimal("3"), Kind.MONEY, "3.00", "3,00"),
        (Decimal("35.2"), Kind.PERCENT, "35.2%", "35,2%"),
        (Decimal("1.5"), Kind.DECIMAL, "1.5", "1,5"),
        (True, Kind.BOOL, "Yes", "Yes"),
        (None, Kind.MONEY, "", ""),
        (None, Kind.TEXT, "", ""),
        ("Mug, blue", Kind.TEXT, "Mug, blue", "Mug, blue"),
    ],
)
def test_cells_read_in_the_locale_of_the_user(value, kind, english, german):
    german_locale = QLocale(QLocale.Language.German, QLocale.Country.Germany)
    assert display_text(value, kind, US) == english
    assert display_text(value, kind, german_locale) == german


def test_datetimes_show_in_local_time():
    moment = dt.datetime(2026, 11, 27, 23, 30, tzinfo=dt.UTC)
    local = moment.astimezone()  # the machine's zone, as QDateTime sees it
    text = display_text(moment, Kind.DATETIME, US)
    assert text.startswith(f"{local.month}/{local.day}/{local:%y}")
    assert f"{local.hour % 12 or 12}:{local:%M}" in text


def test_days_read_in_the_users_locale_and_as_iso_8601_under_the_c_locale():
    day = dt.date(2026, 11, 26)
    assert display_text(day, Kind.DATE, US) == "11/26/26"
    german = QLocale(QLocale.Language.German, QLocale.Country.Germany)
    assert display_text(day, Kind.DATE, german) == "26.11.26"
    # The C locale's own short format would read "26 11 2026".
    assert display_text(day, Kind.DATE, QLocale.c()) == "2026-11-26"
    moment = dt.datetime(2026, 11, 27, 23, 30, tzinfo=dt.UTC)
    assert display_text(moment, Kind.DATETIME, QLocale.c()) == moment.astimezone().strftime("%Y-%m-%d %H:%M")
