"""Uploaded files, stored in the database so every staff machine sees the same content."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, LargeBinary, String, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ecomdesk.db.base import Base, BigIntPK


class FileBlob(Base):
    """Content addressed by its SHA-256, so one picture uploaded twice is stored once."""

    __tablename__ = "file_blobs"
    __table_args__ = (CheckConstraint("size >= 0", name="size_not_negative"),)

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    content: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(nullable=False, server_default=func.now())


class StoredFile(Base):
    """One upload: who sent which content under what name, and what the content really is."""

    __tablename__ = "files"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    sha256: Mapped[str] = mapped_column(
        ForeignKey("file_blobs.sha256", ondelete="RESTRICT"), nullable=False, index=True
    )
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    content_type: Mapped[str] = mapped_column(String(100), nullable=False)
    original_name: Mapped[str] = mapped_column(String(255), nullable=False)
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    uploaded_at: Mapped[dt.datetime] = mapped_column(nullable=False, server_default=func.now())

    blob: Mapped[FileBlob] = relationship(lazy="raise")
