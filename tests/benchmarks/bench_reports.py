"""The low-stock report over 1,000,000 items: generated straight into a file (`ecomdesk report
run`) as CSV and as JSON, and through the queue (`request`, a runner's `run_next` storing the file in
`report_chunks`, then `save`), each against PostgreSQL's own `COPY (the same SELECT) TO STDOUT
(FORMAT csv)` into a file, measured in the same run — the floor no report writer can beat. Also the
memory each takes (a report streams: its peak must not grow with its rows) and the cost of a runner's
idle claim on an empty queue, the price every app pays on each poll.

    .venv/bin/python tests/benchmarks/bench_reports.py [--items 1000000] [--database-url URL]

Without --database-url it starts a throwaway embedded PostgreSQL (the `pgserver` binaries); with
one, it creates a scratch database on that server (the user needs CREATEDB) and drops it at the end.
Each report is run twice: once timed, once under `tracemalloc` (which slows allocation) for its
peak of Python memory. "RSS +" is the process's peak resident memory during the timed run above
its resident memory before it (Linux: the peak is reset through /proc/self/clear_refs).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg

# Run as a script, this folder is on sys.path (not the project's): the inventory benchmark's
# throwaway database is reused from there.
from bench_import import PASSWORD, scratch_database  # type: ignore[import-not-found,unused-ignore]
from bench_tables import median_ms  # type: ignore[import-not-found,unused-ignore]
from sqlalchemy import text

from ecomdesk.db import migrate
from ecomdesk.db.engine import libpq_url, make_engine
from ecomdesk.services.context import Actor
from ecomdesk.services.registry import Services
from ecomdesk.services.reports import ReportRequest

WORKER = "bench:reports"
IDLE_CLAIMS = 200

#: Every item low on stock: stock 0…9 against the shop's default threshold of 10, some reserved,
#: eight categories and five suppliers, realistic prices. One statement, no Python in the loop.
FILL = """
INSERT INTO inventory_items (sku, name, category, supplier, stock, reserved, price, cost)
SELECT 'LOW-' || lpad(n::text, 7, '0'),
       (ARRAY['Compact', 'Deluxe', 'Wireless', 'Classic', 'Eco'])[1 + n % 5] || ' '
         || (ARRAY['cable', 'lamp', 'kettle', 'puzzle', 'novel', 'hose', 'racket'])[1 + n % 7]
         || ' ' || (100 + n % 900),
       (ARRAY['Electronics', 'Home & Kitchen', 'Toys', 'Books', 'Garden', 'Sports', 'Beauty',
              'Office'])[1 + n % 8],
       (ARRAY['Acme Supplies Ltd', 'Nordwind GmbH', 'Pacific Trading Co.', 'Blue Ridge Wholesale',
              'Kato & Sons'])[1 + n % 5],
       n % 10,
       least(n % 3, n % 10),
       round((1.99 + (n::bigint * 7919 % 48000) / 100.0)::numeric, 2),
       round((1.99 + (n::bigint * 7919 % 48000) / 100.0)::numeric * 0.55, 2)
FROM generate_series(1, :items) AS n
"""

#: The low-stock report's SELECT as the service runs it (the inventory list's rule: each item's
#: reorder level, else the shop's default threshold), for the COPY reference.
LOW_STOCK_SELECT = """
SELECT sku, name, category, supplier, stock, reserved, stock - reserved AS available, threshold,
       threshold - (stock - reserved) AS shortfall, cost, price
