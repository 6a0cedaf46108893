"""Importing inventory items from a CSV file: the preview (every row, what would happen to it, every
problem with its line and column) and the commit, all or nothing.

The file is checked with the same field rules as the item form (`services.inventory`) and matched
to the database by SKU: new items are created, items that differ are updated (only what differs),
identical ones are left alone, so importing the same file twice changes nothing the second time.
Stock levels set by a file are stock movements like any other (opening stock for new items,
`import` for changed levels), computed against the rows the commit has locked, so an adjustment
racing the import is neither lost nor counted twice.

Speed: a commit of 100,000 rows takes seconds, not minutes, because the rows reach the server by
COPY into a temporary table and are written by two set-based statements, not row by row.
"""

from __future__ import annotations

import csv
import enum
import hashlib
import io
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ecomdesk.db.models import InventoryItem, MovementKind
from ecomdesk.services import events
from ecomdesk.services.context import Actor, ServiceContext, UnitOfWork
from ecomdesk.services.errors import Conflict, ValidationError
from ecomdesk.services.inventory import (
    ITEM_CHANGED,
    ITEM_FIELDS,
    LOW_STOCK,
    BadValue,
    ItemFields,
    ItemSnapshot,
    item_snapshots,
    levels_problems,
    parse_money,
    parse_units,
    validate_item,
)

REQUIRED_COLUMNS: Final = ("sku", "name", "category", "supplier", "stock", "reserved", "price", "cost")
OPTIONAL_COLUMNS: Final = ("reorder_level",)
_COLUMNS: Final = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
#: Item details an update may change; the levels are compared separately (they move stock).
_DETAILS: Final = ("name", "category", "supplier", "price", "cost", "reorder_level")
_UTF8_BOM: Final = b"\xef\xbb\xbf"
SAVE_AS: Final = (
    'Save it from your spreadsheet as "CSV UTF-8" (comma or semicolon separated) and import that.'
)
#: Rows between progress reports and cancel checks while reading, and per write statement.
_CHUNK: Final = 2_000
_WRITE_CHUNK: Final = 25_000
_ZERO: Final = Decimal("0.00")
DELIMITER_NAMES: Final = {",": "comma", ";": "semicolon", "\t": "tab"}
_MAX_REASON: Final = 500

ProgressFn = Callable[[int, int], None]
CancelledFn = Callable[[], bool]


class ImportFileError(ValidationError):
    """The file as a whole cannot be read: not CSV, the wrong encoding, the wrong columns, no rows."""

    def __init__(self, message: str) -> None:
        super().__init__({"file": message}, message)


class ImportCancelled(Exception):
    """The person stopped the import; nothing was written."""


class RowAction(enum.StrEnum):
    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"
    INVALID = "invalid"

    @property
    def label(self) -> str:
        """The word a person reads in the preview."""
        return _ACTION_LABELS[self]


_ACTION_LABELS: Final = {
    RowAction.CREATE: "New",
    RowAction.UPDATE: "Change",
    RowAction.UNCHANGED: "Unchanged",
    RowAction.INVALID: "Problem",
}


@dataclass(frozen=True, slots=True)
class ImportProblem:
    """One problem of the file: `line` as an editor numbers it (the header is line 1); `column` is
    None when the problem is the line as a whole (e.g. too many cells)."""

    line: int
    column: str | None
    message: str


@dataclass(frozen=True, slots=True)
class ImportRow:
    """One data row as the preview grid shows it: the values as they would be stored (None where a
    number could not be read), what the import does with it, and its problems."""

    line: int
    sku: str
    name: str
    category: str
    supplier: str
    stock: int | None
    reserved: int | None
    price: Decimal | None
    cost: Decimal | None
    reorder_level: int | None
    action: RowAction
    #: For an update, the changed fields in words, e.g. "price 12.50 → 13.00, stock 4 → 9".
    changes: str
    #: This row's problems, "column: message" joined with "; " ("" when the row is fine).
    problems: str

    @property
    def action_label(self) -> str:
        return self.action.label


