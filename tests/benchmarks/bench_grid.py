"""The grid at scale: 1,000,000 inventory rows, our GridView against Qt's reference QSqlQueryModel.

Starts a throwaway embedded PostgreSQL (or uses --database-url), seeds it once, then measures each
side in a process of its own (so memory peaks never mix): the grid, the reference, and the CSV
export against psql's \\copy of the same query. Offscreen Qt, the real task runner.

    .venv/bin/python tests/benchmarks/bench_grid.py [--rows 1000000] [--runs 5]
        [--database-url URL] [--cluster DIR (kept and reused)] [--screenshot /tmp/grid.png]

- first rows: from creating the view to its first screen of rows painted with data;
- total shown: from the same start to the count ("1,000,000 items") being in;
- jump to end: from scrollToBottom() to the last rows painted with data;
- re-sort: from the header's sort indicator moving to name descending to the new first rows painted;
- memory: the process's peak RSS over its RSS just before the first view is created.
The reference's QPSQL driver reads the whole result at exec (QSqlQueryModel then knows the row
count, so `fetchMore()` has nothing left to do): its first rows include loading everything.
Each grid run opens a new view (empty cache); figures are medians, the first (cold) run shown too.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import psutil

#: The rows the grid shows, as one SELECT: the reference model and psql run exactly this.
QUERY = """
SELECT sku, name, category, supplier, stock, reserved, stock - reserved AS available, price, cost,
       CASE WHEN price > 0 THEN round((price - cost) * 100 / price, 1) END AS margin,
       stock * cost AS stock_value, last_updated
