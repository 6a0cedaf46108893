"""GridView: the one list widget. A toolbar (search, filters, count, columns, refresh, export) over a
table view of a `PagedTableModel`.

Thin on purpose: it lays out, remembers the header (order, widths, hidden columns, sort) per view in
QSettings, and turns keys into model calls; all data work is the model's, on the task runner.
Column widths are measured from the header and the rows on screen only — never
`resizeColumnsToContents()`, which would walk (and fetch) every row of a million.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

from PySide6.QtCore import (
    QByteArray,
    QItemSelection,
    QItemSelectionModel,
    QLocale,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QSettings,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import (
    QAction,
    QBrush,
    QColor,
    QFocusEvent,
    QGuiApplication,
    QHideEvent,
    QKeySequence,
    QPalette,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QSizePolicy,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ecomdesk.services.listing import ListQuery, SortKey
from ecomdesk.services.tables import Choice, FilterKind, FilterSpec, Table, with_window
from ecomdesk.ui.errors import describe
from ecomdesk.ui.grid.export import AskExport, ask_with_dialog, start_export
from ecomdesk.ui.grid.model import PagedTableModel, RowStyle, RowStyleRole
from ecomdesk.ui.session import AppSession
from ecomdesk.ui.tasks import Task, TaskControl
from ecomdesk.ui.theme import blend

SEARCH_DELAY_MS = 250
SAVE_DELAY_MS = 400
COUNTING_DELAY_MS = 300
#: A measured column never grows wider than this; the user can still drag it wider.
MAX_FIT_WIDTH = 360
#: Ctrl+C of more rows than this would stall the clipboard; the export is the tool for that.
MAX_COPY_ROWS = 10_000
_COPY_CHUNK = 5_000


def plural(word: str) -> str:
    """Filter titles are single English nouns: "Category" → "categories", "Supplier" → "suppliers"."""
    word = word.lower()
    if word.endswith("y") and word[-2:-1] not in ("a", "e", "i", "o", "u"):
        return word[:-1] + "ies"
    return word + ("es" if word.endswith(("s", "x", "ch", "sh")) else "s")


def attention_colour(palette: QPalette) -> QColor:
    """A row background that stands out without looking selected: the highlight's opposite hue
    (orange beside a blue selection), mixed into the base colour so it suits light and dark themes."""
    return QColor(
        _attention_rgba(
            palette.color(QPalette.ColorRole.Highlight).rgba(), palette.color(QPalette.ColorRole.Base).rgba()
        )
    )


@functools.lru_cache(maxsize=8)
def _attention_rgba(highlight_rgba: int, base_rgba: int) -> int:
    """Worked out once per theme, not for every painted cell."""
    highlight = QColor.fromRgba(highlight_rgba)
    hue = highlight.hsvHue()
    warm = QColor.fromHsv((hue + 180) % 360 if hue >= 0 else 30, max(highlight.hsvSaturation(), 160), 230)
    return blend(QColor.fromRgba(base_rgba), warm, 0.28).rgba()


class GridDelegate(QStyledItemDelegate):
    """Paints a row's style (`row_style`) with colours taken from the view's palette, so a dark or
    high-contrast theme gets marks that fit it: "attention" tints the row (`attention_colour`),
    "muted" greys its text. (Text and alignment come from the model.)"""

    def initStyleOption(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        super().initStyleOption(option, index)
        style = index.data(RowStyleRole)
        if not style:
            return
        palette = option.palette
        if style == "attention":
            option.backgroundBrush = QBrush(attention_colour(palette))
        elif style == "muted":
            palette.setColor(QPalette.ColorRole.Text, palette.color(QPalette.ColorRole.PlaceholderText))
            option.palette = palette


class ChoiceCombo(QComboBox):
    """A CHOICE filter whose values are read when first wanted (focus or opening the list).

    A DISTINCT over a million rows costs the server about as much as counting them; asked for at
    every grid's start it slowed the first rows down, and most views never open their filters.
    """

    #: The values are wanted and not loaded yet (the view reads them on the task runner).
    needs_choices = Signal()

    def __init__(self, all_text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.addItem(all_text, None)
        self.loaded = False
        self._popup_wanted = False

    def showPopup(self) -> None:
        if self.loaded:
            super().showPopup()
        else:  # opens once the values are in: a list that grows while open would not resize
            self._popup_wanted = True
            self.needs_choices.emit()

    def focusInEvent(self, event: QFocusEvent) -> None:
        if not self.loaded:
            self.needs_choices.emit()  # the arrow keys step through the values
        super().focusInEvent(event)

    def set_choices(self, choices: list[Choice]) -> None:
        """Replace the values (keeping the chosen one, even if it is gone) without a filter change."""
        current = self.currentData()
        self.blockSignals(True)
        try:
            while self.count() > 1:
                self.removeItem(1)
            for choice in choices:
                self.addItem(choice.label, choice.value)
            index = self.findData(current) if current is not None else 0
            if index < 0:  # the chosen value is gone from the list but still filters the rows
                self.addItem(str(current), current)
                index = self.count() - 1
            self.setCurrentIndex(index)
        finally:
            self.blockSignals(False)
        self.loaded = True
        if self._popup_wanted:
            self._popup_wanted = False
            super().showPopup()

    def choices_failed(self) -> None:
        if self._popup_wanted:
            self._popup_wanted = False
            super().showPopup()  # "All …" at least; the error shows in the grid's banner


class GridView(QWidget):
    """A searchable, filterable, sortable list of one `Table`; pages embed one and connect its signals."""

    #: Enter or double-click on a loaded row: its record.
    activated = Signal(object)
    #: Delete pressed with rows selected: their records (the page confirms and deletes).
    delete_requested = Signal(list)
    #: The rows were re-read in place (F5 or `refresh()`), selection restored.
    refreshed = Signal()
    #: A sentence for the status bar ("Exported 12,345 items to …", "Copied 3 rows").
    status_message = Signal(str)
    #: The selected rows changed.
    selection_changed = Signal()

    def __init__(
        self,
        session: AppSession,
        table: Table[Any],
        *,
        name: str | None = None,
        settings: QSettings | None = None,
        row_style: RowStyle | None = None,
        ask_export: AskExport = ask_with_dialog,
        locale: QLocale | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.table = table
        self.spec = table.spec
        self.name = name or table.spec.name
        self.settings = settings if settings is not None else QSettings()
        self._ask_export = ask_export
        self._prefix = f"grid/{self.name}"
        self._fitted = False
        self._fitting = False
        self._kept: tuple[list[Any], Any, Any] | None = None  # selected ids, current id, top id
        self._choices_pending: set[str] = set()
        #: Filters the page sets beside the bar's (e.g. "archived"), kept when the bar changes.
        self._page_filters: dict[str, Any] = {}
        self.setObjectName(f"grid-{self.name}")

        self.model = PagedTableModel(session, table, row_style=row_style, locale=locale, parent=self)
        self.model.inline_errors = True
        self._build_toolbar()
        self._build_banner()
        self._build_table()
        self._build_actions()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(self.toolbar)
        layout.addWidget(self.banner)
        layout.addWidget(self.view, 1)

        self._save_timer = QTimer(self)
        self._save_timer.setSingleShot(True)
        self._save_timer.setInterval(SAVE_DELAY_MS)
        self._save_timer.timeout.connect(self.save_state)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self._apply_search)
        # "Counting…" only when a count takes long enough to notice: no flicker on every keystroke.
        self._counting_timer = QTimer(self)
        self._counting_timer.setSingleShot(True)
        self._counting_timer.setInterval(COUNTING_DELAY_MS)
        self._counting_timer.timeout.connect(lambda: self.count_label.setText("Counting…"))

        sort = self._restore_state()
        self._connect()
        self.model.set_query(ListQuery(sort=sort))

    # -- building ------------------------------------------------------------------------------

    def _build_toolbar(self) -> None:
        self.toolbar = QHBoxLayout()
        self.toolbar.setContentsMargins(0, 0, 0, 0)
        self.search = QLineEdit()
        self.search.setPlaceholderText(self.spec.search_hint)
        self.search.setClearButtonEnabled(True)
        self.search.setAccessibleName(f"Search {self.spec.title.lower()}")
        # Wide when there is room, but never the reason a window cannot be made small.
        self.search.setMinimumWidth(self.search.fontMetrics().horizontalAdvance("M") * 8)
        self.search.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.toolbar.addWidget(self.search, 2)

        self.filters: dict[str, QComboBox] = {}
        for spec in self.spec.filters:
            combo: QComboBox
            if spec.kind is FilterKind.CHOICE:
                combo = ChoiceCombo(f"All {plural(spec.title)}")
                combo.needs_choices.connect(lambda s=spec: self._load_choice(s))
            else:
                combo = QComboBox()
                combo.addItem(f"All {self.spec.plural}", None)  # "All items / Low stock only / Enough stock"
                combo.addItem(spec.labels[0], True)
                combo.addItem(spec.labels[1], False)
            combo.setAccessibleName(spec.title)
            combo.setToolTip(spec.title)
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(8)
            self.filters[spec.key] = combo
            self.toolbar.addWidget(combo)
        self.toolbar.addStretch(1)

        self.count_label = QLabel("Loading…")
        self.count_label.setAccessibleName("Count")
        self.toolbar.addWidget(self.count_label)

        self.columns_button = QToolButton()
        self.columns_button.setText("Columns")
        self.columns_button.setAccessibleName("Choose columns")
        self.columns_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.columns_menu = QMenu(self)
        self.columns_menu.aboutToShow.connect(self._sync_columns_menu)
        self.columns_button.setMenu(self.columns_menu)
        self.toolbar.addWidget(self.columns_button)
        self.refresh_button = QToolButton()
        self.toolbar.addWidget(self.refresh_button)
        self.export_button = QToolButton()
        self.toolbar.addWidget(self.export_button)

    def _build_banner(self) -> None:
        """Load errors show here, above the rows they concern, instead of a dialog per failed window."""
        self.banner = QFrame()
        self.banner.setFrameShape(QFrame.Shape.StyledPanel)
        self.banner_label = QLabel()
        self.banner_label.setWordWrap(True)
        self.banner_label.setAccessibleName("Problem")
        retry = QPushButton("Try again")
        retry.clicked.connect(self.refresh)
        row = QHBoxLayout(self.banner)
        row.addWidget(self.banner_label, 1)
        row.addWidget(retry)
        self.banner.hide()

    def _build_table(self) -> None:
        view = self.view = QTableView()
        view.setModel(self.model)
        view.setItemDelegate(GridDelegate(view))
        view.setAccessibleName(self.spec.title)
        view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        view.setAlternatingRowColors(True)
        view.setShowGrid(False)
        view.setWordWrap(False)
        view.setCornerButtonEnabled(False)
        view.setTabKeyNavigation(False)  # Tab leaves the list, as everywhere else
        view.setTextElideMode(Qt.TextElideMode.ElideRight)
        rows = view.verticalHeader()
        rows.hide()
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # uniform heights: no per-row measuring
        rows.setDefaultSectionSize(view.fontMetrics().height() + 10)
        header = self.header = view.horizontalHeader()
        # A header asks its selection model whether each column is wholly selected, which Qt answers
        # by walking every selected row (QItemSelectionModel::isColumnSelected), for every section
        # it paints: after Ctrl+A on a million rows each repaint took seconds. Sections highlight
        # nothing here, so the headers get a selection model of their own that stays empty.
        self._header_selection = QItemSelectionModel(self.model, self)
        header.setSelectionModel(self._header_selection)
        rows.setSelectionModel(self._header_selection)
        header.setSectionsMovable(True)
        header.setSectionsClickable(True)
        header.setSortIndicatorShown(True)
        header.setHighlightSections(False)
        header.setStretchLastSection(True)
        header.setMinimumSectionSize(40)
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        for section, column in enumerate(self.spec.columns):
            action = QAction(column.title, self)
            action.setCheckable(True)
            action.setData(section)
            action.toggled.connect(lambda shown, s=section: self._show_column(s, shown))
            self.columns_menu.addAction(action)

    def _build_actions(self) -> None:
        def action(text: str, keys: list[QKeySequence], slot: Callable[[], object], on: QWidget) -> QAction:
            act = QAction(text, self)
            # Standard keys may repeat an explicit one (Refresh is F5 on most desktops): once each.
            unique = {key.toString(): key for key in keys if not key.isEmpty()}
            act.setShortcuts(list(unique.values()))
            act.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            act.triggered.connect(slot)
            on.addAction(act)
            return act

        find = [QKeySequence(QKeySequence.StandardKey.Find)]
        self.find_action = action("Find", find, self.focus_search, self)
        self.refresh_action = action(
            "Refresh",
            [QKeySequence(Qt.Key.Key_F5), QKeySequence(QKeySequence.StandardKey.Refresh)],
            self.refresh,
            self,
        )
        self.refresh_action.setToolTip("Refresh (F5)")
        self.export_action = action("Export…", [QKeySequence("Ctrl+E")], self.export, self)
        self.export_action.setToolTip("Export every matching row to a CSV file (Ctrl+E)")
        self.copy_action = action("Copy", [QKeySequence(QKeySequence.StandardKey.Copy)], self.copy, self.view)
        self.delete_action = action(
            "Delete", [QKeySequence(QKeySequence.StandardKey.Delete)], self._request_delete, self.view
        )
        # The Delete key asks the page to delete the selection: nothing is deleted in a read-only copy.
        self.delete_action.setEnabled(not self.session.read_only)
        self.refresh_button.setDefaultAction(self.refresh_action)
        self.refresh_button.setAccessibleName("Refresh")
        self.export_button.setDefaultAction(self.export_action)
        self.export_button.setAccessibleName("Export to CSV")

    def _connect(self) -> None:
        model, header = self.model, self.header
        model.count_changed.connect(self._show_count)
        model.modelReset.connect(self._on_reset)
        model.loaded.connect(self._on_loaded)
        model.refreshed.connect(self._on_refreshed)
        model.failed.connect(self._on_failed)
        header.sortIndicatorChanged.connect(self._on_sort_indicator)
        header.sectionMoved.connect(self._schedule_save)
        header.sectionResized.connect(lambda section, _old, _new: self._on_resized(section))
        header.customContextMenuRequested.connect(self._header_menu)
        self.search.textChanged.connect(lambda _text: self._search_timer.start())
        self.search.returnPressed.connect(self._apply_search)
        for combo in self.filters.values():
            combo.currentIndexChanged.connect(self._apply_filters)
        self.view.activated.connect(self._on_activated)
        bar = self.view.verticalScrollBar()
        bar.valueChanged.connect(self._prefetch)
        bar.rangeChanged.connect(self._prefetch)
        self.view.selectionModel().selectionChanged.connect(lambda *_: self.selection_changed.emit())

    # -- public API ----------------------------------------------------------------------------

    def refresh(self) -> None:
        """Re-read the rows in place; the selected records (by id) and the top row stay where they are."""
        top = self.view.rowAt(0)
        index = self.view.currentIndex()
        current = self.model.record(index.row()) if index.isValid() else None
        self._kept = (
            [getattr(r, "id", None) for r in self.selected_records(limit=1000)],
            getattr(current, "id", None),
            getattr(self.model.record(top), "id", None) if top >= 0 else None,
        )
        self.banner.hide()
        self.model.refresh()
        for spec in self.spec.filters:  # values someone already looked at are read again too
            combo = self.filters[spec.key]
            if isinstance(combo, ChoiceCombo) and combo.loaded:
                self._load_choice(spec)

    def selected_records(self, limit: int | None = None) -> list[Any]:
        """The loaded records of the selected rows, top to bottom (rows not loaded are left out)."""
        records: list[Any] = []
        for top, bottom in self._selected_spans():
            for _row, record in self.model.loaded_records(top, bottom):
                records.append(record)
                if limit is not None and len(records) >= limit:
                    return records
        return records

    def current_record(self) -> Any | None:
        """The record single-record actions work on: the current row's if it is selected, else
        the first selected one's (None while nothing is selected or its row is not loaded)."""
        index = self.view.currentIndex()
        if index.isValid() and self.view.selectionModel().isRowSelected(index.row()):
            return self.model.record(index.row())
        selected = self.selected_records(limit=1)
        return selected[0] if selected else None

    def visible_columns(self) -> list[int]:
        """Logical sections of the shown columns, in the order the user sees them."""
        header = self.header
        sections = (header.logicalIndex(visual) for visual in range(header.count()))
        return [s for s in sections if not header.isSectionHidden(s)]

    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def set_page_filter(self, key: str, value: Any) -> None:
        """A filter of the page's own, not offered in the filter bar (e.g. a “Show archived”
        toggle): applied with the bar's filters and kept while they change; None removes it."""
        if value is None:
            self._page_filters.pop(key, None)
        else:
            self._page_filters[key] = value
        self._apply_filters()

    def set_filter(self, key: str, value: Any) -> None:
        """Choose a filter value as the user would (None: all)."""
        combo = self.filters[key]
        index = combo.findData(value)
        if index < 0:
            combo.addItem(str(value), value)
            index = combo.count() - 1
        combo.setCurrentIndex(index)

    def copy(self) -> None:
        """Selected cells as tab-separated text, rows top to bottom, shown columns in their order."""
        spans = self._selected_spans()
        if sum(bottom - top + 1 for top, bottom in spans) > MAX_COPY_ROWS:
            self.status_message.emit(
                f"Copy takes at most {MAX_COPY_ROWS:,} rows; export (Ctrl+E) writes any number to a file."
            )
            return
        rows = [row for top, bottom in spans for row in range(top, bottom + 1)]
        if not rows:
            return
        selection = self.view.selectionModel().selection()
        ranges = [selection.at(i) for i in range(selection.size())]
        columns = [s for s in self.visible_columns() if any(r.left() <= s <= r.right() for r in ranges)]
        missing = [row for row in rows if self.model.record(row) is None]
        if not missing:
            self._put_on_clipboard(rows, columns, {row: self.model.record(row) for row in rows})
            return
        # Some selected rows are not loaded: read them (in large windows) off the GUI thread first.
        table, actor, query, total = self.table, self.session.actor, self.model.query, self.model.total
        first, last = missing[0], missing[-1]

        def read(control: TaskControl) -> dict[int, Any]:
            found: dict[int, Any] = {}
            for offset in range(first, last + 1, _COPY_CHUNK):
                control.check()
                limit = min(_COPY_CHUNK, last + 1 - offset)
                page = table.page(actor, with_window(query, offset, limit, total))
                found.update(enumerate(page.rows, start=offset))
            return found

        def done(found: dict[int, Any]) -> None:
            records = {row: self.model.record(row) or found.get(row) for row in rows}
            self._put_on_clipboard(rows, columns, records)

        self.session.runner.submit(
            read, on_done=done, key=f"{self.objectName()}-copy", owner=self, description="Copy rows"
        )

    def export(self) -> Task[int] | None:
        """Ctrl+E: every row matching the current search, filters and sort, shown columns in their order."""
        columns = [self.spec.columns[s].key for s in self.visible_columns()]
        summary = f"{self.model.count_text()}, {len(columns)} columns"
        return start_export(
            self,
            self.session,
            self.table,
            self.model.query,
            columns,
            settings=self.settings,
            view_name=self.name,
            summary=summary,
            ask=self._ask_export,
            on_done=self.status_message.emit,
        )

    def save_state(self) -> None:
        """Column order, widths, hidden columns and sort, for the next view of this name."""
        self._save_timer.stop()
        self.settings.setValue(f"{self._prefix}/header", self.header.saveState())
        sort = self.model.query.sort
        if sort:
            self.settings.setValue(f"{self._prefix}/sort_key", sort[0].key)
            self.settings.setValue(f"{self._prefix}/sort_descending", sort[0].descending)
        self.settings.sync()

    # -- state ---------------------------------------------------------------------------------

    def _restore_state(self) -> tuple[SortKey, ...]:
        """Header and sort as the user left them (defaults for a new view or a changed column set)."""
        header = self.header
        header.blockSignals(True)
        try:
            state = self.settings.value(f"{self._prefix}/header")
            restored = (
                isinstance(state, QByteArray)
                and header.restoreState(state)
                and header.count() == len(self.spec.columns)
            )
            if not restored:
                for section, column in enumerate(self.spec.columns):
                    header.setSectionHidden(section, not column.shown)
            self._fitted = bool(restored)
            keys = tuple(self.spec.default_sort)
            key = self.settings.value(f"{self._prefix}/sort_key")
            if isinstance(key, str) and any(c.key == key and c.sortable for c in self.spec.columns):
                descending = bool(self.settings.value(f"{self._prefix}/sort_descending", False, type=bool))
                keys = self.model.sort_keys_for(self.model.column_index(key), descending)
            shown = [c.key for c in self.spec.columns]
            if keys and keys[0].key in shown:
                order = Qt.SortOrder.DescendingOrder if keys[0].descending else Qt.SortOrder.AscendingOrder
                header.setSortIndicator(shown.index(keys[0].key), order)
            else:  # no sort, or by a key that is not a column: no arrow
                header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
            return keys
        finally:
            header.blockSignals(False)

    def _schedule_save(self) -> None:
        self._save_timer.start()

    def _on_resized(self, section: int) -> None:
        if self._fitting or self.header.isSectionHidden(section):
            return
        visible = self.visible_columns()
        if self.header.stretchLastSection() and visible and section == visible[-1]:
            return  # the last column follows the view's width, not the user
        self._fitted = True  # the user chose a width: never measure over it
        self._schedule_save()

    def hideEvent(self, event: QHideEvent) -> None:
        if self._save_timer.isActive():
            self.save_state()
        super().hideEvent(event)

    def _show_column(self, section: int, shown: bool) -> None:
        if not shown and len(self.visible_columns()) <= 1:
            self._sync_columns_menu()  # the last column stays: a grid of nothing helps no one
            return
        if self.header.isSectionHidden(section) == (not shown):
            return
        self.header.setSectionHidden(section, not shown)
        if shown and self.header.sectionSize(section) < self.header.minimumSectionSize():
            self.header.resizeSection(section, self.header.defaultSectionSize())
        self._schedule_save()

    def _sync_columns_menu(self) -> None:
        for action in self.columns_menu.actions():
            action.blockSignals(True)
            action.setChecked(not self.header.isSectionHidden(int(action.data())))
            action.blockSignals(False)

    def _header_menu(self, pos: QPoint) -> None:
        self._sync_columns_menu()
        self.columns_menu.popup(self.header.mapToGlobal(pos))

    # -- reacting ------------------------------------------------------------------------------

    def _apply_search(self) -> None:
        self._search_timer.stop()
        self.model.set_search(self.search.text().strip())

    def _apply_filters(self) -> None:
        chosen = {key: combo.currentData() for key, combo in self.filters.items()}
        self.model.set_filters(chosen | self._page_filters)

    def _on_sort_indicator(self, section: int, order: Qt.SortOrder) -> None:
        if not self.model.column(section).sortable:
            current = self.model.query.sort
            self.header.blockSignals(True)
            if current:
                back = Qt.SortOrder.DescendingOrder if current[0].descending else Qt.SortOrder.AscendingOrder
                self.header.setSortIndicator(self.model.column_index(current[0].key), back)
            self.header.blockSignals(False)
            return
        self.model.sort(section, order)
        self._schedule_save()

    def _show_count(self, _total: int, text: str) -> None:
        self._counting_timer.stop()
        self.count_label.setText(text)

    def _prefetch(self) -> None:
        """Ask for the rows on screen, and half a screen either side, as soon as the view moves:
        painting would ask for the visible ones too, but only once it happens, and not ahead."""
        view, model = self.view, self.model
        top = view.rowAt(0)
        if top < 0:
            return
        bottom = view.rowAt(view.viewport().height() - 1)
        if bottom < 0:
            bottom = model.rowCount() - 1
        margin = (bottom - top) // 2 + 1
        model.fetch_rows(max(top - margin, 0), bottom + margin)
        model.fetch_rows(top, bottom)  # the newest requests are served first: the visible rows

    def _on_reset(self) -> None:
        """A new search, filter or sort: its rows start at the top."""
        self._kept = None
        self.view.scrollToTop()
        if not self.model.is_loaded:
            self._counting_timer.start()  # the rows are in, the count is still on its way
        if not self._fitted and self.model.rowCount():
            self.fit_columns()

    def _on_loaded(self) -> None:
        self.banner.hide()

    def _on_refreshed(self) -> None:
        self.banner.hide()
        kept, self._kept = self._kept, None
        if kept is not None:
            self._restore_selection(*kept)
        self.refreshed.emit()

    def _on_failed(self, error: BaseException) -> None:
        message = describe(error)
        self.banner_label.setText(f"<b>{message.title}.</b> {message.text}")
        self.banner.show()
        if not self.model.is_loaded:
            self._counting_timer.stop()
            self.count_label.setText("")

    def _on_activated(self, index: QModelIndex) -> None:
        record = self.model.record(index.row())
        if record is not None:
            self.activated.emit(record)

    def _request_delete(self) -> None:
        records = self.selected_records()
        if records:
            self.delete_requested.emit(records)

    # -- helpers -------------------------------------------------------------------------------

    def fit_columns(self) -> None:
        """Widths from the header text and the rows on screen (loaded ones), capped at MAX_FIT_WIDTH."""
        view, header, model = self.view, self.header, self.model
        metrics = view.fontMetrics()
        # The style's cell margins plus a gap, so a right-aligned number never touches the next text.
        padding = 2 * (view.style().pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, view) + 1) + 20
        first = max(view.rowAt(0), 0)
        shown = max(view.viewport().height() // max(view.verticalHeader().defaultSectionSize(), 1), 30)
        last = min(first + shown, model.total) - 1
        self._fitting = True
        try:
            for section in self.visible_columns():
                width = header.sectionSizeHint(section)
                for row in range(first, last + 1):
                    width = max(width, metrics.horizontalAdvance(model.display(row, section)) + padding)
                header.resizeSection(section, min(width, MAX_FIT_WIDTH))
        finally:
            self._fitting = False
        self._fitted = True

    def _selected_spans(self) -> list[tuple[int, int]]:
        """Selected rows as merged (top, bottom) spans: a select-all of a million rows is one span."""
        selection = self.view.selectionModel().selection()
        ranges = sorted((selection.at(i).top(), selection.at(i).bottom()) for i in range(selection.size()))
        spans: list[tuple[int, int]] = []
        for top, bottom in ranges:
            if spans and top <= spans[-1][1] + 1:
                spans[-1] = (spans[-1][0], max(spans[-1][1], bottom))
            else:
                spans.append((top, bottom))
        return spans

    def _put_on_clipboard(self, rows: list[int], columns: list[int], records: dict[int, Any]) -> None:
        selection = self.view.selectionModel().selection()

        def cells(row: int) -> Iterator[str]:
            record = records.get(row)
            for section in columns:
                if record is None or not selection.contains(self.model.index(row, section)):
                    yield ""
                else:
                    text = self.model.display_record(record, section)
                    yield text.replace("\t", " ").replace("\r", " ").replace("\n", " ")

        text = "\n".join("\t".join(cells(row)) for row in rows)
        QGuiApplication.clipboard().setText(text)
        self.status_message.emit(f"Copied {len(rows):,} {'row' if len(rows) == 1 else 'rows'}")

    def _load_choice(self, spec: FilterSpec) -> None:
        if spec.key in self._choices_pending:
            return
        self._choices_pending.add(spec.key)
        table, actor, key = self.table, self.session.actor, spec.key
        combo = self.filters[key]
        assert isinstance(combo, ChoiceCombo)

        def failed(error: BaseException) -> None:
            combo.choices_failed()
            self._on_failed(error)

        task = self.session.runner.submit(
            lambda _control: table.choices(actor, key),
            on_done=combo.set_choices,
            on_error=failed,
            owner=self,
            description=f"{spec.title} choices",
        )
        task.finished.connect(lambda: self._choices_pending.discard(key))

    def _restore_selection(self, ids: list[Any], current_id: Any, top_id: Any) -> None:
        model, view = self.model, self.view
        last = model.columnCount() - 1
        selection = QItemSelection()
        for record_id in ids:
            row = model.row_of(record_id) if record_id is not None else None
            if row is not None:
                selection.select(model.index(row, 0), model.index(row, last))
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        selection_model = view.selectionModel()
        if ids:
            selection_model.select(selection, flags)
        current_row = model.row_of(current_id) if current_id is not None else None
        if current_row is not None:
            column = max(view.currentIndex().column(), 0)
            selection_model.setCurrentIndex(
                model.index(current_row, column), QItemSelectionModel.SelectionFlag.NoUpdate
            )
        top_row = model.row_of(top_id) if top_id is not None else None
        if top_row is not None and top_row != view.rowAt(0):
            view.scrollTo(model.index(top_row, 0), QAbstractItemView.ScrollHint.PositionAtTop)
