"""Integrations: webhooks out (endpoints, the outbox of events, deliveries, attempts), webhooks in
(events taken, for idempotence), e-mail alerts (messages sent, the daily digest's mark, each
person's opt-ins), the workers' heartbeats, and their settings.

`jobs` now wakes workers: a statement-level trigger sends `NOTIFY ecomdesk_jobs, '<queue>'` when
jobs are queued (PostgreSQL delivers it on commit), so a listening worker starts at once instead
of at its next poll. Endpoints and deliveries are change-tracked like the other tables, so every
app's delivery log follows along.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

#: The settings this revision adds, with their defaults (a frozen copy of the catalogue's).
_SETTINGS = {
    "webhooks.max_attempts": 8,
    "webhooks.retry_base_seconds": 30,
    "email.smtp_host": "",
    "email.smtp_port": 587,
    "email.smtp_security": "starttls",
    "email.smtp_user": "",
    "email.from_address": "",
    "email.digest_hour": 8,
}
#: Tables whose changes every app hears of (see 0007), with the column naming their rows.
_TRACKED = {"webhook_endpoints": "id", "webhook_deliveries": "id"}

_NOTIFY = """
CREATE FUNCTION jobs_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    q text;
BEGIN
    FOR q IN SELECT DISTINCT queue FROM new_rows WHERE status = 'queued' LOOP
        PERFORM pg_notify('ecomdesk_jobs', q);
    END LOOP;
    RETURN NULL;
END
$$
"""


def _track(table: str, key: str) -> list[str]:
    run = f"FOR EACH STATEMENT EXECUTE FUNCTION change_log_capture('{key}')"
    return [
        f"CREATE TRIGGER {table}_log_insert AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows {run}",
        f"CREATE TRIGGER {table}_log_update AFTER UPDATE ON {table} REFERENCING NEW TABLE AS new_rows {run}",
        f"CREATE TRIGGER {table}_log_delete AFTER DELETE ON {table} REFERENCING OLD TABLE AS old_rows {run}",
        f"CREATE TRIGGER {table}_log_truncate AFTER TRUNCATE ON {table} {run}",
    ]


def upgrade() -> None:
    op.create_table(
        "email_messages",
        sa.Column("id", BIGINT, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("status IN ('sent', 'failed')", name=op.f("ck_email_messages_status_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_messages")),
        sa.UniqueConstraint(
            "kind", "dedupe_key", "recipient", name=op.f("uq_email_messages_kind_dedupe_key_recipient")
        ),
    )
    op.create_table(
        "inbound_events",
        sa.Column("id", BIGINT, nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("source IN ('generic', 'stripe')", name=op.f("ck_inbound_events_source_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_events")),
        sa.UniqueConstraint("source", "event_id", name=op.f("uq_inbound_events_source_event_id")),
    )
    op.create_index(op.f("ix_inbound_events_order_id"), "inbound_events", ["order_id"], unique=False)
    op.create_table(
        "schedule_marks",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("last_run_on", sa.Date(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_schedule_marks")),
    )
    op.create_table(
        "webhook_events",
        sa.Column("id", BIGINT, nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_webhook_events_event_id")),
    )
    op.create_table(
        "worker_heartbeats",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("host", sa.String(length=200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=40), server_default="", nullable=False),
        sa.Column("queues", JSON, nullable=False),
        sa.Column("listening", sa.String(length=200), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("jobs_done", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("last_job_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_worker_heartbeats")),
    )
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", BIGINT, nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("description", sa.String(length=200), server_default="", nullable=False),
        sa.Column("events", JSON, nullable=False),
        sa.Column("active", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("secret", sa.String(length=200), nullable=False),
        sa.Column("allow_private", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("created_by", BIGINT, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_webhook_endpoints_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),
    )
    op.create_index(
        op.f("ix_webhook_endpoints_created_by"), "webhook_endpoints", ["created_by"], unique=False
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", BIGINT, nullable=False),
        sa.Column("event_id", BIGINT, nullable=False),
        sa.Column("endpoint_id", BIGINT, nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'dead')", name=op.f("ck_webhook_deliveries_status_known")
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_webhook_deliveries_attempts_not_negative")),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoints.id"],
            name=op.f("fk_webhook_deliveries_endpoint_id_webhook_endpoints"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["webhook_events.id"],
            name=op.f("fk_webhook_deliveries_event_id_webhook_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        sa.UniqueConstraint(
            "event_id", "endpoint_id", name=op.f("uq_webhook_deliveries_event_id_endpoint_id")
        ),
    )
    op.create_index(
        "ix_webhook_deliveries_endpoint_id_id", "webhook_deliveries", ["endpoint_id", "id"], unique=False
    )
    op.create_table(
        "webhook_attempts",
        sa.Column("id", BIGINT, nullable=False),
        sa.Column("delivery_id", BIGINT, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("response_excerpt", sa.Text(), server_default="", nullable=False),
        sa.Column("worker", sa.String(length=200), server_default="", nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["webhook_deliveries.id"],
            name=op.f("fk_webhook_attempts_delivery_id_webhook_deliveries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_attempts")),
    )
    op.create_index(
        op.f("ix_webhook_attempts_delivery_id"), "webhook_attempts", ["delivery_id"], unique=False
    )
    op.add_column(
        "user_profiles",
        sa.Column("email_low_stock_digest", sa.Boolean(), server_default="false", nullable=False),
    )
    op.add_column(
        "user_profiles", sa.Column("email_report_ready", sa.Boolean(), server_default="false", nullable=False)
    )
    settings = sa.table("settings", sa.column("key"), sa.column("value", sa.JSON))
    op.bulk_insert(settings, [{"key": k, "value": v} for k, v in _SETTINGS.items()])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_NOTIFY)
        op.execute(
            "CREATE TRIGGER jobs_notify_insert AFTER INSERT ON jobs REFERENCING NEW TABLE AS new_rows "
            "FOR EACH STATEMENT EXECUTE FUNCTION jobs_notify()"
        )
        for table, key in _TRACKED.items():
            for statement in _track(table, key):
                op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER jobs_notify_insert ON jobs")
        op.execute("DROP FUNCTION jobs_notify()")
    settings = sa.table("settings", sa.column("key"))
    op.execute(settings.delete().where(settings.c.key.in_(list(_SETTINGS))))
    op.drop_column("user_profiles", "email_report_ready")
    op.drop_column("user_profiles", "email_low_stock_digest")
    op.drop_index(op.f("ix_webhook_attempts_delivery_id"), table_name="webhook_attempts")
    op.drop_table("webhook_attempts")
    op.drop_index("ix_webhook_deliveries_endpoint_id_id", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_index(op.f("ix_webhook_endpoints_created_by"), table_name="webhook_endpoints")
    op.drop_table("webhook_endpoints")
    op.drop_table("worker_heartbeats")
    op.drop_table("webhook_events")
    op.drop_table("schedule_marks")
    op.drop_index(op.f("ix_inbound_events_order_id"), table_name="inbound_events")
    op.drop_table("inbound_events")
    op.drop_table("email_messages")
