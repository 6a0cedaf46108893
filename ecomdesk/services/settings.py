"""Reading the shop's settings inside a unit of work; defaults come from the catalogue."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ecomdesk.db.catalog import DEFAULT_SETTINGS
from ecomdesk.db.models import SystemSetting


def read_setting(session: Session, key: str) -> Any:
    """The stored value of `key`, or its catalogue default when the row is missing."""
    if key not in DEFAULT_SETTINGS:
        raise KeyError(key)
    value = session.scalar(select(SystemSetting.value).where(SystemSetting.key == key))
    return DEFAULT_SETTINGS[key] if value is None else value


def read_int_setting(session: Session, key: str) -> int:
    """An integer setting; a value someone stored with the wrong type falls back to the default."""
    value = read_setting(session, key)
    try:
        return int(value)
    except (TypeError, ValueError):
        return int(DEFAULT_SETTINGS[key])
