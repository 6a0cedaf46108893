"""ecomdesk: the desktop back office of an online shop, working straight against PostgreSQL."""

__version__ = "0.1.0"
APP_NAME = "ecomdesk"
