"""The `ecomdesk` command: parse arguments, build what the command needs, run it. Nothing else."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import logging
import os
import re
import socket
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ecomdesk import __version__

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.exc import DBAPIError

    from ecomdesk.services.context import Actor
    from ecomdesk.services.registry import Services
    from ecomdesk.ui.self_test import SignInFn

log = logging.getLogger("ecomdesk")


def add_database_options(parser: argparse.ArgumentParser, *, top: bool = False) -> None:
    # Sub-commands accept the options too; SUPPRESS keeps them from overwriting a top-level value.
    default = None if top else argparse.SUPPRESS
    group = parser.add_argument_group("database")
    group.add_argument(
        "--database-url", metavar="URL", default=default, help="SQLAlchemy or libpq URL of the database"
    )
    group.add_argument("--profile", metavar="NAME", default=default, help="a saved connection profile")


def add_acting_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "acting user", "who runs the command (default: the sign-in `ecomdesk login` remembered)"
    )
    group.add_argument("--user", metavar="EMAIL", help="act as this staff account (password asked)")
    group.add_argument(
        "--password-stdin", action="store_true", help="read the password from the first line of stdin"
    )
    from ecomdesk import cli_snapshot

    cli_snapshot.add_top_options(parser)


def add_self_test_options(parser: argparse.ArgumentParser) -> None:
    """`--self-test` and whom it signs in as. `--user`/`--password-stdin` keep their own names
    (`dest`) here: argparse copies a command's own defaults over the top level's values, so a
    shared name would be silently reset by every command that has a `--user`."""
    group = parser.add_argument_group(
        "self-test", "check that the app works on this machine (Qt offscreen, no display needed)"
    )
    group.add_argument(
        "--self-test",
        action="store_true",
        help="open and close every window offscreen on --database-url/--profile, or on a fresh demo "
        "database of its own; one timed line per step; exit 0 if all passed",
    )
    group.add_argument(
        "--user",
        dest="self_test_user",
        metavar="EMAIL",
        help="with --self-test: sign in as this staff account (default: the sign-in `ecomdesk login` "
        "remembered; with neither, the main window is skipped)",
    )
    group.add_argument(
        "--password-stdin",
        dest="self_test_password_stdin",
        action="store_true",
        help="with --self-test --user: read the password from the first line of stdin",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ecomdesk", description="The back office of an online shop, straight against PostgreSQL."
    )
    parser.add_argument("--version", action="version", version=f"ecomdesk {__version__}")
    parser.add_argument("--debug", action="store_true", help="log everything, to the console too")
    add_database_options(parser, top=True)
    from ecomdesk import cli_snapshot

    cli_snapshot.add_top_options(parser, top=True)
    add_self_test_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    db = sub.add_parser("db", help="schema: upgrade, current revision")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    for name, text in (
        ("upgrade", "bring the database to the schema of this version"),
        ("current", "print the database's schema revision and whether it fits this app"),
    ):
        add_database_options(db_sub.add_parser(name, help=text))
    grant = db_sub.add_parser(
        "grant",
        help="give a staff role exactly the rights the app needs (run by the owner, once)",
        description="Grant ROLE what ecomdesk's staff connections need on this database — data "
        "rights only, no DDL, TRUNCATE, REFERENCES or TRIGGER; the audit trail append-only — and "
        "default privileges for tables a later `db upgrade` creates. Run as the tables' owner; "
        "run again after each upgrade. Staff log in as roles that are members of ROLE.",
    )
    add_database_options(grant)
    grant.add_argument("role", help="the (group) role staff connect through, e.g. ecomdesk_staff")
    grant.add_argument(
        "--print", dest="print_sql", action="store_true", help="print the SQL for review; change nothing"
    )

    demo = sub.add_parser("demo", help="start the app on a local demo database it runs itself")
    demo.add_argument("--no-gui", action="store_true", help="prepare the database, print its URL, exit")
    demo.add_argument("--stop", action="store_true", help="stop the local demo server and exit")

    seed = sub.add_parser("seed", help="fill a database with deterministic demo data")
    add_database_options(seed)
    seed.add_argument("--scale", type=float, default=1.0, help="multiply the volume (default 1)")
    seed.add_argument("--inventory", type=int, help="exact number of inventory items")
    seed.add_argument("--random-seed", type=int, default=20261127)
    seed.add_argument(
        "--reset",
        action="store_true",
        help="first empty every table the demo fills (destroys their data; needs an admin's --user)",
    )
    add_acting_options(seed)

    user = sub.add_parser("user", help="staff accounts: create the first admin, list accounts")
    user_sub = user.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    create = user_sub.add_parser(
        "create",
        help="create an account as the database owner (e.g. the first admin); password asked",
        description="Create a staff account without signing in: the database owner's bootstrap "
        "for the first administrator. The password is asked twice, read from stdin, or generated.",
    )
    add_database_options(create)
    create.add_argument("--email", required=True)
    create.add_argument("--role", required=True, help="admin, manager, viewer or a custom role's name")
    create.add_argument("--first-name", help="default: from the email address")
    create.add_argument("--last-name", help="default: from the email address, else the role")
    how = create.add_mutually_exclusive_group()
    how.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    how.add_argument(
        "--temporary-password",
        action="store_true",
        help="generate a one-time password (printed once); it must be changed at the first sign-in",
    )
    listing = user_sub.add_parser("list", help="list staff accounts (needs users.read)")
    add_database_options(listing)
    add_acting_options(listing)
    listing.add_argument("--search", default="", help="text in the email or the names")
    listing.add_argument("--role", help="only this role")
    state = listing.add_mutually_exclusive_group()
    state.add_argument("--active", dest="active", action="store_true", default=None, help="active only")
    state.add_argument("--inactive", dest="active", action="store_false", help="deactivated only")

    login = sub.add_parser(
        "login", help="sign in once and remember this computer (a device session kept in the keyring)"
    )
    add_database_options(login)
    login.add_argument("--user", metavar="EMAIL", required=True)
    login.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    login.add_argument("--device-name", help="how the device appears in the sessions list")
    logout = sub.add_parser("logout", help="end the remembered sign-in of this computer")
    add_database_options(logout)

    shots = sub.add_parser(
        "screenshots",
        help="render every window and page, light and dark, as <page>-<theme>.png (offscreen)",
        description="Signs in as the demo administrator on the local demo database (started if "
        "needed) or on --database-url, and photographs each window, dialog and page.",
    )
    add_database_options(shots)
    shots.add_argument("--out", required=True, metavar="DIR", help="the folder for the PNG files")

    export = sub.add_parser(
        "export",
        help="write a list (users, roles, inventory, stock_movements, reports, activity) as CSV",
        description="Every row matching the search, filters and sort, in the columns a grid shows by "
        "default. Text cells starting with = + - @ or a tab/CR get a leading apostrophe so spreadsheets "
        "never run them.",
    )
    add_database_options(export)
    add_acting_options(export)
    export.add_argument("view", help="users, roles, inventory, stock_movements, reports or activity")
    export.add_argument("--out", required=True, metavar="FILE", help="the CSV file; - for standard output")
    export.add_argument("--search", default="", help="the search box's text")
    export.add_argument(
        "--sort",
        action="append",
        default=[],
        metavar="COLUMN",
        help="sort key, repeatable; --sort=-COLUMN sorts descending",
    )
    export.add_argument(
        "--filter", action="append", default=[], metavar="KEY=VALUE", help="a filter of the view (repeat)"
    )
    export.add_argument("--columns", metavar="A,B,…", help="column keys in order (default: the shown ones)")
    export.add_argument("--bom", action="store_true", help="start with a UTF-8 byte-order mark (for Excel)")

    from ecomdesk import cli_inventory, cli_mail, cli_reports, cli_watch, cli_webhooks, cli_worker

    cli_inventory.add_parsers(sub)
    cli_reports.add_parsers(sub)
    cli_mail.add_parsers(sub)
    cli_watch.add_parsers(sub)
    cli_snapshot.add_parsers(sub)
    cli_worker.add_parsers(sub)
    cli_webhooks.add_parsers(sub)

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
    args = build_parser().parse_args(_opened_file(sys.argv[1:] if argv is None else list(argv)))
    from ecomdesk.logs import debug_requested, setup_logging

    # Every command leaves its traceback in the per-user log file; the console gets warnings, or
    # everything with --debug (or ECOMDESK_DEBUG=1).
    args.debug = debug_requested(args.debug)
    setup_logging(debug=args.debug, console_level=logging.DEBUG if args.debug else logging.WARNING)
    from ecomdesk.bootstrap import ConfigurationError
    from ecomdesk.db.embedded import EmbeddedServerError
    from ecomdesk.db.snapshot import SnapshotFileError
    from ecomdesk.services.errors import ServiceError, Unavailable, ValidationError

    try:
        if args.self_test or args.self_test_user or args.self_test_password_stdin:
            return _self_test(args)
        if args.snapshot:
            from ecomdesk import cli_snapshot

            cli_snapshot.check_command(args)
        match args.command:
            case "db":
                return _db(args)
            case "demo":
                return _demo(args)
            case "seed":
                return _seed(args)
            case "profile":
                return _profile(args)
            case "user":
                return _user(args)
            case "login":
                return _login(args)
            case "logout":
                return _logout(args)
            case "screenshots":
                return _screenshots(args)
            case "export":
                return _export(args)
            case "import" | "stock":
                from ecomdesk import cli_inventory

                return cli_inventory.run(args)
            case "mail":
                from ecomdesk import cli_mail

                return cli_mail.run(args)
            case "report":
                from ecomdesk import cli_reports

                return cli_reports.run(args)
            case "webhook":
                from ecomdesk import cli_webhooks

                return cli_webhooks.run(args)
            case "watch":
                from ecomdesk import cli_watch

                return cli_watch.run(args)
            case "snapshot":
                from ecomdesk import cli_snapshot

                return cli_snapshot.run(args)
            case "worker":
                from ecomdesk import cli_worker

                return cli_worker.run(args)
            case None:
                return _gui(args)
    except (ConfigurationError, EmbeddedServerError, UsageError) as exc:
        print(f"ecomdesk: {exc}", file=sys.stderr)
        return 2
    except Unavailable as exc:
        return _cannot_reach(args, exc)
    except ValidationError as exc:
        for field, message in exc.fields.items():
            print(f"ecomdesk: {field.replace('_', ' ')}: {message}", file=sys.stderr)
        return 1
    except (ServiceError, SnapshotFileError) as exc:
        # A snapshot file error should arrive as a `SnapshotError`; either way it is one clear line.
        print(f"ecomdesk: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ecomdesk: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader left (`ecomdesk user list | head`): stop quietly, as Unix tools do, and keep
        # the interpreter's final flush from failing on the closed pipe.
        with contextlib.suppress(AttributeError, OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:
        return _cannot_reach(args, exc) if _connection_failure(exc) else _unexpected(exc)
    raise AssertionError(f"unhandled command {args.command}")


def _opened_file(argv: list[str]) -> list[str]:
    """`ecomdesk FILE.ecomsnap` — how a file manager opens a snapshot through the desktop entry
    (`Exec=ecomdesk %f`) — means `ecomdesk --snapshot FILE.ecomsnap`."""
    from ecomdesk.cli_snapshot import EXTENSION

    if len(argv) == 1 and argv[0].lower().endswith(EXTENSION) and not argv[0].startswith("-"):
        return ["--snapshot", argv[0]]
    return argv


#: sysexits.h's EX_SOFTWARE: the command failed on a bug, not on its input or the server.
EX_SOFTWARE = 70


def _driver_error(error: BaseException) -> BaseException:
    """psycopg's own exception behind a service error or SQLAlchemy's wrapper."""
    from ecomdesk.services.errors import ServiceError

    if isinstance(error, ServiceError) and error.__cause__ is not None:
        error = error.__cause__
    return getattr(error, "orig", None) or error


def _connection_failure(error: BaseException) -> bool:
    """A server that could not be reached or refused the connection (libpq sets no SQLSTATE, or
    the server's class 08 connection / 28 authorization / 3D000 no database / 57P shutdown) —
    not a failed statement on a working connection."""
    import psycopg

    driver = _driver_error(error)
    if not isinstance(driver, psycopg.OperationalError):
        return False
    sqlstate = driver.sqlstate or ""
    return not sqlstate or sqlstate.startswith(("08", "28", "3D", "57P"))


def _cannot_reach(args: argparse.Namespace, error: BaseException) -> int:
    """One line with libpq's own reason and, for a failed connection, one with the connection
    test's advice; exit 1. The services' `Unavailable` keeps its own sentence."""
    import psycopg

    from ecomdesk.bootstrap import ConfigurationError
    from ecomdesk.logs import FILE_ONLY
    from ecomdesk.services.errors import Unavailable

    driver = _driver_error(error)
    # The driver's first line; an `Unavailable` raised without a driver error has only its sentence.
    lines = [] if driver is error and isinstance(error, Unavailable) else str(driver).strip().splitlines()
    reason = lines[0].strip() if lines else ""
    if isinstance(error, Unavailable):
        text = f"{error.message} ({reason})" if reason else error.message
    else:
        text = f"cannot reach the database: {reason or type(driver).__name__}"
    log.warning("%s", text, exc_info=error, extra=FILE_ONLY)
    print(f"ecomdesk: {text}", file=sys.stderr)
    if _connection_failure(error) and isinstance(driver, psycopg.Error):
        from ecomdesk.connect import Problem, explain_failure

        hint = "check --database-url or --profile, and that the server runs and accepts this computer"
        try:
            check = explain_failure(resolved_url(args), driver)
        except ConfigurationError:  # no URL was named: the command used its own (the demo's)
            check = None
        if check is not None and check.problem is not Problem.OTHER:
            hint = check.text
        print(f"ecomdesk: hint: {hint}", file=sys.stderr)
    return 1


def _unexpected(error: Exception) -> int:
    """A bug: one line on the console, the traceback in the log file (and on the console with
    --debug); exit 70."""
    from ecomdesk.logs import FILE_ONLY, log_file

    log.error("unexpected error", exc_info=error, extra=FILE_ONLY)
    lines = str(error).strip().splitlines()
    what = f"{type(error).__name__}): {lines[0].strip()}" if lines else f"{type(error).__name__})"
    print(f"ecomdesk: unexpected error ({what}; details in {log_file()}", file=sys.stderr)
    return EX_SOFTWARE


class UsageError(RuntimeError):
    """The command line cannot work as given; the message says what to change."""


def read_input(name: str) -> tuple[Path, bytes]:
    """An input file named on the command line and its bytes; a file that cannot be read is a
    usage error (exit 2), not a refusal."""
    path = Path(name)
    try:
        return path, path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror or exc}") from exc


def resolved_url(args: argparse.Namespace) -> str:
    from ecomdesk.bootstrap import resolve_database_url

    return resolve_database_url(args.database_url, args.profile)


def _db(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import DBAPIError

    from ecomdesk.bootstrap import build_engine
    from ecomdesk.db import migrate

    engine = build_engine(resolved_url(args))
    try:
        if args.db_command == "grant":
            return _db_grant(engine, args.role, print_sql=args.print_sql)
        if args.db_command == "upgrade":
            before = migrate.current_revision(engine)
            try:
                migrate.upgrade(engine)
            except DBAPIError as exc:
                if not _insufficient_privilege(exc):
                    raise
                print(
                    f"ecomdesk: {engine.url.username or 'this user'} may not change the schema "
                    f"({_first_line(exc)}): the schema is upgraded by the database owner: ask your DBA "
                    "to run `ecomdesk db upgrade`",
                    file=sys.stderr,
                )
                return 1
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


def _insufficient_privilege(exc: DBAPIError) -> bool:
    import psycopg

    return isinstance(exc.orig, psycopg.errors.InsufficientPrivilege)


def _first_line(exc: DBAPIError) -> str:
    return str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)


def _db_grant(engine: Engine, role: str, *, print_sql: bool) -> int:
    from sqlalchemy.exc import DBAPIError

    from ecomdesk.db import privileges

    try:
        if print_sql:
            with engine.connect() as conn:
                print(privileges.plan_grants(conn, role).as_sql(), end="")
            return 0
        granted = privileges.grant_staff_privileges(engine, role)
    except privileges.PrivilegeError as exc:
        print(f"ecomdesk: {exc}", file=sys.stderr)
        return 1
    except DBAPIError as exc:
        if not _insufficient_privilege(exc):
            raise
        print(f"ecomdesk: {_first_line(exc)}: run `ecomdesk db grant` as the tables' owner", file=sys.stderr)
        return 1
    plan = granted.plan
    print(
        f"granted {plan.role} what ecomdesk needs on {plan.database} (schema {plan.schema}, owner "
        f"{plan.owner}), and the same for tables the owner's next `db upgrade` creates"
    )
    if granted.check.excess:
        print(f"ecomdesk: {plan.role} can do more than the app needs, through other grants:", file=sys.stderr)
        for line in granted.check.excess:
            print(f"  {line}", file=sys.stderr)
        print("revoke these (e.g. `REVOKE CREATE ON SCHEMA public FROM PUBLIC`)", file=sys.stderr)
        return 1
    return 0


def _demo(args: argparse.Namespace) -> int:
    from ecomdesk.bootstrap import prepare_demo
    from ecomdesk.config import demo_cluster_dir
    from ecomdesk.db.embedded import EmbeddedServer

    if args.stop:
        stopped = EmbeddedServer(demo_cluster_dir()).stop()
        print("demo server stopped" if stopped else "demo server was not running")
        return 0
    if not args.no_gui:
        # The window opens at once; the server starts (and stops at exit) in the app's background.
        return _run_gui(None, demo=True, debug=args.debug)
    started = time.monotonic()
    demo = prepare_demo(progress=lambda msg: print(msg, file=sys.stderr))
    log.info("demo ready in %.1f s", time.monotonic() - started)
    print(demo.url)
    return 0


def _seed(args: argparse.Namespace) -> int:
    from ecomdesk.bootstrap import build_engine, generate_queued_reports
    from ecomdesk.db.seed import is_seeded, reset_demo_data, seed_demo_data
    from ecomdesk.services.passwords import hash_password

    url = resolved_url(args)
    engine = build_engine(url)
    try:
        if args.reset:
            if is_seeded(engine):
                # Emptying a shop that has staff is a business change: only an admin may.
                actor = acting_actor(args, _services(engine), url)
                if "settings.manage" not in actor.permissions or "users.write" not in actor.permissions:
                    raise UsageError("only an administrator may reset a database that has staff accounts")
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
        generate_queued_reports(engine, "seed", progress=lambda msg: print(msg, file=sys.stderr))
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
    """A database named anywhere: sign in to it; none: the connection window lets the person choose."""
    from ecomdesk.config import database_url_from_env

    if args.snapshot:
        from ecomdesk import cli_snapshot

        return cli_snapshot.run_gui(args)
    named = args.database_url or args.profile or database_url_from_env()
    return _run_gui(resolved_url(args) if named else None, profile=args.profile, debug=args.debug)


def _run_gui(url: str | None, *, demo: bool = False, profile: str | None = None, debug: bool = False) -> int:
    from ecomdesk.ui.app import run

    return run(url, profile=profile, demo=demo, debug=debug)


def _screenshots(args: argparse.Namespace) -> int:
    """Every window and page, light and dark, on the demo (started if needed) or `--database-url`."""
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from ecomdesk.bootstrap import prepare_demo
    from ecomdesk.connect import describe_url
    from ecomdesk.services.errors import AuthenticationError
    from ecomdesk.ui.screenshots import ScreenshotError, render_screenshots

    demo = None
    if args.database_url or args.profile:
        url = resolved_url(args)
    else:
        demo = prepare_demo(progress=lambda msg: print(msg, file=sys.stderr))
        url = demo.url
    try:
        label = {} if demo else {"label": describe_url(url)}
        paths = render_screenshots(Path(args.out), url, demo=demo is not None, **label)
    except AuthenticationError as exc:
        raise UsageError(
            f"screenshots sign in as the demo administrator (a database seeded by `ecomdesk seed`): {exc}"
        ) from exc
    except ScreenshotError as exc:
        raise UsageError(str(exc)) from exc
    finally:
        if demo is not None and demo.started_server:
            demo.server.stop()
    for path in paths:
        print(path)
    return 0


def _self_test(args: argparse.Namespace) -> int:
    """The windows offscreen on the named database, or on a fresh demo when none is named."""
    if not args.self_test:
        raise UsageError(
            "--user and --password-stdin before a command belong to --self-test; "
            "put them after the command (`ecomdesk COMMAND --user EMAIL …`)"
        )
    if args.command is not None or args.snapshot:
        raise UsageError(
            "--self-test runs on its own: on --database-url URL or --profile NAME, or without them "
            "on a fresh demo database"
        )
    os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before Qt is first imported: no display needed
    from ecomdesk.ui.self_test import run_self_test

    if not (args.database_url or args.profile):
        if args.self_test_user or args.self_test_password_stdin:
            raise UsageError(
                "--user goes with --database-url or --profile: the fresh demo signs in as its administrator"
            )
        return run_self_test(None)
    url = resolved_url(args)
    return run_self_test(url, sign_in=_self_test_sign_in(args, url), profile=args.profile)


def _self_test_sign_in(args: argparse.Namespace, url: str) -> SignInFn | None:
    """Whom the self-test's main window is for: `--user` (its password asked now, before any
    step runs, or read with `--password-stdin`), else the sign-in `ecomdesk login` remembered
    (through `acting_actor`), else nobody (None)."""
    from ecomdesk.config import DeviceTokenStore

    acting = argparse.Namespace(user=args.self_test_user, password_stdin=args.self_test_password_stdin)
    if acting.user:
        email, password = acting.user, _read_password(acting, f"Password for {acting.user}: ")
        return lambda services: services.auth.authenticate(email, password).actor
    if acting.password_stdin:
        raise UsageError("--password-stdin goes with --user EMAIL")
    if DeviceTokenStore().get(url) is None:
        return None
    return lambda services: acting_actor(acting, services, url)


# -- identity ---------------------------------------------------------------------------------


def _services(engine: Engine) -> Services:
    from ecomdesk.services.registry import Services

    return Services.build(engine)


def _read_password(args: argparse.Namespace, prompt: str, *, confirm: bool = False) -> str:
    """From stdin's first line (`--password-stdin`, for scripts) or asked without echo."""
    if getattr(args, "password_stdin", False):
        line = sys.stdin.readline()
        if not line:
            raise UsageError("--password-stdin: nothing on standard input")
        return line.removesuffix("\n").removesuffix("\r")
    if not sys.stdin.isatty():
        raise UsageError("no terminal to ask for the password: pipe it in with --password-stdin")
    password = getpass.getpass(prompt)
    if confirm and getpass.getpass("Repeat the password: ") != password:
        raise UsageError("the two passwords differ; nothing was changed")
    return password


