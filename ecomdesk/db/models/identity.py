"""Who may do what: roles, permissions, users, their profiles and remembered devices."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ecomdesk.db.base import Base, BigIntPK, created_at_column, updated_at_column

role_permissions = Table(
    "role_permissions",
    Base.metadata,
    Column("role_id", ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "permission_code",
        ForeignKey("permissions.code", ondelete="CASCADE", onupdate="CASCADE"),
        primary_key=True,
        index=True,
    ),
)


class Permission(Base):
    """A named right such as `inventory.write`; the catalogue lives in `ecomdesk.db.catalog`."""

    __tablename__ = "permissions"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")


class Role(Base):
    __tablename__ = "roles"
    __table_args__ = (
        Index("uq_roles_name_lower", func.lower(text("name")), unique=True),
        CheckConstraint("length(trim(name)) > 0", name="name_not_blank"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="", server_default="")
    is_builtin: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default="false")
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime] = updated_at_column()

    permissions: Mapped[list[Permission]] = relationship(secondary=role_permissions, lazy="selectin")


class User(Base):
    """A staff account. Email is unique regardless of case (enforced by an index on lower(email))."""

    __tablename__ = "users"
    __table_args__ = (
        Index("uq_users_email_lower", func.lower(text("email")), unique=True),
        CheckConstraint("email LIKE '%_@_%'", name="email_has_at"),
        CheckConstraint("failed_login_count >= 0", name="failed_login_count_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), nullable=False)
    #: Secret: never copied into a snapshot.
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False, info={"secret": True})
    role_id: Mapped[int] = mapped_column(
        ForeignKey("roles.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    must_change_password: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default="false"
    )
    failed_login_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    last_failed_login_at: Mapped[dt.datetime | None]
    #: Set after too many failed logins; only an admin clears it.
    locked_at: Mapped[dt.datetime | None]
    last_login_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime] = updated_at_column()

    # Never loaded implicitly: a joined load would break `SELECT … FOR UPDATE` on users.
    role: Mapped[Role] = relationship(lazy="raise_on_sql")
    profile: Mapped[UserProfile] = relationship(
        back_populates="user", uselist=False, cascade="all, delete-orphan", passive_deletes=True
    )


class UserProfile(Base):
    """The person behind an account (the seed keeps `is_active` here, and so do we)."""

    __tablename__ = "user_profiles"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False, unique=True
    )
    first_name: Mapped[str] = mapped_column(String(100), nullable=False, default="", server_default="")
    last_name: Mapped[str] = mapped_column(String(100), nullable=False, default="", server_default="")
    phone: Mapped[str | None] = mapped_column(String(40))
    address: Mapped[str | None] = mapped_column(Text)
    avatar_file_id: Mapped[int | None] = mapped_column(
        ForeignKey("files.id", ondelete="SET NULL"), index=True
    )
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True, server_default="true")
    #: E-mail alerts this person opted in to (off until they choose them in Settings).
    email_low_stock_digest: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default="false"
    )
    email_report_ready: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default="false"
    )
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime] = updated_at_column()

    user: Mapped[User] = relationship(back_populates="profile")


class DeviceSession(Base):
    """A remembered device: only the SHA-256 of its random token is stored."""

    __tablename__ = "device_sessions"
    __table_args__ = (Index("ix_device_sessions_user_id_expires_at", "user_id", "expires_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    #: Secret: never copied into a snapshot.
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True, info={"secret": True})
    device_name: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[dt.datetime] = created_at_column()
    last_used_at: Mapped[dt.datetime] = mapped_column(nullable=False, server_default=func.now())
    expires_at: Mapped[dt.datetime] = mapped_column(nullable=False)
    revoked_at: Mapped[dt.datetime | None]


__all__ = ["DeviceSession", "Permission", "Role", "User", "UserProfile", "role_permissions"]
