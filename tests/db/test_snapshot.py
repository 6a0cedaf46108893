"""The snapshot file: made from a real PostgreSQL shop, opened read-only, and trusted only as far as
it deserves — damaged, foreign, newer, older and encrypted files each get their own answer."""

from __future__ import annotations

import hashlib
import io
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, insert, select
from sqlalchemy.orm import Session

from ecomdesk import __version__
from ecomdesk.bootstrap import open_snapshot
from ecomdesk.db.migrate import revision_history
from ecomdesk.db.models import AuditEntry, DeviceSession, InventoryItem, User, metadata
from ecomdesk.db.snapshot import (
    NewerSnapshot,
    NotASnapshot,
    PassphraseNeeded,
    SnapshotCancelled,
    SnapshotDamaged,
    SnapshotFileError,
    UnreadableSnapshot,
    WrongPassphrase,
    probe_snapshot,
    verify_snapshot,
)
from ecomdesk.services.errors import PermissionDenied, ReadOnlyError, SnapshotError, ValidationError
from ecomdesk.services.listing import ListQuery
from ecomdesk.services.registry import Services
from ecomdesk.services.snapshots import NEVER_COPIED
from tests.services.conftest import (
    PASSWORD,
    MakeUser,
    Staff,
    audit_entries,
    clock,
    make_user,
    services,
    staff,
)

__all__ = ["clock", "make_user", "services", "staff"]

SKU = "FAIR-KITE-7731"
PASSPHRASE = 'it\'s "quoted" — Grüße, 東京 ✓'


@dataclass(frozen=True)
class Shop:
    engine: Engine
    services: Services
    staff: Staff
    password_hash: str
    token_hash: str


@pytest.fixture
def shop(engine: Engine, services: Services, staff: Staff) -> Shop:
    """Three items (one with a SKU to look for in raw bytes), a stock movement, and a remembered
    device: its token hash and the admin's password hash must never reach a file."""
    common = {"category": "Toys", "supplier": "Acme", "reserved": 0, "price": "10.00", "cost": "4.00"}
    with engine.begin() as conn:
        conn.execute(
            insert(InventoryItem),
            [
                common | {"sku": SKU, "name": "Kite", "stock": 3},
                common | {"sku": "T-2", "name": "Yo-yo", "stock": 40},
                common | {"sku": "B-1", "name": "Atlas", "stock": 1, "category": "Books"},
            ],
        )
    from ecomdesk.db.models import MovementKind
    from ecomdesk.services.stock import Adjustment

    services.stock.adjust(staff.manager, SKU, Adjustment(MovementKind.RECEIVE, 5, "delivery 42"))
    services.auth.authenticate(staff.admin.email, PASSWORD, remember=True, device_name="fair laptop")
    with Session(engine) as session:
        password_hash = session.scalars(
            select(User.password_hash).where(User.id == staff.admin.user_id)
        ).one()
        token_hash = session.scalars(select(DeviceSession.token_hash)).one()
    return Shop(engine, services, staff, password_hash, token_hash)


@pytest.fixture
def snap(shop: Shop, tmp_path: Path) -> Path:
    path = tmp_path / "shop.ecomsnap"
    shop.services.snapshots.create(shop.staff.admin, path, source_label="test server")
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def copy(path: Path, name: str) -> Path:
    target = path.with_name(name)
    shutil.copyfile(path, target)
    return target


def live_count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(metadata.tables[table])) or 0)


def read_everything(path: Path, passphrase: str | None = None) -> dict[str, int]:
    """Every table read through the snapshot's engine, as the app's models see it."""
    opened = open_snapshot(path, passphrase)
    try:
        with Session(opened.services.ctx.engine) as session:
            return {
                name: len(session.execute(select(table)).all()) for name, table in metadata.tables.items()
            }
    finally:
        opened.close()


# -- making one -------------------------------------------------------------------------------


