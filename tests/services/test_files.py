"""The files service against a real PostgreSQL: what is stored, what is refused, and sharing of content."""

from __future__ import annotations

import hashlib
import io
import json
import struct
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image, PngImagePlugin
from sqlalchemy import Engine, event, func, select, text, update

from ecomdesk.db.models import FileBlob, Role, StoredFile, User, UserProfile
from ecomdesk.services.context import Actor, ServiceContext
from ecomdesk.services.errors import NotFound, ValidationError
from ecomdesk.services.files import (
    MB,
    FileInfo,
    FileKind,
    ImageRules,
    load_file,
    release_file,
    store_file,
)

RED = (220, 30, 30)
BLUE = (30, 30, 220)


@pytest.fixture
def services(engine: Engine) -> ServiceContext:
    return ServiceContext(engine)


@pytest.fixture
def admin(services: ServiceContext) -> Actor:
    with services.write(None, None) as uow:
        role_id = uow.session.scalar(select(Role.id).where(Role.name == "admin"))
        assert role_id is not None
        user = User(email="ann@shop.example", password_hash="x", role_id=role_id)
        uow.session.add(UserProfile(user=user, first_name="Ann", last_name="Lee"))
        uow.session.flush()
        return Actor(user.id, user.email, "admin", frozenset())


def _encode(image: Image.Image, image_format: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, image_format, **options)
    return out.getvalue()


