"""The change log: what the triggers write for each kind of statement, and what a poll delivers —
every committed change once, whatever order transactions commit in and whoever made them (the app,
a plain psql-like connection, another session) — plus pruning, overflow and the LISTEN wake-up."""

from __future__ import annotations

import dataclasses
import datetime as dt
import select
from collections.abc import Callable

import psycopg
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from ecomdesk.db import changes as changes_module
from ecomdesk.db import migrate
from ecomdesk.db.changes import (
    RETENTION,
    TRACKED_TABLES,
    ChangeBatch,
    ChangeFeed,
    Listener,
    ListenerLost,
    open_listener,
)
from ecomdesk.db.engine import libpq_url, make_engine

ROW_LIMIT: int = ScriptDirectory.from_config(migrate.alembic_config()).get_revision("0007").module.ROW_LIMIT
#: Every tracked table, from the revisions that track them (0007, then 0008's integrations).
TRACKED: dict[str, str] = {
    **ScriptDirectory.from_config(migrate.alembic_config()).get_revision("0007").module.TRACKED,
    **ScriptDirectory.from_config(migrate.alembic_config()).get_revision("0008").module._TRACKED,
}

ITEM = (
    "INSERT INTO inventory_items (sku, name, category, supplier, price, cost) "
    "VALUES (:sku, 'Mug', 'Home', 'Acme', 9.90, 4.00) RETURNING id"
)


def _item(conn: Connection, sku: str) -> int:
    return int(conn.execute(text(ITEM), {"sku": sku}).scalar_one())


def _user(conn: Connection, email: str) -> int:
    return int(
        conn.execute(
            text(
                "INSERT INTO users (email, password_hash, role_id) "
                "SELECT :email, 'x', id FROM roles WHERE name = 'viewer' RETURNING id"
            ),
            {"email": email},
        ).scalar_one()
    )


def _logged(batch: ChangeBatch) -> list[tuple[str, str, str | None, int]]:
    return [(c.table, c.op, c.row_id, c.rows) for c in batch.changes]


def _changes_of(
    engine: Engine, work: Callable[[Connection], object]
) -> list[tuple[str, str, str | None, int]]:
    """What a poll delivers after `work` ran in one committed transaction."""
    feed = ChangeFeed(engine)
    cursor = feed.start()
    with engine.begin() as conn:
        work(conn)
    return _logged(feed.poll(cursor))


# -- what the triggers write ---------------------------------------------------------------------


def test_insert_update_and_delete_each_log_the_changed_row_by_its_key(engine: Engine) -> None:
    feed = ChangeFeed(engine)
    cursor = feed.start()
    with engine.begin() as conn:
        mug = _item(conn, "MUG-1")
        cup = _item(conn, "CUP-1")
    with engine.begin() as conn:
        conn.execute(text("UPDATE inventory_items SET stock = 3 WHERE id = :id"), {"id": mug})
        conn.execute(text("DELETE FROM inventory_items WHERE id = :id"), {"id": cup})
    batch = feed.poll(cursor)
    assert _logged(batch) == [
        ("inventory_items", "insert", str(mug), 1),
        ("inventory_items", "insert", str(cup), 1),
        ("inventory_items", "update", str(mug), 1),
        ("inventory_items", "delete", str(cup), 1),
    ]
    assert batch.tables == {"inventory_items"}
    assert batch.rows("inventory_items") == frozenset({str(mug), str(cup)})
    assert batch.rows("users") == frozenset()


def test_a_profile_is_named_by_its_user_a_role_permission_by_its_role_and_a_setting_by_its_key(
    engine: Engine,
) -> None:
    with engine.connect() as conn:
        viewer = conn.execute(text("SELECT id FROM roles WHERE name = 'viewer'")).scalar_one()
        code = conn.execute(
            text(
                "SELECT code FROM permissions WHERE code NOT IN "
                "(SELECT permission_code FROM role_permissions WHERE role_id = :r) ORDER BY code LIMIT 1"
            ),
            {"r": viewer},
        ).scalar_one()
    ids: dict[str, int] = {}

    def work(conn: Connection) -> None:
        ids["user"] = _user(conn, "ann@shop.example")
        conn.execute(
            text("INSERT INTO user_profiles (user_id, first_name) VALUES (:u, 'Ann')"), {"u": ids["user"]}
        )
        conn.execute(text("INSERT INTO role_permissions VALUES (:r, :c)"), {"r": viewer, "c": code})
        conn.execute(text("UPDATE settings SET value = '7' WHERE key = 'inventory.low_stock_threshold'"))

    assert _changes_of(engine, work) == [
        ("users", "insert", str(ids["user"]), 1),
        ("user_profiles", "insert", str(ids["user"]), 1),
        ("role_permissions", "insert", str(viewer), 1),
        ("settings", "update", "inventory.low_stock_threshold", 1),
    ]


