"""A change to an item made outside the app (psql, another program) counts as a change too: a
trigger bumps `version` when an item's details change without the writer bumping it itself, and
stamps `last_updated` when anything changes without the writer stamping it. An edit form opened
before such a change then ends in the conflict dialog instead of silently overwriting it.

PostgreSQL only: the offline snapshot (SQLite) is read-only, so nothing there needs guarding.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTION = """
CREATE FUNCTION inventory_items_change_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.version = OLD.version AND (NEW.sku, NEW.name, NEW.category, NEW.supplier, NEW.price, NEW.cost,
            NEW.reorder_level, NEW.archived_at)
        IS DISTINCT FROM (OLD.sku, OLD.name, OLD.category, OLD.supplier, OLD.price, OLD.cost,
            OLD.reorder_level, OLD.archived_at) THEN
        NEW.version := OLD.version + 1;
    END IF;
    IF NEW.last_updated = OLD.last_updated AND NEW IS DISTINCT FROM OLD THEN
        NEW.last_updated := now();
    END IF;
    RETURN NEW;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(FUNCTION)
    op.execute(
        "CREATE TRIGGER inventory_items_change_guard BEFORE UPDATE ON inventory_items "
        "FOR EACH ROW EXECUTE FUNCTION inventory_items_change_guard()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER inventory_items_change_guard ON inventory_items")
    op.execute("DROP FUNCTION inventory_items_change_guard()")
