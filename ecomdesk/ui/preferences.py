"""Personal preferences of the person at this computer (theme, refresh interval, confirmations,
window layout), kept in QSettings: they follow the OS user, not the shop's database.

One `Preferences` object per application; `changed` names the key that changed so the main window
and the theme follow the settings page at once.
"""

from __future__ import annotations

import enum
from typing import Final

from PySide6.QtCore import QByteArray, QObject, QSettings, Signal

from ecomdesk import APP_NAME

DEFAULT_REFRESH_S: Final = 5
REFRESH_RANGE_S: Final = (1, 300)


class ThemeMode(enum.Enum):
    """What the person chose; `SYSTEM` follows the desktop's light or dark setting live."""

    LIGHT = "light"
    DARK = "dark"
    SYSTEM = "system"

    @property
    def label(self) -> str:
        return {"light": "Light", "dark": "Dark", "system": "Follow the system"}[self.value]


def settings_store() -> QSettings:
    """The app's settings file: INI everywhere (readable, and tests can redirect it with
    `QSettings.setPath`), in the per-user config folder."""
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, APP_NAME, APP_NAME)


class Preferences(QObject):
    changed = Signal(str)

    THEME: Final = "appearance/theme"
    REFRESH: Final = "behaviour/refresh_interval_s"
    CONFIRM_DELETE: Final = "behaviour/confirm_delete"
    GEOMETRY: Final = "main_window/geometry"
    STATE: Final = "main_window/state"
    LAST_PAGE: Final = "main_window/last_page"
    LAST_PROFILE: Final = "connection/last_profile"
    SNAPSHOT_FOLDER: Final = "snapshots/last_folder"

    def __init__(self, settings: QSettings | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._settings = settings or settings_store()

    def _set(self, key: str, value: object) -> None:
        if self._settings.contains(key) and str(self._settings.value(key)) == str(value):
            return  # (INI files give every value back as text)
        self._settings.setValue(key, value)
        self._settings.sync()
        self.changed.emit(key)

    # -- appearance and behaviour ------------------------------------------------------------

    @property
    def theme(self) -> ThemeMode:
        raw = self._settings.value(self.THEME, ThemeMode.SYSTEM.value)
        try:
            return ThemeMode(str(raw))
        except ValueError:
            return ThemeMode.SYSTEM

    @theme.setter
    def theme(self, mode: ThemeMode) -> None:
        self._set(self.THEME, mode.value)

    @property
    def refresh_interval(self) -> int:
        """Seconds between two polls for changes (`ui.live`): a page refreshes when its tables changed."""
        raw = self._settings.value(self.REFRESH, DEFAULT_REFRESH_S)
        try:
            value = int(str(raw))
        except ValueError:
            return DEFAULT_REFRESH_S
        low, high = REFRESH_RANGE_S
        return min(max(value, low), high)

    @refresh_interval.setter
    def refresh_interval(self, seconds: int) -> None:
        low, high = REFRESH_RANGE_S
        self._set(self.REFRESH, min(max(int(seconds), low), high))

    @property
    def confirm_delete(self) -> bool:
        return str(self._settings.value(self.CONFIRM_DELETE, "true")).lower() in ("true", "1")

    @confirm_delete.setter
    def confirm_delete(self, ask: bool) -> None:
        self._set(self.CONFIRM_DELETE, "true" if ask else "false")

    # -- where things were left --------------------------------------------------------------

    @property
    def last_page(self) -> str | None:
        value = self._settings.value(self.LAST_PAGE)
        return str(value) if value else None

    @last_page.setter
    def last_page(self, key: str) -> None:
        self._set(self.LAST_PAGE, key)

    @property
    def last_profile(self) -> str | None:
        value = self._settings.value(self.LAST_PROFILE)
        return str(value) if value else None

    @last_profile.setter
    def last_profile(self, name: str) -> None:
        self._set(self.LAST_PROFILE, name)

    @property
    def snapshot_folder(self) -> str:
        """The folder a snapshot was last opened from or saved to ("" until then: the home folder)."""
        value = self._settings.value(self.SNAPSHOT_FOLDER)
        return str(value) if value else ""

    @snapshot_folder.setter
    def snapshot_folder(self, folder: str) -> None:
        self._set(self.SNAPSHOT_FOLDER, folder)

    def window_layout(self) -> tuple[QByteArray | None, QByteArray | None]:
        """The main window's saved geometry and toolbar/dock state (None: never saved)."""
        geometry, state = self._settings.value(self.GEOMETRY), self._settings.value(self.STATE)
        return (
            geometry if isinstance(geometry, QByteArray) else None,
            state if isinstance(state, QByteArray) else None,
        )

    def save_window_layout(self, geometry: QByteArray, state: QByteArray) -> None:
        self._settings.setValue(self.GEOMETRY, geometry)
        self._settings.setValue(self.STATE, state)
        self._settings.sync()
