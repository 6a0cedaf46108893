"""`ecomdesk worker`: run the shop's background jobs headless (see `ecomdesk.worker`), optionally
serving webhooks in (`--listen`); `worker status` says who is working; `worker secret set NAME`
keeps the worker's own secrets (SMTP password, inbound signing secrets) in this machine's keyring.

Wired into `ecomdesk.cli`, which imports this module only when `worker` runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from typing import TYPE_CHECKING, Any

from ecomdesk.cli import UsageError, add_database_options, resolved_url

if TYPE_CHECKING:
    from ecomdesk.services.registry import Services
    from ecomdesk.worker import JobHandler

log = logging.getLogger("ecomdesk.worker")

#: Every queue a worker drains unless told otherwise, in the order it visits them.
QUEUES = ("report", "webhook", "email")


#: `config.WORKER_SECRETS`'s names, spelled out so `--help` imports nothing (a test checks they agree).
SECRET_NAMES = ("inbound-secret", "smtp-password", "stripe-secret")


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    worker = sub.add_parser(
        "worker",
        help="do the shop's background jobs (reports, webhooks, e-mail) headless",
        description="Claims jobs from the database's queues until stopped (SIGTERM/Ctrl+C finish the job "
        "in hand). Any number of workers may run on any machines; each job is done once.",
    )
    add_database_options(worker)
    worker.add_argument("--once", action="store_true", help="do what is due now, then exit (cron, tests)")
    worker.add_argument(
        "--queue",
        action="append",
        choices=QUEUES,
        metavar="QUEUE",
        help=f"only these queues (repeatable; default: all of {', '.join(QUEUES)})",
    )
    worker.add_argument(
        "--listen",
        metavar="HOST:PORT",
        help="also accept order and payment webhooks over HTTP on this address",
    )
    worker.add_argument(
        "--rate-limit",
        type=int,
        default=100,
        metavar="N",
        help="webhook requests per client address and window",
    )
    worker.add_argument(
        "--rate-window", type=float, default=900.0, metavar="SECONDS", help="the rate limit's window (900 s)"
    )
    worker.add_argument(
        "--poll",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="look for jobs this often when not notified",
    )
    worker.add_argument(
        "--lease",
        type=float,
        metavar="SECONDS",
        help="how long a claimed job stays this worker's without renewal (default 120)",
    )
    worker.add_argument("--name", help="how this worker names itself (default: host:pid worker)")
    actions = worker.add_subparsers(dest="worker_command", metavar="ACTION")
    status = actions.add_parser("status", help="which workers are alive and when the last job was done")
    add_database_options(status)
    secret = actions.add_parser("secret", help="keep one of the worker's secrets in this machine's keyring")
    secret_sub = secret.add_subparsers(dest="secret_command", metavar="ACTION", required=True)
    for name, text in (("set", "store it (read from stdin's first line)"), ("clear", "remove it")):
        action = secret_sub.add_parser(name, help=text)
        action.add_argument(
            "secret_name",
            choices=SECRET_NAMES,
            metavar="NAME",
            help=f"one of {', '.join(SECRET_NAMES)}",
        )


def run(args: argparse.Namespace) -> int:
    match args.worker_command:
        case "status":
            return _status(args)
        case "secret":
            return _secret(args)
    return _work(args)


def _listen_address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageError(f"--listen wants HOST:PORT (for example 127.0.0.1:8080), not {text!r}")
    return host.strip("[]"), int(port)


def handlers(services: Services, queues: tuple[str, ...], *, lease: float | None = None) -> list[JobHandler]:
    """The job handlers for `queues`, each with its own claims (and lease, when given)."""
    from ecomdesk.config import worker_secret

    made: list[Any] = []
    for queue in queues:
        if queue == "report":
            made.append(_ReportJobs(services))
        elif queue == "webhook":
            from ecomdesk.services.webhook_delivery import WebhookDeliverer

            made.append(WebhookDeliverer(services.ctx))
        elif queue == "email":
            from ecomdesk.services.mail import Mailer

            made.append(Mailer(services.ctx, password=worker_secret("smtp-password")))
    if lease is not None:
        for handler in made:
            jobs = getattr(handler, "jobs", None)
            if jobs is not None:
                jobs.lease = dt.timedelta(seconds=lease)
    return made


class _ReportJobs:
    """The report queue as a job handler."""

    queue = "report"

    def __init__(self, services: Services) -> None:
        self.reports = services.reports
        self.jobs = services.reports.jobs

    def run_next(self, worker: str, *, cancelled: Any = None) -> object | None:
        return self.reports.run_next(worker, cancelled=cancelled)


def _work(args: argparse.Namespace) -> int:
    from ecomdesk.bootstrap import build_engine
    from ecomdesk.db import migrate
    from ecomdesk.logs import setup_logging
    from ecomdesk.services.jobs import runner_name
    from ecomdesk.services.registry import Services
    from ecomdesk.worker import Worker

    # A service's journal (systemd) reads the console: health lines and outcomes at INFO.
    setup_logging(debug=args.debug, console_level=logging.DEBUG if args.debug else logging.INFO)
    logging.getLogger("alembic").setLevel(logging.DEBUG if args.debug else logging.WARNING)
    listen = _listen_address(args.listen) if args.listen else None
    if args.poll <= 0 or (args.lease is not None and args.lease <= 0):
        raise UsageError("--poll and --lease want a number of seconds above 0")
    engine = build_engine(resolved_url(args))
    try:
        status = migrate.schema_status(engine)
        if status.state is not migrate.SchemaState.CURRENT:
            print(f"ecomdesk: {status.advice}", file=sys.stderr)
            return 1
        services = Services.build(engine)
        queues = tuple(dict.fromkeys(args.queue or QUEUES))
        listener = _start_listener(services, listen, args) if listen else None
        try:
            worker = Worker(
                engine,
                handlers(services, queues, lease=args.lease),
                name=args.name or runner_name("worker"),
                once=args.once,
                poll=args.poll,
                listening=listener.address if listener is not None else None,
            )
            with worker.signals_stop():
                stats = worker.run()
        finally:
            if listener is not None:
                listener.stop()
        if args.once:
            print(stats.line())
        return 0
    finally:
        engine.dispose()


def _start_listener(services: Services, listen: tuple[str, int], args: argparse.Namespace) -> Any:
    from ecomdesk.config import worker_secret
    from ecomdesk.listener import ListenerConfig, start_listener

    config = ListenerConfig(
        generic_secret=worker_secret("inbound-secret"),
        stripe_secret=worker_secret("stripe-secret"),
        rate_limit=args.rate_limit,
        rate_window_s=args.rate_window,
    )
    for route, secret in (
        ("/webhooks/orders", config.generic_secret),
        ("/webhooks/stripe", config.stripe_secret),
    ):
        if secret is None:
            log.warning("%s answers 503 until its secret is set (`ecomdesk worker secret set`)", route)
    try:
        running = start_listener(services, host=listen[0], port=listen[1], config=config)
    except OSError as exc:
        raise UsageError(f"cannot listen on {listen[0]}:{listen[1]}: {exc.strerror or exc}") from exc
    return running


def _status(args: argparse.Namespace) -> int:
    from ecomdesk.bootstrap import build_engine
    from ecomdesk.services.registry import Services

    engine = build_engine(resolved_url(args))
    try:
        status = Services.build(engine).workers.status(None)
    finally:
        engine.dispose()
    print(status.summary())
    for row in status.workers:
        state = "alive" if row.alive else "stopped or silent"
        listening = f", listening on {row.listening}" if row.listening else ""
        print(
            f"  {row.name}: {state}, {row.jobs_done} jobs, queues {', '.join(row.queues)}{listening}, "
            f"last seen {row.seen_at:%Y-%m-%d %H:%M:%S %Z}"
        )
    return 0 if status.alive else 1


def _secret(args: argparse.Namespace) -> int:
    from ecomdesk.config import WORKER_SECRETS, SecretStore, SecretStoreUnavailable

    store = SecretStore()
    key = f"worker:{args.secret_name}"
    if args.secret_command == "clear":
        store.delete(key)
        print(f"{args.secret_name}: removed from this machine's keyring", file=sys.stderr)
        return 0
    value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        raise UsageError(f"{args.secret_name}: give the secret on stdin's first line")
    try:
        store.set(key, value)
    except SecretStoreUnavailable as exc:
        print(
            f"ecomdesk: {exc} Set {WORKER_SECRETS[args.secret_name]} in the worker's environment instead.",
            file=sys.stderr,
        )
        return 1
    print(f"{args.secret_name}: stored in this machine's keyring", file=sys.stderr)
    return 0
