"""Importing order events (CSV or JSON Lines): the preview and the all-or-nothing commit, which also
recomputes the daily metrics of exactly the days the file touches, in the same transaction.

Each row of a file is one event of an order — it was placed (`pending`), `paid`, `refunded` or
`cancelled` — and `order_events` keeps one row per order that merges its events. The merge is
idempotent and does not depend on the order in which events arrive:

- `paid` sets the payment (amount, time, the shop day it counts on). A payment arriving after the
  refund fills in the payment and the order stays refunded.
- `refunded` (the row's amount is the refund) sets the refund; an order known only by its refund
  holds the refund's amount and time until its payment is known. A refund larger than the
  payment is refused.
- `pending` creates the order unpaid; arriving after the order moved on, it changes nothing.
- `cancelled` only ends a pending (or unknown) order: a paid order is refunded, not cancelled.
- The same event again changes nothing; the same status with other values, or an event naming
  another customer, channel or currency than the order has, is a problem of its row.

An order's values other than the payment (amount and time while it is unpaid) are those of its
latest event in its life (pending → cancelled or refunded), so that too does not depend on
arrival order. Order lines come with the paid or pending event; once an order has lines, other
lines are refused. `metadata` of the events that create or move an order forward is merged into
the order's (their keys win); an event that changes nothing leaves it alone.

Speed (a million rows in well under a minute): the file is read and checked in Python (the csv
module, `datetime.fromisoformat`, exact decimals) and merged in memory, a batch at a time, against
the stored orders the batch names. A commit writes each batch's new orders and their lines by
binary COPY while it reads the next batch, so the server and Python work at the same time; what
later rows changed, and stored orders moved forward, go by COPY into a staging table and one
UPDATE, which also checks (by `xmin`) that nobody changed them since they were read. Only the
touched days' metrics are recomputed (`db.metrics.refresh`).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import gc
import hashlib
import itertools
import json
import re
import zoneinfo
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

import psycopg
from psycopg.copy import QueuedLibpqWriter
from psycopg.types.json import set_json_dumps
from sqlalchemy import Connection, select, text
from sqlalchemy.orm import Session

from ecomdesk.db import metrics
from ecomdesk.db.catalog import DEFAULT_SETTINGS
from ecomdesk.db.models import SystemSetting
from ecomdesk.db.models.orders import OrderStatus
from ecomdesk.services import events
from ecomdesk.services.context import Actor, ServiceContext, UnitOfWork
from ecomdesk.services.errors import Conflict, ReadOnlyError, ValidationError
from ecomdesk.services.inventory import BadValue, normalise_sku, parse_money
from ecomdesk.services.inventory_import import (
    DELIMITER_NAMES,
    SAVE_AS,
    CancelledFn,
    ImportFileError,
    ImportProblem,
    ImportSteps,
    ProgressFn,
    RowAction,
    decode_text,
    header_positions,
    plural,
    problems_sentence,
    sniff_delimiter,
)
from ecomdesk.services.listing import SortKey
from ecomdesk.services.settings import KEYS
from ecomdesk.services.tables import Column, FilterKind, FilterSpec, Kind, TableSpec

REQUIRED_COLUMNS: Final = (
    "order_id", "customer_id", "channel", "amount", "currency", "status", "occurred_at"
)  # fmt: skip
OPTIONAL_COLUMNS: Final = ("lines", "metadata")
_COLUMNS: Final = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
#: Rows without a problem the result keeps for the preview grid (every row with one is kept), so a
#: million-row file does not fill the memory with rows nobody scrolls through.
PREVIEW_ROWS: Final = 5_000
MAX_ID: Final = 64
MAX_CHANNEL: Final = 50
MAX_SKU: Final = 64
#: Units of one order line: a typo guard far above any real order (the column holds 2³¹ - 1).
MAX_QUANTITY: Final = 1_000_000
#: File extensions read as JSON Lines (a file whose first character is `{` is read so too).
JSON_LINES_SUFFIXES: Final = (".jsonl", ".ndjson")
#: Rows per progress report, cancel check and lookup of the orders they name.
_BATCH: Final = 50_000
#: Statuses as plain text: what the database and COPY take (an enum member would be written by name).
PENDING: Final = OrderStatus.PENDING.value
PAID: Final = OrderStatus.PAID.value
REFUNDED: Final = OrderStatus.REFUNDED.value
CANCELLED: Final = OrderStatus.CANCELLED.value
_STATUSES: Final = frozenset((PENDING, PAID, REFUNDED, CANCELLED))
_LINE_KEYS: Final = ("sku", "quantity", "unit_price")
_LINE_KEY_SET: Final = frozenset(_LINE_KEYS)
#: At most this many values remembered per kind while reading (see `_Checker`).
_CACHE: Final = 200_000
#: Characters no identifier holds: so a list of them travels as one text, split by the server
#: (`_SEPARATOR`), much faster than as an array parameter.
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
_SEPARATOR: Final = "\x1f"
_JSON: Final = json.JSONDecoder()
_CUSTOMERS_SQL: Final = (
    "SELECT customer_id, first_paid_date FROM customers WHERE customer_id = ANY(string_to_array(%s, chr(31)))"
)

_Line = tuple[str, int, Decimal]


# -- results --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderImportRow:
    """One row of the file as the preview grid shows it: its values as they would be stored (None
    where a value could not be read), what the import does with it, and its problems."""

    line: int
    order_id: str
    customer_id: str
    channel: str
    amount: Decimal | None
    currency: str
    status: str
    occurred_at: dt.datetime | None
    #: How many order lines (items) the row gives.
    lines: int
    action: RowAction
    #: What the row changes, in words, e.g. "pending → paid, amount 20.00 → 21.50".
    changes: str
    #: This row's problems, "column: message" joined with "; " ("" when the row is fine).
    problems: str

    @property
    def action_label(self) -> str:
        return self.action.label


@dataclass(frozen=True)
class OrderImportResult:
    file_name: str
    #: Every row with a problem, and the first `PREVIEW_ROWS` others.
    rows: list[OrderImportRow]
    problems: list[ImportProblem]
    total_rows: int
    created: int
    #: Rows that moved an existing order forward (pending → paid, paid → refunded, a payment
    #: after its refund, lines added).
    updated: int
    unchanged: int
    #: Shop days whose metrics were (or, in a preview, would be) recomputed.
    days: int
    committed: bool
    dry_run: bool

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def summary(self) -> str:
        """One sentence for a status line or a terminal."""
        if self.problems:
            return problems_sentence(self.problems, dry_run=self.dry_run)
        recomputed = "would be recomputed" if self.dry_run else "recomputed"
        return (
            f"{self.total_rows:,} {plural(self.total_rows, 'row')}: {self.created:,} new, "
            f"{self.updated:,} changed, {self.unchanged:,} unchanged; metrics of {self.days:,} "
            f"{plural(self.days, 'day')} {recomputed}."
        )


class OrdersRejected(ValidationError):
    """The commit was refused because rows have problems; nothing was written. `result` holds
    every problem, as a preview would."""

    def __init__(self, result: OrderImportResult) -> None:
        self.result = result
        super().__init__({"file": result.summary}, result.summary)


#: The preview grid's columns (a `RowsTable` over `OrderImportResult.rows`).
ORDER_IMPORT_SPEC: Final = TableSpec(
    name="orders-import-rows",
    title="Rows",
    singular="row",
    plural="rows",
    columns=(
        Column("line", "Line", Kind.INTEGER),
        Column("action_label", "Action"),
        Column("order_id", "Order"),
        Column("customer_id", "Customer"),
        Column("channel", "Channel"),
        Column("status", "Status"),
        Column("amount", "Amount", Kind.MONEY),
        Column("currency", "Currency", shown=False),
        Column("occurred_at", "Time", Kind.DATETIME),
        Column("lines", "Items", Kind.INTEGER),
        Column("changes", "Changes"),
        Column("problems", "Problems"),
    ),
    default_sort=(SortKey("line"),),
    filters=(
        FilterSpec("problems", "Problems", FilterKind.FLAG, ("Problems only", "No problems")),
        FilterSpec("action_label", "Action", FilterKind.CHOICE),
        FilterSpec("status", "Status", FilterKind.CHOICE),
        FilterSpec("channel", "Channel", FilterKind.CHOICE),
    ),
    search_hint="Search order, customer, channel",
)
#: The record attributes the preview grid's search box looks in.
ORDER_IMPORT_SEARCH: Final = ("order_id", "customer_id", "channel", "changes", "problems")


# -- the shop's settings --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Shop:
    currency: str
    zone: zoneinfo.ZoneInfo


def _shop(session: Session) -> _Shop:
    """The shop's currency and time zone as the settings say now (defaults when never set)."""
    keys = (KEYS["currency"], KEYS["timezone"])
    query = select(SystemSetting.key, SystemSetting.value).where(SystemSetting.key.in_(keys))
    stored: dict[str, Any] = {key: value for key, value in session.execute(query)}
    currency, zone = (stored.get(key) for key in keys)
    if not isinstance(currency, str):
        currency = str(DEFAULT_SETTINGS[KEYS["currency"]])
    if not isinstance(zone, str):
        zone = str(DEFAULT_SETTINGS[KEYS["timezone"]])
    return _Shop(currency, zoneinfo.ZoneInfo(zone))


