"""Staff accounts and their profiles: listing, creating, editing, (de)activating, deleting, and an
administrator's password reset.

Guards: nobody deletes or deactivates themself; the last active administrator cannot be removed,
demoted or deactivated; and nobody grants or takes over rights they don't hold themselves.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import ColumnElement, Select, case, func, or_, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.orm import Session

from ecomdesk.db.models import Role, User, UserProfile
from ecomdesk.services import events, files
from ecomdesk.services.access import (
    ensure_may_grant_role,
    ensure_not_last_admin,
    require_actor,
    revoke_live_sessions,
)
from ecomdesk.services.context import Actor, ServiceContext, UnitOfWork, flush_unique
from ecomdesk.services.errors import Conflict, NotFound, PermissionDenied, ValidationError
from ecomdesk.services.listing import ListQuery, Page, SortKey, like_pattern
from ecomdesk.services.passwords import hash_password
from ecomdesk.services.policy import check_new_password
from ecomdesk.services.tables import (
    Choice,
    Column,
    FilterKind,
    FilterSpec,
    Kind,
    Source,
    SqlTable,
    TableSpec,
)

EMAIL_RE: Final = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
PHONE_RE: Final = re.compile(r"^\+?[0-9 ()./-]+$")
EMAIL_TAKEN: Final = "Another account already uses this email address."
#: Unambiguous characters for temporary passwords read aloud or copied by hand.
_TEMP_ALPHABET: Final = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


@dataclass(frozen=True)
class UserRecord:
    """One staff account with its profile, as every screen and report sees it (no secrets)."""

    id: int
    email: str
    first_name: str
    last_name: str
    role_id: int
    role: str
    is_active: bool
    locked: bool
    must_change_password: bool
    phone: str | None
    address: str | None
    avatar_file_id: int | None
    last_login_at: dt.datetime | None
    created_at: dt.datetime
    #: The later of the account's and the profile's last change.
    updated_at: dt.datetime

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


@dataclass(frozen=True)
class UserFields:
    """What a create or edit form holds."""

    email: str
    first_name: str
    last_name: str
    role_id: int
    phone: str | None = None
    address: str | None = None


@dataclass(frozen=True)
class ProfileFields:
    """What every user may change about themself."""

    first_name: str
    last_name: str
    phone: str | None = None
    address: str | None = None


@dataclass(frozen=True)
class NewAccount:
    """A created account, and its temporary password when one was generated (shown once)."""

    user: UserRecord
    temporary_password: str | None

    def __repr__(self) -> str:
        return f"NewAccount(user={self.user.email!r})"


def generate_temporary_password() -> str:
    """Four groups of five unambiguous characters (about 115 bits), e.g. `k3Tqz-…`."""
    return "-".join("".join(secrets.choice(_TEMP_ALPHABET) for _ in range(5)) for _ in range(4))


USERS_SPEC: Final = TableSpec(
    name="users",
    title="Users",
    singular="user",
    plural="users",
    columns=(
        Column("email", "Email"),
        Column("full_name", "Name"),
        Column("first_name", "First name", shown=False),
        Column("last_name", "Last name", shown=False),
        Column("role", "Role"),
        Column("is_active", "Active", Kind.BOOL),
        Column("locked", "Locked", Kind.BOOL, shown=False),
        Column("phone", "Phone", shown=False),
        Column("last_login_at", "Last sign-in", Kind.DATETIME),
        Column("created_at", "Created", Kind.DATETIME),
    ),
    default_sort=(SortKey("email"),),
    filters=(
        FilterSpec("role_id", "Role", FilterKind.CHOICE),
        FilterSpec("active", "State", FilterKind.FLAG, ("Active", "Deactivated")),
    ),
    search_hint="Search email or name",
)


class UsersTable(SqlTable[UserRecord]):
    """Staff accounts with their profiles and role names. Filters: `role_id`, `active`, `locked`."""

    spec = USERS_SPEC
    permission = "users.read"

    def source(self) -> Source:
        user, profile, role = User.__table__.c, UserProfile.__table__.c, Role.__table__.c
        surname_first = func.lower(profile.last_name + " " + profile.first_name)
        return Source(
            from_=User.__table__.join(UserProfile.__table__, profile.user_id == user.id).join(
                Role.__table__, role.id == user.role_id
            ),
            columns={
                "email": user.email,
                "full_name": func.trim(profile.first_name + " " + profile.last_name),
                "first_name": profile.first_name,
                "last_name": profile.last_name,
                "role": role.name,
                "is_active": profile.is_active,
                "locked": user.locked_at.is_not(None),
                "phone": profile.phone,
                "last_login_at": user.last_login_at,
                "created_at": user.created_at,
            },
            primary_key=user.id,
            extra={
                "id": user.id,
                "role_id": user.role_id,
                "must_change_password": user.must_change_password,
                "address": profile.address,
                "avatar_file_id": profile.avatar_file_id,
                # (not greatest(): a CASE is typed by its branches, so a snapshot reads a moment too)
                "updated_at": case(
                    (user.updated_at >= profile.updated_at, user.updated_at), else_=profile.updated_at
                ),
            },
            sort={
                "email": func.lower(user.email),
                "full_name": surname_first,
                "name": surname_first,
                "first_name": func.lower(profile.first_name),
                "last_name": func.lower(profile.last_name),
                "role": func.lower(role.name),
            },
        )

    def search(self, text: str) -> ColumnElement[bool]:
        pattern = like_pattern(text)
        profile = UserProfile.__table__.c
        return or_(
            User.__table__.c.email.ilike(pattern, escape="\\"),
            (profile.first_name + " " + profile.last_name).ilike(pattern, escape="\\"),
            (profile.last_name + " " + profile.first_name).ilike(pattern, escape="\\"),
        )

    def filter(self, key: str, value: Any) -> ColumnElement[bool]:
        match key:
            case "role_id":
                if not isinstance(value, int) or isinstance(value, bool):
                    raise ValidationError({key: "Expected a role id."})
                return User.__table__.c.role_id == value
            case "active" | "locked":
                if not isinstance(value, bool):
                    raise ValidationError({key: "Expected true or false."})
                column = UserProfile.__table__.c.is_active if key == "active" else User.__table__.c.locked_at
                condition = column.is_(True) if key == "active" else column.is_not(None)
                return condition if value else ~condition
        return super().filter(key, value)

    def record(self, row: RowMapping) -> UserRecord:
        return UserRecord(**{name: row[name] for name in UserRecord.__dataclass_fields__})

    def choices_query(self, session: Session, key: str) -> list[Choice]:
        if key != "role_id":
            return super().choices_query(session, key)
        roles = session.execute(
            select(Role.id, Role.name).order_by(Role.is_builtin.desc(), func.lower(Role.name))
        )
        return [Choice(role_id, name) for role_id, name in roles]


def _base_select() -> Select[User, UserProfile, str]:
    return (
        select(User, UserProfile, Role.name)
        .join(UserProfile, UserProfile.user_id == User.id)
        .join(Role, Role.id == User.role_id)
    )


def _record(user: User, profile: UserProfile, role: str) -> UserRecord:
    return UserRecord(
        id=user.id,
        email=user.email,
        first_name=profile.first_name,
        last_name=profile.last_name,
        role_id=user.role_id,
        role=role,
        is_active=profile.is_active,
        locked=user.locked_at is not None,
        must_change_password=user.must_change_password,
        phone=profile.phone,
        address=profile.address,
        avatar_file_id=profile.avatar_file_id,
        last_login_at=user.last_login_at,
        created_at=user.created_at,
        updated_at=max(user.updated_at, profile.updated_at),
    )


def _snapshot(record: UserRecord) -> dict[str, Any]:
    """The audit trail's view of a user (never any secret)."""
    return {
        "email": record.email,
        "first_name": record.first_name,
        "last_name": record.last_name,
        "role": record.role,
        "phone": record.phone,
        "address": record.address,
        "is_active": record.is_active,
        "avatar_file_id": record.avatar_file_id,
    }


