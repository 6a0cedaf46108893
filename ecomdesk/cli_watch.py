"""`ecomdesk watch`: every change to the shop's data as one JSON line, as it happens — a `tail -f`
of the shop for scripts, and the proof that change tracking misses nothing.

The change log is polled every `--interval` seconds; a LISTEN connection (unless `--no-listen`)
makes the next poll happen at once when something commits. The poll stays the source of truth:
the cursor it returns is kept across failures, so when the server comes back after a restart the
first poll prints everything committed meanwhile. Wired into `ecomdesk.cli`, which imports this
module only when `watch` runs; the database modules are imported in `run`, so `--help` stays light.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import select
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import IO, TYPE_CHECKING, Final

from ecomdesk.cli import UsageError, add_database_options, resolved_url

if TYPE_CHECKING:
    from ecomdesk.db.changes import ChangeBatch, ChangeCursor, Listener
    from ecomdesk.services.changes import ChangeService

#: The first retry after the server failed to answer; each further failure doubles it up to the max.
FIRST_BACKOFF: Final = 1.0
MAX_BACKOFF: Final = 30.0
#: How long a lost LISTEN connection is left alone before listening again (polls go on meanwhile).
RELISTEN_AFTER: Final = 5.0


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, not {text}")
    return value


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `watch` command."""
    watch = sub.add_parser(
        "watch",
        help="print each change to the shop's data as one JSON line, as it happens",
        description="Prints every change committed after it started — by the app, psql or any other "
        "program — as one JSON line on standard output (change_id, table, op, row_id, rows, time; "
        "row_id is null and rows the count when one statement changed many rows). Runs until Ctrl+C, "
        "SIGTERM or --for; a lost server is waited for, and nothing committed meanwhile is missed. "
        "Needs a database connection, no staff sign-in.",
    )
    add_database_options(watch)
    watch.add_argument(
        "--table",
        action="append",
        default=[],
        metavar="TABLE",
        help="only this table's changes (repeat for several; default: every tracked table)",
    )
    watch.add_argument(
        "--interval", type=_seconds, default=1.0, metavar="S", help="seconds between polls (default 1)"
    )
    watch.add_argument(
        "--no-listen",
        action="store_true",
        help="poll only; don't use LISTEN/NOTIFY to wake at once (e.g. behind a transaction pooler)",
    )
    watch.add_argument("--for", dest="duration", type=_seconds, metavar="S", help="stop after S seconds")


def run(args: argparse.Namespace) -> int:
    from ecomdesk.bootstrap import build_engine
    from ecomdesk.db.changes import TRACKED_TABLES
    from ecomdesk.services.changes import ChangeService
    from ecomdesk.services.context import ServiceContext

    unknown = sorted(set(args.table) - TRACKED_TABLES)
    if unknown:
        raise UsageError(
            f"no tracked table named {', '.join(unknown)} (tables: {', '.join(sorted(TRACKED_TABLES))})"
        )
    engine = build_engine(resolved_url(args))
    try:
        service = ChangeService(ServiceContext(engine, read_only=True), args.table or None)
        watch = Watch(service, interval=args.interval, listen=not args.no_listen, out=sys.stdout)
        # Ctrl+C or SIGTERM is the way to stop watching, not a failure: exit 0, no traceback.
        with _sigterm_as_interrupt(), contextlib.suppress(KeyboardInterrupt):
            watch.run(args.duration, note=_start_note(args))
        return 0
    finally:
        engine.dispose()


def _start_note(args: argparse.Namespace) -> Callable[[], None]:
    def note() -> None:
        if sys.stderr.isatty():
            what = ", ".join(args.table) if args.table else "every tracked table"
            print(f"watching {what}; Ctrl+C to stop", file=sys.stderr, flush=True)

    return note


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM ends the watch as Ctrl+C does (quietly, exit 0). Only the main thread may set signal
    handlers; elsewhere (a test calling `cli.main` in a thread) SIGTERM keeps its default."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _reason(error: BaseException) -> str:
    """The driver's own first line about a failure (e.g. "connection refused"), else the message."""
    cause = getattr(error.__cause__, "orig", None) or error.__cause__ or error
    lines = str(cause).strip().splitlines()
    return lines[0].strip() if lines else type(cause).__name__


