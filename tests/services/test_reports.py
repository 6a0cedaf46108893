"""Reports: the queue, the life cycle, the stored content and its formats, permissions, streaming.

Most tests use `Numbers`, a real kind registered for the test: it streams `generate_series` from
the server with the same server-side cursor as the shop's large kinds, and can be told to fail at a
row (a real SQL error) or to lose its connection at a row (its backend is terminated), so every path
of the runner is driven by the database itself. The shop's own kinds are tested row by row in
`test_report_kinds.py`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text, update
from sqlalchemy.orm import Session

from ecomdesk.db.models import Job, Report, ReportChunk, Role, role_permissions
from ecomdesk.services.context import ServiceContext
from ecomdesk.services.errors import Conflict, NotFound, PermissionDenied, Unavailable, ValidationError
from ecomdesk.services.jobs import MAX_ATTEMPTS, JobQueue
from ecomdesk.services.registry import Services
from ecomdesk.services.report_kinds import REPORT_KINDS, Param, ParamType, ReportKind, ReportValues
from ecomdesk.services.reports import QUEUE, ReportRequest, ReportService
from ecomdesk.services.tables import Column, ExportCancelled, Kind
from tests.services.conftest import Staff, audit_entries, row_count


class Numbers(ReportKind):
    name = "test-numbers"
    title = "Numbers"
    description = "The numbers 1 to count, their halves, a day and a label."
    permission = "inventory.read"
    params = (
        Param("count", "Count", ParamType.INTEGER),
        Param("fail_at", "Fail at", ParamType.INTEGER),
        Param("kill_at", "Lose the connection at", ParamType.INTEGER),
        Param("pad", "Pad labels to", ParamType.INTEGER),
    )

    def columns(self, params: Mapping[str, Any]) -> tuple[Column, ...]:
        return (
            Column("n", "N", Kind.INTEGER),
            Column("half", "Half", Kind.MONEY),
            Column("day", "Day", Kind.DATE),
            Column("label", "Label"),
            Column("even", "Even", Kind.BOOL),
        )

    def defaults(self, session: Session, today: dt.date) -> dict[str, Any]:
        return {"count": 10, "fail_at": None, "kill_at": None, "pad": 0}

    def normalise(self, session: Session, raw: Mapping[str, Any], today: dt.date) -> dict[str, Any]:
        params = {**self.defaults(session, today), **raw}
        if not isinstance(params["count"], int) or params["count"] < 0:
            raise ValidationError({"count": "Use a whole number."})
        return params

    def title_for(self, params: Mapping[str, Any]) -> str:
        return f"Numbers 1-{params['count']}"

    def rows(self, session: Session, params: Mapping[str, Any]) -> Iterator[ReportValues]:
        fail_at = params["fail_at"] or 0
        stmt = text(
            "SELECT n, n / 2.0 AS half, DATE '2026-01-01' + n AS day,"
            " CASE WHEN n % 3 = 0 THEN '=SUM(A1)' ELSE rpad(plain, greatest(:pad, length(plain)), '.') END,"
            " n % 2 = 0 AS even, 1 / (n - :fail_at) AS check"
            " FROM generate_series(1, :count) AS n, LATERAL (SELECT 'item, \"' || n || '\"' AS plain) AS l"
        ).bindparams(count=params["count"], fail_at=fail_at, pad=params["pad"])
        result = session.execute(stmt.execution_options(yield_per=500))
        for n, half, day, label, even, _check in result:
            if n == params["kill_at"]:
                with session.get_bind().connect() as other:  # type: ignore[union-attr]
                    pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
                    other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            yield n, Decimal(half).quantize(Decimal("0.01")), day, label, even


@pytest.fixture(autouse=True)
def numbers_kind() -> Iterator[Numbers]:
    kind = Numbers()
    REPORT_KINDS[kind.name] = kind
    yield kind
    del REPORT_KINDS[kind.name]


def numbers(count: int = 10, fmt: str = "csv", **params: Any) -> ReportRequest:
    return ReportRequest("test-numbers", {"count": count, **params}, fmt)


def report_row(engine: Engine, report_id: int) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(Report.__table__).where(Report.id == report_id)).one_or_none()


def content(engine: Engine, report_id: int) -> bytes:
    with engine.connect() as conn:
        chunks = conn.scalars(
            select(ReportChunk.data).where(ReportChunk.report_id == report_id).order_by(ReportChunk.seq)
        )
        return b"".join(chunks)


def jobs(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(Job.__table__).order_by(Job.id)))


# -- the life cycle -----------------------------------------------------------------------------


def test_a_requested_report_waits_as_a_job_until_a_runner_completes_it(
    services: Services, staff: Staff, engine: Engine
) -> None:
    requested = services.reports.request(staff.manager, numbers(25))

    assert (requested.status, requested.title, requested.generated_by) == (
        "pending",
        "Numbers 1-25",
        "max@shop.example",
    )
    assert [(job.queue, job.payload, job.status) for job in jobs(engine)] == [
        (QUEUE, {"report_id": requested.id}, "queued")
    ]
    [entry] = audit_entries(engine, "report.requested")
    assert (
        entry.entity_id == str(requested.id)
        and entry.after is not None
        and entry.after["parameters"]["count"] == 25
    )

    outcome = services.reports.run_next("test-runner")

    assert outcome is not None and (outcome.report_id, outcome.status, outcome.rows) == (
        requested.id,
        "completed",
        25,
    )
    done = services.reports.get(staff.viewer, requested.id)
    stored = content(engine, requested.id)
    assert (done.status, done.row_count, done.size_bytes, done.error) == ("completed", 25, len(stored), None)
    assert (
        done.started_at is not None and done.finished_at is not None and done.started_at <= done.finished_at
    )
    assert jobs(engine) == []
    assert services.reports.run_next("test-runner") is None


def test_while_a_report_is_generated_others_see_it_processing_with_its_rows_so_far(
    engine: Engine, staff: Staff, services: Services
) -> None:
    reports = ReportService(services.ctx, heartbeat_s=0)
    requested = reports.request(staff.manager, numbers(5_000))
    seen: list[tuple[str, int | None]] = []

    def watch(rows: int, _total: int) -> None:
        if rows in (1_000, 3_000):
            row = report_row(engine, requested.id)
            seen.append((row.status, row.row_count))

    reports.run_next("test-runner", progress=watch)

    # The heartbeat after a batch publishes the rows counted before it.
    assert [status for status, _ in seen] == ["processing", "processing"]
    assert seen[0][1] is not None and seen[1][1] is not None and seen[0][1] < seen[1][1] <= 3_000
    assert content(engine, requested.id).count(b"\n") == 5_001


def test_a_report_whose_query_fails_is_failed_with_the_database_message_and_keeps_no_content(
    services: Services, staff: Staff, engine: Engine
) -> None:
    requested = services.reports.request(staff.manager, numbers(3_000, fail_at=2_500))

    outcome = services.reports.run_next("test-runner")

    assert outcome is not None and outcome.status == "failed"
    failed = services.reports.get(staff.manager, requested.id)
    assert failed.status == "failed" and failed.error == "division by zero"
    assert content(engine, requested.id) == b"" and jobs(engine) == []
    with pytest.raises(Conflict, match="This report failed, so it has no content: division by zero"):
        services.reports.preview(staff.manager, requested.id)


def test_a_report_still_waiting_cannot_be_opened_yet(services: Services, staff: Staff) -> None:
    requested = services.reports.request(staff.manager, numbers())

    with pytest.raises(Conflict, match="still being generated"):
        services.reports.preview(staff.manager, requested.id)


def test_a_requester_who_lost_the_permission_meanwhile_gets_a_failed_report(
    services: Services, staff: Staff, engine: Engine
) -> None:
    requested = services.reports.request(staff.manager, numbers())
    with engine.begin() as conn:
        manager = conn.execute(select(Role.id).where(Role.name == "manager")).scalar_one()
        conn.execute(
            role_permissions.delete().where(
                role_permissions.c.role_id == manager, role_permissions.c.permission_code == "inventory.read"
            )
        )

    services.reports.run_next("test-runner")

    failed = services.reports.get(staff.admin, requested.id)
    assert failed.status == "failed"
    assert failed.error == "max@shop.example no longer has the permission 'inventory.read' this report needs."


# -- runners that die, stop or race -------------------------------------------------------------


def test_a_job_whose_runner_died_is_taken_up_again_once_its_lease_runs_out(
    services: Services, staff: Staff, engine: Engine
) -> None:
    reports = ReportService(services.ctx, lease=dt.timedelta(seconds=0.5))
    requested = reports.request(staff.manager, numbers(50))
    dead = JobQueue(engine, lease=dt.timedelta(seconds=0.5)).claim(QUEUE, "crashed-app")
    assert dead is not None and dead.attempts == 1

    assert reports.run_next("second-app") is None  # the lease still holds
    time.sleep(0.6)
    outcome = reports.run_next("second-app")

    assert outcome is not None and (outcome.report_id, outcome.status) == (requested.id, "completed")
    assert jobs(engine) == []


def test_a_runner_losing_its_connection_leaves_the_job_for_the_next_runner(
    services: Services, staff: Staff, engine: Engine
) -> None:
    reports = ReportService(services.ctx, lease=dt.timedelta(seconds=0.5))
    requested = reports.request(staff.manager, numbers(3_000, kill_at=1_500))

    with pytest.raises(Unavailable):
        reports.run_next("doomed-app")

    [job] = jobs(engine)
    assert (job.status, job.attempts, job.claimed_by) == ("running", 1, "doomed-app")
    assert report_row(engine, requested.id).status == "processing" and content(engine, requested.id) == b""
    time.sleep(0.6)
    with engine.begin() as conn:  # the server is back; this time the report must not kill itself
        conn.execute(update(Report).where(Report.id == requested.id).values(parameters={"count": 3_000}))
    outcome = reports.run_next("next-app")
    assert outcome is not None and outcome.status == "completed" and outcome.rows == 3_000


def test_a_job_that_keeps_killing_its_runners_is_given_up_with_a_reason(
    services: Services, staff: Staff, engine: Engine
) -> None:
    lease = dt.timedelta(seconds=0.2)
    reports = ReportService(services.ctx, lease=lease)
    requested = reports.request(staff.manager, numbers())
    queue = JobQueue(engine, lease=lease)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        claimed = queue.claim(QUEUE, f"crash-{attempt}")
        assert claimed is not None and claimed.attempts == attempt
        time.sleep(0.25)

    outcome = reports.run_next("careful-app")

    assert outcome is not None and outcome.status == "failed"
    failed = reports.get(staff.manager, requested.id)
    assert failed.status == "failed" and failed.error is not None
    assert failed.error.startswith(f"Generating this report stopped {MAX_ATTEMPTS} times before it finished")
    assert jobs(engine) == []


def test_a_runner_that_stops_hands_its_job_back_at_once(
    services: Services, staff: Staff, engine: Engine
) -> None:
    requested = services.reports.request(staff.manager, numbers(5_000))
    ticks = 0

    def quitting() -> bool:
        nonlocal ticks
        ticks += 1
        return ticks > 2

    outcome = services.reports.run_next("closing-app", cancelled=quitting)

    assert outcome is not None and outcome.status == "released"
    [job] = jobs(engine)
    assert (job.status, job.attempts, job.lease_until) == ("queued", 0, None)
    assert report_row(engine, requested.id).status == "pending"
    assert content(engine, requested.id) == b""
    assert [o.status for o in services.reports.run_pending("other-app")] == ["completed"]


def test_two_apps_and_a_worker_share_the_queue_without_doing_a_report_twice(
    services: Services, staff: Staff, engine: Engine
) -> None:
    requested = {services.reports.request(staff.manager, numbers(200 + n)).id for n in range(24)}
    done: dict[str, list[int]] = {}

    def runner(name: str) -> None:
        own = Services.from_context(ServiceContext(engine))
        done[name] = [outcome.report_id for outcome in own.reports.run_pending(name)]

    threads = [threading.Thread(target=runner, args=(name,)) for name in ("app-1", "app-2", "worker")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    taken = [report_id for ids in done.values() for report_id in ids]
    assert sorted(taken) == sorted(requested)  # each exactly once
    with engine.connect() as conn:
        statuses = conn.execute(select(Report.status, func.count()).group_by(Report.status)).all()
    assert statuses == [("completed", 24)]


def test_deleting_a_report_while_it_is_generated_cancels_it_and_leaves_nothing(
    engine: Engine, staff: Staff, services: Services
) -> None:
    reports = ReportService(services.ctx, heartbeat_s=0)
    requested = reports.request(staff.manager, numbers(20_000))
    deleted: list[int] = []

    def delete_midway(rows: int, _total: int) -> None:
        if rows == 5_000:
            # Another staff member, on another connection: must not wait for the generation.
            deleted.append(services.reports.delete(staff.admin, [requested.id]))

    outcome = reports.run_next("test-runner", progress=delete_midway)

    assert deleted == [1]
    assert outcome is not None and outcome.status == "cancelled"
    assert report_row(engine, requested.id) is None
    assert row_count(engine, ReportChunk) == 0 and jobs(engine) == []


def test_deleting_a_waiting_report_removes_its_job_and_a_completed_one_its_content(
    services: Services, staff: Staff, engine: Engine
) -> None:
    done = services.reports.request(staff.manager, numbers(10))
    services.reports.run_pending("test-runner")
    waiting = services.reports.request(staff.manager, numbers(20))

    assert services.reports.delete(staff.manager, [done.id, waiting.id, 999_999]) == 2

    assert row_count(engine, Report) == 0 and row_count(engine, ReportChunk) == 0 and jobs(engine) == []
    assert [e.entity_id for e in audit_entries(engine, "report.deleted")] == [str(done.id), str(waiting.id)]
    with pytest.raises(NotFound):
        services.reports.delete(staff.manager, [done.id])


def test_rerun_requests_a_new_report_with_the_same_parameters(services: Services, staff: Staff) -> None:
    first = services.reports.request(
        staff.manager, ReportRequest("test-numbers", {"count": 7}, "json", "Sevens")
    )

    again = services.reports.rerun(staff.admin, first.id)

    assert again.id != first.id
    assert (again.title, again.kind, again.format, again.status) == (
        "Sevens",
        "test-numbers",
        "json",
        "pending",
    )
    assert again.parameters == first.parameters and again.generated_by == "ada@shop.example"


# -- content --------------------------------------------------------------------------------------


def test_the_json_document_has_the_agreed_shape_and_types(
    services: Services, staff: Staff, engine: Engine
) -> None:
    requested = services.reports.request(staff.manager, numbers(3, "json"))
    services.reports.run_pending("test-runner")

    document = json.loads(content(engine, requested.id))

    assert list(document) == ["report", "parameters", "generated_at", "columns", "rows"]
    assert document["report"] == "test-numbers"
    assert document["parameters"] == {"count": 3, "fail_at": None, "kill_at": None, "pad": 0}
    assert dt.datetime.strptime(document["generated_at"], "%Y-%m-%dT%H:%M:%SZ")
    assert document["columns"] == ["n", "half", "day", "label", "even"]
    assert document["rows"] == [
        {"n": 1, "half": "0.50", "day": "2026-01-02", "label": 'item, "1"', "even": False},
        {"n": 2, "half": "1.00", "day": "2026-01-03", "label": 'item, "2"', "even": True},
        {"n": 3, "half": "1.50", "day": "2026-01-04", "label": "=SUM(A1)", "even": False},
    ]


def test_an_empty_report_is_still_a_whole_document(services: Services, staff: Staff, engine: Engine) -> None:
    as_json = services.reports.request(staff.manager, numbers(0, "json"))
    as_csv = services.reports.request(staff.manager, numbers(0, "csv"))
    services.reports.run_pending("test-runner")

    assert json.loads(content(engine, as_json.id))["rows"] == []
    assert content(engine, as_csv.id) == b"N,Half,Day,Label,Even\n"
    assert services.reports.preview(staff.viewer, as_csv.id).rows == ()


def test_the_csv_reads_like_an_export_with_formulas_neutralised(
    services: Services, staff: Staff, engine: Engine
) -> None:
    requested = services.reports.request(staff.manager, numbers(3))
    services.reports.run_pending("test-runner")

    rows = list(csv.reader(io.StringIO(content(engine, requested.id).decode())))

    assert rows == [
        ["N", "Half", "Day", "Label", "Even"],
        ["1", "0.50", "2026-01-02", 'item, "1"', "false"],
        ["2", "1.00", "2026-01-03", 'item, "2"', "true"],
        ["3", "1.50", "2026-01-04", "'=SUM(A1)", "false"],
    ]


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_a_preview_shows_the_first_rows_typed_and_says_how_many_there_are(
    services: Services, staff: Staff, fmt: str
) -> None:
    requested = services.reports.request(staff.manager, numbers(12_345, fmt))
    services.reports.run_pending("test-runner")

    preview = services.reports.preview(staff.viewer, requested.id, limit=100)

    assert preview.total_rows == 12_345 and len(preview.rows) == 100 and preview.truncated
    assert [c.key for c in preview.spec.columns] == ["n", "half", "day", "label", "even"]
    third = preview.rows[2]
    assert (third.n, third.half, third.day, third.label, third.even) == (
        3,
        Decimal("1.50"),
        dt.date(2026, 1, 4),
        "=SUM(A1)",  # the CSV's neutralising apostrophe is not shown
        False,
    )
    assert preview.rows[-1].n == 100


def test_save_writes_the_stored_file_and_a_cancelled_save_leaves_nothing(
    services: Services, staff: Staff, engine: Engine, tmp_path: Path
) -> None:
    requested = services.reports.request(staff.manager, numbers(40_000))
    services.reports.run_pending("test-runner")
    target = tmp_path / "numbers.csv"

    written = services.reports.save(staff.viewer, requested.id, target)

    assert target.read_bytes() == content(engine, requested.id) and written == target.stat().st_size
    assert len(target.read_bytes()) > 1 << 20  # several chunks
    other = tmp_path / "cancelled.csv"
    with pytest.raises(ExportCancelled):
        services.reports.save(staff.viewer, requested.id, other, cancelled=lambda: True)
    assert list(tmp_path.iterdir()) == [target]


def test_run_to_file_writes_what_the_queue_would_store_and_is_audited(
    services: Services, staff: Staff, engine: Engine, tmp_path: Path
) -> None:
    queued = services.reports.request(staff.manager, numbers(2_000))
    services.reports.run_pending("test-runner")
    target = tmp_path / "direct.csv"

    made = services.reports.run_to_file(staff.manager, numbers(2_000), target)

    assert (made.rows, made.size_bytes) == (2_000, target.stat().st_size)
    assert target.read_bytes() == content(engine, queued.id)
    [entry] = audit_entries(engine, "report.run")
    assert entry.after is not None and entry.after["kind"] == "test-numbers" and entry.after["rows"] == 2_000
    assert row_count(engine, Report) == 1  # nothing stored


# -- permissions and validation -------------------------------------------------------------------


def test_permissions_differ_by_role_and_by_kind(services: Services, staff: Staff, engine: Engine) -> None:
    done = services.reports.request(staff.manager, numbers())
    services.reports.run_pending("test-runner")

    # A viewer opens and saves, but neither requests, re-runs nor deletes.
    assert services.reports.preview(staff.viewer, done.id).total_rows == 10
    attempts: tuple[Callable[[], object], ...] = (
        lambda: services.reports.request(staff.viewer, numbers()),
        lambda: services.reports.rerun(staff.viewer, done.id),
        lambda: services.reports.delete(staff.viewer, [done.id]),
        lambda: services.reports.kinds(staff.viewer),
    )
    for attempt in attempts:
        with pytest.raises(PermissionDenied) as denied:
            attempt()
        assert denied.value.permission == "reports.generate"

    # A role that may generate reports but not read inventory neither requests nor opens this kind.
    with engine.begin() as conn:
        manager = conn.execute(select(Role.id).where(Role.name == "manager")).scalar_one()
        conn.execute(
            role_permissions.delete().where(
                role_permissions.c.role_id == manager, role_permissions.c.permission_code == "inventory.read"
            )
        )
    attempts = (
        lambda: services.reports.request(staff.manager, numbers()),
        lambda: services.reports.preview(staff.manager, done.id),
        lambda: services.reports.write_content(staff.manager, done.id, io.BytesIO()),
    )
    for attempt in attempts:
        with pytest.raises(PermissionDenied) as denied:
            attempt()
        assert denied.value.permission == "inventory.read"
    assert "test-numbers" not in [kind.name for kind in services.reports.kinds(staff.manager)]
    assert "test-numbers" in [kind.name for kind in services.reports.kinds(staff.admin)]


def test_a_bad_request_is_refused_with_every_problem_and_stores_nothing(
    services: Services, staff: Staff, engine: Engine
) -> None:
    with pytest.raises(ValidationError) as refused:
        services.reports.request(
            staff.manager, ReportRequest("test-numbers", {"count": -1}, "xlsx", "x" * 201)
        )

    assert set(refused.value.fields) == {"count", "format", "title"}
    assert refused.value.fields["format"] == "Choose CSV or JSON."
    with pytest.raises(ValidationError, match="Unknown report kind: nope"):
        services.reports.request(staff.manager, ReportRequest("nope"))
    assert row_count(engine, Report) == 0 and jobs(engine) == []


# -- streaming ------------------------------------------------------------------------------------


def _peak_bytes(services: Services, staff: Staff, count: int, target: Path) -> int:
    requested = services.reports.request(staff.manager, numbers(count, pad=1_000))
    tracemalloc.start()
    try:
        services.reports.run_pending("test-runner")
        services.reports.save(staff.manager, requested.id, target)
        services.reports.preview(staff.manager, requested.id, limit=1_000)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_stays_bounded_however_long_the_report(
    services: Services, staff: Staff, tmp_path: Path
) -> None:
    small = _peak_bytes(services, staff, 4_000, tmp_path / "small.csv")
    large = _peak_bytes(services, staff, 20_000, tmp_path / "large.csv")

    # Rows of about a kilobyte: five times the rows (about 13 MB of CSV against 2.7 MB, each
    # several chunks). The peak is what a few chunks and batches take, not what the report takes.
    assert (tmp_path / "large.csv").stat().st_size > 4.5 * (tmp_path / "small.csv").stat().st_size > 12 << 20
    assert large < 1.3 * small, (small, large)
    assert large < 8 << 20
