"""`ecomdesk import orders FILE` without a window: the summary, the dry run, every problem listed
as FILE:LINE: column: message with nothing written, and the permission it needs."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy import text

from ecomdesk.cli import main
from ecomdesk.db.engine import make_engine

PASSWORD = "the order clerk's passphrase"
HEADER = "order_id,customer_id,channel,amount,currency,status,occurred_at"


def _run(monkeypatch: pytest.MonkeyPatch, url: str, *args: str, user: str = "boss@shop.example") -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    return main([*args, "--database-url", url, "--user", user, "--password-stdin"])


@pytest.fixture
def shop(monkeypatch: pytest.MonkeyPatch, database_url: str, capsys: pytest.CaptureFixture[str]) -> str:
    """A database with an admin and a viewer, and no orders yet."""
    for email, role in (("boss@shop.example", "admin"), ("vic@shop.example", "viewer")):
        monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
        create = ["user", "create", "--database-url", database_url, "--email", email, "--role", role]
        assert main([*create, "--password-stdin"]) == 0
    capsys.readouterr()
    return database_url


def _orders(url: str) -> list[tuple[str, str]]:
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT order_id, status FROM order_events ORDER BY order_id")).all()
    engine.dispose()
    return [(r.order_id, r.status) for r in rows]


def _file(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "orders.csv"
    path.write_text("\n".join((HEADER, *lines)) + "\n", encoding="utf-8")
    return path


def test_import_stores_the_orders_and_prints_the_summary(
    monkeypatch: pytest.MonkeyPatch, shop: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _file(
        tmp_path,
        "A-1,C-1,web,20.00,EUR,paid,2026-03-01T10:00:00Z",
        "A-2,C-2,web,5.00,EUR,pending,2026-03-01T11:00:00Z",
        "A-1,C-1,web,5.00,EUR,refunded,2026-03-03T10:00:00Z",
    )
    assert _run(monkeypatch, shop, "import", "orders", str(path)) == 0
    out = capsys.readouterr()
    # Days: 1 March (A-1 paid) and 3 March (its refund); the pending order counts on no day.
    assert out.out == "3 rows: 2 new, 1 changed, 0 unchanged; metrics of 2 days recomputed.\n"
    assert out.err == ""
    assert _orders(shop) == [("A-1", "refunded"), ("A-2", "pending")]


def test_dry_run_lists_what_would_change_and_writes_nothing(
    monkeypatch: pytest.MonkeyPatch, shop: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "orders.jsonl"
    path.write_text(
        '{"order_id": "J-1", "customer_id": "C-1", "channel": "web", "amount": 20, "currency": "EUR",'
        ' "status": "paid", "occurred_at": "2026-03-01T10:00:00Z"}\n',
        encoding="utf-8",
    )
    assert _run(monkeypatch, shop, "import", "orders", str(path), "--dry-run") == 0
    out = capsys.readouterr().out
    assert out == (
        "1\tcreate\tJ-1\tpaid\t20.00\n"
        "1 row: 1 new, 0 changed, 0 unchanged; metrics of 1 day would be recomputed. "
        "Dry run: nothing was written.\n"
    )
    assert _orders(shop) == []


def test_every_problem_is_printed_as_file_line_column_message_and_nothing_is_written(
    monkeypatch: pytest.MonkeyPatch, shop: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _file(
        tmp_path,
        "A-1,C-1,web,20.00,EUR,paid,2026-03-01T10:00:00Z",
        "A-2,C-1,web,20.00,EUR,paid,2026-03-01 10:00",
        "A-3,C-1,web,20.00,GBP,paid,2026-03-01T10:00:00Z",
    )
    assert _run(monkeypatch, shop, "import", "orders", str(path)) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"{path}:3: occurred_at: Add the time zone offset, e.g. +01:00 or Z.",
        f"{path}:4: currency: The shop's currency is EUR; this order is in GBP. Orders in another currency "
        "are not imported.",
        "ecomdesk: 2 rows have problems; nothing was imported.",
    ]
    assert _orders(shop) == []


def test_a_viewer_may_not_import_orders(
    monkeypatch: pytest.MonkeyPatch, shop: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _file(tmp_path, "A-1,C-1,web,20.00,EUR,paid,2026-03-01T10:00:00Z")
    assert _run(monkeypatch, shop, "import", "orders", str(path), user="vic@shop.example") != 0
    assert "analytics.write" in capsys.readouterr().err
    assert _orders(shop) == []


def test_a_missing_file_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, shop: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(monkeypatch, shop, "import", "orders", str(tmp_path / "nope.csv")) == 2
    assert "cannot read" in capsys.readouterr().err
