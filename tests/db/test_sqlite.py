"""The same models create and read on SQLite, which the offline snapshot will use."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from ecomdesk.db.engine import make_engine
from ecomdesk.db.models import AnalyticsData, InventoryItem, metadata


def test_models_create_and_round_trip_on_sqlite(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'snap.db'}")
    metadata.create_all(engine)
    when = dt.datetime(2026, 3, 1, 12, 30, tzinfo=dt.UTC)
    with Session(engine) as session:
        session.add(
            InventoryItem(
                sku="MUG-1",
                name="Mug",
                category="Home",
                supplier="Acme",
                stock=3,
                reserved=1,
                price=Decimal("9.90"),
                cost=Decimal("4.10"),
            )
        )
        session.add(
            AnalyticsData(
                metric_type="storefront_sessions",
                value=Decimal("120"),
                meta={"channel": "web"},
                recorded_at=when,
            )
        )
        session.commit()
    with Session(engine) as session:
        item = session.scalars(select(InventoryItem)).one()
        event = session.scalars(select(AnalyticsData)).one()
    assert (item.price, item.cost, item.version) == (Decimal("9.90"), Decimal("4.10"), 1)
    assert event.meta == {"channel": "web"}
    assert event.value == Decimal("120")
    engine.dispose()
