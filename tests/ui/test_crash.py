"""Uncaught exceptions in a Qt slot or a worker thread: the traceback in the log file and one
dialog on the GUI thread that says so — instead of a line on an invisible stderr.

pytest-qt fails a test on an exception in a slot by installing its own `sys.excepthook`; these
tests are about the app's hook, so they turn that capture off (`qt_no_exception_capture`).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from ecomdesk.logs import setup_logging
from ecomdesk.services.errors import Unavailable
from ecomdesk.ui.crash import CrashDialog, CrashHandler, install_crash_handler
from tests.ui.desktop import opened_urls

pytestmark = pytest.mark.qt_no_exception_capture


@pytest.fixture
def log_path() -> Iterator[Path]:
    """The app's log file, in the test's own folder (`user_dirs`)."""
    import logging

    root = logging.getLogger()
    before = list(root.handlers)
    path = setup_logging()
    yield path
    for handler in list(root.handlers):
        if handler not in before:
            root.removeHandler(handler)
            handler.close()


@pytest.fixture
def handler(qapp: QApplication, log_path: Path) -> Iterator[CrashHandler]:
    crash_handler = install_crash_handler()
    yield crash_handler
    crash_handler.uninstall()
    for dialog in _open_dialogs():
        dialog.done(0)
    crash_handler.deleteLater()


def _open_dialogs() -> list[CrashDialog]:
    return [w for w in QApplication.topLevelWidgets() if isinstance(w, CrashDialog) and w.isVisible()]


def _raise_key_error() -> None:
    raise KeyError("basket-42")


def _wait_for_dialog(qtbot: QtBot, handler: CrashHandler) -> CrashDialog:
    qtbot.waitUntil(lambda: handler.dialog is not None and handler.dialog.isVisible(), timeout=5000)
    assert handler.dialog is not None
    return handler.dialog


def test_an_exception_in_a_slot_is_logged_and_shown_in_a_modal_dialog_with_the_log_path(
    qtbot: QtBot, handler: CrashHandler, log_path: Path
) -> None:
    QTimer.singleShot(0, _raise_key_error)
    dialog = _wait_for_dialog(qtbot, handler)

    assert QApplication.activeModalWidget() is dialog
    assert dialog.text().startswith("ecomdesk ran into a problem it did not expect (KeyError).")
    assert str(log_path) in dialog.informativeText()
    assert 'raise KeyError("basket-42")' in dialog.detailedText()
    text = log_path.read_text(encoding="utf-8")
    assert "ERROR MainThread ecomdesk.ui.errors: Unexpected error\nTraceback" in text
    assert "in _raise_key_error" in text and "KeyError: 'basket-42'" in text

    dialog.button(CrashDialog.StandardButton.Close).click()
    assert handler.dialog is None and not _open_dialogs()


def test_an_exception_in_a_worker_thread_is_shown_by_the_gui_thread(
    qtbot: QtBot, handler: CrashHandler, log_path: Path
) -> None:
    worker = threading.Thread(target=_raise_key_error, name="report-worker")
    worker.start()
    worker.join()
    dialog = _wait_for_dialog(qtbot, handler)

    assert dialog.thread() is QApplication.instance().thread()  # type: ignore[union-attr]
    assert "thread report-worker" in dialog.detailedText()
    # The record is written by the thread that failed, so the log says which one it was.
    assert "ERROR report-worker ecomdesk.ui.errors: Unexpected error" in log_path.read_text(encoding="utf-8")


def test_crashes_while_the_dialog_is_open_are_logged_and_counted_not_shown(
    qtbot: QtBot, handler: CrashHandler, log_path: Path
) -> None:
    for _ in range(3):
        QTimer.singleShot(0, _raise_key_error)
    dialog = _wait_for_dialog(qtbot, handler)
    qtbot.waitUntil(lambda: dialog.more == 2, timeout=5000)

    assert _open_dialogs() == [dialog]
    assert "and 2 more unexpected problems since" in dialog.detailedText()
    assert log_path.read_text(encoding="utf-8").count("KeyError: 'basket-42'") == 3

    dialog.button(CrashDialog.StandardButton.Close).click()
    QTimer.singleShot(0, _raise_key_error)  # after it was closed, the next crash is shown again
    again = _wait_for_dialog(qtbot, handler)
    assert again is not dialog and again.more == 0


def test_copy_details_and_open_log_folder_act_and_keep_the_dialog_open(
    qtbot: QtBot, handler: CrashHandler, log_path: Path
) -> None:
    QTimer.singleShot(0, _raise_key_error)
    dialog = _wait_for_dialog(qtbot, handler)
    with opened_urls() as urls:
        dialog.copy_button.click()
        dialog.folder_button.click()

    assert QGuiApplication.clipboard().text() == dialog.details()
    assert "KeyError: 'basket-42'" in QGuiApplication.clipboard().text()
    assert [url.toLocalFile() for url in urls] == [str(log_path.parent)]
    assert dialog.isVisible() and handler.dialog is dialog


def test_an_expected_error_nobody_caught_keeps_its_sentence_and_its_traceback_is_logged(
    qtbot: QtBot, handler: CrashHandler, log_path: Path
) -> None:
    def lose_the_server() -> None:
        raise Unavailable("The database cannot be reached right now. Nothing was changed.")

    QTimer.singleShot(0, lose_the_server)
    dialog = _wait_for_dialog(qtbot, handler)
    assert dialog.text() == "The database cannot be reached right now. Nothing was changed."
    assert "Uncaught Unavailable\nTraceback" in log_path.read_text(encoding="utf-8")


def test_keyboard_interrupt_goes_to_the_previous_hook_and_uninstall_restores_both_hooks(
    qapp: QApplication, log_path: Path
) -> None:
    seen: list[type[BaseException]] = []
    previous = sys.excepthook
    previous_thread_hook = threading.excepthook

    def recorder(kind: type[BaseException], _error: BaseException, _tb: object) -> None:
        seen.append(kind)

    sys.excepthook = recorder
    try:
        crash_handler = install_crash_handler()
        assert sys.excepthook == crash_handler.excepthook
        assert threading.excepthook == crash_handler.thread_excepthook
        sys.excepthook(KeyboardInterrupt, KeyboardInterrupt(), None)
        assert seen == [KeyboardInterrupt] and crash_handler.dialog is None
        crash_handler.uninstall()
        assert sys.excepthook is recorder
        assert threading.excepthook is previous_thread_hook
        crash_handler.deleteLater()
    finally:
        sys.excepthook = previous
