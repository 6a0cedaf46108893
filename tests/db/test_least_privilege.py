"""The least-privilege staff role: `ecomdesk db grant` gives a group role what the app needs, a
login role in that group runs the app through the services, and it cannot change the schema,
empty a table or erase the audit trail.

Set up as the README tells a DBA: a non-superuser owner role owns the database and runs
`db upgrade` and `db grant`; staff log in as a role that is a member of the group role. The test
cluster trusts local connections, so the roles need no passwords here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import Engine, make_url, text

from ecomdesk import cli
from ecomdesk.connect import check_connection
from ecomdesk.db import migrate
from ecomdesk.db.engine import libpq_url, make_engine
from ecomdesk.db.models import Base, MovementKind
from ecomdesk.db.privileges import (
    FORBIDDEN_TABLE_PRIVILEGES,
    STAFF_TABLE_PRIVILEGES,
    GrantPlan,
    check_staff_privileges,
    plan_grants,
)
from ecomdesk.services.inventory import ItemFields
from ecomdesk.services.registry import Services
from ecomdesk.services.reports import ReportRequest
from ecomdesk.services.stock import Adjustment
from ecomdesk.services.users import UserFields
from tests.services.conftest import png

PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class Shop:
    owner: str
    group: str
    login: str
    owner_url: str
    staff_url: str


def _as(url: str, user: str, database: str | None = None) -> str:
    changed = make_url(url).set(username=user)
    if database is not None:
        changed = changed.set(database=database)
    return changed.render_as_string(hide_password=False)


@pytest.fixture
def shop(pg_admin_url: str) -> Iterator[Shop]:
    """A database owned by a (non-superuser) owner role, migrated by it; an empty group role and
    a login role in it. Role names are unique per test: roles belong to the whole cluster."""
    tag = uuid.uuid4().hex[:8]
    owner, group, login, database = f"owner_{tag}", f"staff_{tag}", f"alice_{tag}", f"shop_{tag}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(owner)))
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(database), sql.Identifier(owner))
        )
        conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(group)))
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'not-used-here' IN ROLE {}").format(
                sql.Identifier(login), sql.Identifier(group)
            )
        )
    owner_url = _as(pg_admin_url, owner, database)
    engine = make_engine(owner_url)
    migrate.upgrade(engine)
    engine.dispose()
    try:
        yield Shop(owner, group, login, owner_url, _as(pg_admin_url, login, database))
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
            for role in (login, group, owner):
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def _grant(shop: Shop) -> None:
    assert cli.main(["db", "grant", shop.group, "--database-url", shop.owner_url]) == 0


@pytest.fixture
def granted(shop: Shop) -> Shop:
    _grant(shop)
    return shop


@pytest.fixture
def staff_engine(granted: Shop) -> Iterator[Engine]:
    engine = make_engine(granted.staff_url)
    yield engine
    engine.dispose()


def _plan(shop: Shop) -> GrantPlan:
    engine = make_engine(shop.owner_url)
    try:
        with engine.connect() as conn:
            return plan_grants(conn, shop.group)
    finally:
        engine.dispose()


def _create_admin(shop: Shop, monkeypatch: pytest.MonkeyPatch) -> str:
    """The DBA's `ecomdesk user create` for the first administrator, as the owner."""
    email = "ada@shop.example"
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    argv = ["user", "create", "--email", email, "--role", "admin", "--password-stdin"]
    assert cli.main([*argv, "--database-url", shop.owner_url]) == 0
    return email


# -- the grants -------------------------------------------------------------------------------


def test_every_table_of_the_app_has_a_decided_set_of_staff_rights() -> None:
    # A migration that adds a table must also say what staff may do with it.
    assert set(STAFF_TABLE_PRIVILEGES) == set(Base.metadata.tables) | {"alembic_version"}
    for rights in STAFF_TABLE_PRIVILEGES.values():
        assert "SELECT" in rights and not set(rights) & set(FORBIDDEN_TABLE_PRIVILEGES)


def test_db_grant_gives_exactly_the_planned_rights_with_no_ddl(granted: Shop) -> None:
    engine = make_engine(granted.owner_url)
    try:
        with engine.connect() as conn:
            plan = plan_grants(conn, granted.group)
            group = check_staff_privileges(conn, plan)
            # The login role gets its rights by membership: check it, not just the group.
            as_login = check_staff_privileges(conn, dataclasses.replace(plan, role=granted.login))
    finally:
        engine.dispose()
    assert group.ok, group
    assert as_login.ok, as_login
    assert plan.owner == granted.owner and plan.schema == "public"


