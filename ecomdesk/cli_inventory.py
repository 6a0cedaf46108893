"""`ecomdesk import inventory FILE.csv` and `ecomdesk stock adjust|history SKU`: the inventory import
and stock work without a window, for scripts and scheduled jobs.

Wired into `ecomdesk.cli` (which imports this module only when one of these commands runs, so the
other commands start as fast as before); errors the services raise are turned into messages and exit
codes by `cli.main`, like every other command's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from ecomdesk.cli import (
    UsageError,
    acting_services,
    add_acting_options,
    add_database_options,
    read_input,
)

if TYPE_CHECKING:
    from ecomdesk.services.context import Actor
    from ecomdesk.services.registry import Services
    from ecomdesk.services.stock import MovementRow

#: The kinds staff may choose (`services.stock.ADJUSTMENTS`), spelled out so `--help` imports nothing.
KINDS = ("receive", "ship", "correct", "reserve", "release")


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `import` and `stock` commands."""
    imports = sub.add_parser(
        "import", help="read data from a file: inventory items from CSV, order events from CSV or JSON Lines"
    )
    what = imports.add_subparsers(dest="import_command", metavar="WHAT", required=True)
    inventory = what.add_parser(
        "inventory",
        help="create and update inventory items from a CSV file (needs inventory.write)",
        description="Columns: sku, name, category, supplier, stock, reserved, price, cost, and optionally "
        "reorder_level (any order; comma, semicolon or tab separated; UTF-8). Items are matched by SKU: "
        "new ones are created, changed ones updated, stock changes recorded as stock movements. All or "
        "nothing: with any problem, every problem is listed as FILE:LINE: column: message and nothing "
        "is written.",
    )
    add_database_options(inventory)
    add_acting_options(inventory)
    inventory.add_argument("file", metavar="FILE.csv")
    inventory.add_argument(
        "--dry-run", action="store_true", help="check the file and list what would change; write nothing"
    )
    from ecomdesk import cli_orders

    cli_orders.add_parser(what)

    stock = sub.add_parser("stock", help="move stock (receive, ship, correct, …) and read its history")
    action = stock.add_subparsers(dest="stock_command", metavar="ACTION", required=True)
    adjust = action.add_parser(
        "adjust",
        help="change an item's stock or reservations, with a reason (needs inventory.adjust)",
        description="Without --kind, a correction by a signed number: --delta -5 takes five off. With "
        "--kind, --delta is a positive number of units and the kind gives the direction "
        "(e.g. --kind ship --delta 3).",
    )
    add_database_options(adjust)
    add_acting_options(adjust)
    adjust.add_argument("sku", metavar="SKU")
    adjust.add_argument("--delta", type=int, required=True, metavar="N", help="units (see above)")
    adjust.add_argument("--reason", required=True, help="why: a delivery note, an order number, a count")
    adjust.add_argument("--kind", choices=KINDS, help="the movement (default: correct)")
    adjust.add_argument(
        "--from-reserved", action="store_true", help="ship units that were reserved (reserved falls too)"
    )
    history = action.add_parser(
        "history",
        help="an item's stock movements, newest first, tab-separated (times in UTC; needs inventory.read)",
    )
    add_database_options(history)
    add_acting_options(history)
    history.add_argument("sku", metavar="SKU")
    history.add_argument(
        "--limit", type=int, default=50, metavar="N", help="at most N movements (default 50)"
    )


def run(args: argparse.Namespace) -> int:
    if args.command == "import":
        if args.import_command == "orders":
            from ecomdesk import cli_orders

            return cli_orders.run(args)
        return _import_inventory(args)
    if args.stock_command == "adjust":
        return _adjust(args)
    return _history(args)


def _import_inventory(args: argparse.Namespace) -> int:
    from ecomdesk.services.inventory_import import ImportRejected, RowAction

    def listed(row: Any) -> str:
        return f"{row.sku}\t{row.name}" if row.action is RowAction.CREATE else f"{row.sku}\t{row.changes}"

    return run_import(args, lambda services: services.importer, ImportRejected, listed)


