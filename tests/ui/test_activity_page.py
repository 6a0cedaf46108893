"""The activity page on a real database: newest first, filtered by user and by shop days, the
selected entry's before and after beside the list, and a refresh that brings new entries on top
without losing the selected one.

Entries are written straight into `audit_log` with their times stated, as another program would;
the shop's zone is the catalogue's default (Europe/Berlin).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QPalette
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMainWindow, QStyleOptionViewItem
from pytestqt.qtbot import QtBot
from sqlalchemy import Engine, insert

from ecomdesk.db.models import AuditEntry
from ecomdesk.services.audit import ActivityRow, ChangeKind
from ecomdesk.services.registry import Services
from ecomdesk.ui.pages import page_spec, pages_for
from ecomdesk.ui.pages.activity import ActivityPage, ChangesDelegate, DayRange
from ecomdesk.ui.session import AppSession
from ecomdesk.ui.tasks import TaskRunner
from ecomdesk.ui.theme import tint
from tests.services.conftest import Staff

WAIT_MS = 10_000
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
OpenPage = Callable[[], ActivityPage]


def _write(engine: Engine, *entries: Mapping[str, Any]) -> None:
    with engine.begin() as conn:
        conn.execute(insert(AuditEntry), [{"entity_type": "inventory_item", **e} for e in entries])


@pytest.fixture
def open_page(qtbot: QtBot, services: Services, staff: Staff, runner: TaskRunner) -> Iterator[OpenPage]:
    """The page in a window of its own, signed in as the administrator, its first rows in."""
    windows: list[QMainWindow] = []  # kept: a window only qtbot knows of is collected at once

    def open_() -> ActivityPage:
        page = ActivityPage(AppSession(services, staff.admin, runner, database_label="test"))
        window = QMainWindow()
        windows.append(window)
        window.setCentralWidget(page)
        window.resize(1200, 700)
        qtbot.addWidget(window)
        window.show()
        page.page_shown()
        qtbot.waitUntil(lambda: page.grid.model.is_loaded and not page.grid.model.is_busy, timeout=WAIT_MS)
        return page

    yield open_


def _settled(qtbot: QtBot, page: ActivityPage) -> None:
    model = page.grid.model
    qtbot.waitUntil(lambda: model.is_loaded and not model.is_busy, timeout=WAIT_MS)


def _shown(page: ActivityPage) -> list[str | None]:
    model = page.grid.model
    return [record.entity_id for _row, record in model.loaded_records(0, model.rowCount() - 1)]


def _counted(page: ActivityPage, qtbot: QtBot) -> None:
    """Only the test's own entries (`stock.counted`), as a person would choose them."""
    page.grid.set_filter("action", "stock.counted")
    _settled(qtbot, page)


def test_the_page_lists_the_entries_newest_first(qtbot: QtBot, engine: Engine, open_page: OpenPage) -> None:
    now = dt.datetime.now(dt.UTC)
    _write(
        engine,
        {"action": "stock.counted", "entity_id": "middle", "occurred_at": now - dt.timedelta(hours=2)},
        {"action": "stock.counted", "entity_id": "newest", "occurred_at": now - dt.timedelta(hours=1)},
        {"action": "stock.counted", "entity_id": "oldest", "occurred_at": now - dt.timedelta(hours=3)},
    )
    page = open_page()
    _counted(page, qtbot)
    assert _shown(page) == ["newest", "middle", "oldest"]
    assert page.grid.count_label.text() == "3 entries"


