"""System settings: every signed-in user reads them, an administrator changes them — validated as a
whole, audited key by key, and never over another administrator's newer save.

Who may call which method is proven in `test_permission_matrix.py`.
"""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import Engine, select, text

from ecomdesk.db.catalog import DEFAULT_SETTINGS
from ecomdesk.db.models import SystemSetting
from ecomdesk.services.errors import Conflict, ValidationError
from ecomdesk.services.registry import Services
from ecomdesk.services.settings import KEYS, SystemSettings
from tests.services.conftest import Staff, audit_entries


def _stored(engine: Engine, key: str) -> object:
    with engine.connect() as conn:
        return conn.execute(select(SystemSetting.value).where(SystemSetting.key == key)).scalar_one_or_none()


def test_every_setting_field_has_a_row_key_and_a_catalogue_default() -> None:
    names = {f.name for f in dataclasses.fields(SystemSettings)} - {"updated_at"}
    assert names == set(KEYS)
    assert set(KEYS.values()) <= set(DEFAULT_SETTINGS)


def test_a_viewer_reads_the_settings_a_fresh_database_starts_with(services: Services, staff: Staff) -> None:
    settings = services.settings.get_system_settings(staff.viewer)
    assert settings.shop_name == DEFAULT_SETTINGS["shop.name"]
    assert settings.currency == "EUR"
    assert settings.lockout_after_failures == 5
    assert settings.disable_after_failures == 100
    assert settings.max_delay_seconds == 900


def test_saving_changes_the_rows_and_audits_only_the_changed_keys(
    services: Services, staff: Staff, engine: Engine
) -> None:
    before = services.settings.get_system_settings(staff.admin)
    after = services.settings.update_system_settings(
        staff.admin,
        {"shop_name": "  Acme Outdoor  ", "currency": "USD", "max_delay_seconds": before.max_delay_seconds},
        before.updated_at,
    )
    assert (after.shop_name, after.currency) == ("Acme Outdoor", "USD")
    assert _stored(engine, "shop.name") == "Acme Outdoor"
    assert _stored(engine, "shop.currency") == "USD"
    [entry] = audit_entries(engine, "settings.changed")
    assert entry.actor_id == staff.admin.user_id
    assert entry.before == {"shop.name": "Demo Shop", "shop.currency": "EUR"}
    assert entry.after == {"shop.name": "Acme Outdoor", "shop.currency": "USD"}


def test_saving_the_same_values_changes_nothing_and_writes_no_audit_entry(
    services: Services, staff: Staff, engine: Engine
) -> None:
    current = services.settings.get_system_settings(staff.admin)
    again = services.settings.update_system_settings(staff.admin, current.values(), current.updated_at)
    assert again == current
    assert audit_entries(engine, "settings.changed") == []


def test_invalid_values_are_refused_field_by_field_and_nothing_is_saved(
    services: Services, staff: Staff, engine: Engine
) -> None:
    with pytest.raises(ValidationError) as refused:
        services.settings.update_system_settings(
            staff.admin,
            {
                "shop_name": "   ",
                "currency": "eur",
                "session_lifetime_days": 0,
                "max_delay_seconds": "soon",
                "timezone": "Mars/Olympus",
            },
        )
    assert set(refused.value.fields) == {
        "shop_name",
        "currency",
        "session_lifetime_days",
        "max_delay_seconds",
        "timezone",
    }
    assert "ISO 4217" in refused.value.fields["currency"]
    assert "1 to 365" in refused.value.fields["session_lifetime_days"]
    assert _stored(engine, "shop.name") == "Demo Shop"
    assert audit_entries(engine, "settings.changed") == []


def test_a_shop_name_longer_than_a_hundred_characters_is_refused(services: Services, staff: Staff) -> None:
    with pytest.raises(ValidationError) as refused:
        services.settings.update_system_settings(staff.admin, {"shop_name": "x" * 101})
    assert refused.value.fields == {"shop_name": "At most 100 characters."}
    saved = services.settings.update_system_settings(staff.admin, {"shop_name": "x" * 100})
    assert saved.shop_name == "x" * 100