FROM inventory_items WHERE archived_at IS NULL ORDER BY name {order}, id {order}
""".strip()
VIEWER = "viewer@demo.shop"
TARGETS = {"first_rows": 0.15, "jump_to_end": 0.15, "resort": 0.3, "memory_mb": 60.0, "export_share": 0.6}


def rss_mb() -> float:
    return float(psutil.Process().memory_info().rss) / 2**20


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def settle(app: Any, done: Callable[[], bool], timeout: float = 120.0) -> None:
    """Run the event loop until `done()`; results arrive as queued signals from the pool."""
    deadline = time.perf_counter() + timeout
    while not done():
        if time.perf_counter() > deadline:
            raise TimeoutError("the view did not get there in time")
        app.processEvents()
        time.sleep(0.0005)


# -- parts (each in a fresh process) -------------------------------------------------------------


def grid_run(app: Any, session: Any, settings: Any, screenshot: str | None) -> dict[str, float]:
    """One view from creation to first rows, total, jump to end and re-sort."""
    from PySide6.QtCore import Qt

    from ecomdesk.ui.grid.view import GridView

    figures: dict[str, float] = {}
    started = time.perf_counter()
    view = GridView(session, session.services.tables["inventory"], settings=settings)
    view.resize(1280, 720)
    view.show()
    grid, model = view.view, view.model

    def top_row_shown() -> bool:
        return model.rowCount() > 0 and model.record(max(grid.rowAt(0), 0)) is not None

    settle(app, top_row_shown)
    grid.viewport().grab()
    figures["first_rows"] = time.perf_counter() - started
    settle(app, lambda: model.is_loaded)
    figures["total_shown"] = time.perf_counter() - started
    if screenshot:
        app.processEvents()  # the toolbar's layout takes the count's new width
        view.grab().save(screenshot)

    started = time.perf_counter()
    grid.scrollToBottom()
    last = model.rowCount() - 1
    settle(app, lambda: model.record(last) is not None and model.record(grid.rowAt(0)) is not None)
    grid.viewport().grab()
    figures["jump_to_end"] = time.perf_counter() - started

    loads: list[int] = []
    model.loaded.connect(lambda: loads.append(1))
    started = time.perf_counter()
    view.header.setSortIndicator(model.column_index("name"), Qt.SortOrder.DescendingOrder)
    settle(app, lambda: bool(loads) and top_row_shown())
    grid.viewport().grab()
    figures["resort"] = time.perf_counter() - started
    figures["windows"] = len(model.cached_windows())
    figures["rows"] = model.rowCount()
    view.close()
    view.deleteLater()
    app.processEvents()
    return figures


def part_grid(url: str, runs: int, screenshot: str | None) -> dict[str, Any]:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from ecomdesk.db.engine import make_engine
    from ecomdesk.db.seed import DEMO_PASSWORD
    from ecomdesk.services.registry import Services
    from ecomdesk.ui.session import AppSession
    from ecomdesk.ui.tasks import TaskRunner

    app = QApplication.instance() or QApplication([])
    services = Services.build(make_engine(url))
    actor = services.auth.authenticate(VIEWER, DEMO_PASSWORD).actor
    runner = TaskRunner()
    session = AppSession(services, actor, runner, database_label="bench")
    folder = Path(tempfile.mkdtemp())
    baseline = rss_mb()
    runs_figures = [
        grid_run(
            app,
            session,
            QSettings(str(folder / f"{run}.ini"), QSettings.Format.IniFormat),
            screenshot if run == 0 else None,
        )
        for run in range(runs)
    ]
    runner.shutdown()
    medians = {key: statistics.median(f[key] for f in runs_figures) for key in runs_figures[0]}
    return {
        **medians,
        "cold": runs_figures[0],
        "memory_mb": peak_mb() - baseline,
    }


def part_reference(url: str, runs: int) -> dict[str, Any]:
    from PySide6.QtCore import Qt
    from PySide6.QtSql import QSqlDatabase, QSqlQuery, QSqlQueryModel
    from PySide6.QtWidgets import QApplication, QTableView
    from sqlalchemy import make_url

    app = QApplication.instance() or QApplication([])
    parsed = make_url(url)
    db = QSqlDatabase.addDatabase("QPSQL")
    db.setHostName(str(parsed.query.get("host") or parsed.host or ""))
    db.setPort(int(str(parsed.query.get("port") or parsed.port or 5432)))
    db.setDatabaseName(parsed.database or "")
    db.setUserName(parsed.username or "")
    db.setPassword(parsed.password or "")
    if not db.open():
        raise RuntimeError(db.lastError().text())
    baseline = rss_mb()

    def run() -> dict[str, float]:
        figures: dict[str, float] = {}
        started = time.perf_counter()
        model = QSqlQueryModel()
        query = QSqlQuery(db)
        query.exec(QUERY.format(order="ASC"))
        model.setQuery(query)
        view = QTableView()
        view.setModel(model)
        view.resize(1280, 720)
        view.show()
        settle(app, lambda: model.rowCount() > 0)
        view.viewport().grab()
        figures["first_rows"] = figures["total_shown"] = time.perf_counter() - started

        started = time.perf_counter()
        while model.canFetchMore():  # loads everything, as the reference does
            model.fetchMore()
        view.scrollToBottom()
        app.processEvents()
        view.viewport().grab()
        figures["jump_to_end"] = time.perf_counter() - started
        figures["rows"] = model.rowCount()

        started = time.perf_counter()
        view.horizontalHeader().setSortIndicator(1, Qt.SortOrder.DescendingOrder)
        query = QSqlQuery(db)
        query.exec(QUERY.format(order="DESC"))
        model.setQuery(query)  # QSqlQueryModel cannot sort: a new query is its only way
        view.scrollToTop()
        app.processEvents()
        view.viewport().grab()
        figures["resort"] = time.perf_counter() - started
        view.close()
        view.deleteLater()
        model.clear()
        app.processEvents()
        return figures

    runs_figures = [run() for _ in range(runs)]
    medians = {key: statistics.median(f[key] for f in runs_figures) for key in runs_figures[0]}
    return {**medians, "cold": runs_figures[0], "memory_mb": peak_mb() - baseline}


def part_export(url: str, psql: str | None) -> dict[str, Any]:
    """Our export through the grid (Ctrl+E's path: runner, progress, .part file) against psql."""
    from PySide6.QtCore import QEventLoop, QSettings
    from PySide6.QtWidgets import QApplication

    from ecomdesk.db.engine import libpq_url, make_engine
    from ecomdesk.db.seed import DEMO_PASSWORD
    from ecomdesk.services.registry import Services
    from ecomdesk.ui.grid.export import ExportChoice
    from ecomdesk.ui.grid.view import GridView
    from ecomdesk.ui.session import AppSession
    from ecomdesk.ui.tasks import TaskRunner

    app = QApplication.instance() or QApplication([])
    services = Services.build(make_engine(url, statement_timeout_ms=0))
    actor = services.auth.authenticate(VIEWER, DEMO_PASSWORD).actor
    runner = TaskRunner()
    session = AppSession(services, actor, runner, database_label="bench")
    folder = Path(tempfile.mkdtemp())
    ours = folder / "ours.csv"
    view = GridView(
        session,
        services.tables["inventory"],
        settings=QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat),
        ask_export=lambda _parent, _request: ExportChoice(ours, False),
    )
    settle(app, lambda: view.model.is_loaded)
    started = time.perf_counter()
    task = view.export()
    assert task is not None
    loop = QEventLoop()  # waits without polling: the export thread keeps the GIL to itself
    task.finished.connect(loop.quit)
    loop.exec()
    result: dict[str, Any] = {"export": time.perf_counter() - started, "export_bytes": ours.stat().st_size}
    with ours.open("rb") as handle:
        result["export_rows"] = sum(1 for _ in handle) - 1
    runner.shutdown()

    reference = folder / "psql.csv"
    select = " ".join(QUERY.format(order="ASC").split())
    started = time.perf_counter()
    if psql:
        command = f"\\copy ({select}) to '{reference}' csv header"
        subprocess.run([psql, libpq_url(url), "-X", "-q", "-c", command], check=True)
        result["reference_tool"] = "psql \\copy"
    else:  # no psql binary: the same COPY through psycopg, in this process
        import psycopg

        copy_sql = f"COPY ({select}) TO STDOUT WITH (FORMAT csv, HEADER)"
        with (
            psycopg.connect(libpq_url(url)) as conn,
            conn.cursor() as cursor,
            reference.open("wb") as out,
            cursor.copy(copy_sql) as copy,
        ):
            for chunk in copy:
                out.write(chunk)
        result["reference_tool"] = "psycopg COPY (no psql found)"
    result["export_reference"] = time.perf_counter() - started
    result["export_reference_bytes"] = reference.stat().st_size
    return result


