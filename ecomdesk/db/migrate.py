"""Alembic, driven from code: upgrade any database to head and tell whether a schema fits this app."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from ecomdesk.db.engine import normalise_url


def migrations_dir() -> Path:
    """The `migrations/` folder, shipped inside the package as `ecomdesk.migrations`."""
    return Path(str(resources.files("ecomdesk.migrations")))


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    if url is not None:
        # Alembic's ini interpolation treats % specially; passwords may contain it.
        config.set_main_option(
            "sqlalchemy.url", normalise_url(url).render_as_string(hide_password=False).replace("%", "%%")
        )
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the migrations folder has no revisions"
    return head


def revision_history() -> list[str]:
    """Every revision this version knows, oldest first."""
    script = ScriptDirectory.from_config(alembic_config())
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to `revision` in one transaction per migration (PostgreSQL DDL is transactional)."""
    with engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str) -> None:
    with engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


class SchemaState(enum.Enum):
    EMPTY = "empty"  # no ecomdesk tables at all
    CURRENT = "current"
    OLDER = "older"  # the database needs `ecomdesk db upgrade`
    NEWER = "newer"  # made by a newer ecomdesk: this app must be updated
    UNKNOWN = "unknown"  # tables exist but alembic has no record of them


@dataclass(frozen=True)
class SchemaStatus:
    state: SchemaState
    database_revision: str | None
    app_revision: str

    @property
    def advice(self) -> str:
        """What a person should do, in one sentence."""
        match self.state:
            case SchemaState.CURRENT:
                return "The database schema matches this version of ecomdesk."
            case SchemaState.EMPTY:
                return (
                    "The database has no ecomdesk tables yet: its owner creates them with "
                    "`ecomdesk db upgrade` — ask the shop's database administrator (DBA)."
                )
            case SchemaState.OLDER:
                return (
                    f"The database schema ({self.database_revision}) is older than this app "
                    f"({self.app_revision}): the database owner upgrades it with `ecomdesk db upgrade` "
                    "— ask the shop's database administrator (DBA)."
                )
            case SchemaState.NEWER:
                return (
                    f"The database schema ({self.database_revision}) was made by a newer ecomdesk: "
                    "install the current version of the app."
                )
            case SchemaState.UNKNOWN:
                return "The database holds tables that ecomdesk did not create: check the database name."


def schema_status(engine: Engine) -> SchemaStatus:
    app_head = head_revision()
    db_rev = current_revision(engine)
    if db_rev is None:
        tables = set(inspect(engine).get_table_names())
        state = SchemaState.UNKNOWN if "users" in tables else SchemaState.EMPTY
        return SchemaStatus(state, None, app_head)
    if db_rev == app_head:
        return SchemaStatus(SchemaState.CURRENT, db_rev, app_head)
    script = ScriptDirectory.from_config(alembic_config())
    known = {rev.revision for rev in script.walk_revisions()}
    state = SchemaState.OLDER if db_rev in known else SchemaState.NEWER
    return SchemaStatus(state, db_rev, app_head)
