"""An open edit dialog hears when its record changes underneath it.

The change log names changed rows by table and key, but whether a change matters to a form (a
sign-in touches the account's row, a stock movement the item's) is the service's business: so a
batch that names the row — or cannot name rows at all (a bulk change, a batch after an outage) —
only triggers a re-read of the record in the background, and the dialog compares what it gets with
what it opened. The re-read is the same call the form's save would meet, so the notice and the
save's conflict check agree.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from typing import Generic, TypeVar

from PySide6.QtCore import QObject

from ecomdesk.services.changes import ChangeBatch
from ecomdesk.services.errors import NotFound
from ecomdesk.ui.session import AppSession
from ecomdesk.ui.tasks import TaskControl

log = logging.getLogger(__name__)

R = TypeVar("R")


class RowWatch(QObject, Generic[R]):
    """Re-reads one record (`read`, off the GUI thread) whenever a batch of changes may have
    touched it, and hands the result to `on_read` — None when the record no longer exists.

    `paused`: while the owner's own save is in flight, what would be its own change is no news
    (the owner closes on success); a change seen meanwhile is checked once the pause ends, after
    a failed save. `stop()` ends it for good (the dialog closed; a page keeps its closed
    dialogs)."""

    def __init__(
        self,
        session: AppSession,
        tables: Collection[str],
        key: str,
        read: Callable[[], R],
        on_read: Callable[[R | None], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.tables = frozenset(tables)
        self.key = key
        self._paused = False
        self._missed = False  # a change touched the record while paused
        self._read = read
        self._on_read = on_read
        self._stopped = False
        session.changes_seen.connect(self._seen)

    @property
    def paused(self) -> bool:
        return self._paused

    @paused.setter
    def paused(self, paused: bool) -> None:
        self._paused = paused
        if not paused and self._missed and not self._stopped:
            self._missed = False
            self.check()

    def stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            self.session.changes_seen.disconnect(self._seen)

    def touched_by(self, batch: ChangeBatch) -> bool:
        """Whether `batch` may have changed the record (None rows: cannot tell, so yes)."""
        for table in self.tables:
            rows = batch.rows(table)
            if rows is None or self.key in rows:
                return True
        return False

    def check(self) -> None:
        """Re-read the record now; only the latest re-read counts."""
        read = self._read

        def run(control: TaskControl) -> R:
            control.check()
            return read()

        self.session.runner.submit(
            run,
            on_done=self._answered,
            on_error=self._failed,
            key=f"row-watch.{id(self)}",
            owner=self,
            description="check whether someone else changed this record",
        )

    def _seen(self, batch: ChangeBatch) -> None:
        if self._stopped or not self.touched_by(batch):
            return
        if self._paused:
            self._missed = True
        else:
            self.check()

    def _answered(self, record: R | None) -> None:
        if self._stopped:
            return
        if self._paused:
            self._missed = True
        else:
            self._on_read(record)

    def _failed(self, error: BaseException) -> None:
        if isinstance(error, NotFound):
            self._answered(None)
            return
        # Offline, a sign-in that ended, rights taken away: the window says so; the save checks again.
        log.debug("re-reading an open record failed: %s", error)
