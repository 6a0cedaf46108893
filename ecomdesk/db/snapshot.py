"""The offline snapshot file: the shop's data at one moment, in one SQLite file with the app's schema.

A snapshot is an SQLite database (SQLCipher-encrypted when made with a passphrase) whose tables are
the app's own tables, created from the same SQLAlchemy metadata, minus the columns marked secret
(`Column.info["secret"]`: password and device-token hashes). Its `snapshot_info` table says where
and when it came from, how many rows each table holds, and checksums of the content. The header's
`application_id` marks the file as ours, so any other file is told apart before a query runs.

Files are only ever opened read-only and immutable (`mode=ro&immutable=1`, `PRAGMA query_only`): SQLite
writes no journal, no lock and no byte of the file, so the hash of a snapshot stays what it was. Where
the file lacks a table or a column this version of the models knows (a secret column, or an older
schema), each connection gets an in-memory TEMP table or view of the same name that fills it with
NULL or the column's default: unqualified names find TEMP objects first, so every query reads on.

The checksum covers every row of every table in primary-key order, as SQLite returns them (int,
float, text, bytes, NULL) written with `repr`, plus the metadata: `verify_snapshot` recomputes it.
It finds damage and casual edits; it is not a signature (whoever can write the file can recompute it).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import stat
import struct
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

import sqlcipher3.dbapi2 as sqlite
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ColumnElement,
    Connection,
    Date,
    DateTime,
    Engine,
    Float,
    Integer,
    MetaData,
    Numeric,
    Select,
    Table,
    Text,
    cast,
    create_engine,
    func,
    select,
)
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.pool import QueuePool
from sqlalchemy.schema import ColumnCollectionConstraint, CreateIndex, CreateTable
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from ecomdesk.db.models import metadata

#: "ECDS" in the SQLite header: this file is an ecomdesk snapshot.
APPLICATION_ID: Final = 0x45434453
#: The layout of the file itself (info table, checksum rule); bumped only when they change.
FORMAT: Final = 1
INFO_TABLE: Final = "snapshot_info"
_BATCH: Final = 5_000
#: Page cache while verifying (KiB).
_VERIFY_CACHE_KIB: Final = 131_072
_SQLITE_MAGIC: Final = b"SQLite format 3\x00"
#: The smallest page SQLite (and SQLCipher) uses: every complete database file is whole pages.
_MIN_PAGE: Final = 512
_DIALECT: Final = sqlite_dialect.dialect()

ProgressFn = Callable[[int, int], None]
CancelledFn = Callable[[], bool]


# -- errors -------------------------------------------------------------------------------------


class SnapshotFileError(Exception):
    """A snapshot file that cannot be made or used; the message is written for the person."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotASnapshot(SnapshotFileError):
    """Some other file: not SQLite at all, or an SQLite database that is not ours."""


class SnapshotDamaged(SnapshotFileError):
    """Ours, but truncated, corrupted or changed since it was made."""


class PassphraseNeeded(SnapshotFileError):
    """The file is encrypted (or not SQLite at all: without the key the two look the same)."""


class WrongPassphrase(SnapshotFileError):
    """A passphrase was given and does not open the file."""


class NewerSnapshot(SnapshotFileError):
    """Made by a newer ecomdesk: a format or schema this version does not know."""


class UnreadableSnapshot(SnapshotFileError):
    """An older schema that lacks data this version cannot do without."""


class SnapshotCancelled(Exception):
    """The person stopped the snapshot; no file was left behind."""


# -- what the file says about itself -----------------------------------------------------------


