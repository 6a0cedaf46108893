"""Start-up: the connection window with its profiles and its "Test connection" messages (the server's
own reason, with the fix), the local demo started off the GUI thread, and the command line that
names a database going straight to the sign-in window."""

from __future__ import annotations

import psycopg
import pytest
from pytestqt.qtbot import QtBot
from sqlalchemy import Engine, text

from ecomdesk import cli
from ecomdesk.config import ConnectionProfile, ProfileStore
from ecomdesk.ui.app import Shell
from ecomdesk.ui.connection import DEMO_LABEL, ConnectionWindow, ProfileDialog, Target
from ecomdesk.ui.login import LoginWindow
from tests.pg_tcp import ROLE_PASSWORD, TcpServer, free_port


def _dialog(qtbot: QtBot, window: ConnectionWindow) -> ProfileDialog:
    window.add_button.click()
    dialog = window.findChild(ProfileDialog)
    assert isinstance(dialog, ProfileDialog)
    qtbot.waitUntil(dialog.isVisible)
    return dialog


def _fill(dialog: ProfileDialog, port: int, *, database: str = "shop", user: str = "with_password",
          password: str = ROLE_PASSWORD, name: str = "Shop") -> None:  # fmt: skip
    dialog.name.setText(name)
    dialog.host.setText("127.0.0.1")
    dialog.port.setValue(port)
    dialog.database.setText(database)
    dialog.user.setText(user)
    dialog.password.setText(password)
    dialog.sslmode.setCurrentText("prefer")


def _test(qtbot: QtBot, dialog: ProfileDialog) -> str:
    """Press "Test connection" and return what the dialog says once the test is back."""
    dialog.test_button.click()
    assert not dialog.test_button.isEnabled()  # busy while the background test runs
    qtbot.waitUntil(lambda: dialog.outcome.check is not None, timeout=15_000)
    assert dialog.test_button.isEnabled()
    return dialog.outcome.text()


@pytest.fixture
def connection_window(qtbot: QtBot, shell: Shell) -> ConnectionWindow:
    shell.start()
    window = shell.connection_window
    assert window is not None
    qtbot.waitUntil(window.isVisible)
    return window


def test_with_no_database_named_the_connection_window_opens_with_the_saved_profiles(shell: Shell) -> None:
    store = ProfileStore()
    store.save(ConnectionProfile("Live shop", "db.shop.example", 5432, "ecomdesk", "office"), "secret")
    store.save(ConnectionProfile("Staging", "staging.example", 6432, "ecomdesk", "office"))
    shell.start()
    window = shell.connection_window
    assert window is not None and window.isVisible()
    assert shell.login_window is None and shell.main_window is None
    labels = [window.list.item(i).text() for i in range(window.list.count())]
    assert labels == ["Live shop — db.shop.example/ecomdesk", "Staging — staging.example:6432/ecomdesk"]
    assert window.connect_button.isEnabled()


def test_a_first_run_says_what_to_ask_the_dba_for_until_a_connection_is_saved(
    connection_window: ConnectionWindow,
) -> None:
    window = connection_window  # a staff machine's first start: no saved connections
    assert window.first_run.isVisibleTo(window) and not window.list.isVisibleTo(window)
    said = window.first_run_text.text()
    for asked in ("host", "port", "database", "user", "password", "SSL", "not the database's owner"):
        assert asked in said
    assert "“Setting up the shop's database”" in said  # where the DBA's steps are
    assert window.add_button.isDefault() and not window.connect_button.isEnabled()
    assert window.demo_button.isVisibleTo(window) and window.snapshot_button.isVisibleTo(window)

    ProfileStore().save(ConnectionProfile("Live shop", "db.shop.example", 5432, "ecomdesk", "alice"))
    window.reload()
    assert not window.first_run.isVisibleTo(window) and window.list.isVisibleTo(window)
    assert window.connect_button.isDefault() and not window.add_button.isDefault()


def test_the_first_run_box_keeps_all_its_lines_while_the_demo_starts_below_it(
    qtbot: QtBot, connection_window: ConnectionWindow
) -> None:
    window = connection_window
    box = window.first_run_text
    # What `start_demo` shows: a busy bar and a progress line appear under the box.
    window._set_busy(True, "orders: choosing the customers of 396,145 orders")
    qtbot.waitUntil(lambda: window.busy.isVisible())
    qtbot.wait(50)  # the layout request is posted, then handled
    assert box.height() >= box.heightForWidth(box.width())  # no line of it cut off
    window._set_busy(False)


def test_test_connection_names_a_wrong_password_with_the_fix(
    qtbot: QtBot, connection_window: ConnectionWindow, tcp_server: TcpServer
) -> None:
    dialog = _dialog(qtbot, connection_window)
    _fill(dialog, tcp_server.port, password="not the password")
    said = _test(qtbot, dialog)
    assert "refused the password for user “with_password”" in said
    assert "Check the password" in said
    assert 'password authentication failed for user "with_password"' in said  # the server's own words


