"""This app's report runner on a real database: it generates queued reports when kicked and on its
timer, announces each one as it finishes, lets a stopped app's report go to another runner, logs
trouble instead of showing it, stays idle on a read-only connection, and lives as long as the main
window."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from ecomdesk.connect import close_services, open_services
from ecomdesk.services.context import ServiceContext
from ecomdesk.services.inventory import ItemFields
from ecomdesk.services.registry import Services
from ecomdesk.services.reports import ReportOutcome, ReportRequest
from ecomdesk.ui.main_window import MainWindow
from ecomdesk.ui.report_runner import ReportRunner
from ecomdesk.ui.session import AppSession
from ecomdesk.ui.tasks import TaskRunner
from tests.services.conftest import Staff

WAIT_MS = 15_000


@pytest.fixture
def item(services: Services, staff: Staff) -> None:
    fields = ItemFields("MUG-1", "Mug", "Kitchen", "Acme", Decimal("9.00"), Decimal("3.00"))
    services.inventory.create_item(staff.manager, fields, stock=3)


@pytest.fixture
def runners() -> Iterator[list[ReportRunner]]:
    """Report runners the test starts; stopped after it, before its database goes."""
    made: list[ReportRunner] = []
    yield made
    for runner in made:
        runner.stop()


def _runner(
    services: Services, staff: Staff, task_runner: TaskRunner, made: list[ReportRunner], **options: object
) -> ReportRunner:
    session = AppSession(services, staff.viewer, task_runner, database_label="test")
    runner = ReportRunner(session, parent=session, **options)  # type: ignore[arg-type]
    made.append(runner)
    return runner


def test_the_runner_signs_its_claims_with_the_computer_and_process(
    services: Services, staff: Staff, runner: TaskRunner
) -> None:
    session = AppSession(services, staff.viewer, runner, database_label="test")
    assert ReportRunner(session, parent=session).name == f"{socket.gethostname()}:{os.getpid()} app"


def test_a_kick_generates_every_queued_report_at_once_and_announces_each_as_it_finishes(
    qtbot: QtBot,
    services: Services,
    staff: Staff,
    item: None,
    runner: TaskRunner,
    runners: list[ReportRunner],
) -> None:
    first = services.reports.request(staff.manager, ReportRequest("inventory-valuation"))
    second = services.reports.request(staff.manager, ReportRequest("low-stock", format="json"))
    report_runner = _runner(services, staff, runner, runners, interval_ms=60_000)
    report_runner.start()
    finished: list[ReportOutcome] = []
    report_runner.report_finished.connect(finished.append)
    report_runner.kick()
    assert report_runner.busy
    qtbot.waitUntil(lambda: len(finished) == 2, timeout=WAIT_MS)
    # One job per task: the first report was announced before the second was even claimed.
    assert [(o.report_id, o.status) for o in finished] == [(first.id, "completed"), (second.id, "completed")]
    assert finished[1].rows == 1  # MUG-1: 3 available, at or below the shop's 10
    qtbot.waitUntil(lambda: not report_runner.busy, timeout=WAIT_MS)
    assert services.reports.get(staff.manager, second.id).status == "completed"


def test_the_timer_finds_a_queued_report_without_a_kick(
    qtbot: QtBot,
    services: Services,
    staff: Staff,
    item: None,
    runner: TaskRunner,
    runners: list[ReportRunner],
) -> None:
    report_runner = _runner(services, staff, runner, runners, interval_ms=50)
    report_runner.start()
    qtbot.waitUntil(lambda: not report_runner.busy, timeout=WAIT_MS)
    requested = services.reports.request(staff.admin, ReportRequest("user-directory"))
    with qtbot.waitSignal(report_runner.report_finished, timeout=WAIT_MS) as signal:
        pass
    outcome = signal.args[0]
    assert isinstance(outcome, ReportOutcome)
    assert (outcome.report_id, outcome.status) == (requested.id, "completed")


def test_a_stopped_runner_claims_nothing_and_another_app_generates_the_report(
    qtbot: QtBot, services: Services, staff: Staff, item: None, runners: list[ReportRunner]
) -> None:
    busy_pool = TaskRunner(max_threads=1)
    release = threading.Event()
    try:
        busy_pool.submit(lambda _control: release.wait(WAIT_MS / 1000))  # the one thread is taken
        report = services.reports.request(staff.manager, ReportRequest("inventory-valuation"))
        quitting = _runner(services, staff, busy_pool, runners, interval_ms=60_000)
        quitting.start()
        quitting.kick()  # queued behind the blocked task
        quitting.stop()  # the app closes before its runner got to the job
        assert not quitting.busy and not quitting.running
        release.set()
        qtbot.waitUntil(lambda: busy_pool.pending == 0, timeout=WAIT_MS)
        assert services.reports.get(staff.manager, report.id).status == "pending"
        quitting.kick()
        assert not quitting.busy  # a stopped runner does not start again by a kick

        other_app = _runner(services, staff, busy_pool, runners, interval_ms=60_000, name="other:2 app")
        other_app.start()
        with qtbot.waitSignal(other_app.report_finished, timeout=WAIT_MS):
            other_app.kick()
        assert services.reports.get(staff.manager, report.id).status == "completed"
    finally:
        release.set()
        busy_pool.shutdown(WAIT_MS)
        busy_pool.deleteLater()


def test_trouble_is_logged_and_tried_again_at_the_next_tick_never_shown(
    qtbot: QtBot,
    staff: Staff,
    runner: TaskRunner,
    runners: list[ReportRunner],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    gone = open_services(f"postgresql://postgres@/shop?host={tmp_path}")  # no server listens there
    shown: list[object] = []
    runner.failed.connect(lambda error, _task: shown.append(error))
    try:
        report_runner = _runner(gone, staff, runner, runners, interval_ms=60_000)
        report_runner.start()
        with caplog.at_level(logging.WARNING, logger="ecomdesk.ui.report_runner"):
            report_runner.kick()
            qtbot.waitUntil(lambda: not report_runner.busy, timeout=WAIT_MS)
            report_runner._tick()  # the next tick: the server is still away
            assert report_runner.busy  # tried again…
            qtbot.waitUntil(lambda: not report_runner.busy, timeout=WAIT_MS)
        logged = [r for r in caplog.records if r.name == "ecomdesk.ui.report_runner"]
        assert len(logged) == 1 and logged[0].levelno >= logging.WARNING  # …and not logged again
        assert shown == []  # no message bar, no dialog: nobody asked for this on screen
        assert report_runner.running and report_runner._timer.isActive()  # the next tick tries again
    finally:
        report_runner.stop()
        runner.wait(WAIT_MS)
        close_services(gone)


def test_a_read_only_connection_never_claims_a_report(
    qtbot: QtBot, services: Services, staff: Staff, runner: TaskRunner, runners: list[ReportRunner]
) -> None:
    services.reports.request(staff.manager, ReportRequest("user-directory"))
    read_only = Services.from_context(ServiceContext(services.ctx.engine, read_only=True))
    report_runner = _runner(read_only, staff, runner, runners, interval_ms=60_000)
    report_runner.start()
    report_runner.kick()
    assert not report_runner.running and not report_runner.busy


def test_the_main_window_runs_reports_while_it_is_open_and_stops_when_it_closes(
    qtbot: QtBot, services: Services, staff: Staff, runner: TaskRunner
) -> None:
    session = AppSession(services, staff.manager, runner, database_label="test")
    window = MainWindow(session)
    qtbot.addWidget(window)
    window.show()
    assert session.report_runner is window.report_runner
    running = [window.report_runner.running]
    requested = services.reports.request(staff.manager, ReportRequest("user-directory"))
    with qtbot.waitSignal(window.report_runner.report_finished, timeout=WAIT_MS) as signal:
        window.report_runner.kick()
    assert signal.args[0].report_id == requested.id
    window.close()
    running.append(window.report_runner.running)
    assert running == [True, False]
    runner.wait(WAIT_MS)
