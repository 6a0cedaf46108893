"""`ecomdesk screenshots`: every window, dialog and page, rendered offscreen in both themes on real
data, as `<name>-<theme>.png` — for reviewing the look and for the documentation. The app on a
snapshot too: one is taken of the database (in a temporary folder) and opened as the app opens one.

The main window's pages come from the page registry, so a page added there is photographed too.
Nothing of the person's own is touched: preferences and connection profiles live in a temporary
folder for the run, and no sign-in is remembered.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Final

from PySide6.QtCore import QSettings, QSize
from PySide6.QtWidgets import QApplication, QWidget
from sqlalchemy import text

from ecomdesk.config import ConnectionProfile, ProfileStore, SecretStore
from ecomdesk.connect import DEMO_ACCOUNTS, DEMO_PASSWORD, close_services, open_services, sign_in
from ecomdesk.db.models import MovementKind
from ecomdesk.logs import log_file
from ecomdesk.services import events
from ecomdesk.services.analytics import Granularity, Preset
from ecomdesk.services.audit import ActivityRow, ChangeKind
from ecomdesk.services.context import Actor
from ecomdesk.services.errors import Unavailable
from ecomdesk.services.inventory import InventoryRow, ItemConflict
from ecomdesk.services.listing import ListQuery
from ecomdesk.services.registry import Services
from ecomdesk.services.reports import ReportRequest
from ecomdesk.services.snapshots import SnapshotInfo
from ecomdesk.services.webhook_delivery import WebhookDeliverer
from ecomdesk.services.webhooks import EndpointDraft
from ecomdesk.ui.app import Shell, application
from ecomdesk.ui.connection import DEMO_LABEL, ProfileDialog, Target
from ecomdesk.ui.crash import Crash, CrashDialog, unexpected_text
from ecomdesk.ui.errors import Severity, UserMessage
from ecomdesk.ui.login import ChangePasswordDialog, LoginWindow
from ecomdesk.ui.main_window import MainWindow
from ecomdesk.ui.pages import import_dialog
from ecomdesk.ui.pages.activity import ActivityPage
from ecomdesk.ui.pages.dashboard import DashboardPage
from ecomdesk.ui.pages.endpoint_dialogs import SecretDialog
from ecomdesk.ui.pages.integrations import IntegrationsPage
from ecomdesk.ui.pages.inventory import InventoryPage
from ecomdesk.ui.pages.inventory_import import ImportDialog
from ecomdesk.ui.pages.reports import ReportsPage
from ecomdesk.ui.pages.users import UsersPage
from ecomdesk.ui.preferences import Preferences, ThemeMode
from ecomdesk.ui.session import ConnectionState
from ecomdesk.ui.tasks import TaskRunner
from ecomdesk.ui.waiting import WaitTimeout, settle, wait_until

WINDOW: Final = QSize(1180, 740)
SMALL_WINDOW: Final = QSize(880, 660)
#: Example profiles for the profile dialog (no passwords: nothing goes to the keyring).
SAMPLE_PROFILES: Final = (
    ConnectionProfile("Shop live", "db.shop.example", 5432, "ecomdesk", "backoffice", "verify-full"),
    ConnectionProfile("Shop staging", "staging.shop.example", 6432, "ecomdesk", "backoffice", "require"),
    ConnectionProfile("Warehouse laptop", "localhost", 5432, "ecomdesk", "warehouse", "prefer"),
)


class ScreenshotError(RuntimeError):
    """A window could not be brought to the state to photograph; the message says why."""


class Camera:
    """Saves widgets as `<name>-<theme>.png` into one folder."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.out.mkdir(parents=True, exist_ok=True)
        self.saved: list[Path] = []
        self.theme = "light"

    def shoot(self, widget: QWidget, name: str) -> Path:
        QApplication.processEvents()
        path = self.out / f"{name}-{self.theme}.png"
        if not widget.grab().save(str(path)):
            raise ScreenshotError(f"could not write {path}")
        self.saved.append(path)
        return path


