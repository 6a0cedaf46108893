"""`ecomdesk demo --no-gui` on a machine with no PostgreSQL running: a URL psql can use, seeded once."""

from __future__ import annotations

import os
import subprocess
import sys

from ecomdesk.db.embedded import find_bin_dir
from ecomdesk.db.models import metadata


def _ecomdesk(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ecomdesk", *args], capture_output=True, text=True, timeout=300, env=os.environ
    )


def _psql(url: str, sql: str) -> str:
    out = subprocess.run(
        [str(find_bin_dir() / "psql"), url, "-X", "-A", "-t", "-c", sql],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout


def test_demo_prints_a_url_where_psql_sees_every_table_seeded_and_reuses_it(user_dirs):
    first = _ecomdesk("demo", "--no-gui")
    try:
        assert first.returncode == 0, first.stderr
        url = first.stdout.strip().splitlines()[-1]
        assert url.startswith("postgresql://")
        assert "sample data" in first.stderr  # seeded on the first start

        tables = set(_psql(url, r"SELECT tablename FROM pg_tables WHERE schemaname = 'public'").split())
        assert set(metadata.tables) <= tables
        seeded = ("users", "user_profiles", "inventory_items", "order_events", "order_lines", "customers",
                  "sales_metrics", "customer_metrics", "analytics_data", "reports", "audit_log", "roles",
                  "permissions", "settings")  # fmt: skip
        for table in seeded:
            assert int(_psql(url, f"SELECT count(*) FROM {table}")) > 0, table
        # The example reports were generated: all but the one that failed long ago have content,
        # and the queue is empty.
        statuses = _psql(url, "SELECT status || ':' || count(*) FROM reports GROUP BY status ORDER BY status")
        assert statuses.split() == ["completed:7", "failed:1"]
        without_content = (
            "SELECT count(*) FROM reports r WHERE status = 'completed' AND size_bytes <>"
            " (SELECT sum(length(data)) FROM report_chunks c WHERE c.report_id = r.id)"
        )
        assert int(_psql(url, without_content)) == 0
        assert int(_psql(url, "SELECT count(*) FROM jobs")) == 0

        _psql(url, "UPDATE settings SET value = '\"Kept Shop\"' WHERE key = 'shop.name'")
        again = _ecomdesk("demo", "--no-gui")
        assert again.returncode == 0, again.stderr
        assert again.stdout.strip().splitlines()[-1] == url
        assert "sample data" not in again.stderr  # reused, not seeded twice
        assert _psql(url, "SELECT value FROM settings WHERE key = 'shop.name'").strip() == '"Kept Shop"'
    finally:
        stop = _ecomdesk("demo", "--stop")
    assert "stopped" in stop.stdout
