"""The inventory page: every item in the grid (low stock marked), the selected item's details beside
it, its stock history below, and the actions on items — create, edit, adjust stock, archive or
restore, delete, import.

Every action is a QAction with its shortcut, shown as a button; what the signed-in user may not do is
disabled with a tooltip saying why (editing needs `inventory.write`, moving stock
`inventory.adjust`). Every service call runs on the task runner, and every refusal is the service's
own sentence in the page's status line or in the dialog that asked.

The history is a pane under the list rather than inside the side panel: a movement has eight columns
worth reading side by side, which a side panel would squeeze into a horizontal scroll.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from PySide6.QtCore import QEvent, QLocale, QModelIndex, QPersistentModelIndex, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QPalette
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from ecomdesk.db.models import MovementKind
from ecomdesk.services.errors import Unavailable
from ecomdesk.services.inventory import InventoryRow, Removal
from ecomdesk.services.inventory_import import ImportResult
from ecomdesk.services.settings import SystemSettings
from ecomdesk.services.stock import ADJUSTMENTS, MovementRow
from ecomdesk.services.tables import Kind
from ecomdesk.ui.details import DetailsPanel
from ecomdesk.ui.errors import describe
from ecomdesk.ui.forms import StatusLine
from ecomdesk.ui.grid import GridView, RowStyleRole
from ecomdesk.ui.grid.format import display_text
from ecomdesk.ui.grid.view import GridDelegate
from ecomdesk.ui.pages.item_dialogs import ItemDialog
from ecomdesk.ui.pages.stock_dialogs import (
    KIND_CHOICES,
    AdjustDialog,
    StockHistory,
    levels_text,
    movement_sentence,
)
from ecomdesk.ui.permissions import READ_ONLY, enable, why_not
from ecomdesk.ui.preferences import Preferences
from ecomdesk.ui.session import AppSession
from ecomdesk.ui.theme import is_theme_change, text_colour
from ecomdesk.ui.widgets import (
    action_buttons,
    ask,
    focus_within,
    heading,
    hint,
    page_action,
    remembered_splitter,
)

#: Waiting for the selection to rest before reading an item's history: arrowing through the list
#: does not start a query per row passed.
HISTORY_DELAY_MS: Final = 150
ARCHIVED_NO_STOCK: Final = "An archived item's stock does not move: restore the item first."
#: The panel's buttons for the common adjustments (the dialog offers all five).
PANEL_ADJUSTMENTS: Final = {
    MovementKind.RECEIVE: "Receive…",
    MovementKind.SHIP: "Ship…",
    MovementKind.CORRECT: "Correct…",
    MovementKind.RESERVE: "Reserve…",
    MovementKind.RELEASE: "Release…",
}


def describe_item(item: InventoryRow) -> str:
    return f"{item.sku} — {item.name}"


def threshold_text(item: InventoryRow, shop_threshold: int | None) -> str:
    """The low-stock threshold that applies to `item`, and where it comes from."""
    if item.reorder_level is not None:
        return f"{item.reorder_level:,} (this item's reorder level)"
    return "Shop default" if shop_threshold is None else f"{shop_threshold:,} (shop default)"


class AvailableDelegate(GridDelegate):
    """The Available cell of a low-stock row in bold, in the theme's warning colour: the number that
    made the row stand out, readable in light and dark themes alike."""

    def initStyleOption(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        super().initStyleOption(option, index)
        if index.data(RowStyleRole) == "attention":
            option.font.setBold(True)
            palette = option.palette
            palette.setColor(QPalette.ColorRole.Text, text_colour(palette, "warning"))
            option.palette = palette


class ItemPanel(DetailsPanel):
    """The selected item: names, levels with the low-stock threshold that applies, money, and
    buttons for the common adjustments."""

    #: A panel button asked for an adjustment of this kind.
    adjust_requested = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Select an item to see its details, levels and history.", parent)
        self.item: InventoryRow | None = None
        self._shop_threshold: int | None = None
        self._archived = False
        self.setObjectName("itemPanel")
        self.name = self.title_label()
        self.sku = QLabel(self.details)
        self.sku.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.sku.setAccessibleName("SKU")
        self.state = self.state_label("itemState")
        form = self.value_grid(
            (
                ("category", "Category"),
                ("supplier", "Supplier"),
                ("stock", "Stock"),
                ("reserved", "Reserved"),
                ("available", "Available"),
                ("threshold", "Low stock at"),
                ("price", "Price"),
                ("cost", "Cost"),
                ("margin", "Margin"),
                ("stock_value", "Stock value"),
                ("last_updated", "Last updated"),
            )
        )
        self.adjust_buttons: dict[MovementKind, QPushButton] = {}
        buttons = QGridLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        for index, (kind, text) in enumerate(PANEL_ADJUSTMENTS.items()):
            button = QPushButton(text, self.details)
            button.setAutoDefault(False)
            button.clicked.connect(lambda _checked=False, k=kind: self.adjust_requested.emit(k))
            self.adjust_buttons[kind] = button
            buttons.addWidget(button, index // 3, index % 3)
        details = QVBoxLayout(self.details)
        details.setContentsMargins(0, 0, 0, 0)
        details.addWidget(self.name)
        details.addWidget(self.sku)
        details.addWidget(self.state)
        details.addSpacing(self.fontMetrics().height() // 2)
        details.addLayout(form)
        details.addSpacing(self.fontMetrics().height() // 2)
        details.addWidget(heading("Adjust stock", self.details, 1.05))
        details.addLayout(buttons)
        details.addStretch(1)
        self.fit_width()
        self.show_item(None)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if is_theme_change(event) and hasattr(self, "state") and self.item is not None:
            self.show_item(self.item, shop_threshold=self._shop_threshold, archived=self._archived)

    def show_item(
        self, item: InventoryRow | None, *, shop_threshold: int | None = None, archived: bool = False
    ) -> None:
        self.item = item
        self._shop_threshold, self._archived = shop_threshold, archived
        self.show_details(item is not None)
        if item is None:
            return
        locale = QLocale()
        self.name.setText(item.name)
        self.sku.setText(item.sku)
        if archived:
            self._say_state("Archived: not in the list, and its stock does not move.", None)
        elif item.low_stock:
            threshold = threshold_text(item, shop_threshold)
            self._say_state(f"Low stock: {item.available:,} available, at or below {threshold}.", "warning")
        else:
            self._say_state("", None)
        texts: dict[str, str] = {
            "category": item.category,
            "supplier": item.supplier,
            "stock": display_text(item.stock, Kind.INTEGER, locale),
            "reserved": display_text(item.reserved, Kind.INTEGER, locale),
            "available": display_text(item.available, Kind.INTEGER, locale),
            "threshold": threshold_text(item, shop_threshold),
            "price": display_text(item.price, Kind.MONEY, locale),
            "cost": display_text(item.cost, Kind.MONEY, locale),
            "margin": display_text(item.margin, Kind.PERCENT, locale) or "—",
            "stock_value": display_text(item.stock_value, Kind.MONEY, locale),
            "last_updated": display_text(item.last_updated, Kind.DATETIME, locale),
        }
        for key, text in texts.items():
            self.values[key].setText(text)
        self.values["available"].setAccessibleDescription("Low stock" if item.low_stock else "")

    def _say_state(self, text: str, kind: str | None) -> None:
        self.state.setText(text)
        self.state.setVisible(bool(text))
        colour = text_colour(self.palette(), "warning").name() if kind == "warning" else ""
        self.state.setStyleSheet(f"color: {colour}; font-weight: bold;" if colour else "")


class InventoryPage(QWidget):
    #: The main window refreshes the page when one of these tables changed (`ui.live`).
    watches = frozenset({"inventory_items", "stock_movements"})

    def __init__(self, session: AppSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.setObjectName("inventoryPage")
        actor = session.actor
        #: Why this user may not change items (None: they may); and why they may not move stock.
        self.write_refusal = READ_ONLY if session.read_only else why_not(actor, "inventory.write")
        self.adjust_refusal = READ_ONLY if session.read_only else why_not(actor, "inventory.adjust")
        #: The list shows archived items instead of live ones.
        self.showing_archived = False
        #: The shop's default low-stock threshold (None until known).
        self.shop_threshold: int | None = session.shop.low_stock_threshold if session.shop else None
        self._select_after_refresh: int | None = None

        self.grid = GridView(
            session, session.services.inventory.table, row_style=self._row_style, parent=self
        )
        available = self.grid.model.column_index("available")
        self.grid.view.setItemDelegateForColumn(available, AvailableDelegate(self.grid.view))
        self.panel = ItemPanel(self)
        self.history = StockHistory(session, self)
        self.status = StatusLine(self)
        self._import_dialog: QWidget | None = None
        self.status.setAccessibleName("Inventory status")
        self.archived_hint = hint(
            "Archived items: out of the list and of stock work, with their history kept. "
            "Restore one to sell and move its stock again.",
            self,
        )
        self.archived_hint.hide()

        self.new_action = page_action(self, "&New item…", QKeySequence.StandardKey.New)
        self.edit_action = page_action(self, "&Edit…", QKeySequence("F2"))
        self.adjust_action = page_action(self, "&Adjust stock…", QKeySequence("Ctrl+J"))
        self.history_action = page_action(self, "&History", QKeySequence("Ctrl+H"))
        self.history_action.setCheckable(True)
        self.archive_action = page_action(self, "A&rchive")
        self.delete_action = page_action(self, "&Delete…")
        self.import_action = page_action(self, "&Import CSV…", QKeySequence("Ctrl+I"))
        self.archived_action = page_action(self, "Show archi&ved")
        self.archived_action.setCheckable(True)
        self.archived_action.setToolTip("List the archived items instead of the live ones.")
        self.history_action.setToolTip("Show or hide the stock history of the selected item (Ctrl+H).")
        self.new_action.triggered.connect(self.new_item)
        self.edit_action.triggered.connect(self.edit_item)
        self.adjust_action.triggered.connect(lambda: self.adjust_stock())
        self.history_action.triggered.connect(self.toggle_history)
        self.archive_action.triggered.connect(self.archive_or_restore)
        self.delete_action.triggered.connect(
            lambda: self.delete_items(self.grid.selected_records(limit=1000))
        )
        self.import_action.triggered.connect(self.import_csv)
        self.archived_action.toggled.connect(self.set_showing_archived)

        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(heading("Inventory", self))
        bar.addSpacing(self.fontMetrics().horizontalAdvance("M") * 2)
        actions = (
            self.new_action,
            self.edit_action,
            self.adjust_action,
            self.history_action,
            self.archive_action,
            self.delete_action,
            self.import_action,
            self.archived_action,
        )
        action_buttons(bar, actions, self)
        bar.addStretch(1)

        em = self.fontMetrics().horizontalAdvance("M")
        self.lists = remembered_splitter(
            "inventory/lists",
            Qt.Orientation.Vertical,
            ((self.grid, 3), (self.history, 2)),
            (em * 24, em * 14),
            self,
        )
        self.splitter = remembered_splitter(
            "inventory/splitter",
            Qt.Orientation.Horizontal,
            ((self.lists, 3), (self.panel, 1)),
            (em * 64, max(em * 22, self.panel.minimumWidth())),
            self,
        )
        settings = QSettings()
        shown = settings.value("inventory/history_shown", True, type=bool)
        self.history.setVisible(bool(shown))
        self.history_action.setChecked(bool(shown))

        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.status)
        layout.addWidget(self.archived_hint)
        layout.addWidget(self.splitter, 1)

        self._history_timer = QTimer(self)
        self._history_timer.setSingleShot(True)
        self._history_timer.setInterval(HISTORY_DELAY_MS)
        self._history_timer.timeout.connect(self._show_history)

        self.grid.selection_changed.connect(self._selection_changed)
        self.grid.refreshed.connect(self._refreshed)
        self.grid.model.modelReset.connect(self._selection_changed)
        self.grid.activated.connect(self._activated)
        self.grid.delete_requested.connect(self.delete_items)
        self.grid.status_message.connect(lambda text: self.status.say(text))
        self.panel.adjust_requested.connect(self.adjust_stock)
        session.shop_changed.connect(self._shop_changed)
        self._update_actions()

    # -- what the main window calls --------------------------------------------------------

    def refresh(self) -> None:
        self.grid.refresh()
        self.history.refresh()

    def focus_search(self) -> None:
        self.grid.focus_search()

    def page_shown(self) -> None:
        focus_within(self, self.grid.view)
        if self.shop_threshold is None:
            self.session.load_shop(quiet=True)  # `shop_changed` brings it

    def _shop_changed(self, shop: SystemSettings) -> None:
        self.shop_threshold = shop.low_stock_threshold
        self._selection_changed()

    # -- selection and the state of the actions -------------------------------------------

    @property
    def current(self) -> InventoryRow | None:
        """The item the single-item actions work on."""
        record = self.grid.current_record()
        return record if isinstance(record, InventoryRow) else None

    def _row_style(self, record: Any) -> str | None:
        if self.showing_archived:
            return "muted"
        return "attention" if getattr(record, "low_stock", False) else None

    def _selection_changed(self) -> None:
        record = self.current
        self.panel.show_item(record, shop_threshold=self.shop_threshold, archived=self.showing_archived)
        if record is None or record.id != self.history.item_id:
            self._history_timer.start()
        else:
            self.history.set_item(record)  # the same item: its title, no new query
        self._update_actions()

    def _show_history(self) -> None:
        if not self.history.isHidden():  # a hidden history reads nothing; showing it catches up
            self.history.set_item(self.current)

    def _refreshed(self) -> None:
        wanted, self._select_after_refresh = self._select_after_refresh, None
        row = self.grid.model.row_of(wanted) if wanted is not None else None
        if row is not None:
            self.grid.view.selectRow(row)
            self.grid.view.scrollTo(self.grid.model.index(row, 0))
        self._selection_changed()

    def _update_actions(self) -> None:
        record = self.current
        selected = bool(self.grid.selected_records(limit=1))
        write, adjust = self.write_refusal, self.adjust_refusal
        enable(self.new_action, True, "Create an item, with its opening stock (Ctrl+N).", write)
        enable(self.edit_action, record is not None, "Change the selected item (F2 or Enter).", write)
        if self.showing_archived and adjust is None:
            enable(self.adjust_action, False, ARCHIVED_NO_STOCK, None)
            for button in self.panel.adjust_buttons.values():
                enable(button, False, ARCHIVED_NO_STOCK, None)
        else:
            enable(
                self.adjust_action,
                record is not None,
                "Receive, ship, correct, reserve or release stock of the selected item (Ctrl+J).",
                adjust,
            )
            for kind, button in self.panel.adjust_buttons.items():
                enable(button, record is not None, KIND_CHOICES[kind][1], adjust)
        if self.showing_archived:
            self.archive_action.setText("&Restore")
            tip = "Bring the selected items back into the list and into stock work."
        else:
            self.archive_action.setText("A&rchive")
            tip = "Take the selected items out of the list and of stock work; their history stays."
        enable(self.archive_action, selected, tip, write)
        enable(
            self.delete_action,
            selected,
            "Delete the selected items (Del); one with stock history is archived instead.",
            write,
        )
        enable(self.import_action, True, "Create and update items from a CSV file (Ctrl+I).", write)

    # -- items -----------------------------------------------------------------------------------

    def _activated(self, record: Any) -> None:
        if self.edit_action.isEnabled() and isinstance(record, InventoryRow):
            self.open_editor(record)

    def new_item(self) -> ItemDialog | None:
        if not self.new_action.isEnabled():
            return None
        dialog = ItemDialog(self.session, None, self)
        dialog.saved.connect(self._created)
        dialog.open()
        return dialog

    def edit_item(self) -> ItemDialog | None:
        record = self.current
        if record is None or not self.edit_action.isEnabled():
            return None
        return self.open_editor(record)

    def open_editor(self, record: InventoryRow) -> ItemDialog:
        dialog = ItemDialog(self.session, record, self)
        dialog.saved.connect(self._edited)
        dialog.open()
        return dialog

    def _created(self, row: InventoryRow) -> None:
        self.status.say(f"Created {describe_item(row)} ({levels_text(row.stock, row.reserved)}).", "success")
        self._select_after_refresh = row.id
        self.grid.refresh()

    def _edited(self, row: InventoryRow) -> None:
        self.status.say(f"Saved {describe_item(row)}.", "success")
        self._select_after_refresh = row.id
        self.grid.refresh()

    # -- stock -----------------------------------------------------------------------------------

    def adjust_stock(self, kind: MovementKind | None = None) -> AdjustDialog | None:
        record = self.current
        if record is None or not self.adjust_action.isEnabled():
            return None
        dialog = AdjustDialog(
            self.session, record, kind if kind in ADJUSTMENTS else MovementKind.RECEIVE, self
        )
        dialog.adjusted.connect(self._adjusted)
        dialog.open()
        return dialog

    def _adjusted(self, movement: MovementRow) -> None:
        self.status.say(movement_sentence(movement), "success")
        self.grid.refresh()
        self.history.refresh()

    def toggle_history(self) -> None:
        """Ctrl+H: show the history and go to it; from inside it, hide it and go back to the list."""
        focus = self.focusWidget()
        inside = focus is not None and self.history.isAncestorOf(focus)
        if self.history.isHidden():
            self.history.show()
            self._show_history()
            self.history.focus_rows()
        elif inside:
            self.history.hide()
            self.grid.view.setFocus()
        else:
            self.history.focus_rows()
        self.history_action.setChecked(not self.history.isHidden())
        QSettings().setValue("inventory/history_shown", not self.history.isHidden())

    # -- archive, restore, delete ------------------------------------------------------------

    def set_showing_archived(self, archived: bool) -> None:
        """List the archived items (True) or the live ones."""
        if archived == self.showing_archived:
            return
        self.showing_archived = archived
        self.archived_action.setChecked(archived)
        self.archived_hint.setVisible(archived)
        self.grid.set_page_filter("archived", True if archived else None)
        self._update_actions()

    def archive_or_restore(self) -> None:
        items = [r for r in self.grid.selected_records(limit=1000) if isinstance(r, InventoryRow)]
        if not items or not self.archive_action.isEnabled():
            return
        services, actor = self.session.services, self.session.actor
        restore = self.showing_archived
        what = describe_item(items[0]) if len(items) == 1 else f"{len(items):,} items"

        def run(_control: object) -> None:
            for item in items:
                if restore:
                    services.inventory.restore_item(actor, item.id)
                else:
                    services.inventory.archive_item(actor, item.id)

        done = (
            f"Restored {what}: back in the list and in stock work."
            if restore
            else f"Archived {what}: out of the list and of stock work; “Show archived” lists it."
        )
        self._run(run, lambda _result: done, f"{'restore' if restore else 'archive'} {what}")

    def delete_items(self, records: list[Any]) -> None:
        items = [r for r in records if isinstance(r, InventoryRow)]
        if not items:
            return
        if self.write_refusal is not None or not self.delete_action.isEnabled():
            self.status.say(self.write_refusal or self.delete_action.toolTip(), "error")
            return
        what = describe_item(items[0]) if len(items) == 1 else f"{len(items):,} items"
        if Preferences().confirm_delete:
            ask(
                self,
                "Delete",
                f"Delete {what}? An item that never moved is deleted for good; one with stock history "
                "is archived instead, so its history keeps its subject.",
                "Delete",
                lambda: self._delete(items),
                danger=True,
            )
        else:
            self._delete(items)

    def _delete(self, items: list[InventoryRow]) -> None:
        services, actor = self.session.services, self.session.actor

        def run(_control: object) -> list[Removal]:
            return [services.inventory.delete_item(actor, item.id) for item in items]

        def said(removals: list[Removal]) -> str:
            if len(items) == 1:
                if removals[0] is Removal.DELETED:
                    return f"Deleted {describe_item(items[0])}."
                return (
                    f"{describe_item(items[0])} has stock history, so it was archived instead of deleted: "
                    "its history stays, and “Show archived” lists it."
                )
            deleted = removals.count(Removal.DELETED)
            archived = len(removals) - deleted
            text = f"Deleted {deleted:,} {'item' if deleted == 1 else 'items'}"
            if archived:
                text += f"; archived {archived:,} with stock history instead (“Show archived” lists them)"
            return text + "."

        self._run(run, said, f"delete {len(items):,} items")

    # -- import ----------------------------------------------------------------------------------

    def import_csv(self) -> QWidget | None:
        if not self.import_action.isEnabled():
            return None
        from ecomdesk.ui.pages.inventory_import import ImportDialog  # only when someone imports

        previous = self._import_dialog
        if isinstance(previous, ImportDialog) and previous.is_busy:
            previous.open()  # an import still stopping or finishing: show it rather than start another
            return previous
        if previous is not None:
            previous.deleteLater()  # one dialog at a time: the last file's rows don't pile up in memory
        dialog = ImportDialog(self.session, self)
        dialog.imported.connect(self._imported)
        self._import_dialog = dialog
        dialog.open()
        return dialog

    def _imported(self, result: object) -> None:
        if isinstance(result, ImportResult):
            counts = ", ".join(
                f"{count:,} {what}"
                for count, what in ((result.created, "created"), (result.updated, "updated"))
                if count
            )
            self.status.say(f"Imported {result.file_name}: {counts or 'nothing changed'}.", "success")
        else:
            self.status.say("Imported: the list shows the new and changed items.", "success")
        self.grid.refresh()
        self.history.refresh()

    # -- running service calls -------------------------------------------------------------------

    def _run(self, fn: Callable[[Any], Any], done: Callable[[Any], str], description: str) -> None:
        self.status.say("Working…")
        self.session.runner.submit(
            fn,
            on_done=lambda result: self._done(done(result)),
            on_error=self._failed,
            owner=self,
            description=description,
        )

    def _done(self, text: str) -> None:
        self.status.say(text, "success")
        self.grid.refresh()

    def _failed(self, error: BaseException) -> None:
        """A refusal is said here; the list is re-read, since part of a multi-item action may have
        gone through."""
        self.status.say(describe(error).text, "error")
        self.grid.refresh()
        if isinstance(error, Unavailable):
            self.session.runner.failed.emit(error, None)  # the message bar and the reconnect probe
