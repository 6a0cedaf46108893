"""`ecomdesk snapshot create|verify|info` and `ecomdesk --snapshot FILE …`, end to end through
`cli.main` on a real PostgreSQL shop."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy import insert

from ecomdesk.cli import main
from ecomdesk.db.engine import make_engine
from ecomdesk.db.models import InventoryItem

PASSWORD = "the snapshotting admin's passphrase"
EMAIL = "boss@shop.example"


@pytest.fixture
def shop(monkeypatch: pytest.MonkeyPatch, database_url: str) -> str:
    """A database with an admin and three items."""
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    create = ["user", "create", "--database-url", database_url, "--email", EMAIL]
    assert main([*create, "--role", "admin", "--password-stdin"]) == 0
    engine = make_engine(database_url)
    common = {"category": "Toys", "supplier": "Acme", "reserved": 0, "price": "10.00", "cost": "4.00"}
    with engine.begin() as conn:
        conn.execute(
            insert(InventoryItem),
            [
                common | {"sku": "T-1", "name": "Kite", "stock": 3},
                common | {"sku": "T-2", "name": "Yo-yo, wooden", "stock": 12},
                common | {"sku": "B-1", "name": "Atlas", "stock": 1, "category": "Books"},
            ],
        )
    engine.dispose()
    return database_url


def acting(monkeypatch: pytest.MonkeyPatch, url: str) -> list[str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    return ["--database-url", url, "--user", EMAIL, "--password-stdin"]


def create(monkeypatch: pytest.MonkeyPatch, url: str, out: Path, *extra: str) -> int:
    return main(["snapshot", "create", "--out", str(out), *extra, *acting(monkeypatch, url)])


def test_create_prints_a_summary_and_refuses_to_overwrite_without_force(
    monkeypatch: pytest.MonkeyPatch, shop: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    out = tmp_path / "shop.ecomsnap"
    assert create(monkeypatch, shop, out) == 0
    summary = capsys.readouterr().out
    assert str(out) in summary and "sha256:" in summary
    assert "jobs" in summary and "not part of the shop's data" in summary
    first = out.read_bytes()

    assert create(monkeypatch, shop, out) == 2
    assert "--force" in capsys.readouterr().err
    assert out.read_bytes() == first

    assert create(monkeypatch, shop, out, "--force") == 0
    assert out.read_bytes() != first  # a new snapshot (a new moment), whole


def test_verify_says_ok_for_a_good_file_and_lists_problems_for_a_changed_one(
    monkeypatch: pytest.MonkeyPatch, shop: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    import sqlite3

    out = tmp_path / "shop.ecomsnap"
    assert create(monkeypatch, shop, out) == 0
    capsys.readouterr()
    assert main(["snapshot", "verify", str(out)]) == 0
    assert capsys.readouterr().out.startswith(f"OK  {out}")

    changed = tmp_path / "changed.ecomsnap"
    changed.write_bytes(out.read_bytes())
    with sqlite3.connect(changed) as conn:
        conn.execute("UPDATE inventory_items SET stock = 99 WHERE sku = 'T-1'")
    assert main(["snapshot", "verify", str(changed)]) == 1
    captured = capsys.readouterr()
    assert "the content of inventory_items does not match its checksum" in captured.out
    assert "Traceback" not in captured.err


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, "There is no file"),
        (b"", "is empty"),
        (b"sku,name\nT-1,Kite\n", "is a text file"),
    ],
    ids=["missing", "empty", "csv"],
)
def test_verify_of_a_bad_file_is_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None, words: str
):
    path = tmp_path / "bad.ecomsnap"
    if content is not None:
        path.write_bytes(content)
    assert main(["snapshot", "verify", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and words in captured.err


def test_a_truncated_snapshot_fails_verify_with_one_line(
    monkeypatch: pytest.MonkeyPatch, shop: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    out = tmp_path / "shop.ecomsnap"
    assert create(monkeypatch, shop, out) == 0
    cut = tmp_path / "cut.ecomsnap"
    cut.write_bytes(out.read_bytes()[: out.stat().st_size // 2])
    capsys.readouterr()
    assert main(["snapshot", "verify", str(cut)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "incomplete" in err


def test_info_shows_who_made_it_and_what_it_holds(
    monkeypatch: pytest.MonkeyPatch, shop: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    out = tmp_path / "shop.ecomsnap"
    assert create(monkeypatch, shop, out) == 0
    capsys.readouterr()
    assert main(["snapshot", "info", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"<{EMAIL}>" in text
    assert any(line.split() == ["inventory_items", "3"] for line in text.splitlines()), text


def test_an_encrypted_snapshot_needs_its_passphrase_file(
    monkeypatch: pytest.MonkeyPatch, shop: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    secret = tmp_path / "pass.txt"
    secret.write_text("Grüße 'aus' Zürich\nsecond line ignored\n", encoding="utf-8")
    out = tmp_path / "locked.ecomsnap"
    assert create(monkeypatch, shop, out, "--passphrase-file", str(secret)) == 0
    assert "encrypted" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # not a terminal: nobody to ask
    assert main(["snapshot", "verify", str(out)]) == 1
    assert "--passphrase-file" in capsys.readouterr().err
    assert main(["snapshot", "verify", str(out), "--passphrase-file", str(secret)]) == 0
    export = ["--snapshot", str(out), "--snapshot-passphrase-file", str(secret), "export", "inventory"]
    assert main([*export, "--out", str(tmp_path / "x.csv")]) == 0
    assert "Kite" in (tmp_path / "x.csv").read_text(encoding="utf-8")


def test_export_from_a_snapshot_gives_the_live_export(
    monkeypatch: pytest.MonkeyPatch, shop: str, tmp_path: Path
):
    out = tmp_path / "shop.ecomsnap"
    assert create(monkeypatch, shop, out) == 0
    live, offline = tmp_path / "live.csv", tmp_path / "offline.csv"
    assert main(["export", "inventory", "--out", str(live), "--sort=-stock", *acting(monkeypatch, shop)]) == 0
    # No server and no --user: the snapshot opens as the admin who made it.
    assert main(["--snapshot", str(out), "export", "inventory", "--out", str(offline), "--sort=-stock"]) == 0
    assert offline.read_bytes() == live.read_bytes()
    assert b"Yo-yo, wooden" in live.read_bytes()


def test_a_write_on_a_snapshot_fails_read_only(
    monkeypatch: pytest.MonkeyPatch, shop: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    out = tmp_path / "shop.ecomsnap"
    assert create(monkeypatch, shop, out) == 0
    before = out.read_bytes()
    capsys.readouterr()
    adjust = ["stock", "adjust", "T-1", "--delta", "5", "--reason", "fair sale"]
    assert main(["--snapshot", str(out), *adjust]) == 1
    assert "read-only" in capsys.readouterr().err
    assert (
        main(["--snapshot", str(out), "user", "create", "--email", "x@shop.example", "--role", "admin"]) == 1
    )
    assert "read-only" in capsys.readouterr().err
    assert out.read_bytes() == before


@pytest.mark.parametrize(
    "command",
    [
        ["db", "current"],
        ["watch"],
        ["snapshot", "create", "--out", "x.ecomsnap"],
        ["login", "--user", EMAIL],
        ["worker", "--once"],
    ],
    ids=["db", "watch", "snapshot-create", "login", "worker"],
)
def test_server_only_commands_are_a_usage_error_on_a_snapshot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
):
    assert main(["--snapshot", str(tmp_path / "any.ecomsnap"), *command]) == 2
    assert "cannot run on a snapshot" in capsys.readouterr().err


def test_a_bad_snapshot_file_for_a_command_is_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    assert main(["--snapshot", str(tmp_path / "gone.ecomsnap"), "user", "list"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "There is no file" in err


@pytest.mark.parametrize(
    ("argv", "snapshot", "command"),
    [
        (["/home/me/Shop.ECOMSNAP"], "/home/me/Shop.ECOMSNAP", None),  # a file manager's `%f`
        (["--snapshot", "a.ecomsnap", "user", "list"], "a.ecomsnap", "user"),
        (["db", "current"], None, "db"),  # a lone word is still a command
    ],
)
def test_a_snapshot_file_given_alone_opens_as_with_the_snapshot_option(argv, snapshot, command):
    from ecomdesk.cli import _opened_file, build_parser

    args = build_parser().parse_args(_opened_file(argv))
    assert args.snapshot == snapshot
    assert args.command == command
