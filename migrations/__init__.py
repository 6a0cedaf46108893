"""Alembic migrations (installed as `ecomdesk.migrations`)."""
