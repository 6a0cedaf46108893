"""The roles page's matrix: a table model of permissions (rows) by roles (columns) that holds the
roles as loaded and the ticks not saved yet, and the delegate that draws and toggles its centred
check boxes — locked ones greyed, pending ones tinted — in either theme."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from typing import Any, Final

from PySide6.QtCore import (
    QAbstractItemModel,
    QAbstractTableModel,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    QRect,
    Qt,
    Signal,
)
from PySide6.QtGui import (
    QBrush,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPalette,
    QPolygon,
)
from PySide6.QtWidgets import (
    QApplication,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
)

from ecomdesk.services.context import Actor
from ecomdesk.services.roles import PermissionInfo, RoleInfo
from ecomdesk.ui.permissions import READ_ONLY, why_not
from ecomdesk.ui.theme import blend, tint

ModelIndex = QModelIndex | QPersistentModelIndex

#: True on a role cell whose tick differs from what is saved.
PendingRole: Final = Qt.ItemDataRole.UserRole + 1
#: True on cells shown as secondary text (the permission's code).
SecondaryRole: Final = Qt.ItemDataRole.UserRole + 2

DESCRIPTION_COLUMN: Final = 0
CODE_COLUMN: Final = 1
FIRST_ROLE_COLUMN: Final = 2

ADMIN_LOCKED: Final = "The built-in admin role always holds every permission and cannot be changed."
NOT_YOURS: Final = "Only someone who holds a right can give it or take it away."
#: Marks the heading of a role with unsaved ticks.
UNSAVED_MARK: Final = " *"


def users_text(count: int) -> str:
    return "no users" if count == 0 else "1 user" if count == 1 else f"{count} users"


def _is_checked(value: object) -> bool:
    """A check state as Qt hands it over: the enum, or its number through a QVariant."""
    if isinstance(value, Qt.CheckState):
        return value == Qt.CheckState.Checked
    return value == Qt.CheckState.Checked.value


def _sort_key(role: RoleInfo) -> tuple[bool, str]:
    """The order `RoleService.list_roles` uses: built-in roles first, then by name."""
    return (not role.is_builtin, role.name.lower())


class PermissionMatrixModel(QAbstractTableModel):
    """Rows: permissions. Columns: the description, the code, then one per role.

    Holds the roles as loaded (each edit's `expected` state for the service) and the pending ticks
    over them; `data()` reads only these.
    """

    #: The set of pending edits changed (ticked, saved, reverted).
    pending_changed = Signal()

    def __init__(self, actor: Actor, *, read_only: bool, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._actor = actor
        self._read_only = read_only
        self._permissions: list[PermissionInfo] = []
        self._roles: list[RoleInfo] = []
        #: role id → the permissions it would hold once saved; only roles that differ from the loaded.
        self._pending: dict[int, frozenset[str]] = {}

    # -- reading ---------------------------------------------------------------------------

    @property
    def permissions(self) -> list[PermissionInfo]:
        return list(self._permissions)

    @property
    def roles(self) -> list[RoleInfo]:
        return list(self._roles)

    @property
    def dirty(self) -> bool:
        return bool(self._pending)

    def pending_roles(self) -> list[tuple[RoleInfo, frozenset[str]]]:
        """(role as loaded, permissions wanted) of every role with unsaved ticks, in column order."""
        return [(role, self._pending[role.id]) for role in self._roles if role.id in self._pending]

    def wanted(self, role_id: int) -> frozenset[str]:
        """The permissions the role holds once saved: pending ticks over the loaded ones."""
        role = self.role(role_id)
        saved = role.permissions if role is not None else frozenset()
        return self._pending.get(role_id, saved)

    def role(self, role_id: int | None) -> RoleInfo | None:
        return next((role for role in self._roles if role.id == role_id), None)

    def role_at(self, column: int) -> RoleInfo | None:
        position = column - FIRST_ROLE_COLUMN
        return self._roles[position] if 0 <= position < len(self._roles) else None

    def column_of(self, role_id: int) -> int | None:
        for position, role in enumerate(self._roles):
            if role.id == role_id:
                return FIRST_ROLE_COLUMN + position
        return None

    def row_of(self, code: str) -> int | None:
        return next((row for row, p in enumerate(self._permissions) if p.code == code), None)

    def index_of(self, code: str, role_id: int) -> QModelIndex:
        row, column = self.row_of(code), self.column_of(role_id)
        return QModelIndex() if row is None or column is None else self.index(row, column)

    def description(self, code: str) -> str:
        return next((p.description for p in self._permissions if p.code == code), code)

    def locked_reason(self, role: RoleInfo, code: str) -> str | None:
        """Why this cell cannot be ticked or unticked here; None when it can."""
        if role.locked:
            return ADMIN_LOCKED
        if self._read_only:
            return READ_ONLY
        reason = why_not(self._actor, "roles.manage")
        if reason is not None:
            return reason
        reason = why_not(self._actor, code)
        return f"{NOT_YOURS} {reason}" if reason is not None else None

    # -- changing ------------------------------------------------------------------------------

    def show(self, permissions: Sequence[PermissionInfo], roles: Sequence[RoleInfo]) -> None:
        """Show freshly loaded data. In place when the rows and columns are the same ones (the
        current cell and scroll position stay put on every automatic refresh); roles with pending
        ticks keep the state those ticks were made against."""
        kept = [self._kept(role) for role in roles]
        if [p.code for p in permissions] == [p.code for p in self._permissions] and [r.id for r in kept] == [
            r.id for r in self._roles
        ]:
            if (list(permissions), kept) != (self._permissions, self._roles):
                self._permissions, self._roles = list(permissions), kept
                self._all_changed()
            return
        self.beginResetModel()
        self._permissions, self._roles = list(permissions), kept
        dropped = set(self._pending) - {role.id for role in kept}
        for role_id in dropped:
            del self._pending[role_id]
        self.endResetModel()
        if dropped:
            self.pending_changed.emit()

    def _kept(self, role: RoleInfo) -> RoleInfo:
        loaded = self.role(role.id) if role.id in self._pending else None
        return loaded or role

    def set_granted(self, role_id: int, code: str, granted: bool) -> bool:
        """Tick or untick one cell (pending until saved); False when the cell cannot change."""
        role, row, column = self.role(role_id), self.row_of(code), self.column_of(role_id)
        if role is None or row is None or column is None or self.locked_reason(role, code) is not None:
            return False
        before = self.wanted(role_id)
        wanted = before | {code} if granted else before - {code}
        if wanted == before:
            return True
        was_dirty = role_id in self._pending
        if wanted == role.permissions:
            del self._pending[role_id]
        else:
            self._pending[role_id] = wanted
        cell = self.index(row, column)
        self.dataChanged.emit(cell, cell)
        if was_dirty != (role_id in self._pending):
            self.headerDataChanged.emit(Qt.Orientation.Horizontal, column, column)
        self.pending_changed.emit()
        return True

    def replace_role(self, role: RoleInfo) -> None:
        """A role as the service saved it: its ticks still pending stay so, the rest are saved."""
        column = self.column_of(role.id)
        if column is None:
            return
        self._roles[column - FIRST_ROLE_COLUMN] = role
        if self._pending.get(role.id) == role.permissions:
            del self._pending[role.id]
        self._column_changed(column)
        self.pending_changed.emit()

    def insert_role(self, role: RoleInfo) -> None:
        """A new role, in the place the next load will give it."""
        position = bisect_left([_sort_key(r) for r in self._roles], _sort_key(role))
        column = FIRST_ROLE_COLUMN + position
        self.beginInsertColumns(QModelIndex(), column, column)
        self._roles.insert(position, role)
        self.endInsertColumns()

    def remove_role(self, role_id: int) -> None:
        column = self.column_of(role_id)
        if column is None:
            return
        self.beginRemoveColumns(QModelIndex(), column, column)
        del self._roles[column - FIRST_ROLE_COLUMN]
        had_pending = self._pending.pop(role_id, None) is not None
        self.endRemoveColumns()
        if had_pending:
            self.pending_changed.emit()

    def revert(self) -> None:
        """Drop every pending tick."""
        if not self._pending:
            return
        self._pending.clear()
        self._all_changed()
        self.pending_changed.emit()

    def _column_changed(self, column: int) -> None:
        if self._permissions:
            self.dataChanged.emit(self.index(0, column), self.index(len(self._permissions) - 1, column))
        self.headerDataChanged.emit(Qt.Orientation.Horizontal, column, column)

    def _all_changed(self) -> None:
        last = self.columnCount() - 1
        if self._permissions:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._permissions) - 1, last))
        self.headerDataChanged.emit(Qt.Orientation.Horizontal, 0, last)

    # -- QAbstractTableModel -----------------------------------------------------------------

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._permissions)

    def columnCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else FIRST_ROLE_COLUMN + len(self._roles)

    def flags(self, index: ModelIndex) -> Qt.ItemFlag:
        """Locked cells stay enabled (their tooltip says why, and clicking one chooses its role)
        but are not checkable; the delegate draws their box greyed."""
        flags = super().flags(index)
        role = self.role_at(index.column()) if index.isValid() else None
        row = index.row()
        if (
            role is not None
            and 0 <= row < len(self._permissions)
            and self.locked_reason(role, self._permissions[row].code) is None
        ):
            flags |= Qt.ItemFlag.ItemIsUserCheckable
        return flags

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal:
            return None
        if section in (DESCRIPTION_COLUMN, CODE_COLUMN):
            if role == Qt.ItemDataRole.DisplayRole:
                return "What it allows" if section == DESCRIPTION_COLUMN else "Permission"
            if role == Qt.ItemDataRole.TextAlignmentRole:
                return Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
            return None
        info = self.role_at(section)
        if info is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            mark = UNSAVED_MARK if info.id in self._pending else ""
            return f"{info.name}{mark}\n{users_text(info.user_count)}"
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._role_tip(info)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return Qt.AlignmentFlag.AlignCenter
        return None

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._permissions):
            return None
        permission = self._permissions[index.row()]
        column = index.column()
        if column == DESCRIPTION_COLUMN:
            if role == Qt.ItemDataRole.DisplayRole:
                return permission.description
            if role == Qt.ItemDataRole.ToolTipRole:
                return f"{permission.description} ({permission.code})"
            return None
        if column == CODE_COLUMN:
            if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
                return permission.code
            return True if role == SecondaryRole else None
        info = self.role_at(column)
        if info is None:
            return None
        granted = permission.code in self.wanted(info.id)
        if role == Qt.ItemDataRole.CheckStateRole:
            return Qt.CheckState.Checked if granted else Qt.CheckState.Unchecked
        if role == PendingRole:
            return granted != (permission.code in info.permissions)
        if role == Qt.ItemDataRole.ToolTipRole:
            reason = self.locked_reason(info, permission.code)
            if reason is not None:
                return reason
            unsaved = " — not saved yet" if granted != (permission.code in info.permissions) else ""
            return f"{info.name}: {'may' if granted else 'may not'} “{permission.description}”{unsaved}"
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return f"{info.name}: {permission.description}"
        return None

    def setData(self, index: ModelIndex, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        info = self.role_at(index.column()) if index.isValid() else None
        if role != Qt.ItemDataRole.CheckStateRole or info is None:
            return False
        if not 0 <= index.row() < len(self._permissions):
            return False
        return self.set_granted(info.id, self._permissions[index.row()].code, _is_checked(value))

    def _role_tip(self, info: RoleInfo) -> str:
        lines = [f"{info.name} ({users_text(info.user_count)})", info.description or "No description."]
        if info.locked:
            lines.append(ADMIN_LOCKED)
        elif info.is_builtin:
            lines.append("Built-in role: its permissions can be changed, its name cannot.")
        if info.id in self._pending:
            lines.append("Unsaved changes: Save or Revert.")
        return "\n".join(lines)


class MatrixDelegate(QStyledItemDelegate):
    """Check boxes centred in their cells (greyed where locked), pending cells tinted with a corner
    mark in the theme's warning hue, codes in the secondary text colour. Colours come from the
    view's palette at paint time, so both themes and a switch between them just work."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: ModelIndex) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        widget = opt.widget
        style = widget.style() if widget is not None else QApplication.style()
        if index.data(SecondaryRole):
            palette = QPalette(opt.palette)
            palette.setColor(QPalette.ColorRole.Text, palette.color(QPalette.ColorRole.PlaceholderText))
            opt.palette = palette
        pending = bool(index.data(PendingRole))
        background, mark = tint(opt.palette, "warning")
        if pending:
            opt.backgroundBrush = QBrush(background)
        check = QStyleOptionViewItem.ViewItemFeature.HasCheckIndicator
        if not opt.features & check:
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, widget)
            return
        checked = opt.checkState == Qt.CheckState.Checked
        opt.features &= ~check
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, widget)  # background, focus
        box = QStyleOptionViewItem(opt)
        box.rect = self.check_rect(option)
        box.state &= ~QStyle.StateFlag.State_HasFocus
        box.state |= QStyle.StateFlag.State_On if checked else QStyle.StateFlag.State_Off
        locked = not index.flags() & Qt.ItemFlag.ItemIsUserCheckable
        if locked:
            box.state &= ~QStyle.StateFlag.State_Enabled
        box.palette = _box_palette(opt.palette, locked=locked)
        style.drawPrimitive(QStyle.PrimitiveElement.PE_IndicatorItemViewItemCheck, box, painter, widget)
        if pending:  # also seen on the selected cell, whose highlight hides the tint
            size = max(5, option.fontMetrics.height() // 3)
            corner = option.rect.topRight()
            painter.save()
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(mark)
            painter.drawPolygon(QPolygon([corner, corner - QPoint(size, 0), corner + QPoint(0, size)]))
            painter.restore()

    @staticmethod
    def check_rect(option: QStyleOptionViewItem) -> QRect:
        widget = option.widget
        style = widget.style() if widget is not None else QApplication.style()
        width = style.pixelMetric(QStyle.PixelMetric.PM_IndicatorWidth, option, widget)
        height = style.pixelMetric(QStyle.PixelMetric.PM_IndicatorHeight, option, widget)
        rect = QRect(0, 0, width, height)
        rect.moveCenter(option.rect.center())
        return rect

    def editorEvent(
        self, event: QEvent, model: QAbstractItemModel, option: QStyleOptionViewItem, index: ModelIndex
    ) -> bool:
        """Toggle on a click on the centred box (on release), or Space: what Qt's own delegate does
        for a box at the cell's left."""
        flags = index.flags()
        state = index.data(Qt.ItemDataRole.CheckStateRole)
        if state is None or not (
            flags & Qt.ItemFlag.ItemIsUserCheckable and flags & Qt.ItemFlag.ItemIsEnabled
        ):
            return False
        if isinstance(event, QMouseEvent) and event.type() in (
            QEvent.Type.MouseButtonPress,
            QEvent.Type.MouseButtonRelease,
            QEvent.Type.MouseButtonDblClick,
        ):
            if event.button() != Qt.MouseButton.LeftButton:
                return False
            if not self.check_rect(option).contains(event.position().toPoint()):
                return False
            if event.type() == QEvent.Type.MouseButtonPress:
                return False  # unlike Qt's own: the view makes the cell (and its role) current
            if event.type() == QEvent.Type.MouseButtonDblClick:
                return True  # the release before it toggled; the second one toggles back, as in Qt
        elif isinstance(event, QKeyEvent) and event.type() == QEvent.Type.KeyPress:
            if event.key() not in (Qt.Key.Key_Space, Qt.Key.Key_Select):
                return False
        else:
            return False
        toggled = Qt.CheckState.Unchecked if _is_checked(state) else Qt.CheckState.Checked
        return model.setData(index, toggled, Qt.ItemDataRole.CheckStateRole)


def _box_palette(palette: QPalette, *, locked: bool) -> QPalette:
    """Fusion outlines a check box in the window colour darkened by 40 %, which vanishes on the dark
    theme's base: give it a window colour whose outline sits between base and text in either theme.
    Locked boxes take the disabled colours (Fusion reads the colour group, not the state)."""
    box = QPalette(palette)
    base, text = palette.color(QPalette.ColorRole.Base), palette.color(QPalette.ColorRole.Text)
    share = 0.25 if locked else 0.45
    outline = blend(base, text, share)
    box.setColor(QPalette.ColorRole.Window, outline.lighter(140))
    if locked:
        box.setCurrentColorGroup(QPalette.ColorGroup.Disabled)
    return box
