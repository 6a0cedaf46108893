"""Shared fixtures: a real PostgreSQL, a real (in-memory) keyring, Qt offscreen.

The server is a throwaway cluster started here (the `pgserver` binaries), or the server named by
ECOMDESK_TEST_DATABASE_URL (its user must be allowed to CREATE DATABASE). Each test that asks for
`database_url` gets its own database cloned from a template migrated once per session, so tests
never see each other's rows, however many connections or threads they use.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from keyring.backend import KeyringBackend
from psycopg import sql
from sqlalchemy import Engine

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from ecomdesk.db import migrate
from ecomdesk.db.embedded import EmbeddedServer
from ecomdesk.db.engine import libpq_url, make_engine

TEST_DATABASE_URL_ENV = "ECOMDESK_TEST_DATABASE_URL"


class MemoryKeyring(KeyringBackend):
    """A real keyring backend that keeps secrets in a dict.

    CI machines have no Secret Service daemon; this stands in for the OS keyring only, so the code
    under test still goes through the `keyring` library's API exactly as in production.
    """

    priority = 1

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        from keyring.errors import PasswordDeleteError

        if (service, username) not in self.store:
            raise PasswordDeleteError(username)
        del self.store[(service, username)]


@pytest.fixture(autouse=True)
def memory_keyring() -> Iterator[MemoryKeyring]:
    import keyring

    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def no_keyring() -> Iterator[None]:
    """The situation of a machine with no keyring backend at all."""
    import keyring
    from keyring.backends import fail

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())  # type: ignore[no-untyped-call]
    yield
    keyring.set_keyring(previous)


@pytest.fixture(autouse=True)
def user_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Per-test config/data/log folders, so no test reads or writes the real user's files."""
    home = tmp_path_factory.mktemp("home")
    for var, sub in (
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_DATA_HOME", "data"),
        ("XDG_STATE_HOME", "state"),
        ("XDG_CACHE_HOME", "cache"),
    ):
        monkeypatch.setenv(var, str(home / sub))
    monkeypatch.delenv("ECOMDESK_DATABASE_URL", raising=False)
    return home


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer | None]:
    """The session's throwaway cluster (None when an external server is used)."""
    if os.environ.get(TEST_DATABASE_URL_ENV):
        yield None
        return
    server = EmbeddedServer(
        tmp_path_factory.mktemp("pg") / "cluster",
        # Durability is pointless for a cluster deleted at the end of the run.
        extra_settings=("fsync=off", "synchronous_commit=off", "full_page_writes=off", "max_connections=200"),
    )
    server.start()
    yield server
    server.destroy()


@pytest.fixture(scope="session")
def pg_admin_url(pg_server: EmbeddedServer | None) -> str:
    """A libpq URL of a database on the test server from which databases can be created."""
    if pg_server is None:
        return libpq_url(os.environ[TEST_DATABASE_URL_ENV])
    return pg_server.url("postgres")


def _database_url(admin_url: str, name: str) -> str:
    from sqlalchemy import make_url

    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def _create_database(admin_url: str, name: str, template: str | None = None) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        stmt = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            stmt = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        conn.execute(stmt)


def _drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def scratch_database(admin_url: str, template: str, prefix: str = "ecomdesk_t") -> Iterator[str]:
    """A database cloned from `template` (its URL), dropped when the block ends: for a fixture
    that fills a shop once and reads it in many tests."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    _create_database(admin_url, name, template=template)
    try:
        yield _database_url(admin_url, name)
    finally:
        _drop_database(admin_url, name)


@pytest.fixture(scope="session")
def template_database(pg_admin_url: str) -> Iterator[str]:
    """A database migrated to head once per session (per xdist worker); tests clone it."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"ecomdesk_tmpl_{worker}_{os.getpid()}"
    _drop_database(pg_admin_url, name)
    _create_database(pg_admin_url, name)
    engine = make_engine(_database_url(pg_admin_url, name))
    migrate.upgrade(engine)
    engine.dispose()
    yield name
    _drop_database(pg_admin_url, name)


@pytest.fixture
def empty_database_url(pg_admin_url: str) -> Iterator[str]:
    """A brand-new database with no tables (for migration tests)."""
    name = f"ecomdesk_empty_{uuid.uuid4().hex[:12]}"
    _create_database(pg_admin_url, name)
    yield _database_url(pg_admin_url, name)
    _drop_database(pg_admin_url, name)


@pytest.fixture
def database_url(pg_admin_url: str, template_database: str) -> Iterator[str]:
    """A fresh database at head, with the reference data and nothing else."""
    with scratch_database(pg_admin_url, template_database) as url:
        yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    yield eng
    eng.dispose()
