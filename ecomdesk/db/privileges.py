"""What a staff connection may do: the grants `ecomdesk db grant ROLE` gives a group role, and the
check that the role can do exactly that — no more.

The schema belongs to one owner role, which runs `ecomdesk db upgrade`; staff apps connect as login
roles that are members of a group role (e.g. `ecomdesk_staff`) holding these grants. Staff get
data rights only: never CREATE on the schema (no DDL), never TRUNCATE, REFERENCES or TRIGGER.

Each table gets the statements the services actually run on it (grepped from `ecomdesk/services`
and `ecomdesk/db`), so some are narrower than SELECT/INSERT/UPDATE/DELETE:

- `audit_log`, `stock_movements`, `analytics_data`, `order_lines` are append-only ledgers: SELECT and
  INSERT. A staff connection cannot rewrite or erase the audit trail or the stock history. Foreign
  keys' ON DELETE actions (an actor set to NULL when an account is deleted, an item's movements
  removed with it) run as the table owner, so they need no UPDATE or DELETE here.
- `change_log` is filled by triggers that run as the invoker (not SECURITY DEFINER), so staff insert
  into it; the live updates prune day-old rows, so DELETE too; never UPDATE.
- `permissions` (reference data) and `alembic_version` (the schema check) are read only.
- `SELECT … FOR UPDATE`/`FOR KEY SHARE` needs UPDATE on the table: `file_blobs` gets it for that.
- Sequences: USAGE, SELECT (ids of new rows). Trigger functions: EXECUTE (PostgreSQL checks it when
  a trigger is created, not when it fires; granted so a stricter PUBLIC setting changes nothing).
- The database: CONNECT and TEMPORARY (imports stage rows in temporary tables) — both usually
  PUBLIC's already, granted so a database that revoked them from PUBLIC still works.
- Default privileges for the owner's future tables, sequences and functions in the schema, so a
  table a later `db upgrade` creates is usable at once (with SELECT/INSERT/UPDATE/DELETE: running
  `db grant` again after an upgrade narrows it to this list, and is harmless otherwise).

Every statement is built with psycopg's `sql.Identifier`, so a role or schema name is always quoted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import psycopg
from psycopg import sql
from sqlalchemy import Connection, Engine, text

READ: Final = ("SELECT",)
APPEND: Final = ("SELECT", "INSERT")
APPEND_PRUNE: Final = ("SELECT", "INSERT", "DELETE")
NO_DELETE: Final = ("SELECT", "INSERT", "UPDATE")
FULL: Final = ("SELECT", "INSERT", "UPDATE", "DELETE")

#: Each table of the schema and what a staff connection may do to it (see the module's docstring).
STAFF_TABLE_PRIVILEGES: Final[Mapping[str, tuple[str, ...]]] = {
    "alembic_version": READ,
    "permissions": READ,
    "audit_log": APPEND,
    "stock_movements": APPEND,
    "analytics_data": APPEND,
    "order_lines": APPEND,
    "webhook_attempts": APPEND,
    "inbound_events": APPEND,
    "change_log": APPEND_PRUNE,
    "role_permissions": APPEND_PRUNE,
    "report_chunks": APPEND_PRUNE,
    "files": APPEND_PRUNE,
    "device_sessions": NO_DELETE,
    "settings": NO_DELETE,
    "order_events": NO_DELETE,
    "file_blobs": FULL,
    "users": FULL,
    "user_profiles": FULL,
    "roles": FULL,
    "inventory_items": FULL,
    "jobs": FULL,
    "webhook_endpoints": FULL,
    "webhook_events": APPEND_PRUNE,
    "webhook_deliveries": FULL,
    "email_messages": NO_DELETE,
    "schedule_marks": NO_DELETE,
    "worker_heartbeats": FULL,
    "reports": FULL,
    "customers": FULL,
    "sales_metrics": FULL,
    "customer_metrics": FULL,
    "item_sales_daily": FULL,
    "customer_periods": FULL,
}
#: What tables created later by the owner get until `db grant` runs again.
DEFAULT_TABLE_PRIVILEGES: Final = FULL
#: Table rights a staff role must never have.
FORBIDDEN_TABLE_PRIVILEGES: Final = ("TRUNCATE", "REFERENCES", "TRIGGER")
#: The table whose owner and schema are the app's (alembic writes it first, in the app's schema).
ANCHOR_TABLE: Final = "alembic_version"


class PrivilegeError(RuntimeError):
    """The grants cannot be given as asked; the message says who must do what."""


@dataclass(frozen=True)
class GrantPlan:
    """The statements that give `role` the app's rights, and what they were derived from."""

    role: str
    database: str
    schema: str
    owner: str
    statements: tuple[sql.Composed, ...]

    def as_sql(self) -> str:
        """The script a DBA can review and run in psql (one transaction)."""
        lines = ["BEGIN;", *(f"{statement.as_string(None)};" for statement in self.statements), "COMMIT;"]
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class GrantCheck:
    """What the role can do that differs from the plan: empty when it is exactly right."""

    missing: tuple[str, ...]
    excess: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.missing and not self.excess


