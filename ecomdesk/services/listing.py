"""One shape for every paged list the table views show: a query in, a page of typed rows out.

Sort keys are named (each table maps each name to a column, `services.tables`) and the primary key
always ends the order, so paging is stable even when many rows share a value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from ecomdesk.services.errors import ValidationError

Row = TypeVar("Row")

MAX_PAGE_SIZE = 5000


@dataclass(frozen=True)
class SortKey:
    key: str
    descending: bool = False


@dataclass(frozen=True)
class ListQuery:
    """What a view asks for: free-text search, named filters, sort keys and a window of rows."""

    search: str = ""
    filters: Mapping[str, Any] = field(default_factory=dict)
    sort: Sequence[SortKey] = ()
    offset: int = 0
    limit: int = 200
    #: The row count the caller already has (from an earlier page of the same query): the service
    #: skips counting and may read windows near the end backwards.
    known_total: int | None = None
    #: False: don't count (`Page.total` is None) — for a view that shows the first rows before the
    #: count arrives from `Table.count`. Ignored when `known_total` is given.
    counted: bool = True


@dataclass(frozen=True)
class Page(Generic[Row]):
    """`rows` from `offset`; `total` counts every row matching the query (not just this page), or is
    None when the query asked not to count."""

    rows: list[Row]
    total: int | None
    offset: int

    @property
    def has_more(self) -> bool:
        if self.total is None:
            return bool(self.rows)
        return self.offset + len(self.rows) < self.total


def check_window(query: ListQuery) -> None:
    problems = {}
    if query.offset < 0:
        problems["offset"] = "The offset cannot be negative."
    if not 1 <= query.limit <= MAX_PAGE_SIZE:
        problems["limit"] = f"Ask for between 1 and {MAX_PAGE_SIZE} rows at a time."
    if problems:
        raise ValidationError(problems)


def like_pattern(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, with the user's % and _ taken literally.

    Searches match it with `ilike`: case-insensitive for every letter on PostgreSQL, but on a
    snapshot (SQLite, where `ilike` is `lower(x) LIKE lower(y)`) for ASCII letters only — "ä" does
    not find "Ä" there. Accepted: codes, emails and most names are ASCII."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