def test_truncate_logs_one_row_with_no_key(engine: Engine) -> None:
    with engine.begin() as conn:
        _item(conn, "MUG-1")

    def work(conn: Connection) -> None:
        conn.execute(text("TRUNCATE inventory_items CASCADE"))

    logged = _changes_of(engine, work)
    assert ("inventory_items", "truncate", None, 0) in logged
    assert all(op == "truncate" and row_id is None for _, op, row_id, _ in logged)


def test_a_statement_over_the_row_limit_logs_one_row_with_the_count_and_one_at_the_limit_each_row(
    engine: Engine,
) -> None:
    bulk = (
        "INSERT INTO inventory_items (sku, name, category, supplier, price, cost) "
        "SELECT :prefix || n, 'Mug', 'Home', 'Acme', 9.90, 4.00 FROM generate_series(1, :n) AS n"
    )

    def at_limit(conn: Connection) -> None:
        conn.execute(text(bulk), {"prefix": "A-", "n": ROW_LIMIT})

    def over_limit(conn: Connection) -> None:
        conn.execute(text(bulk), {"prefix": "B-", "n": ROW_LIMIT + 1})

    each = _changes_of(engine, at_limit)
    assert len(each) == ROW_LIMIT and all(row_id is not None and rows == 1 for _, _, row_id, rows in each)
    assert _changes_of(engine, over_limit) == [("inventory_items", "insert", None, ROW_LIMIT + 1)]

    def update_all(conn: Connection) -> None:
        conn.execute(text("UPDATE inventory_items SET stock = stock + 1"))

    assert _changes_of(engine, update_all) == [("inventory_items", "update", None, 2 * ROW_LIMIT + 1)]
    feed = ChangeFeed(engine)
    cursor = feed.start()
    with engine.begin() as conn:
        update_all(conn)
    assert feed.poll(cursor).rows("inventory_items") is None  # "many rows": the reader re-reads all


def test_a_statement_that_changes_no_row_logs_nothing(engine: Engine) -> None:
    def work(conn: Connection) -> None:
        conn.execute(text("UPDATE inventory_items SET stock = 1 WHERE id < 0"))
        conn.execute(text("DELETE FROM users WHERE id < 0"))
        conn.execute(text("INSERT INTO settings (key, value) SELECT 'x', '1' WHERE false"))

    assert _changes_of(engine, work) == []


def test_every_tracked_table_has_its_four_triggers_and_the_lists_agree(engine: Engine) -> None:
    assert set(TRACKED) == TRACKED_TABLES
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT c.relname, t.tgname FROM pg_trigger AS t JOIN pg_class AS c ON c.oid = t.tgrelid "
                "JOIN pg_proc AS p ON p.oid = t.tgfoid "
                "WHERE p.proname = 'change_log_capture' AND NOT t.tgisinternal AND t.tgenabled = 'O'"
            )
        ).all()
    found: dict[str, set[str]] = {}
    for table, trigger in rows:
        found.setdefault(table, set()).add(trigger)
    assert found == {
        table: {f"{table}_log_{op}" for op in ("insert", "update", "delete", "truncate")}
        for table in TRACKED_TABLES
    }


# -- what a poll delivers --------------------------------------------------------------------------


def test_a_transaction_that_commits_after_a_later_one_is_delivered_by_the_next_poll_and_nothing_twice(
    engine: Engine,
) -> None:
    feed = ChangeFeed(engine)
    cursor = feed.start()
    with engine.connect() as first, engine.connect() as second:
        early = _item(first, "EARLY")  # T1 writes first: the lower change id…
        late = _item(second, "LATE")
        second.commit()  # …but T2 commits first.
        seen_while_t1_runs = feed.poll(cursor)
        again = feed.poll(seen_while_t1_runs.cursor)
        first.commit()
    after_t1 = feed.poll(again.cursor)
    quiet = feed.poll(after_t1.cursor)

    assert [c.row_id for c in seen_while_t1_runs.changes] == [str(late)]
    assert again.changes == ()  # T2's row is read again below T1's horizon, but not delivered again
    assert [c.row_id for c in after_t1.changes] == [str(early)]
    assert after_t1.changes[0].id < seen_while_t1_runs.changes[0].id
    assert quiet.changes == () and not quiet


def test_a_rolled_back_transaction_delivers_nothing(engine: Engine) -> None:
    feed = ChangeFeed(engine)
    cursor = feed.start()
    with engine.connect() as conn:
        _item(conn, "GONE")
        conn.rollback()
    assert feed.poll(cursor).changes == ()


def test_a_change_made_by_plain_sql_on_another_connection_is_seen(engine: Engine, database_url: str) -> None:
    feed = ChangeFeed(engine)
    cursor = feed.start()
    with psycopg.connect(libpq_url(database_url)) as conn:  # as psql would: no SQLAlchemy, no app
        conn.execute("UPDATE settings SET value = '3' WHERE key = 'inventory.low_stock_threshold'")
    assert _logged(feed.poll(cursor)) == [("settings", "update", "inventory.low_stock_threshold", 1)]


