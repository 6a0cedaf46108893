"""Permissions shape the screens: an action the signed-in user may not take is disabled, and its
tooltip says which right it needs and that their role lacks it. The services refuse it regardless;
this only spares people buttons that can only fail."""

from __future__ import annotations

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QAbstractButton, QWidget

from ecomdesk.services.access import describe_permission
from ecomdesk.services.context import Actor
from ecomdesk.services.errors import ReadOnlyError

#: Why nothing can be changed at all: the data is a read-only copy.
READ_ONLY = ReadOnlyError().message


def why_not(actor: Actor, permission: str) -> str | None:
    """A sentence on why `actor` may not do what needs `permission`; None when they may."""
    if actor.can(permission):
        return None
    return (
        f"Your role ({actor.role}) does not include “{describe_permission(permission)}” "
        f"({permission}). Ask an administrator if you need it."
    )


def gate(target: QWidget | QAction, actor: Actor, permission: str, *, read_only: bool = False) -> bool:
    """Enable `target` when `actor` holds `permission` (and the data may be changed at all);
    otherwise disable it with a tooltip that says why. Returns whether it is enabled."""
    reason = READ_ONLY if read_only else why_not(actor, permission)
    target.setEnabled(reason is None)
    if reason is not None:
        target.setToolTip(reason)
    return reason is None


def enable(target: QAction | QAbstractButton, possible: bool, tip: str, refusal: str | None) -> None:
    """A page's action: disabled with `refusal` as its tooltip when the user may not act at all
    (a `why_not` sentence, or READ_ONLY); otherwise enabled when the selection makes it `possible`,
    with `tip` saying what it does (or, when not possible, why not)."""
    if refusal is not None:
        target.setEnabled(False)
        target.setToolTip(refusal)
        return
    target.setEnabled(possible)
    target.setToolTip(tip)