# -- reading and checking the file ----------------------------------------------------------------


@dataclass(slots=True)
class _Event:
    """One row of the file on its way through the import (the merge fills in the action)."""

    line: int
    order_id: str
    customer_id: str
    channel: str
    currency: str
    status: str
    amount: Decimal | None
    occurred_at: dt.datetime | None
    #: The shop day of `occurred_at`.
    day: dt.date | None
    lines: tuple[_Line, ...] | None
    meta: dict[str, Any] | None
    #: Messages by column, "" for the line as a whole.
    problems: dict[str, str]
    action: RowAction = RowAction.INVALID
    changes: str = ""

    def public(self) -> OrderImportRow:
        problems = ""
        if self.problems:
            problems = "; ".join(f"{c}: {m}" if c else m for c, m in _ordered(self.problems))
        return OrderImportRow(
            self.line, self.order_id, self.customer_id, self.channel, self.amount, self.currency,
            self.status, self.occurred_at, len(self.lines or ()), self.action, self.changes, problems,
        )  # fmt: skip


def _ordered(problems: dict[str, str]) -> Iterator[tuple[str | None, str]]:
    """The line's own problem first, then by column in the file format's order."""
    if "" in problems:
        yield None, problems[""]
    for column in _COLUMNS:
        if column in problems:
            yield column, problems[column]


class _Checker:
    """The field rules, applied to one row at a time; the same for CSV and JSON Lines.

    A million rows repeat the same customers, channels, days, amounts and item prices many times
    over, so what was read once is remembered: a third less time per row, and one object for each
    repeated value instead of one per row."""

    def __init__(self, shop: _Shop, *, decimal_comma: bool = False) -> None:
        self.currency = shop.currency
        self.zone = shop.zone
        self.decimal_comma = decimal_comma
        #: One string object per customer, channel and SKU, however many rows repeat it.
        self.names: dict[str, str] = {}
        self.channels: dict[str, str] = {}
        self.skus: dict[str, str] = {}
        #: One date object per shop day (a million orders fall on a few thousand days).
        self.days: dict[dt.date, dt.date] = {}
        #: Amounts read before: the cell's text, or a JSON number, → the amount.
        self.money: dict[Any, Decimal] = {}

    def check(
        self,
        line: int,
        order_id: str,
        customer_id: str,
        channel: str,
        amount_text: str,
        currency: str,
        status: str,
        occurred_text: str,
        lines: Any,
        meta: Any,
        problems: dict[str, str],
    ) -> _Event:
        order_id = _identifier(order_id, "order_id", MAX_ID, problems)
        customer_id = _identifier(customer_id, "customer_id", MAX_ID, problems)
        customer_id = self.names.setdefault(customer_id, customer_id)
        known = self.channels.get(channel)
        if known is None:
            known = _identifier(channel.lower(), "channel", MAX_CHANNEL, problems)
            if "channel" not in problems:
                self.channels[channel] = known
        channel = known
        status = status.strip().lower()
        if status not in _STATUSES:
            problems["status"] = "Use paid, refunded, pending or cancelled." if status else "Required."
        amount: Decimal | None = None
        try:
            amount = self.amount(amount_text)
        except BadValue as exc:
            problems.setdefault("amount", str(exc))
        if amount is not None and not amount and status == REFUNDED:
            problems["amount"] = "A refund's amount is more than 0.00."
        currency = currency.strip().upper()
        if currency != self.currency:
            problems.setdefault(
                "currency",
                f"The shop's currency is {self.currency}; this order is in {currency}. Orders in another "
                "currency are not imported."
                if currency
                else f"Required: the shop's currency, {self.currency}.",
            )
        occurred_at, day = self._moment(occurred_text, problems)
        order_lines = None if lines is None else self._lines(lines, problems)
        if order_lines and status in (REFUNDED, CANCELLED):
            problems.setdefault(
                "lines",
                "Give an order's items with its paid or pending row; a refund or a cancellation has none.",
            )
        if meta is not None and (not isinstance(meta, dict) or "\\u0000" in json.dumps(meta)):
            problems.setdefault(
                "metadata",
                'A JSON object, e.g. {"campaign": "spring"}.'
                if not isinstance(meta, dict)
                else "Must not contain a NUL character (\\u0000).",
            )
            meta = None
        return _Event(
            line, order_id, customer_id, channel, currency, status, amount, occurred_at, day,
            order_lines, meta or None, problems,
        )  # fmt: skip

    def amount(self, value: Any) -> Decimal:
        """A cell's text or a JSON number as money (`services.inventory.parse_money`'s rules)."""
        if type(value) is not bool:  # True == 1: never read from the cache
            known = self.money.get(value)
            if known is not None:
                return known
        text_ = _scalar(value)
        if text_ is None:
            raise BadValue("Enter an amount like 12.50 (digits, a point, at most two decimals).")
        amount = parse_money(text_, decimal_comma=self.decimal_comma)
        if len(self.money) < _CACHE:
            self.money[value] = amount
        return amount

    def _moment(self, value: str, problems: dict[str, str]) -> tuple[dt.datetime | None, dt.date | None]:
        value = value.strip()
        if not value:
            problems.setdefault("occurred_at", "Required.")
            return None, None
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            problems.setdefault(
                "occurred_at", "Use an ISO 8601 time with its offset, e.g. 2026-03-01T10:15:00+01:00."
            )
            return None, None
        if moment.tzinfo is None:
            problems.setdefault("occurred_at", "Add the time zone offset, e.g. +01:00 or Z.")
            return None, None
        try:
            day = metrics.shop_day(moment, self.zone)
        except OverflowError:
            problems.setdefault("occurred_at", "This time is out of range.")
            return None, None
        return moment, self.days.setdefault(day, day)

    def _lines(self, value: Any, problems: dict[str, str]) -> tuple[_Line, ...] | None:
        """The items of an order from the parsed `lines` value (None when it has none)."""
        if value == []:
            return None
        if not isinstance(value, list):
            problems.setdefault("lines", 'A JSON array of {"sku", "quantity", "unit_price"} objects.')
            return None
        items: list[_Line] = []
        messages: list[str] = []
        skus = self.skus
        for n, item in enumerate(value, start=1):
            if type(item) is not dict or item.keys() != _LINE_KEY_SET:
                messages.append(_item_shape(n, item))
                continue
            sku, quantity = item["sku"], item["quantity"]
            if type(sku) is str:
                known = skus.get(sku)
                if known is None:
                    known = normalise_sku(sku)
                    if len(skus) < _CACHE:
                        skus[sku] = known
                sku = known
            if type(quantity) is str and quantity.strip().isdigit():
                quantity = int(quantity)
            if type(sku) is not str or not 0 < len(sku) <= MAX_SKU or _CONTROL.search(sku):
                messages.append(
                    f"Item {n}: the sku is text of 1 to {MAX_SKU} characters, without tabs or line breaks."
                )
            elif type(quantity) is not int or not 0 < quantity <= MAX_QUANTITY:
                messages.append(f"Item {n}: the quantity is a whole number from 1 to {MAX_QUANTITY:,}.")
            else:
                try:
                    items.append((sku, quantity, self.amount(item["unit_price"])))
                except BadValue as exc:
                    messages.append(f"Item {n}: unit_price: {exc}")
        if messages:
            problems.setdefault("lines", " ".join(messages[:3]) + (" …" if len(messages) > 3 else ""))
            return None
        return tuple(items)


