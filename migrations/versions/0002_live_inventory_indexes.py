"""Grid indexes on live (not archived) inventory items only, each ending in the primary key.

Every grid and export of inventory filters `archived_at IS NULL` and orders by its keys then `id`.
Partial indexes that match exactly let PostgreSQL answer a window of the million-row list, and
count it, from the index alone (an index-only scan) instead of visiting every row before it.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = sa.text("archived_at IS NULL")
OLD = {
    "ix_inventory_items_name_id": ["name", "id"],
    "ix_inventory_items_category_name": ["category", "name"],
    "ix_inventory_items_supplier_name": ["supplier", "name"],
    "ix_inventory_items_last_updated_id": ["last_updated", "id"],
}
NEW = {
    "ix_inventory_items_live_name": ["name", "id"],
    "ix_inventory_items_live_sku": ["sku", "id"],
    "ix_inventory_items_live_category": ["category", "name", "id"],
    "ix_inventory_items_live_supplier": ["supplier", "name", "id"],
    "ix_inventory_items_live_last_updated": ["last_updated", "id"],
}


def upgrade() -> None:
    for name in OLD:
        op.drop_index(name, table_name="inventory_items")
    for name, columns in NEW.items():
        op.create_index(name, "inventory_items", columns, postgresql_where=LIVE, sqlite_where=LIVE)


def downgrade() -> None:
    for name in NEW:
        op.drop_index(name, table_name="inventory_items")
    for name, columns in OLD.items():
        op.create_index(name, "inventory_items", columns)
