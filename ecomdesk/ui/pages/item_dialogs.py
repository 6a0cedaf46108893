"""The dialogs of the inventory page that edit an item: create or edit one, and the comparison shown
when someone else saved the same item first.

The item form checks each field as soon as the person leaves it — the service's own rules, and
whether the SKU is taken, asked in the background — and everything again on save. A failed save
keeps the dialog open with every input as typed and the messages next to their fields. Stock levels
are set once, when an item is created (as its opening stock movement); after that they change only
through Adjust stock, so every unit has a reason and a name.

No edit silently overwrites another: a save based on an older version of the item opens the
`ConflictDialog`, which shows each field as it was when the form opened, as they saved it, and as
typed here, and lets the person keep theirs or apply their own over it. And an edit need not wait
for the save to learn of it: while the form is open, a change to the item by someone else shows as
a notice at once (`ui.row_watch`), and the form takes their values if nothing was typed yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from PySide6.QtCore import QEvent, QLocale, Qt, QTimer, Signal
from PySide6.QtGui import QBrush
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QLineEdit,
    QSizePolicy,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ecomdesk.services.errors import ValidationError
from ecomdesk.services.inventory import (
    MAX_UNITS,
    SKU_TAKEN,
    TEXT_LIMITS,
    BadValue,
    InventoryRow,
    ItemConflict,
    ItemFields,
    levels_problems,
    normalise_sku,
    parse_money,
    parse_units,
    validate_item,
)
from ecomdesk.services.tables import Kind
from ecomdesk.ui.errors import describe, not_saved
from ecomdesk.ui.forms import Field, FormGrid, clear_errors, dialog_footer, grow_to_fit, show_errors
from ecomdesk.ui.grid.format import display_text
from ecomdesk.ui.pages.stock_dialogs import levels_text
from ecomdesk.ui.row_watch import RowWatch
from ecomdesk.ui.session import AppSession
from ecomdesk.ui.theme import Kind as Tone
from ecomdesk.ui.theme import is_theme_change, tint
from ecomdesk.ui.widgets import hint

#: The fields an edit can change, in the form's order, with their labels.
ITEM_FIELDS: Final = (
    ("sku", "SKU"),
    ("name", "Name"),
    ("category", "Category"),
    ("supplier", "Supplier"),
    ("price", "Price"),
    ("cost", "Cost"),
    ("reorder_level", "Reorder level"),
)
STOCK_BY_ADJUSTMENT: Final = (
    "Stock changes go through Adjust stock (Ctrl+J), so every change has a reason and a name."
)
_ZERO: Final = Decimal("0.00")
CHANGED_UNDERNEATH: Final = (
    "Someone else changed this item since you opened it. Your edits are kept; saving will show both versions."
)
TAKEN_THEIRS: Final = (
    "Someone else changed this item since you opened it: the form now shows their saved values."
)
DELETED_UNDERNEATH: Final = "Someone else deleted this item since you opened it; saving is not possible."


def decimal_comma(locale: QLocale | None = None) -> bool:
    """Whether amounts are typed with a decimal comma here (12,50): then both 12,50 and 12.50 read."""
    return (locale or QLocale()).decimalPoint() == ","


def money_text(amount: Decimal, locale: QLocale | None = None) -> str:
    """An amount as the form shows it for editing: no grouping, the locale's decimal mark."""
    text = f"{amount:.2f}"
    return text.replace(".", ",") if decimal_comma(locale) else text


def field_text(key: str, value: Any, locale: QLocale) -> str:
    """One item field's value in words, as the conflict comparison shows it."""
    if key in ("price", "cost"):
        return display_text(value, Kind.MONEY, locale)
    if key == "reorder_level":
        return "Shop default" if value is None else display_text(value, Kind.INTEGER, locale)
    return str(value)


def fields_of(row: InventoryRow) -> ItemFields:
    return ItemFields(row.sku, row.name, row.category, row.supplier, row.price, row.cost, row.reorder_level)