def test_print_shows_the_sql_and_changes_nothing(shop: Shop, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["db", "grant", shop.group, "--print", "--database-url", shop.owner_url]) == 0
    script = capsys.readouterr().out
    assert script.startswith("BEGIN;\n") and script.endswith("COMMIT;\n")
    assert 'GRANT SELECT, INSERT ON TABLE "public"."analytics_data", "public"."audit_log"' in script
    assert "TRUNCATE" not in script and "CREATE" not in script.replace("ALTER DEFAULT", "")
    with (
        psycopg.connect(libpq_url(shop.staff_url)) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("SELECT count(*) FROM users")


def test_granting_again_takes_back_rights_given_by_hand(granted: Shop) -> None:
    with psycopg.connect(libpq_url(granted.owner_url), autocommit=True) as conn:
        conn.execute(sql.SQL("GRANT ALL ON audit_log TO {}").format(sql.Identifier(granted.group)))
    _grant(granted)
    with psycopg.connect(libpq_url(granted.staff_url)) as conn:
        assert conn.execute(
            "SELECT has_table_privilege('audit_log', 'DELETE'), has_table_privilege('audit_log', 'TRUNCATE'),"
            " has_table_privilege('audit_log', 'INSERT')"
        ).fetchone() == (False, False, True)


@pytest.mark.parametrize(
    ("who", "role", "said"),
    [
        ("owner", "nobody_here", "no role named 'nobody_here': create it first"),
        ("owner", "owner", "owns the tables: staff connect as another role"),
        ("login", "group", "only the owner of the tables"),
    ],
)
def test_grant_refuses_what_cannot_work_and_says_why(
    shop: Shop, capsys: pytest.CaptureFixture[str], who: str, role: str, said: str
) -> None:
    if who == "login":  # a staff member who can read the tables, trying to grant
        _grant(shop)
    url = shop.owner_url if who == "owner" else shop.staff_url
    name = {"owner": shop.owner, "group": shop.group}.get(role, role)
    assert cli.main(["db", "grant", name, "--database-url", url]) == 1
    assert said in capsys.readouterr().err


def test_a_table_a_later_upgrade_creates_is_usable_by_staff_at_once(granted: Shop) -> None:
    with psycopg.connect(libpq_url(granted.owner_url), autocommit=True) as conn:
        conn.execute("CREATE TABLE gift_cards (id bigserial PRIMARY KEY, code text NOT NULL)")
    with psycopg.connect(libpq_url(granted.staff_url)) as conn:
        conn.execute("INSERT INTO gift_cards (code) VALUES ('SPRING')")
        assert conn.execute("SELECT code FROM gift_cards").fetchall() == [("SPRING",)]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("TRUNCATE gift_cards")


# -- what staff can do --------------------------------------------------------------------------


def test_a_staff_login_runs_the_app_through_the_services(
    granted: Shop, staff_engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    email = _create_admin(granted, monkeypatch)
    services = Services.build(staff_engine)
    # Sign in and remember this computer; resume the sign-in as the next start would.
    signed = services.auth.authenticate(email, PASSWORD, remember=True, device_name="Till 1")
    assert signed.token is not None
    admin = services.auth.resume(signed.token).actor
    cursor = services.changes.start()

    roles = {r.name: r.id for r in services.roles.list_roles(admin)}
    custom = services.roles.create_role(admin, "Packer", frozenset({"inventory.read"}))
    services.roles.delete_role(admin, custom.id)
    clerk = services.users.create_user(
        admin, UserFields("cleo@shop.example", "Cleo", "Clerk", roles["manager"]), password=PASSWORD
    ).user
    manager = services.auth.authenticate("cleo@shop.example", PASSWORD).actor
    services.users.set_avatar(manager, clerk.id, png(), "me.png")
    services.users.remove_avatar(manager, clerk.id)

    fields = ItemFields("KITE-1", "Kite", "Toys", "Acme", Decimal("12.50"), Decimal("4.00"))
    item = services.inventory.create_item(manager, fields, stock=5)
    renamed = dataclasses.replace(fields, name="Red kite")
    item = services.inventory.update_item(manager, item.id, renamed, expected_version=item.version)
    services.stock.adjust(manager, item.id, Adjustment(MovementKind.RECEIVE, 3, "delivery"))
    imported = services.importer.commit(
        manager,
        b"sku,name,category,supplier,stock,reserved,price,cost\nBALL-1,Ball,Toys,Acme,7,0,3,1\n",
        "i.csv",
    )
    assert imported.ok
    orders = services.orders.commit(
        manager,
        b"order_id,customer_id,channel,amount,currency,status,occurred_at,lines\n"
        b'A-1,C-1,web,20.00,EUR,paid,2026-03-01T10:00:00+00:00,"[{""sku"": ""KITE-1"", ""quantity"": 1,'
        b' ""unit_price"": 20}]"\n',
        "orders.csv",
    )
    assert orders.created == 1

    report = services.reports.request(manager, ReportRequest("inventory-valuation"))
    assert services.reports.run_next("least-privilege-test") is not None
    assert services.reports.get(manager, report.id).status == "completed"
    assert services.reports.delete(manager, [report.id]) == 1

    settings = services.settings.get_system_settings(admin)
    # A new time zone re-derives every order's day (a temporary table) and rebuilds the metrics.
    services.settings.update_system_settings(admin, {"timezone": "Europe/London"}, settings.updated_at)
    services.snapshots.create(admin, tmp_path / "shop.ecomsnap")

    removed = services.inventory.delete_item(manager, item.id)  # its stock movements go with it
    assert removed is not None
    # Cleo's audit entries keep her email; the foreign key's SET NULL runs as the owner.
    services.users.delete_user(admin, clerk.id)

    update = services.changes.poll(admin, cursor)
    assert {"inventory_items", "users", "audit_log", "settings"} <= update.batch.tables
    assert services.changes.prune(dt.timedelta(0)) > 0  # the live updates prune the log
    services.auth.sign_out(admin)
    with staff_engine.connect() as conn:
        actions = set(conn.scalars(text("SELECT action FROM audit_log")))
    assert {"inventory.item_created", "user.deleted", "settings.changed"} <= actions, actions


# -- what staff cannot do -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE TABLE notes (id int)",
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        "DROP TABLE users",
        "ALTER TABLE users ADD COLUMN nickname text",
        "ALTER TABLE inventory_items DISABLE TRIGGER inventory_items_change_guard",
        "TRUNCATE jobs",
        "DELETE FROM audit_log",
        "UPDATE audit_log SET action = 'nothing happened'",
        "DELETE FROM stock_movements",
        "UPDATE permissions SET code = code",
        "CREATE INDEX ON users (phone)",
    ],
)
def test_a_staff_login_cannot_change_the_schema_empty_tables_or_rewrite_the_trail(
    staff_engine: Engine, statement: str
) -> None:
    with staff_engine.connect() as conn, pytest.raises(Exception) as caught:
        conn.execute(text(statement))
    assert isinstance(getattr(caught.value, "orig", None), psycopg.errors.InsufficientPrivilege), caught.value


def test_db_upgrade_by_staff_is_refused_with_the_advice_to_ask_the_dba(
    granted: Shop, capsys: pytest.CaptureFixture[str]
) -> None:
    owner = make_engine(granted.owner_url)
    migrate.downgrade(owner, "0006")  # a database still at the previous version's schema
    owner.dispose()

    assert cli.main(["db", "upgrade", "--database-url", granted.staff_url]) == 1
    err = capsys.readouterr().err
    assert "the schema is upgraded by the database owner: ask your DBA to run `ecomdesk db upgrade`" in err
    assert granted.login in err and "Traceback" not in err

    # The app's connection check says what to ask for too, and so does `db current`.
    check = check_connection(granted.staff_url)
    assert not check.ok and "ask the shop's database administrator" in check.fix
    assert "`ecomdesk db upgrade`" in check.fix
    assert cli.main(["db", "current", "--database-url", granted.staff_url]) == 1
    assert "database owner upgrades it" in capsys.readouterr().out
    staff = make_engine(granted.staff_url)
    try:
        assert migrate.current_revision(staff) == "0006"
    finally:
        staff.dispose()
