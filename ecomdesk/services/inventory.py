"""Inventory: the stock list as every screen, export and report sees it.

(Creating, editing and adjusting stock arrive with the inventory issue; this module holds the list.)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Numeric, Text, case, cast, func, or_, select, text
from sqlalchemy.engine import RowMapping
from sqlalchemy.orm import Session

from ecomdesk.db.catalog import DEFAULT_SETTINGS
from ecomdesk.db.models import InventoryItem, SystemSetting
from ecomdesk.services.errors import ValidationError
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

THRESHOLD_KEY = "inventory.low_stock_threshold"


@dataclass(frozen=True)
class InventoryRow:
    id: int
    sku: str
    name: str
    category: str
    supplier: str
    stock: int
    reserved: int
    available: int
    price: Decimal
    cost: Decimal
    margin: Decimal | None
    stock_value: Decimal
    reorder_level: int | None
    low_stock: bool
    last_updated: dt.datetime
    version: int


INVENTORY_SPEC = TableSpec(
    name="inventory",
    title="Inventory",
    singular="item",
    plural="items",
    columns=(
        Column("sku", "SKU"),
        Column("name", "Name"),
        Column("category", "Category"),
        Column("supplier", "Supplier"),
        Column("stock", "Stock", Kind.INTEGER),
        Column("reserved", "Reserved", Kind.INTEGER),
        Column("available", "Available", Kind.INTEGER),
        Column("price", "Price", Kind.MONEY),
        Column("cost", "Cost", Kind.MONEY),
        Column("margin", "Margin %", Kind.PERCENT),
        Column("stock_value", "Stock value", Kind.MONEY),
        Column("reorder_level", "Reorder level", Kind.INTEGER, shown=False),
        Column("last_updated", "Last updated", Kind.DATETIME),
    ),
    default_sort=(SortKey("name"),),
    filters=(
        FilterSpec("category", "Category", FilterKind.CHOICE),
        FilterSpec("supplier", "Supplier", FilterKind.CHOICE),
        FilterSpec("low_stock", "Low stock", FilterKind.FLAG, ("Low stock only", "Enough stock")),
    ),
    search_hint="Search SKU or name",
)


def _threshold() -> ColumnElement[Any]:
    """The shop's default low-stock threshold, read by the query itself (one round trip)."""
    stored = (
        select(cast(cast(SystemSetting.value, Text), Numeric))
        .where(SystemSetting.key == THRESHOLD_KEY)
        .scalar_subquery()
    )
    return func.coalesce(InventoryItem.reorder_level, stored, DEFAULT_SETTINGS[THRESHOLD_KEY])


def _available() -> ColumnElement[int]:
    c = InventoryItem.__table__.c
    return c.stock - c.reserved


class InventoryTable(SqlTable[InventoryRow]):
    spec = INVENTORY_SPEC
    permission = "inventory.read"

    def source(self) -> Source:
        item = InventoryItem.__table__.c
        margin = case(
            (item.price > 0, func.round((item.price - item.cost) * 100 / item.price, 1)),
            else_=None,
        )
        return Source(
            from_=InventoryItem.__table__,
            columns={
                "sku": item.sku,
                "name": item.name,
                "category": item.category,
                "supplier": item.supplier,
                "stock": item.stock,
                "reserved": item.reserved,
                "available": _available(),
                "price": item.price,
                "cost": item.cost,
                "margin": margin,
                "stock_value": item.stock * item.cost,
                "reorder_level": item.reorder_level,
                "last_updated": item.last_updated,
            },
            primary_key=item.id,
            extra={"id": item.id, "version": item.version, "low_stock": _available() <= _threshold()},
        )

    def search(self, text: str) -> ColumnElement[bool]:
        pattern = like_pattern(text)
        return or_(
            InventoryItem.sku.ilike(pattern, escape="\\"), InventoryItem.name.ilike(pattern, escape="\\")
        )

    def filter(self, key: str, value: Any) -> ColumnElement[bool]:
        match key:
            case "category" | "supplier":
                if not isinstance(value, str):
                    raise ValidationError({key: "Expected a name."})
                return getattr(InventoryItem, key) == value  # type: ignore[no-any-return]
            case "low_stock":
                if not isinstance(value, bool):
                    raise ValidationError({key: "Expected true or false."})
                low = _available() <= _threshold()
                return low if value else ~low
            case "archived":
                if not isinstance(value, bool):
                    raise ValidationError({key: "Expected true or false."})
                archived = InventoryItem.archived_at.is_not(None)
                return archived if value else ~archived
        return super().filter(key, value)

    def scope(self, query: ListQuery) -> ColumnElement[bool] | None:
        """Archived items stay out of the list unless the `archived` filter asks for them."""
        return None if "archived" in query.filters else InventoryItem.__table__.c.archived_at.is_(None)

    def record(self, row: RowMapping) -> InventoryRow:
        return InventoryRow(**{name: row[name] for name in InventoryRow.__dataclass_fields__})

    def choices_query(self, session: Session, key: str) -> list[Choice]:
        if key not in ("category", "supplier"):
            return super().choices_query(session, key)
        # A loose index scan: hop from each value to the next along the live-items index instead
        # of reading every row for DISTINCT (0.3 ms instead of ~200 ms on a million rows).
        hops = text(
            f"WITH RECURSIVE v AS ("
            f" SELECT min({key}) AS value FROM inventory_items WHERE archived_at IS NULL"
            f" UNION ALL SELECT (SELECT min({key}) FROM inventory_items"
            f"  WHERE archived_at IS NULL AND {key} > v.value) FROM v WHERE v.value IS NOT NULL"
            f") SELECT value FROM v WHERE value IS NOT NULL"
        )
        return [Choice(value, value) for value in session.scalars(hops)]