@dataclass(frozen=True)
class SnapshotInfo:
    """The metadata a snapshot carries (table `snapshot_info`, one JSON value per key)."""

    format: int
    created_at: dt.datetime
    created_by: str
    created_by_name: str
    creator_id: int
    shop_name: str
    source_server: str
    source_database: str
    server_version: str
    schema_revision: str
    app_version: str
    row_counts: dict[str, int]
    #: Tables copied empty, with the reason (e.g. the creator may not read them).
    left_out: dict[str, str] = field(default_factory=dict)
    encrypted: bool = False
    table_checksums: dict[str, str] = field(default_factory=dict)
    checksum: str = ""

    def as_rows(self) -> list[tuple[str, str]]:
        values = {name: getattr(self, name) for name in self.__dataclass_fields__}
        values["created_at"] = self.created_at.astimezone(dt.UTC).isoformat()
        return [(key, json.dumps(value, sort_keys=True)) for key, value in sorted(values.items())]

    @classmethod
    def from_rows(cls, rows: Sequence[tuple[str, str]]) -> SnapshotInfo:
        values: dict[str, Any] = {key: json.loads(value) for key, value in rows}
        known = {key: values[key] for key in cls.__dataclass_fields__ if key in values}
        known["created_at"] = dt.datetime.fromisoformat(known["created_at"])
        return cls(**known)

    def content_digest(self) -> str:
        """The checksum of the content: the metadata (without the checksums) and every table's digest."""
        fixed = {k: v for k, v in self.as_rows() if k not in ("checksum", "table_checksums")}
        digest = hashlib.sha256(json.dumps(fixed, sort_keys=True).encode())
        for name, value in sorted(self.table_checksums.items()):
            digest.update(f"{name}:{value}\n".encode())
        return digest.hexdigest()


# -- the schema --------------------------------------------------------------------------------


def is_secret(column: Column[Any]) -> bool:
    return bool(column.info.get("secret"))


@cache
def snapshot_metadata() -> MetaData:
    """The app's tables as a snapshot holds them: every column but the secret ones."""
    copy = MetaData()
    for table in metadata.sorted_tables:
        snap = table.to_metadata(copy)
        for column in [c for c in snap.columns if is_secret(c)]:
            for constraint in [
                c
                for c in snap.constraints
                if isinstance(c, ColumnCollectionConstraint) and column.name in c.columns
            ]:
                snap.constraints.discard(constraint)
            for index in [i for i in snap.indexes if column.name in i.columns]:
                snap.indexes.discard(index)
            # Table has no public way to drop a column; the copy is private to this module.
            snap._columns.remove(column)
    return copy


def snapshot_columns(table: str) -> list[str]:
    return [column.name for column in snapshot_metadata().tables[table].columns]


# -- making one --------------------------------------------------------------------------------


