"""The order import at 1,000,000 order events: the preview, the commit into a fresh database
(orders, items, customers and ten years of daily metrics) and a re-import of the same file
(everything unchanged), each against a plain `COPY` of the same file into a bare table measured in the same
run — the floor no import can beat. The target: at least 20,000 rows/s for the commit.

    .venv/bin/python tests/benchmarks/bench_orders.py [--rows 1000000] [--database-url URL]

The file is realistic: about 200,000 customers (a few loyal ones order often, most once or
twice), five channels, ten years of orders growing over time, each paid order with one to three
items, about 3 % refunded some days later (the refund is a row of its own), a few pending and
cancelled ones. Without --database-url it starts a throwaway embedded PostgreSQL (the `pgserver`
binaries); with one, it creates a scratch database on that server and drops it at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import heapq
import json
import os
import random
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psycopg

# Run as a script, this folder is on sys.path (not the project's): the inventory benchmark's
# throwaway database is reused from there.
from bench_import import PASSWORD, scratch_database  # type: ignore[import-not-found,unused-ignore]
from sqlalchemy import text

from ecomdesk.db import migrate
from ecomdesk.db.engine import libpq_url, make_engine
from ecomdesk.services.context import Actor
from ecomdesk.services.orders import OrderImportResult
from ecomdesk.services.registry import Services

TARGET_ROWS_PER_SECOND = 20_000
HEADER = "order_id,customer_id,channel,amount,currency,status,occurred_at,lines"
CHANNELS = ("web", "mobile_app", "marketplace", "social", "phone")
CHANNEL_WEIGHTS = (50, 25, 15, 7, 3)
END = dt.datetime(2026, 11, 26, tzinfo=dt.UTC)
YEARS = 10
OFFSETS = ("Z", "+01:00", "+02:00", "-05:00")


def generate(rows: int, path: Path, seed: int = 20261127) -> dict[str, int]:
    """Write `rows` order events to `path` as CSV, oldest first; returns the count of each status."""
    rng = random.Random(seed)
    customers = max(rows // 5, 1)
    start = END - dt.timedelta(days=365 * YEARS)
    span = (END - start).total_seconds()
    refunds_due: list[tuple[float, str]] = []  # (when, row) of refunds still to be written
    counts = dict.fromkeys(("paid", "refunded", "pending", "cancelled"), 0)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(HEADER + "\n")
        written = 0
        order = 0
        # Orders grow over the years: the n-th order's time is spread by a square root.
        while written < rows:
            when = start.timestamp() + span * ((order + 0.5) / (rows * 0.97)) ** 0.5
            if refunds_due and refunds_due[0][0] <= when:
                out.write(heapq.heappop(refunds_due)[1])
                counts["refunded"] += 1
                written += 1
                continue
            order += 1
            # Heavy-tailed loyalty: low customer numbers order far more often than high ones.
            customer = min(int(customers * rng.random() ** 2.2), customers - 1)
            channel = rng.choices(CHANNELS, CHANNEL_WEIGHTS)[0]
            moment = dt.datetime.fromtimestamp(when, dt.UTC)
            items = [
                (f"SKU-{rng.randint(1, 5_000):05d}", rng.choice((1, 1, 1, 2, 3)), rng.randint(199, 9_999))
                for _ in range(rng.choice((1, 1, 2, 3)))
            ]
            amount = sum(quantity * cents for _sku, quantity, cents in items) / 100
            status = "paid"
            if when > END.timestamp() - 3 * 86_400 and rng.random() < 0.2:
                status = "pending"
            elif rng.random() < 0.003:
                status = "cancelled"
            offset = rng.choice(OFFSETS)
            shown = moment.isoformat(timespec="seconds").replace("+00:00", "")
            if offset != "Z":
                sign = 1 if offset[0] == "+" else -1
                delta = dt.timedelta(hours=int(offset[1:3]))
                shown = (moment + sign * delta).replace(tzinfo=None).isoformat(timespec="seconds")
            lines = json.dumps(
                [
                    {"sku": sku, "quantity": quantity, "unit_price": cents / 100}
                    for sku, quantity, cents in items
                ],
                separators=(",", ":"),
            )
            # A cancellation has no items; the others' JSON is quoted as a CSV cell.
            lines = "" if status == "cancelled" else '"' + lines.replace('"', '""') + '"'
            out.write(
                f"O{order:08d},C{customer:07d},{channel},{amount:.2f},EUR,{status},{shown}{offset},{lines}\n"
            )
            counts[status] += 1
            written += 1
            if status == "paid" and rng.random() < 0.03:
                later = when + rng.uniform(1, 20) * 86_400
                refund = amount if rng.random() < 0.6 else round(amount * rng.uniform(0.1, 0.9), 2) or amount
                at = (
                    dt.datetime.fromtimestamp(later, dt.UTC)
                    .isoformat(timespec="seconds")
                    .replace("+00:00", "Z")
                )
                heapq.heappush(
                    refunds_due,
                    (later, f"O{order:08d},C{customer:07d},{channel},{refund:.2f},EUR,refunded,{at},\n"),
                )
    return counts


def copy_floor(url: str, path: Path) -> float:
    """A plain COPY of the file into an unlogged table with no index or check: the floor."""
    with psycopg.connect(libpq_url(url)) as conn:
        conn.execute(
            "CREATE UNLOGGED TABLE bench_floor (order_id text, customer_id text, channel text,"
            " amount numeric(14, 2), currency text, status text, occurred_at timestamptz, lines jsonb)"
        )
        conn.commit()
        started = time.perf_counter()
        with (
            conn.cursor() as cursor,
            cursor.copy("COPY bench_floor FROM STDIN WITH (FORMAT csv, HEADER true)") as copy,
            path.open("rb") as source,
        ):
            while block := source.read(1 << 20):
                copy.write(block)
        conn.commit()
        seconds = time.perf_counter() - started
        conn.execute("DROP TABLE bench_floor")
        conn.commit()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", help="a server where a scratch database may be created")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, scratch_database(args.database_url) as url:
        path = Path(tmp) / "orders.csv"
        started = time.perf_counter()
        counts = generate(args.rows, path)
        generated = time.perf_counter() - started
        engine = make_engine(url, statement_timeout_ms=600_000)
        migrate.upgrade(engine)
        services = Services.build(engine)
        services.users.bootstrap_user(
            email="bench@shop.example", role="admin", first_name="Ben", last_name="Ch", password=PASSWORD
        )
        actor: Actor = services.auth.authenticate("bench@shop.example", PASSWORD).actor
        data = path.read_bytes()

        floor = copy_floor(url, path)
        cases: list[tuple[str, Callable[[], OrderImportResult]]] = [
            ("preview, fresh database", lambda: services.orders.preview(actor, data, path.name)),
            ("commit, fresh database", lambda: services.orders.commit(actor, data, path.name)),
            ("re-import, all unchanged", lambda: services.orders.commit(actor, data, path.name)),
        ]
        mix = ", ".join(f"{n:,} {status}" for status, n in counts.items())
        print(
            f"{args.rows:,} order events ({mix}), {len(data) / 1e6:.0f} MB of CSV, made in {generated:.0f} s"
        )
        print(
            f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} before the runs "
            "(other work on the machine slows the server and Python alike)"
        )
        print(f"{'step':28} {'seconds':>8} {'rows/s':>10} {'÷ COPY floor':>13} {'Python CPU s':>13}  summary")
        print(f"{'plain COPY (floor)':28} {floor:8.2f} {args.rows / floor:10,.0f} {1:12.1f}× {'':>13}")
        rates = {}
        for label, call in cases:
            started, cpu = time.perf_counter(), time.process_time()
            result = call()
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            assert result.ok, result.problems[:5]
            rates[label] = args.rows / seconds
            print(
                f"{label:28} {seconds:8.2f} {args.rows / seconds:10,.0f} {seconds / floor:12.1f}× "
                f"{cpu:13.1f}  {result.summary}"
            )
        with engine.connect() as conn:
            figures = conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM order_events), (SELECT count(*) FROM order_lines),"
                    " (SELECT count(*) FROM customers), (SELECT count(*) FROM sales_metrics),"
                    " (SELECT count(*) FROM customer_metrics)"
                )
            ).one()
        print(
            f"stored: {figures[0]:,} orders, {figures[1]:,} items, {figures[2]:,} customers, "
            f"{figures[3]:,} sales_metrics rows, {figures[4]:,} customer_metrics rows; "
            f"peak memory of this process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB"
        )
        engine.dispose()
    rate = rates["commit, fresh database"]
    verdict = "met" if rate >= TARGET_ROWS_PER_SECOND else "NOT met"
    print(
        f"target: at least {TARGET_ROWS_PER_SECOND:,} rows/s for the commit — {verdict} ({rate:,.0f} rows/s)"
    )


if __name__ == "__main__":
    main()