def _raw(conn: Connection) -> psycopg.Connection[Any]:
    raw: psycopg.Connection[Any] = conn.connection.driver_connection  # type: ignore[assignment]
    return raw


def _anchor(conn: Connection) -> tuple[str, str]:
    """The schema and owner of the app's tables, found from `alembic_version` on the search path."""
    row = conn.execute(
        text(
            "SELECT n.nspname, pg_get_userbyid(c.relowner) FROM pg_class AS c "
            "JOIN pg_namespace AS n ON n.oid = c.relnamespace WHERE c.oid = to_regclass(:name)"
        ),
        {"name": ANCHOR_TABLE},
    ).one_or_none()
    if row is None:
        raise PrivilegeError(
            "the database has no ecomdesk tables: run `ecomdesk db upgrade` as the database owner first"
        )
    return str(row[0]), str(row[1])


def _role_exists(conn: Connection, role: str) -> bool:
    return bool(conn.scalar(text("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :r)"), {"r": role}))


def plan_grants(conn: Connection, role: str) -> GrantPlan:
    """The statements for `role` on this database, read from its catalog (tables, sequences and
    trigger functions of the app's schema). Refuses what would be pointless or dangerous."""
    from ecomdesk.db import migrate

    schema, owner = _anchor(conn)
    if role == owner:
        raise PrivilegeError(
            f"{role} owns the tables: staff connect as another role (e.g. `CREATE ROLE ecomdesk_staff "
            "NOLOGIN`), which this command grants to"
        )
    if not _role_exists(conn, role):
        quoted = sql.Identifier(role).as_string(None)
        raise PrivilegeError(
            f"no role named {role!r}: create it first, e.g. `CREATE ROLE {quoted} NOLOGIN` "
            "(a group role the staff's login roles join)"
        )
    status = migrate.schema_status(conn.engine)
    if status.state is not migrate.SchemaState.CURRENT:
        raise PrivilegeError(
            f"the schema does not match this version of ecomdesk: {status.advice} "
            "Grant with the ecomdesk version that upgraded it."
        )
    database = str(conn.scalar(text("SELECT current_database()")))
    tables = sorted(STAFF_TABLE_PRIVILEGES)
    sequences = conn.scalars(
        text(
            "SELECT DISTINCT s.relname FROM pg_class AS s "
            "JOIN pg_depend AS d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass "
            "AND d.deptype IN ('a', 'i') "
            "JOIN pg_class AS t ON t.oid = d.refobjid "
            "JOIN pg_namespace AS n ON n.oid = t.relnamespace "
            "WHERE s.relkind = 'S' AND n.nspname = :s AND t.relname = ANY(:tables) ORDER BY 1"
        ),
        {"s": schema, "tables": tables},
    ).all()
    functions = conn.execute(
        text(
            "SELECT DISTINCT fn.nspname, p.proname, pg_get_function_identity_arguments(p.oid) "
            "FROM pg_trigger AS tg JOIN pg_class AS t ON t.oid = tg.tgrelid "
            "JOIN pg_namespace AS n ON n.oid = t.relnamespace "
            "JOIN pg_proc AS p ON p.oid = tg.tgfoid JOIN pg_namespace AS fn ON fn.oid = p.pronamespace "
            "WHERE NOT tg.tgisinternal AND n.nspname = :s AND t.relname = ANY(:tables) ORDER BY 1, 2"
        ),
        {"s": schema, "tables": tables},
    ).all()
    return GrantPlan(
        role=role,
        database=database,
        schema=schema,
        owner=owner,
        statements=tuple(_statements(role, database, schema, owner, tables, sequences, functions)),
    )


