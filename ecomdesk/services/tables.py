"""Tables: the one description of every list the app shows, and the one way to page and export it.

A `Table` names its columns (each column key is also its sort key and the attribute of its row
record), its filters and its read permission. `SqlTable` implements paging and CSV export once over
any SELECT: paging by offset windows that read backwards near the end (so jumping to the last row
of a million is as quick as the first), export by PostgreSQL's COPY streamed to a file (so all
matching rows leave at close to psql's speed, formatted and neutralised by the server). On a
snapshot (SQLite, no COPY) the same SELECT is read row by row and written byte for byte as COPY
writes it, so an export of a snapshot is the export of the server it came from.

Spreadsheet formula injection: a text cell starting with `=`, `+`, `-`, `@`, a tab or a carriage
return is written with a leading apostrophe, so Excel or LibreOffice show it as text instead of
evaluating it. Numbers, money and dates are written as plain values and never neutralised.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Final, Generic, TypeVar

from sqlalchemy import ColumnElement, FromClause, Select, String, case, cast, func, literal, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.orm import Session

from ecomdesk.services.context import Actor, ServiceContext, UnitOfWork
from ecomdesk.services.errors import ServiceError, ValidationError
from ecomdesk.services.listing import ListQuery, Page, SortKey, check_window

Row = TypeVar("Row")
T = TypeVar("T")

#: Characters that make a spreadsheet treat a cell as a formula (OWASP "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
UTF8_BOM = b"\xef\xbb\xbf"
_EXPORT_BUFFER = 1 << 20
#: Rows fetched at a time by the portable export.
_EXPORT_ROWS = 5_000


class Kind(enum.StrEnum):
    """How a column's values look: the UI formats and aligns by kind, export writes them by kind."""

    TEXT = "text"
    INTEGER = "integer"
    #: A signed whole change (stock ±): shown with its sign, exported as a plain number.
    CHANGE = "change"
    MONEY = "money"
    DECIMAL = "decimal"
    PERCENT = "percent"
    DATETIME = "datetime"
    #: A calendar day (a shop day in the analytics): no time, no zone; ISO 8601 in CSV.
    DATE = "date"
    BOOL = "bool"

    @property
    def numeric(self) -> bool:
        return self in _NUMERIC_KINDS


#: A set, not a tuple built per call: exports ask this once per value.
_NUMERIC_KINDS: Final = frozenset({Kind.INTEGER, Kind.CHANGE, Kind.MONEY, Kind.DECIMAL, Kind.PERCENT})


@dataclass(frozen=True)
class Column:
    """`key` is the sort key, the record attribute, the CSV column id and the settings key."""

    key: str
    title: str
    kind: Kind = Kind.TEXT
    sortable: bool = True
    #: Shown until the user hides it in the column chooser.
    shown: bool = True


class FilterKind(enum.StrEnum):
    CHOICE = "choice"  # one value from `Table.choices(actor, key)`
    FLAG = "flag"  # true / false / either


@dataclass(frozen=True)
class FilterSpec:
    key: str
    title: str
    kind: FilterKind
    #: Words for a FLAG's two states, e.g. ("Active", "Inactive").
    labels: tuple[str, str] = ("Yes", "No")


@dataclass(frozen=True)
class Choice:
    value: Any
    label: str


@dataclass(frozen=True)
class TableSpec:
    """Everything a grid or an export needs to know about one list, without touching the database."""

    name: str  # the view name: `ecomdesk export <name>`, settings keys, screenshots
    title: str
    singular: str  # "item" → "1 item", "1,000,000 items"
    plural: str
    columns: tuple[Column, ...]
    default_sort: tuple[SortKey, ...]
    filters: tuple[FilterSpec, ...] = ()
    search_hint: str = "Search"

    def column(self, key: str) -> Column:
        for column in self.columns:
            if column.key == key:
                return column
        raise KeyError(key)

    def export_columns(self, columns: Sequence[str] | None) -> list[str]:
        """The column keys an export writes: `columns` as asked (checked), else the shown ones."""
        keys = list(columns) if columns is not None else [c.key for c in self.columns if c.shown]
        unknown = [key for key in keys if key not in {c.key for c in self.columns}]
        if unknown or not keys:
            raise ValidationError(
                {
                    "columns": f"Unknown column: {', '.join(unknown)}."
                    if unknown
                    else "Choose at least one column to export."
                }
            )
        return keys

    def count_text(self, count: int) -> str:
        return f"{count:,} {self.singular if count == 1 else self.plural}"