def _created_event(record: UserRecord) -> dict[str, Any]:
    """`user.created`'s data: who the account is, never how it signs in."""
    return {
        "id": record.id,
        "email": record.email,
        "role": record.role,
        "first_name": record.first_name,
        "last_name": record.last_name,
        "active": record.is_active,
        "created_at": record.created_at.isoformat(),
    }


def _editable(record: UserRecord) -> tuple[object, ...]:
    """The fields an edit form changes: what a concurrent edit must not silently overwrite."""
    return (record.email, record.first_name, record.last_name, record.role_id, record.phone, record.address)


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def validate_profile(
    first_name: str, last_name: str, phone: str | None, address: str | None
) -> dict[str, str]:
    problems: dict[str, str] = {}
    for field, value in (("first_name", first_name), ("last_name", last_name)):
        if not value.strip():
            problems[field] = "Required."
        elif len(value.strip()) > 100:
            problems[field] = "At most 100 characters."
    if phone is not None and phone.strip():
        digits = sum(ch.isdigit() for ch in phone)
        if len(phone.strip()) > 40 or not PHONE_RE.match(phone.strip()) or not 6 <= digits <= 17:
            problems["phone"] = "Enter a phone number with 6 to 17 digits, e.g. +49 30 1234567."
    if address is not None and len(address.strip()) > 1000:
        problems["address"] = "At most 1000 characters."
    return problems