@contextmanager
def _scratch_state() -> Iterator[tuple[Preferences, ProfileStore]]:
    """Preferences and profiles of the run's own, in a temporary folder. No profile is saved: the
    connection window shows a staff machine's first run (what to ask the DBA for)."""
    with tempfile.TemporaryDirectory(prefix="ecomdesk-screenshots-") as folder:
        settings = QSettings(str(Path(folder) / "preferences.ini"), QSettings.Format.IniFormat)
        profiles = ProfileStore(Path(folder) / "connections.json", SecretStore("ecomdesk-screenshots"))
        preferences = Preferences(settings)
        yield preferences, profiles
        settings.sync()


def render_screenshots(
    out: Path,
    url: str,
    *,
    demo: bool = True,
    email: str = DEMO_ACCOUNTS[0][0],
    password: str = DEMO_PASSWORD,
    label: str = DEMO_LABEL,
) -> list[Path]:
    """Photograph everything on database `url`, signed in as `email` (the demo's administrator)."""
    os.environ["QT_QPA_PLATFORM"] = "offscreen"  # only takes effect if no QApplication exists yet
    application()
    with _scratch_state() as (preferences, profiles):
        shell = Shell(preferences=preferences, profiles=profiles)
        camera = Camera(out)
        services = open_services(url)
        folder = tempfile.TemporaryDirectory(prefix="ecomdesk-screenshots-")
        snapshot: tuple[Path, SnapshotInfo] | None = None
        try:
            for mode in (ThemeMode.LIGHT, ThemeMode.DARK):
                camera.theme = mode.value
                shell.theme.set_mode(mode)
                _connection_and_dialogs(shell, camera)
                _login(shell, camera, services, url, label, demo)
                signed_in = sign_in(services, url, email, password, remember=False)
                shell.services, shell.target = services, Target(url, label, demo=demo)
                _main_window(shell, camera, signed_in.actor)
                if snapshot is None:  # one snapshot for both themes (a tool's shortcut: made here)
                    path = Path(folder.name) / "shop.ecomsnap"
                    snapshot = path, services.snapshots.create(signed_in.actor, path, source_label=label)
                _snapshot_mode(shell, camera, *snapshot)
        except WaitTimeout as exc:
            raise ScreenshotError(str(exc)) from exc
        finally:
            shell.runner.shutdown()
            if shell.snapshot is not None:
                shell.snapshot.close()
                shell.snapshot = None
            shell.services = None
            close_services(services)
            folder.cleanup()
            for window in (shell.main_window, shell.login_window, shell.connection_window):
                if window is not None:
                    window.close()
    return camera.saved


def _connection_and_dialogs(shell: Shell, camera: Camera) -> None:
    window = shell.show_connection_window()
    window.resize(SMALL_WINDOW)
    camera.shoot(window, "connection")
    dialog = ProfileDialog(
        shell.runner, window.keyring, SAMPLE_PROFILES[0], saved_password="x", parent=window
    )
    dialog.show()
    camera.shoot(dialog, "profile")
    dialog.close()


def _login(shell: Shell, camera: Camera, services: Services, url: str, label: str, demo: bool) -> None:
    login = LoginWindow(shell.runner, database_label=label, demo=demo)
    login.attach(services, url)
    login.set_keyring(SecretStore().status())
    login.set_ready()
    login.resize(SMALL_WINDOW)
    login.show()
    camera.shoot(login, "login")
    login.email.setText("someone@demo.shop")
    login.show_error(
        "The email address or the password is not right. Too many failed attempts: try again in 4 seconds."
    )
    camera.shoot(login, "login-refused")
    login.close()
    login.deleteLater()


def _users(window: MainWindow, camera: Camera, runner: TaskRunner) -> None:
    """The users page with a profile shown, and the edit dialog refusing a bad email."""
    page = window.current_page
    if not isinstance(page, UsersPage):
        return
    model = page.grid.model
    row = next((r for r in range(model.rowCount()) if getattr(model.record(r), "role", "") == "manager"), 0)
    page.grid.view.selectRow(row)
    settle(runner, "the selected user's profile")
    record = page.current
    if record is None:
        return
    dialog = page.open_editor(record)
    settle(runner, "the edit dialog")
    dialog.email.setText("anna.schmidt@@demo")
    dialog.phone.setText("call me")
    dialog.save()
    settle(runner, "the refused save")
    camera.shoot(dialog, "user-dialog-error")
    dialog.close()
    dialog.deleteLater()


