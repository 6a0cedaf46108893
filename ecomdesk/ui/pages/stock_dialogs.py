"""Stock on the inventory page: the adjust dialog (receive, ship, correct, reserve, release) and one
item's stock history.

The dialog shows what an adjustment will leave before it is saved (“Stock 12 → 9 · Reserved 2 ·
Available 10 → 7”) and warns when a level would fall below zero, but the service decides: it
re-checks against the latest committed levels, and a refusal is its own sentence in the dialog,
with every input kept and the levels read again. A correction to a counted level sends the stock
it was counted against, so a count typed while someone else moved stock is refused, never applied
to a number that moved.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import IO, Any, Final

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ecomdesk.db.models import MovementKind
from ecomdesk.services.context import Actor
from ecomdesk.services.errors import NotFound, ValidationError
from ecomdesk.services.inventory import MAX_UNITS, InventoryRow
from ecomdesk.services.listing import ListQuery, Page
from ecomdesk.services.stock import (
    ADJUSTMENTS,
    MAX_REASON,
    MOVEMENTS_SPEC,
    Adjustment,
    MovementRow,
    StockMovementsTable,
)
from ecomdesk.services.tables import CancelledFn, Choice, ProgressFn, Table, TableSpec
from ecomdesk.ui.errors import describe
from ecomdesk.ui.forms import Field, FormGrid, clear_errors, dialog_footer, grow_to_fit, show_errors
from ecomdesk.ui.grid import GridView
from ecomdesk.ui.session import AppSession
from ecomdesk.ui.theme import is_theme_change, text_colour
from ecomdesk.ui.widgets import heading, hint

#: The radio button of each kind (with its mnemonic) and what it does, in words.
KIND_CHOICES: Final = {
    MovementKind.RECEIVE: ("&Receive", "Units arrived (a delivery, a return): stock goes up."),
    MovementKind.SHIP: ("S&hip", "Units left the shop: stock goes down."),
    MovementKind.CORRECT: ("&Correct", "Set the stock right after a count or a mistake."),
    MovementKind.RESERVE: ("Re&serve", "Hold units for an order: available goes down, stock stays."),
    MovementKind.RELEASE: ("Re&lease", "Free reserved units again (e.g. a cancelled order)."),
}
#: What the Save button says for each kind.
SAVE_TEXT: Final = {
    MovementKind.RECEIVE: "Receive",
    MovementKind.SHIP: "Ship",
    MovementKind.CORRECT: "Correct stock",
    MovementKind.RESERVE: "Reserve",
    MovementKind.RELEASE: "Release",
}
REASON_EXAMPLES: Final = {
    MovementKind.RECEIVE: "e.g. delivery note 4711 from Acme",
    MovementKind.SHIP: "e.g. order 10234",
    MovementKind.CORRECT: "e.g. stocktake November, broken in storage",
    MovementKind.RESERVE: "e.g. order 10234 awaiting payment",
    MovementKind.RELEASE: "e.g. order 10234 cancelled",
}
NO_REASON: Final = "Say why (e.g. a delivery note, an order number, a stocktake)."
_VERBS: Final = {
    MovementKind.RECEIVE.value: "Received",
    MovementKind.SHIP.value: "Shipped",
    MovementKind.RESERVE.value: "Reserved",
    MovementKind.RELEASE.value: "Released",
}


def levels_text(
    stock: int, reserved: int, stock_after: int | None = None, reserved_after: int | None = None
) -> str:
    """“Stock 12 → 9 · Reserved 2 · Available 10 → 7”: a level that does not change is shown once."""

    def part(label: str, before: int, after: int | None) -> str:
        if after is None or after == before:
            return f"{label} {before:,}"
        return f"{label} {before:,} → {after:,}"

    available_after = None
    if stock_after is not None or reserved_after is not None:
        available_after = (stock if stock_after is None else stock_after) - (
            reserved if reserved_after is None else reserved_after
        )
    return " · ".join(
        (
            part("Stock", stock, stock_after),
            part("Reserved", reserved, reserved_after),
            part("Available", stock - reserved, available_after),
        )
    )


def movement_sentence(movement: MovementRow) -> str:
    """What an adjustment did, for the page's status line."""
    stock_before = movement.stock_after - movement.stock_delta
    reserved_before = movement.reserved_after - movement.reserved_delta
    levels = levels_text(stock_before, reserved_before, movement.stock_after, movement.reserved_after)
    if movement.kind == MovementKind.CORRECT.value:
        done = f"Corrected the stock of {movement.sku} by {movement.stock_delta:+,}"
    else:
        units = abs(movement.stock_delta or movement.reserved_delta)
        done = f"{_VERBS.get(movement.kind, movement.kind_label)} {units:,} of {movement.sku}"
    return f"{done}: {levels}."