def normalise_email(email: str) -> str:
    return email.strip()


def email_problem(email: str) -> str | None:
    if not email:
        return "Required."
    if len(email) > 254:
        return "At most 254 characters."
    if not EMAIL_RE.match(email):
        return "Enter an email address like name@example.com."
    return None


class UserService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.table = UsersTable(ctx)

    # -- reading ----------------------------------------------------------------------------

    def list_users(self, actor: Actor, query: ListQuery) -> Page[UserRecord]:
        """Filters: `role_id`, `active` (bool), `locked` (bool). Search: email and names."""
        return self.table.page(actor, query)

    def get_user(self, actor: Actor, user_id: int) -> UserRecord:
        """Anyone may read their own account; others need `users.read`."""
        with self.ctx.read(actor, None) as uow:
            me = require_actor(uow)
            if user_id != me.user_id and not me.can("users.read"):
                raise PermissionDenied("users.read")
            return self._load(uow.session, user_id)

    def avatar(self, actor: Actor, user_id: int) -> files.FileContent | None:
        """The user's picture (re-encoded at upload), or None."""
        with self.ctx.read(actor, None) as uow:
            me = require_actor(uow)
            if user_id != me.user_id and not me.can("users.read"):
                raise PermissionDenied("users.read")
            record = self._load(uow.session, user_id)
            if record.avatar_file_id is None:
                return None
            return files.load_file(uow.session, record.avatar_file_id)

    # -- writing ----------------------------------------------------------------------------

    def create_user(
        self,
        actor: Actor,
        fields: UserFields,
        *,
        password: str | None = None,
        picture: files.Upload | None = None,
    ) -> NewAccount:
        """Create an account, with its picture in the same transaction (a refused picture creates
        nothing). Without `password`, a temporary one is generated (returned once) and must be
        changed at the first sign-in."""
        with self.ctx.write(actor, "users.write") as uow:
            account = self._create(uow, fields, password)
            if picture is None:
                return account
            return NewAccount(self._replace_avatar(uow, account.user.id, picture), account.temporary_password)

    def bootstrap_user(
        self, *, email: str, role: str, first_name: str, last_name: str, password: str | None = None
    ) -> NewAccount:
        """Create an account with no one signed in: the database owner's way to make the first
        administrator (`ecomdesk user create`). Whoever can write the database could anyway."""
        with self.ctx.write(None, None) as uow:
            role_id = uow.session.scalar(select(Role.id).where(func.lower(Role.name) == role.strip().lower()))
            if role_id is None:
                names = ", ".join(uow.session.scalars(select(Role.name).order_by(Role.id)))
                raise ValidationError({"role": f"There is no role named {role!r} (roles: {names})."})
            fields = UserFields(email, first_name, last_name, role_id)
            return self._create(uow, fields, password, actor_email="database owner (ecomdesk user create)")

    def _create(
        self, uow: UnitOfWork, fields: UserFields, password: str | None, actor_email: str | None = None
    ) -> NewAccount:
        session = uow.session
        email = normalise_email(fields.email)
        problems = self._validate(session, fields, email, user_id=None)
        temporary = None
        if password is None:
            temporary = generate_temporary_password()
        else:
            try:
                check_new_password(password, email=email, names=(fields.first_name, fields.last_name))
            except ValidationError as exc:
                problems.update(exc.fields)
        if problems:
            raise ValidationError(problems)
        if uow.actor is not None:
            ensure_may_grant_role(session, uow.actor, fields.role_id, "give this role")
        user = User(
            email=email,
            password_hash=hash_password(password if password is not None else str(temporary)),
            role_id=fields.role_id,
            must_change_password=temporary is not None,
        )
        user.profile = UserProfile(
            first_name=fields.first_name.strip(),
            last_name=fields.last_name.strip(),
            phone=_clean(fields.phone),
            address=_clean(fields.address),
            is_active=True,
        )
        session.add(user)
        flush_unique(session, "uq_users_email_lower", "email", EMAIL_TAKEN)
        record = self._load(session, user.id)
        uow.audit("user.created", "user", user.id, after=_snapshot(record), actor_email=actor_email)
        events.emit(session, "user.created", _created_event(record), at=uow.now)
        return NewAccount(record, temporary)

    def update_user(
        self,
        actor: Actor,
        user_id: int,
        fields: UserFields,
        *,
        expected: UserRecord | None = None,
        picture: files.Upload | None = None,
        remove_picture: bool = False,
    ) -> UserRecord:
        """Edit an account, and its picture (`picture` replaces it, `remove_picture` drops it) in the
        same transaction. With `expected` (the record the form was opened with), a change to the
        same fields by someone else in between raises `Conflict` instead of being overwritten; a
        sign-in or a picture change meanwhile is no conflict."""
        with self.ctx.write(actor, "users.write") as uow:
            me = require_actor(uow)
            session = uow.session
            user, profile = self._lock(session, user_id)
            before = self._load(session, user_id)
            if expected is not None and _editable(before) != _editable(expected):
                raise Conflict(
                    f"{before.email} was changed by someone else after you opened it. "
                    "Reload to see their changes."
                )
            ensure_may_grant_role(session, me, user.role_id, "edit this account")
            email = normalise_email(fields.email)
            problems = self._validate(session, fields, email, user_id=user_id)
            if problems:
                raise ValidationError(problems)
            if fields.role_id != user.role_id:
                ensure_may_grant_role(session, me, fields.role_id, "give this role")
                ensure_not_last_admin(session, user, "change this account's role")
            user.email = email
            user.role_id = fields.role_id
            profile.first_name = fields.first_name.strip()
            profile.last_name = fields.last_name.strip()
            profile.phone = _clean(fields.phone)
            profile.address = _clean(fields.address)
            flush_unique(session, "uq_users_email_lower", "email", EMAIL_TAKEN)
            after = self._load(session, user_id)
            if _snapshot(after) != _snapshot(before):
                uow.audit("user.updated", "user", user_id, before=_snapshot(before), after=_snapshot(after))
            if picture is not None:
                return self._replace_avatar(uow, user_id, picture)
            if remove_picture:
                return self._drop_avatar(uow, user_id)
            return after

    def update_my_profile(self, actor: Actor, fields: ProfileFields) -> UserRecord:
        """Every user may change their own names, phone and address."""
        with self.ctx.write(actor, None) as uow:
            me = require_actor(uow)
            _, profile = self._lock(uow.session, me.user_id)
            before = self._load(uow.session, me.user_id)
            problems = validate_profile(fields.first_name, fields.last_name, fields.phone, fields.address)
            if problems:
                raise ValidationError(problems)
            profile.first_name = fields.first_name.strip()
            profile.last_name = fields.last_name.strip()
            profile.phone = _clean(fields.phone)
            profile.address = _clean(fields.address)
            uow.session.flush()
            after = self._load(uow.session, me.user_id)
            uow.audit(
                "user.profile_updated", "user", me.user_id, before=_snapshot(before), after=_snapshot(after)
            )
            return after

    def set_avatar(self, actor: Actor, user_id: int, data: bytes, original_name: str) -> UserRecord:
        """Store a new picture (one's own, or anyone's with `users.write`); the old one goes."""
        with self.ctx.write(actor, None) as uow:
            me = require_actor(uow)
            self._ensure_self_or_write(uow, me, user_id)
            return self._replace_avatar(uow, user_id, files.Upload(data, original_name))

    def remove_avatar(self, actor: Actor, user_id: int) -> UserRecord:
        with self.ctx.write(actor, None) as uow:
            me = require_actor(uow)
            self._ensure_self_or_write(uow, me, user_id)
            return self._drop_avatar(uow, user_id)

    def _replace_avatar(self, uow: UnitOfWork, user_id: int, picture: files.Upload) -> UserRecord:
        _, profile = self._lock(uow.session, user_id)
        old = profile.avatar_file_id
        stored = files.store_file(uow, kind="avatar", data=picture.data, original_name=picture.name)
        profile.avatar_file_id = stored.id
        uow.session.flush()
        if old is not None:
            files.release_file(uow, old)
        uow.audit(
            "user.avatar_changed",
            "user",
            user_id,
            before={"avatar_file_id": old},
            after={"avatar_file_id": stored.id, "size": stored.size, "content_type": stored.content_type},
        )
        return self._load(uow.session, user_id)

    def _drop_avatar(self, uow: UnitOfWork, user_id: int) -> UserRecord:
        _, profile = self._lock(uow.session, user_id)
        old = profile.avatar_file_id
        if old is not None:
            profile.avatar_file_id = None
            uow.session.flush()
            files.release_file(uow, old)
            uow.audit("user.avatar_changed", "user", user_id, before={"avatar_file_id": old}, after={})
        return self._load(uow.session, user_id)

    def set_active(self, actor: Actor, user_id: int, active: bool) -> UserRecord:
        """Deactivating also ends the user's remembered devices; their next call is refused."""
        with self.ctx.write(actor, "users.write") as uow:
            me = require_actor(uow)
            user, profile = self._lock(uow.session, user_id)
            if profile.is_active == active:
                return self._load(uow.session, user_id)
            if not active and user_id == me.user_id:
                raise Conflict("You cannot deactivate your own account.")
            ensure_may_grant_role(uow.session, me, user.role_id, "change this account")
            if not active:
                ensure_not_last_admin(uow.session, user, "deactivate this account")
            profile.is_active = active
            revoked = 0 if active else revoke_live_sessions(uow.session, user_id, uow.now)
            uow.session.flush()
            uow.audit(
                "user.activated" if active else "user.deactivated",
                "user",
                user_id,
                before={"is_active": not active},
                after={"is_active": active, "sessions_revoked": revoked},
            )
            return self._load(uow.session, user_id)

    def unlock(self, actor: Actor, user_id: int) -> UserRecord:
        """Clear the failed sign-in count and the lock after too many failures."""
        with self.ctx.write(actor, "users.write") as uow:
            me = require_actor(uow)
            user, _ = self._lock(uow.session, user_id)
            ensure_may_grant_role(uow.session, me, user.role_id, "unlock this account")
            was = {"locked": user.locked_at is not None, "failed_login_count": user.failed_login_count}
            self._clear_lock(user)
            uow.session.flush()
            uow.audit("user.unlocked", "user", user_id, before=was, after={"locked": False})
            return self._load(uow.session, user_id)

    def reset_password(self, actor: Actor, user_id: int) -> str:
        """Give the user a new temporary password (returned once, to hand over), which they must
        change at the next sign-in; ends their remembered devices and clears any lock."""
        with self.ctx.write(actor, "users.write") as uow:
            me = require_actor(uow)
            if user_id == me.user_id:
                raise Conflict("Use “Change my password” for your own account.")
            user, _ = self._lock(uow.session, user_id)
            ensure_may_grant_role(uow.session, me, user.role_id, "reset this password")
            temporary = generate_temporary_password()
            user.password_hash = hash_password(temporary)
            user.must_change_password = True
            self._clear_lock(user)
            revoked = revoke_live_sessions(uow.session, user_id, uow.now)
            uow.audit("user.password_reset", "user", user_id, after={"sessions_revoked": revoked})
            return temporary

    def delete_user(self, actor: Actor, user_id: int) -> None:
        """Delete an account and its profile and devices; the audit trail keeps their email."""
        with self.ctx.write(actor, "users.write") as uow:
            me = require_actor(uow)
            if user_id == me.user_id:
                raise Conflict("You cannot delete your own account.")
            user, profile = self._lock(uow.session, user_id)
            ensure_may_grant_role(uow.session, me, user.role_id, "delete this account")
            ensure_not_last_admin(uow.session, user, "delete this account")
            before = self._load(uow.session, user_id)
            avatar = profile.avatar_file_id
            uow.session.delete(user)
            uow.session.flush()
            if avatar is not None:
                files.release_file(uow, avatar)
            uow.audit("user.deleted", "user", user_id, before=_snapshot(before))

    # -- helpers ----------------------------------------------------------------------------

    @staticmethod
    def _ensure_self_or_write(uow: UnitOfWork, me: Actor, user_id: int) -> None:
        if user_id == me.user_id:
            return
        if not me.can("users.write"):
            raise PermissionDenied("users.write")
        target = uow.session.get(User, user_id)
        if target is None:
            raise NotFound("That user no longer exists.")
        ensure_may_grant_role(uow.session, me, target.role_id, "change this account")

    @staticmethod
    def _clear_lock(user: User) -> None:
        """Forget failed sign-ins and the lock they caused (an admin's unlock or reset)."""
        user.locked_at = None
        user.failed_login_count = 0
        user.last_failed_login_at = None

    @staticmethod
    def _load(session: Session, user_id: int) -> UserRecord:
        row = session.execute(_base_select().where(User.id == user_id)).one_or_none()
        if row is None:
            raise NotFound("That user no longer exists.")
        return _record(*row)

    @staticmethod
    def _lock(session: Session, user_id: int) -> tuple[User, UserProfile]:
        row = session.execute(
            select(User, UserProfile)
            .join(UserProfile, UserProfile.user_id == User.id)
            .where(User.id == user_id)
            .with_for_update(of=[User, UserProfile], key_share=True)
        ).one_or_none()
        if row is None:
            raise NotFound("That user no longer exists.")
        return row[0], row[1]

    @staticmethod
    def _validate(session: Session, fields: UserFields, email: str, user_id: int | None) -> dict[str, str]:
        problems = validate_profile(fields.first_name, fields.last_name, fields.phone, fields.address)
        email_issue = email_problem(email)
        if email_issue:
            problems["email"] = email_issue
        else:
            clash = select(User.id).where(func.lower(User.email) == email.lower())
            if user_id is not None:
                clash = clash.where(User.id != user_id)
            if session.scalar(clash) is not None:
                problems["email"] = EMAIL_TAKEN
        if session.get(Role, fields.role_id) is None:
            problems["role_id"] = "Choose one of the existing roles."
        return problems
