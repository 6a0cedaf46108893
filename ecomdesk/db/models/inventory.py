"""Stock on hand. The constraints keep the numbers sane even for writers that bypass the app."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from ecomdesk.db.base import Base, BigIntPK, Money, created_at_column, updated_at_column

_LIVE = text("archived_at IS NULL")


class InventoryItem(Base):
    __tablename__ = "inventory_items"
    __table_args__ = (
        CheckConstraint("stock >= 0", name="stock_not_negative"),
        CheckConstraint("reserved >= 0", name="reserved_not_negative"),
        CheckConstraint("reserved <= stock", name="reserved_within_stock"),
        CheckConstraint("price >= 0", name="price_not_negative"),
        CheckConstraint("cost >= 0", name="cost_not_negative"),
        CheckConstraint("reorder_level IS NULL OR reorder_level >= 0", name="reorder_level_not_negative"),
        CheckConstraint("sku = upper(trim(sku)) AND length(sku) > 0", name="sku_normalised"),
        # Grids list live items ordered by their keys then the primary key: these partial indexes
        # match exactly, so a window anywhere in a million rows is read from the index alone.
        *(
            Index(f"ix_inventory_items_live_{name}", *columns, postgresql_where=_LIVE, sqlite_where=_LIVE)
            for name, columns in (
                ("name", ("name", "id")),
                ("sku", ("sku", "id")),
                ("category", ("category", "name", "id")),
                ("supplier", ("supplier", "name", "id")),
                ("last_updated", ("last_updated", "id")),
            )
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    category: Mapped[str] = mapped_column(String(100), nullable=False)
    supplier: Mapped[str] = mapped_column(String(100), nullable=False)
    stock: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    reserved: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    price: Mapped[Decimal] = mapped_column(Money, nullable=False)
    cost: Mapped[Decimal] = mapped_column(Money, nullable=False)
    #: Low-stock threshold for this item; NULL means the shop's default threshold.
    reorder_level: Mapped[int | None] = mapped_column(Integer)
    archived_at: Mapped[dt.datetime | None]
    #: Optimistic-lock counter: an edit based on an old version is a conflict, never a lost update.
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1")
    last_updated: Mapped[dt.datetime] = updated_at_column()
    created_at: Mapped[dt.datetime] = created_at_column()

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class MovementKind(enum.StrEnum):
    """Why stock moved. `opening` and `import` are written by the app itself; staff choose the rest."""

    OPENING = "opening"
    RECEIVE = "receive"
    SHIP = "ship"
    CORRECT = "correct"
    RESERVE = "reserve"
    RELEASE = "release"
    IMPORT = "import"


class StockMovement(Base):
    """One change of an item's stock or reservations: who, when, by how much, why, and the levels
    it left. Written in the same transaction as the change, so the history always adds up."""

    __tablename__ = "stock_movements"
    __table_args__ = (
        CheckConstraint(
            "kind IN (" + ", ".join(f"'{kind}'" for kind in MovementKind) + ")",
            name="kind_known",
        ),
        CheckConstraint("stock_delta <> 0 OR reserved_delta <> 0", name="changes_something"),
        CheckConstraint(
            "stock_after >= 0 AND reserved_after >= 0 AND reserved_after <= stock_after", name="levels_sane"
        ),
        CheckConstraint("length(trim(reason)) > 0", name="reason_given"),
        Index("ix_stock_movements_item_id_id", "item_id", "id"),
        Index("ix_stock_movements_occurred_at_id", "occurred_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    #: Items with real history are archived, not deleted; an item's opening row goes with it.
    item_id: Mapped[int] = mapped_column(ForeignKey("inventory_items.id", ondelete="CASCADE"), nullable=False)
    occurred_at: Mapped[dt.datetime] = mapped_column(nullable=False, server_default=func.now())
    #: NULL once the user is deleted; `actor_email` still says who it was.
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    actor_email: Mapped[str | None] = mapped_column(String(254))
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    stock_delta: Mapped[int] = mapped_column(Integer, nullable=False)
    reserved_delta: Mapped[int] = mapped_column(Integer, nullable=False)
    stock_after: Mapped[int] = mapped_column(Integer, nullable=False)
    reserved_after: Mapped[int] = mapped_column(Integer, nullable=False)
    reason: Mapped[str] = mapped_column(String(500), nullable=False)