# -- the driver ----------------------------------------------------------------------------------


def find_psql() -> str | None:
    from ecomdesk.db.embedded import EmbeddedServerError, find_bin_dir

    try:
        candidate = find_bin_dir() / "psql"
    except EmbeddedServerError:
        return None
    return str(candidate) if candidate.exists() else None


def run_part(name: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, __file__, "--part", name, "--database-url", url, "--runs", str(args.runs)]
    if args.screenshot:
        command += ["--screenshot", args.screenshot]
    out = subprocess.run(command, check=True, capture_output=True, text=True)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return dict(json.loads(line.removeprefix("RESULT ")))
    raise RuntimeError(f"part {name} printed no result:\n{out.stdout}\n{out.stderr}")


def prepare(url: str, rows: int) -> None:
    from sqlalchemy import text

    from ecomdesk.db import migrate
    from ecomdesk.db.engine import make_engine
    from ecomdesk.db.seed import is_seeded, seed_demo_data
    from ecomdesk.services.passwords import hash_password

    engine = make_engine(url)
    migrate.upgrade(engine)
    if not is_seeded(engine):
        started = time.perf_counter()
        seed_demo_data(engine, hash_password=hash_password, inventory=rows)
        print(f"seeded {rows:,} inventory rows in {time.perf_counter() - started:.1f} s")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # What autovacuum does to a shop's long-lived table (visibility map, statistics).
        conn.execute(text("VACUUM ANALYZE inventory_items"))
    engine.dispose()


