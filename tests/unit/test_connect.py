"""The connection test names the server's own reason and its fix; the probe tells a live database
from a dead one; signing in on this computer keeps (and forgets) the remembered token.

The session's test server trusts every local connection and opens no TCP port, so password and SSL
failures are tested on `tcp_server` (tests/pg_tcp.py), a server of their own.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, make_url, text

from ecomdesk.config import DeviceTokenStore
from ecomdesk.connect import (
    Problem,
    SchemaState,
    check_connection,
    describe_url,
    resume_remembered,
    sign_in,
    sign_out,
)
from ecomdesk.db import migrate
from ecomdesk.services.registry import Services
from tests.pg_tcp import TcpServer, free_port, tcp_server
from tests.services.conftest import PASSWORD, Staff, clock, make_user, services, staff

__all__ = ["clock", "make_user", "services", "staff", "tcp_server"]


def _socket_url(url: str, **changes: str) -> str:
    return make_url(url).set(**changes).render_as_string(hide_password=False)  # type: ignore[arg-type]


def test_a_current_database_connects_and_reports_the_server_version(database_url: str) -> None:
    check = check_connection(database_url)
    assert check.ok, check.text
    assert check.schema is SchemaState.CURRENT
    assert check.server_version and check.server_version[0].isdigit()
    assert f"PostgreSQL {check.server_version}" in check.message


def test_a_wrong_password_is_named_with_the_fix(tcp_server: TcpServer) -> None:
    # The right password gets in (to a database with no ecomdesk tables).
    assert check_connection(tcp_server.url("with_password")).schema is SchemaState.EMPTY
    check = check_connection(tcp_server.url("with_password", password="wrong"))
    assert check.problem is Problem.WRONG_PASSWORD
    assert "password for user “with_password”" in check.message
    assert "Check the password" in check.fix
    assert "password authentication failed" in check.detail
    assert "wrong" not in check.detail.replace("wrong_", "")


def test_a_missing_role_is_named_with_the_fix(pg_admin_url: str) -> None:
    check = check_connection(_socket_url(pg_admin_url, username="nobody_here"))
    assert check.problem is Problem.NO_ROLE
    assert "no user (role) “nobody_here”" in check.message
    assert "ask the database administrator to create it" in check.fix


def test_a_missing_database_is_named_with_the_fix(pg_admin_url: str) -> None:
    check = check_connection(_socket_url(pg_admin_url, database="no_such_shop"))
    assert check.problem is Problem.NO_DATABASE
    assert "no database “no_such_shop”" in check.message
    assert "Check the database name" in check.fix


def test_a_server_that_insists_on_ssl_asks_for_sslmode_require(tcp_server: TcpServer) -> None:
    check = check_connection(tcp_server.url("ssl_only", sslmode="disable"))
    assert check.problem is Problem.SSL_REQUIRED
    assert "“require”" in check.fix


def test_a_profile_that_requires_ssl_the_server_lacks_is_told_so(tcp_server: TcpServer) -> None:
    check = check_connection(tcp_server.url("with_password", sslmode="require"))
    assert check.problem is Problem.SSL_UNAVAILABLE
    assert "does not offer SSL" in check.message


def test_a_port_where_nothing_listens_is_reported_as_refused() -> None:
    check = check_connection(f"postgresql://someone:pw@127.0.0.1:{free_port()}/shop")
    assert check.problem is Problem.REFUSED
    assert "server is running" in check.fix


def test_an_unknown_host_name_is_reported_as_such() -> None:
    check = check_connection("postgresql://someone:pw@no-such-host.invalid:5432/shop")
    assert check.problem is Problem.UNKNOWN_HOST
    assert "“no-such-host.invalid” could not be found" in check.message


def test_a_socket_folder_without_a_server_is_reported(tmp_path: Path) -> None:
    check = check_connection(f"postgresql://someone@/shop?host={tmp_path}")
    assert check.problem is Problem.NO_SOCKET
    assert str(tmp_path) in check.message


def test_an_empty_database_says_to_run_the_upgrade(empty_database_url: str) -> None:
    check = check_connection(empty_database_url)
    assert (check.problem, check.schema) == (Problem.SCHEMA, SchemaState.EMPTY)
    assert "ecomdesk db upgrade" in check.fix


def test_the_shop_over_tcp_with_the_right_password_connects(tcp_server: TcpServer) -> None:
    check = check_connection(tcp_server.url("with_password", database="shop"))
    assert check.ok, check.text
    assert "matches this version" in check.message


def test_a_database_an_older_app_made_says_to_run_the_upgrade(database_url: str, engine: Engine) -> None:
    head = migrate.head_revision()
    previous = ScriptDirectory.from_config(migrate.alembic_config()).get_revision(head).down_revision
    assert isinstance(previous, str), "needs a second migration to downgrade to"
    migrate.downgrade(engine, previous)
    check = check_connection(database_url)
    assert (check.problem, check.schema) == (Problem.SCHEMA, SchemaState.OLDER)
    assert "older than this app" in check.fix and "ecomdesk db upgrade" in check.fix


def test_a_database_from_a_newer_app_says_to_update_the_app(database_url: str, engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    check = check_connection(database_url)
    assert (check.problem, check.schema) == (Problem.SCHEMA, SchemaState.NEWER)
    assert "9999_from_the_future" in check.fix and "newer ecomdesk" in check.fix


def test_tables_without_a_schema_record_point_at_the_database_name(database_url: str, engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM alembic_version"))
    check = check_connection(database_url)
    assert check.schema is SchemaState.UNKNOWN
    assert "check the database name" in check.fix


def test_a_database_is_named_without_its_password() -> None:
    named = describe_url("postgresql://shop:secret@db.example.com:6543/live")
    assert named == "shop@db.example.com:6543/live"
    assert describe_url("postgresql://shop:secret@db.example.com/live") == "shop@db.example.com/live"
    assert describe_url("postgresql://postgres@/ecomdesk?host=/tmp/x") == "ecomdesk on this computer"


# -- signing in on this computer ---------------------------------------------------------------


def test_remember_me_keeps_a_token_that_the_next_start_resumes(
    services: Services, staff: Staff, database_url: str
) -> None:
    signed_in = sign_in(services, database_url, staff.viewer.email, PASSWORD, remember=True)
    assert DeviceTokenStore().get(database_url) == signed_in.token
    remembered = resume_remembered(services, database_url)
    assert remembered.keyring.available
    assert remembered.sign_in is not None
    assert remembered.sign_in.actor.email == staff.viewer.email


def test_without_remember_me_nothing_is_kept(services: Services, staff: Staff, database_url: str) -> None:
    signed_in = sign_in(services, database_url, staff.viewer.email, PASSWORD, remember=False)
    assert signed_in.token is None
    assert DeviceTokenStore().get(database_url) is None
    assert resume_remembered(services, database_url).sign_in is None


def test_a_revoked_token_is_deleted_and_says_why(services: Services, staff: Staff, database_url: str) -> None:
    signed_in = sign_in(services, database_url, staff.viewer.email, PASSWORD, remember=True)
    services.auth.revoke_user_sessions(staff.admin, signed_in.actor.user_id)
    remembered = resume_remembered(services, database_url)
    assert remembered.sign_in is None
    assert "revoked" in remembered.notice
    assert DeviceTokenStore().get(database_url) is None


def test_sign_out_ends_the_device_session_and_forgets_the_token(
    services: Services, staff: Staff, database_url: str
) -> None:
    signed_in = sign_in(services, database_url, staff.viewer.email, PASSWORD, remember=True)
    sign_out(services, signed_in.actor, database_url)
    assert DeviceTokenStore().get(database_url) is None
    assert services.auth.list_sessions(staff.viewer) == []


@pytest.mark.usefixtures("no_keyring")
def test_without_a_keyring_remember_me_opens_no_device_session(
    services: Services, staff: Staff, database_url: str
) -> None:
    signed_in = sign_in(services, database_url, staff.viewer.email, PASSWORD, remember=True)
    assert signed_in.token is None
    assert services.auth.list_sessions(staff.viewer) == []
    remembered = resume_remembered(services, database_url)
    assert not remembered.keyring.available
    assert "keyring" in remembered.keyring.reason
