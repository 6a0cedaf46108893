"""The demo seed: the default demo (what `ecomdesk demo` seeds: scale 1, two years, about 400,000
orders) and, with --big, the analytics benchmark's shop (ten years, about a million orders), each
against the floor measured in the same run: a plain COPY of the very same orders and lines, read
back from the seeded database, into unlogged tables with no index, key or check.

The seed's time is split at its progress messages: generating the orders (simulation, customers,
lines, shop days), writing them (COPY, indexes, foreign key) and deriving the metrics
(`db.metrics.rebuild`). The target: the default demo in under about 10 s on two cores.

    .venv/bin/python tests/benchmarks/bench_seed.py [--big] [--steps] [--database-url URL]

Without --database-url it starts a throwaway embedded PostgreSQL (the `pgserver` binaries, default
durable settings, as `ecomdesk demo` runs it); with one, it creates scratch databases on that
server (the user needs CREATEDB) and drops them at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import make_url

from ecomdesk.db import migrate
from ecomdesk.db.embedded import EmbeddedServer
from ecomdesk.db.engine import libpq_url, make_engine
from ecomdesk.db.seed import SeedSummary, seed_demo_data

TARGET_SECONDS = 10.0
TODAY = dt.date(2026, 11, 27)
ORDER_COLUMNS = (
    "order_id, customer_id, channel, currency, status, amount, occurred_at, paid_date, refund_amount,"
    " refunded_at, refund_date, metadata, created_at, updated_at"
)
LINE_COLUMNS = "order_id, line_no, sku, quantity, unit_price"
#: Where the seed's time goes, by the progress message that starts each part.
PARTS = (
    ("generate orders", "orders: choosing"),
    ("write orders", "orders: writing"),
    ("derive metrics", "metrics:"),
)


@dataclass
class Timeline:
    """The seed's progress messages with the moment each arrived."""

    started: float = field(default_factory=time.perf_counter)
    events: list[tuple[float, str]] = field(default_factory=list)

    def __call__(self, message: str) -> None:
        self.events.append((time.perf_counter() - self.started, message))

    def part(self, prefix: str) -> float:
        """Seconds from the first message starting with `prefix` to the next part's first message."""
        starts = [next(t for t, message in self.events if message.startswith(p)) for _label, p in PARTS]
        ends = [*starts[1:], next(t for t, message in self.events if message.startswith("analytics"))]
        index = [p for _label, p in PARTS].index(prefix)
        return ends[index] - starts[index]


@contextlib.contextmanager
def scratch_server(server_url: str | None) -> Iterator[str]:
    """An admin URL: of a throwaway embedded server, or of the server named."""
    if server_url is not None:
        yield libpq_url(server_url)
        return
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedServer(Path(tmp) / "cluster")
        server.start()
        try:
            yield server.url("postgres")
        finally:
            server.destroy()


@contextlib.contextmanager
def scratch_database(admin: str) -> Iterator[str]:
    name = f"ecomdesk_bench_seed_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def copy_floor(url: str) -> float:
    """Read the seeded orders and lines back as COPY text, then time a plain COPY of that text into
    unlogged tables with no index, key or check."""
    with psycopg.connect(libpq_url(url)) as conn:
        texts = []
        for table, columns in (("order_events", ORDER_COLUMNS), ("order_lines", LINE_COLUMNS)):
            with conn.cursor().copy(f"COPY (SELECT {columns} FROM {table} ORDER BY id) TO STDOUT") as copy:
                texts.append(b"".join(bytes(block) for block in copy))
        conn.execute(
            "CREATE UNLOGGED TABLE floor_orders (order_id text, customer_id text, channel text, currency"
            " text, status text, amount numeric(14, 2), occurred_at timestamptz, paid_date date,"
            " refund_amount numeric(14, 2), refunded_at timestamptz, refund_date date, metadata jsonb,"
            " created_at timestamptz, updated_at timestamptz)"
        )
        conn.execute(
            "CREATE UNLOGGED TABLE floor_lines (order_id text, line_no integer, sku text, quantity integer,"
            " unit_price numeric(14, 2))"
        )
        conn.commit()
        started = time.perf_counter()
        for table, data in (("floor_orders", texts[0]), ("floor_lines", texts[1])):
            with conn.cursor().copy(f"COPY {table} FROM STDIN") as copy:
                copy.write(data)
        conn.commit()
        seconds = time.perf_counter() - started
        conn.execute("DROP TABLE floor_orders, floor_lines")
        conn.commit()
    return seconds


def run(admin: str, label: str, options: dict[str, Any], steps: bool) -> tuple[SeedSummary, float]:
    with scratch_database(admin) as url:
        engine = make_engine(url, statement_timeout_ms=0)
        migrate.upgrade(engine)
        timeline = Timeline()
        summary = seed_demo_data(
            engine, hash_password=lambda _password: "benchmark", today=TODAY, progress=timeline, **options
        )
        engine.dispose()
        floor = copy_floor(url)
    counts = summary.counts
    rows = counts["order_events"] + counts["order_lines"]
    metric_rows = counts["sales_metrics"] + counts["customer_metrics"]
    print(
        f"{label:26} {counts['order_events']:>10,} {counts['order_lines']:>10,} {counts['customers']:>9,}"
        f" {metric_rows:>8,} {summary.seconds:8.1f} {floor:7.1f} {summary.seconds / floor:7.1f}×"
        f" {rows / summary.seconds:>10,.0f}"
    )
    parts = ", ".join(f"{name} {timeline.part(prefix):.1f} s" for name, prefix in PARTS)
    print(f"{'':26} of which: {parts}")
    if steps:
        for moment, message in timeline.events:
            print(f"{'':26}   {moment:7.2f}  {message}")
    return summary, floor


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--big", action="store_true", help="also the ten-year, million-order shop")
    parser.add_argument("--steps", action="store_true", help="print every progress message with its time")
    parser.add_argument("--database-url", help="a server where scratch databases may be created")
    args = parser.parse_args()
    cases: list[tuple[str, dict[str, Any]]] = [("default demo (scale 1)", {})]
    if args.big:
        cases.append(("10 years, 1,000,000 orders", {"years": 10, "orders": 1_000_000}))
    print("one run each; the floor is a plain COPY of the same orders and lines into bare unlogged tables")
    print(
        f"{'case':26} {'orders':>10} {'lines':>10} {'customers':>9} {'metrics':>8} {'seed s':>8}"
        f" {'floor s':>7} {'÷ floor':>8} {'rows/s':>10}"
    )
    with scratch_server(args.database_url) as admin:
        results = [run(admin, label, options, args.steps) for label, options in cases]
    default_seconds = results[0][0].seconds
    verdict = "met" if default_seconds < TARGET_SECONDS else "NOT met"
    print(f"target: the default demo under {TARGET_SECONDS:.0f} s — {verdict} ({default_seconds:.1f} s)")


if __name__ == "__main__":
    main()
