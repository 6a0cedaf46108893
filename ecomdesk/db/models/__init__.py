"""Every mapped table, imported in one place so `Base.metadata` is complete."""

from ecomdesk.db.base import Base
from ecomdesk.db.models.analytics import AnalyticsData, CustomerMetric, SalesMetric
from ecomdesk.db.models.audit import AuditEntry
from ecomdesk.db.models.changes import ChangeEntry
from ecomdesk.db.models.files import FileBlob, StoredFile
from ecomdesk.db.models.identity import DeviceSession, Permission, Role, User, UserProfile, role_permissions
from ecomdesk.db.models.integrations import (
    EmailMessage,
    InboundEvent,
    ScheduleMark,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    WorkerHeartbeat,
)
from ecomdesk.db.models.inventory import InventoryItem, MovementKind, StockMovement
from ecomdesk.db.models.jobs import Job
from ecomdesk.db.models.orders import (
    Customer,
    CustomerPeriod,
    ItemSalesDaily,
    OrderEvent,
    OrderLine,
    OrderStatus,
)
from ecomdesk.db.models.reports import Report, ReportChunk
from ecomdesk.db.models.settings import SystemSetting

metadata = Base.metadata

__all__ = [
    "AnalyticsData",
    "AuditEntry",
    "Base",
    "ChangeEntry",
    "Customer",
    "CustomerMetric",
    "CustomerPeriod",
    "DeviceSession",
    "EmailMessage",
    "FileBlob",
    "InboundEvent",
    "InventoryItem",
    "ItemSalesDaily",
    "Job",
    "MovementKind",
    "OrderEvent",
    "OrderLine",
    "OrderStatus",
    "Permission",
    "Report",
    "ReportChunk",
    "Role",
    "SalesMetric",
    "ScheduleMark",
    "StockMovement",
    "StoredFile",
    "SystemSetting",
    "User",
    "UserProfile",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
    "WorkerHeartbeat",
    "metadata",
    "role_permissions",
]