class SnapshotWriter:
    """Builds a snapshot file in two steps, so the server's transaction is as short as the copy:
    `copy` reads the rows (inside the caller's one transaction), then — after the caller has ended
    that transaction — `finish` indexes, checksums and puts the file in place.

    The file is built under a temporary name beside `target` and renamed into place only when
    complete; leaving the `with` block without `finish` (an error, a cancel) removes it.
    """

    def __init__(
        self,
        target: Path,
        *,
        passphrase: str | None = None,
        progress: ProgressFn | None = None,
        cancelled: CancelledFn | None = None,
    ) -> None:
        self.target = target
        self.passphrase = passphrase
        self.progress = progress
        self.cancelled = cancelled
        self.partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
        self._conn: sqlite.Connection | None = None

    def __enter__(self) -> SnapshotWriter:
        self.partial.unlink(missing_ok=True)
        conn = self._conn = _connect(self.partial, self.passphrase, writable=True)
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {FORMAT}")
        # Built under a temporary name and renamed when complete: no journal or sync needed meanwhile.
        # Index sorts spill to a temporary file rather than memory, so memory stays flat however
        # big the shop (this SQLCipher build keeps temporary data in memory by default).
        for pragma in ("journal_mode = OFF", "synchronous = OFF", "cache_size = -65536", "temp_store = FILE"):
            conn.execute(f"PRAGMA {pragma}")
        conn.execute("BEGIN")
        conn.execute(f"CREATE TABLE {INFO_TABLE} (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        for table in snapshot_metadata().sorted_tables:
            conn.execute(str(CreateTable(table).compile(dialect=_DIALECT)))
        return self

    def __exit__(self, *exc: object) -> None:
        if self._conn is not None:
            with contextlib.suppress(sqlite.Error):
                self._conn.close()
            self._conn = None
            self.partial.unlink(missing_ok=True)

    def copy(self, source: Connection, sources: Mapping[str, Select[Any]]) -> None:
        """Copy what `sources` select (table name → rows in `snapshot_columns(table)` order),
        reading everything on `source`; tables not named stay empty."""
        assert self._conn is not None, "copy() inside the with block"
        tables = snapshot_metadata().tables
        total = sum(
            int(source.scalar(select(func.count()).select_from(q.subquery())) or 0) for q in sources.values()
        )
        done = 0
        for name, query in sources.items():
            done = _copy_rows(
                source, self._conn, tables[name], query, done, total, self.progress, self.cancelled
            )
        if self.progress is not None:
            self.progress(done, total)

    def finish(self, info: SnapshotInfo) -> SnapshotInfo:
        """Index, analyse and checksum the copy, record `info` with the counts and checksums, and
        put the file in place. Returns the info as written."""
        conn, cancelled = self._conn, self.cancelled
        assert conn is not None, "finish() inside the with block, once"
        md = snapshot_metadata()
        # The steps after the copy take seconds on a big shop: a cancel is still honoured there.
        for table in md.sorted_tables:
            for index in table.indexes:
                _check_cancelled(cancelled)
                conn.execute(str(CreateIndex(index).compile(dialect=_DIALECT)))
        _check_cancelled(cancelled)
        # Statistics from a sample of each index are as good for the planner here, and take
        # a tenth of a second instead of one per million rows.
        conn.execute("PRAGMA analysis_limit = 1000")
        conn.execute("ANALYZE")
        digests = {name: digest for name, (digest, _) in _table_digests(conn, cancelled=cancelled).items()}
        counts = {name: _count(conn, name) for name in sorted(md.tables)}
        _check_cancelled(cancelled)
        final = _with_checksums(info, counts, digests, encrypted=self.passphrase is not None)
        conn.executemany(f"INSERT INTO {INFO_TABLE} (key, value) VALUES (?, ?)", final.as_rows())
        conn.execute("COMMIT")
        conn.execute("PRAGMA journal_mode = DELETE")
        conn.close()
        self._conn = None
        _fsync(self.partial)
        self.partial.replace(self.target)
        _fsync(self.target.parent)
        return final


def _copy_rows(
    source: Connection,
    conn: sqlite.Connection,
    table: Table,
    query: Select[Any],
    done: int,
    total: int,
    progress: ProgressFn | None,
    cancelled: CancelledFn | None,
) -> int:
    """Stream one table from the server into the file through a server-side cursor.

    The server writes each value in the form SQLAlchemy stores on SQLite (moments as UTC text,
    money as a double, JSON as text), so the rows go into the file untouched and the models read
    them back as they read them from the server."""
    rows_query = query.subquery()
    shaped = select(*(_stored_form(column, rows_query.c[column.name]) for column in table.columns))
    compiled = shaped.compile(dialect=source.dialect)
    names = ", ".join(f'"{column.name}"' for column in table.columns)
    marks = ", ".join("?" for _ in table.columns)
    insert = f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})'
    driver = source.connection.driver_connection
    assert driver is not None
    with driver.cursor(name=f"ecomdesk_snapshot_{table.name}") as cursor:
        cursor.execute(str(compiled), compiled.params)
        # Closed explicitly, so a batch still in flight lands before the cursor closes.
        with contextlib.closing(_read_ahead(lambda: cursor.fetchmany(_BATCH))) as parts:
            for part in parts:
                if cancelled is not None and cancelled():
                    raise SnapshotCancelled()
                conn.executemany(insert, part)
                done += len(part)
                if progress is not None:
                    progress(done, total)
    return done