def test_snapshot_of_a_small_shop_opens_verifies_and_says_where_it_came_from(shop: Shop, snap: Path):
    verification = verify_snapshot(snap)
    assert verification.ok, verification.problems
    info = verification.info
    assert (info.created_by, info.creator_id) == (shop.staff.admin.email, shop.staff.admin.user_id)
    assert info.schema_revision == revision_history()[-1]
    assert info.source_database == shop.engine.url.database
    assert (info.source_server, info.app_version, info.encrypted) == ("test server", __version__, False)
    # Every table holds what the server held when it was taken; the audit log has since gained
    # the snapshot's own entry, and work queues are never copied.
    made_after = len(audit_entries(shop.engine, "snapshot.created"))
    for name in metadata.tables:
        expected = 0 if name in NEVER_COPIED else live_count(shop.engine, name)
        expected -= made_after if name == "audit_log" else 0
        assert info.row_counts[name] == expected, name
    assert read_everything(snap) == info.row_counts
    opened = open_snapshot(snap)
    try:
        rows = opened.services.tables["inventory"].page(opened.actor, ListQuery()).rows
        assert opened.actor.user_id == shop.staff.admin.user_id
    finally:
        opened.close()
    assert sorted(row.sku for row in rows) == sorted([SKU, "T-2", "B-1"])


def test_creating_a_snapshot_is_audited_with_its_checksum(shop: Shop, snap: Path):
    [entry] = audit_entries(shop.engine, "snapshot.created")
    info = probe_snapshot(snap).info
    assert entry.actor_id == shop.staff.admin.user_id
    assert entry.after is not None and entry.after["checksum"] == info.checksum


def test_secret_columns_are_not_in_the_file_at_all(shop: Shop, snap: Path):
    with sqlite3.connect(f"file:{snap}?mode=ro", uri=True) as conn:
        users = {row[1] for row in conn.execute("PRAGMA table_info(users)")}
        devices = {row[1] for row in conn.execute("PRAGMA table_info(device_sessions)")}
        assert conn.execute("SELECT count(*) FROM device_sessions").fetchone()[0] == 1
    assert "email" in users and "password_hash" not in users
    assert "device_name" in devices and "token_hash" not in devices
    raw = snap.read_bytes()
    assert shop.password_hash.encode() not in raw
    assert shop.token_hash.encode() not in raw
    assert SKU.encode() in raw  # the grep itself finds what is there


def test_opening_and_reading_every_table_changes_no_byte_of_the_file(snap: Path):
    before = sha256(snap)
    assert sum(read_everything(snap).values()) > 0
    assert sha256(snap) == before
    assert not list(snap.parent.glob("*-journal")) and not list(snap.parent.glob("*-wal"))


def test_rows_committed_while_the_snapshot_is_written_are_not_in_it(shop: Shop, tmp_path: Path):
    committed: list[int] = []

    def commit_meanwhile(done: int, total: int) -> None:
        if not committed:  # once, after the first batch: the tables after it are copied later
            with shop.engine.begin() as conn:
                conn.execute(
                    insert(InventoryItem).values(
                        sku="LATE-1", name="Late", category="X", supplier="Y", price="1", cost="1"
                    )
                )
            committed.append(done)

    path = tmp_path / "moment.ecomsnap"
    info = shop.services.snapshots.create(shop.staff.admin, path, progress=commit_meanwhile)
    assert committed, "the progress callback never ran"
    assert live_count(shop.engine, "inventory_items") == 4
    assert info.row_counts["inventory_items"] == 3
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        assert conn.execute("SELECT count(*) FROM inventory_items WHERE sku = 'LATE-1'").fetchone()[0] == 0


def test_a_cancelled_snapshot_leaves_no_file_and_no_audit_entry(shop: Shop, tmp_path: Path):
    folder = tmp_path / "out"
    folder.mkdir()
    with pytest.raises(SnapshotCancelled):
        shop.services.snapshots.create(shop.staff.admin, folder / "x.ecomsnap", cancelled=lambda: True)
    assert list(folder.iterdir()) == []
    assert audit_entries(shop.engine, "snapshot.created") == []


def test_a_failure_half_way_leaves_no_file(shop: Shop, tmp_path: Path):
    folder = tmp_path / "out"
    folder.mkdir()

    def fail(done: int, total: int) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(ValidationError, match="cannot be written: No space left"):
        shop.services.snapshots.create(shop.staff.admin, folder / "x.ecomsnap", progress=fail)
    assert list(folder.iterdir()) == []


