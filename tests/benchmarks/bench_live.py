"""Live updates on a shop with 1,000,000 inventory items: what an idle poll costs, what the change
triggers cost a writer, how long a commit in one client takes to be painted in another, and the CPU
an idle app spends polling — each against a reference measured in the same run.

    .venv/bin/python tests/benchmarks/bench_live.py [--items 1000000] [--log-rows 100000]
        [--samples 20] [--idle-seconds 60] [--database-url URL]

Without --database-url it starts a throwaway embedded PostgreSQL (fsync off); with one, it creates a
scratch database on that server (the user needs CREATEDB) and drops it at the end.

(a) poll: the server's execution time of the poll statement (`EXPLAIN (ANALYZE, TIMING)`, median)
    and the client's round trip through `ChangeFeed.poll` (median, p95), against `SELECT 1`,
    `SELECT max(id) FROM change_log` and `SELECT count(*) FROM inventory_items`; the change log
    holds `--log-rows` old changes, as a day of work would leave it. Then a poll that finds 100
    single-row changes.
(b) triggers: 10,000 single-row UPDATEs (one statement and transaction each) and one 100,000-row
    UPDATE, with the change triggers and with them disabled (`ALTER TABLE … DISABLE TRIGGER USER`).
(c) commit → paint: a `GridView` over the inventory (sorted by SKU, so a renamed item stays put)
    refreshed by a `ChangeWatcher`; another connection renames a visible item and commits; the time
    until the grid's viewport receives a paint event while the model shows the new name. With the
    LISTEN wake-up, and with polling alone every 2 s (commits spread over the poll cycle).
(d) idle CPU: the event loop alone (`QEventLoop.exec`) for `--idle-seconds` with the watcher
    polling every 2 s: this process's CPU time ÷ wall time, against the same loop with no watcher.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import psycopg

# Run as a script, this folder is on sys.path (not the project's): the import benchmark's
# throwaway database is reused from there.
from bench_import import PASSWORD, scratch_database  # type: ignore[import-not-found,unused-ignore]
from sqlalchemy import Engine, bindparam, text
from sqlalchemy.types import ARRAY, BigInteger, String

from ecomdesk.db import migrate
from ecomdesk.db.changes import _POLL, MAX_CHANGES, ChangeFeed
from ecomdesk.db.engine import libpq_url, make_engine

#: Items with realistic names, suppliers and prices: one INSERT … SELECT, no Python in the loop.
FILL = """
INSERT INTO inventory_items (sku, name, category, supplier, stock, reserved, price, cost)
SELECT 'SKU-' || lpad(n::text, 7, '0'),
       (ARRAY['Compact', 'Deluxe', 'Wireless', 'Classic', 'Eco'])[1 + n % 5] || ' '
         || (ARRAY['cable', 'lamp', 'kettle', 'puzzle', 'novel', 'hose', 'racket'])[1 + n % 7]
         || ' ' || (100 + n % 900),
       (ARRAY['Electronics', 'Home & Kitchen', 'Toys', 'Books', 'Garden'])[1 + n % 5],
       (ARRAY['Acme Supplies Ltd', 'Nordwind GmbH', 'Pacific Trading Co.'])[1 + n % 3],
       n % 50, 0,
       round((1.99 + (n::bigint * 7919 % 48000) / 100.0)::numeric, 2),
       round((1.99 + (n::bigint * 7919 % 48000) / 100.0)::numeric * 0.55, 2)
FROM generate_series(1, :items) AS n
"""
#: A day of old changes (their transactions long finished, below any reader's horizon): what an idle
#: poll must not scan.
OLD_LOG = """
INSERT INTO change_log (txid, changed_at, table_name, op, row_id, row_count)
SELECT greatest(1, pg_snapshot_xmin(pg_current_snapshot())::text::bigint - 1 - n / 10),
       now() - interval '1 hour', 'inventory_items', 'update', (1 + n % 1000000)::text, 1