ProgressFn = Callable[[int, int], None]
CancelledFn = Callable[[], bool]


class ExportCancelled(Exception):
    """The export was stopped by the user; the partial file must not be kept."""


class Table(Generic[Row]):
    """The interface every grid and export uses. Rows are frozen records with one attribute per column."""

    spec: TableSpec

    def page(self, actor: Actor, query: ListQuery) -> Page[Row]:
        raise NotImplementedError

    def count(self, actor: Actor, query: ListQuery) -> int:
        """How many rows match `query`'s search and filters."""
        raise NotImplementedError

    def choices(self, actor: Actor, key: str) -> list[Choice]:
        """The values a CHOICE filter offers."""
        raise NotImplementedError

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
        """Every row matching `query`'s search, filters and sort (its window is ignored) as CSV."""
        raise NotImplementedError


@dataclass(frozen=True)
class Source:
    """What an `SqlTable` reads: the FROM clause, one SQL expression per column, and row building."""

    from_: FromClause
    columns: Mapping[str, ColumnElement[Any]]
    primary_key: ColumnElement[Any]
    #: Extra expressions a record needs beyond the columns (e.g. ids), by name.
    extra: Mapping[str, ColumnElement[Any]] = field(default_factory=dict)
    #: Sort expressions that differ from the column's value (case-insensitive text, say), and
    #: sort-only keys, by key.
    sort: Mapping[str, ColumnElement[Any]] = field(default_factory=dict)

    def sort_expression(self, key: str) -> ColumnElement[Any]:
        return self.sort[key] if key in self.sort else self.columns[key]


