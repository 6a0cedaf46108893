"""Offline snapshots: who may take one, what goes in, and opening one as a read-only shop.

A snapshot is taken in one REPEATABLE READ, READ ONLY transaction, so every table shows the same
moment. It holds what its maker may read, nothing more: a manager without `audit.read` takes no
activity log with them, and someone without `users.read` only their own account. The app then
opens it as that person, with the rights they had: every page they saw, and no other.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Select, select, text
from sqlalchemy.orm import Session

from ecomdesk import __version__
from ecomdesk.db import snapshot as files
from ecomdesk.db.models import (
    DeviceSession,
    FileBlob,
    StoredFile,
    SystemSetting,
    UserProfile,
    metadata,
)
from ecomdesk.db.snapshot import (
    CancelledFn,
    PassphraseNeeded,
    ProgressFn,
    SnapshotCancelled,
    SnapshotFileError,
    SnapshotInfo,
    WrongPassphrase,
)
from ecomdesk.services.context import Actor, ServiceContext, database_errors, load_actor
from ecomdesk.services.errors import PermissionDenied, ReadOnlyError, SnapshotError, ValidationError

__all__ = [
    "SnapshotCancelled",
    "SnapshotError",
    "SnapshotInfo",
    "SnapshotService",
    "snapshot_errors",
]

#: The tables each read permission opens; a table in none of these is always copied.
TABLES_BY_PERMISSION: Final[Mapping[str, tuple[str, ...]]] = {
    "inventory.read": ("inventory_items", "stock_movements"),
    "analytics.read": (
        "analytics_data", "sales_metrics", "customer_metrics", "order_events", "order_lines",
        "customers", "customer_periods", "item_sales_daily",
    ),
    "reports.read": ("reports", "report_chunks"),
    "audit.read": ("audit_log",),
    # Event payloads carry customers' orders and staff e-mail addresses: only for who manages them.
    "integrations.manage": (
        "webhook_endpoints", "webhook_events", "webhook_deliveries", "webhook_attempts", "inbound_events",
        "email_messages",
    ),
}  # fmt: skip
#: Work in progress and bookkeeping, not the shop's data: a snapshot has no queue, no live feed and
#: no workers.
NEVER_COPIED: Final = frozenset({"jobs", "change_log", "worker_heartbeats", "schedule_marks"})
#: Copied whole with `users.read` (`sessions.manage` for devices), else only the maker's own rows.
PERSONAL: Final = frozenset({"users", "user_profiles", "device_sessions", "files", "file_blobs"})


@contextlib.contextmanager
def snapshot_errors() -> Iterator[None]:
    """A file problem from the data layer as the service error the UI and CLI explain."""
    try:
        yield
    except SnapshotFileError as exc:
        raise SnapshotError(
            exc.message,
            passphrase_needed=isinstance(exc, PassphraseNeeded),
            wrong_passphrase=isinstance(exc, WrongPassphrase),
        ) from exc


@contextlib.contextmanager
def _writing(target: Path) -> Iterator[None]:
    """A file that cannot be written (disk full, no permission) as a message on the file field."""
    try:
        yield
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ValidationError({"file": f"{target} cannot be written: {reason}."}) from exc


class SnapshotService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def create(
        self,
        actor: Actor,
        target: Path,
        *,
        passphrase: str | None = None,
        source_label: str = "",
        progress: ProgressFn | None = None,
        cancelled: CancelledFn | None = None,
    ) -> SnapshotInfo:
        """Write a snapshot of everything `actor` may read to `target` (replaced if it exists).

        Raises `SnapshotCancelled` when `cancelled()` says so; no file is left behind then, nor
        after any failure. The audit entry is written once the file is complete (the copy itself
        runs in a read-only transaction); if it cannot be written, the file is removed again.
        """
        if self.ctx.read_only:
            raise ReadOnlyError("This window shows a snapshot already: copy its file instead.")
        target = Path(target)
        if passphrase is not None and not passphrase:
            raise ValidationError({"passphrase": "Enter a passphrase, or make the snapshot without one."})
        if not target.parent.is_dir():
            raise ValidationError({"file": f"The folder {target.parent} does not exist."})
        if target.is_dir():
            raise ValidationError({"file": f"{target} is a folder; choose a file name."})
        now = self.ctx.clock()
        engine = self.ctx.engine
        writer = files.SnapshotWriter(target, passphrase=passphrase, progress=progress, cancelled=cancelled)
        with database_errors(), snapshot_errors(), _writing(target), writer:
            with engine.connect() as conn:
                conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
                with conn.begin():
                    session = Session(bind=conn)
                    current = load_actor(session, actor.user_id, actor.session_id, now)
                    if not current.can("snapshot.create"):
                        raise PermissionDenied("snapshot.create")
                    sources, left_out = self._sources(current)
                    info = SnapshotInfo(
                        format=files.FORMAT,
                        created_at=now,
                        created_by=current.email,
                        created_by_name=current.display_name,
                        creator_id=current.user_id,
                        shop_name=_shop_name(session),
                        source_server=source_label or engine.url.render_as_string(hide_password=True),
                        source_database=str(conn.scalar(text("SELECT current_database()"))),
                        server_version=str(conn.scalar(text("SHOW server_version"))),
                        schema_revision=str(conn.scalar(text("SELECT version_num FROM alembic_version"))),
                        app_version=__version__,
                        row_counts={},
                        left_out=left_out,
                    )
                    writer.copy(conn, sources)
            # The server's transaction has ended: indexing and checksums hold no snapshot open there.
            made = writer.finish(info)
        try:
            with self.ctx.write(actor, "snapshot.create") as uow:
                uow.audit(
                    "snapshot.created",
                    "snapshot",
                    target.name,
                    after={
                        "file": str(target),
                        "rows": sum(made.row_counts.values()),
                        "left_out": sorted(made.left_out),
                        "encrypted": made.encrypted,
                        "checksum": made.checksum,
                    },
                )
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        return made

    def _sources(self, actor: Actor) -> tuple[dict[str, Select[Any]], dict[str, str]]:
        """What to copy of each table for `actor`, and why the rest stays out."""
        tables = files.snapshot_metadata().tables
        sources: dict[str, Select[Any]] = {}
        left_out: dict[str, str] = {}
        guarded = {table: permission for permission, names in TABLES_BY_PERMISSION.items() for table in names}
        for name in sorted(metadata.tables):
            if name in NEVER_COPIED:
                left_out[name] = "not part of the shop's data"
                continue
            permission = guarded.get(name)
            if permission is not None and not actor.can(permission):
                left_out[name] = f"needs {permission}"
                continue
            columns = [metadata.tables[name].c[c.name] for c in tables[name].columns]
            query = select(*columns)
            if name in PERSONAL:
                query = _personal(name, query, actor)
            sources[name] = query
        return sources, left_out


def _personal(name: str, query: Select[Any], actor: Actor) -> Select[Any]:
    """Staff accounts, devices and pictures: everyone's with the right to see them, else one's own."""
    users = metadata.tables["users"]
    if name == "device_sessions":
        if actor.can("sessions.manage"):
            return query
        return query.where(DeviceSession.user_id == actor.user_id)
    if actor.can("users.read"):
        return query
    if name == "users":
        return query.where(users.c.id == actor.user_id)
    if name == "user_profiles":
        return query.where(UserProfile.user_id == actor.user_id)
    avatars = select(UserProfile.avatar_file_id).where(UserProfile.user_id == actor.user_id)
    if name == "files":
        return query.where(StoredFile.id.in_(avatars.scalar_subquery()))
    shas = select(StoredFile.sha256).where(StoredFile.id.in_(avatars.scalar_subquery()))
    return query.where(FileBlob.sha256.in_(shas.scalar_subquery()))


def _shop_name(session: Session) -> str:
    value = session.scalar(select(SystemSetting.value).where(SystemSetting.key == "shop.name"))
    return value if isinstance(value, str) and value else "the shop"


def snapshot_actor(ctx: ServiceContext, info: SnapshotInfo) -> Actor:
    """Who a snapshot opens as: its maker, with the rights they had when they took it."""
    with ctx.read(None, None) as uow:
        return load_actor(uow.session, info.creator_id, None, info.created_at)