def test_test_connection_names_a_missing_database(
    qtbot: QtBot, connection_window: ConnectionWindow, tcp_server: TcpServer
) -> None:
    dialog = _dialog(qtbot, connection_window)
    _fill(dialog, tcp_server.port, database="no_such_shop")
    said = _test(qtbot, dialog)
    assert "has no database “no_such_shop”" in said
    assert "Check the database name" in said


def test_test_connection_says_when_nothing_listens_on_the_port(
    qtbot: QtBot, connection_window: ConnectionWindow
) -> None:
    dialog = _dialog(qtbot, connection_window)
    _fill(dialog, free_port())
    said = _test(qtbot, dialog)
    assert "connection was refused" in said
    assert "server is running" in said


def test_test_connection_says_an_empty_database_needs_the_upgrade(
    qtbot: QtBot, connection_window: ConnectionWindow, tcp_server: TcpServer
) -> None:
    dialog = _dialog(qtbot, connection_window)
    _fill(dialog, tcp_server.port, database="postgres")
    said = _test(qtbot, dialog)
    assert "does not fit this app" in said
    assert "ecomdesk db upgrade" in said


def test_test_connection_reports_the_server_version_when_all_is_well(
    qtbot: QtBot, connection_window: ConnectionWindow, tcp_server: TcpServer
) -> None:
    dialog = _dialog(qtbot, connection_window)
    _fill(dialog, tcp_server.port)
    said = _test(qtbot, dialog)
    assert dialog.outcome.check is not None and dialog.outcome.check.ok
    assert said.startswith("Connected to PostgreSQL ")


def test_a_saved_profile_keeps_its_password_in_the_keyring_and_connects_to_the_sign_in(
    qtbot: QtBot, shell: Shell, connection_window: ConnectionWindow, tcp_server: TcpServer
) -> None:
    dialog = _dialog(qtbot, connection_window)
    _fill(dialog, tcp_server.port, name="Shop over TCP")
    dialog.buttons.accepted.emit()
    qtbot.waitUntil(lambda: connection_window.list.count() == 1)
    store = ProfileStore()
    saved = store.get("Shop over TCP")
    assert saved is not None and saved.port == tcp_server.port
    assert store.password(saved) == ROLE_PASSWORD
    assert ROLE_PASSWORD not in store.path.read_text(encoding="utf-8")

    connection_window.connect_button.click()
    qtbot.waitUntil(lambda: isinstance(shell.login_window, LoginWindow), timeout=15_000)
    login = shell.login_window
    assert login is not None
    assert "to Shop over TCP — 127.0.0.1" in login.database.text()
    qtbot.waitUntil(login.email.isEnabled, timeout=15_000)
    assert shell.connection_window is None  # closed and deleted


def test_a_renamed_profile_keeps_its_saved_password(
    qtbot: QtBot, connection_window: ConnectionWindow, tcp_server: TcpServer
) -> None:
    store = ProfileStore()
    store.save(ConnectionProfile("Old name", "127.0.0.1", tcp_server.port, "shop", "with_password"), "pw-1")
    connection_window.reload()
    connection_window.edit_button.click()
    dialog = connection_window.findChild(ProfileDialog)
    assert isinstance(dialog, ProfileDialog)
    assert dialog.password.text() == ""  # never shown; left empty it stays as saved
    dialog.name.setText("New name")
    dialog.buttons.accepted.emit()
    renamed = store.get("New name")
    assert store.get("Old name") is None
    assert renamed is not None and store.password(renamed) == "pw-1"


def test_removing_a_profile_forgets_its_password(
    qtbot: QtBot, shell: Shell, connection_window: ConnectionWindow
) -> None:
    shell.preferences.confirm_delete = False  # (with it on, a confirmation dialog asks first)
    store = ProfileStore()
    profile = ConnectionProfile("Gone soon", "db.example", 5432, "shop", "office")
    store.save(profile, "secret")
    connection_window.reload(select="Gone soon")
    connection_window.remove_button.click()
    assert store.list() == []
    assert store.secrets.get(profile.secret_key) is None
    assert connection_window.first_run.isVisibleTo(connection_window)


@pytest.mark.usefixtures("no_keyring")
def test_without_a_keyring_the_password_is_asked_at_each_connection(
    qtbot: QtBot, shell: Shell, tcp_server: TcpServer
) -> None:
    ProfileStore().save(ConnectionProfile("Shop", "127.0.0.1", tcp_server.port, "shop", "with_password"))
    shell.start()
    window = shell.connection_window
    assert window is not None
    assert window.password_row.isVisibleTo(window)
    assert "cannot be saved" in window.outcome.text()
    window.password.setText("wrong")
    window.connect_button.click()
    qtbot.waitUntil(lambda: "refused the password" in window.outcome.text(), timeout=15_000)
    window.password.setText(ROLE_PASSWORD)
    window.connect_button.click()
    qtbot.waitUntil(lambda: shell.login_window is not None, timeout=15_000)