@dataclass(frozen=True)
class ImportResult:
    file_name: str
    rows: list[ImportRow]
    problems: list[ImportProblem]
    created: int
    updated: int
    unchanged: int
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
        total = len(self.rows)
        return (
            f"{total:,} {plural(total, 'row')}: {self.created:,} new, {self.updated:,} changed, "
            f"{self.unchanged:,} unchanged."
        )


class ImportRejected(ValidationError):
    """The commit was refused because rows have problems; nothing was written. `result` holds
    every row and every problem, as a preview would."""

    def __init__(self, result: ImportResult) -> None:
        self.result = result
        super().__init__({"file": result.summary}, result.summary)


def plural(count: int, word: str) -> str:
    return word if count == 1 else word + "s"


def problems_sentence(problems: Sequence[ImportProblem], *, dry_run: bool) -> str:
    """Every import's summary when rows have problems: how many rows, and that nothing was (or
    can be) imported — all or nothing."""
    bad = len({p.line for p in problems})
    verb = "has" if bad == 1 else "have"
    outcome = "nothing can be imported until they are fixed" if dry_run else "nothing was imported"
    return f"{bad:,} {plural(bad, 'row')} {verb} problems; {outcome}."


# -- reading the file ---------------------------------------------------------------------------


def decode_text(data: bytes) -> str:
    """The file's text, or an `ImportFileError` saying what the file is instead and what to do."""
    if not data.strip():
        raise ImportFileError("The file is empty.")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ImportFileError(
            'This file is UTF-16 text (what Excel calls "Unicode Text"), which the import does not read. '
            + SAVE_AS
        )
    if data.startswith(b"PK\x03\x04"):
        raise ImportFileError(
            "This is an Excel workbook (.xlsx) or another zip archive, not a CSV file. " + SAVE_AS
        )
    if data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        raise ImportFileError("This is an old Excel workbook (.xls), not a CSV file. " + SAVE_AS)
    if data.startswith(b"%PDF-"):
        raise ImportFileError("This is a PDF document, not a CSV file. " + SAVE_AS)
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise ImportFileError(
            f"This is not a text file: line {line} holds binary data (a NUL byte). " + SAVE_AS
        )
    body = data[len(_UTF8_BOM) :] if data.startswith(_UTF8_BOM) else data
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        byte = body[exc.start]
        line = body.count(b"\n", 0, exc.start) + 1
        guess = bytes([byte]).decode("cp1252", errors="replace")
        raise ImportFileError(
            f"Line {line} is not UTF-8 text: byte 0x{byte:02X} (“{guess}” in Windows-1252). The file "
            f"was probably saved in an older encoding. {SAVE_AS}"
        ) from None


def sniff_delimiter(text: str) -> str:
    """Comma, semicolon (what Excel writes where the decimal separator is a comma) or tab, by
    which one the header line holds most of; comma when none."""
    first = re.match(r"[^\r\n]*", text)
    header = first.group() if first else ""
    counts = {d: header.count(d) for d in DELIMITER_NAMES}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > counts[","] else ","


def header_positions(
    header: list[str], required: tuple[str, ...], optional: tuple[str, ...]
) -> dict[str, int]:
    """Each known column's position (names compared trimmed and in lower case); an
    `ImportFileError` naming every missing, unknown or repeated column. Shared by every CSV import."""
    known = required + optional
    positions: dict[str, int] = {}
    repeated: list[str] = []
    unknown: list[str] = []
    for index, cell in enumerate(header):
        name = cell.strip().lower()
        shown = name or f"(no name, column {index + 1})"
        if name in positions:
            repeated.append(f"{shown} (columns {positions[name] + 1} and {index + 1})")
        elif name not in known:
            unknown.append(shown)
        positions.setdefault(name, index)
    missing = [name for name in required if name not in positions]
    if repeated:
        raise ImportFileError(f"Columns appear twice: {', '.join(repeated)}. Keep one of each.")
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"Missing columns: {', '.join(missing)}.")
        if unknown:
            parts.append(f"Unknown columns: {', '.join(unknown)}.")
        parts.append(
            f"Expected: {', '.join(required)}, and optionally {', '.join(optional)} "
            "(in any order, one header line)."
        )
        raise ImportFileError(" ".join(parts))
    return {name: positions[name] for name in known if name in positions}


