"""The one background task runner: database work leaves the GUI thread, results come back by signal.

A page hands `TaskRunner.submit` a function that takes a `TaskControl`; the function runs on a pool
thread (each call opens its own database session through the services, so sessions never cross
threads), and its result, error or progress arrives on the GUI thread. Giving tasks a `key` makes only
the latest request per key count: submitting again cancels the older task and drops its result, so a
slow answer for an old filter never overwrites a newer one. Errors nobody handles go to the runner's
`failed` signal, which the main window shows through the one error-to-message path (`ui.errors`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QCoreApplication, QObject, QRunnable, Qt, QThreadPool, QTimer, Signal, Slot
from PySide6.QtWidgets import QProgressDialog, QWidget

T = TypeVar("T")
log = logging.getLogger(__name__)

#: Progress reports closer together than this are coalesced: the GUI repaints at most ~20 times a second.
_PROGRESS_INTERVAL_S = 0.05


class Cancelled(Exception):
    """Raised inside a task by `TaskControl.check()` once the task was cancelled."""


class TaskControl:
    """What the work function sees in its thread: the cancel flag and a way to report progress."""

    def __init__(self, task: Task[Any]) -> None:
        self._task = task
        self._event = threading.Event()
        self._last_progress = 0.0

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Stop here (raise `Cancelled`) if the task was cancelled; call it between chunks of work."""
        if self._event.is_set():
            raise Cancelled()

    def progress(self, done: int, total: int | None = None, text: str = "") -> None:
        """Report `done` of `total` units (total None: unknown). Cheap to call often: it is throttled."""
        now = time.monotonic()
        final = total is not None and done >= total
        if not final and now - self._last_progress < _PROGRESS_INTERVAL_S:
            return
        self._last_progress = now
        self._task._progress.emit(done, -1 if total is None else total, text)


