"""Letting Qt run until something holds: for the tools that drive the windows with nobody at the
screen (`ecomdesk screenshots`, `ecomdesk --self-test`). Kept apart from them so the self-test can
wait without importing every page the screenshots photograph (that would count in its start-up).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtWidgets import QApplication

from ecomdesk.ui.tasks import TaskRunner


class WaitTimeout(RuntimeError):
    """What was waited for did not happen in time; the message says what it was."""


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    """Let Qt run (signals from the task runner arrive) until `condition` holds."""
    app = QApplication.instance()
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise WaitTimeout(f"gave up waiting for {what} after {timeout_s:.0f} s")
        if app is not None:
            app.processEvents()
        time.sleep(0.01)


def settle(runner: TaskRunner, what: str) -> None:
    """Wait until background work is done and its results are painted."""
    wait_until(lambda: runner.pending == 0, what)
    app = QApplication.instance()
    for _ in range(5):
        if app is not None:
            app.processEvents()
        time.sleep(0.01)
