"""Themes: light and dark palettes on Fusion, the choice remembered, "follow the system" following
the desktop live, and the widgets that paint their own colours following along."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from ecomdesk.services.registry import Services
from ecomdesk.ui.errors import Severity, UserMessage
from ecomdesk.ui.main_window import MainWindow
from ecomdesk.ui.messages import MessageBar
from ecomdesk.ui.preferences import Preferences, ThemeMode
from ecomdesk.ui.session import AppSession
from ecomdesk.ui.tasks import TaskRunner
from ecomdesk.ui.theme import DARK, LIGHT, Scheme, ThemeManager, scheme_of
from tests.services.conftest import Staff


def _window_colour() -> str:
    return QApplication.palette().color(QPalette.ColorRole.Window).name()


@pytest.fixture
def theme(qapp: QApplication) -> Iterator[ThemeManager]:
    manager = ThemeManager(Preferences())
    yield manager
    shiboken6.delete(manager)  # a live manager would keep following the desktop in later tests


def test_light_and_dark_each_set_their_palette_on_fusion(
    qtbot: QtBot, qapp: QApplication, theme: ThemeManager
) -> None:
    theme.set_mode(ThemeMode.LIGHT)
    assert _window_colour() == LIGHT.window
    sheet = qapp.styleSheet()
    qapp.setStyleSheet("")  # (with one, style() is Qt's style sheet wrapper)
    assert QApplication.style().name() == "fusion"
    qapp.setStyleSheet(sheet)
    with qtbot.waitSignal(theme.theme_changed) as changed:
        theme.set_mode(ThemeMode.DARK)
    assert changed.args == [Scheme.DARK]
    assert _window_colour() == DARK.window
    assert scheme_of(QApplication.palette()) is Scheme.DARK


def test_the_chosen_theme_is_remembered_for_the_next_start(theme: ThemeManager) -> None:
    theme.set_mode(ThemeMode.DARK)
    assert Preferences().theme is ThemeMode.DARK
    next_start = ThemeManager(Preferences())
    assert next_start.scheme is Scheme.DARK


def test_follow_the_system_switches_live_when_the_desktop_does(theme: ThemeManager) -> None:
    hints = QGuiApplication.styleHints()
    theme.set_mode(ThemeMode.SYSTEM)
    hints.colorSchemeChanged.emit(Qt.ColorScheme.Dark)  # what the platform sends when the desktop turns dark
    assert _window_colour() == DARK.window
    hints.colorSchemeChanged.emit(Qt.ColorScheme.Light)
    assert _window_colour() == LIGHT.window


def test_a_chosen_theme_ignores_the_desktop(theme: ThemeManager) -> None:
    theme.set_mode(ThemeMode.LIGHT)
    QGuiApplication.styleHints().colorSchemeChanged.emit(Qt.ColorScheme.Dark)
    assert _window_colour() == LIGHT.window


def test_nothing_repaints_when_the_theme_does_not_change(qtbot: QtBot, theme: ThemeManager) -> None:
    theme.set_mode(ThemeMode.DARK)
    with qtbot.assertNotEmitted(theme.theme_changed):
        theme.apply()


def test_the_message_bar_takes_its_colours_from_the_new_palette(qtbot: QtBot, theme: ThemeManager) -> None:
    theme.set_mode(ThemeMode.LIGHT)
    bar = MessageBar()
    qtbot.addWidget(bar)
    bar.show_message(UserMessage("Careful", "Something to know.", Severity.WARNING))
    light_sheet = bar.styleSheet()
    theme.set_mode(ThemeMode.DARK)
    assert bar.styleSheet() != light_sheet
    background = bar.styleSheet().split("background: ")[1][:7]
    assert QColor(background).lightness() < 128  # a dark tint


def test_the_view_menu_switches_the_theme_of_a_signed_in_window(
    qtbot: QtBot, services: Services, staff: Staff
) -> None:
    runner = TaskRunner()
    session = AppSession(services, staff.viewer, runner, database_label="x")
    window = MainWindow(session)
    qtbot.addWidget(window)
    try:
        session.theme.set_mode(ThemeMode.LIGHT)
        window.theme_actions[ThemeMode.DARK].trigger()
        assert _window_colour() == DARK.window
        assert session.preferences.theme is ThemeMode.DARK
        assert window.theme_actions[ThemeMode.DARK].isChecked()
    finally:
        runner.shutdown()
        runner.deleteLater()
        shiboken6.delete(session.theme)
