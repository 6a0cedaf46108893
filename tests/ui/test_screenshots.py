"""`ecomdesk screenshots`: every window and every registered page, light and dark, as real PNGs."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from PySide6.QtGui import QImage

from ecomdesk.cli import main
from ecomdesk.connect import DEMO_PASSWORD
from ecomdesk.db.models import MovementKind
from ecomdesk.services.inventory import ItemFields
from ecomdesk.services.registry import Services
from ecomdesk.services.stock import Adjustment
from ecomdesk.ui.pages import page_specs
from tests.services.conftest import MakeUser

WINDOWS = [
    "connection",
    "profile",
    "login",
    "login-refused",
    "change-password",
    "message-bar",
    "crash",
    "user-dialog-error",
    "my-profile",
    "my-devices",
    "item-dialog-error",
    "import-preview",
    "item-conflict",
    "stock-adjust",
    "dashboard-day",
    "dashboard-week",
    "dashboard-month",
    "orders-import",
    "dashboard-trace",
    "new-report",
    "report-preview",
    "activity-details",
    "endpoint-dialog-error",
    "endpoint-secret",
    "integrations-email",
    "create-snapshot",
    "create-snapshot-done",
    "snapshot-dashboard",
    "snapshot-inventory",
    "snapshot-details",
]


def _distinct_colours(image: QImage) -> int:
    """Colours on a coarse grid over the image: a blank or one-colour grab has one or two."""
    step_x, step_y = max(1, image.width() // 40), max(1, image.height() // 40)
    return len(
        {image.pixel(x, y) for x in range(0, image.width(), step_x) for y in range(0, image.height(), step_y)}
    )


def test_screenshots_photograph_every_window_and_page_in_both_themes(
    tmp_path: Path,
    database_url: str,
    services: Services,
    make_user: MakeUser,
    capsys: pytest.CaptureFixture[str],
) -> None:
    admin = make_user(
        "admin", email="admin@demo.shop", first_name="Demo", last_name="Admin", password=DEMO_PASSWORD
    )
    for sku, stock in (("MUG-1", 3), ("MUG-2", 40)):  # one low on stock, with a movement of history
        fields = ItemFields(sku, "Mug", "Kitchen", "Acme", Decimal("9.00"), Decimal("3.00"))
        services.inventory.create_item(admin, fields, stock=stock)
    services.stock.adjust(admin, "MUG-1", Adjustment(MovementKind.SHIP, 1, "Order 1"))
    out = tmp_path / "shots"
    assert main(["screenshots", "--out", str(out), "--database-url", database_url]) == 0
    printed = capsys.readouterr().out.split()
    names = WINDOWS + [spec.key for spec in page_specs()]
    expected = {f"{name}-{theme}.png" for name in names for theme in ("light", "dark")}
    assert expected <= {path.name for path in out.iterdir()}
    assert {Path(p).name for p in printed} >= expected
    for name in ("connection-light.png", "login-dark.png", "inventory-light.png", "settings-dark.png"):
        image = QImage(str(out / name))
        assert not image.isNull(), name
        assert image.width() > 300 and image.height() > 200, name
        assert _distinct_colours(image) > 8, f"{name} looks blank"
    light, dark = QImage(str(out / "dashboard-light.png")), QImage(str(out / "dashboard-dark.png"))
    corner = (light.width() // 2, light.height() // 3)  # the page's background
    assert light.pixelColor(*corner).lightness() > 128 > dark.pixelColor(*corner).lightness()


def test_screenshots_without_the_demo_administrator_say_what_they_need(
    tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["screenshots", "--out", str(tmp_path), "--database-url", database_url]) == 2
    assert "sign in as the demo administrator" in capsys.readouterr().err
