"""Month and week starts of a date column, in the words of each database.

The analytics queries must run unchanged on PostgreSQL and on the offline snapshot (SQLite), and
neither shares a function for "the first day of this date's month or ISO week". Each construct here
is one SQL expression with one form per dialect (`@compiles`), always typed `Date`, so a query says
`month_start(column)` and works on both. `python_start` is the same rule for dates already in
memory, so buckets computed in Python and in SQL agree by construction (the tests compare them).

- PostgreSQL: `CAST(date_trunc('month' | 'week', CAST(x AS TIMESTAMP)) AS DATE)` — `date_trunc('week',
  …)` is the ISO week, starting on Monday; the cast keeps the date from being read as a moment in
  the session's time zone (slower, and a day off wherever the zone is not UTC).
- SQLite: `date(x, 'start of month')`; for weeks `date(x, '-6 days', 'weekday 1')`: step back six
  days, then forward to the next Monday on or after that day — the Monday on or before `x`.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import Date
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement


class Unit(enum.StrEnum):
    DAY = "day"
    WEEK = "week"  # ISO weeks, starting on Monday
    MONTH = "month"


class month_start(FunctionElement[dt.date]):
    """The first day of the date's month."""

    type = Date()
    name = "month_start"
    inherit_cache = True


class week_start(FunctionElement[dt.date]):
    """The Monday on or before the date (the first day of its ISO week)."""

    type = Date()
    name = "week_start"
    inherit_cache = True


def period_start(column: ColumnElement[Any], unit: Unit | str) -> ColumnElement[dt.date]:
    """`column`'s day (DAY), its week's Monday (WEEK) or its month's first day (MONTH)."""
    match Unit(unit):
        case Unit.DAY:
            return column
        case Unit.WEEK:
            return week_start(column)
        case Unit.MONTH:
            return month_start(column)
    raise ValueError(unit)  # pragma: no cover - the match is exhaustive


def python_start(day: dt.date, unit: Unit | str) -> dt.date:
    """The same rule as `period_start`, for a date in memory."""
    match Unit(unit):
        case Unit.DAY:
            return day
        case Unit.WEEK:
            return day - dt.timedelta(days=day.weekday())
        case Unit.MONTH:
            return day.replace(day=1)
    raise ValueError(unit)  # pragma: no cover - the match is exhaustive


def next_start(start: dt.date, unit: Unit | str) -> dt.date:
    """The first day of the period after the one starting on `start`."""
    match Unit(unit):
        case Unit.DAY:
            return start + dt.timedelta(days=1)
        case Unit.WEEK:
            return start + dt.timedelta(days=7)
        case Unit.MONTH:
            return add_months(start, 1)
    raise ValueError(unit)  # pragma: no cover - the match is exhaustive


def add_months(first: dt.date, months: int) -> dt.date:
    """The first day of the month `months` after `first`'s month (negative: before)."""
    index = first.year * 12 + first.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def months_between(earlier: dt.date, later: dt.date) -> int:
    """Whole calendar months from `earlier`'s month to `later`'s month."""
    return (later.year - earlier.year) * 12 + later.month - earlier.month


@compiles(month_start)
def _month_start_default(element: month_start, compiler: SQLCompiler, **kw: Any) -> str:
    raise NotImplementedError(f"month_start has no form for {compiler.dialect.name}")


@compiles(week_start)
def _week_start_default(element: week_start, compiler: SQLCompiler, **kw: Any) -> str:
    raise NotImplementedError(f"week_start has no form for {compiler.dialect.name}")


@compiles(month_start, "postgresql")
def _month_start_pg(element: month_start, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(date_trunc('month', CAST({compiler.process(element.clauses, **kw)} AS TIMESTAMP)) AS DATE)"


@compiles(week_start, "postgresql")
def _week_start_pg(element: week_start, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(date_trunc('week', CAST({compiler.process(element.clauses, **kw)} AS TIMESTAMP)) AS DATE)"


@compiles(month_start, "sqlite")
def _month_start_sqlite(element: month_start, compiler: SQLCompiler, **kw: Any) -> str:
    return f"date({compiler.process(element.clauses, **kw)}, 'start of month')"


@compiles(week_start, "sqlite")
def _week_start_sqlite(element: week_start, compiler: SQLCompiler, **kw: Any) -> str:
    return f"date({compiler.process(element.clauses, **kw)}, '-6 days', 'weekday 1')"
