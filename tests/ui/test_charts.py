"""The dashboard's chart widgets on hand-built datasets: calendar ticks and labels, compact axis
numbers, stacked bars (refunds below zero), the crosshair's label, the panel's PNG and CSV, the
theme, and the small table models (checked with Qt's model tester)."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyqtgraph as pg
import pytest
from PySide6.QtCore import QLocale, QSettings, Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from ecomdesk.services.analytics import Dataset, Granularity
from ecomdesk.services.tables import Column, Kind
from ecomdesk.ui.charts import (
    BarChart,
    ChartPanel,
    CohortModel,
    DatasetModel,
    HeatmapTable,
    NumberAxis,
    Series,
    Style,
    TimeChart,
    chart_colours,
    compact_number,
    period_label,
    period_title,
    tick_indices,
)
from ecomdesk.ui.preferences import Preferences, ThemeMode
from ecomdesk.ui.theme import DARK, LIGHT, ThemeManager

C = QLocale(QLocale.Language.English, QLocale.Country.UnitedKingdom)
NOV = [dt.date(2026, 11, 1) + dt.timedelta(days=i) for i in range(30)]


def days(start: dt.date, count: int) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range(count)]


@pytest.fixture
def theme(qapp: QApplication) -> Iterator[ThemeManager]:
    manager = ThemeManager(Preferences(QSettings()))
    manager.set_mode(ThemeMode.LIGHT)
    yield manager


# -- periods and numbers --------------------------------------------------------------------------


def test_periods_read_as_day_week_and_month_labels() -> None:
    monday = dt.date(2026, 11, 2)  # ISO week 45 of 2026
    assert period_label(dt.date(2026, 11, 3), Granularity.DAY, C) == "3 Nov"
    assert period_label(monday, Granularity.WEEK, C) == "w45"
    assert period_label(dt.date(2026, 11, 1), Granularity.MONTH, C) == "Nov 2026"
    assert period_title(dt.date(2026, 11, 3), Granularity.DAY, C) == "Tue 3 Nov 2026"
    assert period_title(monday, Granularity.WEEK, C) == "Week 45 of 2026, from Mon 2 Nov"
    assert period_title(dt.date(2026, 11, 1), Granularity.MONTH, C) == "November 2026"


def test_day_ticks_take_every_day_then_mondays_then_month_starts_as_room_shrinks() -> None:
    # November 2026: the 1st is a Sunday, so the Mondays are the 2nd, 9th, 16th, 23rd and 30th.
    assert tick_indices(NOV, Granularity.DAY, 0, 29, 30) == list(range(30))
    assert [NOV[i].day for i in tick_indices(NOV, Granularity.DAY, 0, 29, 6)] == [2, 9, 16, 23, 30]
    # Every other Monday, counted from a fixed Monday (not from the range's first day), so the
    # labels stay on the same days as the range moves on: here the 9th and the 23rd.
    fortnight = [NOV[i] for i in tick_indices(NOV, Granularity.DAY, 0, 29, 3)]
    assert [d.day for d in fortnight] == [9, 23]
    assert all(d.weekday() == 0 and (d.toordinal() // 7) % 2 == 0 for d in fortnight)
    year = days(dt.date(2025, 11, 28), 365)
    picked = [year[i] for i in tick_indices(year, Granularity.DAY, 0, 364, 6)]
    # Twelve month starts do not fit in six labels; every other month does (Jan, Mar, … Nov).
    assert picked == [dt.date(2026, m, 1) for m in (1, 3, 5, 7, 9, 11)]
    assert tick_indices(NOV, Granularity.DAY, -3, 40, 30) == list(range(30))  # clipped to the data
    assert tick_indices([], Granularity.DAY, 0, 10, 5) == []


def test_week_and_month_ticks_keep_to_the_calendar() -> None:
    weeks = [dt.date(2026, 8, 31) + dt.timedelta(weeks=i) for i in range(13)]  # w36 … w48
    labels = [
        period_label(weeks[i], Granularity.WEEK, C) for i in tick_indices(weeks, Granularity.WEEK, 0, 12, 7)
    ]
    assert labels == ["w37", "w39", "w41", "w43", "w45", "w47"]
    months = [dt.date(2025 + (11 + m) // 12, (11 + m) % 12 + 1, 1) for m in range(12)]  # Dec 2025 …
    quarters = [months[i] for i in tick_indices(months, Granularity.MONTH, 0, 11, 4)]
    assert quarters == [dt.date(2026, 1, 1), dt.date(2026, 4, 1), dt.date(2026, 7, 1), dt.date(2026, 10, 1)]


@pytest.mark.parametrize(
    ("value", "step", "text"),
    [
        (0, 1000, "0"),
        (1500, 500, "1,500"),
        (8000, 2000, "8k"),  # on an axis that reaches 12,000: one unit per axis
        (12000, 2000, "12k"),
        (2500, 2500, "2.5k"),
        (500_000, 500_000, "0.5M"),  # on an axis that reaches 2.5 million
        (2_500_000, 500_000, "2.5M"),
        (-20_000, 10_000, "-20k"),
        (0.25, 0.05, "0.25"),
        (40, 10, "40"),
    ],
)
def test_axis_numbers_are_compact_with_the_locales_separators(value: float, step: float, text: str) -> None:
    top = {8000: 12000, 2500: 12500, 500_000: 2_500_000}.get(int(value), value)
    assert compact_number(value, step, C, magnitude=top) == text


def test_a_count_axis_ticks_whole_numbers_only(qtbot: QtBot) -> None:
    axis = NumberAxis("left")
    axis.integer = True
    for spacing, values in axis.tickValues(0, 3, 400):
        assert spacing >= 1
        assert all(float(v).is_integer() for v in values)


# -- the time chart -------------------------------------------------------------------------------


def _bars(chart: TimeChart) -> list[pg.BarGraphItem]:
    return [item for item in chart.plot.items if isinstance(item, pg.BarGraphItem)]


def test_stacked_bars_go_up_from_zero_and_a_refund_heavy_day_goes_below_it(qtbot: QtBot) -> None:
    chart = TimeChart(currency="EUR")
    qtbot.addWidget(chart)
    web = Series(
        "web", (Decimal("10.00"), Decimal("-5.00"), Decimal("4.00")), Kind.MONEY, Style.BARS, colour=0
    )
    app = Series("app", (Decimal("3.00"), Decimal("-2.00"), None), Kind.MONEY, Style.BARS, colour=1)
    chart.set_series(days(dt.date(2026, 11, 1), 3), [web, app], Granularity.DAY)
    first, second = _bars(chart)
    assert list(first.opts["y0"]) == [0, 0, 0]
    assert list(first.opts["height"]) == [10, -5, 4]
    # app stacks on web: above it where positive, below it where negative; nothing where None.
    assert list(second.opts["y0"]) == [10, -5, 4]
    assert list(second.opts["height"]) == [3, -2, 0]
    low, high = chart.plot.vb.viewRange()[1]
    assert low < -7 and high > 13
    assert chart.text_at(1).split("\n") == ["Mon 2 Nov 2026", "web: -5.00 EUR", "app: -2.00 EUR"]
    assert chart.text_at(2).split("\n")[2] == "app: —"


def test_a_series_on_the_right_axis_gets_its_own_scale(qtbot: QtBot) -> None:
    chart = TimeChart()
    qtbot.addWidget(chart)
    revenue = Series("Revenue", (Decimal("5000"), Decimal("7000")), Kind.MONEY, Style.BARS)
    orders = Series("Orders", (12, 30), Kind.INTEGER, Style.LINE, right=True, colour=1)
    chart.set_series(days(dt.date(2026, 11, 1), 2), [revenue, orders], Granularity.DAY)
    assert chart.plot.getAxis("right").isVisible()
    assert chart.right_axis.integer and not chart.left_axis.integer
    assert chart.right_view.viewRange()[1][1] < 100 < chart.plot.vb.viewRange()[1][1]


def test_the_crosshair_follows_the_mouse_to_the_nearest_period_and_leaves_with_it(qtbot: QtBot) -> None:
    chart = TimeChart()
    qtbot.addWidget(chart)
    chart.resize(600, 300)
    chart.show()
    qtbot.waitExposed(chart)
    chart.set_series(NOV[:10], [Series("Orders", tuple(range(10)), Kind.INTEGER)], Granularity.DAY)
    hovered: list[int] = []
    chart.hovered.connect(hovered.append)
    point = chart.scene_point(4)
    point.setX(point.x() + 8)  # a little right of the 5th day's middle: still the 5th day
    chart._mouse_moved(point)
    assert chart.crosshair.value() == 4
    assert hovered == [4]
    assert chart.tip.textItem.toPlainText().split("\n") == ["Thu 5 Nov 2026", "■ Orders: 4"]
    chart._mouse_moved(chart.plot.vb.sceneBoundingRect().bottomRight() + pg.Point(5, 5))  # outside
    assert not chart.tip.isVisible() and not chart.crosshair.isVisible()
    assert hovered == [4, -1]


# -- the panel: picture, CSV, empty --------------------------------------------------------------


SALES = Dataset(
    "sales",
    "Sales",
    (
        Column("period", "Period", Kind.DATE),
        Column("revenue", "Revenue", Kind.MONEY),
        Column("orders", "Orders", Kind.INTEGER),
    ),
    (
        (dt.date(2026, 11, 1), Decimal("120.50"), 3),
        (dt.date(2026, 11, 2), Decimal("-15.00"), 0),
    ),
)


def _panel(qtbot: QtBot, dataset: Dataset = SALES) -> ChartPanel:
    chart = TimeChart(currency="EUR")
    chart.set_series(
        dataset.values("period"),
        [Series("Revenue", tuple(dataset.values("revenue")), Kind.MONEY, Style.BARS)],
        Granularity.DAY,
    )
    panel = ChartPanel("Revenue", chart)
    panel.set_dataset(dataset, empty_text="Nothing sold.")
    qtbot.addWidget(panel)
    panel.resize(500, 320)
    panel.show()
    qtbot.waitExposed(panel)
    return panel


def test_export_csv_writes_the_dataset_as_the_lists_export_it(qtbot: QtBot, tmp_path: Path) -> None:
    panel = _panel(qtbot)
    said: list[tuple[str, str]] = []
    panel.status_message.connect(lambda text, kind: said.append((text, kind)))
    panel.ask_path = lambda _parent, _title, suggested, _filter: tmp_path / suggested.name
    written = panel.ask_export_csv()
    assert written is not None and written.name.startswith("sales-") and written.suffix == ".csv"
    with written.open(encoding="utf-8", newline="") as file:
        assert list(csv.reader(file)) == [
            ["Period", "Revenue", "Orders"],
            ["2026-11-01", "120.50", "3"],
            ["2026-11-02", "-15.00", "0"],
        ]
    assert said == [(f"Exported 2 rows of “Revenue” to {written}.", "success")]


def test_a_cancelled_or_failed_export_leaves_no_file(qtbot: QtBot, tmp_path: Path) -> None:
    panel = _panel(qtbot)
    said: list[tuple[str, str]] = []
    panel.status_message.connect(lambda text, kind: said.append((text, kind)))
    panel.ask_path = lambda *_args: None
    assert panel.ask_export_csv() is None and panel.ask_save_png() is None
    missing = tmp_path / "no-such-folder" / "sales.csv"
    panel.ask_path = lambda *_args: missing
    assert panel.ask_export_csv() is None
    assert not missing.parent.exists()
    assert said and said[-1][1] == "error" and str(missing) in said[-1][0]
    assert list(tmp_path.iterdir()) == []


def test_save_as_png_writes_the_panel_without_its_menu_button(qtbot: QtBot, tmp_path: Path) -> None:
    panel = _panel(qtbot)
    panel.ask_path = lambda *_args: tmp_path / "revenue"
    written = panel.ask_save_png()
    assert written == tmp_path / "revenue.png"
    image = QImage(str(written))
    ratio = panel.devicePixelRatioF()
    assert (image.width(), image.height()) == (round(500 * ratio), round(320 * ratio))
    # Where the menu button sits on screen, the picture shows the card's plain background.
    corner = panel.tools.geometry().center()
    card = image.pixelColor(round((panel.tools.geometry().right() + 4) * ratio), round(corner.y() * ratio))
    assert image.pixelColor(round(corner.x() * ratio), round(corner.y() * ratio)) == card
    assert panel.tools.isVisible()


def test_a_dataset_without_rows_shows_the_panels_sentence_and_none_disables_the_actions(qtbot: QtBot) -> None:
    panel = _panel(qtbot, Dataset("conversion", "Conversion", SALES.columns, ()))
    assert panel.showing_empty and panel.empty.text() == "Nothing sold."
    assert panel.export_csv_action.isEnabled()  # a header-only CSV still says what the chart holds
    panel.set_dataset(None)
    assert not panel.export_csv_action.isEnabled() and not panel.save_png_action.isEnabled()


# -- theme ---------------------------------------------------------------------------------------


def test_charts_and_legends_repaint_in_the_new_theme(
    qtbot: QtBot, theme: ThemeManager, qapp: QApplication
) -> None:
    panel = _panel(qtbot)
    panel.legend.set_entries([("Revenue", 0), ("Orders", 1)])
    chart = panel.body
    assert isinstance(chart, TimeChart)
    assert chart.background_colour == QColor(LIGHT.card)
    light_bar = _bars(chart)[0].opts["brush"].color()
    theme.set_mode(ThemeMode.DARK)
    qtbot.waitUntil(lambda: chart.background_colour == QColor(DARK.card))
    dark = chart_colours(qapp.palette())
    assert _bars(chart)[0].opts["brush"].color() == dark.series_colour(0) != light_bar
    assert chart.left_axis.textPen().color() == dark.text
    swatch = panel.legend.swatches[0].pixmap().toImage()
    assert swatch.pixelColor(1, 1) == dark.series_colour(0)


def test_the_series_colours_differ_from_each_other_and_from_the_card_in_both_themes(
    qapp: QApplication,
) -> None:
    from ecomdesk.ui.theme import build_palette

    for scheme in (LIGHT, DARK):
        colours = chart_colours(build_palette(scheme))
        hues = [c.hsvHue() for c in colours.series[:7]]
        assert len(set(hues)) == 7
        for colour in colours.series:
            # Readable on the card: clearly lighter or darker than it.
            assert abs(colour.lightness() - colours.background.lightness()) > 40, (scheme, colour.name())


# -- bars and tables ------------------------------------------------------------------------------


def test_horizontal_bars_list_the_first_category_on_top_with_its_figure(qtbot: QtBot) -> None:
    chart = BarChart(currency="EUR")
    qtbot.addWidget(chart)
    chart.resize(500, 300)
    chart.set_bars(
        ["Kitchen", "Garden"], [Decimal("900.00"), Decimal("100.00")], Kind.MONEY, notes=["9 units", "1 unit"]
    )
    bars = next(item for item in chart.plot.items if isinstance(item, pg.BarGraphItem))
    assert list(bars.opts["y"]) == [1, 0]  # Kitchen, given first, at the top
    assert list(bars.opts["width"]) == [900, 100]
    assert chart.category_axis.labels == ["Garden", "Kitchen"]
    assert chart.texts[0].textItem.toPlainText().replace("\n", " · ") == "900.00 EUR · 9 units"


COHORTS = Dataset(
    "cohorts",
    "Cohorts",
    (
        Column("cohort", "First order", Kind.DATE),
        Column("customers", "Customers", Kind.INTEGER),
        Column("m1", "Month 1", Kind.PERCENT),
        Column("m2", "Month 2", Kind.PERCENT),
    ),
    (
        (dt.date(2026, 9, 1), 40, Decimal("25.0"), Decimal("10.0")),
        (dt.date(2026, 10, 1), 20, Decimal("5.0"), None),
    ),
)


def test_the_dataset_model_passes_qts_model_tester_and_formats_by_kind(qtmodeltester: Any) -> None:
    model = DatasetModel(columns=("cohort", "m1"), formats={"cohort": lambda day: f"{day:%b %Y}"})
    model.set_dataset(COHORTS)
    qtmodeltester.check(model)
    assert (model.rowCount(), model.columnCount()) == (2, 2)
    assert model.headerData(1, Qt.Orientation.Horizontal) == "Month 1"
    assert model.data(model.index(0, 0)) == "Sep 2026"
    assert model.data(model.index(0, 1)).replace("\u00a0", "") in ("25.0%", "25,0%")
    model.set_dataset(None)
    qtmodeltester.check(model)
    assert model.rowCount() == 0


def test_cohort_cells_are_tinted_by_share_and_explain_themselves(qtmodeltester: Any, qtbot: QtBot) -> None:
    model = CohortModel()
    view = HeatmapTable(model)
    qtbot.addWidget(view)
    model.set_dataset(COHORTS)
    qtmodeltester.check(model)
    base = model.base

    def distance(row: int, column: int) -> int:
        colour = model.data(model.index(row, column), Qt.ItemDataRole.BackgroundRole)
        assert isinstance(colour, QColor)
        return (
            abs(colour.red() - base.red())
            + abs(colour.green() - base.green())
            + abs(colour.blue() - base.blue())
        )

    # 25 % (the largest share) is the strongest tint, then 10 %, then 5 %.
    assert distance(0, 2) > distance(0, 3) > distance(1, 2) > 0
    assert model.data(model.index(1, 3), Qt.ItemDataRole.BackgroundRole) is None  # after the range
    assert model.data(model.index(0, 0)) == period_label(dt.date(2026, 9, 1), Granularity.MONTH)
    tip: Any = model.data(model.index(0, 2), Qt.ItemDataRole.ToolTipRole)
    assert "of the 40 customers whose first order was in Sep 2026" in tip
    assert tip.endswith("ordered again in month 1 after it (Oct 2026).")