class SqlTable(Table[Row]):
    """Paging and export over one SELECT; subclasses give the source, search, filters and records."""

    #: The permission needed to read this table (None: any signed-in user; check in `authorise`).
    permission: str | None = None

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    # -- what a subclass provides -------------------------------------------------------------

    def source(self) -> Source:
        raise NotImplementedError

    def search(self, text: str) -> ColumnElement[bool] | None:
        """The condition for the search box's text (already stripped and non-empty)."""
        return None

    def filter(self, key: str, value: Any) -> ColumnElement[bool]:
        raise ValidationError({"filters": f"Unknown filter: {key}."})

    def resolve(self, session: Session, query: ListQuery) -> ListQuery:
        """The query as this read runs it (called inside the read's unit of work): a subclass may
        check filters together and turn a value into what its condition needs from the database
        (the activity list turns shop days into moments in the shop's zone, so the planner sees
        constants)."""
        return query

    def scope(self, query: ListQuery) -> ColumnElement[bool] | None:
        """The rows a list shows unless a filter says otherwise (e.g. live items, not archived ones)."""
        return None

    def record(self, row: RowMapping) -> Row:
        raise NotImplementedError

    def authorise(self, uow: UnitOfWork) -> None:
        """Extra checks beyond `permission` (called inside the unit of work)."""

    def choices_query(self, session: Session, key: str) -> list[Choice]:
        raise ValidationError({"filters": f"{key} offers no choices."})

    # -- the shared machinery -----------------------------------------------------------------

    def page(self, actor: Actor, query: ListQuery) -> Page[Row]:
        check_window(query)
        with self.ctx.read(actor, self.permission) as uow:
            self.authorise(uow)
            query = self.resolve(uow.session, query)
            src = self.source()
            total = query.known_total
            if total is None and query.counted:
                total = self._total(uow.session, src, query)
            keys = self._sort_keys(query, src)
            # Near the end, read backwards: OFFSET must skip every row before the window, so the
            # last page of a million rows costs as much as reading them all unless it starts there.
            backwards = total is not None and total // 2 < query.offset < total
            offset, limit = query.offset, query.limit
            if backwards:
                assert total is not None
                end = min(query.offset + query.limit, total)
                offset, limit = total - end, end - query.offset
            # A deferred join: find the window's keys first — an index-only scan when an index
            # matches the filter and order — then read whole rows for those keys alone.
            window = self._filtered(select(src.primary_key).select_from(src.from_), query)
            window = window.order_by(*self._order(src, keys, reverse=backwards)).offset(offset).limit(limit)
            stmt = select(*self._labelled(src)).select_from(src.from_).where(src.primary_key.in_(window))
            rows = uow.session.execute(stmt.order_by(*self._order(src, keys, reverse=False))).mappings()
            return Page([self.record(row) for row in rows], total, query.offset)

    def fetch(self, session: Session, key: Any) -> Row | None:
        """One record by primary key, built exactly as the list builds it (scope and filters aside),
        inside the caller's unit of work — so a service returns what the grid would show."""
        src = self.source()
        stmt = select(*self._labelled(src)).select_from(src.from_).where(src.primary_key == key)
        row = session.execute(stmt).mappings().one_or_none()
        return None if row is None else self.record(row)

    def count(self, actor: Actor, query: ListQuery) -> int:
        with self.ctx.read(actor, self.permission) as uow:
            self.authorise(uow)
            return self._total(uow.session, self.source(), self.resolve(uow.session, query))

    def choices(self, actor: Actor, key: str) -> list[Choice]:
        with self.ctx.read(actor, self.permission) as uow:
            self.authorise(uow)
            return self.choices_query(uow.session, key)

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
        with self.ctx.read(actor, self.permission) as uow:
            self.authorise(uow)
            query = self.resolve(uow.session, query)
            src = self.source()
            total = self._total(uow.session, src, query)
            kinds = [self.spec.column(key).kind for key in keys]
            server = uow.session.get_bind().dialect.name == "postgresql"
            # On the server every value becomes CSV text in SQL; elsewhere (a snapshot) only text
            # does, and the rest is read typed and written as the server writes it (`_csv_formatter`).
            shape = _csv_text if server else _csv_typed
            texts = [
                shape(src.columns[key], kind).label(f"c{i}")
                for i, (key, kind) in enumerate(zip(keys, kinds, strict=True))
            ]
            stmt = self._filtered(select(*texts).select_from(src.from_), query)
            stmt = stmt.order_by(*self._order(src, self._sort_keys(query, src), reverse=False))
            if bom:
                out.write(UTF8_BOM)
            out.write(csv_header(self.spec.column(key).title for key in keys))
            if server:
                rows = self._copy_out(uow.session, stmt, out, total, progress, cancelled)
            else:
                rows = self._write_rows(uow.session, stmt, kinds, out, total, progress, cancelled)
            if progress is not None:
                progress(rows, rows)
            return rows

    def _copy_out(
        self,
        session: Session,
        stmt: Select[Any],
        out: IO[bytes],
        total: int,
        progress: ProgressFn | None,
        cancelled: CancelledFn | None,
    ) -> int:
        """The server's fast path: COPY formats and streams every row; returns the row count."""
        compiled = stmt.compile(
            dialect=session.get_bind().dialect, compile_kwargs={"render_postcompile": True}
        )
        raw = session.connection().connection.driver_connection
        written = 0
        with raw.cursor() as cursor:  # type: ignore[union-attr]
            copy_sql = f"COPY ({compiled.string}) TO STDOUT WITH (FORMAT csv)"
            with cursor.copy(copy_sql, compiled.params) as copy:
                # COPY hands over one row at a time: gather about a megabyte before each write,
                # cancel check and progress report, or the loop costs more than the server.
                pending = bytearray()
                for chunk in copy:
                    pending += chunk
                    if len(pending) >= _EXPORT_BUFFER:
                        written += self._flush(pending, out, cancelled)
                        if progress is not None:
                            progress(min(written, total), total)
                written += self._flush(pending, out, cancelled)
            return int(cursor.rowcount)

    def _write_rows(
        self,
        session: Session,
        stmt: Select[Any],
        kinds: Sequence[Kind],
        out: IO[bytes],
        total: int,
        progress: ProgressFn | None,
        cancelled: CancelledFn | None,
    ) -> int:
        """The portable path (SQLite snapshots): the same rows in the same order and the same bytes
        as COPY writes them; returns the row count."""
        writers = [_csv_formatter(kind, single=len(kinds) == 1) for kind in kinds]
        rows = 0
        pending = bytearray()
        for row in session.execute(stmt.execution_options(yield_per=_EXPORT_ROWS)):
            pending += ",".join([write(value) for write, value in zip(writers, row, strict=True)]).encode()
            pending += b"\n"
            rows += 1
            if len(pending) >= _EXPORT_BUFFER:
                self._flush(pending, out, cancelled)
                if progress is not None:
                    progress(min(rows, total), total)
        self._flush(pending, out, cancelled)
        return rows

    # -- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _flush(pending: bytearray, out: IO[bytes], cancelled: CancelledFn | None) -> int:
        """Write what is gathered; return its line count (rows, give or take quoted line breaks)."""
        if cancelled is not None and cancelled():
            raise ExportCancelled()
        out.write(pending)
        lines = pending.count(b"\n")
        pending.clear()
        return lines

    def _labelled(self, src: Source) -> list[ColumnElement[Any]]:
        exprs: list[ColumnElement[Any]] = [expr.label(key) for key, expr in src.columns.items()]
        exprs += [expr.label(key) for key, expr in src.extra.items() if key not in src.columns]
        return exprs

    def _filtered(self, stmt: Select[Any], query: ListQuery) -> Select[Any]:
        text = query.search.strip()
        if text:
            condition = self.search(text)
            if condition is not None:
                stmt = stmt.where(condition)
        for key, value in query.filters.items():
            if value is not None:
                stmt = stmt.where(self.filter(key, value))
        scope = self.scope(query)
        return stmt if scope is None else stmt.where(scope)

    def _total(self, session: Session, src: Source, query: ListQuery) -> int:
        matching = self._filtered(select(literal(1)).select_from(src.from_), query).subquery()
        return int(session.scalar(select(func.count()).select_from(matching)) or 0)

    def _sort_keys(self, query: ListQuery, src: Source) -> Sequence[SortKey]:
        sortable = {c.key for c in self.spec.columns if c.sortable} | set(src.sort)
        unknown = [k.key for k in query.sort if k.key not in sortable]
        if unknown:
            raise ValidationError({"sort": f"Cannot sort by {', '.join(unknown)}."})
        return query.sort or self.spec.default_sort

    @staticmethod
    def _order(src: Source, keys: Sequence[SortKey], *, reverse: bool) -> list[ColumnElement[Any]]:
        """ORDER BY for `keys` then the primary key; `reverse` gives the exact mirror order."""
        order: list[ColumnElement[Any]] = []
        for key in keys:
            column = src.sort_expression(key.key)
            descending = key.descending != reverse
            expr = column.desc() if descending else column.asc()
            if getattr(column, "nullable", True) is False:
                # No NULLS clause on a NOT NULL column: with one, PostgreSQL cannot walk an
                # ascending index backwards for a descending sort and sorts the whole table.
                order.append(expr)
            else:
                # NULLs sit at the end of the normal order, hence at the start of the mirror.
                order.append(expr.nulls_first() if reverse else expr.nulls_last())
        last_descending = bool(keys) and keys[-1].descending
        order.append(src.primary_key.desc() if last_descending != reverse else src.primary_key.asc())
        return order


