"""What each kind of report is: its parameters, its columns, the permission it needs, and its rows.

A kind reads inside the caller's unit of work and yields its rows one at a time (a server-side
cursor where a report may be large), so a report over a million rows never holds them all. Its
parameters arrive from the new-report dialog as typed values or from the command line as text
(`--param date_from=2026-10-01`); `ReportKind.normalise` turns either into the JSON-able
parameters stored with the report, or refuses with a message per field.

The registry `REPORT_KINDS` maps each kind's CLI name to its one instance.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from sqlalchemy.orm import Session

from ecomdesk.services import report_queries as q
from ecomdesk.services.analytics import SEGMENTS, all_channels
from ecomdesk.services.errors import ValidationError
from ecomdesk.services.inventory import INVENTORY_SPEC
from ecomdesk.services.tables import Choice, Column, Kind

#: A row of a report: one value per column, in the columns' order, typed as the column's kind says
#: (int for INTEGER, Decimal for MONEY/DECIMAL/PERCENT, dt.date for DATE, aware dt.datetime for
#: DATETIME, bool for BOOL, str for TEXT; None where empty).
ReportValues = Sequence[Any]


class ParamType(enum.StrEnum):
    DATE = "date"  # a calendar day; text form YYYY-MM-DD
    INTEGER = "integer"  # a whole number ≥ 0
    BOOL = "bool"  # true/false; text forms true/false, yes/no, 1/0
    CHOICE = "choice"  # one of `ReportKind.choices(session, key)`
    CHOICES = "choices"  # several of them (text form: comma-separated); empty means "all"
    TEXT = "text"


@dataclass(frozen=True)
class Param:
    key: str
    title: str
    type: ParamType
    #: Must be given (a DATE range's ends always get a default, so they are not "required").
    required: bool = False
    #: One sentence for the dialog's tooltip and `ecomdesk report kinds`.
    help: str = ""
    #: What one value is called in messages ("Unknown channel: tv."); default: the title in lower case.
    noun: str = ""

    @property
    def value_noun(self) -> str:
        return self.noun or self.title.lower()


class ReportKind:
    """One kind of report. Subclasses set the class attributes and implement the methods below."""

    name: ClassVar[str]  # the CLI name, e.g. "sales-summary"
    title: ClassVar[str]  # e.g. "Sales summary"
    description: ClassVar[str]  # one sentence for the dialog and `ecomdesk report kinds`
    #: Needed, besides reports.generate / reports.read, to request the kind and to open its content.
    permission: ClassVar[str]
    params: ClassVar[tuple[Param, ...]] = ()

    def columns(self, params: Mapping[str, Any]) -> tuple[Column, ...]:
        """The report's columns for these (normalised) parameters."""
        raise NotImplementedError

    def defaults(self, session: Session, today: dt.date) -> dict[str, Any]:
        """Typed values the new-report dialog starts from (`today`: the shop's today)."""
        raise NotImplementedError

    def choices(self, session: Session, key: str) -> list[Choice]:
        """The values a CHOICE/CHOICES parameter offers (categories, channels, staff…)."""
        raise ValidationError({key: "This parameter offers no choices."})

    def normalise(self, session: Session, raw: Mapping[str, Any], today: dt.date) -> dict[str, Any]:
        """The stored form of `raw` (typed values or text): every parameter present, dates as
        ISO text, CHOICES as a sorted list, None for an empty optional one; missing or blank
        ones take `defaults`. Unknown keys and bad values are refused all at once, one message
        per field, so the dialog or the command line can show every problem in one go."""
        known = {param.key for param in self.params}
        problems: dict[str, str] = {}
        for key in raw:
            if key not in known:
                problems[str(key)] = (
                    f"Unknown parameter for {self.title}: {key}. Known: {', '.join(sorted(known)) or 'none'}."
                )
        defaults = self.defaults(session, today)
        stored: dict[str, Any] = {}
        for param in self.params:
            value = raw.get(param.key)
            if _blank(value):
                value = defaults.get(param.key)
            if _blank(value) and param.type is not ParamType.CHOICES:
                if param.required:
                    problems[param.key] = "Required."
                stored[param.key] = None
                continue
            try:
                stored[param.key] = self._parse(session, param, value)
            except _Refused as refused:
                problems[param.key] = str(refused)
        if not problems:
            problems = self.check(stored)
        if problems:
            raise ValidationError(problems)
        return stored

    def check(self, params: Mapping[str, Any]) -> dict[str, str]:
        """Problems that involve several parameters (each already valid on its own), by field."""
        return {}

    def title_for(self, params: Mapping[str, Any]) -> str:
        """A default title saying what the report covers, e.g. "Sales summary 2026-10-01 – 2026-10-31"."""
        raise NotImplementedError

    def rows(self, session: Session, params: Mapping[str, Any]) -> Iterator[ReportValues]:
        """The report's rows for normalised `params`, streamed (no full list in memory)."""
        raise NotImplementedError

    # -- parsing one parameter ----------------------------------------------------------------

    def _parse(self, session: Session, param: Param, value: Any) -> Any:
        """The stored form of one non-blank value, or `_Refused` with what to type instead."""
        match param.type:
            case ParamType.DATE:
                return _date(value).isoformat()
            case ParamType.INTEGER:
                return _integer(value)
            case ParamType.BOOL:
                return _bool(value)
            case ParamType.CHOICE:
                return _pick(param, self.choices(session, param.key), [value])[0]
            case ParamType.CHOICES:
                if value is None:
                    return []
                values = value.split(",") if isinstance(value, str) else value
                if not isinstance(values, list | tuple | set | frozenset):
                    raise _Refused(f"List the {param.title.lower()}, separated by commas.")
                picked = _pick(param, self.choices(session, param.key), [v for v in values if not _blank(v)])
                return sorted(set(picked))
            case ParamType.TEXT:
                if not isinstance(value, str):
                    raise _Refused("Use text.")
                return value.strip()
        raise AssertionError(param.type)


