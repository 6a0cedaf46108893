from __future__ import annotations

from pathlib import Path

import pytest

from ecomdesk.bootstrap import ConfigurationError, resolve_database_url
from ecomdesk.config import ConnectionProfile, ProfileStore, SecretStore, SecretStoreUnavailable


def test_profile_password_goes_to_the_keyring_and_never_into_the_file(memory_keyring, tmp_path):
    store = ProfileStore(tmp_path / "connections.json")
    store.save(ConnectionProfile("shop", host="db.shop.example", user="clerk"), password="s3cret-Pa55")
    assert "s3cret-Pa55" not in (tmp_path / "connections.json").read_text()
    assert ("ecomdesk", "db-password:shop") in memory_keyring.store
    profile = store.get("shop")
    assert profile is not None and store.password(profile) == "s3cret-Pa55"
    url = resolve_database_url(profile="shop", profiles=store)
    assert url.startswith("postgresql+psycopg://clerk:s3cret-Pa55@db.shop.example:5432/ecomdesk")


def test_deleting_a_profile_forgets_its_password(memory_keyring, tmp_path):
    store = ProfileStore(tmp_path / "connections.json")
    store.save(ConnectionProfile("shop", user="clerk"), password="pw")
    store.delete("shop")
    assert store.list() == [] and memory_keyring.store == {}


def test_without_a_keyring_nothing_secret_is_kept_and_the_reason_is_given(no_keyring, tmp_path):
    secrets = SecretStore()
    status = secrets.status()
    assert not status.available and "keyring" in status.reason
    store = ProfileStore(tmp_path / "connections.json", secrets)
    with pytest.raises(SecretStoreUnavailable):
        store.save(ConnectionProfile("shop", user="clerk"), password="pw")
    assert not (tmp_path / "connections.json").exists()
    assert secrets.get("anything") is None


def test_invalid_profile_fields_get_one_message_each():
    errors = ConnectionProfile("", host=" ", port=0, database="", user="", sslmode="maybe").validate()
    assert set(errors) == {"name", "host", "port", "database", "user", "sslmode"}


def test_unknown_profile_lists_the_known_ones(tmp_path):
    store = ProfileStore(tmp_path / "connections.json")
    store.save(ConnectionProfile("office", user="clerk"))
    with pytest.raises(ConfigurationError, match="office"):
        resolve_database_url(profile="warehouse", profiles=store)


def test_database_identity_names_server_and_database_but_never_the_password() -> None:
    from ecomdesk.config import database_identity

    a = database_identity("postgresql+psycopg://clerk:s3cret@db.shop:5433/shop?sslmode=require")
    assert a == "postgresql://clerk@db.shop:5433/shop"
    assert "s3cret" not in a
    # the same server by another driver name is the same database; a socket folder is kept
    assert database_identity("postgresql://clerk@db.shop:5433/shop") == a
    sock = database_identity("postgresql://postgres@/demo?host=/run/ecomdesk&application_name=x")
    assert sock == "postgresql://postgres@/demo?host=%2Frun%2Fecomdesk"


@pytest.mark.parametrize("password", ["two words", "a b+c%/@:", None])
def test_libpq_urls_keep_any_password_and_user_name_intact(password: str | None) -> None:
    from psycopg.conninfo import conninfo_to_dict
    from sqlalchemy import URL

    from ecomdesk.db.engine import libpq_url

    url = URL.create(
        "postgresql+psycopg", username="shop staff", password=password, host="db", database="shop"
    )
    parsed = conninfo_to_dict(libpq_url(url))
    assert (parsed["user"], parsed.get("password"), parsed["host"]) == ("shop staff", password, "db")


def test_the_worker_command_names_every_worker_secret() -> None:
    from ecomdesk.cli_worker import SECRET_NAMES
    from ecomdesk.config import WORKER_SECRETS

    assert sorted(SECRET_NAMES) == sorted(WORKER_SECRETS)


def test_a_worker_secret_comes_from_the_environment_then_systemd_then_the_keyring(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from ecomdesk.config import worker_secret

    for variable in ("ECOMDESK_SMTP_PASSWORD", "CREDENTIALS_DIRECTORY"):
        monkeypatch.delenv(variable, raising=False)
    assert worker_secret("smtp-password") is None
    SecretStore().set("worker:smtp-password", "from-the-keyring")
    assert worker_secret("smtp-password") == "from-the-keyring"
    (tmp_path / "smtp-password").write_text("from-systemd\n", encoding="utf-8")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    assert worker_secret("smtp-password") == "from-systemd"
    monkeypatch.setenv("ECOMDESK_SMTP_PASSWORD", "from-the-environment")
    assert worker_secret("smtp-password") == "from-the-environment"
