"""The dashboard: the shop's figures for a date range at a glance — KPI cards with the change against
the previous period, and the charts behind them.

The top bar chooses the range (a preset, or two days), the granularity and the channels; the choice
is remembered in QSettings. Every read is one `AnalyticsService.dashboard` call on the task runner
under one key, so only the latest choice counts and a slow answer for an old one is dropped. While it
runs the figures stay and a thin bar says something is happening; a failure keeps the last figures
and goes to the window's message bar (the runner's one error path). An auto-refresh that brings the
same figures repaints nothing.

Each card opens the rows its figure was computed from (`Kpi.trace`) in a grid (`pages.trace`).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Final

from PySide6.QtCore import QDate, QEvent, QLocale, QRect, QSettings, Qt, QTime, QTimer, Signal
from PySide6.QtGui import QAction, QColor, QKeyEvent, QMouseEvent, QPainter, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDateEdit,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ecomdesk.services.analytics import (
    Dashboard,
    DashboardQuery,
    Dataset,
    DateRange,
    Granularity,
    Kpi,
    Preset,
)
from ecomdesk.services.tables import Kind
from ecomdesk.ui.charts import (
    BarChart,
    ChartPanel,
    CohortModel,
    DatasetModel,
    DatasetTable,
    HeatmapTable,
    Series,
    Style,
    TimeChart,
    value_text,
)
from ecomdesk.ui.forms import StatusLine
from ecomdesk.ui.grid.format import number_text
from ecomdesk.ui.pages.trace import TraceDialog
from ecomdesk.ui.permissions import READ_ONLY, enable, why_not
from ecomdesk.ui.session import AppSession
from ecomdesk.ui.tasks import Task, TaskControl
from ecomdesk.ui.theme import is_theme_change, text_colour
from ecomdesk.ui.widgets import busy_bar, focus_within, heading, hint

#: The busy bar appears only for a read slower than this: a quick auto-refresh does not flicker.
BUSY_DELAY_MS: Final = 400
#: Custom days typed or picked settle this long before the figures are read again.
DATES_DELAY_MS: Final = 350
SETTINGS: Final = "dashboard"

#: The granularity buttons as one segmented control: the chosen one in the highlight colour.
#: (`palette()` colours follow the theme: a new application style sheet re-polishes every widget.)
SEGMENTS_STYLE: Final = """
QToolButton {
    border: 1px solid palette(mid); border-left: none; background: palette(button);
    padding: 0.2em 0.9em;
}
QToolButton[edge="first"] {
    border-left: 1px solid palette(mid);
    border-top-left-radius: 0.3em; border-bottom-left-radius: 0.3em;
}
QToolButton[edge="last"] { border-top-right-radius: 0.3em; border-bottom-right-radius: 0.3em; }
QToolButton:hover:!checked { background: palette(midlight); }
QToolButton:checked {
    background: palette(highlight); color: palette(highlighted-text); border-color: palette(highlight);
}
QToolButton:focus { border-color: palette(highlight); }
"""

KPI_KEYS: Final = ("revenue", "orders", "customers", "aov", "new_share", "inventory_value", "low_stock")
HEALTH_KEYS: Final = ("stock_value", "days_of_cover", "sell_through", "out_of_stock")
#: What each card counts (its tooltip); the card adds how to open the rows behind it.
KPI_HELP: Final = {
    "revenue": "Paid orders minus refunds, each on the shop day it happened, in the range and channels.",
    "orders": "Orders paid in the range; a later refund does not un-count one.",
    "customers": "Different customers with a paid order in the range.",
    "aov": "Average order value: the paid orders' amounts (before refunds) divided by their number.",
    "new_share": "The share of the range's customers whose first paid order ever falls in the range.",
    "inventory_value": "What the live items in stock are worth now, at cost.",
    "low_stock": "Live items at or below their low-stock threshold now; fewer is better.",
    "stock_value": "What the stock on hand is worth now, at cost.",
    "days_of_cover": "How long the stock on hand lasts at the rate of the range's last 30 days of sales.",
    "sell_through": "Units sold in the range against the units sold plus the units still in stock.",
    "out_of_stock": "Live items with nothing available now; fewer is better.",
}
_TITLES: Final = {
    "revenue": "Revenue",
    "orders": "Orders",
    "customers": "Customers",
    "aov": "Average order value",
    "new_share": "New customers",
    "inventory_value": "Inventory value",
    "low_stock": "Low stock",
    "stock_value": "Stock value",
    "days_of_cover": "Days of cover",
    "sell_through": "Sell-through",
    "out_of_stock": "Out of stock",
}
#: The series colours (indexes into the theme's) of the fixed series, so they keep their colour.
REVENUE, ORDERS, NEW, RETURNING, AOV, CONVERSION = 0, 1, 2, 0, 4, 5


def local_time_text(when: dt.datetime, locale: QLocale | None = None) -> str:
    """When figures were read, on this computer's clock: the time today, else day and time."""
    locale = locale or QLocale()
    local = when.astimezone() if when.tzinfo else when.replace(tzinfo=dt.UTC).astimezone()
    time = locale.toString(QTime(local.hour, local.minute, local.second), QLocale.FormatType.ShortFormat)
    if local.date() == dt.datetime.now().astimezone().date():
        return time
    day = locale.toString(QDate(local.year, local.month, local.day), QLocale.FormatType.ShortFormat)
    return f"{day} {time}"


