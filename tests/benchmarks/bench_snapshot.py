"""Offline snapshots at scale: a shop with 1,000,000 inventory items and about 1,000,000 order events
(ten years of history), its snapshot against `pg_dump -Fc` of the same tables in the same run, and
opening the snapshot against the live server.

Starts a throwaway embedded PostgreSQL (fsync off; or uses --database-url), seeds it once (about
40 s on two cores; with --cluster DIR the cluster is kept and reused, so the seed runs only once),
then measures, each part in a process of its own so memory peaks never mix:

(a) create: `services.snapshots.create` as the admin, plain and with a passphrase (SQLCipher): time,
    rows/s, file size, and the time split at the last copied row (copy | indexes, ANALYZE,
    checksums, fsync).
(b) pg_dump -Fc of exactly the tables the snapshot copied (`-t` each) and, for context, of the whole
    database and of the same tables uncompressed (-Z0, as a snapshot is); ratios snapshot ÷ dump.
(c) verify_snapshot (integrity check and every checksum), plain and encrypted.
(d) open → first inventory rows painted: `bootstrap.open_snapshot` and an offscreen `InventoryPage`
    until its grid paints a screen of rows, then until its count is in, then re-sorted by name
    (descending), filtered by a category and searched — against the same page on the live server
    (whose services and sign-in are ready before the clock starts; its pool is emptied, so its
    first query connects). Each run is a new process: a cold open, as a person double-clicking a
    file gets. Then the inventory table's service reads on both sides (count, pages, sort, filter,
    search, the CSV export of every item), each checked to give the same answer.
(e) memory: the create process's RSS over its RSS just before `create()`, sampled every 20 ms, and
    at each tenth of the rows copied — flat while the copy streams.

Figures are the best of --runs (default 2) runs.

    .venv/bin/python tests/benchmarks/bench_snapshot.py [--runs 2] [--cluster DIR] [--database-url URL]
        [--profile] [--keep DIR]

--profile: one more plain create under cProfile; the top functions by own time go to stderr.
--keep: write the snapshots into DIR and leave them there (default: a temporary folder).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# Run as a script, this folder is on sys.path (not the project's): the grid benchmark's way of
# finding or starting the benchmark database is reused from there.
from bench_grid import bench_database, rss_mb  # type: ignore[import-not-found,unused-ignore]

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


INVENTORY = 1_000_000
ORDERS = 1_000_000
YEARS = 10
ADMIN = "admin@demo.shop"
PASSPHRASE = "correct horse battery staple"
SAMPLE_SECONDS = 0.02


@contextmanager
def rss_sampler() -> Iterator[list[float]]:
    """The process's RSS every 20 ms while the block runs (the list fills as it goes)."""
    samples: list[float] = [rss_mb()]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(SAMPLE_SECONDS):
            samples.append(rss_mb())

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        stop.set()
        thread.join()
        samples.append(rss_mb())


def settle(app: Any, done: Callable[[], bool], timeout: float = 120.0) -> None:
    """Run the event loop until `done()`; results arrive as queued signals from the pool."""
    deadline = time.perf_counter() + timeout
    while not done():
        if time.perf_counter() > deadline:
            raise TimeoutError("the page did not get there in time")
        app.processEvents()
        time.sleep(0.0005)


def fastest(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the lowest `seconds`, whole (so its parts add up)."""
    return min(runs, key=lambda run: float(run["seconds"]))


def best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each numeric figure's best (lowest) over the runs; other values from the first run."""
    out = dict(runs[0])
    for key, value in runs[0].items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = min(run[key] for run in runs)
    return out


# -- parts (each in a fresh process) -------------------------------------------------------------


def part_create(url: str, target: Path, encrypted: bool, profile: bool) -> dict[str, Any]:
    from ecomdesk.db.engine import make_engine
    from ecomdesk.db.seed import DEMO_PASSWORD
    from ecomdesk.services.registry import Services

    services = Services.build(make_engine(url, statement_timeout_ms=0))
    actor = services.auth.authenticate(ADMIN, DEMO_PASSWORD).actor
    #: RSS when the copy reaches each tenth of the rows: flat if it streams.
    by_tenth: dict[int, float] = {}
    #: When the last row was in: the rest is indexes, ANALYZE, checksums and fsync.
    copied_at: list[float] = []

    def progress(done: int, total: int) -> None:
        tenth = done * 10 // max(total, 1)
        if tenth not in by_tenth:
            by_tenth[tenth] = rss_mb()
        if done >= total and not copied_at:
            copied_at.append(time.perf_counter())

    profiler = cProfile.Profile() if profile else None
    baseline = rss_mb()
    with rss_sampler() as samples:
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        info = services.snapshots.create(
            actor, target, passphrase=PASSPHRASE if encrypted else None, progress=progress
        )
        if profiler is not None:
            profiler.disable()
        seconds = time.perf_counter() - started
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
        print(out.getvalue(), file=sys.stderr)
    copied = {name: count for name, count in info.row_counts.items() if name not in info.left_out}
    return {
        "seconds": seconds,
        "copy_seconds": copied_at[0] - started,
        "bytes": target.stat().st_size,
        "rows": sum(copied.values()),
        "tables": sorted(copied),
        "row_counts": copied,
        "peak_growth_mb": max(samples) - baseline,
        "rss_by_tenth": {str(k): round(v - baseline, 1) for k, v in sorted(by_tenth.items())},
    }


def part_verify(path: Path, encrypted: bool) -> dict[str, Any]:
    from ecomdesk.db.snapshot import verify_snapshot

    started = time.perf_counter()
    verification = verify_snapshot(path, PASSPHRASE if encrypted else None)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "ok": verification.ok, "problems": list(verification.problems)}


