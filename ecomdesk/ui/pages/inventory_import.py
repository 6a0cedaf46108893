"""Importing inventory items from a CSV file: the import dialog (`ui.pages.import_dialog`) with the
inventory's service, words and preview columns."""

from __future__ import annotations

from typing import Final

from PySide6.QtWidgets import QWidget

from ecomdesk.services.inventory_import import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, ImportRejected
from ecomdesk.services.listing import SortKey
from ecomdesk.services.tables import Column, FilterKind, FilterSpec, Kind, TableSpec
from ecomdesk.ui.pages import import_dialog
from ecomdesk.ui.pages.import_dialog import FILE_TITLE, STOPPED, ImportKind
from ecomdesk.ui.session import AppSession

__all__ = ["FILE_TITLE", "INVENTORY_IMPORT", "NOTHING_TO_IMPORT", "STOPPED", "ImportDialog"]

NOTHING_TO_IMPORT: Final = "Nothing to import: every row matches the inventory already."

ROWS_SPEC: Final = TableSpec(
    name="inventory-import-rows",
    title="Rows",
    singular="row",
    plural="rows",
    columns=(
        Column("line", "Line", Kind.INTEGER),
        Column("action_label", "Action"),
        Column("sku", "SKU"),
        Column("name", "Name"),
        Column("category", "Category"),
        Column("supplier", "Supplier"),
        Column("stock", "Stock", Kind.INTEGER),
        Column("reserved", "Reserved", Kind.INTEGER),
        Column("price", "Price", Kind.MONEY),
        Column("cost", "Cost", Kind.MONEY),
        Column("reorder_level", "Reorder level", Kind.INTEGER),
        Column("changes", "Changes"),
        Column("problems", "Problems"),
    ),
    default_sort=(SortKey("line"),),
    filters=(
        FilterSpec("problems", "Problems", FilterKind.FLAG, ("Problems only", "No problems")),
        FilterSpec("action_label", "Action", FilterKind.CHOICE),
    ),
    search_hint="Search SKU, name, category, supplier",
)
ROW_SEARCH: Final = ("sku", "name", "category", "supplier", "changes", "problems")

INVENTORY_IMPORT: Final = ImportKind(
    title="Import inventory items",
    explanation=(
        f"A CSV file with a header row and the columns {', '.join(REQUIRED_COLUMNS)} (and optionally "
        f"{', '.join(OPTIONAL_COLUMNS)}). Items are matched by SKU: new SKUs are created, known ones "
        "updated. The import is all or nothing."
    ),
    service=lambda session: session.services.importer,
    rows_spec=ROWS_SPEC,
    row_search=ROW_SEARCH,
    rejected=ImportRejected,
    singular="item",
    plural="items",
    nothing_to_import=NOTHING_TO_IMPORT,
    changed_since="The inventory changed since the preview.",
    directory_key="inventory/import_directory",
)


class ImportDialog(import_dialog.ImportDialog):
    """The import dialog for inventory items."""

    def __init__(self, session: AppSession, parent: QWidget | None = None) -> None:
        super().__init__(session, INVENTORY_IMPORT, parent)
