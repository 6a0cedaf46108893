"""Reference data every database starts with: the permission catalogue, the built-in roles and
the default system settings.

Migrations insert these rows (each migration with its own frozen copy); a test checks that a
database at head holds exactly what this module says.
"""

from __future__ import annotations

from typing import Any, Final

PERMISSIONS: Final[dict[str, str]] = {
    "users.read": "See staff accounts and their profiles",
    "users.write": "Create, edit, deactivate and delete staff accounts; reset their passwords",
    "roles.manage": "Create, rename and delete roles and choose what each role may do",
    "inventory.read": "See inventory items, stock levels and stock history",
    "inventory.write": "Create, edit, import, archive and delete inventory items",
    "inventory.adjust": "Receive, ship, correct, reserve and release stock",
    "analytics.read": "See the dashboard, sales and customer analytics",
    "analytics.write": "Import orders and record analytics events",
    "reports.read": "Open and download reports",
    "reports.generate": "Request, re-run and delete reports",
    "settings.manage": "Change the shop's system settings",
    "audit.read": "See the activity log of every user",
    "snapshot.create": "Take an offline read-only snapshot of the shop's data",
    "integrations.manage": "Manage webhooks and e-mail alerts",
    "sessions.manage": "See and revoke any user's remembered devices",
}

ADMIN: Final = "admin"
MANAGER: Final = "manager"
VIEWER: Final = "viewer"

#: The demo shop's accounts, one per built-in role, named on the demo's sign-in window (kept here,
#: not with the seed, so the sign-in window does not import the seed's numpy machinery).
DEMO_PASSWORD: Final[str] = "demo-shop-password-2026"
DEMO_ACCOUNTS: Final[tuple[tuple[str, str], ...]] = (
    ("admin@demo.shop", ADMIN),
    ("manager@demo.shop", MANAGER),
    ("viewer@demo.shop", VIEWER),
)

#: name → (description, permissions). The admin role always holds every permission.
BUILTIN_ROLES: Final[dict[str, tuple[str, frozenset[str]]]] = {
    ADMIN: ("Everything, including users, roles and system settings", frozenset(PERMISSIONS)),
    MANAGER: (
        "Runs the shop: inventory, analytics, reports; can see staff accounts",
        frozenset(
            {
                "users.read",
                "inventory.read",
                "inventory.write",
                "inventory.adjust",
                "analytics.read",
                "analytics.write",
                "reports.read",
                "reports.generate",
                "audit.read",
                "snapshot.create",
            }
        ),
    ),
    VIEWER: (
        "Reads inventory, analytics and reports; changes nothing",
        frozenset({"inventory.read", "analytics.read", "reports.read"}),
    ),
}

DEFAULT_SETTINGS: Final[dict[str, Any]] = {
    "shop.name": "Demo Shop",
    "shop.currency": "EUR",
    "shop.timezone": "Europe/Berlin",
    "inventory.low_stock_threshold": 10,
    "sessions.lifetime_days": 30,
    "auth.lockout_after_failures": 5,
    "auth.disable_after_failures": 100,
    "auth.max_delay_seconds": 900,
    "webhooks.max_attempts": 8,
    "webhooks.retry_base_seconds": 30,
    "email.smtp_host": "",
    "email.smtp_port": 587,
    "email.smtp_security": "starttls",
    "email.smtp_user": "",
    "email.from_address": "",
    "email.digest_hour": 8,
}
