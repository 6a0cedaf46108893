"""The shell's line icons (`resources/icons/*.svg`), drawn in the palette's text colour.

The SVGs say `currentColor`; each icon is rendered for the current theme (and again when it
changes), at the sizes a high-DPI screen asks for, so they stay crisp and readable on light and dark.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from PySide6.QtCore import QByteArray, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer

#: Logical sizes rendered, each also at twice the pixels for high-DPI screens.
_SIZES = (16, 20, 24, 32, 48)


@cache
def _svg(name: str) -> str:
    return files("ecomdesk.resources").joinpath("icons", f"{name}.svg").read_text(encoding="utf-8")


def _render(name: str, colour: str, size: int, ratio: int) -> QPixmap:
    renderer = QSvgRenderer(QByteArray(_svg(name).replace("currentColor", colour).encode("utf-8")))
    pixmap = QPixmap(size * ratio, size * ratio)
    pixmap.setDevicePixelRatio(ratio)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter, QRectF(0, 0, size, size))
    painter.end()
    return pixmap


@cache
def icon(name: str, colour: str, selected: str | None = None) -> QIcon:
    """Icon `name` stroked in `colour` (`#rrggbb`), and in `selected` on a selected list row."""
    result = QIcon()
    for size in _SIZES:
        for ratio in (1, 2):
            result.addPixmap(_render(name, colour, size, ratio))
            if selected is not None:
                result.addPixmap(_render(name, selected, size, ratio), QIcon.Mode.Selected)
    return result


def themed_icon(name: str, colour: QColor, selected: QColor | None = None) -> QIcon:
    return icon(name, colour.name(), selected.name() if selected is not None else None)


@cache
def app_icon() -> QIcon:
    """The app's own icon (windows, task bar, dialogs): the PNGs `packaging/make_icons.py` rendered
    from the SVG at the sizes desktops ask for."""
    folder = files("ecomdesk.resources").joinpath("icons", "app")
    result = QIcon()
    for size in (16, 22, 24, 32, 48, 64, 128, 256, 512):
        result.addFile(str(folder.joinpath(f"ecomdesk-{size}.png")))
    return result