@dataclass(frozen=True)
class _Loaded:
    categories: list[str]
    suppliers: list[str]
    #: The item as saved now (editing only).
    item: InventoryRow | None
    #: The shop's default low-stock threshold, when the window did not know it yet.
    threshold: int | None


class ItemDialog(QDialog):
    """Create an item (`record` None) or edit one. `saved` carries the `InventoryRow` as saved."""

    saved = Signal(object)

    def __init__(
        self, session: AppSession, record: InventoryRow | None = None, parent: QWidget | None = None
    ):
        super().__init__(parent)
        self.session = session
        #: The item as the form was filled from it: a save is based on its version.
        self.record = record
        #: The comparison open now, if a save met someone else's change.
        self.conflict_dialog: ConflictDialog | None = None
        #: The choices and (editing) the saved item have been read.
        self.loaded = False
        self._creating = record is None
        self._touched: set[str] = set()  # fields left once: their messages show as they change
        self._taken_sku: str | None = None  # a SKU the database said is taken
        self._typed = False  # the person changed something since the form was filled
        #: The newest version of the item this form knows of (changes beyond it are news).
        self._known_version = record.version if record is not None else None
        #: The item was deleted while the form was open: nothing can be saved.
        self.gone = False
        self._deletion_compared = False  # a save met the deletion: its comparison said so
        self._locale = QLocale()
        self._comma = decimal_comma(self._locale)
        self.setWindowTitle(f"Edit {record.sku}" if record else "New item")
        self.setObjectName("itemDialog")

        self.sku = QLineEdit(self)
        self.sku.setMaxLength(64)
        self.sku.setPlaceholderText("e.g. ELEC-000123")
        self.name = QLineEdit(self)
        self.name.setMaxLength(TEXT_LIMITS["name"])
        self.category = self._combo("Category")
        self.supplier = self._combo("Supplier")
        example = money_text(Decimal("12.50"), self._locale)
        self.price = QLineEdit(self)
        self.price.setPlaceholderText(f"e.g. {example}")
        self.cost = QLineEdit(self)
        self.cost.setPlaceholderText(f"e.g. {money_text(Decimal('7.80'), self._locale)}")
        for edit in (self.price, self.cost):
            edit.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.margin = hint("", self)
        self.margin.setWordWrap(False)
        self.margin.setAccessibleName("Margin")
        self.reorder_level = QLineEdit(self)
        self.reorder_level.setAlignment(Qt.AlignmentFlag.AlignRight)
        for editor, name in (
            (self.sku, "SKU"),
            (self.name, "Name"),
            (self.price, "Price"),
            (self.cost, "Cost"),
            (self.reorder_level, "Reorder level"),
        ):
            editor.setAccessibleName(name)

        self.fields: dict[str, Field] = {
            "sku": Field(self.sku, self),
            "name": Field(self.name, self),
            "category": Field(self.category, self),
            "supplier": Field(self.supplier, self),
            "price": Field(self.price, self),
            "cost": Field(self.cost, self),
            "reorder_level": Field(self.reorder_level, self),
        }
        form = FormGrid()
        currency = f" ({session.shop.currency})" if session.shop is not None else ""
        for key, label in (
            ("sku", "&SKU"),
            ("name", "&Name"),
            ("category", "C&ategory"),
            ("supplier", "S&upplier"),
            ("price", f"&Price{currency}"),
            ("cost", f"C&ost{currency}"),
        ):
            self._row(form, label, key)
        form.add_row("Margin", self.margin)
        self._row(form, "&Reorder level", "reorder_level")
        self.threshold_hint = hint("", self)
        form.add_row("", self.threshold_hint)

        self.stock: QSpinBox | None = None
        self.reserved: QSpinBox | None = None
        self.reason: QLineEdit | None = None
        self.levels: QLabel | None = None
        if record is None:
            self.stock = self._units("Opening stock")
            self.reserved = self._units("Reserved")
            self.reason = QLineEdit(self)
            self.reason.setPlaceholderText("Opening stock")
            self.reason.setAccessibleName("Reason for the opening stock")
            self.fields |= {
                "stock": Field(self.stock, self),
                "reserved": Field(self.reserved, self),
                "reason": Field(self.reason, self),
            }
            self._row(form, "Opening s&tock", "stock")
            self._row(form, "Reser&ved", "reserved")
            self._row(form, "R&eason", "reason")
            form.add_row(
                "", hint("Recorded as the item's first stock movement. " + STOCK_BY_ADJUSTMENT, self)
            )
        else:
            self.levels = QLabel(levels_text(record.stock, record.reserved), self)
            self.levels.setAccessibleName("Stock levels")
            self.levels.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            form.add_row("Stock", self.levels)
            form.add_row("", hint(STOCK_BY_ADJUSTMENT, self))

        footer = dialog_footer(self, self.save, save_text="Create item" if record is None else "Save")
        self.status, self.busy, self.buttons, self.save_button = (
            footer.status,
            footer.busy,
            footer.buttons,
            footer.save_button,
        )
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        footer.add_to(layout)
        self.setMinimumWidth(self.fontMetrics().horizontalAdvance("M") * 44)
        #: Grows the dialog when messages next to the fields wrap onto more lines.
        self._fit_timer = QTimer(self)
        self._fit_timer.setSingleShot(True)
        self._fit_timer.setInterval(0)
        self._fit_timer.timeout.connect(lambda: grow_to_fit(self))

        for key, edit in (
            ("sku", self.sku),
            ("name", self.name),
            ("category", self._line(self.category)),
            ("supplier", self._line(self.supplier)),
            ("price", self.price),
            ("cost", self.cost),
            ("reorder_level", self.reorder_level),
            *((("reason", self.reason),) if self.reason is not None else ()),
        ):
            edit.editingFinished.connect(lambda k=key: self._left(k))
            edit.textEdited.connect(self._note_typing)
        for combo in (self.category, self.supplier):
            combo.activated.connect(self._note_typing)  # a name picked from the list
        for edit in (self.price, self.cost):
            edit.textChanged.connect(self._show_margin)
        for key, spin in (("stock", self.stock), ("reserved", self.reserved)):
            if spin is not None:
                spin.valueChanged.connect(lambda _value, k=key: self._left(k))
        #: Someone else's change to the item, noticed while the form is open (editing only).
        self.watch: RowWatch[InventoryRow] | None = None
        if record is not None:
            self._fill(record)
            inventory, item_id = session.services.inventory, record.id
            self.watch = RowWatch(
                session,
                ("inventory_items",),
                str(item_id),
                lambda: inventory.get_item(session.actor, item_id),
                self._reread,
                self,
            )
            self.finished.connect(self.watch.stop)
        self._show_threshold(session.shop.low_stock_threshold if session.shop is not None else None)
        self._show_margin()
        self._load()

    # -- building ------------------------------------------------------------------------------------

    def _combo(self, name: str) -> QComboBox:
        """An editable list of the names in use: pick one, or type a new one."""
        combo = QComboBox(self)
        combo.setEditable(True)
        combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        combo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        combo.setAccessibleName(name)
        self._line(combo).setMaxLength(TEXT_LIMITS[name.lower()])
        return combo

    def _units(self, name: str) -> QSpinBox:
        spin = QSpinBox(self)
        spin.setRange(0, MAX_UNITS)
        spin.setAlignment(Qt.AlignmentFlag.AlignRight)
        spin.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        spin.setAccessibleName(name)
        return spin

    def _row(self, form: FormGrid, label: str, key: str) -> None:
        """A row whose label's mnemonic (Alt+letter) puts the cursor in its input."""
        field = self.fields[key]
        field.setFocusProxy(field.editor)
        form.add_row(label, field, buddy=field.editor)

    @staticmethod
    def _line(combo: QComboBox) -> QLineEdit:
        edit = combo.lineEdit()
        assert edit is not None
        return edit

    # -- loading -------------------------------------------------------------------------------------

    def _load(self) -> None:
        """The names in use (to choose from), the item as saved now, and the shop's low-stock
        threshold if the window has not read it yet — off the GUI thread."""
        services, actor = self.session.services, self.session.actor
        item_id = self.record.id if self.record is not None else None
        want_threshold = self.session.shop is None

        def load(_control: object) -> _Loaded:
            table = services.inventory.table
            categories = [str(c.value) for c in table.choices(actor, "category")]
            suppliers = [str(c.value) for c in table.choices(actor, "supplier")]
            item = services.inventory.get_item(actor, item_id) if item_id is not None else None
            shop = services.settings.get_system_settings(actor) if want_threshold else None
            threshold = shop.low_stock_threshold if shop is not None else None
            return _Loaded(categories, suppliers, item, threshold)

        self._set_busy(True)
        self.session.runner.submit(
            load,
            on_done=self._loaded,
            on_error=self._load_failed,
            key=f"inventory.item.load.{id(self)}",
            owner=self,
            description="load the categories and suppliers",
        )

    def _loaded(self, loaded: _Loaded) -> None:
        self.loaded = True
        self._set_busy(False)
        for combo, names in ((self.category, loaded.categories), (self.supplier, loaded.suppliers)):
            typed = combo.currentText()
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(names)
            combo.setCurrentIndex(-1)
            combo.setEditText(typed)
            combo.blockSignals(False)
        if loaded.threshold is not None:
            self._show_threshold(loaded.threshold)
        if loaded.item is not None:
            self._reread(loaded.item, opening=True)  # the list may have been behind

    def _reread(self, fresh: InventoryRow | None, *, opening: bool = False) -> None:
        """The item as saved now (None: deleted). Untouched, the form starts from it; once
        something is typed, the person's input stays as it is and a notice says that a save will
        compare both versions (the conflict path)."""
        if fresh is None:
            if not (self.gone or self._deletion_compared):
                self.gone = True
                self.save_button.setEnabled(False)
                self.status.say(DELETED_UNDERNEATH, "error")
                self._fit_timer.start()  # room for the sentence: nothing else may shrink
            return
        if self.levels is not None:  # not an input: levels move by adjustment only
            self.levels.setText(levels_text(fresh.stock, fresh.reserved))
        if fresh.version == self._known_version:
            return  # e.g. stock moved: no conflict for a save
        self._known_version = fresh.version
        if not self._typed:
            # (When opening, the list was merely behind: no news to tell.)
            self.record = fresh
            self._fill(fresh)
            if not opening:
                self.status.say(TAKEN_THEIRS)
        else:
            self.status.say(CHANGED_UNDERNEATH)
        self._fit_timer.start()  # room for the sentence: nothing else may shrink

    def _load_failed(self, error: BaseException) -> None:
        self.loaded = True
        self._set_busy(False)
        self.status.say(describe(error).text, "error")

    def _show_threshold(self, threshold: int | None) -> None:
        default = "Shop default" if threshold is None else f"Shop default ({threshold:,})"
        self.reorder_level.setPlaceholderText(default)
        self.threshold_hint.setText(
            f"Low stock when available is at or below this; empty: {default.lower()}."
        )

    # -- values --------------------------------------------------------------------------------------

    def _fill(self, record: InventoryRow) -> None:
        self.sku.setText(record.sku)
        self.name.setText(record.name)
        self.category.setEditText(record.category)
        self.supplier.setEditText(record.supplier)
        self.price.setText(money_text(record.price, self._locale))
        self.cost.setText(money_text(record.cost, self._locale))
        self.reorder_level.setText("" if record.reorder_level is None else str(record.reorder_level))
        if self.levels is not None:
            self.levels.setText(levels_text(record.stock, record.reserved))
        self._typed = False
        self._taken_sku = None

    def read(self) -> tuple[ItemFields, dict[str, str]]:
        """The fields as typed (normalised as the service will) and every problem the form can
        see without the database, by field; amounts that cannot be read count as 0 in the fields."""
        problems: dict[str, str] = {}
        amounts: dict[str, Decimal] = {}
        for key, edit in (("price", self.price), ("cost", self.cost)):
            try:
                amounts[key] = parse_money(edit.text(), decimal_comma=self._comma)
            except BadValue as exc:
                problems[key] = str(exc)
        try:
            reorder = parse_units(self.reorder_level.text(), required=False)
        except BadValue as exc:
            problems["reorder_level"] = str(exc)
            reorder = None
        fields = ItemFields(
            self.sku.text(),
            self.name.text(),
            self.category.currentText(),
            self.supplier.currentText(),
            amounts.get("price", _ZERO),
            amounts.get("cost", _ZERO),
            reorder,
        ).normalised()
        rules = validate_item(fields)
        if len(amounts) < 2:  # cost against price means nothing while one of them is unreadable
            rules.pop("price", None)
            rules.pop("cost", None)
        if "sku" not in rules and fields.sku == self._taken_sku:
            rules["sku"] = SKU_TAKEN
        problems = rules | problems
        if self.stock is not None and self.reserved is not None:
            problems |= levels_problems(self.stock.value(), self.reserved.value())
        return fields, {key: problems[key] for key in self.fields if key in problems}

    def _note_typing(self) -> None:
        self._typed = True

    def _left(self, key: str) -> None:
        """The service's rules for the fields left so far, as soon as one is left."""
        widget = self.fields[key].editor
        if isinstance(widget, QLineEdit) and not widget.isModified() and key not in self._touched:
            return
        if isinstance(widget, QComboBox) and not self._line(widget).isModified() and key not in self._touched:
            return
        self._touched.add(key)
        if key == "reserved":
            self._touched.add("stock")
        fields, problems = self.read()
        for name in self._touched:
            self.fields[name].set_error(problems.get(name))
        self._fit_timer.start()
        if key == "sku" and "sku" not in problems:
            self._ask_sku_taken(fields.sku)

    def _ask_sku_taken(self, sku: str) -> None:
        if self.record is not None and sku == self.record.sku:
            return
        services, actor = self.session.services, self.session.actor
        except_id = self.record.id if self.record is not None else None

        def answered(taken: bool) -> None:
            if normalise_sku(self.sku.text()) != sku:
                return  # changed meanwhile: the next leave asks again
            if taken:
                self._taken_sku = sku
                self.fields["sku"].set_error(SKU_TAKEN)
                self._fit_timer.start()

        self.session.runner.submit(
            lambda _control: services.inventory.sku_taken(actor, sku, except_id=except_id),
            on_done=answered,
            on_error=lambda _error: None,  # the save checks again, and says why it cannot
            key=f"inventory.sku.{id(self)}",
            owner=self,
            description=f"check whether {sku} is taken",
        )

    def _show_margin(self) -> None:
        try:
            price = parse_money(self.price.text(), decimal_comma=self._comma)
            cost = parse_money(self.cost.text(), decimal_comma=self._comma)
        except BadValue:
            self.margin.setText("Shown once price and cost are filled in.")
            return
        if price == 0:
            self.margin.setText("None: the price is 0.")
            return
        margin = round((price - cost) * 100 / price, 1)
        per_unit = display_text(price - cost, Kind.MONEY, self._locale)
        self.margin.setText(f"{display_text(margin, Kind.PERCENT, self._locale)} · {per_unit} per unit sold")

    # -- saving --------------------------------------------------------------------------------------

    def save(self) -> None:
        fields, problems = self.read()
        self._touched |= set(self.fields)
        if problems:
            show_errors(self.fields, ValidationError(problems))
            self.status.say("Nothing was saved: please check the marked fields.", "error")
            self._fit_timer.start()
            return
        clear_errors(self.fields)
        services, actor, record = self.session.services, self.session.actor, self.record
        self.status.say("Saving…")
        self._set_busy(True)
        self._pause_watch(True)
        if record is None or self._creating:
            stock = self.stock.value() if self.stock is not None else 0
            reserved = self.reserved.value() if self.reserved is not None else 0
            reason = self.reason.text() if self.reason is not None else ""
            self.session.runner.submit(
                lambda _control: services.inventory.create_item(
                    actor, fields, stock=stock, reserved=reserved, reason=reason
                ),
                on_done=self._saved,
                on_error=self._save_failed,
                owner=self,
                description=f"create {fields.sku}",
            )
        else:
            self._update(fields, record)

    def _update(self, fields: ItemFields, based_on: InventoryRow) -> None:
        services, actor = self.session.services, self.session.actor
        self.session.runner.submit(
            lambda _control: services.inventory.update_item(
                actor, based_on.id, fields, expected_version=based_on.version
            ),
            on_done=self._saved,
            on_error=self._save_failed,
            owner=self,
            description=f"save {fields.sku}",
        )

    def _saved(self, row: InventoryRow) -> None:
        self._set_busy(False)
        self.record = row
        self.saved.emit(row)
        self.accept()

    def _save_failed(self, error: BaseException) -> None:
        """Nothing typed is lost: messages next to their fields, someone else's change compared."""
        self._set_busy(False)
        self._pause_watch(False)
        if isinstance(error, ItemConflict):
            self.show_conflict(error)
            return
        if isinstance(error, ValidationError):
            if error.fields.get("sku") == SKU_TAKEN:
                self._taken_sku = normalise_sku(self.sku.text())
            rest = show_errors(self.fields, error)
            self.status.say(" ".join(["Nothing was saved: please check the marked fields.", *rest]), "error")
            return
        self.status.say(not_saved(error), "error")

    # -- someone else's change -----------------------------------------------------------------------

    def show_conflict(self, conflict: ItemConflict) -> ConflictDialog:
        """Compare the item as opened, as saved by them, and as typed here; the person decides."""
        opened = self.record
        assert opened is not None
        if self.conflict_dialog is not None:
            self.conflict_dialog.deleteLater()
        dialog = ConflictDialog(conflict, opened, self)
        self.conflict_dialog = dialog
        dialog.reload_chosen.connect(lambda: self._take_theirs(conflict))
        dialog.apply_chosen.connect(lambda: self._apply_mine(conflict))
        dialog.recreate_chosen.connect(lambda: self._recreate(conflict))
        dialog.discard_chosen.connect(self.reject)
        # The comparison tells of their change (and, for a delete, offers to create the item
        # again through Save): the watch need not tell it again.
        if conflict.theirs is None:
            self._deletion_compared = True
        else:
            self._known_version = max(conflict.theirs.version, self._known_version or 0)
        if conflict.theirs is None:
            self.status.say(f"Nothing was saved: {opened.sku} was deleted by someone else.", "error")
        else:
            self.status.say(
                "Nothing was saved: someone else changed this item after you opened it. "
                "Save again to compare, or close to drop your changes.",
                "error",
            )
        dialog.open()
        return dialog

    def _take_theirs(self, conflict: ItemConflict) -> None:
        assert conflict.theirs is not None
        self.record = conflict.theirs
        self._fill(conflict.theirs)
        self._touched.clear()
        clear_errors(self.fields)
        self.status.say("Showing their saved values: your changes were dropped. Edit on, or close.")

    def _apply_mine(self, conflict: ItemConflict) -> None:
        """Your values over theirs — based on their version, so a third person's save in between is
        another conflict, not lost."""
        assert conflict.theirs is not None
        self.record = conflict.theirs
        self.status.say("Saving your values over theirs…")
        self._set_busy(True)
        self._pause_watch(True)
        self._update(conflict.yours, conflict.theirs)

    def _recreate(self, conflict: ItemConflict) -> None:
        """The item was deleted: create it again with the values typed here (and no stock: that is
        received again by adjustment)."""
        self._creating = True
        if self.watch is not None:
            self.watch.stop()  # what is saved now is a new item
        services, actor, fields = self.session.services, self.session.actor, conflict.yours
        self.setWindowTitle(f"Create {fields.sku} again")
        self.save_button.setText("Create item")
        self.status.say("Creating the item again…")
        self._set_busy(True)
        self.session.runner.submit(
            lambda _control: services.inventory.create_item(actor, fields),
            on_done=self._saved,
            on_error=self._save_failed,
            owner=self,
            description=f"create {fields.sku} again",
        )

    def _set_busy(self, busy: bool) -> None:
        self.busy.setVisible(busy)
        self.save_button.setEnabled(not busy and self.loaded and not self.gone)
        self._fit_timer.start()  # after a refusal: its sentence and the field messages

    def _pause_watch(self, saving: bool) -> None:
        """The form's own save is no news: the watch rests while it is in flight."""
        if self.watch is not None:
            self.watch.paused = saving