@dataclass(slots=True)
class _Checked:
    """One row on its way through the import (mutable: classification fills in the rest)."""

    line: int
    sku: str
    name: str
    category: str
    supplier: str
    stock: int | None
    reserved: int | None
    price: Decimal | None
    cost: Decimal | None
    reorder_level: int | None
    #: Messages by column, "" for the line as a whole.
    problems: dict[str, str]
    #: The SKU is well-formed and its first appearance: it may be looked up.
    sku_ok: bool = False
    action: RowAction = RowAction.INVALID
    changes: str = ""
    item_id: int | None = None
    details_changed: bool = False
    stock_delta: int = 0
    reserved_delta: int = 0
    #: For an update's event: the changed fields, and the levels before (was it low already?).
    fields: tuple[str, ...] = ()
    old_available: int = 0
    old_reorder_level: int | None = None

    def public(self) -> ImportRow:
        problems = ""
        if self.problems:
            problems = "; ".join(f"{c}: {m}" if c else m for c, m in _ordered(self.problems))
        return ImportRow(
            self.line, self.sku, self.name, self.category, self.supplier, self.stock, self.reserved,
            self.price, self.cost, self.reorder_level, self.action, self.changes, problems,
        )  # fmt: skip


def _ordered(problems: dict[str, str]) -> Iterator[tuple[str | None, str]]:
    """The line's own problem first, then by column in the data model's order."""
    if "" in problems:
        yield None, problems[""]
    for column in _COLUMNS:
        if column in problems:
            yield column, problems[column]


class _RowChecker:
    """The shared field rules applied to one data row at a time."""

    def __init__(self, columns: dict[str, int], width: int, delimiter: str) -> None:
        self.columns = columns
        self.width = width
        self.delimiter = delimiter
        self.decimal_comma = delimiter != ","
        self.first_line: dict[str, int] = {}

    def check(self, line: int, cells: list[str]) -> _Checked:
        c = self.columns
        problems: dict[str, str] = {}
        if len(cells) != self.width:
            problems[""] = (
                f"This line has {len(cells)} cells but the header has {self.width}: look for a stray "
                f"{DELIMITER_NAMES[self.delimiter]} or a missing quote. The line was not checked further."
            )
            cells = [*cells, *([""] * self.width)][: self.width]
            fields = ItemFields(
                cells[c["sku"]], cells[c["name"]], cells[c["category"]], cells[c["supplier"]], _ZERO, _ZERO
            ).normalised()
            return _Checked(
                line, fields.sku, fields.name, fields.category, fields.supplier,
                None, None, None, None, None, problems,
            )  # fmt: skip
        stock = _read(parse_units, cells[c["stock"]], "stock", problems)
        reserved = _read(parse_units, cells[c["reserved"]], "reserved", problems)
        price = _read(self._money, cells[c["price"]], "price", problems)
        cost = _read(self._money, cells[c["cost"]], "cost", problems)
        reorder_level = None
        if "reorder_level" in c:
            reorder_level = _read(_optional_units, cells[c["reorder_level"]], "reorder_level", problems)
        # An unreadable amount is reported already; zeros keep "cost above price" from misfiring.
        amounts = (price, cost) if price is not None and cost is not None else (_ZERO, _ZERO)
        fields = ItemFields(
            cells[c["sku"]], cells[c["name"]], cells[c["category"]], cells[c["supplier"]],
            amounts[0], amounts[1], reorder_level,
        ).normalised()  # fmt: skip
        for key, message in validate_item(fields).items():
            problems.setdefault(key, message)
        if stock is not None and reserved is not None:
            for key, message in levels_problems(stock, reserved).items():
                problems.setdefault(key, message)
        sku_ok = "sku" not in problems
        if sku_ok:
            first = self.first_line.setdefault(fields.sku, line)
            if first != line:
                problems["sku"] = f"SKU {fields.sku} already appears on line {first}; list each item once."
                sku_ok = False
        return _Checked(
            line, fields.sku, fields.name, fields.category, fields.supplier,
            stock, reserved, price, cost, reorder_level, problems, sku_ok,
        )  # fmt: skip

    def _money(self, value: str) -> Decimal:
        return parse_money(value, decimal_comma=self.decimal_comma)