class Task(QObject, Generic[T]):
    """One submitted piece of work, living on the GUI thread; its public signals fire there."""

    succeeded = Signal(object)
    failed = Signal(object)
    progressed = Signal(int, int, str)  # done, total (-1 when unknown), text
    #: Always last, once: after success, failure or cancellation.
    finished = Signal()

    # Emitted from the pool thread; queued to this object's (GUI) thread.
    _result = Signal(object)
    _error = Signal(object)
    _progress = Signal(int, int, str)
    _ended = Signal()

    def __init__(self, description: str, key: str | None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.description = description
        self.key = key
        self.control = TaskControl(self)
        self.done = False
        self._result.connect(self._on_result, Qt.ConnectionType.QueuedConnection)
        self._error.connect(self._on_error, Qt.ConnectionType.QueuedConnection)
        self._progress.connect(self._on_progress, Qt.ConnectionType.QueuedConnection)
        self._ended.connect(self._on_ended, Qt.ConnectionType.QueuedConnection)

    @property
    def cancelled(self) -> bool:
        return self.control.cancelled

    def cancel(self) -> None:
        """Ask the work to stop; whatever it still returns is dropped."""
        self.control._event.set()

    @Slot(object)
    def _on_result(self, value: object) -> None:
        if not self.cancelled:
            self.succeeded.emit(value)

    @Slot(object)
    def _on_error(self, error: object) -> None:
        if not self.cancelled:
            self.failed.emit(error)

    @Slot(int, int, str)
    def _on_progress(self, done: int, total: int, text: str) -> None:
        if not self.cancelled:
            self.progressed.emit(done, total, text)

    @Slot()
    def _on_ended(self) -> None:
        self.done = True
        self.finished.emit()


class _Job(QRunnable):
    def __init__(self, task: Task[Any], fn: Callable[[TaskControl], Any]) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self._task = task
        self._fn = fn

    def run(self) -> None:
        task = self._task
        try:
            if not task.cancelled:
                value = self._fn(task.control)
                task._result.emit(value)
        except Cancelled:
            pass
        except BaseException as exc:  # every failure goes back to the GUI thread, none is lost
            task._error.emit(exc)
        finally:
            task._ended.emit()


class TaskRunner(QObject):
    """Runs callables on a small thread pool of its own; one per application window set."""

    #: (error, task) for failures no caller handled: the main window turns them into a message.
    failed = Signal(object, object)
    #: Every failure, handled by its caller or not: the main window watches it for an ended sign-in.
    errored = Signal(object)
    #: How many tasks are running or queued; the status bar shows activity while it is above 0.
    activity = Signal(int)

    def __init__(self, parent: QObject | None = None, max_threads: int = 4) -> None:
        # Owned by the application unless told otherwise, never by a Python reference: a task's
        # callbacks may hold the last reference to whatever holds the runner, and releasing them
        # (as a finished task is deleted, inside the runner's own event) must not delete the runner.
        super().__init__(parent if parent is not None else QCoreApplication.instance())
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max_threads)
        self._latest: dict[str, Task[Any]] = {}
        self._running: set[Task[Any]] = set()

    def submit(
        self,
        fn: Callable[[TaskControl], T],
        *,
        on_done: Callable[[T], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        on_progress: Callable[[int, int, str], None] | None = None,
        key: str | None = None,
        owner: QObject | None = None,
        description: str = "",
    ) -> Task[T]:
        """Run `fn(control)` off the GUI thread; callbacks run on the GUI thread.

        `key`: a newer task with the same key cancels this one. `owner`: when it is destroyed the task
        is cancelled and its callbacks never run (a closed dialog gets no late result).
        `on_error` absent: the error goes to `failed`, the application's one message path.
        """
        if key is not None and key in self._latest:
            self._latest[key].cancel()
        task: Task[T] = Task(description or getattr(fn, "__name__", "task"), key, self)
        if key is not None:
            self._latest[key] = task
        if on_done is not None:
            task.succeeded.connect(on_done)
        if on_progress is not None:
            task.progressed.connect(on_progress)
        task.failed.connect(self.errored)
        if on_error is not None:
            task.failed.connect(on_error)
        else:
            task.failed.connect(lambda error: self.failed.emit(error, task))
        if owner is not None:
            owner.destroyed.connect(task.cancel)
        task.finished.connect(lambda: self._forget(task))
        self._running.add(task)
        self.activity.emit(len(self._running))
        self._pool.start(_Job(task, fn))
        return task

    def _forget(self, task: Task[Any]) -> None:
        self._running.discard(task)
        if task.key is not None and self._latest.get(task.key) is task:
            del self._latest[task.key]
        self.activity.emit(len(self._running))
        task.deleteLater()

    @property
    def pending(self) -> int:
        return len(self._running)

    def cancel_all(self) -> None:
        for task in list(self._running):
            task.cancel()

    def wait(self, timeout_ms: int = -1) -> bool:
        """Block until the pool threads are idle (shutdown and tests only; never from a slot)."""
        return bool(self._pool.waitForDone(timeout_ms))

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Cancel everything and give running work `timeout_ms` to notice."""
        self.cancel_all()
        return self.wait(timeout_ms)


def show_progress(task: Task[Any], parent: QWidget, title: str, *, delay_ms: int = 400) -> QProgressDialog:
    """A modal-less progress dialog for `task` with a Cancel button; appears only if the work is slow."""
    dialog = QProgressDialog(title, "Cancel", 0, 0, parent)
    dialog.setWindowTitle(title)
    dialog.setWindowModality(Qt.WindowModality.WindowModal)
    dialog.setAutoClose(False)
    dialog.setAutoReset(False)
    dialog.setMinimumDuration(0)
    dialog.reset()  # stays hidden until the timer below (QProgressDialog shows itself on construction)
    dialog.hide()

    def update(done: int, total: int, text: str) -> None:
        if total > 0:
            dialog.setMaximum(total)
            dialog.setValue(min(done, total))
        else:
            dialog.setMaximum(0)
        if text:
            dialog.setLabelText(text)

    timer = QTimer(dialog)
    timer.setSingleShot(True)
    timer.timeout.connect(lambda: None if task.done else dialog.show())
    timer.start(delay_ms)
    task.progressed.connect(update)
    dialog.canceled.connect(task.cancel)
    task.finished.connect(dialog.deleteLater)
    task.finished.connect(timer.stop)
    return dialog