def test_a_snapshot_holds_only_what_its_maker_may_read(shop: Shop, make_user: MakeUser, tmp_path: Path):
    shop.services.roles.create_role(
        shop.staff.admin, "Fair stand", frozenset({"snapshot.create", "inventory.read"})
    )
    stand = make_user("Fair stand", email="stand@shop.example")
    path = tmp_path / "stand.ecomsnap"
    info = shop.services.snapshots.create(stand, path)
    assert info.left_out["audit_log"] == "needs audit.read"
    assert info.left_out["order_events"] == "needs analytics.read"
    assert (info.row_counts["audit_log"], info.row_counts["order_events"]) == (0, 0)
    assert info.row_counts["inventory_items"] == 3
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        emails = [row[0] for row in conn.execute("SELECT email FROM users")]
        devices = conn.execute("SELECT count(*) FROM device_sessions").fetchone()[0]
    assert emails == ["stand@shop.example"]
    assert devices == 0  # the admin's remembered laptop is not theirs


def test_a_viewer_may_not_take_a_snapshot(shop: Shop, tmp_path: Path):
    with pytest.raises(PermissionDenied):
        shop.services.snapshots.create(shop.staff.viewer, tmp_path / "v.ecomsnap")
    assert list(tmp_path.iterdir()) == []


def test_a_snapshot_of_a_snapshot_is_refused(snap: Path):
    opened = open_snapshot(snap)
    try:
        with pytest.raises(ReadOnlyError):
            opened.services.snapshots.create(opened.actor, snap.with_name("again.ecomsnap"))
    finally:
        opened.close()
    assert not snap.with_name("again.ecomsnap").exists()


# -- damaged and foreign files ----------------------------------------------------------------


def truncate(path: Path, size: Callable[[int], int]) -> Path:
    data = path.read_bytes()
    target = path.with_name("cut.ecomsnap")
    target.write_bytes(data[: size(len(data))])
    return target


