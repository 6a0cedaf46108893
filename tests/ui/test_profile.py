"""“My profile”: anyone edits their own names, phone and address — a refused save keeps the dialog open
with the input as typed and each message next to its field — changes their picture (checked by the
service, and by size before the file is read), opens the password dialog, and sees their devices."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import shiboken6
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QDialog
from pytestqt.qtbot import QtBot
from sqlalchemy import Engine

from ecomdesk.services.context import Actor, ServiceContext
from ecomdesk.services.errors import ValidationError
from ecomdesk.services.registry import Services
from ecomdesk.services.users import ProfileFields
from ecomdesk.ui.login import ChangePasswordDialog
from ecomdesk.ui.preferences import Preferences, ThemeMode
from ecomdesk.ui.profile import ProfileDialog
from ecomdesk.ui.session import AppSession
from ecomdesk.ui.tasks import TaskRunner
from ecomdesk.ui.theme import DARK, LIGHT, Colours, ThemeManager
from tests.services.conftest import PASSWORD, FakeClock, Staff, audit_entries, png

PHONE_MESSAGE = "Enter a phone number with 6 to 17 digits, e.g. +49 30 1234567."
NEW_PASSWORD = "a brand new passphrase for winter"

OpenDialog = Callable[..., ProfileDialog]


@pytest.fixture
def open_dialog(qtbot: QtBot, services: Services, runner: TaskRunner) -> Iterator[OpenDialog]:
    """The dialog for `actor` (on `on`, the services, when given), opened and loaded."""
    sessions: list[AppSession] = []
    dialogs: list[ProfileDialog] = []

    def open_(actor: Actor, *, on: Services | None = None) -> ProfileDialog:
        session = AppSession(on or services, actor, runner, database_label="the test shop")
        sessions.append(session)
        dialog = ProfileDialog(session)
        qtbot.addWidget(dialog)
        dialogs.append(dialog)  # (qtbot holds widgets weakly)
        assert not dialog.form.isEnabled()  # until loaded
        dialog.open()
        qtbot.waitUntil(lambda: dialog.loaded and not dialog.devices.loading, timeout=15_000)
        return dialog

    yield open_
    for session in sessions:
        shiboken6.delete(session.theme)


@pytest.fixture
def paula(make_user: Callable[..., Actor], services: Services) -> Actor:
    """A viewer — the least rights there are — with every profile field filled in."""
    actor = make_user("viewer", email="paula@shop.example", first_name="Paula", last_name="Profile")
    services.users.update_my_profile(
        actor, ProfileFields("Paula", "Profile", "+49 30 1234567", "Gartenstraße 1\n10115 Berlin")
    )
    return actor


def _save(qtbot: QtBot, dialog: ProfileDialog) -> None:
    assert dialog.save_button.isEnabled()
    dialog.save_button.click()
    qtbot.waitUntil(lambda: dialog.status.text() != "Saving…", timeout=15_000)


def _wait_for_picture(qtbot: QtBot, dialog: ProfileDialog) -> None:
    qtbot.waitUntil(lambda: dialog.change_picture_button.isEnabled(), timeout=15_000)


def _near(colour: QColor, expected: QColor) -> bool:
    """Equal but for what lossy re-encoding and smooth scaling shift."""
    return all(
        abs(a - b) <= 4
        for a, b in (
            (colour.red(), expected.red()),
            (colour.green(), expected.green()),
            (colour.blue(), expected.blue()),
        )
    )


def _device_names(dialog: ProfileDialog) -> list[str]:
    tree = dialog.devices.tree
    items = [tree.topLevelItem(i) for i in range(tree.topLevelItemCount())]
    return [item.text(0) for item in items if item is not None]


def _shows_picture(dialog: ProfileDialog) -> bool:
    """(A function, so the checker does not hold the property's earlier value against a later one.)"""
    return dialog.avatar.has_image


def _picture_id(services: Services, actor: Actor) -> int | None:
    return services.users.get_user(actor, actor.user_id).avatar_file_id


# -- the fields ----------------------------------------------------------------------------------


def test_the_dialog_loads_the_signed_in_persons_profile(open_dialog: OpenDialog, paula: Actor) -> None:
    dialog = open_dialog(paula)
    assert dialog.form.isEnabled() and dialog.busy.isHidden()
    assert (dialog.first_name.text(), dialog.last_name.text()) == ("Paula", "Profile")
    assert dialog.phone.text() == "+49 30 1234567"
    assert dialog.address.toPlainText() == "Gartenstraße 1\n10115 Berlin"
    assert (dialog.email_label.text(), dialog.role_label.text()) == ("paula@shop.example", "viewer")
    assert dialog.admin_hint.isVisible() and "administrator" in dialog.admin_hint.text()
    assert dialog.name_label.text() == "Paula Profile"
    assert not dialog.avatar.has_image and not dialog.remove_picture_button.isEnabled()
    assert not dialog.save_button.isEnabled()  # nothing changed yet
    assert [dialog.tabs.tabText(i) for i in range(dialog.tabs.count())] == ["Profile", "Devices"]


def test_each_refusal_appears_next_to_its_field_and_the_dialog_keeps_the_input(
    qtbot: QtBot, open_dialog: OpenDialog, paula: Actor, services: Services
) -> None:
    dialog = open_dialog(paula)
    dialog.first_name.setText("   ")
    dialog.last_name.setText("Profilova")
    dialog.phone.setText("call me maybe")
    dialog.address.setPlainText("x" * 1001)
    _save(qtbot, dialog)
    assert dialog.fields["first_name"].message == "Required."
    assert dialog.fields["phone"].message == PHONE_MESSAGE
    assert dialog.fields["address"].message == "At most 1000 characters."
    assert dialog.fields["last_name"].message == ""
    assert dialog.status.kind == "error"
    assert dialog.isVisible() and dialog.result() != QDialog.DialogCode.Accepted
    values = (dialog.first_name.text(), dialog.last_name.text(), dialog.phone.text())
    assert values == ("   ", "Profilova", "call me maybe")
    assert dialog.address.toPlainText() == "x" * 1001
    assert dialog.save_button.isEnabled()  # fix and try again
    stored = services.users.get_user(paula, paula.user_id)
    assert (stored.first_name, stored.last_name, stored.phone) == ("Paula", "Profile", "+49 30 1234567")


def test_a_saved_profile_is_in_the_database_and_closes_the_dialog_with_the_new_record(
    qtbot: QtBot, open_dialog: OpenDialog, paula: Actor, services: Services, engine: Engine
) -> None:
    dialog = open_dialog(paula)
    dialog.last_name.setText("Profilova")
    dialog.phone.setText("")
    dialog.address.setPlainText("Hauptstraße 5\n80331 München")
    with qtbot.waitSignal(dialog.saved, timeout=15_000) as saved:
        dialog.save_button.click()
    assert saved.args is not None
    [record] = saved.args
    assert record.full_name == "Paula Profilova"
    assert dialog.result() == QDialog.DialogCode.Accepted and not dialog.isVisible()
    stored = services.users.get_user(paula, paula.user_id)
    assert (stored.last_name, stored.phone, stored.address) == (
        "Profilova",
        None,
        "Hauptstraße 5\n80331 München",
    )
    entry = audit_entries(engine, "user.profile_updated")[-1]  # (the fixture's own edit came first)
    assert entry.before is not None and entry.before["last_name"] == "Profile"
    assert entry.after is not None and entry.after["last_name"] == "Profilova"


# -- the picture ---------------------------------------------------------------------------------


def test_a_png_file_becomes_the_picture_shown_and_stored(
    qtbot: QtBot, open_dialog: OpenDialog, paula: Actor, services: Services, tmp_path: Path
) -> None:
    path = tmp_path / "me.png"
    path.write_bytes(png((20, 160, 60), (64, 48)))
    dialog = open_dialog(paula)
    dialog.first_name.setText("Paulina")  # typing in progress survives the upload
    with qtbot.waitSignal(dialog.picture_changed, timeout=15_000):
        dialog.set_picture_file(path)
    assert dialog.avatar.has_image and dialog.picture_error.isHidden()
    assert dialog.remove_picture_button.isEnabled()
    assert dialog.first_name.text() == "Paulina" and dialog.save_button.isEnabled()
    stored = services.users.avatar(paula, paula.user_id)
    assert stored is not None
    assert _near(QImage.fromData(stored.data).pixelColor(32, 24), QColor(20, 160, 60))  # (re-encoded)
    shown = dialog.avatar.pixmap().toImage()
    assert _near(shown.pixelColor(shown.width() // 2, shown.height() // 2), QColor(20, 160, 60))


def test_a_text_file_named_png_is_refused_under_the_picture_with_the_services_message(
    qtbot: QtBot, open_dialog: OpenDialog, paula: Actor, services: Services, tmp_path: Path
) -> None:
    fake = b"Dear diary, today I renamed a text file.\n" * 10
    path = tmp_path / "holiday.png"
    path.write_bytes(fake)
    with pytest.raises(ValidationError) as refused:  # what the service itself says about it
        services.users.set_avatar(paula, paula.user_id, fake, "holiday.png")
    dialog = open_dialog(paula)
    dialog.set_picture_file(path)
    _wait_for_picture(qtbot, dialog)
    assert dialog.picture_error.isVisible()
    assert dialog.picture_error.text() == refused.value.fields["file"]
    assert not dialog.avatar.has_image and _picture_id(services, paula) is None
    assert dialog.isVisible()


def test_a_file_over_five_megabytes_is_refused_before_it_is_uploaded_and_the_picture_stays(
    qtbot: QtBot, open_dialog: OpenDialog, paula: Actor, services: Services, tmp_path: Path
) -> None:
    services.users.set_avatar(paula, paula.user_id, png(), "old.png")
    before = _picture_id(services, paula)
    path = tmp_path / "huge.png"
    path.write_bytes(b"\0" * (5 * 1024 * 1024 + 1))
    dialog = open_dialog(paula)
    assert dialog.avatar.has_image
    dialog.set_picture_file(path)
    _wait_for_picture(qtbot, dialog)
    assert dialog.picture_error.text() == "The file is 5.1 MB; the most allowed is 5 MB."
    assert dialog.avatar.has_image and _picture_id(services, paula) == before


def test_remove_picture_goes_back_to_the_initials(
    qtbot: QtBot, open_dialog: OpenDialog, paula: Actor, services: Services
) -> None:
    services.users.set_avatar(paula, paula.user_id, png(), "me.png")
    dialog = open_dialog(paula)
    assert _shows_picture(dialog) and dialog.remove_picture_button.isEnabled()
    with qtbot.waitSignal(dialog.picture_changed, timeout=15_000):
        dialog.remove_picture_button.click()
    assert not _shows_picture(dialog) and not dialog.remove_picture_button.isEnabled()
    assert services.users.avatar(paula, paula.user_id) is None


# -- password and devices -----------------------------------------------------------------------


def test_change_password_opens_the_password_dialog_and_the_devices_tab_follows(
    qtbot: QtBot, open_dialog: OpenDialog, staff: Staff, services: Services
) -> None:
    email = staff.manager.email
    here = services.auth.authenticate(email, PASSWORD, remember=True, device_name="Office PC").actor
    services.auth.authenticate(email, PASSWORD, remember=True, device_name="Till 2")
    dialog = open_dialog(here)
    assert sorted(_device_names(dialog)) == ["Office PC — this computer", "Till 2"]
    dialog.change_password_button.click()
    password = dialog.password_dialog
    assert isinstance(password, ChangePasswordDialog) and password.isVisible()
    assert password.windowTitle() == "Change password"  # not the forced variant
    password.current.setText(PASSWORD)
    password.new.setText(NEW_PASSWORD)
    password.repeat.setText(NEW_PASSWORD)
    password.buttons.accepted.emit()
    qtbot.waitUntil(lambda: _device_names(dialog) == ["Office PC — this computer"], timeout=15_000)
    assert "password was changed" in dialog.status.text()
    assert dialog.isVisible()


def test_a_read_only_copy_shows_the_profile_but_changes_nothing(
    open_dialog: OpenDialog, paula: Actor, engine: Engine, clock: FakeClock
) -> None:
    read_only = Services.from_context(ServiceContext(engine, read_only=True, clock=clock))
    dialog = open_dialog(paula, on=read_only)
    assert dialog.first_name.text() == "Paula" and dialog.first_name.isReadOnly()
    assert dialog.address.isReadOnly()
    for button in (
        dialog.save_button,
        dialog.change_picture_button,
        dialog.remove_picture_button,
        dialog.change_password_button,
    ):
        assert not button.isEnabled() and "read-only" in button.toolTip()


# -- looks ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "error_colour"), [(ThemeMode.LIGHT, LIGHT), (ThemeMode.DARK, DARK)])
def test_both_tabs_render_in_light_and_dark_with_whole_messages_in_the_themes_error_colour(
    qtbot: QtBot,
    open_dialog: OpenDialog,
    paula: Actor,
    services: Services,
    tmp_path: Path,
    mode: ThemeMode,
    error_colour: Colours,
) -> None:
    """Also leaves profile-<mode>.png and devices-<mode>.png in the test's folder, to look at."""
    here = services.auth.authenticate(paula.email, PASSWORD, remember=True, device_name="Office PC").actor
    services.auth.authenticate(paula.email, PASSWORD, remember=True, device_name="Till 2")
    theme = ThemeManager(Preferences())
    try:
        theme.set_mode(mode)
        dialog = open_dialog(here)
        dialog.resize(dialog.sizeHint())  # (offscreen, Qt caps a new window at 2/3 of an 800×600 screen)
        dialog.phone.setText("call me maybe")
        _save(qtbot, dialog)
        dialog.set_picture_file(tmp_path / "missing.png")
        _wait_for_picture(qtbot, dialog)
        shot = dialog.grab()
        assert not shot.isNull() and shot.save(str(tmp_path / f"profile-{mode.value}.png"))
        phone = dialog.fields["phone"]
        for message in (phone.error, dialog.picture_error):
            assert message.isVisible()
            assert message.height() >= message.heightForWidth(message.width())  # no line cut off
            assert message.palette().color(message.foregroundRole()) == QColor(error_colour.kinds["error"][0])
        assert phone.geometry().bottom() < dialog.fields["address"].geometry().top()
        dialog.tabs.setCurrentIndex(1)
        first = dialog.devices.tree.topLevelItem(0)
        assert first is not None
        dialog.devices.tree.setCurrentItem(first)  # (what a selected row looks like in the theme)
        assert dialog.grab().save(str(tmp_path / f"devices-{mode.value}.png"))
    finally:
        shiboken6.delete(theme)  # (a live manager would keep following the desktop in later tests)
