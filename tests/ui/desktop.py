"""What the app asks the desktop to open (a log folder, a file), caught instead of a file manager
popping up: QDesktopServices' own hook for a URL scheme."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from PySide6.QtCore import QObject, QUrl, Slot
from PySide6.QtGui import QDesktopServices


class _UrlCatcher(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[QUrl] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(url)


@contextmanager
def opened_urls(scheme: str = "file") -> Iterator[list[QUrl]]:
    """The URLs of `scheme` the code in the block asked the desktop to open."""
    catcher = _UrlCatcher()
    # PySide6's stub asks for bytes, yet only a str names the slot at run time.
    QDesktopServices.setUrlHandler(scheme, catcher, "open")  # type: ignore[arg-type]
    try:
        yield catcher.urls
    finally:
        QDesktopServices.unsetUrlHandler(scheme)
