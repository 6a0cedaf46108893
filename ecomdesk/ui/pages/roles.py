"""The roles page: a matrix of permissions (rows, in plain words) by roles (columns), with the
rights ticked that each role holds — edited in place, saved together, and confirmed in words.

Ticks are pending until Save, so a slip of the mouse never changes anyone's rights on its own.
The built-in admin role is shown but locked (the shop must always be administrable), and a right the
signed-in user does not hold cannot be ticked or unticked by them: the service refuses both, and the
screen says so before anyone tries. Every service call runs through the task runner.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from PySide6.QtCore import (
    QModelIndex,
    Qt,
)
from PySide6.QtGui import (
    QAction,
    QFontMetrics,
    QKeySequence,
    QResizeEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QAbstractScrollArea,
    QHBoxLayout,
    QHeaderView,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ecomdesk.services.errors import Conflict, NotFound, PermissionDenied, ServiceError, ValidationError
from ecomdesk.services.roles import PermissionInfo, RoleChange, RoleInfo
from ecomdesk.ui.errors import describe
from ecomdesk.ui.forms import StatusLine
from ecomdesk.ui.pages.role_dialogs import RoleDialog
from ecomdesk.ui.pages.role_matrix import (
    CODE_COLUMN,
    DESCRIPTION_COLUMN,
    FIRST_ROLE_COLUMN,
    NOT_YOURS,
    UNSAVED_MARK,
    MatrixDelegate,
    PermissionMatrixModel,
    users_text,
)
from ecomdesk.ui.permissions import READ_ONLY, why_not
from ecomdesk.ui.session import AppSession
from ecomdesk.ui.tasks import TaskControl
from ecomdesk.ui.widgets import ask, busy_bar, heading, hint

BUILTIN_NAME: Final = "Built-in roles keep their names."
BUILTIN_KEPT: Final = "Built-in roles cannot be deleted."
NO_ROLE_CHOSEN: Final = "Click a role's column or heading first to choose the role."

#: Refusals that concern one role: a save of several roles goes on with the others.
_ROLE_REFUSALS: Final = (Conflict, NotFound, PermissionDenied, ValidationError)


def join_words(items: Sequence[str]) -> str:
    """“a”, “a and b”, “a, b and c”."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


@dataclass(frozen=True)
class SaveOutcome:
    """What one Save of several roles did: each role is its own unit of work."""

    saved: list[RoleChange]
    failed: list[tuple[RoleInfo, ServiceError]]


