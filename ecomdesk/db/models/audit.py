"""The audit trail: one row per change, written in the same transaction as the change."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from ecomdesk.db.base import Base, BigIntPK


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_entity", "entity_type", "entity_id"),
        Index("ix_audit_log_occurred_at_id", "occurred_at", "id"),
        # The Activity page's user filter and its list of users (migration 0007).
        Index("ix_audit_log_actor_email_occurred_at_id", "actor_email", "occurred_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(nullable=False, server_default=func.now())
    #: Kept as NULL when the user is deleted; `actor_email` still says who it was.
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    actor_email: Mapped[str | None] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    entity_type: Mapped[str] = mapped_column(String(64), nullable=False)
    entity_id: Mapped[str | None] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None]
    after: Mapped[dict[str, Any] | None]
