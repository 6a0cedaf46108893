"""The dashboard's refresh on ten years of daily metrics for five channels and about a million
order events (the demo seed at that size), on a throwaway embedded PostgreSQL.

Prints, for a 12-month range at each granularity and with a channel filter: the service call
(`AnalyticsService.dashboard`, sign-in check and unit of work included) as the median and the
fastest of several runs; where its time goes, statement by statement; and, when the dashboard
page exists, request → figures painted offscreen. References measured in the same run, so the
figures can be read on any machine: a bare `SELECT count(*) FROM order_events`, the same count
over the range's paid days (the index range scan every order figure starts from), and reading
the range's `sales_metrics` rows.

    .venv/bin/python tests/benchmarks/bench_dashboard.py [--runs 7] [--orders 1000000] [--years 10]
        [--database-url URL]   # a database already seeded this way: skips the seed (~1 min)
        [--proposals]          # then top sellers from the order lines vs from item_sales_daily
        [--no-page]            # the service only
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import psycopg
from sqlalchemy import Engine, event, func, select, text

from ecomdesk.db import migrate
from ecomdesk.db.embedded import EmbeddedServer
from ecomdesk.db.engine import make_engine
from ecomdesk.db.models import OrderEvent
from ecomdesk.db.seed import seed_demo_data
from ecomdesk.services.analytics import (
    WORK_MEM,
    AnalyticsService,
    DashboardQuery,
    DateRange,
    Granularity,
    Preset,
)
from ecomdesk.services.context import Actor, ServiceContext
from ecomdesk.services.errors import ValidationError
from ecomdesk.services.passwords import hash_password
from ecomdesk.services.registry import Services

PASSWORD = "benchmark passphrase 2026"
TODAY = dt.date(2026, 11, 27)
NOW = dt.datetime(2026, 11, 27, 10, tzinfo=dt.UTC)
RANGE = DateRange.preset(Preset.LAST_12_MONTHS, TODAY)
FILTERS: tuple[tuple[str, ...], ...] = ((), ("web",), ("web", "mobile_app"))

#: The top sellers as the dashboard read them before `item_sales_daily`: the range's order lines
#: joined to their orders (kept here to measure the roll-up against).
TOP_FROM_LINES = (
    "SELECT l.sku, sum(l.quantity), sum(l.quantity * l.unit_price) AS revenue, "
    "sum(CASE WHEN o.paid_date >= :recent THEN l.quantity ELSE 0 END), sum(sum(l.quantity)) OVER () "
    "FROM order_lines l JOIN order_events o ON o.order_id = l.order_id "
    "WHERE o.paid_date BETWEEN :a AND :b GROUP BY l.sku ORDER BY revenue DESC, l.sku LIMIT 10"
)
TOP_FROM_DAILY = (
    "SELECT sku, sum(units), sum(revenue) AS revenue, "
    "sum(CASE WHEN date >= :recent THEN units ELSE 0 END), sum(sum(units)) OVER () "
    "FROM item_sales_daily WHERE date BETWEEN :a AND :b GROUP BY sku ORDER BY revenue DESC, sku LIMIT 10"
)


def timed(call: Callable[[], object], runs: int) -> tuple[float, float]:
    """(median, fastest) in milliseconds, after one warm-up call."""
    call()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), min(samples)


@contextmanager
def statement_times(engine: Engine) -> Iterator[dict[str, list[float]]]:
    """Each statement's time on the server side of the driver, keyed by its first words."""
    found: dict[str, list[float]] = defaultdict(list)

    def before(conn: Any, _cursor: Any, _stmt: str, _params: Any, _ctx: Any, _many: bool) -> None:
        conn.info["started"] = time.perf_counter()

    def after(conn: Any, _cursor: Any, stmt: str, _params: Any, _ctx: Any, _many: bool) -> None:
        label = " ".join(stmt.split())[:72]
        found[label].append((time.perf_counter() - conn.info.pop("started")) * 1000)

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield found
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