def test_the_page_filters_by_user_and_by_shop_days(qtbot: QtBot, engine: Engine, open_page: OpenPage) -> None:
    now = dt.datetime.now(BERLIN)
    today = now.date()
    _write(
        engine,
        {
            "action": "stock.counted",
            "entity_id": "ada now",
            "actor_email": "ada@shop.example",
            "occurred_at": now,
        },
        {
            "action": "stock.counted",
            "entity_id": "max now",
            "actor_email": "max@shop.example",
            "occurred_at": now,
        },
        {
            "action": "stock.counted",
            "entity_id": "ada 10 days ago",
            "actor_email": "ada@shop.example",
            "occurred_at": now - dt.timedelta(days=10),
        },
    )
    page = open_page()
    _counted(page, qtbot)
    page.grid.set_filter("actor_email", "ada@shop.example")
    _settled(qtbot, page)
    assert _shown(page) == ["ada now", "ada 10 days ago"]

    page.set_range(DayRange.LAST_7_DAYS)
    _settled(qtbot, page)
    assert _shown(page) == ["ada now"]
    assert page.grid.model.query.filters["date_from"] == today - dt.timedelta(days=6)
    assert page.range_label.text().startswith("since ")

    ten_days_ago = today - dt.timedelta(days=10)
    page.set_custom_range(ten_days_ago, ten_days_ago)
    _settled(qtbot, page)
    assert _shown(page) == ["ada 10 days ago"]
    assert page.from_edit.isVisible() and page.to_edit.isVisible()

    page.set_range(DayRange.ANY)
    page.grid.set_filter("actor_email", None)
    _settled(qtbot, page)
    assert sorted(str(entity) for entity in _shown(page)) == ["ada 10 days ago", "ada now", "max now"]
    assert not page.from_edit.isVisible()


def test_a_custom_range_that_ends_before_it_starts_says_so_in_the_list(
    qtbot: QtBot, open_page: OpenPage
) -> None:
    page = open_page()
    page.set_custom_range(dt.date(2026, 11, 28), dt.date(2026, 11, 27))
    qtbot.waitUntil(lambda: page.grid.banner.isVisible(), timeout=WAIT_MS)
    assert "ends before it starts" in page.grid.banner_label.text()


def test_the_details_show_the_before_and_after_of_the_selected_entry(
    qtbot: QtBot, services: Services, staff: Staff, open_page: OpenPage
) -> None:
    role = services.roles.create_role(staff.admin, "Packers", frozenset({"inventory.read"}))
    services.roles.update_role(staff.admin, role.id, name="Shipping", permissions=role.permissions)
    page = open_page()
    page.grid.set_filter("action", "role.updated")
    _settled(qtbot, page)
    page.grid.view.setFocus()
    page.grid.view.selectRow(0)
    panel = page.panel
    assert panel.entry is not None and panel.entry.action == "role.updated"
    assert panel.title.text() == "Role updated"
    assert panel.values["actor_email"].text() == "ada@shop.example"
    assert panel.values["entity"].text() == f"role {role.id}"
    model = panel.model
    rows = {
        model.index(r, 0).data(): (model.index(r, 1).data(), model.index(r, 2).data(), model.changes[r].kind)
        for r in range(model.rowCount())
    }
    assert rows["name"] == ("Packers", "Shipping", ChangeKind.CHANGED)
    assert rows["description"] == ('""', '""', ChangeKind.SAME)
    assert rows["permissions"] == ("inventory.read", "inventory.read", ChangeKind.SAME)
    assert rows["added"] == ("", "[]", ChangeKind.ADDED)  # no field before: an empty cell, not "null"

    # What changed is painted in the theme's colours: the old value in the error tint, the new in
    # the success tint and bold; an unchanged field in the muted text colour.
    delegate = panel.table.itemDelegate()
    assert isinstance(delegate, ChangesDelegate)
    name_row = next(r for r in range(model.rowCount()) if model.changes[r].field == "name")
    same_row = next(r for r in range(model.rowCount()) if model.changes[r].field == "description")

    def style(row: int, column: int) -> QStyleOptionViewItem:
        option = QStyleOptionViewItem()
        option.palette = panel.table.palette()
        delegate.initStyleOption(option, model.index(row, column))
        return option

    palette = panel.table.palette()
    assert style(name_row, 1).backgroundBrush.color() == tint(palette, "error")[0]
    assert style(name_row, 2).backgroundBrush.color() == tint(palette, "success")[0]
    assert style(name_row, 2).font.bold()
    same = style(same_row, 2)
    assert same.palette.color(QPalette.ColorRole.Text) == palette.color(QPalette.ColorRole.PlaceholderText)


