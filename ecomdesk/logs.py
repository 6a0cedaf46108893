"""The per-user log file: where unexpected errors leave their traceback for the person who asks.

Set up once by an entry point (`cli.main` for every command, `ui.app.run` again for the window);
importing this module configures nothing. Setting up again replaces what the last setup added, so
the many in-process `main()` calls of the tests never stack handlers.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from pathlib import Path
from typing import Final, TextIO

from ecomdesk.config import log_dir

LOG_FORMAT: Final = "%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"
MAX_BYTES: Final = 2 * 1024 * 1024
BACKUPS: Final = 5
#: The same switch as `--debug`, for a launcher (a .desktop entry, a shortcut) that passes no flags.
DEBUG_ENV: Final = "ECOMDESK_DEBUG"
#: `log.error(..., extra=FILE_ONLY)`: the traceback goes to the file; the console (without
#: `--debug`) already had its one readable line.
FILE_ONLY: Final = {"file_only": True}


#: Loggers whose INFO records say nothing a reader of the file needs (alembic lists its plugins
#: on every schema check; httpx repeats each webhook request ecomdesk logs itself); they speak at
#: INFO only with `debug`.
_CHATTY: Final = ("alembic.runtime.plugins", "httpx", "httpcore")


def log_file() -> Path:
    return log_dir() / "ecomdesk.log"


def debug_requested(flag: bool = False) -> bool:
    """`--debug`, or ECOMDESK_DEBUG set to 1/true/yes/on."""
    return flag or os.environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes", "on")


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever `sys.stderr` is when a record arrives, not when the handler was made: a
    stream replaced later (a test's capture, a redirect) still gets the message."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        """`StreamHandler.__init__` assigns a stream; this handler always asks `sys` instead."""


def _not_file_only(record: logging.LogRecord) -> bool:
    return not getattr(record, "file_only", False)


def setup_logging(
    *,
    debug: bool = False,
    console_level: int | None = None,
    max_bytes: int = MAX_BYTES,
    backups: int = BACKUPS,
) -> Path:
    """Log to a rotating file in the platform's log folder; return its path.

    The file takes INFO, or everything with `debug`. `console_level` adds a handler on stderr at
    that level; without `debug` it leaves out the records marked `FILE_ONLY` (their traceback is in
    the file). A log file that cannot be written does not stop the app: the console takes over
    everything from WARNING up and says why.

    SQL statements are logged only with `debug`, and then without their bound values: the engine
    hides parameters (`db.engine.make_engine`), and result rows (SQLAlchemy's DEBUG level, which
    would show password and token hashes) are never logged.
    """
    path = log_file()
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO if debug else logging.WARNING)
    for name in _CHATTY:
        logging.getLogger(name).setLevel(logging.NOTSET if debug else logging.WARNING)
    for handler in list(root.handlers):
        if getattr(handler, "_ecomdesk", False):
            root.removeHandler(handler)
            handler.close()
    handlers: list[logging.Handler] = []
    problem: OSError | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(
            logging.handlers.RotatingFileHandler(
                path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
            )
        )
    except OSError as exc:  # a read-only home
        problem = exc
        console_level = min(console_level or logging.WARNING, logging.WARNING)
    if console_level is not None:
        stderr = _StderrHandler()
        stderr.setLevel(console_level)
        if not debug and problem is None:
            stderr.addFilter(_not_file_only)
        handlers.append(stderr)
    for handler in handlers:
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler._ecomdesk = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    if problem is not None:
        logging.getLogger(__name__).warning("cannot write the log file %s: %s", path, problem)
    return path