def report(grid: dict[str, Any], ref: dict[str, Any], export: dict[str, Any], runs: int) -> None:
    def row(label: str, key: str, unit: str = "s", target: float | None = None) -> None:
        ours, theirs = float(grid[key]), float(ref[key])
        cold = f"[{grid['cold'][key]:.3f}]" if key in grid["cold"] else ""
        ratio = f"{theirs / ours:9.1f}×" if ours else " " * 10
        verdict = "" if target is None else f"< {target:g} {'ok' if ours < target else 'MISSED'}"
        print(f"{label:26} {ours:9.3f} {cold:9} {theirs:14.3f} {ratio}  {unit:3} {verdict}")

    print()
    print(
        f"{grid['rows']:,.0f} rows; ecomdesk: median of {runs} runs [first run];"
        f" reference: median of {min(runs, 3)}"
    )
    print(f"{'measure':26} {'ecomdesk':>9} {'[cold]':9} {'QSqlQueryModel':>14} {'ref÷ours':>10}  unit target")
    row("first rows painted", "first_rows", target=TARGETS["first_rows"])
    row("total shown", "total_shown")
    row("jump to last row painted", "jump_to_end", target=TARGETS["jump_to_end"])
    row("re-sort name desc painted", "resort", target=TARGETS["resort"])
    row("peak memory growth", "memory_mb", "MB", TARGETS["memory_mb"])
    ours_rate = export["export_rows"] / export["export"]
    their_rate = export["export_rows"] / export["export_reference"]
    share = ours_rate / their_rate
    verdict = "ok" if share >= TARGETS["export_share"] else "MISSED"
    print(
        f"{'CSV export, all rows':26} {export['export']:9.3f} {'':9} {export['export_reference']:14.3f} "
        f"{export['export_reference'] / export['export']:9.2f}×  s   ≥ 0.6× psql's throughput {verdict}"
    )
    print(
        f"  ecomdesk {export['export_rows']:,} rows, {export['export_bytes'] / 2**20:.1f} MB,"
        f" {ours_rate:,.0f} rows/s; {export['reference_tool']}"
        f" {export['export_reference_bytes'] / 2**20:.1f} MB, {their_rate:,.0f} rows/s"
        f" → {share:.2f}× its throughput"
    )
    print(f"  grid windows in memory after each run: {grid['windows']:.0f} (of 200 rows)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database-url")
    parser.add_argument("--cluster", help="keep the embedded cluster in this folder (seeded once, reused)")
    parser.add_argument("--screenshot")
    parser.add_argument("--part", choices=["grid", "reference", "export"])
    args = parser.parse_args()

    if args.part:
        if args.part == "grid":
            outcome = part_grid(args.database_url, args.runs, args.screenshot)
        elif args.part == "reference":
            outcome = part_reference(args.database_url, max(1, min(args.runs, 3)))
        else:
            outcome = part_export(args.database_url, find_psql())
        print("RESULT " + json.dumps(outcome))
        return

    with tempfile.TemporaryDirectory() as tmp, bench_database(args.database_url, args.cluster, tmp) as url:
        prepare(url, args.rows)
        grid = run_part("grid", url, args)
        reference = run_part("reference", url, args)
        export = run_part("export", url, args)
    report(grid, reference, export, args.runs)


@contextmanager
def bench_database(url: str | None, cluster: str | None, tmp: str) -> Iterator[str]:
    """The database `bench`: `url` when given, else on an embedded server in `cluster` (kept, so
    what was seeded there is reused by the next run) or in `tmp` (destroyed afterwards)."""
    if url is not None:
        yield url
        return
    import psycopg

    from ecomdesk.db.embedded import EmbeddedServer

    server = EmbeddedServer(Path(cluster or tmp) / "cluster", extra_settings=("fsync=off",))
    server.start()
    try:
        with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'bench'").fetchone():
                conn.execute("CREATE DATABASE bench")
        yield server.url("bench")
    finally:
        if cluster:
            server.stop()
        else:
            server.destroy()


if __name__ == "__main__":
    main()
