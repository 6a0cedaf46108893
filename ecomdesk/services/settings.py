"""Reading the shop's settings inside a unit of work; defaults come from the catalogue."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ecomdesk.db.catalog import DEFAULT_SETTINGS
from ecomdesk.db.models import SystemSetting


def read_int_settings(session: Session, *keys: str) -> list[int]:
    """Integer settings in one query; a value stored with the wrong type falls back to the default."""
    unknown = [key for key in keys if key not in DEFAULT_SETTINGS]
    if unknown:
        raise KeyError(unknown[0])
    query = select(SystemSetting.key, SystemSetting.value).where(SystemSetting.key.in_(keys))
    # (dict(result) would take the Result for a mapping: it has .keys())
    stored: dict[str, Any] = {key: value for key, value in session.execute(query)}
    values = []
    for key in keys:
        try:
            values.append(int(stored.get(key, DEFAULT_SETTINGS[key])))
        except (TypeError, ValueError):
            values.append(int(DEFAULT_SETTINGS[key]))
    return values
