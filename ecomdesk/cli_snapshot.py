"""`ecomdesk snapshot create|verify|info` and the top-level `--snapshot FILE`: the shop on a laptop.

`create` copies what the acting staff member may read into one file; `verify` recomputes its
checksums; `info` prints where and when it came from. With `--snapshot FILE` every command that
acts as a staff member (`export`, `report …`, `stock …`, `user list`…) reads the file instead of a
server, as the person who made it, and every write is refused (`ReadOnlyError`). Wired into
`ecomdesk.cli`, which imports this module only when a snapshot is involved.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Final, TypeVar

from ecomdesk.cli import (
    UsageError,
    acting_services,
    add_acting_options,
    add_database_options,
    resolved_url,
)

if TYPE_CHECKING:
    from ecomdesk.bootstrap import OpenSnapshot
    from ecomdesk.db.snapshot import SnapshotInfo, Verification

T = TypeVar("T")

#: Commands that need a server (or change one): on a snapshot they have nothing to work on.
SERVER_ONLY: Final = {
    "db": "changes a server's schema",
    "seed": "fills a server's database",
    "login": "signs in to a server",
    "logout": "signs out of a server",
    "watch": "follows a server's changes",
    "demo": "runs the local demo server",
    "screenshots": "photographs the app on a server",
    "worker": "does a server's background jobs",
}
EXTENSION: Final = ".ecomsnap"
#: How many times a terminal is asked for a passphrase before giving up.
PASSPHRASE_TRIES: Final = 3


def add_top_options(parser: argparse.ArgumentParser, *, top: bool = False) -> None:
    """`--snapshot FILE` on the top level and on each command acting as a staff member."""
    default = None if top else argparse.SUPPRESS
    group = parser.add_argument_group("snapshot", "read an offline snapshot file instead of a server")
    group.add_argument(
        "--snapshot",
        metavar="FILE",
        default=default,
        help="run on this snapshot, read-only, as the person who made it (no server, no --user); "
        "with no command, open it in the app",
    )
    group.add_argument(
        "--snapshot-passphrase-file",
        metavar="F",
        default=default,
        help="the encrypted snapshot's passphrase: the first line of F (default: asked on a terminal)",
    )


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `snapshot` command."""
    snapshot = sub.add_parser(
        "snapshot",
        help="offline snapshots: create one, verify one, show what one holds",
        description="A snapshot is one file holding what its maker may read of the shop, at one "
        f"moment (extension {EXTENSION}). Open it with `ecomdesk --snapshot FILE` (the app) or "
        "`ecomdesk --snapshot FILE export …` (any list or report), with no server.",
    )
    actions = snapshot.add_subparsers(dest="snapshot_command", metavar="ACTION", required=True)
    create = actions.add_parser(
        "create",
        help="copy the shop's data you may read into one file (needs snapshot.create)",
        description="One consistent copy (a single repeatable-read transaction) of every table the "
        "acting user may read. Password hashes and device tokens never go in. Ctrl+C stops it and "
        "leaves no file.",
    )
    add_database_options(create)
    add_acting_options(create)
    create.add_argument("--out", required=True, metavar="FILE", help=f"the snapshot file (*{EXTENSION})")
    create.add_argument("--force", action="store_true", help="replace FILE if it exists")
    create.add_argument(
        "--encrypt", action="store_true", help="encrypt with a passphrase (asked twice on a terminal)"
    )
    create.add_argument(
        "--passphrase-file", metavar="F", help="encrypt with the first line of F as the passphrase"
    )
    for name, text in (
        ("verify", "check a snapshot's integrity and checksums: OK (exit 0) or each problem (exit 1)"),
        ("info", "where and when a snapshot was made, by whom, and what it holds"),
    ):
        action = actions.add_parser(name, help=text, description=text)
        action.add_argument("file", metavar="FILE")
        action.add_argument("--passphrase-file", metavar="F", help="an encrypted snapshot's passphrase file")


# -- the top-level --snapshot ------------------------------------------------------------------


def check_command(args: argparse.Namespace) -> None:
    """Refuse, before anything runs, a command that cannot work on a snapshot."""
    if args.database_url or args.profile:
        raise UsageError("--snapshot reads a file instead of a server: drop --database-url/--profile")
    reason = SERVER_ONLY.get(args.command)
    if args.command == "snapshot" and args.snapshot_command == "create":
        reason = "copies a server's data"
    if reason is not None:
        what = f"{args.command} {args.snapshot_command}" if args.command == "snapshot" else args.command
        raise UsageError(f"`{what}` {reason}; it cannot run on a snapshot (drop --snapshot)")


