"""Stock on hand. The constraints keep the numbers sane even for writers that bypass the app."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import CheckConstraint, Index, Integer, String, text
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