def part_page(url: str | None, path: Path | None, encrypted: bool) -> dict[str, Any]:
    """An InventoryPage from nothing to its first rows painted, its count, a re-sort and a filter."""
    from PySide6.QtCore import QSettings, Qt
    from PySide6.QtWidgets import QApplication

    from ecomdesk.services.listing import SortKey
    from ecomdesk.ui.pages.inventory import InventoryPage
    from ecomdesk.ui.session import AppSession
    from ecomdesk.ui.tasks import TaskRunner

    # The grid keeps its header and sort in QSettings: a folder of this run's own, so every run
    # starts from the default sort and no person's settings are touched.
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tempfile.mkdtemp())
    app = QApplication.instance() or QApplication([])
    runner = TaskRunner()
    figures: dict[str, Any] = {}
    if path is not None:
        from ecomdesk.bootstrap import open_snapshot

        started = time.perf_counter()
        opened = open_snapshot(path, PASSPHRASE if encrypted else None)
        figures["open"] = time.perf_counter() - started
        services, actor, label = opened.services, opened.actor, f"snapshot {path.name}"
    else:
        assert url is not None
        from ecomdesk.db.engine import make_engine
        from ecomdesk.db.seed import DEMO_PASSWORD
        from ecomdesk.services.registry import Services

        engine = make_engine(url)
        services = Services.build(engine)
        actor = services.auth.authenticate(ADMIN, DEMO_PASSWORD).actor
        engine.dispose()  # the page's first query connects, as the app's first page does
        started = time.perf_counter()
        figures["open"] = 0.0
        label = "bench"

    session = AppSession(services, actor, runner, database_label=label)
    page_started = time.perf_counter()
    page = InventoryPage(session)
    page.resize(1400, 900)
    page.show()
    grid, model = page.grid.view, page.grid.model

    def top_row_shown() -> bool:
        return model.rowCount() > 0 and model.record(max(grid.rowAt(0), 0)) is not None

    settle(app, top_row_shown)
    grid.viewport().grab()
    now = time.perf_counter()
    figures["first_rows"] = now - page_started
    figures["open_to_first_rows"] = now - started
    settle(app, lambda: model.is_loaded)
    figures["total_shown"] = time.perf_counter() - page_started
    figures["total"] = model.total

    loads: list[int] = []
    model.loaded.connect(lambda: loads.append(1))

    def timed(change: Callable[[], None]) -> float:
        loads.clear()
        begun = time.perf_counter()
        change()
        settle(app, lambda: bool(loads) and model.is_loaded and (model.rowCount() == 0 or top_row_shown()))
        grid.viewport().grab()
        return time.perf_counter() - begun

    figures["resort"] = timed(
        lambda: page.grid.header.setSortIndicator(model.column_index("name"), Qt.SortOrder.DescendingOrder)
    )
    figures["filter"] = timed(lambda: model.set_filter("category", "Toys"))
    figures["filtered_total"] = model.total
    figures["search"] = timed(lambda: model.set_search("train"))
    figures["search_total"] = model.total
    assert model.query.sort == (SortKey("name", descending=True),), model.query.sort
    page.close()
    page.deleteLater()
    app.processEvents()
    runner.shutdown()
    return figures


