"""Where ecomdesk keeps things on this computer, and how it reaches a database.

Connection profiles (no secrets) live as JSON in the per-user config folder; every password and
token lives in the OS keyring. When the keyring has no usable backend we say so and keep nothing.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Final

import platformdirs
from sqlalchemy import URL

from ecomdesk import APP_NAME

DATABASE_URL_ENV: Final = "ECOMDESK_DATABASE_URL"
KEYRING_SERVICE: Final = APP_NAME
SSL_MODES: Final = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


# -- paths ------------------------------------------------------------------------------------


def config_dir() -> Path:
    return platformdirs.user_config_path(APP_NAME, appauthor=False)


def data_dir() -> Path:
    return platformdirs.user_data_path(APP_NAME, appauthor=False)


def log_dir() -> Path:
    return platformdirs.user_log_path(APP_NAME, appauthor=False)


def demo_cluster_dir() -> Path:
    """The embedded demo server's cluster: per user, survives restarts of the app."""
    return data_dir() / "demo-postgres"


# -- secrets ----------------------------------------------------------------------------------


class SecretStoreUnavailable(RuntimeError):
    """No keyring backend: nothing secret can be remembered on this computer."""


@dataclass(frozen=True)
class KeyringStatus:
    available: bool
    backend: str
    reason: str


class SecretStore:
    """The OS keyring under one service name. Never falls back to a file."""

    def __init__(self, service: str = KEYRING_SERVICE) -> None:
        self.service = service

    def status(self) -> KeyringStatus:
        import keyring
        from keyring.backends import fail

        backend = keyring.get_keyring()
        name = f"{type(backend).__module__}.{type(backend).__name__}"
        unusable = isinstance(backend, fail.Keyring) or "null" in type(backend).__module__
        if unusable or getattr(backend, "priority", 1) <= 0:
            return KeyringStatus(
                False,
                name,
                "No system keyring is available (for example GNOME Keyring, KWallet, macOS Keychain or "
                "Windows Credential Locker), so passwords and sign-ins cannot be remembered here.",
            )
        return KeyringStatus(True, name, "")

    def get(self, key: str) -> str | None:
        if not self.status().available:
            return None
        import keyring

        return keyring.get_password(self.service, key)

    def set(self, key: str, value: str) -> None:
        status = self.status()
        if not status.available:
            raise SecretStoreUnavailable(status.reason)
        import keyring

        keyring.set_password(self.service, key, value)

    def delete(self, key: str) -> None:
        if not self.status().available:
            return
        import keyring
        from keyring.errors import PasswordDeleteError

        # Nothing stored under that key is already the wanted state.
        with contextlib.suppress(PasswordDeleteError):
            keyring.delete_password(self.service, key)


# -- connection profiles ----------------------------------------------------------------------

_PROFILE_NAME = re.compile(r"^[\w .@-]{1,64}$")


@dataclass(frozen=True)
class ConnectionProfile:
    """A named server connection. The password is never part of it: it lives in the keyring."""

    name: str
    host: str = "localhost"
    port: int = 5432
    database: str = "ecomdesk"
    user: str = ""
    sslmode: str = "prefer"
    options: dict[str, str] = field(default_factory=dict)

    def validate(self) -> dict[str, str]:
        """Per-field messages; empty when the profile is usable."""
        errors: dict[str, str] = {}
        if not _PROFILE_NAME.match(self.name):
            errors["name"] = "Use 1–64 letters, digits, spaces, dots, @ or dashes."
        if not self.host.strip():
            errors["host"] = "Enter the server's host name or address."
        if not 1 <= self.port <= 65535:
            errors["port"] = "The port is a number from 1 to 65535 (PostgreSQL's usual port is 5432)."
        if not self.database.strip():
            errors["database"] = "Enter the database name."
        if not self.user.strip():
            errors["user"] = "Enter the database user name."
        if self.sslmode not in SSL_MODES:
            errors["sslmode"] = f"SSL mode must be one of: {', '.join(SSL_MODES)}."
        return errors

    def url(self, password: str | None = None) -> URL:
        return URL.create(
            "postgresql+psycopg",
            username=self.user or None,
            password=password or None,
            host=self.host,
            port=self.port,
            database=self.database,
            query={"sslmode": self.sslmode, **self.options},
        )

    @property
    def secret_key(self) -> str:
        return f"db-password:{self.name}"


