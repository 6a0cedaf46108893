"""`ecomdesk --self-test`: proof that an installed (or frozen) app works on this machine.

It starts Qt offscreen, checks the database and its schema, shows the connection and sign-in
windows, opens the main window as a staff member with each page they may see, paints a chart into
an image, and closes everything again: one timed line per step, stopping at the first failure
(a bug's traceback goes to the log file). With no database named it runs on a fresh, small demo
shop in a throwaway cluster of its own, removed at the end however the run ends.

On a database it is given it changes nothing but what signing in writes (the audit entry, the last
sign-in time): the app's report runner, which would help generate queued reports, is stopped as
soon as the main window exists, and the window layout and last page go to a temporary folder.

It also measures the start-up figure quoted for the bundle: process start to the sign-in window
shown, less what the self-test does first that the app does not (a fresh demo, the database check,
the connection window).
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Final, TextIO

import psutil
from PySide6 import __version__ as PYSIDE_VERSION
from PySide6.QtCore import (
    QCoreApplication,
    QEvent,
    QMessageLogContext,
    QSettings,
    QtMsgType,
    qInstallMessageHandler,
    qVersion,
)
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication, QLabel, QWidget

from ecomdesk import __version__
from ecomdesk.bootstrap import DEMO_DATABASE, ensure_database
from ecomdesk.config import SecretStore
from ecomdesk.connect import (
    DEMO_ACCOUNTS,
    DEMO_PASSWORD,
    SchemaState,
    check_connection,
    close_services,
    open_services,
)
from ecomdesk.db import migrate
from ecomdesk.db.embedded import EmbeddedServer
from ecomdesk.db.engine import make_engine, normalise_url
from ecomdesk.logs import FILE_ONLY, log_file
from ecomdesk.services.errors import ServiceError
from ecomdesk.ui.app import Shell, application, command_line_target
from ecomdesk.ui.connection import DEMO_LABEL, Target
from ecomdesk.ui.login import LoginWindow
from ecomdesk.ui.preferences import Preferences
from ecomdesk.ui.waiting import WaitTimeout, settle, wait_until

if TYPE_CHECKING:
    from ecomdesk.services.context import Actor
    from ecomdesk.services.registry import Services
    from ecomdesk.ui.main_window import MainWindow

log = logging.getLogger(__name__)

#: Signs in to the database under test; returns whom the main window is for.
SignInFn = Callable[["Services"], "Actor"]

#: The fresh demo: a small shop (a quarter of orders, 60 items) seeded in well under a second that
#: still fills every page and chart. The full demo takes minutes.
DEMO_SCALE: Final = 0.05
DEMO_INVENTORY: Final = 60
DEMO_YEARS: Final = 0.25
#: Seconds the background work may take to end once the windows are closed.
IDLE_TIMEOUT_S: Final = 15.0
NO_SIGN_IN: Final = (
    "no sign-in for this database: pass --user EMAIL (with --password-stdin in scripts), "
    "or sign in once with `ecomdesk login`"
)
_NAME_WIDTH: Final = 24


class StepFailed(Exception):
    """A step did not pass; the run stops there."""

    def __init__(self, step: str, reason: str) -> None:
        super().__init__(f"{step}: {reason}")
        self.step = step
        self.reason = reason


class Refused(Exception):
    """Raised inside a step: the check failed, for the reason given (no traceback: not a bug)."""


@dataclass
class StepNote:
    """What a step adds to its line (a version, a count, a path)."""

    detail: str = ""


@dataclass
class _Run:
    """Prints one line per step and adds up the time the start-up figure leaves out."""

    out: TextIO
    #: Seconds of the self-test's own work before the sign-in window (the app does none of it).
    detours: float = 0.0
    skipped: list[str] = field(default_factory=list)
    #: Asked after each step that passed: a reason when something failed behind its back.
    problems: Callable[[], str | None] = lambda: None
    interrupts: _Interrupts = field(default_factory=lambda: _Interrupts())

    def say(self, status: str, name: str, detail: str = "", ms: float | None = None) -> None:
        took = f"{ms:>7.0f} ms" if ms is not None else " " * 10
        print(f"{status:<5}{name:<{_NAME_WIDTH}}{took}  {detail}".rstrip(), file=self.out, flush=True)

    def skip(self, name: str, reason: str) -> None:
        self.skipped.append(name)
        self.say("skip", name, reason)

    @contextlib.contextmanager
    def step(self, name: str, *, detour: bool = False) -> Iterator[StepNote]:
        note = StepNote()
        started = time.perf_counter()
        try:
            yield note
            if self.interrupts.seen:
                raise KeyboardInterrupt
            problem = self.problems()
        except (Refused, WaitTimeout) as exc:
            problem = str(exc)
        except ServiceError as exc:
            problem = exc.message
        except Exception as exc:  # a bug: the traceback goes to the log, the line names the log
            log.error("self-test step %r failed", name, exc_info=True, extra=FILE_ONLY)
            problem = f"{type(exc).__name__}: {exc} (traceback in {log_file()})"
        took = time.perf_counter() - started
        if detour:
            self.detours += took
        if problem is not None:
            self.say("FAIL", name, problem, took * 1000)
            raise StepFailed(name, problem)
        self.say("ok", name, note.detail, took * 1000)


def run_self_test(
    url: str | None,
    *,
    sign_in: SignInFn | None = None,
    profile: str | None = None,
    out: TextIO | None = None,
) -> int:
    """Run every step on `url` (None: a fresh demo, signed in as its administrator) signed in
    with `sign_in` (None: the main window is skipped); print the lines to `out`. 0: all passed."""
    started = time.perf_counter()
    run = _Run(out or sys.stdout)
    try:
        with run.interrupts.handled(), contextlib.ExitStack() as cleanup:
            if url is None:
                with run.step("fresh demo database", detour=True) as note:
                    demo = cleanup.enter_context(fresh_demo())
                    note.detail = f"a small demo shop on a throwaway server in {demo.folder}"
                url = demo.url
                target = Target(url, DEMO_LABEL, demo=True)
                sign_in = _demo_admin
            else:
                target = command_line_target(url, profile)
            _windows(run, target, sign_in)
            if target.demo:
                with run.step("fresh demo removed"):
                    cleanup.close()
    except StepFailed as failure:
        print(f"self-test FAILED: {failure.step}: {failure.reason}", file=run.out, flush=True)
        return 1
    seconds = time.perf_counter() - started
    skipped = " (main window skipped: no sign-in)" if "main window" in run.skipped else ""
    print(f"self-test passed in {seconds:.1f} s{skipped}", file=run.out, flush=True)
    return 0


# -- a fresh demo --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FreshDemo:
    url: str
    #: The temporary folder holding the cluster (gone once the demo is).
    folder: Path


@contextlib.contextmanager
def fresh_demo() -> Iterator[FreshDemo]:
    """A throwaway PostgreSQL cluster in a temporary folder holding a small demo shop. The server
    is stopped and the folder deleted when the block ends, however it ends; the person's own demo
    cluster is never touched."""
    from ecomdesk.db.seed import seed_demo_data
    from ecomdesk.services.passwords import hash_password

    folder = Path(tempfile.mkdtemp(prefix="ecomdesk-self-test-"))
    server: EmbeddedServer | None = None
    try:
        # Durability is pointless for a cluster deleted a few seconds later.
        server = EmbeddedServer(
            folder / "cluster", extra_settings=("fsync=off", "synchronous_commit=off", "full_page_writes=off")
        )
        server.start()
        ensure_database(server.url(), DEMO_DATABASE)
        url = server.url(DEMO_DATABASE)
        engine = make_engine(normalise_url(url), statement_timeout_ms=0)
        try:
            migrate.upgrade(engine)
            seed_demo_data(
                engine,
                hash_password=hash_password,
                scale=DEMO_SCALE,
                inventory=DEMO_INVENTORY,
                years=DEMO_YEARS,
            )
        finally:
            engine.dispose()
        yield FreshDemo(url, folder)
    finally:
        if server is not None:
            server.destroy()
        shutil.rmtree(folder, ignore_errors=True)


def _demo_admin(services: Services) -> Actor:
    return services.auth.authenticate(DEMO_ACCOUNTS[0][0], DEMO_PASSWORD).actor


class _Interrupts:
    """Ctrl+C and SIGTERM (a CI timeout) unwind the self-test, so a fresh demo's server stops.

    The handler raises KeyboardInterrupt where Python happens to be, which may be inside a Qt
    callback that swallows it (a message handler, an event filter); so it also leaves a mark that
    every step checks when it ends."""

    def __init__(self) -> None:
        self.seen = False

    def _interrupt(self, _signum: int, _frame: FrameType | None) -> None:
        self.seen = True
        raise KeyboardInterrupt

    @contextlib.contextmanager
    def handled(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self._interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


# -- the windows ---------------------------------------------------------------------------------


class _Troubles:
    """Exceptions that reached `sys.excepthook` (a slot that raised) and failures of background
    work while the windows are up: either fails the step in which it appeared."""

    def __init__(self) -> None:
        self.unexpected: list[BaseException] = []
        self.task_errors: list[BaseException] = []
        self.interrupted = False
        self._previous = sys.excepthook

    def __enter__(self) -> _Troubles:
        self._previous = sys.excepthook
        sys.excepthook = self._record
        return self

    def __exit__(self, *_exc: object) -> None:
        sys.excepthook = self._previous

    def _record(self, kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):  # Ctrl+C while a slot ran: stop, as anywhere else
            self.interrupted = True
            return
        log.error("an exception reached sys.excepthook", exc_info=(kind, value, tb), extra=FILE_ONLY)
        self.unexpected.append(value)

    def task_failed(self, error: BaseException) -> None:
        if not isinstance(error, ServiceError):
            log.error(
                "background work failed", exc_info=(type(error), error, error.__traceback__), extra=FILE_ONLY
            )
        self.task_errors.append(error)

    def reason(self) -> str | None:
        if self.interrupted:
            raise KeyboardInterrupt
        if self.unexpected:
            error = self.unexpected[0]
            where = f"traceback in {log_file()}"
            return f"an exception reached sys.excepthook: {type(error).__name__}: {error} ({where})"
        if self.task_errors:
            error = self.task_errors[0]
            said = error.message if isinstance(error, ServiceError) else f"{type(error).__name__}: {error}"
            return f"background work failed: {said}"
        return None


def _windows(run: _Run, target: Target, sign_in: SignInFn | None) -> None:
    app = application()
    frozen = "frozen bundle" if getattr(sys, "frozen", False) else "not frozen"
    run.say("info", "ecomdesk", f"{__version__} · Python {platform.python_version()} · {frozen}")
    run.say("info", "platform", f"{platform.platform()} · Qt platform plugin {app.platformName()}")
    run.say("info", "Qt", f"Qt {qVersion()} · PySide6 {PYSIDE_VERSION}")
    run.say("info", "log file", str(log_file()))
    _database(run, target)

    with (
        tempfile.TemporaryDirectory(prefix="ecomdesk-self-test-") as folder,
        _Troubles() as troubles,
        _qt_messages_to_log(),
    ):
        # The person's window layout and last page stay as they were.
        settings = QSettings(str(Path(folder) / "preferences.ini"), QSettings.Format.IniFormat)
        shell = Shell(preferences=Preferences(settings))
        shell.runner.errored.connect(troubles.task_failed)
        run.problems = troubles.reason
        services: Services | None = None
        try:
            with run.step("connection window", detour=True):
                shell.theme.apply()
                shell.show_connection_window()
                settle(shell.runner, "the connection window")
                window = shell.connection_window
                if window is not None:  # (the shell deletes it when the main window opens)
                    window.close()
                    QApplication.processEvents()
            with run.step("login window") as note:
                login = LoginWindow(shell.runner, database_label=target.label, demo=target.demo)
                login.set_busy("Opening the database…")  # as the app shows it at first
                login.show()
                app.processEvents()
                shown_at = process_age()
                services = open_services(target.url)
                login.attach(services, target.url)
                login.set_keyring(SecretStore().status())
                login.set_ready()
                app.processEvents()
                note.detail = f"for {target.label}"
                login.close()
                login.deleteLater()
                app.processEvents()
            startup = shown_at - run.detours
            run.say(
                "info",
                "launch → login window",
                f"from process start, less the self-test's own {run.detours:.1f} s of checks before it",
                startup * 1000,
            )
            if sign_in is None:
                run.skip("main window", NO_SIGN_IN)
            else:
                with run.step("sign in") as note:
                    actor = sign_in(services)
                    note.detail = f"{actor.email} ({actor.role})"
                shell.services, shell.target, services = services, target, None  # the shell's now
                _main_window(run, shell, actor)
            with run.step("background work ended") as note:
                wait_until(lambda: shell.runner.pending == 0, "the background work to end", IDLE_TIMEOUT_S)
                note.detail = "no task left running"
        finally:
            run.problems = lambda: None
            shell.shutdown()
            shell.deleteLater()
            QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
            if services is not None:
                close_services(services)


def process_age() -> float:
    """Seconds since this process started. On Linux from the kernel's own clocks (the start in
    clock ticks since boot against CLOCK_BOOTTIME): psutil's `create_time()` adds the boot time,
    which /proc gives in whole seconds, so it can be up to a second off."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, ValueError, IndexError, AttributeError):
            stat = Path("/proc/self/stat").read_text()
            start_ticks = int(stat.rpartition(")")[2].split()[19])  # field 22: starttime
            return time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / os.sysconf("SC_CLK_TCK")
    return time.time() - psutil.Process().create_time()


