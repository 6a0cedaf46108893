"""The `ecomdesk` command: parse arguments, build what the command needs, run it. Nothing else."""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
import time
from collections.abc import Sequence

from ecomdesk import __version__

log = logging.getLogger("ecomdesk")


def _add_database_options(parser: argparse.ArgumentParser, *, top: bool = False) -> None:
    # Sub-commands accept the options too; SUPPRESS keeps them from overwriting a top-level value.
    default = None if top else argparse.SUPPRESS
    group = parser.add_argument_group("database")
    group.add_argument(
        "--database-url", metavar="URL", default=default, help="SQLAlchemy or libpq URL of the database"
    )
    group.add_argument("--profile", metavar="NAME", default=default, help="a saved connection profile")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ecomdesk", description="The back office of an online shop, straight against PostgreSQL."
    )
    parser.add_argument("--version", action="version", version=f"ecomdesk {__version__}")
    parser.add_argument("--debug", action="store_true", help="log everything, to the console too")
    _add_database_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    db = sub.add_parser("db", help="schema: upgrade, current revision")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    for name, text in (
        ("upgrade", "bring the database to the schema of this version"),
        ("current", "print the database's schema revision and whether it fits this app"),
    ):
        _add_database_options(db_sub.add_parser(name, help=text))

    demo = sub.add_parser("demo", help="start the app on a local demo database it runs itself")
    demo.add_argument("--no-gui", action="store_true", help="prepare the database, print its URL, exit")
    demo.add_argument("--stop", action="store_true", help="stop the local demo server and exit")

    seed = sub.add_parser("seed", help="fill a database with deterministic demo data")
    _add_database_options(seed)
    seed.add_argument("--scale", type=float, default=1.0, help="multiply the volume (default 1)")
    seed.add_argument("--inventory", type=int, help="exact number of inventory items")
    seed.add_argument("--random-seed", type=int, default=20261127)
    seed.add_argument(
        "--reset", action="store_true", help="first empty every table the demo fills (destroys their data)"
    )

    profile = sub.add_parser("profile", help="saved connection profiles")
    prof_sub = profile.add_subparsers(dest="profile_command", metavar="ACTION", required=True)
    prof_sub.add_parser("list", help="list saved profiles")
    add = prof_sub.add_parser("add", help="add or replace a profile (password asked, kept in the keyring)")
    add.add_argument("name")
    add.add_argument("--host", default="localhost")
    add.add_argument("--port", type=int, default=5432)
    add.add_argument("--database", default="ecomdesk")
    add.add_argument("--user", required=True)
    add.add_argument("--sslmode", default="prefer")
    add.add_argument("--no-password", action="store_true", help="the server needs no password")
    rm = prof_sub.add_parser("remove", help="forget a profile and its stored password")
    rm.add_argument("name")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from ecomdesk.bootstrap import ConfigurationError
    from ecomdesk.db.embedded import EmbeddedServerError

    try:
        match args.command:
            case "db":
                return _db(args)
            case "demo":
                return _demo(args)
            case "seed":
                return _seed(args)
            case "profile":
                return _profile(args)
            case None:
                return _gui(args)
    except (ConfigurationError, EmbeddedServerError) as exc:
        print(f"ecomdesk: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ecomdesk: interrupted", file=sys.stderr)
        return 130
    raise AssertionError(f"unhandled command {args.command}")


def _url(args: argparse.Namespace) -> str:
    from ecomdesk.bootstrap import resolve_database_url

    return resolve_database_url(args.database_url, args.profile)


def _db(args: argparse.Namespace) -> int:
    from ecomdesk.bootstrap import build_engine
    from ecomdesk.db import migrate

    engine = build_engine(_url(args))
    try:
        if args.db_command == "upgrade":
            before = migrate.current_revision(engine)
            migrate.upgrade(engine)
            after = migrate.current_revision(engine)
            print(
                f"schema {before or 'empty'} → {after}" if before != after else f"schema already at {after}"
            )
            return 0
        status = migrate.schema_status(engine)
        print(f"database: {status.database_revision or 'none'}  app: {status.app_revision}")
        print(status.advice)
        return 0 if status.state is migrate.SchemaState.CURRENT else 1
    finally:
        engine.dispose()


def _demo(args: argparse.Namespace) -> int:
    from ecomdesk.bootstrap import prepare_demo
    from ecomdesk.config import demo_cluster_dir
    from ecomdesk.db.embedded import EmbeddedServer

    if args.stop:
        stopped = EmbeddedServer(demo_cluster_dir()).stop()
        print("demo server stopped" if stopped else "demo server was not running")
        return 0
    if not args.no_gui:
        from ecomdesk.ui.app import gui_unavailable_reason

        reason = gui_unavailable_reason()
        if reason:
            print(reason, file=sys.stderr)
            return 2
    started = time.monotonic()
    demo = prepare_demo(progress=lambda msg: print(msg, file=sys.stderr))
    log.info("demo ready in %.1f s", time.monotonic() - started)
    if args.no_gui:
        print(demo.url)
        return 0
    try:
        return _run_gui(demo.url, demo=True)
    finally:
        if demo.started_server:
            demo.server.stop()


def _seed(args: argparse.Namespace) -> int:
    from ecomdesk.bootstrap import build_engine
    from ecomdesk.db.seed import is_seeded, reset_demo_data, seed_demo_data
    from ecomdesk.services.passwords import hash_password

    engine = build_engine(_url(args))
    try:
        if args.reset:
            reset_demo_data(engine)
        elif is_seeded(engine):
            print(
                "ecomdesk: the database already has users; demo data goes into an empty shop only "
                "(--reset empties the demo's tables first)",
                file=sys.stderr,
            )
            return 1
        summary = seed_demo_data(
            engine,
            hash_password=hash_password,
            scale=args.scale,
            inventory=args.inventory,
            random_seed=args.random_seed,
            progress=lambda msg: print(msg, file=sys.stderr),
        )
    finally:
        engine.dispose()
    for table, count in summary.counts.items():
        print(f"{table:20} {count:>12,}")
    print(f"seeded in {summary.seconds:.1f} s")
    return 0


def _profile(args: argparse.Namespace) -> int:
    from ecomdesk.config import ConnectionProfile, ProfileStore, SecretStoreUnavailable

    store = ProfileStore()
    if args.profile_command == "list":
        for p in store.list():
            print(f"{p.name}\t{p.user}@{p.host}:{p.port}/{p.database}\tsslmode={p.sslmode}")
        return 0
    if args.profile_command == "remove":
        store.delete(args.name)
        return 0
    profile = ConnectionProfile(args.name, args.host, args.port, args.database, args.user, args.sslmode)
    errors = profile.validate()
    if errors:
        for field, message in errors.items():
            print(f"ecomdesk: {field}: {message}", file=sys.stderr)
        return 2
    password = None if args.no_password else getpass.getpass(f"Password for {args.user}@{args.host}: ")
    try:
        store.save(profile, password)
    except SecretStoreUnavailable as exc:
        print(f"ecomdesk: {exc}", file=sys.stderr)
        return 2
    return 0


def _gui(args: argparse.Namespace) -> int:
    return _run_gui(_url(args), demo=False)


def _run_gui(url: str, *, demo: bool) -> int:
    from ecomdesk.ui.app import run

    return run(url, demo=demo)
