"""Unexpected exceptions that nobody caught: logged with their traceback, then shown in one dialog.

Without this, an exception in a Qt slot or a worker thread prints to stderr — invisible for an app
started from its icon — and the person sees nothing, or a window that quietly stopped working.
`install_crash_handler` takes over `sys.excepthook` and `threading.excepthook`: the traceback goes
to the log file (through `ui.errors.describe`, the one error-to-message path), and a modal dialog
on the GUI thread says so in the person's words, with the log file's path, "Open log folder" and
"Copy details". While that dialog is open, further crashes are only logged and counted: a failing
timer must not bury the screen under dialogs.
"""

from __future__ import annotations

import logging
import platform
import sys
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

from PySide6.QtCore import QCoreApplication, QObject, Qt, Signal, qVersion
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QLabel, QMessageBox, QWidget

from ecomdesk import APP_NAME, __version__
from ecomdesk.logs import log_file
from ecomdesk.services.errors import ServiceError
from ecomdesk.ui.errors import describe
from ecomdesk.ui.messages import open_folder

if TYPE_CHECKING:
    from collections.abc import Callable

    ExceptHook = Callable[[type[BaseException], BaseException, TracebackType | None], Any]
    ThreadHook = Callable[[threading.ExceptHookArgs], Any]

log = logging.getLogger(__name__)

TITLE: Final = f"{APP_NAME} — unexpected problem"


@dataclass(frozen=True)
class Crash:
    """One uncaught exception, as the dialog shows it: made in the thread that raised it."""

    type_name: str
    #: The sentence for the person at the screen.
    text: str
    log_path: Path
    #: Versions, thread and traceback: what "Copy details" puts on the clipboard.
    details: str


def unexpected_text(type_name: str) -> str:
    return (
        f"{APP_NAME} ran into a problem it did not expect ({type_name}). Your work that was saved "
        "is safe; the last thing you did may not have finished."
    )


def _crash(error: BaseException, thread: str) -> Crash:
    message = describe(error)  # logs the traceback of anything unexpected
    if isinstance(error, ServiceError):
        # An expected refusal nobody handled is still a bug: describe() has its sentence but does
        # not log it, so the traceback is logged here.
        log.error("Uncaught %s", type(error).__name__, exc_info=(type(error), error, error.__traceback__))
        text = message.text
    else:
        text = unexpected_text(type(error).__name__)
    trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    details = (
        f"{APP_NAME} {__version__}, Python {platform.python_version()}, Qt {qVersion()}, "
        f"{platform.platform()}, thread {thread}\n\n{trace}"
    )
    return Crash(type(error).__name__, text, message.log_path or log_file(), details)


class CrashDialog(QMessageBox):
    """The dialog: what happened, where the log is, and two buttons that do not close it."""

    def __init__(self, crash: Crash, parent: QWidget | None = None) -> None:
        super().__init__(
            QMessageBox.Icon.Critical, TITLE, crash.text, QMessageBox.StandardButton.Close, parent
        )
        self.setObjectName("crashDialog")
        self.setWindowModality(Qt.WindowModality.ApplicationModal)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.crash = crash
        #: Crashes that came while this dialog was open: only logged and counted.
        self.more = 0
        self.setInformativeText(f"The details are in the log file:\n{crash.log_path}")
        self.setDetailedText(crash.details)
        self.folder_button = self.addButton("Open log folder", QMessageBox.ButtonRole.ActionRole)
        self.copy_button = self.addButton("Copy details", QMessageBox.ButtonRole.ActionRole)
        self.setDefaultButton(QMessageBox.StandardButton.Close)
        self.setEscapeButton(QMessageBox.StandardButton.Close)
        for label in self.findChildren(QLabel):
            if label.text():  # the path must be selectable, whatever the style's default
                label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._pressed: object = None
        self.buttonClicked.connect(self._note_button)

    def details(self) -> str:
        if not self.more:
            return self.crash.details
        return (
            f"{self.crash.details}\nand {self.more} more unexpected "
            f"{'problem' if self.more == 1 else 'problems'} since, also in {self.crash.log_path}\n"
        )

    def add_one_more(self) -> None:
        self.more += 1
        self.setDetailedText(self.details())

    def copy_details(self) -> None:
        QGuiApplication.clipboard().setText(self.details())

    def open_log_folder(self) -> None:
        open_folder(self.crash.log_path.parent)

    def _note_button(self, button: object) -> None:
        self._pressed = button

    def done(self, result: int) -> None:
        """QMessageBox closes on every button; the two action buttons act and keep it open."""
        button, self._pressed = self._pressed, None
        if button is self.copy_button:
            self.copy_details()
        elif button is self.folder_button:
            self.open_log_folder()
        else:
            super().done(result)