FROM generate_series(1, :rows) AS n
"""
EXPLAIN_POLL = text("EXPLAIN (ANALYZE, TIMING, FORMAT JSON) " + _POLL.text).bindparams(
    bindparam("horizon", type_=BigInteger()),
    bindparam("tables", type_=ARRAY(String())),
)
ROUND_TRIPS = 500
EXPLAINS = 50
SINGLE_UPDATES = 10_000
BULK_ROWS = 100_000
TARGETS = {"idle_server_ms": 1.0, "listen_median_s": 0.3, "cpu_share": 0.01}


def quantiles(samples: Sequence[float]) -> tuple[float, float]:
    """Median and 95th percentile."""
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def timed(call: Callable[[], object], rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return times


def server_ms(engine: Engine, statement: Any, params: dict[str, Any] | None = None) -> float:
    """The median of the server's own execution time of a statement (EXPLAIN ANALYZE)."""
    figures = []
    with engine.connect() as conn:
        for _ in range(EXPLAINS):
            plan = conn.execute(statement, params or {}).scalar_one()
            figures.append(float(plan[0]["Execution Time"]))
        conn.rollback()
    return statistics.median(figures)


def round_trip(engine: Engine, sql: str) -> Callable[[], object]:
    statement = text(sql)

    def call() -> object:
        with engine.connect() as conn:
            return conn.execute(statement).all()

    return call


# -- (a) the poll ------------------------------------------------------------------------------------


