"""The pages of the main window, by key: what the sidebar lists, who may see each, and how to build it.

A page is any QWidget built by `factory(session)`. The main window calls these optional methods:

- `refresh() -> None`: F5, and whenever one of the tables in the page's `watches` changed (the
  change watcher, `ui.live`: at once for the page shown, when next shown for the others). It
  re-reads in place and keeps the selection, scroll position and any unsaved edits; call
  `session.note_refreshed()` when fresh data arrived.
- `watches: frozenset[str]`: the database tables the page shows (`db.changes.TRACKED_TABLES`).
- `changes_seen(batch) -> None`: every batch of changes, for a page that looks at rows itself.
- `focus_search() -> None`: Ctrl+F.
- `page_shown() -> None`: each time the page becomes the visible one (first time included).

Until an issue builds a page, its key shows a `PlaceholderPage`. A page that ships with the app
plugs in by giving its key a lazy factory in `_REGISTRY` below (as `settings` does):

    factory=_lazy("ecomdesk.ui.pages.inventory", "InventoryPage")

and anything else (a plug-in, a test) by one call, which keeps the key's place in the sidebar:

    register_page(replace(page_spec("inventory"), factory=InventoryPage))
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication, QLabel, QVBoxLayout, QWidget

from ecomdesk.services.context import Actor
from ecomdesk.ui.icons import themed_icon
from ecomdesk.ui.theme import is_theme_change
from ecomdesk.ui.widgets import centre

if TYPE_CHECKING:
    from ecomdesk.ui.session import AppSession

__all__ = [
    "Page",
    "PageFactory",
    "PageSpec",
    "PlaceholderPage",
    "page_spec",
    "page_specs",
    "pages_for",
    "register_page",
]

PageFactory = Callable[["AppSession"], QWidget]


class Page(Protocol):
    """What a page may offer the main window (all optional: checked with `getattr`)."""

    watches: frozenset[str]

    def refresh(self) -> None: ...
    def focus_search(self) -> None: ...
    def page_shown(self) -> None: ...


@dataclass(frozen=True)
class PageSpec:
    key: str
    title: str
    #: Needed to see the page at all; None: every signed-in user.
    permission: str | None
    factory: PageFactory
    #: An icon of `resources/icons/`.
    icon: str
    #: The placeholder's sentence: what the page will be for.
    summary: str = ""


class PlaceholderPage(QWidget):
    """A page whose screen is not built yet: its title and what it will be for, calmly."""

    def __init__(self, title: str, summary: str, icon: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("placeholderPage")
        self._icon_name = icon
        column = QWidget(self)
        self.icon = QLabel(column)
        self.icon.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        heading = QLabel(title, column)
        heading.setObjectName("placeholderTitle")
        font = heading.font()
        font.setPointSizeF(font.pointSizeF() * 1.6)
        font.setBold(True)
        heading.setFont(font)
        text = QLabel(summary, column)
        later = QLabel(f"The {title.lower()} screen arrives in a coming version of ecomdesk.", column)
        later.setObjectName("hint")
        layout = QVBoxLayout(column)
        layout.addWidget(self.icon)
        layout.addWidget(heading)
        layout.addSpacing(heading.fontMetrics().height() // 3)
        layout.addWidget(text)
        layout.addWidget(later)
        for label in (heading, text, later):
            label.setWordWrap(True)
            label.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        column.setFixedWidth(text.fontMetrics().horizontalAdvance("M") * 32)
        centre(column, self)
        self._paint_icon()

    def _paint_icon(self) -> None:
        if not self._icon_name:
            self.icon.hide()
            return
        size = self.fontMetrics().height() * 4
        colour = QApplication.palette().color(QPalette.ColorRole.PlaceholderText)
        self.icon.setPixmap(themed_icon(self._icon_name, colour).pixmap(size, size))

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if is_theme_change(event):
            self._paint_icon()


def _placeholder(title: str, summary: str, icon: str) -> PageFactory:
    def build(_session: AppSession) -> QWidget:
        return PlaceholderPage(title, summary, icon)

    return build


def _lazy(module: str, name: str) -> PageFactory:
    """A factory that imports its page on first use, so start-up imports no page it may not show."""

    def build(session: AppSession) -> QWidget:
        factory: PageFactory = getattr(importlib.import_module(module), name)
        return factory(session)

    return build


def _spec(key: str, title: str, permission: str | None, icon: str, summary: str) -> PageSpec:
    return PageSpec(key, title, permission, _placeholder(title, summary, icon), icon, summary)


_REGISTRY: dict[str, PageSpec] = {
    spec.key: spec
    for spec in (
        _spec(
            "dashboard", "Dashboard", "analytics.read", "dashboard",
            "Today's sales, orders and customers at a glance, with the trends behind them.",
        ),
        _spec(
            "users", "Users", "users.read", "users",
            "The shop's staff accounts: who they are, their roles, and when they last signed in.",
        ),
        _spec(
            "roles", "Roles", "roles.manage", "roles",
            "What each role may do, and custom roles for the way your shop works.",
        ),
        _spec(
            "inventory", "Inventory", "inventory.read", "inventory",
            "Every item with its stock level, price and history; find, edit and adjust stock.",
        ),
        _spec(
            "reports", "Reports", "reports.read", "reports",
            "Sales, stock and customer reports to open, download and schedule.",
        ),
        _spec(
            "activity", "Activity", "audit.read", "activity",
            "Who changed what and when, across the whole shop.",
        ),
        _spec(
            "integrations", "Integrations", "integrations.manage", "integrations",
            "Webhooks to the shop's other systems, their delivery log, and the e-mail server for alerts.",
        ),
        replace(
            _spec("settings", "Settings", None, "settings", "Your preferences and the shop's settings."),
            factory=_lazy("ecomdesk.ui.pages.settings", "SettingsPage"),
        ),
    )
}  # fmt: skip

_REGISTRY["dashboard"] = replace(
    _REGISTRY["dashboard"], factory=_lazy("ecomdesk.ui.pages.dashboard", "DashboardPage")
)
_REGISTRY["users"] = replace(_REGISTRY["users"], factory=_lazy("ecomdesk.ui.pages.users", "UsersPage"))
_REGISTRY["roles"] = replace(_REGISTRY["roles"], factory=_lazy("ecomdesk.ui.pages.roles", "RolesPage"))
_REGISTRY["inventory"] = replace(
    _REGISTRY["inventory"], factory=_lazy("ecomdesk.ui.pages.inventory", "InventoryPage")
)
_REGISTRY["reports"] = replace(
    _REGISTRY["reports"], factory=_lazy("ecomdesk.ui.pages.reports", "ReportsPage")
)
_REGISTRY["activity"] = replace(
    _REGISTRY["activity"], factory=_lazy("ecomdesk.ui.pages.activity", "ActivityPage")
)
_REGISTRY["integrations"] = replace(
    _REGISTRY["integrations"], factory=_lazy("ecomdesk.ui.pages.integrations", "IntegrationsPage")
)


def register_page(spec: PageSpec) -> None:
    """Add a page, or replace the one with the same key in its place in the sidebar."""
    _REGISTRY[spec.key] = spec


def page_spec(key: str) -> PageSpec:
    return _REGISTRY[key]


def page_specs() -> list[PageSpec]:
    """Every registered page, in sidebar order."""
    return list(_REGISTRY.values())


def pages_for(actor: Actor) -> list[PageSpec]:
    """The pages `actor` may see: a page needing a permission they lack is not shown at all."""
    return [spec for spec in _REGISTRY.values() if spec.permission is None or actor.can(spec.permission)]
