"""Reaching a shop's database from the desktop: the connection test with the server's own reason and
its fix, the liveness probe, and signing in on this computer (remembered device tokens).

Plain Python, no Qt: the windows call these through the task runner, never on the GUI thread, and
they are tested against a real server. The UI imports this module instead of `ecomdesk.db`.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import re
import socket
from dataclasses import dataclass
from typing import Any, Final

import psycopg
from sqlalchemy import make_url
from sqlalchemy.exc import DBAPIError

from ecomdesk.bootstrap import DemoDatabase, build_engine
from ecomdesk.config import DeviceTokenStore, KeyringStatus, SecretStore, SecretStoreUnavailable
from ecomdesk.db.catalog import DEMO_ACCOUNTS, DEMO_PASSWORD
from ecomdesk.db.embedded import EmbeddedServerError
from ecomdesk.db.engine import APPLICATION_NAME
from ecomdesk.db.migrate import SchemaState, schema_status
from ecomdesk.services.auth import SignIn
from ecomdesk.services.context import Actor
from ecomdesk.services.errors import AuthenticationError
from ecomdesk.services.registry import Services

__all__ = [
    "DEMO_ACCOUNTS",
    "DEMO_PASSWORD",
    "ConnectionCheck",
    "Opened",
    "Problem",
    "Remembered",
    "SchemaState",
    "check_connection",
    "close_services",
    "describe_url",
    "device_name",
    "explain_failure",
    "open_database",
    "open_services",
    "resume_remembered",
    "sign_in",
    "sign_out",
    "stop_demo_server",
]

log = logging.getLogger(__name__)

#: Seconds a connection test waits for the server: long enough for a slow VPN, short enough that
#: a wrong host name is reported before the person gives up.
CONNECT_TIMEOUT_S: Final = 5


class Problem(enum.Enum):
    WRONG_PASSWORD = "wrong_password"
    NO_ROLE = "no_role"
    NO_DATABASE = "no_database"
    NOT_ALLOWED = "not_allowed"  # pg_hba.conf has no entry for this client
    SSL_REQUIRED = "ssl_required"  # the server wants encryption, the profile did not ask for it
    SSL_UNAVAILABLE = "ssl_unavailable"  # the profile demands encryption the server does not offer
    UNKNOWN_HOST = "unknown_host"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    NO_SOCKET = "no_socket"
    SCHEMA = "schema"
    OTHER = "other"


@dataclass(frozen=True)
class ConnectionCheck:
    """What a connection test found, as sentences for the person at the screen."""

    problem: Problem | None
    #: What happened ("The password is wrong for user …", "Connected to PostgreSQL 16.2.").
    message: str
    #: What to do about it; empty when all is well.
    fix: str = ""
    #: The server's or driver's own words, for the administrator.
    detail: str = ""
    server_version: str | None = None
    schema: SchemaState | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def text(self) -> str:
        return f"{self.message} {self.fix}".strip()


# SQLSTATE → problem. libpq reports no SQLSTATE for a failed connection attempt, so the server's
# message (English unless the server's lc_messages says otherwise) is matched as well.
_BY_SQLSTATE: Final = {"28P01": Problem.WRONG_PASSWORD, "3D000": Problem.NO_DATABASE}
_BY_TEXT: Final[tuple[tuple[re.Pattern[str], Problem], ...]] = (
    (re.compile(r"password authentication failed|no password supplied|fe_sendauth"), Problem.WRONG_PASSWORD),
    (re.compile(r"role \"[^\"]*\" does not exist"), Problem.NO_ROLE),
    (re.compile(r"database \"[^\"]*\" does not exist"), Problem.NO_DATABASE),
    (re.compile(r"no pg_hba\.conf entry .*no encryption|SSL off"), Problem.SSL_REQUIRED),
    (re.compile(r"pg_hba\.conf"), Problem.NOT_ALLOWED),
    (re.compile(r"server does not support SSL"), Problem.SSL_UNAVAILABLE),
    (
        re.compile(r"could not translate host name|failed to resolve host|Name or service not known"),
        Problem.UNKNOWN_HOST,
    ),
    (re.compile(r"Connection refused"), Problem.REFUSED),
    (re.compile(r"timeout expired|timed out"), Problem.TIMEOUT),
    (re.compile(r"on socket .*No such file or directory"), Problem.NO_SOCKET),
)


def _quoted(pattern: str, text: str) -> str:
    found = re.search(pattern + r' "([^"]*)"', text)
    return found.group(1) if found else ""


def _explain(problem: Problem, url: str, detail: str) -> tuple[str, str]:
    parsed = make_url(url)
    user = parsed.username or _quoted("user", detail) or "the user"
    database = parsed.database or _quoted("database", detail) or "the database"
    host = parsed.host or parsed.query.get("host") or "localhost"
    where = f"{host}:{parsed.port or 5432}"
    match problem:
        case Problem.WRONG_PASSWORD:
            return (
                f"The server refused the password for user “{user}”.",
                "Check the password (and the user name) in the profile; the database administrator "
                "can reset it.",
            )
        case Problem.NO_ROLE:
            return (
                f"The server has no user (role) “{user}”.",
                "Check the user name in the profile, or ask the database administrator to create it.",
            )
        case Problem.NO_DATABASE:
            return (
                f"The server at {where} has no database “{database}”.",
                "Check the database name in the profile, or ask the administrator to create it.",
            )
        case Problem.SSL_REQUIRED:
            return (
                "The server accepts only encrypted (SSL) connections from this computer.",
                "Set the profile's SSL mode to “require” (or “verify-full”).",
            )
        case Problem.NOT_ALLOWED:
            return (
                f"The server at {where} does not accept connections for user “{user}” from this computer.",
                "Ask the database administrator to allow it in the server's pg_hba.conf.",
            )
        case Problem.SSL_UNAVAILABLE:
            return (
                f"The server at {where} does not offer SSL, but the profile requires it.",
                "Set the SSL mode to “prefer”, or ask the administrator to enable SSL on the server.",
            )
        case Problem.UNKNOWN_HOST:
            return (
                f"The host name “{host}” could not be found.",
                "Check the spelling of the host, and that this computer is on the right network or VPN.",
            )
        case Problem.REFUSED:
            return (
                f"Nothing answers at {where}: the connection was refused.",
                "Check the host and port, and that the PostgreSQL server is running and listens there.",
            )
        case Problem.TIMEOUT:
            return (
                f"The server at {where} did not answer within {CONNECT_TIMEOUT_S} seconds.",
                "Check the host, the network or VPN, and any firewall between this computer and the server.",
            )
        case Problem.NO_SOCKET:
            return (
                f"No PostgreSQL server runs in the folder {host}.",
                "Start the server, or check the host (socket folder) in the connection.",
            )
    return (
        "The connection failed.",
        "Check the connection details; the server's own words are below.",
    )


def _classify(error: psycopg.Error) -> Problem:
    sqlstate = getattr(error, "sqlstate", None)
    if sqlstate in _BY_SQLSTATE:
        return _BY_SQLSTATE[sqlstate]
    if sqlstate == "28000":
        return Problem.NOT_ALLOWED if "pg_hba" in str(error) else Problem.NO_ROLE
    text = str(error)
    return next((problem for pattern, problem in _BY_TEXT if pattern.search(text)), Problem.OTHER)


def _server_detail(error: BaseException) -> str:
    """The driver's message on one line, without the password a DSN might echo."""
    return " ".join(str(error).split())