def _statements(
    role: str,
    database: str,
    schema: str,
    owner: str,
    tables: Sequence[str],
    sequences: Sequence[str],
    functions: Sequence[Any],
) -> list[sql.Composed]:
    who = sql.Identifier(role)
    out: list[sql.Composed] = [
        sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(sql.Identifier(database), who),
        sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(schema), who),
        # Start from nothing, so a second run narrows what default privileges or a hand-made grant
        # gave (TRUNCATE included) instead of adding to it.
        sql.SQL("REVOKE ALL ON TABLE {} FROM {}").format(
            sql.SQL(", ").join(sql.Identifier(schema, t) for t in tables), who
        ),
    ]
    by_rights: dict[tuple[str, ...], list[str]] = {}
    for table in tables:
        by_rights.setdefault(STAFF_TABLE_PRIVILEGES[table], []).append(table)
    for rights, names in sorted(by_rights.items(), key=lambda kv: len(kv[0])):
        out.append(
            sql.SQL("GRANT {} ON TABLE {} TO {}").format(
                sql.SQL(", ").join(sql.SQL(r) for r in rights),
                sql.SQL(", ").join(sql.Identifier(schema, t) for t in names),
                who,
            )
        )
    if sequences:
        out.append(
            sql.SQL("GRANT USAGE, SELECT ON SEQUENCE {} TO {}").format(
                sql.SQL(", ").join(sql.Identifier(schema, s) for s in sequences), who
            )
        )
    for fn_schema, name, arguments in functions:
        # The argument list comes from the catalog (`pg_get_function_identity_arguments`).
        out.append(
            sql.SQL("GRANT EXECUTE ON FUNCTION {}({}) TO {}").format(
                sql.Identifier(fn_schema, name), sql.SQL(arguments), who
            )
        )
    default = sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} GRANT ").format(
        sql.Identifier(owner), sql.Identifier(schema)
    )
    out += [
        default
        + sql.SQL("{} ON TABLES TO {}").format(
            sql.SQL(", ").join(sql.SQL(r) for r in DEFAULT_TABLE_PRIVILEGES), who
        ),
        default + sql.SQL("USAGE, SELECT ON SEQUENCES TO {}").format(who),
        default + sql.SQL("EXECUTE ON FUNCTIONS TO {}").format(who),
    ]
    return out


@dataclass(frozen=True)
class Granted:
    plan: GrantPlan
    #: What the role can do beyond the plan through other grants (PUBLIC, other roles): to review.
    check: GrantCheck


def grant_staff_privileges(engine: Engine, role: str) -> Granted:
    """Run the plan in one transaction as the connecting user (the tables' owner, a member of
    it, or a superuser), then check the outcome; raises `PrivilegeError` when it falls short.

    PostgreSQL only warns when a GRANT is given by someone who may not give it, so the check
    afterwards is what catches "ran as the wrong user"."""
    with engine.begin() as conn:
        plan = plan_grants(conn, role)
        may = conn.scalar(
            text(
                "SELECT pg_has_role(current_user, :owner, 'USAGE') "
                "OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)"
            ),
            {"owner": plan.owner},
        )
        if not may:
            raise PrivilegeError(
                f"only the owner of the tables ({plan.owner}) or a superuser may grant on them: "
                f"connect as {plan.owner}"
            )
        raw = _raw(conn)
        for statement in plan.statements:
            raw.execute(statement)
        found = check_staff_privileges(conn, plan)
    if found.missing:
        raise PrivilegeError(
            f"{role} still lacks: {'; '.join(found.missing)} — grant these as the database's owner"
        )
    return Granted(plan, found)


def check_staff_privileges(conn: Connection, plan: GrantPlan) -> GrantCheck:
    """What `plan.role` can and cannot do now, whichever way it got it (directly, through a role
    it belongs to, or PUBLIC): every right the plan gives must be there, and no DDL or forbidden
    table right may be."""
    role, schema = plan.role, plan.schema
    missing: list[str] = []
    excess: list[str] = []

    def has(function: str, target: str, right: str) -> bool:
        query = f"SELECT {function}(:role, :target, :right)"
        return bool(conn.scalar(text(query), {"role": role, "target": target, "right": right}))

    super_ = conn.scalar(text("SELECT rolsuper FROM pg_roles WHERE rolname = :r"), {"r": role})
    if super_:
        return GrantCheck((), (f"{role} is a superuser: it bypasses every privilege check",))
    for right in ("CONNECT", "TEMPORARY"):
        if not has("has_database_privilege", plan.database, right):
            missing.append(f"{right} on database {plan.database}")
    if not has("has_schema_privilege", schema, "USAGE"):
        missing.append(f"USAGE on schema {schema}")
    if has("has_schema_privilege", schema, "CREATE"):
        excess.append(f"CREATE on schema {schema} (it could create tables)")
    for table, rights in STAFF_TABLE_PRIVILEGES.items():
        qualified = sql.Identifier(schema, table).as_string(None)
        for right in FULL + FORBIDDEN_TABLE_PRIVILEGES:
            allowed = has("has_table_privilege", qualified, right)
            if right in rights and not allowed:
                missing.append(f"{right} on {table}")
            elif right not in rights and allowed:
                excess.append(f"{right} on {table}")
    owns = conn.scalar(
        text(
            "SELECT string_agg(c.relname, ', ') FROM pg_class AS c JOIN pg_namespace AS n "
            "ON n.oid = c.relnamespace WHERE n.nspname = :s AND pg_has_role(:role, c.relowner, 'USAGE')"
        ),
        {"s": schema, "role": role},
    )
    if owns:
        excess.append(f"owns (or is a member of the owner of) {owns}: owners may ALTER and DROP")
    return GrantCheck(tuple(missing), tuple(excess))