def _csv_text(expr: ColumnElement[Any], kind: Kind) -> ColumnElement[Any]:
    """How a value appears in CSV: ISO 8601 UTC times, true/false, plain numbers, neutralised text."""
    if kind is Kind.DATETIME:
        return func.to_char(func.timezone("UTC", expr), 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
    if kind is Kind.DATE:
        return func.to_char(expr, "YYYY-MM-DD")
    if kind is Kind.BOOL:
        return case((expr.is_(None), None), (expr, "true"), else_="false")
    if kind.numeric:
        return expr
    return _neutralised(expr)


def _neutralised(expr: ColumnElement[Any]) -> ColumnElement[Any]:
    text = cast(expr, String)
    return case(
        (func.substr(text, 1, 1).in_(FORMULA_PREFIXES), literal("'") + text),
        else_=text,
    )


def _csv_typed(expr: ColumnElement[Any], kind: Kind) -> ColumnElement[Any]:
    """What the portable export reads: text as the server casts and neutralises it (JSON is stored
    as the server's text of it), every other kind as its typed value."""
    return _neutralised(expr) if kind is Kind.TEXT else expr


#: What makes COPY quote a text: the delimiter, quotes and line breaks.
_NEEDS_QUOTES: Final = re.compile(r'[,"\n\r]')


def _csv_formatter(kind: Kind, *, single: bool) -> Callable[[Any], str]:
    """How PostgreSQL's COPY (FORMAT csv) writes what `_csv_text` makes of a value of `kind`: NULL
    as nothing, times in UTC, numbers as the server prints them, text quoted only where needed.
    One function per column, picked once: an export calls it for every value."""

    def text(value: Any) -> str:
        if value is None:
            return ""
        written = str(value)
        # An empty text is quoted (NULL is the unquoted empty field); so is a lone `\.` in a
        # one-column file (it would read as the end-of-data marker).
        if not written or _NEEDS_QUOTES.search(written) or (single and written == "\\."):
            return '"' + written.replace('"', '""') + '"'
        return written

    def moment(value: dt.datetime | None) -> str:
        return "" if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def day(value: dt.date | None) -> str:
        return "" if value is None else value.isoformat()

    def flag(value: bool | None) -> str:
        return "" if value is None else "true" if value else "false"

    def number(value: Any) -> str:
        if value is None:
            return ""
        return format(value, "f") if isinstance(value, Decimal) else str(value)

    if kind is Kind.DATETIME:
        return moment
    if kind is Kind.DATE:
        return day
    if kind is Kind.BOOL:
        return flag
    return number if kind.numeric else text


def csv_quote(value: str) -> str:
    """RFC 4180 quoting for the header line (COPY quotes the data the same way)."""
    if any(ch in value for ch in ',"\r\n') or value.startswith(FORMULA_PREFIXES):
        return '"' + value.replace('"', '""') + '"'
    return value


def csv_header(titles: Iterable[str]) -> bytes:
    """The header line of an exported CSV: the column titles, quoted as the data is."""
    return (",".join(csv_quote(title) for title in titles) + "\n").encode()


def partial_path(target: Path) -> Path:
    """Where an export is written until it is complete (a cancelled or failed one leaves nothing)."""
    return target.with_name(target.name + ".part")


def write_file(target: Path, write: Callable[[IO[bytes]], T], cancelled: CancelledFn | None = None) -> T:
    """`write(stream)` into `<target>.part`, renamed to `target` only when complete: a cancelled
    or failed write leaves nothing behind, and an existing file stays as it was until then."""
    part = partial_path(target)
    try:
        with part.open("wb", buffering=_EXPORT_BUFFER) as out:
            result = write(out)
        if cancelled is not None and cancelled():  # cancelled after the last row: no file wanted
            raise ExportCancelled()
        part.replace(target)
    except OSError as exc:
        raise ServiceError(f"Could not write {target}: {exc.strerror or exc}.") from exc
    finally:
        part.unlink(missing_ok=True)
    return result


def export_csv_file(
    table: Table[Any],
    actor: Actor,
    query: ListQuery,
    target: Path,
    *,
    columns: Sequence[str] | None = None,
    bom: bool = False,
    progress: ProgressFn | None = None,
    cancelled: CancelledFn | None = None,
) -> int:
    """`table.export_csv` into a file (see `write_file`)."""
    return write_file(
        target,
        lambda out: table.export_csv(
            actor, query, out, columns=columns, bom=bom, progress=progress, cancelled=cancelled
        ),
        cancelled,
    )


def with_window(query: ListQuery, offset: int, limit: int, known_total: int | None) -> ListQuery:
    return replace(query, offset=offset, limit=limit, known_total=known_total)
