"""The inventory CSV import at 100,000 rows: preview (read, check, classify), the commit of 100,000 new
items, a re-import of the same file (everything unchanged) and an import changing 10% of the rows,
each against a plain `COPY` of the same file into an unlogged scratch table measured in the same run
— the floor no import can beat. The target: a 100,000-row commit in well under 20 s.

    .venv/bin/python tests/benchmarks/bench_import.py [--rows 100000] [--database-url URL]

Without --database-url it starts a throwaway embedded PostgreSQL (the `pgserver` binaries); with
one, it creates a scratch database on that server (the user needs CREATEDB) and drops it at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy import make_url

from ecomdesk.db import migrate
from ecomdesk.db.embedded import EmbeddedServer
from ecomdesk.db.engine import libpq_url, make_engine
from ecomdesk.services.context import Actor
from ecomdesk.services.inventory_import import ImportResult, InventoryImport
from ecomdesk.services.registry import Services

PASSWORD = "benchmark passphrase 2026"
TARGET_SECONDS = 20.0
HEADER = "sku,name,category,supplier,stock,reserved,price,cost,reorder_level"
CATEGORIES = ("Electronics", "Home & Kitchen", "Toys", "Books", "Garden", "Sports", "Beauty", "Office")
SUPPLIERS = (
    "Acme Supplies Ltd",
    "Nordwind GmbH",
    "Pacific Trading Co.",
    "Blue Ridge Wholesale",
    "Kato & Sons",
)
NOUNS = ("cable", "lamp", "kettle", "puzzle", "novel", "hose", "racket", "serum", "stapler", "speaker")
ADJECTIVES = ("compact", "deluxe", "wireless", "classic", "eco", "pro", "mini", "heavy-duty", "travel")


def generate(rows: int, seed: int = 20261127) -> list[list[str]]:
    """Realistic rows: prefixed SKUs, two-word names with a model number, skewed stock levels."""
    rng = random.Random(seed)
    out = []
    for n in range(rows):
        category = rng.choice(CATEGORIES)
        price = rng.randint(199, 49_999) / 100
        stock = int(rng.expovariate(1 / 60))
        out.append(
            [
                f"{category[:4].upper()}-{n:06d}",
                f"{rng.choice(ADJECTIVES).title()} {rng.choice(NOUNS)} {rng.randint(100, 999)}",
                category,
                rng.choice(SUPPLIERS),
                str(stock),
                str(rng.randint(0, stock // 4)),
                f"{price:.2f}",
                f"{price * rng.uniform(0.3, 0.8):.2f}",
                rng.choice(("", "", "5", "10", "25")),
            ]
        )
    return out


def to_csv(rows: list[list[str]]) -> bytes:
    # No cell holds a comma, quote or line break, so joining is exact CSV.
    return ("\n".join([HEADER, *(",".join(row) for row in rows)]) + "\n").encode()


def with_changes(rows: list[list[str]], every: int = 10) -> list[list[str]]:
    """Every `every`-th row with a new price and three more in stock."""
    changed = [list(row) for row in rows]
    for row in changed[::every]:
        row[6] = f"{float(row[6]) + 1:.2f}"
        row[4] = str(int(row[4]) + 3)
    return changed


def timed(call: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


@contextlib.contextmanager
def scratch_database(server_url: str | None) -> Iterator[str]:
    """A new, empty database: on a throwaway embedded server, or on the server named."""
    with contextlib.ExitStack() as stack:
        if server_url is None:
            tmp = stack.enter_context(tempfile.TemporaryDirectory())
            server = EmbeddedServer(Path(tmp) / "cluster", extra_settings=("fsync=off",))
            server.start()
            stack.callback(server.destroy)
            admin = server.url("postgres")
        else:
            admin = libpq_url(server_url)
        name = f"ecomdesk_bench_import_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield make_url(admin).set(database=name).render_as_string(hide_password=False)
        finally:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def copy_floor(url: str, data: bytes) -> float:
    """A plain COPY of the file into an unlogged table with no index or check: the floor."""
    with psycopg.connect(libpq_url(url)) as conn:
        conn.execute(
            "CREATE UNLOGGED TABLE bench_floor (sku text, name text, category text, supplier text, stock"
            " integer, reserved integer, price numeric(14, 2), cost numeric(14, 2), reorder_level integer)"
        )
        conn.commit()
        started = time.perf_counter()
        with (
            conn.cursor() as cursor,
            cursor.copy("COPY bench_floor FROM STDIN WITH (FORMAT csv, HEADER true)") as copy,
        ):
            copy.write(data)
        conn.commit()
        seconds = time.perf_counter() - started
        conn.execute("DROP TABLE bench_floor")
        conn.commit()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--database-url", help="a server where a scratch database may be created")
    args = parser.parse_args()
    rows = generate(args.rows)
    data, changed = to_csv(rows), to_csv(with_changes(rows))
    with scratch_database(args.database_url) as url:
        engine = make_engine(url)
        migrate.upgrade(engine)
        services = Services.build(engine)
        services.users.bootstrap_user(
            email="bench@shop.example", role="admin", first_name="Ben", last_name="Ch", password=PASSWORD
        )
        actor: Actor = services.auth.authenticate("bench@shop.example", PASSWORD).actor
        importer = InventoryImport(services.ctx)

        floor = copy_floor(url, data)
        cases: list[tuple[str, Callable[[], ImportResult]]] = [
            ("preview, all new", lambda: importer.preview(actor, data, "items.csv")),
            ("commit, all new", lambda: importer.commit(actor, data, "items.csv")),
            ("re-import, all unchanged", lambda: importer.commit(actor, data, "items.csv")),
            ("commit, 10% changed", lambda: importer.commit(actor, changed, "items.csv")),
        ]
        print(f"{args.rows:,} rows, {len(data) / 1e6:.1f} MB of CSV; one run each, in this order")
        print(f"{'step':28} {'seconds':>8} {'rows/s':>10} {'÷ COPY floor':>13}  summary")
        print(f"{'plain COPY (floor)':28} {floor:8.2f} {args.rows / floor:10,.0f} {1:12.1f}×")
        commit_seconds = 0.0
        for label, call in cases:
            seconds, result = timed(call)
            assert isinstance(result, ImportResult) and result.ok, result
            if label == "commit, all new":
                commit_seconds = seconds
            print(
                f"{label:28} {seconds:8.2f} {args.rows / seconds:10,.0f} {seconds / floor:12.1f}×  "
                f"{result.summary}"
            )
        engine.dispose()
    verdict = "met" if commit_seconds < TARGET_SECONDS else "NOT met"
    print(
        f"target: commit of {args.rows:,} new rows under {TARGET_SECONDS:.0f} s — "
        f"{verdict} ({commit_seconds:.1f} s)"
    )


if __name__ == "__main__":
    main()
