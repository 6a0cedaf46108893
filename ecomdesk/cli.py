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

    from ecomdesk.services.context import Actor
    from ecomdesk.services.registry import Services

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ecomdesk", description="The back office of an online shop, straight against PostgreSQL."
    )
    parser.add_argument("--version", action="version", version=f"ecomdesk {__version__}")
    parser.add_argument("--debug", action="store_true", help="log everything, to the console too")
    add_database_options(parser, top=True)
    from ecomdesk import cli_snapshot

    cli_snapshot.add_top_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    db = sub.add_parser("db", help="schema: upgrade, current revision")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    for name, text in (
        ("upgrade", "bring the database to the schema of this version"),
        ("current", "print the database's schema revision and whether it fits this app"),
    ):
        add_database_options(db_sub.add_parser(name, help=text))

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

    from ecomdesk import cli_inventory, cli_reports, cli_watch

    cli_inventory.add_parsers(sub)
    cli_reports.add_parsers(sub)
    cli_watch.add_parsers(sub)
    cli_snapshot.add_parsers(sub)

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
    from ecomdesk.db.snapshot import SnapshotFileError
    from ecomdesk.services.errors import ServiceError, ValidationError

    try:
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
            case "report":
                from ecomdesk import cli_reports

                return cli_reports.run(args)
            case "watch":
                from ecomdesk import cli_watch

                return cli_watch.run(args)
            case "snapshot":
                from ecomdesk import cli_snapshot

                return cli_snapshot.run(args)
            case None:
                return _gui(args)
    except (ConfigurationError, EmbeddedServerError, UsageError) as exc:
        print(f"ecomdesk: {exc}", file=sys.stderr)
        return 2
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
    raise AssertionError(f"unhandled command {args.command}")


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
    from ecomdesk.bootstrap import build_engine
    from ecomdesk.db import migrate

    engine = build_engine(resolved_url(args))
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
