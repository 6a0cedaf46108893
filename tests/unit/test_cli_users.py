"""`ecomdesk user create|list`, `login`, `logout`, and acting as a user from the command line."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from ecomdesk.cli import main
from ecomdesk.config import database_identity
from ecomdesk.db.engine import make_engine
from ecomdesk.db.models import DeviceSession
from tests.conftest import MemoryKeyring

ADMIN_PASSWORD = "the first admin's passphrase"


def _stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))


def _create_admin(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    _stdin(monkeypatch, ADMIN_PASSWORD + "\n")
    args = ["user", "create", "--database-url", url, "--email", "boss@shop.example", "--role", "admin"]
    assert main([*args, "--password-stdin"]) == 0


def test_the_database_owner_creates_the_first_admin_who_then_lists_accounts(
    monkeypatch: pytest.MonkeyPatch, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _create_admin(monkeypatch, database_url)
    out = capsys.readouterr().out
    assert "created boss@shop.example (Boss Admin), role admin" in out
    assert ADMIN_PASSWORD not in out

    _stdin(monkeypatch, ADMIN_PASSWORD + "\n")
    assert (
        main(
            [
                "user",
                "list",
                "--database-url",
                database_url,
                "--user",
                "BOSS@shop.example",
                "--password-stdin",
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split("\t") == ["id", "email", "name", "role", "active", "last sign-in"]
    assert lines[1].split("\t")[1:5] == ["boss@shop.example", "Boss Admin", "admin", "yes"]


def test_a_temporary_password_is_printed_once_and_must_be_changed(
    monkeypatch: pytest.MonkeyPatch, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["user", "create", "--database-url", database_url, "--email", "jane.doe@shop.example"]
    assert main([*args, "--role", "Manager", "--temporary-password"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "Jane Doe" in out[0] and "role manager" in out[0]
    temporary = out[-1]
    assert len(temporary) == 23
    _stdin(monkeypatch, temporary + "\n")
    assert (
        main(
            [
                "user",
                "list",
                "--database-url",
                database_url,
                "--user",
                "jane.doe@shop.example",
                "--password-stdin",
            ]
        )
        == 1
    )
    assert "choose a new password first" in capsys.readouterr().err


def test_a_weak_password_and_an_unknown_role_are_refused_with_every_reason(
    monkeypatch: pytest.MonkeyPatch, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _stdin(monkeypatch, "short\n")
    args = ["user", "create", "--database-url", database_url, "--email", "x@shop.example", "--role", "admin"]
    assert main([*args, "--password-stdin"]) == 1
    assert "password: Use at least 15 characters (5 so far)" in capsys.readouterr().err
    _stdin(monkeypatch, ADMIN_PASSWORD + "\n")
    args[-1] = "owner"
    assert main([*args, "--password-stdin"]) == 1
    assert "no role named 'owner' (roles: admin, manager, viewer)" in capsys.readouterr().err


def test_a_command_that_reads_business_data_needs_an_acting_user(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["user", "list", "--database-url", database_url]) == 2
    err = capsys.readouterr().err
    assert "--user EMAIL" in err and "ecomdesk login" in err


def test_without_a_terminal_the_password_must_come_from_stdin(
    monkeypatch: pytest.MonkeyPatch, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _stdin(monkeypatch, "")
    assert main(["user", "list", "--database-url", database_url, "--user", "a@shop.example"]) == 2
    assert "--password-stdin" in capsys.readouterr().err


def test_a_wrong_password_gets_the_generic_message(
    monkeypatch: pytest.MonkeyPatch, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _create_admin(monkeypatch, database_url)
    _stdin(monkeypatch, "not the admin password at all\n")
    assert (
        main(
            [
                "user",
                "list",
                "--database-url",
                database_url,
                "--user",
                "boss@shop.example",
                "--password-stdin",
            ]
        )
        == 1
    )
    assert "email address or the password is not right" in capsys.readouterr().err


def test_login_remembers_a_device_token_in_the_keyring_and_logout_revokes_it(
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
    memory_keyring: MemoryKeyring,
) -> None:
    _create_admin(monkeypatch, database_url)
    _stdin(monkeypatch, ADMIN_PASSWORD + "\n")
    login = ["login", "--database-url", database_url, "--user", "boss@shop.example", "--password-stdin"]
    assert main([*login, "--device-name", "Back office PC"]) == 0
    assert "signed in as boss@shop.example (admin)" in capsys.readouterr().out
    [(key, token)] = [
        (k[1], v) for k, v in memory_keyring.store.items() if k[1].startswith("device-session:")
    ]
    assert token.startswith("ecd1_") and ADMIN_PASSWORD not in memory_keyring.store.values()
    assert key == "device-session:" + database_identity(database_url)

    assert main(["user", "list", "--database-url", database_url]) == 0  # no --user needed now
    assert "boss@shop.example" in capsys.readouterr().out

    assert main(["logout", "--database-url", database_url]) == 0
    assert not any(k[1].startswith("device-session:") for k in memory_keyring.store)
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            device = conn.execute(select(DeviceSession.device_name, DeviceSession.revoked_at)).one()
    finally:
        engine.dispose()
    assert device.device_name == "Back office PC" and device.revoked_at is not None
    assert main(["user", "list", "--database-url", database_url]) == 2
    assert main(["logout", "--database-url", database_url]) == 0
    assert "not signed in" in capsys.readouterr().out


@pytest.mark.usefixtures("no_keyring")
def test_login_without_a_keyring_says_so_and_remembers_nothing(
    monkeypatch: pytest.MonkeyPatch, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _create_admin(monkeypatch, database_url)
    _stdin(monkeypatch, ADMIN_PASSWORD + "\n")
    assert (
        main(["login", "--database-url", database_url, "--user", "boss@shop.example", "--password-stdin"])
        == 2
    )
    err = capsys.readouterr().err
    assert "No system keyring" in err and "--user EMAIL" in err
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(select(DeviceSession.id)).first() is None
    finally:
        engine.dispose()


def test_a_viewer_may_not_list_accounts(
    monkeypatch: pytest.MonkeyPatch, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _stdin(monkeypatch, ADMIN_PASSWORD + "\n")
    create = ["user", "create", "--database-url", database_url, "--email", "vic@shop.example"]
    assert main([*create, "--role", "viewer", "--password-stdin"]) == 0
    capsys.readouterr()
    _stdin(monkeypatch, ADMIN_PASSWORD + "\n")
    assert (
        main(
            ["user", "list", "--database-url", database_url, "--user", "vic@shop.example", "--password-stdin"]
        )
        == 1
    )
    refused = capsys.readouterr()
    assert "users.read" in refused.err and refused.out == ""


def test_a_reader_that_leaves_early_ends_the_listing_quietly(
    monkeypatch: pytest.MonkeyPatch, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _create_admin(monkeypatch, database_url)

    class ClosedPipe(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    _stdin(monkeypatch, ADMIN_PASSWORD + "\n")
    monkeypatch.setattr("sys.stdout", ClosedPipe())
    args = ["user", "list", "--database-url", database_url, "--user", "boss@shop.example", "--password-stdin"]
    assert main(args) == 141
    assert "Traceback" not in capsys.readouterr().err