def _read_ahead(fetch: Callable[[], list[Any]]) -> Generator[list[Any], None, None]:
    """The batches `fetch` returns until an empty one, each next batch fetched in a thread while
    the caller stores the current one: the server's work and SQLite's overlap (both release the
    GIL), and at most two batches are held. Leaving early waits for the one batch in flight."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="snapshot-fetch") as pool:
        pending = pool.submit(fetch)
        while part := pending.result():
            pending = pool.submit(fetch)
            yield part


def _stored_form(column: Column[Any], value: ColumnElement[Any]) -> ColumnElement[Any]:
    """`value` as SQLAlchemy's SQLite dialect stores a value of `column`'s type, computed by the server."""
    kind = column.type
    if isinstance(kind, DateTime):
        return func.to_char(func.timezone("UTC", value), "YYYY-MM-DD HH24:MI:SS.US")
    if isinstance(kind, Date):
        return func.to_char(value, "YYYY-MM-DD")
    if isinstance(kind, Numeric) and not isinstance(kind, Float):
        return cast(value, Float)
    if isinstance(kind, JSON):
        return cast(value, Text)
    if isinstance(kind, Boolean):
        return cast(value, Integer)
    if kind.dialect_impl(_DIALECT).bind_processor(_DIALECT) is not None:
        raise TypeError(f"{column}: no stored form for {kind!r} in a snapshot")
    return value


def _check_cancelled(cancelled: CancelledFn | None) -> None:
    if cancelled is not None and cancelled():
        raise SnapshotCancelled()


def _with_checksums(
    info: SnapshotInfo, counts: dict[str, int], digests: dict[str, str], *, encrypted: bool
) -> SnapshotInfo:
    base = replace(info, row_counts=counts, encrypted=encrypted, table_checksums=digests, checksum="")
    return replace(base, checksum=base.content_digest())


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- reading one -------------------------------------------------------------------------------


def _connect(path: Path, passphrase: str | None, *, writable: bool = False) -> sqlite.Connection:
    if writable:
        conn = sqlite.connect(str(path), isolation_level=None, check_same_thread=False)
    else:
        uri = f"file:{quote(str(path.resolve()))}?mode=ro&immutable=1"
        conn = sqlite.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    # SQLCipher logs failed decryptions to stderr by default; a wrong passphrase is not news there.
    conn.execute("PRAGMA cipher_log_level = NONE")
    if passphrase is not None:
        conn.execute(f"PRAGMA key = '{passphrase.replace(chr(39), chr(39) * 2)}'")
    return conn


def _count(conn: sqlite.Connection, table: str) -> int:
    return int(conn.execute(f'SELECT count(*) FROM main."{table}"').fetchone()[0])


def _file_columns(conn: sqlite.Connection) -> dict[str, list[str]]:
    tables = [
        row[0]
        for row in conn.execute(
            "SELECT name FROM main.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    return {name: [row[1] for row in conn.execute(f'PRAGMA main.table_info("{name}")')] for name in tables}


def _primary_key(conn: sqlite.Connection, table: str) -> list[str]:
    rows = sorted((row[5], row[1]) for row in conn.execute(f'PRAGMA main.table_info("{table}")') if row[5])
    return [name for _, name in rows]


def _table_digests(
    conn: sqlite.Connection, *, cancelled: CancelledFn | None = None
) -> dict[str, tuple[str, int]]:
    """Each table's digest and row count."""
    return {
        name: _table_digest(conn, name, columns, cancelled=cancelled)
        for name, columns in sorted(_file_columns(conn).items())
        if name != INFO_TABLE
    }


def _table_digest(
    conn: sqlite.Connection,
    name: str,
    columns: Sequence[str],
    *,
    rows_read: Callable[[int], None] | None = None,
    cancelled: CancelledFn | None = None,
) -> tuple[str, int]:
    """One table's digest (its columns, then every row in primary-key order) and its row count."""
    order = ", ".join(f'"{c}"' for c in _primary_key(conn, name)) or "rowid"
    digest = hashlib.sha256(f"{name}({','.join(columns)})\n".encode())
    cursor = conn.execute(f'SELECT * FROM main."{name}" ORDER BY {order}')
    count = 0
    while batch := cursor.fetchmany(_BATCH):
        _check_cancelled(cancelled)
        digest.update(("\n".join(map(repr, batch)) + "\n").encode())
        count += len(batch)
        if rows_read is not None:
            rows_read(len(batch))
    return digest.hexdigest(), count


