"""Light and dark themes: Fusion with a palette of our own for each, so the app looks the same on
every desktop, plus a few object-scoped style rules (sidebar, cards, field messages).

"Follow the system" reads `QStyleHints.colorScheme()` and follows `colorSchemeChanged` live.
`ThemeManager.theme_changed` tells charts and custom-painted cells to repaint; a widget without
the manager at hand checks `is_theme_change(event)` in its `changeEvent`. Sizes in the style sheet
are in `em`, so high-DPI screens and large fonts scale.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final, Literal

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory

from ecomdesk.ui.preferences import Preferences, ThemeMode

Kind = Literal["info", "success", "warning", "error"]


class Scheme(enum.Enum):
    """The scheme actually shown (a `ThemeMode` of SYSTEM resolves to one of these)."""

    LIGHT = "light"
    DARK = "dark"


@dataclass(frozen=True)
class Colours:
    window: str
    text: str
    base: str
    alternate_base: str
    button: str
    highlight: str
    highlighted_text: str
    link: str
    placeholder: str
    disabled_text: str
    light: str
    midlight: str
    mid: str
    dark: str
    shadow: str
    tooltip_base: str
    tooltip_text: str
    sidebar: str
    card: str
    border: str
    #: Readable text colours for inline messages, and the hue their message bars are tinted with.
    kinds: dict[str, tuple[str, str]]


LIGHT: Final = Colours(
    window="#f4f5f7",
    text="#1c2026",
    base="#ffffff",
    alternate_base="#f3f5f8",
    button="#eceef2",
    highlight="#2f6fde",
    highlighted_text="#ffffff",
    link="#1f5fbf",
    placeholder="#7b828c",
    disabled_text="#9aa0a8",
    light="#ffffff",
    midlight="#e3e6ea",
    mid="#c4c9d0",
    dark="#9ca3ad",
    shadow="#6b727c",
    tooltip_base="#2b3038",
    tooltip_text="#f4f5f7",
    sidebar="#e8ebf0",
    card="#ffffff",
    border="#d3d8de",
    kinds={
        "info": ("#1d5bbf", "#2f6fde"),
        "success": ("#1b7a3a", "#2e9d52"),
        "warning": ("#8a5a00", "#d99a00"),
        "error": ("#b3261e", "#d93a32"),
    },
)

DARK: Final = Colours(
    window="#1f2226",
    text="#e4e7eb",
    base="#16181b",
    alternate_base="#1b1e21",
    button="#2b2f35",
    highlight="#3b78e0",
    highlighted_text="#ffffff",
    link="#80b3ff",
    placeholder="#8a919b",
    disabled_text="#646a73",
    light="#3a3f46",
    midlight="#33373d",
    mid="#2a2e33",
    dark="#141619",
    shadow="#000000",
    tooltip_base="#e4e7eb",
    tooltip_text="#1f2226",
    sidebar="#181a1e",
    card="#262a2f",
    border="#3a3f46",
    kinds={
        "info": ("#8ab4ff", "#3b78e0"),
        "success": ("#7dd39a", "#2e9d52"),
        "warning": ("#f0c060", "#d99a00"),
        "error": ("#ff8f86", "#e0463e"),
    },
)

COLOURS: Final = {Scheme.LIGHT: LIGHT, Scheme.DARK: DARK}
_FUSION_SET: Final = "ecomdesk-fusion"


def is_theme_change(event: QEvent) -> bool:
    """Whether a widget's `changeEvent` is the theme changing (re-pick self-painted colours then).

    Once the application has a style sheet, Qt no longer tells child widgets that the palette
    changed; the style sheet that changes with it reaches every widget as a StyleChange.
    """
    return event.type() in (
        QEvent.Type.StyleChange,
        QEvent.Type.PaletteChange,
        QEvent.Type.ApplicationPaletteChange,
    )


def scheme_of(palette: QPalette) -> Scheme:
    """Which of our schemes a palette is (by the lightness of its window colour)."""
    return Scheme.DARK if palette.color(QPalette.ColorRole.Window).lightness() < 128 else Scheme.LIGHT


def blend(a: QColor, b: QColor, amount: float) -> QColor:
    """`a` moved `amount` (0–1) of the way towards `b`."""
    return QColor(
        round(a.red() + (b.red() - a.red()) * amount),
        round(a.green() + (b.green() - a.green()) * amount),
        round(a.blue() + (b.blue() - a.blue()) * amount),
    )


def text_colour(palette: QPalette, kind: Kind) -> QColor:
    """A readable colour for an inline message of `kind` on this palette's window."""
    return QColor(COLOURS[scheme_of(palette)].kinds[kind][0])


def tint(palette: QPalette, kind: Kind) -> tuple[QColor, QColor]:
    """(background, border) of a message bar of `kind`: the kind's hue blended into the window."""
    window = palette.color(QPalette.ColorRole.Window)
    hue = QColor(COLOURS[scheme_of(palette)].kinds[kind][1])
    strength = 0.16 if scheme_of(palette) is Scheme.LIGHT else 0.24
    return _mix(window, hue, strength), _mix(window, hue, 0.55)


def _mix(a: QColor, b: QColor, t: float) -> QColor:
    return QColor(
        round(a.red() + (b.red() - a.red()) * t),
        round(a.green() + (b.green() - a.green()) * t),
        round(a.blue() + (b.blue() - a.blue()) * t),
    )


