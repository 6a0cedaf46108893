"""The sign-in window: refusals shown inline (the email kept, the password cleared), throttling with
its countdown, "Remember me" and the remembered sign-in that skips the window next time, the
keyring that isn't there, the demo accounts, and the password that must be changed first."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from PySide6.QtWidgets import QApplication, QLabel
from pytestqt.qtbot import QtBot
from sqlalchemy import Engine

from ecomdesk.config import DeviceTokenStore, SecretStore
from ecomdesk.connect import DEMO_PASSWORD
from ecomdesk.services.auth import SignIn
from ecomdesk.services.errors import AuthenticationError
from ecomdesk.services.registry import Services
from ecomdesk.ui.app import Shell
from ecomdesk.ui.connection import Target
from ecomdesk.ui.login import ChangePasswordDialog, LoginWindow
from ecomdesk.ui.main_window import MainWindow
from ecomdesk.ui.tasks import TaskRunner
from tests.services.conftest import PASSWORD, FakeClock, Staff, audit_entries

NEW_PASSWORD = "a brand new passphrase for winter"


@pytest.fixture
def login(qtbot: QtBot, runner: TaskRunner, services: Services, database_url: str) -> LoginWindow:
    """The window on the `services` fixture (its clock stands still, so throttling is exact)."""
    window = LoginWindow(runner, database_label="the test shop")
    qtbot.addWidget(window)
    window.attach(services, database_url)
    window.set_keyring(SecretStore().status())
    window.set_ready()
    window.show()
    return window


def _sign_in(qtbot: QtBot, login: LoginWindow, email: str, password: str) -> None:
    login.email.setText(email)
    login.password.setText(password)
    login.sign_in_button.click()
    assert not login.sign_in_button.isEnabled() and not login.email.isEnabled()  # busy meanwhile
    qtbot.waitUntil(lambda: login.email.isEnabled(), timeout=15_000)


def test_the_right_password_signs_in(qtbot: QtBot, login: LoginWindow, staff: Staff) -> None:
    with qtbot.waitSignal(login.signed_in, timeout=15_000) as signed:
        login.email.setText(staff.manager.email)
        login.password.setText(PASSWORD)
        login.password.returnPressed.emit()
    result = signed.args[0]
    assert isinstance(result, SignIn)
    assert result.actor.email == staff.manager.email and result.token is None
    assert login.password.text() == ""


def test_a_wrong_password_is_said_inline_keeping_the_email_and_clearing_the_password(
    qtbot: QtBot, login: LoginWindow, staff: Staff
) -> None:
    _sign_in(qtbot, login, staff.viewer.email, "not my password at all")
    assert login.error.isVisible()
    assert login.error.text() == "The email address or the password is not right."
    assert login.email.text() == staff.viewer.email
    assert login.password.text() == ""
    assert QApplication.activeModalWidget() is None  # said in the window, not in a dialog


def test_an_empty_form_is_answered_without_asking_the_database(
    qtbot: QtBot, login: LoginWindow, engine: Engine
) -> None:
    login.sign_in_button.click()
    assert login.error.text() == "Enter your email address and your password."
    assert login.email.isEnabled()
    assert audit_entries(engine, "auth.login_failed") == []


def test_a_throttled_account_says_how_long_to_wait_and_counts_down(
    qtbot: QtBot, login: LoginWindow, services: Services, staff: Staff
) -> None:
    for _ in range(5):  # the shop's default: five failures in a row before waiting starts
        with pytest.raises(AuthenticationError):
            services.auth.authenticate(staff.viewer.email, "wrong password again")
    _sign_in(qtbot, login, staff.viewer.email, PASSWORD)
    assert "Too many failed attempts: try again in 1 second." in login.error.text()
    assert login.sign_in_button.text() == "Sign in (1 s)"
    assert not login.sign_in_button.isEnabled()
    assert login.email.text() == staff.viewer.email
    qtbot.waitUntil(login.sign_in_button.isEnabled, timeout=3000)
    assert login.sign_in_button.text() == "Sign in"


def test_a_disabled_account_is_told_to_ask_an_administrator(
    qtbot: QtBot, login: LoginWindow, services: Services, staff: Staff, clock: FakeClock
) -> None:
    services.settings.update_system_settings(
        staff.admin, {"lockout_after_failures": 1, "disable_after_failures": 2}
    )
    for _ in range(2):
        with pytest.raises(AuthenticationError):
            services.auth.authenticate(staff.viewer.email, "wrong password again")
        clock.advance(minutes=20)  # past each wait, so every failure counts
    _sign_in(qtbot, login, staff.viewer.email, PASSWORD)
    assert "disabled" in login.error.text() and "administrator" in login.error.text()


def test_remember_me_keeps_the_device_token_for_this_database(
    qtbot: QtBot, login: LoginWindow, staff: Staff, database_url: str
) -> None:
    assert login.remember.isEnabled()
    login.remember.setChecked(True)
    with qtbot.waitSignal(login.signed_in, timeout=15_000) as signed:
        _sign_in(qtbot, login, staff.viewer.email, PASSWORD)
    token = DeviceTokenStore().get(database_url)
    assert token is not None and token == signed.args[0].token


@pytest.mark.usefixtures("no_keyring")
def test_without_a_keyring_remember_me_is_disabled_and_the_reason_shown_beside_it(
    qtbot: QtBot, runner: TaskRunner
) -> None:
    window = LoginWindow(runner, database_label="x")
    qtbot.addWidget(window)
    window.set_keyring(SecretStore().status())
    window.show()
    assert not window.remember.isEnabled() and not window.remember.isChecked()
    assert window.remember_reason.isVisible()
    assert "No system keyring is available" in window.remember_reason.text()


def test_the_demo_box_shows_the_three_accounts_and_fills_the_form(qtbot: QtBot, runner: TaskRunner) -> None:
    window = LoginWindow(runner, database_label="Local demo database", demo=True)
    qtbot.addWidget(window)
    window.show()
    texts = [button.text() for button in window.demo_box.buttons]
    assert [t.split()[0] for t in texts] == ["admin@demo.shop", "manager@demo.shop", "viewer@demo.shop"]
    assert any(DEMO_PASSWORD in label.text() for label in window.demo_box.findChildren(QLabel))
    window.demo_box.chosen.emit("manager@demo.shop", DEMO_PASSWORD)
    assert (window.email.text(), window.password.text()) == ("manager@demo.shop", DEMO_PASSWORD)


def test_the_demo_box_is_not_shown_for_a_real_shop(login: LoginWindow) -> None:
    assert not login.demo_box.isVisibleTo(login)


# -- through the whole shell: remembered sign-ins and forced password changes ---------------------


def _main(shell: Shell) -> MainWindow:
    """The main window, once the test waited for it (a function: mypy keeps no stale narrowing)."""
    assert isinstance(shell.main_window, MainWindow)
    return shell.main_window


def _open(qtbot: QtBot, shell: Shell, database_url: str) -> None:
    shell.start(Target(database_url, "the test shop"))
    qtbot.waitUntil(
        lambda: (
            shell.main_window is not None
            or (shell.login_window is not None and shell.login_window.email.isEnabled())
        ),
        timeout=15_000,
    )


def test_a_remembered_sign_in_skips_the_sign_in_window_next_time(
    qtbot: QtBot, shell: Shell, services: Services, staff: Staff, database_url: str
) -> None:
    remembered = services.auth.authenticate(staff.manager.email, PASSWORD, remember=True)
    assert remembered.token is not None
    DeviceTokenStore().set(database_url, remembered.token)
    _open(qtbot, shell, database_url)
    assert isinstance(shell.main_window, MainWindow)
    assert shell.main_window.session.actor.email == staff.manager.email
    assert shell.main_window.session.actor.session_id == remembered.actor.session_id
    assert shell.login_window is None  # closed: nobody had to type anything


def test_a_revoked_remembered_sign_in_is_deleted_and_the_sign_in_window_says_why(
    qtbot: QtBot, shell: Shell, services: Services, staff: Staff, database_url: str
) -> None:
    remembered = services.auth.authenticate(staff.viewer.email, PASSWORD, remember=True)
    assert remembered.token is not None
    DeviceTokenStore().set(database_url, remembered.token)
    services.auth.revoke_user_sessions(staff.admin, staff.viewer.user_id)
    _open(qtbot, shell, database_url)
    assert shell.main_window is None
    login = shell.login_window
    assert login is not None
    assert "expired or was revoked" in login.status.text()
    assert DeviceTokenStore().get(database_url) is None


def test_remember_me_through_the_shell_then_a_new_start_goes_straight_to_the_main_window(
    qtbot: QtBot, make_shell: Callable[[], Shell], staff: Staff, database_url: str
) -> None:
    first = make_shell()
    _open(qtbot, first, database_url)
    login = first.login_window
    assert login is not None
    login.remember.setChecked(True)
    login.email.setText(staff.admin.email)
    login.password.setText(PASSWORD)
    login.sign_in_button.click()
    qtbot.waitUntil(lambda: first.main_window is not None, timeout=15_000)
    first.shutdown()  # the app quits

    second = make_shell()  # and starts again
    _open(qtbot, second, database_url)
    assert _main(second).session.actor.email == staff.admin.email
    assert second.login_window is None


def test_a_password_that_must_change_is_changed_before_the_main_window(
    qtbot: QtBot, shell: Shell, services: Services, staff: Staff, database_url: str
) -> None:
    temporary = services.users.reset_password(staff.admin, staff.viewer.user_id)
    _open(qtbot, shell, database_url)
    login = shell.login_window
    assert login is not None
    login.email.setText(staff.viewer.email)
    login.password.setText(temporary)
    login.sign_in_button.click()
    qtbot.waitUntil(lambda: login.findChild(ChangePasswordDialog) is not None, timeout=15_000)
    dialog = login.findChild(ChangePasswordDialog)
    assert isinstance(dialog, ChangePasswordDialog)
    assert shell.main_window is None
    dialog.current.setText(temporary)
    dialog.new.setText(NEW_PASSWORD)
    dialog.repeat.setText("a different passphrase entirely")
    dialog.buttons.accepted.emit()
    assert dialog.errors["repeat"].text() == "The two new passwords differ."
    dialog.repeat.setText(NEW_PASSWORD)
    dialog.buttons.accepted.emit()
    qtbot.waitUntil(lambda: shell.main_window is not None, timeout=15_000)
    assert not _main(shell).session.actor.must_change_password
    assert services.auth.authenticate(staff.viewer.email, NEW_PASSWORD).actor.email == staff.viewer.email


def test_a_weak_new_password_is_refused_next_to_the_field(
    qtbot: QtBot, shell: Shell, services: Services, staff: Staff, database_url: str
) -> None:
    temporary = services.users.reset_password(staff.admin, staff.viewer.user_id)
    _open(qtbot, shell, database_url)
    login = shell.login_window
    assert login is not None
    _sign_in(qtbot, login, staff.viewer.email, temporary)
    dialog = login.findChild(ChangePasswordDialog)
    assert isinstance(dialog, ChangePasswordDialog)
    dialog.current.setText(temporary)
    dialog.new.setText("short")
    dialog.repeat.setText("short")
    dialog.buttons.accepted.emit()
    qtbot.waitUntil(lambda: dialog.errors["new_password"].text() != "", timeout=15_000)
    assert "15" in dialog.errors["new_password"].text()
    assert shell.main_window is None


def test_cancelling_the_forced_password_change_signs_out(
    qtbot: QtBot, shell: Shell, services: Services, staff: Staff, database_url: str
) -> None:
    temporary = services.users.reset_password(staff.admin, staff.viewer.user_id)
    _open(qtbot, shell, database_url)
    login = shell.login_window
    assert login is not None
    login.remember.setChecked(True)
    _sign_in(qtbot, login, staff.viewer.email, temporary)
    dialog = login.findChild(ChangePasswordDialog)
    assert isinstance(dialog, ChangePasswordDialog)
    assert DeviceTokenStore().get(database_url) is not None
    dialog.reject()
    qtbot.waitUntil(lambda: "Choose a new password" in login.status.text(), timeout=15_000)
    assert shell.main_window is None
    assert DeviceTokenStore().get(database_url) is None
    assert services.auth.list_sessions(staff.viewer) == []
