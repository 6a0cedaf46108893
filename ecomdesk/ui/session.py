"""What a signed-in window set shares: the services of one database, the acting user, the task runner,
the connection's state as the status bar shows it, the shop's settings, and this computer's
preferences and theme."""

from __future__ import annotations

import datetime as dt
import enum
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from ecomdesk.services.context import Actor
from ecomdesk.services.registry import Services
from ecomdesk.services.settings import SystemSettings
from ecomdesk.ui.preferences import Preferences
from ecomdesk.ui.tasks import TaskRunner
from ecomdesk.ui.theme import ThemeManager

if TYPE_CHECKING:
    from ecomdesk.bootstrap import OpenSnapshot
    from ecomdesk.ui.report_runner import ReportRunner


class ConnectionState(enum.Enum):
    CONNECTED = "Connected"
    RECONNECTING = "Reconnecting…"
    OFFLINE = "Offline"


class AppSession(QObject):
    """One per signed-in main window. Pages read `services` and `actor` and run work through `runner`."""

    #: A page loaded fresh data (the time it was confirmed fresh, UTC).
    refreshed = Signal(object)
    state_changed = Signal(object)  # ConnectionState
    #: The shop's system settings were (re)loaded or saved (a `SystemSettings`): name, currency…
    shop_changed = Signal(object)
    #: A poll found changes (a `ChangeBatch`): pages refresh what they show of those tables.
    changes_seen = Signal(object)
    #: The signed-in user's role, permissions or name changed in the database (the new `Actor`).
    actor_changed = Signal(object)

    def __init__(
        self,
        services: Services,
        actor: Actor,
        runner: TaskRunner,
        *,
        database_label: str,
        demo: bool = False,
        preferences: Preferences | None = None,
        theme: ThemeManager | None = None,
        snapshot: OpenSnapshot | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.services = services
        self.actor = actor
        self.runner = runner
        self.database_label = database_label
        self.demo = demo
        #: The snapshot file this window shows instead of a database (its services are read-only).
        self.snapshot = snapshot
        self.preferences = preferences or Preferences(parent=self)
        self.theme = theme or ThemeManager(self.preferences, self)
        self.state = ConnectionState.CONNECTED
        self.last_refreshed: dt.datetime | None = None
        #: None until the main window has loaded them once.
        self.shop: SystemSettings | None = None
        #: This app's report runner (the main window's; None on a bare session, as in page tests).
        self.report_runner: ReportRunner | None = None

    @property
    def read_only(self) -> bool:
        return self.services.ctx.read_only

    def note_refreshed(self, when: dt.datetime | None = None) -> None:
        self.last_refreshed = when or dt.datetime.now(dt.UTC)
        self.set_state(ConnectionState.CONNECTED)
        self.refreshed.emit(self.last_refreshed)

    def load_shop(self, *, quiet: bool = False) -> None:
        """Read the shop's settings in the background; `shop_changed` tells everyone when they are
        in. `quiet`: a failure goes to no message (a page that asked shows its defaults meanwhile)."""
        services, actor = self.services, self.actor
        self.runner.submit(
            lambda _control: services.settings.get_system_settings(actor),
            on_done=self._shop_loaded,
            on_error=(lambda _error: None) if quiet else None,
            key=f"session.shop.{id(self)}",
            owner=self,
            description="read the shop's settings",
        )

    def _shop_loaded(self, shop: SystemSettings) -> None:
        self.note_shop(shop)
        self.note_refreshed()

    def note_shop(self, shop: SystemSettings) -> None:
        self.shop = shop
        self.shop_changed.emit(shop)

    def set_actor(self, actor: Actor) -> None:
        """The signed-in user as the database now says: every later call acts as them."""
        if actor != self.actor:
            self.actor = actor
            self.actor_changed.emit(actor)

    def set_state(self, state: ConnectionState) -> None:
        if state is not self.state:
            self.state = state
            self.state_changed.emit(state)
