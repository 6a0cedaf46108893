"""The activity log as a list: who changed what and when. (Live updates come with their own issue.)"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, String, cast, func, or_, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.orm import Session

from ecomdesk.db.models import AuditEntry
from ecomdesk.services.errors import ValidationError
from ecomdesk.services.listing import SortKey, like_pattern
from ecomdesk.services.tables import Choice, Column, FilterKind, FilterSpec, Kind, Source, SqlTable, TableSpec


@dataclass(frozen=True)
class ActivityRow:
    id: int
    occurred_at: dt.datetime
    actor_email: str | None
    action: str
    entity_type: str
    entity_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None

    @property
    def changes(self) -> str:
        """The changed fields in one line: `name: "Old" → "New"`; for a record created or deleted
        (one side empty) just its fields: `name: "New"`."""
        before, after = self.before or {}, self.after or {}
        if not before or not after:
            return "; ".join(
                f"{key}: {json.dumps(value)}" for key, value in sorted((before or after).items())
            )
        keys = sorted(set(before) | set(after))
        return "; ".join(
            f"{key}: {json.dumps(before.get(key))} → {json.dumps(after.get(key))}"
            for key in keys
            if before.get(key) != after.get(key)
        )


ACTIVITY_SPEC = TableSpec(
    name="activity",
    title="Activity",
    singular="entry",
    plural="entries",
    columns=(
        Column("occurred_at", "When", Kind.DATETIME),
        Column("actor_email", "Who"),
        Column("action", "Action"),
        Column("entity_type", "Entity"),
        Column("entity_id", "Entity id"),
        Column("changes", "Changes", sortable=False),
    ),
    default_sort=(SortKey("occurred_at", descending=True),),
    filters=(
        FilterSpec("actor_email", "User", FilterKind.CHOICE),
        FilterSpec("entity_type", "Entity", FilterKind.CHOICE),
        FilterSpec("action", "Action", FilterKind.CHOICE),
    ),
    search_hint="Search user, action or entity",
)


class ActivityTable(SqlTable[ActivityRow]):
    spec = ACTIVITY_SPEC
    permission = "audit.read"

    def source(self) -> Source:
        entry = AuditEntry.__table__.c
        return Source(
            from_=AuditEntry.__table__,
            columns={
                "occurred_at": entry.occurred_at,
                "actor_email": entry.actor_email,
                "action": entry.action,
                "entity_type": entry.entity_type,
                "entity_id": entry.entity_id,
                # For export: the before and after documents side by side.
                "changes": func.concat_ws(" → ", cast(entry.before, String), cast(entry.after, String)),
            },
            primary_key=entry.id,
            extra={"id": entry.id, "before": entry.before, "after": entry.after},
        )

    def search(self, text: str) -> ColumnElement[bool]:
        pattern = like_pattern(text)
        entry = AuditEntry.__table__.c
        return or_(
            *(
                column.ilike(pattern, escape="\\")
                for column in (entry.actor_email, entry.action, entry.entity_type)
            )
        )

    def filter(self, key: str, value: Any) -> ColumnElement[bool]:
        if key in ("actor_email", "entity_type", "action"):
            if not isinstance(value, str):
                raise ValidationError({key: "Expected a name."})
            column: ColumnElement[Any] = AuditEntry.__table__.c[key]
            return column == value
        return super().filter(key, value)

    def record(self, row: RowMapping) -> ActivityRow:
        return ActivityRow(**{name: row[name] for name in ActivityRow.__dataclass_fields__})

    def choices_query(self, session: Session, key: str) -> list[Choice]:
        if key not in ("actor_email", "entity_type", "action"):
            return super().choices_query(session, key)
        column = AuditEntry.__table__.c[key]
        values = session.scalars(select(column).where(column.is_not(None)).distinct().order_by(column))
        return [Choice(value, value) for value in values]
