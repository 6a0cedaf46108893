"""Importing order events from CSV or JSON Lines: the import dialog (`ui.pages.import_dialog`) with
the order service, its words and preview columns. The daily metrics of the touched days are
recomputed by the same commit, so the dashboard shows the file's orders as soon as it refreshes."""

from __future__ import annotations

from typing import Final

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from ecomdesk.services.orders import ORDER_IMPORT_SEARCH, ORDER_IMPORT_SPEC, OrdersRejected
from ecomdesk.ui.pages.import_dialog import ImportDialog, ImportKind
from ecomdesk.ui.session import AppSession

ORDERS_IMPORT: Final = ImportKind(
    title="Import orders",
    explanation=(
        "A CSV file with the columns order_id, customer_id, channel, amount, currency, status "
        "(paid, refunded, pending or cancelled) and occurred_at (ISO 8601 with its offset), or a JSON "
        "Lines file with the same keys; optionally lines and metadata. Orders are matched by order id, "
        "so a file can be imported again safely. The import is all or nothing, and the daily figures "
        "of the days it touches are recomputed with it."
    ),
    service=lambda session: session.services.orders,
    rows_spec=ORDER_IMPORT_SPEC,
    row_search=ORDER_IMPORT_SEARCH,
    rejected=OrdersRejected,
    singular="order event",
    plural="order events",
    nothing_to_import="Nothing to import: every order in the file is known already.",
    changed_since="The orders changed since the preview.",
    directory_key="orders/import_directory",
    file_filter="Order files (*.csv *.jsonl *.ndjson);;CSV files (*.csv);;JSON Lines (*.jsonl *.ndjson);;"
    "All files (*)",
    file_kind="CSV or JSON Lines",
)


def open_orders_import(session: AppSession, parent: QWidget | None = None) -> ImportDialog:
    """Open the orders import dialog over `parent`'s window (deleted when closed) and return it, so
    the caller can listen to `imported` and refresh what it shows."""
    dialog = ImportDialog(session, ORDERS_IMPORT, parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()
    return dialog
