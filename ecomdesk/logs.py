"""The per-user log file: where unexpected errors leave their traceback for the person who asks.

Set up once by an entry point; importing this module configures nothing.
"""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from ecomdesk.config import log_dir

LOG_FORMAT = "%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"
_MAX_BYTES = 2 * 1024 * 1024
_BACKUPS = 5


def log_file() -> Path:
    return log_dir() / "ecomdesk.log"


def setup_logging(*, debug: bool = False, console: bool = False) -> Path:
    """Log to a rotating file in the platform's log folder (and to stderr when asked); return its path."""
    path = log_file()
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    for handler in list(root.handlers):
        if getattr(handler, "_ecomdesk", False):
            root.removeHandler(handler)
            handler.close()
    handlers: list[logging.Handler] = []
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        rotating = logging.handlers.RotatingFileHandler(
            path, maxBytes=_MAX_BYTES, backupCount=_BACKUPS, encoding="utf-8"
        )
        handlers.append(rotating)
    except OSError as exc:  # a read-only home must not stop the app; say so on stderr instead
        console = True
        logging.getLogger(__name__).warning("cannot write the log file %s: %s", path, exc)
    if console:
        handlers.append(logging.StreamHandler())
    for handler in handlers:
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler._ecomdesk = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    return path
