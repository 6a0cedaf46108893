"""The rows of each report kind: plain functions of a session and typed parameters, yielding
tuples in the kind's column order (`report_kinds` says which columns those are).

The queries are SQLAlchemy Core in portable SQL — stored shop days compared as dates, shop days
turned into moments here in Python, buckets by date comparisons (`analytics.Periods`) — so they
run unchanged on the offline snapshot (SQLite). Kinds that may be large read through a
server-side cursor (`yield_per` on the statement, not on the connection), so a million rows
never sit in memory at once. Money comes back as exact cents, rounded half-up like the
dashboard's.
"""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from collections.abc import Iterator, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final, cast

from sqlalchemy import ColumnElement, Integer, Select, Table, case, func, literal, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from ecomdesk.db.metrics import period_end
from ecomdesk.db.models import AuditEntry, InventoryItem, Role, User, UserProfile
from ecomdesk.services.analytics import (
    SEGMENTS,
    DateRange,
    Granularity,
    Periods,
    customer_segment_rows,
    shop_settings,
)
from ecomdesk.services.analytics_tables import CUSTOMERS, DAILY_CUSTOMERS, ORDERS
from ecomdesk.services.inventory import available_units, low_stock_threshold

_CENT: Final = Decimal("0.01")
_ZERO: Final = Decimal("0.00")
_ITEMS: Final = cast(Table, InventoryItem.__table__)
_USERS: Final = cast(Table, User.__table__)
_PROFILES: Final = cast(Table, UserProfile.__table__)
_ROLES: Final = cast(Table, Role.__table__)
_AUDIT: Final = cast(Table, AuditEntry.__table__)
#: The name a segment key stands for, and its place in `SEGMENTS` (the report's order).
SEGMENT_NAMES: Final = {segment.key: segment.name for segment in SEGMENTS}
_SEGMENT_ORDER: Final = {segment.key: n for n, segment in enumerate(SEGMENTS)}

Values = tuple[Any, ...]


def money(value: Any) -> Decimal:
    """An amount as exact cents, half-up (SQLite hands sums back through a float)."""
    return Decimal(str(value or 0)).quantize(_CENT, ROUND_HALF_UP)


def aware(moment: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands stored moments back without their zone; they were written in UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=dt.UTC)


