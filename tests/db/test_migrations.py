"""The migrations and the models describe the same schema, in both directions."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text

from ecomdesk.db import catalog, migrate
from ecomdesk.db.engine import make_engine
from ecomdesk.db.models import Permission, Role, SystemSetting, metadata, role_permissions


def _diff(engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, metadata))


def test_upgrade_from_empty_to_head_then_base_then_head_round_trips(empty_database_url):
    engine = make_engine(empty_database_url)
    try:
        assert migrate.schema_status(engine).state is migrate.SchemaState.EMPTY
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.head_revision()
        assert set(metadata.tables) <= set(inspect(engine).get_table_names())

        migrate.downgrade(engine, "base")
        assert migrate.current_revision(engine) is None
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}

        migrate.upgrade(engine)
        assert migrate.schema_status(engine).state is migrate.SchemaState.CURRENT
        assert _diff(engine) == []
    finally:
        engine.dispose()


def test_models_and_migrations_do_not_drift(engine):
    assert _diff(engine) == []


def test_head_holds_exactly_the_catalogued_permissions_roles_and_settings(engine):
    with engine.connect() as conn:
        permissions = dict(conn.execute(select(Permission.code, Permission.description)).all())
        grants = conn.execute(
            select(Role.name, role_permissions.c.permission_code).join(
                role_permissions, Role.id == role_permissions.c.role_id
            )
        ).all()
        roles = conn.execute(select(Role.name, Role.is_builtin)).all()
        settings = dict(conn.execute(select(SystemSetting.key, SystemSetting.value)).all())
    assert permissions == catalog.PERMISSIONS
    assert {name for name, builtin in roles if builtin} == set(catalog.BUILTIN_ROLES)
    by_role: dict[str, set[str]] = {}
    for role, code in grants:
        by_role.setdefault(role, set()).add(code)
    assert by_role == {name: set(perms) for name, (_, perms) in catalog.BUILTIN_ROLES.items()}
    assert settings == catalog.DEFAULT_SETTINGS


def test_new_role_after_upgrade_does_not_collide_with_builtin_ids(engine):
    with engine.begin() as conn:
        new_id = conn.execute(text("INSERT INTO roles (name) VALUES ('Packer') RETURNING id")).scalar_one()
    assert new_id > len(catalog.BUILTIN_ROLES)


def test_schema_status_tells_older_and_newer_apart(engine):
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'ffffffffffff'"))
    status = migrate.schema_status(engine)
    assert status.state is migrate.SchemaState.NEWER
    assert "newer ecomdesk" in status.advice


def test_drift_check_notices_a_missing_index_and_constraint(engine):
    """Guards the guard: the comparison above must be able to fail."""
    with engine.begin() as conn:
        conn.execute(text("DROP INDEX uq_users_email_lower"))
        conn.execute(text("ALTER TABLE inventory_items DROP CONSTRAINT uq_inventory_items_sku"))
    names = {getattr(d[1], "name", None) for d in _diff(engine) if isinstance(d, tuple)}
    assert {"uq_users_email_lower", "uq_inventory_items_sku"} <= names