def _reads(total: int) -> list[tuple[str, Callable[[Any, Any], Any]]]:
    """Service reads timed on both sides: (label, call(table, actor) → an answer to compare)."""
    from ecomdesk.services.listing import ListQuery, SortKey

    def rows(query: ListQuery) -> Callable[[Any, Any], Any]:
        return lambda table, actor: [row.id for row in table.page(actor, query).rows]

    def count(query: ListQuery) -> Callable[[Any, Any], Any]:
        return lambda table, actor: table.count(actor, query)

    def export(table: Any, actor: Any) -> Any:
        out = io.BytesIO()
        return table.export_csv(actor, ListQuery(), out), len(out.getvalue())

    toys = {"category": "Toys"}
    return [
        ("count, all items", count(ListQuery())),
        ("first page (sku)", rows(ListQuery(counted=False))),
        ("first page, name desc", rows(ListQuery(sort=(SortKey("name", True),), counted=False))),
        ("page at row 500,000", rows(ListQuery(offset=500_000, counted=False))),
        ("last page (known total)", rows(ListQuery(offset=total - 100, limit=100, known_total=total))),
        ("count, category filter", count(ListQuery(filters=toys))),
        (
            "page, category by price desc",
            rows(ListQuery(filters=toys, sort=(SortKey("price", True),), counted=False)),
        ),
        ("count, low stock", count(ListQuery(filters={"low_stock": True}))),
        ("count, search 'lamp'", count(ListQuery(search="lamp"))),
        ("page, search 'lamp'", rows(ListQuery(search="lamp", counted=False))),
        ("CSV export, all items", export),
    ]


def part_reads(url: str, path: Path, runs: int) -> dict[str, Any]:
    from ecomdesk.bootstrap import open_snapshot
    from ecomdesk.db.engine import make_engine
    from ecomdesk.db.seed import DEMO_PASSWORD
    from ecomdesk.services.listing import ListQuery
    from ecomdesk.services.registry import Services

    live = Services.build(make_engine(url, statement_timeout_ms=0))
    sides = {
        "live": (live.inventory.table, live.auth.authenticate(ADMIN, DEMO_PASSWORD).actor),
    }
    opened = open_snapshot(path)
    sides["snapshot"] = (opened.services.inventory.table, opened.actor)
    total = sides["live"][0].count(sides["live"][1], ListQuery())
    results: dict[str, Any] = {}
    for label, call in _reads(total):
        entry: dict[str, Any] = {}
        for side, (table, actor) in sides.items():
            times: list[float] = []
            answer: Any = None
            try:
                for _ in range(runs):
                    started = time.perf_counter()
                    answer = call(table, actor)
                    times.append(time.perf_counter() - started)
            except Exception as exc:  # a read that fails on one side is a finding, not the end
                entry[side] = None
                entry[f"{side}_error"] = f"{type(exc).__name__}: {str(exc)[:160]}"
                continue
            entry[side] = min(times)
            entry[f"{side}_answer"] = answer if not isinstance(answer, list) else hash(tuple(answer))
        entry["same"] = entry.get("live_answer") == entry.get("snapshot_answer")
        results[label] = entry
    opened.close()
    return results


# -- pg_dump -------------------------------------------------------------------------------------


def pg_dump_binary() -> str:
    from ecomdesk.db.embedded import find_bin_dir

    return str(find_bin_dir() / "pg_dump")


def pg_dump(url: str, target: Path, tables: list[str] | None, compress: str | None) -> dict[str, float]:
    from ecomdesk.db.engine import libpq_url

    command = [pg_dump_binary(), "-Fc", "-f", str(target), "-d", libpq_url(url)]
    if compress is not None:
        command += ["-Z", compress]
    for table in tables or ():
        command += ["-t", f'public."{table}"']
    started = time.perf_counter()
    subprocess.run(command, check=True)
    return {"seconds": time.perf_counter() - started, "bytes": target.stat().st_size}


# -- the driver ----------------------------------------------------------------------------------


def run_part(name: str, *options: str) -> dict[str, Any]:
    command = [sys.executable, __file__, "--part", name, *options]
    out = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return dict(json.loads(line.removeprefix("RESULT ")))
    raise RuntimeError(f"part {name} printed no result:\n{out.stdout}")


