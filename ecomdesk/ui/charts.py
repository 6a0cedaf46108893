"""The dashboard's charts: pyqtgraph plots in the app's theme, small table models for what reads
better as a table (the cohort heat-map, top sellers), and the panel that frames each one with its
title, legend, "Save as PNG…" and "Export CSV…".

Periods are plotted at their index (0, 1, 2, …), not at their date: a month of 28 days and one of 31
get bars of one width, and the date axis labels the indexes with calendar ticks ("3 Nov", "w45",
"Nov 2026"). Colours come from the palette and `chart_colours`, so the charts follow the theme: every
chart redraws itself when its `changeEvent` says the theme changed. Mouse zoom and pan are off:
a dashboard is read, not explored, and a chart dragged out of shape by a stray wheel helps no one.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import (
    QAbstractTableModel,
    QDate,
    QEvent,
    QLocale,
    QModelIndex,
    QPersistentModelIndex,
    QPointF,
    QSettings,
    QSize,
    QStandardPaths,
    Qt,
    Signal,
)
from PySide6.QtGui import QAction, QColor, QFontMetrics, QMouseEvent, QPalette, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QSizePolicy,
    QStackedWidget,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ecomdesk.services.analytics import Dataset, Granularity
from ecomdesk.services.tables import Kind
from ecomdesk.ui.grid.export import DIRECTORY_KEY
from ecomdesk.ui.grid.format import alignment, display_text, number_text
from ecomdesk.ui.grid.model import KindRole, SortRole
from ecomdesk.ui.theme import COLOURS, Scheme, blend, is_theme_change, scheme_of
from ecomdesk.ui.widgets import hint

#: Series colours, in the order series take them: distinct hues of similar weight, darker on the
#: light theme's white cards and lighter on the dark theme's, so every one reads on its background.
SERIES_COLOURS: Final[dict[Scheme, tuple[str, ...]]] = {
    Scheme.LIGHT: ("#2f6fde", "#e07b28", "#2e9d52", "#c23d8b", "#7a5cd6", "#138d99", "#a88400", "#6b727c"),
    Scheme.DARK: ("#6ea1ff", "#ffa45c", "#5fcf80", "#f27ac0", "#a98bff", "#4fd0d9", "#e5c04a", "#a0a7b1"),
}
#: Bars fill this share of their period's width.
BAR_WIDTH: Final = 0.72
#: Horizontal bars are never thicker than this many would be.
MIN_BAR_SLOTS: Final = 5
#: Lines of this many points or fewer mark each point with a dot.
DOTS_UP_TO: Final = 45
#: Tables (top sellers, cohorts) are as tall as this many rows at most, and scroll beyond.
MAX_TABLE_ROWS: Final = 12
#: Grid lines: the axis colour at this opacity (0–255).
GRID_ALPHA: Final = 70
#: The value range is padded by this share above (and below, when negative), so no bar touches the edge.
HEADROOM: Final = 0.08


# -- colours --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChartColours:
    background: QColor
    text: QColor
    axis: QColor
    grid: QColor
    crosshair: QColor
    tip_base: QColor
    tip_text: QColor
    series: tuple[QColor, ...]

    def series_colour(self, index: int) -> QColor:
        return QColor(self.series[index % len(self.series)])


def chart_colours(palette: QPalette) -> ChartColours:
    """A chart's colours on `palette`: the card's background (charts sit on cards), the palette's
    text for labels, and axes and grid lines blended between the two so they stay quiet."""
    scheme = scheme_of(palette)
    background = QColor(COLOURS[scheme].card)
    text = palette.color(QPalette.ColorRole.WindowText)
    return ChartColours(
        background=background,
        text=text,
        axis=blend(background, text, 0.55),
        grid=blend(background, text, 0.14),
        crosshair=blend(background, text, 0.45),
        tip_base=palette.color(QPalette.ColorRole.ToolTipBase),
        tip_text=palette.color(QPalette.ColorRole.ToolTipText),
        series=tuple(QColor(value) for value in SERIES_COLOURS[scheme]),
    )


# -- numbers and periods --------------------------------------------------------------------------


def _places(step: float) -> int:
    """The fewest decimals that show every multiple of `step` exactly (2.5 → 1, 0.25 → 2)."""
    for places in range(7):
        scaled = abs(step) * 10**places
        if abs(scaled - round(scaled)) < 1e-6 * max(scaled, 1):
            return places
    return 6


def compact_number(
    value: float, step: float, locale: QLocale | None = None, *, magnitude: float | None = None
) -> str:
    """An axis label with the locale's separators: thousands as "k" from 10,000 and millions as
    "M", trailing zeros trimmed. `magnitude` (the axis's largest tick) picks the unit, so one axis
    reads in one unit (8k, 10k, 12k — not 8,000, 10k, 12k)."""
    locale = locale or QLocale()
    step = abs(step) or abs(value) or 1.0
    top = abs(magnitude) if magnitude is not None else max(abs(value), step)
    divisor, suffix = 1.0, ""
    for unit, letter, threshold in ((1e9, "G", 1e9), (1e6, "M", 1e6), (1e3, "k", 1e4)):
        if top >= threshold:
            divisor, suffix = unit, letter
            break
    scaled = value / divisor
    places = _places(step / divisor)
    text = number_text(round(scaled, places), places, locale)
    point = locale.decimalPoint()
    if places and point in text:
        text = text.rstrip("0").rstrip(point)
    if text in ("0", "-0", locale.negativeSign() + "0"):
        return "0"
    return text + suffix


def _qdate(day: dt.date) -> QDate:
    return QDate(day.year, day.month, day.day)


def period_label(day: dt.date, granularity: Granularity, locale: QLocale | None = None) -> str:
    """A period's short name on the date axis: "3 Nov", "w45", "Nov 2026"."""
    locale = locale or QLocale()
    match granularity:
        case Granularity.WEEK:
            return f"w{day.isocalendar().week}"
        case Granularity.MONTH:
            return locale.toString(_qdate(day), "MMM yyyy")
    return locale.toString(_qdate(day), "d MMM")


def period_title(day: dt.date, granularity: Granularity, locale: QLocale | None = None) -> str:
    """A period's full name where there is room (the hover label, tooltips)."""
    locale = locale or QLocale()
    match granularity:
        case Granularity.WEEK:
            year, week, _ = day.isocalendar()
            return f"Week {week} of {year}, from {locale.toString(_qdate(day), 'ddd d MMM')}"
        case Granularity.MONTH:
            return locale.toString(_qdate(day), "MMMM yyyy")
    return locale.toString(_qdate(day), "ddd d MMM yyyy")


def _day_candidates() -> list[Callable[[dt.date], bool]]:
    return [
        lambda d: True,
        lambda d: d.toordinal() % 2 == 0,
        lambda d: d.weekday() == 0,
        lambda d: d.weekday() == 0 and (d.toordinal() // 7) % 2 == 0,
        *_month_candidates(lambda d: d.day == 1),
    ]


def _week_candidates() -> list[Callable[[dt.date], bool]]:
    return [
        lambda d: True,
        lambda d: d.isocalendar().week % 2 == 1,
        lambda d: d.isocalendar().week % 4 == 1,
        *_month_candidates(lambda d: d.day <= 7),  # the first week starting in each month
    ]


def _month_candidates(first: Callable[[dt.date], bool]) -> list[Callable[[dt.date], bool]]:
    def every(months: int) -> Callable[[dt.date], bool]:
        return lambda d: first(d) and (d.month - 1) % months == 0

    return [every(months) for months in (1, 2, 3, 6, 12)]


def tick_indices(
    periods: Sequence[dt.date], granularity: Granularity, first: int, last: int, room: int
) -> list[int]:
    """Which periods between indexes `first` and `last` get a label, at most `room` of them, at
    calendar steps: every day, Mondays, the 1st of each month, quarters…; weeks and months alike."""
    first, last = max(first, 0), min(last, len(periods) - 1)
    if first > last or room < 1:
        return []
    match granularity:
        case Granularity.DAY:
            candidates = _day_candidates()
        case Granularity.WEEK:
            candidates = _week_candidates()
        case _:
            candidates = _month_candidates(lambda d: True)
    indexes = range(first, last + 1)
    picked: list[int] = []
    for keep in candidates:
        picked = [i for i in indexes if keep(periods[i])]
        if len(picked) <= room:
            break
    else:  # decades of days: every n-th year start
        picked = picked[:: math.ceil(len(picked) / room)]
    return picked or [first]


class DateAxis(pg.AxisItem):  # type: ignore[misc]
    """The bottom axis of a time chart: period indexes labelled with calendar ticks that fit."""

    def __init__(self) -> None:
        super().__init__("bottom")
        self.periods: list[dt.date] = []
        self.granularity = Granularity.DAY

    def set_periods(self, periods: Sequence[dt.date], granularity: Granularity) -> None:
        self.periods, self.granularity = list(periods), granularity
        self.picture = None
        self.update()

    def label_width(self) -> int:
        metrics = QFontMetrics(self.style.get("tickFont") or self.font())
        sample = {Granularity.DAY: "30 May", Granularity.WEEK: "w52", Granularity.MONTH: "May 2026"}
        return metrics.horizontalAdvance(period_label(dt.date(2026, 5, 30), self.granularity)) + max(
            metrics.horizontalAdvance(sample[self.granularity]) // 2, metrics.horizontalAdvance("MM")
        )

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list[tuple[float, list[float]]]:
        room = max(1, int(size // max(self.label_width(), 1)))
        picked = tick_indices(self.periods, self.granularity, math.ceil(minVal), math.floor(maxVal), room)
        return [(1.0, [float(i) for i in picked])]

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        locale = QLocale()
        labels = []
        for value in values:
            index = round(value)
            inside = 0 <= index < len(self.periods)
            labels.append(period_label(self.periods[index], self.granularity, locale) if inside else "")
        return labels


class NumberAxis(pg.AxisItem):  # type: ignore[misc]
    """A value axis with compact, locale-aware labels (2,500 · 12k · 1.5M); whole ticks only for counts."""

    def __init__(self, orientation: str, *, suffix: str = "") -> None:
        super().__init__(orientation)
        self.integer = False
        self.suffix = suffix
        self.enableAutoSIPrefix(False)

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list[tuple[float, list[float]]]:
        levels: list[tuple[float, list[float]]] = super().tickValues(minVal, maxVal, size)[:1]
        if self.integer:
            levels = [
                (spacing, [v for v in values if float(v).is_integer()])
                for spacing, values in levels
                if spacing >= 1
            ] or [(1.0, [float(v) for v in range(math.ceil(minVal), math.floor(maxVal) + 1)])]
        return levels

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        locale = QLocale()
        top = max((abs(v) for v in values), default=0.0)
        return [compact_number(value, spacing, locale, magnitude=top) + self.suffix for value in values]


class CategoryAxis(pg.AxisItem):  # type: ignore[misc]
    """An axis of names at 0, 1, 2, … (top to bottom on a left axis, shown in that order)."""

    def __init__(self, orientation: str) -> None:
        super().__init__(orientation)
        self.labels: list[str] = []
        self.max_width = 0

    def set_labels(self, labels: Sequence[str], max_width: int) -> None:
        self.labels, self.max_width = list(labels), max_width
        self.picture = None
        self.update()

    def _text(self, index: int) -> str:
        if not 0 <= index < len(self.labels):
            return ""
        text = self.labels[index]
        if self.max_width:
            metrics = QFontMetrics(self.style.get("tickFont") or self.font())
            text = metrics.elidedText(text, Qt.TextElideMode.ElideRight, self.max_width)
        return text

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list[tuple[float, list[float]]]:
        metrics = QFontMetrics(self.style.get("tickFont") or self.font())
        vertical = self.orientation in ("left", "right")
        if vertical:
            per_label = metrics.height() * 1.2
        else:
            widest = max(
                (metrics.horizontalAdvance(self._text(i)) for i in range(len(self.labels))), default=0
            )
            per_label = widest + metrics.horizontalAdvance("MM")
        indexes = [i for i in range(math.ceil(minVal), math.floor(maxVal) + 1) if 0 <= i < len(self.labels)]
        room = max(1, int(size // max(per_label, 1)))
        step = max(1, math.ceil(len(indexes) / room))
        return [(float(step), [float(i) for i in indexes[::step]])]

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        return [self._text(round(value)) for value in values]


# -- charts ---------------------------------------------------------------------------------------


def _float(value: Any) -> float:
    """A plotted value: None (no figure for the period) becomes NaN, which lines skip."""
    return math.nan if value is None else float(value)


def value_text(value: Any, kind: Kind, currency: str = "", locale: QLocale | None = None) -> str:
    """A figure as the cards and labels show it: the grid's formatting, money with its currency."""
    if value is None:
        return "—"
    text = display_text(value, kind, locale or QLocale())
    return f"{text} {currency}" if kind is Kind.MONEY and currency else text


class Style(enum.Enum):
    BARS = "bars"  # stacked with the other bar series of the chart (one bar series: plain bars)
    LINE = "line"


@dataclass(frozen=True)
class Series:
    """One plotted series: exact values (Decimal, int, None) per period, how they read and are drawn."""

    name: str
    values: tuple[Any, ...]
    kind: Kind
    style: Style = Style.LINE
    #: Plotted against the right axis (e.g. orders beside revenue).
    right: bool = False
    #: Index into the theme's series colours, so the legend and the chart agree.
    colour: int = 0


class _Chart(pg.PlotWidget):  # type: ignore[misc]
    """A themed plot: card background, quiet axes and grid, no zoom or pan, antialiased."""

    def __init__(self, axes: dict[str, pg.AxisItem], parent: QWidget | None = None) -> None:
        super().__init__(parent, background=None, axisItems=axes)
        self.plot = self.getPlotItem()
        self.plot.hideButtons()
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.vb.setMouseEnabled(x=False, y=False)
        self.setAntialiasing(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setMinimumSize(160, 120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.colours = chart_colours(self.palette())
        #: The axes whose ticks draw grid lines across the plot.
        self.grid_axes: tuple[str, ...] = ()

    def apply_theme(self) -> None:
        """Background, axes, tick labels and grid in the current palette's colours."""
        self.colours = colours = chart_colours(self.palette())
        self.setBackground(colours.background)
        for name in ("left", "bottom", "right"):
            axis = self.plot.getAxis(name)
            axis.setPen(pg.mkPen(colours.axis))
            axis.setTextPen(pg.mkPen(colours.text))
            axis.setTickPen(pg.mkPen(colours.axis))
            axis.setGrid(GRID_ALPHA if name in self.grid_axes else False)
        self.plot.getAxis("top").setPen(pg.mkPen(colours.background))

    def sizeHint(self) -> QSize:
        """About 16 lines of text high: room for the figures without a chart taller than a card
        row is wide (QGraphicsView's own hint is a fixed 640×480 whatever the font)."""
        line = self.fontMetrics().height()
        return QSize(line * 24, line * 16)

    @property
    def background_colour(self) -> QColor:
        return QColor(self.backgroundBrush().color())

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if is_theme_change(event) and hasattr(self, "plot"):
            self.redraw()

    def redraw(self) -> None:
        raise NotImplementedError


def _range(values: Sequence[float]) -> tuple[float, float]:
    """A value range that includes zero (bars and honest lines start there), with headroom."""
    finite = [v for v in values if not math.isnan(v)]
    low, high = min([0.0, *finite]), max([0.0, *finite])
    if high == low:
        high = low + 1.0
    span = high - low
    return (low - span * HEADROOM if low < 0 else low), high + span * HEADROOM


class TimeChart(_Chart):
    """Series over periods: bars (stacked when several), lines, a right axis when a series asks for
    one, and a crosshair whose label names the period under the mouse and every series' value there."""

    #: The period index under the mouse (-1: none).
    hovered = Signal(int)

    def __init__(self, parent: QWidget | None = None, *, currency: str = "") -> None:
        self.date_axis = DateAxis()
        self.left_axis = NumberAxis("left")
        self.right_axis = NumberAxis("right")
        super().__init__({"bottom": self.date_axis, "left": self.left_axis, "right": self.right_axis}, parent)
        self.currency = currency
        self.periods: list[dt.date] = []
        self.granularity = Granularity.DAY
        self.series: list[Series] = []
        self.hover_index: int | None = None
        self.grid_axes = ("left",)
        self.right_view = pg.ViewBox(enableMenu=False)
        self.right_view.setMouseEnabled(x=False, y=False)
        self.plot.scene().addItem(self.right_view)
        self.right_axis.linkToView(self.right_view)
        self.right_view.setXLink(self.plot.vb)
        self.plot.vb.sigResized.connect(self._sync_views)
        self.plot.hideAxis("right")
        self.crosshair = pg.InfiniteLine(angle=90, movable=False)
        self.crosshair.setZValue(50)
        self.tip = pg.TextItem(anchor=(0, 0))
        self.tip.setZValue(100)
        self.redraw()

    # -- data ------------------------------------------------------------------------------------

    def set_series(
        self, periods: Sequence[dt.date], series: Sequence[Series], granularity: Granularity
    ) -> None:
        self.periods, self.series, self.granularity = list(periods), list(series), granularity
        self.date_axis.set_periods(self.periods, granularity)
        self.left_axis.integer = all(s.kind is Kind.INTEGER for s in series if not s.right)
        self.right_axis.integer = all(s.kind is Kind.INTEGER for s in series if s.right)
        percent = [s for s in series if not s.right and s.kind is Kind.PERCENT]
        self.left_axis.suffix = (
            "%" if percent and len(percent) == len([s for s in series if not s.right]) else ""
        )
        self.redraw()

    def text_at(self, index: int) -> str:
        """What the hover label says at period `index`: the period, then each series' value."""
        if not 0 <= index < len(self.periods):
            return ""
        locale = QLocale()
        lines = [period_title(self.periods[index], self.granularity, locale)]
        for series in self.series:
            value = series.values[index] if index < len(series.values) else None
            lines.append(f"{series.name}: {value_text(value, series.kind, self.currency, locale)}")
        return "\n".join(lines)

    # -- drawing ---------------------------------------------------------------------------------

    def redraw(self) -> None:
        self.apply_theme()
        colours = self.colours
        self.plot.clear()
        self.right_view.clear()
        count = len(self.periods)
        xs = np.arange(count, dtype=float)
        left: list[float] = []
        right: list[float] = []
        stacked = [s for s in self.series if s.style is Style.BARS]
        positive, negative = np.zeros(count), np.zeros(count)
        for series in stacked:
            values = np.array(
                [_float(v) for v in series.values[:count]] + [math.nan] * (count - len(series.values))
            )
            values = np.nan_to_num(values)
            base = np.where(values >= 0, positive, negative)
            brush = pg.mkBrush(colours.series_colour(series.colour))
            bars = pg.BarGraphItem(
                x=xs, y0=base, height=values, width=BAR_WIDTH, brush=brush, pen=pg.mkPen(None)
            )
            (self.right_view.addItem if series.right else self.plot.addItem)(bars)
            positive = positive + np.clip(values, 0, None)
            negative = negative + np.clip(values, None, 0)
            (right if series.right else left).extend([*positive.tolist(), *negative.tolist()])
        for series in self.series:
            if series.style is not Style.LINE:
                continue
            values = np.array(
                [_float(v) for v in series.values[:count]] + [math.nan] * (count - len(series.values))
            )
            if not count or np.isnan(values).all():
                continue  # no figure in any period (no paid orders, say): nothing to draw
            colour = colours.series_colour(series.colour)
            line = pg.PlotDataItem(
                xs,
                values,
                pen=pg.mkPen(colour, width=2),
                symbol="o" if count <= DOTS_UP_TO else None,
                symbolSize=6,
                symbolBrush=pg.mkBrush(colour),
                symbolPen=pg.mkPen(colours.background, width=1),
                antialias=True,
                connect="finite",
            )
            (self.right_view.addItem if series.right else self.plot.addItem)(line)
            (right if series.right else left).extend(values.tolist())
        if any(s.right for s in self.series):
            self.plot.showAxis("right")
            self.right_view.setYRange(*_range(right), padding=0)
        else:
            self.plot.hideAxis("right")
        self.plot.vb.setYRange(*_range(left), padding=0)
        self.plot.vb.setXRange(-0.6, max(count, 1) - 0.4, padding=0)
        self.crosshair.setPen(pg.mkPen(colours.crosshair, width=1, style=Qt.PenStyle.DashLine))
        self.tip.fill = pg.mkBrush(colours.tip_base)
        self.tip.border = pg.mkPen(blend(colours.tip_base, colours.tip_text, 0.3))
        self.plot.addItem(self.crosshair, ignoreBounds=True)
        self.plot.addItem(self.tip, ignoreBounds=True)
        self._sync_views()
        self.hover(self.hover_index if self.hover_index is not None and self.hover_index < count else None)

    def _sync_views(self) -> None:
        self.right_view.setGeometry(self.plot.vb.sceneBoundingRect())
        self.right_view.linkedViewChanged(self.plot.vb, self.right_view.XAxis)

    # -- hovering --------------------------------------------------------------------------------

    def hover(self, index: int | None) -> None:
        """Put the crosshair and its label on period `index` (None: hide them)."""
        previous, self.hover_index = self.hover_index, index
        if index is None or not 0 <= index < len(self.periods):
            self.hover_index = None
            self.crosshair.hide()
            self.tip.hide()
        else:
            self.crosshair.setPos(index)
            self.crosshair.show()
            self._place_tip(index)
        if self.hover_index != previous:
            self.hovered.emit(-1 if self.hover_index is None else self.hover_index)

    def _place_tip(self, index: int) -> None:
        colours = self.colours
        lines = self.text_at(index).split("\n")
        rows = [f"<b>{_html(lines[0])}</b>"]
        for series, line in zip(self.series, lines[1:], strict=False):
            swatch = colours.series_colour(series.colour).name()
            rows.append(f"<span style='color:{swatch}'>■</span> {_html(line)}")
        self.tip.setHtml(f"<div style='color:{colours.tip_text.name()}'>{'<br>'.join(rows)}</div>")
        (_x0, x1), (_y0, y1) = self.plot.vb.viewRange()
        right_half = index > (x1 - 0.5) / 2
        self.tip.setAnchor((1, 0) if right_half else (0, 0))
        self.tip.setPos(index - 0.45 if right_half else index + 0.45, y1)
        self.tip.show()

    def _mouse_moved(self, pos: QPointF) -> None:
        view = self.plot.vb
        if not self.periods or not view.sceneBoundingRect().contains(pos):
            self.hover(None)
            return
        x = view.mapSceneToView(pos).x()
        self.hover(min(max(round(x), 0), len(self.periods) - 1))

    def scene_point(self, index: int) -> QPointF:
        """The scene position over the middle of period `index`, half way up (for tests and tools)."""
        view = self.plot.vb
        (_x0, _x1), (y0, y1) = view.viewRange()
        return QPointF(view.mapViewToScene(QPointF(index, (y0 + y1) / 2)))

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        # Every move, not pyqtgraph's rate-limited `sigMouseMoved`: that drops a move that follows
        # another within 10 ms, and the label would stay on a period the mouse already left.
        super().mouseMoveEvent(event)
        self._mouse_moved(self.mapToScene(event.position().toPoint()))

    def leaveEvent(self, event: QEvent) -> None:
        self.hover(None)
        super().leaveEvent(event)


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class BarChart(_Chart):
    """One value per named category as bars, each labelled with its figure: horizontal (names down
    the left, largest on top) or vertical (names along the bottom)."""

    def __init__(self, parent: QWidget | None = None, *, horizontal: bool = True, currency: str = "") -> None:
        self.horizontal = horizontal
        self.category_axis = CategoryAxis("left" if horizontal else "bottom")
        self.value_axis = NumberAxis("bottom" if horizontal else "left")
        axes = (
            {"left": self.category_axis, "bottom": self.value_axis}
            if horizontal
            else {"bottom": self.category_axis, "left": self.value_axis}
        )
        super().__init__(axes, parent)
        self.currency = currency
        self.labels: list[str] = []
        self.values: list[Any] = []
        self.kind = Kind.INTEGER
        self.notes: list[str] = []
        self.colour = 0
        self.texts: list[pg.TextItem] = []
        self.grid_axes = ("bottom",) if horizontal else ("left",)
        self.redraw()

    def set_bars(
        self,
        labels: Sequence[str],
        values: Sequence[Any],
        kind: Kind,
        *,
        notes: Sequence[str] = (),
        colour: int = 0,
    ) -> None:
        """`notes`: a second line per bar (e.g. "312 customers") after its value."""
        self.labels, self.values, self.kind = list(labels), list(values), kind
        self.notes, self.colour = list(notes), colour
        self.value_axis.integer = kind is Kind.INTEGER
        self.redraw()

    def bar_text(self, index: int) -> str:
        """A bar's label: its value, and its note on a line of its own when the bars are tall
        enough for two lines (beside the value otherwise)."""
        text = value_text(self.values[index], self.kind, self.currency)
        note = self.notes[index] if index < len(self.notes) else ""
        if not note:
            return text
        return f"{text}\n{note}" if self._two_lines() else f"{text} · {note}"

    def _two_lines(self) -> bool:
        if not self.horizontal:
            return True
        per_bar = (self.plot.vb.height() or self.height() * 0.8) / max(len(self.values), 1)
        return bool(per_bar * BAR_WIDTH >= self.fontMetrics().height() * 2.2)

    def redraw(self) -> None:
        self.apply_theme()
        colours = self.colours
        self.plot.clear()
        self.texts = []
        count = len(self.values)
        metrics = QFontMetrics(self.font())
        if self.horizontal:
            positions = np.arange(count, dtype=float)[::-1]  # the first (largest) on top
            ordered = list(reversed(self.labels))
            self.category_axis.set_labels(ordered, metrics.horizontalAdvance("M") * 12)
            widest = max((metrics.horizontalAdvance(t) for t in ordered), default=0)
            self.category_axis.setWidth(min(widest, metrics.horizontalAdvance("M") * 12) + 14)
        else:
            positions = np.arange(count, dtype=float)
            self.category_axis.set_labels(self.labels, metrics.horizontalAdvance("M") * 9)
        values = np.array([_float(v) for v in self.values]) if count else np.zeros(0)
        values = np.nan_to_num(values)
        brush = pg.mkBrush(colours.series_colour(self.colour))
        if count:
            if self.horizontal:
                bars = pg.BarGraphItem(
                    x0=0, y=positions, width=values, height=BAR_WIDTH, brush=brush, pen=pg.mkPen(None)
                )
            else:
                bars = pg.BarGraphItem(
                    x=positions, y0=0, height=values, width=BAR_WIDTH, brush=brush, pen=pg.mkPen(None)
                )
            self.plot.addItem(bars)
        for index in range(count):
            text = pg.TextItem(
                self.bar_text(index),
                color=colours.text,
                anchor=(0, 0.5) if self.horizontal else (0.5, 1),
            )
            if self.horizontal:
                text.setPos(max(values[index], 0), positions[index])
            else:
                text.setPos(positions[index], max(values[index], 0))
            self.plot.addItem(text, ignoreBounds=True)
            self.texts.append(text)
        low, high = _range(values.tolist())
        # The labels at the bars' ends need room beyond the longest bar (they keep their pixel size).
        if self.horizontal:
            widest = max(
                (
                    max(metrics.horizontalAdvance(t) for t in self.bar_text(i).split("\n"))
                    for i in range(count)
                ),
                default=0,
            )
            share = min(0.6, (widest + 12) / max(self.plot.vb.width() or self.width() * 0.7, 1))
            high = high + (high - low) * share / max(1 - share, 0.1)
            self.plot.vb.setXRange(low, high, padding=0)
            # At least `MIN_BAR_SLOTS` bars' room, from the top: one category is a bar, not a wall.
            self.plot.vb.setYRange(count - max(count, MIN_BAR_SLOTS) - 0.4, count - 0.4, padding=0)
        else:
            lines = 2 if any(self.notes) else 1
            share = min(
                0.5, (metrics.height() * lines + 6) / max(self.plot.vb.height() or self.height() * 0.7, 1)
            )
            high = high + (high - low) * share / max(1 - share, 0.1)
            self.plot.vb.setYRange(low, high, padding=0)
            self.plot.vb.setXRange(-0.6, max(count, 1) - 0.4, padding=0)

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        if hasattr(self, "texts"):
            self.redraw()  # the labels' room depends on the plot's size in pixels


# -- tables ---------------------------------------------------------------------------------------


class DatasetModel(QAbstractTableModel):
    """A dataset's rows as a read-only table: the grid's formatting and alignment per column kind,
    the raw value under `SortRole`. Everything is in memory: `data()` never reads the database."""

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        columns: Sequence[str] | None = None,
        formats: Mapping[str, Callable[[Any], str]] | None = None,
        tooltips: Mapping[str, str] | None = None,
    ) -> None:
        """`columns`: the keys shown, in order (None: all); `formats`: display text by key instead
        of the kind's; `tooltips`: a shown column's key → the key of the column that explains it."""
        super().__init__(parent)
        self.dataset: Dataset | None = None
        self._wanted = list(columns) if columns is not None else None
        self._formats = dict(formats or {})
        self._tooltips = dict(tooltips or {})
        self._indexes: list[int] = []
        self.locale = QLocale()

    def set_dataset(self, dataset: Dataset | None) -> None:
        self.beginResetModel()
        self.dataset = dataset
        keys = [c.key for c in dataset.columns] if dataset is not None else []
        wanted = self._wanted if self._wanted is not None else keys
        self._indexes = [keys.index(key) for key in wanted if key in keys]
        self.endResetModel()

    def column_key(self, section: int) -> str:
        assert self.dataset is not None
        return self.dataset.columns[self._indexes[section]].key

    def value(self, row: int, section: int) -> Any:
        assert self.dataset is not None
        return self.dataset.rows[row][self._indexes[section]]

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() or self.dataset is None else len(self.dataset.rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._indexes)

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if not index.isValid() or self.dataset is None:
            return None
        column = self.dataset.columns[self._indexes[index.column()]]
        value = self.value(index.row(), index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            format_ = self._formats.get(column.key)
            return (
                format_(value)
                if format_ is not None and value is not None
                else display_text(value, column.kind, self.locale)
            )
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(alignment(column.kind).value)
        if role == SortRole:
            return value
        if role == KindRole:
            return column.kind
        if role == Qt.ItemDataRole.ToolTipRole and column.key in self._tooltips:
            keys = [c.key for c in self.dataset.columns]
            explained = self._tooltips[column.key]
            return self.dataset.rows[index.row()][keys.index(explained)] if explained in keys else None
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if (
            self.dataset is None
            or orientation != Qt.Orientation.Horizontal
            or not 0 <= section < len(self._indexes)
        ):
            return None
        column = self.dataset.columns[self._indexes[section]]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.title
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(alignment(column.kind).value)
        return None


class CohortModel(DatasetModel):
    """The cohort grid: a row per first-order month, and in m1 … m11 the share of that month's new
    customers who ordered again that many months later, each cell tinted by its share (the largest
    share in the grid gets the strongest tint, so a shop with low retention still sees its pattern)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, formats={"cohort": lambda day: period_label(day, Granularity.MONTH)})
        self.base = QColor("#ffffff")
        self.accent = QColor("#2f6fde")
        self.text = QColor("#000000")
        self.text_on_accent = QColor("#ffffff")
        self._top = 0.0

    def set_colours(self, base: QColor, accent: QColor, text: QColor, text_on_accent: QColor) -> None:
        self.base, self.accent, self.text, self.text_on_accent = base, accent, text, text_on_accent
        if self.rowCount() and self.columnCount():
            self.dataChanged.emit(
                self.index(0, 0),
                self.index(self.rowCount() - 1, self.columnCount() - 1),
                [Qt.ItemDataRole.BackgroundRole, Qt.ItemDataRole.ForegroundRole],
            )

    def set_dataset(self, dataset: Dataset | None) -> None:
        shares = []
        if dataset is not None:
            percent = [i for i, c in enumerate(dataset.columns) if c.kind is Kind.PERCENT]
            shares = [float(row[i]) for row in dataset.rows for i in percent if row[i] is not None]
        self._top = max(shares, default=0.0)
        super().set_dataset(dataset)

    def shade(self, share: Any) -> QColor | None:
        """The cell's tint for `share` (percent points); None where there is no share."""
        if share is None:
            return None
        strength = 0.0 if self._top <= 0 else float(share) / self._top
        return blend(self.base, self.accent, 0.06 + 0.8 * strength if share > 0 else 0.0)

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if not index.isValid() or self.dataset is None:
            return None
        column = self.dataset.columns[self._indexes[index.column()]]
        if column.kind is Kind.PERCENT and role in (
            Qt.ItemDataRole.BackgroundRole,
            Qt.ItemDataRole.ForegroundRole,
        ):
            shade = self.shade(self.value(index.row(), index.column()))
            if shade is None:
                return None
            if role == Qt.ItemDataRole.BackgroundRole:
                return shade
            return self.text_on_accent if _luminance(shade) < 0.45 else self.text
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(index.row(), column.key, column.kind)
        return super().data(index, role)

    def _tooltip(self, row: int, key: str, kind: Kind) -> str | None:
        assert self.dataset is not None
        keys = [c.key for c in self.dataset.columns]
        cohort = self.dataset.rows[row][keys.index("cohort")] if "cohort" in keys else None
        customers = self.dataset.rows[row][keys.index("customers")] if "customers" in keys else None
        if cohort is None or kind is not Kind.PERCENT:
            return None
        share = self.dataset.rows[row][keys.index(key)]
        month = period_label(cohort, Granularity.MONTH)
        number = int(key[1:])
        total = cohort.month - 1 + number
        later = period_label(dt.date(cohort.year + total // 12, total % 12 + 1, 1), Granularity.MONTH)
        if share is None:
            return f"{later}, month {number} after {month}, lies after the end of the range."
        return (
            f"{display_text(share, Kind.PERCENT, self.locale)} of the {customers:,} customers whose "
            f"first order was in {month} ordered again in month {number} after it ({later})."
        )


def _luminance(colour: QColor) -> float:
    return 0.2126 * colour.redF() + 0.7152 * colour.greenF() + 0.0722 * colour.blueF()


class DatasetTable(QTableView):
    """A compact read-only table of a `DatasetModel`: no grid lines, columns sized to the
    (few) rows, one column (`stretch`, a key; else the last) taking the room left, and as tall
    as its rows (up to `MAX_TABLE_ROWS`)."""

    def __init__(self, model: DatasetModel, parent: QWidget | None = None, *, stretch: str = "") -> None:
        super().__init__(parent)
        self.stretch = stretch
        self.setModel(model)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setShowGrid(False)
        self.setWordWrap(False)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setAlternatingRowColors(not isinstance(model, CohortModel))
        self.verticalHeader().hide()
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        header = self.horizontalHeader()
        header.setHighlightSections(False)
        header.setStretchLastSection(True)
        header.setMinimumSectionSize(self.fontMetrics().horizontalAdvance("M") * 3)
        model.modelReset.connect(self._fit)

    def _fit(self) -> None:
        # A handful of rows: measuring them all is cheap here (never on the app's big grids).
        model = self.model()
        header = self.horizontalHeader()
        for section in range(model.columnCount()):
            width = max(self.sizeHintForColumn(section), header.sectionSizeHint(section))
            header.resizeSection(section, width)
        keys = (
            [model.column_key(i) for i in range(model.columnCount())]
            if isinstance(model, DatasetModel)
            else []
        )
        if self.stretch in keys:
            header.setStretchLastSection(False)
            header.setSectionResizeMode(keys.index(self.stretch), QHeaderView.ResizeMode.Stretch)
        self.updateGeometry()

    def sizeHint(self) -> QSize:
        hint_ = super().sizeHint()
        rows = max(min(self.model().rowCount(), MAX_TABLE_ROWS), 1)
        hint_.setHeight(
            self.horizontalHeader().sizeHint().height()
            + rows * self.verticalHeader().defaultSectionSize()
            + 2 * self.frameWidth()
            + 2
        )
        return hint_

    def minimumSizeHint(self) -> QSize:
        hint_ = super().minimumSizeHint()
        hint_.setHeight(
            self.horizontalHeader().sizeHint().height() + 3 * self.verticalHeader().defaultSectionSize()
        )
        return hint_


class HeatmapTable(DatasetTable):
    """The cohort grid's view: cells tinted by the model from the current theme's colours."""

    def __init__(self, model: CohortModel, parent: QWidget | None = None) -> None:
        super().__init__(model, parent)
        self.cohorts = model
        self.horizontalHeader().setStretchLastSection(False)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self._paint_colours()

    def _fit(self) -> None:
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        for section in range(min(self.model().columnCount(), 2)):  # the cohort and its size
            header.setSectionResizeMode(section, QHeaderView.ResizeMode.ResizeToContents)
        self.updateGeometry()

    def _paint_colours(self) -> None:
        colours = chart_colours(self.palette())
        palette = self.palette()
        self.cohorts.set_colours(
            palette.color(QPalette.ColorRole.Base),
            colours.series_colour(0),
            palette.color(QPalette.ColorRole.Text),
            QColor("#ffffff"),
        )

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if is_theme_change(event) and hasattr(self, "cohorts"):
            self._paint_colours()


# -- the panel around a chart ---------------------------------------------------------------------

#: Asks where to save: (parent, dialog title, suggested file, name filter) → the chosen file or None.
AskPath = Callable[[QWidget, str, Path, str], Path | None]


def ask_save_path(parent: QWidget, title: str, suggested: Path, name_filter: str) -> Path | None:
    """The platform's save dialog, starting in the folder the last export went to (the grids' too)."""
    settings = QSettings()
    folder = str(settings.value(DIRECTORY_KEY, "") or "") or QStandardPaths.writableLocation(
        QStandardPaths.StandardLocation.DocumentsLocation
    )
    name, _ = QFileDialog.getSaveFileName(parent, title, str(Path(folder) / suggested.name), name_filter)
    if not name:
        return None
    path = Path(name)
    settings.setValue(DIRECTORY_KEY, str(path.parent))
    return path


class Legend(QWidget):
    """Coloured squares and names in a row, above the chart (inside a plot they would hide bars)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.entries: list[tuple[str, int]] = []
        self.swatches: list[QLabel] = []
        self.row = QHBoxLayout(self)
        self.row.setContentsMargins(0, 0, 0, 0)
        self.row.setSpacing(self.fontMetrics().horizontalAdvance("M"))
        self.setVisible(False)

    def set_entries(self, entries: Sequence[tuple[str, int]]) -> None:
        """(name, series colour index) per entry."""
        if list(entries) == self.entries:
            return
        self.entries = list(entries)
        while self.row.count():
            item = self.row.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        self.swatches = []
        for name, _colour in self.entries:
            holder = QWidget(self)
            pair = QHBoxLayout(holder)
            pair.setContentsMargins(0, 0, 0, 0)
            pair.setSpacing(4)
            square = QLabel(holder)
            pair.addWidget(square)
            pair.addWidget(QLabel(name, holder))
            self.swatches.append(square)
            self.row.addWidget(holder)
        self.row.addStretch(1)
        self._paint()
        self.setVisible(bool(self.entries))

    def names(self) -> list[str]:
        return [name for name, _colour in self.entries]

    def _paint(self) -> None:
        colours = chart_colours(self.palette())
        size = self.fontMetrics().height() * 2 // 3
        for square, (_name, colour) in zip(self.swatches, self.entries, strict=True):
            swatch = QPixmap(size, size)
            swatch.fill(colours.series_colour(colour))
            square.setPixmap(swatch)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if is_theme_change(event) and hasattr(self, "swatches"):
            self._paint()


class ChartPanel(QFrame):
    """A card with a title, an optional legend, a chart (or a table), a calm sentence in its place
    when there is nothing to show, and a menu to save the picture or export the numbers."""

    #: A sentence for the page's status line (saved, exported, or why not), and its kind.
    status_message = Signal(str, str)

    def __init__(
        self,
        title: str,
        body: QWidget,
        parent: QWidget | None = None,
        *,
        ask_path: AskPath = ask_save_path,
        description: str = "",
    ) -> None:
        super().__init__(parent)
        self.setObjectName("card")
        self.body = body
        self.dataset: Dataset | None = None
        self.ask_path = ask_path
        self.title = QLabel(title, self)
        font = self.title.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.1)
        self.title.setFont(font)
        self.title.setToolTip(description)
        self.setAccessibleName(title)
        if description:
            self.setAccessibleDescription(description)

        self.save_png_action = QAction("Save as PNG…", self)
        self.save_png_action.setToolTip("Save this chart as a picture.")
        self.save_png_action.triggered.connect(self.ask_save_png)
        self.export_csv_action = QAction("Export CSV…", self)
        self.export_csv_action.setToolTip("Write this chart's numbers to a CSV file.")
        self.export_csv_action.triggered.connect(self.ask_export_csv)
        self.menu = QMenu(self)
        self.menu.addAction(self.save_png_action)
        self.menu.addAction(self.export_csv_action)
        self.tools = QToolButton(self)
        self.tools.setText("⋯")
        self.tools.setAutoRaise(True)
        self.tools.setStyleSheet("QToolButton::menu-indicator { image: none; width: 0; }")
        self.tools.setMenu(self.menu)
        self.tools.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.tools.setAccessibleName(f"{title}: save or export")
        self.tools.setToolTip("Save as PNG or export the numbers as CSV")
        policy = self.tools.sizePolicy()
        policy.setRetainSizeWhenHidden(True)  # hidden while the picture is taken, without a relayout
        self.tools.setSizePolicy(policy)

        self.legend = Legend(self)
        self.empty = hint("", self)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.stack = QStackedWidget(self)
        self.stack.addWidget(body)
        self.stack.addWidget(self.empty)
        self.stack.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

        header = QHBoxLayout()
        header.setContentsMargins(0, 0, 0, 0)
        header.addWidget(self.title, 1)
        header.addWidget(self.tools)
        layout = QVBoxLayout(self)
        em = self.fontMetrics().horizontalAdvance("M")
        layout.setContentsMargins(em, em * 2 // 3, em, em * 2 // 3)
        layout.setSpacing(em // 2)
        layout.addLayout(header)
        layout.addWidget(self.legend)
        layout.addWidget(self.stack, 1)
        self._enable_actions()

    def set_dataset(
        self, dataset: Dataset | None, *, empty_text: str = "", nothing: bool | None = None
    ) -> None:
        """The numbers behind the chart (what "Export CSV…" writes); `empty_text` replaces the
        chart when there is `nothing` to show (by default: when the dataset has no rows)."""
        self.dataset = dataset
        if nothing is None:
            nothing = dataset is None or not dataset.rows
        self.empty.setText(empty_text)
        self.stack.setCurrentWidget(self.empty if nothing and empty_text else self.body)
        self._enable_actions()

    @property
    def showing_empty(self) -> bool:
        return self.stack.currentWidget() is self.empty

    def _enable_actions(self) -> None:
        has_data = self.dataset is not None
        self.export_csv_action.setEnabled(has_data)
        self.save_png_action.setEnabled(has_data)

    def picture(self) -> QPixmap:
        """The panel as it shows (title, legend, chart), without its menu button."""
        self.tools.hide()
        try:
            return self.grab()
        finally:
            self.tools.show()

    def save_png(self, path: Path) -> None:
        if not self.picture().save(str(path), "PNG"):
            raise OSError(f"Could not write the picture to {path}.")

    def export_csv(self, path: Path) -> int:
        """Write the dataset as CSV (the dataset's own `write_csv`, the lists' CSV shape) into
        `<file>.part`, renamed when complete; returns the rows written."""
        if self.dataset is None:
            return 0
        partial = path.with_name(path.name + ".part")
        try:
            with partial.open("w", encoding="utf-8", newline="") as out:
                rows = self.dataset.write_csv(out)
            partial.replace(path)
        finally:
            partial.unlink(missing_ok=True)
        return rows

    def _suggested(self, suffix: str) -> Path:
        key = self.dataset.key if self.dataset is not None else "chart"
        return Path(f"{key}-{dt.date.today():%Y%m%d}{suffix}")

    def ask_save_png(self) -> Path | None:
        path = self.ask_path(self, "Save chart as PNG", self._suggested(".png"), "PNG pictures (*.png)")
        if path is None:
            return None
        if not path.suffix:
            path = path.with_suffix(".png")
        try:
            self.save_png(path)
        except OSError as exc:
            self.status_message.emit(f"Could not save {path}: {exc.strerror or exc}", "error")
            return None
        self.status_message.emit(f"Saved “{self.title.text()}” to {path}.", "success")
        return path

    def ask_export_csv(self) -> Path | None:
        path = self.ask_path(self, "Export chart data to CSV", self._suggested(".csv"), "CSV files (*.csv)")
        if path is None:
            return None
        if not path.suffix:
            path = path.with_suffix(".csv")
        try:
            rows = self.export_csv(path)
        except OSError as exc:
            self.status_message.emit(f"Could not write {path}: {exc.strerror or exc}", "error")
            return None
        self.status_message.emit(
            f"Exported {rows:,} {'row' if rows == 1 else 'rows'} of “{self.title.text()}” to {path}.",
            "success",
        )
        return path


__all__ = [
    "BarChart",
    "ChartColours",
    "ChartPanel",
    "CohortModel",
    "DatasetModel",
    "DatasetTable",
    "DateAxis",
    "HeatmapTable",
    "Legend",
    "NumberAxis",
    "Series",
    "Style",
    "TimeChart",
    "chart_colours",
    "compact_number",
    "period_label",
    "period_title",
    "tick_indices",
    "value_text",
]
