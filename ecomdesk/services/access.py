"""Guards shared by the identity services: who may hand out which rights, and the shop must keep
at least one active administrator."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from ecomdesk.db.catalog import ADMIN, PERMISSIONS
from ecomdesk.db.models import DeviceSession, Role, User, UserProfile
from ecomdesk.services.context import Actor, UnitOfWork, role_permission_set
from ecomdesk.services.errors import Conflict, PermissionDenied


def require_actor(uow: UnitOfWork) -> Actor:
    """The signed-in actor of a unit that needs one (the context has already checked it)."""
    if uow.actor is None:
        raise PermissionDenied("", "Please sign in first.")
    return uow.actor


def ensure_may_grant(actor: Actor, permissions: frozenset[str], what: str) -> None:
    """Nobody hands out (or takes over an account holding) rights they don't hold themselves:
    otherwise `users.write` alone would be a path to admin."""
    missing = sorted(permissions - actor.permissions)
    if missing:
        raise PermissionDenied(
            missing[0],
            f"You cannot {what}: it involves rights you don't have yourself ({', '.join(missing)}).",
        )


def ensure_may_grant_role(session: Session, actor: Actor, role_id: int, what: str) -> None:
    """`ensure_may_grant` for everything role `role_id` holds (giving it, or acting on its holder)."""
    ensure_may_grant(actor, role_permission_set(session, role_id), what)


def admin_role_id(session: Session, *, lock: bool = False) -> int:
    """The built-in admin role; locking its row serialises every change that could leave the shop
    without an active admin (two admins demoting each other at once).

    Row locks in the identity services are `FOR NO KEY UPDATE`: they exclude each other but not the
    `KEY SHARE` locks of foreign-key checks, so an audit entry naming a locked user never waits."""
    stmt = select(Role.id).where(Role.is_builtin.is_(True), func.lower(Role.name) == ADMIN)
    if lock:
        stmt = stmt.with_for_update(key_share=True)
    return session.scalars(stmt).one()


def active_admin_count(session: Session, admin_id: int, *, excluding: int | None = None) -> int:
    stmt = (
        select(func.count())
        .select_from(User)
        .join(UserProfile, UserProfile.user_id == User.id)
        .where(User.role_id == admin_id, UserProfile.is_active.is_(True), User.locked_at.is_(None))
    )
    if excluding is not None:
        stmt = stmt.where(User.id != excluding)
    return session.scalar(stmt) or 0


def ensure_not_last_admin(session: Session, user: User, what: str) -> None:
    """Refuse `what` when `user` is the last active admin."""
    admin_id = admin_role_id(session, lock=True)
    if user.role_id == admin_id and active_admin_count(session, admin_id, excluding=user.id) == 0:
        raise Conflict(
            f"Cannot {what}: {user.email} is the last active administrator. "
            "Make someone else an administrator first."
        )


def revoke_live_sessions(session: Session, user_id: int, now: dt.datetime, keep: int | None = None) -> int:
    """Revoke a user's live device sessions (all but `keep`); returns how many ended."""
    stmt = (
        update(DeviceSession)
        .where(
            DeviceSession.user_id == user_id,
            DeviceSession.revoked_at.is_(None),
            DeviceSession.expires_at > now,
        )
        .values(revoked_at=now)
    )
    if keep is not None:
        stmt = stmt.where(DeviceSession.id != keep)
    result: CursorResult[Any] = session.execute(stmt)  # type: ignore[assignment]
    return result.rowcount or 0


def describe_permission(code: str) -> str:
    """The plain-language description of a permission of the catalogue (the code itself if unknown)."""
    return PERMISSIONS.get(code, code)
