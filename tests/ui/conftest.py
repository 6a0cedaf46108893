"""UI tests: real widgets offscreen (QT_QPA_PLATFORM=offscreen, set in the root conftest) on a real
database. The service fixtures (`services`, `make_user`, `staff`, `clock`) are the service tests' own;
`tcp_server` is a PostgreSQL that asks for passwords (tests/pg_tcp.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication, QEvent, QSettings
from PySide6.QtWidgets import QApplication

from ecomdesk.ui.app import Shell
from ecomdesk.ui.tasks import TaskRunner
from tests.pg_tcp import tcp_server
from tests.services.conftest import clock, make_user, services, staff

__all__ = ["clock", "make_user", "services", "staff", "tcp_server"]


@pytest.fixture(autouse=True)
def settings_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """QSettings (preferences, window layout) in a folder of the test's own — what `user_dirs` does
    for platformdirs — so no test reads the real user's settings or another test's."""
    folder = tmp_path_factory.mktemp("qsettings")
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    return folder


@pytest.fixture(autouse=True)
def plain_theme(qapp: QApplication) -> Iterator[None]:
    """The theme is the application's: give it back as it was, so one test's dark palette never
    decides another's colours."""
    palette, sheet = qapp.palette(), qapp.styleSheet()
    yield
    if qapp.styleSheet() != sheet:
        qapp.setStyleSheet(sheet)
    if qapp.palette() != palette:
        qapp.setPalette(palette)


@pytest.fixture
def make_shell(qapp: QApplication) -> Iterator[Callable[[], Shell]]:
    """Shells (the app's window flow) for the test to start; after it, their windows are closed,
    their work stopped, and everything deleted at a known moment rather than by the garbage
    collector in the middle of a later test's events."""
    shells: list[Shell] = []

    def make() -> Shell:
        shells.append(Shell())
        return shells[-1]

    yield make
    for shell in shells:
        shell.shutdown()
        shell.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


@pytest.fixture
def shell(make_shell: Callable[[], Shell]) -> Shell:
    return make_shell()


@pytest.fixture
def runner(qapp: QApplication) -> Iterator[TaskRunner]:
    """The real task runner; shut down (its threads idle) before the test's database goes."""
    task_runner = TaskRunner()
    yield task_runner
    task_runner.shutdown(10_000)
    task_runner.deleteLater()