#: An import file with the mistakes people make: a 3-decimal price, more reserved than in stock, a
#: missing name, a SKU twice, cost above price. Its SKUs are made up, so nothing matches the demo.
SAMPLE_IMPORT: Final = """sku,name,category,supplier,stock,reserved,price,cost,reorder_level
GARD-900001,Rain barrel 200 l,Garden,Green Thumb Supply,40,2,89.90,41.00,10
GARD-900002,Hose reel,Garden,Green Thumb Supply,12,0,34.999,15.00,
GARD-900003,Pruning shears,Garden,Green Thumb Supply,5,8,19.90,7.20,
GARD-900004,,Garden,Green Thumb Supply,30,0,12.50,5.10,
GARD-900001,Rain barrel 300 l,Garden,Green Thumb Supply,15,0,119.00,55.00,5
GARD-900005,Garden kneeler,Garden,Green Thumb Supply,60,0,9.90,12.40,
"""


def _low_item_with_history(page: InventoryPage) -> InventoryRow | None:
    """A low-stock item with stock movements, found from the latest movements (a tool's shortcut:
    these reads run here, not on a page's task runner)."""
    session = page.session
    movements = session.services.tables["stock_movements"].page(session.actor, ListQuery(limit=500))
    seen: set[int] = set()
    for movement in movements.rows:
        if movement.item_id in seen:
            continue
        seen.add(movement.item_id)
        item = session.services.inventory.get_item(session.actor, movement.item_id)
        if item.low_stock:
            return item
    return None


def _inventory(window: MainWindow, camera: Camera, runner: TaskRunner) -> None:
    """The inventory page with a low-stock item and its history, and its dialogs: an item form
    refusing bad input, a conflict with someone else's save, a shipment, an import preview with
    problems. Nothing is saved: the conflict is shown from values made up here."""
    page = window.current_page
    if not isinstance(page, InventoryPage):
        return
    model = page.grid.model
    item = _low_item_with_history(page)
    if item is not None:
        # Its name (shared by a few dozen items in the big demo) shows it among neighbours.
        page.grid.search.setText(item.name)
        page.grid.search.returnPressed.emit()  # search now, not after the typing pause
        wait_until(
            lambda: (
                model.query.search == item.name and model.row_of(item.id) is not None and not model.is_busy
            ),
            "the item in the list",
        )
    row = model.row_of(item.id) if item is not None else None
    page.grid.view.selectRow(row if row is not None else 0)
    page.toggle_history()
    settle(runner, "the selected item and its history")
    time.sleep(0.3)  # the history waits for the selection to settle before it loads
    settle(runner, "the selected item's history")
    editor = page.new_item()
    if editor is not None:
        settle(runner, "the new-item form")
        editor.sku.setText("garden 17")
        editor.name.setText("Watering can, 10 l")
        editor.category.setEditText("Garden")
        editor.supplier.setEditText("Green Thumb Supply")
        editor.price.setText("12.999")
        editor.cost.setText("14.00")
        if editor.stock is not None and editor.reserved is not None:
            editor.stock.setValue(5)
            editor.reserved.setValue(8)
        editor.save()
        settle(runner, "the refused save")
        camera.shoot(editor, "item-dialog-error")
        editor.close()
        editor.deleteLater()
    with tempfile.TemporaryDirectory(prefix="ecomdesk-screenshots-") as folder:
        sample = Path(folder) / "garden-items.csv"
        sample.write_text(SAMPLE_IMPORT, encoding="utf-8")
        dialog = page.import_csv()
        if isinstance(dialog, ImportDialog):
            dialog.load_file(sample)
            wait_until(lambda: dialog.is_settled and dialog.import_result is not None, "the import preview")
            settle(runner, "the import preview")
            camera.shoot(dialog, "import-preview")
            dialog.close()
    record = page.current
    if record is None:
        return
    editor = page.open_editor(record)
    settle(runner, "the edit form")
    editor.price.setText(str(record.price + Decimal("2.00")))
    theirs = replace(
        record,
        name=f"{record.name} (new model)",
        cost=record.cost + Decimal("0.40"),
        version=record.version + 1,
    )
    conflict = editor.show_conflict(ItemConflict(theirs, editor.read()[0]))
    settle(runner, "the conflict")
    camera.shoot(conflict, "item-conflict")
    conflict.close()
    editor.close()
    editor.deleteLater()
    adjust = page.adjust_stock(MovementKind.SHIP)
    if adjust is not None:
        settle(runner, "the adjust dialog")
        adjust.quantity.setValue(max(1, min(2, record.available)))
        adjust.reason.setText("Order #10432")
        camera.shoot(adjust, "stock-adjust")
        adjust.close()
        adjust.deleteLater()


