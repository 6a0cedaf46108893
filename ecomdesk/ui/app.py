"""The desktop shell: which window is shown when — connection, sign-in, main window — and the
application object around them.

`Shell` is the one place that moves between windows. Each window only emits what the person
chose (a database, a sign-in, sign out…); the shell opens the database, resumes a remembered
sign-in and builds the main window, always through the task runner, so no database call and no
server start ever runs on the GUI thread.

A snapshot file (`open_snapshot`) takes the place of a database and its sign-in: it opens on the
task runner, asks for its passphrase when it has one, and shows the main window on it read-only
as the person who took it. A file that cannot be opened leaves the person where they were.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import QApplication, QDialog, QWidget

from ecomdesk import APP_ID, APP_NAME, __version__
from ecomdesk.bootstrap import DemoDatabase, OpenSnapshot, open_snapshot
from ecomdesk.config import KeyringStatus, ProfileStore
from ecomdesk.connect import (
    Opened,
    close_services,
    describe_url,
    open_database,
    sign_out,
    stop_demo_server,
)
from ecomdesk.services.auth import SignIn
from ecomdesk.services.context import Actor
from ecomdesk.services.errors import SnapshotError
from ecomdesk.services.registry import Services
from ecomdesk.ui.connection import DEMO_LABEL, ConnectionWindow, Target, profile_label, start_demo
from ecomdesk.ui.errors import describe
from ecomdesk.ui.icons import app_icon
from ecomdesk.ui.login import ChangePasswordDialog, LoginWindow
from ecomdesk.ui.main_window import MainWindow
from ecomdesk.ui.preferences import Preferences
from ecomdesk.ui.session import AppSession
from ecomdesk.ui.snapshot_dialogs import PassphraseDialog
from ecomdesk.ui.tasks import TaskRunner
from ecomdesk.ui.theme import ThemeManager

log = logging.getLogger(__name__)

NO_DISPLAY_MESSAGE = (
    "ecomdesk: no display found (DISPLAY and WAYLAND_DISPLAY are unset). Run it on a desktop, use "
    "`ecomdesk demo --no-gui` to prepare the demo database alone, or set QT_QPA_PLATFORM=offscreen."
)


def has_display() -> bool:
    """Qt aborts without a display; check first so the user gets a sentence, not a core dump."""
    if os.environ.get("QT_QPA_PLATFORM"):
        return True
    if sys.platform != "linux":
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


#: Libraries Qt's X11 plugin loads at run time → the Debian package that has each.
_X11_LIBRARIES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
}


def missing_x11_packages() -> list[str]:
    """Packages to install before Qt can open an X11 window (Qt itself would only abort)."""
    if sys.platform != "linux" or os.environ.get("WAYLAND_DISPLAY"):
        return []
    if os.environ.get("QT_QPA_PLATFORM", "xcb") != "xcb" or not os.environ.get("DISPLAY"):
        return []
    missing = []
    for library, package in _X11_LIBRARIES.items():
        try:
            ctypes.CDLL(library)
        except OSError:
            missing.append(package)
    return missing


def gui_unavailable_reason() -> str | None:
    """Why no window can be opened here, in a sentence with the fix; None when it can."""
    if not has_display():
        return NO_DISPLAY_MESSAGE
    missing = missing_x11_packages()
    if missing:
        return (
            "ecomdesk: Qt needs system libraries that are missing here to open a window. Install them "
            f"with: sudo apt-get install {' '.join(missing)}"
        )
    return None


def application() -> QApplication:
    """The QApplication (made once), named so QSettings and the log find their folders."""
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        app = QApplication(sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setApplicationDisplayName("ecomdesk")
    # Wayland and the task bar match the window to the installed desktop entry and its icon.
    app.setDesktopFileName(APP_ID)
    app.setWindowIcon(app_icon())
    return app


class Shell(QObject):
    """Connection window → sign-in → main window, and back (switch connection, sign out)."""

    def __init__(
        self,
        *,
        preferences: Preferences | None = None,
        profiles: ProfileStore | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.preferences = preferences or Preferences(parent=self)
        self.theme = ThemeManager(self.preferences, self)
        self.profiles = profiles or ProfileStore()
        self.runner = TaskRunner(self)
        self.target: Target | None = None
        self.services: Services | None = None
        self.keyring: KeyringStatus | None = None
        self.session: AppSession | None = None
        self.connection_window: ConnectionWindow | None = None
        self.login_window: LoginWindow | None = None
        self.main_window: MainWindow | None = None
        #: The snapshot the main window shows (closed when left), instead of a database.
        self.snapshot: OpenSnapshot | None = None
        #: The passphrase dialog while one is open (tests answer it).
        self.passphrase_dialog: PassphraseDialog | None = None
        #: Demo servers this app started: stopped when it quits (one it found running stays).
        self._started_demos: list[DemoDatabase] = []
        self._shut_down = False

    # -- where it starts ---------------------------------------------------------------------

    def start(
        self, target: Target | None = None, *, demo: bool = False, snapshot: Path | None = None
    ) -> None:
        """`demo`: start the local demo database; `target`: sign in to it; `snapshot`: open that
        file (from the connection window, where a file that cannot be opened says why); none:
        let the person choose in the connection window."""
        self.theme.apply()
        if demo:
            self.start_demo()
        elif target is not None:
            self.open(target)
        elif snapshot is not None:
            self.show_connection_window()
            self.open_snapshot(snapshot)
        else:
            self.show_connection_window()

    def show_connection_window(self) -> ConnectionWindow:
        self._leave_database()
        window = ConnectionWindow(self.runner, self.profiles, self.preferences)
        window.connect_requested.connect(self.open)
        window.snapshot_requested.connect(self.open_snapshot)
        self._show(window)
        self.connection_window = window
        return window

    # -- a snapshot instead of a database ----------------------------------------------------

    def open_snapshot(self, path: Path, passphrase: str | None = None) -> None:
        """Open the snapshot file `path` off the GUI thread and show the main window on it; until
        then (and if it cannot be opened) the person stays in the window they were in."""
        path = Path(path)
        origin = self.main_window or self.connection_window or self.login_window
        self._snapshot_busy(origin, True, f"Opening the snapshot {path.name}…")
        self.runner.submit(
            lambda _control: open_snapshot(path, passphrase),
            on_done=self._snapshot_opened,
            on_error=lambda error: self._snapshot_failed(origin, path, error),
            key="shell.snapshot",
            owner=origin,
            description="open a snapshot",
        )

    def _snapshot_opened(self, opened: OpenSnapshot) -> None:
        origin = self.main_window or self.connection_window or self.login_window
        self._snapshot_busy(origin, False)
        self._leave_database()
        self.snapshot = opened
        self.services = opened.services
        self.preferences.snapshot_folder = str(opened.path.parent)
        self.show_main(opened.actor)

    def _snapshot_failed(self, origin: QWidget | None, path: Path, error: BaseException) -> None:
        self._snapshot_busy(origin, False)
        if isinstance(error, SnapshotError) and error.passphrase_needed:
            self._ask_passphrase(origin, path, wrong=error.wrong_passphrase)
            return
        text = describe(error).text
        if isinstance(origin, ConnectionWindow):
            origin.outcome.show_text(text, "error")
        elif isinstance(origin, MainWindow):
            origin.messages.show_error(error)
        elif isinstance(origin, LoginWindow):
            origin.show_problem(text)
        else:  # no window yet (a file named at start that vanished meanwhile): the first one says it
            self.show_connection_window().outcome.show_text(text, "error")

    def _ask_passphrase(self, origin: QWidget | None, path: Path, *, wrong: bool) -> None:
        dialog = PassphraseDialog(path, wrong=wrong, parent=origin)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.passphrase_dialog = dialog

        def answered(result: int) -> None:
            self.passphrase_dialog = None
            if result == QDialog.DialogCode.Accepted:
                self.open_snapshot(path, dialog.value)

        dialog.finished.connect(answered)
        dialog.open()

    @staticmethod
    def _snapshot_busy(window: QWidget | None, busy: bool, text: str = "") -> None:
        """The small "working on it" of the window the person is in while a snapshot opens."""
        if isinstance(window, ConnectionWindow):
            window.set_busy(busy, text)
        elif isinstance(window, MainWindow):
            if busy:
                window.statusBar().showMessage(text)
            else:
                window.statusBar().clearMessage()

    def start_demo(self) -> None:
        """The sign-in window at once, busy while the demo server starts in the background."""
        login = self._new_login(DEMO_LABEL, demo=True)
        login.set_busy("Starting the local demo database…")
        self.runner.submit(
            start_demo,
            on_done=lambda demo: self.open(Target(demo.url, DEMO_LABEL, demo=True, demo_database=demo)),
            on_error=lambda error: login.show_problem(describe(error).text),
            on_progress=lambda _done, _total, text: login.set_busy(text),
            key="shell.demo",
            owner=login,
            description="start the demo database",
        )

    def open(self, target: Target) -> None:
        """Test the database, then resume a remembered sign-in or ask for one."""
        if target.demo_database is not None and target.demo_database.started_server:
            self._started_demos.append(target.demo_database)
        self._leave_database()
        self.target = target
        login = self.login_window
        if login is None or not login.isVisible() or self.main_window is not None:
            login = self._new_login(target.label, demo=target.demo)
        login.set_busy("Opening the database and checking for a remembered sign-in…")
        url = target.url
        self.runner.submit(
            lambda _control: open_database(url),
            on_done=lambda opened: self._opened(login, target, opened),
            on_error=lambda error: login.show_problem(describe(error).text),
            key="shell.open",
            owner=login,
            description="open the database",
        )

    def _opened(self, login: LoginWindow, target: Target, opened: Opened) -> None:
        if opened.services is None or opened.remembered is None:
            login.show_problem(opened.check.text)
            return
        self.services = opened.services
        self.keyring = opened.remembered.keyring
        login.attach(opened.services, target.url)
        login.set_keyring(self.keyring)
        if opened.remembered.sign_in is not None:
            self._signed_in(opened.remembered.sign_in)
            return
        login.set_ready(opened.remembered.notice)

    # -- signed in ---------------------------------------------------------------------------

    def _signed_in(self, signed_in: SignIn) -> None:
        login, services = self.login_window, self.services
        assert services is not None
        if not signed_in.must_change_password or login is None:
            self.show_main(signed_in.actor)
            return
        dialog = ChangePasswordDialog(services, signed_in.actor, self.runner, forced=True, parent=login)
        dialog.accepted.connect(lambda: self.show_main(dialog.actor))
        dialog.rejected.connect(lambda: self._refused_new_password(login, signed_in.actor))
        login.set_ready()
        dialog.open()

    def _refused_new_password(self, login: LoginWindow, actor: Actor) -> None:
        """No new password, no main window: end the (possibly remembered) sign-in."""
        self._sign_out_in_background(actor, login, "Choose a new password to continue.")

    def show_main(self, actor: Actor) -> MainWindow:
        services, target, snapshot = self.services, self.target, self.snapshot
        assert services is not None
        if snapshot is not None:
            label, demo = f"Snapshot {snapshot.path.name}", False
        else:
            assert target is not None
            label, demo = target.label, target.demo
        self.session = AppSession(
            services,
            actor,
            self.runner,
            database_label=label,
            demo=demo,
            preferences=self.preferences,
            theme=self.theme,
            snapshot=snapshot,
        )
        window = MainWindow(self.session)
        self.session.setParent(window)  # the session lives exactly as long as its window
        window.sign_out_requested.connect(self.sign_out)
        window.signed_out_elsewhere.connect(self.sign_out)
        window.switch_connection_requested.connect(self.show_connection_window)
        window.open_snapshot_requested.connect(self.open_snapshot)
        window.close_snapshot_requested.connect(self.show_connection_window)
        window.quit_requested.connect(self.quit)
        self._show(window)
        self.main_window = window
        return window

    def sign_out(self, reason: str = "") -> None:
        """End the device session and forget its token, then ask for a sign-in again; `reason`: the
        sign-in already ended elsewhere (a revoked device), said on the sign-in window."""
        if self.session is None or self.target is None:
            return
        actor = self.session.actor
        login = self._new_login(self.target.label, demo=self.target.demo)
        assert self.services is not None
        login.attach(self.services, self.target.url)
        login.set_keyring(self.keyring)
        login.email.setText(actor.email)
        self._sign_out_in_background(actor, login, reason or "You are signed out.")

    def _sign_out_in_background(self, actor: Actor, login: LoginWindow, done: str) -> None:
        services, target = self.services, self.target
        assert services is not None and target is not None
        url = target.url
        login.set_busy("Signing out…")

        def failed(error: BaseException) -> None:
            login.set_ready()
            login.show_error(
                "This computer no longer remembers you, but the server could not be told to end the "
                f"sign-in: {describe(error).text}"
            )

        self.runner.submit(
            lambda _control: sign_out(services, actor, url),
            on_done=lambda _none: login.set_ready(done),
            on_error=failed,
            owner=login,
            description="sign out",
        )

    # -- windows -----------------------------------------------------------------------------

    def _new_login(self, label: str, *, demo: bool) -> LoginWindow:
        login = LoginWindow(self.runner, database_label=label, demo=demo)
        login.signed_in.connect(self._signed_in)
        login.switch_requested.connect(self.show_connection_window)
        self._show(login)
        self.login_window = login
        return login

    def _show(self, window: QWidget) -> None:
        """Show `window` first, then close the others (so the app never has no window and quits)."""
        window.show()
        window.raise_()
        window.activateWindow()
        for old in (self.connection_window, self.login_window, self.main_window):
            if old is not None and old is not window:
                old.close()
                old.deleteLater()
        self.connection_window = window if isinstance(window, ConnectionWindow) else None
        self.login_window = window if isinstance(window, LoginWindow) else None
        self.main_window = window if isinstance(window, MainWindow) else None
        if not isinstance(window, MainWindow):
            self.session = None  # (deleted with its window)

    def _leave_database(self) -> None:
        """Forget the current database (or snapshot): its pending work is cancelled, its
        connections closed."""
        self.runner.cancel_all()
        if self.snapshot is not None:
            self.snapshot.close()
            self.snapshot = None
        elif self.services is not None:
            close_services(self.services)
        self.services = None
        self.target = None

    # -- the end -----------------------------------------------------------------------------

    def quit(self) -> None:
        for window in (self.main_window, self.login_window, self.connection_window):
            if window is not None:
                window.close()  # the main window saves its layout here
        app = QApplication.instance()
        if app is not None:
            app.quit()

    def shutdown(self) -> None:
        """Stop background work, close connections, stop the demo server this app started."""
        if self._shut_down:
            return
        self._shut_down = True
        for window in (self.main_window, self.login_window, self.connection_window):
            if window is not None:
                window.close()  # the main window saves its layout here
                window.deleteLater()
        if not self.runner.shutdown(5000):
            log.warning("background work still running at exit")
        if self.snapshot is not None:
            self.snapshot.close()
            self.snapshot = None
        elif self.services is not None:
            close_services(self.services)
        self.services = None
        for demo in self._started_demos:
            stop_demo_server(demo)
        self._started_demos.clear()


def command_line_target(url: str, profile: str | None = None, profiles: ProfileStore | None = None) -> Target:
    """How a database named on the command line (or in ECOMDESK_DATABASE_URL) is shown."""
    found = (profiles or ProfileStore()).get(profile) if profile else None
    return Target(url, profile_label(found) if found else describe_url(url), profile=profile)


def run(
    url: str | None = None,
    *,
    profile: str | None = None,
    demo: bool = False,
    debug: bool = False,
    snapshot: Path | None = None,
) -> int:
    """Open the app: on `url` (sign-in first), on the demo (`demo`), on a snapshot file
    (`snapshot`: no server, no sign-in), or with the connection window."""
    reason = gui_unavailable_reason()
    if reason:
        print(reason, file=sys.stderr)
        return 2
    from ecomdesk.logs import debug_requested, setup_logging
    from ecomdesk.ui.crash import install_crash_handler

    # The file takes INFO (everything with --debug); a window started from a terminal keeps the
    # terminal to warnings unless --debug.
    debug = debug_requested(debug)
    setup_logging(debug=debug, console_level=logging.DEBUG if debug else logging.WARNING)
    app = application()
    crash_handler = install_crash_handler()
    shell = Shell()
    app.aboutToQuit.connect(shell.shutdown)
    ctrl_c = _quit_on_ctrl_c(shell)
    try:
        shell.start(command_line_target(url, profile) if url else None, demo=demo, snapshot=snapshot)
        return app.exec()
    finally:
        ctrl_c.stop()
        shell.shutdown()
        crash_handler.uninstall()


def _quit_on_ctrl_c(shell: Shell) -> QTimer:
    """Ctrl+C in the terminal quits like File → Quit (stopping the demo server it started).

    Python runs signal handlers only between bytecodes, never while Qt's event loop waits in C++:
    the returned timer hands control back to Python a few times a second so the handler runs.
    """
    signal.signal(signal.SIGINT, lambda _signum, _frame: shell.quit())
    python_tick = QTimer(shell)
    python_tick.timeout.connect(lambda: None)
    python_tick.start(250)
    return python_tick
