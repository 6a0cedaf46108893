"""One shape for every paged list the table views show: a query in, a page of typed rows out.

Sort keys are named (the service maps each name to a column) and the primary key always ends the
order, so paging is stable even when many rows share a value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select

from ecomdesk.services.errors import ValidationError

Row = TypeVar("Row")
#: Any SELECT, whatever its columns (SQLAlchemy 2.1 types them as a variadic tuple).
Sel = TypeVar("Sel", bound=Select[*tuple[Any, ...]])

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


@dataclass(frozen=True)
class Page(Generic[Row]):
    """`rows` from `offset`; `total` counts every row matching the query (not just this page)."""

    rows: list[Row]
    total: int
    offset: int

    @property
    def has_more(self) -> bool:
        return self.offset + len(self.rows) < self.total


def check_window(query: ListQuery) -> None:
    problems = {}
    if query.offset < 0:
        problems["offset"] = "The offset cannot be negative."
    if not 1 <= query.limit <= MAX_PAGE_SIZE:
        problems["limit"] = f"Ask for between 1 and {MAX_PAGE_SIZE} rows at a time."
    if problems:
        raise ValidationError(problems)


def apply_sort(
    stmt: Sel,
    query: ListQuery,
    columns: Mapping[str, ColumnElement[Any]],
    primary_key: ColumnElement[Any],
    default: Sequence[SortKey],
) -> Sel:
    """Order `stmt` by the query's keys (or `default`), always ending with the primary key."""
    unknown = [k.key for k in query.sort if k.key not in columns]
    if unknown:
        raise ValidationError({"sort": f"Cannot sort by {', '.join(unknown)}."})
    order = []
    for key in query.sort or default:
        column = columns[key.key]
        order.append(column.desc().nulls_last() if key.descending else column.asc().nulls_last())
    descending_last = bool(query.sort or default) and (query.sort or default)[-1].descending
    order.append(primary_key.desc() if descending_last else primary_key.asc())
    return stmt.order_by(*order)


def like_pattern(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, with the user's % and _ taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
