"""Units of work: every service call opens one, checks who is acting and what they may do,
does its work, writes the audit trail in the same transaction, and commits — or changes nothing."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

import psycopg
from sqlalchemy import Engine, select
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session

from ecomdesk.db.engine import make_session_factory
from ecomdesk.db.models import AuditEntry, DeviceSession, Role, User, UserProfile, role_permissions
from ecomdesk.services.errors import (
    AuthenticationError,
    Conflict,
    PermissionDenied,
    ReadOnlyError,
    SnapshotError,
    Unavailable,
    ValidationError,
)

log = logging.getLogger(__name__)

#: Keys never written to the audit trail or logs, wherever they appear in a payload.
SECRET_KEYS: Final = frozenset(
    {"password", "new_password", "password_hash", "token", "token_hash", "secret", "temporary_password"}
)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def redact(value: Any) -> Any:
    """A copy of `value` with every secret key removed, at any depth."""
    if isinstance(value, Mapping):
        return {k: redact(v) for k, v in value.items() if str(k).lower() not in SECRET_KEYS}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


@dataclass(frozen=True)
class Actor:
    """Who is acting. Re-read from the database at every call, so a changed role, a deactivation
    or a revoked device session takes effect on the very next call."""

    user_id: int
    email: str
    role: str
    permissions: frozenset[str]
    session_id: int | None = None
    display_name: str = ""
    #: Set after an admin reset: until the user picks a new password, only that is allowed.
    must_change_password: bool = False

    def can(self, permission: str) -> bool:
        return permission in self.permissions


class UnitOfWork:
    """One transaction, the acting user as of now, and the audit trail."""

    def __init__(self, session: Session, actor: Actor | None, now: dt.datetime) -> None:
        self.session = session
        self.actor = actor
        self.now = now

    def audit(
        self,
        action: str,
        entity_type: str,
        entity_id: object = None,
        *,
        before: Mapping[str, Any] | None = None,
        after: Mapping[str, Any] | None = None,
        actor_email: str | None = None,
    ) -> None:
        self.session.add(
            AuditEntry(
                occurred_at=self.now,
                actor_id=self.actor.user_id if self.actor else None,
                actor_email=self.actor.email if self.actor else actor_email,
                action=action,
                entity_type=entity_type,
                entity_id=None if entity_id is None else str(entity_id),
                before=redact(dict(before)) if before is not None else None,
                after=redact(dict(after)) if after is not None else None,
            )
        )


def flush_unique(session: Session, index: str, field: str, message: str) -> None:
    """Flush; a lost race on the unique `index` becomes the same `ValidationError` on `field`
    that the check before it gives, instead of an IntegrityError."""
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        if index in str(exc.orig):
            raise ValidationError({field: message}) from exc
        raise


def role_permission_set(session: Session, role_id: int) -> frozenset[str]:
    """What a role may do, as the database says now."""
    stmt = select(role_permissions.c.permission_code).where(role_permissions.c.role_id == role_id)
    return frozenset(session.scalars(stmt))


def load_actor(session: Session, user_id: int, session_id: int | None, now: dt.datetime) -> Actor:
    """The acting user as the database says now; refuses ended sessions and disabled accounts."""
    row = session.execute(
        select(
            User.id,
            User.email,
            User.locked_at,
            User.must_change_password,
            Role.name,
            Role.id.label("role_id"),
            UserProfile.is_active,
            UserProfile.first_name,
            UserProfile.last_name,
        )
        .join(Role, Role.id == User.role_id)
        .join(UserProfile, UserProfile.user_id == User.id)
        .where(User.id == user_id)
    ).one_or_none()
    if row is None or not row.is_active or row.locked_at is not None:
        raise AuthenticationError("Your account is no longer active. Please sign in again.")
    if session_id is not None:
        device = session.get(DeviceSession, session_id)
        ended = device is None or device.revoked_at is not None or device.expires_at <= now
        if ended or device is None or device.user_id != user_id:
            raise AuthenticationError("This sign-in has ended (signed out or revoked). Please sign in again.")
    permissions = role_permission_set(session, row.role_id)
    name = f"{row.first_name} {row.last_name}".strip()
    return Actor(row.id, row.email, row.name, permissions, session_id, name, row.must_change_password)


@contextmanager
def database_errors() -> Iterator[None]:
    """The database's expected failures as the service errors the UI explains: a lost or
    unreachable server is `Unavailable`, a deadlock or serialization failure a `Conflict`."""
    try:
        yield
    except (OperationalError, InterfaceError, psycopg.OperationalError, psycopg.InterfaceError) as exc:
        # psycopg's own errors come from work done on the driver's connection (COPY in exports and
        # imports): SQLAlchemy never saw them, so they are not wrapped.
        orig = exc.orig if isinstance(exc, DBAPIError) else exc
        sqlstate = str(getattr(orig, "sqlstate", None) or "")
        if sqlstate.startswith("40"):
            # A deadlock or serialization failure: the other transaction went through.
            raise Conflict(
                "Someone else changed the same data at the same moment. Nothing was changed; try again."
            ) from exc
        if sqlstate == "57014":
            raise Unavailable(
                "The database took too long to answer and the request was cancelled. Nothing was changed."
            ) from exc
        raise Unavailable(
            "The database cannot be reached right now. Nothing was changed; try again in a moment."
        ) from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise Unavailable("The connection to the database was lost. Nothing was changed.") from exc
        raise


class ServiceContext:
    """What every service shares: the engine, the clock, and whether writes are allowed at all."""

    def __init__(
        self, engine: Engine, *, read_only: bool = False, clock: Callable[[], dt.datetime] = utcnow
    ) -> None:
        self.engine = engine
        self.read_only = read_only
        self.clock = clock
        self._sessions = make_session_factory(engine)

    @contextmanager
    def read(self, actor: Actor | None, permission: str | None) -> Iterator[UnitOfWork]:
        """A read-only unit: nothing is committed."""
        with self._unit(actor, permission) as uow:
            yield uow
            uow.session.rollback()

    @contextmanager
    def write(self, actor: Actor | None, permission: str | None) -> Iterator[UnitOfWork]:
        """A unit that commits when the block ends without an error, else rolls everything back."""
        if self.read_only:
            raise ReadOnlyError()
        with self._unit(actor, permission) as uow:
            yield uow
            uow.session.commit()

    @contextmanager
    def _unit(self, actor: Actor | None, permission: str | None) -> Iterator[UnitOfWork]:
        with database_errors(), self._file_errors(), self._sessions() as session:
            now = self.clock()
            current = self._authorise(session, actor, permission, now)
            yield UnitOfWork(session, current, now)

    @contextmanager
    def _file_errors(self) -> Iterator[None]:
        """On a snapshot, SQLite's complaints about the file itself (damaged, gone) as a message."""
        try:
            yield
        except DBAPIError as exc:
            if self.engine.dialect.name != "sqlite":
                raise
            message = str(exc.orig)
            if any(part in message for part in ("malformed", "not a database", "disk I/O", "unable to open")):
                raise SnapshotError(
                    f"The snapshot file cannot be read any more ({message}). It is damaged or was moved; "
                    "open it again, or make a new one."
                ) from exc
            raise

    def _authorise(
        self, session: Session, actor: Actor | None, permission: str | None, now: dt.datetime
    ) -> Actor | None:
        if actor is None:
            if permission is not None:
                raise PermissionDenied(permission, "Please sign in first.")
            return None
        current = load_actor(session, actor.user_id, actor.session_id, now)
        if permission is not None and current.must_change_password:
            raise PermissionDenied(permission, "Please choose a new password first.")
        if permission is not None and not current.can(permission):
            raise PermissionDenied(permission)
        return current
