"""The dashboard page end to end on a real database: the service's figures on the cards and in the
charts, re-reading when the range, granularity or channels change, a card opening exactly the rows
behind its figure, a chart's PNG and CSV, the crosshair's label, the theme, what a viewer is
(not) offered, remembered choices, a failed refresh keeping the figures, and the layout at
1280×800 and 800×600.

The orders are few and stated inline (the shop's today is 27 Nov 2026 on the test clock; its
days are Berlin days, and every order here is paid at noon UTC, well inside its Berlin day):

    order  customer  channel     amount   paid     refund
    A4     c3        mobile_app   20.00   10 Nov
    A6     c3        web          70.00   16 Nov
    A5     c2        web          40.00   22 Nov   15.00 on 26 Nov
    A1     c1        web         100.00   25 Nov
    A2     c2        web          50.00   26 Nov
    A3     c1        mobile_app   30.00   27 Nov

Last 7 days (21–27 Nov): revenue 40 + 100 + 50 + 30 − 15 = 205.00 from 4 orders of 2 customers;
the 7 days before (14–20 Nov): 70.00 from 1 order. Last 30 days: 295.00 from 6 orders; web
alone: 245.00 from 4 orders.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialog, QMainWindow, QScrollBar
from pytestqt.qtbot import QtBot
from sqlalchemy import Engine, insert

from ecomdesk.db import metrics
from ecomdesk.db.models import OrderEvent
from ecomdesk.services.analytics import DashboardQuery, DateRange, Granularity, Preset
from ecomdesk.services.context import Actor
from ecomdesk.services.errors import PermissionDenied
from ecomdesk.services.registry import Services
from ecomdesk.ui.charts import ChartPanel, chart_colours
from ecomdesk.ui.main_window import MainWindow
from ecomdesk.ui.pages import page_spec
from ecomdesk.ui.pages.dashboard import DashboardPage
from ecomdesk.ui.pages.trace import TraceDialog
from ecomdesk.ui.preferences import Preferences, ThemeMode
from ecomdesk.ui.session import AppSession
from ecomdesk.ui.tasks import TaskRunner
from ecomdesk.ui.theme import DARK, LIGHT, ThemeManager
from tests.services.conftest import Staff

WAIT_MS = 15_000
TODAY = dt.date(2026, 11, 27)
LAST_7 = DateRange(dt.date(2026, 11, 21), TODAY)
ORDERS = (
    ("A4", "c3", "mobile_app", "20.00", dt.date(2026, 11, 10), None),
    ("A6", "c3", "web", "70.00", dt.date(2026, 11, 16), None),
    ("A5", "c2", "web", "40.00", dt.date(2026, 11, 22), ("15.00", dt.date(2026, 11, 26))),
    ("A1", "c1", "web", "100.00", dt.date(2026, 11, 25), None),
    ("A2", "c2", "web", "50.00", dt.date(2026, 11, 26), None),
    ("A3", "c1", "mobile_app", "30.00", dt.date(2026, 11, 27), None),
)

OpenPage = Callable[..., DashboardPage]


def _noon(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, 12, tzinfo=dt.UTC)


def add_orders(engine: Engine, orders: tuple[tuple[Any, ...], ...] = ORDERS) -> None:
    """The orders as order import stores them, and their metrics derived by `db.metrics`."""
    rows = []
    for order_id, customer, channel, amount, paid, refund in orders:
        rows.append(
            {
                "order_id": order_id,
                "customer_id": customer,
                "channel": channel,
                "currency": "EUR",
                "status": "refunded" if refund else "paid",
                "amount": Decimal(amount),
                "occurred_at": _noon(paid),
                "paid_date": paid,
                "refund_amount": Decimal(refund[0]) if refund else None,
                "refunded_at": _noon(refund[1]) if refund else None,
                "refund_date": refund[1] if refund else None,
                "meta": {},
            }
        )
    days = {r["paid_date"] for r in rows} | {r["refund_date"] for r in rows if r["refund_date"]}
    with engine.begin() as conn:
        conn.execute(insert(OrderEvent), rows)
        metrics.refresh(conn, days=days, customer_ids={r["customer_id"] for r in rows})


@pytest.fixture
def shop(engine: Engine) -> Engine:
    add_orders(engine)
    return engine


@pytest.fixture
def open_page(qtbot: QtBot, services: Services, runner: TaskRunner) -> Iterator[OpenPage]:
    windows: list[QMainWindow] = []

    def open_(
        actor: Actor, *, preset: Preset | None = Preset.LAST_7_DAYS, size: tuple[int, int] = (1280, 800)
    ) -> DashboardPage:
        if preset is not None:
            QSettings().setValue("dashboard/preset", preset.value)
        page = DashboardPage(AppSession(services, actor, runner, database_label="test"))
        window = QMainWindow()
        window.setCentralWidget(page)
        window.resize(*size)
        qtbot.addWidget(window)
        windows.append(window)  # qtbot keeps only a weak reference
        window.show()
        page.page_shown()
        wait_loaded(qtbot, page)
        return page

    yield open_
    runner.wait(WAIT_MS)


def wait_loaded(qtbot: QtBot, page: DashboardPage) -> None:
    qtbot.waitUntil(lambda: page.dashboard is not None and not page.is_busy, timeout=WAIT_MS)


def change(qtbot: QtBot, page: DashboardPage, act: Callable[[], object]) -> None:
    """Do `act` and wait for the figures it asks for."""
    with qtbot.waitSignal(page.loaded, timeout=WAIT_MS):
        act()
    wait_loaded(qtbot, page)


def card_value(page: DashboardPage, key: str) -> str:
    return page.cards[key].value.text()


# -- figures ------------------------------------------------------------------------------------


def test_the_cards_show_the_services_figures_formatted_and_the_charts_hold_its_points(
    shop: Engine, services: Services, staff: Staff, open_page: OpenPage
) -> None:
    page = open_page(staff.manager)
    assert page.dashboard is not None
    assert page.dashboard.query == DashboardQuery(LAST_7, Granularity.DAY, ())
    assert card_value(page, "revenue") == "205.00 EUR"
    assert card_value(page, "orders") == "4"
    assert card_value(page, "customers") == "2"
    # 205 against 70 the week before: up by 135 / 70 = 192.857… %; more revenue is good news.
    revenue = page.cards["revenue"]
    assert revenue.change.text() == "▲ 192.9 % vs previous 7 days"
    assert revenue.change_colour == QColor(LIGHT.kinds["success"][0])
    assert revenue.note.text() == page.dashboard.kpi("revenue").note
    # One period per day of the range, each holding that day's figures.
    chart = page.sales_chart
    assert chart.periods == [LAST_7.start + dt.timedelta(days=i) for i in range(7)]
    revenue_by_day = dict(zip(chart.periods, chart.series[0].values, strict=True))
    assert revenue_by_day[dt.date(2026, 11, 22)] == Decimal("40.00")
    assert revenue_by_day[dt.date(2026, 11, 26)] == Decimal("35.00")  # 50 paid, 15 refunded
    assert revenue_by_day[dt.date(2026, 11, 23)] == 0
    assert list(chart.series[1].values) == page.dashboard.sales.values("orders")
    assert sum(chart.series[1].values) == 4
    assert page.panels["Revenue and orders"].legend.names() == ["Revenue, EUR", "Orders (right axis)"]
    # The channel chart stacks one series per channel with sales.
    assert [s.name for s in page.channel_chart.series] == [
        c.title for c in page.dashboard.by_channel.columns[1:]
    ]
    assert page.range_label.text() == "21 Nov – 27 Nov 2026"
    assert page.session.last_refreshed is not None


def test_no_storefront_sessions_read_as_a_calm_sentence_instead_of_an_empty_chart(
    shop: Engine, staff: Staff, open_page: OpenPage
) -> None:
    page = open_page(staff.manager)
    assert page.conversion_panel.showing_empty
    assert page.conversion_panel.empty.text() == "No storefront sessions recorded for this range."
    assert not page.sales_panel.showing_empty


def test_changing_the_range_granularity_and_channels_reads_the_figures_again(
    shop: Engine, staff: Staff, open_page: OpenPage, qtbot: QtBot
) -> None:
    page = open_page(staff.manager)
    change(qtbot, page, lambda: page.set_preset(Preset.LAST_30_DAYS))
    assert card_value(page, "revenue") == "295.00 EUR"
    assert card_value(page, "orders") == "6"
    assert len(page.sales_chart.periods) == 30

    change(qtbot, page, lambda: page.set_granularity(Granularity.WEEK))
    assert page.dashboard is not None and page.dashboard.query.granularity is Granularity.WEEK
    # 29 Oct – 27 Nov: the week of 29 Oct (from the range's first day), then four Monday weeks.
    assert page.sales_chart.periods == [
        dt.date(2026, 10, 29), dt.date(2026, 11, 2), dt.date(2026, 11, 9),
        dt.date(2026, 11, 16), dt.date(2026, 11, 23),
    ]  # fmt: skip
    assert sum(page.sales_chart.series[0].values) == Decimal("295.00")
    assert page.sales_chart.date_axis.tickStrings([1.0], 1, 1) == ["w45"]

    change(qtbot, page, lambda: page.set_channels(["web"]))
    assert page.dashboard.query.channels == ("web",)
    assert card_value(page, "revenue") == "245.00 EUR"
    assert card_value(page, "orders") == "4"
    assert page.channel_button.text() == "web"
    assert [s.name for s in page.channel_chart.series] == ["web"]

    change(
        qtbot, page, lambda: page.set_custom_range(DateRange(dt.date(2026, 11, 25), dt.date(2026, 11, 26)))
    )
    assert page.dashboard.query.range == DateRange(dt.date(2026, 11, 25), dt.date(2026, 11, 26))
    assert page.start_edit.isVisible() and not page.range_label.isVisible()
    assert card_value(page, "revenue") == "135.00 EUR"  # web: 100 + 50 − 15

    change(qtbot, page, lambda: page.set_channels([]))
    assert page.channel_button.text() == "All channels"
    assert page.all_channels_action.isChecked()


def test_the_channel_menu_lists_the_shops_channels_and_names_a_few_or_counts_many(
    shop: Engine, staff: Staff, open_page: OpenPage, qtbot: QtBot
) -> None:
    page = open_page(staff.manager)
    assert sorted(page.channel_actions) == ["mobile_app", "web"]
    change(qtbot, page, lambda: page.channel_actions["mobile_app"].trigger())
    assert page.channel_button.text() == "mobile_app"
    assert not page.all_channels_action.isChecked()
    change(qtbot, page, lambda: page.channel_actions["web"].trigger())
    assert page.channel_button.text() == "mobile_app, web"
    change(qtbot, page, lambda: page.set_channels(["web", "mobile_app", "phone"]))
    assert page.channel_button.text() == "3 channels"


def test_a_refresh_leaves_a_read_of_the_same_choices_to_finish_and_a_new_choice_replaces_it(
    shop: Engine, staff: Staff, open_page: OpenPage, qtbot: QtBot
) -> None:
    """Auto-refresh comes every few seconds: restarting a slower read each time would never let
    it finish. A different choice, though, makes the read under way worthless."""
    page = open_page(staff.manager)
    page.refresh()
    first = page.current_task
    assert first is not None
    page.refresh()
    assert page.current_task is first and not first.control.cancelled
    page.set_granularity(Granularity.MONTH)
    assert first.cancelled
    wait_loaded(qtbot, page)
    assert page.dashboard is not None and page.dashboard.query.granularity is Granularity.MONTH


def test_the_choices_are_remembered_for_the_next_visit(
    shop: Engine, staff: Staff, open_page: OpenPage, qtbot: QtBot
) -> None:
    page = open_page(staff.manager)
    change(qtbot, page, lambda: page.set_granularity(Granularity.MONTH))
    change(qtbot, page, lambda: page.set_channels(["web"]))
    change(qtbot, page, lambda: page.set_custom_range(DateRange(dt.date(2026, 11, 1), dt.date(2026, 11, 20))))
    again = open_page(staff.manager, preset=None)
    assert again.chosen_preset is Preset.CUSTOM
    assert again.granularity is Granularity.MONTH
    assert again.channels == ("web",)
    assert again.dashboard is not None
    assert again.dashboard.query == DashboardQuery(
        DateRange(dt.date(2026, 11, 1), dt.date(2026, 11, 20)), Granularity.MONTH, ("web",)
    )


# -- traces -------------------------------------------------------------------------------------


def _trace(qtbot: QtBot, page: DashboardPage) -> TraceDialog:
    qtbot.waitUntil(lambda: any(d.isVisible() for d in page.findChildren(TraceDialog)), timeout=WAIT_MS)
    dialog = [d for d in page.findChildren(TraceDialog) if d.isVisible()][-1]
    assert dialog.grid is not None
    grid = dialog.grid
    qtbot.waitUntil(lambda: grid.model.is_loaded and not grid.model.is_busy, timeout=WAIT_MS)
    return dialog


def _records(dialog: TraceDialog) -> list[Any]:
    assert dialog.grid is not None
    model = dialog.grid.model
    return [model.record(row) for row in range(model.rowCount())]


def test_clicking_the_revenue_card_opens_the_daily_rows_that_add_up_to_it(
    shop: Engine, staff: Staff, open_page: OpenPage, qtbot: QtBot
) -> None:
    page = open_page(staff.manager)
    card = page.cards["revenue"]
    assert "Click" in card.toolTip()
    QTest.mouseClick(card, Qt.MouseButton.LeftButton)
    dialog = _trace(qtbot, page)
    assert page.dashboard is not None
    trace = page.dashboard.kpi("revenue").trace
    assert trace is not None
    assert dialog.windowTitle() == trace.title
    assert "205.00 EUR" in dialog.figure.text()
    rows = _records(dialog)
    # (22 Nov, web) 40 · (25 Nov, web) 100 · (26 Nov, web) 50 − 15 · (27 Nov, mobile_app) 30
    assert sorted((r.date, r.channel, r.revenue) for r in rows) == [
        (dt.date(2026, 11, 22), "web", Decimal("40.00")),
        (dt.date(2026, 11, 25), "web", Decimal("100.00")),
        (dt.date(2026, 11, 26), "web", Decimal("35.00")),
        (dt.date(2026, 11, 27), "mobile_app", Decimal("30.00")),
    ]
    assert sum(r.revenue for r in rows) == Decimal("205.00")
    assert dialog.grid is not None and dialog.grid.export_button.isEnabled()  # the grid's CSV export


def test_a_card_opens_its_rows_from_the_keyboard_too_and_they_follow_the_channel_filter(
    shop: Engine, staff: Staff, open_page: OpenPage, qtbot: QtBot
) -> None:
    page = open_page(staff.manager)
    change(qtbot, page, lambda: page.set_channels(["web"]))
    card = page.cards["customers"]
    card.setFocus()
    QTest.keyClick(card, Qt.Key.Key_Return)
    dialog = _trace(qtbot, page)
    rows = _records(dialog)
    # Web orders paid 21–27 Nov: A5 (c2), A1 (c1), A2 (c2) → customers c1 and c2.
    assert sorted(r.order_id for r in rows) == ["A1", "A2", "A5"]
    assert len({r.customer_id for r in rows}) == 2 == int(card_value(page, "customers"))
    dialog.close()
    inventory = page.cards["low_stock"]
    inventory.setFocus()
    QTest.keyClick(inventory, Qt.Key.Key_Space)
    stock = _trace(qtbot, page)
    assert stock.trace.table == "inventory"
    assert len(_records(stock)) == 0 == int(card_value(page, "low_stock"))


# -- charts: export, picture, crosshair, theme ----------------------------------------------------


def _ask(path: Path) -> Callable[..., Path]:
    return lambda _parent, _title, _suggested, _filter: path


def test_export_csv_of_a_chart_writes_its_dataset(
    shop: Engine, staff: Staff, open_page: OpenPage, tmp_path: Path
) -> None:
    page = open_page(staff.manager)
    panel = page.sales_panel
    target = tmp_path / "sales"
    panel.ask_path = _ask(target)
    panel.export_csv_action.trigger()
    written = target.with_suffix(".csv")
    with written.open(encoding="utf-8", newline="") as file:
        rows = list(csv.reader(file))
    assert page.dashboard is not None
    dataset = page.dashboard.sales
    assert rows[0] == [c.title for c in dataset.columns]
    assert [(dt.date.fromisoformat(d), Decimal(r), int(o)) for d, r, o in rows[1:]] == list(dataset.rows)
    assert not list(tmp_path.glob("*.part"))
    assert page.status.text().startswith("Exported 7 rows of “Revenue and orders”")


def test_save_as_png_writes_a_picture_of_the_chart_at_its_size(
    shop: Engine, staff: Staff, open_page: OpenPage, tmp_path: Path
) -> None:
    page = open_page(staff.manager)
    panel = page.channel_panel
    target = tmp_path / "by-channel.png"
    panel.ask_path = _ask(target)
    size = panel.size()  # (the status line that says "Saved" moves the page down afterwards)
    panel.save_png_action.trigger()
    image = QImage(str(target))
    assert not image.isNull()
    ratio = panel.devicePixelRatioF()
    assert (image.width(), image.height()) == (round(size.width() * ratio), round(size.height() * ratio))
    assert panel.tools.isVisible()  # hidden only while the picture was taken


def test_the_crosshair_label_names_the_period_under_the_mouse_and_its_figures(
    shop: Engine, staff: Staff, open_page: OpenPage, qtbot: QtBot
) -> None:
    page = open_page(staff.manager)
    chart = page.sales_chart
    page.scroll_area.ensureWidgetVisible(chart)
    index = chart.periods.index(dt.date(2026, 11, 26))
    point = chart.mapFromScene(chart.scene_point(index))
    QTest.mouseMove(chart.viewport(), point)
    qtbot.waitUntil(lambda: chart.hover_index == index, timeout=WAIT_MS)
    assert chart.crosshair.isVisible() and chart.crosshair.value() == index
    assert chart.tip.textItem.toPlainText().split("\n") == [
        "Thu 26 Nov 2026",
        "■ Revenue: 35.00 EUR",
        "■ Orders: 1",
    ]
    QTest.mouseMove(chart.viewport(), chart.mapFromScene(chart.scene_point(0)))
    qtbot.waitUntil(lambda: chart.hover_index == 0, timeout=WAIT_MS)
    assert chart.tip.textItem.toPlainText().startswith("Sat 21 Nov 2026")


def test_switching_to_the_dark_theme_repaints_the_charts_on_dark_cards(
    shop: Engine, staff: Staff, open_page: OpenPage, qapp: QApplication, qtbot: QtBot
) -> None:
    page = open_page(staff.manager)
    theme = ThemeManager(Preferences(QSettings()))
    theme.set_mode(ThemeMode.LIGHT)
    light = page.sales_chart.background_colour
    assert light == QColor(LIGHT.card)
    theme.set_mode(ThemeMode.DARK)
    qtbot.waitUntil(lambda: page.sales_chart.background_colour == QColor(DARK.card), timeout=WAIT_MS)
    assert page.sales_chart.left_axis.textPen().color() == qapp.palette().windowText().color()
    dark_colours = chart_colours(qapp.palette())
    assert page.category_chart.background_colour == dark_colours.background
    assert page.cards["revenue"].change_colour == QColor(DARK.kinds["success"][0])
    # The chosen granularity stands out in the dark theme's highlight colour.
    day = page.granularity_buttons[Granularity.DAY]
    picture = day.grab().toImage()
    inside = picture.pixelColor(round(4 * picture.devicePixelRatio()), picture.height() // 2)
    assert inside == QColor(DARK.highlight)


# -- permissions, failures, layout --------------------------------------------------------------


def test_a_viewer_sees_the_figures_but_no_enabled_import(
    shop: Engine, staff: Staff, open_page: OpenPage
) -> None:
    page = open_page(staff.viewer)
    assert card_value(page, "revenue") == "205.00 EUR"
    assert not page.import_button.isEnabled()
    assert "analytics.write" in page.import_button.toolTip()
    assert page.import_orders() is None


def test_a_manager_imports_orders_from_the_dashboard(
    shop: Engine, staff: Staff, open_page: OpenPage, qtbot: QtBot
) -> None:
    page = open_page(staff.manager)
    assert page.import_button.isEnabled()
    QTest.mouseClick(page.import_button, Qt.MouseButton.LeftButton)
    dialog = page.findChild(QDialog)
    assert dialog is not None
    qtbot.waitUntil(dialog.isVisible, timeout=WAIT_MS)
    assert dialog.windowTitle() == "Import orders"
    dialog.reject()


def test_a_refresh_that_fails_keeps_the_figures_and_goes_to_the_runners_message_path(
    shop: Engine, services: Services, staff: Staff, open_page: OpenPage, qtbot: QtBot, make_user: Any
) -> None:
    """An administrator takes the right to read analytics away while the page is open."""
    role = services.roles.create_role(staff.admin, "Analyst", frozenset({"analytics.read"}))
    analyst = make_user(role.name)
    page = open_page(analyst)
    services.roles.update_role(
        staff.admin, role.id, name=role.name, permissions=frozenset({"inventory.read"})
    )
    failures: list[BaseException] = []
    page.session.runner.failed.connect(lambda error, _task: failures.append(error))
    page.refresh()
    qtbot.waitUntil(lambda: bool(failures) and not page.is_busy, timeout=WAIT_MS)
    assert isinstance(failures[0], PermissionDenied)
    assert card_value(page, "revenue") == "205.00 EUR"
    assert "could not refresh" in page.read_label.text()


def test_the_page_is_the_dashboard_entry_of_the_page_registry(
    services: Services, staff: Staff, runner: TaskRunner
) -> None:
    page = page_spec("dashboard").factory(AppSession(services, staff.manager, runner, database_label="test"))
    assert isinstance(page, DashboardPage)
    page.deleteLater()


def _no_horizontal_scroll(page: DashboardPage) -> bool:
    bar: QScrollBar | None = page.scroll_area.horizontalScrollBar()
    return bar is None or bar.maximum() == 0


def _in_main_window(
    qtbot: QtBot, services: Services, runner: TaskRunner, actor: Actor, size: tuple[int, int]
) -> DashboardPage:
    """The page where it lives, beside the sidebar, in a main window of `size`."""
    QSettings().setValue("dashboard/preset", Preset.LAST_7_DAYS.value)
    window = MainWindow(AppSession(services, actor, runner, database_label="test"))
    qtbot.addWidget(window)
    window.resize(*size)
    window.show()
    window.show_page("dashboard")
    page = window.current_page
    assert isinstance(page, DashboardPage)
    wait_loaded(qtbot, page)
    return page


def test_at_1280_by_800_cards_share_rows_and_charts_stand_two_by_two(
    shop: Engine, services: Services, staff: Staff, runner: TaskRunner, qtbot: QtBot
) -> None:
    page = _in_main_window(qtbot, services, runner, staff.manager, (1280, 800))
    qtbot.waitUntil(lambda: page.chart_grid.columns == 2, timeout=WAIT_MS)
    assert page.card_grid.columns >= 4
    assert _no_horizontal_scroll(page)
    assert page.sales_panel.geometry().top() == page.channel_panel.geometry().top()
    runner.wait(WAIT_MS)


def test_at_800_by_600_the_page_stays_usable_in_one_column(
    shop: Engine, services: Services, staff: Staff, runner: TaskRunner, qtbot: QtBot
) -> None:
    page = _in_main_window(qtbot, services, runner, staff.manager, (800, 600))
    qtbot.waitUntil(lambda: page.chart_grid.columns == 1, timeout=WAIT_MS)
    assert 2 <= page.card_grid.columns < len(page.cards)
    qtbot.waitUntil(lambda: _no_horizontal_scroll(page), timeout=WAIT_MS)
    # Wrapped into balanced rows: no row holds a single card while another holds many.
    rows: dict[int, int] = {}
    for card in page.cards.values():
        rows[card.geometry().top()] = rows.get(card.geometry().top(), 0) + 1
    assert max(rows.values()) - min(rows.values()) <= 1
    assert page.sales_panel.height() >= page.fontMetrics().height() * 18
    right_edge = page.import_button.mapTo(page, QPoint(page.import_button.width(), 0)).x()
    assert right_edge <= page.width()
    runner.wait(WAIT_MS)


def test_a_chart_panel_offers_save_and_export_in_its_menu(
    shop: Engine, staff: Staff, open_page: OpenPage
) -> None:
    page = open_page(staff.manager)
    for panel in page.findChildren(ChartPanel):
        texts = [a.text() for a in panel.menu.actions()]
        assert texts == ["Save as PNG…", "Export CSV…"], panel.title.text()
        assert panel.export_csv_action.isEnabled()
