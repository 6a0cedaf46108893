"""Live updates for a signed-in app: what others changed since the last look, and whether the
person at this computer may still do what they could a moment ago.

A poll is one indexed statement on the change log (`ecomdesk.db.changes`). Only when it names a
table that shapes the signed-in user's rights (their account, profile, role, the role's
permissions, their device sessions) is the user re-read, so a changed role reaches their app within
one poll and a revoked sign-in ends it — at no cost while nothing of the kind happens.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import Final

from ecomdesk.db.changes import (
    RETENTION,
    Change,
    ChangeBatch,
    ChangeCursor,
    ChangeFeed,
    Listener,
    ListenerLost,
    open_listener,
)
from ecomdesk.services.context import Actor, ServiceContext, database_errors

__all__ = [
    "IDENTITY_TABLES",
    "Change",
    "ChangeBatch",
    "ChangeCursor",
    "ChangeService",
    "Listener",
    "ListenerLost",
    "LiveUpdate",
]

#: The tables whose changes may change what a signed-in user is or may do.
IDENTITY_TABLES: Final = frozenset({"users", "user_profiles", "roles", "role_permissions", "device_sessions"})


@dataclass(frozen=True)
class LiveUpdate:
    batch: ChangeBatch
    #: The signed-in user as the database says now, when that differs from the actor polled with
    #: (another role, other permissions, another name); None when nothing about them changed.
    actor: Actor | None = None


class ChangeService:
    def __init__(self, ctx: ServiceContext, tables: Collection[str] | None = None) -> None:
        self.ctx = ctx
        self.feed = ChangeFeed(ctx.engine, tables)

    def start(self) -> ChangeCursor:
        """A cursor at now: the next poll reports what changes after this call."""
        with database_errors():
            return self.feed.start()

    def poll(self, actor: Actor | None, cursor: ChangeCursor | None) -> LiveUpdate:
        """What changed since `cursor` (None: start now), and the actor anew if that may have changed.

        Raises `AuthenticationError` when the actor's sign-in ended (revoked, expired, account
        deactivated or locked) and `Unavailable` when the server cannot be reached.
        """
        with database_errors():
            batch = self.feed.poll(cursor)
        fresh = None
        if actor is not None and cursor is not None and batch.touches(IDENTITY_TABLES):
            with self.ctx.read(actor, None) as uow:
                fresh = uow.actor
            if fresh == actor:
                fresh = None
        return LiveUpdate(batch, fresh)

    def listen(self) -> Listener | None:
        """A connection that is told when something changes (None where nothing is tracked)."""
        with database_errors():
            return open_listener(self.ctx.engine)

    def prune(self, keep: dt.timedelta = RETENTION) -> int:
        """Forget changes older than `keep` (nothing on a read-only connection)."""
        if self.ctx.read_only:
            return 0
        with database_errors():
            return self.feed.prune(keep)
