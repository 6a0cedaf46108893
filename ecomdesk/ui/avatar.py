"""Profile pictures: a round picture (or the person's initials when there is none), choosing an image
file, and reading it with the size checked before a byte is read.

The picture shown is always what the service stored (re-encoded, at most 512 px): the app never
shows the file as chosen, so what one sees is what everyone else sees.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Final

from PySide6.QtCore import QEvent, QRectF, QSize, QStandardPaths, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPainterPath, QPaintEvent, QPalette, QPixmap
from PySide6.QtWidgets import QFileDialog, QWidget

from ecomdesk.services.errors import ValidationError
from ecomdesk.services.files import size_problem
from ecomdesk.ui.theme import is_theme_change

#: What the file dialog offers; the service decides by content, not by name.
IMAGE_FILTER: Final = "Images (*.png *.jpg *.jpeg *.webp);;All files (*)"


def initials(name: str) -> str:
    """Initials for a picture-less avatar: 'Ada Lovelace' → 'AL', 'ada@shop.example' → 'A', '' → '?'."""
    words = [w for w in name.replace("@", " ").split() if w[:1].isalnum()]
    if not words:
        return "?"
    if "@" in name:
        return words[0][0].upper()
    return (words[0][0] + (words[-1][0] if len(words) > 1 else "")).upper()


def read_image_file(path: Path) -> bytes:
    """The file's bytes; a file too big (or empty, or unreadable) is refused with the service's own
    sentence before it is read into memory."""
    try:
        size = path.stat().st_size
        problem = size_problem("avatar", size)
        if problem:
            raise ValidationError({"file": problem})
        return path.read_bytes()
    except OSError as exc:
        raise ValidationError({"file": f"The file could not be read: {exc.strerror or exc}."}) from exc


def choose_image_file(parent: QWidget) -> Path | None:
    """Ask for a picture (PNG, JPEG or WebP); None when cancelled."""
    start = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.PicturesLocation)
    name, _ = QFileDialog.getOpenFileName(parent, "Choose a picture", start, IMAGE_FILTER)
    return Path(name) if name else None


class Avatar(QWidget):
    """A round picture of a person, or their initials on a colour of their own."""

    def __init__(self, size_em: float = 4.0, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        side = round(self.fontMetrics().horizontalAdvance("M") * size_em)
        self.setFixedSize(QSize(side, side))
        self._image: QImage | None = None
        self._name = ""
        self.setAccessibleName("Profile picture")

    @property
    def has_image(self) -> bool:
        return self._image is not None

    def set_person(self, name: str, data: bytes | None = None) -> None:
        """Show `data` (an image the service stored) or, without it, the initials of `name`."""
        self._name = name
        image = QImage.fromData(data) if data else None
        self._image = image if image is not None and not image.isNull() else None
        self.setToolTip(name)
        self.update()

    def pixmap(self) -> QPixmap:
        """What is painted, as a picture (for tests and screenshots)."""
        return self.grab()

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        rect = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        circle = QPainterPath()
        circle.addEllipse(rect)
        painter.setClipPath(circle)
        if self._image is not None:
            scaled = self._image.scaled(
                self.size() * self.devicePixelRatioF(),
                Qt.AspectRatioMode.KeepAspectRatioByExpanding,
                Qt.TransformationMode.SmoothTransformation,
            )
            scaled.setDevicePixelRatio(self.devicePixelRatioF())
            offset = (QSize(scaled.width(), scaled.height()) / self.devicePixelRatioF() - self.size()) / 2
            painter.drawImage(-offset.width(), -offset.height(), scaled)
        else:
            painter.fillRect(self.rect(), self._colour())
            font = QFont(self.font())
            font.setBold(True)
            font.setPixelSize(max(8, round(self.height() * 0.38)))
            painter.setFont(font)
            painter.setPen(QColor("white"))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, initials(self._name))
        painter.end()

    def _colour(self) -> QColor:
        """A steady colour per name, dark enough for white initials in both themes."""
        hue = hashlib.sha256(self._name.encode()).digest()[0] * 360 // 256
        base = self.palette().color(QPalette.ColorRole.Window)
        lightness = 95 if base.lightness() > 128 else 110
        return QColor.fromHsl(hue, 110, lightness)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if is_theme_change(event):
            self.update()