def references(engine: Engine, runs: int) -> list[tuple[str, float]]:
    o = OrderEvent.__table__.c

    def scalar(stmt: Any) -> Callable[[], object]:
        def call() -> object:
            with engine.connect() as conn:
                return conn.execute(stmt).all()

        return call

    sales = text("SELECT * FROM sales_metrics WHERE date BETWEEN :a AND :b").bindparams(
        a=RANGE.start, b=RANGE.end
    )
    return [
        (
            "SELECT count(*) FROM order_events",
            timed(scalar(select(func.count()).select_from(OrderEvent)), runs)[0],
        ),
        (
            "count(*) of the range's paid orders",
            timed(scalar(select(func.count()).where(o.paid_date.between(RANGE.start, RANGE.end))), runs)[0],
        ),
        ("the range's sales_metrics rows", timed(scalar(sales), runs)[0]),
    ]


def _reader(services: Services, actor: Actor, query: DashboardQuery) -> Callable[[], object]:
    return lambda: services.analytics.dashboard(actor, query)


def service_table(services: Services, actor: Actor, runs: int, reference_ms: float) -> None:
    print(f"\nAnalyticsService.dashboard, {RANGE.start} – {RANGE.end} ({RANGE.days} days), {runs} runs")
    print(f"{'granularity':12} {'channels':22} {'median ms':>10} {'fastest ms':>11} {'÷ count(*)':>11}")
    for granularity in Granularity:
        for channels in FILTERS:
            query = DashboardQuery(RANGE, granularity, channels)
            median, fastest = timed(_reader(services, actor, query), runs)
            ratio = median / reference_ms
            label = ", ".join(channels) or "all"
            print(f"{granularity.value:12} {label:22} {median:10.1f} {fastest:11.1f} {ratio:10.1f}×")


def one_connection(services: Services, actor: Actor, runs: int) -> None:
    """The same read with every pass on the caller's connection, one after the other."""
    query = DashboardQuery(RANGE, Granularity.WEEK)
    single = AnalyticsService(services.ctx, lanes=1)
    median, fastest = timed(lambda: single.dashboard(actor, query), runs)
    print(f"{'week':12} {'all, one connection':22} {median:10.1f} {fastest:11.1f}")


def breakdown(services: Services, actor: Actor, engine: Engine, runs: int) -> None:
    """Each statement's time with the passes run one after the other (side by side they overlap)."""
    query = DashboardQuery(RANGE, Granularity.WEEK)
    single = AnalyticsService(services.ctx, lanes=1)
    with statement_times(engine) as found:
        for _ in range(runs):
            single.dashboard(actor, query)
    rows = sorted(((statistics.median(v), k) for k, v in found.items()), reverse=True)
    print(f"\nwhere the time goes (week, all channels, one connection; median ms per statement, {runs} runs)")
    for ms, label in rows:
        print(f"{ms:8.1f}  {label}")
    print(f"{sum(ms for ms, _ in rows):8.1f}  (sum)")


def page_table(services: Services, actor: Actor, runs: int) -> None:
    """Request → the figures shown and the whole window painted, offscreen."""
    try:
        from PySide6.QtCore import (
            QEventLoop,
            QMessageLogContext,
            QSettings,
            QTimer,
            QtMsgType,
            qInstallMessageHandler,
        )
        from PySide6.QtWidgets import QApplication, QMainWindow

        from ecomdesk.ui.pages.dashboard import DashboardPage
        from ecomdesk.ui.session import AppSession
        from ecomdesk.ui.tasks import TaskRunner
    except ImportError as exc:  # the page is written by another hand: time it once it exists
        print(f"\n(no dashboard page to time: {exc})")
        return

    def quiet(kind: QtMsgType, context: QMessageLogContext, message: str) -> None:
        if "propagateSizeHints" not in message:  # the offscreen platform's note on every window
            print(message)

    qInstallMessageHandler(quiet)
    app = QApplication.instance() or QApplication([])
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    runner = TaskRunner()
    page = DashboardPage(AppSession(services, actor, runner, database_label="benchmark"))
    window = QMainWindow()
    window.setCentralWidget(page)
    window.resize(1280, 800)
    window.show()
    page.set_preset(Preset.LAST_12_MONTHS)

    def refresh_and_paint() -> None:
        loop = QEventLoop()
        page.loaded.connect(loop.quit)
        QTimer.singleShot(60_000, loop.quit)
        page.refresh()
        loop.exec()
        page.loaded.disconnect(loop.quit)
        window.repaint()  # paints every visible widget now, charts included
        while page.is_busy:  # the task's end arrives just after its result
            app.processEvents()

    print(f"\ndashboard page: request → painted (1280×800, offscreen), {runs} runs")
    print(f"{'granularity':12} {'median ms':>10} {'fastest ms':>11}")
    for granularity in Granularity:
        page.set_granularity(granularity)
        while page.is_busy:  # the choice itself asks for a read: let it land first
            app.processEvents()
        median, fastest = timed(refresh_and_paint, runs)
        print(f"{granularity.value:12} {median:10.1f} {fastest:11.1f}")
    window.close()
    runner.shutdown(10_000)


