"""Roles and the permissions they grant.

The built-in admin role holds every permission and cannot be edited (so the shop can always be
administered); the other built-ins can have their permissions tuned but keep their names. A change
takes effect for every signed-in user at their next call, because each call re-reads the actor.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, delete, func, insert, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ecomdesk.db.catalog import ADMIN
from ecomdesk.db.models import Permission, Role, User, role_permissions
from ecomdesk.services.access import ensure_may_grant, require_actor
from ecomdesk.services.context import Actor, ServiceContext, UnitOfWork, flush_unique
from ecomdesk.services.errors import Conflict, NotFound, PermissionDenied, ValidationError
from ecomdesk.services.listing import SortKey, like_pattern
from ecomdesk.services.tables import Column, Kind, Source, SqlTable, TableSpec

MAX_NAME = 64
NAME_TAKEN = "Another role already has this name."


@dataclass(frozen=True)
class PermissionInfo:
    code: str
    description: str


@dataclass(frozen=True)
class RoleInfo:
    id: int
    name: str
    description: str
    is_builtin: bool
    #: The built-in admin role: shown, never edited.
    locked: bool
    permissions: frozenset[str]
    user_count: int
    updated_at: dt.datetime


@dataclass(frozen=True)
class RoleChange:
    """What a save changed, for the screen to confirm it in words."""

    role: RoleInfo
    added: frozenset[str]
    removed: frozenset[str]
    renamed_from: str | None


@dataclass(frozen=True)
class RoleRow:
    """A role as the roles grid and its export show it."""

    id: int
    name: str
    description: str
    is_builtin: bool
    user_count: int
    permission_count: int
    permissions: str
    updated_at: dt.datetime


ROLES_SPEC = TableSpec(
    name="roles",
    title="Roles",
    singular="role",
    plural="roles",
    columns=(
        Column("name", "Role"),
        Column("description", "Description"),
        Column("is_builtin", "Built-in", Kind.BOOL),
        Column("user_count", "Users", Kind.INTEGER),
        Column("permission_count", "Permissions", Kind.INTEGER),
        Column("permissions", "Granted", sortable=False, shown=False),
        Column("updated_at", "Changed", Kind.DATETIME),
    ),
    default_sort=(SortKey("is_builtin", descending=True), SortKey("name")),
    search_hint="Search roles",
)


class RolesTable(SqlTable[RoleRow]):
    """Readable with `users.read` or `roles.manage`, like `RoleService.list_roles`."""

    spec = ROLES_SPEC

    def authorise(self, uow: UnitOfWork) -> None:
        me = require_actor(uow)
        if not (me.can("users.read") or me.can("roles.manage")):
            raise PermissionDenied("users.read")

    def source(self) -> Source:
        role, grants = Role.__table__.c, role_permissions.c
        users = select(func.count()).where(User.__table__.c.role_id == role.id).scalar_subquery()
        mine = grants.role_id == role.id
        # string_agg on the server, group_concat on a snapshot; both ordered.
        codes = func.aggregate_strings(grants.permission_code, ", ").aggregate_order_by(
            grants.permission_code
        )
        return Source(
            from_=Role.__table__,
            columns={
                "name": role.name,
                "description": role.description,
                "is_builtin": role.is_builtin,
                "user_count": users,
                "permission_count": select(func.count()).where(mine).scalar_subquery(),
                "permissions": func.coalesce(select(codes).where(mine).scalar_subquery(), ""),
                "updated_at": role.updated_at,
            },
            primary_key=role.id,
            extra={"id": role.id},
            sort={"name": func.lower(role.name)},
        )

    def search(self, text: str) -> ColumnElement[bool]:
        pattern = like_pattern(text)
        role = Role.__table__.c
        return role.name.ilike(pattern, escape="\\") | role.description.ilike(pattern, escape="\\")

    def record(self, row: RowMapping) -> RoleRow:
        return RoleRow(**{name: row[name] for name in RoleRow.__dataclass_fields__})


def _is_admin(role: Role) -> bool:
    return role.is_builtin and role.name.lower() == ADMIN


class RoleService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def list_permissions(self, actor: Actor) -> list[PermissionInfo]:
        """The catalogue with plain-language descriptions (any signed-in user may read it)."""
        with self.ctx.read(actor, None) as uow:
            rows = uow.session.execute(
                select(Permission.code, Permission.description).order_by(Permission.code)
            )
            return [PermissionInfo(code, description) for code, description in rows]

    def list_roles(self, actor: Actor) -> list[RoleInfo]:
        """Every role with its permissions and how many users hold it (`users.read` or
        `roles.manage`: the users page needs role names, the roles page everything)."""
        with self.ctx.read(actor, None) as uow:
            me = require_actor(uow)
            if not (me.can("users.read") or me.can("roles.manage")):
                raise PermissionDenied("users.read")
            roles = uow.session.scalars(select(Role).order_by(Role.is_builtin.desc(), func.lower(Role.name)))
            return self._infos(uow.session, list(roles))

    def create_role(
        self, actor: Actor, name: str, permissions: frozenset[str], description: str = ""
    ) -> RoleInfo:
        with self.ctx.write(actor, "roles.manage") as uow:
            me = require_actor(uow)
            clean = self._validate(uow.session, name, permissions, description, role_id=None)
            ensure_may_grant(me, frozenset(permissions), "create a role with these rights")
            role = Role(name=clean, description=description.strip(), is_builtin=False)
            uow.session.add(role)
            flush_unique(uow.session, "uq_roles_name_lower", "name", NAME_TAKEN)
            self._set_permissions(uow.session, role.id, frozenset(permissions))
            info = self._info(uow.session, role)
            uow.audit("role.created", "role", role.id, after=_snapshot(info))
            return info

    def update_role(
        self,
        actor: Actor,
        role_id: int,
        *,
        name: str,
        permissions: frozenset[str],
        description: str | None = None,
        expected: RoleInfo | None = None,
    ) -> RoleChange:
        """Rename, describe and set the permissions of a role in one save (`description` None keeps
        it). With `expected` (as the screen showed it), a change someone else saved meanwhile
        raises `Conflict`."""
        with self.ctx.write(actor, "roles.manage") as uow:
            me = require_actor(uow)
            role = uow.session.get(Role, role_id, with_for_update={"key_share": True})
            if role is None:
                raise NotFound("That role no longer exists.")
            before = self._info(uow.session, role)
            if expected is not None and (before.name, before.description, before.permissions) != (
                expected.name,
                expected.description,
                expected.permissions,
            ):
                raise Conflict(f"The role {before.name} was changed by someone else. Reload to see it.")
            if _is_admin(role):
                raise Conflict("The built-in admin role always holds every permission and cannot be changed.")
            if description is None:
                description = role.description
            clean = self._validate(uow.session, name, permissions, description, role_id=role_id)
            if role.is_builtin and clean != role.name:
                raise ValidationError({"name": "Built-in roles keep their names."})
            wanted = frozenset(permissions)
            added, removed = wanted - before.permissions, before.permissions - wanted
            ensure_may_grant(me, added | removed, "change these rights")
            renamed_from = role.name if clean != role.name else None
            role.name = clean
            role.description = description.strip()
            if added or removed:
                role.updated_at = func.now()  # the role changed even when only its grants did
            flush_unique(uow.session, "uq_roles_name_lower", "name", NAME_TAKEN)
            self._set_permissions(uow.session, role.id, wanted)
            uow.session.flush()
            uow.session.refresh(role)
            after = self._info(uow.session, role)
            if added or removed or renamed_from or before.description != after.description:
                uow.audit(
                    "role.updated",
                    "role",
                    role.id,
                    before=_snapshot(before),
                    after={**_snapshot(after), "added": sorted(added), "removed": sorted(removed)},
                )
            return RoleChange(after, added, removed, renamed_from)

    def delete_role(self, actor: Actor, role_id: int) -> None:
        with self.ctx.write(actor, "roles.manage") as uow:
            me = require_actor(uow)
            role = uow.session.get(Role, role_id, with_for_update=True)
            if role is None:
                raise NotFound("That role no longer exists.")
            if role.is_builtin:
                raise Conflict(f"{role.name} is a built-in role and cannot be deleted.")
            info = self._info(uow.session, role)
            if info.user_count:
                holders = "1 user holds" if info.user_count == 1 else f"{info.user_count} users hold"
                raise Conflict(f"{holders} the role {role.name}: give them another role first.")
            ensure_may_grant(me, info.permissions, "delete this role")
            uow.session.delete(role)
            try:
                with uow.session.begin_nested():
                    uow.session.flush()
            except IntegrityError as exc:  # someone was given the role meanwhile
                raise Conflict(f"The role {info.name} was just given to someone; it is kept.") from exc
            uow.audit("role.deleted", "role", role_id, before=_snapshot(info))

    # -- helpers ----------------------------------------------------------------------------

    @classmethod
    def _info(cls, session: Session, role: Role) -> RoleInfo:
        return cls._infos(session, [role])[0]

    @staticmethod
    def _infos(session: Session, roles: list[Role]) -> list[RoleInfo]:
        """Roles with their grants and holder counts: two queries however many roles."""
        ids = [role.id for role in roles]
        held = select(User.role_id, func.count()).where(User.role_id.in_(ids)).group_by(User.role_id)
        counts: dict[int, int] = {role_id: count for role_id, count in session.execute(held)}
        grants: dict[int, set[str]] = {role_id: set() for role_id in ids}
        rows = select(role_permissions.c.role_id, role_permissions.c.permission_code).where(
            role_permissions.c.role_id.in_(ids)
        )
        for role_id, code in session.execute(rows):
            grants[role_id].add(code)
        return [
            RoleInfo(
                role.id,
                role.name,
                role.description,
                role.is_builtin,
                _is_admin(role),
                frozenset(grants[role.id]),
                counts.get(role.id, 0),
                role.updated_at,
            )
            for role in roles
        ]

    @staticmethod
    def _validate(
        session: Session, name: str, permissions: frozenset[str], description: str, role_id: int | None
    ) -> str:
        problems: dict[str, str] = {}
        clean = " ".join(name.split())
        if not clean:
            problems["name"] = "Required."
        elif len(clean) > MAX_NAME:
            problems["name"] = f"At most {MAX_NAME} characters."
        else:
            clash = select(Role.id).where(func.lower(Role.name) == clean.lower())
            if role_id is not None:
                clash = clash.where(Role.id != role_id)
            if session.scalar(clash) is not None:
                problems["name"] = NAME_TAKEN
        known = set(session.scalars(select(Permission.code)))
        unknown = sorted(set(permissions) - known)
        if unknown:
            problems["permissions"] = f"Unknown permission: {', '.join(unknown)}."
        if len(description) > 1000:
            problems["description"] = "At most 1000 characters."
        if problems:
            raise ValidationError(problems)
        return clean

    @staticmethod
    def _set_permissions(session: Session, role_id: int, permissions: frozenset[str]) -> None:
        session.execute(delete(role_permissions).where(role_permissions.c.role_id == role_id))
        if permissions:
            session.execute(
                insert(role_permissions),
                [{"role_id": role_id, "permission_code": code} for code in sorted(permissions)],
            )


def _snapshot(info: RoleInfo) -> dict[str, object]:
    return {"name": info.name, "description": info.description, "permissions": sorted(info.permissions)}
