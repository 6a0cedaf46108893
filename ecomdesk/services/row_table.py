"""A `Table` over records already in memory: what an import preview or a report preview shows in
the same grid, with the same paging, sorting, searching, filtering and CSV export as any list read
from the database.

No permission check: the records were authorised when they were read. The records are kept as
given (a tuple, never changed), so pool threads may page through them at the same time; the
ordered rows of the latest search, filters and sort are kept, so scrolling through a preview
sorts once, not once per window.

The CSV is what `SqlTable.export_csv` writes for the same columns: a header of column titles,
then each value as PostgreSQL's `COPY … (FORMAT csv)` writes it — ISO 8601 UTC times, true/false,
plain numbers, formula-neutralised text — so a file exported from a preview reads exactly like
one exported from a list.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Callable, Hashable, Iterable, Sequence
from decimal import Decimal
from typing import IO, Any, Final

from ecomdesk.services.context import Actor
from ecomdesk.services.errors import ValidationError
from ecomdesk.services.listing import ListQuery, Page, SortKey, check_window
from ecomdesk.services.tables import (
    FORMULA_PREFIXES,
    UTF8_BOM,
    CancelledFn,
    Choice,
    ExportCancelled,
    FilterKind,
    Kind,
    ProgressFn,
    Row,
    Table,
    TableSpec,
    csv_header,
)

#: Rows written between two cancel checks and progress reports.
_EXPORT_CHUNK = 2_000

_Order = tuple[str, tuple[tuple[str, Hashable], ...], tuple[SortKey, ...]]


class RowsTable(Table[Row]):
    """`rows` (frozen records with one attribute per column of `spec`) as a table.

    `search`: the record attributes the search box looks in (case-insensitive substring).
    Filters: each of `spec.filters` compares the record attribute of the same key — a CHOICE by
    equality (its choices are the distinct values present), a FLAG by truth, so a flag may stand on
    a bool or on a text that is empty when the flag is off.
    Sorting: by any sortable column, text case-insensitively, empty values last in either
    direction; rows that tie keep the order they were given in.
    """

    def __init__(self, spec: TableSpec, rows: Iterable[Row], *, search: Sequence[str] = ()) -> None:
        self.spec = spec
        self.rows: tuple[Row, ...] = tuple(rows)
        self.search_attributes = tuple(search)
        self._flags = frozenset(f.key for f in spec.filters if f.kind is FilterKind.FLAG)
        self._lock = threading.Lock()
        self._ordered: tuple[_Order, tuple[Row, ...]] | None = None

    def page(self, actor: Actor, query: ListQuery) -> Page[Row]:
        check_window(query)
        rows = self._matching(query)
        total = query.known_total if query.known_total is not None else len(rows)
        return Page(
            list(rows[query.offset : query.offset + query.limit]),
            total if query.known_total is not None or query.counted else None,
            query.offset,
        )

    def count(self, actor: Actor, query: ListQuery) -> int:
        return len(self._matching(query))

    def choices(self, actor: Actor, key: str) -> list[Choice]:
        if not any(f.key == key and f.kind is FilterKind.CHOICE for f in self.spec.filters):
            raise ValidationError({"filters": f"{key} offers no choices."})
        values = {getattr(row, key) for row in self.rows} - {None}
        ordered = sorted(values, key=lambda value: (_sort_value(value), str(value)))
        return [Choice(value, str(value)) for value in ordered]

    def export_csv(
        self,
        actor: Actor,
        query: ListQuery,
        out: IO[bytes],
        *,
        columns: Sequence[str] | None = None,
        bom: bool = False,
        progress: ProgressFn | None = None,
        cancelled: CancelledFn | None = None,
    ) -> int:
        keys = self.spec.export_columns(columns)
        kinds = [self.spec.column(key).kind for key in keys]
        rows = self._matching(query)
        if bom:
            out.write(UTF8_BOM)
        out.write(csv_header(self.spec.column(key).title for key in keys))
        for start in range(0, len(rows), _EXPORT_CHUNK):
            if cancelled is not None and cancelled():
                raise ExportCancelled()
            chunk = rows[start : start + _EXPORT_CHUNK]
            out.write(csv_rows((tuple(getattr(row, key) for key in keys) for row in chunk), kinds))
            if progress is not None:
                progress(start + len(chunk), len(rows))
        if progress is not None:
            progress(len(rows), len(rows))
        return len(rows)

    # -- helpers ------------------------------------------------------------------------------

    def _matching(self, query: ListQuery) -> tuple[Row, ...]:
        """The rows `query`'s search and filters keep, in its order (its window aside)."""
        sort = self._sort_keys(query)
        filters = self._filters(query)
        search = query.search.strip().casefold()
        key: _Order = (search, tuple(sorted(filters.items())), sort)
        with self._lock:
            if self._ordered is not None and self._ordered[0] == key:
                return self._ordered[1]
        rows = [row for row in self.rows if self._kept(row, search, filters)]
        for sort_key in reversed(sort):  # stable sorts, last key first: the first key decides
            present = [row for row in rows if getattr(row, sort_key.key) is not None]
            present.sort(key=lambda row: _sort_value(getattr(row, sort_key.key)), reverse=sort_key.descending)
            rows = present + [row for row in rows if getattr(row, sort_key.key) is None]
        ordered = tuple(rows)
        with self._lock:
            self._ordered = (key, ordered)
        return ordered

    def _kept(self, row: Row, search: str, filters: dict[str, Hashable]) -> bool:
        if search and not any(
            search in str(value).casefold()
            for value in (getattr(row, name) for name in self.search_attributes)
            if value is not None
        ):
            return False
        for key, wanted in filters.items():
            value = getattr(row, key)
            if (bool(value) if key in self._flags else value) != wanted:
                return False
        return True

    def _filters(self, query: ListQuery) -> dict[str, Hashable]:
        keys = {f.key for f in self.spec.filters}
        filters: dict[str, Hashable] = {}
        for key, value in query.filters.items():
            if value is None:
                continue
            if key not in keys:
                raise ValidationError({"filters": f"Unknown filter: {key}."})
            if key in self._flags and not isinstance(value, bool):
                raise ValidationError({key: "Expected true or false."})
            filters[key] = value
        return filters

    def _sort_keys(self, query: ListQuery) -> tuple[SortKey, ...]:
        sortable = {c.key for c in self.spec.columns if c.sortable}
        unknown = [k.key for k in query.sort if k.key not in sortable]
        if unknown:
            raise ValidationError({"sort": f"Cannot sort by {', '.join(unknown)}."})
        return tuple(query.sort or self.spec.default_sort)