#: Rows fetched per round trip by a kind's server-side cursor.
FETCH_ROWS: Final = 5_000
#: The largest INTEGER parameter accepted (far above any real threshold, within the columns' range).
MAX_INTEGER: Final = 1_000_000_000
#: Choices named in an "Unknown …" message at most (a shop may have hundreds of categories).
_KNOWN_SHOWN: Final = 12
_DATE_RE: Final = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_DIGITS_RE: Final = re.compile(r"^[0-9]+$")
_TRUE: Final = frozenset({"true", "yes", "1"})
_FALSE: Final = frozenset({"false", "no", "0"})


class _Refused(Exception):
    """One parameter's value cannot be accepted; the message says what to give instead."""


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value in ((), [])


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and _DATE_RE.match(value.strip()):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise _Refused("Use a date like 2026-10-31.")


def _integer(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _DIGITS_RE.match(value.strip()):
        number = int(value.strip())
    else:
        raise _Refused("Use a whole number of 0 or more, e.g. 5.")
    if number < 0:
        raise _Refused("Use a whole number of 0 or more, e.g. 5.")
    if number > MAX_INTEGER:
        raise _Refused(f"At most {MAX_INTEGER:,}.")
    return number


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise _Refused("Use true or false (or yes/no, 1/0).")


def _pick(param: Param, choices: Sequence[Choice], values: Sequence[Any]) -> list[Any]:
    """Each of `values` as the choice it names: its value exactly, or its value or label in any
    letter case ("Champions" and "champions" both name the segment `champions`)."""
    exact = {choice.value: choice.value for choice in choices}
    folded: dict[str, Any] = {}
    for choice in choices:
        folded.setdefault(str(choice.label).casefold(), choice.value)
        folded.setdefault(str(choice.value).casefold(), choice.value)
    picked, unknown = [], []
    for value in values:
        if isinstance(value, str):
            value = value.strip()
        if isinstance(value, Hashable) and value in exact:
            picked.append(exact[value])
        elif isinstance(value, str) and value.casefold() in folded:
            picked.append(folded[value.casefold()])
        else:
            unknown.append(str(value))
    if unknown:
        names = [str(choice.value) for choice in choices]
        shown = ", ".join(names[:_KNOWN_SHOWN]) + (
            f", … ({len(names):,} in all)" if len(names) > _KNOWN_SHOWN else ""
        )
        known = f"Known: {shown}." if names else f"There are no {param.value_noun} values to choose from yet."
        raise _Refused(f"Unknown {param.value_noun}: {', '.join(unknown)}. {known}")
    return picked


#: Every kind, by CLI name (filled by the kinds below).
REPORT_KINDS: dict[str, ReportKind] = {}


def report_kind(name: str) -> ReportKind:
    try:
        return REPORT_KINDS[name]
    except KeyError:
        known = ", ".join(sorted(REPORT_KINDS))
        raise ValidationError({"kind": f"Unknown report kind: {name}. Known kinds: {known}."}) from None


# -- what the kinds share -------------------------------------------------------------------------


def _day(value: Any) -> dt.date:
    """A stored DATE parameter (ISO text) back as a day."""
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def _channels_text(channels: Sequence[str]) -> str:
    return f", {' + '.join(channels)}" if channels else ""


def _range_text(params: Mapping[str, Any]) -> str:
    return f"{params['date_from']} – {params['date_to']}"


def _choices(values: Sequence[str], labels: Mapping[str, str] | None = None) -> list[Choice]:
    return [Choice(value, (labels or {}).get(value, value)) for value in values]


_DATE_FROM = Param("date_from", "From", ParamType.DATE, help="The first shop day the report covers.")
_DATE_TO = Param("date_to", "To", ParamType.DATE, help="The last shop day the report covers (included).")
_CHANNELS = Param(
    "channels", "Channels", ParamType.CHOICES, noun="channel",
    help="Only orders from these sales channels; none chosen: every channel.",
)  # fmt: skip


class _DateRangeKind(ReportKind):
    """A kind over a range of shop days: the range must not end before it starts."""

    def check(self, params: Mapping[str, Any]) -> dict[str, str]:
        if _day(params["date_to"]) < _day(params["date_from"]):
            return {"date_to": "The range ends before it starts."}
        return {}


def _last_full_days(today: dt.date, days: int = 30) -> dict[str, Any]:
    """The last `days` full shop days: today is not over yet."""
    return {"date_from": today - dt.timedelta(days=days), "date_to": today - dt.timedelta(days=1)}


# -- sales-summary --------------------------------------------------------------------------------


class SalesSummary(_DateRangeKind):
    name = "sales-summary"
    title = "Sales summary"
    description = "Orders, customers, gross sales, refunds and revenue per day, week or month and channel."
    permission = "analytics.read"
    params = (
        _DATE_FROM,
        _DATE_TO,
        Param(
            "granularity", "Periods", ParamType.CHOICE, noun="period",
            help="One row per day, per week (from Monday) or per month, and per channel.",
        ),
        _CHANNELS,
    )  # fmt: skip
    _GRANULARITIES: ClassVar = ("day", "week", "month")

    def columns(self, params: Mapping[str, Any]) -> tuple[Column, ...]:
        return (
            Column("period_start", "Period start", Kind.DATE),
            Column("period_end", "Period end", Kind.DATE),
            Column("channel", "Channel"),
            Column("orders", "Orders", Kind.INTEGER),
            Column("customers", "Customers", Kind.INTEGER),
            Column("gross", "Gross sales", Kind.MONEY),
            Column("refunds", "Refunds", Kind.MONEY),
            Column("revenue", "Revenue", Kind.MONEY),
            Column("average_order_value", "Average order value", Kind.MONEY),
        )

    def defaults(self, session: Session, today: dt.date) -> dict[str, Any]:
        return {**_last_full_days(today), "granularity": "day", "channels": []}

    def choices(self, session: Session, key: str) -> list[Choice]:
        if key == "granularity":
            return _choices(self._GRANULARITIES, {g: g.capitalize() for g in self._GRANULARITIES})
        if key == "channels":
            return _choices(all_channels(session))
        return super().choices(session, key)

    def title_for(self, params: Mapping[str, Any]) -> str:
        channels = _channels_text(params["channels"])
        return f"{self.title} {_range_text(params)}, by {params['granularity']}{channels}"

    def rows(self, session: Session, params: Mapping[str, Any]) -> Iterator[ReportValues]:
        return q.sales_summary(
            session,
            _day(params["date_from"]),
            _day(params["date_to"]),
            params["granularity"],
            params["channels"],
        )


# -- customer-metrics -----------------------------------------------------------------------------


class CustomerMetrics(_DateRangeKind):
    name = "customer-metrics"
    title = "Customer metrics"
    description = "Customers per day: all, new and returning, and the average order value."
    permission = "analytics.read"
    params = (_DATE_FROM, _DATE_TO)

    def columns(self, params: Mapping[str, Any]) -> tuple[Column, ...]:
        return (
            Column("date", "Day", Kind.DATE),
            Column("total_customers", "Customers", Kind.INTEGER),
            Column("new_customers", "New customers", Kind.INTEGER),
            Column("returning_customers", "Returning customers", Kind.INTEGER),
            Column("average_order_value", "Average order value", Kind.MONEY),
        )

    def defaults(self, session: Session, today: dt.date) -> dict[str, Any]:
        return _last_full_days(today)

    def title_for(self, params: Mapping[str, Any]) -> str:
        return f"{self.title} {_range_text(params)}"

    def rows(self, session: Session, params: Mapping[str, Any]) -> Iterator[ReportValues]:
        return q.customer_metrics(session, _day(params["date_from"]), _day(params["date_to"]))


# -- customer-segments ----------------------------------------------------------------------------


class CustomerSegments(ReportKind):
    name = "customer-segments"
    title = "Customer segments"
    description = "Every customer of the last 12 months in the dashboard's segment, with orders and spend."
    permission = "analytics.read"
    params = (
        Param(
            "as_of", "As of", ParamType.DATE, help="The segments as they stood at the end of this shop day."
        ),
        _CHANNELS,
        Param("segment", "Segment", ParamType.CHOICE, help="Only this segment; none chosen: every segment."),
    )

    def columns(self, params: Mapping[str, Any]) -> tuple[Column, ...]:
        return (
            Column("customer_id", "Customer"),
            Column("segment", "Segment"),
            Column("last_paid", "Last paid", Kind.DATE),
            Column("orders", "Orders (12 months)", Kind.INTEGER),
            Column("spend", "Spend (12 months)", Kind.MONEY),
            Column("first_paid", "First paid", Kind.DATE),
        )

    def defaults(self, session: Session, today: dt.date) -> dict[str, Any]:
        return {"as_of": today - dt.timedelta(days=1), "channels": [], "segment": None}

    def choices(self, session: Session, key: str) -> list[Choice]:
        if key == "segment":
            return [Choice(segment.key, segment.name) for segment in SEGMENTS]
        if key == "channels":
            return _choices(all_channels(session))
        return super().choices(session, key)

    def title_for(self, params: Mapping[str, Any]) -> str:
        segment = f", {q.SEGMENT_NAMES[params['segment']]}" if params.get("segment") else ""
        return f"{self.title} as of {params['as_of']}{segment}{_channels_text(params['channels'])}"

    def rows(self, session: Session, params: Mapping[str, Any]) -> Iterator[ReportValues]:
        return q.customer_segments(
            session, _day(params["as_of"]), params["channels"], params.get("segment"), FETCH_ROWS
        )


# -- inventory-valuation --------------------------------------------------------------------------


class InventoryValuation(ReportKind):
    name = "inventory-valuation"
    title = "Inventory valuation"
    description = "Stock value at cost and at retail per category or supplier, with a total."
    permission = "inventory.read"
    params = (
        Param(
            "group_by",
            "Group by",
            ParamType.CHOICE,
            noun="grouping",
            help="One row per category or per supplier.",
        ),
        Param("include_archived", "Include archived items", ParamType.BOOL, help="Count archived items too."),
    )
    _GROUPS: ClassVar = {"category": "Category", "supplier": "Supplier"}

    def columns(self, params: Mapping[str, Any]) -> tuple[Column, ...]:
        return (
            Column("group", self._GROUPS.get(params.get("group_by") or "category", "Category")),
            Column("items", "Items", Kind.INTEGER),
            Column("units", "Units", Kind.INTEGER),
            Column("cost_value", "Value at cost", Kind.MONEY),
            Column("retail_value", "Value at retail", Kind.MONEY),
            Column("low_stock", "Low stock", Kind.INTEGER),
        )

    def defaults(self, session: Session, today: dt.date) -> dict[str, Any]:
        return {"group_by": "category", "include_archived": False}

    def choices(self, session: Session, key: str) -> list[Choice]:
        if key == "group_by":
            return _choices(tuple(self._GROUPS), self._GROUPS)
        return super().choices(session, key)

    def title_for(self, params: Mapping[str, Any]) -> str:
        archived = ", archived included" if params.get("include_archived") else ""
        return f"{self.title} by {params['group_by']}{archived}"

    def rows(self, session: Session, params: Mapping[str, Any]) -> Iterator[ReportValues]:
        return q.inventory_valuation(session, params["group_by"], bool(params["include_archived"]))


# -- low-stock ------------------------------------------------------------------------------------


class LowStock(ReportKind):
    name = "low-stock"
    title = "Low stock"
    description = "Live items at or below their low-stock threshold, the largest shortfall first."
    permission = "inventory.read"
    params = (
        Param(
            "threshold", "Threshold", ParamType.INTEGER,
            help="Items with at most this many available units; none: each item's reorder level, "
            "else the shop's default threshold.",
        ),
        Param(
            "category", "Category", ParamType.CHOICE, help="Only this category; none chosen: every category."
        ),
    )  # fmt: skip

    def columns(self, params: Mapping[str, Any]) -> tuple[Column, ...]:
        item = INVENTORY_SPEC.column  # the inventory list's own columns, titled as there
        return (
            *(item(key) for key in ("sku", "name", "category", "supplier", "stock", "reserved", "available")),
            Column("threshold", "Threshold", Kind.INTEGER),
            Column("shortfall", "Shortfall", Kind.INTEGER),
            item("cost"),
            item("price"),
        )

    def defaults(self, session: Session, today: dt.date) -> dict[str, Any]:
        return {"threshold": None, "category": None}

    def choices(self, session: Session, key: str) -> list[Choice]:
        if key == "category":
            return _choices(q.live_categories(session))
        return super().choices(session, key)

    def title_for(self, params: Mapping[str, Any]) -> str:
        category = f" – {params['category']}" if params.get("category") else ""
        threshold = (
            f", at most {params['threshold']} available" if params.get("threshold") is not None else ""
        )
        return f"{self.title}{category}{threshold}"

    def rows(self, session: Session, params: Mapping[str, Any]) -> Iterator[ReportValues]:
        return q.low_stock(session, params.get("threshold"), params.get("category"), FETCH_ROWS)


# -- user-directory -------------------------------------------------------------------------------


class UserDirectory(ReportKind):
    name = "user-directory"
    title = "User directory"
    description = "Staff accounts: names, role, phone, whether they are active or locked, last sign-in."
    permission = "users.read"
    params = (
        Param(
            "include_inactive",
            "Include inactive accounts",
            ParamType.BOOL,
            help="List deactivated accounts too.",
        ),
    )

    def columns(self, params: Mapping[str, Any]) -> tuple[Column, ...]:
        return (
            Column("email", "Email"),
            Column("first_name", "First name"),
            Column("last_name", "Last name"),
            Column("role", "Role"),
            Column("phone", "Phone"),
            Column("active", "Active", Kind.BOOL),
            Column("locked", "Locked", Kind.BOOL),
            Column("last_login_at", "Last sign-in", Kind.DATETIME),
            Column("created_at", "Created", Kind.DATETIME),
        )

    def defaults(self, session: Session, today: dt.date) -> dict[str, Any]:
        return {"include_inactive": False}

    def title_for(self, params: Mapping[str, Any]) -> str:
        return f"{self.title}{', inactive included' if params.get('include_inactive') else ''}"

    def rows(self, session: Session, params: Mapping[str, Any]) -> Iterator[ReportValues]:
        return q.user_directory(session, bool(params["include_inactive"]), FETCH_ROWS)


# -- audit-extract --------------------------------------------------------------------------------


class AuditExtract(_DateRangeKind):
    name = "audit-extract"
    title = "Audit extract"
    description = "The audit trail's entries of a range of shop days: who changed what, before and after."
    permission = "audit.read"
    params = (
        _DATE_FROM,
        _DATE_TO,
        Param(
            "user",
            "User",
            ParamType.CHOICE,
            help="Only changes by this e-mail address; none chosen: everyone.",
        ),
        Param(
            "entity",
            "Entity",
            ParamType.CHOICE,
            noun="entity type",
            help="Only changes to this kind of record.",
        ),
    )

    def columns(self, params: Mapping[str, Any]) -> tuple[Column, ...]:
        return (
            Column("occurred_at", "When", Kind.DATETIME),
            Column("actor", "Who"),
            Column("action", "Action"),
            Column("entity_type", "Entity"),
            Column("entity_id", "Entity id"),
            Column("before", "Before"),
            Column("after", "After"),
        )

    def defaults(self, session: Session, today: dt.date) -> dict[str, Any]:
        """The last 30 shop days, today included (changes of today are already on record)."""
        return {"date_from": today - dt.timedelta(days=29), "date_to": today, "user": None, "entity": None}

    def choices(self, session: Session, key: str) -> list[Choice]:
        if key == "user":
            return _choices(q.audit_actors(session))
        if key == "entity":
            return _choices(q.audit_entity_types(session))
        return super().choices(session, key)

    def title_for(self, params: Mapping[str, Any]) -> str:
        user = f", {params['user']}" if params.get("user") else ""
        entity = f", {params['entity']}" if params.get("entity") else ""
        return f"{self.title} {_range_text(params)}{user}{entity}"

    def rows(self, session: Session, params: Mapping[str, Any]) -> Iterator[ReportValues]:
        return q.audit_extract(
            session,
            _day(params["date_from"]),
            _day(params["date_to"]),
            params.get("user"),
            params.get("entity"),
            FETCH_ROWS,
        )


REPORT_KINDS.update(
    (kind.name, kind)
    for kind in (
        SalesSummary(),
        CustomerMetrics(),
        CustomerSegments(),
        InventoryValuation(),
        LowStock(),
        UserDirectory(),
        AuditExtract(),
    )
)
