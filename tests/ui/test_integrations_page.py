"""The Integrations page end to end on a real database, with real deliveries to a receiver on
127.0.0.1 (`tests/services/webhook_receiver.py`): adding an endpoint shows its secret once; a
refused URL is said at the field and keeps the input; the delivery log follows the selected
endpoint and shows each attempt's HTTP status; Redeliver queues a dead delivery again; the worker
line warns while no worker is alive; the SMTP form and the Settings page's e-mail opt-ins save.

Deliveries here: one endpoint on the receiver, three `inventory.low_stock` events, the receiver
scripted to answer 200, then 500 (retried), then 410 (a 4xx is final: dead after one attempt).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from PySide6.QtWidgets import QApplication, QMainWindow, QMessageBox
from pytestqt.qtbot import QtBot
from sqlalchemy import select, text

from ecomdesk.db.models import UserProfile, WebhookEndpoint
from ecomdesk.services import events
from ecomdesk.services.context import Actor
from ecomdesk.services.registry import Services
from ecomdesk.services.webhook_delivery import WebhookDeliverer
from ecomdesk.services.webhooks import EndpointDraft
from ecomdesk.services.workers import Heartbeat
from ecomdesk.ui.grid import RowStyleRole
from ecomdesk.ui.pages import page_spec, pages_for
from ecomdesk.ui.pages.endpoint_dialogs import EndpointDialog, SecretDialog
from ecomdesk.ui.pages.integrations import IntegrationsPage, WorkerLine, delivery_state
from ecomdesk.ui.pages.settings import SettingsPage
from ecomdesk.ui.session import AppSession
from ecomdesk.ui.tasks import TaskRunner
from tests.services.conftest import Staff
from tests.services.webhook_receiver import Answer, Receiver, running_receiver

WAIT_MS = 15_000
SECRET = "whsec_the-ui-tests-receiver-secret"
OpenPage = Callable[[Actor], IntegrationsPage]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver(SECRET) as running:
        yield running


@pytest.fixture
def open_page(qtbot: QtBot, services: Services, runner: TaskRunner) -> Iterator[OpenPage]:
    windows: list[QMainWindow] = []

    def open_(actor: Actor) -> IntegrationsPage:
        session = AppSession(services, actor, runner, database_label="test")
        page = IntegrationsPage(session)
        window = QMainWindow()
        window.setCentralWidget(page)
        window.resize(1300, 860)
        session.setParent(window)
        qtbot.addWidget(window)
        windows.append(window)
        window.show()
        page.page_shown()
        qtbot.waitUntil(lambda: page.endpoints_loaded and page.grid.model.is_loaded, timeout=WAIT_MS)
        return page

    yield open_
    runner.wait(WAIT_MS)


def _deliver_three(services: Services, staff: Staff, receiver: Receiver) -> int:
    """One endpoint; three events answered 200, 500, 410; each delivery tried once. Returns the
    endpoint's id."""
    draft = EndpointDraft(receiver.url(), ("inventory.low_stock",), "Stock sync", allow_private=True)
    endpoint_id = services.webhooks.add_endpoint(staff.admin, draft, secret=SECRET).endpoint.id
    receiver.answer(
        Answer(200, body=b"thanks"), Answer(500, body=b"database down"), Answer(410, body=b"gone")
    )
    for sku in ("KITE-1", "KITE-2", "KITE-3"):
        with services.ctx.write(None, None) as uow:
            events.emit(uow.session, "inventory.low_stock", {"sku": sku, "available": 1}, at=uow.now)
    with WebhookDeliverer(services.ctx, rng=random.Random(3)) as deliverer:
        for _ in range(3):
            assert deliverer.run_next("test-host:1 worker") is not None
    return endpoint_id


def _warns(line: WorkerLine) -> bool:
    return line.warning


def test_the_page_is_offered_only_to_who_may_manage_integrations(services: Services, staff: Staff) -> None:
    assert page_spec("integrations").permission == "integrations.manage"
    assert "integrations" in [spec.key for spec in pages_for(staff.admin)]
    assert "integrations" not in [spec.key for spec in pages_for(staff.manager)]


