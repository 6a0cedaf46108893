"""The app's own PostgreSQL: starts without a system server, keeps its data, can restart."""

from __future__ import annotations

import psycopg

from ecomdesk.db.embedded import EmbeddedServer


def test_cluster_keeps_its_data_across_a_stop_and_start(tmp_path):
    server = EmbeddedServer(tmp_path / "cluster")
    try:
        assert server.start() is True
        assert server.start() is False  # already running: reused, not started twice
        with psycopg.connect(server.url(), autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (n int)")
            conn.execute("INSERT INTO kept VALUES (42)")
            listen = conn.execute("SHOW listen_addresses").fetchone()
        assert listen == ("",), "the demo server must not open a TCP port"
        assert server.stop() is True
        assert not server.is_running()
        assert server.start() is True
        with psycopg.connect(server.url()) as conn:
            assert conn.execute("SELECT n FROM kept").fetchone() == (42,)
    finally:
        server.destroy()
    assert not (tmp_path / "cluster").exists()


def test_long_cluster_paths_get_a_short_socket_folder(tmp_path):
    deep = tmp_path.joinpath(*["a-rather-long-folder-name"] * 5) / "cluster"
    server = EmbeddedServer(deep)
    try:
        server.start()
        assert server.socket_dir != server.pgdata
        assert len(str(server.socket_dir / ".s.PGSQL.5432")) < 100
        with psycopg.connect(server.url()) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        server.destroy()
