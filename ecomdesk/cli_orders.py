"""`ecomdesk import orders FILE`: order events from CSV or JSON Lines into the database, and the
daily metrics of the days they touch recomputed, without a window (for scripts and scheduled jobs).

Hung under `import` by `ecomdesk.cli_inventory` (imported only when the command runs); errors the
services raise are turned into messages and exit codes by `cli.main`, like every other command's.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from ecomdesk.cli import (
    acting_actor,
    add_acting_options,
    add_database_options,
    read_input,
    resolved_url,
)

if TYPE_CHECKING:
    from ecomdesk.services.orders import OrderImportResult


def add_parser(what: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`import orders` under the `import` command."""
    orders = what.add_parser(
        "orders",
        help="add order events from a CSV or JSON Lines file and recompute their days' metrics "
        "(needs analytics.write)",
        description="Columns (or keys): order_id, customer_id, channel, amount, currency, status "
        "(paid, refunded, pending, cancelled), occurred_at (ISO 8601 with its offset, e.g. "
        "2026-03-01T10:15:00+01:00), and optionally lines (a JSON array of sku, quantity, unit_price) and "
        "metadata (a JSON object). CSV in any column order, comma, semicolon or tab separated, UTF-8; "
        ".jsonl or .ndjson files, or files starting with {, are read as JSON Lines. Events are merged "
        "by order id, so importing a file again changes nothing. All or nothing: with any problem, "
        "every problem is listed as FILE:LINE: column: message and nothing is written.",
    )
    add_database_options(orders)
    add_acting_options(orders)
    orders.add_argument("file", metavar="FILE")
    orders.add_argument(
        "--dry-run", action="store_true", help="check the file and list what would change; write nothing"
    )


def run(args: argparse.Namespace) -> int:
    from ecomdesk.bootstrap import build_engine
    from ecomdesk.services.inventory_import import RowAction
    from ecomdesk.services.orders import PREVIEW_ROWS, OrdersRejected
    from ecomdesk.services.registry import Services

    path, data = read_input(args.file)
    url = resolved_url(args)
    engine = build_engine(url)
    try:
        services = Services.build(engine)
        actor = acting_actor(args, services, url)
        try:
            if args.dry_run:
                result = services.orders.preview(actor, data, path.name)
            else:
                result = services.orders.commit(actor, data, path.name)
        except OrdersRejected as exc:
            result = exc.result
    finally:
        engine.dispose()
    if not result.ok:
        _print_problems(args.file, result)
        return 1
    if args.dry_run:
        for row in result.rows:
            if row.action is RowAction.CREATE:
                print(f"{row.line}\tcreate\t{row.order_id}\t{row.status}\t{row.amount}")
            elif row.action is RowAction.UPDATE:
                print(f"{row.line}\tupdate\t{row.order_id}\t{row.changes}")
        if result.total_rows > len(result.rows):
            print(f"(the first {PREVIEW_ROWS:,} rows are listed)")
        print(f"{result.summary} Dry run: nothing was written.")
    else:
        print(result.summary)
    return 0


def _print_problems(file: str, result: OrderImportResult) -> None:
    for problem in result.problems:
        where = f"{problem.column}: " if problem.column else ""
        print(f"{file}:{problem.line}: {where}{problem.message}", file=sys.stderr)
    print(f"ecomdesk: {result.summary}", file=sys.stderr)