def test_an_added_endpoint_shows_its_secret_once_and_is_listed(
    qtbot: QtBot, open_page: OpenPage, staff: Staff, services: Services, receiver: Receiver
) -> None:
    page = open_page(staff.admin)
    assert page.endpoints_empty.isVisible() and page.endpoint_model.rowCount() == 0
    dialog = page.add_endpoint()
    assert isinstance(dialog, EndpointDialog)
    dialog.url.setText(receiver.url())
    dialog.description.setText("ERP")
    dialog.events.boxes["report.completed"].setChecked(True)
    dialog.allow_private.setChecked(True)  # the receiver is on loopback
    dialog.save_button.click()

    qtbot.waitUntil(lambda: isinstance(getattr(page, "secret_dialog", None), SecretDialog), timeout=WAIT_MS)
    shown = page.secret_dialog.secret.text()
    with services.ctx.engine.connect() as conn:
        stored = conn.execute(select(WebhookEndpoint.secret, WebhookEndpoint.events)).one()
    assert shown == stored.secret and shown.startswith("whsec_")
    assert stored.events == ["report.completed"]
    page.secret_dialog.copy()
    assert QApplication.clipboard().text() == shown
    qtbot.waitUntil(lambda: page.endpoint_model.rowCount() == 1, timeout=WAIT_MS)
    assert page.current_endpoint is not None and page.current_endpoint.url == receiver.url()
    assert page.endpoint_model.index(0, 1).data() == "report.completed"
    assert page.endpoint_model.index(0, 2).data() == "Active"


def test_a_refused_url_is_said_at_its_field_and_the_input_is_kept(
    qtbot: QtBot, open_page: OpenPage, staff: Staff, services: Services
) -> None:
    page = open_page(staff.admin)
    dialog = page.add_endpoint()
    assert dialog is not None
    dialog.url.setText("http://10.1.2.3/hooks")
    dialog.description.setText("Office printer")
    dialog.events.all.setChecked(True)
    dialog.save_button.click()

    field = dialog.fields["url"]
    qtbot.waitUntil(lambda: bool(field.message), timeout=WAIT_MS)
    assert dialog.isVisible()
    assert dialog.url.text() == "http://10.1.2.3/hooks" and dialog.description.text() == "Office printer"
    assert dialog.events.events() == ["*"]
    assert "Nothing was saved" in dialog.status.text()
    with services.ctx.engine.connect() as conn:
        assert conn.execute(select(WebhookEndpoint.id)).first() is None


def test_the_delivery_log_shows_each_deliverys_attempts_and_redelivers_a_dead_one(
    qtbot: QtBot,
    qtmodeltester: Any,
    open_page: OpenPage,
    staff: Staff,
    services: Services,
    receiver: Receiver,
) -> None:
    endpoint_id = _deliver_three(services, staff, receiver)
    page = open_page(staff.admin)
    model = page.grid.model
    qtbot.waitUntil(lambda: page.endpoint_model.rowCount() == 1 and model.rowCount() == 3, timeout=WAIT_MS)
    # Newest first: the 410 (dead), the 500 (retrying), the 200 (delivered).
    states = [delivery_state(model.record(row)) for row in range(3)]
    assert states == ["dead", "retrying", "delivered"]
    assert [model.index(row, 0).data(RowStyleRole) for row in range(3)] == ["failed", "attention", None]
    qtmodeltester.check(page.endpoint_model)
    row = page.endpoint_model.index(0, 0)
    assert page.endpoint_model.index(0, 4).data() == "1" and page.endpoint_model.index(0, 5).data() == "1"
    assert row.data(RowStyleRole) == "attention"  # it has a dead delivery

    page.select_endpoint(endpoint_id)
    qtbot.waitUntil(
        lambda: model.query.filters.get("endpoint") == endpoint_id and model.is_loaded and not model.is_busy,
        timeout=WAIT_MS,
    )
    assert model.rowCount() == 3 and page.log_title.text() == f"Delivery log — {receiver.url()}"
    page.grid.view.selectRow(0)
    qtbot.waitUntil(lambda: page.panel.delivery is not None, timeout=WAIT_MS)
    attempts = page.panel.attempts

    def cell(row: int, column: int) -> str:
        item = attempts.item(row, column)
        return item.text() if item is not None else ""

    assert attempts.rowCount() == 1
    assert (cell(0, 0), cell(0, 3), cell(0, 5)) == ("1", "410", "gone")
    body = json.loads(page.panel.body.toPlainText())  # indented for reading, the same document
    assert body["type"] == "inventory.low_stock" and body["data"] == {"sku": "KITE-3", "available": 1}
    assert page.panel.redeliver_button.isEnabled()

    page.grid.view.selectRow(1)  # still being retried: nothing to redeliver yet
    qtbot.waitUntil(
        lambda: page.panel.delivery is not None and page.panel.delivery.delivery.status == "pending",
        timeout=WAIT_MS,
    )
    assert not page.redeliver_action.isEnabled()

    page.grid.view.selectRow(0)
    qtbot.waitUntil(lambda: page.redeliver_action.isEnabled(), timeout=WAIT_MS)
    page.redeliver()
    qtbot.waitUntil(lambda: "queued again" in page.status.text(), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: model.record(0).status == "pending", timeout=WAIT_MS)
    with services.ctx.engine.connect() as conn:
        queued = conn.execute(text("SELECT count(*) FROM jobs WHERE queue = 'webhook'")).scalar_one()
    assert queued == 2  # the 500's retry and the redelivery


