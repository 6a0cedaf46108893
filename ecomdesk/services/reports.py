"""Reports: requested by staff, generated in the background by whichever app or worker claims the
job first, stored in the database so every staff machine can open them.

Life cycle (the seed's): pending → processing → completed | failed. `request` writes the report
and its job in one transaction; `run_next` claims one job (`services.jobs`), generates the report
as its requester (whose permission is checked again then), streams its rows into CSV or JSON
chunks, and marks it completed in the same transaction that stores the chunks — so a report is
either complete or has no content at all. A runner that dies leaves its job leased; once the
lease runs out another runner takes it up again. Deleting a report cancels it wherever it runs.

Permissions: listing needs `reports.read`; opening or saving content needs `reports.read` and the
kind's permission (a viewer may see that a user directory exists, not read it); requesting,
re-running and deleting need `reports.generate` and the kind's permission.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import IO, Any, Final

from sqlalchemy import (
    ColumnElement,
    Connection,
    Update,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ecomdesk.db.metrics import shop_day
from ecomdesk.db.models import Job, Report, ReportChunk, User
from ecomdesk.db.models.reports import REPORT_FORMATS, REPORT_STATUSES
from ecomdesk.services import events
from ecomdesk.services.analytics import shop_settings
from ecomdesk.services.context import Actor, ServiceContext, UnitOfWork, database_errors, load_actor
from ecomdesk.services.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    ReadOnlyError,
    ServiceError,
    Unavailable,
    ValidationError,
)
from ecomdesk.services.jobs import LEASE, ClaimedJob, JobQueue, dequeue, enqueue
from ecomdesk.services.listing import SortKey, like_pattern
from ecomdesk.services.mail import queue_report_ready
from ecomdesk.services.report_files import CHUNK_BYTES, ReportEncoder, read_rows
from ecomdesk.services.report_kinds import REPORT_KINDS, Param, ReportKind, ReportValues, report_kind
from ecomdesk.services.tables import (
    CancelledFn,
    Choice,
    Column,
    ExportCancelled,
    FilterKind,
    FilterSpec,
    Kind,
    ProgressFn,
    Source,
    SqlTable,
    TableSpec,
    write_file,
)

log = logging.getLogger(__name__)

#: Rows a preview shows at most; the whole report is a "Save as…" away.
PREVIEW_ROWS: Final = 10_000
#: The queue report jobs wait in (`jobs.queue`).
QUEUE: Final = "report"
#: How often a running generation renews its lease and publishes its row count.
HEARTBEAT_S: Final = 10.0
#: How long one statement of a report may run (lists get a minute; a report reads far more).
STATEMENT_TIMEOUT: Final = "15min"
_BATCH_ROWS: Final = 1_000
_TITLE_MAX: Final = 200
_GONE: Final = "This report no longer exists (someone may have deleted it)."
#: Server states that mean the server is going away, not that the report's query is wrong.
_SERVER_GONE: Final = frozenset({"57P01", "57P02", "57P03"})


@dataclass(frozen=True)
class ReportRow:
    """One report as the list shows it."""

    id: int
    title: str
    kind: str
    format: str
    status: str
    error: str | None
    generated_by: str | None
    size_bytes: int | None
    row_count: int | None
    created_at: dt.datetime
    updated_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    parameters: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReportKindInfo:
    """What the new-report dialog shows for one kind the user may request."""

    name: str
    title: str
    description: str
    params: tuple[Param, ...]


@dataclass(frozen=True)
class ReportRequest:
    kind: str
    #: Typed values or text, as `ReportKind.normalise` accepts them; missing ones get defaults.
    parameters: Mapping[str, Any] = field(default_factory=dict)
    format: str = "csv"
    #: None or blank: the kind's title for the parameters.
    title: str | None = None


@dataclass(frozen=True)
class ReportPreview:
    """The first rows of a completed report, ready for a `RowsTable(spec, rows)` grid."""

    report: ReportRow
    spec: TableSpec
    #: Frozen records with one attribute per column key of `spec`.
    rows: tuple[Any, ...]
    #: All data rows of the report (`rows` holds at most `PREVIEW_ROWS` of them).
    total_rows: int

    @property
    def truncated(self) -> bool:
        return len(self.rows) < self.total_rows


@dataclass(frozen=True)
class ReportOutcome:
    """What a runner did with one job."""

    report_id: int
    status: str  # "completed", "failed", or "cancelled" (deleted while running) / "released"
    rows: int = 0
    size_bytes: int = 0
    error: str | None = None


@dataclass(frozen=True)
class ReportFile:
    """A report written straight to a file (`ecomdesk report run`)."""

    path: Path
    rows: int
    size_bytes: int


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
        Column("row_count", "Rows", Kind.INTEGER),
        Column("size_bytes", "Size (bytes)", Kind.INTEGER),
        Column("generated_by", "Requested by"),
        Column("created_at", "Requested", Kind.DATETIME),
        Column("finished_at", "Finished", Kind.DATETIME),
        Column("error", "Error"),
        Column("updated_at", "Updated", Kind.DATETIME, shown=False),
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
                "row_count": report.row_count,
                "size_bytes": report.size_bytes,
                "generated_by": user.email,
                "created_at": report.created_at,
                "finished_at": report.finished_at,
                "error": report.error,
                "updated_at": report.updated_at,
            },
            primary_key=report.id,
            extra={"id": report.id, "started_at": report.started_at, "parameters": report.parameters},
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
        values = {name: row[name] for name in ReportRow.__dataclass_fields__}
        values["parameters"] = dict(values["parameters"] or {})
        return ReportRow(**values)

    def choices_query(self, session: Session, key: str) -> list[Choice]:
        if key == "status":
            return [Choice(status, status.capitalize()) for status in REPORT_STATUSES]
        if key == "kind":
            kinds = session.scalars(select(Report.kind).distinct().order_by(Report.kind))
            named = [
                Choice(kind, REPORT_KINDS[kind].title if kind in REPORT_KINDS else kind) for kind in kinds
            ]
            return sorted(named, key=lambda choice: choice.label)
        return super().choices_query(session, key)


class _Stop(Exception):
    """Generation stops without a result: "released" (this runner is quitting; the job goes back
    to the queue) or "cancelled" (the report was deleted, or another runner took the job over)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class _Work:
    job: ClaimedJob
    report_id: int
    kind: str
    parameters: Mapping[str, Any]
    format: str
    requester: int | None