@contextlib.contextmanager
def acting_services(args: argparse.Namespace) -> Iterator[tuple[Services, Actor]]:
    """The services on the command's database and the staff member the command acts as; the
    engine is disposed however the command ends. With `--snapshot FILE`: the file's read-only
    services and the person who made it."""
    from ecomdesk.bootstrap import build_engine

    if getattr(args, "snapshot", None):
        from ecomdesk import cli_snapshot

        with cli_snapshot.opened(args) as snap:
            yield snap.services, snap.actor
        return
    url = resolved_url(args)
    engine = build_engine(url)
    try:
        services = _services(engine)
        yield services, acting_actor(args, services, url)
    finally:
        engine.dispose()


def acting_actor(args: argparse.Namespace, services: Services, url: str) -> Actor:
    """The staff member a command acts as: `--user` (password asked or from stdin), else the
    device session `ecomdesk login` remembered for this database."""
    from ecomdesk.config import DeviceTokenStore

    if getattr(args, "user", None):
        password = _read_password(args, f"Password for {args.user}: ")
        signed_in = services.auth.authenticate(args.user, password)
        return signed_in.actor
    token = DeviceTokenStore().get(url)
    if token is None:
        raise UsageError(
            "this command acts as a staff member: pass --user EMAIL (the password is asked, or read "
            "with --password-stdin), or sign in once with `ecomdesk login --user EMAIL`"
        )
    return services.auth.resume(token).actor