def _header(path: Path) -> tuple[bytes, int]:
    """The first 100 bytes and the size of `path`, or the reason it cannot be a snapshot file."""
    try:
        status = path.stat()
        if stat.S_ISDIR(status.st_mode):
            raise NotASnapshot(f"{path} is a folder, not a snapshot file.")
        if not stat.S_ISREG(status.st_mode):
            # A pipe or a device would block or never end; a snapshot is always a plain file.
            raise NotASnapshot(f"{path} is not a regular file, so it is not a snapshot.")
        with path.open("rb") as file:
            return file.read(100), status.st_size
    except FileNotFoundError as exc:
        raise SnapshotFileError(f"There is no file {path}.") from exc
    except IsADirectoryError as exc:
        raise NotASnapshot(f"{path} is a folder, not a snapshot file.") from exc
    except PermissionError as exc:
        raise SnapshotFileError(f"{path} cannot be read: you may not open it (permission denied).") from exc
    except OSError as exc:
        raise SnapshotFileError(f"{path} cannot be read: {exc.strerror or exc}.") from exc


@dataclass(frozen=True)
class Probe:
    """A snapshot checked enough to open: its metadata, and what each connection must add so
    the current models read it (TEMP tables and views for what the file lacks)."""

    path: Path
    passphrase: str | None
    info: SnapshotInfo
    compat: tuple[str, ...]


def probe_snapshot(path: Path, passphrase: str | None = None) -> Probe:
    """Check that `path` is a snapshot this version can read, cheaply (header, size, metadata,
    schema); raises a `SnapshotFileError` whose message says what is wrong.

    A passphrase given for a plain (unencrypted) snapshot is not needed and is ignored."""
    path = Path(path)
    header, size = _header(path)
    if size == 0:
        raise SnapshotDamaged(
            f"{path.name} is empty (0 bytes): it is not a snapshot, or a copy of one that never got its "
            "content. Copy the snapshot again."
        )
    plain = header.startswith(_SQLITE_MAGIC)
    if plain:
        _check_plain_header(path, header, size)
    else:
        _check_encrypted_shape(path, header, size)
        if passphrase is None:
            raise PassphraseNeeded(
                f"{path.name} is encrypted or not a snapshot at all. "
                "If it is an encrypted snapshot, enter its passphrase."
            )
    conn = _connect(path, None if plain else passphrase)
    try:
        if not plain:
            _check_key(conn, path, size)
        try:
            info = _read_info(conn, path)
            compat = _compat_statements(conn, path, info)
        except sqlite.DatabaseError as exc:
            # The header (or, encrypted, the key on page 1) said the file is ours: any failure now
            # is damage, whatever words SQLite uses for it.
            raise _damaged(path, exc) from exc
    finally:
        conn.close()
    return Probe(path, passphrase if not plain else None, info, compat)


#: The first bytes of files people are likely to pick by mistake (none can start an encrypted snapshot,
#: whose first 16 bytes are random salt — a one-in-2^32 chance at most for these short ones).
_OTHER_FORMATS: Final = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"%PDF": "a PDF document",
    b"PK\x03\x04": "a ZIP archive (or an Office document)",
    b"\x1f\x8b": "a gzip archive",
}


