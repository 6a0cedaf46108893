"""`ecomdesk watch` as a script runs it: a real process on a real database, changes committed by
another connection while it runs, its JSON lines read from the pipe as they come.

The process is ready once its cursor is taken and its LISTEN connection open (it then shows in
`pg_stat_activity`); the tests that poll only watch a writer that keeps committing instead.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import psycopg
import pytest

from ecomdesk.cli import main
from ecomdesk.db.changes import TRACKED_TABLES
from ecomdesk.db.embedded import EmbeddedServer
from ecomdesk.db.engine import libpq_url

#: Generous: the process imports SQLAlchemy and connects first, on a busy 2-core machine.
READY_TIMEOUT = 20.0
LINE_TIMEOUT = 10.0


def _lines(stream: IO[str], into: queue.Queue[str | None]) -> None:
    for line in stream:
        into.put(line)
    into.put(None)


@dataclass
class Watching:
    """A running `ecomdesk watch`, its stdout lines arriving on a queue."""

    process: subprocess.Popen[str]
    url: str
    lines: queue.Queue[str | None] = field(default_factory=queue.Queue)

    def next_change(self, timeout: float = LINE_TIMEOUT) -> dict[str, Any]:
        line = self.lines.get(timeout=timeout)
        assert line is not None, "the watch ended early"
        change: dict[str, Any] = json.loads(line)
        return change

    def nothing_more(self, seconds: float) -> bool:
        try:
            line = self.lines.get(timeout=seconds)
        except queue.Empty:
            return True
        return line is None

    def stop(self) -> tuple[int, str]:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=15)
        assert self.process.stderr is not None
        return code, self.process.stderr.read()


def _listening(url: str) -> int | None:
    """The backend pid of a LISTEN connection on the database, if one is open."""
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        row = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'"
        ).fetchone()
    return None if row is None else int(row[0])


def _wait_listening(url: str, timeout: float = READY_TIMEOUT) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (pid := _listening(url)) is not None:
            return pid
        time.sleep(0.1)
    raise AssertionError("ecomdesk watch never started listening")


@pytest.fixture
def watch(database_url: str) -> Iterator[Any]:
    started: list[Watching] = []

    def start(*options: str) -> Watching:
        process = subprocess.Popen(
            [sys.executable, "-m", "ecomdesk", "watch", "--database-url", database_url, *options],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        watching = Watching(process, database_url)
        assert process.stdout is not None
        threading.Thread(target=_lines, args=(process.stdout, watching.lines), daemon=True).start()
        started.append(watching)
        return watching

    yield start
    for watching in started:
        if watching.process.poll() is None:
            watching.process.kill()
            watching.process.wait()


def _sql(url: str, statement: str, *params: object) -> Any:
    """One statement in its own transaction on a plain psycopg connection, as psql would."""
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        cursor = conn.execute(statement, params)
        row = cursor.fetchone() if cursor.description else None
    return None if row is None else row[0]


def _add_item(url: str, sku: str) -> int:
    item_id: int = _sql(
        url,
        "INSERT INTO inventory_items (sku, name, category, supplier, stock, price, cost) "
        "VALUES (%s, %s, 'Toys', 'Acme', 1, 10, 4) RETURNING id",
        sku,
        f"Item {sku}",
    )
    return item_id


def test_watch_prints_changes_committed_after_it_started_for_the_tables_asked_and_stops_on_sigterm(
    watch: Any, database_url: str
) -> None:
    before = _add_item(database_url, "BEFORE")  # committed before the watch started: not printed
    watching = watch("--table", "inventory_items", "--table", "users")
    _wait_listening(database_url)

    added = _add_item(database_url, "KITE")
    _sql(database_url, "UPDATE inventory_items SET name = 'Atlas' WHERE id = %s", before)
    _sql(database_url, "UPDATE settings SET value = '12' WHERE key = 'inventory.low_stock_threshold'")
    _sql(database_url, "DELETE FROM inventory_items WHERE id = %s", added)

    seen = [watching.next_change() for _ in range(3)]
    assert [(c["table"], c["op"], c["row_id"], c["rows"]) for c in seen] == [
        ("inventory_items", "insert", str(added), 1),
        ("inventory_items", "update", str(before), 1),
        ("inventory_items", "delete", str(added), 1),
    ]
    ids = [c["change_id"] for c in seen]
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert all(c["time"].endswith("+00:00") for c in seen)
    assert watching.nothing_more(1.5), "the settings change is not a watched table's"

    code, err = watching.stop()
    assert code == 0
    assert "Traceback" not in err


def test_watch_without_listen_misses_no_commit_and_stops_by_itself_after_for(
    watch: Any, database_url: str
) -> None:
    """A writer commits one item after another while the watch polls every 0.2 s: whatever part
    of the writer's run the watch covers, it prints every item of it, once, in commit order."""
    watching = watch("--no-listen", "--interval", "0.2", "--for", "4", "--table", "inventory_items")
    written: list[int] = []
    n = 0
    while watching.process.poll() is None:
        n += 1
        written.append(_add_item(database_url, f"W{n}"))
        time.sleep(0.05)
    code, err = watching.stop()
    printed: list[int] = []
    while (line := watching.lines.get(timeout=5)) is not None:
        change = json.loads(line)
        assert (change["table"], change["op"], change["rows"]) == ("inventory_items", "insert", 1)
        printed.append(int(change["row_id"]))

    assert code == 0, err
    assert "Traceback" not in err
    assert len(printed) >= 5, f"the watch printed {len(printed)} of {len(written)} items"
    first = written.index(printed[0])
    assert printed == written[first : first + len(printed)]