def test_a_refresh_with_new_entries_on_top_keeps_the_selected_entry_selected(
    qtbot: QtBot, engine: Engine, open_page: OpenPage
) -> None:
    start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    _write(
        engine,
        *(
            {
                "action": "stock.counted",
                "entity_id": f"old {n}",
                "occurred_at": start + dt.timedelta(minutes=n),
            }
            for n in range(5)
        ),
    )
    page = open_page()
    _counted(page, qtbot)
    assert _shown(page) == ["old 4", "old 3", "old 2", "old 1", "old 0"]
    page.grid.view.setFocus()
    page.grid.view.selectRow(2)
    chosen = page.current
    assert chosen is not None and chosen.entity_id == "old 2"

    _write(
        engine,
        *(
            {
                "action": "stock.counted",
                "entity_id": f"new {n}",
                "occurred_at": start + dt.timedelta(minutes=30 + n),
            }
            for n in range(3)
        ),
    )
    with qtbot.waitSignal(page.grid.refreshed, timeout=WAIT_MS):
        page.refresh()
    assert _shown(page)[:3] == ["new 2", "new 1", "new 0"]
    assert page.current == chosen
    assert page.grid.view.currentIndex().row() == 5
    assert [r.entity_id for r in page.grid.selected_records()] == ["old 2"]
    assert page.panel.entry == chosen
    # The list was at its top: it stays there, showing the new entries.
    assert page.grid.view.rowAt(0) == 0


def test_enter_brings_the_hidden_details_back_and_delete_deletes_nothing(
    qtbot: QtBot, engine: Engine, services: Services, staff: Staff, open_page: OpenPage
) -> None:
    _write(engine, {"action": "stock.counted", "entity_id": "7", "actor_email": "max@shop.example"})
    page = open_page()
    _counted(page, qtbot)
    QTest.keyClick(page.grid.view, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)
    assert page.panel.isHidden() and not page.details_action.isChecked()

    page.grid.view.setFocus()
    page.grid.view.setCurrentIndex(page.grid.model.index(0, 0))
    QTest.keyClick(page.grid.view, Qt.Key.Key_Return)
    assert not page.panel.isHidden() and page.details_action.isChecked()
    assert page.panel.entry is not None and page.panel.entry.entity_id == "7"

    QTest.keyClick(page.grid.view, Qt.Key.Key_Delete)
    assert "none can be deleted" in page.status.text()
    _counted(page, qtbot)
    assert _shown(page) == ["7"]

    page.focus_search()
    assert QApplication.focusWidget() is page.grid.search


def test_the_changes_model_passes_qts_model_tester(qtmodeltester: Any, open_page: OpenPage) -> None:
    page = open_page()
    entry = ActivityRow(
        1, dt.datetime(2026, 11, 27, 9, tzinfo=dt.UTC), "ada@shop.example", "x.updated", "x", "1",
        before={"a": 1, "gone": "yes", "same": [1, 2]},
        after={"a": 2, "new": {"deep": True}, "same": [1, 2]},
    )  # fmt: skip
    page.panel.show_entry(entry)
    qtmodeltester.check(page.panel.model)
    model = page.panel.model
    assert [model.index(r, 0).data() for r in range(model.rowCount())] == ["a", "gone", "new", "same"]
    new = model.index(2, 2)
    assert new.data() == '{"deep": true}'
    assert new.data(Qt.ItemDataRole.ToolTipRole) == '{\n  "deep": true\n}'
    assert model.index(0, 0, QModelIndex()).data(Qt.ItemDataRole.ToolTipRole) == "a: changed"


def test_only_a_user_with_audit_read_sees_the_page(staff: Staff) -> None:
    keys = {spec.key for spec in pages_for(staff.viewer)}
    assert "activity" not in keys
    assert page_spec("activity").permission == "audit.read"
    assert staff.manager.can("audit.read") and "activity" in {s.key for s in pages_for(staff.manager)}
    assert ActivityPage.watches == frozenset({"audit_log"})