def _connect_arguments(url: str, timeout: int) -> dict[str, Any]:
    """libpq keywords from a SQLAlchemy URL, as its psycopg dialect passes them: no URL string
    is rebuilt for libpq, so a password with spaces or `%` reaches the server as typed."""
    parsed = make_url(url)
    arguments: dict[str, Any] = {
        key: value
        for key, value in (
            ("host", parsed.host),
            ("port", parsed.port),
            ("dbname", parsed.database),
            ("user", parsed.username),
            ("password", parsed.password),
        )
        if value is not None
    }
    for key, value in parsed.query.items():
        arguments[key] = value if isinstance(value, str) else value[-1]
    arguments.update(connect_timeout=timeout, application_name=APPLICATION_NAME)
    return arguments


def check_connection(url: str, *, timeout: int = CONNECT_TIMEOUT_S) -> ConnectionCheck:
    """Connect once, then ask whether the schema fits this app. Never raises for a failed test.

    Slow by nature (up to `timeout` seconds, more for DNS): call it through the task runner.
    """
    try:
        with psycopg.connect(**_connect_arguments(url, timeout)) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            version = str(row[0]).split()[0] if row else None
    except psycopg.Error as exc:
        return explain_failure(url, exc)
    engine = build_engine(url)
    try:
        status = schema_status(engine)
    except DBAPIError as exc:  # e.g. the user may connect but not read the catalogue
        return ConnectionCheck(
            Problem.OTHER,
            "Connected, but the database's tables could not be read.",
            "Ask the administrator to grant this user access to the ecomdesk tables.",
            _server_detail(exc.orig or exc),
            version,
        )
    finally:
        engine.dispose()
    server = f"PostgreSQL {version}" if version else "the server"
    if status.state is not SchemaState.CURRENT:
        return ConnectionCheck(
            Problem.SCHEMA,
            f"Connected to {server}, but this database does not fit this app.",
            status.advice,
            server_version=version,
            schema=status.state,
        )
    message = f"Connected to {server}. {status.advice}"
    return ConnectionCheck(None, message, server_version=version, schema=status.state)