def test_pause_and_remove_act_on_the_selected_endpoint_after_asking(
    qtbot: QtBot, open_page: OpenPage, staff: Staff, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    draft = EndpointDraft("https://hooks.example.com/ecomdesk", ("*",), allow_private=False)
    monkeypatch.setattr(services.webhooks, "resolve", lambda _host, _port: ["93.184.216.34"])
    endpoint_id = services.webhooks.add_endpoint(staff.admin, draft).endpoint.id
    page = open_page(staff.admin)
    qtbot.waitUntil(lambda: page.select_endpoint(endpoint_id), timeout=WAIT_MS)
    page.pause_or_resume()
    qtbot.waitUntil(lambda: page.endpoint_model.index(0, 2).data() == "Paused", timeout=WAIT_MS)
    assert page.pause_action.text() == "Res&ume" and not page.test_action.isEnabled()
    assert page.endpoint_model.index(0, 0).data(RowStyleRole) == "muted"

    page.remove_endpoint()
    box = next(w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible())
    box.button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: page.endpoint_model.rowCount() == 0, timeout=WAIT_MS)
    with services.ctx.engine.connect() as conn:
        assert conn.execute(select(WebhookEndpoint.id)).first() is None


def test_the_worker_line_warns_until_a_worker_beats(
    qtbot: QtBot, open_page: OpenPage, staff: Staff, services: Services
) -> None:
    page = open_page(staff.admin)
    line = page.worker_line
    qtbot.waitUntil(lambda: line.status is not None, timeout=WAIT_MS)
    assert _warns(line) and line.text().startswith("No worker is running")
    assert "background" in line.styleSheet()

    beat = Heartbeat(services.ctx.engine, "test-host:42 worker", ["webhook"])
    beat.beat()
    page.load_workers()
    qtbot.waitUntil(lambda: line.text().startswith("1 worker alive"), timeout=WAIT_MS)
    assert not _warns(line) and line.styleSheet() == ""


def test_smtp_settings_refused_keep_the_input_and_valid_ones_save(
    qtbot: QtBot, open_page: OpenPage, staff: Staff, services: Services
) -> None:
    page = open_page(staff.admin)
    page.tabs.setCurrentIndex(1)
    box = page.smtp
    qtbot.waitUntil(lambda: box.loaded is not None, timeout=WAIT_MS)
    assert "ecomdesk worker secret set smtp-password" in box.password_hint.text()
    box.host.setText("smtp.example.com")
    box.security.setCurrentIndex(box.security.findData("none"))
    box.from_address.setText("alerts@example.com")
    box.save()
    qtbot.waitUntil(lambda: bool(box.fields["security"].message), timeout=WAIT_MS)
    assert box.host.text() == "smtp.example.com" and box.dirty

    box.security.setCurrentIndex(box.security.findData("starttls"))
    box.save()
    qtbot.waitUntil(lambda: box.status.text().startswith("Saved"), timeout=WAIT_MS)
    saved = services.mail.smtp_settings(staff.admin)
    assert (saved.host, saved.security, saved.from_address) == (
        "smtp.example.com",
        "starttls",
        "alerts@example.com",
    )


def test_the_settings_page_saves_each_e_mail_opt_in_and_says_when_smtp_is_not_set_up(
    qtbot: QtBot, services: Services, staff: Staff, runner: TaskRunner
) -> None:
    page = SettingsPage(AppSession(services, staff.manager, runner, database_label="test"))
    qtbot.addWidget(page)
    page.show()
    page.page_shown()
    alerts = page.alerts
    qtbot.waitUntil(lambda: alerts.loaded is not None and alerts.smtp is not None, timeout=WAIT_MS)
    assert alerts.smtp_hint.isVisible() and "not set up" in alerts.smtp_hint.text()
    assert not alerts.digest.isChecked() and not alerts.report_ready.isChecked()

    alerts.digest.setChecked(True)
    qtbot.waitUntil(lambda: alerts.status.text() == "Saved.", timeout=WAIT_MS)
    with services.ctx.engine.connect() as conn:
        profile = conn.execute(
            select(UserProfile.email_low_stock_digest, UserProfile.email_report_ready).where(
                UserProfile.user_id == staff.manager.user_id
            )
        ).one()
    assert tuple(profile) == (True, False)
