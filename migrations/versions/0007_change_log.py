"""Change tracking: the `change_log` every app polls for what others changed, filled by triggers;
and an index for the Activity page's filter by person.

Statement-level triggers with transition tables write one row per changed row (its key as text),
so a change made by psql or another program is seen exactly like one made by the app. A statement
that changes more than `ROW_LIMIT` rows (an import, a bulk update) writes one row with no key and
the number of rows instead: a poll then says "this table changed a lot" and the reader re-reads it,
rather than the log growing by a million rows. Every change also sends
`NOTIFY ecomdesk_changes, '<table>'`, which makes a listening app poll at once; PostgreSQL sends it
on commit only, once per table and transaction.

The log is read by transaction id against the snapshot's xmin horizon (`ecomdesk.db.changes`), so
a transaction that commits after one that started later is never missed. PostgreSQL only: the
offline snapshot (SQLite) has the table but nothing writes to it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

#: Each tracked table and the column that names its rows to a reader (a profile by its user).
TRACKED: dict[str, str] = {
    "users": "id",
    "user_profiles": "user_id",
    "roles": "id",
    "role_permissions": "role_id",
    "device_sessions": "id",
    "inventory_items": "id",
    "stock_movements": "id",
    "order_events": "id",
    "analytics_data": "id",
    "sales_metrics": "id",
    "customer_metrics": "id",
    "reports": "id",
    "settings": "key",
    "audit_log": "id",
}
#: Rows one statement may change and still be logged one by one.
ROW_LIMIT = 500

CAPTURE = f"""
CREATE FUNCTION change_log_capture() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    key_column text := TG_ARGV[0];
    changed bigint;
    tx bigint := pg_current_xact_id()::text::bigint;
    what text := lower(TG_OP);
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        INSERT INTO change_log (txid, table_name, op, row_id, row_count)
        VALUES (tx, TG_TABLE_NAME, what, NULL, 0);
    ELSIF TG_OP = 'DELETE' THEN
        SELECT count(*) INTO changed FROM (SELECT 1 FROM old_rows LIMIT {ROW_LIMIT + 1}) AS sample;
        IF changed = 0 THEN
            RETURN NULL;
        ELSIF changed > {ROW_LIMIT} THEN
            INSERT INTO change_log (txid, table_name, op, row_id, row_count)
            SELECT tx, TG_TABLE_NAME, what, NULL, count(*) FROM old_rows;
        ELSE
            INSERT INTO change_log (txid, table_name, op, row_id, row_count)
            SELECT tx, TG_TABLE_NAME, what, to_jsonb(o) ->> key_column, 1 FROM old_rows AS o;
        END IF;
    ELSE
        SELECT count(*) INTO changed FROM (SELECT 1 FROM new_rows LIMIT {ROW_LIMIT + 1}) AS sample;
        IF changed = 0 THEN
            RETURN NULL;
        ELSIF changed > {ROW_LIMIT} THEN
            INSERT INTO change_log (txid, table_name, op, row_id, row_count)
            SELECT tx, TG_TABLE_NAME, what, NULL, count(*) FROM new_rows;
        ELSE
            INSERT INTO change_log (txid, table_name, op, row_id, row_count)
            SELECT tx, TG_TABLE_NAME, what, to_jsonb(n) ->> key_column, 1 FROM new_rows AS n;
        END IF;
    END IF;
    PERFORM pg_notify('ecomdesk_changes', TG_TABLE_NAME);
    RETURN NULL;
END
$$
"""


def _triggers(table: str, key: str) -> list[str]:
    run = f"FOR EACH STATEMENT EXECUTE FUNCTION change_log_capture('{key}')"
    return [
        f"CREATE TRIGGER {table}_log_insert AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows {run}",
        f"CREATE TRIGGER {table}_log_update AFTER UPDATE ON {table} REFERENCING NEW TABLE AS new_rows {run}",
        f"CREATE TRIGGER {table}_log_delete AFTER DELETE ON {table} REFERENCING OLD TABLE AS old_rows {run}",
        f"CREATE TRIGGER {table}_log_truncate AFTER TRUNCATE ON {table} {run}",
    ]


def upgrade() -> None:
    op.create_table(
        "change_log",
        sa.Column("id", BIGINT, nullable=False),
        sa.Column("txid", sa.BigInteger(), nullable=False),
        sa.Column(
            "changed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("clock_timestamp()"),
            nullable=False,
        ),
        sa.Column("table_name", sa.String(length=63), nullable=False),
        sa.Column("op", sa.String(length=8), nullable=False),
        sa.Column("row_id", sa.String(length=200), nullable=True),
        sa.Column("row_count", sa.Integer(), server_default="1", nullable=False),
        sa.CheckConstraint(
            "op IN ('insert', 'update', 'delete', 'truncate')", name=op.f("ck_change_log_op_known")
        ),
        sa.CheckConstraint("row_count >= 0", name=op.f("ck_change_log_row_count_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_log")),
    )
    op.create_index("ix_change_log_txid", "change_log", ["txid"])
    # The Activity page filters by person and lists the people: newest first within one of them.
    op.create_index(
        "ix_audit_log_actor_email_occurred_at_id", "audit_log", ["actor_email", "occurred_at", "id"]
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(CAPTURE)
    for table, key in TRACKED.items():
        for statement in _triggers(table, key):
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TRACKED:
            for what in ("insert", "update", "delete", "truncate"):
                op.execute(f"DROP TRIGGER {table}_log_{what} ON {table}")
        op.execute("DROP FUNCTION change_log_capture()")
    op.drop_index("ix_audit_log_actor_email_occurred_at_id", table_name="audit_log")
    op.drop_index("ix_change_log_txid", table_name="change_log")
    op.drop_table("change_log")
