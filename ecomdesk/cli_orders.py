"""`ecomdesk import orders FILE`: order events from CSV or JSON Lines into the database, and the
daily metrics of the days they touch recomputed, without a window (for scripts and scheduled jobs).

Hung under `import` by `ecomdesk.cli_inventory` (imported only when the command runs); errors the
services raise are turned into messages and exit codes by `cli.main`, like every other command's.
"""

from __future__ import annotations

import argparse
from typing import Any

from ecomdesk.cli import add_acting_options, add_database_options


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
    from ecomdesk.cli_inventory import run_import
    from ecomdesk.services.inventory_import import RowAction
    from ecomdesk.services.orders import PREVIEW_ROWS, OrdersRejected

    def listed(row: Any) -> str:
        if row.action is RowAction.CREATE:
            return f"{row.order_id}\t{row.status}\t{row.amount}"
        return f"{row.order_id}\t{row.changes}"

    def more(result: Any) -> str | None:
        return (
            f"(the first {PREVIEW_ROWS:,} rows are listed)" if result.total_rows > len(result.rows) else None
        )

    return run_import(args, lambda services: services.orders, OrdersRejected, listed, more)
