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
import struct
from collections.abc import Callable, Iterator, Mapping, Sequence
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

from ecomdesk.db.base import UTCDateTime
from ecomdesk.db.models import metadata

#: "ECDS" in the SQLite header: this file is an ecomdesk snapshot.
APPLICATION_ID: Final = 0x45434453
#: The layout of the file itself (info table, checksum rule); bumped only when they change.
FORMAT: Final = 1
INFO_TABLE: Final = "snapshot_info"
_BATCH: Final = 5_000
_SQLITE_MAGIC: Final = b"SQLite format 3\x00"
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


def write_snapshot(
    source: Connection,
    target: Path,
    sources: Mapping[str, Select[Any]],
    info: SnapshotInfo,
    *,
    passphrase: str | None = None,
    progress: ProgressFn | None = None,
    cancelled: CancelledFn | None = None,
) -> SnapshotInfo:
    """Copy what `sources` select (table name → rows in `snapshot_columns(table)` order) into a new
    snapshot at `target`, reading everything on `source` — the caller's one transaction.

    Tables not in `sources` are created empty. The file is built under a temporary name beside
    `target` and renamed into place only when complete; a failure or a cancel leaves nothing.
    """
    md = snapshot_metadata()
    total = sum(
        int(source.scalar(select(func.count()).select_from(q.subquery())) or 0) for q in sources.values()
    )
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    partial.unlink(missing_ok=True)
    conn = _connect(partial, passphrase, writable=True)
    try:
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {FORMAT}")
        # Built under a temporary name and renamed when complete: no journal or sync needed meanwhile.
        for pragma in ("journal_mode = OFF", "synchronous = OFF", "cache_size = -65536"):
            conn.execute(f"PRAGMA {pragma}")
        conn.execute("BEGIN")
        conn.execute(f"CREATE TABLE {INFO_TABLE} (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        for table in md.sorted_tables:
            conn.execute(str(CreateTable(table).compile(dialect=_DIALECT)))
        done = 0
        for name, query in sources.items():
            done = _copy_rows(source, conn, md.tables[name], query, done, total, progress, cancelled)
        if progress is not None:
            progress(done, total)
        for table in md.sorted_tables:
            for index in table.indexes:
                conn.execute(str(CreateIndex(index).compile(dialect=_DIALECT)))
        conn.execute("ANALYZE")
        digests = _table_digests(conn)
        counts = {name: _count(conn, name) for name in sorted(md.tables)}
        final = _with_checksums(info, counts, digests, encrypted=passphrase is not None)
        conn.executemany(f"INSERT INTO {INFO_TABLE} (key, value) VALUES (?, ?)", final.as_rows())
        conn.execute("COMMIT")
        conn.execute("PRAGMA journal_mode = DELETE")
        conn.close()
        _fsync(partial)
        partial.replace(target)
        _fsync(target.parent)
        return final
    except BaseException:
        with contextlib.suppress(sqlite.Error):
            conn.close()
        partial.unlink(missing_ok=True)
        raise


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
        while part := cursor.fetchmany(_BATCH):
            if cancelled is not None and cancelled():
                raise SnapshotCancelled()
            conn.executemany(insert, part)
            done += len(part)
            if progress is not None:
                progress(done, total)
    return done


def _stored_form(column: Column[Any], value: ColumnElement[Any]) -> ColumnElement[Any]:
    """`value` as SQLAlchemy's SQLite dialect stores a value of `column`'s type, computed by the server."""
    kind = column.type
    if isinstance(kind, UTCDateTime | DateTime):
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


def _table_digests(conn: sqlite.Connection) -> dict[str, str]:
    """Each table's digest: its columns, then every row in primary-key order."""
    digests: dict[str, str] = {}
    for name, columns in sorted(_file_columns(conn).items()):
        if name == INFO_TABLE:
            continue
        order = ", ".join(f'"{c}"' for c in _primary_key(conn, name)) or "rowid"
        digest = hashlib.sha256(f"{name}({','.join(columns)})\n".encode())
        cursor = conn.execute(f'SELECT * FROM main."{name}" ORDER BY {order}')
        while batch := cursor.fetchmany(_BATCH):
            digest.update(("\n".join(map(repr, batch)) + "\n").encode())
        digests[name] = digest.hexdigest()
    return digests


def _header(path: Path) -> bytes:
    try:
        with path.open("rb") as file:
            return file.read(100)
    except FileNotFoundError as exc:
        raise SnapshotFileError(f"There is no file {path}.") from exc
    except IsADirectoryError as exc:
        raise NotASnapshot(f"{path} is a folder, not a snapshot file.") from exc
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
    schema); raises a `SnapshotFileError` whose message says what is wrong."""
    path = Path(path)
    header = _header(path)
    size = path.stat().st_size
    plain = header.startswith(_SQLITE_MAGIC)
    if size == 0:
        raise NotASnapshot(f"{path.name} is empty: it is not a snapshot.")
    if plain:
        _check_plain_header(path, header, size)
    elif passphrase is None:
        raise PassphraseNeeded(
            f"{path.name} is encrypted or not a snapshot at all. "
            "If it is an encrypted snapshot, enter its passphrase."
        )
    conn = _connect(path, None if plain else passphrase)
    try:
        try:
            if not plain:
                application_id = conn.execute("PRAGMA application_id").fetchone()[0]
                if application_id != APPLICATION_ID:
                    raise NotASnapshot(f"{path.name} is not an ecomdesk snapshot.")
                page_size = conn.execute("PRAGMA page_size").fetchone()[0]
                pages = conn.execute("PRAGMA page_count").fetchone()[0]
                if size < pages * page_size:
                    raise _truncated(path, size, pages * page_size)
            info = _read_info(conn, path)
            compat = _compat_statements(conn, path, info)
        except sqlite.DatabaseError as exc:
            raise _database_error(path, exc, encrypted=not plain) from exc
    finally:
        conn.close()
    return Probe(path, passphrase if not plain else None, info, compat)


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


def _truncated(path: Path, size: int, expected: int) -> SnapshotDamaged:
    return SnapshotDamaged(
        f"{path.name} is incomplete: {size:,} of its {expected:,} bytes are there. "
        "It was cut short while being copied; copy the snapshot again."
    )


def _database_error(path: Path, exc: sqlite.DatabaseError, *, encrypted: bool) -> SnapshotFileError:
    text = str(exc)
    if "not a database" in text or "encrypted" in text:
        if encrypted:
            return WrongPassphrase(f"The passphrase does not open {path.name} (or it is not a snapshot).")
        return NotASnapshot(f"{path.name} is not an ecomdesk snapshot.")
    return SnapshotDamaged(f"{path.name} is damaged ({text}). Copy the snapshot again, or make a new one.")


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
    except (sqlite.OperationalError, KeyError, TypeError, ValueError) as exc:
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


def verify_snapshot(path: Path, passphrase: str | None = None) -> Verification:
    """Everything `probe_snapshot` checks, then SQLite's integrity check and every checksum."""
    probe = probe_snapshot(path, passphrase)
    info = probe.info
    problems: list[str] = []
    conn = _connect(probe.path, probe.passphrase)
    try:
        try:
            integrity = [row[0] for row in conn.execute("PRAGMA integrity_check")]
            if integrity != ["ok"]:
                problems.append(f"SQLite's integrity check failed: {'; '.join(integrity[:3])}")
            counts = {name: _count(conn, name) for name in info.row_counts if name in _file_columns(conn)}
            digests = _table_digests(conn)
        except sqlite.DatabaseError as exc:
            raise _database_error(probe.path, exc, encrypted=info.encrypted) from exc
    finally:
        conn.close()
    for name, expected in sorted(info.row_counts.items()):
        if counts.get(name) != expected:
            found = counts.get(name, 0)
            problems.append(f"{name} holds {found:,} rows; the snapshot was made with {expected:,}")
    for name in sorted(set(digests) | set(info.table_checksums)):
        if digests.get(name) != info.table_checksums.get(name):
            problems.append(f"the content of {name} does not match its checksum")
    if info.content_digest() != info.checksum:
        problems.append("the snapshot's details do not match its checksum")
    return Verification(info, tuple(problems))


def iter_tables(info: SnapshotInfo) -> Iterator[tuple[str, int]]:
    """Table names and row counts, biggest first (for `snapshot info`)."""
    yield from sorted(info.row_counts.items(), key=lambda item: (-item[1], item[0]))
