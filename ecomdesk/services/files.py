"""Uploaded files: the one path by which any feature keeps a file (avatars now; item images, report
outputs and attachments later).

Content lives in the database, addressed by its SHA-256, so the same bytes are stored once. What a file
*is* comes from its content, never from its name. Images are decoded and re-encoded at a bounded size,
so what is stored (and later shown) is pixels we produced: no metadata, no trailing payload, no
decompression bomb.

These functions work inside the caller's unit of work: the caller has checked the permission and writes
the audit entry; nothing here commits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import math
import struct
import threading
import unicodedata
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import delete, exists, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from ecomdesk.db.models import FileBlob, StoredFile
from ecomdesk.services.context import UnitOfWork
from ecomdesk.services.errors import Conflict, NotFound, ValidationError

MB: Final = 1024 * 1024
#: Used when a name has nothing left once directories and control characters are removed.
FALLBACK_NAME: Final = "upload"
NAME_MAX_LENGTH: Final = 255  # files.original_name

#: Short names for messages, in the order they are listed to people.
_TYPE_NAMES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "image/png": "PNG",
        "image/jpeg": "JPEG",
        "image/webp": "WebP",
        "image/gif": "GIF",
        "image/tiff": "TIFF",
        "image/heic": "HEIC",
        "image/avif": "AVIF",
        "text/csv": "CSV",
        "application/json": "JSON",
        "application/pdf": "PDF",
        "application/zip": "ZIP",
    }
)
#: The Pillow decoder allowed to read each image type; no other decoder ever sees an upload.
_PILLOW_FORMATS: Final[Mapping[str, str]] = MappingProxyType(
    {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}
)
#: Camera JPEGs often carry a second picture and open as MPO; they are still JPEGs.
_FORMAT_TYPES: Final[Mapping[str, str]] = MappingProxyType(
    {"PNG": "image/png", "JPEG": "image/jpeg", "MPO": "image/jpeg", "WEBP": "image/webp"}
)
_SIGNATURES: Final = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
)
_HEIF_BRANDS: Final = frozenset({b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1"})
#: What Pillow raises on damaged or truncated data (it has no single base class for it).
_DECODE_ERRORS: Final = (OSError, ValueError, SyntaxError, EOFError, IndexError, struct.error)
#: `warnings.catch_warnings` swaps process-wide state; this keeps our own threads from restoring each
#: other's filters. It is held only while a header is parsed.
_OPEN_LOCK: Final = threading.Lock()


@dataclass(frozen=True)
class ImageRules:
    """How an image kind is decoded and re-encoded."""

    #: The re-encoded image fits a `max_side` × `max_side` box (aspect kept, never enlarged).
    max_side: int
    #: Refused before decoding when the header declares more pixels: a few KB can declare gigabytes.
    max_pixels: int
    jpeg_quality: int = 88


@dataclass(frozen=True)
class FileKind:
    """What one kind of file may be. Image kinds are re-encoded; other kinds are stored as sent."""

    max_bytes: int
    #: MIME types, as sniffed from the content.
    allowed_types: frozenset[str]
    image: ImageRules | None = None

    def __post_init__(self) -> None:
        if self.max_bytes <= 0 or not self.allowed_types:
            raise ValueError("a file kind needs a positive size limit and at least one type")
        if self.image is not None and not self.allowed_types <= _PILLOW_FORMATS.keys():
            raise ValueError(f"no decoder for {sorted(self.allowed_types - _PILLOW_FORMATS.keys())}")


FILE_KINDS: Final[Mapping[str, FileKind]] = MappingProxyType(
    {
        # Shown small next to a name; 512 px stays sharp on a high-DPI screen. 50 million pixels admits
        # a 48 MP phone photo.
        "avatar": FileKind(
            max_bytes=5 * MB,
            allowed_types=frozenset({"image/png", "image/jpeg", "image/webp"}),
            image=ImageRules(max_side=512, max_pixels=50_000_000),
        ),
        # Exports kept for download, stored exactly as produced.
        "report": FileKind(max_bytes=50 * MB, allowed_types=frozenset({"text/csv", "application/json"})),
    }
)


@dataclass(frozen=True)
class FileInfo:
    id: int
    kind: str
    #: What the stored content is (for images, the re-encoded type), whatever the original name says.
    content_type: str
    original_name: str
    size: int
    sha256: str
    uploaded_by: int | None
    uploaded_at: dt.datetime


@dataclass(frozen=True)
class Upload:
    """A file as the person chose it, on its way to `store_file`."""

    data: bytes
    name: str

    def __repr__(self) -> str:  # bytes in a traceback help nobody
        return f"Upload(name={self.name!r}, size={len(self.data)})"


@dataclass(frozen=True)
class FileContent:
    info: FileInfo
    data: bytes


def file_kind(kind: str) -> FileKind:
    """The rules of `kind`; an unknown kind is a programming error, not something a person can fix."""
    try:
        return FILE_KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown file kind {kind!r} (known: {', '.join(sorted(FILE_KINDS))})") from None


def size_problem(kind: str, size: int) -> str | None:
    """Why a file of `size` bytes cannot be a `kind`; the UI asks before reading a huge file at all."""
    if size == 0:
        return "The file is empty."
    limit = file_kind(kind).max_bytes
    if size > limit:
        return f"The file is {_megabytes(size)}; the most allowed is {_megabytes(limit)}."
    return None


def store_file(uow: UnitOfWork, *, kind: str, data: bytes, original_name: str) -> FileInfo:
    """Check `data` against the rules of `kind` and store it (images re-encoded), in the caller's unit.

    Raises `ValidationError` on the field "file" with a message for the person who chose the file.
    """
    rules = file_kind(kind)
    problem = size_problem(kind, len(data))
    if problem:
        raise _refusal(problem)
    if rules.image is not None:
        content, content_type = _reencode(data, rules, rules.image)
    else:
        content, content_type = data, _checked_type(data, rules)
    sha256 = hashlib.sha256(content).hexdigest()
    _ensure_blob(uow.session, sha256, content)
    row = StoredFile(
        sha256=sha256,
        kind=kind,
        content_type=content_type,
        original_name=_clean_name(original_name),
        uploaded_by=uow.actor.user_id if uow.actor else None,
        uploaded_at=uow.now,
    )
    uow.session.add(row)
    uow.session.flush()
    return _info(row, len(content))


def load_file(session: Session, file_id: int) -> FileContent:
    row = session.execute(
        select(StoredFile, FileBlob.content)
        .join(FileBlob, FileBlob.sha256 == StoredFile.sha256)
        .where(StoredFile.id == file_id)
    ).one_or_none()
    if row is None:
        raise NotFound("This file no longer exists.")
    stored, content = row
    return FileContent(_info(stored, len(content)), content)


def release_file(uow: UnitOfWork, file_id: int) -> None:
    """Forget one upload, and its content once no upload refers to it any more.

    An id that no longer exists is a no-op: two people replacing the same avatar at once both succeed.
    Rows pointing at the file follow their foreign keys (an avatar reference becomes NULL in the
    database; ORM objects already loaded in the session are not refreshed).
    """
    session = uow.session
    sha256 = session.scalar(delete(StoredFile).where(StoredFile.id == file_id).returning(StoredFile.sha256))
    if sha256 is None:
        return
    # Lock the content before counting who uses it. A concurrent store of the same content holds a
    # KEY SHARE lock on it until it commits, so we count only once its row is visible; a store that
    # comes after our lock waits for us and then inserts the content again (see `_ensure_blob`).
    session.execute(select(FileBlob.sha256).where(FileBlob.sha256 == sha256).with_for_update())
    if not session.scalar(select(exists().where(StoredFile.sha256 == sha256))):
        session.execute(delete(FileBlob).where(FileBlob.sha256 == sha256))


def _ensure_blob(session: Session, sha256: str, content: bytes) -> None:
    """Make sure the content row exists and stays until our transaction ends.

    `ON CONFLICT DO NOTHING` lets two uploads of the same content both succeed; the KEY SHARE lock then
    stops a concurrent `release_file` from deleting it under us. If that release deleted it between the
    two statements, the lock finds nothing and the content is inserted again.
    """
    present = select(FileBlob.sha256).where(FileBlob.sha256 == sha256)
    if session.get_bind().dialect.name != "postgresql":
        # SQLite (offline copies) has a single writer, so look-then-add cannot race.
        if session.scalar(present) is None:
            session.add(FileBlob(sha256=sha256, size=len(content), content=content))
            session.flush()
        return
    insert = (
        postgresql.insert(FileBlob)
        .values(sha256=sha256, size=len(content), content=content)
        .on_conflict_do_nothing(index_elements=[FileBlob.sha256])
    )
    for _attempt in range(3):
        session.execute(insert)
        if session.scalar(present.with_for_update(read=True, key_share=True)) is not None:
            return
    raise Conflict("The file could not be saved because the same content was being removed. Try again.")


def _reencode(data: bytes, kind: FileKind, rules: ImageRules) -> tuple[bytes, str]:
    """Decode at most `max_pixels`, shrink into the box, turn upright, and encode the pixels only."""
    image = _open_image(data, kind, rules)
    with image:
        width, height = image.size
        if width * height > rules.max_pixels:
            raise _refusal(
                f"The image is {width} × {height} pixels; the most allowed is {_megapixels(rules)}."
            )
        try:
            if image.format in ("JPEG", "MPO"):
                # libjpeg decodes at 1/2 … 1/8 scale: a big photo never exists at full size in memory.
                image.draft(None, (2 * rules.max_side, 2 * rules.max_side))
            image.load()
            # Palette and 1-bit images would resize by nearest neighbour; 16-bit grey would clip to white.
            pixels = image if image.mode in ("RGB", "RGBA", "L", "LA") else _rgb(image)
            pixels.thumbnail((rules.max_side, rules.max_side))
            # The box is square, so turning after shrinking gives the same picture with less memory.
            upright = ImageOps.exif_transpose(pixels)
        except (Image.DecompressionBombError, *_DECODE_ERRORS) as exc:
            raise _refusal(_DAMAGED) from exc
    return _encode(upright, rules)


_DAMAGED: Final = "The image could not be read: the file is damaged or incomplete."


def _open_image(data: bytes, kind: FileKind, rules: ImageRules) -> Image.Image:
    """Parse the header with only the decoders this kind allows; refuse bombs before any decoding."""
    formats = sorted(_PILLOW_FORMATS[t] for t in kind.allowed_types)
    try:
        with _OPEN_LOCK, warnings.catch_warnings(action="error", category=Image.DecompressionBombWarning):
            image = Image.open(io.BytesIO(data), formats=formats)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own limit (far above ours) fired while parsing the header.
        raise _refusal(f"The image is too large; the most allowed is {_megapixels(rules)}.") from exc
    except UnidentifiedImageError as exc:
        sniffed = _sniff(data)
        if sniffed in kind.allowed_types:
            raise _refusal(_DAMAGED) from exc
        raise _refusal(_wrong_type(sniffed, kind)) from exc
    except _DECODE_ERRORS as exc:
        raise _refusal(_DAMAGED) from exc
    return image


def _rgb(image: Image.Image) -> Image.Image:
    if image.mode.startswith("I"):  # 16-bit grey: scale to 8 bits, which `convert` would clip to white
        image = image.convert("I").point(lambda value: value / 256).convert("L")
    return image.convert("RGBA" if image.has_transparency_data else "RGB")


def _encode(image: Image.Image, rules: ImageRules) -> tuple[bytes, str]:
    """PNG only where some pixel is see-through (JPEG cannot keep that), else the smaller JPEG."""
    if image.has_transparency_data:
        rgba = image.convert("RGBA")
        if rgba.getchannel("A").getextrema() != (255, 255):
            return _pixels_only(rgba, "PNG"), "image/png"
        image = rgba
    return _pixels_only(image.convert("RGB"), "JPEG", quality=rules.jpeg_quality), "image/jpeg"


def _pixels_only(image: Image.Image, image_format: str, **options: int) -> bytes:
    """Encode a fresh image built from the pixels alone, so no EXIF, GPS, comment, colour profile or
    text chunk of the upload can ride along (encoders copy some of them from `info`)."""
    clean = Image.frombytes(image.mode, image.size, image.tobytes())
    out = io.BytesIO()
    clean.save(out, image_format, **options)
    return out.getvalue()


def _checked_type(data: bytes, kind: FileKind) -> str:
    sniffed = _sniff(data)
    if sniffed is None or sniffed not in kind.allowed_types:
        raise _refusal(_wrong_type(sniffed, kind))
    return sniffed


def _sniff(data: bytes) -> str | None:
    """The MIME type the content shows: a known signature, else UTF-8 text (JSON or CSV), else None."""
    for signature, mime in _SIGNATURES:
        if data.startswith(signature):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in (b"avif", b"avis"):
            return "image/avif"
        if brand in _HEIF_BRANDS:
            return "image/heic"
    return _sniff_text(data)


def _sniff_text(data: bytes) -> str | None:
    if b"\x00" in data:  # text never holds NUL; binary nearly always does
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    body = text.lstrip("\ufeff \t\r\n")
    if body[:1] in ("{", "["):
        try:
            json.loads(body)
        except ValueError:
            pass  # not JSON after all: a CSV whose first cell starts with a bracket
        else:
            return "application/json"
    return "text/csv"


def _wrong_type(sniffed: str | None, kind: FileKind) -> str:
    allowed = [name for mime, name in _TYPE_NAMES.items() if mime in kind.allowed_types]
    listed = allowed[0] if len(allowed) == 1 else f"{', '.join(allowed[:-1])} or {allowed[-1]}"
    noun = "images" if kind.image is not None else "files"
    name = _TYPE_NAMES.get(sniffed or "")
    # Only a recognised binary signature is worth naming: "CSV files are not accepted" for a renamed
    # text file would puzzle the person more than it helps.
    if name is not None and sniffed not in ("text/csv", "application/json"):
        found = "images" if (sniffed or "").startswith("image/") else "files"
        return f"{name} {found} are not accepted here; use {listed} {noun}."
    return f"This file is not a {listed} {noun[:-1]} (its content was checked, not its name)."


def _refusal(message: str) -> ValidationError:
    return ValidationError({"file": message})


def _megabytes(size: int) -> str:
    """Rounded up to 0.1 MB, so a file just over the limit never reads as exactly the limit."""
    return f"{math.ceil(size * 10 / MB) / 10:g} MB"


def _megapixels(rules: ImageRules) -> str:
    return f"{rules.max_pixels / 1_000_000:g} million pixels"


def _clean_name(name: str) -> str:
    """The base name only, without control or bidirectional-override characters, at most 255 long.

    Uploads come from Windows and Unix alike, so both separators are directories; an override
    character makes "photo<U+202E>gnp.exe" display as "photoexe.png".
    """
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch) not in ("Cc", "Cf", "Cs")).strip()
    if base in ("", ".", ".."):
        return FALLBACK_NAME
    if len(base) > NAME_MAX_LENGTH:
        stem, dot, extension = base.rpartition(".")
        if dot and stem and len(extension) <= 16:  # keep the extension people recognise
            return stem[: NAME_MAX_LENGTH - len(extension) - 1] + "." + extension
        return base[:NAME_MAX_LENGTH]
    return base


def _info(row: StoredFile, size: int) -> FileInfo:
    return FileInfo(
        id=row.id,
        kind=row.kind,
        content_type=row.content_type,
        original_name=row.original_name,
        size=size,
        sha256=row.sha256,
        uploaded_by=row.uploaded_by,
        uploaded_at=row.uploaded_at,
    )
