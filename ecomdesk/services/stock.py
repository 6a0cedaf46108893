"""Stock movements: receiving, shipping, correcting, reserving and releasing stock, and the
history of every movement.

An adjustment is one UPDATE whose WHERE clause holds the rules (stock, reserved and available never
below zero): PostgreSQL re-checks it against the latest committed row when two clients adjust the
same item at once, so no update is lost and no level goes negative, without an application lock.
The movement row and the audit entry go in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Final, cast

from sqlalchemy import ColumnElement, Row, Table, case, func, insert, literal, or_, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.orm import Session

from ecomdesk.db.models import InventoryItem, MovementKind, StockMovement
from ecomdesk.services.context import Actor, ServiceContext
from ecomdesk.services.errors import Conflict, NotFound, ValidationError
from ecomdesk.services.inventory import MAX_UNITS, emit_item_event, normalise_sku
from ecomdesk.services.listing import ListQuery, SortKey, like_pattern
from ecomdesk.services.tables import (
    Choice,
    Column,
    FilterKind,
    FilterSpec,
    Kind,
    Source,
    SqlTable,
    TableSpec,
)

#: What staff may choose; `opening` and `import` are written by item creation and imports.
ADJUSTMENTS: Final = (
    MovementKind.RECEIVE,
    MovementKind.SHIP,
    MovementKind.CORRECT,
    MovementKind.RESERVE,
    MovementKind.RELEASE,
)

KIND_LABELS: Final = {
    MovementKind.OPENING: "Opening stock",
    MovementKind.RECEIVE: "Received",
    MovementKind.SHIP: "Shipped",
    MovementKind.CORRECT: "Correction",
    MovementKind.RESERVE: "Reserved",
    MovementKind.RELEASE: "Released",
    MovementKind.IMPORT: "Import",
}

MAX_REASON: Final = 500
ITEMS: Final = cast(Table, InventoryItem.__table__)
MOVEMENTS: Final = cast(Table, StockMovement.__table__)


@dataclass(frozen=True)
class Adjustment:
    """One stock change as staff ask for it.

    `quantity` is a count of units, positive for every kind but `correct`, where its sign says the
    direction. `from_reserved` (ship only): the shipped units were reserved, so reserved falls too.
    `expected_stock` (optional): refuse unless stock is still at this level — for a correction to
    a counted level, which must not land on a number that moved while the count was typed."""

    kind: MovementKind
    quantity: int
    reason: str
    from_reserved: bool = False
    expected_stock: int | None = None

    def deltas(self) -> tuple[int, int]:
        """(stock change, reserved change)."""
        q = self.quantity
        match self.kind:
            case MovementKind.RECEIVE:
                return q, 0
            case MovementKind.SHIP:
                return -q, -q if self.from_reserved else 0
            case MovementKind.CORRECT:
                return q, 0
            case MovementKind.RESERVE:
                return 0, q
            case MovementKind.RELEASE:
                return 0, -q
        raise ValueError(self.kind)


def adjustment_problems(adjustment: Adjustment) -> dict[str, str]:
    problems: dict[str, str] = {}
    if adjustment.kind not in ADJUSTMENTS:
        problems["kind"] = "Choose receive, ship, correct, reserve or release."
    q = adjustment.quantity
    if adjustment.kind is MovementKind.CORRECT:
        if q == 0:
            problems["quantity"] = "A correction changes the stock: enter how many units to add or take off."
    elif q <= 0:
        problems["quantity"] = "Enter a number of units above zero."
    if abs(q) > MAX_UNITS:
        problems["quantity"] = f"At most {MAX_UNITS:,} units at once."
    reason = adjustment.reason.strip()
    if not reason:
        problems["reason"] = "Say why (e.g. a delivery note, an order number, a stocktake)."
    elif len(reason) > MAX_REASON:
        problems["reason"] = f"At most {MAX_REASON} characters."
    if adjustment.from_reserved and adjustment.kind is not MovementKind.SHIP:
        problems["from_reserved"] = "Only a shipment can take units from the reserved ones."
    if adjustment.expected_stock is not None and adjustment.expected_stock < 0:
        problems["expected_stock"] = "Must not be negative."
    return problems


@dataclass(frozen=True)
class MovementRow:
    """One stock movement as the history lists it."""

    id: int
    item_id: int
    sku: str
    name: str
    occurred_at: dt.datetime
    kind: str
    kind_label: str
    stock_delta: int
    reserved_delta: int
    stock_after: int
    reserved_after: int
    available_after: int
    reason: str
    actor: str


MOVEMENTS_SPEC: Final = TableSpec(
    name="stock_movements",
    title="Stock movements",
    singular="movement",
    plural="movements",
    columns=(
        Column("occurred_at", "When", Kind.DATETIME),
        Column("sku", "SKU"),
        Column("name", "Item", shown=False),
        Column("kind_label", "Movement"),
        Column("stock_delta", "Stock ±", Kind.CHANGE),
        Column("reserved_delta", "Reserved ±", Kind.CHANGE),
        Column("stock_after", "Stock after", Kind.INTEGER),
        Column("reserved_after", "Reserved after", Kind.INTEGER),
        Column("available_after", "Available after", Kind.INTEGER, shown=False),
        Column("reason", "Reason"),
        Column("actor", "By"),
    ),
    default_sort=(SortKey("occurred_at", descending=True),),
    filters=(FilterSpec("kind", "Movement", FilterKind.CHOICE),),
    search_hint="Search SKU or reason",
)


class StockMovementsTable(SqlTable[MovementRow]):
    """Every movement, newest first. Filters: `item_id` (one item's history), `sku`, `kind`."""

    spec = MOVEMENTS_SPEC
    permission = "inventory.read"

    def source(self) -> Source:
        move, item = StockMovement.__table__.c, InventoryItem.__table__.c
        return Source(
            from_=StockMovement.__table__.join(InventoryItem.__table__, item.id == move.item_id),
            columns={
                "occurred_at": move.occurred_at,
                "sku": item.sku,
                "name": item.name,
                "kind_label": _kind_label(move.kind),
                "stock_delta": move.stock_delta,
                "reserved_delta": move.reserved_delta,
                "stock_after": move.stock_after,
                "reserved_after": move.reserved_after,
                "available_after": move.stock_after - move.reserved_after,
                "reason": move.reason,
                "actor": func.coalesce(move.actor_email, "ecomdesk"),
            },
            primary_key=move.id,
            extra={"id": move.id, "item_id": move.item_id, "kind": move.kind},
            # Time order is insertion order: the id breaks ties and keeps the index usable.
            sort={"occurred_at": move.id},
        )

    def search(self, text: str) -> ColumnElement[bool]:
        pattern = like_pattern(text)
        return or_(
            InventoryItem.__table__.c.sku.ilike(pattern, escape="\\"),
            StockMovement.__table__.c.reason.ilike(pattern, escape="\\"),
        )

    def filter(self, key: str, value: Any) -> ColumnElement[bool]:
        move = StockMovement.__table__.c
        match key:
            case "item_id":
                if not isinstance(value, int) or isinstance(value, bool):
                    raise ValidationError({key: "Expected an item id."})
                return move.item_id == value
            case "sku":
                if not isinstance(value, str):
                    raise ValidationError({key: "Expected a SKU."})
                return InventoryItem.__table__.c.sku == normalise_sku(value)
            case "kind":
                if value not in {kind.value for kind in MovementKind}:
                    raise ValidationError({key: f"Unknown movement: {value}."})
                return move.kind == str(value)
        return super().filter(key, value)

    def record(self, row: RowMapping) -> MovementRow:
        return MovementRow(**{name: row[name] for name in MovementRow.__dataclass_fields__})

    def choices_query(self, session: Session, key: str) -> list[Choice]:
        if key != "kind":
            return super().choices_query(session, key)
        return [Choice(kind.value, KIND_LABELS[kind]) for kind in MovementKind]


def _kind_label(kind: ColumnElement[str]) -> ColumnElement[str]:
    """The kind in words, computed by the query so sorting and export see what the grid shows."""
    return case(*((kind == k.value, label) for k, label in KIND_LABELS.items()), else_=kind)


class StockService:
    """Adjustments and history. Needs `inventory.adjust` to move stock, `inventory.read` to read."""

    def __init__(self, ctx: ServiceContext, movements: StockMovementsTable | None = None) -> None:
        self.ctx = ctx
        self.movements = movements or StockMovementsTable(ctx)

    def adjust(self, actor: Actor, item: int | str, adjustment: Adjustment) -> MovementRow:
        """Apply one adjustment to the item with this id or SKU, atomically; a refusal (it would
        take a level below zero, or the item is archived or gone) raises `Conflict` saying why and
        changes nothing."""
        problems = adjustment_problems(adjustment)
        if problems:
            raise ValidationError(problems)
        stock_delta, reserved_delta = adjustment.deltas()
        c = InventoryItem.__table__.c
        which = c.id == item if isinstance(item, int) else c.sku == normalise_sku(item)
        reason = adjustment.reason.strip()
        with self.ctx.write(actor, "inventory.adjust") as uow:
            rules = [
                which,
                c.archived_at.is_(None),
                c.stock + stock_delta >= 0,
                c.reserved + reserved_delta >= 0,
                c.reserved + reserved_delta <= c.stock + stock_delta,
            ]
            if adjustment.expected_stock is not None:
                rules.append(c.stock == adjustment.expected_stock)
            # One statement changes the level and records the movement: the row lock it takes is
            # held only for that statement, the audit insert and the commit, so a hot item moves
            # as fast as the server commits, not as fast as the client's round trips.
            moved = (
                update(ITEMS)
                .where(*rules)
                .values(
                    stock=c.stock + stock_delta, reserved=c.reserved + reserved_delta, last_updated=uow.now
                )
                .returning(c.id, c.sku, c.name, c.stock, c.reserved)
                .cte("moved")
            )
            m = StockMovement.__table__.c
            me = uow.actor
            record = (
                insert(MOVEMENTS)
                .from_select(
                    [
                        "item_id",
                        "occurred_at",
                        "actor_id",
                        "actor_email",
                        "kind",
                        "stock_delta",
                        "reserved_delta",
                        "stock_after",
                        "reserved_after",
                        "reason",
                    ],
                    select(
                        moved.c.id,
                        literal(uow.now, m.occurred_at.type),
                        literal(me.user_id if me else None, m.actor_id.type),
                        literal(me.email if me else None, m.actor_email.type),
                        literal(adjustment.kind.value, m.kind.type),
                        literal(stock_delta),
                        literal(reserved_delta),
                        moved.c.stock,
                        moved.c.reserved,
                        literal(reason, m.reason.type),
                    ),
                )
                .returning(m.id, m.item_id, m.stock_after, m.reserved_after)
            )
            recorded = record.cte("recorded")
            done = uow.session.execute(
                select(recorded, moved.c.sku, moved.c.name).select_from(
                    recorded.join(moved, moved.c.id == recorded.c.item_id)
                )
            ).one_or_none()
            if done is None:
                current = uow.session.execute(
                    select(c.id, c.sku, c.stock, c.reserved, c.archived_at).where(which)
                ).one_or_none()
                raise _refusal(item, adjustment, current)
            uow.audit(
                "inventory.stock_adjusted",
                "inventory_item",
                done.item_id,
                before={
                    "stock": done.stock_after - stock_delta,
                    "reserved": done.reserved_after - reserved_delta,
                },
                after={
                    "stock": done.stock_after,
                    "reserved": done.reserved_after,
                    "movement": adjustment.kind.value,
                    "reason": reason,
                },
            )
            was_available = done.stock_after - stock_delta - (done.reserved_after - reserved_delta)
            emit_item_event(
                uow, done.item_id, "stock",
                [name for name, delta in (("stock", stock_delta), ("reserved", reserved_delta)) if delta],
                was_low=lambda item: item.low_at(was_available, item.reorder_level),
            )  # fmt: skip
            return MovementRow(
                id=done.id,
                item_id=done.item_id,
                sku=done.sku,
                name=done.name,
                occurred_at=uow.now,
                kind=adjustment.kind.value,
                kind_label=KIND_LABELS[adjustment.kind],
                stock_delta=stock_delta,
                reserved_delta=reserved_delta,
                stock_after=done.stock_after,
                reserved_after=done.reserved_after,
                available_after=done.stock_after - done.reserved_after,
                reason=reason,
                actor=me.email if me else "ecomdesk",
            )

    def history(self, actor: Actor, item: int | str, *, limit: int = 200) -> list[MovementRow]:
        """The item's latest movements, newest first (the grid pages through all of them)."""
        key = "item_id" if isinstance(item, int) else "sku"
        with self.ctx.read(actor, "inventory.read") as uow:
            c = InventoryItem.__table__.c
            which = c.id == item if isinstance(item, int) else c.sku == normalise_sku(item)
            if uow.session.scalar(select(c.id).where(which)) is None:
                raise NotFound(f"There is no item with the SKU {normalise_sku(str(item))}.")
        return self.movements.page(actor, ListQuery(filters={key: item}, limit=limit, counted=False)).rows


def _refusal(
    item: int | str, adjustment: Adjustment, current: Row[Any, Any, Any, Any, Any] | None
) -> Exception:
    """Why an adjustment's UPDATE matched no row, in the words of the person who asked."""
    if current is None:
        return NotFound(
            "This item no longer exists."
            if isinstance(item, int)
            else f"There is no item with the SKU {normalise_sku(item)}."
        )
    sku, stock, reserved = current.sku, current.stock, current.reserved
    available = stock - reserved
    q = adjustment.quantity
    if current.archived_at is not None:
        return Conflict(f"{sku} is archived: restore it before moving its stock.")
    if adjustment.expected_stock is not None and stock != adjustment.expected_stock:
        return Conflict(
            f"{sku}'s stock changed from {adjustment.expected_stock:,} to {stock:,} while you were "
            "entering this (someone else moved stock). Check the count and try again."
        )
    levels = f"{stock:,} in stock, {reserved:,} reserved, {available:,} available"
    #: For refusals that already name the available units.
    held = f"{stock:,} in stock, {reserved:,} reserved"
    match adjustment.kind:
        case MovementKind.SHIP if adjustment.from_reserved:
            return Conflict(
                f"Cannot ship {q:,} reserved units of {sku}: only {reserved:,} are reserved ({levels})."
            )
        case MovementKind.SHIP:
            return Conflict(f"Cannot ship {q:,} of {sku}: only {available:,} available ({held}).")
        case MovementKind.RESERVE:
            return Conflict(f"Cannot reserve {q:,} of {sku}: only {available:,} available ({held}).")
        case MovementKind.RELEASE:
            return Conflict(f"Cannot release {q:,} of {sku}: only {reserved:,} reserved ({levels}).")
        case MovementKind.CORRECT if stock + q < 0:
            return Conflict(f"Cannot take {-q:,} off {sku}: only {stock:,} in stock ({levels}).")
        case MovementKind.CORRECT:
            return Conflict(
                f"Cannot lower {sku}'s stock to {stock + q:,}: {reserved:,} units are reserved. "
                "Release them first."
            )
    return Conflict(f"This would take {sku} below zero ({levels}).")