class _Importer(Protocol):
    def preview(self, actor: Actor, data: bytes, file_name: str) -> Any: ...
    def commit(self, actor: Actor, data: bytes, file_name: str) -> Any: ...


def run_import(
    args: argparse.Namespace,
    importer: Callable[[Services], _Importer],
    rejected: type[Exception],
    listed: Callable[[Any], str],
    more: Callable[[Any], str | None] = lambda _result: None,
) -> int:
    """`ecomdesk import WHAT FILE [--dry-run]`, whatever is imported: preview or commit as the acting
    user; every problem as FILE:LINE: column: message (exit 1, nothing written); with --dry-run
    each row that would change as `LINE<tab>create|update<tab>listed(row)`, then `more(result)`."""
    from ecomdesk.services.inventory_import import RowAction

    path, data = read_input(args.file)
    with acting_services(args) as (services, actor):
        service = importer(services)
        try:
            if args.dry_run:
                result = service.preview(actor, data, path.name)
            else:
                result = service.commit(actor, data, path.name)
        except rejected as exc:
            result = exc.result  # type: ignore[attr-defined]
    if not result.ok:
        for problem in result.problems:
            where = f"{problem.column}: " if problem.column else ""
            print(f"{args.file}:{problem.line}: {where}{problem.message}", file=sys.stderr)
        print(f"ecomdesk: {result.summary}", file=sys.stderr)
        return 1
    if not args.dry_run:
        print(result.summary)
        return 0
    for row in result.rows:
        if row.action in (RowAction.CREATE, RowAction.UPDATE):
            print(f"{row.line}\t{row.action.value}\t{listed(row)}")
    note = more(result)
    if note:
        print(note)
    print(f"{result.summary} Dry run: nothing was written.")
    return 0


def _adjust(args: argparse.Namespace) -> int:
    from ecomdesk.db.models import MovementKind
    from ecomdesk.services.stock import Adjustment

    kind = MovementKind(args.kind or "correct")
    if kind is not MovementKind.CORRECT and args.delta <= 0:
        raise UsageError(
            f"with --kind {kind}, --delta is a number of units above zero (the kind gives the direction)"
        )
    adjustment = Adjustment(kind, args.delta, args.reason, from_reserved=args.from_reserved)
    with acting_services(args) as (services, actor):
        movement = services.stock.adjust(actor, args.sku, adjustment)
    print(_levels(movement))
    return 0


def _levels(m: MovementRow) -> str:
    """`ELEC-000001: stock 12 → 9, reserved 2, available 7`: an arrow where a level moved."""
    stock = _level("stock", m.stock_after, m.stock_delta)
    reserved = _level("reserved", m.reserved_after, m.reserved_delta)
    return f"{m.sku}: {stock}, {reserved}, available {m.available_after}"


def _level(name: str, after: int, delta: int) -> str:
    return f"{name} {after - delta} → {after}" if delta else f"{name} {after}"


def _history(args: argparse.Namespace) -> int:
    with acting_services(args) as (services, actor):
        rows = services.stock.history(actor, args.sku, limit=args.limit)
    print("time (UTC)\tmovement\tstock ±\treserved ±\tstock after\treserved after\tby\treason")
    for m in rows:
        cells = (
            m.occurred_at.astimezone(dt.UTC).isoformat(timespec="seconds"),
            m.kind_label,
            _signed(m.stock_delta),
            _signed(m.reserved_delta),
            str(m.stock_after),
            str(m.reserved_after),
            m.actor,
            " ".join(m.reason.split()),  # one line per movement, whatever the reason holds
        )
        print("\t".join(cells))
    return 0


def _signed(value: int) -> str:
    return f"{value:+d}" if value else "0"