@contextlib.contextmanager
def opened(args: argparse.Namespace) -> Iterator[OpenSnapshot]:
    """The `--snapshot` file opened read-only for the command; closed however the command ends."""
    snap = open_file(Path(args.snapshot), getattr(args, "snapshot_passphrase_file", None))
    try:
        yield snap
    finally:
        snap.close()


def open_file(path: Path, passphrase_file: str | None) -> OpenSnapshot:
    from ecomdesk.bootstrap import open_snapshot

    return with_passphrase(
        path,
        passphrase_file,
        lambda passphrase: open_snapshot(path, passphrase),
        "--snapshot-passphrase-file",
    )


def with_passphrase(
    path: Path, passphrase_file: str | None, use: Callable[[str | None], T], option: str = "--passphrase-file"
) -> T:
    """`use(passphrase)`: the passphrase file's, else none; an encrypted file on a terminal asks for
    it (again after a wrong one); elsewhere the error says how to give it."""
    from ecomdesk.services.errors import SnapshotError

    if passphrase_file is not None:
        return use(read_passphrase_file(passphrase_file))
    try:
        return use(None)
    except SnapshotError as exc:
        if not exc.passphrase_needed:
            raise
        if not sys.stdin.isatty():
            raise SnapshotError(
                f"{exc.message} (Give it with {option} F.)",
                passphrase_needed=True,
            ) from exc
    for attempt in range(1, PASSPHRASE_TRIES + 1):
        try:
            return use(getpass.getpass(f"Passphrase for {path.name}: "))
        except SnapshotError as exc:
            if not exc.wrong_passphrase or attempt == PASSPHRASE_TRIES:
                raise
            print(f"ecomdesk: {exc.message}", file=sys.stderr)
    raise AssertionError("unreachable")


def read_passphrase_file(name: str) -> str:
    """The first line of `name`, without its line end; an empty one is no passphrase."""
    try:
        with Path(name).open(encoding="utf-8") as file:
            line = file.readline()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UsageError(f"cannot read the passphrase file {name}: {reason}") from exc
    passphrase = line.removesuffix("\n").removesuffix("\r")
    if not passphrase:
        raise UsageError(f"the passphrase file {name} has an empty first line")
    return passphrase


def run_gui(args: argparse.Namespace) -> int:
    """`ecomdesk --snapshot FILE`: the app on the file (it asks for a passphrase itself)."""
    from ecomdesk.ui.app import run

    return run(None, snapshot=Path(args.snapshot), debug=args.debug)


# -- snapshot create | verify | info -----------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    actions = {"create": _create, "verify": _verify, "info": _info}
    return actions[args.snapshot_command](args)


def _create(args: argparse.Namespace) -> int:
    from ecomdesk.cli_reports import _progress
    from ecomdesk.connect import describe_url
    from ecomdesk.db.snapshot import SnapshotCancelled

    target = Path(args.out)
    if target.exists() and not args.force:
        raise UsageError(f"{target} exists: pass --force to replace it")
    if target.is_dir():
        raise UsageError(f"{target} is a folder: name the snapshot file")
    passphrase = _new_passphrase(args)
    with acting_services(args) as (services, actor), _progress("copying", "rows") as progress:
        stop = threading.Event()
        try:
            with _interrupt_sets(stop):
                info = services.snapshots.create(
                    actor,
                    target,
                    passphrase=passphrase,
                    source_label=describe_url(resolved_url(args)),
                    progress=progress,
                    cancelled=stop.is_set,
                )
        except SnapshotCancelled:
            print("ecomdesk: cancelled; no snapshot was written", file=sys.stderr)
            return 130
    _print_summary(target, info)
    return 0


def _new_passphrase(args: argparse.Namespace) -> str | None:
    if args.passphrase_file is not None:
        return read_passphrase_file(args.passphrase_file)
    if not args.encrypt:
        return None
    if not sys.stdin.isatty():
        raise UsageError("no terminal to ask for the passphrase: give it with --passphrase-file F")
    passphrase = getpass.getpass("Passphrase for the snapshot: ")
    if not passphrase:
        raise UsageError("an empty passphrase encrypts nothing; nothing was written")
    if getpass.getpass("Repeat the passphrase: ") != passphrase:
        raise UsageError("the two passphrases differ; nothing was written")
    return passphrase