class Watch:
    """The loop: wait for a notification or the next tick, poll, print; wait out server trouble."""

    def __init__(self, service: ChangeService, *, interval: float, listen: bool, out: IO[str]) -> None:
        self.service = service
        self.interval = interval
        self.listen = listen
        self.out = out
        self.tables = service.feed.tables
        self._listener: Listener | None = None
        self._listen_again_at = 0.0  # monotonic time from which a lost listener may be reopened
        self._failures = 0

    def run(self, duration: float | None = None, note: Callable[[], None] | None = None) -> None:
        """Watch until `duration` seconds have passed (None: until interrupted).

        The cursor is taken first: changes committed before it are not printed, every one after is.
        A server that cannot be reached at the start is an error (`Unavailable`, exit 1): there is
        no "now" to start from.
        """
        deadline = None if duration is None else time.monotonic() + duration
        cursor = self._start()
        if note is not None:
            note()
        try:
            self._open_listener()
            next_poll = time.monotonic() + self.interval
            while True:
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    break
                until = next_poll if deadline is None else min(next_poll, deadline)
                woken = self._wait(max(0.0, until - now))
                if not woken and time.monotonic() < next_poll:
                    continue  # the deadline came first (checked above), or a notice for other tables
                cursor, delay = self._poll(cursor)
                next_poll = time.monotonic() + delay
            # One last look, so what committed up to the end is printed (if the server answers).
            if self._failures == 0:
                self._poll(cursor)
        finally:
            self._close_listener()

    def _start(self) -> ChangeCursor:
        from sqlalchemy.exc import ProgrammingError

        try:
            return self.service.start()
        except ProgrammingError as exc:
            if getattr(exc.orig, "sqlstate", None) == "42P01":  # undefined table: no change log yet
                raise UsageError(
                    "this database has no change log yet: bring its schema up to date with "
                    "`ecomdesk db upgrade`"
                ) from exc
            raise

    def _poll(self, cursor: ChangeCursor) -> tuple[ChangeCursor, float]:
        """Print what changed since `cursor`; the cursor for the next poll and the seconds until it
        (the interval, or the backoff while the server is away — the cursor is then kept)."""
        from ecomdesk.services.errors import Unavailable

        try:
            update = self.service.poll(None, cursor)
        except Unavailable as exc:
            self._failures += 1
            delay = min(MAX_BACKOFF, FIRST_BACKOFF * 2 ** (self._failures - 1))
            self._say(f"the database does not answer ({_reason(exc)}); trying again in {delay:g} s")
            self._close_listener()
            return cursor, delay
        if self._failures:
            self._say("the database answers again; printing what changed meanwhile")
            self._failures = 0
        self._print(update.batch)
        if self._listener is None:
            self._open_listener()
        return update.batch.cursor, self.interval

    def _print(self, batch: ChangeBatch) -> None:
        for change in batch.changes:
            self.out.write(json.dumps(change.as_json()) + "\n")
            self.out.flush()
        if not batch.complete:
            self._say(
                "some changes may be missing from the lines above (more than one poll returns, or "
                "longer away than the change log keeps them): re-read what you track"
            )

    def _wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True when a notification about a watched table woke us."""
        from ecomdesk.db.changes import ListenerLost

        listener = self._listener
        if listener is None:
            if self.listen and self._failures == 0 and time.monotonic() >= self._listen_again_at:
                self._open_listener()
            time.sleep(seconds)
            return False
        ready, _, _ = select.select([listener], [], [], seconds)
        if not ready:
            return False
        try:
            tables = listener.drain()
        except ListenerLost as exc:
            self._say(f"stopped listening for changes ({_reason(exc)}); polling every {self.interval:g} s")
            self._close_listener()
            self._listen_again_at = time.monotonic() + RELISTEN_AFTER
            return True  # the poll tells whether the server is still there
        return bool(tables) and (self.tables is None or not self.tables.isdisjoint(tables))

    def _open_listener(self) -> None:
        if not self.listen or self._listener is not None or time.monotonic() < self._listen_again_at:
            return
        from ecomdesk.services.errors import Unavailable

        try:
            self._listener = self.service.listen()
        except Unavailable:
            self._listen_again_at = time.monotonic() + RELISTEN_AFTER
            return
        if self._listener is None:
            self.listen = False  # nothing to listen to on this database: polling alone

    def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(Exception):  # closing a broken connection: nothing left to lose
                listener.close()

    @staticmethod
    def _say(message: str) -> None:
        print(f"ecomdesk watch: {message}", file=sys.stderr, flush=True)