def test_two_sessions_each_see_the_other_ones_changes(database_url: str) -> None:
    one, two = make_engine(database_url), make_engine(database_url)
    try:
        feed_one, feed_two = ChangeFeed(one), ChangeFeed(two)
        at_one, at_two = feed_one.start(), feed_two.start()
        with one.begin() as conn:
            by_one = _item(conn, "BY-ONE")
        with two.begin() as conn:
            by_two = _item(conn, "BY-TWO")
        seen_by_one, seen_by_two = feed_one.poll(at_one), feed_two.poll(at_two)
    finally:
        one.dispose()
        two.dispose()
    expected = frozenset({str(by_one), str(by_two)})
    assert seen_by_one.rows("inventory_items") == expected
    assert seen_by_two.rows("inventory_items") == expected


def test_a_feed_for_some_tables_delivers_only_theirs(engine: Engine) -> None:
    feed = ChangeFeed(engine, {"settings"})
    cursor = feed.start()
    with engine.begin() as conn:
        _item(conn, "MUG")
        conn.execute(text("UPDATE settings SET value = '4' WHERE key = 'inventory.low_stock_threshold'"))
    assert _logged(feed.poll(cursor)) == [("settings", "update", "inventory.low_stock_threshold", 1)]


def test_prune_removes_old_changes_only(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM change_log"))  # what the migrations' own inserts logged
        old = [_item(conn, f"OLD-{n}") for n in range(3)]
    with engine.begin() as conn:
        new = [_item(conn, f"NEW-{n}") for n in range(2)]
        conn.execute(
            text("UPDATE change_log SET changed_at = changed_at - :age WHERE row_id = ANY(:ids)"),
            {"age": RETENTION + dt.timedelta(hours=1), "ids": [str(i) for i in old]},
        )
    assert ChangeFeed(engine).prune() == 3
    with engine.connect() as conn:
        kept = conn.execute(text("SELECT row_id FROM change_log ORDER BY id")).scalars().all()
    assert kept == [str(i) for i in new]


def test_a_cursor_older_than_the_retention_gets_an_incomplete_batch(engine: Engine) -> None:
    feed = ChangeFeed(engine)
    cursor = feed.start()
    assert cursor.checked_at is not None
    stale = dataclasses.replace(cursor, checked_at=cursor.checked_at - RETENTION - dt.timedelta(minutes=1))
    batch = feed.poll(stale)
    assert not batch.complete and batch  # nothing changed that it can see, yet it must re-read
    assert batch.tables == TRACKED_TABLES
    assert batch.rows("inventory_items") is None
    assert feed.poll(batch.cursor).complete  # once re-read, the reader is back in step


def test_more_changes_than_one_poll_returns_give_an_incomplete_batch(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(changes_module, "MAX_CHANGES", 3)
    feed = ChangeFeed(engine)
    cursor = feed.start()
    with engine.begin() as conn:
        for n in range(5):
            _item(conn, f"MANY-{n}")
    batch = feed.poll(cursor)
    assert not batch.complete
    assert len(batch.changes) == 3
    assert batch.tables == TRACKED_TABLES


# -- the wake-up -----------------------------------------------------------------------------------


def _notified(listener: Listener, wait: float) -> set[str]:
    """The tables notified within `wait` seconds (collecting until a quiet 0.2 s once one came)."""
    tables: set[str] = set()
    timeout = wait
    while select.select([listener], [], [], timeout)[0]:
        tables |= listener.drain()
        timeout = 0.2
    return tables


def test_the_listener_hears_each_committed_transaction_and_not_a_rolled_back_one(engine: Engine) -> None:
    listener = open_listener(engine)
    assert listener is not None
    try:
        with engine.begin() as conn:
            _item(conn, "ONE")
            conn.execute(text("UPDATE settings SET value = '5' WHERE key = 'inventory.low_stock_threshold'"))
        assert _notified(listener, 5) == {"inventory_items", "settings"}
        with engine.begin() as conn:
            _item(conn, "TWO")
        assert _notified(listener, 5) == {"inventory_items"}  # a second transaction: told again
        with engine.connect() as conn:
            _item(conn, "NEVER")
            conn.rollback()
        assert _notified(listener, 0.5) == set()
    finally:
        listener.close()


def test_a_listener_whose_connection_the_server_ended_raises_listener_lost(engine: Engine) -> None:
    listener = open_listener(engine)
    assert listener is not None
    try:
        with engine.connect() as conn:
            pid = conn.execute(
                text(
                    "SELECT pid FROM pg_stat_activity "
                    "WHERE datname = current_database() AND query LIKE 'LISTEN%'"
                )
            ).scalar_one()
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
        assert select.select([listener], [], [], 5)[0], "the ended connection never became readable"
        with pytest.raises(ListenerLost):
            for _ in range(5):  # the server's last words may arrive before the connection's end
                listener.drain()
                select.select([listener], [], [], 1)
    finally:
        listener.close()