def test_accounts_cannot_be_disabled_before_they_would_have_to_wait(services: Services, staff: Staff) -> None:
    with pytest.raises(ValidationError) as refused:
        services.settings.update_system_settings(
            staff.admin, {"lockout_after_failures": 10, "disable_after_failures": 10}
        )
    assert set(refused.value.fields) == {"disable_after_failures"}
    saved = services.settings.update_system_settings(
        staff.admin, {"lockout_after_failures": 10, "disable_after_failures": 11}
    )
    assert (saved.lockout_after_failures, saved.disable_after_failures) == (10, 11)


def test_a_boolean_is_not_taken_for_a_number(services: Services, staff: Staff) -> None:
    with pytest.raises(ValidationError) as refused:
        services.settings.update_system_settings(staff.admin, {"low_stock_threshold": True})
    assert set(refused.value.fields) == {"low_stock_threshold"}


def test_an_unknown_setting_is_refused_by_name(services: Services, staff: Staff) -> None:
    with pytest.raises(ValidationError) as refused:
        services.settings.update_system_settings(staff.admin, {"shop_colour": "teal"})
    assert set(refused.value.fields) == {"shop_colour"}


def test_a_save_over_another_administrators_newer_save_is_refused(
    services: Services, staff: Staff, engine: Engine
) -> None:
    opened = services.settings.get_system_settings(staff.admin)
    services.settings.update_system_settings(staff.admin, {"currency": "GBP"}, opened.updated_at)
    with pytest.raises(Conflict):
        services.settings.update_system_settings(staff.admin, {"shop_name": "Late"}, opened.updated_at)
    assert _stored(engine, "shop.name") == "Demo Shop"
    assert _stored(engine, "shop.currency") == "GBP"


def test_a_missing_row_reads_as_its_default_and_is_created_on_save(
    services: Services, staff: Staff, engine: Engine
) -> None:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM settings WHERE key = 'inventory.low_stock_threshold'"))
        conn.execute(text("UPDATE settings SET value = '\"lots\"' WHERE key = 'sessions.lifetime_days'"))
    read = services.settings.get_system_settings(staff.viewer)
    assert read.low_stock_threshold == DEFAULT_SETTINGS["inventory.low_stock_threshold"]
    assert read.session_lifetime_days == DEFAULT_SETTINGS["sessions.lifetime_days"]
    services.settings.update_system_settings(staff.admin, {"low_stock_threshold": 3})
    assert _stored(engine, "inventory.low_stock_threshold") == 3


def test_a_changed_lockout_policy_is_what_sign_in_uses_next(services: Services, staff: Staff) -> None:
    from ecomdesk.services.errors import AuthenticationError

    services.settings.update_system_settings(
        staff.admin, {"lockout_after_failures": 1, "disable_after_failures": 3}
    )
    for _ in range(3):
        with pytest.raises(AuthenticationError):
            services.auth.authenticate(staff.viewer.email, "wrong password entirely")
        services.ctx.clock.advance(minutes=20)  # type: ignore[attr-defined]
    with pytest.raises(AuthenticationError) as refused:
        services.auth.authenticate(staff.viewer.email, "wrong password entirely")
    assert refused.value.disabled


def test_saving_the_email_settings_is_no_conflict_for_an_open_shop_settings_form(
    services: Services, staff: Staff
) -> None:
    opened = services.settings.get_system_settings(staff.admin)
    services.mail.update_smtp_settings(
        staff.admin, {"host": "smtp.shop.example", "from_address": "alerts@shop.example"}
    )
    saved = services.settings.update_system_settings(
        staff.admin, {"shop_name": "Corner Shop"}, expected_updated_at=opened.updated_at
    )
    assert saved.shop_name == "Corner Shop"
