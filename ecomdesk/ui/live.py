"""Live updates: this window hears what others change, and notices when the server goes away.

`ChangeWatcher` polls the change log (`services.changes`) on the task runner every
`Preferences.refresh_interval` seconds — slower while the window is minimized — and hands each
batch of changes to the session (`AppSession.changes_seen`), where the main window routes it to the
pages that show those tables. Where the connection allows it, a LISTEN connection watched by a
`QSocketNotifier` (no thread, no blocking read) makes the next poll happen at once, so a change
shows in a fraction of a second; the poll stays the source of truth, since a notification can be
lost and a change in the log cannot.

The poll is also the probe: when it fails because the server cannot be reached (or has no answer
at all for a few seconds), the session turns "Reconnecting…" (and "Offline" after a few tries), and
polls go on with exponential backoff and jitter until the server answers; then every page is
refreshed once, since anything may have changed meanwhile. A poll that finds the signed-in
user's role or permissions changed hands the new `Actor` to the session; one that finds their
sign-in ended fails with `AuthenticationError`, which the main window turns into signing out
(within one poll).
"""

from __future__ import annotations

import logging
import random
import time
from typing import Final

from PySide6.QtCore import QObject, QSocketNotifier, QTimer

from ecomdesk.services.changes import ChangeBatch, ChangeCursor, Listener, ListenerLost, LiveUpdate
from ecomdesk.services.errors import AuthenticationError, ServiceError, Unavailable
from ecomdesk.ui.session import AppSession, ConnectionState
from ecomdesk.ui.tasks import Task, TaskControl

log = logging.getLogger(__name__)

#: The first retry after a failed poll; each further failure doubles it, up to `MAX_BACKOFF_MS`.
FIRST_BACKOFF_MS: Final = 1000
MAX_BACKOFF_MS: Final = 30_000
#: Failed polls in a row after which "Reconnecting…" becomes "Offline" (polling goes on).
FAILURES_BEFORE_OFFLINE: Final = 5
#: While minimized, polls come this many times less often (but at least every `MINIMIZED_MIN_MS`).
MINIMIZED_FACTOR: Final = 5
MINIMIZED_MIN_MS: Final = 30_000
#: Notifications closer together than this are answered by one poll (an import commits often).
WAKE_GAP_MS: Final = 200
#: A poll with no answer after this long counts as the server being away: a frozen server or a
#: network that drops everything never sends an error. (A refused connection fails faster.)
STALL_MS: Final = 5000
#: How often this app trims the change log of what every reader has long seen.
PRUNE_INTERVAL_MS: Final = 15 * 60 * 1000


