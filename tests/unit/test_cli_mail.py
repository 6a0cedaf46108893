"""`ecomdesk mail test --to ADDRESS`: one message through the saved SMTP settings to a real local
server, what the server answered, and the refusals (no permission, no server)."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller

from ecomdesk.cli import main
from ecomdesk.db.engine import make_engine
from ecomdesk.services.registry import Services
from tests.services.test_mail import Recorder, free_port

PASSWORD = "the mail admin's passphrase"
ADMIN = "boss@shop.example"
VIEWER = "vic@shop.example"


@pytest.fixture
def server() -> Iterator[tuple[Recorder, int]]:
    handler = Recorder()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


@pytest.fixture
def shop(monkeypatch: pytest.MonkeyPatch, database_url: str) -> str:
    for email, role in ((ADMIN, "admin"), (VIEWER, "viewer")):
        monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
        create = ["user", "create", "--database-url", database_url, "--email", email, "--role", role]
        assert main([*create, "--password-stdin"]) == 0
    return database_url


def configure(url: str, port: int) -> None:
    engine = make_engine(url)
    try:
        services = Services.build(engine)
        admin = services.auth.authenticate(ADMIN, PASSWORD).actor
        services.mail.update_smtp_settings(
            admin,
            {"host": "127.0.0.1", "port": port, "security": "none", "from_address": "alerts@shop.example"},
        )
    finally:
        engine.dispose()


def _run(monkeypatch: pytest.MonkeyPatch, url: str, to: str, user: str = ADMIN) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    return main(["mail", "test", "--to", to, "--database-url", url, "--user", user, "--password-stdin"])


def test_mail_test_sends_one_message_and_prints_the_servers_answer(
    monkeypatch: pytest.MonkeyPatch,
    shop: str,
    server: tuple[Recorder, int],
    capsys: pytest.CaptureFixture[str],
) -> None:
    handler, port = server
    configure(shop, port)
    capsys.readouterr()
    assert _run(monkeypatch, shop, "max@shop.example") == 0
    out = capsys.readouterr().out
    assert f"Connected to 127.0.0.1:{port} (none)." in out
    assert "the server answered: 250 2.0.0 Queued as test-1" in out
    [got] = handler.received
    assert (got.mail_from, got.rcpt_tos) == ("alerts@shop.example", ["max@shop.example"])
    assert got.message["Subject"] == "ecomdesk test message — Demo Shop"


def test_mail_test_needs_integrations_manage_and_says_when_the_server_is_unreachable(
    monkeypatch: pytest.MonkeyPatch, shop: str, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()  # nobody listens there
    configure(shop, port)
    capsys.readouterr()
    assert _run(monkeypatch, shop, "max@shop.example", user=VIEWER) == 1
    assert "integrations.manage" in capsys.readouterr().err
    assert _run(monkeypatch, shop, "max@shop.example") == 1
    assert f"Cannot reach the mail server 127.0.0.1:{port}" in capsys.readouterr().err
    assert _run(monkeypatch, shop, "not-an-address") == 1
    assert "to: Enter an e-mail address" in capsys.readouterr().err