def _sort_value(value: Any) -> Any:
    """Text in dictionary order, whatever the letter case ("apple" ties with "Apple")."""
    return value.casefold() if isinstance(value, str) else value


def _text(value: Any) -> str:
    text = str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def _number(value: Any) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value) if isinstance(value, int | float) else _text(value)


def _moment(value: Any) -> str:
    if not isinstance(value, dt.datetime):
        return _text(value)
    moment = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _day(value: Any) -> str:
    return value.isoformat() if isinstance(value, dt.date) else _text(value)


def _flag(value: Any) -> str:
    return "true" if value else "false"


#: How each kind's values are written; looked up once per column by a writer of many rows.
_CSV_TEXT: Final[dict[Kind, Callable[[Any], str]]] = {
    **{kind: _number for kind in Kind if kind.numeric},
    Kind.TEXT: _text,
    Kind.DATETIME: _moment,
    Kind.DATE: _day,
    Kind.BOOL: _flag,
}


def csv_converter(kind: Kind) -> Callable[[Any], str]:
    """`csv_text` for one kind's (non-empty) values, for writers that convert many rows."""
    return _CSV_TEXT[kind]


def csv_text(value: Any, kind: Kind) -> str | None:
    """A value as `SqlTable` exports it: ISO 8601 UTC times, true/false, plain numbers (never in
    exponent form), text with a leading apostrophe when a spreadsheet would take it for a formula."""
    return None if value is None else _CSV_TEXT[kind](value)


def csv_rows(rows: Iterable[Sequence[Any]], kinds: Sequence[Kind]) -> bytes:
    """CSV lines of `rows` (values in `kinds`' order), as `SqlTable.export_csv` writes them."""
    convert = [_CSV_TEXT[kind] for kind in kinds]
    lines = [
        ",".join("" if v is None else csv_field(c(v)) for v, c in zip(row, convert, strict=True))
        for row in rows
    ]
    return ("\n".join(lines) + "\n").encode() if lines else b""


#: A field that needs quotes: a separator, a quote or a line break anywhere in it.
_NEEDS_QUOTES: Final = re.compile(r'[,"\r\n]')


def csv_field(text: str | None) -> str:
    """One CSV field as `COPY … (FORMAT csv)` writes it: NULL as nothing, the empty text as "",
    quotes wherever a comma, quote or line break needs them. (Python's csv module leaves a lone
    carriage return unquoted when lines end in "\\n", which a spreadsheet reads as a line break.)"""
    if text is None:
        return ""
    if not text or _NEEDS_QUOTES.search(text):
        return '"' + text.replace('"', '""') + '"'
    return text
