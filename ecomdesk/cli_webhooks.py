"""`ecomdesk webhook add|list|deliveries|test|redeliver|remove|events`: the shop's outgoing webhooks
without a window, acting as the signed-in admin (`integrations.manage`).

`add` prints a generated secret once, with a line saying it will not be shown again (a secret given
with `--secret-file` is never echoed). Wired into `ecomdesk.cli` (which imports this module only
when `webhook` runs); refusals the services raise become messages and exit codes in `cli.main`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Sequence
from pathlib import Path

from ecomdesk.cli import UsageError, acting_services, add_acting_options, add_database_options

#: Delivery statuses (`db.models.integrations.DELIVERY_STATUSES`), spelled out so `--help` imports nothing.
STATUSES = ("pending", "delivered", "dead")


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `webhook` command and its actions."""
    webhook = sub.add_parser(
        "webhook", help="webhooks out: endpoints that hear the shop's events, and deliveries"
    )
    action = webhook.add_subparsers(dest="webhook_command", metavar="ACTION", required=True)

    def acting(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        add_database_options(parser)
        add_acting_options(parser)
        return parser

    add = acting(
        action.add_parser(
            "add",
            help="register an endpoint and print its id (and its secret, once, when generated)",
            description="Events are POSTed to URL as signed JSON (header Ecomdesk-Signature). Without "
            "--secret-file a random secret is generated and printed once: give it to the receiver.",
        )
    )
    add.add_argument(
        "url", metavar="URL", help="https://… (http only for this machine, with --allow-private)"
    )
    add.add_argument(
        "--event",
        action="append",
        required=True,
        metavar="TYPE",
        help="an event type to send (repeat; * for all; `ecomdesk webhook events` lists them)",
    )
    add.add_argument("--description", default="", help="what the receiver is, e.g. 'ERP'")
    add.add_argument(
        "--secret-file", metavar="FILE", help="read the signing secret from FILE (at least 16 characters)"
    )
    add.add_argument(
        "--allow-private",
        action="store_true",
        help="allow an address in a private network (the office network, or this machine)",
    )
    acting(action.add_parser("list", help="the endpoints, with their latest delivery and counts"))
    deliveries = acting(action.add_parser("deliveries", help="the delivery log, newest first"))
    deliveries.add_argument("--endpoint", type=int, metavar="ID", help="only this endpoint's")
    deliveries.add_argument("--status", choices=STATUSES, help="only deliveries in this state")
    deliveries.add_argument("--limit", type=int, default=50, metavar="N", help="at most N rows (default 50)")
    test = acting(
        action.add_parser("test", help="queue a test event for one endpoint and print its event id")
    )
    test.add_argument("endpoint_id", type=int, metavar="ID")
    redeliver = acting(action.add_parser("redeliver", help="send a delivered or dead delivery again"))
    redeliver.add_argument("delivery_id", type=int, metavar="DELIVERY_ID")
    remove = acting(action.add_parser("remove", help="remove an endpoint with its delivery log"))
    remove.add_argument("endpoint_id", type=int, metavar="ID")
    action.add_parser("events", help="the event types an endpoint may subscribe to")


def run(args: argparse.Namespace) -> int:
    actions = {
        "add": _add,
        "list": _list,
        "deliveries": _deliveries,
        "test": _test,
        "redeliver": _redeliver,
        "remove": _remove,
        "events": _events,
    }
    return actions[args.webhook_command](args)


def read_secret_file(name: str) -> str:
    """The secret in FILE, stripped; a file that cannot be read is a usage error (exit 2)."""
    try:
        return Path(name).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        raise UsageError(f"cannot read the secret file {name}: {reason}") from exc


def _add(args: argparse.Namespace) -> int:
    from ecomdesk.services.webhooks import EndpointDraft

    secret = read_secret_file(args.secret_file) if args.secret_file else None
    draft = EndpointDraft(args.url, list(args.event), args.description, allow_private=args.allow_private)
    with acting_services(args) as (services, actor):
        created = services.webhooks.add_endpoint(actor, draft, secret=secret)
    endpoint = created.endpoint
    print(endpoint.id)
    print(f"added endpoint {endpoint.id}: {endpoint.url} ({', '.join(endpoint.events)})", file=sys.stderr)
    if secret is None:
        print(f"signing secret: {created.secret}")
        print(
            "This secret will not be shown again: give it to the receiver now "
            "(`ecomdesk` can only replace it, not show it).",
            file=sys.stderr,
        )
    return 0


def _list(args: argparse.Namespace) -> int:
    with acting_services(args) as (services, actor):
        endpoints = services.webhooks.endpoints(actor)
    if not endpoints:
        print("no endpoints yet (`ecomdesk webhook add URL --event TYPE`)", file=sys.stderr)
        return 0
    rows = [
        (
            str(e.id),
            "active" if e.active else "paused",
            e.url,
            ",".join(e.events),
            f"{e.last_status or '-'} {_when(e.last_at)}".strip(),
            str(e.pending),
            str(e.dead),
            e.description,
        )
        for e in endpoints
    ]
    _table(("ID", "STATE", "URL", "EVENTS", "LAST DELIVERY", "PENDING", "DEAD", "DESCRIPTION"), rows)
    return 0


def _deliveries(args: argparse.Namespace) -> int:
    from ecomdesk.services.listing import MAX_PAGE_SIZE, ListQuery

    if not 1 <= args.limit <= MAX_PAGE_SIZE:
        raise UsageError(f"--limit wants a number from 1 to {MAX_PAGE_SIZE}")
    filters: dict[str, object] = {}
    if args.endpoint is not None:
        filters["endpoint"] = args.endpoint
    if args.status is not None:
        filters["status"] = args.status
    with acting_services(args) as (services, actor):
        page = services.webhooks.deliveries.page(actor, ListQuery(filters=filters, limit=args.limit))
    rows = [
        (
            str(d.id),
            _when(d.created_at),
            d.event_type,
            d.event_id,
            d.endpoint_url,
            d.status,
            str(d.attempts),
            "" if d.last_status_code is None else str(d.last_status_code),
            d.last_error or "",
        )
        for d in page.rows
    ]
    _table(
        ("ID", "CREATED", "EVENT", "EVENT ID", "ENDPOINT", "STATUS", "ATTEMPTS", "HTTP", "LAST ERROR"), rows
    )
    total = page.total if page.total is not None else len(rows)
    print(f"{len(rows):,} of {total:,} deliver{'y' if total == 1 else 'ies'}", file=sys.stderr)
    return 0


def _test(args: argparse.Namespace) -> int:
    with acting_services(args) as (services, actor):
        event_id = services.webhooks.send_test(actor, args.endpoint_id)
    print(event_id)
    print(f"queued a test event for endpoint {args.endpoint_id}", file=sys.stderr)
    return 0


def _redeliver(args: argparse.Namespace) -> int:
    with acting_services(args) as (services, actor):
        row = services.webhooks.redeliver(actor, args.delivery_id)
    print(f"delivery {row.id} of event {row.event_id} queued again for {row.endpoint_url}", file=sys.stderr)
    return 0


def _remove(args: argparse.Namespace) -> int:
    with acting_services(args) as (services, actor):
        services.webhooks.delete_endpoint(actor, args.endpoint_id)
    print(f"removed endpoint {args.endpoint_id}", file=sys.stderr)
    return 0


def _events(args: argparse.Namespace) -> int:
    from ecomdesk.services.events import ALL_EVENTS, EVENT_TYPES

    width = max(len(name) for name in EVENT_TYPES)
    for name, meaning in EVENT_TYPES.items():
        print(f"{name.ljust(width)}  {meaning}")
    print(f"{ALL_EVENTS.ljust(width)}  every type, including those added later")
    return 0


def _when(moment: dt.datetime | None) -> str:
    """A moment in local time to the second (a terminal's reader is in the shop, not in UTC)."""
    return "" if moment is None else moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Columns padded to their widest cell; the last one is not padded."""
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=False)]
        print("  ".join([*cells, row[-1]]).rstrip())