def _names_from_email(email: str, role: str) -> tuple[str, str]:
    parts = [p for p in re.split(r"[._+-]+", email.partition("@")[0]) if p]
    first = parts[0].title() if parts else "Staff"
    last = " ".join(p.title() for p in parts[1:]) or role.strip().title()
    return first, last


def _user(args: argparse.Namespace) -> int:
    from ecomdesk.bootstrap import build_engine
    from ecomdesk.services.errors import ReadOnlyError

    if getattr(args, "snapshot", None):
        if args.user_command == "create":
            raise ReadOnlyError()
        with acting_services(args) as (services, actor):
            return _user_list(args, services, actor)
    url = resolved_url(args)
    engine = build_engine(url)
    try:
        services = _services(engine)
        if args.user_command == "create":
            return _user_create(args, services)
        return _user_list(args, services, acting_actor(args, services, url))
    finally:
        engine.dispose()


def _user_create(args: argparse.Namespace, services: Services) -> int:
    guessed_first, guessed_last = _names_from_email(args.email, args.role)
    password = None
    if not args.temporary_password:
        password = _read_password(args, f"Password for {args.email}: ", confirm=True)
    created = services.users.bootstrap_user(
        email=args.email,
        role=args.role,
        first_name=args.first_name or guessed_first,
        last_name=args.last_name or guessed_last,
        password=password,
    )
    user = created.user
    print(f"created {user.email} ({user.full_name}), role {user.role}, id {user.id}")
    if created.temporary_password:
        print("temporary password (shown once; it must be changed at the first sign-in):")
        print(created.temporary_password)
    return 0