def _viewer(services: Services) -> Actor:
    """A viewer to act as (created once in the benchmark's database)."""
    email = "dashboard-bench@shop.example"
    with contextlib.suppress(ValidationError):  # made by an earlier run on the same database
        services.users.bootstrap_user(
            email=email, role="viewer", first_name="Bench", last_name="Mark", password=PASSWORD
        )
    return services.auth.authenticate(email, PASSWORD).actor


def run(url: str, args: argparse.Namespace, *, seed: bool) -> None:
    engine = make_engine(url, statement_timeout_ms=0)
    if seed:
        migrate.upgrade(engine)
        started = time.perf_counter()
        summary = seed_demo_data(
            engine, hash_password=hash_password, years=args.years, orders=args.orders, today=TODAY
        )
        print(f"seeded {summary.counts['order_events']:,} order events, {summary.counts['sales_metrics']:,} "
              f"daily sales rows in {time.perf_counter() - started:.0f} s")  # fmt: skip
    services = Services.from_context(ServiceContext(engine, clock=lambda: NOW))
    actor = _viewer(services)
    refs = references(engine, args.runs)
    print("\nreferences (median ms)")
    for label, ms in refs:
        print(f"{ms:8.1f}  {label}")
    service_table(services, actor, args.runs, refs[0][1])
    one_connection(services, actor, args.runs)
    breakdown(services, actor, engine, args.runs)
    if not args.no_page:
        page_table(services, actor, args.runs)
    if args.proposals:
        proposals(engine, args.runs)
    engine.dispose()


def proposals(engine: Engine, runs: int) -> None:
    """The top-sellers statement both ways: over the range's order lines joined to their orders (the
    read before the roll-up) and over `item_sales_daily` (the dashboard's read now)."""
    recent = RANGE.end - dt.timedelta(days=29)
    params = {"a": RANGE.start, "b": RANGE.end, "recent": recent}

    def statement(sql: str) -> Callable[[], object]:
        def call() -> object:
            with engine.connect() as conn:
                conn.execute(text(f"SET work_mem = '{WORK_MEM}'"))
                return conn.execute(text(sql), params).all()

        return call

    lines_ms = timed(statement(TOP_FROM_LINES), runs)[0]
    daily_ms = timed(statement(TOP_FROM_DAILY), runs)[0]
    assert statement(TOP_FROM_LINES)() == statement(TOP_FROM_DAILY)(), "the two top-sellers reads differ"
    print("\ntop sellers of the range (median ms): the same rows both ways")
    print(f"{lines_ms:8.1f}  order lines joined to their orders (the read before item_sales_daily)")
    faster = lines_ms / daily_ms
    print(f"{daily_ms:8.1f}  item_sales_daily, per day, channel and SKU ({faster:.1f}× faster)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--years", type=float, default=10)
    parser.add_argument("--database-url", help="a database already seeded by this script")
    parser.add_argument("--proposals", action="store_true")
    parser.add_argument("--no-page", action="store_true")
    args = parser.parse_args()
    if args.database_url:
        run(args.database_url, args, seed=False)
        return
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedServer(Path(tmp) / "cluster")
        server.start()
        try:
            with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
                conn.execute("CREATE DATABASE bench")
            run(server.url("bench"), args, seed=True)
        finally:
            server.destroy()


if __name__ == "__main__":
    main()