#: The range each granularity is photographed with: a month of days, a quarter of weeks, a year of months.
DASHBOARD_RANGES: Final = {
    Granularity.DAY: Preset.LAST_30_DAYS,
    Granularity.WEEK: Preset.LAST_90_DAYS,
    Granularity.MONTH: Preset.LAST_12_MONTHS,
}


#: Order events with the mistakes people make: another currency, an unknown status, a time without
#: its offset. Its order ids are made up, so nothing matches the demo.
SAMPLE_ORDERS: Final = """order_id,customer_id,channel,amount,currency,status,occurred_at
X-1001,C900001,web,59.90,EUR,paid,2026-11-27T09:15:00+01:00
X-1002,C900002,mobile_app,24.50,EUR,paid,2026-11-27T09:40:00+01:00
X-1001,C900001,web,19.90,EUR,refunded,2026-11-27T10:05:00+01:00
X-1003,C900003,web,12.00,USD,paid,2026-11-27T10:07:00+01:00
X-1004,C900004,web,10.00,EUR,shipped,2026-11-27T10:09:00+01:00
X-1005,C900005,web,10.00,EUR,paid,2026-11-27 10:09
"""


def _dashboard(window: MainWindow, camera: Camera, runner: TaskRunner) -> None:
    """The whole dashboard (every card and chart, not just what fits the window) at each
    granularity, the first with the crosshair on a day, and the rows behind the revenue card."""
    page = window.current_page
    if not isinstance(page, DashboardPage):
        return

    def read(preset: Preset, granularity: Granularity) -> None:
        page.set_preset(preset)
        page.set_granularity(granularity)
        wait_until(
            lambda: (
                page.dashboard is not None
                and page.dashboard.query.granularity is granularity
                and page.chosen_preset is preset
                and not page.is_busy
            ),
            f"the dashboard by {granularity.value}",
        )
        settle(runner, "the dashboard's charts")

    for granularity, preset in DASHBOARD_RANGES.items():
        read(preset, granularity)
        chart = page.sales_chart
        if granularity is Granularity.DAY and chart.periods:
            chart.hover(len(chart.periods) * 2 // 3)
        camera.shoot(page.content, f"dashboard-{granularity.value}")
        chart.hover(None)
    read(Preset.LAST_30_DAYS, Granularity.DAY)
    assert page.dashboard is not None
    dialog = page.open_trace(page.dashboard.kpi("revenue"))
    if dialog is not None and dialog.grid is not None:
        grid = dialog.grid
        wait_until(lambda: grid.model.is_loaded and not grid.model.is_busy, "the revenue card's rows")
        settle(runner, "the revenue card's rows")
        camera.shoot(dialog, "dashboard-trace")
        dialog.close()
    with tempfile.TemporaryDirectory(prefix="ecomdesk-screenshots-") as folder:
        sample = Path(folder) / "orders.csv"
        sample.write_text(SAMPLE_ORDERS, encoding="utf-8")
        importer = page.import_orders()
        if isinstance(importer, import_dialog.ImportDialog):
            importer.load_file(sample)
            wait_until(
                lambda: importer.is_settled and importer.import_result is not None, "the orders preview"
            )
            settle(runner, "the orders preview")
            camera.shoot(importer, "orders-import")
            importer.close()
    page.scroll_area.verticalScrollBar().setValue(0)


def _reports(window: MainWindow, camera: Camera, runner: TaskRunner) -> list[int]:
    """The reports page with a report just generated, one waiting for a runner and (in the demo)
    one that failed with its error in the details; the new-report form; a preview. Returns the
    reports made here, which the caller deletes once the page is photographed."""
    page = window.current_page
    if not isinstance(page, ReportsPage):
        return []
    services, actor = page.session.services, page.session.actor
    window.report_runner.stop()  # the waiting report stays waiting until the page is photographed
    done = services.reports.request(actor, ReportRequest("inventory-valuation"))
    services.reports.run_pending("screenshots")  # a tool's shortcut: generated here, not on the runner
    waiting = services.reports.request(actor, ReportRequest("low-stock"))
    model = page.grid.model
    page.refresh()
    wait_until(
        lambda: (
            model.row_of(waiting.id) is not None and model.row_of(done.id) is not None and not model.is_busy
        ),
        "the new reports in the list",
    )
    page.select_report(done.id)
    settle(runner, "the selected report")
    dialog = page.new_report()
    if dialog is not None:
        wait_until(lambda: dialog.loaded, "the kinds of report")
        dialog.kind.setCurrentIndex(max(dialog.kind.findData("sales-summary"), 0))
        wait_until(lambda: dialog.loaded and dialog.form_kind is not None, "the report's parameters")
        settle(runner, "the default title")
        camera.shoot(dialog, "new-report")
        dialog.close()
        dialog.deleteLater()
    preview = page.open_report()
    if preview is not None:
        wait_until(lambda: preview.loaded, "the report's preview")
        settle(runner, "the report's preview")
        camera.shoot(preview, "report-preview")
        preview.close()
        preview.deleteLater()
    failed = next(
        (r for _row, r in model.loaded_records(0, model.rowCount() - 1) if r.status == "failed"), None
    )
    page.select_report(failed.id if failed is not None else done.id)
    settle(runner, "the selected report")
    return [done.id, waiting.id]


#: What the screenshots' receiver answers, request after request (the deliverer takes due jobs
#: oldest first): the 1st event delivered at once; the 2nd failing twice, then taken; the 3rd gone
#: for good (a 4xx is final); the 4th failing and still being retried.
RECEIVER_ANSWERS: Final = (
    (200, '{"received": true}'),
    (500, "Internal Server Error: order sync is restarting"),
    (410, "Gone: this hook was retired, use /v2/hooks"),
    (502, "Bad Gateway"),
    (503, "Service Unavailable: try again in a minute"),
    (502, "Bad Gateway"),
    (200, '{"received": true}'),
)
#: Requests per round of `RECEIVER_ANSWERS`: each event once, then the two retries, then the
#: 2nd event's third try (retries are made due between rounds, not within one).
DELIVERY_ROUNDS: Final = (4, 2, 1)
#: The events photographed: (sku, item name, available, reorder level).
SAMPLE_EVENTS: Final = (
    ("GARD-1042", "Rain barrel 200 l", 3, 10),
    ("KITC-2210", "Espresso cups, set of 4", 2, 8),
    ("LIGH-0310", "Desk lamp, brass", 0, 5),
    ("GARD-1077", "Pruning shears", 4, 12),
)


class _Receiver:
    """A webhook receiver on this machine for the photographs: answers each request with the
    next of `RECEIVER_ANSWERS` (then 200), in a thread of its own."""

    def __init__(self) -> None:
        answers = list(RECEIVER_ANSWERS)
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # one segment per answer: no 40 ms delayed-ACK stall

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:
                    status, text = answers.pop(0) if answers else (200, "ok")
                body = text.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # the base class's name
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://localhost:{self.server.server_address[1]}/hooks/ecomdesk"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


#: The private job queue of the screenshots' sample deliveries.
_SCREENSHOT_QUEUE = "webhook:screenshots"


def _integrations(window: MainWindow, camera: Camera, runner: TaskRunner) -> list[int]:
    """The Integrations page with real deliveries to a receiver on this machine — delivered,
    retrying and dead, the selected one's attempts with their status codes — the endpoint form
    refusing an office address, the secret shown once, and the e-mail tab. Returns the endpoints
    made here, which the caller removes once the page is photographed (with their deliveries)."""
    page = window.current_page
    if not isinstance(page, IntegrationsPage):
        return []
    services, actor = page.session.services, page.session.actor
    receiver = _Receiver()
    try:
        draft = EndpointDraft(
            receiver.url,
            ("inventory.low_stock", "report.completed"),
            "Warehouse order sync",
            allow_private=True,
        )
        created = services.webhooks.add_endpoint(actor, draft)
        endpoint_id = created.endpoint.id
        # Sample events for this endpoint only (never the shop's real receivers), whose jobs go to a
        # queue of their own: no worker takes them, and the deliverer below takes nothing else.
        for sku, name, available, level in SAMPLE_EVENTS:
            data = {"sku": sku, "name": name, "available": available, "reorder_level": level}
            with services.ctx.write(None, None) as uow:  # as the stock change that caused it would
                events.emit(uow.session, "inventory.low_stock", data, at=uow.now, endpoint_id=endpoint_id)
        with WebhookDeliverer(services.ctx, read_timeout=5.0, queue=_SCREENSHOT_QUEUE) as deliverer:
            for requests in DELIVERY_ROUNDS:
                with services.ctx.engine.begin() as conn:
                    # Each retry made due at once, and (first round) the jobs moved to that queue.
                    conn.execute(
                        text(
                            "UPDATE jobs SET run_after = now(), queue = :queue WHERE status = 'queued' "
                            "AND queue IN ('webhook', :queue) AND (payload ->> 'delivery_id')::bigint IN "
                            "(SELECT id FROM webhook_deliveries WHERE endpoint_id = :endpoint)"
                        ),
                        {"endpoint": endpoint_id, "queue": _SCREENSHOT_QUEUE},
                    )
                for _ in range(requests):
                    deliverer.run_next("screenshots")
    finally:
        receiver.close()
    page.refresh()
    wait_until(lambda: page.endpoint_model.row_of(endpoint_id) is not None, "the endpoint in the list")
    page.select_endpoint(endpoint_id)
    model = page.grid.model
    wait_until(
        lambda: model.query.filters.get("endpoint") == endpoint_id and model.is_loaded and not model.is_busy,
        "the endpoint's delivery log",
    )
    loaded = list(model.loaded_records(0, model.rowCount() - 1))
    most = max(loaded, key=lambda pair: pair[1].attempts, default=(0, None))[0]
    page.grid.view.selectRow(most)
    wait_until(lambda: page.panel.delivery is not None, "the delivery's attempts")
    settle(runner, "the delivery's attempts")

    dialog = page.add_endpoint()
    if dialog is not None:
        dialog.url.setText("http://192.168.1.20/erp/hooks")
        dialog.description.setText("ERP in the back office")
        for name in ("inventory.low_stock", "order.ingested"):
            dialog.events.boxes[name].setChecked(True)
        dialog.save()
        wait_until(lambda: bool(dialog.fields["url"].message), "the refused URL")
        settle(runner, "the refused URL")
        camera.shoot(dialog, "endpoint-dialog-error")
        dialog.close()
        dialog.deleteLater()
    secret = SecretDialog(created.endpoint.url, created.secret, parent=page)
    secret.show()
    camera.shoot(secret, "endpoint-secret")
    secret.close()
    secret.deleteLater()
    page.tabs.setCurrentIndex(1)
    settle(runner, "the e-mail settings")
    camera.shoot(window, "integrations-email")
    page.tabs.setCurrentIndex(0)
    settle(runner, "the delivery log")
    return [endpoint_id]


def _activity(window: MainWindow, camera: Camera, runner: TaskRunner) -> None:
    """The activity page with an entry that changed some fields and kept others selected, and its
    before/after on its own."""
    page = window.current_page
    if not isinstance(page, ActivityPage):
        return
    model = page.grid.model
    wait_until(lambda: model.is_loaded and not model.is_busy, "the activity list")
    loaded = list(model.loaded_records(0, model.rowCount() - 1))

    def telling(entry: ActivityRow) -> bool:
        kinds = {change.kind for change in entry.field_changes()}
        return ChangeKind.CHANGED in kinds and ChangeKind.SAME in kinds

    row = next((r for r, entry in loaded if telling(entry)), 0)
    page.grid.view.selectRow(row)
    page.grid.view.scrollTo(model.index(row, 0))
    settle(runner, "the selected entry")
    camera.shoot(page.panel, "activity-details")


def _snapshot_mode(shell: Shell, camera: Camera, path: Path, info: SnapshotInfo) -> None:
    """File → Create snapshot… (the form with a passphrase, then what was made), and the app on
    that snapshot: its banner over the dashboard and the inventory, and its details."""
    window = shell.main_window
    assert window is not None
    dialog = window.create_snapshot()
    if dialog is not None:
        dialog.protect.setChecked(True)
        dialog.passphrase.setText("correct horse battery staple")
        dialog.repeat.setText("correct horse battery staple")
        camera.shoot(dialog, "create-snapshot")
        dialog.protect.setChecked(False)
        dialog.file.setText(str(path))
        dialog.show_made(path, info)
        camera.shoot(dialog, "create-snapshot-done")
        dialog.close()
    shell.open_snapshot(path)
    wait_until(lambda: shell.snapshot is not None and shell.main_window is not window, "the snapshot")
    window = shell.main_window
    assert window is not None
    window.resize(WINDOW)
    settle(shell.runner, "the snapshot's shop settings")
    window.show_page("dashboard")
    dashboard = window.current_page
    if isinstance(dashboard, DashboardPage):
        wait_until(lambda: dashboard.dashboard is not None and not dashboard.is_busy, "the dashboard")
    settle(shell.runner, "the dashboard's charts on the snapshot")
    camera.shoot(window, "snapshot-dashboard")
    window.show_page("inventory")
    settle(shell.runner, "the inventory page on the snapshot")
    camera.shoot(window, "snapshot-inventory")
    details = window.show_snapshot_details()
    if details is not None:
        camera.shoot(details, "snapshot-details")
        details.close()


def _main_window(shell: Shell, camera: Camera, actor: Actor) -> None:
    window = shell.show_main(actor)
    window.resize(WINDOW)
    settle(shell.runner, "the shop's settings")
    assert shell.services is not None
    dialog = ChangePasswordDialog(shell.services, actor, shell.runner, forced=True, parent=window)
    dialog.show()
    camera.shoot(dialog, "change-password")
    dialog.close()
    profile = window.open_profile()
    settle(shell.runner, "my profile")
    camera.shoot(profile, "my-profile")
    profile.tabs.setCurrentIndex(profile.tabs.count() - 1)
    settle(shell.runner, "my devices")
    camera.shoot(profile, "my-devices")
    profile.close()
    profile.deleteLater()
    for key in window.page_keys():
        window.show_page(key)
        settle(shell.runner, f"the {key} page")
        if key == "users":
            _users(window, camera, shell.runner)
        if key == "inventory":
            _inventory(window, camera, shell.runner)
        if key == "dashboard":
            _dashboard(window, camera, shell.runner)
        if key == "activity":
            _activity(window, camera, shell.runner)
        made = _reports(window, camera, shell.runner) if key == "reports" else []
        endpoints = _integrations(window, camera, shell.runner) if key == "integrations" else []
        camera.shoot(window, key)
        if made:  # the demo keeps only its own reports
            shell.services.reports.delete(actor, made)
            window.report_runner.start()
        for endpoint_id in endpoints:  # and no endpoint of the photographs
            shell.services.webhooks.delete_endpoint(actor, endpoint_id)
    window.show_page(window.page_keys()[0])
    window.messages.show_error(Unavailable("The database cannot be reached right now. Nothing was changed."))
    window.session.set_state(ConnectionState.RECONNECTING)
    camera.shoot(window, "message-bar")
    path = log_file()
    window.messages.show_message(
        UserMessage(
            "Something went wrong",
            "Something went wrong and it was not your fault (KeyError). "
            f"The details are in the log file: {path}",
            Severity.ERROR,
            log_path=path,
        )
    )
    camera.shoot(window, "unexpected-error")
    window.messages.dismiss()
    trace = "Traceback (most recent call last):\n  File \"…\", line 1, in <module>\nKeyError: 'basket-42'\n"
    crash = CrashDialog(Crash("KeyError", unexpected_text("KeyError"), path, trace), window)
    crash.show()
    camera.shoot(crash, "crash")
    crash.done(0)
    window.session.set_state(ConnectionState.CONNECTED)
