"""The daily metrics (`sales_metrics`, `customer_metrics`) and the `customers` roll-up, derived from
`order_events` inside the caller's transaction; the only code that writes them."""

from __future__ import annotations
