"""Losing the server (issue 10): the test harness stops its own PostgreSQL under a signed-in window
and starts it again. The window says so within one poll, keeps every window and every typed
character, refuses actions with the one clear sentence (nothing half-saved), backs off while the
server stays away, and recovers by itself when it is back, showing what others changed meanwhile.

These tests stop the session's throwaway cluster, so they need it: with an external server
(ECOMDESK_TEST_DATABASE_URL) they are skipped. The server is started again whatever happens, since
the other tests of this worker use it.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import signal
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QLineEdit
from pytestqt.qtbot import QtBot
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ecomdesk.db.embedded import EmbeddedServer
from ecomdesk.db.engine import libpq_url
from ecomdesk.db.models import AuditEntry, InventoryItem
from ecomdesk.services.context import Actor, database_errors
from ecomdesk.services.errors import Unavailable
from ecomdesk.services.inventory import InventoryRow, ItemFields
from ecomdesk.services.listing import ListQuery
from ecomdesk.services.registry import Services
from ecomdesk.ui.live import FAILURES_BEFORE_OFFLINE, STALL_MS
from ecomdesk.ui.main_window import MainWindow
from ecomdesk.ui.pages.dashboard import DashboardPage
from ecomdesk.ui.pages.inventory import InventoryPage
from ecomdesk.ui.pages.item_dialogs import ItemDialog
from ecomdesk.ui.session import AppSession, ConnectionState
from ecomdesk.ui.tasks import TaskRunner
from tests.services.conftest import Staff

if TYPE_CHECKING:
    from typing_extensions import Buffer

WAIT_MS = 15_000
#: The windows' refresh interval: "within one poll" is within this, plus slack for a busy machine.
INTERVAL_S = 1
SLACK_S = 1.0
#: The `Unavailable` sentence of a server that does not answer (`services.context.database_errors`).
UNREACHABLE = "The database cannot be reached right now. Nothing was changed"

OpenWindow = Callable[[Actor, str], MainWindow]


class Outage:
    """Stops and starts the session's PostgreSQL server. A fast shutdown cuts every client off at
    once, as a server restart or failover does. A freeze (SIGSTOP to the server's processes) is the
    other kind of outage: a hung machine or a network that drops everything, where the operating
    system still holds the connections open and no error ever arrives."""

    def __init__(self, server: EmbeddedServer) -> None:
        self.server = server
        self.frozen: list[int] = []

    def begin(self) -> None:
        assert self.server.stop(mode="fast"), "the test server was not running"

    def end(self) -> None:
        self.thaw()
        self.server.start()

    def freeze(self) -> None:
        postmaster = int((self.server.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        self.frozen = [postmaster, *_children(postmaster)]  # the postmaster first: it spawns no more
        for pid in self.frozen:
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        for pid in reversed(self.frozen):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        self.frozen = []


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        if parent == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.fixture
def outage(pg_server: EmbeddedServer | None, engine: Engine) -> Iterator[Outage]:
    """The server, to stop and start again; running again after the test whatever happened. (It
    depends on `engine`, so it is torn down first: the test database can still be dropped.)"""
    if pg_server is None:
        pytest.skip("stopping the server needs the tests' own cluster, not ECOMDESK_TEST_DATABASE_URL")
    outage = Outage(pg_server)
    try:
        yield outage
    finally:
        outage.end()


@pytest.fixture
def open_window(qtbot: QtBot, services: Services, runner: TaskRunner) -> Iterator[OpenWindow]:
    """A main window on `page` with a 1 s refresh interval, its first loads done and listening."""
    windows: list[MainWindow] = []

    def open_(actor: Actor, page: str) -> MainWindow:
        session = AppSession(services, actor, runner, database_label="the test shop")
        session.preferences.refresh_interval = INTERVAL_S
        session.preferences.last_page = page
        window = MainWindow(session)
        qtbot.addWidget(window)
        windows.append(window)
        window.show()
        qtbot.waitUntil(lambda: runner.pending == 0 and window.watcher.listening, timeout=WAIT_MS)
        assert window.current_key == page
        return window

    yield open_
    for window in windows:
        window.close()  # stops the watcher and the report runner before the server comes back


def _item(services: Services, staff: Staff, sku: str, name: str) -> InventoryRow:
    fields = ItemFields(sku, name, "Kitchen", "Acme", Decimal("9.00"), Decimal("3.00"), None)
    return services.inventory.create_item(staff.manager, fields, stock=20)


def _names(page: InventoryPage) -> dict[str, str]:
    model = page.grid.model
    records = (model.record(row) for row in range(model.rowCount()))
    return {record.sku: record.name for record in records if record is not None}


def _rename_by_sql(database_url: str, sku: str, name: str) -> None:
    """Another client's change, straight in SQL as psql would make it (the triggers log it and
    bump the item's version, migrations 0004 and 0007)."""
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        conn.execute("UPDATE inventory_items SET name = %s WHERE sku = %s", (name, sku))


def _audit_actions(engine: Engine, item_id: int) -> list[str]:
    with Session(engine) as session:
        stmt = (
            select(AuditEntry.action)
            .where(AuditEntry.entity_type == "inventory_item", AuditEntry.entity_id == str(item_id))
            .order_by(AuditEntry.id)
        )
        return list(session.scalars(stmt))


def _type(edit: QLineEdit, text: str) -> None:
    """Replace a field's text with keystrokes, as a person does (the dialog notes the typing)."""
    edit.selectAll()
    QTest.keyClicks(edit, text)


def _edit(qtbot: QtBot, page: InventoryPage, sku: str) -> ItemDialog:
    record = next(r for r in map(page.grid.model.record, range(page.grid.model.rowCount())) if r.sku == sku)
    dialog = page.open_editor(record)
    qtbot.waitUntil(lambda: dialog.loaded and not dialog.busy.isVisible(), timeout=WAIT_MS)
    return dialog


def _problems(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Log records beyond a warning, or with a traceback: what a lost server must not produce."""
    return [
        f"{r.levelname} {r.name}: {r.getMessage()}"
        for r in caplog.records
        if r.levelno >= logging.ERROR or r.exc_info is not None
    ]


def test_a_server_restart_keeps_the_open_dialog_and_its_input_and_the_window_recovers_by_itself(
    qtbot: QtBot,
    open_window: OpenWindow,
    services: Services,
    staff: Staff,
    engine: Engine,
    database_url: str,
    outage: Outage,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    mug = _item(services, staff, "MUG-1", "Mug")
    _item(services, staff, "BOWL-1", "Bowl")
    window = open_window(staff.admin, "inventory")
    page = window.current_page
    assert isinstance(page, InventoryPage)
    qtbot.waitUntil(lambda: _names(page) == {"MUG-1": "Mug", "BOWL-1": "Bowl"}, timeout=WAIT_MS)
    dialog = _edit(qtbot, page, "MUG-1")
    _type(dialog.name, "Mug, blue")
    _type(dialog.price, "11.50")

    outage.begin()
    gone_at = time.monotonic()
    qtbot.waitUntil(lambda: window.session.state is not ConnectionState.CONNECTED, timeout=WAIT_MS)
    assert time.monotonic() - gone_at < INTERVAL_S + SLACK_S
    assert "Reconnecting…" in window.state_label.text()
    assert window.isVisible() and dialog.isVisible()
    assert (dialog.name.text(), dialog.price.text()) == ("Mug, blue", "11.50")

    # Saving while the server is away: the one sentence, the dialog and its input stay.
    dialog.save_button.click()
    qtbot.waitUntil(lambda: not dialog.busy.isVisible(), timeout=WAIT_MS)
    assert UNREACHABLE in dialog.status.text()
    assert dialog.isVisible() and dialog.save_button.isEnabled()
    assert (dialog.name.text(), dialog.price.text()) == ("Mug, blue", "11.50")

    # Back, and someone else renames the bowl at once: the window shows it without F5.
    outage.end()
    _rename_by_sql(database_url, "BOWL-1", "Bowl, large")
    qtbot.waitUntil(lambda: window.session.state is ConnectionState.CONNECTED, timeout=WAIT_MS)
    assert "Connected" in window.state_label.text()
    assert window.messages.message is not None and window.messages.message.title == "Connected again"
    qtbot.waitUntil(lambda: _names(page).get("BOWL-1") == "Bowl, large", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: window.watcher.listening, timeout=WAIT_MS)  # the wake-up is back too
    assert dialog.isVisible() and (dialog.name.text(), dialog.price.text()) == ("Mug, blue", "11.50")

    # The same Save again: one update, nothing of the failed attempt.
    dialog.save_button.click()
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=WAIT_MS)
    with Session(engine) as session:
        saved = session.get(InventoryItem, mug.id)
        assert saved is not None
        assert (saved.name, saved.price, saved.version) == ("Mug, blue", Decimal("11.50"), mug.version + 1)
    assert _audit_actions(engine, mug.id) == ["inventory.item_created", "inventory.item_updated"]
    qtbot.waitUntil(lambda: _names(page).get("MUG-1") == "Mug, blue", timeout=WAIT_MS)
    assert _problems(caplog) == []


def test_a_frozen_server_that_answers_nothing_shows_as_reconnecting_and_the_window_resumes_after_it(
    qtbot: QtBot,
    open_window: OpenWindow,
    services: Services,
    staff: Staff,
    engine: Engine,
    outage: Outage,
    caplog: pytest.LogCaptureFixture,
) -> None:
    if not Path("/proc/self/stat").exists():
        pytest.skip("freezing the server's processes needs Linux's /proc")
    caplog.set_level(logging.INFO)
    mug = _item(services, staff, "MUG-1", "Mug")
    window = open_window(staff.admin, "inventory")
    page = window.current_page
    assert isinstance(page, InventoryPage)
    qtbot.waitUntil(lambda: "MUG-1" in _names(page), timeout=WAIT_MS)
    dialog = _edit(qtbot, page, "MUG-1")
    _type(dialog.name, "Mug, blue")
    watcher = window.watcher
    assert watcher.stall_ms == STALL_MS
    watcher.stall_ms = 1500  # the default is 5 s: the test need not wait that long

    outage.freeze()
    frozen_at = time.monotonic()
    qtbot.waitUntil(lambda: window.session.state is not ConnectionState.CONNECTED, timeout=WAIT_MS)
    # The next poll starts within an interval and gets no answer: silence past the deadline.
    assert time.monotonic() - frozen_at < INTERVAL_S + watcher.stall_ms / 1000 + SLACK_S
    assert "Reconnecting…" in window.state_label.text()
    assert window.isVisible() and dialog.isVisible() and dialog.name.text() == "Mug, blue"

    outage.thaw()
    qtbot.waitUntil(lambda: window.session.state is ConnectionState.CONNECTED, timeout=WAIT_MS)
    assert window.messages.message is not None and window.messages.message.title == "Connected again"
    dialog.save_button.click()
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=WAIT_MS)
    with Session(engine) as session:
        saved = session.get(InventoryItem, mug.id)
        assert saved is not None and (saved.name, saved.version) == ("Mug, blue", mug.version + 1)
    assert _problems(caplog) == []


def test_an_item_changed_by_someone_else_during_the_outage_goes_through_the_conflict_path(
    qtbot: QtBot,
    open_window: OpenWindow,
    services: Services,
    staff: Staff,
    engine: Engine,
    database_url: str,
    outage: Outage,
) -> None:
    mug = _item(services, staff, "MUG-1", "Mug")
    window = open_window(staff.admin, "inventory")
    page = window.current_page
    assert isinstance(page, InventoryPage)
    qtbot.waitUntil(lambda: "MUG-1" in _names(page), timeout=WAIT_MS)
    dialog = _edit(qtbot, page, "MUG-1")
    _type(dialog.price, "11.50")

    outage.begin()
    qtbot.waitUntil(lambda: window.session.state is not ConnectionState.CONNECTED, timeout=WAIT_MS)
    outage.end()
    _rename_by_sql(database_url, "MUG-1", "Mug (theirs)")
    qtbot.waitUntil(lambda: window.session.state is ConnectionState.CONNECTED, timeout=WAIT_MS)

    dialog.save_button.click()
    qtbot.waitUntil(
        lambda: dialog.conflict_dialog is not None and dialog.conflict_dialog.isVisible(), timeout=WAIT_MS
    )
    assert dialog.isVisible() and dialog.price.text() == "11.50"
    with Session(engine) as session:
        saved = session.get(InventoryItem, mug.id)
        assert saved is not None
        # Theirs only: the save based on the old version changed nothing.
        assert (saved.name, saved.price, saved.version) == ("Mug (theirs)", Decimal("9.00"), mug.version + 1)
    assert _audit_actions(engine, mug.id) == ["inventory.item_created"]


def test_while_the_server_stays_away_polls_back_off_to_offline_and_actions_fail_clearly_until_it_returns(
    qtbot: QtBot,
    open_window: OpenWindow,
    staff: Staff,
    outage: Outage,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="ecomdesk")
    window = open_window(staff.admin, "dashboard")
    page = window.current_page
    assert isinstance(page, DashboardPage)
    qtbot.waitUntil(lambda: page.dashboard is not None and not page.is_busy, timeout=WAIT_MS)
    first = page.dashboard
    watcher = window.watcher
    watcher.first_backoff_ms, watcher.max_backoff_ms = 100, 400
    delays: list[tuple[int, int]] = []  # (failures so far, the poll timer's interval after them)
    schedule = watcher._schedule

    def spy(delay_ms: int | None = None) -> None:
        schedule(delay_ms)
        if watcher._failures:
            delays.append((watcher._failures, watcher._poll_timer.interval()))

    watcher._schedule = spy  # type: ignore[method-assign]

    outage.begin()
    qtbot.waitUntil(lambda: window.session.state is not ConnectionState.CONNECTED, timeout=WAIT_MS)

    # F5 on the dashboard while the server is away: the one sentence in the message bar.
    window.refresh()
    qtbot.waitUntil(lambda: page.error is not None and not page.is_busy, timeout=WAIT_MS)
    assert window.messages.message is not None
    assert window.messages.message.title == "Database unavailable"
    assert UNREACHABLE in window.messages.text
    assert page.dashboard is first  # the last figures stay on screen

    # The report runner, asked twice while the server is away, says so once (no traceback).
    window.report_runner.kick()
    qtbot.waitUntil(lambda: not window.report_runner.busy, timeout=WAIT_MS)
    window.report_runner.kick()
    qtbot.waitUntil(lambda: not window.report_runner.busy, timeout=WAIT_MS)

    qtbot.waitUntil(lambda: window.session.state is ConnectionState.OFFLINE, timeout=WAIT_MS)
    assert "Offline" in window.state_label.text()
    assert watcher._poll_timer.isActive()  # still asking
    # Each failure doubles the wait (±20 % jitter) up to the cap: 100, 200, 400, 400 ms.
    expected = {n: min(400, 100 * 2 ** (n - 1)) for n in range(1, FAILURES_BEFORE_OFFLINE + 1)}
    seen = dict(delays)
    assert sorted(seen)[:FAILURES_BEFORE_OFFLINE] == list(expected), delays
    for failures, base in expected.items():
        assert 0.8 * base - 1 <= seen[failures] <= 1.2 * base + 1, delays

    outage.end()
    qtbot.waitUntil(lambda: window.session.state is ConnectionState.CONNECTED, timeout=WAIT_MS)
    assert window.messages.message is not None and window.messages.message.title == "Connected again"
    assert watcher._poll_timer.interval() == INTERVAL_S * 1000  # back to the usual pace
    qtbot.waitUntil(lambda: not page.is_busy, timeout=WAIT_MS)
    window.refresh()  # the same F5 again works
    qtbot.waitUntil(lambda: not page.is_busy, timeout=WAIT_MS)
    assert page.error is None and page.dashboard is not first

    runner_lines = [
        r for r in caplog.records if r.name == "ecomdesk.ui.report_runner" and r.levelno >= logging.INFO
    ]
    assert len(runner_lines) == 1 and runner_lines[0].levelno == logging.WARNING, runner_lines
    assert _problems(caplog) == []


# -- the services' side: what reaches the UI is `Unavailable`, never a driver error ----------------


class _StopsServerOnFirstWrite(io.BytesIO):
    """An export's file whose first write (the CSV header, before the rows are copied) is the
    moment the server goes away."""

    def __init__(self, outage: Outage) -> None:
        super().__init__()
        self.outage: Outage | None = outage

    def write(self, data: Buffer) -> int:
        if self.outage is not None:
            outage, self.outage = self.outage, None
            outage.begin()
        return super().write(data)


def test_an_export_cut_off_by_the_server_going_away_is_unavailable_and_works_when_tried_again(
    services: Services, staff: Staff, outage: Outage
) -> None:
    _item(services, staff, "MUG-1", "Mug")
    table = services.inventory.table
    with pytest.raises(Unavailable, match=UNREACHABLE):
        table.export_csv(staff.admin, ListQuery(), _StopsServerOnFirstWrite(outage))
    outage.end()
    out = io.BytesIO()
    assert table.export_csv(staff.admin, ListQuery(), out) == 1
    assert b"MUG-1" in out.getvalue()


def test_a_statement_cancelled_on_the_drivers_own_connection_is_unavailable_not_a_bug(engine: Engine) -> None:
    """Exports and imports COPY on psycopg's connection itself, where SQLAlchemy does not wrap
    errors: a statement timeout there must read as the same sentence as anywhere else."""
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        assert isinstance(conn, psycopg.Connection)
        conn.execute("SET statement_timeout = 50")
        with pytest.raises(Unavailable, match="took too long"), database_errors():
            conn.execute("SELECT pg_sleep(5)")
    finally:
        raw.close()
