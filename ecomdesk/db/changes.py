"""Reading the change log: what changed since I last looked, missing nothing.

Change ids come from a sequence, and a transaction takes its ids when it writes, not when it
commits: reading "ids above the last one seen" would skip a transaction that wrote early and
committed late. So a reader keeps a *horizon* instead — the xmin of its last snapshot, the oldest
transaction that was still running then. Every change it has not yet seen belongs to a transaction
at or beyond that horizon, so each poll reads the rows of those transactions only (an index range
that is empty when nothing happened), and remembers which of them it already delivered until the
horizon passes them. One poll is one statement: the rows and the new horizon share a snapshot.
Rows claiming a transaction beyond the snapshot's xmax cannot be real (a log restored into
another cluster, rows written by hand): they are never read, so they cannot cost every poll.

A poll is cheap whatever the size of the shop's tables: it never touches them. `open_listener`
adds PostgreSQL's LISTEN/NOTIFY as a wake-up call: the triggers notify on commit, so a listening
app can poll at once instead of at its next tick. The poll stays the source of truth: a
notification can be lost (a dropped connection, a pooler in transaction mode), a change cannot.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Final

import psycopg
from sqlalchemy import Engine, bindparam, text
from sqlalchemy.types import ARRAY, BigInteger, String

log = logging.getLogger(__name__)

#: The channel the change triggers notify on (payload: the table's name).
CHANNEL: Final = "ecomdesk_changes"
#: Every table the triggers watch (migration 0007), with the column that names its rows.
TRACKED_TABLES: Final = frozenset(
    {
        "users",
        "user_profiles",
        "roles",
        "role_permissions",
        "device_sessions",
        "inventory_items",
        "stock_movements",
        "order_events",
        "analytics_data",
        "sales_metrics",
        "customer_metrics",
        "reports",
        "settings",
        "audit_log",
        "webhook_endpoints",
        "webhook_deliveries",
    }
)
#: How long the log keeps a change. A reader that has not polled for longer cannot know what it
#: missed: its next batch says `complete=False`, and it re-reads everything.
RETENTION: Final = dt.timedelta(days=1)
#: Changes one poll hands back at most; beyond that the batch is incomplete (re-read everything).
MAX_CHANGES: Final = 10_000

_POLL = text(
    """
    SELECT h.xmin, h.at, c.id, c.txid, c.table_name, c.op, c.row_id, c.row_count, c.changed_at
    FROM (
        SELECT pg_snapshot_xmin(s)::text::bigint AS xmin, pg_snapshot_xmax(s)::text::bigint AS xmax,
            statement_timestamp() AS at
        FROM pg_current_snapshot() AS s
    ) AS h
    LEFT JOIN change_log AS c
        ON c.txid >= coalesce(:horizon, h.xmin) AND c.txid < h.xmax
        AND (:all_tables OR c.table_name = ANY(:tables))
    ORDER BY c.id
    LIMIT :limit
    """
).bindparams(
    bindparam("horizon", type_=BigInteger()),
    bindparam("tables", type_=ARRAY(String())),
)

_PRUNE = text(
    """
    DELETE FROM change_log
    WHERE id < coalesce(
        (SELECT id FROM change_log WHERE changed_at >= statement_timestamp() - :keep ORDER BY id LIMIT 1),
        (SELECT max(id) + 1 FROM change_log)
    )
    """
)


@dataclass(frozen=True)
class Change:
    """One changed row — or, with `row_id` None, many rows of one statement (`rows` of them)."""

    id: int
    table: str
    op: str  # insert | update | delete | truncate
    row_id: str | None
    rows: int
    at: dt.datetime

    def as_json(self) -> dict[str, Any]:
        """The line `ecomdesk watch` prints."""
        return {
            "change_id": self.id,
            "table": self.table,
            "op": self.op,
            "row_id": self.row_id,
            "rows": self.rows,
            "time": self.at.astimezone(dt.UTC).isoformat(),
        }


@dataclass(frozen=True)
class ChangeCursor:
    """Where a reader stands: its horizon, and the changes at or beyond it already delivered."""

    horizon: int
    #: change id → transaction id, for the changes of transactions at or beyond the horizon.
    seen: Mapping[int, int] = field(default_factory=dict)
    #: The server's time of the poll that made this cursor.
    checked_at: dt.datetime | None = None


@dataclass(frozen=True)
class ChangeBatch:
    """What one poll found, and the cursor for the next one."""

    changes: tuple[Change, ...]
    cursor: ChangeCursor
    checked_at: dt.datetime
    #: False: changes may be missing (the reader was away longer than the log keeps them, or more
    #: changed than one poll hands back) — treat every table as changed.
    complete: bool = True

    @cached_property
    def tables(self) -> frozenset[str]:
        """The tables with changes (every tracked table when the batch is incomplete); worked out
        once, since every open page and dialog asks."""
        if not self.complete:
            return TRACKED_TABLES
        return frozenset(change.table for change in self.changes)

    def __bool__(self) -> bool:
        return bool(self.changes) or not self.complete

    def touches(self, tables: Collection[str]) -> bool:
        return not self.tables.isdisjoint(tables)

    def rows(self, table: str) -> frozenset[str] | None:
        """The keys of `table`'s changed rows; None when that is not known (a bulk change, a
        truncate, an incomplete batch)."""
        if not self.complete:
            return None
        keys: set[str] = set()
        for change in self.changes:
            if change.table == table:
                if change.row_id is None:
                    return None
                keys.add(change.row_id)
        return frozenset(keys)


class ChangeFeed:
    """Polls the change log of one database (PostgreSQL; anything else never changes)."""

    def __init__(self, engine: Engine, tables: Collection[str] | None = None) -> None:
        self.engine = engine
        self.tables = frozenset(tables) if tables is not None else None
        self.tracking = engine.dialect.name == "postgresql"

    def start(self) -> ChangeCursor:
        """A cursor at now: only changes committed after this call are delivered."""
        return self.poll(None).cursor

    def poll(self, cursor: ChangeCursor | None) -> ChangeBatch:
        """The changes committed since `cursor` (None: since now, i.e. none), in change-id order."""
        if not self.tracking:
            now = dt.datetime.now(dt.UTC)
            return ChangeBatch((), ChangeCursor(0, {}, now), now)
        params = {
            "horizon": None if cursor is None else cursor.horizon,
            "all_tables": self.tables is None,
            "tables": sorted(self.tables or ()),
            "limit": MAX_CHANGES + 1,
        }
        with self.engine.connect() as conn:
            rows = conn.execute(_POLL, params).all()
        horizon, checked_at = rows[0].xmin, rows[0].at
        seen = cursor.seen if cursor is not None else {}
        found = [row for row in rows if row.id is not None]
        overflow = len(found) > MAX_CHANGES
        changes = tuple(
            Change(row.id, row.table_name, row.op, row.row_id, row.row_count, row.changed_at)
            for row in found[:MAX_CHANGES]
            if row.id not in seen
        )
        # Remember what was delivered until the horizon passes its transaction.
        kept = {cid: tx for cid, tx in seen.items() if tx >= horizon}
        kept.update((row.id, row.txid) for row in found[:MAX_CHANGES] if row.txid >= horizon)
        last = cursor.checked_at if cursor is not None else None
        away = last is not None and checked_at - last > RETENTION
        next_cursor = ChangeCursor(horizon, kept, checked_at)
        if cursor is None:
            return ChangeBatch((), next_cursor, checked_at)
        return ChangeBatch(changes, next_cursor, checked_at, complete=not (overflow or away))

    def prune(self, keep: dt.timedelta = RETENTION) -> int:
        """Forget changes older than `keep`; returns how many rows went."""
        if not self.tracking:
            return 0
        with self.engine.begin() as conn:
            return conn.execute(_PRUNE, {"keep": keep}).rowcount


class ListenerLost(Exception):
    """The LISTEN connection broke: poll on, and listen again once the server answers."""


class Listener:
    """A LISTEN connection whose socket the GUI's event loop watches: `drain()` never blocks."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def fileno(self) -> int:
        return self._conn.fileno()

    def drain(self) -> set[str]:
        """The tables named by the notifications that arrived (empty: none yet)."""
        pgconn = self._conn.pgconn
        try:
            pgconn.consume_input()
        except psycopg.Error as exc:
            raise ListenerLost(str(exc)) from exc
        if pgconn.status != psycopg.pq.ConnStatus.OK:
            raise ListenerLost("the connection closed")
        tables: set[str] = set()
        while (notice := pgconn.notifies()) is not None:
            tables.add(notice.extra.decode("utf-8", "replace"))
        return tables

    def close(self) -> None:
        self._conn.close()


def open_listener(engine: Engine, channel: str = CHANNEL) -> Listener | None:
    """A connection listening on `channel` (change notifications; the workers' `ecomdesk_jobs`),
    built exactly like the engine's own (credentials, timeouts, application name); None where
    there is nothing to listen to."""
    if engine.dialect.name != "postgresql":
        return None
    raw = engine.raw_connection()
    conn = raw.driver_connection
    raw.detach()  # this connection leaves the pool: closing it closes it
    assert isinstance(conn, psycopg.Connection)
    try:
        conn.rollback()
        conn.autocommit = True
        conn.execute(f"LISTEN {channel}")
    except BaseException:
        conn.close()
        raise
    return Listener(conn)