def build_palette(c: Colours) -> QPalette:
    p = QPalette()
    roles = QPalette.ColorRole
    for role, value in (
        (roles.Window, c.window),
        (roles.WindowText, c.text),
        (roles.Base, c.base),
        (roles.AlternateBase, c.alternate_base),
        (roles.ToolTipBase, c.tooltip_base),
        (roles.ToolTipText, c.tooltip_text),
        (roles.PlaceholderText, c.placeholder),
        (roles.Text, c.text),
        (roles.Button, c.button),
        (roles.ButtonText, c.text),
        (roles.BrightText, "#ff5a52"),
        (roles.Light, c.light),
        (roles.Midlight, c.midlight),
        (roles.Mid, c.mid),
        (roles.Dark, c.dark),
        (roles.Shadow, c.shadow),
        (roles.Highlight, c.highlight),
        (roles.HighlightedText, c.highlighted_text),
        (roles.Link, c.link),
        (roles.LinkVisited, c.link),
        (roles.Accent, c.highlight),
    ):
        p.setColor(role, QColor(value))
    disabled = QPalette.ColorGroup.Disabled
    for role in (roles.WindowText, roles.Text, roles.ButtonText, roles.PlaceholderText):
        p.setColor(disabled, role, QColor(c.disabled_text))
    p.setColor(disabled, roles.Highlight, QColor(c.mid))
    p.setColor(disabled, roles.Base, QColor(c.window))
    return p


def stylesheet(c: Colours) -> str:
    """Rules for the shell's own named widgets only: pages and dialogs keep plain Fusion."""
    return f"""
QFrame#sidebar {{
    background: {c.sidebar};
    border: none;
    border-right: 1px solid {c.border};
}}
QListWidget#navigation {{
    background: transparent;
    border: none;
    padding: 0 0.5em;
    outline: none;
}}
QListWidget#navigation::item {{
    padding: 0.45em 0.6em;
    margin: 0.1em 0;
    border-radius: 0.3em;
    color: {c.text};
}}
QListWidget#navigation::item:hover {{ background: {c.midlight}; }}
QListWidget#navigation::item:selected {{
    background: {c.highlight};
    color: {c.highlighted_text};
}}
QFrame#card {{
    background: {c.card};
    border: 1px solid {c.border};
    border-radius: 0.5em;
}}
QFrame#demoBox {{
    background: {c.alternate_base};
    border: 1px solid {c.border};
    border-radius: 0.4em;
}}
QLabel#hint {{ color: {c.placeholder}; }}
QPushButton#linkButton {{ color: {c.link}; border: none; background: transparent; padding: 0.2em 0; }}
QPushButton#linkButton:hover {{ text-decoration: underline; }}
QLabel#fieldError {{ color: {c.kinds["error"][0]}; }}
QStatusBar {{ border-top: 1px solid {c.border}; }}
QStatusBar::item {{ border: none; }}
QLabel#statusField {{ padding: 0 0.7em; border-left: 1px solid {c.border}; }}
QToolButton#userButton {{ padding: 0.15em 0.6em; }}
QToolButton#userButton::menu-indicator {{ image: none; width: 0; }}
"""


class ThemeManager(QObject):
    """Applies the chosen theme to the application and keeps following the system when asked."""

    #: The shown scheme changed (a `Scheme`): repaint what paints its own colours.
    theme_changed = Signal(object)

    def __init__(self, preferences: Preferences, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._preferences = preferences
        self._system = QGuiApplication.styleHints().colorScheme()
        self._scheme: Scheme | None = None
        QGuiApplication.styleHints().colorSchemeChanged.connect(self._on_system_scheme_changed)

    @property
    def mode(self) -> ThemeMode:
        return self._preferences.theme

    @property
    def scheme(self) -> Scheme:
        """What is shown now (or would be, before the first `apply`)."""
        match self.mode:
            case ThemeMode.LIGHT:
                return Scheme.LIGHT
            case ThemeMode.DARK:
                return Scheme.DARK
        return Scheme.DARK if self._system == Qt.ColorScheme.Dark else Scheme.LIGHT

    def set_mode(self, mode: ThemeMode) -> None:
        """Remember the choice and show it at once."""
        self._preferences.theme = mode
        self.apply()

    def apply(self, *, force: bool = False) -> None:
        """Show the current scheme (idempotent: nothing repaints when nothing changes)."""
        app = QApplication.instance()
        if not isinstance(app, QApplication):
            return
        scheme = self.scheme
        if scheme is self._scheme and not force:
            return
        colours = COLOURS[scheme]
        # (With a style sheet set, `app.style()` is Qt's style sheet wrapper, whose name is empty.)
        if app.property(_FUSION_SET) is not True:
            style = QStyleFactory.create("Fusion")
            if style is not None:
                app.setStyle(style)
                app.setProperty(_FUSION_SET, True)
        app.setPalette(build_palette(colours))
        # Also how every widget hears of the new theme: a new style sheet sends each a StyleChange.
        app.setStyleSheet(stylesheet(colours))
        self._scheme = scheme
        self.theme_changed.emit(scheme)

    def _on_system_scheme_changed(self, scheme: Qt.ColorScheme) -> None:
        self._system = scheme
        if self.mode is ThemeMode.SYSTEM and self._scheme is not None:
            self.apply()