def prepare(url: str) -> None:
    from sqlalchemy import text

    from ecomdesk.db import migrate
    from ecomdesk.db.engine import make_engine
    from ecomdesk.db.seed import is_seeded, seed_demo_data
    from ecomdesk.services.passwords import hash_password

    engine = make_engine(url, statement_timeout_ms=0)
    migrate.upgrade(engine)
    if not is_seeded(engine):
        started = time.perf_counter()
        summary = seed_demo_data(
            engine, hash_password=hash_password, inventory=INVENTORY, orders=ORDERS, years=YEARS
        )
        print(
            f"seeded {summary.counts['inventory_items']:,} items and {summary.counts['order_events']:,}"
            f" order events in {time.perf_counter() - started:.1f} s (once; kept with --cluster)"
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))  # what autovacuum leaves a long-lived shop with
    engine.dispose()


def say(message: str) -> None:
    print(f"… {message}", file=sys.stderr, flush=True)


def mb(size: float) -> str:
    return f"{size / 2**20:,.1f} MB"


def report(
    runs: int,
    plain: dict[str, Any],
    encrypted: dict[str, Any],
    dumps: dict[str, dict[str, float]],
    verify: dict[str, dict[str, Any]],
    pages: dict[str, dict[str, Any]],
    reads: dict[str, Any],
) -> None:
    rows = plain["rows"]
    print()
    print(
        f"snapshot of {rows:,} rows in {len(plain['tables'])} tables (the admin's view), best of {runs} runs"
    )
    top = sorted(plain["row_counts"].items(), key=lambda item: -item[1])[:6]
    print("  biggest: " + ", ".join(f"{name} {count:,}" for name, count in top))
    reference = dumps["same tables"]
    print()
    print(
        f"{'(a, b) making the copy':34} {'seconds':>8} {'rows/s':>11} {'size':>11}"
        f"  {'time ÷ dump':>11} {'size ÷ dump':>11}"
    )

    def line(label: str, seconds: float, size: float) -> None:
        print(
            f"{label:34} {seconds:8.2f} {rows / seconds:11,.0f} {mb(size):>11}"
            f"  {seconds / reference['seconds']:10.2f}× {size / reference['bytes']:10.2f}×"
        )

    line("snapshot, plain", plain["seconds"], plain["bytes"])
    line("snapshot, encrypted (SQLCipher)", encrypted["seconds"], encrypted["bytes"])
    line("pg_dump -Fc, same tables", reference["seconds"], reference["bytes"])
    line(
        "pg_dump -Fc -Z0, same tables", dumps["same tables -Z0"]["seconds"], dumps["same tables -Z0"]["bytes"]
    )
    line("pg_dump -Fc, whole database", dumps["whole database"]["seconds"], dumps["whole database"]["bytes"])
    print(f"  encryption costs {encrypted['seconds'] / plain['seconds']:.2f}× the plain snapshot's time")
    for label, figures in (("plain", plain), ("encrypted", encrypted)):
        after = figures["seconds"] - figures["copy_seconds"]
        print(
            f"  {label}: copying rows {figures['copy_seconds']:.1f} s,"
            f" then indexes, ANALYZE, checksums and fsync {after:.1f} s"
        )

    print()
    print("(e) memory while creating: RSS growth over the RSS just before create(), sampled every 20 ms")
    for label, figures in (("plain", plain), ("encrypted", encrypted)):
        tenths = "  ".join(f"{int(k) * 10}%:{v:.0f}" for k, v in figures["rss_by_tenth"].items())
        print(
            f"  {label:10} peak +{figures['peak_growth_mb']:.0f} MB; at each tenth of the rows (MB): {tenths}"
        )

    print()
    seconds = verify["plain"]["seconds"]
    print(f"(c) verify_snapshot: plain {seconds:.2f} s ({rows / seconds:,.0f} rows/s),"
          f" encrypted {verify['encrypted']['seconds']:.2f} s;"
          f" ok: {verify['plain']['ok']} / {verify['encrypted']['ok']}"
          f" — {verify['plain']['seconds'] / plain['seconds']:.2f}× the plain create")  # fmt: skip

    print()
    live = pages["live"]
    print(
        f"(d) inventory page, offscreen, {live['total']:,} items{'':8} {'live':>8} {'snapshot':>9}"
        f" {'encrypted':>9}  snap÷live"
    )
    for key, label in (
        ("open", "open (probe, engine, actor)"),
        ("first_rows", "page created → first rows painted"),
        ("open_to_first_rows", "open → first rows painted"),
        ("total_shown", "page created → count shown"),
        ("resort", "re-sort name desc, painted"),
        ("filter", "filter category, painted + count"),
        ("search", "+ search 'train', painted + count"),
    ):
        values = [pages[side][key] for side in ("live", "snapshot", "encrypted")]
        ratio = f"{values[1] / values[0]:8.1f}×" if values[0] else " " * 9
        print(f"  {label:42} {values[0]:8.3f} {values[1]:9.3f} {values[2]:9.3f}  {ratio}")
    same = all(
        pages["snapshot"][k] == live[k] == pages["encrypted"][k]
        for k in ("total", "filtered_total", "search_total")
    )
    print(f"  counts shown: {live['total']:,} / {live['filtered_total']:,} / {live['search_total']:,};"
          f" same on all three: {same}")  # fmt: skip

    print()
    print(
        f"(d) service reads, inventory table (best of {max(runs, 3)})   {'live':>8} {'snapshot':>9}"
        "  snap÷live  same answer"
    )
    for label, entry in reads.items():
        if entry.get("live") is None or entry.get("snapshot") is None:
            errors = "; ".join(
                f"{side}: {entry[side + '_error']}"
                for side in ("live", "snapshot")
                if entry.get(side) is None
            )
            print(f"  {label:44} FAILED — {errors}")
            continue
        ratio = entry["snapshot"] / entry["live"]
        print(f"  {label:44} {entry['live']:8.3f} {entry['snapshot']:9.3f}  {ratio:8.1f}×"
              f"  {'yes' if entry['same'] else 'NO'}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--database-url")
    parser.add_argument("--cluster", help="keep the embedded cluster in this folder (seeded once, reused)")
    parser.add_argument("--keep", help="write the snapshots here and keep them")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--part", choices=["create", "verify", "page", "reads"])
    parser.add_argument("--path")
    parser.add_argument("--encrypted", action="store_true")
    args = parser.parse_args()

    if args.part:
        path = Path(args.path) if args.path else None
        if args.part == "create":
            assert path is not None
            outcome = part_create(args.database_url, path, args.encrypted, args.profile)
        elif args.part == "verify":
            assert path is not None
            outcome = part_verify(path, args.encrypted)
        elif args.part == "page":
            outcome = part_page(args.database_url, path, args.encrypted)
        else:
            assert path is not None
            outcome = part_reads(args.database_url, path, args.runs)
        print("RESULT " + json.dumps(outcome))
        return

    with tempfile.TemporaryDirectory() as tmp, bench_database(args.database_url, args.cluster, tmp) as url:
        files = Path(args.keep) if args.keep else Path(tmp) / "files"
        files.mkdir(parents=True, exist_ok=True)
        plain_file, encrypted_file = files / "bench.ecomsnap", files / "bench-encrypted.ecomsnap"
        try:
            prepare(url)
            times = range(args.runs)
            say("create, plain")
            plain = fastest(
                [run_part("create", "--database-url", url, "--path", str(plain_file)) for _ in times]
            )
            say("create, encrypted")
            encrypted = fastest(
                [
                    run_part("create", "--database-url", url, "--path", str(encrypted_file), "--encrypted")
                    for _ in times
                ]
            )
            say("pg_dump")
            dump = Path(tmp) / "bench.dump"
            variants = {
                "same tables": (plain["tables"], None),
                "same tables -Z0": (plain["tables"], "0"),
                "whole database": (None, None),
            }
            dumps = {
                label: fastest([pg_dump(url, dump, tables, level) for _ in times])
                for label, (tables, level) in variants.items()
            }
            dump.unlink()
            say("verify")
            verify = {
                "plain": fastest([run_part("verify", "--path", str(plain_file)) for _ in times]),
                "encrypted": fastest(
                    [run_part("verify", "--path", str(encrypted_file), "--encrypted") for _ in times]
                ),
            }
            say("pages")
            pages = {
                "live": best([run_part("page", "--database-url", url) for _ in range(args.runs)]),
                "snapshot": best([run_part("page", "--path", str(plain_file)) for _ in range(args.runs)]),
                "encrypted": best(
                    [run_part("page", "--path", str(encrypted_file), "--encrypted") for _ in range(args.runs)]
                ),
            }
            say("service reads")
            reads = run_part(
                "reads", "--database-url", url, "--path", str(plain_file), "--runs", str(max(args.runs, 3))
            )
            if args.profile:
                say("create under cProfile")
                run_part(
                    "create",
                    "--database-url",
                    url,
                    "--path",
                    str(Path(tmp) / "profiled.ecomsnap"),
                    "--profile",
                )
        finally:
            if not args.keep:
                shutil.rmtree(files, ignore_errors=True)
    report(args.runs, plain, encrypted, dumps, verify, pages, reads)


if __name__ == "__main__":
    main()
