"""Render the app icon (`resources/icons/app/ecomdesk.svg`) at the sizes desktops ask for.

Run after changing the SVG; the PNG, ICO (Windows) and ICNS (macOS) files it writes are committed,
so a build needs neither this script nor an SVG renderer:

    .venv/bin/python packaging/make_icons.py
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PIL import Image
from PySide6.QtCore import QBuffer, QIODevice, QRectF, Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

APP_ICONS = Path(__file__).resolve().parent.parent / "resources" / "icons" / "app"
#: The freedesktop icon theme's usual sizes (hicolor), which also cover Windows and macOS.
PNG_SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
ICNS_SIZES = (16, 32, 64, 128, 256, 512)


def render(renderer: QSvgRenderer, size: int) -> Image.Image:
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter, QRectF(0, 0, size, size))
    painter.end()
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return Image.open(io.BytesIO(bytes(buffer.data().data()))).convert("RGBA")


def main() -> int:
    _app = QGuiApplication(sys.argv)
    renderer = QSvgRenderer(str(APP_ICONS / "ecomdesk.svg"))
    if not renderer.isValid():
        print("the SVG does not render", file=sys.stderr)
        return 1
    images = {size: render(renderer, size) for size in sorted({*PNG_SIZES, *ICO_SIZES, *ICNS_SIZES})}
    for size in PNG_SIZES:
        images[size].save(APP_ICONS / f"ecomdesk-{size}.png", optimize=True)
    largest = images[max(ICO_SIZES)]
    largest.save(
        APP_ICONS / "ecomdesk.ico",
        sizes=[(s, s) for s in ICO_SIZES],
        append_images=[images[s] for s in ICO_SIZES],
    )
    images[max(ICNS_SIZES)].save(APP_ICONS / "ecomdesk.icns", append_images=[images[s] for s in ICNS_SIZES])
    for path in sorted(APP_ICONS.iterdir()):
        print(f"{path.stat().st_size:>8}  {path.relative_to(APP_ICONS.parent.parent.parent)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
