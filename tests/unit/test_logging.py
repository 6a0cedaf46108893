"""The per-user log file (rotation, repeated setup, `--debug`) and what the command line prints
when something fails that no command handles: a server it cannot reach, or a bug."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from ecomdesk import cli
from ecomdesk.cli import EX_SOFTWARE, main
from ecomdesk.db.engine import make_engine
from ecomdesk.db.models import DeviceSession, User
from ecomdesk.logs import FILE_ONLY, log_file, setup_logging

PASSWORD = "a passphrase for the log test"


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Each test sets logging up for its own folder; give the root logger back as it was, so the
    handlers of one test never write into the next one's files."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    engine_level = logging.getLogger("sqlalchemy.engine").level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)
    logging.getLogger("sqlalchemy.engine").setLevel(engine_level)


def _unreachable_url(folder: Path) -> str:
    """A server on a Unix socket in an empty folder: libpq fails at once, with no network."""
    return f"postgresql://nobody@/shop?host={folder}"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the XDG layout is Linux's")
def test_the_log_file_is_in_the_per_user_state_folder_the_test_points_elsewhere(user_dirs: Path) -> None:
    # platformdirs puts logs in $XDG_STATE_HOME/<app>/log; `user_dirs` moved XDG_STATE_HOME to a
    # temporary folder, so no test writes into the real user's log.
    path = setup_logging()
    assert path == user_dirs / "state" / "ecomdesk" / "log" / "ecomdesk.log"
    logging.getLogger("ecomdesk.test").info("written")
    assert "INFO MainThread ecomdesk.test: written" in path.read_text(encoding="utf-8")


def test_the_file_rotates_at_the_size_limit_and_keeps_only_the_given_number_of_old_files() -> None:
    path = setup_logging(max_bytes=4096, backups=2)
    log = logging.getLogger("ecomdesk.test")
    for n in range(200):  # ~150 bytes a record: 30 KB, far more than three files of 4 KB hold
        log.info("record %04d %s", n, "x" * 80)
    files = sorted(path.parent.iterdir())
    assert [f.name for f in files] == ["ecomdesk.log", "ecomdesk.log.1", "ecomdesk.log.2"]
    assert all(0 < f.stat().st_size <= 4096 for f in files)
    assert "record 0199" in path.read_text(encoding="utf-8")
    assert not any("record 0000" in f.read_text(encoding="utf-8") for f in files)


def test_setting_up_again_replaces_the_handlers_so_a_record_is_written_once() -> None:
    for _ in range(3):
        path = setup_logging(console_level=logging.WARNING)
    ours = [h for h in logging.getLogger().handlers if getattr(h, "_ecomdesk", False)]
    assert len(ours) == 2  # the file and the console
    logging.getLogger("ecomdesk.test").warning("only once")
    assert path.read_text(encoding="utf-8").count("only once") == 1


def test_a_file_only_traceback_stays_off_the_console_unless_debugging(
    capsys: pytest.CaptureFixture[str],
) -> None:
    log = logging.getLogger("ecomdesk.test")
    for debug in (False, True):
        path = setup_logging(debug=debug, console_level=logging.WARNING)
        try:
            raise LookupError(f"debug={debug}")
        except LookupError:
            log.error("failed", exc_info=True, extra=FILE_ONLY)
        log.warning("a warning with debug=%s", debug)
        err = capsys.readouterr().err
        assert f"a warning with debug={debug}" in err
        assert (f"LookupError: debug={debug}" in err) is debug
        assert f"LookupError: debug={debug}" in path.read_text(encoding="utf-8")


def test_a_server_that_cannot_be_reached_is_one_line_with_libpqs_reason_and_a_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "current", "--database-url", _unreachable_url(tmp_path)]) == 1
    err = capsys.readouterr().err
    first, hint = err.splitlines()
    assert first.startswith("ecomdesk: cannot reach the database: ")
    assert f'socket "{tmp_path}/.s.PGSQL.5432"' in first  # libpq's own words name the socket
    # The connection test's explanation of the same failure (`connect.explain_failure`).
    assert hint.startswith(f"ecomdesk: hint: No PostgreSQL server runs in the folder {tmp_path}.")
    assert "Traceback" not in err
    text = log_file().read_text(encoding="utf-8")
    assert "WARNING MainThread ecomdesk: cannot reach the database" in text and "Traceback" in text


def test_a_service_that_finds_the_server_gone_keeps_its_own_sentence_and_adds_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Signing in goes through the services, which turn the failure into `Unavailable`.
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    args = ["user", "list", "--database-url", _unreachable_url(tmp_path), "--user", "x@shop.example"]
    assert main([*args, "--password-stdin"]) == 1
    first, hint = capsys.readouterr().err.splitlines()
    assert first.startswith("ecomdesk: The database cannot be reached right now.")
    assert first.endswith(")") and f'socket "{tmp_path}/.s.PGSQL.5432"' in first
    assert hint.startswith("ecomdesk: hint: No PostgreSQL server runs in the folder")


def test_a_bug_in_a_command_is_one_line_exit_70_and_its_traceback_goes_to_the_log_file(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken_profile_command(_args: object) -> int:
        return {"profiles": []}["profile"]  # type: ignore[return-value]

    monkeypatch.setattr(cli, "_profile", broken_profile_command)
    assert main(["profile", "list"]) == EX_SOFTWARE == 70
    err = capsys.readouterr().err
    assert err == f"ecomdesk: unexpected error (KeyError): 'profile'; details in {log_file()}\n"
    text = log_file().read_text(encoding="utf-8")
    assert "ERROR MainThread ecomdesk: unexpected error\nTraceback" in text
    assert "in broken_profile_command" in text and "KeyError: 'profile'" in text


def test_with_debug_the_traceback_of_a_bug_is_on_the_console_too(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "_profile", lambda _args: [][1])
    assert main(["--debug", "profile", "list"]) == EX_SOFTWARE
    err = capsys.readouterr().err
    assert "Traceback" in err and "IndexError: list index out of range" in err
    assert err.rstrip().endswith(
        f"ecomdesk: unexpected error (IndexError): list index out of range; details in {log_file()}"
    )


@pytest.mark.parametrize("switch", ["--debug", "ECOMDESK_DEBUG=1"])
def test_debug_puts_debug_records_and_sql_without_its_values_in_the_file(
    switch: str, database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    create = ["user", "create", "--database-url", database_url, "--email", "boss@shop.example"]
    assert main([*create, "--role", "admin", "--password-stdin"]) == 0
    assert "DEBUG" not in log_file().read_text(encoding="utf-8")
    assert "sqlalchemy.engine" not in log_file().read_text(encoding="utf-8")  # no SQL without debug

    debug_args = [switch] if switch.startswith("--") else []
    if not debug_args:
        monkeypatch.setenv(*switch.split("="))
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    login = ["login", "--database-url", database_url, "--user", "boss@shop.example", "--password-stdin"]
    assert main([*debug_args, *login]) == 0
    logging.getLogger("ecomdesk.test").debug("a debug record")
    capsys.readouterr()
    text = log_file().read_text(encoding="utf-8")
    assert "DEBUG MainThread ecomdesk.test: a debug record" in text
    assert "INFO MainThread sqlalchemy.engine.Engine: SELECT" in text
    assert "[SQL parameters hidden due to hide_parameters=True]" in text
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            password_hash = conn.execute(select(User.password_hash)).scalar_one()
            token_hash = conn.execute(select(DeviceSession.token_hash)).scalar_one()
    finally:
        engine.dispose()
    assert PASSWORD not in text and password_hash not in text and token_hash not in text
    assert "boss@shop.example" not in text.split("sqlalchemy.engine", 1)[1]  # not even the email
