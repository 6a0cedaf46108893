"""Reports: the list every staff machine shares. (Requesting and generating arrive with the reports issue.)"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.orm import Session

from ecomdesk.db.models import Report, User
from ecomdesk.db.models.reports import REPORT_STATUSES
from ecomdesk.services.errors import ValidationError
from ecomdesk.services.listing import SortKey, like_pattern
from ecomdesk.services.tables import Choice, Column, FilterKind, FilterSpec, Kind, Source, SqlTable, TableSpec


@dataclass(frozen=True)
class ReportRow:
    id: int
    title: str
    kind: str
    format: str
    status: str
    error: str | None
    generated_by: str | None
    size_bytes: int | None
    created_at: dt.datetime
    updated_at: dt.datetime


REPORTS_SPEC = TableSpec(
    name="reports",
    title="Reports",
    singular="report",
    plural="reports",
    columns=(
        Column("title", "Title"),
        Column("kind", "Kind"),
        Column("format", "Format"),
        Column("status", "Status"),
        Column("generated_by", "Requested by"),
        Column("size_bytes", "Size (bytes)", Kind.INTEGER),
        Column("error", "Error", shown=False),
        Column("created_at", "Requested", Kind.DATETIME),
        Column("updated_at", "Updated", Kind.DATETIME),
    ),
    default_sort=(SortKey("created_at", descending=True),),
    filters=(
        FilterSpec("status", "Status", FilterKind.CHOICE),
        FilterSpec("kind", "Kind", FilterKind.CHOICE),
    ),
    search_hint="Search titles",
)


class ReportsTable(SqlTable[ReportRow]):
    spec = REPORTS_SPEC
    permission = "reports.read"

    def source(self) -> Source:
        report, user = Report.__table__.c, User.__table__.c
        return Source(
            from_=Report.__table__.outerjoin(User.__table__, user.id == report.generated_by),
            columns={
                "title": report.title,
                "kind": report.kind,
                "format": report.format,
                "status": report.status,
                "generated_by": user.email,
                "size_bytes": report.size_bytes,
                "error": report.error,
                "created_at": report.created_at,
                "updated_at": report.updated_at,
            },
            primary_key=report.id,
            extra={"id": report.id},
            sort={"title": func.lower(report.title), "generated_by": func.lower(user.email)},
        )

    def search(self, text: str) -> ColumnElement[bool]:
        pattern = like_pattern(text)
        report = Report.__table__.c
        return or_(report.title.ilike(pattern, escape="\\"), report.kind.ilike(pattern, escape="\\"))

    def filter(self, key: str, value: Any) -> ColumnElement[bool]:
        if key in ("status", "kind"):
            if not isinstance(value, str):
                raise ValidationError({key: "Expected a name."})
            column: ColumnElement[Any] = Report.__table__.c[key]
            return column == value
        return super().filter(key, value)

    def record(self, row: RowMapping) -> ReportRow:
        return ReportRow(**{name: row[name] for name in ReportRow.__dataclass_fields__})

    def choices_query(self, session: Session, key: str) -> list[Choice]:
        if key == "status":
            return [Choice(status, status.capitalize()) for status in REPORT_STATUSES]
        if key == "kind":
            kinds = session.scalars(select(Report.kind).distinct().order_by(Report.kind))
            return [Choice(kind, kind) for kind in kinds]
        return super().choices_query(session, key)
