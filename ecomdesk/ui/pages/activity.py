"""The activity page: the audit log as a live grid — who changed what and when — filtered by user,
entity, action and a range of shop days, with the selected entry's before and after.

Newest first; the selected entry's details sit under the list, so its before/after table has the
page's whole width for long values. The main window refreshes the page whenever the audit log
changed (`watches`): new entries arrive on top, the selected entry stays selected, and the rows on
screen stay where they were — unless the list was scrolled to its very top, where the newest
entries are what one watches, so it stays at the top and shows them.

The day range is a page filter of the grid (`date_from`, `date_to`: shop days, the service turns
them into moments in the shop's time zone). The presets count back from the shop's today and leave
the range open at the end, so an entry written after midnight still shows.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import zoneinfo
from typing import Any, Final

from PySide6.QtCore import (
    QAbstractTableModel,
    QDate,
    QDateTime,
    QEvent,
    QLocale,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSettings,
    QSize,
    Qt,
    QTimer,
)
from PySide6.QtGui import QBrush, QFontMetrics, QKeySequence, QPalette, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDateEdit,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ecomdesk.db.catalog import DEFAULT_SETTINGS
from ecomdesk.services.audit import DATE_FROM, DATE_TO, ActivityRow, ChangeKind, FieldChange
from ecomdesk.services.settings import SystemSettings
from ecomdesk.ui.details import DetailsPanel
from ecomdesk.ui.forms import StatusLine
from ecomdesk.ui.grid import GridView
from ecomdesk.ui.session import AppSession
from ecomdesk.ui.theme import is_theme_change, tint
from ecomdesk.ui.widgets import action_buttons, focus_within, heading, hint, page_action, remembered_splitter

SETTINGS: Final = "activity"
#: The days the custom range waits for before it reads (stepping a date with the arrow keys
#: reads once at the end, not once per day passed).
DATES_DELAY_MS: Final = 400
#: A value longer than this gets a tooltip with the whole of it (a shorter one is seen whole).
TOOLTIP_AFTER: Final = 24
_CHANGE_KIND_ROLE: Final = Qt.ItemDataRole.UserRole.value + 1


class DayRange(enum.StrEnum):
    """The page's choice of days; the presets count back from the shop's today."""

    ANY = "any"
    TODAY = "today"
    LAST_7_DAYS = "7d"
    LAST_30_DAYS = "30d"
    CUSTOM = "custom"

    @property
    def label(self) -> str:
        return _RANGE_LABELS[self]

    def days(self, today: dt.date, custom: tuple[dt.date, dt.date]) -> tuple[dt.date | None, dt.date | None]:
        """(first day, last day) for the filter; None leaves that end open."""
        if self is DayRange.CUSTOM:
            return custom
        back = _RANGE_DAYS.get(self)
        return (None, None) if back is None else (today - dt.timedelta(days=back - 1), None)


_RANGE_LABELS: Final = {
    DayRange.ANY: "Any time",
    DayRange.TODAY: "Today",
    DayRange.LAST_7_DAYS: "Last 7 days",
    DayRange.LAST_30_DAYS: "Last 30 days",
    DayRange.CUSTOM: "Custom",
}
_RANGE_DAYS: Final = {DayRange.TODAY: 1, DayRange.LAST_7_DAYS: 7, DayRange.LAST_30_DAYS: 30}


# -- how values read ----------------------------------------------------------------------------


def action_title(action: str) -> str:
    """`inventory.item_created` → "Inventory item created": the entry's heading."""
    words = action.replace(".", " ").replace("_", " ").split()
    return " ".join(words).capitalize() if words else action