@contextlib.contextmanager
def _qt_messages_to_log() -> Iterator[None]:
    """Qt's own messages go to the log like everything else (warnings also reach the console);
    the offscreen platform's notes on every window ("does not support raise()") only with --debug."""
    qt_log = logging.getLogger("qt")
    levels = {
        QtMsgType.QtDebugMsg: logging.DEBUG,
        QtMsgType.QtInfoMsg: logging.INFO,
        QtMsgType.QtWarningMsg: logging.WARNING,
        QtMsgType.QtCriticalMsg: logging.ERROR,
        QtMsgType.QtFatalMsg: logging.CRITICAL,
    }

    def handle(kind: QtMsgType, _context: QMessageLogContext, message: str) -> None:
        level = levels.get(kind, logging.WARNING)
        if message.startswith("This plugin does not support"):
            level = logging.DEBUG
        qt_log.log(level, "%s", message)

    previous = qInstallMessageHandler(handle)
    try:
        yield
    finally:
        qInstallMessageHandler(previous)


def _database(run: _Run, target: Target) -> None:
    """Reachable, and a schema this app fits; the self-test never upgrades one."""
    with run.step("database", detour=True) as note:
        check = check_connection(target.url)
        if not check.ok and check.schema is None:  # (a schema that does not fit is the next step's)
            raise Refused(check.text)
        server = f"PostgreSQL {check.server_version}" if check.server_version else "the server"
        note.detail = f"{server}, {target.label}"
    with run.step("schema", detour=True) as note:
        engine = make_engine(normalise_url(target.url))
        try:
            status = migrate.schema_status(engine)
        finally:
            engine.dispose()
        if status.state is not SchemaState.CURRENT:
            raise Refused(status.advice)
        note.detail = f"revision {status.app_revision}, as this app expects"


