"""`ecomdesk import inventory FILE.csv` and `ecomdesk stock adjust|history SKU` without a window."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from ecomdesk.cli import main
from ecomdesk.cli_inventory import KINDS
from ecomdesk.db.engine import make_engine
from ecomdesk.db.models import InventoryItem, StockMovement
from ecomdesk.services.stock import ADJUSTMENTS

PASSWORD = "the stock keeper's passphrase"
HEADER = "sku,name,category,supplier,stock,reserved,price,cost"


def _run(monkeypatch: pytest.MonkeyPatch, url: str, *args: str, user: str = "boss@shop.example") -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    return main([*args, "--database-url", url, "--user", user, "--password-stdin"])


@pytest.fixture
def shop(monkeypatch: pytest.MonkeyPatch, database_url: str, capsys: pytest.CaptureFixture[str]) -> str:
    """A database with an admin, a viewer, and one item (T-1: 12 in stock, 2 reserved)."""
    for email, role in (("boss@shop.example", "admin"), ("vic@shop.example", "viewer")):
        monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
        create = ["user", "create", "--database-url", database_url, "--email", email, "--role", role]
        assert main([*create, "--password-stdin"]) == 0
    engine = make_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            insert(InventoryItem).values(
                sku="T-1", name="Kite", category="Toys", supplier="Acme", stock=12, reserved=2,
                price="10.00", cost="4.00",
            )
        )  # fmt: skip
    engine.dispose()
    capsys.readouterr()
    return database_url


def _items(url: str) -> list[tuple[str, str, int, int]]:
    engine = make_engine(url)
    with engine.connect() as conn:
        stmt = select(InventoryItem.sku, InventoryItem.name, InventoryItem.stock, InventoryItem.reserved)
        rows = [(r.sku, r.name, r.stock, r.reserved) for r in conn.execute(stmt.order_by(InventoryItem.sku))]
    engine.dispose()
    return rows


def _movements(url: str) -> int:
    engine = make_engine(url)
    with engine.connect() as conn:
        count = conn.scalar(select(func.count()).select_from(StockMovement)) or 0
    engine.dispose()
    return count


def _csv(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "items.csv"
    path.write_text("\n".join((HEADER, *lines)) + "\n", encoding="utf-8")
    return path


# -- import -------------------------------------------------------------------------------------


def test_import_creates_and_updates_items_and_prints_the_summary(
    monkeypatch: pytest.MonkeyPatch, shop: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _csv(tmp_path, "T-1,Kite,Toys,Acme,20,2,10,4", "T-2,Ball,Toys,Acme,3,0,5,2")
    assert _run(monkeypatch, shop, "import", "inventory", str(path)) == 0
    out = capsys.readouterr()
    assert out.out == "2 rows: 1 new, 1 changed, 0 unchanged.\n" and out.err == ""
    assert _items(shop) == [("T-1", "Kite", 20, 2), ("T-2", "Ball", 3, 0)]


def test_a_dry_run_lists_what_would_change_and_writes_nothing(
    monkeypatch: pytest.MonkeyPatch, shop: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _csv(tmp_path, "T-1,Kite,Toys,Acme,20,2,12.5,4", "T-2,Ball,Toys,Acme,3,0,5,2")
    assert _run(monkeypatch, shop, "import", "inventory", str(path), "--dry-run") == 0
    assert capsys.readouterr().out.splitlines() == [
        "2\tupdate\tT-1\tprice 10.00 → 12.50, stock 12 → 20",
        "3\tcreate\tT-2\tBall",
        "2 rows: 1 new, 1 changed, 0 unchanged. Dry run: nothing was written.",
    ]
    assert _items(shop) == [("T-1", "Kite", 12, 2)] and _movements(shop) == 0


@pytest.mark.parametrize("dry_run", [False, True])
def test_problems_go_to_stderr_as_file_line_column_message_and_nothing_is_written(
    monkeypatch: pytest.MonkeyPatch,
    shop: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    dry_run: bool,
) -> None:
    path = _csv(tmp_path, "T-2,Ball,Toys,Acme,3,0,5,2", "T-3,,Toys,Acme,-1,0,5,2", "T-4,Top,Toys")
    extra = ["--dry-run"] if dry_run else []
    assert _run(monkeypatch, shop, "import", "inventory", str(path), *extra) == 1
    out = capsys.readouterr()
    assert out.out == ""
    outcome = "nothing can be imported until they are fixed" if dry_run else "nothing was imported"
    assert out.err.splitlines() == [
        f"{path}:3: name: Required.",
        f"{path}:3: stock: Must not be negative.",
        f"{path}:4: This line has 3 cells but the header has 8: look for a stray comma or a missing "
        "quote. The line was not checked further.",
        f"ecomdesk: 2 rows have problems; {outcome}.",
    ]
    assert _items(shop) == [("T-1", "Kite", 12, 2)]


def test_a_file_that_cannot_be_read_as_csv_is_one_message_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, shop: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "items.csv"
    path.write_text(f"{HEADER}\nT-2,Ball,Toys,Acme,3,0,5,2\n", encoding="utf-16")
    assert _run(monkeypatch, shop, "import", "inventory", str(path)) == 1
    assert capsys.readouterr().err.startswith("ecomdesk: file: This file is UTF-16 text")


def test_a_missing_file_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, shop: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.csv"
    assert _run(monkeypatch, shop, "import", "inventory", str(missing)) == 2
    assert capsys.readouterr().err == f"ecomdesk: cannot read {missing}: No such file or directory\n"


def test_a_viewer_may_not_import(
    monkeypatch: pytest.MonkeyPatch, shop: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _csv(tmp_path, "T-2,Ball,Toys,Acme,3,0,5,2")
    assert _run(monkeypatch, shop, "import", "inventory", str(path), user="vic@shop.example") == 1
    assert "inventory.write" in capsys.readouterr().err
    assert _items(shop) == [("T-1", "Kite", 12, 2)]


# -- stock ----------------------------------------------------------------------------------------


def test_the_kinds_offered_are_the_services_adjustments() -> None:
    assert tuple(kind.value for kind in ADJUSTMENTS) == KINDS


def test_stock_adjust_with_a_negative_delta_is_a_correction(
    monkeypatch: pytest.MonkeyPatch, shop: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["stock", "adjust", "t-1", "--delta", "-5", "--reason", "stocktake"]
    assert _run(monkeypatch, shop, *args) == 0
    assert capsys.readouterr().out == "T-1: stock 12 → 7, reserved 2, available 5\n"
    assert _items(shop) == [("T-1", "Kite", 7, 2)]


def test_stock_adjust_with_a_kind_takes_a_positive_quantity(
    monkeypatch: pytest.MonkeyPatch, shop: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ship = ["stock", "adjust", "T-1", "--kind", "ship", "--reason", "order 1001"]
    assert _run(monkeypatch, shop, *ship, "--delta", "2", "--from-reserved") == 0
    assert capsys.readouterr().out == "T-1: stock 12 → 10, reserved 2 → 0, available 10\n"
    assert (
        _run(
            monkeypatch, shop, "stock", "adjust", "T-1", "--kind", "reserve", "--delta", "4", "--reason", "o2"
        )
        == 0
    )
    assert capsys.readouterr().out == "T-1: stock 10, reserved 0 → 4, available 6\n"

    assert _run(monkeypatch, shop, *ship, "--delta", "-3") == 2
    err = capsys.readouterr().err
    assert err == (
        "ecomdesk: with --kind ship, --delta is a number of units above zero (the kind gives the direction)\n"
    )
    assert _items(shop) == [("T-1", "Kite", 10, 4)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["T-1", "--kind", "ship", "--delta", "11"],
            "ecomdesk: Cannot ship 11 of T-1: only 10 available (12 in stock, 2 reserved).\n",
        ),
        (["T-1", "--delta", "-13"], "ecomdesk: Cannot take 13 off T-1: only 12 in stock"),
        (["NOPE-1", "--delta", "1"], "ecomdesk: There is no item with the SKU NOPE-1.\n"),
        (["T-1", "--delta", "0"], "ecomdesk: quantity: A correction changes the stock"),
    ],
    ids=["conflict", "below-zero", "not-found", "invalid"],
)
def test_a_refused_adjustment_says_why_on_stderr_and_exits_1(
    monkeypatch: pytest.MonkeyPatch,
    shop: str,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    reason = ["--reason", "order 1001"]
    assert _run(monkeypatch, shop, "stock", "adjust", *args, *reason) == 1
    out = capsys.readouterr()
    assert out.err.startswith(message) and out.out == ""
    assert _items(shop) == [("T-1", "Kite", 12, 2)] and _movements(shop) == 0


def test_an_adjustment_without_a_reason_is_refused(
    monkeypatch: pytest.MonkeyPatch, shop: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(monkeypatch, shop, "stock", "adjust", "T-1", "--delta", "1", "--reason", "  ") == 1
    assert capsys.readouterr().err.startswith("ecomdesk: reason: Say why")


def test_stock_history_lists_movements_newest_first_tab_separated(
    monkeypatch: pytest.MonkeyPatch, shop: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        _run(
            monkeypatch,
            shop,
            "stock",
            "adjust",
            "T-1",
            "--kind",
            "receive",
            "--delta",
            "8",
            "--reason",
            "PO 7",
        )
        == 0
    )
    path = _csv(tmp_path, "T-1,Kite,Toys,Acme,15,1,10,4")
    assert _run(monkeypatch, shop, "import", "inventory", str(path)) == 0
    capsys.readouterr()

    assert _run(monkeypatch, shop, "stock", "history", "t-1", user="vic@shop.example") == 0
    lines = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert lines[0] == [
        "time (UTC)", "movement", "stock ±", "reserved ±", "stock after", "reserved after", "by", "reason"
    ]  # fmt: skip
    assert [line[1:] for line in lines[1:]] == [
        ["Import", "-5", "-1", "15", "1", "boss@shop.example", "Import of items.csv"],
        ["Received", "+8", "0", "20", "2", "boss@shop.example", "PO 7"],
    ]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", line[0]) for line in lines[1:])

    assert _run(monkeypatch, shop, "stock", "history", "T-1", "--limit", "1") == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