def range_text(days: DateRange, locale: QLocale | None = None) -> str:
    """“3 Oct – 1 Nov 2026”: the days a range covers, the year said once when it is the same."""
    locale = locale or QLocale()
    start, end = days.start, days.end
    end_text = locale.toString(QDate(end.year, end.month, end.day), "d MMM yyyy")
    if start == end:
        return end_text
    start_format = "d MMM" if start.year == end.year else "d MMM yyyy"
    return f"{locale.toString(QDate(start.year, start.month, start.day), start_format)} – {end_text}"


def change_text(kpi: Kpi, days: int, locale: QLocale | None = None) -> tuple[str, str | None]:
    """The card's comparison line and whether the change is "good", "bad" or neutral (None).
    A figure without a previous one (stock now) has no line."""
    if kpi.previous is None:
        return "", None
    period = f"previous {days:,} {'day' if days == 1 else 'days'}"
    change = kpi.change
    if change is None:
        return f"Nothing in the {period}", None
    if change == 0:
        return f"No change vs {period}", None
    arrow = "▲" if change > 0 else "▼"
    percent = number_text(abs(change), 1, locale or QLocale())
    good = (change > 0) != kpi.lower_is_better
    return f"{arrow} {percent} % vs {period}", "good" if good else "bad"


class KpiCard(QFrame):
    """One figure on a card: its title, the big number, the change against the previous period and
    a note. Focusable and clickable (mouse, Enter, Space) when it has rows to show."""

    #: The card was clicked or activated from the keyboard: its `Kpi`.
    clicked = Signal(object)

    def __init__(self, key: str, parent: QWidget | None = None, *, compact: bool = False) -> None:
        super().__init__(parent)
        self.key = key
        self.kpi: Kpi | None = None
        self.setObjectName("card")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self._change_kind: str | None = None
        self.title = hint(_TITLES.get(key, key), self)
        self.title.setWordWrap(False)
        self.value = heading("—", self, 1.4 if compact else 1.6)
        self.value.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)
        self.change = QLabel(self)
        self.change.setWordWrap(True)
        self.note = hint("", self)
        layout = QVBoxLayout(self)
        em = self.fontMetrics().horizontalAdvance("M")
        layout.setContentsMargins(em, em * 2 // 3, em, em * 2 // 3)
        layout.setSpacing(2)
        layout.addWidget(self.title)
        layout.addWidget(self.value)
        layout.addWidget(self.change)
        layout.addWidget(self.note)
        layout.addStretch(1)
        self.change.hide()
        self.note.hide()
        self.setAccessibleName(self.title.text())

    def show_kpi(self, kpi: Kpi, *, currency: str, days: int) -> None:
        self.kpi = kpi
        locale = QLocale()
        self.title.setText(kpi.title)
        self.value.setText(value_text(kpi.value, kpi.kind, currency, locale))
        text, kind = change_text(kpi, days, locale)
        self.change.setText(text)
        self.change.setVisible(bool(text))
        self._change_kind = kind
        self._paint_change()
        self.note.setText(kpi.note)
        self.note.setVisible(bool(kpi.note))
        help_text = KPI_HELP.get(kpi.key, kpi.title)
        if kpi.trace is not None:
            help_text += f"\nClick, or press Enter, to see the rows behind it: {kpi.trace.title}."
        self.setToolTip(help_text)
        self.setAccessibleName(f"{kpi.title}: {self.value.text()}")
        self.setAccessibleDescription(" ".join(t for t in (text, kpi.note, help_text) if t))
        clickable = kpi.trace is not None
        self.setCursor(Qt.CursorShape.PointingHandCursor if clickable else Qt.CursorShape.ArrowCursor)

    def _paint_change(self) -> None:
        if self._change_kind is None:
            colour = self.palette().color(QPalette.ColorRole.PlaceholderText)
        else:
            colour = text_colour(self.palette(), "success" if self._change_kind == "good" else "error")
        self.change.setStyleSheet(f"color: {colour.name()};")

    @property
    def change_colour(self) -> QColor:
        return QColor(self.change.styleSheet().removeprefix("color: ").removesuffix(";"))

    def activate(self) -> None:
        if self.kpi is not None and self.kpi.trace is not None:
            self.clicked.emit(self.kpi)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.rect().contains(event.position().toPoint()):
            self.activate()
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space):
            self.activate()
            event.accept()
            return
        super().keyPressEvent(event)

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if self.hasFocus():  # the theme's card rule has no focus state: a ring in the highlight colour
            painter = QPainter(self)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            pen = QPen(self.palette().color(QPalette.ColorRole.Highlight), 2)
            painter.setPen(pen)
            radius = self.fontMetrics().horizontalAdvance("M") / 2
            painter.drawRoundedRect(QRect(self.rect()).adjusted(1, 1, -1, -1), radius, radius)
            painter.end()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if is_theme_change(event) and hasattr(self, "change") and event.type() != QEvent.Type.PaletteChange:
            self._paint_change()