def moment_text(value: dt.datetime, locale: QLocale) -> str:
    """The whole moment in local time: weekday, date, time to the second, zone."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    if locale.language() == QLocale.Language.C:
        return value.astimezone().strftime("%A %Y-%m-%d %H:%M:%S %Z")
    moment = QDateTime.fromMSecsSinceEpoch(round(value.timestamp() * 1000))
    return locale.toString(moment, QLocale.FormatType.LongFormat)


def value_text(value: Any) -> str:
    """One line for a cell: text as it is, a list of names as a list, anything else as JSON."""
    if isinstance(value, str):
        return " ".join(value.splitlines()) if value else '""'
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return ", ".join(str(v) for v in value) if value else "[]"
    return json.dumps(value, ensure_ascii=False)


def value_tooltip(value: Any) -> str | None:
    """The whole value, JSON laid out on several lines, when the cell may not show it all."""
    if isinstance(value, dict | list) and value:
        return json.dumps(value, ensure_ascii=False, indent=2)
    text = value_text(value)
    return value if isinstance(value, str) and len(text) > TOOLTIP_AFTER else None


# -- the before/after table ---------------------------------------------------------------------


class ChangesModel(QAbstractTableModel):
    """The fields of one entry: Field | Before | After. A side where the field is absent (before a
    creation, after a deletion) is empty; the kind of each row is in `_CHANGE_KIND_ROLE`."""

    HEADERS: Final = ("Field", "Before", "After")
    KIND_WORDS: Final = {
        ChangeKind.ADDED: "added",
        ChangeKind.REMOVED: "removed",
        ChangeKind.CHANGED: "changed",
        ChangeKind.SAME: "unchanged",
    }

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.changes: list[FieldChange] = []

    def set_changes(self, changes: list[FieldChange]) -> None:
        self.beginResetModel()
        self.changes = list(changes)
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.changes)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        horizontal = orientation == Qt.Orientation.Horizontal and 0 <= section < len(self.HEADERS)
        return self.HEADERS[section] if horizontal and role == Qt.ItemDataRole.DisplayRole else None

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.changes):
            return None
        change, column = self.changes[index.row()], index.column()
        if role == _CHANGE_KIND_ROLE:
            return change.kind
        absent = (column == 1 and change.kind is ChangeKind.ADDED) or (
            column == 2 and change.kind is ChangeKind.REMOVED
        )
        value = change.before if column == 1 else change.after
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 0:
                return change.field
            return "" if absent else value_text(value)
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == 0:
                return f"{change.field}: {self.KIND_WORDS[change.kind]}"
            return None if absent else value_tooltip(value)
        if role == Qt.ItemDataRole.AccessibleDescriptionRole:
            return self.KIND_WORDS[change.kind]
        return None


class ChangesDelegate(QStyledItemDelegate):
    """A diff's colours from the theme: what went in tinted green (the success hue), what went out
    red (the error hue) and struck through, a changed field's name in bold, an unchanged field muted.
    Tints are blended into the palette, so light and dark themes both keep the text readable."""

    def initStyleOption(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        super().initStyleOption(option, index)
        value = index.data(_CHANGE_KIND_ROLE)
        if value is None:
            return
        kind = ChangeKind(value)  # (through Qt an enum of text comes back as its text)
        column = index.column()
        palette = option.palette
        if kind is ChangeKind.SAME:
            palette.setColor(QPalette.ColorRole.Text, palette.color(QPalette.ColorRole.PlaceholderText))
            option.palette = palette
            return
        if column == 0:
            option.font.setBold(True)
            return
        went_out = column == 1 and kind in (ChangeKind.CHANGED, ChangeKind.REMOVED)
        came_in = column == 2 and kind in (ChangeKind.CHANGED, ChangeKind.ADDED)
        if went_out:
            option.backgroundBrush = QBrush(tint(palette, "error")[0])
            option.font.setStrikeOut(kind is ChangeKind.REMOVED)
        elif came_in:
            option.backgroundBrush = QBrush(tint(palette, "success")[0])
            option.font.setBold(kind is ChangeKind.CHANGED)


class ActivityPanel(DetailsPanel):
    """The selected entry, under the list: what happened, when (in full, local time), who did it,
    to what — and beside that the before/after of its fields."""

    FIELDS: Final = (
        ("occurred_at", "When"),
        ("actor_email", "Who"),
        ("action", "Action"),
        ("entity", "Entity"),
    )

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Select an entry to see who did it, when, and what it changed.", parent)
        self.setObjectName("activityPanel")
        self.entry: ActivityRow | None = None
        self.title = self.title_label()
        form = self.value_grid(self.FIELDS)
        self.changes_title = heading("Changes", self.details, 1.05)
        self.no_changes = hint("This entry records no field values.", self.details)
        self.model = ChangesModel(self)
        self.table = QTableView(self.details)
        self.table.setObjectName("activityChanges")
        self.table.setAccessibleName("Changes")
        self.table.setModel(self.model)
        self.table.setItemDelegate(ChangesDelegate(self.table))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.setShowGrid(False)
        self.table.setTabKeyNavigation(False)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 8)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        header.setHighlightSections(False)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.table.setMinimumHeight(self.table.verticalHeader().defaultSectionSize() * 4)
        summary = QVBoxLayout()
        summary.addWidget(self.title)
        summary.addSpacing(self.fontMetrics().height() // 2)
        summary.addLayout(form)
        summary.addStretch(1)
        changes = QVBoxLayout()
        changes.addWidget(self.changes_title)
        changes.addWidget(self.no_changes)
        changes.addWidget(self.table, 1)
        # Side by side under the list: the values get the list's whole width, not a side panel's.
        details = QHBoxLayout(self.details)
        details.setContentsMargins(0, 0, 0, 0)
        details.addLayout(summary, 2)
        details.addSpacing(self.fontMetrics().horizontalAdvance("M"))
        details.addLayout(changes, 5)
        self.show_entry(None)

    def minimumSizeHint(self) -> QSize:
        """None of its own: in a narrow window the list keeps the room and the details give way."""
        return QSize(0, 0)

    def show_entry(self, entry: ActivityRow | None) -> None:
        self.entry = entry
        self.show_details(entry is not None)
        if entry is None:
            self.model.set_changes([])
            return
        self.title.setText(action_title(entry.action))
        texts = {
            "occurred_at": moment_text(entry.occurred_at, QLocale()),
            "actor_email": entry.actor_email or "The system",
            "action": entry.action,
            "entity": entry.entity_type + (f" {entry.entity_id}" if entry.entity_id else ""),
        }
        for key, text in texts.items():
            self.values[key].setText(text)
        self.model.set_changes(entry.field_changes())
        has_changes = self.model.rowCount() > 0
        self.table.setVisible(has_changes)
        self.no_changes.setVisible(not has_changes)
        self._fit_field_column()

    def _fit_field_column(self) -> None:
        """The names whole (they are short), at most a third of the table: the values need the room."""
        bold = self.table.font()
        bold.setBold(True)  # a changed field's name is bold
        metrics = QFontMetrics(bold)
        widest = max(
            [self.table.horizontalHeader().sectionSizeHint(0)]
            + [metrics.horizontalAdvance(c.field) + 16 for c in self.model.changes]
        )
        limit = max(self.table.viewport().width() // 3, metrics.horizontalAdvance("M") * 8)
        self.table.horizontalHeader().resizeSection(0, min(widest, limit))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self.entry is not None:
            self._fit_field_column()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if is_theme_change(event) and hasattr(self, "table"):
            self.table.viewport().update()


# -- the page -----------------------------------------------------------------------------------


class ActivityPage(QWidget):
    #: The main window refreshes the page when one of these tables changed (`ui.live`).
    watches = frozenset({"audit_log"})

    def __init__(self, session: AppSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.setObjectName("activityPage")
        #: The shop's time zone, once read (the presets count back from its today).
        self._shop_zone: str | None = session.shop.timezone if session.shop else None
        self._follow_top = False

        self.grid = GridView(session, session.services.tables["activity"], parent=self)
        self.panel = ActivityPanel(self)
        self.status = StatusLine(self)
        self.status.setAccessibleName("Activity status")

        self.range = QComboBox(self)
        self.range.setAccessibleName("Date range")
        self.range.setToolTip("The shop days whose entries are listed (in the shop's time zone).")
        for choice in DayRange:
            self.range.addItem(choice.label, choice.value)
        self.from_edit = self._date_edit("From")
        self.to_edit = self._date_edit("To")
        self.dash = QLabel("–", self)
        self.range_label = hint("", self)
        self.range_label.setWordWrap(False)
        self.range_label.setAccessibleName("Days listed")

        self.details_action = page_action(self, "&Details", QKeySequence("Ctrl+D"))
        self.details_action.setCheckable(True)
        self.details_action.setToolTip("Show or hide the selected entry's before and after (Ctrl+D).")
        self.details_action.toggled.connect(self.set_details_shown)

        em = self.fontMetrics().horizontalAdvance("M")
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(heading("Activity", self))
        bar.addSpacing(em * 2)
        bar.addWidget(self.range)
        bar.addWidget(self.from_edit)
        bar.addWidget(self.dash)
        bar.addWidget(self.to_edit)
        bar.addWidget(self.range_label)
        bar.addStretch(1)
        action_buttons(bar, (self.details_action,), self)

        self.splitter = remembered_splitter(
            "activity/splitter",
            Qt.Orientation.Vertical,
            ((self.grid, 3), (self.panel, 2)),
            (em * 26, em * 17),
            self,
        )
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.status)
        layout.addWidget(self.splitter, 1)

        self._dates_timer = QTimer(self)
        self._dates_timer.setObjectName("activityDatesTimer")
        self._dates_timer.setSingleShot(True)
        self._dates_timer.setInterval(DATES_DELAY_MS)
        self._dates_timer.timeout.connect(self._apply_range)

        self._restore_choices()
        self.range.currentIndexChanged.connect(self._range_changed)
        self.from_edit.dateChanged.connect(self._dates_changed)
        self.to_edit.dateChanged.connect(self._dates_changed)
        self.grid.selection_changed.connect(self._selection_changed)
        self.grid.refreshed.connect(self._refreshed)
        self.grid.model.modelReset.connect(self._selection_changed)
        self.grid.activated.connect(self.open_entry)
        self.grid.delete_requested.connect(
            lambda _records: self.status.say("The activity log keeps every entry: none can be deleted.")
        )
        self.grid.status_message.connect(lambda text: self.status.say(text, "success"))
        session.shop_changed.connect(self._shop_changed)
        self._apply_range()

    # -- what the main window calls --------------------------------------------------------

    def refresh(self) -> None:
        """Re-read in place; a preset's days move on at midnight."""
        # (A refresh asked for while rows are on their way is skipped by the model: no follow then.)
        model = self.grid.model
        self._follow_top = not model.is_busy and self.grid.view.verticalScrollBar().value() == 0
        self._apply_range()
        self.grid.refresh()

    def focus_search(self) -> None:
        self.grid.focus_search()

    def page_shown(self) -> None:
        focus_within(self, self.grid.view)
        if self._shop_zone is None:
            self.session.load_shop(quiet=True)  # `shop_changed` brings it

    # -- the entry and its details -------------------------------------------------------------

    @property
    def current(self) -> ActivityRow | None:
        record = self.grid.current_record()
        return record if isinstance(record, ActivityRow) else None

    @property
    def details_shown(self) -> bool:
        return not self.panel.isHidden()

    def set_details_shown(self, shown: bool) -> None:
        self.panel.setVisible(shown)
        if self.details_action.isChecked() != shown:
            self.details_action.setChecked(shown)
        QSettings().setValue(f"{SETTINGS}/details_shown", shown)

    def open_entry(self, record: Any = None) -> None:
        """Enter or a double-click: the entry's details, bringing the pane back if it was hidden."""
        entry = record if isinstance(record, ActivityRow) else self.current
        if entry is None:
            return
        if not self.details_shown:
            self.set_details_shown(True)
        if entry != self.panel.entry:
            self.panel.show_entry(entry)

    def _selection_changed(self) -> None:
        entry = self.current
        if entry != self.panel.entry:  # the same entry re-read: a text selection in the details stays
            self.panel.show_entry(entry)

    def _refreshed(self) -> None:
        follow, self._follow_top = self._follow_top, False
        if follow:
            self.grid.view.scrollToTop()
        self._selection_changed()

    # -- the day range ---------------------------------------------------------------------------

    @property
    def chosen_range(self) -> DayRange:
        return DayRange(self.range.currentData())

    def set_range(self, choice: DayRange) -> None:
        self.range.setCurrentIndex(self.range.findData(choice.value))

    def set_custom_range(self, first: dt.date, last: dt.date) -> None:
        """Choose Custom with these days (both included), as the person would."""
        self.range.blockSignals(True)
        self.set_range(DayRange.CUSTOM)
        self.range.blockSignals(False)
        self._set_dates(first, last)
        self._range_changed()

    def shop_today(self) -> dt.date:
        """Today in the shop's time zone (the catalogue's default zone until the shop's is read)."""
        name = self._shop_zone or str(DEFAULT_SETTINGS["shop.timezone"])
        try:
            zone = zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            zone = zoneinfo.ZoneInfo(str(DEFAULT_SETTINGS["shop.timezone"]))
        return dt.datetime.now(zone).date()

    def custom_days(self) -> tuple[dt.date, dt.date]:
        first, last = self.from_edit.date().toPython(), self.to_edit.date().toPython()
        assert isinstance(first, dt.date) and isinstance(last, dt.date)
        return first, last

    def _date_edit(self, name: str) -> QDateEdit:
        edit = QDateEdit(self)
        edit.setCalendarPopup(True)
        edit.setAccessibleName(name)
        edit.setToolTip(f"{name}: a shop day, included.")
        edit.setDisplayFormat(QLocale().dateFormat(QLocale.FormatType.ShortFormat))
        edit.setMinimumDate(QDate(2000, 1, 1))
        edit.setMaximumDate(QDate(2100, 12, 31))
        return edit

    def _set_dates(self, first: dt.date, last: dt.date) -> None:
        for edit, day in ((self.from_edit, first), (self.to_edit, last)):
            edit.blockSignals(True)
            edit.setDate(QDate(day.year, day.month, day.day))
            edit.blockSignals(False)

    def _range_changed(self) -> None:
        self._save_choices()
        self._apply_range()

    def _dates_changed(self) -> None:
        if self.chosen_range is DayRange.CUSTOM:
            self._dates_timer.start()

    def _apply_range(self) -> None:
        """Show the controls for the choice and give the grid its days."""
        self._dates_timer.stop()
        choice = self.chosen_range
        custom = choice is DayRange.CUSTOM
        for widget in (self.from_edit, self.dash, self.to_edit):
            widget.setVisible(custom)
        if custom:
            self._save_choices()
        first, last = choice.days(self.shop_today(), self.custom_days())
        locale = QLocale()
        if custom or first is None:
            self.range_label.setText("")
        else:
            since = locale.toString(QDate(first.year, first.month, first.day), QLocale.FormatType.ShortFormat)
            self.range_label.setText(f"since {since}")
        self.range_label.setVisible(bool(self.range_label.text()))
        self.grid.set_page_filter(DATE_FROM, first)
        self.grid.set_page_filter(DATE_TO, last)

    def _restore_choices(self) -> None:
        settings = QSettings()
        try:
            choice = DayRange(str(settings.value(f"{SETTINGS}/range", DayRange.ANY.value)))
        except ValueError:
            choice = DayRange.ANY
        today = self.shop_today()
        first, last = today - dt.timedelta(days=6), today
        try:
            first = dt.date.fromisoformat(str(settings.value(f"{SETTINGS}/from", first.isoformat())))
            last = dt.date.fromisoformat(str(settings.value(f"{SETTINGS}/to", last.isoformat())))
        except ValueError:
            pass
        self._set_dates(first, last)
        self.set_range(choice)
        shown = bool(settings.value(f"{SETTINGS}/details_shown", True, type=bool))
        self.panel.setVisible(shown)
        self.details_action.setChecked(shown)

    def _save_choices(self) -> None:
        settings = QSettings()
        settings.setValue(f"{SETTINGS}/range", self.chosen_range.value)
        if self.chosen_range is DayRange.CUSTOM:
            first, last = self.custom_days()
            settings.setValue(f"{SETTINGS}/from", first.isoformat())
            settings.setValue(f"{SETTINGS}/to", last.isoformat())

    def _shop_changed(self, shop: SystemSettings) -> None:
        if shop.timezone != self._shop_zone:
            self._shop_zone = shop.timezone
            self._apply_range()


__all__ = [
    "ActivityPage",
    "ActivityPanel",
    "ChangesDelegate",
    "ChangesModel",
    "DayRange",
    "action_title",
    "moment_text",
    "value_text",
]