def poll_figures(engine: Engine, items: int) -> list[tuple[str, float, float, float]]:
    """(what, server ms, round-trip median ms, p95 ms) of the idle poll and its references."""
    feed = ChangeFeed(engine)
    cursor = feed.start()
    rows: list[tuple[str, float, float, float]] = []
    for label, sql in (
        ("SELECT 1 (reference)", "SELECT 1"),
        ("SELECT max(id) FROM change_log", "SELECT max(id) FROM change_log"),
        ("SELECT count(*) FROM inventory_items", "SELECT count(*) FROM inventory_items"),
    ):
        rounds = ROUND_TRIPS if "count" not in sql else 20
        median, p95 = quantiles(timed(round_trip(engine, sql), rounds))
        explain = text(f"EXPLAIN (ANALYZE, TIMING, FORMAT JSON) {sql}")
        rows.append((label, server_ms(engine, explain), median * 1000, p95 * 1000))

    params = {"horizon": cursor.horizon, "all_tables": True, "tables": [], "limit": MAX_CHANGES + 1}
    assert not feed.poll(cursor), "the idle poll found changes: the benchmark's log is wrong"
    idle_server = server_ms(engine, EXPLAIN_POLL, params)
    median, p95 = quantiles(timed(lambda: feed.poll(cursor), ROUND_TRIPS))
    rows.append(("idle poll (ChangeFeed.poll)", idle_server, median * 1000, p95 * 1000))

    # 100 single-row changes by another client, then the poll that finds them (20 rounds).
    ids = list(range(1, items + 1, max(1, items // 100)))[:100]
    found_server, found_trip, found_sizes = [], [], []
    with psycopg.connect(libpq_url(engine.url.render_as_string(hide_password=False)), autocommit=True) as w:
        for _ in range(20):
            cursor = feed.start()
            for item in ids:
                w.execute("UPDATE inventory_items SET stock = stock + 1 WHERE id = %s", (item,))
            params = {"horizon": cursor.horizon, "all_tables": True, "tables": [], "limit": MAX_CHANGES + 1}
            with engine.connect() as conn:
                plan = conn.execute(EXPLAIN_POLL, params).scalar_one()
            found_server.append(float(plan[0]["Execution Time"]))
            started = time.perf_counter()
            batch = feed.poll(cursor)
            found_trip.append(time.perf_counter() - started)
            found_sizes.append(len(batch.changes))
    assert set(found_sizes) == {100}, found_sizes
    median, p95 = quantiles(found_trip)
    rows.append(("poll finding 100 changes", statistics.median(found_server), median * 1000, p95 * 1000))
    return rows


# -- (b) the triggers ----------------------------------------------------------------------------------


def trigger_figures(url: str, items: int) -> list[tuple[str, float, float]]:
    """(what, seconds tracked, seconds untracked): best of two runs each, interleaved."""
    ids = random.Random(7).sample(range(1, items + 1), min(SINGLE_UPDATES, items))

    def singles(conn: psycopg.Connection[Any]) -> float:
        started = time.perf_counter()
        for item in ids:
            conn.execute("UPDATE inventory_items SET stock = stock + 1 WHERE id = %s", (item,))
        return time.perf_counter() - started

    def bulk(conn: psycopg.Connection[Any]) -> float:
        started = time.perf_counter()
        conn.execute("UPDATE inventory_items SET stock = stock + 1 WHERE id <= %s", (BULK_ROWS,))
        return time.perf_counter() - started

    results: dict[tuple[str, bool], list[float]] = {}
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        for _ in range(2):
            for tracked in (True, False):
                what = "ENABLE" if tracked else "DISABLE"
                conn.execute(f"ALTER TABLE inventory_items {what} TRIGGER USER")
                results.setdefault(("singles", tracked), []).append(singles(conn))
                results.setdefault(("bulk", tracked), []).append(bulk(conn))
                conn.execute("VACUUM inventory_items")
        conn.execute("ALTER TABLE inventory_items ENABLE TRIGGER USER")
    return [
        (
            f"{SINGLE_UPDATES:,} single-row UPDATEs (own transactions)",
            min(results[("singles", True)]),
            min(results[("singles", False)]),
        ),
        (f"one UPDATE of {BULK_ROWS:,} rows", min(results[("bulk", True)]), min(results[("bulk", False)])),
    ]


# -- (c) commit → paint and (d) idle CPU -----------------------------------------------------------------


def gui_figures(url: str, samples: int, idle_seconds: float) -> dict[str, Any]:
    from PySide6.QtCore import QEvent, QEventLoop, QObject, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from ecomdesk.db.changes import ChangeBatch
    from ecomdesk.services.listing import SortKey
    from ecomdesk.services.registry import Services
    from ecomdesk.ui.grid.view import GridView
    from ecomdesk.ui.live import ChangeWatcher
    from ecomdesk.ui.session import AppSession
    from ecomdesk.ui.tasks import TaskRunner

    app = QApplication.instance() or QApplication([])
    engine = make_engine(url)
    services = Services.build(engine)
    actor = services.auth.authenticate("bench@shop.example", PASSWORD).actor
    runner = TaskRunner()
    session = AppSession(services, actor, runner, database_label="bench")
    folder = Path(tempfile.mkdtemp())
    view = GridView(
        session,
        services.tables["inventory"],
        settings=QSettings(str(folder / "grid.ini"), QSettings.Format.IniFormat),
    )
    view.resize(1280, 720)
    view.show()
    grid, model = view.view, view.model
    model.set_sort((SortKey("sku"),))

    def settle(done: Callable[[], bool], timeout: float = 60.0) -> None:
        deadline = time.perf_counter() + timeout
        while not done():
            if time.perf_counter() > deadline:
                raise TimeoutError("the view did not get there in time")
            app.processEvents()
            time.sleep(0.0005)

    settle(lambda: model.is_loaded and model.record(5) is not None)
    name_col = model.column_index("name")

    def route(batch: ChangeBatch) -> None:
        if "inventory_items" in batch.tables:
            view.refresh()

    session.changes_seen.connect(route)

    expected: dict[str, Any] = {}

    class PaintWatch(QObject):
        def eventFilter(self, watched: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Paint and "name" in expected and "painted" not in expected:
                row = model.row_of(expected["id"])
                if row is not None and model.display(row, name_col) == expected["name"]:
                    expected["painted"] = time.perf_counter()
            return False

    painter = PaintWatch()
    grid.viewport().installEventFilter(painter)
    writer = psycopg.connect(libpq_url(url), autocommit=True)

    def latencies(watcher: ChangeWatcher, gap: Callable[[], float]) -> list[float]:
        watcher.start()
        settle(lambda: watcher.listening or not watcher.listen_enabled, 20)
        found = []
        for n in range(samples):
            pause = time.perf_counter() + gap()
            settle(lambda pause=pause: time.perf_counter() >= pause)  # type: ignore[misc]
            record = model.record(3 + n % 10)
            expected.clear()
            expected.update(id=record.id, name=f"Renamed {n} {random.random():.6f}")
            writer.execute(
                "UPDATE inventory_items SET name = %s WHERE id = %s", (expected["name"], record.id)
            )
            committed = time.perf_counter()
            settle(lambda: "painted" in expected, 30)
            found.append(expected["painted"] - committed)
        watcher.stop()
        return found

    with_listen = latencies(
        ChangeWatcher(session, interval_ms=2000, listen=True), lambda: random.uniform(0.3, 1.0)
    )
    polling_only = latencies(
        ChangeWatcher(session, interval_ms=2000, listen=False), lambda: random.uniform(0.0, 2.0)
    )
    writer.close()

    def idle(seconds: float, watcher: ChangeWatcher | None) -> tuple[float, int]:
        polls: list[int] = []
        session.refreshed.connect(lambda _when: polls.append(1))
        if watcher is not None:
            watcher.start()
            settle(lambda: watcher.listening, 20)
            polls.clear()
        loop = QEventLoop()
        QTimer.singleShot(round(seconds * 1000), loop.quit)
        cpu, wall = time.process_time(), time.perf_counter()
        loop.exec()
        share = (time.process_time() - cpu) / (time.perf_counter() - wall)
        if watcher is not None:
            watcher.stop()
        return share, len(polls)

    idle_reference, _ = idle(idle_seconds, None)
    idle_polling, polls = idle(idle_seconds, ChangeWatcher(session, interval_ms=2000, listen=True))
    view.close()
    runner.shutdown(10_000)
    engine.dispose()
    return {
        "listen": quantiles(with_listen),
        "poll": quantiles(polling_only),
        "idle_reference": idle_reference,
        "idle_polling": idle_polling,
        "idle_polls": polls,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--log-rows", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--database-url", help="a server where a scratch database may be created")
    args = parser.parse_args()
    from ecomdesk.services.registry import Services

    with scratch_database(args.database_url) as url:
        engine = make_engine(url, statement_timeout_ms=600_000)
        migrate.upgrade(engine)
        Services.build(engine).users.bootstrap_user(
            email="bench@shop.example", role="admin", first_name="Ben", last_name="Ch", password=PASSWORD
        )
        started = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(text(FILL), {"items": args.items})
            conn.execute(text(OLD_LOG), {"rows": args.log_rows})
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE inventory_items"))
            conn.execute(text("VACUUM ANALYZE change_log"))
            log_rows = conn.execute(text("SELECT count(*) FROM change_log")).scalar_one()
        filled = time.perf_counter() - started
        polls = poll_figures(engine, args.items)
        triggers = trigger_figures(url, args.items)
        engine.dispose()
        gui = gui_figures(url, args.samples, args.idle_seconds)

    print(
        f"{args.items:,} inventory items, {log_rows:,} rows in change_log (filled in {filled:.0f} s); "
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}"
    )
    print()
    print("(a) poll cost")
    print(f"{'statement':40} {'server ms':>10} {'trip ms':>8} {'p95 ms':>8} {'÷ SELECT 1':>11}")
    reference = polls[0][2]
    for label, server, median, p95 in polls:
        print(f"{label:40} {server:10.3f} {median:8.3f} {p95:8.3f} {median / reference:10.1f}×")
    idle_server = polls[3][1]
    verdict = "met" if idle_server < TARGETS["idle_server_ms"] else "MISSED"
    print(f"target: idle poll under {TARGETS['idle_server_ms']:.0f} ms server time — {verdict}")
    print()
    print("(b) trigger overhead (best of 2)")
    print(f"{'work':45} {'tracked s':>10} {'untracked s':>12} {'ratio':>7}")
    for label, tracked, untracked in triggers:
        print(f"{label:45} {tracked:10.3f} {untracked:12.3f} {tracked / untracked:6.2f}×")
    print()
    print(f"(c) commit → paint, {args.samples} samples each, interval 2 s")
    median, p95 = gui["listen"]
    verdict = "met" if median < TARGETS["listen_median_s"] else "MISSED"
    print(
        f"with LISTEN wake-up  median {median:6.3f} s  p95 {p95:6.3f} s  (target: median < 0.3 s — {verdict})"
    )
    median, p95 = gui["poll"]
    verdict = "met" if p95 < 2.2 else "MISSED"
    print(f"polling alone       median {median:6.3f} s  p95 {p95:6.3f} s  (target: ≤ 2.2 s — {verdict})")
    print()
    print(f"(d) idle event loop, {args.idle_seconds:.0f} s each")
    verdict = "met" if gui["idle_polling"] < TARGETS["cpu_share"] else "MISSED"
    print(f"no watcher (reference)  CPU {gui['idle_reference'] * 100:6.3f} % of a core")
    print(
        f"watcher, 2 s interval   CPU {gui['idle_polling'] * 100:6.3f} % of a core "
        f"({gui['idle_polls']} polls; target < 1 %: {verdict})"
    )


if __name__ == "__main__":
    main()