def test_a_lost_listener_falls_back_to_polling_and_listens_again(watch: Any, database_url: str) -> None:
    watching = watch("--interval", "0.5")
    pid = _wait_listening(database_url)
    assert _sql(database_url, "SELECT pg_terminate_backend(%s)", pid) is True

    added = _add_item(database_url, "AFTER-LOSS")
    change = watching.next_change()
    assert (change["table"], change["row_id"]) == ("inventory_items", str(added))
    again = _wait_listening(database_url)
    assert again != pid

    code, err = watching.stop()
    assert code == 0
    assert "stopped listening" in err and "Traceback" not in err


def test_watch_waits_out_a_server_restart_and_then_prints_what_was_committed_meanwhile(
    watch: Any, database_url: str, pg_server: EmbeddedServer | None
) -> None:
    """The session's throwaway server is stopped and started again (same socket, same databases);
    other tests' pooled connections are replaced by their engines' pre-ping."""
    if pg_server is None:
        pytest.skip("an external test server cannot be restarted here")
    watching = watch("--interval", "0.3", "--table", "inventory_items")
    _wait_listening(database_url)
    first = _add_item(database_url, "BEFORE-STOP")
    assert watching.next_change()["row_id"] == str(first)

    pg_server.stop()
    try:
        time.sleep(2.5)  # at least two failed polls
    finally:
        pg_server.start()
    meanwhile = _add_item(database_url, "WHILE-AWAY")  # committed before the watch's next try

    change = watching.next_change(timeout=20)
    assert (change["op"], change["row_id"]) == ("insert", str(meanwhile))
    code, err = watching.stop()
    assert code == 0
    assert "trying again in" in err and "answers again" in err
    assert "Traceback" not in err


def test_an_unknown_table_is_a_usage_error_that_lists_the_tracked_tables(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # No database is needed to refuse: the names are checked first.
    assert main(["watch", "--table", "inventory_items", "--table", "orders"]) == 2
    err = capsys.readouterr().err
    assert "orders" in err
    assert all(table in err for table in TRACKED_TABLES)


def test_help_imports_neither_the_database_layer_nor_qt() -> None:
    code = (
        "import sys\n"
        "from ecomdesk.cli import main\n"
        "try:\n"
        "    main(['watch', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in ('sqlalchemy', 'psycopg', 'PySide6') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=dict(os.environ)
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"