def test_the_local_demo_starts_off_the_gui_thread_and_opens_the_sign_in_with_its_accounts(
    qtbot: QtBot, shell: Shell, connection_window: ConnectionWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    said: list[str] = []
    show_text = connection_window.outcome.show_text

    def recording(text: str, kind: str = "hint") -> None:
        said.append(text)
        show_text(text, kind)

    monkeypatch.setattr(connection_window.outcome, "show_text", recording)
    connection_window.demo_button.click()
    # The click returned at once: the server starts in the background, the window says so.
    assert not connection_window.demo_button.isEnabled()
    assert connection_window.busy.isVisibleTo(connection_window)
    qtbot.waitUntil(lambda: shell.login_window is not None, timeout=60_000)
    assert said[0] == "Starting the local demo database…"
    assert any(text.startswith("Starting the local PostgreSQL server in ") for text in said)
    login = shell.login_window
    assert login is not None
    assert login.database.text() == f"to {DEMO_LABEL}"
    assert login.demo_box.isVisibleTo(login)
    qtbot.waitUntil(login.email.isEnabled, timeout=30_000)
    login.demo_box.buttons[2].click()
    assert (login.email.text(), login.password.text()) == ("viewer@demo.shop", "demo-shop-password-2026")
    started = [demo.server for demo in shell._started_demos]
    assert started and started[0].is_running()
    shell.shutdown()
    assert not started[0].is_running()  # the app stops the server it started


def test_a_database_named_on_the_command_line_goes_straight_to_the_sign_in(
    qtbot: QtBot, shell: Shell, database_url: str
) -> None:
    shell.start(Target(database_url, "the test shop"))
    assert shell.connection_window is None
    login = shell.login_window
    assert login is not None and login.isVisible()
    assert not login.email.isEnabled()  # busy until the database is checked, off the GUI thread
    qtbot.waitUntil(login.email.isEnabled, timeout=15_000)
    assert login.database.text() == "to the test shop"
    assert not login.demo_box.isVisibleTo(login)


def test_a_database_a_newer_app_made_is_refused_in_the_sign_in_window_with_the_fix(
    qtbot: QtBot, shell: Shell, database_url: str, engine: Engine
) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    shell.start(Target(database_url, "the test shop"))
    login = shell.login_window
    assert login is not None
    qtbot.waitUntil(login.error.isVisible, timeout=15_000)
    assert "made by a newer ecomdesk: install the current version" in login.error.text()
    assert not login.sign_in_button.isEnabled()
    assert login.switch_button.isEnabled()
    login.switch_button.click()
    assert isinstance(shell.connection_window, ConnectionWindow)


def test_opening_a_database_never_waits_on_the_gui_thread(
    qtbot: QtBot, shell: Shell, database_url: str
) -> None:
    """Hold a lock the schema check needs: `start` must return (and the window repaint) while the
    check waits in the background — on the GUI thread it would wait for this very test."""
    with psycopg.connect(database_url) as blocker:
        blocker.execute("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE")
        shell.start(Target(database_url, "locked shop"))
        login = shell.login_window
        assert login is not None and login.isVisible()
        qtbot.wait(300)
        assert not login.email.isEnabled()
        assert "Opening the database" in login.status.text()
        blocker.rollback()
    qtbot.waitUntil(login.email.isEnabled, timeout=15_000)


# -- the command line ------------------------------------------------------------------------


Opened = list[tuple[str | None, dict[str, object]]]


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> Opened:
    """What `ecomdesk` asks the GUI to open (the window itself is the Shell's, tested above)."""
    calls: Opened = []

    def run(url: str | None = None, **options: object) -> int:
        calls.append((url, options))
        return 0

    monkeypatch.setattr("ecomdesk.ui.app.run", run)
    return calls


def test_plain_ecomdesk_with_nothing_configured_opens_the_connection_window(opened: Opened) -> None:
    assert cli.main([]) == 0
    assert opened == [(None, {"profile": None, "demo": False, "debug": False})]


def test_a_url_or_profile_on_the_command_line_or_in_the_environment_is_opened_directly(
    opened: Opened, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    assert cli.main(["--database-url", database_url]) == 0
    ProfileStore().save(ConnectionProfile("office", "db.example", 5432, "shop", "clerk"), "pw")
    assert cli.main(["--profile", "office"]) == 0
    monkeypatch.setenv("ECOMDESK_DATABASE_URL", database_url)
    assert cli.main([]) == 0
    assert [url for url, _ in opened] == [
        database_url,
        "postgresql+psycopg://clerk:pw@db.example:5432/shop?sslmode=prefer",
        database_url,
    ]
    assert opened[1][1]["profile"] == "office"


def test_an_unknown_profile_is_still_an_error_not_the_connection_window(
    opened: Opened, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["--profile", "nope"]) == 2
    assert "No connection profile named 'nope'" in capsys.readouterr().err
    assert opened == []


def test_ecomdesk_demo_opens_the_gui_which_starts_the_demo_itself(opened: Opened) -> None:
    assert cli.main(["demo"]) == 0
    assert opened == [(None, {"profile": None, "demo": True, "debug": False})]