def level_problem(item: InventoryRow, adjustment: Adjustment) -> str | None:
    """Why the service would refuse `adjustment` at `item`'s levels (the same rules, in the same
    words), or None. A hint only: the levels may have moved since they were read."""
    stock, reserved = item.stock, item.reserved
    available = stock - reserved
    q = adjustment.quantity
    match adjustment.kind:
        case MovementKind.SHIP if adjustment.from_reserved and q > reserved:
            return f"Only {reserved:,} reserved: cannot ship {q:,} reserved units."
        case MovementKind.SHIP if not adjustment.from_reserved and q > available:
            return f"Only {available:,} available: cannot ship {q:,}."
        case MovementKind.RESERVE if q > available:
            return f"Only {available:,} available: cannot reserve {q:,}."
        case MovementKind.RELEASE if q > reserved:
            return f"Only {reserved:,} reserved: cannot release {q:,}."
        case MovementKind.CORRECT if stock + q < 0:
            return f"Only {stock:,} in stock: cannot take {-q:,} off."
        case MovementKind.CORRECT if stock + q < reserved:
            return f"{reserved:,} units are reserved: the stock cannot go below that. Release them first."
    return None


class AdjustDialog(QDialog):
    """One stock adjustment of one item. `adjusted` carries the recorded `MovementRow`."""

    adjusted = Signal(object)

    def __init__(
        self,
        session: AppSession,
        item: InventoryRow,
        kind: MovementKind = MovementKind.RECEIVE,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        #: The levels the preview and a counted-level correction start from (read again on opening
        #: and after a refusal).
        self.item = item
        #: The levels have been read from the database since the dialog opened.
        self.loaded = False
        self._quantity_mode = ""
        self.setWindowTitle(f"Adjust stock of {item.sku}")
        self.setObjectName("adjustDialog")

        self.title = heading(f"{item.sku} — {item.name}", self, 1.2)
        self.title.setWordWrap(True)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.levels = QLabel(self)
        self.levels.setAccessibleName("Current levels")

        self.kinds = QButtonGroup(self)
        self.kind_buttons: dict[MovementKind, QRadioButton] = {}
        kind_row = QHBoxLayout()
        kind_row.setContentsMargins(0, 0, 0, 0)
        for movement in ADJUSTMENTS:
            text, tip = KIND_CHOICES[movement]
            button = QRadioButton(text, self)
            button.setToolTip(tip)
            self.kinds.addButton(button)
            self.kind_buttons[movement] = button
            kind_row.addWidget(button)
        kind_row.addStretch(1)
        kind_box = QWidget(self)
        kind_box.setLayout(kind_row)

        self.by_change = QRadioButton("Change b&y", self)
        self.by_change.setToolTip("Add units (e.g. 3) or take them off (e.g. -3).")
        self.to_count = QRadioButton("Counted le&vel", self)
        self.to_count.setToolTip(
            "Enter how many you counted; the change is worked out from the stock shown above, and the "
            "correction is refused if the stock moves before it is saved."
        )
        self.correction_modes = QButtonGroup(self)
        self.correction_modes.addButton(self.by_change)
        self.correction_modes.addButton(self.to_count)
        self.to_count.setChecked(True)
        mode_row = QHBoxLayout()
        mode_row.setContentsMargins(0, 0, 0, 0)
        mode_row.addWidget(self.to_count)
        mode_row.addWidget(self.by_change)
        mode_row.addStretch(1)
        self.mode_box = QWidget(self)
        self.mode_box.setLayout(mode_row)

        self.quantity = QSpinBox(self)
        self.quantity.setAccessibleName("Quantity")
        self.quantity.setRange(0, MAX_UNITS)
        self.quantity.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.quantity.setMinimumWidth(self.fontMetrics().horizontalAdvance("0") * 14)
        self.from_reserved = QCheckBox("&From the reserved units (the order had reserved them)", self)
        self.from_reserved.setToolTip(
            "Reserved falls with the stock: the shipped units were held for this order."
        )
        self.reason = QLineEdit(self)
        self.reason.setAccessibleName("Reason")
        self.reason.setMaxLength(MAX_REASON)
        self.preview = QLabel(self)
        self.preview.setObjectName("adjustPreview")
        self.preview.setAccessibleName("After saving")
        self.preview.setWordWrap(True)

        quantity_row = QWidget(self)
        row = QHBoxLayout(quantity_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.quantity)
        self.quantity_hint = hint("", quantity_row)
        row.addWidget(self.quantity_hint, 1)
        quantity_row.setFocusProxy(self.quantity)
        self.fields: dict[str, Field] = {
            "quantity": Field(quantity_row, self),
            "reason": Field(self.reason, self),
        }
        for field in self.fields.values():
            field.setFocusProxy(field.editor)

        form = FormGrid()
        form.add_row("Now", self.levels)
        form.add_row("Movement", kind_box)
        self.mode_label = QLabel("Correction", self)
        form.add_row(self.mode_label, self.mode_box)
        form.add_row("&Quantity", self.fields["quantity"], buddy=self.quantity)
        form.add_row("", self.from_reserved)
        form.add_row("Reaso&n", self.fields["reason"], buddy=self.reason)
        form.add_row("After", self.preview)

        footer = dialog_footer(self, self.save, status_name="Adjustment status")
        self.status, self.busy, self.buttons, self.save_button = (
            footer.status,
            footer.busy,
            footer.buttons,
            footer.save_button,
        )
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addLayout(form)
        footer.add_to(layout)
        self.setMinimumWidth(self.fontMetrics().horizontalAdvance("M") * 42)
        #: Grows the dialog when a message or the preview wraps onto more lines.
        self._fit_timer = QTimer(self)
        self._fit_timer.setSingleShot(True)
        self._fit_timer.setInterval(0)
        self._fit_timer.timeout.connect(lambda: grow_to_fit(self))

        self.kinds.buttonToggled.connect(lambda _button, checked: self._kind_changed() if checked else None)
        self.correction_modes.buttonToggled.connect(
            lambda _b, checked: self._mode_changed() if checked else None
        )
        self.quantity.valueChanged.connect(self._update_preview)
        self.from_reserved.toggled.connect(self._update_preview)
        self.reason.editingFinished.connect(self._check_reason)
        self.kind_buttons[kind if kind in self.kind_buttons else MovementKind.RECEIVE].setChecked(True)
        self._show_levels()
        self.quantity.setFocus()
        self._load()

    # -- what is asked -----------------------------------------------------------------------------

    @property
    def kind(self) -> MovementKind:
        for movement, button in self.kind_buttons.items():
            if button.isChecked():
                return movement
        return MovementKind.RECEIVE

    @property
    def counting(self) -> bool:
        """A correction to a counted level (rather than by a signed change)."""
        return self.kind is MovementKind.CORRECT and self.to_count.isChecked()

    def adjustment(self) -> Adjustment:
        """The adjustment the inputs describe, against the levels shown."""
        kind, value = self.kind, self.quantity.value()
        if self.counting:
            return Adjustment(
                kind, value - self.item.stock, self.reason.text(), expected_stock=self.item.stock
            )
        from_reserved = kind is MovementKind.SHIP and self.from_reserved.isChecked()
        return Adjustment(kind, value, self.reason.text(), from_reserved=from_reserved)

    def set_kind(self, kind: MovementKind) -> None:
        self.kind_buttons[kind].setChecked(True)

    # -- reacting ----------------------------------------------------------------------------------

    def _kind_changed(self) -> None:
        kind = self.kind
        correcting = kind is MovementKind.CORRECT
        self.mode_label.setVisible(correcting)
        self.mode_box.setVisible(correcting)
        self.from_reserved.setVisible(kind is MovementKind.SHIP)
        self.reason.setPlaceholderText(REASON_EXAMPLES[kind])
        self.save_button.setText(SAVE_TEXT[kind])
        self._mode_changed()

    def _mode_changed(self) -> None:
        """The quantity's meaning and range follow the kind: units, a signed change, or a count.
        A value typed for one meaning is not carried over to another."""
        mode = "count" if self.counting else "change" if self.kind is MovementKind.CORRECT else "units"
        if mode != self._quantity_mode:
            self._quantity_mode = mode
            self.quantity.blockSignals(True)
            self.quantity.setRange(-MAX_UNITS if mode == "change" else 0, MAX_UNITS)
            self.quantity.setValue(self.item.stock if mode == "count" else 0)
            self.quantity.blockSignals(False)
            self.quantity_hint.setText(
                {
                    "count": "units counted",
                    "change": "units to add, or negative to take off",
                    "units": "units",
                }[mode]
            )
            self.quantity.selectAll()
            self.fields["quantity"].set_error(None)
        self._update_preview()

    def _show_levels(self) -> None:
        self.levels.setText(levels_text(self.item.stock, self.item.reserved))

    def _update_preview(self) -> None:
        adjustment = self.adjustment()
        stock_delta, reserved_delta = adjustment.deltas()
        if adjustment.quantity == 0:
            text = "The count matches the stock." if self.counting else "No change yet: enter how many units."
            self._say_preview(text, problem=False)
            return
        after = levels_text(
            self.item.stock,
            self.item.reserved,
            self.item.stock + stock_delta,
            self.item.reserved + reserved_delta,
        )
        problem = level_problem(self.item, adjustment)
        self._say_preview(after if problem is None else f"{after}\n{problem}", problem=problem is not None)

    def _say_preview(self, text: str, *, problem: bool) -> None:
        self.preview.setText(text)
        colour = text_colour(self.palette(), "error").name() if problem else ""
        self.preview.setStyleSheet(f"color: {colour};" if colour else "")
        if hasattr(self, "_fit_timer"):
            self._fit_timer.start()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if is_theme_change(event) and hasattr(self, "preview"):
            self._update_preview()  # the warning's colour is the theme's

    def _check_reason(self) -> None:
        if self.reason.isModified():
            missing = not self.reason.text().strip()
            self.fields["reason"].set_error(NO_REASON if missing else None)

    # -- the levels, read again --------------------------------------------------------------------

    def _load(self) -> None:
        services, actor, item_id = self.session.services, self.session.actor, self.item.id
        self._set_busy(True)
        self.session.runner.submit(
            lambda _control: services.inventory.get_item(actor, item_id),
            on_done=self._loaded,
            on_error=self._load_failed,
            key=f"inventory.adjust.load.{id(self)}",
            owner=self,
            description=f"read the stock of {self.item.sku}",
        )

    def _loaded(self, item: InventoryRow) -> None:
        untouched_count = self.counting and self.quantity.value() == self.item.stock
        self.item = item
        self.loaded = True
        self._set_busy(False)
        self._show_levels()
        if untouched_count:  # a count not typed yet starts from the stock as it is now
            self.quantity.setValue(item.stock)
        self._update_preview()

    def _load_failed(self, error: BaseException) -> None:
        self._set_busy(False)
        self.status.say(describe(error).text, "error")
        if isinstance(error, NotFound):
            self.save_button.setEnabled(False)

    # -- saving ------------------------------------------------------------------------------------

    def save(self) -> None:
        adjustment = self.adjustment()
        services, actor, item_id = self.session.services, self.session.actor, self.item.id
        clear_errors(self.fields)
        self.status.say("Saving…")
        self._set_busy(True)
        self.session.runner.submit(
            lambda _control: services.stock.adjust(actor, item_id, adjustment),
            on_done=self._saved,
            on_error=self._save_failed,
            owner=self,
            description=f"adjust the stock of {self.item.sku}",
        )

    def _saved(self, movement: MovementRow) -> None:
        self._set_busy(False)
        self.adjusted.emit(movement)
        self.accept()

    def _save_failed(self, error: BaseException) -> None:
        """The service's sentence, every input kept; the levels are read again so the preview and a
        counted level start from the stock as it is now."""
        self._set_busy(False)
        if isinstance(error, ValidationError):
            rest = show_errors(self.fields, error)
            self.status.say(
                " ".join(["Nothing was changed: please check the marked fields.", *rest]), "error"
            )
            return
        self.status.say(f"Nothing was changed. {describe(error).text}", "error")
        if not isinstance(error, NotFound):
            self._load()  # a typed count stays: only the stock it is set against is read again

    def _set_busy(self, busy: bool) -> None:
        self.busy.setVisible(busy)
        self.save_button.setEnabled(not busy)
        self._fit_timer.start()  # after a refusal: its sentence and the field messages


# -- one item's history ----------------------------------------------------------------------------

#: The movements of one item: the item's own columns go (every row is the same item).
HISTORY_SPEC: Final = replace(
    MOVEMENTS_SPEC,
    name="stock_history",
    title="Stock history",
    columns=tuple(replace(c, shown=False) if c.key in ("sku", "name") else c for c in MOVEMENTS_SPEC.columns),
    search_hint="Search reasons",
)


class ItemMovements(Table[MovementRow]):
    """The movements table narrowed to one item, whatever the grid asks (search, kind, sort,
    export): the grid never sees, and cannot drop, the item filter."""

    spec: TableSpec = HISTORY_SPEC

    def __init__(self, movements: Table[Any], item_id: int) -> None:
        self.movements = movements
        self.item_id = item_id

    def _narrowed(self, query: ListQuery) -> ListQuery:
        return replace(query, filters={**query.filters, "item_id": self.item_id})

    def page(self, actor: Actor, query: ListQuery) -> Page[MovementRow]:
        page: Page[MovementRow] = self.movements.page(actor, self._narrowed(query))
        return page

    def count(self, actor: Actor, query: ListQuery) -> int:
        return self.movements.count(actor, self._narrowed(query))

    def choices(self, actor: Actor, key: str) -> list[Choice]:
        return self.movements.choices(actor, key)

    def export_csv(
        self,
        actor: Actor,
        query: ListQuery,
        out: IO[bytes],
        *,
        columns: Sequence[str] | None = None,
        bom: bool = False,
        progress: ProgressFn | None = None,
        cancelled: CancelledFn | None = None,
    ) -> int:
        return self.movements.export_csv(
            actor,
            self._narrowed(query),
            out,
            columns=columns,
            bom=bom,
            progress=progress,
            cancelled=cancelled,
        )


class StockHistory(QWidget):
    """The selected item's movements, newest first, in a grid of their own (search, kind filter,
    export). A new item gets a new grid: no answer for the previous item can land in it."""

    def __init__(self, session: AppSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.setObjectName("stockHistory")
        self.item_id: int | None = None
        self.grid: GridView | None = None
        self.title = heading("Stock history", self, 1.1)
        self.empty = hint("Select an item to see every change of its stock, newest first.", self)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self._layout.addWidget(self.title)
        self._layout.addWidget(self.empty, 1)

    @property
    def movements(self) -> StockMovementsTable:
        return self.session.services.stock.movements

    def set_item(self, item: InventoryRow | None) -> None:
        """Show `item`'s history (None: nothing selected); the same item keeps its grid as it is."""
        self.title.setText(f"Stock history of {item.sku}" if item is not None else "Stock history")
        new_id = item.id if item is not None else None
        if new_id == self.item_id and (self.grid is not None) == (new_id is not None):
            return
        self.item_id = new_id
        had_focus = self.grid is not None and self.grid.isAncestorOf(self.focusWidget())
        if self.grid is not None:
            self._layout.removeWidget(self.grid)
            self.grid.hide()
            self.grid.deleteLater()
            self.grid = None
        self.empty.setVisible(item is None)
        if item is None:
            return
        self.grid = GridView(self.session, ItemMovements(self.movements, item.id), parent=self)
        self.grid.view.setAccessibleName(f"Stock history of {item.sku}")
        self._layout.insertWidget(2, self.grid, 1)
        if had_focus:
            self.grid.view.setFocus()

    def refresh(self) -> None:
        if self.grid is not None:
            self.grid.refresh()

    def focus_rows(self) -> None:
        if self.grid is not None:
            self.grid.view.setFocus(Qt.FocusReason.ShortcutFocusReason)
            if not self.grid.view.currentIndex().isValid() and self.grid.model.rowCount():
                self.grid.view.selectRow(0)