def _photo(size: tuple[int, int] = (64, 48)) -> Image.Image:
    """A left-red, right-blue picture: orientation and scaling are visible in its pixels."""
    image = Image.new("RGB", size, RED)
    image.paste(BLUE, (size[0] // 2, 0, size[0], size[1]))
    return image


def _png_declaring(width: int, height: int) -> bytes:
    """A valid-looking PNG header claiming `width` × `height`, with almost no pixel data behind it:
    what a decompression bomb looks like before anyone decodes it."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit grey
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def _store(
    services: ServiceContext,
    data: bytes,
    name: str = "picture.png",
    *,
    kind: str = "avatar",
    actor: Actor | None = None,
) -> FileInfo:
    with services.write(actor, None) as uow:
        return store_file(uow, kind=kind, data=data, original_name=name)


def _release(services: ServiceContext, file_id: int) -> None:
    with services.write(None, None) as uow:
        release_file(uow, file_id)


def _stored_bytes(services: ServiceContext, file_id: int) -> bytes:
    with services.read(None, None) as uow:
        return load_file(uow.session, file_id).data


def _counts(engine: Engine) -> tuple[int, int]:
    """(files, file_blobs)"""
    with engine.connect() as conn:
        files = conn.scalar(select(func.count()).select_from(StoredFile))
        blobs = conn.scalar(select(func.count()).select_from(FileBlob))
    return int(files or 0), int(blobs or 0)


def _refusal(services: ServiceContext, data: bytes, name: str = "picture.png", kind: str = "avatar") -> str:
    with pytest.raises(ValidationError) as caught:
        _store(services, data, name, kind=kind)
    assert list(caught.value.fields) == ["file"]
    return caught.value.fields["file"]


def _wait_until_blocked(engine: Engine) -> None:
    """Until another connection to this database waits on a lock: the race is really on."""
    deadline = time.monotonic() + 10
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            waiting = conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
            if waiting:
                return
            conn.rollback()  # pg_stat_activity is a snapshot held until the transaction ends
            time.sleep(0.02)
    raise AssertionError("the other transaction never waited on a lock")


# --- What is stored -------------------------------------------------------------------------------


def test_png_with_transparency_is_stored_as_png_with_uploader_name_and_time(services, engine, admin):
    image = Image.new("RGBA", (40, 30), (*RED, 255))
    image.putpixel((0, 0), (0, 0, 0, 0))

    info = _store(services, _encode(image, "PNG"), "logo.png", actor=admin)

    assert (info.kind, info.content_type, info.original_name) == ("avatar", "image/png", "logo.png")
    assert info.uploaded_by == admin.user_id
    assert info.uploaded_at.tzinfo is not None
    loaded = _stored_bytes(services, info.id)
    assert (info.size, info.sha256) == (len(loaded), hashlib.sha256(loaded).hexdigest())
    stored = Image.open(io.BytesIO(loaded))
    assert (stored.format, stored.mode, stored.size) == ("PNG", "RGBA", (40, 30))
    assert _pixel(stored, (0, 0))[3] == 0
    assert _pixel(stored, (39, 29)) == (*RED, 255)
    with engine.connect() as conn:
        row = conn.execute(select(StoredFile.uploaded_by, StoredFile.original_name)).one()
    assert tuple(row) == (admin.user_id, "logo.png")


def test_upload_without_a_signed_in_actor_has_no_uploader(services):
    info = _store(services, _encode(_photo(), "JPEG"))

    assert info.uploaded_by is None


@pytest.mark.parametrize(
    ("image", "image_format", "pixel"),
    [
        (Image.new("RGB", (20, 20), RED), "JPEG", RED),
        (Image.new("RGB", (20, 20), RED), "WEBP", RED),
        (Image.new("RGBA", (20, 20), (*RED, 255)), "PNG", RED),  # alpha present but all opaque
        (Image.new("L", (20, 20), 128), "PNG", (128, 128, 128)),
        (Image.new("1", (20, 20), 1), "PNG", (255, 255, 255)),
        (Image.new("I;16", (20, 20), 40000), "PNG", (156, 156, 156)),
        (Image.new("CMYK", (20, 20), (0, 255, 255, 0)), "JPEG", (255, 0, 0)),
    ],
    ids=["jpeg", "webp", "opaque-rgba-png", "grey-png", "1-bit-png", "16-bit-png", "cmyk-jpeg"],
)
def test_image_without_see_through_pixels_is_stored_as_rgb_jpeg(services, image, image_format, pixel):
    info = _store(services, _encode(image, image_format))

    stored = Image.open(io.BytesIO(_stored_bytes(services, info.id)))
    assert (info.content_type, stored.format, stored.mode) == ("image/jpeg", "JPEG", "RGB")
    assert stored.size == image.size
    assert _close(_pixel(stored, (10, 10)), pixel, tolerance=8)


def test_palette_png_with_a_transparent_colour_stays_png_with_transparency(services):
    image = Image.new("P", (20, 20), 1)
    image.putpalette([0, 0, 0, *RED] + [0] * 762)
    image.putpixel((5, 5), 0)

    info = _store(services, _encode(image, "PNG", transparency=0))

    stored = Image.open(io.BytesIO(_stored_bytes(services, info.id))).convert("RGBA")
    assert info.content_type == "image/png"
    assert _pixel(stored, (5, 5))[3] == 0
    assert _pixel(stored, (6, 6)) == (*RED, 255)


def test_camera_jpeg_carrying_a_second_picture_is_accepted_as_jpeg(services):
    data = _encode(_photo(), "MPO", save_all=True, append_images=[_photo()])
    assert Image.open(io.BytesIO(data)).format == "MPO"

    info = _store(services, data, "IMG_0001.JPG")

    assert info.content_type == "image/jpeg"


def test_jpeg_named_png_is_stored_as_jpeg_because_content_decides(services):
    info = _store(services, _encode(_photo(), "JPEG"), "holiday.png")

    assert (info.content_type, info.original_name) == ("image/jpeg", "holiday.png")


def test_large_photo_is_scaled_down_to_fit_512_box_keeping_its_aspect(services):
    info = _store(services, _encode(_photo((3000, 2000)), "JPEG", quality=95))

    stored = Image.open(io.BytesIO(_stored_bytes(services, info.id)))
    assert stored.size == (512, 341)
    assert _close(_pixel(stored, (10, 170)), RED)
    assert _close(_pixel(stored, (500, 170)), BLUE)


def test_large_png_is_scaled_down_too(services):
    image = Image.new("RGBA", (1200, 2400), (*RED, 128))

    info = _store(services, _encode(image, "PNG"))

    assert Image.open(io.BytesIO(_stored_bytes(services, info.id))).size == (256, 512)


def test_small_image_is_not_enlarged(services):
    info = _store(services, _encode(_photo((100, 80)), "PNG"))

    assert Image.open(io.BytesIO(_stored_bytes(services, info.id))).size == (100, 80)


def test_jpeg_with_exif_rotation_is_stored_upright_without_the_rotation_tag(services):
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: shown turned 90° clockwise
    data = _encode(_photo((200, 100)), "JPEG", exif=exif)

    info = _store(services, data)

    stored = Image.open(io.BytesIO(_stored_bytes(services, info.id)))
    assert stored.size == (100, 200)
    # Turned clockwise, the red left half is now on top.
    assert _close(_pixel(stored, (50, 20)), RED)
    assert _close(_pixel(stored, (50, 180)), BLUE)
    assert 0x0112 not in stored.getexif()


def test_exif_gps_comment_and_text_chunks_are_not_stored(services):
    exif = Image.Exif()
    exif[0x010E] = "SECRET-DESCRIPTION"  # ImageDescription
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 3.0)}  # GPS position
    jpeg = _encode(_photo(), "JPEG", exif=exif, comment=b"SECRET-COMMENT")
    assert b"SECRET-DESCRIPTION" in jpeg and b"SECRET-COMMENT" in jpeg
    text_chunks = PngImagePlugin.PngInfo()
    text_chunks.add_text("Comment", "SECRET-PNG-TEXT")
    text_chunks.add_itxt("XML:com.adobe.xmp", "SECRET-XMP")
    png = _encode(Image.new("RGBA", (20, 20), (0, 0, 0, 0)), "PNG", pnginfo=text_chunks, exif=exif)

    for data in (jpeg, png):
        stored_bytes = _stored_bytes(services, _store(services, data).id)
        stored = Image.open(io.BytesIO(stored_bytes))
        assert b"SECRET" not in stored_bytes
        assert not stored.getexif()
        assert not {"exif", "comment", "Comment", "icc_profile", "XML:com.adobe.xmp"} & set(stored.info)


def test_bytes_appended_after_the_image_end_are_not_stored(services):
    png = _encode(Image.new("RGBA", (20, 20), (0, 0, 0, 0)), "PNG")
    payload = b"<script>alert('owned')</script>"

    info = _store(services, png + payload)

    stored = _stored_bytes(services, info.id)
    assert payload not in stored
    assert stored.endswith(b"IEND\xae\x42\x60\x82")


# --- What is refused ------------------------------------------------------------------------------


def test_empty_file_is_refused(services, engine):
    assert _refusal(services, b"") == "The file is empty."
    assert _counts(engine) == (0, 0)


def test_file_over_5_mb_is_refused_saying_its_size_and_the_limit(services, engine):
    png = _encode(_photo(), "PNG")
    six_mb = png + b"\0" * (6 * MB - len(png))

    message = _refusal(services, six_mb)

    assert message == "The file is 6 MB; the most allowed is 5 MB."
    assert _counts(engine) == (0, 0)


def test_file_one_byte_over_the_limit_does_not_read_as_exactly_the_limit(services):
    message = _refusal(services, b"\0" * (5 * MB + 1))

    assert message == "The file is 5.1 MB; the most allowed is 5 MB."


@pytest.mark.parametrize(
    ("data", "found"),
    [
        (_encode(_photo(), "GIF"), "GIF"),
        # The start of an iPhone photo: an ISO media box of brand "heic".
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64, "HEIC"),
    ],
    ids=["gif", "heic"],
)
def test_other_image_type_is_refused_naming_it_and_the_allowed_types(services, engine, data, found):
    message = _refusal(services, data, "funny.png")

    assert message == f"{found} images are not accepted here; use PNG, JPEG or WebP images."
    assert _counts(engine) == (0, 0)


def test_text_file_named_png_is_refused_because_the_name_does_not_decide(services):
    message = _refusal(services, b"hello, I am not a picture\n", "picture.png")

    assert message == "This file is not a PNG, JPEG or WebP image (its content was checked, not its name)."


@pytest.mark.parametrize("image_format", ["PNG", "JPEG", "WEBP"])
def test_truncated_image_is_refused_as_damaged(services, engine, image_format):
    whole = _encode(Image.effect_noise((300, 200), 60).convert("RGB"), image_format)

    for cut in (len(whole) // 2, 40):
        message = _refusal(services, whole[:cut])
        assert message == "The image could not be read: the file is damaged or incomplete."
    assert _counts(engine) == (0, 0)


@pytest.mark.parametrize(
    "size",
    [(9_000, 6_000), (10_000, 10_000), (20_000, 20_000)],
    ids=["over-our-limit", "over-pillow-warning", "over-pillow-error"],
)
def test_image_declaring_huge_dimensions_is_refused_before_decoding(services, engine, recwarn, size):
    bomb = _png_declaring(*size)
    assert len(bomb) < 200

    message = _refusal(services, bomb)

    # A decoding attempt would have reported the missing pixel data as damage instead.
    assert "the most allowed is 50 million pixels" in message
    assert _counts(engine) == (0, 0)
    assert not [w for w in recwarn if issubclass(w.category, Image.DecompressionBombWarning)]


def test_refusal_names_the_declared_dimensions_when_known(services):
    assert _refusal(services, _png_declaring(9_000, 6_000)) == (
        "The image is 9000 × 6000 pixels; the most allowed is 50 million pixels."
    )


# --- Reports: the same mechanism for a kind that is not an image ----------------------------------


def test_csv_report_is_stored_byte_for_byte(services):
    data = "sku;name;stock\r\nMUG-001;Mug “classic”;5\r\n".encode()

    info = _store(services, data, "stock.csv", kind="report")

    assert info.content_type == "text/csv"
    assert _stored_bytes(services, info.id) == data


def test_json_report_is_recognised_by_content_even_when_named_csv(services):
    data = json.dumps([{"sku": "MUG-001", "stock": 5}]).encode()

    info = _store(services, data, "stock.csv", kind="report")

    assert info.content_type == "application/json"


def test_csv_whose_first_cell_starts_with_a_bracket_stays_csv(services):
    info = _store(services, b"[draft],1\nfinal,2\n", "x.csv", kind="report")

    assert info.content_type == "text/csv"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"%PDF-1.7\n...", "PDF files are not accepted here; use CSV or JSON files."),
        (
            b"a,b\n\xff\xfe,c\n",
            "This file is not a CSV or JSON file (its content was checked, not its name).",
        ),
        (
            b"a,b\n\x00\x01,c\n",
            "This file is not a CSV or JSON file (its content was checked, not its name).",
        ),
    ],
    ids=["pdf", "not-utf8", "binary"],
)
def test_report_that_is_not_text_is_refused(services, data, message):
    assert _refusal(services, data, "report.csv", kind="report") == message


def test_image_is_refused_as_a_report(services):
    message = _refusal(services, _encode(_photo(), "PNG"), "report.csv", kind="report")

    assert message == "PNG images are not accepted here; use CSV or JSON files."


def test_image_kind_for_a_type_no_decoder_is_allowed_to_read_cannot_be_defined():
    with pytest.raises(ValueError, match="image/gif"):
        FileKind(max_bytes=MB, allowed_types=frozenset({"image/gif"}), image=ImageRules(64, 4096))


def test_unknown_kind_is_a_programming_error(services):
    with pytest.raises(ValueError, match="unknown file kind 'selfie'"):
        _store(services, b"x", kind="selfie")


# --- Names ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("C:\\Users\\ann\\Pictures\\me.png", "me.png"),
        ("../../etc/passwd.png", "passwd.png"),
        ("  spaced out.png  ", "spaced out.png"),
        ("photo\u202egnp.exe", "photognp.exe"),
        ("bell\x07\x00.png", "bell.png"),
        ("", "upload"),
        ("folder/", "upload"),
        ("..", "upload"),
        ("a" * 300 + ".jpeg", "a" * 250 + ".jpeg"),
        ("b" * 300, "b" * 255),
    ],
    ids=[
        "windows-path",
        "unix-path",
        "spaces",
        "bidi-override",
        "controls",
        "empty",
        "dir",
        "dotdot",
        "long-keeps-extension",
        "long-no-extension",
    ],
)
def test_original_name_keeps_only_a_safe_base_name(services, given, kept):
    assert _store(services, _encode(_photo(), "JPEG"), given).original_name == kept


# --- Loading --------------------------------------------------------------------------------------


def test_load_returns_what_store_returned_and_the_bytes(services):
    info = _store(services, _encode(_photo(), "JPEG"), "me.jpg")

    with services.read(None, None) as uow:
        loaded = load_file(uow.session, info.id)

    assert loaded.info == info
    assert hashlib.sha256(loaded.data).hexdigest() == info.sha256


def test_loading_an_unknown_file_raises_not_found(services):
    with services.read(None, None) as uow, pytest.raises(NotFound):
        load_file(uow.session, 424242)


# --- The caller's unit of work --------------------------------------------------------------------


def test_store_is_undone_when_the_callers_unit_fails(services, engine):
    with pytest.raises(RuntimeError), services.write(None, None) as uow:
        store_file(uow, kind="avatar", data=_encode(_photo(), "JPEG"), original_name="me.jpg")
        raise RuntimeError("the caller's own step failed")

    assert _counts(engine) == (0, 0)


# --- Shared content and release -------------------------------------------------------------------


def test_same_content_uploaded_twice_is_stored_once(services, engine, admin):
    data = _encode(_photo(), "JPEG")

    first = _store(services, data, "a.jpg")
    second = _store(services, data, "b.jpg", actor=admin)

    assert first.id != second.id
    assert first.sha256 == second.sha256
    assert _counts(engine) == (2, 1)


def test_releasing_one_of_two_uploads_keeps_the_shared_content(services, engine):
    data = _encode(_photo(), "JPEG")
    first, second = _store(services, data), _store(services, data)

    _release(services, first.id)

    assert _counts(engine) == (1, 1)
    assert _stored_bytes(services, second.id)
    with services.read(None, None) as uow, pytest.raises(NotFound):
        load_file(uow.session, first.id)


def test_releasing_the_last_upload_removes_the_content(services, engine):
    data = _encode(_photo(), "JPEG")
    first, second = _store(services, data), _store(services, data)
    other = _store(services, _encode(_photo((30, 30)), "PNG"))

    _release(services, first.id)
    _release(services, second.id)

    assert _counts(engine) == (1, 1)
    assert _stored_bytes(services, other.id)


def test_releasing_an_unknown_id_changes_nothing(services, engine):
    _store(services, _encode(_photo(), "JPEG"))

    _release(services, 424242)

    assert _counts(engine) == (1, 1)


def test_releasing_an_avatar_clears_the_profile_reference(services, engine, admin):
    info = _store(services, _encode(_photo(), "JPEG"), actor=admin)
    with services.write(None, None) as uow:
        uow.session.execute(update(UserProfile).values(avatar_file_id=info.id))

    _release(services, info.id)

    with engine.connect() as conn:
        assert conn.scalar(select(UserProfile.avatar_file_id)) is None
    assert _counts(engine) == (0, 0)


# --- Concurrency ----------------------------------------------------------------------------------


def test_two_uploads_of_the_same_content_at_once_both_succeed(services, engine):
    data = _encode(_photo(), "JPEG")

    with ThreadPoolExecutor(1) as pool, services.write(None, None) as uow:
        first = store_file(uow, kind="avatar", data=data, original_name="a.jpg")
        # The second upload inserts the same content while the first has not committed yet.
        second = pool.submit(_store, services, data, "b.jpg")
        _wait_until_blocked(engine)

    assert second.result(timeout=10).sha256 == first.sha256
    assert _counts(engine) == (2, 1)


def test_release_waits_for_an_upload_of_the_same_content_and_keeps_it(services, engine):
    data = _encode(_photo(), "JPEG")
    old = _store(services, data, "old.jpg")

    with ThreadPoolExecutor(1) as pool, services.write(None, None) as uow:
        new = store_file(uow, kind="avatar", data=data, original_name="new.jpg")
        # Releasing the only committed copy must not count before the new upload is visible.
        released = pool.submit(_release, services, old.id)
        _wait_until_blocked(engine)

    released.result(timeout=10)
    assert _counts(engine) == (1, 1)
    assert hashlib.sha256(_stored_bytes(services, new.id)).hexdigest() == new.sha256


def test_upload_survives_the_last_copy_being_released_between_its_statements(services, engine):
    """The narrowest race: the content exists when the upload checks for it, and is gone by the time
    the upload refers to it. Forced by releasing from inside the upload, right after its insert."""
    data = _encode(_photo(), "JPEG")
    old = _store(services, data, "old.jpg")
    released = threading.Event()

    def release_after_insert(conn, cursor, statement, *args) -> None:
        if "ON CONFLICT" in statement and not released.is_set():
            released.set()
            _release(services, old.id)  # another connection; commits before the upload goes on

    with services.write(None, None) as uow:
        event.listen(uow.session.connection(), "after_cursor_execute", release_after_insert)
        new = store_file(uow, kind="avatar", data=data, original_name="new.jpg")

    assert released.is_set()
    assert _counts(engine) == (1, 1)
    assert hashlib.sha256(_stored_bytes(services, new.id)).hexdigest() == new.sha256


def _pixel(image: Image.Image, xy: tuple[int, int]) -> tuple[int, ...]:
    value = image.getpixel(xy)
    assert isinstance(value, tuple)
    return value


def _close(actual: tuple[int, ...], expected: tuple[int, int, int], tolerance: int = 40) -> bool:
    """JPEG is lossy: a colour is 'the same' within a tolerance per channel."""
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))
