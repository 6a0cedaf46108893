"""ecomdesk: the desktop back office of an online shop, working straight against PostgreSQL."""

__version__ = "0.1.0"
APP_NAME = "ecomdesk"
#: The reverse-DNS id of the desktop entry, AppStream metainfo and icon (packaging/linux/).
APP_ID = "shop.ecomdesk.ecomdesk"
