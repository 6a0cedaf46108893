"""The one error-to-message path: every exception that reaches the UI becomes a `UserMessage` here.

Typed service errors are expected and become readable sentences; anything else is a bug, logged with
its traceback, and shown as "something went wrong" with the log file's path.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from pathlib import Path

from ecomdesk.logs import log_file
from ecomdesk.services.errors import (
    AuthenticationError,
    Conflict,
    NotFound,
    PermissionDenied,
    ReadOnlyError,
    ServiceError,
    Unavailable,
    ValidationError,
)

log = logging.getLogger(__name__)


class Severity(enum.Enum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True)
class UserMessage:
    title: str
    text: str
    severity: Severity = Severity.WARNING
    #: Set for unexpected errors: the file that holds the traceback.
    log_path: Path | None = None
    #: Whether doing the same thing again may work (connection trouble, a conflict).
    retry: bool = False


def field_label(field: str) -> str:
    return field.replace("_", " ").capitalize()


def describe(error: BaseException) -> UserMessage:
    """A sentence for the person at the screen; logs the traceback of anything unexpected."""
    match error:
        case ValidationError():
            if len(error.fields) == 1:
                text = next(iter(error.fields.values()))
            else:
                text = " ".join(f"{field_label(f)}: {m}" for f, m in error.fields.items())
            return UserMessage("Please check your input", text)
        case PermissionDenied():
            return UserMessage("Not allowed", error.message)
        case AuthenticationError():
            return UserMessage("Sign-in needed", error.message)
        case NotFound():
            return UserMessage("Not found", error.message)
        case Conflict():
            # A guard ("the last administrator") or someone else's change: the message says which.
            return UserMessage("Not possible right now", error.message, retry=True)
        case ReadOnlyError():
            return UserMessage("Read-only", error.message)
        case Unavailable():
            return UserMessage("Database unavailable", error.message, Severity.ERROR, retry=True)
        case ServiceError():
            return UserMessage("Could not do that", error.message)
    log.error("Unexpected error", exc_info=(type(error), error, error.__traceback__))
    path = log_file()
    return UserMessage(
        "Something went wrong",
        f"Something went wrong and it was not your fault ({type(error).__name__}). "
        f"The details are in the log file: {path}",
        Severity.ERROR,
        log_path=path,
    )


def not_saved(error: BaseException) -> str:
    """The sentence a form shows when its save failed: that nothing was saved, and why — once (a
    lost connection's own sentence already says that nothing was changed)."""
    text = describe(error).text
    return text if "Nothing was" in text else f"Nothing was saved. {text}"