def _optional_units(value: str) -> int | None:
    return parse_units(value, required=False)


def _read(parse: Callable[[str], Any], value: str, key: str, problems: dict[str, str]) -> Any:
    try:
        return parse(value)
    except BadValue as exc:
        problems[key] = str(exc)
        return None


def _check_file(data: bytes, steps: ImportSteps) -> list[_Checked]:
    """Every data row of the file, checked on its own and against the rows before it."""
    text_ = decode_text(data)
    delimiter = sniff_delimiter(text_)
    reader = csv.reader(io.StringIO(text_, newline=""), delimiter=delimiter)
    # An estimate until the end (exact unless quoted cells hold line breaks).
    steps.expect(text_.count("\n") - 1)
    try:
        header = next(reader, None)
        while header is not None and not any(cell.strip() for cell in header):
            header = next(reader, None)  # blank lines above the header
        if header is None:
            raise ImportFileError("The file is empty.")
        checker = _RowChecker(
            header_positions(header, REQUIRED_COLUMNS, OPTIONAL_COLUMNS), len(header), delimiter
        )
        rows: list[_Checked] = []
        last_line = reader.line_num
        for cells in reader:
            line, last_line = last_line + 1, reader.line_num
            if not any(cells) or not any(cell.strip() for cell in cells):
                continue  # a blank line, or a spreadsheet row with nothing in it
            rows.append(checker.check(line, cells))
            if len(rows) % _CHUNK == 0:
                steps.at(len(rows))
    except csv.Error as exc:
        raise ImportFileError(f"Line {reader.line_num} cannot be read as CSV ({exc}). {SAVE_AS}") from None
    if not rows:
        raise ImportFileError("The file has a header line but no rows to import.")
    steps.expect(len(rows))
    return rows


class ImportSteps:
    """Progress in rows, and the cancel check between chunks of them. Reading and checking counts
    each row once; a commit counts every row a second time while it writes, so the bar keeps
    moving through the database work instead of waiting at the end."""

    def __init__(self, progress: ProgressFn | None, cancelled: CancelledFn | None, *, passes: int) -> None:
        self.progress = progress
        self.cancelled = cancelled
        self.passes = passes
        self.rows = 1

    def expect(self, rows: int) -> None:
        self.rows = max(rows, 1)

    def at(self, done: int) -> None:
        """`done` of `rows × passes` are done; raises `ImportCancelled` when asked to stop."""
        if self.cancelled is not None and self.cancelled():
            raise ImportCancelled()
        if self.progress is not None:
            total = self.rows * self.passes
            self.progress(min(done, total), total)

    def finished(self) -> None:
        """All done (no cancel check: it is too late to stop)."""
        if self.progress is not None:
            total = self.rows * self.passes
            self.progress(total, total)


# -- matching with the database -----------------------------------------------------------------

#: Columns 5 onwards are `_DETAILS`, in that order.
_CURRENT_SQL: Final = (
    "SELECT sku, id, archived_at IS NOT NULL, stock, reserved, name, category, supplier, price, cost,"
    " reorder_level FROM inventory_items WHERE sku = ANY(:skus) ORDER BY id"
)


#: SKUs looked up per statement where there are no arrays (a snapshot: SQLite's parameter limit).
_SKU_CHUNK: Final = 10_000


