"""A PostgreSQL of its own that listens on TCP and asks for passwords: what the connection tests
need and the session's test server (local trust, no TCP port) cannot give.

`tcp_server` listens on 127.0.0.1 with a pg_hba.conf that asks for passwords (scram-sha-256) and,
for the role `ssl_only`, for SSL it cannot offer. The database `shop` (owned by `with_password`) is
at the app's schema, for connections that should work.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest

from ecomdesk.db import migrate
from ecomdesk.db.embedded import EmbeddedServer
from ecomdesk.db.engine import make_engine

ROLE_PASSWORD = "right-horse-battery"
HBA = """\
local all all trust
hostssl all ssl_only 127.0.0.1/32 scram-sha-256
host all with_password 127.0.0.1/32 scram-sha-256
"""


@dataclass(frozen=True)
class TcpServer:
    port: int

    def url(self, user: str, password: str = ROLE_PASSWORD, database: str = "postgres", **query: str) -> str:
        extra = "".join(f"&{k}={v}" for k, v in query.items())
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{database}?connect_timeout=5{extra}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def tcp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TcpServer]:
    base = tmp_path_factory.mktemp("pg-tcp")
    base.chmod(0o755)  # the server may run as the unprivileged `pgserver` user (root CI)
    hba = base / "pg_hba.conf"
    hba.write_text(HBA, encoding="utf-8")
    hba.chmod(0o644)
    port = free_port()
    server = EmbeddedServer(
        base / "cluster",
        extra_settings=("listen_addresses=127.0.0.1", f"port={port}", f"hba_file={hba}", "fsync=off"),
    )
    server.start()
    socket_url = f"postgresql://postgres@/postgres?host={server.socket_dir}&port={port}"
    with psycopg.connect(socket_url, autocommit=True) as conn:
        for role in ("with_password", "ssl_only"):
            conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{ROLE_PASSWORD}'")
        conn.execute("CREATE DATABASE shop OWNER with_password")
    engine = make_engine(f"postgresql://with_password@/shop?host={server.socket_dir}&port={port}")
    migrate.upgrade(engine)
    engine.dispose()
    yield TcpServer(port)
    server.destroy()
