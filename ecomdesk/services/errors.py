"""The small family of expected errors. The UI turns each into a sentence in one place;
anything else is a bug and is logged with its traceback."""

from __future__ import annotations

from collections.abc import Mapping


class ServiceError(Exception):
    """An expected refusal: the message is written for the person using the app."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationError(ServiceError):
    """Input that cannot be accepted; `fields` maps each offending field to its message."""

    def __init__(self, fields: Mapping[str, str], message: str | None = None) -> None:
        self.fields = dict(fields)
        super().__init__(message or "; ".join(f"{k}: {v}" for k, v in self.fields.items()))


class NotFound(ServiceError):
    """The thing asked for does not exist (any more)."""


class PermissionDenied(ServiceError):
    def __init__(self, permission: str, message: str | None = None) -> None:
        self.permission = permission
        super().__init__(message or f"You do not have the permission '{permission}' needed for this.")


class Conflict(ServiceError):
    """The change clashes with the current state (someone else changed it, or a guard forbids it)."""


class AuthenticationError(ServiceError):
    """Sign-in refused. `retry_after` is set while the account is throttled."""

    def __init__(self, message: str, *, retry_after: float | None = None, disabled: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.disabled = disabled


class ReadOnlyError(ServiceError):
    def __init__(self, message: str = "This is a read-only copy: nothing can be changed here.") -> None:
        super().__init__(message)


class SnapshotError(ServiceError):
    """A snapshot file that cannot be made, opened or trusted; the message says what is wrong."""

    def __init__(
        self, message: str, *, passphrase_needed: bool = False, wrong_passphrase: bool = False
    ) -> None:
        super().__init__(message)
        #: The file may be encrypted: ask for its passphrase (again, when `wrong_passphrase`).
        self.passphrase_needed = passphrase_needed or wrong_passphrase
        self.wrong_passphrase = wrong_passphrase


class Unavailable(ServiceError):
    """The database cannot be reached right now; the action can be retried."""
