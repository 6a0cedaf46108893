"""Start the Qt application. (The full shell arrives with the desktop-shell issue.)"""

from __future__ import annotations

import os
import sys

from PySide6.QtWidgets import QApplication, QLabel, QMainWindow

from ecomdesk import APP_NAME, __version__


def has_display() -> bool:
    """Qt aborts without a display; check first so the user gets a sentence, not a core dump."""
    if os.environ.get("QT_QPA_PLATFORM"):
        return True
    if sys.platform != "linux":
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def run(url: str, *, demo: bool = False) -> int:
    if not has_display():
        print(
            "ecomdesk: no display found (DISPLAY/WAYLAND_DISPLAY unset). Run it on a desktop, use "
            "`ecomdesk demo --no-gui` for the database alone, or set QT_QPA_PLATFORM=offscreen.",
            file=sys.stderr,
        )
        return 2
    app = QApplication.instance() or QApplication(sys.argv)
    assert isinstance(app, QApplication)
    app.setApplicationName(APP_NAME)
    app.setApplicationVersion(__version__)
    window = QMainWindow()
    window.setWindowTitle(f"ecomdesk {__version__}" + (" — demo" if demo else ""))
    window.setCentralWidget(QLabel("ecomdesk is connected. The desktop shell is being built."))
    window.resize(900, 600)
    window.show()
    if os.environ.get("ECOMDESK_EXIT_AFTER_START"):
        app.processEvents()
        return 0
    return app.exec()