def _current(session: Session, skus: list[str], *, lock: bool) -> dict[str, Sequence[Any]]:
    """The stored items of these SKUs by SKU, as rows in `_CURRENT_SQL`'s column order."""
    if session.get_bind().dialect.name == "postgresql":
        statement = _CURRENT_SQL + (" FOR UPDATE" if lock else "")
        return {r[0]: r for r in session.execute(text(statement), {"skus": skus}).all()}
    # A snapshot (only ever previewed): no arrays, and typed columns so money reads as Decimal.
    c = InventoryItem.__table__.c
    columns = (c.sku, c.id, c.archived_at.is_not(None), c.stock, c.reserved, *(c[name] for name in _DETAILS))
    found: dict[str, Sequence[Any]] = {}
    for start in range(0, len(skus), _SKU_CHUNK):
        stmt = select(*columns).where(c.sku.in_(skus[start : start + _SKU_CHUNK]))
        found.update((r[0], r) for r in session.execute(stmt))
    return found


def _classify(session: Session, rows: list[_Checked], *, lock: bool) -> None:
    """Compare each row with its item as the database has it now (locked with `lock`, in id order
    so two imports never deadlock), and fill in the action, the changes and the deltas."""
    skus = [row.sku for row in rows if row.sku_ok]
    current = _current(session, skus, lock=lock) if skus else {}
    for row in rows:
        item = current.get(row.sku) if row.sku_ok else None
        if item is not None and item[2]:
            row.problems["sku"] = f"{row.sku} is archived; restore it in the app first, then import again."
        if row.problems:
            continue
        if item is None:
            row.action = RowAction.CREATE
            continue
        assert row.stock is not None and row.reserved is not None
        old, new = item[5:], (row.name, row.category, row.supplier, row.price, row.cost, row.reorder_level)
        described = (
            [] if old == new else [_change(*change) for change in zip(_DETAILS, old, new, strict=True)]
        )
        described = [change for change in described if change]
        row.details_changed = bool(described)
        row.item_id, stock, reserved = item[1], item[3], item[4]
        row.stock_delta, row.reserved_delta = row.stock - stock, row.reserved - reserved
        row.old_available, row.old_reorder_level = stock - reserved, item[10]
        row.fields = tuple(
            [key for key, was, now in zip(_DETAILS, old, new, strict=True) if was != now]
            + [key for key, delta in (("stock", row.stock_delta), ("reserved", row.reserved_delta)) if delta]
        )
        if row.stock_delta:
            described.append(f"stock {stock} → {row.stock}")
        if row.reserved_delta:
            described.append(f"reserved {reserved} → {row.reserved}")
        if described:
            row.action = RowAction.UPDATE
            row.changes = ", ".join(described)
        else:
            row.action = RowAction.UNCHANGED


def _change(key: str, old: Any, new: Any) -> str:
    if old == new:
        return ""
    label = key.replace("_", " ")
    if isinstance(new, str):
        return f"{label} “{old}” → “{new}”"
    return f"{label} {_shown(old)} → {_shown(new)}"