def explain_failure(url: str, error: psycopg.Error) -> ConnectionCheck:
    """What the driver's error about connecting to `url` means and what to do about it: the
    connection test's words, which the command line prints too."""
    problem = _classify(error)
    message, fix = _explain(problem, url, str(error))
    return ConnectionCheck(problem, message, fix, _server_detail(error))


def describe_url(url: str) -> str:
    """How the status bar names a database: `user@host:port/database`, never with the password."""
    parsed = make_url(url)
    host = parsed.host or ""
    socket_dir = parsed.query.get("host")
    if not host and socket_dir:
        return f"{parsed.database} on this computer"
    port = f":{parsed.port}" if parsed.port and parsed.port != 5432 else ""
    user = f"{parsed.username}@" if parsed.username else ""
    return f"{user}{host or 'localhost'}{port}/{parsed.database}"


# -- the database of a signed-in window set ----------------------------------------------------


def open_services(url: str) -> Services:
    """The services of one database; nothing connects until the first call."""
    return Services.build(build_engine(url))


def close_services(services: Services) -> None:
    """Close the pooled connections of a database the app leaves."""
    services.ctx.engine.dispose()


def stop_demo_server(demo: DemoDatabase) -> None:
    """Stop the demo server the app started, at exit: a failure is logged, there is no one to tell."""
    try:
        demo.server.stop()
    except EmbeddedServerError as exc:
        log.warning("could not stop the demo server: %s", exc)


# -- signing in on this computer ---------------------------------------------------------------


def device_name() -> str:
    """How this computer appears in a user's list of remembered devices."""
    return f"ecomdesk on {socket.gethostname()}"


@dataclass(frozen=True)
class Remembered:
    """What this computer remembers for one database: whether it can remember at all, and the
    sign-in its stored token resumed (None: none stored, or it no longer works)."""

    keyring: KeyringStatus
    sign_in: SignIn | None = None
    #: Why a stored sign-in was not used (expired, revoked…); empty when there was none.
    notice: str = ""


def resume_remembered(services: Services, url: str) -> Remembered:
    """Resume the device session remembered for `url`; a token that no longer works is deleted."""
    status = SecretStore().status()
    if not status.available:
        return Remembered(status)
    tokens = DeviceTokenStore()
    token = tokens.get(url)
    if token is None:
        return Remembered(status)
    try:
        return Remembered(status, services.auth.resume(token))
    except AuthenticationError as exc:
        tokens.delete(url)
        return Remembered(status, None, exc.message)


def sign_in(services: Services, url: str, email: str, password: str, *, remember: bool) -> SignIn:
    """Check the password; with `remember`, keep the device token in the keyring for `url`.

    Without a usable keyring nothing is remembered (and no device session is opened).
    """
    remember = remember and SecretStore().status().available
    signed_in = services.auth.authenticate(email, password, remember=remember, device_name=device_name())
    if signed_in.token is not None:
        try:
            DeviceTokenStore().set(url, signed_in.token)
        except SecretStoreUnavailable:
            # The keyring went away between the check and now: end the session nobody can resume.
            services.auth.sign_out(signed_in.actor)
    return signed_in


def sign_out(services: Services, actor: Actor, url: str) -> None:
    """End the device session on the server and forget its token here (the latter even when the
    server cannot be reached: this computer must not stay signed in)."""
    try:
        services.auth.sign_out(actor)
    finally:
        with contextlib.suppress(SecretStoreUnavailable):
            DeviceTokenStore().delete(url)


@dataclass(frozen=True)
class Opened:
    """A database the app is about to sign in to: the connection test, and when it passed, the
    services and what this computer remembers for it."""

    check: ConnectionCheck
    services: Services | None = None
    remembered: Remembered | None = None


def open_database(url: str) -> Opened:
    """Test the connection and schema, then resume a remembered sign-in: everything the sign-in
    window needs to know before it asks anything, in one background call."""
    check = check_connection(url)
    if not check.ok:
        return Opened(check)
    services = open_services(url)
    return Opened(check, services, resume_remembered(services, url))
