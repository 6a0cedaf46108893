"""Importing order events (CSV or JSON Lines): the preview and the all-or-nothing commit, which also
recomputes the daily metrics of exactly the days the file touches, in the same transaction."""

from __future__ import annotations

from ecomdesk.services.context import ServiceContext


class OrderImport:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
