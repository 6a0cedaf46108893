"""The one engine factory: connection settings suited to a desktop client that runs all day."""

from __future__ import annotations

from typing import Any

from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker

APPLICATION_NAME = "ecomdesk"


def normalise_url(url: str | URL) -> URL:
    """Accept libpq-style `postgresql://` URLs and use psycopg 3 for them."""
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def libpq_url(url: str | URL) -> str:
    """The URL as psql and other libpq tools spell it (password included only if present)."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() != "postgresql":
        return parsed.render_as_string(hide_password=False)
    text = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    # SQLAlchemy leaves spaces in the user name and password as they are; libpq refuses them in a
    # URI. The user info ends at the first "@" (SQLAlchemy encodes any "@" inside it).
    scheme, _, rest = text.partition("://")
    userinfo, at, host = rest.partition("@")
    return f"{scheme}://{userinfo.replace(' ', '%20')}{at}{host}" if at else text


def make_engine(url: str | URL, *, statement_timeout_ms: int = 60_000, **overrides: Any) -> Engine:
    """Build an engine; nothing connects until the first use.

    - `pool_pre_ping` replaces connections the server dropped while the app sat idle.
    - `connect_timeout`, TCP keepalives and `tcp_user_timeout` make a vanished server show up as an
      error in seconds (idle) or half a minute (mid-query), not a quarter of an hour.
    - `statement_timeout` and `idle_in_transaction_session_timeout` stop one stuck client from
      holding locks that block every other staff member.
    - `hide_parameters` keeps bound values (password hashes, token hashes, personal data) out of
      SQL logs under `--debug` and out of error messages.
    """
    parsed = normalise_url(url)
    kwargs: dict[str, Any] = {"future": True, "hide_parameters": True}
    if parsed.get_backend_name() == "postgresql":
        kwargs.update(
            pool_pre_ping=True,
            pool_size=4,
            max_overflow=4,
            pool_recycle=1800,
            pool_timeout=10,
            connect_args={
                "application_name": APPLICATION_NAME,
                "connect_timeout": 5,
                "keepalives": 1,
                "keepalives_idle": 30,
                "keepalives_interval": 10,
                "keepalives_count": 3,
                # Data sent but never acknowledged (a network that died mid-query) fails the
                # connection after 30 s instead of TCP's quarter of an hour of retransmissions.
                "tcp_user_timeout": 30_000,
                "options": (
                    f"-c statement_timeout={statement_timeout_ms} "
                    "-c idle_in_transaction_session_timeout=300000 -c timezone=UTC"
                ),
            },
        )
    elif parsed.get_backend_name() == "sqlite":
        kwargs.update(connect_args={"check_same_thread": False})
    kwargs.update(overrides)
    engine = create_engine(parsed, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_on_connect)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    """SQLite ignores foreign keys unless asked, per connection."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded values after commit, so services can build results from them."""
    return sessionmaker(engine, expire_on_commit=False)