class ChangeWatcher(QObject):
    """Polls for changes while the session lasts; see the module's docstring."""

    def __init__(
        self,
        session: AppSession,
        *,
        interval_ms: int | None = None,
        listen: bool = True,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        #: Fixed interval (tests, benchmarks); None: the person's refresh-interval preference.
        self.fixed_interval_ms = interval_ms
        self.listen_enabled = listen
        #: The backoff after failed polls (instance values so tests need not wait for real servers).
        self.first_backoff_ms = FIRST_BACKOFF_MS
        self.max_backoff_ms = MAX_BACKOFF_MS
        self.stall_ms = STALL_MS
        self._cursor: ChangeCursor | None = None
        self._task: Task[LiveUpdate] | None = None
        self._again = False
        self._stopped = True
        self._failures = 0
        self._minimized = False
        self._last_poll = 0.0  # monotonic time the latest poll started
        self._listener: Listener | None = None
        self._notifier: QSocketNotifier | None = None
        self._listening = False  # a LISTEN connection is being opened
        self._listen_failures = 0
        #: The last unexpected failure logged (repeats of it are not).
        self._last_problem: str | None = None

        self._poll_timer = QTimer(self)
        self._poll_timer.setObjectName("changePollTimer")
        self._poll_timer.setSingleShot(True)
        self._poll_timer.timeout.connect(self.poll_now)
        self._stall_timer = QTimer(self)
        self._stall_timer.setObjectName("changeStallTimer")
        self._stall_timer.setSingleShot(True)
        self._stall_timer.timeout.connect(self._stalled)
        self._prune_timer = QTimer(self)
        self._prune_timer.setObjectName("changePruneTimer")
        self._prune_timer.setInterval(PRUNE_INTERVAL_MS)
        self._prune_timer.timeout.connect(self._prune)
        session.state_changed.connect(self._state_changed)

    # -- what the main window calls ------------------------------------------------------------

    @property
    def running(self) -> bool:
        return not self._stopped

    @property
    def listening(self) -> bool:
        """A LISTEN connection is open: changes wake the next poll at once."""
        return self._listener is not None

    @property
    def interval_ms(self) -> int:
        """The time between two polls while all is well."""
        base: int = self.fixed_interval_ms or self.session.preferences.refresh_interval * 1000
        return max(base * MINIMIZED_FACTOR, MINIMIZED_MIN_MS) if self._minimized else base

    def start(self) -> None:
        """Poll now (this sets the cursor at "now") and every interval from then on."""
        if not self._stopped:
            return
        self._stopped = False
        if not self.session.read_only:
            self._prune_timer.start()
        self.poll_now()

    def stop(self) -> None:
        self._stopped = True
        self._again = False
        self._poll_timer.stop()
        self._stall_timer.stop()
        self._prune_timer.stop()
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self._drop_listener()

    def poll_now(self) -> None:
        """Poll at once (a notification, the window shown again, a failure elsewhere)."""
        if self._stopped:
            return
        if self._task is not None:
            self._again = True
            return
        self._poll_timer.stop()
        self._run()

    def set_minimized(self, minimized: bool) -> None:
        """A minimized window polls rarely; shown again, it polls at once."""
        if minimized == self._minimized:
            return
        self._minimized = minimized
        if minimized:
            self._schedule()
        else:
            self.poll_now()

    def reschedule(self) -> None:
        """The refresh interval preference changed: the next poll follows it."""
        if not self._stopped and self._task is None:
            self._schedule()

    # -- polling -------------------------------------------------------------------------------

    def _run(self) -> None:
        changes, actor, cursor = self.session.services.changes, self.session.actor, self._cursor

        def poll(control: TaskControl) -> LiveUpdate:
            control.check()
            return changes.poll(actor, cursor)

        self._last_poll = time.monotonic()
        task = self.session.runner.submit(
            poll,
            on_done=self._polled,
            on_error=self._failed,
            owner=self,
            description="check for changes",
        )
        task.finished.connect(lambda: self._ended(task))
        self._task = task
        self._stall_timer.start(self.stall_ms)

    def _polled(self, update: LiveUpdate) -> None:
        recovered = self._failures > 0 or self.session.state is not ConnectionState.CONNECTED
        first = self._cursor is None
        if recovered and self._failures:
            log.info("the database answers again after %d failed polls", self._failures)
            self._listen_failures = 0  # LISTEN may have failed only because the server was going
        self._cursor = update.batch.cursor
        self._failures = 0
        self._last_problem = None
        self.session.note_refreshed(update.batch.checked_at)
        if update.actor is not None:
            self.session.set_actor(update.actor)
        batch = update.batch
        if recovered and not first:
            # Anything may have changed while the server was away, and every load that failed
            # meanwhile is still showing its error: refresh everything once.
            batch = ChangeBatch(batch.changes, batch.cursor, batch.checked_at, complete=False)
        if batch:
            self.session.changes_seen.emit(batch)
        self._ensure_listener()

    def _failed(self, error: BaseException) -> None:
        if isinstance(error, AuthenticationError):
            self.stop()  # the main window signs out (it watches every failure)
            return
        if isinstance(error, Unavailable):
            self._failures += 1
            self._drop_listener()
            state = (
                ConnectionState.OFFLINE
                if self._failures >= FAILURES_BEFORE_OFFLINE
                else ConnectionState.RECONNECTING
            )
            self.session.set_state(state)
            # The first failure and the turn to "Offline" are logged; the retries in between and
            # after (every 30 s for as long as the server stays away) only at debug level.
            level = logging.INFO if self._failures in (1, FAILURES_BEFORE_OFFLINE) else logging.DEBUG
            log.log(level, "change poll failed (%d in a row): %s", self._failures, error)
            return
        problem = f"{type(error).__name__}: {error}"
        if problem != self._last_problem:
            self._last_problem = problem
            if isinstance(error, ServiceError):
                log.warning("change poll: %s", error)
            else:
                log.error("change poll failed", exc_info=(type(error), error, error.__traceback__))

    def _stalled(self) -> None:
        """The poll has had no answer for `stall_ms`: say the server is away. The poll goes on
        waiting (a second one would only hang beside it); its answer brings "Connected" back."""
        if self._task is None or self._stopped:
            return
        log.info("the change poll has had no answer for %g s", self.stall_ms / 1000)
        if self.session.state is ConnectionState.CONNECTED:
            self.session.set_state(ConnectionState.RECONNECTING)

    def _ended(self, task: Task[LiveUpdate]) -> None:
        if self._task is not task:
            return  # stopped meanwhile
        self._task = None
        self._stall_timer.stop()
        if self._stopped:
            return
        again, self._again = self._again, False
        if again and self._failures == 0:
            self._schedule(self._wake_delay())
        else:
            self._schedule()

    def _schedule(self, delay_ms: int | None = None) -> None:
        if self._stopped:
            return
        self._poll_timer.start(self._next_delay() if delay_ms is None else delay_ms)

    def _next_delay(self) -> int:
        if self._failures == 0:
            return self.interval_ms
        backoff: int = min(self.max_backoff_ms, self.first_backoff_ms << (self._failures - 1))
        return round(backoff * random.uniform(0.8, 1.2))

    def _wake_delay(self) -> int:
        """How long a woken poll waits: none, unless the last one started a moment ago."""
        since = (time.monotonic() - self._last_poll) * 1000
        return max(0, round(WAKE_GAP_MS - since))

    def _state_changed(self, state: ConnectionState) -> None:
        """Another task found the server gone: probe soon rather than at the next interval."""
        if state is not ConnectionState.CONNECTED and self._failures == 0 and self._task is None:
            self._failures = 1
            self._schedule()

    # -- the wake-up ---------------------------------------------------------------------------

    def _ensure_listener(self) -> None:
        if not self.listen_enabled or self._listener is not None or self._listening or self._stopped:
            return
        if self._listen_failures >= 3:
            return  # e.g. a pooler that refuses LISTEN: polling alone does the job
        changes = self.session.services.changes
        self._listening = True
        self.session.runner.submit(
            lambda _control: changes.listen(),
            on_done=self._listener_ready,
            on_error=self._listen_failed,
            owner=self,
            description="listen for changes",
        ).finished.connect(self._listen_ended)

    def _listen_ended(self) -> None:
        self._listening = False

    def _listener_ready(self, listener: Listener | None) -> None:
        if listener is None:
            self._listen_failures = 3  # nothing to listen to on this database
            return
        if self._stopped or self._failures:
            listener.close()
            return
        self._listen_failures = 0
        self._listener = listener
        self._notifier = QSocketNotifier(listener.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._notified)
        self._notified()  # anything that arrived while LISTEN was being set up

    def _listen_failed(self, error: BaseException) -> None:
        self._listen_failures += 1
        log.info("listening for changes failed (%s); polling every %d s", error, self.interval_ms // 1000)

    def _notified(self) -> None:
        listener = self._listener
        if listener is None:
            return
        try:
            tables = listener.drain()
        except ListenerLost as exc:
            log.info("the change listener was lost (%s)", exc)
            self._drop_listener()
            self.poll_now()  # the poll tells whether the server is still there
            return
        if tables and not self._stopped:
            if self._task is not None:
                self._again = True
            else:
                self._schedule(self._wake_delay())

    def _drop_listener(self) -> None:
        if self._notifier is not None:
            self._notifier.setEnabled(False)
            self._notifier.deleteLater()
            self._notifier = None
        if self._listener is not None:
            try:
                self._listener.close()
            except Exception:  # closing a broken connection: nothing more to lose
                log.debug("closing the change listener failed", exc_info=True)
            self._listener = None

    def _prune(self) -> None:
        changes = self.session.services.changes
        self.session.runner.submit(
            lambda _control: changes.prune(),
            on_done=lambda removed: log.debug("pruned %d old changes", removed),
            on_error=lambda error: log.debug("pruning the change log failed: %s", error),
            owner=self,
            description="trim the change log",
        )