@pytest.mark.parametrize(
    ("size", "words"),
    [
        (lambda n: n // 2, "incomplete"),
        (lambda n: n // 2 + 1234, "incomplete"),
        (lambda n: 99, "cut short inside its header"),
        (lambda n: 0, "empty"),
    ],
    ids=["half", "half-and-a-bit", "99-bytes", "0-bytes"],
)
def test_a_truncated_snapshot_is_called_damaged(snap: Path, size: Callable[[int], int], words: str):
    cut = truncate(snap, size)
    with pytest.raises(SnapshotDamaged, match=words):
        probe_snapshot(cut)
    with pytest.raises(SnapshotError, match=words):
        open_snapshot(cut)


def flip(path: Path, start: int, stop: int, name: str = "flipped.ecomsnap") -> Path:
    data = bytearray(path.read_bytes())
    for i in range(start, stop):
        data[i] ^= 0x5A
    target = path.with_name(name)
    target.write_bytes(bytes(data))
    return target


def test_flipped_bytes_in_the_header_are_damage(snap: Path):
    # Bytes 20-28: reserved space, payload fractions and change counter; the application id stays.
    bad = flip(snap, 20, 28)
    with pytest.raises(SnapshotDamaged, match="damaged"):
        probe_snapshot(bad)


def leaf_pages(path: Path, table: str) -> list[int]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY pageno", (table,)
        ).fetchall()
        if not rows:  # a table that fits its root page
            rows = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchall()
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    return [int(row[0]) * page_size for row in rows]


def test_flipped_bytes_in_a_data_page_are_reported_against_their_table(snap: Path):
    page_end = leaf_pages(snap, "inventory_items")[0]
    page_size = 4096
    # The second half of a leaf page holds its cells: the rows themselves.
    bad = flip(snap, page_end - page_size // 2, page_end)
    verification = verify_snapshot(bad)
    assert not verification.ok
    assert any("inventory_items" in problem for problem in verification.problems), verification.problems
    # Opening and reading through the services either works or says the file is damaged.
    opened = open_snapshot(bad)
    try:
        for name, table in opened.services.tables.items():
            try:
                table.export_csv(opened.actor, ListQuery(), io.BytesIO())
            except SnapshotError as exc:
                assert "damaged" in exc.message, name
    finally:
        opened.close()


def edit(path: Path, *statements: str, name: str = "edited.ecomsnap") -> Path:
    target = copy(path, name)
    with sqlite3.connect(target) as conn:
        for statement in statements:
            conn.execute(statement)
    return target


def test_a_row_changed_afterwards_fails_its_tables_checksum(snap: Path):
    bad = edit(snap, f"UPDATE inventory_items SET stock = 999 WHERE sku = '{SKU}'")
    problems = verify_snapshot(bad).problems
    assert problems == ("the content of inventory_items does not match its checksum",)


def test_edited_metadata_fails_the_checksum(snap: Path):
    bad = edit(snap, "UPDATE snapshot_info SET value = '\"Another shop\"' WHERE key = 'shop_name'")
    verification = verify_snapshot(bad)
    assert verification.info.shop_name == "Another shop"
    assert verification.problems == ("the snapshot's details do not match its checksum",)


def test_metadata_of_the_wrong_shape_is_damage_not_a_crash(snap: Path):
    bad = edit(snap, "UPDATE snapshot_info SET value = '[1, 2]' WHERE key = 'row_counts'")
    with pytest.raises(SnapshotDamaged, match="no readable snapshot details"):
        probe_snapshot(bad)


def _png(path: Path) -> Path:
    from PIL import Image

    Image.new("RGB", (40, 30), (200, 30, 30)).save(path, "PNG")
    return path


def _csv(path: Path) -> Path:
    path.write_text("sku,name,stock\nT-1,Kite,3\n" * 300)
    return path


def _foreign_sqlite(path: Path) -> Path:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.execute("INSERT INTO notes VALUES ('hello')")
    return path


def _folder(path: Path) -> Path:
    path.mkdir()
    return path


@pytest.mark.parametrize(
    ("make", "error", "words"),
    [
        (_png, NotASnapshot, "is a PNG image"),
        (_csv, NotASnapshot, "is a text file"),
        (_foreign_sqlite, NotASnapshot, "SQLite database, but not an ecomdesk snapshot"),
        (_folder, NotASnapshot, "is a folder"),
        (lambda path: path, SnapshotFileError, "There is no file"),
    ],
    ids=["png", "csv", "other-sqlite", "folder", "missing"],
)
def test_a_file_that_is_not_a_snapshot_says_what_it_is(
    tmp_path: Path, make: Callable[[Path], Path], error: type[SnapshotFileError], words: str
):
    path = make(tmp_path / "picked.ecomsnap")
    with pytest.raises(error, match=words) as raised:
        probe_snapshot(path)
    assert not isinstance(raised.value, PassphraseNeeded)  # never ask a passphrase for a PNG
    with pytest.raises(SnapshotError, match=words):
        open_snapshot(path)
    with pytest.raises(error, match=words):
        verify_snapshot(path)


# -- newer and older files --------------------------------------------------------------------


def test_a_newer_file_format_is_refused_as_newer(snap: Path):
    with pytest.raises(NewerSnapshot, match="newer version of ecomdesk"):
        probe_snapshot(edit(snap, "PRAGMA user_version = 99"))


def test_an_unknown_schema_revision_is_refused_as_newer(snap: Path):
    bad = edit(
        snap, "UPDATE snapshot_info SET value = '\"9999_from_the_future\"' WHERE key = 'schema_revision'"
    )
    with pytest.raises(NewerSnapshot, match="9999_from_the_future"):
        probe_snapshot(bad)


def without_column(table: str, column: str) -> list[str]:
    """SQL that rebuilds `table` without `column`, as an older ecomdesk would have made it."""
    with_all = [c.name for c in metadata.tables[table].columns if c.name != column]
    names = ", ".join(f'"{c}"' for c in with_all)
    return [
        f'CREATE TABLE "{table}_old" AS SELECT {names} FROM "{table}"',
        f'DROP TABLE "{table}"',
        f'ALTER TABLE "{table}_old" RENAME TO "{table}"',
    ]


def test_an_older_schema_reads_its_missing_columns_as_null_and_missing_tables_as_empty(snap: Path):
    older = edit(snap, *without_column("inventory_items", "reorder_level"), "DROP TABLE sales_metrics")
    counts = read_everything(older)
    assert counts["inventory_items"] == 3 and counts["sales_metrics"] == 0
    opened = open_snapshot(older)
    try:
        with Session(opened.services.ctx.engine) as session:
            levels = session.scalars(select(InventoryItem.reorder_level)).all()
            item = session.scalars(select(InventoryItem).where(InventoryItem.sku == SKU)).one()
    finally:
        opened.close()
    assert levels == [None, None, None]
    assert (item.name, item.stock) == ("Kite", 8)


def test_an_older_schema_lacking_a_required_column_is_unreadable(snap: Path):
    older = edit(snap, *without_column("inventory_items", "name"))
    with pytest.raises(UnreadableSnapshot, match=r"inventory_items\.name"):
        probe_snapshot(older)


# -- encryption -------------------------------------------------------------------------------


@pytest.fixture
def encrypted(shop: Shop, tmp_path: Path) -> Path:
    path = tmp_path / "locked.ecomsnap"
    shop.services.snapshots.create(shop.staff.admin, path, passphrase=PASSPHRASE)
    return path


def test_an_encrypted_snapshot_opens_only_with_its_passphrase(encrypted: Path):
    assert SKU.encode() not in encrypted.read_bytes()
    assert b"SQLite format 3" not in encrypted.read_bytes()[:16]
    with pytest.raises(PassphraseNeeded):
        probe_snapshot(encrypted)
    with pytest.raises(WrongPassphrase):
        probe_snapshot(encrypted, PASSPHRASE.upper())
    with pytest.raises(SnapshotError) as raised:
        open_snapshot(encrypted, "nope")
    assert raised.value.wrong_passphrase and raised.value.passphrase_needed
    verification = verify_snapshot(encrypted, PASSPHRASE)
    assert verification.ok, verification.problems
    assert verification.info.encrypted
    before = sha256(encrypted)
    assert read_everything(encrypted, PASSPHRASE)["inventory_items"] == 3
    assert sha256(encrypted) == before


def test_a_passphrase_given_for_a_plain_snapshot_is_not_needed(snap: Path):
    assert read_everything(snap, "whatever")["inventory_items"] == 3


def test_an_encrypted_snapshot_with_a_damaged_page_is_damaged_not_a_wrong_passphrase(encrypted: Path):
    size = encrypted.stat().st_size
    bad = flip(encrypted, size // 2, size // 2 + 64)
    probe_snapshot(bad, PASSPHRASE)  # page 1 is intact: the key is right
    verification = verify_snapshot(bad, PASSPHRASE)
    assert any("encrypted pages fail their check" in p for p in verification.problems), verification.problems


def test_a_truncated_encrypted_snapshot_is_not_taken_for_a_wrong_passphrase(encrypted: Path):
    cut = truncate(encrypted, lambda n: n // 2 + 100)
    with pytest.raises(SnapshotFileError, match="cut short") as raised:
        probe_snapshot(cut, PASSPHRASE)
    assert not isinstance(raised.value, WrongPassphrase | PassphraseNeeded)


def test_verify_reports_progress_up_to_the_end(snap: Path):
    seen: list[tuple[int, int]] = []
    assert verify_snapshot(snap, progress=lambda done, total: seen.append((done, total))).ok
    assert seen[-1][0] == seen[-1][1] > 0
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


def test_verify_can_be_cancelled(snap: Path):
    with pytest.raises(SnapshotCancelled):
        verify_snapshot(snap, cancelled=lambda: True)


def test_an_admins_snapshot_carries_the_activity_log(snap: Path):
    with sqlite3.connect(f"file:{snap}?mode=ro", uri=True) as conn:
        actions = {row[0] for row in conn.execute(f"SELECT action FROM {AuditEntry.__tablename__}")}
    assert "inventory.stock_adjusted" in actions  # the shop fixture's adjustment