def _batches(rows: Iterable[ReportValues], size: int) -> Iterator[list[ReportValues]]:
    batch: list[ReportValues] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _encode(
    rows: Iterable[ReportValues],
    encoder: ReportEncoder,
    sink: Callable[[bytes], None],
    tick: Callable[[int, int], None] | None = None,
) -> tuple[int, int]:
    """Encode `rows` into `sink` about a megabyte at a time; `tick(rows, bytes)` after each batch
    (where a caller checks for cancellation and renews its lease). Returns (rows, bytes)."""
    buffer = bytearray(encoder.head())
    count = size = 0
    for batch in _batches(rows, _BATCH_ROWS):
        buffer += encoder.rows(batch)
        count += len(batch)
        if len(buffer) >= CHUNK_BYTES:
            sink(bytes(buffer))
            size += len(buffer)
            buffer.clear()
        if tick is not None:
            tick(count, size + len(buffer))
    buffer += encoder.tail()
    sink(bytes(buffer))
    return count, size + len(buffer)


def _transient(exc: BaseException) -> bool:
    """The connection to the server was lost (not the report's fault): another try may work."""
    if isinstance(exc, Unavailable):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    sqlstate = str(getattr(exc.orig, "sqlstate", None) or "")
    return exc.connection_invalidated or not sqlstate or sqlstate.startswith("08") or sqlstate in _SERVER_GONE


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, ServiceError):
        return exc.message
    if isinstance(exc, DBAPIError):
        return str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else type(exc.orig).__name__
    return (
        f"Something went wrong while generating this report ({type(exc).__name__}). Details are in the log."
    )


