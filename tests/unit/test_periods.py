"""Shop calendar periods: ISO weeks from Monday (across the turn of a year), calendar months (leap
years), and the periods after them — the one rule the roll-ups and the dashboard's buckets share."""

from __future__ import annotations

import datetime as dt

import pytest

from ecomdesk.db.metrics import DAY, MONTH, WEEK, add_months, next_period_start, period_end, period_start

D = dt.date


@pytest.mark.parametrize(
    ("day", "granularity", "start", "following", "end"),
    [
        (D(2024, 2, 29), DAY, D(2024, 2, 29), D(2024, 3, 1), D(2024, 2, 29)),
        (D(2026, 1, 1), WEEK, D(2025, 12, 29), D(2026, 1, 5), D(2026, 1, 4)),  # a Thursday
        (D(2026, 11, 30), WEEK, D(2026, 11, 30), D(2026, 12, 7), D(2026, 12, 6)),  # a Monday
        (D(2024, 2, 10), MONTH, D(2024, 2, 1), D(2024, 3, 1), D(2024, 2, 29)),
        (D(2026, 12, 31), MONTH, D(2026, 12, 1), D(2027, 1, 1), D(2026, 12, 31)),
    ],
)
def test_a_day_lies_in_one_period_whose_end_is_the_day_before_the_next(
    day: dt.date, granularity: str, start: dt.date, following: dt.date, end: dt.date
) -> None:
    assert period_start(day, granularity) == start
    assert next_period_start(day, granularity) == following
    assert period_end(start, granularity) == end


def test_months_are_added_across_years_both_ways() -> None:
    assert add_months(D(2026, 11, 1), 2) == D(2027, 1, 1)
    assert add_months(D(2026, 1, 1), -1) == D(2025, 12, 1)
    assert add_months(D(2026, 5, 1), -17) == D(2024, 12, 1)