FROM (
    SELECT i.*, coalesce(i.reorder_level,
                         (SELECT value::text::numeric FROM settings
                          WHERE key = 'inventory.low_stock_threshold'), 10)::integer AS threshold
    FROM inventory_items AS i
    WHERE i.archived_at IS NULL
) AS live
WHERE stock - reserved <= threshold
ORDER BY shortfall DESC, sku
"""


@dataclass
class Figures:
    label: str
    seconds: float
    rows: int
    size_bytes: int
    rss_growth_mb: float | None = None
    traced_peak_mb: float | None = None
    note: str = ""


def _status_kb(field: str) -> int | None:
    match = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.MULTILINE)
    return int(match.group(1)) if match else None


def _reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def measured(label: str, call: Callable[[], tuple[int, int]], *, trace: bool = True) -> Figures:
    """Run `call` (returning rows and bytes) timed, with its peak RSS growth; then again under
    tracemalloc for its peak of Python memory."""
    can_reset = _reset_peak_rss()
    rss_before = _status_kb("VmRSS")
    started = time.perf_counter()
    rows, size = call()
    seconds = time.perf_counter() - started
    peak = _status_kb("VmHWM")
    growth = (peak - rss_before) / 1024 if can_reset and peak and rss_before else None
    figures = Figures(label, seconds, rows, size, growth)
    if trace:
        tracemalloc.start()
        try:
            call()
            figures.traced_peak_mb = tracemalloc.get_traced_memory()[1] / 1e6
        finally:
            tracemalloc.stop()
    return figures


def copy_reference(url: str, target: Path) -> tuple[int, int]:
    """The same rows as CSV written by the server itself: COPY … TO STDOUT into a file."""
    with psycopg.connect(libpq_url(url)) as conn, conn.cursor() as cursor, target.open("wb") as out:
        with cursor.copy(f"COPY ({LOW_STOCK_SELECT}) TO STDOUT WITH (FORMAT csv, HEADER true)") as copy:
            for block in copy:
                out.write(block)
        rows = cursor.rowcount
    return rows, target.stat().st_size


def _data_digest(path: Path) -> str:
    """The SHA-256 of a CSV file's lines after its header (the header's titles differ on purpose)."""
    digest = hashlib.sha256()
    with path.open("rb") as source:
        source.readline()
        while block := source.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--database-url", help="a server where a scratch database may be created")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, scratch_database(args.database_url) as url:
        folder = Path(tmp)
        engine = make_engine(url, statement_timeout_ms=600_000)
        migrate.upgrade(engine)
        services = Services.build(engine)
        services.users.bootstrap_user(
            email="bench@shop.example", role="admin", first_name="Ben", last_name="Ch", password=PASSWORD
        )
        actor: Actor = services.auth.authenticate("bench@shop.example", PASSWORD).actor
        started = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(text(FILL), {"items": args.items})
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(
                text("VACUUM ANALYZE inventory_items")
            )
        filled = time.perf_counter() - started

        reference_path = folder / "copy.csv"
        reference = measured("COPY … TO STDOUT (reference)", lambda: copy_reference(url, reference_path))

        def run_to_file(fmt: str) -> Callable[[], tuple[int, int]]:
            def call() -> tuple[int, int]:
                target = folder / f"run.{fmt}"
                result = services.reports.run_to_file(actor, ReportRequest("low-stock", {}, fmt), target)
                return result.rows, result.size_bytes

            return call

        csv_run = measured("run_to_file, CSV", run_to_file("csv"))
        same = _data_digest(folder / "run.csv") == _data_digest(reference_path)
        csv_run.note = "data lines identical to COPY's" if same else "data lines DIFFER from COPY's"
        json_run = measured("run_to_file, JSON", run_to_file("json"))

        queued: dict[str, int] = {}

        def request_and_generate() -> tuple[int, int]:
            report = services.reports.request(actor, ReportRequest("low-stock", {}, "csv"))
            outcome = services.reports.run_next(WORKER)
            assert outcome is not None and outcome.status == "completed", outcome
            queued["id"] = report.id
            return outcome.rows, outcome.size_bytes

        def save() -> tuple[int, int]:
            target = folder / "saved.csv"
            size = services.reports.save(actor, queued["id"], target)
            return args.items, size

        generated = measured("request + run_next (stored)", request_and_generate)
        with engine.connect() as conn:
            stored = conn.scalar(text("SELECT pg_total_relation_size('report_chunks')")) or 0
        generated.note = f"report_chunks on disk {stored / 1e6:,.1f} MB (two reports)"
        saved = measured("save (from report_chunks)", save)
        same = (folder / "saved.csv").read_bytes() == (folder / "run.csv").read_bytes()
        saved.note = "identical to run_to_file's CSV" if same else "DIFFERS from run_to_file's CSV"

        idle_ms = median_ms(lambda: services.reports.run_next(WORKER), IDLE_CLAIMS)

        def round_trip() -> None:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))

        select_one_ms = median_ms(round_trip, IDLE_CLAIMS)
        engine.dispose()

    print(
        f"{args.items:,} live items, all low on stock (filled with one INSERT … SELECT in {filled:.0f} s); "
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}"
    )
    head = (
        f"{'step':30} {'seconds':>8} {'rows/s':>10} {'MB':>7} {'÷ COPY':>7} "
        f"{'RSS + MB':>9} {'traced peak MB':>15}  note"
    )
    print(head)
    for f in (reference, csv_run, json_run, generated, saved):
        rss = f"{f.rss_growth_mb:9.1f}" if f.rss_growth_mb is not None else f"{'n/a':>9}"
        traced = f"{f.traced_peak_mb:15.1f}" if f.traced_peak_mb is not None else f"{'':>15}"
        print(
            f"{f.label:30} {f.seconds:8.2f} {f.rows / f.seconds:10,.0f} {f.size_bytes / 1e6:7.1f} "
            f"{f.seconds / reference.seconds:6.1f}× {rss} {traced}  {f.note}"
        )
    print(
        f"idle claim (run_next, empty queue): median {idle_ms:.2f} ms over {IDLE_CLAIMS} calls; "
        f"a pooled SELECT 1 round trip: {select_one_ms:.2f} ms ({idle_ms / select_one_ms:.1f}×)"
    )


if __name__ == "__main__":
    main()