class ReportService:
    """Requesting, generating, opening, saving and deleting reports."""

    def __init__(
        self, ctx: ServiceContext, *, lease: dt.timedelta = LEASE, heartbeat_s: float = HEARTBEAT_S
    ) -> None:
        self.ctx = ctx
        self.table = ReportsTable(ctx)
        self.jobs = JobQueue(ctx.engine, lease=lease, read_only=ctx.read_only)
        self.heartbeat_s = heartbeat_s

    # -- for the new-report dialog ------------------------------------------------------------

    def kinds(self, actor: Actor) -> list[ReportKindInfo]:
        """The kinds `actor` may request (reports.generate and each kind's permission), by title."""
        with self.ctx.read(actor, "reports.generate") as uow:
            assert uow.actor is not None
            allowed = [kind for kind in REPORT_KINDS.values() if uow.actor.can(kind.permission)]
        return [
            ReportKindInfo(kind.name, kind.title, kind.description, kind.params)
            for kind in sorted(allowed, key=lambda kind: kind.title)
        ]

    def defaults(self, actor: Actor, kind: str) -> dict[str, Any]:
        """Typed starting values for the kind's parameters (the shop's today decides the dates)."""
        with self.ctx.read(actor, "reports.generate") as uow:
            return self._kind(uow, kind).defaults(uow.session, _today(uow))

    def choices(self, actor: Actor, kind: str, key: str) -> list[Choice]:
        """What a CHOICE/CHOICES parameter of `kind` offers."""
        with self.ctx.read(actor, "reports.generate") as uow:
            return self._kind(uow, kind).choices(uow.session, key)

    def default_title(self, actor: Actor, kind: str, parameters: Mapping[str, Any]) -> str:
        """The title a report of these parameters gets when none is given (ValidationError if the
        parameters are wrong, with one message per field)."""
        with self.ctx.read(actor, "reports.generate") as uow:
            found = self._kind(uow, kind)
            return found.title_for(found.normalise(uow.session, parameters, _today(uow)))[:_TITLE_MAX]

    # -- requesting and managing --------------------------------------------------------------

    def request(self, actor: Actor, request: ReportRequest) -> ReportRow:
        """A new pending report and its job, in one transaction; audited as `report.requested`."""
        with self.ctx.write(actor, "reports.generate") as uow:
            return self._request(uow, request)

    def rerun(self, actor: Actor, report_id: int) -> ReportRow:
        """A new pending report with the same kind, parameters, format and title."""
        with self.ctx.write(actor, "reports.generate") as uow:
            report = uow.session.get(Report, report_id)
            if report is None:
                raise NotFound(_GONE)
            again = ReportRequest(report.kind, dict(report.parameters), report.format, report.title)
            return self._request(uow, again, rerun_of=report_id)

    def delete(self, actor: Actor, report_ids: Sequence[int]) -> int:
        """Delete reports (and their content); a running one is cancelled. Returns how many."""
        with self.ctx.write(actor, "reports.generate") as uow:
            c = Report.__table__.c
            found = uow.session.execute(
                select(c.id, c.title, c.kind, c.status, c.format).where(c.id.in_(sorted(set(report_ids))))
            ).all()
            if not found:
                raise NotFound(_GONE)
            for report in found:
                if report.kind in REPORT_KINDS:
                    self._kind(uow, report.kind)
            ids = [report.id for report in found]
            uow.session.execute(delete(Report).where(c.id.in_(ids)))
            # After the reports: a generation committing meanwhile has been waited for, and its
            # chunks are visible to this statement.
            uow.session.execute(delete(ReportChunk).where(ReportChunk.report_id.in_(ids)))
            uow.session.execute(
                delete(Job).where(
                    Job.queue == QUEUE, Job.status == "queued", Job.payload["report_id"].as_integer().in_(ids)
                )
            )
            for report in found:
                before = {"title": report.title, "kind": report.kind, "status": report.status}
                uow.audit("report.deleted", "report", report.id, before=before)
            return len(ids)

    def get(self, actor: Actor, report_id: int) -> ReportRow:
        with self.ctx.read(actor, "reports.read") as uow:
            row = self.table.fetch(uow.session, report_id)
            if row is None:
                raise NotFound(_GONE)
            return row

    # -- content ------------------------------------------------------------------------------

    def preview(self, actor: Actor, report_id: int, *, limit: int = PREVIEW_ROWS) -> ReportPreview:
        """The first `limit` rows of a completed report, typed by the kind's columns."""
        with self.ctx.read(actor, "reports.read") as uow:
            report, kind = self._openable(uow, report_id)
            columns = kind.columns(report.parameters)
            spec = TableSpec(
                name=f"report-{kind.name}",
                title=report.title,
                singular="row",
                plural="rows",
                columns=columns,
                default_sort=(),
            )
            rows = read_rows(_chunks(uow.session, report_id), report.format, columns)
            try:
                first = tuple(islice(rows, limit))
            finally:
                rows.close()  # ends the server-side cursor of a report longer than the preview
            row = self.table.fetch(uow.session, report_id)
            assert row is not None
            return ReportPreview(row, spec, first, max(report.row_count or 0, len(first)))

    def save(
        self,
        actor: Actor,
        report_id: int,
        target: Path,
        *,
        progress: ProgressFn | None = None,
        cancelled: CancelledFn | None = None,
    ) -> int:
        """Write a completed report's file to `target` (via `<target>.part`, renamed when whole).
        Returns the bytes written."""
        return write_file(
            target,
            lambda out: self.write_content(actor, report_id, out, progress=progress, cancelled=cancelled),
            cancelled,
        )

    def write_content(
        self,
        actor: Actor,
        report_id: int,
        out: IO[bytes],
        *,
        progress: ProgressFn | None = None,
        cancelled: CancelledFn | None = None,
    ) -> int:
        """Stream a completed report's file into `out` (e.g. stdout); returns the bytes written."""
        with self.ctx.read(actor, "reports.read") as uow:
            report, _kind = self._openable(uow, report_id)
            total = report.size_bytes or 0
            written = 0
            for data in _chunks(uow.session, report_id):
                if cancelled is not None and cancelled():
                    raise ExportCancelled()
                out.write(data)
                written += len(data)
                if progress is not None:
                    progress(written, max(total, written))
            return written

    def run_to_file(
        self,
        actor: Actor,
        request: ReportRequest,
        target: Path | None,
        *,
        out: IO[bytes] | None = None,
        progress: ProgressFn | None = None,
        cancelled: CancelledFn | None = None,
    ) -> ReportFile:
        """Generate a report straight into `target` (or `out` when target is None) without storing
        it: `ecomdesk report run`. Same permissions, content and audit as a requested report."""
        if target is None and out is None:
            raise ValueError("Give a target file or a stream.")
        with self.ctx.read(actor, "reports.generate") as uow:
            kind, params, _title = self._checked(uow, request)
            _prepare(uow.session)
            encoder = ReportEncoder(
                request.format,
                kind=kind.name,
                columns=kind.columns(params),
                parameters=params,
                generated_at=uow.now,
            )

            def tick(rows: int, size: int) -> None:
                if cancelled is not None and cancelled():
                    raise ExportCancelled()
                if progress is not None:
                    progress(rows, 0)

            def generate(stream: IO[bytes]) -> tuple[int, int]:
                def sink(data: bytes) -> None:
                    stream.write(data)

                return _encode(kind.rows(uow.session, params), encoder, sink, tick)

            if target is not None:
                rows, size = write_file(target, generate, cancelled)
            else:
                assert out is not None
                rows, size = generate(out)
        if not self.ctx.read_only:
            with self.ctx.write(actor, None) as uow:
                after = {"kind": kind.name, "format": request.format, "parameters": params, "rows": rows}
                uow.audit("report.run", "report", None, after=after)
        return ReportFile(target if target is not None else Path("-"), rows, size)

    # -- the runner ---------------------------------------------------------------------------

    def run_next(
        self, worker: str, *, progress: ProgressFn | None = None, cancelled: CancelledFn | None = None
    ) -> ReportOutcome | None:
        """Claim one due report job and generate it; None when there is none. `worker` names the
        runner ("host:pid app"); `cancelled` returning true releases the job for someone else."""
        if self.ctx.read_only:
            raise ReadOnlyError("This is a read-only copy: its reports are generated already.")
        with database_errors():
            job = self.jobs.claim(QUEUE, worker)
            if job is None:
                return None
            report_id = int(job.payload.get("report_id") or 0)
            started = self._start(job, report_id)
        if isinstance(started, ReportOutcome):
            return started
        try:
            return self._generate(started, progress, cancelled)
        except _Stop as stop:
            if stop.reason == "released":
                with database_errors():
                    self._release(started)
            return ReportOutcome(report_id, stop.reason)
        except Exception as exc:
            if _transient(exc):
                # Not the report's fault: its lease runs out and a runner takes it up again.
                log.warning("Report %s: lost the database while generating it: %s", report_id, exc)
                raise Unavailable(
                    "The connection to the database was lost while generating a report."
                ) from exc
            if not isinstance(exc, ServiceError | DBAPIError):
                log.exception("Report %s failed", report_id)
            error = _error_text(exc)
            with database_errors():
                self._fail(started, error)
            return ReportOutcome(report_id, "failed", error=error)

    def run_pending(
        self, worker: str, *, limit: int | None = None, cancelled: CancelledFn | None = None
    ) -> list[ReportOutcome]:
        """`run_next` until the queue is empty (or `limit` jobs, or cancelled)."""
        if self.ctx.read_only:
            raise ReadOnlyError("This is a read-only copy: its reports are generated already.")
        outcomes: list[ReportOutcome] = []
        while limit is None or len(outcomes) < limit:
            if cancelled is not None and cancelled():
                break
            outcome = self.run_next(worker, cancelled=cancelled)
            if outcome is None:
                break
            outcomes.append(outcome)
        return outcomes

    # -- helpers ------------------------------------------------------------------------------

    def _kind(self, uow: UnitOfWork, name: str) -> ReportKind:
        """The kind, if the acting user holds its permission."""
        kind = report_kind(name)
        assert uow.actor is not None
        if not uow.actor.can(kind.permission):
            raise PermissionDenied(
                kind.permission,
                f"{kind.title} reports need the permission '{kind.permission}', which your role lacks.",
            )
        return kind

    def _checked(self, uow: UnitOfWork, request: ReportRequest) -> tuple[ReportKind, dict[str, Any], str]:
        """The kind, normalised parameters and title of a request, or every problem at once."""
        kind = self._kind(uow, request.kind)
        problems: dict[str, str] = {}
        params: dict[str, Any] = {}
        if request.format not in REPORT_FORMATS:
            problems["format"] = "Choose CSV or JSON."
        try:
            params = kind.normalise(uow.session, request.parameters, _today(uow))
        except ValidationError as exc:
            problems.update(exc.fields)
        title = (request.title or "").strip()
        if len(title) > _TITLE_MAX:
            problems["title"] = f"Use at most {_TITLE_MAX} characters ({len(title)} given)."
        if problems:
            raise ValidationError(problems)
        return kind, params, title or kind.title_for(params)[:_TITLE_MAX]

    def _request(self, uow: UnitOfWork, request: ReportRequest, *, rerun_of: int | None = None) -> ReportRow:
        assert uow.actor is not None
        kind, params, title = self._checked(uow, request)
        report = Report(
            title=title,
            kind=kind.name,
            parameters=params,
            format=request.format,
            status="pending",
            generated_by=uow.actor.user_id,
        )
        uow.session.add(report)
        uow.session.flush()
        enqueue(uow.session, QUEUE, {"report_id": report.id})
        after: dict[str, Any] = {
            "title": title,
            "kind": kind.name,
            "format": request.format,
            "parameters": params,
        }
        if rerun_of is not None:
            after["rerun_of"] = rerun_of
        uow.audit("report.requested", "report", report.id, after=after)
        row = self.table.fetch(uow.session, report.id)
        assert row is not None
        return row

    def _openable(self, uow: UnitOfWork, report_id: int) -> tuple[Report, ReportKind]:
        report = uow.session.get(Report, report_id)
        if report is None:
            raise NotFound(_GONE)
        kind = self._kind(uow, report.kind)
        if report.status == "failed":
            raise Conflict(
                f"This report failed, so it has no content: {report.error or 'no reason was recorded'}"
            )
        if report.status != "completed":
            raise Conflict("This report is still being generated; it can be opened once it is completed.")
        return report, kind

    def _start(self, job: ClaimedJob, report_id: int) -> _Work | ReportOutcome:
        """Mark the job's report processing; or finish a job whose report is gone or that keeps
        killing its runners."""
        c = Report.__table__.c
        with self.ctx.engine.begin() as conn:
            report = conn.execute(
                select(Report.__table__).where(c.id == report_id).with_for_update()
            ).one_or_none()
            if report is None:
                dequeue(conn, job.id, job.token)
                return ReportOutcome(report_id, "cancelled")
            if job.exhausted:
                error = (
                    f"Generating this report stopped {job.attempts - 1} times before it finished (the app "
                    "or worker running it quit or crashed), so it was not tried again. Re-run it to try "
                    "once more."
                )
                if dequeue(conn, job.id, job.token):
                    conn.execute(_finished(report_id, "failed", error=error))
                    _emit_finished(conn, report_id, "failed")
                return ReportOutcome(report_id, "failed", error=error)
            conn.execute(
                update(Report)
                .where(c.id == report_id)
                .values(
                    status="processing",
                    started_at=func.now(),
                    finished_at=None,
                    row_count=0,
                    size_bytes=None,
                    error=None,
                    updated_at=func.now(),
                )
            )
        return _Work(
            job, report_id, report.kind, dict(report.parameters or {}), report.format, report.generated_by
        )

    def _generate(
        self, work: _Work, progress: ProgressFn | None, cancelled: CancelledFn | None
    ) -> ReportOutcome:
        """Generate and store the report in one transaction, as its requester."""
        with Session(self.ctx.engine) as session, session.begin():
            _prepare(session)
            now = session.scalar(select(func.now()))
            assert now is not None
            if work.requester is None:
                raise ServiceError("The staff member who asked for this report no longer exists.")
            requester = load_actor(session, work.requester, None, now)
            kind = report_kind(work.kind)
            if not requester.can(kind.permission):
                raise PermissionDenied(
                    kind.permission,
                    f"{requester.email} no longer has the permission '{kind.permission}' this report needs.",
                )
            params = kind.normalise(session, work.parameters, shop_day(now, shop_settings(session).zone))
            encoder = ReportEncoder(
                work.format, kind=kind.name, columns=kind.columns(params), parameters=params, generated_at=now
            )
            seq = 0
            beat = time.monotonic()

            def store(data: bytes) -> None:
                nonlocal seq
                session.execute(insert(ReportChunk).values(report_id=work.report_id, seq=seq, data=data))
                seq += 1

            def tick(rows: int, size: int) -> None:
                nonlocal beat
                if cancelled is not None and cancelled():
                    raise _Stop("released")
                if progress is not None:
                    progress(rows, 0)
                if time.monotonic() - beat >= self.heartbeat_s:
                    beat = time.monotonic()
                    if not self._heartbeat(work, rows):
                        raise _Stop("cancelled")

            if cancelled is not None and cancelled():
                raise _Stop("released")
            rows, size = _encode(kind.rows(session, params), encoder, store, tick)
            done = session.execute(
                _finished(work.report_id, "completed", rows=rows, size=size).where(
                    Report.__table__.c.status == "processing"
                )
            )
            if not done.rowcount:  # type: ignore[attr-defined]  # deleted meanwhile
                self._forget(work)
                raise _Stop("cancelled")
            if not dequeue(session, work.job.id, work.job.token):  # overtaken by another runner
                raise _Stop("cancelled")
            _emit_finished(session, work.report_id, "completed")
            queue_report_ready(session, work.report_id, work.requester)
        return ReportOutcome(work.report_id, "completed", rows, size)

    def _heartbeat(self, work: _Work, rows: int) -> bool:
        """Renew the lease and publish the rows so far; False when the report was deleted or the
        job was taken over."""
        c = Report.__table__.c
        with self.ctx.engine.begin() as conn:
            if not self.jobs.extend(work.job, conn):
                return False
            shown = conn.execute(
                update(Report)
                .where(c.id == work.report_id, c.status == "processing")
                .values(row_count=rows, updated_at=func.now())
            )
            if not shown.rowcount:  # deleted: its job goes too
                dequeue(conn, work.job.id, work.job.token)
            return bool(shown.rowcount)

    def _forget(self, work: _Work) -> None:
        """The report is gone: so is its job."""
        with self.ctx.engine.begin() as conn:
            dequeue(conn, work.job.id, work.job.token)

    def _fail(self, work: _Work, error: str) -> None:
        with self.ctx.engine.begin() as conn:
            if dequeue(conn, work.job.id, work.job.token):
                conn.execute(_finished(work.report_id, "failed", error=error))
                _emit_finished(conn, work.report_id, "failed")

    def _release(self, work: _Work) -> None:
        """This runner stops: the job is due again at once and the report waits as pending."""
        c = Report.__table__.c
        with self.ctx.engine.begin() as conn:
            if self.jobs.release(work.job, conn):
                conn.execute(
                    update(Report)
                    .where(c.id == work.report_id, c.status == "processing")
                    .values(status="pending", started_at=None, row_count=None, updated_at=func.now())
                )