def _item_shape(n: int, item: Any) -> str:
    """What is wrong with an item that is not an object of sku, quantity and unit_price."""
    if not isinstance(item, dict):
        return f"Item {n} is not an object with sku, quantity and unit_price."
    missing = [key for key in _LINE_KEYS if key not in item]
    unknown = sorted(set(item) - _LINE_KEY_SET)
    parts = [f"no {', '.join(missing)}"] if missing else []
    parts += [f"unknown {', '.join(unknown)}"] if unknown else []
    return f"Item {n} has {' and '.join(parts)} (expected sku, quantity, unit_price)."


def _identifier(value: str, key: str, limit: int, problems: dict[str, str]) -> str:
    value = value.strip()
    if not 0 < len(value) <= limit or _CONTROL.search(value):
        if not value:
            problems.setdefault(key, "Required.")
        elif len(value) > limit:
            problems.setdefault(key, f"At most {limit} characters.")
        else:  # a tab, a line break, a JSON "\u0000" (text in the database cannot hold that)
            problems.setdefault(key, "Must not contain control characters (tabs, line breaks).")
    return value


def _scalar(value: Any) -> str | None:
    """A JSON value as the text a CSV cell would hold (numbers as written, text as is, nothing as
    empty); None for a value no cell holds (true, a list, an object)."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return "" if value is None else None


def _json_cell(value: str, key: str, problems: dict[str, str]) -> Any:
    """A CSV cell holding JSON (`lines`, `metadata`): the parsed value, None when empty."""
    if not value or value.isspace():
        return None
    try:  # the common case without the checks for surrounding white space
        parsed, end = _JSON.raw_decode(value)
        if end == len(value):
            return parsed
    except json.JSONDecodeError:
        pass
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        problems[key] = f"Not valid JSON: {_json_error(exc, 'character', exc.pos + 1)}."
        return None


def _json_error(exc: json.JSONDecodeError, unit: str, position: int) -> str:
    """ "Expecting value at character 1", "Unterminated string starting at column 21"."""
    at = "" if exc.msg.endswith(" at") else " at"
    return f"{exc.msg}{at} {unit} {position}"


def _csv_events(text_: str, shop: _Shop) -> Iterator[_Event]:
    delimiter = sniff_delimiter(text_)
    checker = _Checker(shop, decimal_comma=delimiter != ",")
    reader = csv.reader(_lines_of(text_), delimiter=delimiter)
    try:
        header = next(reader, None)
        while header is not None and not any(cell.strip() for cell in header):
            header = next(reader, None)  # blank lines above the header
        if header is None:
            raise ImportFileError("The file is empty.")
        columns = header_positions(header, REQUIRED_COLUMNS, OPTIONAL_COLUMNS)
        width = len(header)
        o, c, ch, a, cu, s, t = (columns[name] for name in REQUIRED_COLUMNS)
        li, me = columns.get("lines"), columns.get("metadata")
        check = checker.check
        last_line = reader.line_num
        for cells in reader:
            line, last_line = last_line + 1, reader.line_num
            if not (cells and cells[0] and not cells[0].isspace()) and not any(c.strip() for c in cells):
                continue  # a blank line, or a spreadsheet row with nothing in it
            problems: dict[str, str] = {}
            if len(cells) != width:
                problems[""] = (
                    f"This line has {len(cells)} cells but the header has {width}: look for a stray "
                    f"{DELIMITER_NAMES[delimiter]} or a missing quote. The line was not checked further."
                )
                cells = [*cells, *([""] * width)][:width]
                yield _Event(
                    line, cells[o].strip(), cells[c].strip(), cells[ch].strip().lower(), cells[cu].strip(),
                    cells[s].strip().lower(), None, None, None, None, None, problems,
                )  # fmt: skip
                continue
            lines = None if li is None else _json_cell(cells[li], "lines", problems)
            meta = None if me is None else _json_cell(cells[me], "metadata", problems)
            yield check(
                line, cells[o], cells[c], cells[ch], cells[a], cells[cu], cells[s], cells[t], lines, meta,
                problems,
            )  # fmt: skip
    except csv.Error as exc:
        raise ImportFileError(f"Line {reader.line_num} cannot be read as CSV ({exc}). {SAVE_AS}") from None


def _json_lines_events(text_: str, shop: _Shop) -> Iterator[_Event]:
    checker = _Checker(shop)
    # Split on line feeds only: JSON text may hold other line separators (U+2028) inside strings.
    for line, raw_line in enumerate(_lines_of(text_, "\n"), start=1):
        raw = raw_line.rstrip("\r\n")
        if not raw or raw.isspace():
            continue
        problems: dict[str, str] = {}
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            problems[""] = f"This line is not a JSON object: {_json_error(exc, 'column', exc.colno)}."
            yield _Event(line, "", "", "", "", "", None, None, None, None, None, problems)
            continue
        if not isinstance(value, dict):
            problems[""] = f"This line is a JSON {type(value).__name__}, not an object."
            yield _Event(line, "", "", "", "", "", None, None, None, None, None, problems)
            continue
        unknown = sorted(key for key in value if key not in _COLUMNS)
        if unknown:
            problems[""] = (
                f"Unknown keys: {', '.join(unknown)}. Expected: {', '.join(REQUIRED_COLUMNS)}, and "
                f"optionally {', '.join(OPTIONAL_COLUMNS)}."
            )
        cells: list[str] = []
        for key in REQUIRED_COLUMNS:
            cell = _scalar(value.get(key))
            if cell is None:
                problems[key] = "Give a text or a number."
            cells.append(cell or "")
        lines, meta = value.get("lines"), value.get("metadata")
        # JSON held in a string, as the CSV columns hold it, reads too.
        if isinstance(lines, str):
            lines = _json_cell(lines, "lines", problems)
        if isinstance(meta, str):
            meta = _json_cell(meta, "metadata", problems)
        o, c, ch, a, cu, s, t = cells
        yield checker.check(line, o, c, ch, a, cu, s, t, lines, meta, problems)


def _lines_of(text_: str, end: str | None = None) -> Iterator[str]:
    """The lines of `text_`, each with its line break, one at a time: `io.StringIO` would first copy
    the whole text into four bytes a character (700 MB for a million orders). Lines end at line
    feeds, or at carriage returns in a file with no line feed (Excel's "CSV (Macintosh)")."""
    if end is None:
        end = "\n" if "\n" in text_ or "\r" not in text_ else "\r"
    find, start, size = text_.find, 0, len(text_)
    while start < size:
        stop = find(end, start) + 1 or size
        yield text_[start:stop]
        start = stop


def _events(data: bytes, file_name: str, shop: _Shop, steps: ImportSteps) -> Iterator[_Event]:
    """Every data row of the file, checked on its own; JSON Lines by extension or by content."""
    text_ = decode_text(data)
    # An estimate until the end (exact unless quoted cells hold line breaks).
    steps.expect(text_.count("\n"))
    if file_name.lower().endswith(JSON_LINES_SUFFIXES) or text_.lstrip().startswith("{"):
        return _json_lines_events(text_, shop)
    return _csv_events(text_, shop)


# -- merging with the orders already known -------------------------------------------------------

_ORDERS_SQL: Final = """
SELECT order_id, xmin::text, customer_id, channel, currency, status, amount, occurred_at, paid_date,
       refund_amount, refunded_at, refund_date
FROM order_events WHERE order_id = ANY(string_to_array(%s, chr(31)))
"""
_LINES_SQL: Final = """
SELECT order_id, sku, quantity, unit_price FROM order_lines
WHERE order_id = ANY(string_to_array(%s, chr(31))) ORDER BY order_id, line_no
"""


class _Order:
    """An order as the merge sees it: as stored (or new), with every accepted event applied."""

    __slots__ = (
        "amount", "channel", "currency", "customer_id", "dirty", "inserted", "lines", "lines_checked",
        "lines_line", "lines_new", "meta", "occurred_at", "old_paid_date", "old_refund_date", "order_id",
        "paid_date", "paid_line", "refund_amount", "refund_date", "refund_line", "refunded_at", "source",
        "status", "touched", "xmin",
    )  # fmt: skip

    def __init__(
        self,
        order_id: str,
        customer_id: str,
        channel: str,
        currency: str,
        status: str,
        amount: Decimal,
        occurred_at: dt.datetime,
        *,
        xmin: str | None = None,
        source: int | None = None,
    ) -> None:
        self.order_id = order_id
        self.customer_id = customer_id
        self.channel = channel
        self.currency = currency
        self.status = status
        self.amount = amount
        self.occurred_at = occurred_at
        self.paid_date: dt.date | None = None
        self.refund_amount: Decimal | None = None
        self.refunded_at: dt.datetime | None = None
        self.refund_date: dt.date | None = None
        self.old_paid_date: dt.date | None = None
        self.old_refund_date: dt.date | None = None
        #: The database's row version when read; None for an order this file creates.
        self.xmin = xmin
        #: The line that created the order, the one that gave its payment and its refund (None:
        #: the database), for messages that say where a conflicting value came from.
        self.source = source
        self.paid_line: int | None = source
        self.refund_line: int | None = source
        #: Whether `lines` are known: a stored order's are read only when an event gives items.
        self.lines_checked = True
        self.lines: tuple[_Line, ...] | None = None
        self.lines_line: int | None = None
        self.lines_new = False
        #: Created or moved forward by this file.
        self.touched = False
        #: Changed since written (or never written); `inserted`: its row was written by this import.
        self.dirty = False
        self.inserted = False
        #: Metadata to merge into the stored (None: none; most orders have none).
        self.meta: dict[str, Any] | None = None

    @property
    def stored(self) -> bool:
        return self.xmin is not None


#: Words for an event's amount and time in a message: "Order A-7 was paid 20.00 (line 4); …".
_WAS: Final = {
    PAID: ("paid", "paid at"),
    REFUNDED: ("refunded", "refunded at"),
    PENDING: ("placed for", "placed at"),
    CANCELLED: ("cancelled with an amount of", "cancelled at"),
}


def _where(line: int | None) -> str:
    return "already imported" if line is None else f"line {line}"


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def _moment(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat()


class _Merge:
    """Applies the file's events, in file order, to the orders they name."""

    def __init__(self, session: Session, *, streaming: bool) -> None:
        self.raw: psycopg.Connection[Any] = session.connection().connection.driver_connection  # type: ignore[assignment]
        self.orders: dict[str, _Order] = {}
        #: Orders created since the writer last took them (None: nothing is written meanwhile).
        self.fresh: list[_Order] | None = [] if streaming else None
        self.kept: list[OrderImportRow] = []
        self.problems: list[ImportProblem] = []
        self.others_kept = 0
        self.total = 0
        self.counts = dict.fromkeys(RowAction, 0)

    # -- batches --

    def feed(self, batch: list[_Event]) -> None:
        self._look_up(batch)
        for event in batch:
            if not event.problems:
                self._apply(event)
            if event.problems:
                event.action = RowAction.INVALID
                self.problems.extend(
                    ImportProblem(event.line, column, message) for column, message in _ordered(event.problems)
                )
                self.kept.append(event.public())
            elif self.others_kept < PREVIEW_ROWS:
                self.others_kept += 1
                self.kept.append(event.public())
            self.counts[event.action] += 1
        self.total += len(batch)

    def _look_up(self, batch: list[_Event]) -> None:
        """Read the stored orders this batch names that the merge does not hold yet, and the items
        of those the batch gives items for."""
        orders = self.orders
        wanted = list({e.order_id for e in batch if not e.problems and e.order_id not in orders})
        with self.raw.cursor() as cursor:
            if wanted:
                cursor.execute(_ORDERS_SQL, (_SEPARATOR.join(wanted),))
                for row in cursor.fetchall():
                    order = _Order(*row[:1], *row[2:8], xmin=row[1])
                    order.paid_date = order.old_paid_date = row[8]
                    order.refund_amount, order.refunded_at = row[9], row[10]
                    order.refund_date = order.old_refund_date = row[11]
                    order.lines_checked = False
                    orders[order.order_id] = order
            unchecked = list(
                {
                    e.order_id
                    for e in batch
                    if e.lines and not e.problems and e.order_id in orders
                    and not orders[e.order_id].lines_checked
                }
            )  # fmt: skip
            if unchecked:
                found: dict[str, list[_Line]] = {}
                cursor.execute(_LINES_SQL, (_SEPARATOR.join(unchecked),))
                for order_id, sku, quantity, price in cursor.fetchall():
                    found.setdefault(order_id, []).append((sku, quantity, price))
                for order_id in unchecked:
                    order = orders[order_id]
                    order.lines = tuple(found[order_id]) if order_id in found else None
                    order.lines_checked = True

    # -- one event --

    def _apply(self, e: _Event) -> None:
        order = self.orders.get(e.order_id)
        if order is None:
            self._create(e)
            return
        p = e.problems
        for key, label, known, given in (
            ("customer_id", "customer", order.customer_id, e.customer_id),
            ("channel", "channel", order.channel, e.channel),
            ("currency", "currency", order.currency, e.currency),
        ):
            if known != given:
                where = _where(order.source)
                p[key] = f"Order {e.order_id} has {label} {known} ({where}); this row says {given}."
        if p:
            return
        assert e.amount is not None and e.occurred_at is not None
        status = order.status
        changes: list[str] = []
        if e.status == PAID:
            if status == CANCELLED:
                p["status"] = (
                    f"Order {e.order_id} was cancelled ({_where(order.source)}); a cancelled order "
                    "cannot be paid."
                )
            elif order.paid_date is not None:
                self._same(e, order.amount, order.occurred_at, order.paid_line)
            elif status == PENDING:
                changes.append("pending → paid")
                if order.amount != e.amount:
                    changes.append(f"amount {_money(order.amount)} → {_money(e.amount)}")
            else:  # refunded, the payment not known yet
                assert order.refund_amount is not None
                if order.refund_amount > e.amount:
                    p["amount"] = (
                        f"The refund of order {e.order_id} is {_money(order.refund_amount)} "
                        f"({_where(order.refund_line)}), more than this payment of {_money(e.amount)}."
                    )
                changes.append(f"payment of {_money(e.amount)} added to the refunded order")
            lines_change = self._lines(e, order)
            if p:
                return
            if changes:
                if status == PENDING:
                    order.status = PAID
                order.amount, order.occurred_at, order.paid_date = e.amount, e.occurred_at, e.day
                order.paid_line = e.line
            changes += lines_change
        elif e.status == PENDING:
            if status == PENDING:
                self._same(e, order.amount, order.occurred_at, order.source)
            else:
                e.changes = f"an earlier event: the order is {status} already"
            changes += self._lines(e, order)
        elif e.status == CANCELLED:
            if status == PENDING:
                changes.append("pending → cancelled")
                order.status, order.amount, order.occurred_at = CANCELLED, e.amount, e.occurred_at
            elif status == CANCELLED:
                self._same(e, order.amount, order.occurred_at, order.source)
            else:
                p["status"] = (
                    f"Order {e.order_id} is {status} ({_where(order.paid_line)}); a paid order is refunded, "
                    "not cancelled."
                )
        else:  # refunded
            if status == CANCELLED:
                p["status"] = (
                    f"Order {e.order_id} was cancelled ({_where(order.source)}), so it was never paid and "
                    "cannot be refunded."
                )
            elif status == REFUNDED:
                assert order.refund_amount is not None and order.refunded_at is not None
                self._same(e, order.refund_amount, order.refunded_at, order.refund_line)
            elif status == PAID and e.amount > order.amount:
                p["amount"] = (
                    f"This refund of {_money(e.amount)} is more than the {_money(order.amount)} paid for "
                    f"order {e.order_id} ({_where(order.paid_line)})."
                )
            else:
                changes.append(f"{status} → refunded, refund {_money(e.amount)}")
                if status == PENDING:  # the order's latest event is the refund now
                    order.amount, order.occurred_at = e.amount, e.occurred_at
                order.status = REFUNDED
                order.refund_amount, order.refunded_at, order.refund_date = e.amount, e.occurred_at, e.day
                order.refund_line = e.line
        if p or not changes:
            if not p:
                e.action = RowAction.UNCHANGED
            return
        e.action = RowAction.UPDATE
        e.changes = ", ".join(changes)
        order.touched = order.dirty = True
        if e.meta:
            order.meta = {**(order.meta or {}), **e.meta}

    @staticmethod
    def _same(e: _Event, amount: Decimal, moment: dt.datetime, where: int | None) -> None:
        """The event's status was applied before (on line `where`): the same values, else a
        problem naming each value that differs."""
        assert e.amount is not None and e.occurred_at is not None
        for_amount, for_time = _WAS[e.status]
        if amount != e.amount:
            e.problems["amount"] = (
                f"Order {e.order_id} was {for_amount} {_money(amount)} ({_where(where)}); "
                f"this row says {_money(e.amount)}."
            )
        if moment != e.occurred_at:
            e.problems["occurred_at"] = (
                f"Order {e.order_id} was {for_time} {_moment(moment)} ({_where(where)}); "
                f"this row says {_moment(e.occurred_at)}."
            )

    def _lines(self, e: _Event, order: _Order) -> list[str]:
        """The event's items against the order's: none yet → they are added; other ones → a problem."""
        if not e.lines:
            return []
        assert order.lines_checked
        if order.lines is None:
            if e.problems:
                return []
            order.lines, order.lines_new, order.lines_line = e.lines, True, e.line
            return [f"{len(e.lines)} {plural(len(e.lines), 'item')} added"]
        if order.lines != e.lines:
            e.problems["lines"] = (
                f"Order {e.order_id} has other items ({_where(order.lines_line)}): "
                f"{_describe(order.lines or ())}; this row gives {_describe(e.lines)}."
            )
        return []

    def _create(self, e: _Event) -> None:
        assert e.amount is not None and e.occurred_at is not None
        order = _Order(
            e.order_id, e.customer_id, e.channel, e.currency, e.status, e.amount, e.occurred_at, source=e.line
        )
        if e.status == PAID:
            order.paid_date = e.day
        elif e.status == REFUNDED:
            order.refund_amount, order.refunded_at, order.refund_date = e.amount, e.occurred_at, e.day
        if e.lines:
            order.lines, order.lines_new, order.lines_line = e.lines, True, e.line
        order.meta = e.meta
        order.touched = order.dirty = True
        self.orders[e.order_id] = order
        if self.fresh is not None:
            self.fresh.append(order)
        e.action = RowAction.CREATE

    # -- what the merge comes to --

    def touched(self) -> list[_Order]:
        return [order for order in self.orders.values() if order.touched]

    def dirty(self) -> list[_Order]:
        return [order for order in self.orders.values() if order.dirty]

    def result(self, file_name: str, days: int, *, committed: bool, dry_run: bool) -> OrderImportResult:
        counts = self.counts
        return OrderImportResult(
            file_name,
            self.kept,
            self.problems,
            total_rows=self.total,
            created=counts[RowAction.CREATE],
            updated=counts[RowAction.UPDATE],
            unchanged=counts[RowAction.UNCHANGED],
            days=days,
            committed=committed,
            dry_run=dry_run,
        )


def _describe(lines: Sequence[_Line]) -> str:
    shown = ", ".join(f"{quantity} × {sku} at {_money(price)}" for sku, quantity, price in lines[:3])
    return shown + (f" and {len(lines) - 3} more" if len(lines) > 3 else "")


def _merge(
    session: Session, data: bytes, file_name: str, steps: ImportSteps, writer: _Writer | None = None
) -> _Merge:
    """Read, check and merge the whole file, a batch at a time. With a `writer` (a commit), each
    batch's new orders are written while the next batch is read, as long as no row has a problem."""
    shop = _shop(session)
    merge = _Merge(session, streaming=writer is not None)
    events = _events(data, file_name, shop, steps)

    def read(rows: int) -> list[_Event]:
        return list(itertools.islice(events, rows))

    batch = read(_BATCH)
    while batch:
        merge.feed(batch)
        steps.at(merge.total)
        if writer is not None and merge.fresh and not merge.problems:
            fresh, merge.fresh = merge.fresh, []
            batch = writer.insert(fresh, read)
        else:
            if merge.fresh:
                merge.fresh = []  # a problem: nothing will be written
            batch = read(_BATCH)
    if not merge.total:
        raise ImportFileError("The file has no rows to import.")
    steps.expect(merge.total)
    return merge


def _touched(changed: Iterable[_Order]) -> tuple[set[dt.date], set[str]]:
    """The shop days whose figures the changed orders move, and the customers whose first paid
    day may move (those of new orders and of new payments)."""
    days: set[dt.date | None] = set()
    customers: set[str] = set()
    for order in changed:
        if order.paid_date != order.old_paid_date:
            days.add(order.paid_date)
            days.add(order.old_paid_date)
            customers.add(order.customer_id)
        elif not order.stored:
            customers.add(order.customer_id)
        if order.refund_date != order.old_refund_date:
            days.add(order.refund_date)
            days.add(order.old_refund_date)
    days.discard(None)
    return days, customers  # type: ignore[return-value]  # None was taken out


def _days_to_recompute(session: Session, changed: list[_Order]) -> set[dt.date]:
    """What `metrics.refresh` would recompute, without writing: the touched days, and the days a
    customer's first paid day moves from and to. Imports never change a stored payment, so a
    customer's first paid day can only move earlier (or appear)."""
    days, customers = _touched(changed)
    if not customers:
        return days
    firsts: dict[str, dt.date | None] = {}
    for order in changed:
        if order.paid_date is not None and order.paid_date != order.old_paid_date:
            known = firsts.get(order.customer_id)
            firsts[order.customer_id] = order.paid_date if known is None else min(known, order.paid_date)
    raw: psycopg.Connection[Any] = session.connection().connection.driver_connection  # type: ignore[assignment]
    with raw.cursor() as cursor:
        cursor.execute(_CUSTOMERS_SQL, (_SEPARATOR.join(firsts),))
        stored: dict[str, dt.date | None] = dict(cursor.fetchall())
    for customer_id, first in firsts.items():
        old = stored.get(customer_id)
        new = first if old is None or first is None else min(old, first)
        if new != old:
            days.update(day for day in (old, new) if day is not None)
    return days


# -- writing --------------------------------------------------------------------------------------

_ORDER_FIELDS: Final = (
    "order_id, customer_id, channel, currency, status, amount, occurred_at, paid_date, refund_amount,"
    " refunded_at, refund_date, created_at, updated_at"
)
#: Binary COPY spares the server parsing numbers, times and dates from text. Most files carry no
#: metadata: then the column is left to its default, which spares dumping "{}" a million times.
_COPY_ORDERS_SQL: Final = f"COPY order_events ({_ORDER_FIELDS}) FROM STDIN (FORMAT BINARY)"
_COPY_ORDERS_META_SQL: Final = f"COPY order_events ({_ORDER_FIELDS}, metadata) FROM STDIN (FORMAT BINARY)"
_ORDER_TYPES: Final = (
    "text", "text", "text", "text", "text", "numeric", "timestamptz", "date", "numeric", "timestamptz",
    "date", "timestamptz", "timestamptz",
)  # fmt: skip
_COPY_LINES_SQL: Final = "COPY order_lines (order_id, line_no, sku, quantity, unit_price) FROM STDIN"
_STAGE_SQL: Final = """
CREATE TEMPORARY TABLE order_changes (
    order_id text PRIMARY KEY,
    row_version xid,
    status text NOT NULL,
    amount numeric(14, 2) NOT NULL,
    occurred_at timestamptz NOT NULL,
    paid_date date,
    refund_amount numeric(14, 2),
    refunded_at timestamptz,
    refund_date date,
    metadata jsonb NOT NULL
) ON COMMIT DROP
"""
#: Changed orders take the merged values; `xmin` proves nobody changed a stored one since it was
#: read (`row_version` is NULL for the orders this import wrote itself).
_UPDATE_SQL: Final = """
UPDATE order_events AS o SET
    status = c.status, amount = c.amount, occurred_at = c.occurred_at, paid_date = c.paid_date,
    refund_amount = c.refund_amount, refunded_at = c.refunded_at, refund_date = c.refund_date,
    metadata = o.metadata || c.metadata, updated_at = %(now)s
FROM order_changes AS c
WHERE o.order_id = c.order_id AND (c.row_version IS NULL OR o.xmin = c.row_version)
"""
_RACE: Final = (
    "Someone else imported some of these orders while this file was being imported. Nothing was "
    "imported; import the file again."
)
#: New orders from which a commit refreshes the planner's statistics of the order tables.
_ANALYZE_AFTER: Final = 50_000
#: Rows written between two progress reports and cancel checks.
_WRITE_CHUNK: Final = 50_000


class _Writer:
    """Writes a commit's new orders a batch at a time, while the next batch is read.

    COPY hands the rows to a sending thread (psycopg's queued writer) and the server works through
    them on its own core, so reading and checking the next rows costs no extra time: the import
    runs at the pace of the slower of the two, not of both one after the other."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.raw: psycopg.Connection[Any] = uow.session.connection().connection.driver_connection  # type: ignore[assignment]
        self.now = uow.now
        self.inserted = 0

    def insert(self, orders: list[_Order], read: Callable[[int], list[_Event]] | None = None) -> list[_Event]:
        """COPY `orders` and their items; while the server works through each COPY, `read` half
        of the next batch. Returns what was read."""
        now = self.now
        first: list[_Event] = []
        second: list[_Event] = []
        try:
            with self.raw.cursor() as cursor:
                meta = any(o.meta for o in orders)
                if meta:  # the metadata is JSON text already: the dumper is told to take it as it is
                    set_json_dumps(_as_is, context=cursor)
                statement = _COPY_ORDERS_META_SQL if meta else _COPY_ORDERS_SQL
                with cursor.copy(statement, writer=QueuedLibpqWriter(cursor)) as copy:
                    copy.set_types((*_ORDER_TYPES, "jsonb") if meta else _ORDER_TYPES)
                    for o in orders:
                        row = (
                            o.order_id, o.customer_id, o.channel, o.currency, o.status, o.amount,
                            o.occurred_at, o.paid_date, o.refund_amount, o.refunded_at, o.refund_date,
                            now, now,
                        )  # fmt: skip
                        copy.write_row((*row, json.dumps(o.meta or {})) if meta else row)
                        o.inserted, o.dirty = True, False
                    if read is not None:
                        first = read(_BATCH // 2)
                with cursor.copy(_COPY_LINES_SQL, writer=QueuedLibpqWriter(cursor)) as copy:
                    _copy_lines(copy, orders)
                    if read is not None:
                        second = read(_BATCH - _BATCH // 2)
        except psycopg.errors.UniqueViolation as exc:
            raise Conflict(_RACE) from exc
        for o in orders:  # written: read back should a later row give items again (rare), not kept
            if o.lines is not None:
                o.lines, o.lines_checked = None, False
        self.inserted += len(orders)
        return first + second

    def finish(self, dirty: list[_Order], steps: ImportSteps) -> None:
        """What the batches left: orders created after a problem stopped them, orders changed after
        they were written, stored orders moved forward (by COPY into a staging table and one
        UPDATE), and items added to orders written before."""
        created = [o for o in dirty if not o.stored and not o.inserted]
        updated = [o for o in dirty if o.stored or o.inserted]

        def written(done: int) -> None:  # the second half of the progress
            steps.at(steps.rows + steps.rows * done // max(len(dirty), 1))

        for start in range(0, len(created), _WRITE_CHUNK):
            self.insert(created[start : start + _WRITE_CHUNK])
            written(min(start + _WRITE_CHUNK, len(created)))
        if updated:
            try:
                with self.raw.cursor() as cursor:
                    cursor.execute(_STAGE_SQL)
                    with cursor.copy(
                        "COPY order_changes FROM STDIN", writer=QueuedLibpqWriter(cursor)
                    ) as copy:
                        for o in updated:
                            copy.write_row(
                                (
                                    o.order_id, o.xmin, o.status, o.amount, o.occurred_at, o.paid_date,
                                    o.refund_amount, o.refunded_at, o.refund_date, json.dumps(o.meta or {}),
                                )
                            )  # fmt: skip
                    written(len(created) + len(updated) // 2)
                    cursor.execute(_UPDATE_SQL, {"now": self.now})
                    if cursor.rowcount != len(updated):
                        raise Conflict(_RACE)
                    with cursor.copy(_COPY_LINES_SQL, writer=QueuedLibpqWriter(cursor)) as copy:
                        _copy_lines(copy, updated)
            except psycopg.errors.UniqueViolation as exc:
                raise Conflict(_RACE) from exc
        if self.inserted >= _ANALYZE_AFTER:
            # The planner's figures would still describe the tables before this import: the metrics
            # recomputed next, and the next imports' look-ups, would be planned for the wrong sizes.
            with self.raw.cursor() as cursor:
                cursor.execute("ANALYZE order_events, order_lines")


def _as_is(json_text: str) -> str:
    return json_text


def _copy_lines(copy: psycopg.Copy, orders: Iterable[_Order]) -> None:
    """The items of the orders that have new ones, as COPY text written here: three times faster
    than `write_row` for the two million lines of a big file. Identifiers hold no control
    characters (`_identifier`), so a backslash is the one character to escape."""
    block: list[str] = []
    for o in orders:
        if o.lines_new and o.lines:
            order_id = _copy_text(o.order_id)
            for n, (sku, quantity, price) in enumerate(o.lines, start=1):
                block.append(f"{order_id}\t{n}\t{_copy_text(sku)}\t{quantity}\t{price}\n")
            if len(block) >= _WRITE_CHUNK:
                copy.write("".join(block))
                block.clear()
        o.lines_new = False
    if block:
        copy.write("".join(block))


def _copy_text(value: str) -> str:
    return value.replace("\\", "\\\\") if "\\" in value else value


# -- the service ----------------------------------------------------------------------------------


@contextlib.contextmanager
def _without_cycle_collection() -> Iterator[None]:
    """Pause Python's cycle collector while a file is imported. An import makes millions of
    objects that live until it ends and form no cycles (reference counting frees them all), and
    the collector would walk them again and again: a quarter of the import's time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class OrderImport:
    """Preview and commit of an orders file (CSV or JSON Lines). Both need `analytics.write`.

    `progress(done, total)` is called between batches of rows (from the calling thread) and once
    more at the end with done == total; `cancelled()` is asked at the same moments, and when it
    says yes the call raises `ImportCancelled` and nothing is written."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def preview(
        self,
        actor: Actor,
        data: bytes,
        file_name: str,
        *,
        progress: ProgressFn | None = None,
        cancelled: CancelledFn | None = None,
    ) -> OrderImportResult:
        """What a commit would do now, row by row, with every problem, and how many days' metrics
        it would recompute; writes nothing (the transaction is read-only).

        Refused on a snapshot (`ReadOnlyError`): the check reads the orders with the server's own
        SQL, and a file that can never be imported there needs no preview. (A read-only connection
        to a server previews.)"""
        if self.ctx.read_only and self.ctx.engine.dialect.name != "postgresql":
            raise ReadOnlyError("This is a read-only copy: order files can only be imported on the server.")
        steps = ImportSteps(progress, cancelled, passes=1)
        with _without_cycle_collection(), self.ctx.read(actor, "analytics.write") as uow:
            uow.session.execute(text("SET TRANSACTION READ ONLY"))
            merge = _merge(uow.session, data, file_name, steps)
            days = _days_to_recompute(uow.session, merge.touched()) if not merge.problems else set()
        result = merge.result(file_name, len(days), committed=False, dry_run=True)
        steps.finished()
        return result

    def commit(
        self,
        actor: Actor,
        data: bytes,
        file_name: str,
        *,
        progress: ProgressFn | None = None,
        cancelled: CancelledFn | None = None,
    ) -> OrderImportResult:
        """Import the file, all or nothing, and recompute the metrics of the days it touches in the
        same transaction. Any problem raises `OrdersRejected` with the full result, and nothing is
        written; so does an order changed by someone else meanwhile (`Conflict`)."""
        steps = ImportSteps(progress, cancelled, passes=2)
        with _without_cycle_collection(), self.ctx.write(actor, "analytics.write") as uow:
            result = _commit_in(uow, data, file_name, steps)
        steps.finished()
        return result


def ingest(uow: UnitOfWork, events: Sequence[Mapping[str, Any]], *, source: str) -> OrderImportResult:
    """Merge order events that came in by webhook (`services.inbound`), in the caller's unit of
    work — a system one, no person acting — so the record that the event was taken commits or rolls
    back with the orders. The events are the rows of a JSON Lines file (same keys, same rules, same
    merge, metrics and audit as an import; audited as "webhook:<source>"). Problems raise
    `OrdersRejected` and the caller's transaction must be rolled back."""
    data = "".join(json.dumps(event, default=str) + "\n" for event in events).encode()
    steps = ImportSteps(None, None, passes=2)
    return _commit_in(uow, data, f"webhook-{source}.jsonl", steps, actor_email=f"webhook:{source}")


#: One order commit at a time, across every app and worker (a transaction-level advisory lock on an
#: arbitrary constant key): two at once — a file import and a webhook, two webhooks — would race in
#: the metrics' refresh of the same days (delete-then-insert of the same period rows).
MERGE_LOCK_SQL: Final = text("SELECT pg_advisory_xact_lock(7310315571452307828)")


def _commit_in(
    uow: UnitOfWork, data: bytes, file_name: str, steps: ImportSteps, *, actor_email: str | None = None
) -> OrderImportResult:
    """The commit's work inside `uow`: merge, write, recompute the touched days, audit."""
    uow.session.execute(MERGE_LOCK_SQL)
    writer = _Writer(uow)
    merge = _merge(uow.session, data, file_name, steps, writer)
    if merge.problems:
        raise OrdersRejected(merge.result(file_name, 0, committed=False, dry_run=False))
    steps.at(steps.rows)
    touched = merge.touched()
    recomputed: set[dt.date] = set()
    if touched:
        writer.finish(merge.dirty(), steps)
        _emit_ingested(uow.session, touched, actor_email or "import", uow.now)
        days, customers = _touched(touched)
        recomputed = metrics.refresh(uow.session.connection(), days=days, customer_ids=customers)
        counts = merge.counts
        uow.audit(
            "orders.imported",
            "order_import",
            None,
            after={
                "file_name": file_name,
                "sha256": hashlib.sha256(data).hexdigest(),
                "rows": merge.total,
                "created": counts[RowAction.CREATE],
                "updated": counts[RowAction.UPDATE],
                "unchanged": counts[RowAction.UNCHANGED],
                "days": len(recomputed),
                "first_day": min(recomputed).isoformat() if recomputed else None,
                "last_day": max(recomputed).isoformat() if recomputed else None,
            },
            actor_email=actor_email,
        )
    return merge.result(file_name, len(recomputed), committed=True, dry_run=False)


#: Events per statement when an endpoint hears `order.ingested`.
_EVENT_CHUNK: Final = 25_000
ORDER_INGESTED: Final = "order.ingested"


def _emit_ingested(session: Session, orders: Sequence[_Order], source: str, at: dt.datetime) -> None:
    """`order.ingested` for each order created or moved forward (not the unchanged ones), in the
    caller's transaction; `source` is "import" or the webhook it came by ("webhook:stripe"). One
    probe when nobody listens: a million-row import builds no payload then."""
    if not orders or not events.has_subscribers(session, ORDER_INGESTED):
        return
    for start in range(0, len(orders), _EVENT_CHUNK):
        part = orders[start : start + _EVENT_CHUNK]
        events.emit_many(session, ORDER_INGESTED, [_ingested(order, source) for order in part], at=at)


def _ingested(order: _Order, source: str) -> dict[str, Any]:
    """An order as `order.ingested` tells it: the payment's time is the order's time once it is
    paid (`occurred_at` is its latest event's); unknown times are null."""
    paid = order.paid_date is not None
    return {
        "order_id": order.order_id,
        "customer_id": order.customer_id,
        "status": order.status,
        "amount": _money(order.amount),
        "currency": order.currency,
        "channel": order.channel,
        "occurred_at": order.occurred_at.isoformat(),
        "paid_at": order.occurred_at.isoformat() if paid else None,
        "refunded_at": order.refunded_at.isoformat() if order.refunded_at is not None else None,
        "refund_amount": _money(order.refund_amount) if order.refund_amount is not None else None,
        "source": source,
    }


# -- the shop's time zone changed -----------------------------------------------------------------

_SHOP_DAYS_SQL: Final = "SELECT id, occurred_at, paid_date, refunded_at, refund_date FROM order_events"
_REDERIVE_STAGE_SQL: Final = """
CREATE TEMPORARY TABLE order_days (id bigint PRIMARY KEY, paid_date date, refund_date date) ON COMMIT DROP
"""
_REDERIVE_SQL: Final = """
UPDATE order_events AS o SET paid_date = d.paid_date, refund_date = d.refund_date
FROM order_days AS d WHERE o.id = d.id
"""


def rederive_shop_days(conn: Connection, zone: zoneinfo.ZoneInfo) -> int:
    """Every order's paid and refund day again, in `zone` (the shop's new time zone), then every
    metric from scratch (`metrics.rebuild`), in the caller's transaction. The days are computed
    with `metrics.shop_day`, the one definition imports use, not with the server's time zone
    rules, which may differ from Python's. Returns the number of orders whose days moved."""
    raw: psycopg.Connection[Any] = conn.connection.driver_connection  # type: ignore[assignment]
    moved: list[tuple[int, dt.date | None, dt.date | None]] = []
    # A server-side cursor: a million orders are read a batch at a time, not all at once.
    with raw.cursor(name="order_shop_days") as cursor:
        cursor.itersize = _WRITE_CHUNK
        cursor.execute(_SHOP_DAYS_SQL)
        for row_id, occurred_at, paid_date, refunded_at, refund_date in cursor:
            new_paid = None if paid_date is None else metrics.shop_day(occurred_at, zone)
            new_refund = None if refund_date is None else metrics.shop_day(refunded_at, zone)
            if new_paid != paid_date or new_refund != refund_date:
                moved.append((row_id, new_paid, new_refund))
    if moved:
        with raw.cursor() as cursor:
            cursor.execute(_REDERIVE_STAGE_SQL)
            with cursor.copy("COPY order_days FROM STDIN") as copy:
                for row in moved:
                    copy.write_row(row)
            cursor.execute(_REDERIVE_SQL)
    metrics.rebuild(conn)
    return len(moved)