class ConflictDialog(QDialog):
    """Someone else saved the item after the form opened: each field when opened, theirs now and
    yours, the changed ones highlighted. One of the choice signals fires, then the dialog closes
    (Cancel: none — back to the form with every edit)."""

    #: Drop my changes; fill the form with their values.
    reload_chosen = Signal()
    #: Save my values over theirs.
    apply_chosen = Signal()
    #: (Deleted meanwhile) create the item again with my values.
    recreate_chosen = Signal()
    #: (Deleted meanwhile) close the editor, dropping my changes.
    discard_chosen = Signal()

    def __init__(self, conflict: ItemConflict, opened: InventoryRow, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.conflict = conflict
        self.opened = opened
        self.setObjectName("conflictDialog")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        locale = QLocale()
        theirs = conflict.theirs
        opened_fields, yours = fields_of(opened), conflict.yours
        their_fields = fields_of(theirs) if theirs is not None else None

        if theirs is None:
            self.setWindowTitle(f"{opened.sku} was deleted")
            intro = (
                f"{opened.sku} — {opened.name} was deleted by someone else after you opened it. "
                "Nothing of yours is saved yet: create it again with your values (without stock: "
                "receive it again with Adjust stock), or close the editor."
            )
            headers = ["Field", "When you opened it", "Yours"]
        else:
            self.setWindowTitle(f"{theirs.sku} was changed meanwhile")
            when = display_text(theirs.last_updated, Kind.DATETIME, locale)
            intro = (
                f"Someone else saved {theirs.sku} at {when}, after you opened it. Nothing of yours is "
                "saved yet. Compare, then keep their values or apply yours over them."
            )
            headers = ["Field", "When you opened it", "Their value now", "Your value"]
        self.intro = QLabel(intro, self)
        self.intro.setWordWrap(True)

        #: Per field: (opened, theirs or None, yours) as raw values.
        self.values: dict[str, tuple[Any, Any, Any]] = {
            key: (
                getattr(opened_fields, key),
                getattr(their_fields, key) if their_fields is not None else None,
                getattr(yours, key),
            )
            for key, _label in ITEM_FIELDS
        }
        self.table = QTableWidget(len(ITEM_FIELDS), len(headers), self)
        self.table.setObjectName("conflictTable")
        self.table.setAccessibleName("Their values and yours")
        self.table.setHorizontalHeaderLabels(headers)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setTabKeyNavigation(False)
        for row, (key, label) in enumerate(ITEM_FIELDS):
            before, their, mine = self.values[key]
            cells = [label, field_text(key, before, locale)]
            if theirs is not None:
                cells.append(field_text(key, their, locale))
            cells.append(field_text(key, mine, locale))
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if key in ("price", "cost", "reorder_level") and column > 0:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, column, item)
        self._paint()  # before measuring: the marked cells are bold
        self.table.setShowGrid(False)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # read-only; the summary says it in words
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        em = self.fontMetrics().horizontalAdvance("M")
        widest = em * 22  # longer values wrap: the part that changed is never cut off
        for column in range(len(headers)):
            wanted = max(header.sectionSizeHint(column), self.table.sizeHintForColumn(column) + em)
            self.table.setColumnWidth(column, min(wanted, widest))
        self.table.resizeRowsToContents()
        for row in range(self.table.rowCount()):  # room to breathe between the rows
            self.table.setRowHeight(row, self.table.rowHeight(row) + em // 2)
        frame = 2 * self.table.frameWidth()
        rows_height = sum(self.table.rowHeight(r) for r in range(self.table.rowCount()))
        self.table.setFixedHeight(rows_height + header.sizeHint().height() + frame)
        self.table.setMinimumWidth(header.length() + frame)
        self.summary = hint(self._summary(), self)

        self.buttons = QDialogButtonBox(self)
        if theirs is None:
            self.recreate_button = self.buttons.addButton(
                "&Create it again", QDialogButtonBox.ButtonRole.AcceptRole
            )
            self.discard_button = self.buttons.addButton(
                "Close the &editor", QDialogButtonBox.ButtonRole.DestructiveRole
            )
            self.recreate_button.clicked.connect(lambda: self._choose(self.recreate_chosen))
            self.discard_button.clicked.connect(lambda: self._choose(self.discard_chosen))
        else:
            self.reload_button = self.buttons.addButton(
                "&Reload theirs", QDialogButtonBox.ButtonRole.ResetRole
            )
            self.reload_button.setToolTip("Drop your changes and edit from their saved values.")
            self.apply_button = self.buttons.addButton("&Apply mine", QDialogButtonBox.ButtonRole.AcceptRole)
            self.apply_button.setToolTip("Save your values over theirs: the fields they changed get yours.")
            self.reload_button.clicked.connect(lambda: self._choose(self.reload_chosen))
            self.apply_button.clicked.connect(lambda: self._choose(self.apply_chosen))
        cancel = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        cancel.setToolTip("Back to the form with your changes; nothing is saved.")
        cancel.setDefault(True)  # Enter decides nothing by accident
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(self.intro)
        layout.addWidget(self.table)
        layout.addWidget(self.summary)
        layout.addStretch(1)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(max(em * 44, self.table.minimumWidth() + em * 2))

    def _choose(self, choice: Any) -> None:
        self.accept()
        choice.emit()

    def changes(self) -> tuple[list[str], list[str]]:
        """The fields they changed and the fields you changed (labels, in the form's order)."""
        labels = dict(ITEM_FIELDS)
        theirs = [labels[k] for k, (b, t, _m) in self.values.items() if self.conflict.theirs and t != b]
        yours = [labels[k] for k, (b, _t, m) in self.values.items() if m != b]
        return theirs, yours

    def _summary(self) -> str:
        theirs, yours = self.changes()

        def words(items: list[str]) -> str:
            return ", ".join(item.lower() if item != "SKU" else item for item in items) or "nothing"

        parts = [] if self.conflict.theirs is None else [f"They changed: {words(theirs)}."]
        parts.append(f"You changed: {words(yours)}.")
        if self.conflict.theirs is not None:
            parts.append("Marked: amber, changed by them; blue, by you; red, by both of you, differently.")
        return " ".join(parts)

    def _paint(self) -> None:
        """Changed cells in the theme's message hues: theirs amber, yours blue, a clash red."""
        palette = self.palette()
        deleted = self.conflict.theirs is None
        mine_column = 2 if deleted else 3
        for row, (key, _label) in enumerate(ITEM_FIELDS):
            before, their, mine = self.values[key]
            they_changed = not deleted and their != before
            you_changed = mine != before
            clash = they_changed and you_changed and their != mine
            mine_tone: Tone | None = "error" if clash else "info" if you_changed else None
            marks: list[tuple[int, Tone | None, str]] = [(mine_column, mine_tone, "Changed by you")]
            if not deleted:
                their_tone: Tone | None = "error" if clash else "warning" if they_changed else None
                marks.append((2, their_tone, "Changed by them"))
            for column, kind, tip in marks:
                item = self.table.item(row, column)
                assert item is not None
                font = item.font()
                font.setBold(kind is not None)
                item.setFont(font)
                if kind is None:
                    item.setBackground(QBrush())
                    item.setToolTip("")
                else:
                    item.setBackground(QBrush(tint(palette, kind)[0]))
                    item.setToolTip("Changed by both of you, differently" if clash else tip)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if is_theme_change(event) and hasattr(self, "table"):
            self._paint()
