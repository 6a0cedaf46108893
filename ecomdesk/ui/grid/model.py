"""The one table model: any `Table` of the services, a million rows or ten, read in windows on demand.

A new query asks for its first window, then for its count: the first rows show as soon as they are
in (a window of a million rows is read from an index in milliseconds, counting them all takes
longer), and when the count arrives the other rows are inserted, so `rowCount` is the server's
total and the scroll bar reaches every row. `data()` reads memory only: a row that is not loaded
shows a placeholder and asks for its window, requests made while the view paints are coalesced
into one fetch per window on the task runner, and `dataChanged` repaints the rows when they arrive.
Windows live in a small LRU cache, so scrolling through everything keeps memory flat.

A new sort, search or filter resets the model once its first page is in (until then the old rows
stay, so nothing flashes empty); only the latest request counts. `refresh()` re-reads the total and
the windows in use *in place* — rows are inserted or removed at the end when the count changed and
everything else is a `dataChanged` — so the view keeps its selection and scroll position.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from functools import partial
from typing import Any, TypeVar

from PySide6.QtCore import (
    QAbstractTableModel,
    QLocale,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)

from ecomdesk.services.errors import Unavailable
from ecomdesk.services.listing import ListQuery, Page, SortKey
from ecomdesk.services.tables import Column, Kind, Table, TableSpec, with_window
from ecomdesk.ui.grid.format import alignment, display_text
from ecomdesk.ui.session import AppSession, ConnectionState
from ecomdesk.ui.tasks import Task, TaskControl

ModelIndex = QModelIndex | QPersistentModelIndex
T = TypeVar("T")
#: Marks a row whose window is still on its way (in the first column only, so it reads as one mark).
PLACEHOLDER = "…"
#: How a page asks for a row to stand out (e.g. low stock): a style name the view maps to palette colours.
RowStyle = Callable[[Any], str | None]

_USER = Qt.ItemDataRole.UserRole.value
#: The raw value (Decimal, datetime, …) for sorting proxies and tests.
SortRole = _USER + 1
#: The whole typed record of the row.
RowRole = _USER + 2
#: The column's `Kind`.
KindRole = _USER + 3
#: The row's style name from `row_style`, or None.
RowStyleRole = _USER + 4

#: Windows fetched at once per model: a fast scroll through a million rows must not queue hundreds.
MAX_IN_FLIGHT = 2
#: Windows asked for but not yet started; the oldest requests (rows scrolled past) are dropped.
MAX_QUEUED = 8
#: How long a new query's count waits for its first rows before it starts anyway.
COUNT_DELAY_MS = 40
#: Windows a refresh re-reads (the most recently shown); others are dropped and re-read on demand.
REFRESH_WINDOWS = 4

_keys = itertools.count(1)
#: Roles that need the row's record (the others are answered from the column alone).
_RECORD_ROLES = frozenset(
    {Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole, SortRole, RowRole, RowStyleRole}
)


def _off_thread(call: Callable[[], T]) -> Callable[[TaskControl], T]:
    """One read for the task runner, closed over plain values only (it runs on a pool thread)."""

    def run(control: TaskControl) -> T:
        control.check()
        return call()

    return run


def _reader(table: Table[Any], session: AppSession, query: ListQuery) -> Callable[[TaskControl], Page[Any]]:
    return _off_thread(partial(table.page, session.actor, query))


def _counter(table: Table[Any], session: AppSession, query: ListQuery) -> Callable[[TaskControl], int]:
    return _off_thread(partial(table.count, session.actor, query))


class PagedTableModel(QAbstractTableModel):
    """A `Table` as a Qt model: server-side sort and filter, rows fetched in windows in the background."""

    #: (total, "1,000,000 items") whenever the row count is known anew.
    count_changed = Signal(int, str)
    #: A new query's rows and count are in. (The model resets when its first rows arrive, which
    #: may be before the count: the other rows are inserted then.)
    loaded = Signal()
    #: A `refresh()` finished in place.
    refreshed = Signal()
    #: A load failed: the exception (the view shows it inline through `ui.errors.describe`).
    failed = Signal(object)
    #: Whether a query or refresh is on its way.
    busy_changed = Signal(bool)

    def __init__(
        self,
        session: AppSession,
        table: Table[Any],
        *,
        window: int = 200,
        max_windows: int = 32,
        row_style: RowStyle | None = None,
        locale: QLocale | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._session = session
        self._table = table
        self._spec = table.spec
        self._columns = table.spec.columns
        self._window = window
        self._max_windows = max(max_windows, 2)
        self._row_style = row_style
        self._locale = locale or QLocale()
        #: Errors go to `failed` only (a view shows them); False also sends them to the runner.
        self.inline_errors = False

        self._query = ListQuery(sort=tuple(table.spec.default_sort), limit=window)
        self._total = 0
        # A query's first rows and its count are asked for at once: the rows show as soon as they
        # are in (a count of a million rows takes longer than a window of them), the rest of the
        # rows are inserted when the count arrives.
        self._rows_in = False  # the current query's first rows are shown: windows may be fetched
        self._counted = False  # `_total` is the server's count for the current query
        self._querying = False  # a new query's rows or count are on their way
        self._early_total: int | None = None  # a count that arrived before the rows
        self._busy = False
        self._generation = 0  # bumped by every new query; results of older ones are dropped
        self._key = f"grid-{table.spec.name}-{next(_keys)}"
        self._windows: OrderedDict[int, list[Any]] = OrderedDict()  # LRU: most recent last
        self._queued: OrderedDict[int, None] = OrderedDict()  # most recent last
        self._in_flight: dict[int, Task[Page[Any]]] = {}
        self._failed_windows: set[int] = set()
        self._query_tasks: list[Task[Any]] = []

        self._fetch_timer = QTimer(self)
        self._fetch_timer.setSingleShot(True)
        self._fetch_timer.setInterval(0)  # after the paint that asked: one fetch per window
        self._fetch_timer.timeout.connect(self._start_fetches)
        # The count starts when the first rows are in, so the two do not compete for the server's
        # CPU (a parallel count of a million rows takes every core it can get); rows slower than
        # this do not hold the count back any longer.
        self._count_timer = QTimer(self)
        self._count_timer.setSingleShot(True)
        self._count_timer.setInterval(COUNT_DELAY_MS)
        self._count_timer.timeout.connect(self._start_count)
        self._count_due: int | None = None  # the generation whose count is still to be asked for

    # -- what the view and pages read ---------------------------------------------------------

    @property
    def table(self) -> Table[Any]:
        return self._table

    @property
    def spec(self) -> TableSpec:
        return self._spec

    @property
    def query(self) -> ListQuery:
        """The current search, filters and sort (its window fields mean nothing here)."""
        return self._query

    @property
    def total(self) -> int:
        return self._total

    @property
    def is_loaded(self) -> bool:
        """The current query's first rows and its count are in."""
        return self._rows_in and self._counted

    @property
    def is_busy(self) -> bool:
        return self._busy

    @property
    def window_size(self) -> int:
        return self._window

    def count_text(self) -> str:
        return self._spec.count_text(self._total)

    def column(self, section: int) -> Column:
        return self._columns[section]

    def column_index(self, key: str) -> int:
        for i, column in enumerate(self._columns):
            if column.key == key:
                return i
        raise KeyError(key)

    def cached_windows(self) -> list[int]:
        """The windows held in memory, least recently used first (tests and diagnostics)."""
        return list(self._windows)

    def record(self, row: int) -> Any:
        """The record at `row`, or None when it is not in memory (never fetches)."""
        rows = self._windows.get(row // self._window)
        offset = row % self._window
        return rows[offset] if rows is not None and offset < len(rows) else None

    def loaded_records(self, first: int, last: int) -> Iterator[tuple[int, Any]]:
        """(row, record) for the rows `first`..`last` that are in memory, top to bottom: a selection
        of a million rows costs what is loaded, not a million look-ups."""
        size = self._window
        for number in sorted(n for n in self._windows if n * size <= last and (n + 1) * size > first):
            start = number * size
            for offset in range(max(first - start, 0), min(last - start + 1, len(self._windows[number]))):
                yield start + offset, self._windows[number][offset]

    def row_of(self, record_id: Any) -> int | None:
        """Where the record with this `id` sits among the loaded rows (None: not loaded)."""
        for number, rows in self._windows.items():
            for offset, record in enumerate(rows):
                if getattr(record, "id", None) == record_id:
                    return number * self._window + offset
        return None

    def display(self, row: int, section: int) -> str:
        """A loaded cell's text exactly as shown ("" when the row is not loaded)."""
        record = self.record(row)
        return "" if record is None else self.display_record(record, section)

    def display_record(self, record: Any, section: int) -> str:
        column = self._columns[section]
        return display_text(getattr(record, column.key), column.kind, self._locale)

    # -- changing what is shown ---------------------------------------------------------------

    def set_query(self, query: ListQuery) -> None:
        """Show `query`'s rows (its search, filters, sort); the model resets once they arrive."""
        query = replace(query, offset=0, limit=self._window, known_total=None)
        if query == self._query and (self.is_loaded or self._querying):
            return
        # Only the order changes: the count stays, so no need to count again.
        same_rows = (
            self.is_loaded and query.search == self._query.search and query.filters == self._query.filters
        )
        self._query = query
        self._generation += 1
        self._drop_fetches()
        self._cancel_queries()
        self._rows_in = self._counted = False
        self._querying = True
        self._early_total = None
        self._set_busy(True)
        generation, known = self._generation, self._total if same_rows else None
        # The first rows come without a count; `_start_count` asks for it separately.
        first = replace(query, known_total=known, counted=False)
        self._query_tasks.append(
            self._session.runner.submit(
                _reader(self._table, self._session, first),
                on_done=lambda page: self._rows_arrived(generation, page, known),
                on_error=lambda error: self._query_failed(generation, error),
                key=self._key,
                owner=self,
                description=f"{self._spec.title}: first rows",
            )
        )
        if known is None:
            self._count_due = generation
            self._count_timer.start()

    def _start_count(self) -> None:
        """Count the current query's rows: once its first rows are in, or when they are slow."""
        generation = self._count_due
        if generation != self._generation:
            return
        self._count_due = None
        self._count_timer.stop()
        self._query_tasks.append(
            self._session.runner.submit(
                _counter(self._table, self._session, self._query),
                on_done=lambda total: self._count_arrived(generation, total),
                on_error=lambda error: self._query_failed(generation, error),
                key=f"{self._key}-count",
                owner=self,
                description=f"{self._spec.title}: count",
            )
        )

    def set_search(self, text: str) -> None:
        if text != self._query.search:
            self.set_query(replace(self._query, search=text))

    def set_filter(self, key: str, value: Any) -> None:
        """`value` None removes the filter."""
        filters = {k: v for k, v in self._query.filters.items() if k != key}
        if value is not None:
            filters[key] = value
        self.set_filters(filters)

    def set_filters(self, filters: Mapping[str, Any]) -> None:
        filters = {k: v for k, v in filters.items() if v is not None}
        if filters != dict(self._query.filters):
            self.set_query(replace(self._query, filters=filters))

    def set_sort(self, keys: Sequence[SortKey]) -> None:
        if tuple(keys) != tuple(self._query.sort):
            self.set_query(replace(self._query, sort=tuple(keys)))

    def sort_keys_for(self, section: int, descending: bool) -> tuple[SortKey, ...]:
        """Sorting by a column: that column first, then the list's usual order for ties."""
        key = self._columns[section].key
        rest = tuple(k for k in self._spec.default_sort if k.key != key)
        return (SortKey(key, descending), *rest)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Server-side sort (QHeaderView / QTableView call this); column -1 means the usual order."""
        if column < 0:
            self.set_sort(self._spec.default_sort)
        elif 0 <= column < len(self._columns) and self._columns[column].sortable:
            self.set_sort(self.sort_keys_for(column, order == Qt.SortOrder.DescendingOrder))

    def refresh(self) -> None:
        """Re-read the count and the rows in use, keeping rows in place (selection and scroll stay)."""
        if self._querying:
            return  # the rows on their way are fresh anyway
        if not self.is_loaded:
            self.set_query(self._query)  # the last query failed: ask again
            return
        generation = self._generation
        windows = [w for w in reversed(self._windows) if w * self._window < max(self._total, 1)]
        windows = windows[:REFRESH_WINDOWS] or [0]
        table, actor, query, size = self._table, self._session.actor, self._query, self._window

        def reread(control: TaskControl) -> tuple[int, dict[int, list[Any]]]:
            total = table.count(actor, query)
            pages: dict[int, list[Any]] = {}
            for number in windows:
                control.check()
                if number == windows[0] or number * size < total:
                    pages[number] = table.page(actor, with_window(query, number * size, size, total)).rows
            return total, pages

        self._set_busy(True)
        self._failed_windows.clear()
        task = self._session.runner.submit(
            reread,
            on_done=lambda result: self._refresh_arrived(generation, *result),
            on_error=lambda error: self._query_failed(generation, error),
            key=self._key,
            owner=self,
            description=f"{self._spec.title}: refresh",
        )
        self._query_tasks.append(task)

    # -- QAbstractTableModel ------------------------------------------------------------------

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else self._total

    def columnCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._columns)

    # flags(): QAbstractTableModel's own (selectable, enabled, no children) is exactly right, and
    # staying in C++ matters: Qt asks it for every cell painted and every row of a selection check.

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self._columns):
            return None
        column = self._columns[section]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.title
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return alignment(column.kind)
        if role == KindRole:
            return column.kind
        return None

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row, section = index.row(), index.column()
        if not (0 <= row < self._total and 0 <= section < len(self._columns)):
            return None
        column = self._columns[section]
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return alignment(column.kind)
        if role == KindRole:
            return column.kind
        if role not in _RECORD_ROLES:
            return None
        record = self._record(row)
        if record is None:
            return PLACEHOLDER if role == Qt.ItemDataRole.DisplayRole and section == 0 else None
        if role == RowRole:
            return record
        if role == RowStyleRole:
            return self._row_style(record) if self._row_style is not None else None
        value = getattr(record, column.key)
        if role == SortRole:
            return value
        if role == Qt.ItemDataRole.ToolTipRole:
            # Long text is elided in the cell; the tooltip shows it whole.
            return value if column.kind is Kind.TEXT and isinstance(value, str) and len(value) > 40 else None
        return display_text(value, column.kind, self._locale)

    # -- windows ------------------------------------------------------------------------------

    def _record(self, row: int) -> Any:
        number = row // self._window
        rows = self._windows.get(number)
        if rows is None:
            self._want(number)
            return None
        self._windows.move_to_end(number)
        offset = row - number * self._window
        return rows[offset] if offset < len(rows) else None

    def _want(self, number: int) -> None:
        if not self._rows_in:
            return  # the rows shown belong to an older query, or none are in yet
        if number in self._in_flight or number in self._failed_windows:
            return
        self._queued[number] = None
        self._queued.move_to_end(number)
        while len(self._queued) > MAX_QUEUED:
            self._queued.popitem(last=False)
        if not self._fetch_timer.isActive():
            self._fetch_timer.start()

    def fetch_rows(self, first: int, last: int) -> None:
        """Ask for the windows holding rows `first`..`last` (e.g. what is about to be shown)."""
        for number in range(max(first, 0) // self._window, min(last, self._total - 1) // self._window + 1):
            if number not in self._windows:
                self._want(number)

    def _start_fetches(self) -> None:
        while self._queued and len(self._in_flight) < MAX_IN_FLIGHT:
            number, _ = self._queued.popitem(last=True)  # the newest request is what is on screen
            if number in self._windows or number in self._in_flight:
                continue
            offset = number * self._window
            limit = min(self._window, self._total - offset)
            if limit <= 0:
                continue
            generation = self._generation
            query = with_window(self._query, offset, limit, self._total)
            task = self._session.runner.submit(
                _reader(self._table, self._session, query),
                on_done=partial(self._window_arrived, generation, number),
                on_error=partial(self._window_failed, generation, number),
                owner=self,
                description=f"{self._spec.title}: rows {offset + 1:,}–{offset + limit:,}",
            )
            task.finished.connect(partial(self._fetch_ended, number, task))
            self._in_flight[number] = task

    def _fetch_ended(self, number: int, task: Task[Page[Any]]) -> None:
        if self._in_flight.get(number) is task:
            del self._in_flight[number]
        if self._queued and not self._fetch_timer.isActive():
            self._fetch_timer.start()

    def _window_arrived(self, generation: int, number: int, page: Page[Any]) -> None:
        if generation != self._generation:
            return
        self._windows[number] = page.rows
        self._windows.move_to_end(number)
        while len(self._windows) > self._max_windows:
            self._windows.popitem(last=False)
        first = number * self._window
        last = min(first + self._window, self._total) - 1
        if last >= first:
            self.dataChanged.emit(self.index(first, 0), self.index(last, len(self._columns) - 1))

    def _window_failed(self, generation: int, number: int, error: BaseException) -> None:
        if generation != self._generation:
            return
        # Not asked again on every repaint; `refresh()` (the view's "Try again") clears this.
        self._failed_windows.add(number)
        self._report(error)

    def _drop_fetches(self) -> None:
        """Forget every window fetch under way (their results would belong to an older state)."""
        for task in self._in_flight.values():
            task.cancel()
        self._in_flight.clear()
        self._queued.clear()
        self._failed_windows.clear()

    # -- query and refresh results ------------------------------------------------------------

    def _rows_arrived(self, generation: int, page: Page[Any], known: int | None) -> None:
        if generation != self._generation:
            return
        total = known if known is not None else self._early_total
        self.beginResetModel()
        self._drop_fetches()
        self._windows.clear()
        self._windows[0] = page.rows
        # Until the count is in, the model holds the rows it has; the others are inserted then.
        self._total = total if total is not None else len(page.rows)
        self._rows_in = True
        self._counted = total is not None
        self.endResetModel()
        self._start_count()
        self._complete()

    def _count_arrived(self, generation: int, total: int) -> None:
        if generation != self._generation:
            return
        if not self._rows_in:
            self._early_total = total
            return
        self._resize(total)
        self._counted = True
        self._complete()

    def _complete(self) -> None:
        if not (self._rows_in and self._counted):
            return
        self._querying = False
        self._query_tasks.clear()
        self._set_busy(False)
        self.count_changed.emit(self._total, self.count_text())
        self._session.note_refreshed()
        self.loaded.emit()

    def _refresh_arrived(self, generation: int, total: int, pages: dict[int, list[Any]]) -> None:
        if generation != self._generation:
            return
        self._drop_fetches()
        self._windows = OrderedDict(reversed(pages.items()))  # the first re-read is the most recent
        self._resize(total)
        if total:
            self.dataChanged.emit(self.index(0, 0), self.index(total - 1, len(self._columns) - 1))
        self._query_tasks.clear()
        self._set_busy(False)
        self.count_changed.emit(self._total, self.count_text())
        self._session.note_refreshed()
        self.refreshed.emit()

    def _resize(self, total: int) -> None:
        """A new row count, as rows added or removed at the end: the rows above keep their place."""
        old = self._total
        if total > old:
            self.beginInsertRows(QModelIndex(), old, total - 1)
            self._total = total
            self.endInsertRows()
        elif total < old:
            self.beginRemoveRows(QModelIndex(), total, old - 1)
            self._total = total
            self.endRemoveRows()

    def _query_failed(self, generation: int, error: BaseException) -> None:
        if generation != self._generation:
            return
        # One report per query: the other half (rows or count) is dropped. The rows on screen stay;
        # if they belong to an older query no windows are fetched for them, and `refresh()` asks
        # for the current query again.
        self._generation += 1
        self._cancel_queries()
        if self._querying:
            self._querying = False
            self._counted = False
        self._set_busy(False)
        self._report(error)

    def _cancel_queries(self) -> None:
        self._count_timer.stop()
        self._count_due = None
        for task in self._query_tasks:
            task.cancel()
        self._query_tasks.clear()

    def _report(self, error: BaseException) -> None:
        if isinstance(error, Unavailable) and self._session.state is ConnectionState.CONNECTED:
            # The change watcher (`ui.live`) takes it from here: it probes with backoff and turns
            # this into "Offline" if the server stays away.
            self._session.set_state(ConnectionState.RECONNECTING)
        self.failed.emit(error)
        if not self.inline_errors:
            self._session.runner.failed.emit(error, None)

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self.busy_changed.emit(busy)