def day_start(day: dt.date, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    """The moment a shop day starts, in UTC."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=zone).astimezone(dt.UTC)


def _streamed(session: Session, stmt: Select[Any], fetch_rows: int) -> Iterator[Any]:
    """The statement's rows through a server-side cursor, `fetch_rows` per round trip (an option
    of this statement only: the connection's other reads stay buffered)."""
    return iter(session.execute(stmt.execution_options(yield_per=fetch_rows)))


# -- sales ----------------------------------------------------------------------------------------


def sales_summary(
    session: Session, start: dt.date, end: dt.date, granularity: str, channels: Sequence[str]
) -> Iterator[Values]:
    """Per period and channel: paid orders and their distinct customers and amounts (each order on
    its paid day), refunds on their own refund day, revenue, and the average paid order — one
    row per period and channel with a paid order or a refund."""
    periods = Periods(DateRange(start, end), Granularity(granularity))
    o = ORDERS.c
    only = o.channel.in_(channels) if channels else None
    paid_bucket = periods.key(o.paid_date).label("bucket")
    # Grouped per customer first, then counted: distinct customers as groups, as the dashboard does.
    per_customer = (
        select(
            paid_bucket,
            o.channel.label("channel"),
            o.customer_id,
            func.count().label("orders"),
            func.sum(o.amount).label("gross"),
        )
        .where(o.paid_date.between(start, end))
        .group_by(paid_bucket, o.channel, o.customer_id)
    )
    if only is not None:
        per_customer = per_customer.where(only)
    p = per_customer.subquery("per_customer").c
    paid_stmt = select(p.bucket, p.channel, func.count(), func.sum(p.orders), func.sum(p.gross)).group_by(
        p.bucket, p.channel
    )
    refund_bucket = periods.key(o.refund_date).label("bucket")
    refund_stmt = (
        select(refund_bucket, o.channel, func.sum(o.refund_amount))
        .where(o.refund_date.between(start, end))
        .group_by(refund_bucket, o.channel)
    )
    if only is not None:
        refund_stmt = refund_stmt.where(only)
    # (period start, channel) → [orders, customers, gross, refunds]: a few per period, in memory.
    found: dict[tuple[dt.date, str], list[Any]] = {}
    for bucket, channel, customers, orders, gross in session.execute(paid_stmt):
        found[(periods.start_of(bucket), channel)] = [int(orders), int(customers), money(gross), _ZERO]
    for bucket, channel, refunded in session.execute(refund_stmt):
        row = found.setdefault((periods.start_of(bucket), channel), [0, 0, _ZERO, _ZERO])
        row[3] = money(refunded)
    for (first, channel), (orders, customers, gross, refunds) in sorted(found.items()):
        last = min(period_end(first, granularity), end)
        average = (gross / orders).quantize(_CENT, ROUND_HALF_UP) if orders else None
        yield (first, last, channel, orders, customers, gross, refunds, gross - refunds, average)


# -- customers ------------------------------------------------------------------------------------


def customer_metrics(session: Session, start: dt.date, end: dt.date) -> Iterator[Values]:
    """The daily customer figures of the range as ingestion derived them (`customer_metrics`)."""
    d = DAILY_CUSTOMERS.c
    stmt = (
        select(d.date, d.total_customers, d.new_customers, d.returning_customers, d.average_order_value)
        .where(d.date.between(start, end))
        .order_by(d.date)
    )
    for day, total, new, returning, average in session.execute(stmt):
        yield (day, int(total), int(new), int(returning), money(average))


def customer_segments(
    session: Session,
    as_of: dt.date,
    channels: Sequence[str],
    segment: str | None,
    fetch_rows: int,
) -> Iterator[Values]:
    """Every customer with a paid order in the 365 days up to `as_of`, in the dashboard's segment
    (`analytics.customer_segment_rows`, the one rule), with their first paid order ever."""
    rows = customer_segment_rows(DateRange(as_of, as_of), channels).subquery("segmented")
    s, c = rows.c, CUSTOMERS.c
    place = case(_SEGMENT_ORDER, value=s.segment)
    stmt = (
        select(s.customer_id, s.segment, s.last, s.orders, s.spend, c.first_paid_date)
        .select_from(rows.outerjoin(CUSTOMERS, c.customer_id == s.customer_id))
        .where(s.segment.is_not(None))
        .order_by(place, s.spend.desc(), s.customer_id)
    )
    if segment is not None:
        stmt = stmt.where(s.segment == segment)
    for customer_id, key, last, orders, spend, first in _streamed(session, stmt, fetch_rows):
        yield (customer_id, SEGMENT_NAMES[key], last, int(orders), money(spend), first)


# -- inventory ------------------------------------------------------------------------------------


def inventory_valuation(session: Session, group_by: str, include_archived: bool) -> Iterator[Values]:
    """Items, units and stock value at cost and at retail per category or supplier (largest cost
    value first), with the low-stock count by the inventory list's rule; then a "Total" row."""
    item = _ITEMS.c
    key = item[group_by]
    cost_value = func.coalesce(func.sum(item.stock * item.cost), 0)
    stmt = (
        select(
            key,
            func.count(),
            func.coalesce(func.sum(item.stock), 0),
            cost_value,
            func.coalesce(func.sum(item.stock * item.price), 0),
            func.sum(case((available_units() <= low_stock_threshold(), 1), else_=0)),
        )
        .group_by(key)
        .order_by(cost_value.desc(), key)
    )
    if not include_archived:
        stmt = stmt.where(item.archived_at.is_(None))
    totals: list[Any] = [0, 0, _ZERO, _ZERO, 0]
    for name, items, units, cost, retail, low in session.execute(stmt):
        row = (int(items), int(units), money(cost), money(retail), int(low or 0))
        totals = [a + b for a, b in zip(totals, row, strict=True)]
        yield (name, *row)
    yield ("Total", *totals)


def low_stock(
    session: Session, threshold: int | None, category: str | None, fetch_rows: int
) -> Iterator[Values]:
    """Live items whose available units (stock − reserved) are at or below the threshold: the one
    given, else each item's reorder level or the shop's default — the inventory list's rule.
    Largest shortfall first."""
    item = _ITEMS.c
    limit: ColumnElement[Any] = (
        literal(threshold, Integer) if threshold is not None else sql_cast(low_stock_threshold(), Integer)
    )
    available = available_units()
    shortfall = limit - available
    stmt = (
        select(
            item.sku, item.name, item.category, item.supplier, item.stock, item.reserved,
            available, limit, shortfall, item.cost, item.price,
        )
        .where(item.archived_at.is_(None), available <= limit)
        .order_by(shortfall.desc(), item.sku)
    )  # fmt: skip
    if category is not None:
        stmt = stmt.where(item.category == category)
    for sku, name, category_, supplier, stock, reserved, avail, limit_, short, cost, price in _streamed(
        session, stmt, fetch_rows
    ):
        yield (
            sku, name, category_, supplier, int(stock), int(reserved), int(avail), int(limit_),
            int(short), money(cost), money(price),
        )  # fmt: skip


# -- staff and the audit trail --------------------------------------------------------------------


def user_directory(session: Session, include_inactive: bool, fetch_rows: int) -> Iterator[Values]:
    """Staff accounts with their profile and role: who they are, whether they may sign in, when
    they last did. Never a password hash, a token or a failed-login detail."""
    user, profile, role = _USERS.c, _PROFILES.c, _ROLES.c
    stmt = (
        select(
            user.email, profile.first_name, profile.last_name, role.name, profile.phone,
            profile.is_active, user.locked_at.is_not(None), user.last_login_at, user.created_at,
        )
        .select_from(
            _USERS.join(_PROFILES, profile.user_id == user.id).join(_ROLES, role.id == user.role_id)
        )
        .order_by(func.lower(user.email), user.email)
    )  # fmt: skip
    if not include_inactive:
        stmt = stmt.where(profile.is_active.is_(True))
    for email, first, last, role_name, phone, active, locked, last_login, created in _streamed(
        session, stmt, fetch_rows
    ):
        yield (
            email,
            first,
            last,
            role_name,
            phone,
            bool(active),
            bool(locked),
            aware(last_login),
            aware(created),
        )


def _json_text(document: Any) -> str | None:
    """A JSON document as compact text, keys sorted (PostgreSQL's jsonb keeps its own key order;
    sorted, the same entry reads the same from either database)."""
    if document is None:
        return None
    return json.dumps(document, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def audit_extract(
    session: Session,
    start: dt.date,
    end: dt.date,
    user: str | None,
    entity: str | None,
    fetch_rows: int,
) -> Iterator[Values]:
    """The audit trail's entries of the shop days `start`…`end` (the shop's zone turns them into
    moments here, so the query is plain comparisons on either database), oldest first."""
    zone = shop_settings(session).zone
    a = _AUDIT.c
    stmt = (
        select(a.occurred_at, a.actor_email, a.action, a.entity_type, a.entity_id, a.before, a.after)
        .where(
            a.occurred_at >= day_start(start, zone),
            a.occurred_at < day_start(end + dt.timedelta(days=1), zone),
        )
        .order_by(a.occurred_at, a.id)
    )
    if user is not None:
        stmt = stmt.where(a.actor_email == user)
    if entity is not None:
        stmt = stmt.where(a.entity_type == entity)
    for occurred_at, actor, action, entity_type, entity_id, before, after in _streamed(
        session, stmt, fetch_rows
    ):
        yield (
            aware(occurred_at),
            actor,
            action,
            entity_type,
            entity_id,
            _json_text(before),
            _json_text(after),
        )


# -- what a choice parameter offers ---------------------------------------------------------------


def distinct_values(session: Session, column: ColumnElement[Any], *where: ColumnElement[bool]) -> list[Any]:
    """The distinct values of an indexed column, ascending: a loose index scan (a recursive query
    hopping from each value to the next along the index) instead of reading every row for
    DISTINCT — a few milliseconds over a million rows instead of a few hundred. Portable SQL."""
    table = cast(Table, column.table)
    hops = (
        select(func.min(column).label("value")).select_from(table).where(*where).cte("hops", recursive=True)
    )
    following = select(
        select(func.min(column)).select_from(table).where(*where, column > hops.c.value).scalar_subquery()
    ).where(hops.c.value.is_not(None))
    hops = hops.union_all(following)
    return list(session.scalars(select(hops.c.value).where(hops.c.value.is_not(None))))


def live_categories(session: Session) -> list[str]:
    item = _ITEMS.c
    return distinct_values(session, item.category, item.archived_at.is_(None))


def audit_entity_types(session: Session) -> list[str]:
    return distinct_values(session, _AUDIT.c.entity_type)


def audit_actors(session: Session) -> list[str]:
    """Every e-mail address in the audit trail, including those of accounts since deleted (a hop
    along `ix_audit_log_actor_email_occurred_at_id`)."""
    email = _AUDIT.c.actor_email
    return distinct_values(session, email, email.is_not(None))
