"""The orders import through the one import dialog, on a real database: a CSV of orders previews
with its actions, imports all or nothing, and the daily metrics follow in the same commit; a file
with bad rows lists each of them and imports nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMainWindow
from pytestqt.qtbot import QtBot
from sqlalchemy import Engine, select

from ecomdesk.db.models import OrderEvent, SalesMetric
from ecomdesk.services.context import Actor
from ecomdesk.services.orders import OrderImportResult
from ecomdesk.services.registry import Services
from ecomdesk.ui.pages.import_dialog import ImportDialog
from ecomdesk.ui.pages.orders_import import open_orders_import
from ecomdesk.ui.session import AppSession
from ecomdesk.ui.tasks import TaskRunner
from tests.services.conftest import Staff

WAIT_MS = 15_000
HEADER = "order_id,customer_id,channel,amount,currency,status,occurred_at\n"


@pytest.fixture
def window(qtbot: QtBot) -> QMainWindow:
    window = QMainWindow()
    window.resize(1200, 800)
    qtbot.addWidget(window)
    window.show()
    return window


def dialog_for(services: Services, actor: Actor, runner: TaskRunner, window: QMainWindow) -> ImportDialog:
    return open_orders_import(AppSession(services, actor, runner, database_label="test"), window)


def preview(qtbot: QtBot, dialog: ImportDialog, path: Path) -> None:
    dialog.load_file(path)
    qtbot.waitUntil(
        lambda: dialog.is_settled and (dialog.import_result is not None or dialog.message is not None),
        timeout=WAIT_MS,
    )


def test_orders_preview_then_import_lands_orders_and_their_days_metrics(
    qtbot: QtBot,
    services: Services,
    staff: Staff,
    runner: TaskRunner,
    window: QMainWindow,
    engine: Engine,
    tmp_path: Path,
) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(
        HEADER
        + "A-1,c1,web,10.00,EUR,paid,2026-03-01T10:00:00+00:00\n"
        + "A-2,c2,web,5.50,EUR,paid,2026-03-01T11:00:00+00:00\n"
        + "A-1,c1,web,4.00,EUR,refunded,2026-03-02T09:00:00+00:00\n"
    )
    dialog = dialog_for(services, staff.manager, runner, window)
    assert dialog.windowTitle() == "Import orders"
    preview(qtbot, dialog, path)
    result = dialog.import_result
    assert isinstance(result, OrderImportResult) and result.ok
    assert dialog.rows_grid is not None and dialog.rows_grid.model.rowCount() == 3
    assert dialog.import_button.isEnabled()
    # Two new orders, and a refund that moves A-1 on: three events to import.
    assert dialog.import_button.text() == "Import 3 order events"

    with qtbot.waitSignal(dialog.imported, timeout=WAIT_MS) as signal:
        dialog.import_button.click()
    qtbot.waitUntil(lambda: dialog.is_settled, timeout=WAIT_MS)
    assert isinstance(signal.args[0], OrderImportResult) and signal.args[0].committed
    assert "Imported orders.csv" in dialog.summary.text()
    with engine.connect() as conn:
        assert conn.scalar(select(OrderEvent.status).where(OrderEvent.order_id == "A-1")) == "refunded"
        revenue = dict(conn.execute(select(SalesMetric.date, SalesMetric.revenue)).all())
    # 10.00 + 5.50 paid on 1 March; the 4.00 refund counts on 2 March, the day it happened.
    assert revenue == {dt.date(2026, 3, 1): Decimal("15.50"), dt.date(2026, 3, 2): Decimal("-4.00")}


def test_a_file_with_bad_rows_lists_every_one_and_offers_no_import(
    qtbot: QtBot,
    services: Services,
    staff: Staff,
    runner: TaskRunner,
    window: QMainWindow,
    engine: Engine,
    tmp_path: Path,
) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(
        HEADER
        + "B-1,c1,web,10.00,EUR,paid,2026-03-01T10:00:00+00:00\n"
        + "B-2,c2,web,-3,EUR,paid,2026-03-01T10:00:00+00:00\n"
        + "B-3,c3,web,3.00,EUR,shipped,2026-03-01T10:00:00+00:00\n"
        + "B-4,c4,web,3.00,EUR,paid,2026-03-01 10:00\n"
    )
    dialog = dialog_for(services, staff.manager, runner, window)
    preview(qtbot, dialog, path)
    result = dialog.import_result
    assert result is not None and not result.ok
    assert sorted({problem.line for problem in result.problems}) == [3, 4, 5]
    assert dialog.problems_grid is not None and dialog.problems_grid.isVisibleTo(dialog)
    assert not dialog.import_button.isEnabled()
    with engine.connect() as conn:
        assert conn.scalar(select(OrderEvent.id).limit(1)) is None