class FlowGrid(QWidget):
    """Widgets in as many equal columns as fit (each at least `min_width` wide), rows balanced so a
    last row is never one lonely card; items marked `wide` take a whole row."""

    def __init__(self, min_width: int, max_columns: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.min_width = min_width
        self.max_columns = max_columns
        self.items: list[tuple[QWidget, bool]] = []
        self.columns = 0
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(0, 0, 0, 0)
        spacing = self.fontMetrics().horizontalAdvance("M")
        self.grid.setSpacing(spacing)

    def add(self, widget: QWidget, *, wide: bool = False) -> None:
        self.items.append((widget, wide))
        self.columns = 0
        self._arrange(self.width())

    def columns_for(self, width: int) -> int:
        spacing = self.grid.spacing()
        widest = max([self.min_width, *(w.minimumSizeHint().width() for w, wide in self.items if not wide)])
        fits = max(1, min(self.max_columns, (width + spacing) // (widest + spacing)))
        narrow = sum(1 for _w, wide in self.items if not wide)
        if narrow <= fits or narrow == 0:
            return max(1, min(fits, narrow or 1))
        rows = math.ceil(narrow / fits)
        return math.ceil(narrow / rows)

    def relayout(self) -> None:
        """Columns again, for items whose content (and so minimum width) changed."""
        self._arrange(self.width())

    def _arrange(self, width: int) -> None:
        columns = self.columns_for(width)
        if columns == self.columns:
            return
        self.columns = columns
        for widget, _wide in self.items:
            self.grid.removeWidget(widget)
        row = column = 0
        for widget, wide in self.items:
            if wide:
                if column:
                    row, column = row + 1, 0
                self.grid.addWidget(widget, row, 0, 1, columns)
                row += 1
                continue
            self.grid.addWidget(widget, row, column)
            column += 1
            if column == columns:
                row, column = row + 1, 0
        for index in range(max(columns, self.grid.columnCount())):
            self.grid.setColumnStretch(index, 1 if index < columns else 0)

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self._arrange(event.size().width())


class ChannelMenu(QMenu):
    """A menu of checkable channels that stays open while they are ticked."""

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        action = self.actionAt(event.position().toPoint())
        if action is not None and action.isCheckable() and action.isEnabled():
            action.trigger()
            return
        super().mouseReleaseEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        action = self.activeAction()
        if (
            event.key() in (Qt.Key.Key_Space, Qt.Key.Key_Return, Qt.Key.Key_Enter)
            and action is not None
            and action.isCheckable()
        ):
            action.trigger()
            return
        super().keyPressEvent(event)


def channels_text(channels: Sequence[str]) -> str:
    if not channels:
        return "All channels"
    if len(channels) <= 2:
        return ", ".join(channels)
    return f"{len(channels):,} channels"


class DashboardPage(QWidget):
    """The dashboard page (key `dashboard`, permission `analytics.read`)."""

    #: The main window refreshes the page when one of these tables changed (`ui.live`).
    watches = frozenset(
        {"order_events", "sales_metrics", "customer_metrics", "analytics_data", "inventory_items"}
    )

    #: New figures are shown (tests and screenshots wait for it).
    loaded = Signal()

    def __init__(self, session: AppSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.setObjectName("dashboardPage")
        self.dashboard: Dashboard | None = None
        #: Why the last read failed (None: it did not); the figures shown are older then.
        self.error: BaseException | None = None
        self._task: Task[Dashboard] | None = None
        self._task_choices: tuple[Any, ...] = ()
        self._shown_choices: tuple[Any, ...] = ()
        self.write_refusal = READ_ONLY if session.read_only else why_not(session.actor, "analytics.write")
        em = self.fontMetrics().horizontalAdvance("M")

        self._build_top_bar(em)
        self.busy = busy_bar(self)
        policy = self.busy.sizePolicy()
        policy.setRetainSizeWhenHidden(True)  # showing it does not move the page down
        self.busy.setSizePolicy(policy)
        self.status = StatusLine(self)
        self.status.setAccessibleName("Dashboard status")

        self.cards: dict[str, KpiCard] = {}
        self.card_grid = FlowGrid(em * 12, len(KPI_KEYS), self)
        for key in KPI_KEYS:
            card = KpiCard(key, self.card_grid)
            card.clicked.connect(self.open_trace)
            self.cards[key] = card
            self.card_grid.add(card)
        self._build_charts(em)

        content = QWidget(self)
        column = QVBoxLayout(content)
        column.setContentsMargins(0, 0, em // 2, 0)
        column.setSpacing(em)
        column.addWidget(self.card_grid)
        column.addWidget(self.chart_grid)
        column.addStretch(1)
        self.scroll_area = QScrollArea(self)
        self.scroll_area.setObjectName("dashboardScroll")
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.scroll_area.setWidget(content)
        self.content = content

        layout = QVBoxLayout(self)
        layout.addLayout(self.top_bar)
        layout.addLayout(self.choices_bar)
        layout.addWidget(self.busy)
        layout.addWidget(self.status)
        layout.addWidget(self.scroll_area, 1)

        self._busy_timer = QTimer(self)
        self._busy_timer.setSingleShot(True)
        self._busy_timer.setInterval(BUSY_DELAY_MS)
        self._busy_timer.timeout.connect(self.busy.show)
        self._dates_timer = QTimer(self)
        self._dates_timer.setSingleShot(True)
        self._dates_timer.setInterval(DATES_DELAY_MS)
        self._dates_timer.timeout.connect(self._choice_changed)

        self._restore_choices()
        self._connect_choices()

    # -- building --------------------------------------------------------------------------------

    def _build_top_bar(self, em: int) -> None:
        self.top_bar = QHBoxLayout()
        self.top_bar.setContentsMargins(0, 0, 0, 0)
        self.top_bar.addWidget(heading("Dashboard", self))
        self.top_bar.addStretch(1)
        self.read_label = hint("", self)
        self.read_label.setWordWrap(False)
        self.read_label.setAccessibleName("Figures read at")
        self.top_bar.addWidget(self.read_label)
        self.top_bar.addSpacing(em)
        self.import_button = QPushButton("Import orders…", self)
        self.import_button.setAutoDefault(False)
        self.import_button.clicked.connect(self.import_orders)
        enable(
            self.import_button,
            True,
            "Import order events from a CSV or JSON Lines file; the figures follow.",
            self.write_refusal,
        )
        self.top_bar.addWidget(self.import_button)

        self.choices_bar = QHBoxLayout()
        self.choices_bar.setContentsMargins(0, 0, 0, 0)
        self.preset = QComboBox(self)
        self.preset.setAccessibleName("Date range")
        self.preset.setToolTip("The shop days the figures cover (in the shop's time zone).")
        for preset in Preset:
            self.preset.addItem(preset.label, preset.value)
        self.start_edit = self._date_edit("From")
        self.end_edit = self._date_edit("To")
        self.dash = QLabel("–", self)
        self.range_label = hint("", self)
        self.range_label.setWordWrap(False)
        self.range_label.setAccessibleName("Days covered")

        self.granularity_group = QButtonGroup(self)
        self.granularity_group.setExclusive(True)
        self.granularity_buttons: dict[Granularity, QToolButton] = {}
        self.segments = QWidget(self)
        self.segments.setObjectName("granularity")
        self.segments.setStyleSheet(SEGMENTS_STYLE)
        segments = QHBoxLayout(self.segments)
        segments.setContentsMargins(0, 0, 0, 0)
        segments.setSpacing(0)
        for index, granularity in enumerate(Granularity):
            button = QToolButton(self.segments)
            button.setProperty(
                "edge", "first" if index == 0 else "last" if index == len(Granularity) - 1 else ""
            )
            button.setText(granularity.label)
            button.setCheckable(True)
            button.setAccessibleName(f"By {granularity.value}")
            button.setToolTip(f"One point per {granularity.value} in the charts.")
            self.granularity_group.addButton(button)
            self.granularity_buttons[granularity] = button
            segments.addWidget(button)

        self.channel_menu = ChannelMenu(self)
        self.all_channels_action = QAction("All channels", self)
        self.all_channels_action.setCheckable(True)
        self.all_channels_action.setChecked(True)
        self.all_channels_action.triggered.connect(self._all_channels_chosen)
        self.channel_actions: dict[str, QAction] = {}
        self.channel_button = QPushButton("All channels", self)
        self.channel_button.setAutoDefault(False)
        self.channel_button.setAccessibleName("Channels")
        self.channel_button.setToolTip("Only the figures of the ticked sales channels.")
        self.channel_button.setMenu(self.channel_menu)
        self._rebuild_channel_menu()

        self.choices_bar.addWidget(self.preset)
        self.choices_bar.addWidget(self.start_edit)
        self.choices_bar.addWidget(self.dash)
        self.choices_bar.addWidget(self.end_edit)
        self.choices_bar.addWidget(self.range_label)
        self.choices_bar.addSpacing(em)
        self.choices_bar.addWidget(self.segments)
        self.choices_bar.addSpacing(em)
        self.choices_bar.addWidget(self.channel_button)
        self.choices_bar.addStretch(1)

    def _date_edit(self, name: str) -> QDateEdit:
        edit = QDateEdit(self)
        edit.setCalendarPopup(True)
        edit.setAccessibleName(name)
        edit.setDisplayFormat(QLocale().dateFormat(QLocale.FormatType.ShortFormat))
        edit.setMinimumDate(QDate(2000, 1, 1))
        edit.setMaximumDate(QDate(2100, 12, 31))
        return edit

    def _panel(self, title: str, body: QWidget, description: str) -> ChartPanel:
        panel = ChartPanel(title, body, self, description=description)
        panel.status_message.connect(lambda text, kind: self.status.say(text, kind))
        self.panels[title] = panel
        return panel

    def _build_charts(self, em: int) -> None:
        self.panels: dict[str, ChartPanel] = {}
        self.sales_chart = TimeChart()
        self.channel_chart = TimeChart()
        self.customers_chart = TimeChart()
        self.aov_chart = TimeChart()
        self.conversion_chart = TimeChart()
        self.events_chart = TimeChart()
        self.category_chart = BarChart(horizontal=True)
        self.segments_chart = BarChart(horizontal=True)
        self.segments_model = DatasetModel(
            self, columns=("segment", "customers", "revenue", "revenue_share"), tooltips={"segment": "rule"}
        )
        self.segments_table = DatasetTable(self.segments_model, stretch="segment")
        self.cohort_model = CohortModel(self)
        self.cohort_table = HeatmapTable(self.cohort_model)
        self.top_model = DatasetModel(self)
        self.top_table = DatasetTable(self.top_model, stretch="name")

        segments = QWidget(self)
        segments_layout = QVBoxLayout(segments)
        segments_layout.setContentsMargins(0, 0, 0, 0)
        segments_layout.addWidget(self.segments_chart, 1)
        segments_layout.addWidget(self.segments_table)

        health = QWidget(self)
        self.health_cards: dict[str, KpiCard] = {}
        minis = QHBoxLayout()
        minis.setContentsMargins(0, 0, 0, 0)
        for key in HEALTH_KEYS:
            card = KpiCard(key, health, compact=True)
            card.clicked.connect(self.open_trace)
            self.health_cards[key] = card
            minis.addWidget(card)
        self.top_title = hint("Top sellers in the range", health)
        health_layout = QVBoxLayout(health)
        health_layout.setContentsMargins(0, 0, 0, 0)
        health_layout.addLayout(minis)
        health_layout.addWidget(self.top_title)
        health_layout.addWidget(self.top_table, 1)

        self.sales_panel = self._panel(
            "Revenue and orders",
            self.sales_chart,
            "Revenue (bars, left axis) and paid orders (line, right axis).",
        )
        self.channel_panel = self._panel(
            "Revenue by channel", self.channel_chart, "Each channel's revenue, stacked."
        )
        self.customers_panel = self._panel(
            "New and returning customers",
            self.customers_chart,
            "Customers ordering in each period: first-time buyers and those who bought before.",
        )
        self.aov_panel = self._panel(
            "Average order value", self.aov_chart, "Paid revenue ÷ paid orders per period."
        )
        self.conversion_panel = self._panel(
            "Conversion rate", self.conversion_chart, "Paid orders ÷ storefront sessions per period."
        )
        self.events_panel = self._panel(
            "Events", self.events_chart, "Recorded analytics events per period, by type."
        )
        self.category_panel = self._panel(
            "Inventory value by category", self.category_chart, "What each category's stock is worth now."
        )
        self.segments_panel = self._panel(
            "Customer segments",
            segments,
            "Customers grouped by recency, frequency and spend: each segment's revenue and size.",
        )
        self.cohort_panel = self._panel(
            "Cohort retention",
            self.cohort_table,
            "Of the customers whose first order fell in a month, the share who ordered again "
            "1 to 11 months later.",
        )
        self.health_panel = self._panel(
            "Inventory health",
            health,
            "Stock value, days of cover, sell-through, items out of stock; top sellers.",
        )
        for panel in self.panels.values():
            if panel not in (self.cohort_panel, self.health_panel):  # (tables: as tall as their rows)
                panel.setMinimumHeight(self.fontMetrics().height() * 18)

        self.chart_grid = FlowGrid(em * 36, 2, self)
        for panel in (
            self.sales_panel,
            self.channel_panel,
            self.customers_panel,
            self.aov_panel,
            self.category_panel,
            self.segments_panel,
            self.conversion_panel,
            self.events_panel,
        ):
            self.chart_grid.add(panel)
        self.chart_grid.add(self.cohort_panel, wide=True)
        self.chart_grid.add(self.health_panel, wide=True)

    # -- the choices -----------------------------------------------------------------------------

    @property
    def chosen_preset(self) -> Preset:
        return Preset(self.preset.currentData())

    @property
    def granularity(self) -> Granularity:
        for granularity, button in self.granularity_buttons.items():
            if button.isChecked():
                return granularity
        return Granularity.DAY

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(key for key, action in self.channel_actions.items() if action.isChecked())

    def custom_range(self) -> DateRange:
        start, end = self.start_edit.date().toPython(), self.end_edit.date().toPython()
        assert isinstance(start, dt.date) and isinstance(end, dt.date)
        return DateRange(min(start, end), max(start, end))

    def set_preset(self, preset: Preset) -> None:
        self.preset.setCurrentIndex(self.preset.findData(preset.value))

    def set_granularity(self, granularity: Granularity) -> None:
        self.granularity_buttons[granularity].click()

    def set_channels(self, channels: Sequence[str]) -> None:
        """Tick exactly `channels` (none: all channels) and read the figures for them."""
        for channel in channels:
            self._ensure_channel(channel)
        for key, action in self.channel_actions.items():
            action.setChecked(key in channels)
        self._channels_changed()

    def set_custom_range(self, days: DateRange) -> None:
        """Choose Custom with these days (both included)."""
        self.preset.blockSignals(True)
        self.set_preset(Preset.CUSTOM)
        self.preset.blockSignals(False)
        self._set_dates(days)
        self._choice_changed()

    def _set_dates(self, days: DateRange) -> None:
        for edit, day in ((self.start_edit, days.start), (self.end_edit, days.end)):
            edit.blockSignals(True)
            edit.setDate(QDate(day.year, day.month, day.day))
            edit.blockSignals(False)

    def _restore_choices(self) -> None:
        settings = QSettings()
        try:
            preset = Preset(str(settings.value(f"{SETTINGS}/preset", Preset.LAST_30_DAYS.value)))
        except ValueError:
            preset = Preset.LAST_30_DAYS
        try:
            granularity = Granularity(str(settings.value(f"{SETTINGS}/granularity", Granularity.DAY.value)))
        except ValueError:
            granularity = Granularity.DAY
        today = dt.date.today()
        start, end = today - dt.timedelta(days=29), today
        for key, default in (("start", start), ("end", end)):
            raw = settings.value(f"{SETTINGS}/{key}")
            try:
                value = dt.date.fromisoformat(str(raw)) if raw else default
            except ValueError:
                value = default
            if key == "start":
                start = value
            else:
                end = value
        self._set_dates(DateRange(min(start, end), max(start, end)))
        raw_channels = settings.value(f"{SETTINGS}/channels", "")
        chosen = [c for c in str(raw_channels or "").split("\n") if c]
        for channel in chosen:
            self._ensure_channel(channel)
            self.channel_actions[channel].setChecked(True)
        self.preset.setCurrentIndex(self.preset.findData(preset.value))
        self.granularity_buttons[granularity].setChecked(True)
        self._show_choices()

    def _save_choices(self) -> None:
        settings = QSettings()
        settings.setValue(f"{SETTINGS}/preset", self.chosen_preset.value)
        settings.setValue(f"{SETTINGS}/granularity", self.granularity.value)
        days = self.custom_range()
        settings.setValue(f"{SETTINGS}/start", days.start.isoformat())
        settings.setValue(f"{SETTINGS}/end", days.end.isoformat())
        settings.setValue(f"{SETTINGS}/channels", "\n".join(self.channels))

    def _connect_choices(self) -> None:
        self.preset.currentIndexChanged.connect(self._preset_changed)
        self.granularity_group.buttonClicked.connect(lambda _button: self._choice_changed())
        self.start_edit.dateChanged.connect(self._dates_changed)
        self.end_edit.dateChanged.connect(self._dates_changed)

    def _preset_changed(self) -> None:
        if self.chosen_preset is Preset.CUSTOM and self.dashboard is not None:
            self._set_dates(self.dashboard.query.range)  # start from the days on screen
        self._choice_changed()

    def _dates_changed(self) -> None:
        if self.chosen_preset is Preset.CUSTOM:
            self._dates_timer.start()

    def _show_choices(self) -> None:
        custom = self.chosen_preset is Preset.CUSTOM
        for widget in (self.start_edit, self.dash, self.end_edit):
            widget.setVisible(custom)
        self.range_label.setVisible(not custom)
        self.channel_button.setText(channels_text(self.channels))
        self.all_channels_action.setChecked(not self.channels)

    def _choice_changed(self) -> None:
        self._dates_timer.stop()
        self._show_choices()
        self._save_choices()
        self.refresh()

    def _ensure_channel(self, channel: str) -> None:
        if channel not in self.channel_actions:
            action = QAction(channel, self)
            action.setCheckable(True)
            action.triggered.connect(self._channels_changed)
            self.channel_actions[channel] = action
            self._rebuild_channel_menu()

    def _rebuild_channel_menu(self) -> None:
        self.channel_menu.clear()
        self.channel_menu.addAction(self.all_channels_action)
        self.channel_menu.addSeparator()
        for key in sorted(self.channel_actions):
            self.channel_menu.addAction(self.channel_actions[key])

    def _all_channels_chosen(self) -> None:
        for action in self.channel_actions.values():
            action.setChecked(False)
        self._channels_changed()

    def _channels_changed(self) -> None:
        self._choice_changed()

    # -- reading ---------------------------------------------------------------------------------

    def _choices(self) -> tuple[Any, ...]:
        custom = self.custom_range() if self.chosen_preset is Preset.CUSTOM else None
        return (self.chosen_preset, custom, self.granularity, self.channels)

    def refresh(self) -> None:
        """Read the figures for the current choices (F5, auto-refresh, every change of choice).

        A read of the same choices still under way is left to finish rather than started again:
        an auto-refresh every few seconds must not cancel, forever, a read that takes longer."""
        choices = self._choices()
        if self._task is not None and choices == self._task_choices:
            return
        self._task_choices = choices
        services, actor = self.session.services, self.session.actor
        preset, custom, granularity, channels = choices  # read here: widgets belong to this thread

        def read(control: TaskControl) -> Dashboard:
            days = custom if custom is not None else DateRange.preset(preset, services.analytics.today(actor))
            control.check()
            return services.analytics.dashboard(actor, DashboardQuery(days, granularity, channels))

        # The bar only while the figures on screen answer other choices: an auto-refresh of the
        # same ones stays quiet (the status bar's activity light shows it).
        if choices != self._shown_choices and not self.busy.isVisible() and not self._busy_timer.isActive():
            self._busy_timer.start()

        def done(dashboard: Dashboard) -> None:
            self._shown_choices = choices
            self.show_dashboard(dashboard)

        task = self.session.runner.submit(
            read,
            on_done=done,
            key=f"dashboard.{id(self)}",
            owner=self,
            description="read the dashboard's figures",
        )
        task.failed.connect(self._failed)
        # A bound method, not a lambda: Qt drops the connection when the page goes first.
        task.finished.connect(self._finished)
        self._task = task

    def page_shown(self) -> None:
        if self.dashboard is None and self._task is None:
            self.refresh()
        focus_within(self, self.preset)

    @property
    def current_task(self) -> Task[Dashboard] | None:
        """The read under way (None: the figures shown are the latest asked for)."""
        return self._task

    @property
    def is_busy(self) -> bool:
        return self._task is not None

    def _finished(self) -> None:
        if self._task is not None and self._task.done:  # the latest read (not a replaced one) ended
            self._task = None
            self._busy_timer.stop()
            self.busy.hide()

    def _failed(self, error: BaseException) -> None:
        """The last figures stay; the message bar says what went wrong (the runner's one path)."""
        self.error = error
        if self.dashboard is not None:
            self.read_label.setText(
                f"Figures as of {local_time_text(self.dashboard.read_at)} · could not refresh"
            )

    # -- showing ---------------------------------------------------------------------------------

    def show_dashboard(self, dashboard: Dashboard) -> None:
        previous, self.dashboard = self.dashboard, dashboard
        self.error = None
        self.session.note_refreshed()
        self.read_label.setText(f"Figures as of {local_time_text(dashboard.read_at)}")
        self.read_label.setToolTip(f"Shop days in {dashboard.timezone}; amounts in {dashboard.currency}.")
        self.range_label.setText(range_text(dashboard.query.range))
        for channel in dashboard.channels:
            self._ensure_channel(channel)
        self._show_choices()
        if previous is not None and replace(dashboard, read_at=previous.read_at) == previous:
            self.loaded.emit()
            return  # the same figures (an auto-refresh): nothing to repaint
        days = dashboard.query.range.days
        for kpi in dashboard.kpis:
            card = self.cards.get(kpi.key)
            if card is not None:
                card.show_kpi(kpi, currency=dashboard.currency, days=days)
        for kpi in dashboard.health:
            card = self.health_cards.get(kpi.key)
            if card is not None:
                card.show_kpi(kpi, currency=dashboard.currency, days=days)
        self.card_grid.relayout()
        self._show_charts(dashboard)
        self.loaded.emit()

    def _show_charts(self, dashboard: Dashboard) -> None:
        currency, granularity = dashboard.currency, dashboard.query.granularity
        for chart in (
            self.sales_chart,
            self.channel_chart,
            self.customers_chart,
            self.aov_chart,
            self.conversion_chart,
            self.events_chart,
            self.category_chart,
            self.segments_chart,
        ):
            chart.currency = currency
        sales = dashboard.sales
        self._time_chart(
            self.sales_panel,
            self.sales_chart,
            sales,
            granularity,
            [
                Series("Revenue", tuple(sales.values("revenue")), Kind.MONEY, Style.BARS, colour=REVENUE),
                Series("Orders", tuple(sales.values("orders")), Kind.INTEGER, Style.LINE, True, ORDERS),
            ],
            [(f"Revenue, {currency}", REVENUE), ("Orders (right axis)", ORDERS)],
            "No paid orders or refunds in this range.",
        )
        by_channel = dashboard.by_channel
        channels = [c for c in by_channel.columns if c.key != "period"]
        order = list(dashboard.channels)
        colours = {c.key: order.index(c.key) if c.key in order else i for i, c in enumerate(channels)}
        self._time_chart(
            self.channel_panel,
            self.channel_chart,
            by_channel,
            granularity,
            [
                Series(c.title, tuple(by_channel.values(c.key)), c.kind, Style.BARS, colour=colours[c.key])
                for c in channels
            ],
            [(c.title, colours[c.key]) for c in channels],
            "No sales in this range.",
        )
        customers = dashboard.customers
        self._time_chart(
            self.customers_panel,
            self.customers_chart,
            customers,
            granularity,
            [
                Series("New", tuple(customers.values("new")), Kind.INTEGER, Style.BARS, colour=NEW),
                Series(
                    "Returning",
                    tuple(customers.values("returning")),
                    Kind.INTEGER,
                    Style.BARS,
                    colour=RETURNING,
                ),
            ],
            [("New", NEW), ("Returning", RETURNING)],
            "No customers ordered in this range.",
        )
        aov = dashboard.aov
        self._time_chart(
            self.aov_panel,
            self.aov_chart,
            aov,
            granularity,
            [Series("Average order value", tuple(aov.values("aov")), Kind.MONEY, colour=AOV)],
            [],
            "No paid orders in this range.",
        )
        conversion = dashboard.conversion
        self._time_chart(
            self.conversion_panel,
            self.conversion_chart,
            conversion,
            granularity,
            [Series("Conversion rate", tuple(conversion.values("rate")), Kind.PERCENT, colour=CONVERSION)]
            if conversion.rows
            else [],
            [],
            "No storefront sessions recorded for this range.",
        )
        events = dashboard.events
        kinds = [c for c in events.columns if c.key != "period"]
        self._time_chart(
            self.events_panel,
            self.events_chart,
            events,
            granularity,
            [Series(c.title, tuple(events.values(c.key)), c.kind, colour=i) for i, c in enumerate(kinds)],
            [(c.title, i) for i, c in enumerate(kinds)],
            "No events recorded for this range.",
        )
        self._category_chart(dashboard.inventory_by_category)
        self._segments(dashboard.segments)
        cohorts = dashboard.cohorts
        self.cohort_model.set_dataset(cohorts)
        self.cohort_panel.set_dataset(
            cohorts,
            empty_text="No customer's first order falls in this range.",
            nothing=not any(cohorts.values("customers")) if cohorts.rows else True,
        )
        top = dashboard.top_sellers
        self.top_model.set_dataset(top)
        self.top_title.setText("Top sellers in the range" if top.rows else "Nothing sold in the range.")
        self.top_table.setVisible(bool(top.rows))
        self.health_panel.set_dataset(top)

    def _time_chart(
        self,
        panel: ChartPanel,
        chart: TimeChart,
        dataset: Dataset,
        granularity: Granularity,
        series: list[Series],
        legend: list[tuple[str, int]],
        empty: str,
    ) -> None:
        periods = dataset.values("period") if dataset.rows else []
        # Periods of zeros (every period has its row) are nothing to chart either.
        nothing = not any(value for s in series for value in s.values)
        chart.set_series(periods, series, granularity)
        panel.legend.set_entries([] if nothing else legend)
        panel.set_dataset(dataset, empty_text=empty, nothing=nothing)

    def _category_chart(self, dataset: Dataset) -> None:
        keys = [c.key for c in dataset.columns]
        rows = sorted(dataset.rows, key=lambda row: row[keys.index("value")] or 0, reverse=True)
        units = [row[keys.index("units")] for row in rows] if "units" in keys else []
        self.category_chart.set_bars(
            [str(row[keys.index("category")]) for row in rows],
            [row[keys.index("value")] for row in rows],
            Kind.MONEY,
            notes=[f"{u:,} units" for u in units],
        )
        self.category_panel.set_dataset(dataset, empty_text="No items in stock.")

    def _segments(self, dataset: Dataset) -> None:
        keys = [c.key for c in dataset.columns]
        self.segments_chart.set_bars(
            [str(row[keys.index("segment")]) for row in dataset.rows],
            [row[keys.index("revenue")] for row in dataset.rows],
            Kind.MONEY,
            notes=[
                f"{row[keys.index('customers')]:,} customer{'' if row[keys.index('customers')] == 1 else 's'}"
                for row in dataset.rows
            ],
            colour=4,
        )
        self.segments_model.set_dataset(dataset)
        nothing = not any(row[keys.index("customers")] for row in dataset.rows)
        self.segments_panel.set_dataset(
            dataset, empty_text="No customers with paid orders yet.", nothing=nothing
        )

    # -- actions ---------------------------------------------------------------------------------

    def open_trace(self, kpi: Kpi) -> TraceDialog | None:
        """The rows behind a card's figure, in a grid of their own."""
        if kpi.trace is None:
            return None
        currency = self.dashboard.currency if self.dashboard is not None else ""
        figure = value_text(kpi.value, kpi.kind, currency)
        dialog = TraceDialog(self.session, kpi.trace, self, figure=f"{kpi.title}: {figure}")
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def import_orders(self) -> QWidget | None:
        if not self.import_button.isEnabled():
            return None
        from ecomdesk.ui.pages.orders_import import open_orders_import  # only when someone imports

        dialog = open_orders_import(self.session, self)
        dialog.imported.connect(lambda _result: self.refresh())
        return dialog