@contextlib.contextmanager
def _interrupt_sets(stop: threading.Event) -> Iterator[None]:
    """The first Ctrl+C asks the copy to stop at its next chunk (it removes its file); a second
    one interrupts at once (the file is removed too). Only the main thread may set handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupted(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        if sys.stderr.isatty():
            print("\nstopping… (Ctrl+C again to stop at once)", file=sys.stderr, flush=True)

    previous = signal.signal(signal.SIGINT, interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _print_summary(target: Path, info: SnapshotInfo) -> None:
    rows = sum(info.row_counts.values())
    print(f"{'snapshot':<12} {target}")
    print(f"{'size':<12} {_size(target.stat().st_size)}{', encrypted' if info.encrypted else ''}")
    print(f"{'rows':<12} {rows:,} in {len(info.row_counts)} tables")
    _print_left_out(info)
    print(f"{'checksum':<12} sha256:{info.checksum}")


def _print_left_out(info: SnapshotInfo) -> None:
    if not info.left_out:
        print(f"{'left out':<12} nothing")
        return
    print("left out")
    for table, reason in sorted(info.left_out.items()):
        print(f"  {table:<20} {reason}")


def _verify(args: argparse.Namespace) -> int:
    from ecomdesk.cli_reports import _progress
    from ecomdesk.db.snapshot import verify_snapshot
    from ecomdesk.services.snapshots import snapshot_errors

    path = Path(args.file)

    def check(passphrase: str | None) -> Verification:
        with snapshot_errors(), _progress("checking", "rows") as progress:
            return verify_snapshot(path, passphrase, progress=progress)

    verification = with_passphrase(path, args.passphrase_file, check)
    if not verification.ok:
        print(f"DAMAGED  {path}: {len(verification.problems)} problem(s)")
        for problem in verification.problems:
            print(f"  - {problem}")
        print(f"ecomdesk: {path.name} does not match what was written; copy it again", file=sys.stderr)
        return 1
    info = verification.info
    rows = sum(info.row_counts.values())
    print(f"OK  {path}")
    print(f"  {'integrity':<12} ok")
    print(
        f"  {'content':<12} {rows:,} rows in {len(info.table_checksums)} tables, each matching its checksum"
    )
    print(f"  {'made':<12} {_local(info)} by {info.created_by} from {info.source_database}")
    print(f"  {'checksum':<12} sha256:{info.checksum}")
    return 0


def _info(args: argparse.Namespace) -> int:
    from ecomdesk.db.migrate import revision_history
    from ecomdesk.db.snapshot import iter_tables, probe_snapshot
    from ecomdesk.services.snapshots import snapshot_errors

    path = Path(args.file)

    def probe(passphrase: str | None) -> SnapshotInfo:
        with snapshot_errors():
            return probe_snapshot(path, passphrase).info

    info = with_passphrase(path, args.passphrase_file, probe)
    head = revision_history()[-1]
    schema = info.schema_revision + ("" if info.schema_revision == head else f" (this ecomdesk: {head})")
    rows = sum(info.row_counts.values())
    for label, value in (
        ("file", f"{path} ({_size(path.stat().st_size)}{', encrypted' if info.encrypted else ''})"),
        ("shop", info.shop_name),
        ("created at", _local(info)),
        ("created by", f"{info.created_by_name} <{info.created_by}>"),
        ("server", f"{info.source_server} (PostgreSQL {info.server_version})"),
        ("database", info.source_database),
        ("schema", schema),
        ("app version", info.app_version),
        ("rows", f"{rows:,}"),
    ):
        print(f"{label:<12} {value}")
    for table, count in iter_tables(info):
        print(f"  {table:<20} {count:>12,}")
    _print_left_out(info)
    print(f"{'checksum':<12} sha256:{info.checksum}")
    return 0


def _local(info: SnapshotInfo) -> str:
    """The moment in this computer's time zone, which names itself."""
    return info.created_at.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def _size(size: int) -> str:
    if size < 1000:
        return f"{size:,} bytes"
    scaled, units = size / 1000, ["KB", "MB", "GB"]
    while scaled >= 1000 and len(units) > 1:
        scaled, units = scaled / 1000, units[1:]
    return f"{scaled:,.1f} {units[0]}"