def _finished(
    report_id: int, status: str, *, rows: int | None = None, size: int | None = None, error: str | None = None
) -> Update:
    c = Report.__table__.c
    return (
        update(Report)
        .where(c.id == report_id)
        .values(
            status=status,
            row_count=rows,
            size_bytes=size,
            error=error,
            # The moment it ends, not its transaction's start (which is when generation began).
            finished_at=func.clock_timestamp(),
            updated_at=func.clock_timestamp(),
        )
    )


def _emit_finished(conn: Session | Connection, report_id: int, status: str) -> None:
    """`report.completed` or `report.failed` in the transaction that marked the report so (one
    probe when nobody listens; the report is read back only for a listener)."""
    type_ = f"report.{status}"
    if not events.has_subscribers(conn, type_):
        return
    c = Report.__table__.c
    report = conn.execute(
        select(c.id, c.title, c.kind, c.format, c.row_count, c.size_bytes, c.finished_at, c.error, User.email)
        .outerjoin(User, User.id == c.generated_by)
        .where(c.id == report_id)
    ).one()
    data: dict[str, Any] = {
        "id": report.id,
        "title": report.title,
        "kind": report.kind,
        "format": report.format,
        "row_count": report.row_count,
        "size_bytes": report.size_bytes,
        "requested_by": report.email,
        "finished_at": report.finished_at.isoformat(),
    }
    if status == "failed":
        data["error"] = report.error
    events.emit(conn, type_, data, at=report.finished_at)


def _today(uow: UnitOfWork) -> dt.date:
    """The shop's today, in its time zone: the default dates count back from it."""
    return shop_day(uow.now, shop_settings(uow.session).zone)


def _prepare(session: Session) -> None:
    """A report may read far more than a list: its own, longer statement timeout."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SET LOCAL statement_timeout = '{STATEMENT_TIMEOUT}'"))


def _chunks(session: Session, report_id: int) -> Iterator[bytes]:
    """A stored report's file, a chunk at a time (a few chunks per round trip)."""
    c = ReportChunk.__table__.c
    stmt = select(c.data).where(c.report_id == report_id).order_by(c.seq).execution_options(yield_per=2)
    for data in session.connection().execute(stmt).scalars():
        yield bytes(data)


__all__ = [
    "PREVIEW_ROWS",
    "QUEUE",
    "REPORTS_SPEC",
    "REPORT_FORMATS",
    "ReportFile",
    "ReportKindInfo",
    "ReportOutcome",
    "ReportPreview",
    "ReportRequest",
    "ReportRow",
    "ReportService",
    "ReportsTable",
]
