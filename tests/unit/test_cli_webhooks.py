"""`ecomdesk webhook …` without a window: an endpoint added with a generated secret shown once or a
secret file never echoed, the list and the delivery log, test events and redelivery, removal,
refusals as clear lines, and who may do it."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy import select

from ecomdesk.cli import main
from ecomdesk.db.engine import make_engine
from ecomdesk.db.models import AuditEntry, WebhookEndpoint
from ecomdesk.services.events import EVENT_TYPES

PASSWORD = "the integrations admin's passphrase"
ADMIN = "boss@shop.example"
MANAGER = "max@shop.example"


def _run(monkeypatch: pytest.MonkeyPatch, url: str, *args: str, user: str = ADMIN) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    return main(["webhook", *args, "--database-url", url, "--user", user, "--password-stdin"])


@pytest.fixture
def shop(monkeypatch: pytest.MonkeyPatch, database_url: str, capsys: pytest.CaptureFixture[str]) -> str:
    """An admin and a manager (who may not manage integrations)."""
    for email, role in ((ADMIN, "admin"), (MANAGER, "manager")):
        monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
        create = ["user", "create", "--database-url", database_url, "--email", email, "--role", role]
        assert main([*create, "--password-stdin"]) == 0
    capsys.readouterr()
    return database_url


def _stored_secret(url: str) -> str:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(select(WebhookEndpoint.secret)).scalar_one()
    finally:
        engine.dispose()


def test_add_without_a_secret_file_prints_a_generated_secret_once_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, shop: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("add", "http://127.0.0.1:8080/in", "--event", "user.created", "--event", "inventory.low_stock")
    assert _run(monkeypatch, shop, *args, "--allow-private", "--description", "ERP") == 0

    out, err = capsys.readouterr()
    endpoint_id, secret_line = out.splitlines()
    secret = _stored_secret(shop)
    assert secret_line == f"signing secret: {secret}" and secret.startswith("whsec_")
    assert "will not be shown again" in err
    assert endpoint_id.isdigit()

    assert _run(monkeypatch, shop, "list") == 0
    listed = capsys.readouterr().out
    assert "http://127.0.0.1:8080/in" in listed and "user.created,inventory.low_stock" in listed
    assert "ERP" in listed and "active" in listed
    assert secret not in listed


def test_add_with_a_secret_file_uses_it_stripped_and_never_echoes_it(
    monkeypatch: pytest.MonkeyPatch, shop: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "whsec_shared-with-the-erp-team-2026"
    path = tmp_path / "secret.txt"
    path.write_text(f"  {secret}\n", encoding="utf-8")

    code = _run(
        monkeypatch,
        shop,
        "add",
        "http://127.0.0.1:9/in",
        "--event",
        "*",
        "--secret-file",
        str(path),
        "--allow-private",
    )

    out, err = capsys.readouterr()
    assert code == 0
    assert _stored_secret(shop) == secret
    assert secret not in out + err and "signing secret" not in out


def test_a_refused_endpoint_prints_every_problem_and_stores_nothing(
    monkeypatch: pytest.MonkeyPatch, shop: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _run(monkeypatch, shop, "add", "http://10.0.0.5/in", "--event", "order.shipped")

    err = capsys.readouterr().err
    assert code == 1
    lines = err.splitlines()
    assert any(line.startswith("ecomdesk: url: Use https://") for line in lines)
    assert any(line.startswith("ecomdesk: events: Unknown event type: order.shipped") for line in lines)
    missing = _run(
        monkeypatch,
        shop,
        "add",
        "https://93.184.216.34/in",
        "--event",
        "*",
        "--secret-file",
        str(tmp_path / "none"),
    )
    assert missing == 2 and "cannot read the secret file" in capsys.readouterr().err
    engine = make_engine(shop)
    try:
        with engine.connect() as conn:
            assert conn.execute(select(WebhookEndpoint.id)).first() is None
    finally:
        engine.dispose()


def test_test_event_deliveries_redeliver_and_remove(
    monkeypatch: pytest.MonkeyPatch, shop: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(monkeypatch, shop, "add", "http://127.0.0.1:9/in", "--event", "*", "--allow-private") == 0
    endpoint_id = capsys.readouterr().out.splitlines()[0]

    assert _run(monkeypatch, shop, "test", endpoint_id) == 0
    event_id = capsys.readouterr().out.strip()
    assert _run(monkeypatch, shop, "deliveries", "--endpoint", endpoint_id, "--status", "pending") == 0
    out, err = capsys.readouterr()
    header, row = out.splitlines()
    assert header.split()[:3] == ["ID", "CREATED", "EVENT"]
    assert "ecomdesk.test" in row and event_id in row and "pending" in row
    assert "1 of 1 delivery" in err
    assert _run(monkeypatch, shop, "deliveries", "--status", "dead") == 0
    assert capsys.readouterr().out.splitlines()[1:] == []

    # Still pending: redelivery is refused with a sentence.
    delivery_id = row.split()[0]
    assert _run(monkeypatch, shop, "redeliver", delivery_id) == 1
    assert "still being sent" in capsys.readouterr().err

    assert _run(monkeypatch, shop, "remove", endpoint_id) == 0
    assert _run(monkeypatch, shop, "list") == 0
    assert "no endpoints yet" in capsys.readouterr().err
    engine = make_engine(shop)
    try:
        with engine.connect() as conn:
            actions = list(conn.scalars(select(AuditEntry.action).where(AuditEntry.action.like("webhook.%"))))
    finally:
        engine.dispose()
    assert actions == ["webhook.endpoint_added", "webhook.test_sent", "webhook.endpoint_removed"]


def test_a_manager_may_not_manage_webhooks(
    monkeypatch: pytest.MonkeyPatch, shop: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(monkeypatch, shop, "list", user=MANAGER) == 1
    assert "integrations.manage" in capsys.readouterr().err
    assert _run(monkeypatch, shop, "add", "https://93.184.216.34/in", "--event", "*", user=MANAGER) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "integrations.manage" in captured.err


def test_events_lists_every_type_without_a_database(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["webhook", "events"]) == 0
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines()] == [*EVENT_TYPES, "*"]
