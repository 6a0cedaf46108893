"""The grid engine every list in the app uses: one paged model, one formatter, one view, one export."""

from ecomdesk.ui.grid.export import AskExport, ExportChoice, ExportDialog, ExportRequest
from ecomdesk.ui.grid.model import KindRole, PagedTableModel, RowRole, RowStyle, RowStyleRole, SortRole
from ecomdesk.ui.grid.view import GridView

__all__ = [
    "AskExport",
    "ExportChoice",
    "ExportDialog",
    "ExportRequest",
    "GridView",
    "KindRole",
    "PagedTableModel",
    "RowRole",
    "RowStyle",
    "RowStyleRole",
    "SortRole",
]
