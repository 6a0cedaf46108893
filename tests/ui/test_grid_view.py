"""GridView offscreen on a real database: toolbar, keys, header memory, selection across refresh."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QItemSelectionModel, QPoint, QSettings, Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QAbstractItemView, QComboBox, QStyleOptionViewItem
from sqlalchemy import text

from ecomdesk.services.listing import SortKey
from ecomdesk.services.registry import Services
from ecomdesk.ui.grid.export import ExportChoice
from ecomdesk.ui.grid.view import ChoiceCombo, GridDelegate, GridView, plural
from ecomdesk.ui.session import AppSession
from tests.ui.grid_data import (
    BIG_LIVE,
    US,
    BigDb,
    Gated,
    big_db,
    big_session,
    grid_settings,
    insert_items,
    live_ids,
)

__all__ = ["big_db", "big_session", "grid_settings"]

WAIT_MS = 10_000


def open_view(qtbot, session: AppSession, settings: QSettings, width: int = 1100, **kwargs) -> GridView:
    """A shown grid of inventory whose first rows are in."""
    view = GridView(session, session.services.tables["inventory"], settings=settings, locale=US, **kwargs)
    view.resize(width, 420)
    qtbot.addWidget(view)
    view.show()
    qtbot.waitUntil(lambda: view.model.is_loaded, timeout=WAIT_MS)
    return view


def select_rows(view: GridView, *rows: int) -> None:
    selection = view.view.selectionModel()
    selection.clearSelection()
    flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
    for row in rows:
        selection.select(view.model.index(row, 0), flags)
    selection.setCurrentIndex(view.model.index(rows[-1], 0), QItemSelectionModel.SelectionFlag.NoUpdate)


def section(view: GridView, key: str) -> int:
    return view.model.column_index(key)


# -- showing -------------------------------------------------------------------------------------


def test_view_shows_the_count_formatted_rows_and_measured_widths(qtbot, big_session, grid_settings):
    # Wider than the columns' default widths: the last column stretches when the view is shown,
    # which is not the user choosing a width (that would stop the measuring).
    view = open_view(qtbot, big_session, grid_settings, width=1400)
    qtbot.waitUntil(lambda: view.count_label.text() == "99,900 items", timeout=WAIT_MS)
    first = view.model.record(0)

    assert view.search.placeholderText() == "Search SKU or name"
    assert view.model.data(view.model.index(0, section(view, "price"))) == f"{first.price:,.2f}"
    # Hidden by the table's description until the user shows it.
    assert view.header.isSectionHidden(section(view, "reorder_level"))
    # Measured from the header and the rows on screen: a money column is narrower than the name.
    assert view.header.sectionSize(section(view, "name")) > view.header.sectionSize(section(view, "price"))
    assert view.header.sectionSize(section(view, "sku")) >= view.fontMetrics().horizontalAdvance(first.sku)
    assert view.header.sectionSize(section(view, "stock")) < view.header.defaultSectionSize()
    assert view.view.verticalHeader().sectionResizeMode(0).name == "Fixed"
    view.grab().save(str(Path("/tmp") / "grid.png"))


def test_filter_titles_become_all_plurals():
    assert plural("Category") == "categories"
    assert plural("Supplier") == "suppliers"
    assert plural("Day") == "days"
    assert plural("Box") == "boxes"


def test_controls_have_accessible_names(qtbot, big_session, grid_settings):
    view = open_view(qtbot, big_session, grid_settings)
    names = {
        view.search.accessibleName(),
        view.view.accessibleName(),
        view.count_label.accessibleName(),
        view.columns_button.accessibleName(),
        view.refresh_button.accessibleName(),
        view.export_button.accessibleName(),
        *(combo.accessibleName() for combo in view.filters.values()),
    }
    assert "" not in names
    assert {"Category", "Supplier", "Low stock", "Inventory", "Search inventory"} <= names


# -- sort, search, filters -----------------------------------------------------------------------


def test_clicking_a_header_sorts_on_the_server_and_again_reverses(
    qtbot, big_db: BigDb, big_session, grid_settings
):
    view = open_view(qtbot, big_session, grid_settings)
    price = section(view, "price")
    x = view.header.sectionViewportPosition(price) + 5

    with qtbot.waitSignal(view.model.loaded, timeout=WAIT_MS):
        qtbot.mouseClick(view.header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, 5))
    assert view.model.query.sort == (SortKey("price"), SortKey("name"))
    assert [view.model.record(r).id for r in range(50)] == live_ids(
        big_db.engine, order="price, name, id", limit=50
    )

    with qtbot.waitSignal(view.model.loaded, timeout=WAIT_MS):
        qtbot.mouseClick(view.header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, 5))
    assert view.model.query.sort == (SortKey("price", descending=True), SortKey("name"))
    assert [view.model.record(r).id for r in range(50)] == live_ids(
        big_db.engine, order="price DESC, name, id", limit=50
    )


def test_typing_in_the_search_box_filters_after_a_pause(qtbot, big_session, grid_settings):
    view = open_view(qtbot, big_session, grid_settings)
    queries: list[str] = []
    view.model.loaded.connect(lambda: queries.append(view.model.query.search))

    with qtbot.waitSignal(view.model.loaded, timeout=WAIT_MS):
        qtbot.keyClicks(view.search, "Item 0042")

    assert queries == ["Item 0042"]  # one query for the whole word, not one per key
    assert view.count_label.text() == "50 items"


def test_ctrl_f_puts_the_cursor_in_the_search_box(qtbot, big_session, grid_settings):
    view = open_view(qtbot, big_session, grid_settings)
    view.view.setFocus()
    qtbot.waitUntil(view.view.hasFocus)
    qtbot.keyClick(view.view, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert view.search.hasFocus()


def test_choice_filters_read_their_values_when_first_opened_and_filter_the_rows(
    qtbot, big_db: BigDb, big_session, grid_settings
):
    view = open_view(qtbot, big_session, grid_settings)
    category = view.filters["category"]
    assert isinstance(category, ChoiceCombo)
    assert category.count() == 1  # nothing asked of the server yet: most views never open a filter

    category.showPopup()
    qtbot.waitUntil(lambda: category.view().isVisible(), timeout=WAIT_MS)  # opens once the values are in
    assert [category.itemText(i) for i in range(5)] == [
        "All categories",
        "Books",
        "Garden",
        "Kitchen",
        "Toys",
    ]
    category.hidePopup()

    with qtbot.waitSignal(view.model.loaded, timeout=WAIT_MS):
        category.setCurrentIndex(category.findText("Garden"))
    assert view.model.query.filters == {"category": "Garden"}
    gardens = len(live_ids(big_db.engine, "category = 'Garden'"))
    assert view.count_label.text() == f"{gardens:,} items"

    low: QComboBox = view.filters["low_stock"]
    assert [low.itemText(i) for i in range(3)] == ["All items", "Low stock only", "Enough stock"]
    with qtbot.waitSignal(view.model.loaded, timeout=WAIT_MS):
        low.setCurrentIndex(1)
    assert view.model.query.filters == {"category": "Garden", "low_stock": True}
    assert all(view.model.record(r).low_stock for r in range(min(view.model.rowCount(), 100)))


def test_count_label_says_counting_only_while_a_slow_count_is_on_its_way(qtbot, big_session, grid_settings):
    table = Gated(big_session.services.tables["inventory"], hold_count=True)
    view = GridView(big_session, table, settings=grid_settings, locale=US)
    qtbot.addWidget(view)
    view.show()
    qtbot.waitUntil(lambda: view.model.rowCount() == 200, timeout=WAIT_MS)  # first rows, no count yet
    qtbot.waitUntil(lambda: view.count_label.text() == "Counting…", timeout=WAIT_MS)

    with qtbot.waitSignal(view.model.loaded, timeout=WAIT_MS):
        table.gate.set()
    assert view.count_label.text() == "99,900 items"


# -- keys and signals ----------------------------------------------------------------------------


def test_ctrl_c_copies_the_selected_rows_as_tab_separated_text_in_view_order(
    qtbot, big_session, grid_settings
):
    view = open_view(qtbot, big_session, grid_settings)
    header = view.header
    header.moveSection(header.visualIndex(section(view, "price")), 0)  # price first, as the user dragged it
    for key in (
        "category",
        "supplier",
        "stock",
        "reserved",
        "available",
        "cost",
        "margin",
        "stock_value",
        "last_updated",
    ):
        header.setSectionHidden(section(view, key), True)
    select_rows(view, 3, 1)
    QGuiApplication.clipboard().clear()

    view.view.setFocus()
    qtbot.keyClick(view.view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)

    one, three = view.model.record(1), view.model.record(3)
    assert QGuiApplication.clipboard().text() == (
        f"{one.price:,.2f}\t{one.sku}\t{one.name}\n{three.price:,.2f}\t{three.sku}\t{three.name}"
    )


def test_ctrl_c_reads_selected_rows_that_are_not_loaded_first(qtbot, big_session, grid_settings):
    view = open_view(qtbot, big_session, grid_settings)
    for key in view.model.spec.columns[1:]:
        view.header.setSectionHidden(section(view, key.key), True)  # SKU only
    select_rows(view, 0, 5_000)
    QGuiApplication.clipboard().clear()

    with qtbot.waitSignal(view.status_message, timeout=WAIT_MS) as message:
        view.copy()

    assert message.args == ["Copied 2 rows"]
    lines = QGuiApplication.clipboard().text().split("\n")
    assert lines[0] == view.model.record(0).sku
    assert lines[1] != "" and lines[1].startswith("SKU-")


def test_enter_and_double_click_activate_the_record(qtbot, big_session, grid_settings):
    view = open_view(qtbot, big_session, grid_settings)
    select_rows(view, 2)
    view.view.setFocus()
    with qtbot.waitSignal(view.activated) as activated:
        qtbot.keyClick(view.view, Qt.Key.Key_Return)
    assert activated.args == [view.model.record(2)]

    rect = view.view.visualRect(view.model.index(4, section(view, "name")))
    qtbot.mouseClick(view.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    with qtbot.waitSignal(view.activated) as activated:
        qtbot.mouseDClick(view.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert activated.args == [view.model.record(4)]


def test_delete_asks_the_page_to_delete_the_selected_records(qtbot, big_session, grid_settings):
    view = open_view(qtbot, big_session, grid_settings)
    select_rows(view, 7, 2)
    view.view.setFocus()
    with qtbot.waitSignal(view.delete_requested) as requested:
        qtbot.keyClick(view.view, Qt.Key.Key_Delete)
    assert requested.args == [[view.model.record(2), view.model.record(7)]]
    assert view.selected_records() == requested.args[0]


def test_select_all_hands_over_the_loaded_records_and_repaints_without_walking_every_row(
    qtbot, big_session, grid_settings
):
    view = open_view(qtbot, big_session, grid_settings)
    view.view.setFocus()
    qtbot.keyClick(view.view, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    started = time.perf_counter()
    view.grab()  # the table and its header, all rows selected
    # Qt's header asks "is this whole column selected?" row by row; it took 4 s for 100,000 rows.
    assert time.perf_counter() - started < 1.0
    assert not view.header.selectionModel().hasSelection()

    with qtbot.waitSignal(view.delete_requested) as requested:
        qtbot.keyClick(view.view, Qt.Key.Key_Delete)
    loaded = [record for _row, record in view.model.loaded_records(0, view.model.rowCount() - 1)]
    assert requested.args == [loaded]
    assert loaded == [view.model.record(row) for row in range(len(loaded))]
    assert 0 < len(loaded) < BIG_LIVE


def test_the_column_chooser_shows_and_hides_columns_but_keeps_one(qtbot, big_session, grid_settings):
    view = open_view(qtbot, big_session, grid_settings)
    actions = {action.text(): action for action in view.columns_menu.actions()}
    view._sync_columns_menu()
    assert not actions["Reorder level"].isChecked()

    actions["Reorder level"].setChecked(True)
    assert not view.header.isSectionHidden(section(view, "reorder_level"))
    assert view.header.sectionSize(section(view, "reorder_level")) >= view.header.minimumSectionSize()

    for action in actions.values():
        action.setChecked(False)
    assert len(view.visible_columns()) == 1


def test_row_styles_take_their_colours_from_the_palette(qtbot, big_session, grid_settings):
    view = open_view(qtbot, big_session, grid_settings, row_style=lambda record: "attention")
    delegate = view.view.itemDelegate()
    assert isinstance(delegate, GridDelegate)

    def background(palette: QPalette) -> QColor:
        view.view.setPalette(palette)
        option = QStyleOptionViewItem()
        option.initFrom(view.view)
        delegate.initStyleOption(option, view.model.index(0, 0))
        return option.backgroundBrush.color()

    light = background(QPalette(QColor("#f0f0f0")))
    dark = QPalette(QColor("#303030"))
    dark.setColor(QPalette.ColorRole.Base, QColor("#202020"))
    shade = background(dark)
    assert light.lightness() > 150 and shade.lightness() < 100  # follows the theme
    assert light != QPalette(QColor("#f0f0f0")).color(QPalette.ColorRole.Base)
    assert light != QPalette(QColor("#f0f0f0")).color(QPalette.ColorRole.Highlight)


# -- refresh -------------------------------------------------------------------------------------


@pytest.fixture
def small_session(engine, services, staff, runner) -> AppSession:
    insert_items(engine, 1, 2_000, modulus=2_000)
    return AppSession(services, staff.viewer, runner, database_label="grid test")


def test_refresh_keeps_the_selected_records_and_the_top_row_after_others_inserted_rows(
    qtbot, engine, small_session, grid_settings
):
    view = open_view(qtbot, small_session, grid_settings)
    model = view.model
    view.view.scrollTo(model.index(600, 0), QAbstractItemView.ScrollHint.PositionAtTop)
    qtbot.waitUntil(lambda: model.record(view.view.rowAt(0)) is not None, timeout=WAIT_MS)
    top = model.record(view.view.rowAt(0))
    select_rows(view, 610, 612)
    chosen = [record.id for record in view.selected_records()]
    with engine.begin() as conn:  # meanwhile, on another computer: three items that sort first, one renamed
        conn.execute(
            text(
                "INSERT INTO inventory_items (sku, name, category, supplier, price, cost) VALUES"
                " ('NEW-1', 'Aa new', 'Toys', 'Acme', 1, 1), ('NEW-2', 'Ab new', 'Toys', 'Acme', 1, 1),"
                " ('NEW-3', 'Ac new', 'Toys', 'Acme', 1, 1)"
            )
        )
        conn.execute(text("UPDATE inventory_items SET stock = 999 WHERE id = :id"), {"id": chosen[0]})

    with qtbot.waitSignal(view.refreshed, timeout=WAIT_MS):
        qtbot.keyClick(view.view, Qt.Key.Key_F5)

    assert model.rowCount() == len(live_ids(engine))
    assert [record.id for record in view.selected_records()] == chosen
    assert view.selected_records()[0].stock == 999
    assert model.record(view.view.currentIndex().row()).id == chosen[-1]
    assert model.record(view.view.rowAt(0)).id == top.id  # the same rows are on screen
    assert view.view.rowAt(0) == 603


def test_a_load_error_shows_in_the_grid_and_try_again_recovers(qtbot, big_session, grid_settings):
    view = open_view(qtbot, big_session, grid_settings)
    with qtbot.waitSignal(view.model.failed, timeout=WAIT_MS):
        view.model.set_sort([SortKey("no_such_column")])  # refused by the service: a ValidationError
    assert view.banner.isVisible()
    assert "Cannot sort by no_such_column" in view.banner_label.text()

    with qtbot.waitSignal(view.model.loaded, timeout=WAIT_MS):
        view.model.set_sort([SortKey("name")])
    assert not view.banner.isVisible()


# -- remembered header ---------------------------------------------------------------------------


def test_column_order_widths_hidden_columns_and_sort_come_back_in_a_new_view(
    qtbot, big_session, grid_settings
):
    first = open_view(qtbot, big_session, grid_settings)
    header = first.header
    header.moveSection(header.visualIndex(section(first, "supplier")), 0)
    header.resizeSection(section(first, "name"), 333)
    header.setSectionHidden(section(first, "category"), True)
    with qtbot.waitSignal(first.model.loaded, timeout=WAIT_MS):
        header.setSortIndicator(section(first, "stock"), Qt.SortOrder.DescendingOrder)
    first.close()  # saves what is pending

    second = open_view(qtbot, big_session, QSettings(grid_settings.fileName(), QSettings.Format.IniFormat))
    header = second.header
    assert header.logicalIndex(0) == section(second, "supplier")
    assert header.sectionSize(section(second, "name")) == 333
    assert header.isSectionHidden(section(second, "category"))
    assert header.sortIndicatorSection() == section(second, "stock")
    assert header.sortIndicatorOrder() == Qt.SortOrder.DescendingOrder
    assert second.model.query.sort == (SortKey("stock", descending=True), SortKey("name"))


def test_each_view_name_remembers_its_own_header(qtbot, big_session, grid_settings):
    first = open_view(qtbot, big_session, grid_settings, name="inventory-a")
    first.header.setSectionHidden(section(first, "sku"), True)
    first.save_state()

    other = open_view(qtbot, big_session, grid_settings, name="inventory-b")
    again = open_view(qtbot, big_session, grid_settings, name="inventory-a")
    assert not other.header.isSectionHidden(section(other, "sku"))
    assert again.header.isSectionHidden(section(again, "sku"))
    assert other.model.rowCount() == BIG_LIVE


# -- every list of the app -------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(Services.table_specs()))
def test_every_list_of_the_app_opens_sorts_and_exports_in_a_grid(
    qtbot, qtmodeltester, name, services, staff, runner, grid_settings, tmp_path
):
    session = AppSession(services, staff.admin, runner, database_label="grid test")
    target = tmp_path / f"{name}.csv"
    view = GridView(
        session,
        services.tables[name],
        settings=grid_settings,
        locale=US,
        ask_export=lambda _parent, _request: ExportChoice(target, False),
    )
    qtbot.addWidget(view)
    view.show()
    qtbot.waitUntil(lambda: view.model.is_loaded or view.banner.isVisible(), timeout=WAIT_MS)
    assert not view.banner.isVisible(), view.banner_label.text()
    qtmodeltester.check(view.model)

    sortable = [i for i, column in enumerate(view.spec.columns) if column.sortable]
    with qtbot.waitSignal(view.model.loaded, timeout=WAIT_MS):
        view.header.setSortIndicator(sortable[-1], Qt.SortOrder.DescendingOrder)
    with qtbot.waitSignal(view.status_message, timeout=WAIT_MS):
        view.export()
    with target.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == [view.spec.columns[s].title for s in view.visible_columns()]
    assert len(rows) - 1 == view.model.rowCount()
