"""The app's own report runner: while someone is signed in, this app helps drain the report queue.

Reports wait as jobs in the database; any running app or headless worker may claim one
(`services.reports.run_pending`). This runner asks every few seconds, and at once when `kick()`ed
(right after this app requested a report), on a pool thread of the one task runner. It claims one
job per task and asks again straight after an outcome, so each finished report is announced as it
finishes (`report_finished`), not when the whole queue is done.

`stop()` (sign-out, closing the window) cancels the running task: the service then releases its job
for another app or worker. Trouble (the server went away) is logged and tried again on the next
tick; it is never a dialog, since nobody asked for this work on screen.
"""

from __future__ import annotations

import logging
from typing import Final

from PySide6.QtCore import QObject, QTimer, Signal

from ecomdesk.services.errors import ServiceError
from ecomdesk.services.jobs import runner_name
from ecomdesk.services.reports import ReportOutcome
from ecomdesk.ui.session import AppSession, ConnectionState
from ecomdesk.ui.tasks import Task, TaskControl

log = logging.getLogger(__name__)

#: How often an idle app looks for queued reports.
INTERVAL_MS: Final = 5000
#: Jobs one task claims before it hands back: one, so every outcome arrives as it happens.
JOBS_PER_TASK: Final = 1


class ReportRunner(QObject):
    """Generates queued reports in the background while the session lasts."""

    #: A job this app ran ended (a `ReportOutcome`: completed, failed, cancelled or released).
    report_finished = Signal(object)

    def __init__(
        self,
        session: AppSession,
        *,
        interval_ms: int = INTERVAL_MS,
        name: str | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.name = name or runner_name("app")
        self._task: Task[list[ReportOutcome]] | None = None
        self._stopped = True
        #: A kick while a task runs: look again as soon as it is done.
        self._again = False
        #: The last failure logged (repeats of it are not).
        self._last_problem: str | None = None
        self._timer = QTimer(self)
        self._timer.setObjectName("reportRunnerTimer")
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)

    @property
    def busy(self) -> bool:
        return self._task is not None

    @property
    def running(self) -> bool:
        """Started and not stopped."""
        return not self._stopped

    def start(self) -> None:
        """Look for jobs every interval from now on. A read-only connection cannot store a
        report, so it never claims one."""
        if self.session.read_only:
            return
        self._stopped = False
        self._timer.start()

    def stop(self) -> None:
        """No more ticks; a report being generated is cancelled and its job released."""
        self._stopped = True
        self._again = False
        self._timer.stop()
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def kick(self) -> None:
        """Look now (a report was just requested here) rather than at the next tick."""
        if self._stopped:
            return
        if self._task is not None:
            self._again = True
            return
        self._timer.start()  # the next regular look is a full interval after this one
        self._run()

    def _tick(self) -> None:
        if self._task is None and self.session.state is ConnectionState.CONNECTED:
            self._run()

    def _run(self) -> None:
        reports, name = self.session.services.reports, self.name

        def run(control: TaskControl) -> list[ReportOutcome]:
            return reports.run_pending(name, limit=JOBS_PER_TASK, cancelled=lambda: control.cancelled)

        task = self.session.runner.submit(
            run,
            on_done=self._done,
            on_error=self._failed,
            owner=self,
            description="generate queued reports",
        )
        task.finished.connect(lambda: self._ended(task))
        self._task = task

    def _done(self, outcomes: list[ReportOutcome]) -> None:
        self._last_problem = None
        for outcome in outcomes:
            log.info("report %s %s by %s", outcome.report_id, outcome.status, self.name)
            self.report_finished.emit(outcome)
        if any(outcome.status != "released" for outcome in outcomes):
            self._again = True  # the queue may hold more: drain it before the next tick

    def _failed(self, error: BaseException) -> None:
        """Logged, never shown: the next tick tries again. The same trouble again (a server that
        stays away) is logged once, not every few seconds; a bug gets its traceback."""
        problem = f"{type(error).__name__}: {error}"
        if problem == self._last_problem:
            log.debug("report runner: still failing: %s", problem)
            return
        self._last_problem = problem
        if isinstance(error, ServiceError):
            log.warning("report runner: %s (trying again at the next tick)", error)
        else:
            log.error("report runner failed", exc_info=(type(error), error, error.__traceback__))

    def _ended(self, task: Task[list[ReportOutcome]]) -> None:
        if self._task is not task:
            return  # stopped meanwhile
        self._task = None
        again, self._again = self._again, False
        if again and not self._stopped and self.session.state is ConnectionState.CONNECTED:
            self._run()
