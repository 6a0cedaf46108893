"""Shared fixtures and helpers of the grid tests (imported by each test module, so module-scoped
fixtures are built once per module).

`big_db`: 100,000 inventory rows in a database of its own, built once per module with one
INSERT … SELECT generate_series. Names repeat (50 rows share each), so order by name is only
stable thanks to the id tie-breaker; SKUs are a permutation of the ids, so ordering by SKU by
mistake would show; every 1,000th row is archived (the list never shows archived rows).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QLocale, QSettings
from sqlalchemy import Engine, text

from ecomdesk.db.engine import make_engine
from ecomdesk.services.context import Actor
from ecomdesk.services.registry import Services
from ecomdesk.services.tables import Table
from ecomdesk.ui.session import AppSession
from ecomdesk.ui.tasks import TaskRunner
from tests.conftest import scratch_database

PASSWORD = "correct horse battery staple"
BIG_ROWS = 100_000
#: Rows the list shows: every 1,000th of the 100,000 is archived.
BIG_LIVE = BIG_ROWS - BIG_ROWS // 1000
US = QLocale(QLocale.Language.English, QLocale.Country.UnitedStates)

#: 2,000 names for 100,000 rows; categories and suppliers cycle at different rates.
INSERT_ROWS = """
INSERT INTO inventory_items (sku, name, category, supplier, stock, reserved, price, cost, reorder_level,
                             archived_at)
SELECT 'SKU-' || lpad(((i * 7919) % CAST(:n AS integer))::text, 6, '0'),
       'Item ' || lpad((i % 2000)::text, 4, '0'),
       (ARRAY['Books', 'Garden', 'Kitchen', 'Toys'])[1 + i % 4],
       (ARRAY['Acme', 'Globex', 'Initech'])[1 + i % 3],
       i % 50,
       (i % 50) / 5,
       (i % 1000) + 0.99,
       round((i % 1000) * 0.5, 2),
       CASE WHEN i % 2 = 0 THEN 10 END,
       CASE WHEN i % 1000 = 0 THEN now() END
FROM generate_series(CAST(:first AS integer), CAST(:last AS integer)) AS i
"""


def insert_items(engine: Engine, first: int, last: int, modulus: int = BIG_ROWS) -> None:
    """Rows numbered `first`..`last` as described above (`modulus` keeps SKUs unique: > last)."""
    with engine.begin() as conn:
        conn.execute(text(INSERT_ROWS), {"n": modulus, "first": first, "last": last})
        conn.execute(text("ANALYZE inventory_items"))


def live_ids(engine: Engine, where: str = "", order: str = "name, id", limit: int | None = None) -> list[int]:
    """Ids of the listed (not archived) rows in the given order, straight from the database."""
    condition = f"AND ({where})" if where else ""
    stmt = f"SELECT id FROM inventory_items WHERE archived_at IS NULL {condition} ORDER BY {order}"
    if limit is not None:
        stmt += f" LIMIT {limit}"
    with engine.connect() as conn:
        return list(conn.scalars(text(stmt)))


def scalar(engine: Engine, stmt: str, **params: Any) -> Any:
    with engine.connect() as conn:
        return conn.scalar(text(stmt), params)


def make_actor(services: Services, role: str, email: str) -> Actor:
    services.users.bootstrap_user(
        email=email, role=role, first_name="Grid", last_name="Tester", password=PASSWORD
    )
    return services.auth.authenticate(email, PASSWORD).actor


class Gated(Table[Any]):
    """The real inventory table, except that its count (or its rows) wait for the test's go-ahead:
    it puts the two answers of a new query in a known order."""

    def __init__(self, inner: Table[Any], *, hold_count: bool) -> None:
        self.inner, self.spec, self.hold_count = inner, inner.spec, hold_count
        self.gate = threading.Event()
        self.answered: list[str] = []  # "rows" / "count", in the order they were answered

    def page(self, actor, query):
        if not self.hold_count:
            assert self.gate.wait(10)
        page = self.inner.page(actor, query)
        self.answered.append("rows")
        return page

    def count(self, actor, query):
        if self.hold_count:
            assert self.gate.wait(10)
        total = self.inner.count(actor, query)
        self.answered.append("count")
        return total


@dataclass(frozen=True)
class BigDb:
    url: str
    engine: Engine
    services: Services
    manager: Actor
    viewer: Actor


@pytest.fixture(scope="module")
def big_db(pg_admin_url: str, template_database: str) -> Iterator[BigDb]:
    with scratch_database(pg_admin_url, template_database, "ecomdesk_grid") as url:
        engine = make_engine(url)
        try:
            insert_items(engine, 1, BIG_ROWS)
            services = Services.build(engine)
            manager = make_actor(services, "manager", "manager@grid.example")
            viewer = make_actor(services, "viewer", "viewer@grid.example")
            yield BigDb(url, engine, services, manager, viewer)
        finally:
            engine.dispose()


@pytest.fixture
def big_session(big_db: BigDb, runner: TaskRunner) -> AppSession:
    return AppSession(big_db.services, big_db.viewer, runner, database_label="grid test")


@pytest.fixture
def grid_settings(tmp_path: Path) -> QSettings:
    """A settings file of the test's own: the view state and export choices of one test stay there."""
    return QSettings(str(tmp_path / "ecomdesk.ini"), QSettings.Format.IniFormat)