class RolesPage(QWidget):
    """The matrix with its toolbar (new, rename, delete) and Save/Revert; reached with `roles.manage`."""

    #: The main window refreshes the page when one of these tables changed (`ui.live`).
    watches = frozenset({"roles", "role_permissions", "users"})

    def __init__(self, session: AppSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("rolesPage")
        #: The signed-in window's services, actor and task runner.
        self.session = session
        actor = session.actor
        #: A read-only copy, or a role without `roles.manage`, sees the matrix and changes nothing.
        self.editable = not session.read_only and actor.can("roles.manage")
        self.model = PermissionMatrixModel(actor, read_only=not self.editable, parent=self)
        #: Whether the matrix has been filled once.
        self.loaded = False
        #: The dialog open now (new role or rename), for tests and for closing with the page.
        self.dialog: RoleDialog | None = None
        #: The delete confirmation open now.
        self.confirmation: QMessageBox | None = None
        self._current_role_id: int | None = None
        self._description_width = 0  # the descriptions' full width, measured when the rows arrive
        self._loading = False
        self._load_serial = 0
        self._saving = False
        self._writing = 0  # service writes in flight
        self._writes = 0  # writes finished: a load submitted before the latest one may be stale

        intro = hint(
            "Tick what each role may do. Changes apply to everyone with the role once you save.", self
        )
        self.limits = hint(NOT_YOURS + " Greyed boxes are rights your role does not hold.", self)
        self.limits.hide()
        if not self.editable:
            intro.setText(READ_ONLY if session.read_only else why_not(actor, "roles.manage") or READ_ONLY)
        self.new_button = QPushButton("New role…", self)
        self.new_button.setToolTip("Create a custom role, optionally starting from another role's rights.")
        self.new_button.clicked.connect(self.new_role)
        self.rename_button = QPushButton("Rename…", self)
        self.rename_button.clicked.connect(self.rename_role)
        self.delete_button = QPushButton("Delete…", self)
        self.delete_button.clicked.connect(self.delete_role)
        toolbar = QHBoxLayout()
        for button in (self.new_button, self.rename_button, self.delete_button):
            toolbar.addWidget(button)
        toolbar.addStretch(1)

        self.view = QTableView(self)
        self.view.setObjectName("permissionMatrix")
        self.view.setAccessibleName("Permissions by role")
        self.view.setModel(self.model)
        self.view.setItemDelegate(MatrixDelegate(self.view))
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectItems)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)  # Space: the delegate
        self.view.setTabKeyNavigation(False)
        self.view.setAlternatingRowColors(True)
        self.view.setWordWrap(False)
        self.view.setCornerButtonEnabled(False)
        self.view.verticalHeader().hide()
        # As large as its cells (no empty band beside a few roles or below the rows); smaller with
        # scroll bars when the window is.
        self.view.setSizeAdjustPolicy(QAbstractScrollArea.SizeAdjustPolicy.AdjustToContents)
        self.view.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Maximum)
        header = self.view.horizontalHeader()
        header.setHighlightSections(True)  # the current role's heading is bold
        header.setSectionsClickable(True)
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.sectionClicked.connect(self._heading_clicked)
        self.view.selectionModel().currentChanged.connect(self._current_changed)
        self.model.modelReset.connect(self._fit_columns)
        self.model.columnsInserted.connect(self._fit_columns)
        self.model.headerDataChanged.connect(self._fit_role_columns)
        self.model.pending_changed.connect(self._pending_changed)
        self.setFocusProxy(self.view)

        self.busy_bar = busy_bar(self)
        self.status = StatusLine(self)
        self.status.setAccessibleName("Roles status")
        self.reload_button = QPushButton("Reload", self)
        self.reload_button.setToolTip("Drop your unsaved ticks and show the roles as they are now.")
        self.reload_button.clicked.connect(self.revert)
        self.reload_button.hide()
        self.revert_button = QPushButton("Revert", self)
        self.revert_button.setToolTip("Drop your unsaved ticks.")
        self.revert_button.clicked.connect(self.revert)
        self.save_action = QAction("Save role changes", self)
        self.save_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Save))
        self.save_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.save_action.triggered.connect(self.save)
        self.addAction(self.save_action)
        self.save_button = QPushButton("Save", self)
        keys = self.save_action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        self.save_button.setToolTip(f"Save every role's ticks ({keys}).")
        self.save_button.clicked.connect(self.save)
        bottom = QHBoxLayout()
        bottom.addWidget(self.status, 1)
        bottom.addStretch(0)  # takes the status line's place while it is hidden: buttons keep their size
        for button in (self.reload_button, self.revert_button, self.save_button):
            bottom.addWidget(button, 0, Qt.AlignmentFlag.AlignTop)

        layout = self._body = QVBoxLayout(self)
        layout.addWidget(heading("Roles", self))
        layout.addWidget(intro)
        layout.addWidget(self.limits)
        layout.addLayout(toolbar)
        layout.addWidget(self.busy_bar)
        layout.addWidget(self.view, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addLayout(bottom)
        layout.addStretch(1)

        if not self.editable:
            for button in (self.new_button, self.rename_button, self.delete_button, self.revert_button):
                button.hide()
            self.save_button.hide()
        self._update_actions()

    # -- what the main window calls ------------------------------------------------------------

    def page_shown(self) -> None:
        """Load on the first visit; later visits freshen the matrix under the same rule as F5."""
        self.refresh()

    def refresh(self) -> None:
        """F5 and the automatic refresh. Skipped while ticks are pending or a change is being saved:
        a reload must never throw away someone's edits, nor show a state older than their save."""
        if self.model.dirty or self._writing or self._loading:
            return
        self._load()

    # -- reading -------------------------------------------------------------------------------

    @property
    def current_role(self) -> RoleInfo | None:
        """The role Rename and Delete act on: the column of the last cell or heading clicked."""
        return self.model.role(self._current_role_id)

    def set_current_role(self, role_id: int) -> None:
        column = self.model.column_of(role_id)
        if column is None:
            return
        row = max(self.view.currentIndex().row(), 0)
        if self.model.rowCount():
            self.view.setCurrentIndex(self.model.index(row, column))
        else:
            self._choose(role_id)

    @property
    def busy_saving(self) -> bool:
        return self._saving

    # -- loading -------------------------------------------------------------------------------

    def _load(self) -> None:
        services, actor = self.session.services, self.session.actor
        self._load_serial += 1
        serial, generation = self._load_serial, self._writes

        def load(control: TaskControl) -> tuple[list[PermissionInfo], list[RoleInfo]]:
            permissions = services.roles.list_permissions(actor)
            control.check()
            return permissions, services.roles.list_roles(actor)

        self._loading = True
        if not self.loaded:
            self.status.say("Loading the roles…", "hint")
        self._update_busy()
        self.session.runner.submit(
            load,
            on_done=lambda result: self._loaded(result, serial, generation),
            on_error=lambda error: self._load_failed(error, serial),
            key=f"roles.load.{id(self)}",
            owner=self,
            description="load the roles",
        )

    def _loaded(
        self, result: tuple[list[PermissionInfo], list[RoleInfo]], serial: int, generation: int
    ) -> None:
        if serial != self._load_serial:
            return
        self._loading = False
        self._update_busy()
        if generation != self._writes:  # read before a change of ours was saved: ask again
            if not self.model.dirty and not self._writing:
                self._load()
            return
        if self.model.dirty:  # ticked while it loaded: the ticks win, the next refresh catches up
            return
        permissions, roles = result
        cell = self._current_cell()
        first = not self.loaded
        self.model.show(permissions, roles)  # in place unless roles came or went
        self.loaded = True
        if cell is not None and not self.view.currentIndex().isValid():
            self.view.setCurrentIndex(self.model.index_of(*cell))
        if first:
            self.status.say("", "hint")
            lacking = {p.code for p in permissions} - self.session.actor.permissions
            self.limits.setVisible(self.editable and bool(lacking))
        self.session.note_refreshed()
        self._update_actions()

    def _current_cell(self) -> tuple[str, int] | None:
        """(permission, role id) of the current cell, to find it again after roles came or went."""
        current = self.view.currentIndex()
        role = self.model.role_at(current.column()) if current.isValid() else None
        if role is None:
            return None
        return self.model.permissions[current.row()].code, role.id

    def _load_failed(self, error: BaseException, serial: int) -> None:
        if serial != self._load_serial:
            return
        self._loading = False
        self._update_busy()
        if not self.loaded:
            self.status.say(f"The roles could not be loaded. {describe(error).text}", "error")
        self.session.runner.failed.emit(error, None)  # the message bar and the reconnect probe

    # -- saving the ticks ----------------------------------------------------------------------

    def save(self) -> None:
        """Save every role with pending ticks, one after the other in one background task."""
        if not self.editable or not self.model.dirty or self._saving:
            return
        changes = self.model.pending_roles()
        services, actor = self.session.services, self.session.actor

        def run(control: TaskControl) -> SaveOutcome:
            outcome = SaveOutcome([], [])
            for number, (role, wanted) in enumerate(changes):
                control.check()
                try:
                    outcome.saved.append(
                        services.roles.update_role(
                            actor, role.id, name=role.name, permissions=wanted, expected=role
                        )
                    )
                except _ROLE_REFUSALS as error:
                    outcome.failed.append((role, error))  # this role only: the others go on
                except ServiceError as error:  # the database or the sign-in: no use going on
                    outcome.failed.extend((later, error) for later, _wanted in changes[number:])
                    break
            return outcome

        self._saving = True
        self._writing += 1
        self.reload_button.hide()
        self.status.say("Saving…", "hint")
        self._update_actions()
        self.session.runner.submit(
            run,
            on_done=self._saved,
            on_error=self._save_failed,
            key=f"roles.save.{id(self)}",
            owner=self,
            description="save the roles' permissions",
        )

    def _saved(self, outcome: SaveOutcome) -> None:
        self._write_ended()
        self._saving = False
        for change in outcome.saved:
            self.model.replace_role(change.role)
        done = " ".join(self._change_words(change) for change in outcome.saved)
        if not outcome.failed:
            self.status.say(f"Saved. {done}", "success")
        else:
            names = join_words([role.name for role, _error in outcome.failed])
            reasons = list(dict.fromkeys(describe(error).text for _role, error in outcome.failed))
            lead = f"Saved. {done} Not saved: {names}." if outcome.saved else "Nothing was saved."
            conflict = any(isinstance(error, Conflict | NotFound) for _role, error in outcome.failed)
            after = " Reload drops them and shows the roles as they are now." if conflict else ""
            self.status.say(
                f"{lead} {' '.join(reasons)} Your changes to {names} are still shown.{after}", "error"
            )
            self.reload_button.setVisible(conflict)
            for _role, error in outcome.failed:
                self._forward(error)
        self._update_actions()

    def _save_failed(self, error: BaseException) -> None:
        """A bug (typed refusals come back in the outcome): the ticks stay, the log has the rest."""
        self._write_ended()
        self._saving = False
        self.status.say(f"Saving failed. {describe(error).text}", "error")
        self._update_actions()

    def _change_words(self, change: RoleChange) -> str:
        """“manager: may now “…”; may no longer “…”.”"""
        parts = []
        if change.renamed_from:
            parts.append(f"renamed from {change.renamed_from}")
        if change.added:
            parts.append(f"may now {self._rights(change.added)}")
        if change.removed:
            parts.append(f"may no longer {self._rights(change.removed)}")
        return f"{change.role.name}: {'; '.join(parts) or 'nothing changed'}."

    def _rights(self, codes: frozenset[str]) -> str:
        return join_words([f"“{self.model.description(code)}”" for code in sorted(codes)])

    def revert(self) -> None:
        """Drop the pending ticks and show what the database holds now (another admin's save too)."""
        if self._saving:
            return
        self.model.revert()
        self.reload_button.hide()
        self.status.say("", "hint")
        self._load()

    # -- create, rename, delete ------------------------------------------------------------------

    def new_role(self) -> None:
        if not self.editable or not self.loaded or self.dialog is not None:
            return
        dialog = RoleDialog(
            "New role",
            ok_text="Create",
            actor=self.session.actor,
            start_from=self.model.roles,
            parent=self,
        )
        dialog.submitted.connect(lambda: self._create(dialog))
        self._open(dialog)

    def _create(self, dialog: RoleDialog) -> None:
        values = dialog.values()
        services, actor = self.session.services, self.session.actor
        self._run_for(
            dialog,
            "Creating…",
            lambda _control: services.roles.create_role(
                actor, values.name, values.permissions, values.description
            ),
            lambda info: self._created(dialog, info),
            description="create a role",
        )

    def _created(self, dialog: RoleDialog, role: RoleInfo) -> None:
        dialog.accept()
        self.model.insert_role(role)
        self.set_current_role(role.id)
        self.status.say(f"Created the role {role.name}.", "success")

    def rename_role(self) -> None:
        role = self.current_role
        if not self.editable or role is None or role.is_builtin or self.dialog is not None:
            return
        dialog = RoleDialog(
            f"Rename {role.name}",
            ok_text="Rename",
            actor=self.session.actor,
            name=role.name,
            description=role.description,
            parent=self,
        )
        dialog.submitted.connect(lambda: self._rename(dialog, role))
        self._open(dialog)

    def _rename(self, dialog: RoleDialog, role: RoleInfo) -> None:
        """Name and description only: the saved permissions go back unchanged (pending ticks stay
        pending), and `expected` is the role as the dialog was opened on it."""
        values = dialog.values()
        services, actor = self.session.services, self.session.actor
        self._run_for(
            dialog,
            "Renaming…",
            lambda _control: services.roles.update_role(
                actor,
                role.id,
                name=values.name,
                permissions=role.permissions,
                description=values.description,
                expected=role,
            ),
            lambda change: self._renamed(dialog, role, change),
            description=f"rename the role {role.name}",
        )

    def _renamed(self, dialog: RoleDialog, before: RoleInfo, change: RoleChange) -> None:
        dialog.accept()
        self.model.replace_role(change.role)
        if change.renamed_from:
            text = f"Renamed {change.renamed_from} to {change.role.name}."
        elif change.role.description != before.description:
            text = f"Saved the description of {change.role.name}."
        else:
            text = "Nothing to change: the name and description were the same."
        self.status.say(text, "success")
        self._update_actions()

    def delete_role(self) -> None:
        """Ask first (unless the person turned that off), then delete through the service, whose
        guards (someone still holds the role) are shown as they are worded."""
        role = self.current_role
        if not self.editable or role is None or role.is_builtin:
            return
        if not self.session.preferences.confirm_delete:
            self._delete(role)
            return
        self.confirmation = ask(
            self,
            "Delete role",
            f"Delete the role {role.name}? This cannot be undone.",
            "Delete",
            lambda: self._delete(role),
        )
        box = self.confirmation
        box.finished.connect(lambda _result: self._confirmation_closed(box))

    def _confirmation_closed(self, box: QMessageBox) -> None:
        if self.confirmation is box:  # not a question asked in answer to this one
            self.confirmation = None

    def _delete(self, role: RoleInfo) -> None:
        services, actor = self.session.services, self.session.actor
        self._writing += 1
        self.status.say(f"Deleting {role.name}…", "hint")
        self.session.runner.submit(
            lambda _control: services.roles.delete_role(actor, role.id),
            on_done=lambda _none: self._deleted(role),
            on_error=lambda error: self._delete_failed(role, error),
            owner=self,
            description=f"delete the role {role.name}",
        )

    def _deleted(self, role: RoleInfo) -> None:
        self._write_ended()
        self.model.remove_role(role.id)
        if self._current_role_id == role.id:
            self._current_role_id = None
        self.status.say(f"Deleted the role {role.name}.", "success")
        self._update_actions()

    def _delete_failed(self, role: RoleInfo, error: BaseException) -> None:
        self._write_ended()
        self.status.say(f"{role.name} was not deleted. {describe(error).text}", "error")
        self._forward(error)
        self._update_actions()

    # -- dialogs ---------------------------------------------------------------------------------

    def _open(self, dialog: RoleDialog) -> None:
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(self._dialog_closed)
        self.dialog = dialog
        dialog.open()

    def _dialog_closed(self, _result: int) -> None:
        self.dialog = None

    def _run_for(
        self,
        dialog: RoleDialog,
        busy_text: str,
        work: Callable[[TaskControl], Any],
        on_done: Callable[[Any], None],
        *,
        description: str,
    ) -> None:
        """A dialog's service call: the dialog stays open (and cannot be closed) until it answers."""
        dialog.set_busy(True, busy_text)
        self._writing += 1

        def done(result: Any) -> None:
            self._write_ended()
            on_done(result)

        def failed(error: BaseException) -> None:
            self._write_ended()
            dialog.show_error(error)
            self._forward(error)

        self.session.runner.submit(work, on_done=done, on_error=failed, owner=dialog, description=description)

    # -- state -----------------------------------------------------------------------------------

    def _write_ended(self) -> None:
        self._writing -= 1
        self._writes += 1

    def _forward(self, error: BaseException) -> None:
        """Connection trouble and bugs also go to the application's one message path (the message
        bar, the reconnect probe); a refusal about the role itself is said here only."""
        if not isinstance(error, _ROLE_REFUSALS):
            self.session.runner.failed.emit(error, None)

    def _heading_clicked(self, section: int) -> None:
        role = self.model.role_at(section)
        if role is not None:
            self.set_current_role(role.id)
            self.view.setFocus()

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        role = self.model.role_at(current.column()) if current.isValid() else None
        if role is not None:
            self._choose(role.id)

    def _choose(self, role_id: int) -> None:
        self._current_role_id = role_id
        self._update_actions()

    def _pending_changed(self) -> None:
        """Say which roles have unsaved ticks — unless a save is under way or the line says why the
        last one failed (that stays until the next save or revert)."""
        if self.status.kind != "error" and not self._saving:
            pending = self.model.pending_roles()
            if pending:
                names = join_words([role.name for role, _wanted in pending])
                self.status.say(f"Unsaved changes to {names}: Save or Revert.", "hint")
            elif self.status.kind == "hint":
                self.status.say("", "hint")
        self._update_actions()

    def _update_busy(self) -> None:
        self.busy_bar.setVisible((self._loading and not self.loaded) or self._saving)

    def _update_actions(self) -> None:
        dirty = self.model.dirty and self.editable and not self._saving
        for target in (self.save_button, self.revert_button, self.save_action):
            target.setEnabled(dirty)
        self._update_busy()
        self.new_button.setEnabled(self.editable and self.loaded)
        role = self.current_role
        name = _short(role.name) if role is not None else ""
        self.rename_button.setText(f"Rename {name}…" if role else "Rename…")
        self.delete_button.setText(f"Delete {name}…" if role else "Delete…")
        rename_why = delete_why = NO_ROLE_CHOSEN
        if role is not None:
            rename_why = BUILTIN_NAME if role.is_builtin else ""
            missing = sorted(role.permissions - self.session.actor.permissions)
            delete_why = BUILTIN_KEPT if role.is_builtin else ""
            if missing and not delete_why:
                delete_why = (
                    f"You cannot delete this role: it holds rights you don't have ({', '.join(missing)})."
                )
        self.rename_button.setEnabled(self.editable and not rename_why)
        self.rename_button.setToolTip(rename_why or f"Change the name and description of {name}.")
        self.delete_button.setEnabled(self.editable and not delete_why)
        self.delete_button.setToolTip(delete_why or f"Delete the role {name} (only when nobody holds it).")

    # -- looks -------------------------------------------------------------------------------------

    def _fit_columns(self) -> None:
        """The descriptions get their full width (up to a readable measure) where the window has
        room, the codes theirs; role columns are as narrow as their headings allow."""
        header = self.view.horizontalHeader()
        em = self.view.fontMetrics().horizontalAdvance("M")
        self.view.resizeColumnToContents(CODE_COLUMN)
        header.resizeSection(CODE_COLUMN, min(header.sectionSize(CODE_COLUMN), 16 * em))
        self._description_width = min(self.view.sizeHintForColumn(DESCRIPTION_COLUMN), 46 * em)
        self._fit_role_columns()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_description()

    def _fit_description(self) -> None:
        """In a narrow window the descriptions give way (elided; the tooltip has them whole) down to
        a readable minimum before the role columns scroll out of sight."""
        if not self.model.rowCount():
            return
        header = self.view.horizontalHeader()
        others = sum(header.sectionSize(column) for column in range(CODE_COLUMN, self.model.columnCount()))
        margins = self.contentsMargins() + self._body.contentsMargins()
        chrome = 2 * self.view.frameWidth() + self.view.verticalScrollBar().sizeHint().width()
        room = self.width() - margins.left() - margins.right() - chrome - others
        least = 18 * self.view.fontMetrics().horizontalAdvance("M")
        header.resizeSection(DESCRIPTION_COLUMN, max(least, min(self._description_width, room)))

    def _fit_role_columns(self, *_args: object) -> None:
        header = self.view.horizontalHeader()
        font = header.font()
        font.setBold(True)  # the current role's heading is bold: it must fit too
        metrics = QFontMetrics(font)
        padding = metrics.horizontalAdvance("M") * 2
        for position, role in enumerate(self.model.roles):
            lines = (role.name + UNSAVED_MARK, users_text(role.user_count))
            width = max(metrics.horizontalAdvance(line) for line in lines) + padding
            header.resizeSection(
                FIRST_ROLE_COLUMN + position, min(width, metrics.horizontalAdvance("M") * 14)
            )
        self._fit_description()


def _short(name: str, limit: int = 24) -> str:
    """A role's name for a button: long names are cut, the tooltip and dialog have them whole."""
    return name if len(name) <= limit else name[: limit - 1] + "…"
