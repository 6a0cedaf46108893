"""The one place that turns configuration into running parts: database URL, engine, demo server.

Entry points (CLI, GUI, tests) call these; importing this module starts nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
from psycopg import sql
from sqlalchemy import Engine

from ecomdesk.config import ProfileStore, database_url_from_env, demo_cluster_dir
from ecomdesk.db import migrate
from ecomdesk.db.embedded import EmbeddedServer
from ecomdesk.db.engine import libpq_url, make_engine, normalise_url

if TYPE_CHECKING:
    from ecomdesk.db.snapshot import SnapshotInfo
    from ecomdesk.services.context import Actor
    from ecomdesk.services.registry import Services

DEMO_DATABASE = "ecomdesk"


class ConfigurationError(RuntimeError):
    """No usable database was named; the message says how to name one."""


def resolve_database_url(
    database_url: str | None = None, profile: str | None = None, profiles: ProfileStore | None = None
) -> str:
    """`--database-url`, then `--profile`, then ECOMDESK_DATABASE_URL."""
    if database_url:
        return database_url
    if profile:
        store = profiles or ProfileStore()
        found = store.get(profile)
        if found is None:
            names = ", ".join(p.name for p in store.list()) or "none yet"
            raise ConfigurationError(f"No connection profile named {profile!r} (profiles: {names}).")
        return found.url(store.password(found)).render_as_string(hide_password=False)
    env = database_url_from_env()
    if env:
        return env
    raise ConfigurationError(
        "No database named: pass --database-url URL or --profile NAME, set ECOMDESK_DATABASE_URL, "
        "or run `ecomdesk demo` for the local demo database."
    )


def build_engine(url: str) -> Engine:
    """The shop's engine; a URL that is not a PostgreSQL database's is a configuration error
    (exit 2 on the command line), not a crash."""
    from sqlalchemy.exc import ArgumentError

    try:
        backend = normalise_url(url).get_backend_name()
    except ArgumentError as exc:
        raise ConfigurationError(
            "the database URL cannot be read; write it as postgresql://USER@HOST:PORT/DATABASE"
        ) from exc
    if backend != "postgresql":
        raise ConfigurationError(f"ecomdesk works with PostgreSQL; the URL names {backend!r}")
    return make_engine(url)


@dataclass(frozen=True)
class OpenSnapshot:
    """A snapshot opened as a read-only shop: its services, the person it opens as, its details."""

    path: Path
    services: Services
    actor: Actor
    info: SnapshotInfo

    def close(self) -> None:
        self.services.ctx.engine.dispose()


def open_snapshot(path: Path, passphrase: str | None = None) -> OpenSnapshot:
    """Open a snapshot file read-only, with no server and no sign-in.

    The services' clock stands still at the moment the snapshot was taken. Raises `SnapshotError`
    (a `ServiceError`) with a message for the person when the file is not a snapshot, is damaged,
    needs a passphrase, or comes from a newer ecomdesk.
    """
    from ecomdesk.db.snapshot import probe_snapshot, snapshot_engine
    from ecomdesk.services.context import ServiceContext
    from ecomdesk.services.registry import Services
    from ecomdesk.services.snapshots import snapshot_actor, snapshot_errors

    with snapshot_errors():
        probe = probe_snapshot(Path(path), passphrase)
    engine = snapshot_engine(probe)
    taken = probe.info.created_at
    try:
        # The shop as it was: "today", "last 7 days" and the dashboard's "as of" are the moment
        # the snapshot was taken, however much later it is opened.
        services = Services.from_context(ServiceContext(engine, read_only=True, clock=lambda: taken))
        actor = snapshot_actor(services.ctx, probe.info)
    except BaseException:
        engine.dispose()
        raise
    return OpenSnapshot(probe.path, services, actor, probe.info)


def ensure_database(admin_url: str, name: str) -> bool:
    """Create database `name` on the server of `admin_url` unless it exists; True if created."""
    with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return True


@dataclass(frozen=True)
class DemoDatabase:
    server: EmbeddedServer
    url: str
    started_server: bool
    seeded: bool


def prepare_demo(
    cluster_dir: Path | None = None, progress: Callable[[str], None] | None = None
) -> DemoDatabase:
    """Start (or reuse) the local demo server, bring its database to head and seed it once."""
    from ecomdesk.db.seed import is_seeded, seed_demo_data
    from ecomdesk.services.passwords import hash_password

    say = progress or (lambda _msg: None)
    server = EmbeddedServer(cluster_dir or demo_cluster_dir())
    say(f"Starting the local PostgreSQL server in {server.pgdata} …")
    started = server.start()
    ensure_database(server.url(), DEMO_DATABASE)
    url = server.url(DEMO_DATABASE)
    engine = make_engine(normalise_url(url), statement_timeout_ms=0)
    try:
        migrate.upgrade(engine)
        seeded = False
        if not is_seeded(engine):
            say("Filling the demo database with sample data (first start only) …")
            seed_demo_data(engine, hash_password=hash_password, progress=say)
            seeded = True
            generate_queued_reports(engine, "demo", progress=say)
    finally:
        engine.dispose()
    return DemoDatabase(server=server, url=url, started_server=started, seeded=seeded)


def generate_queued_reports(engine: Engine, what: str, progress: Callable[[str], None] | None = None) -> int:
    """Generate every report waiting in the queue here and now (the seed's examples), as the
    desktop app's runner would; returns how many."""
    from ecomdesk.services.jobs import runner_name
    from ecomdesk.services.registry import Services

    if progress is not None:
        progress("Generating the example reports …")
    return len(Services.build(engine).reports.run_pending(runner_name(what)))