def _check_encrypted_shape(path: Path, header: bytes, size: int) -> None:
    """Refuse what cannot be an encrypted snapshot before asking for a passphrase: an encrypted
    file is whole pages of random-looking bytes, never text or another format's signature."""
    if _SQLITE_MAGIC.startswith(header):
        raise SnapshotDamaged(f"{path.name} is cut short inside its header. Copy the snapshot again.")
    for magic, kind in _OTHER_FORMATS.items():
        if header.startswith(magic):
            raise NotASnapshot(f"{path.name} is {kind}, not an ecomdesk snapshot.")
    if all(32 <= byte < 127 or byte in b"\t\r\n" for byte in header) or header.startswith(b"\xef\xbb\xbf"):
        raise NotASnapshot(f"{path.name} is a text file, not an ecomdesk snapshot.")
    if size < _MIN_PAGE or size % _MIN_PAGE:
        raise NotASnapshot(
            f"{path.name} is not an ecomdesk snapshot (nor a complete encrypted one: if it is an encrypted "
            "snapshot, it was cut short while being copied — copy it again)."
        )


def _check_key(conn: sqlite.Connection, path: Path, size: int) -> None:
    """Page 1 decrypts and says the file is ours; a failure here is the passphrase (or page 1 itself)."""
    try:
        application_id = conn.execute("PRAGMA application_id").fetchone()[0]
    except sqlite.DatabaseError as exc:
        raise WrongPassphrase(
            f"The passphrase does not open {path.name} (or it is not a snapshot, or its first page is "
            "damaged)."
        ) from exc
    if application_id != APPLICATION_ID:
        raise NotASnapshot(f"{path.name} is an encrypted database, but not an ecomdesk snapshot.")
    # SQLCipher answers the page size as text.
    page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
    if size % page_size:
        raise _truncated(path, size, (size // page_size + 1) * page_size)


def _check_plain_header(path: Path, header: bytes, size: int) -> None:
    if len(header) < 100:
        raise SnapshotDamaged(f"{path.name} is cut short inside its header. Copy the snapshot again.")
    page_size = struct.unpack(">H", header[16:18])[0]
    page_size = 65536 if page_size == 1 else page_size
    change_counter, pages = struct.unpack(">II", header[24:32])
    (application_id,) = struct.unpack(">I", header[68:72])
    (valid_for,) = struct.unpack(">I", header[92:96])
    if application_id != APPLICATION_ID:
        raise NotASnapshot(f"{path.name} is an SQLite database, but not an ecomdesk snapshot.")
    if valid_for == change_counter and size < pages * page_size:
        raise _truncated(path, size, pages * page_size)
    if page_size < _MIN_PAGE or page_size & (page_size - 1) or size < page_size:
        raise SnapshotDamaged(f"{path.name} has a damaged header. Copy the snapshot again.")


def _truncated(path: Path, size: int, expected: int) -> SnapshotDamaged:
    return SnapshotDamaged(
        f"{path.name} is incomplete: {size:,} of its {expected:,} bytes are there. "
        "It was cut short while being copied; copy the snapshot again."
    )


def _damaged(path: Path, exc: sqlite.Error) -> SnapshotDamaged:
    return SnapshotDamaged(f"{path.name} is damaged ({exc}). Copy the snapshot again, or make a new one.")


def _read_info(conn: sqlite.Connection, path: Path) -> SnapshotInfo:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > FORMAT:
        raise NewerSnapshot(
            f"{path.name} was made by a newer version of ecomdesk (snapshot format {version}); "
            "update ecomdesk to open it."
        )
    try:
        rows = conn.execute(f"SELECT key, value FROM {INFO_TABLE}").fetchall()
        info = SnapshotInfo.from_rows(rows)
        _check_info_types(info)
    except (sqlite.OperationalError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise SnapshotDamaged(
            f"{path.name} has no readable snapshot details: it is damaged or incomplete."
        ) from exc
    known = _known_revisions()
    if info.schema_revision not in known:
        raise NewerSnapshot(
            f"{path.name} comes from a newer version of ecomdesk (schema {info.schema_revision}; this "
            f"version knows up to {known[-1]}). Update ecomdesk to open it."
        )
    return info


def _check_info_types(info: SnapshotInfo) -> None:
    """Edited details of the wrong shape are damage, found here rather than as a crash later."""
    text = ("created_by", "created_by_name", "shop_name", "source_server", "source_database",
            "server_version", "schema_revision", "app_version", "checksum")  # fmt: skip
    for name in text:
        if not isinstance(getattr(info, name), str):
            raise TypeError(name)
    if not isinstance(info.format, int) or not isinstance(info.creator_id, int):
        raise TypeError("format/creator_id")
    if info.created_at.tzinfo is None:
        raise ValueError("created_at has no time zone")
    for mapping, kind in ((info.row_counts, int), (info.left_out, str), (info.table_checksums, str)):
        if not isinstance(mapping, dict) or not all(
            isinstance(k, str) and isinstance(v, kind) for k, v in mapping.items()
        ):
            raise TypeError("mapping")


@cache
def _known_revisions() -> list[str]:
    from ecomdesk.db.migrate import revision_history

    return revision_history()


def _compat_statements(conn: sqlite.Connection, path: Path, info: SnapshotInfo) -> tuple[str, ...]:
    """TEMP tables for the tables the file lacks and TEMP views adding the columns it lacks."""
    present = _file_columns(conn)
    statements: list[str] = []
    for table in metadata.sorted_tables:
        have = present.get(table.name)
        if have is None:
            columns = ", ".join(f'"{c.name}"' for c in table.columns)
            statements.append(f'CREATE TEMP TABLE "{table.name}" ({columns})')
            continue
        missing = [c for c in table.columns if c.name not in have]
        if not missing:
            continue
        added = []
        for column in missing:
            default = _fill_value(column)
            if default is _NO_VALUE:
                raise UnreadableSnapshot(
                    f"{path.name} comes from an older ecomdesk (schema {info.schema_revision}) and lacks "
                    f"{table.name}.{column.name}, which this version needs. "
                    "Open it with the version that made it."
                )
            added.append(f'{default} AS "{column.name}"')
        extra = ", ".join(added)
        statements.append(f'CREATE TEMP VIEW "{table.name}" AS SELECT *, {extra} FROM main."{table.name}"')
    return tuple(statements)


_NO_VALUE: Final = object()


def _fill_value(column: Column[Any]) -> Any:
    """SQL for a missing column's value: NULL where allowed (and always for secrets), else a plain default."""
    if column.nullable or is_secret(column):
        return "NULL"
    default = column.default
    if isinstance(default, ScalarElementColumnDefault):
        value = default.arg
        if isinstance(value, bool):
            return str(int(value))
        if isinstance(value, int | float):
            return repr(value)
        if isinstance(value, str):
            return "'" + value.replace("'", "''") + "'"
    return _NO_VALUE


def connect_snapshot(probe: Probe) -> sqlite.Connection:
    """One read-only connection to a probed snapshot, with the TEMP objects the models need."""
    conn = _connect(probe.path, probe.passphrase)
    for statement in probe.compat:
        conn.execute(statement)
    conn.execute("PRAGMA query_only = ON")
    return conn


def snapshot_engine(probe: Probe) -> Engine:
    """An engine on the snapshot: SQLAlchemy's SQLite dialect over SQLCipher's driver, pooled so the
    key is derived once per connection, and never able to write."""
    return create_engine(
        "sqlite://",
        module=sqlite,
        creator=lambda: connect_snapshot(probe),
        poolclass=QueuePool,
        pool_size=4,
        max_overflow=4,
        future=True,
        hide_parameters=True,
    )


# -- verifying one -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    info: SnapshotInfo
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_snapshot(
    path: Path,
    passphrase: str | None = None,
    *,
    progress: ProgressFn | None = None,
    cancelled: CancelledFn | None = None,
) -> Verification:
    """Everything `probe_snapshot` checks, then SQLite's integrity check and every checksum.

    A file that cannot be opened at all raises a `SnapshotFileError`; damage found inside an
    opened file is reported as problems, each naming the table it touches where that is known.
    `progress(done, total)` counts rows read (the integrity check counts as a third of them);
    `cancelled()` is asked between chunks and stops the check with `SnapshotCancelled`.
    """
    probe = probe_snapshot(path, passphrase)
    info = probe.info
    rows = sum(info.row_counts.values())
    total = rows + rows // 3
    done = 0

    def rows_read(count: int) -> None:
        nonlocal done
        done += count
        if progress is not None:
            progress(min(done, total), total)

    conn = _connect(probe.path, probe.passphrase)
    # The integrity check visits each page several times; with SQLite's default 8 MB cache an
    # encrypted file is decrypted over and over (3× slower). The cache only grows as pages are read.
    conn.execute(f"PRAGMA cache_size = -{_VERIFY_CACHE_KIB}")
    try:
        try:
            present = _file_columns(conn)
            owners = _page_owners(conn)
        except sqlite.DatabaseError as exc:
            raise _damaged(probe.path, exc) from exc
        if progress is not None:
            progress(0, total)
        problems = _integrity_problems(conn, owners, encrypted=probe.passphrase is not None)
        _check_cancelled(cancelled)
        rows_read(rows // 3)
        problems += _content_problems(conn, info, present, rows_read, cancelled)
    finally:
        conn.close()
    if info.content_digest() != info.checksum:
        problems.append("the snapshot's details do not match its checksum")
    if progress is not None:
        progress(total, total)
    return Verification(info, tuple(problems))


def _page_owners(conn: sqlite.Connection) -> dict[int, str]:
    """Root page → the table it belongs to (an index's root names its table), to name the table
    behind SQLite's "Tree N" messages."""
    rows = conn.execute(
        "SELECT rootpage, tbl_name FROM main.sqlite_master WHERE type IN ('table', 'index') AND rootpage > 0"
    )
    return {int(page): name for page, name in rows}


def _integrity_problems(conn: sqlite.Connection, owners: Mapping[int, str], *, encrypted: bool) -> list[str]:
    problems: list[str] = []
    if encrypted:
        # Each page carries a MAC: SQLCipher names the pages changed since they were written.
        try:
            pages = [str(row[0]) for row in conn.execute("PRAGMA cipher_integrity_check")]
        except sqlite.DatabaseError as exc:
            pages = [str(exc)]
        if pages:
            problems.append(f"encrypted pages fail their check: {'; '.join(pages[:3])}")
    try:
        messages = [str(row[0]) for row in conn.execute("PRAGMA integrity_check(20)")]
    except sqlite.DatabaseError as exc:
        messages = [f"it stops with: {exc}"]
    if messages != ["ok"]:
        named = []
        for message in messages[:3]:
            match = re.search(r"\bTree (\d+)\b", message)
            owner = owners.get(int(match.group(1))) if match else None
            named.append(f"{message} (table {owner})" if owner else message)
        problems.append(f"SQLite's integrity check failed: {'; '.join(named)}")
    return problems


def _content_problems(
    conn: sqlite.Connection,
    info: SnapshotInfo,
    present: Mapping[str, Sequence[str]],
    rows_read: Callable[[int], None],
    cancelled: CancelledFn | None,
) -> list[str]:
    """Every table's rows against the counts and checksums the file was made with."""
    problems: list[str] = []
    names = (set(present) - {INFO_TABLE}) | set(info.table_checksums) | set(info.row_counts)
    for name in sorted(names):
        if name not in present:
            problems.append(f"{name} is missing from the file")
            continue
        try:
            digest, count = _table_digest(conn, name, present[name], rows_read=rows_read, cancelled=cancelled)
        except sqlite.DatabaseError as exc:
            problems.append(f"{name} cannot be read to the end ({exc})")
            continue
        expected = info.row_counts.get(name)
        if expected is not None and count != expected:
            problems.append(f"{name} holds {count:,} rows; the snapshot was made with {expected:,}")
        if digest != info.table_checksums.get(name):
            problems.append(f"the content of {name} does not match its checksum")
    return problems


def iter_tables(info: SnapshotInfo) -> Iterator[tuple[str, int]]:
    """Table names and row counts, biggest first (for `snapshot info`)."""
    yield from sorted(info.row_counts.items(), key=lambda item: (-item[1], item[0]))
