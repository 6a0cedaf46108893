"""The database itself refuses bad data, whoever writes it (the app, psql, another program)."""

from __future__ import annotations

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

ITEM = (
    "INSERT INTO inventory_items (sku, name, category, supplier, stock, reserved, price, cost) "
    "VALUES (:sku, 'Mug', 'Home', 'Acme', :stock, :reserved, :price, :cost)"
)


def _item(
    conn: Connection,
    sku: str = "MUG-001",
    stock: int = 5,
    reserved: int = 0,
    price: str = "9.90",
    cost: str = "4.00",
) -> None:
    conn.execute(text(ITEM), {"sku": sku, "stock": stock, "reserved": reserved, "price": price, "cost": cost})


def _user(conn: Connection, email: str, role: str = "viewer") -> int:
    user_id = conn.execute(
        text(
            "INSERT INTO users (email, password_hash, role_id) "
            "SELECT :email, 'x', id FROM roles WHERE name = :role RETURNING id"
        ),
        {"email": email, "role": role},
    ).scalar_one()
    conn.execute(text("INSERT INTO user_profiles (user_id, first_name) VALUES (:u, 'Ann')"), {"u": user_id})
    return int(user_id)


@pytest.mark.parametrize(
    ("kwargs", "constraint"),
    [
        # reserved (0) > stock (-1) too: PostgreSQL names whichever check it tried first.
        ({"stock": -1}, "stock_not_negative|reserved_within_stock"),
        ({"reserved": -1}, "ck_inventory_items_reserved_not_negative"),
        ({"stock": 2, "reserved": 3}, "ck_inventory_items_reserved_within_stock"),
        ({"price": "-0.01"}, "ck_inventory_items_price_not_negative"),
        ({"cost": "-5"}, "ck_inventory_items_cost_not_negative"),
        ({"sku": "mug-001"}, "ck_inventory_items_sku_normalised"),
    ],
)
def test_inventory_numbers_out_of_range_are_refused(engine, kwargs, constraint):
    with pytest.raises(IntegrityError, match=constraint), engine.begin() as conn:
        _item(conn, **kwargs)


def test_duplicate_sku_is_refused(engine):
    with engine.begin() as conn:
        _item(conn, sku="MUG-001")
    with pytest.raises(IntegrityError, match="uq_inventory_items_sku"), engine.begin() as conn:
        _item(conn, sku="MUG-001")


def test_email_differing_only_in_case_is_refused(engine):
    with engine.begin() as conn:
        _user(conn, "Ann.Lee@Shop.example")
    with pytest.raises(IntegrityError, match="uq_users_email_lower"), engine.begin() as conn:
        _user(conn, "ann.lee@shop.example")


def test_role_held_by_a_user_cannot_be_deleted(engine):
    with engine.begin() as conn:
        _user(conn, "ann@shop.example", role="manager")
    with pytest.raises(IntegrityError, match="fk_users_role_id_roles"), engine.begin() as conn:
        conn.execute(text("DELETE FROM roles WHERE name = 'manager'"))


def test_deleting_a_user_removes_profile_and_sessions_but_keeps_audit_and_reports(engine):
    with engine.begin() as conn:
        uid = _user(conn, "ann@shop.example")
        conn.execute(
            text(
                "INSERT INTO device_sessions (user_id, token_hash, device_name, expires_at) "
                "VALUES (:u, repeat('a', 64), 'laptop', now() + interval '1 day')"
            ),
            {"u": uid},
        )
        conn.execute(
            text(
                "INSERT INTO audit_log (actor_id, actor_email, action, entity_type) "
                "VALUES (:u, 'ann@shop.example', 'user.created', 'user')"
            ),
            {"u": uid},
        )
        conn.execute(
            text("INSERT INTO reports (title, kind, generated_by) VALUES ('Q1', 'sales-summary', :u)"),
            {"u": uid},
        )
        conn.execute(text("DELETE FROM users WHERE id = :u"), {"u": uid})
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM user_profiles")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM device_sessions")).scalar_one() == 0
        audit = conn.execute(text("SELECT actor_id, actor_email FROM audit_log")).one()
        assert tuple(audit) == (None, "ann@shop.example")
        assert conn.execute(text("SELECT generated_by FROM reports")).scalar_one() is None


def test_customer_metrics_total_must_be_new_plus_returning(engine):
    with pytest.raises(IntegrityError, match="total_is_new_plus_returning"), engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO customer_metrics (date, total_customers, new_customers, returning_customers, "
                "average_order_value) VALUES ('2026-01-01', 10, 3, 4, 12.50)"
            )
        )


def test_report_status_outside_the_life_cycle_is_refused(engine):
    with pytest.raises(IntegrityError, match="ck_reports_status_known"), engine.begin() as conn:
        conn.execute(text("INSERT INTO reports (title, kind, status) VALUES ('x', 'low-stock', 'done')"))


def test_times_are_stored_with_their_zone(engine):
    with engine.connect() as conn:
        types = dict(
            conn.execute(
                text(
                    "SELECT table_name || '.' || column_name, data_type FROM information_schema.columns "
                    "WHERE table_schema = 'public' AND data_type LIKE 'timestamp%'"
                )
            ).all()
        )
    assert types, "no timestamp columns found"
    assert set(types.values()) == {"timestamp with time zone"}


def test_money_columns_are_numeric_never_float(engine):
    with engine.connect() as conn:
        floats = conn.execute(
            text(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = 'public' AND data_type IN ('real', 'double precision')"
            )
        ).all()
    assert floats == []
