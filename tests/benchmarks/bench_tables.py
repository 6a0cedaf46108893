"""Windows of the inventory table, the service against a plain `ORDER BY … OFFSET … LIMIT` of the same
rows measured in the same run: the deferred join (keys from the index first) and the backwards read
near the end are what keep a jump anywhere in a million rows cheap.

    .venv/bin/python tests/benchmarks/bench_tables.py --database-url URL [--rounds 5]

The database needs many inventory items (`ecomdesk seed --inventory 1000000`) and an admin
(`ecomdesk user create`); the demo database has both: `ecomdesk demo --no-gui` prints its URL.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from sqlalchemy import text

from ecomdesk.db.engine import make_engine
from ecomdesk.services.listing import ListQuery, SortKey
from ecomdesk.services.registry import Services

COLUMNS = "sku, name, category, supplier, stock, reserved, price, cost, reorder_level, last_updated, id"


def median_ms(call: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--user", default="admin@demo.shop")
    parser.add_argument("--password", default="demo-shop-password-2026")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    engine = make_engine(args.database_url)
    services = Services.build(engine)
    actor = services.auth.authenticate(args.user, args.password).actor
    table = services.tables["inventory"]
    total = table.count(actor, ListQuery())

    def plain(order: str, offset: int) -> Callable[[], object]:
        sql = text(
            f"SELECT {COLUMNS} FROM inventory_items WHERE archived_at IS NULL "
            f"ORDER BY {order} OFFSET :offset LIMIT 200"
        )

        def run() -> object:
            with engine.connect() as conn:
                return conn.execute(sql, {"offset": offset}).all()

        return run

    def ours(offset: int, *sort: SortKey) -> Callable[[], object]:
        query = ListQuery(sort=sort, offset=offset, limit=200, known_total=total)
        return lambda: table.page(actor, query)

    cases = [
        ("first window", ours(0), plain("name, id", 0)),
        ("middle window", ours(total // 2), plain("name, id", total // 2)),
        ("last window", ours(total - 200), plain("name, id", total - 200)),
        (
            "name descending, first",
            ours(0, SortKey("name", True)),
            plain("name DESC NULLS LAST, id DESC", 0),
        ),
        ("count", lambda: table.count(actor, ListQuery()), lambda: None),
    ]
    print(f"{total:,} live inventory items; medians of {args.rounds} rounds")
    print(f"{'window of 200 rows':28} {'service ms':>11} {'plain OFFSET ms':>16} {'plain÷service':>14}")
    for label, service_call, reference_call in cases:
        service_ms = median_ms(service_call, args.rounds)
        if label == "count":
            print(f"{label:28} {service_ms:11.1f}")
            continue
        reference_ms = median_ms(reference_call, args.rounds)
        print(f"{label:28} {service_ms:11.1f} {reference_ms:16.1f} {reference_ms / service_ms:13.1f}×")
    engine.dispose()


if __name__ == "__main__":
    main()