def _main_window(run: _Run, shell: Shell, actor: Actor) -> None:
    with run.step("main window") as note:
        window = shell.show_main(actor)
        # On someone's shop this app must not generate their queued reports.
        window.report_runner.stop()
        settle(shell.runner, "the shop's settings")
        keys = window.page_keys()
        note.detail = f"{len(keys)} pages for the {actor.role} role: {', '.join(keys)}"
    for key in keys:
        with run.step(f"page {key}"):
            window.show_page(key)
            page = window.current_page
            wait_until(
                lambda page=page: run.problems() is not None or _first_load_done(page),  # type: ignore[misc]
                f"the {key} page's first load",
            )
            settle(shell.runner, f"the {key} page")
            if window.current_key != key or page is None or isinstance(page, QLabel):
                message = window.messages.message
                raise Refused(message.text if message is not None else "the page could not be opened")
    if "dashboard" in keys:
        with run.step("chart painted") as note:
            note.detail = _paint_chart(window, shell)
    else:
        run.skip("chart painted", f"the {actor.role} role does not see the dashboard")
    with run.step("main window closed"):
        window.close()
        QApplication.processEvents()
        if window.isVisible():
            raise Refused("the main window is still shown")


def _first_load_done(page: QWidget | None) -> bool:
    """The page's first read arrived: its list has rows and a count, its figures are in, its form
    is filled (what the pages expose to their tests and the screenshots)."""
    model = getattr(getattr(page, "grid", None), "model", None)
    if model is not None and (not model.is_loaded or model.is_busy):
        return False
    if getattr(page, "is_busy", False):
        return False
    return getattr(page, "loaded", True) is not False and getattr(page, "dashboard", True) is not None


def _paint_chart(window: MainWindow, shell: Shell) -> str:
    """The dashboard's sales chart painted into an image: one flat colour means nothing was drawn."""
    window.show_page("dashboard")
    settle(shell.runner, "the dashboard")
    chart = getattr(window.current_page, "sales_chart", None)
    if not isinstance(chart, QWidget):
        raise Refused("the dashboard has no sales chart")
    image = chart.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
    if image.isNull():
        raise Refused("the chart has no size: nothing could be painted")
    colours = len(set(memoryview(image.constBits()).cast("I")))
    if colours < 2:
        raise Refused("the sales chart painted as one flat colour")
    return f"the dashboard's sales chart, {image.width()}×{image.height()} px, {colours} colours"