def _user_list(args: argparse.Namespace, services: Services, actor: Actor) -> int:
    from ecomdesk.services.listing import ListQuery, SortKey

    filters: dict[str, object] = {}
    if args.active is not None:
        filters["active"] = args.active
    if args.role:
        roles = {r.name.lower(): r.id for r in services.roles.list_roles(actor)}
        if args.role.lower() not in roles:
            raise UsageError(f"no role named {args.role!r} (roles: {', '.join(sorted(roles))})")
        filters["role_id"] = roles[args.role.lower()]
    offset = 0
    while True:
        query = ListQuery(args.search, filters, (SortKey("email"),), offset, 500)
        page = services.users.list_users(actor, query)
        if offset == 0:  # only once the first page was allowed: a refusal prints no header
            print("id\temail\tname\trole\tactive\tlast sign-in")
        for u in page.rows:
            last = u.last_login_at.isoformat(timespec="seconds") if u.last_login_at else "never"
            state = ("yes" if u.is_active else "no") + (" (locked)" if u.locked else "")
            print("\t".join((str(u.id), u.email, u.full_name, u.role, state, last)))
        if not page.has_more:
            return 0
        offset += len(page.rows)


# -- export -----------------------------------------------------------------------------------


def _filter_value(text: str) -> object:
    """`true`/`false` → bool, digits → int, anything else stays text."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    return int(text) if re.fullmatch(r"-?[0-9]+", text) else text


def _export(args: argparse.Namespace) -> int:
    from ecomdesk.services.listing import ListQuery, SortKey
    from ecomdesk.services.tables import export_csv_file

    filters: dict[str, object] = {}
    for item in args.filter:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--filter wants KEY=VALUE, not {item!r}")
        filters[key] = _filter_value(value)
    sort = [SortKey(key.removeprefix("-"), key.startswith("-")) for key in args.sort]
    columns = [c.strip() for c in args.columns.split(",") if c.strip()] if args.columns else None
    views = _services_table_names()
    if args.view not in views:
        raise UsageError(f"no view named {args.view!r} (views: {', '.join(views)})")
    with acting_services(args) as (services, actor):
        table = services.tables[args.view]
        query = ListQuery(args.search, filters, sort)
        if args.out == "-":
            table.export_csv(actor, query, sys.stdout.buffer, columns=columns, bom=args.bom)
            sys.stdout.buffer.flush()
            return 0
        target = Path(args.out)
        rows = export_csv_file(table, actor, query, target, columns=columns, bom=args.bom)
        print(f"exported {table.spec.count_text(rows)} to {target}", file=sys.stderr)
        return 0


def _services_table_names() -> list[str]:
    from ecomdesk.services.registry import Services

    return list(Services.table_specs())


def _login(args: argparse.Namespace) -> int:
    from ecomdesk.bootstrap import build_engine
    from ecomdesk.config import DeviceTokenStore, SecretStore

    status = SecretStore().status()
    if not status.available:
        raise UsageError(f"{status.reason} Use --user EMAIL with each command instead.")
    url = resolved_url(args)
    engine = build_engine(url)
    try:
        services = _services(engine)
        password = _read_password(args, f"Password for {args.user}: ")
        device = args.device_name or f"ecomdesk command line on {socket.gethostname()}"
        signed_in = services.auth.authenticate(args.user, password, remember=True, device_name=device)
        assert signed_in.token is not None
        DeviceTokenStore().set(url, signed_in.token)
    finally:
        engine.dispose()
    note = " (choose a new password in the app first)" if signed_in.must_change_password else ""
    print(f"signed in as {signed_in.actor.email} ({signed_in.actor.role}) on this computer{note}")
    return 0


def _logout(args: argparse.Namespace) -> int:
    from ecomdesk.bootstrap import build_engine
    from ecomdesk.config import DeviceTokenStore
    from ecomdesk.services.errors import AuthenticationError

    url = resolved_url(args)
    tokens = DeviceTokenStore()
    token = tokens.get(url)
    if token is None:
        print("not signed in on this computer")
        return 0
    engine = build_engine(url)
    try:
        services = _services(engine)
        # Already ended on the server: forgetting it here is all that is left to do.
        with contextlib.suppress(AuthenticationError):
            services.auth.sign_out(services.auth.resume(token).actor)
    finally:
        engine.dispose()
    tokens.delete(url)
    print("signed out; this computer no longer remembers the sign-in")
    return 0
