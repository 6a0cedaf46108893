from __future__ import annotations

import subprocess
import sys

from ecomdesk import __version__
from ecomdesk.cli import main


def test_version_is_printed_by_the_module_and_the_console_script(capsys):
    out = subprocess.run(
        [sys.executable, "-m", "ecomdesk", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"ecomdesk {__version__}"


def test_a_command_that_needs_a_database_says_how_to_name_one(capsys):
    assert main(["db", "current"]) == 2
    err = capsys.readouterr().err
    assert "--database-url" in err and "ECOMDESK_DATABASE_URL" in err and "ecomdesk demo" in err


def test_a_url_that_is_not_a_postgresql_database_is_a_usage_error_that_keeps_the_password_out(capsys):
    assert main(["db", "current", "--database-url", "postgres:/owner:s3cret@host"]) == 2
    err = capsys.readouterr().err
    assert "cannot be read" in err and "s3cret" not in err
    assert main(["db", "current", "--database-url", "mysql://owner@host/shop"]) == 2
    assert "works with PostgreSQL" in capsys.readouterr().err


def test_environment_variable_names_the_database(monkeypatch, database_url, capsys):
    monkeypatch.setenv("ECOMDESK_DATABASE_URL", database_url)
    assert main(["db", "current"]) == 0
    assert "matches this version" in capsys.readouterr().out


def test_database_url_option_wins_over_the_environment(monkeypatch, database_url, capsys):
    monkeypatch.setenv("ECOMDESK_DATABASE_URL", "postgresql://nobody@/nowhere?host=/nonexistent")
    assert main(["db", "current", "--database-url", database_url]) == 0


def test_db_upgrade_brings_an_empty_database_to_head(empty_database_url, capsys):
    assert main(["--database-url", empty_database_url, "db", "upgrade"]) == 0
    assert "empty →" in capsys.readouterr().out
    assert main(["--database-url", empty_database_url, "db", "upgrade"]) == 0
    assert "already at" in capsys.readouterr().out


def test_seed_fills_an_empty_shop_refuses_a_second_time_and_reset_needs_an_admin(
    database_url, capsys, monkeypatch
):
    import io

    from ecomdesk.db.seed import DEMO_PASSWORD

    assert main(["seed", "--database-url", database_url, "--scale", "0.1"]) == 0
    assert "inventory_items" in capsys.readouterr().out
    assert main(["seed", "--database-url", database_url]) == 1
    assert "--reset" in capsys.readouterr().err
    reset = ["seed", "--database-url", database_url, "--reset", "--inventory", "1234"]
    assert main(reset) == 2  # the shop has staff now: emptying it is an admin's decision
    assert "--user EMAIL" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO(DEMO_PASSWORD + "\n"))
    assert main([*reset, "--user", "manager@demo.shop", "--password-stdin"]) == 2
    assert "only an administrator" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO(DEMO_PASSWORD + "\n"))
    assert main([*reset, "--user", "admin@demo.shop", "--password-stdin"]) == 0
    out = capsys.readouterr().out
    assert "1,234" in out


def test_demo_without_a_display_says_so_before_touching_any_database(monkeypatch, capsys, user_dirs):
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(var, raising=False)
    assert main(["demo"]) == 2
    assert "--no-gui" in capsys.readouterr().err
    assert not (user_dirs / "data" / "ecomdesk").exists()
