"""Every service read on a snapshot gives the answer the live database it was made from gives.

One demo shop is seeded (plus what the seed lacks: an avatar, a stock adjustment, generated
reports, a changed setting), its admin takes a snapshot, and each read runs twice with the same
arguments and the same clock: once on PostgreSQL as the admin, once on the snapshot as the actor it
opens as. The answers must be equal, and equal in form too (`repr`): a Decimal that came back as a
float, a naive datetime or a reordered tie would pass `==` now and then and show up in the UI.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import inspect
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ecomdesk.services.analytics import DashboardQuery, DateRange, Granularity, Preset
from ecomdesk.services.auth import EVERYONE
from ecomdesk.services.context import Actor
from ecomdesk.services.errors import ServiceError
from ecomdesk.services.listing import ListQuery, Page, SortKey
from ecomdesk.services.registry import Services
from ecomdesk.services.report_kinds import REPORT_KINDS
from ecomdesk.services.reports import ReportRequest
from ecomdesk.services.tables import ExportCancelled, FilterKind, SqlTable
from tests.services.snapshot_shop import ADMIN_EMAIL, Shop, snapshot_shop

Call = Callable[[Services, Actor, Path], Any]


@dataclass(frozen=True)
class Read:
    """One read: `method` names what it covers (`users.get_user`, `tables[inventory].page`)."""

    method: str
    label: str
    call: Call


@pytest.fixture(scope="module")
def shop(
    pg_admin_url: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Shop]:
    with snapshot_shop(pg_admin_url, template_database, tmp_path_factory.mktemp("snapshot")) as made:
        yield made


# -- the reads ---------------------------------------------------------------------------------

#: A word each list's search finds something for in the demo data.
SEARCHES = {
    "users": "demo",
    "roles": "man",
    "inventory": "blue",
    "stock_movements": "deliver",
    "reports": "sales",
    "activity": "report",
    "sales_metrics": "web",
    "customer_metrics": "2026-11",
    "orders": "c00",
    "order_lines": "a",
    "analytics_events": "page",
    "webhook_deliveries": "inventory",
}


def _refusal(call: Callable[[], Any]) -> tuple[str, str]:
    """The expected error a call gives, as its type and message (the same refusal on both sides)."""
    with pytest.raises(ServiceError) as refused:
        call()
    return type(refused.value).__name__, refused.value.message


def _bytes_of(write: Callable[[io.BytesIO], Any]) -> tuple[Any, bytes]:
    out = io.BytesIO()
    result = write(out)
    return result, out.getvalue()


def _first_keys(services: Services, actor: Actor, name: str, count: int = 3) -> list[Any]:
    table = services.tables[name]
    assert isinstance(table, SqlTable)
    src = table.source()
    with services.ctx.read(actor, None) as uow:
        stmt = select(src.primary_key).select_from(src.from_).order_by(src.primary_key.desc()).limit(count)
        return list(uow.session.scalars(stmt))


def _fetch(name: str) -> Call:
    def call(services: Services, actor: Actor, _tmp: Path) -> Any:
        table = services.tables[name]
        assert isinstance(table, SqlTable)
        keys = _first_keys(services, actor, name)
        with services.ctx.read(actor, None) as uow:
            return [table.fetch(uow.session, key) for key in keys]

    return call


def _choice_values(services: Services, actor: Actor, name: str, key: str) -> list[Any]:
    """Up to four values the filter offers that find rows (the count is compared on the way)."""
    table = services.tables[name]
    values = [choice.value for choice in table.choices(actor, key)]
    return [value for value in values if table.count(actor, ListQuery(filters={key: value}))][:4]


def _filtered_pages(name: str, key: str) -> Call:
    def call(services: Services, actor: Actor, _tmp: Path) -> Any:
        table = services.tables[name]
        return [
            table.page(actor, ListQuery(filters={key: value}, limit=40))
            for value in _choice_values(services, actor, name, key)
        ]

    return call


def _last_window(name: str) -> Call:
    """The last rows, read backwards (the window starts past the middle of the total)."""

    def call(services: Services, actor: Actor, _tmp: Path) -> Any:
        table = services.tables[name]
        total = table.count(actor, ListQuery())
        return table.page(actor, ListQuery(offset=max(total - 7, 0), limit=7, known_total=total))

    return call


def _page(name: str, query: ListQuery) -> Call:
    return lambda services, actor, _tmp: services.tables[name].page(actor, query)


def _count(name: str, query: ListQuery) -> Call:
    return lambda services, actor, _tmp: services.tables[name].count(actor, query)


def _choices(name: str, key: str) -> Call:
    return lambda services, actor, _tmp: services.tables[name].choices(actor, key)


def _no_choices(name: str) -> Call:
    return lambda services, actor, _tmp: _refusal(lambda: services.tables[name].choices(actor, "id"))


def _export(name: str, query: ListQuery, columns: list[str] | None = None, *, bom: bool = False) -> Call:
    def call(services: Services, actor: Actor, _tmp: Path) -> Any:
        table = services.tables[name]
        return _bytes_of(lambda out: table.export_csv(actor, query, out, columns=columns, bom=bom))

    return call


def table_reads() -> list[Read]:
    """Each list: its pages (every sort both ways, search, each filter), counts, choices, exports
    and single records."""
    reads: list[Read] = []
    for name, spec in Services.table_specs().items():

        def add(method: str, label: str, call: Call, name: str = name) -> None:
            reads.append(Read(f"tables[{name}].{method}", f"{name}:{label}", call))

        search = ListQuery(search=SEARCHES[name])
        add("page", "default", _page(name, ListQuery()))
        add("page", "uncounted", _page(name, ListQuery(counted=False)))
        add("page", "last window", _last_window(name))
        add("page", f"search {search.search}", _page(name, search))
        add("count", "all", _count(name, ListQuery()))
        add("count", f"search {search.search}", _count(name, search))
        for column in spec.columns:
            if column.sortable:
                for descending in (False, True):
                    query = ListQuery(sort=(SortKey(column.key, descending),), limit=60)
                    add("page", f"sort {column.key}{' desc' if descending else ''}", _page(name, query))
        for filter_spec in spec.filters:
            if filter_spec.kind is FilterKind.CHOICE:
                add("choices", filter_spec.key, _choices(name, filter_spec.key))
                add("page", f"filter {filter_spec.key}", _filtered_pages(name, filter_spec.key))
            else:
                for flag in (True, False):
                    query = ListQuery(filters={filter_spec.key: flag})
                    add("page", f"filter {filter_spec.key}={flag}", _page(name, query))
                    add("count", f"filter {filter_spec.key}={flag}", _count(name, query))
        if not any(f.kind is FilterKind.CHOICE for f in spec.filters):
            add("choices", "none offered", _no_choices(name))
        every = [c.key for c in spec.columns]
        last_sortable = [c.key for c in spec.columns if c.sortable][-1]
        add("export_csv", "shown columns", _export(name, ListQuery()))
        query = replace(search, sort=(SortKey(last_sortable, True),))
        add(
            "export_csv",
            "every column, BOM, search, sorted by the last column",
            _export(name, query, every, bom=True),
        )
        add("fetch", "newest keys", _fetch(name))
    return reads


#: Filters that are not in a spec's filter list: date ranges, paid flags.
DATE_FILTERS: dict[str, dict[str, Any]] = {
    "activity": {"date_from": "2026-10-01", "date_to": "2026-10-20"},
    "sales_metrics": {"from": dt.date(2026, 10, 1), "to": dt.date(2026, 10, 20)},
    "customer_metrics": {"from": dt.date(2026, 10, 1), "to": dt.date(2026, 10, 20)},
    "orders": {"paid_from": dt.date(2026, 10, 1), "paid_to": dt.date(2026, 10, 20), "paid": True},
    "order_lines": {"paid_from": dt.date(2026, 10, 1), "paid_to": dt.date(2026, 10, 20)},
    "analytics_events": {
        "recorded_from": dt.datetime(2026, 10, 1, tzinfo=dt.UTC),
        "recorded_before": dt.datetime(2026, 10, 20, tzinfo=dt.UTC),
    },
}


def _date_filters() -> list[Read]:
    reads = []
    for name, filters in DATE_FILTERS.items():
        query = ListQuery(filters=filters, limit=100)
        reads.append(Read(f"tables[{name}].page", f"{name}:dates", _page(name, query)))
        reads.append(Read(f"tables[{name}].export_csv", f"{name}:dates", _export(name, query)))
    return reads


def _some_user(services: Services, actor: Actor) -> list[int]:
    return [row.id for row in services.users.list_users(actor, ListQuery(limit=6)).rows]


def _some_items(services: Services, actor: Actor) -> list[int]:
    moved = services.tables["stock_movements"].page(actor, ListQuery(limit=4)).rows
    return sorted({row.item_id for row in moved})


def _dashboards(services: Services, actor: Actor, _tmp: Path) -> Any:
    today = services.analytics.today(actor)
    answers = []
    for preset in Preset:
        if preset is Preset.CUSTOM:
            continue
        for granularity in Granularity:
            query = DashboardQuery(DateRange.preset(preset, today), granularity)
            answers.append(services.analytics.dashboard(actor, query))
    custom = DateRange(dt.date(2025, 3, 1), dt.date(2025, 5, 17))
    answers.append(
        services.analytics.dashboard(actor, DashboardQuery(custom, Granularity.WEEK, ("web", "social")))
    )
    return answers


def _report_ids(services: Services, actor: Actor) -> list[int]:
    return [row.id for row in services.reports.table.page(actor, ListQuery()).rows]


def _done_reports(services: Services, actor: Actor) -> list[int]:
    query = ListQuery(filters={"status": "completed"})
    return [row.id for row in services.reports.table.page(actor, query).rows]


def _kind_choices(services: Services, actor: Actor, _tmp: Path) -> Any:
    return {
        (kind.name, param.key): services.reports.choices(actor, kind.name, param.key)
        for kind in services.reports.kinds(actor)
        for param in kind.params
        if param.type in ("choice", "choices")
    }


def _run_to_file(kind: str, fmt: str) -> Call:
    """One report generated straight into a stream (one call each: a live run writes an audit
    entry, which the next run of an `audit-extract` would otherwise find on one side only)."""

    def call(services: Services, actor: Actor, _tmp: Path) -> Any:
        request = ReportRequest(kind, services.reports.defaults(actor, kind), fmt)
        return _bytes_of(lambda out: services.reports.run_to_file(actor, request, None, out=out))

    return call


def _content(services: Services, actor: Actor, report_id: int) -> tuple[Any, bytes]:
    return _bytes_of(lambda out: services.reports.write_content(actor, report_id, out))


def _saved(services: Services, actor: Actor, tmp: Path) -> Any:
    saved = {}
    for report_id in _done_reports(services, actor):
        target = tmp / f"report-{report_id}"
        rows = services.reports.save(actor, report_id, target)
        saved[report_id] = (rows, target.read_bytes())
    return saved


def _inventory_preview(services: Services, actor: Actor, _tmp: Path) -> Any:
    """An import file checked against the stored items: one new, changed ones (price, stock), an
    unchanged one, and a row with a problem."""
    items = services.inventory.table.page(actor, ListQuery(limit=3)).rows
    out = io.StringIO()
    rows = csv.writer(out, lineterminator="\n")
    rows.writerow(["sku", "name", "category", "supplier", "stock", "reserved", "price", "cost"])
    for n, item in enumerate(items):  # the first stays as it is
        rows.writerow(
            [
                item.sku,
                item.name,
                item.category,
                item.supplier,
                item.stock + n,
                item.reserved,
                item.price + n,
                item.cost,
            ]
        )
    rows.writerow(["FAIR-0001", "Fair banner", "Office", "Acme", 5, 0, "19.90", "7.50"])
    rows.writerow(["BAD SKU!", "Broken", "Office", "Acme", -1, 0, "x", 1])
    return services.importer.preview(actor, out.getvalue().encode(), "items.csv")


def _delivery_ids(services: Services, actor: Actor) -> list[int]:
    ids = [row.id for row in services.webhooks.deliveries.page(actor, ListQuery()).rows]
    assert ids, "the shop's endpoint has deliveries"
    return ids


def _attempted(services: Services, actor: Actor) -> list[int]:
    """Deliveries with an attempt logged (the shop's first one was refused once)."""
    rows = services.webhooks.deliveries.page(actor, ListQuery()).rows
    ids = [row.id for row in rows if row.attempts]
    assert ids, "the shop fixture makes one attempt"
    return ids


def _worker_status(services: Services, actor: Actor, _tmp: Path) -> Any:
    """Nobody works on a snapshot, and no worker runs beside these tests: both sides say so in the
    same words, measured against the same clock."""
    status = services.workers.status(actor)
    return status, status.summary()


SERVICE_READS: list[Read] = [
    Read("auth.list_sessions", "mine", lambda s, a, _t: s.auth.list_sessions(a)),
    Read(
        "auth.list_sessions",
        "everyone's, ended too",
        lambda s, a, _t: [
            s.auth.list_sessions(a, EVERYONE),
            s.auth.list_sessions(a, EVERYONE, include_ended=True),
        ],
    ),
    Read(
        "users.list_users",
        "search and filters",
        lambda s, a, _t: [
            s.users.list_users(a, ListQuery(search="demo")),
            s.users.list_users(a, ListQuery(filters={"active": False})),
            s.users.list_users(a, ListQuery(sort=(SortKey("last_login_at", True),))),
        ],
    ),
    Read("users.get_user", "several", lambda s, a, _t: [s.users.get_user(a, i) for i in _some_user(s, a)]),
    Read(
        "users.avatar",
        "with and without a picture",
        lambda s, a, _t: [s.users.avatar(a, i) for i in [a.user_id, *_some_user(s, a)]],
    ),
    Read("roles.list_roles", "all", lambda s, a, _t: s.roles.list_roles(a)),
    Read("roles.list_permissions", "matrix", lambda s, a, _t: s.roles.list_permissions(a)),
    Read(
        "inventory.get_item",
        "several",
        lambda s, a, _t: [s.inventory.get_item(a, i) for i in _some_items(s, a)],
    ),
    Read(
        "inventory.find_sku",
        "several, any case",
        lambda s, a, _t: [
            s.inventory.find_sku(a, s.inventory.get_item(a, i).sku.lower()) for i in _some_items(s, a)
        ],
    ),
    Read(
        "inventory.sku_taken",
        "taken, free, own",
        lambda s, a, _t: [
            (
                s.inventory.sku_taken(a, s.inventory.get_item(a, i).sku),
                s.inventory.sku_taken(a, "NO-SUCH-SKU-1"),
                s.inventory.sku_taken(a, s.inventory.get_item(a, i).sku, except_id=i),
            )
            for i in _some_items(s, a)
        ],
    ),
    Read(
        "inventory.summary",
        "by category and supplier",
        lambda s, a, _t: [s.inventory.summary(a, "category"), s.inventory.summary(a, "supplier")],
    ),
    Read(
        "stock.history",
        "items with movements",
        lambda s, a, _t: (
            [s.stock.history(a, i) for i in _some_items(s, a)]
            + [s.stock.history(a, s.inventory.get_item(a, _some_items(s, a)[0]).sku, limit=2)]
        ),
    ),
    Read("settings.get_system_settings", "all", lambda s, a, _t: s.settings.get_system_settings(a)),
    Read("analytics.today", "shop day", lambda s, a, _t: s.analytics.today(a)),
    Read("analytics.dashboard", "every preset and granularity, a custom range of two channels", _dashboards),
    Read("reports.kinds", "all", lambda s, a, _t: s.reports.kinds(a)),
    Read(
        "reports.defaults",
        "every kind",
        lambda s, a, _t: {k.name: s.reports.defaults(a, k.name) for k in s.reports.kinds(a)},
    ),
    Read(
        "reports.default_title",
        "every kind",
        lambda s, a, _t: {
            k.name: s.reports.default_title(a, k.name, s.reports.defaults(a, k.name))
            for k in s.reports.kinds(a)
        },
    ),
    Read("reports.choices", "every choice parameter", _kind_choices),
    Read("reports.get", "every report", lambda s, a, _t: [s.reports.get(a, i) for i in _report_ids(s, a)]),
    Read(
        "reports.preview",
        "every completed report",
        lambda s, a, _t: (
            [s.reports.preview(a, i) for i in _done_reports(s, a)]
            + [s.reports.preview(a, i, limit=3) for i in _done_reports(s, a)]
        ),
    ),
    Read(
        "reports.write_content",
        "every completed report",
        lambda s, a, _t: [_content(s, a, i) for i in _done_reports(s, a)],
    ),
    Read("reports.save", "every completed report", _saved),
    Read("importer.preview", "new, changed, archived and bad rows", _inventory_preview),
    Read("webhooks.event_types", "all", lambda s, a, _t: s.webhooks.event_types()),
    Read("webhooks.endpoints", "all", lambda s, a, _t: s.webhooks.endpoints(a)),
    Read(
        "webhooks.endpoint",
        "each, and one that is gone",
        lambda s, a, _t: [
            *(s.webhooks.endpoint(a, row.id) for row in s.webhooks.endpoints(a)),
            _refusal(lambda: s.webhooks.endpoint(a, 987_654)),
        ],
    ),
    Read(
        "webhooks.delivery",
        "every delivery, with its body",
        lambda s, a, _t: [s.webhooks.delivery(a, i) for i in _delivery_ids(s, a)],
    ),
    Read(
        "webhooks.attempts",
        "of attempted deliveries, and of one that is gone",
        lambda s, a, _t: [
            *(s.webhooks.attempts(a, i) for i in _attempted(s, a)),
            _refusal(lambda: s.webhooks.attempts(a, 987_654)),
        ],
    ),
    Read("mail.smtp_settings", "the shop's", lambda s, a, _t: s.mail.smtp_settings(a)),
    Read("mail.smtp_status", "this machine's", lambda s, a, _t: s.mail.smtp_status(a)),
    Read("mail.preferences", "mine", lambda s, a, _t: s.mail.preferences(a)),
    Read("workers.status", "nobody working", _worker_status),
    *(
        Read("reports.run_to_file", f"run {kind} as {fmt}", _run_to_file(kind, fmt))
        for kind in sorted(REPORT_KINDS)
        for fmt in ("csv", "json")
    ),
]

READS: list[Read] = SERVICE_READS + table_reads() + _date_filters()

#: Reads whose answer on a snapshot is not the server's by design (no live feed): checked below.
FEED_READS = frozenset({"changes.start", "changes.poll", "changes.listen"})
#: Every method that changes something; `test_snapshot_writes` shows each refuses.
WRITES = frozenset({
    "auth.authenticate", "auth.resume", "auth.change_password", "auth.revoke_session",
    "auth.revoke_user_sessions", "auth.sign_out",
    "users.bootstrap_user", "users.create_user", "users.delete_user", "users.remove_avatar",
    "users.reset_password", "users.set_active", "users.set_avatar", "users.unlock",
    "users.update_my_profile", "users.update_user",
    "roles.create_role", "roles.delete_role", "roles.update_role",
    "inventory.archive_item", "inventory.create_item", "inventory.delete_item", "inventory.restore_item",
    "inventory.update_item",
    "stock.adjust",
    # An order file's preview reads the orders with the server's own SQL: refused on a snapshot.
    "importer.commit", "orders.preview", "orders.commit",
    "settings.update_system_settings",
    "analytics.record_event",
    "reports.request", "reports.rerun", "reports.delete", "reports.run_next", "reports.run_pending",
    "changes.prune",
    "snapshots.create",
    "webhooks.add_endpoint", "webhooks.update_endpoint", "webhooks.rotate_secret",
    "webhooks.delete_endpoint", "webhooks.send_test", "webhooks.redeliver",
    "mail.update_smtp_settings", "mail.set_preferences", "mail.send_test",
})  # fmt: skip


def public_methods(services: Services) -> set[str]:
    """Every public method of every service and every table, as `service.method` / `tables[name].method`."""
    found: set[str] = set()
    for field in dataclasses.fields(services):
        if field.name in ("ctx", "tables"):
            continue
        service = getattr(services, field.name)
        found |= {
            f"{field.name}.{name}"
            for name, member in inspect.getmembers(type(service))
            if not name.startswith("_") and callable(member) and not inspect.isclass(member)
        }
    for name, table in services.tables.items():
        found |= {
            f"tables[{name}].{method}"
            for method, member in inspect.getmembers(type(table))
            if not method.startswith("_")
            and callable(member)
            and not inspect.isclass(member)
            # The hooks a SqlTable subclass fills in are called by the methods above, not by callers.
            and method not in _TABLE_HOOKS
        }
    return found


_TABLE_HOOKS = frozenset(
    {"source", "search", "filter", "resolve", "scope", "record", "authorise", "choices_query", "row_type"}
)


# -- the tests ---------------------------------------------------------------------------------


def test_every_public_method_is_classified_as_a_read_or_a_write(shop: Shop) -> None:
    covered = {read.method for read in READS} | FEED_READS | WRITES
    found = public_methods(shop.live)
    assert found - covered == set(), "classify these in READS or WRITES"
    assert covered - found == set(), "these are no methods any more"
    assert not {read.method for read in READS} & WRITES


def test_the_snapshot_opens_as_its_maker_with_the_rights_they_had(shop: Shop) -> None:
    assert shop.snap_actor.email == ADMIN_EMAIL
    assert shop.snap_actor.permissions == shop.admin.permissions
    assert shop.snap_actor.user_id == shop.admin.user_id


@pytest.mark.parametrize("read", READS, ids=[read.label for read in READS])
def test_a_read_on_the_snapshot_gives_the_live_answer(shop: Shop, read: Read, tmp_path: Path) -> None:
    (tmp_path / "live").mkdir()
    (tmp_path / "snap").mkdir()
    live = read.call(shop.live, shop.admin, tmp_path / "live")
    shop.forget_later_activity()
    snap = read.call(shop.snap, shop.snap_actor, tmp_path / "snap")
    # Equal in form too: 1.5 == Decimal("1.50") and a zone object's repr differ where == does not.
    assert repr(snap) == repr(live), first_difference(snap, live)
    assert snap == live
    assert _non_empty(live), "a comparison of empty answers proves nothing: pick arguments that find rows"


def first_difference(snap: Any, live: Any, path: str = "") -> str:
    """Where two answers first differ, for the failure message (a page of rows is long)."""
    if dataclasses.is_dataclass(snap) and type(snap) is type(live) and not isinstance(snap, type):
        for field in dataclasses.fields(snap):
            a, b = getattr(snap, field.name), getattr(live, field.name)
            if repr(a) != repr(b):
                return first_difference(a, b, f"{path}.{field.name}")
    elif isinstance(snap, list | tuple) and isinstance(live, list | tuple) and len(snap) == len(live):
        for i, (a, b) in enumerate(zip(snap, live, strict=True)):
            if repr(a) != repr(b):
                return first_difference(a, b, f"{path}[{i}]")
    elif isinstance(snap, dict) and isinstance(live, dict) and snap.keys() == live.keys():
        for key in snap:
            if repr(snap[key]) != repr(live[key]):
                return first_difference(snap[key], live[key], f"{path}[{key!r}]")
    elif isinstance(snap, bytes) and isinstance(live, bytes):
        at = next((i for i, (a, b) in enumerate(zip(snap, live, strict=False)) if a != b), len(snap))
        near = slice(max(at - 80, 0), at + 80)
        return f"at {path or 'bytes'} offset {at}: snapshot {snap[near]!r} live {live[near]!r}"
    return f"at {path or 'top'}: snapshot {snap!r:.600} live {live!r:.600}"


def _non_empty(value: Any) -> bool:
    """False for an answer with nothing in it: no rows on a page, an empty list, an export with no
    data lines — anywhere in the answer."""
    if isinstance(value, Page):
        return bool(value.rows)
    if isinstance(value, bytes):
        return value.count(b"\n") > 1
    if isinstance(value, dict):  # (a dict of values, e.g. report defaults, may hold empty lists)
        return bool(value) and all(
            _non_empty(v) for v in value.values() if isinstance(v, Page | bytes | tuple)
        )
    if isinstance(value, list | tuple):
        return bool(value) and all(_non_empty(v) for v in value)
    return True


def test_the_live_feed_on_a_snapshot_is_quiet(shop: Shop) -> None:
    """No change log is copied and nothing changes in a snapshot: no listener, empty polls."""
    changes = shop.snap.changes
    assert changes.listen() is None
    cursor = changes.start()
    update = changes.poll(shop.snap_actor, cursor)
    assert not update.batch
    assert update.actor is None
    assert not changes.poll(shop.snap_actor, None).batch


def test_an_export_of_a_snapshot_reports_progress_and_can_be_cancelled(shop: Shop) -> None:
    table = shop.snap.tables["order_lines"]
    seen: list[tuple[int, int]] = []
    rows = table.export_csv(
        shop.snap_actor, ListQuery(), io.BytesIO(), progress=lambda d, t: seen.append((d, t))
    )
    assert rows == table.count(shop.snap_actor, ListQuery()) > 0
    assert seen[-1] == (rows, rows)
    with pytest.raises(ExportCancelled):
        table.export_csv(shop.snap_actor, ListQuery(), io.BytesIO(), cancelled=lambda: True)


def test_text_that_looks_like_a_formula_is_neutralised_in_a_snapshot_export_too(shop: Shop) -> None:
    export = _export("inventory", ListQuery(search="FAIR-0002"), ["name", "supplier"])
    live = export(shop.live, shop.admin, Path())
    snap = export(shop.snap, shop.snap_actor, Path())
    assert snap == live == (1, b'Name,Supplier\n"\'=HYPERLINK(""x"", ""Fair, banner"")",\'-Acme\n')