class CrashHandler(QObject):
    """Owns the hooks and the one dialog. Made on the GUI thread; the hooks run on any thread and
    reach the dialog only through a queued signal."""

    crashed = Signal(object)  # a Crash

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.dialog: CrashDialog | None = None
        self._previous_hook: ExceptHook | None = None
        self._previous_thread_hook: ThreadHook | None = None
        # Queued even on the GUI thread: the dialog opens from the event loop, not from inside
        # the slot that just failed.
        self.crashed.connect(self._show, Qt.ConnectionType.QueuedConnection)

    @property
    def installed(self) -> bool:
        return self._previous_hook is not None

    def install(self) -> None:
        if self.installed:
            return
        self._previous_hook, sys.excepthook = sys.excepthook, self.excepthook
        self._previous_thread_hook, threading.excepthook = threading.excepthook, self.thread_excepthook

    def uninstall(self) -> None:
        """Give the hooks back as they were (only if they are still ours)."""
        if self._previous_hook is None or self._previous_thread_hook is None:
            return
        if sys.excepthook == self.excepthook:
            sys.excepthook = self._previous_hook
        if threading.excepthook == self.thread_excepthook:
            threading.excepthook = self._previous_thread_hook
        self._previous_hook = self._previous_thread_hook = None

    def excepthook(
        self, exc_type: type[BaseException], error: BaseException, tb: TracebackType | None
    ) -> None:
        if not issubclass(exc_type, Exception):  # KeyboardInterrupt, SystemExit: as Python does
            (self._previous_hook or sys.__excepthook__)(exc_type, error, tb)
            return
        if error.__traceback__ is None:
            error = error.with_traceback(tb)
        self._report(error, threading.current_thread().name, lambda: self._fallback(exc_type, error, tb))

    def thread_excepthook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None or not issubclass(args.exc_type, Exception):
            (self._previous_thread_hook or threading.__excepthook__)(args)
            return
        name = args.thread.name if args.thread is not None else "unknown"
        previous = self._previous_thread_hook or threading.__excepthook__
        self._report(args.exc_value, name, lambda: previous(args))

    def _report(self, error: BaseException, thread: str, fallback: Callable[[], object]) -> None:
        try:
            crash = _crash(error, thread)
        except Exception:  # the handler itself failed: let Python print both rather than nothing
            log.exception("The crash handler failed")
            fallback()
            return
        if QCoreApplication.instance() is None:
            return  # no window to show it in (the app is gone): the log has it
        self.crashed.emit(crash)

    def _fallback(
        self, exc_type: type[BaseException], error: BaseException, tb: TracebackType | None
    ) -> None:
        (self._previous_hook or sys.__excepthook__)(exc_type, error, tb)

    def _show(self, crash: Crash) -> None:
        if self.dialog is not None:
            self.dialog.add_one_more()
            return
        dialog = CrashDialog(crash)
        dialog.finished.connect(self._closed)
        self.dialog = dialog
        dialog.show()
        dialog.raise_()

    def _closed(self) -> None:
        self.dialog = None


def install_crash_handler(parent: QObject | None = None) -> CrashHandler:
    """Route uncaught exceptions of every thread to the log file and one dialog; `uninstall()`
    gives the previous hooks back."""
    handler = CrashHandler(parent)
    handler.install()
    return handler
