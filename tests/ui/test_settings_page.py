"""The settings page: personal preferences saved on this computer as they change; the shop's system
settings saved to the database by an administrator — with the messages next to the fields and the
input kept when a save is refused — and shown read-only to everyone else."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import shiboken6
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QAbstractSpinBox, QApplication
from pytestqt.qtbot import QtBot
from sqlalchemy import Engine, select

from ecomdesk.db.models import SystemSetting
from ecomdesk.services.context import Actor
from ecomdesk.services.registry import Services
from ecomdesk.ui.pages.settings import SettingsPage
from ecomdesk.ui.preferences import Preferences, ThemeMode
from ecomdesk.ui.session import AppSession
from ecomdesk.ui.tasks import TaskRunner
from ecomdesk.ui.theme import DARK
from tests.services.conftest import Staff, audit_entries

OpenPage = Callable[[Actor], SettingsPage]


@pytest.fixture
def open_page(qtbot: QtBot, services: Services, runner: TaskRunner) -> Iterator[OpenPage]:
    sessions: list[AppSession] = []
    pages: list[SettingsPage] = []

    def open_(actor: Actor) -> SettingsPage:
        session = AppSession(services, actor, runner, database_label="the test shop")
        sessions.append(session)
        page = SettingsPage(session)
        qtbot.addWidget(page)
        pages.append(page)  # (qtbot holds widgets weakly)
        page.show()
        page.page_shown()
        qtbot.waitUntil(lambda: page.shop.isEnabled(), timeout=15_000)  # loaded
        return page

    yield open_
    for session in sessions:
        shiboken6.delete(session.theme)


def _stored(engine: Engine, key: str) -> object:
    with engine.connect() as conn:
        return conn.execute(select(SystemSetting.value).where(SystemSetting.key == key)).scalar_one()


def _save(qtbot: QtBot, page: SettingsPage) -> None:
    page.shop.save_button.click()
    assert not page.shop.save_button.isEnabled()  # busy
    qtbot.waitUntil(lambda: page.shop.status.text() != "Saving…", timeout=15_000)


# -- personal ---------------------------------------------------------------------------------


def test_personal_preferences_are_saved_as_they_change_and_apply_at_once(
    open_page: OpenPage, staff: Staff
) -> None:
    page = open_page(staff.viewer)
    box = page.preferences
    box.theme.setCurrentIndex(box.theme.findData(ThemeMode.DARK))
    box.refresh.setValue(42)
    box.confirm_delete.setChecked(False)
    stored = Preferences()  # as the next start reads them
    assert (stored.theme, stored.refresh_interval, stored.confirm_delete) == (ThemeMode.DARK, 42, False)
    assert QApplication.palette().color(QApplication.palette().ColorRole.Window).name() == DARK.window


def test_the_refresh_interval_stays_within_one_to_three_hundred_seconds(
    open_page: OpenPage, staff: Staff
) -> None:
    box = open_page(staff.viewer).preferences
    assert (box.refresh.minimum(), box.refresh.maximum(), box.refresh.value()) == (1, 300, 5)
    assert box.confirm_delete.isChecked()  # on by default
    prefs = Preferences()
    prefs.refresh_interval = 5000
    assert prefs.refresh_interval == 300


# -- the shop's settings ------------------------------------------------------------------------


def test_an_admin_saves_the_shop_settings_to_the_database_with_an_audit_entry(
    qtbot: QtBot, open_page: OpenPage, staff: Staff, engine: Engine
) -> None:
    page = open_page(staff.admin)
    shop = page.shop
    assert shop.shop_name.text() == "Demo Shop" and not shop.save_button.isEnabled()
    shop.shop_name.setText("Acme Outdoor")
    shop.currency.setText("USD")
    shop.numbers["low_stock_threshold"].setValue(25)
    assert shop.save_button.isEnabled() and shop.dirty
    _save(qtbot, page)
    assert shop.status.text() == "Saved for all staff."
    assert _stored(engine, "shop.name") == "Acme Outdoor"
    assert _stored(engine, "shop.currency") == "USD"
    assert _stored(engine, "inventory.low_stock_threshold") == 25
    [entry] = audit_entries(engine, "settings.changed")
    assert entry.after == {
        "shop.name": "Acme Outdoor",
        "shop.currency": "USD",
        "inventory.low_stock_threshold": 25,
    }
    assert (shop.dirty, shop.save_button.isEnabled()) == (False, False)


def test_the_currency_is_typed_in_capitals(open_page: OpenPage, staff: Staff) -> None:
    shop = open_page(staff.admin).shop
    shop.currency.clear()
    QTest.keyClicks(shop.currency, "gbp")
    assert shop.currency.text() == "GBP"


def test_a_refused_save_keeps_the_input_and_says_what_is_wrong_next_to_each_field(
    qtbot: QtBot, open_page: OpenPage, staff: Staff, engine: Engine
) -> None:
    page = open_page(staff.admin)
    shop = page.shop
    shop.shop_name.setText("   ")
    shop.currency.setText("E1")
    shop.numbers["lockout_after_failures"].setValue(50)
    shop.numbers["disable_after_failures"].setValue(20)
    _save(qtbot, page)
    errors = {
        name: field.error.text() for name, field in shop.fields.items() if field.error.isVisibleTo(shop)
    }
    assert set(errors) == {"shop_name", "currency", "disable_after_failures"}
    assert errors["shop_name"] == "Enter the shop's name."
    assert "ISO 4217" in errors["currency"]
    assert "more than the failures before waiting (50)" in errors["disable_after_failures"]
    assert shop.status.text() == "Nothing was saved: please check the marked fields."
    assert (shop.shop_name.text(), shop.currency.text()) == ("   ", "E1")  # kept as typed
    assert shop.numbers["disable_after_failures"].value() == 20
    assert shop.save_button.isEnabled()
    assert _stored(engine, "shop.name") == "Demo Shop"
    assert audit_entries(engine, "settings.changed") == []
    # Fixing the fields and saving again clears the messages.
    shop.shop_name.setText("Fixed Shop")
    shop.currency.setText("CHF")
    shop.numbers["disable_after_failures"].setValue(60)
    _save(qtbot, page)
    assert not any(field.error.isVisibleTo(shop) for field in shop.fields.values())
    assert _stored(engine, "shop.name") == "Fixed Shop"


def test_a_refresh_never_overwrites_unsaved_edits(
    qtbot: QtBot, open_page: OpenPage, staff: Staff, services: Services, runner: TaskRunner
) -> None:
    page = open_page(staff.admin)
    page.shop.shop_name.setText("Half typed")
    services.settings.update_system_settings(staff.admin, {"currency": "JPY"})
    page.refresh()
    qtbot.waitUntil(lambda: runner.pending == 0)
    assert page.shop.shop_name.text() == "Half typed"
    assert page.shop.currency.text() == "EUR"


def test_a_save_over_another_admins_newer_save_is_refused_and_revert_loads_theirs(
    qtbot: QtBot, open_page: OpenPage, staff: Staff, services: Services, engine: Engine
) -> None:
    page = open_page(staff.admin)
    services.settings.update_system_settings(staff.admin, {"currency": "JPY"})
    page.shop.shop_name.setText("Mine")
    _save(qtbot, page)
    assert "Another administrator changed the settings" in page.shop.status.text()
    assert page.shop.shop_name.text() == "Mine"
    assert _stored(engine, "shop.name") == "Demo Shop"
    page.shop.revert_button.click()
    qtbot.waitUntil(lambda: page.shop.currency.text() == "JPY", timeout=15_000)
    assert page.shop.shop_name.text() == "Demo Shop"


def test_a_non_admin_sees_the_shop_settings_read_only(open_page: OpenPage, staff: Staff) -> None:
    shop = open_page(staff.manager).shop
    assert shop.shop_name.text() == "Demo Shop"  # shown: staff may need the policy or the currency
    assert shop.shop_name.isReadOnly() and shop.currency.isReadOnly()
    assert all(spin.isReadOnly() for spin in shop.numbers.values())
    assert all(s.buttonSymbols() is QAbstractSpinBox.ButtonSymbols.NoButtons for s in shop.numbers.values())
    assert not shop.save_button.isVisibleTo(shop) and not shop.revert_button.isVisibleTo(shop)
    assert "Only an administrator" in shop.status.text()
    shop.save()  # even if called, nothing is sent
    assert shop.status.text().startswith("Only an administrator")
