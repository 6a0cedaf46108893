"""`ecomdesk --self-test`: every window offscreen on a given database (or a fresh demo of its own),
one timed line per step, exit 0 only if every step passed; a failure stops the run at its step."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psutil
import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QWidget
from sqlalchemy import Engine, func, select

from ecomdesk.cli import main
from ecomdesk.db import migrate
from ecomdesk.db.engine import make_engine
from ecomdesk.db.models import Base, ChangeEntry
from ecomdesk.logs import log_file
from ecomdesk.ui import pages
from ecomdesk.ui.preferences import Preferences
from ecomdesk.ui.session import AppSession
from tests.services.conftest import PASSWORD, MakeUser

ROOT = Path(__file__).resolve().parents[2]
#: Steps every signed-in run prints, in order, before and after the pages.
SIGNED_IN_STEPS = ("database", "schema", "connection window", "login window", "sign in", "main window")
CLOSING_STEPS = ("chart painted", "main window closed", "background work ended")


def _stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))


def _steps(out: str) -> list[tuple[str, str]]:
    """(status, step name) of each line: the status is the first word, the name runs to the
    time column or, on an info or skip line, to the double space before the detail."""
    found = []
    for line in out.splitlines():
        match = re.match(r"(ok|FAIL|skip|info) +(.+?)(?: +\d+ ms|  )", line)
        if match:
            found.append((match.group(1), match.group(2).strip()))
    return found


def _row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            table.name: conn.scalar(select(func.count()).select_from(table)) or 0
            for table in Base.metadata.sorted_tables
        }


def test_signed_in_with_user_every_page_opens_and_nothing_but_the_sign_in_is_written(
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    engine: Engine,
    make_user: MakeUser,
    capsys: pytest.CaptureFixture[str],
) -> None:
    admin = make_user("admin", email="boss@shop.example")
    before = _row_counts(engine)
    _stdin(monkeypatch, PASSWORD + "\n")

    code = main(["--self-test", "--database-url", database_url, "--user", admin.email, "--password-stdin"])

    out = capsys.readouterr().out
    assert code == 0, out
    steps = _steps(out)
    page_steps = [f"page {spec.key}" for spec in pages.pages_for(admin)]
    assert len(page_steps) == len(pages.page_specs())  # an administrator sees every page
    ok = [name for status, name in steps if status == "ok"]
    assert ok == [*SIGNED_IN_STEPS, *page_steps, *CLOSING_STEPS]
    assert ("info", "launch → login window") in steps
    assert f"{admin.email} (admin)" in out
    assert re.search(r"^self-test passed in \d+\.\d s$", out, re.MULTILINE)
    # Read-only apart from the sign-in: its audit entry and last sign-in time (and the change log's
    # note of those two writes) are all that changed.
    after = _row_counts(engine)
    assert {t: after[t] - before[t] for t in after if after[t] != before[t]} == {
        "audit_log": 1,
        "change_log": 2,
    }
    with engine.connect() as conn:
        newest = select(ChangeEntry.table_name, ChangeEntry.op).order_by(ChangeEntry.id.desc()).limit(2)
        assert {tuple(row) for row in conn.execute(newest)} == {("users", "update"), ("audit_log", "insert")}
    # The person's own preferences (window layout, last page) were not touched either.
    assert Preferences().last_page is None


def test_the_sign_in_ecomdesk_login_remembered_opens_the_main_window(
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    make_user: MakeUser,
    capsys: pytest.CaptureFixture[str],
) -> None:
    viewer = make_user("viewer", email="vic@shop.example")
    _stdin(monkeypatch, PASSWORD + "\n")
    assert main(["login", "--database-url", database_url, "--user", viewer.email, "--password-stdin"]) == 0
    capsys.readouterr()

    assert main(["--self-test", "--database-url", database_url]) == 0

    out = capsys.readouterr().out
    steps = _steps(out)
    assert ("ok", "sign in") in steps and f"{viewer.email} (viewer)" in out
    visible = {f"page {spec.key}" for spec in pages.pages_for(viewer)}
    assert "page roles" not in visible  # a viewer does not manage roles...
    assert {name for status, name in steps if name.startswith("page ")} == visible  # ...nor sees it


def test_a_schema_behind_the_app_fails_at_the_schema_step_with_the_advice_and_is_not_upgraded(
    empty_database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--self-test", "--database-url", empty_database_url]) == 1

    out = capsys.readouterr().out
    assert _steps(out)[-2:] == [("ok", "database"), ("FAIL", "schema")]
    engine = make_engine(empty_database_url)
    try:
        status = migrate.schema_status(engine)
        assert status.state is migrate.SchemaState.EMPTY  # still empty: the self-test never upgrades
    finally:
        engine.dispose()
    assert "ecomdesk db upgrade" in status.advice
    assert out.rstrip().splitlines()[-1] == f"self-test FAILED: schema: {status.advice}"


def test_without_a_sign_in_the_main_window_is_skipped_and_said_so(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--self-test", "--database-url", database_url]) == 0

    out = capsys.readouterr().out
    steps = _steps(out)
    assert [name for status, name in steps if status == "ok"] == [
        "database", "schema", "connection window", "login window", "background work ended"
    ]  # fmt: skip
    assert ("skip", "main window") in steps
    assert "--user EMAIL" in out and "ecomdesk login" in out
    assert out.rstrip().splitlines()[-1].endswith("(main window skipped: no sign-in)")


def test_a_wrong_password_fails_at_the_sign_in_step(
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    make_user: MakeUser,
    capsys: pytest.CaptureFixture[str],
) -> None:
    manager = make_user("manager")
    _stdin(monkeypatch, "not the password\n")

    code = main(["--self-test", "--database-url", database_url, "--user", manager.email, "--password-stdin"])

    out = capsys.readouterr().out
    assert code == 1
    assert _steps(out)[-1] == ("FAIL", "sign in")
    assert "self-test FAILED: sign in:" in out


@pytest.fixture
def settings_page_that_raises() -> Iterator[None]:
    """The real settings page, with a slot that raises once it is shown: a bug Qt hands to
    `sys.excepthook` instead of the caller."""
    real = pages.page_spec("settings")

    def build(session: AppSession) -> QWidget:
        page = real.factory(session)

        def broken() -> None:
            raise RuntimeError("the settings page broke")

        QTimer.singleShot(0, page, broken)
        return page

    pages.register_page(replace(real, factory=build))
    yield
    pages.register_page(real)


@pytest.mark.usefixtures("settings_page_that_raises")
def test_an_exception_in_a_slot_fails_the_step_it_happened_in_with_its_traceback_in_the_log(
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    make_user: MakeUser,
    capsys: pytest.CaptureFixture[str],
) -> None:
    admin = make_user("admin")
    _stdin(monkeypatch, PASSWORD + "\n")

    code = main(["--self-test", "--database-url", database_url, "--user", admin.email, "--password-stdin"])

    out = capsys.readouterr().out
    assert code == 1
    assert _steps(out)[-2:] == [("ok", "page integrations"), ("FAIL", "page settings")]
    assert "an exception reached sys.excepthook: RuntimeError: the settings page broke" in out
    logged = log_file().read_text(encoding="utf-8")
    assert "Traceback" in logged and "the settings page broke" in logged


def test_a_terminated_self_test_unwinds_like_ctrl_c(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """SIGTERM (a CI job's timeout) stops the run as Ctrl+C does, so a fresh demo's server is
    stopped on the way out (that path is the Ctrl+C test's); it arrives here while a window is up."""
    previous = signal.getsignal(signal.SIGTERM)
    QTimer.singleShot(0, lambda: os.kill(os.getpid(), signal.SIGTERM))  # at the first window's events

    assert main(["--self-test", "--database-url", database_url]) == 130

    captured = capsys.readouterr()
    assert "interrupted" in captured.err and "self-test passed" not in captured.out
    assert signal.getsignal(signal.SIGTERM) is previous


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--self-test", "user", "list"], "--self-test runs on its own"),
        (["--user", "a@shop.example", "user", "list"], "belong to --self-test"),
        (["--self-test", "--user", "a@shop.example"], "the fresh demo signs in as its administrator"),
    ],
)
def test_self_test_options_in_the_wrong_place_are_usage_errors(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert says in capsys.readouterr().err


# -- the fresh demo, in a process of its own -----------------------------------------------------


def _self_test_process() -> subprocess.Popen[str]:
    # No display and no platform named: the self-test chooses offscreen itself. No keyring either.
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")}
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    return subprocess.Popen(
        [sys.executable, "-m", "ecomdesk", "--self-test"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _demo_folder(first_line: str) -> Path:
    match = re.search(r"throwaway server in (\S+)", first_line)
    assert match, first_line
    return Path(match.group(1))


def _servers_in(folder: Path) -> list[psutil.Process]:
    """PostgreSQL processes still running on a cluster inside `folder`."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if any(str(folder) in part for part in process.info["cmdline"] or ()):
            found.append(process)
    return found


@pytest.mark.slow
def test_without_a_database_it_runs_on_a_fresh_demo_that_is_gone_afterwards() -> None:
    process = _self_test_process()
    out, err = process.communicate(timeout=120)

    assert process.returncode == 0, out + err
    steps = _steps(out)
    assert steps[0] == ("ok", "fresh demo database")
    assert ("ok", "sign in") in steps and "admin@demo.shop (admin)" in out
    assert ("ok", "chart painted") in steps
    assert steps[-1] == ("ok", "fresh demo removed")
    assert re.search(r"^info +launch → login window +\d+ ms", out, re.MULTILINE)
    folder = _demo_folder(out.splitlines()[0])
    assert not folder.exists()
    assert _servers_in(folder) == []


@pytest.mark.slow
def test_a_self_test_stopped_with_ctrl_c_still_removes_its_fresh_demo() -> None:
    process = _self_test_process()
    assert process.stdout is not None
    first = process.stdout.readline()  # the demo is up: the windows' steps take a while yet
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)

    assert process.returncode == 130, first + out + err
    assert "interrupted" in err
    assert "self-test passed" not in out
    folder = _demo_folder(first)
    assert not folder.exists()
    assert _servers_in(folder) == []


def test_the_start_up_figure_counts_from_the_process_start_to_the_millisecond_not_the_second() -> None:
    """A child reports its age just before it exits; the parent timed it from spawn to exit, so the
    age can be at most that (psutil's create_time() is off by the boot time's fraction of a second)."""
    import subprocess
    import sys
    import time

    started = time.monotonic()
    child = subprocess.run(
        [sys.executable, "-c", "from ecomdesk.ui.self_test import process_age; print(process_age())"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    age = float(child.stdout)
    assert 0 < age <= elapsed + 0.02  # (one clock tick of slack: the kernel counts in 10 ms)
