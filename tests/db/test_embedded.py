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


def test_a_server_left_running_by_a_deleted_installation_is_restarted_with_ours(tmp_path):
    """Reinstalling the app while its demo server runs deletes the server's own files (timezone
    data among them): new connections then fail with 'invalid value for parameter TimeZone'."""
    import shutil
    import sys

    import pytest

    from ecomdesk.db.embedded import find_bin_dir
    from ecomdesk.db.engine import make_engine

    if not sys.platform.startswith("linux"):
        pytest.skip("reads /proc")
    # A copy of the whole installation: the binaries find their libraries relative to themselves.
    site = find_bin_dir().parents[2]
    install = tmp_path / "old-install"
    for name in ("pgserver", "pgserver.libs"):
        if (site / name).exists():
            shutil.copytree(site / name, install / name, symlinks=True)
    bin_dir = install / "pgserver" / "pginstall" / "bin"
    if not bin_dir.exists():
        pytest.skip("the PostgreSQL binaries are not pgserver's")
    old = EmbeddedServer(tmp_path / "cluster", bin_dir=bin_dir)
    ours = EmbeddedServer(tmp_path / "cluster")
    try:
        assert old.start() is True
        shutil.rmtree(install)
        assert ours.start() is True  # restarted, not reused
        engine = make_engine(ours.url())  # sets timezone=UTC, which needs the server's tz data
        try:
            with engine.connect() as conn:
                assert conn.exec_driver_sql("SHOW timezone").scalar() == "UTC"
        finally:
            engine.dispose()
        assert ours.start() is False  # healthy now: reused
    finally:
        ours.destroy()