class ProfileStore:
    """Profiles in `<config>/connections.json`; their passwords in the keyring."""

    def __init__(self, path: Path | None = None, secrets: SecretStore | None = None) -> None:
        self.path = path or config_dir() / "connections.json"
        self.secrets = secrets or SecretStore()

    def list(self) -> builtins.list[ConnectionProfile]:
        if not self.path.exists():
            return []
        raw = json.loads(self.path.read_text(encoding="utf-8"))
        return [ConnectionProfile(**item) for item in raw.get("profiles", [])]

    def get(self, name: str) -> ConnectionProfile | None:
        return next((p for p in self.list() if p.name == name), None)

    def save(self, profile: ConnectionProfile, password: str | None = None) -> None:
        """Write the profile; the password, if given, goes to the keyring (raises when none exists)."""
        errors = profile.validate()
        if errors:
            raise ValueError("; ".join(f"{k}: {v}" for k, v in errors.items()))
        if password is not None:
            self.secrets.set(profile.secret_key, password)
        profiles = [p for p in self.list() if p.name != profile.name] + [profile]
        self._write(profiles)

    def delete(self, name: str) -> None:
        profile = self.get(name)
        if profile is None:
            return
        self.secrets.delete(profile.secret_key)
        self._write([p for p in self.list() if p.name != name])

    def password(self, profile: ConnectionProfile) -> str | None:
        return self.secrets.get(profile.secret_key)

    def _write(self, profiles: builtins.list[ConnectionProfile]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(
            json.dumps({"profiles": [asdict(p) for p in sorted(profiles, key=lambda p: p.name)]}, indent=2),
            encoding="utf-8",
        )
        tmp.replace(self.path)  # atomic: a crash never leaves half a file


def database_url_from_env() -> str | None:
    value = os.environ.get(DATABASE_URL_ENV, "").strip()
    return value or None


# -- remembered sign-ins ----------------------------------------------------------------------


def database_identity(url: str | URL) -> str:
    """Which database a URL names, without its password: the key a remembered sign-in is kept
    under, so one computer can be signed in to several shops' databases."""
    from sqlalchemy import make_url

    parsed = make_url(url) if isinstance(url, str) else url
    identity = URL.create(
        parsed.get_backend_name(),
        username=parsed.username,
        host=parsed.host,
        port=parsed.port,
        database=parsed.database,
        query={k: v for k, v in parsed.query.items() if k == "host"},  # a socket folder names a server
    )
    return identity.render_as_string(hide_password=True)


class DeviceTokenStore:
    """The device-session token of `ecomdesk login` / "Remember me", per database, in the keyring."""

    def __init__(self, secrets: SecretStore | None = None) -> None:
        self.secrets = secrets or SecretStore()

    @staticmethod
    def key(url: str | URL) -> str:
        return f"device-session:{database_identity(url)}"

    def get(self, url: str | URL) -> str | None:
        return self.secrets.get(self.key(url))

    def set(self, url: str | URL, token: str) -> None:
        """Raises `SecretStoreUnavailable` when there is no keyring: then nothing is remembered."""
        self.secrets.set(self.key(url), token)

    def delete(self, url: str | URL) -> None:
        self.secrets.delete(self.key(url))


# -- the worker's secrets -----------------------------------------------------------------------

#: Secrets a worker needs that must never be in the database: name → the environment variable
#: that gives it (a server's unit file, a container) before the keyring is asked.
WORKER_SECRETS: Final[dict[str, str]] = {
    "smtp-password": "ECOMDESK_SMTP_PASSWORD",
    "inbound-secret": "ECOMDESK_INBOUND_SECRET",
    "stripe-secret": "ECOMDESK_STRIPE_WEBHOOK_SECRET",
}


def worker_secret(name: str, secrets: SecretStore | None = None) -> str | None:
    """One of `WORKER_SECRETS`: its environment variable when set, else a systemd credential of
    that name (`LoadCredential=`), else the keyring's (`ecomdesk worker secret set NAME`), else None."""
    value = os.environ.get(WORKER_SECRETS[name], "").strip()
    if value:
        return value
    credentials = os.environ.get("CREDENTIALS_DIRECTORY")
    if credentials:
        with contextlib.suppress(OSError):
            value = (Path(credentials) / name).read_text(encoding="utf-8").strip()
            if value:
                return value
    return (secrets or SecretStore()).get(f"worker:{name}") or None
