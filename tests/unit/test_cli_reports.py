"""`ecomdesk report run|kinds|request|save` without a window: a report straight into a file in either
format, parameters as text (usage errors and per-field refusals), who may do what, and the stored
file of a report the background runner generated."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import pytest
from sqlalchemy import insert

from ecomdesk.cli import main
from ecomdesk.db.engine import make_engine
from ecomdesk.db.models import InventoryItem
from ecomdesk.services.registry import Services
from ecomdesk.services.report_kinds import REPORT_KINDS, report_kind
from ecomdesk.services.reports import ReportOutcome

PASSWORD = "the report clerk's passphrase"
ADMIN = "boss@shop.example"
VIEWER = "vic@shop.example"
LOW_STOCK_KEYS = [
    "sku",
    "name",
    "category",
    "supplier",
    "stock",
    "reserved",
    "available",
    "threshold",
    "shortfall",
    "cost",
    "price",
]


class _Stdout:
    """A stand-in for sys.stdout whose `.buffer` collects the bytes written, as a pipe would."""

    def __init__(self) -> None:
        self.buffer = io.BytesIO()

    def write(self, text: str) -> int:
        return self.buffer.write(text.encode())

    def flush(self) -> None:
        pass


def _run(monkeypatch: pytest.MonkeyPatch, url: str, *args: str, user: str = ADMIN) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    return main(["report", *args, "--database-url", url, "--user", user, "--password-stdin"])


@pytest.fixture
def shop(monkeypatch: pytest.MonkeyPatch, database_url: str, capsys: pytest.CaptureFixture[str]) -> str:
    """An admin, a viewer, and five items against the shop's default threshold of 10 unless they
    have their own reorder level:
    Atlas (available 30, reorder level 50: short by 20), Kite (available 2: short by 8),
    Yo-yo (available 7: short by 3), Drum (available 40: enough), Globe (archived: never listed)."""
    for email, role in ((ADMIN, "admin"), (VIEWER, "viewer")):
        monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
        create = ["user", "create", "--database-url", database_url, "--email", email, "--role", role]
        assert main([*create, "--password-stdin"]) == 0
    engine = make_engine(database_url)
    # One key set for every row: an executemany takes its columns from the first row.
    toy = {
        "category": "Toys",
        "supplier": "Acme",
        "price": "10.00",
        "cost": "4.00",
        "reorder_level": None,
        "archived_at": None,
    }
    book = toy | {"category": "Books", "supplier": "Papyrus", "price": "25.50", "cost": "12.25"}
    with engine.begin() as conn:
        conn.execute(
            insert(InventoryItem),
            [
                toy | {"sku": "T-1", "name": "Kite", "stock": 3, "reserved": 1},
                toy | {"sku": "T-2", "name": "Drum", "stock": 40, "reserved": 0},
                toy | {"sku": "T-3", "name": "Yo-yo, wooden", "stock": 12, "reserved": 5},
                book | {"sku": "B-1", "name": "Atlas", "stock": 30, "reserved": 0, "reorder_level": 50},
                book
                | {
                    "sku": "B-2",
                    "name": "Globe",
                    "stock": 0,
                    "reserved": 0,
                    "archived_at": dt.datetime(2026, 1, 5, tzinfo=dt.UTC),
                },
            ],
        )
    engine.dispose()
    capsys.readouterr()
    return database_url


#: The low-stock rows of `shop` with the default thresholds, as CSV cells (shortfall desc, sku).
LOW_STOCK_CSV = [
    ["B-1", "Atlas", "Books", "Papyrus", "30", "0", "30", "50", "20", "12.25", "25.50"],
    ["T-1", "Kite", "Toys", "Acme", "3", "1", "2", "10", "8", "4.00", "10.00"],
    ["T-3", "Yo-yo, wooden", "Toys", "Acme", "12", "5", "7", "10", "3", "4.00", "10.00"],
]


def _titles(kind: str, params: dict[str, object]) -> list[str]:
    return [column.title for column in report_kind(kind).columns(params)]


def _run_pending(url: str) -> list[ReportOutcome]:
    """What a background runner (another app, the worker) does with the queue."""
    engine = make_engine(url)
    try:
        return Services.build(engine).reports.run_pending("test:cli")
    finally:
        engine.dispose()


def _csv(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as source:
        return list(csv.reader(source))


def test_run_writes_the_low_stock_csv_and_prints_a_summary(
    monkeypatch: pytest.MonkeyPatch, shop: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "low.csv"
    assert _run(monkeypatch, shop, "run", "low-stock", "--format", "csv", "--out", str(out)) == 0
    rows = _csv(out)
    assert rows[0] == _titles("low-stock", {"threshold": None, "category": None})
    assert rows[1:] == LOW_STOCK_CSV
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"low-stock: 3 rows, {out.stat().st_size:,} bytes → {out}\n"
    assert not list(tmp_path.glob("*.part"))


class _Terminal(io.StringIO):
    """Standard error as a terminal shows it (only a terminal gets the progress line)."""

    def isatty(self) -> bool:
        return True


def test_on_a_terminal_progress_is_drawn_and_cleared_before_the_summary(
    monkeypatch: pytest.MonkeyPatch, shop: str, tmp_path: Path
) -> None:
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    out = tmp_path / "low.csv"
    assert _run(monkeypatch, shop, "run", "low-stock", "--out", str(out)) == 0
    shown = terminal.getvalue()
    assert shown.startswith("\rlow-stock: 3 rows…\x1b[K")
    assert shown.endswith(f"\r\x1b[Klow-stock: 3 rows, {out.stat().st_size:,} bytes → {out}\n")


def test_run_as_json_writes_one_document_with_typed_values(
    monkeypatch: pytest.MonkeyPatch, shop: str, tmp_path: Path
) -> None:
    out = tmp_path / "low.json"  # no --format: the extension chooses JSON
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    assert _run(monkeypatch, shop, "run", "low-stock", "--param", "threshold=5", "--out", str(out)) == 0
    document = json.loads(out.read_text(encoding="utf-8"))
    assert list(document) == ["report", "parameters", "generated_at", "columns", "rows"]
    assert document["report"] == "low-stock"
    assert document["parameters"]["threshold"] == 5
    generated = dt.datetime.fromisoformat(document["generated_at"].replace("Z", "+00:00"))
    assert generated.utcoffset() == dt.timedelta(0)
    assert before <= generated <= dt.datetime.now(dt.UTC)
    assert document["columns"] == LOW_STOCK_KEYS
    # With one threshold of 5 for every item, only the Kite (2 available) is low; Atlas's own
    # reorder level no longer counts. Counts are numbers, money decimal strings.
    assert document["rows"] == [
        {
            "sku": "T-1",
            "name": "Kite",
            "category": "Toys",
            "supplier": "Acme",
            "stock": 3,
            "reserved": 1,
            "available": 2,
            "threshold": 5,
            "shortfall": 3,
            "cost": "4.00",
            "price": "10.00",
        }
    ]


def test_run_to_standard_output_leaves_stdout_for_the_data(
    monkeypatch: pytest.MonkeyPatch, shop: str, capsys: pytest.CaptureFixture[str]
) -> None:
    stdout = _Stdout()
    monkeypatch.setattr("sys.stdout", stdout)
    assert _run(monkeypatch, shop, "run", "low-stock", "--param", "category=Toys", "--out", "-") == 0
    rows = list(csv.reader(io.StringIO(stdout.buffer.getvalue().decode("utf-8"))))
    assert rows[1:] == [row for row in LOW_STOCK_CSV if row[2] == "Toys"]
    assert capsys.readouterr().err.startswith("low-stock: 2 rows, ")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (["threshold"], "--param wants KEY=VALUE, not 'threshold'"),
        (["=5"], "--param wants KEY=VALUE, not '=5'"),
        (["threshold=5", "threshold=6"], "--param threshold is given twice"),
    ],
)
def test_a_malformed_param_is_a_usage_error_and_writes_nothing(
    monkeypatch: pytest.MonkeyPatch,
    shop: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    params: list[str],
    message: str,
) -> None:
    out = tmp_path / "low.csv"
    given = [arg for param in params for arg in ("--param", param)]
    assert _run(monkeypatch, shop, "run", "low-stock", *given, "--out", str(out)) == 2
    assert capsys.readouterr().err == f"ecomdesk: {message}\n"
    assert list(tmp_path.iterdir()) == []


def test_each_refused_parameter_is_printed_on_its_own_line(
    monkeypatch: pytest.MonkeyPatch, shop: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "low.csv"
    given = ["--param", "threshold=many", "--param", "colour=red"]
    assert _run(monkeypatch, shop, "run", "low-stock", *given, "--out", str(out)) == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    assert sorted(line.split(":")[1].strip() for line in lines) == ["colour", "threshold"]
    assert all(line.startswith("ecomdesk: ") and len(line.split(": ", 2)[2]) > 0 for line in lines)
    # A key is shown as it is typed after --param.
    given = ["--param", "include_inactive=perhaps"]
    assert _run(monkeypatch, shop, "run", "user-directory", *given, "--out", str(out)) == 1
    assert capsys.readouterr().err.startswith("ecomdesk: include_inactive: ")
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_kind_names_the_known_ones(
    monkeypatch: pytest.MonkeyPatch, shop: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(monkeypatch, shop, "run", "invoices", "--out", str(tmp_path / "x.csv")) == 1
    err = capsys.readouterr().err
    assert err.startswith("ecomdesk: kind: ") and "low-stock" in err and "audit-extract" in err


def test_a_viewer_may_not_run_or_request_a_report(
    monkeypatch: pytest.MonkeyPatch, shop: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "low.csv"
    assert _run(monkeypatch, shop, "run", "low-stock", "--out", str(out), user=VIEWER) == 1
    assert "reports.generate" in capsys.readouterr().err
    assert _run(monkeypatch, shop, "request", "low-stock", user=VIEWER) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "reports.generate" in captured.err
    assert list(tmp_path.iterdir()) == []
    assert _run_pending(shop) == []  # nothing was queued


def test_kinds_lists_every_kind_with_its_parameters_for_an_admin(
    monkeypatch: pytest.MonkeyPatch, shop: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(monkeypatch, shop, "kinds") == 0
    out = capsys.readouterr().out
    headings = [line.split(" — ")[0] for line in out.splitlines() if line and not line.startswith(" ")]
    assert sorted(headings) == sorted(REPORT_KINDS)
    low_stock = out.split("low-stock — ", 1)[1].split("\n\n", 1)[0]
    params = [line.split()[1] for line in low_stock.splitlines() if line.startswith("  --param ")]
    assert params == ["threshold=INTEGER", "category=CHOICE"]
    # Few categories: the choice lists them all.
    assert "One of: Books, Toys." in low_stock
    user_directory = out.split("user-directory — ", 1)[1].split("\n\n", 1)[0]
    assert "--param include_inactive=BOOL" in user_directory and "Default: false." in user_directory


def test_kinds_tells_a_viewer_that_no_kind_may_be_requested(
    monkeypatch: pytest.MonkeyPatch, shop: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(monkeypatch, shop, "kinds", user=VIEWER) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "reports.generate" in captured.err


def test_a_requested_report_is_saved_once_the_runner_has_generated_it(
    monkeypatch: pytest.MonkeyPatch, shop: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    title = ["--title", "Reorder list"]
    assert _run(monkeypatch, shop, "request", "low-stock", "--param", "category=Books", *title) == 0
    captured = capsys.readouterr()
    report_id = int(captured.out)
    assert captured.err == f"queued report {report_id}: Reorder list (csv)\n"

    saved = tmp_path / "saved.csv"
    # Not generated yet: nothing to save, and no file left behind.
    assert _run(monkeypatch, shop, "save", str(report_id), "--out", str(saved)) == 1
    assert capsys.readouterr().err.startswith("ecomdesk: ")
    assert list(tmp_path.iterdir()) == []

    [outcome] = _run_pending(shop)
    assert (outcome.report_id, outcome.status, outcome.rows) == (report_id, "completed", 1)

    assert _run(monkeypatch, shop, "save", str(report_id), "--out", str(saved)) == 0
    assert capsys.readouterr().err == f"report {report_id}: {saved.stat().st_size:,} bytes → {saved}\n"
    # The stored file is what `run` makes of the same parameters.
    direct = tmp_path / "direct.csv"
    assert _run(monkeypatch, shop, "run", "low-stock", "--param", "category=Books", "--out", str(direct)) == 0
    assert saved.read_bytes() == direct.read_bytes()
    assert _csv(saved)[1:] == [LOW_STOCK_CSV[0]]

    stdout = _Stdout()
    monkeypatch.setattr("sys.stdout", stdout)
    assert _run(monkeypatch, shop, "save", str(report_id), "--out", "-") == 0
    assert stdout.buffer.getvalue() == saved.read_bytes()


def test_a_viewer_may_save_a_low_stock_report_but_not_a_user_directory(
    monkeypatch: pytest.MonkeyPatch, shop: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = {}
    for kind in ("low-stock", "user-directory"):
        assert _run(monkeypatch, shop, "request", kind) == 0
        ids[kind] = int(capsys.readouterr().out)
    outcomes = _run_pending(shop)
    assert sorted(o.status for o in outcomes) == ["completed", "completed"]

    low = tmp_path / "low.csv"
    assert _run(monkeypatch, shop, "save", str(ids["low-stock"]), "--out", str(low), user=VIEWER) == 0
    assert _csv(low)[1:] == LOW_STOCK_CSV
    people = tmp_path / "people.csv"
    assert _run(monkeypatch, shop, "save", str(ids["user-directory"]), "--out", str(people), user=VIEWER) == 1
    assert "users.read" in capsys.readouterr().err
    assert not people.exists()
