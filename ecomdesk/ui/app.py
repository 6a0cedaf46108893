"""Start the Qt application. (The full shell arrives with the desktop-shell issue.)"""

from __future__ import annotations

import ctypes
import os
import sys

from PySide6.QtWidgets import QApplication, QLabel, QMainWindow

from ecomdesk import APP_NAME, __version__

NO_DISPLAY_MESSAGE = (
    "ecomdesk: no display found (DISPLAY and WAYLAND_DISPLAY are unset). Run it on a desktop, use "
    "`ecomdesk demo --no-gui` to prepare the demo database alone, or set QT_QPA_PLATFORM=offscreen."
)


def has_display() -> bool:
    """Qt aborts without a display; check first so the user gets a sentence, not a core dump."""
    if os.environ.get("QT_QPA_PLATFORM"):
        return True
    if sys.platform != "linux":
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


#: Libraries Qt's X11 plugin loads at run time → the Debian package that has each.
_X11_LIBRARIES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
}


def missing_x11_packages() -> list[str]:
    """Packages to install before Qt can open an X11 window (Qt itself would only abort)."""
    if sys.platform != "linux" or os.environ.get("WAYLAND_DISPLAY"):
        return []
    if os.environ.get("QT_QPA_PLATFORM", "xcb") != "xcb" or not os.environ.get("DISPLAY"):
        return []
    missing = []
    for library, package in _X11_LIBRARIES.items():
        try:
            ctypes.CDLL(library)
        except OSError:
            missing.append(package)
    return missing


def gui_unavailable_reason() -> str | None:
    """Why no window can be opened here, in a sentence with the fix; None when it can."""
    if not has_display():
        return NO_DISPLAY_MESSAGE
    missing = missing_x11_packages()
    if missing:
        return (
            "ecomdesk: Qt needs system libraries that are missing here to open a window. Install them "
            f"with: sudo apt-get install {' '.join(missing)}"
        )
    return None


def run(url: str, *, demo: bool = False) -> int:
    reason = gui_unavailable_reason()
    if reason:
        print(reason, file=sys.stderr)
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
    return app.exec()
