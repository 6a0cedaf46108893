"""Shop-wide settings (shop name, currency, thresholds, policies) shared by every staff machine."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from ecomdesk.db.base import Base, JSONType, updated_at_column


class SystemSetting(Base):
    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    #: A JSON value so each setting keeps its type (number, text, list, object).
    value: Mapped[Any] = mapped_column(JSONType, nullable=False)
    updated_at: Mapped[dt.datetime] = updated_at_column()
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