def _shown(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return str(value)


# -- writing --------------------------------------------------------------------------------------

_STAGE_SQL: Final = """
CREATE TEMPORARY TABLE import_changes (
    line integer PRIMARY KEY,
    item_id bigint,
    sku text NOT NULL,
    name text NOT NULL,
    category text NOT NULL,
    supplier text NOT NULL,
    stock integer NOT NULL,
    reserved integer NOT NULL,
    price numeric(14, 2) NOT NULL,
    cost numeric(14, 2) NOT NULL,
    reorder_level integer,
    details_changed boolean NOT NULL,
    stock_delta integer NOT NULL,
    reserved_delta integer NOT NULL
) ON COMMIT DROP
"""
_STAGE_COLUMNS: Final = (
    "line, item_id, sku, name, category, supplier, stock, reserved, price, cost, reorder_level,"
    " details_changed, stock_delta, reserved_delta"
)
_MOVEMENT_COLUMNS: Final = (
    "item_id, occurred_at, actor_id, actor_email, kind, stock_delta, reserved_delta,"
    " stock_after, reserved_after, reason"
)
#: New items in file order, and their opening stock as their first movement.
_CREATE_SQL: Final = f"""
WITH created AS (
    INSERT INTO inventory_items
        (sku, name, category, supplier, stock, reserved, price, cost, reorder_level, last_updated)
    SELECT sku, name, category, supplier, stock, reserved, price, cost, reorder_level, :now
    FROM import_changes WHERE item_id IS NULL AND line BETWEEN :first AND :last ORDER BY line
    RETURNING id, stock, reserved
)
INSERT INTO stock_movements ({_MOVEMENT_COLUMNS})
SELECT id, :now, :actor_id, :actor_email, :opening, stock, reserved, stock, reserved, :reason
FROM created WHERE stock > 0 OR reserved > 0 ORDER BY id
"""
#: Changed items: the file's values; a new version only when details changed (an open edit form
#: then sees a conflict); levels that moved are an `import` movement with the deltas computed
#: against the locked rows.
_UPDATE_SQL: Final = f"""
WITH changed AS (
    UPDATE inventory_items AS i SET
        name = c.name, category = c.category, supplier = c.supplier, price = c.price, cost = c.cost,
        reorder_level = c.reorder_level, stock = c.stock, reserved = c.reserved,
        version = i.version + CASE WHEN c.details_changed THEN 1 ELSE 0 END,
        last_updated = :now
    FROM import_changes AS c
    WHERE c.item_id = i.id AND c.line BETWEEN :first AND :last
    RETURNING i.id, i.stock, i.reserved, c.stock_delta, c.reserved_delta
)
INSERT INTO stock_movements ({_MOVEMENT_COLUMNS})
SELECT id, :now, :actor_id, :actor_email, :import, stock_delta, reserved_delta, stock, reserved, :reason
FROM changed WHERE stock_delta <> 0 OR reserved_delta <> 0 ORDER BY id
"""


def _write(uow: UnitOfWork, changed: list[_Checked], file_name: str, steps: ImportSteps) -> None:
    """Stage the new and changed rows by COPY, then write them with set-based statements, a chunk
    of lines at a time so progress moves and a cancel is heard while the database works."""
    session = uow.session
    session.execute(text(_STAGE_SQL))
    raw = session.connection().connection.driver_connection
    with (
        raw.cursor() as cursor,  # type: ignore[union-attr]
        cursor.copy(f"COPY import_changes ({_STAGE_COLUMNS}) FROM STDIN") as copy,
    ):
        for r in changed:
            copy.write_row(
                (
                    r.line, r.item_id, r.sku, r.name, r.category, r.supplier, r.stock, r.reserved,
                    r.price, r.cost, r.reorder_level, r.details_changed, r.stock_delta, r.reserved_delta,
                )
            )  # fmt: skip
    session.execute(text("ANALYZE import_changes"))
    params: dict[str, Any] = {
        "now": uow.now,
        "actor_id": uow.actor.user_id if uow.actor else None,
        "actor_email": uow.actor.email if uow.actor else None,
        "reason": f"Import of {file_name}"[:_MAX_REASON],
        "opening": MovementKind.OPENING.value,
        "import": MovementKind.IMPORT.value,
    }
    for start in range(0, len(changed), _WRITE_CHUNK):
        part = changed[start : start + _WRITE_CHUNK]
        params |= {"first": part[0].line, "last": part[-1].line}
        try:
            session.execute(text(_CREATE_SQL), params)
        except IntegrityError as exc:
            if "uq_inventory_items_sku" in str(exc.orig):
                raise Conflict(
                    "Someone else added an item with a SKU from this file while it was being imported. "
                    "Nothing was imported; import the file again."
                ) from exc
            raise
        session.execute(text(_UPDATE_SQL), params)
        steps.at(steps.rows + steps.rows * (start + len(part)) // len(changed))


def _emit_events(uow: UnitOfWork, changed: list[_Checked]) -> None:
    """`inventory.item.changed` for every new or changed row (and `inventory.low_stock` for each
    item the file took down to its threshold), a chunk of rows per statement, in the import's
    transaction. Nothing is read or built unless an endpoint listens."""
    wanted = events.subscribed(uow.session, ITEM_CHANGED, LOW_STOCK)
    if not wanted:
        return
    for start in range(0, len(changed), _WRITE_CHUNK):
        part = changed[start : start + _WRITE_CHUNK]
        items = {item.sku: item for item in item_snapshots(uow.session, skus=[r.sku for r in part])}
        if ITEM_CHANGED in wanted:
            changes = [_item_changed(r, items[r.sku]) for r in part]
            events.emit_many(uow.session, ITEM_CHANGED, changes, at=uow.now)
        if LOW_STOCK in wanted:
            crossed = [
                items[r.sku].low_stock_payload()
                for r in part
                if r.action is RowAction.UPDATE
                and items[r.sku].low
                and not items[r.sku].low_at(r.old_available, r.old_reorder_level)
            ]
            events.emit_many(uow.session, LOW_STOCK, crossed, at=uow.now)


def _item_changed(row: _Checked, item: ItemSnapshot) -> dict[str, Any]:
    """An imported row's `inventory.item.changed` data: a row that only moved levels is "stock"."""
    fields: tuple[str, ...]
    if row.action is RowAction.CREATE:
        change, fields = "created", ITEM_FIELDS
    else:
        change = "stock" if set(row.fields) <= {"stock", "reserved"} else "updated"
        fields = row.fields
    return {"change": change, "fields": list(fields), "item": item.payload()}


# -- the service ----------------------------------------------------------------------------------


class InventoryImport:
    """Preview and commit of an inventory CSV file. Both need `inventory.write`.

    `progress(done, total)` is called between chunks of rows (from the calling thread) and once
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
    ) -> ImportResult:
        """What a commit would do now, row by row, with every problem; writes nothing (so it
        works on a read-only copy too: checking a file against a snapshot is harmless)."""
        steps = ImportSteps(progress, cancelled, passes=1)
        with self.ctx.read(actor, "inventory.write") as uow:
            rows = _check_file(data, steps)
            _classify(uow.session, rows, lock=False)
        result = _result(file_name, rows, committed=False, dry_run=True)
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
    ) -> ImportResult:
        """Import the file, all or nothing. Every row is checked again inside this transaction,
        against the items as they are then (locked until the commit): any problem raises
        `ImportRejected` with the full result, and nothing is written. `cancelled` is asked once
        more after the lock, before anything is written."""
        steps = ImportSteps(progress, cancelled, passes=2)
        with self.ctx.write(actor, "inventory.write") as uow:
            rows = _check_file(data, steps)
            _classify(uow.session, rows, lock=True)
            if any(row.problems for row in rows):
                raise ImportRejected(_result(file_name, rows, committed=False, dry_run=False))
            steps.at(steps.rows)
            changed = [r for r in rows if r.action is RowAction.CREATE or r.action is RowAction.UPDATE]
            if changed:
                _write(uow, changed, file_name, steps)
                _emit_events(uow, changed)
                counts = _counts(rows)
                uow.audit(
                    "inventory.imported",
                    "inventory_import",
                    None,
                    after={
                        "file_name": file_name,
                        "sha256": hashlib.sha256(data).hexdigest(),
                        "rows": len(rows),
                        "created": counts[RowAction.CREATE],
                        "updated": counts[RowAction.UPDATE],
                        "unchanged": counts[RowAction.UNCHANGED],
                    },
                )
        result = _result(file_name, rows, committed=True, dry_run=False)
        steps.finished()
        return result


def _result(file_name: str, rows: list[_Checked], *, committed: bool, dry_run: bool) -> ImportResult:
    counts = _counts(rows)
    problems = [
        ImportProblem(row.line, column, message)
        for row in rows
        if row.problems
        for column, message in _ordered(row.problems)
    ]
    return ImportResult(
        file_name,
        [row.public() for row in rows],
        problems,
        created=counts[RowAction.CREATE],
        updated=counts[RowAction.UPDATE],
        unchanged=counts[RowAction.UNCHANGED],
        committed=committed,
        dry_run=dry_run,
    )


def _counts(rows: list[_Checked]) -> dict[RowAction, int]:
    counts = dict.fromkeys(RowAction, 0)
    for row in rows:
        counts[row.action] += 1
    return counts
