"""The shop's system settings: one row per key in `settings`, defaults from the catalogue.

Every staff machine reads the same values (shop name, currency, stock threshold, sign-in policy), so
they live in the database, not on one computer. `read_int_settings` serves other services inside
their own unit of work; `SettingsService` is what the settings page reads and changes.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ecomdesk.db.catalog import DEFAULT_SETTINGS
from ecomdesk.db.models import SystemSetting
from ecomdesk.services.access import require_actor
from ecomdesk.services.context import Actor, ServiceContext, UnitOfWork
from ecomdesk.services.errors import Conflict, ValidationError

CURRENCY_RE: Final = re.compile(r"^[A-Z]{3}$")
MAX_SHOP_NAME: Final = 100

#: Field of `SystemSettings` → the key of its row in `settings`.
KEYS: Final[dict[str, str]] = {
    "shop_name": "shop.name",
    "currency": "shop.currency",
    "timezone": "shop.timezone",
    "low_stock_threshold": "inventory.low_stock_threshold",
    "session_lifetime_days": "sessions.lifetime_days",
    "lockout_after_failures": "auth.lockout_after_failures",
    "disable_after_failures": "auth.disable_after_failures",
    "max_delay_seconds": "auth.max_delay_seconds",
}

#: Inclusive ranges of the integer settings: wide enough for any shop, narrow enough that a typo
#: (a session lasting 30 years, a 0-second lockout delay) is refused. The form uses them too.
INT_LIMITS: Final[dict[str, tuple[int, int]]] = {
    "low_stock_threshold": (0, 1_000_000),
    "session_lifetime_days": (1, 365),
    "lockout_after_failures": (1, 100),
    "disable_after_failures": (2, 10_000),
    "max_delay_seconds": (1, 86_400),
}


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


@dataclass(frozen=True)
class SystemSettings:
    """The shop-wide settings as the database holds them now."""

    shop_name: str
    currency: str
    timezone: str
    low_stock_threshold: int
    session_lifetime_days: int
    lockout_after_failures: int
    disable_after_failures: int
    max_delay_seconds: int
    #: The latest change of any setting: pass it back as `expected_updated_at` so a save never
    #: silently overwrites what another administrator saved meanwhile. None: all defaults.
    updated_at: dt.datetime | None = None

    def values(self) -> dict[str, Any]:
        """Field → value, without `updated_at`."""
        return {name: getattr(self, name) for name in KEYS}


def _coerce(field: str, raw: Any, default: Any) -> Any:
    """A stored value of the wrong type reads as the default instead of breaking every screen."""
    if field in INT_LIMITS:
        try:
            return int(raw)
        except (TypeError, ValueError):
            return int(default)
    return raw if isinstance(raw, str) else str(default)


def validate_settings(values: Mapping[str, Any]) -> dict[str, str]:
    """Per-field messages for a complete set of values; empty when all of them can be saved."""
    problems: dict[str, str] = {}
    name = values["shop_name"]
    if not isinstance(name, str) or not name.strip():
        problems["shop_name"] = "Enter the shop's name."
    elif len(name.strip()) > MAX_SHOP_NAME:
        problems["shop_name"] = f"At most {MAX_SHOP_NAME} characters."
    currency = values["currency"]
    if not isinstance(currency, str) or not CURRENCY_RE.match(currency):
        problems["currency"] = "Use the three capital letters of an ISO 4217 code, e.g. EUR, USD or GBP."
    timezone = values["timezone"]
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        problems["timezone"] = "Use a time zone name such as Europe/Berlin or America/New_York."
    for field, (low, high) in INT_LIMITS.items():
        value = values[field]
        if not isinstance(value, int) or isinstance(value, bool):
            problems[field] = "Enter a whole number."
        elif not low <= value <= high:
            problems[field] = f"Enter a number from {low:,} to {high:,}."
    lock, disable = values["lockout_after_failures"], values["disable_after_failures"]
    both_valid = not {"lockout_after_failures", "disable_after_failures"} & set(problems)
    if both_valid and lock >= disable:
        problems["disable_after_failures"] = (
            f"Must be more than the failures before waiting ({lock}): otherwise accounts are "
            "disabled before any delay applies."
        )
    return problems


class _Group(Protocol):
    """A loaded group of settings: its values by field, and its latest change."""

    @property
    def updated_at(self) -> dt.datetime | None: ...

    def values(self) -> dict[str, Any]: ...


G = TypeVar("G", bound=_Group)


def save_settings(
    uow: UnitOfWork,
    keys: Mapping[str, str],
    load: Callable[[Session], G],
    validate: Callable[[Mapping[str, Any]], dict[str, str]],
    changes: Mapping[str, Any],
    expected_updated_at: dt.datetime | None,
    *,
    what: str,
    unknown_message: str,
) -> tuple[G, dict[str, Any]]:
    """Write the changed settings of one group (field → row key `keys`), the way every settings
    form saves: refuse unknown fields, lock the group's rows so two saves are judged one after the
    other, refuse a save over one made since the form loaded (`Conflict`), validate the result as a
    whole, and write only what differs. Returns the group as it was and the changed fields; the
    caller audits them (and does what a change implies)."""
    me = require_actor(uow)
    unknown = sorted(set(changes) - set(keys))
    if unknown:
        raise ValidationError(dict.fromkeys(unknown, unknown_message))
    uow.session.execute(
        select(SystemSetting.key).where(SystemSetting.key.in_(keys.values())).with_for_update()
    ).all()
    current = load(uow.session)
    if expected_updated_at is not None and current.updated_at not in (None, expected_updated_at):
        raise Conflict(
            f"Another administrator changed the {what} since you opened them. "
            "Reload to see their values; nothing was saved."
        )
    before = current.values()
    cleaned = {k: v.strip() if isinstance(v, str) else v for k, v in changes.items()}
    wanted = {**before, **cleaned}
    problems = validate(wanted)
    if problems:
        raise ValidationError(problems)
    changed = {k: v for k, v in wanted.items() if v != before[k]}
    for field, value in changed.items():
        row = uow.session.get(SystemSetting, keys[field])
        if row is None:
            uow.session.add(SystemSetting(key=keys[field], value=value, updated_by=me.user_id))
        else:
            row.value = value
            row.updated_by = me.user_id
    uow.session.flush()
    return current, changed


class SettingsService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def get_system_settings(self, actor: Actor) -> SystemSettings:
        """Any signed-in user may read them: every screen needs the shop's name and currency."""
        with self.ctx.read(actor, None) as uow:
            require_actor(uow)
            return self._load(uow.session)

    def update_system_settings(
        self, actor: Actor, changes: Mapping[str, Any], expected_updated_at: dt.datetime | None = None
    ) -> SystemSettings:
        """Change some settings (keys: `SystemSettings` field names); validates the result as a
        whole, audits the changed keys only, and changes nothing when nothing differs.

        `expected_updated_at`: the `updated_at` the form was loaded with; when another save came
        in between, nothing is changed and `Conflict` says so.
        """
        with self.ctx.write(actor, "settings.manage") as uow:
            current, changed = save_settings(
                uow,
                KEYS,
                self._load,
                validate_settings,
                changes,
                expected_updated_at,
                what="settings",
                unknown_message="Not a system setting.",
            )
            if not changed:
                return current
            if "timezone" in changed:
                # Shop days are stored with every order: a new zone moves them, and the metrics.
                # (Imported here: the order import reads the settings through this module.)
                from ecomdesk.services.orders import rederive_shop_days

                rederive_shop_days(uow.session.connection(), zoneinfo.ZoneInfo(changed["timezone"]))
            uow.audit(
                "settings.changed",
                "settings",
                None,
                before={KEYS[k]: getattr(current, k) for k in changed},
                after={KEYS[k]: v for k, v in changed.items()},
            )
            return self._load(uow.session)

    @staticmethod
    def _load(session: Session) -> SystemSettings:
        rows = session.execute(
            select(SystemSetting.key, SystemSetting.value).where(SystemSetting.key.in_(KEYS.values()))
        )
        stored = {key: value for key, value in rows}
        # Of these settings only: a save of the e-mail settings is no conflict for this form.
        latest = session.scalar(
            select(func.max(SystemSetting.updated_at)).where(SystemSetting.key.in_(KEYS.values()))
        )
        values = {
            field: _coerce(field, stored.get(key, DEFAULT_SETTINGS[key]), DEFAULT_SETTINGS[key])
            for field, key in KEYS.items()
        }
        return SystemSettings(**values, updated_at=latest)
