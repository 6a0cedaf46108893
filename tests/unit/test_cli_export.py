"""`ecomdesk export VIEW --out FILE`: the grids' CSV export without a window."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from sqlalchemy import insert

from ecomdesk.cli import main
from ecomdesk.db.engine import make_engine
from ecomdesk.db.models import InventoryItem

PASSWORD = "the exporting admin's passphrase"


class _Stdout:
    """A stand-in for sys.stdout whose `.buffer` collects the bytes written, as a pipe would."""

    def __init__(self) -> None:
        self.buffer = io.BytesIO()

    def write(self, text: str) -> int:
        return self.buffer.write(text.encode())

    def flush(self) -> None:
        pass


@pytest.fixture
def shop(monkeypatch: pytest.MonkeyPatch, database_url: str) -> str:
    """A database with an admin and four items, one named like a formula."""
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    create = ["user", "create", "--database-url", database_url, "--email", "boss@shop.example"]
    assert main([*create, "--role", "admin", "--password-stdin"]) == 0
    engine = make_engine(database_url)
    common = {"category": "Toys", "supplier": "Acme", "reserved": 0, "price": "10.00", "cost": "4.00"}
    with engine.begin() as conn:
        conn.execute(
            insert(InventoryItem),
            [
                common | {"sku": "T-1", "name": "Kite", "stock": 3},
                common | {"sku": "T-2", "name": "=cmd|' /C calc'!A0", "stock": 40},
                common | {"sku": "T-3", "name": "Yo-yo, wooden", "stock": 12},
                common | {"sku": "B-1", "name": "Atlas", "stock": 1, "category": "Books"},
            ],
        )
    engine.dispose()
    return database_url


def _export(monkeypatch: pytest.MonkeyPatch, url: str, *args: str) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    acting = ["--database-url", url, "--user", "boss@shop.example", "--password-stdin"]
    return main(["export", *args, *acting])


def test_export_to_a_file_honours_search_filter_sort_and_columns(
    monkeypatch: pytest.MonkeyPatch, shop: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "toys.csv"
    args = ["inventory", "--out", str(out), "--filter", "category=Toys", "--sort=-stock"]
    assert _export(monkeypatch, shop, *args, "--columns", "sku,name,stock") == 0
    rows = list(csv.reader(out.open(newline="", encoding="utf-8")))
    assert rows == [
        ["SKU", "Name", "Stock"],
        ["T-2", "'=cmd|' /C calc'!A0", "40"],
        ["T-3", "Yo-yo, wooden", "12"],
        ["T-1", "Kite", "3"],
    ]
    assert "exported 3 items to" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.part"))


def test_export_to_stdout_with_a_search_and_a_bom(monkeypatch: pytest.MonkeyPatch, shop: str) -> None:
    stdout = _Stdout()
    monkeypatch.setattr("sys.stdout", stdout)
    assert _export(monkeypatch, shop, "inventory", "--out", "-", "--search", "yo", "--bom") == 0
    data = stdout.buffer.getvalue()
    assert data.startswith(b"\xef\xbb\xbfSKU,Name,Category,")
    assert data.count(b"\n") == 2 and b'"Yo-yo, wooden"' in data


def test_an_unknown_view_or_column_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, shop: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x.csv"
    assert _export(monkeypatch, shop, "invoices", "--out", str(out)) == 2
    assert (
        "no view named 'invoices' (views: users, roles, inventory, stock_movements, reports, activity, "
        "webhook_deliveries, sales_metrics, customer_metrics, orders, order_lines, analytics_events)"
        in capsys.readouterr().err
    )
    assert _export(monkeypatch, shop, "users", "--out", str(out), "--columns", "email,password_hash") == 1
    assert "columns: Unknown column: password_hash." in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob("*.part"))
