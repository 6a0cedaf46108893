"""What the alert e-mails say: the daily low-stock digest and "your report is ready".

Pure functions of plain values (no database, no SMTP), so the wording can be read and tested on
its own. Plain text first — every mail reader shows it — with a small HTML alternative of the same
content for readers that prefer it. No links: there is no web server to link to; the mails say
where to look in ecomdesk instead.
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass
from typing import Final

#: Items a digest lists at most; the rest are counted ("… and 12 more"): a mail of thousands of
#: lines is read by nobody, and the inventory list's filter shows them all.
DIGEST_MAX_ITEMS: Final = 50
_NAME_WIDTH: Final = 40
_SUPPLIER_WIDTH: Final = 24


@dataclass(frozen=True)
class LowItem:
    """One low item as the digest lists it."""

    sku: str
    name: str
    available: int
    reorder_level: int
    supplier: str

    @property
    def shortfall(self) -> int:
        return self.reorder_level - self.available


@dataclass(frozen=True)
class MailContent:
    """A message's subject and bodies, before it has a sender and recipient."""

    subject: str
    text: str
    html: str | None = None


def _plural(count: int, one: str, many: str) -> str:
    return f"{count:,} {one if count == 1 else many}"


def _cut(value: str, width: int) -> str:
    return value if len(value) <= width else value[: width - 1] + "…"


def digest_content(shop_name: str, day: dt.date, items: list[LowItem], total: int) -> MailContent:
    """The digest of `day`: `items` are the most urgent low items (largest shortfall first, at most
    `DIGEST_MAX_ITEMS`), `total` how many items are low in all."""
    verb = "is" if total == 1 else "are"
    subject = f"Low stock: {_plural(total, 'item', 'items')} at or below their reorder level — {shop_name}"
    when = f"{day:%A} {day.day} {day:%B %Y}"
    lines = [
        f"Low stock at {shop_name} on {when}: {_plural(total, 'item', 'items')} {verb} at or below "
        "their reorder level (available = stock − reserved), most urgent first.",
        "",
    ]
    header = ("SKU", "Name", "Available", "Reorder level", "Supplier")
    rows = [
        (item.sku, _cut(item.name, _NAME_WIDTH), f"{item.available:,}", f"{item.reorder_level:,}",
         _cut(item.supplier, _SUPPLIER_WIDTH))
        for item in items
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    right = {2, 3}  # numbers right-aligned

    def line(cells: tuple[str, ...]) -> str:
        parts = [
            cell.rjust(w) if i in right else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    lines.append(line(header))
    lines.append("  ".join("-" * w for w in widths))
    lines.extend(line(row) for row in rows)
    more = total - len(items)
    how = 'In ecomdesk: Inventory, filter "Low stock only".'
    lines.append("")
    if more > 0:
        lines.append(f"… and {_plural(more, 'more item', 'more items')}. {how}")
    else:
        lines.append(how)
    lines += [
        "",
        "You get this e-mail because you asked for the daily low-stock digest in ecomdesk "
        "(Settings → E-mail alerts); untick it there to stop it.",
    ]
    text = "\n".join(lines) + "\n"

    cells = "".join(
        "<tr>"
        f"<td>{html.escape(item.sku)}</td><td>{html.escape(item.name)}</td>"
        f'<td align="right">{item.available:,}</td><td align="right">{item.reorder_level:,}</td>'
        f"<td>{html.escape(item.supplier)}</td>"
        "</tr>"
        for item in items
    )
    tail = f"… and {_plural(more, 'more item', 'more items')}. " if more > 0 else ""
    body = (
        "<html><body>"
        f"<p>Low stock at {html.escape(shop_name)} on {html.escape(when)}: "
        f"<b>{_plural(total, 'item', 'items')}</b> {verb} at or below their reorder level "
        "(available = stock − reserved), most urgent first.</p>"
        '<table border="1" cellpadding="4" cellspacing="0">'
        "<tr><th>SKU</th><th>Name</th><th>Available</th><th>Reorder level</th><th>Supplier</th></tr>"
        f"{cells}</table>"
        f"<p>{html.escape(tail + how)}</p>"
        "<p><small>You get this e-mail because you asked for the daily low-stock digest in ecomdesk "
        "(Settings → E-mail alerts); untick it there to stop it.</small></p>"
        "</body></html>"
    )
    return MailContent(subject, text, body)


def _size(size_bytes: int) -> str:
    size = float(size_bytes)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size_bytes:,} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def report_ready_content(
    shop_name: str,
    *,
    report_id: int,
    title: str,
    kind_title: str,
    format: str,
    rows: int,
    size_bytes: int,
    finished_at: dt.datetime,
) -> MailContent:
    """ "Your report is ready": what it is, how big, and where to open it (`finished_at` in the
    shop's time zone). No attachment: the report stays in the database, where access is checked."""
    subject = f"Your report is ready: {title} — {shop_name}"
    text = (
        f'Your report "{title}" ({kind_title}, {format.upper()}) finished on '
        f"{finished_at:%Y-%m-%d at %H:%M} (shop time): {_plural(rows, 'row', 'rows')}, {_size(size_bytes)}.\n"
        "\n"
        "To open it: in ecomdesk, go to Reports, select it and choose Open (a preview) or Save as….\n"
        f"From a terminal: ecomdesk report save {report_id} --out FILE\n"
        "\n"
        "You get this e-mail because you asked to be told when your reports are ready "
        "(ecomdesk: Settings → E-mail alerts); untick it there to stop it.\n"
    )
    return MailContent(subject, text, None)


def probe_content(shop_name: str, host: str, security: str) -> MailContent:
    """`ecomdesk mail test`: proof that the settings work, and which ones were used."""
    subject = f"ecomdesk test message — {shop_name}"
    text = (
        f"This is a test message from ecomdesk for {shop_name}, sent through {host} ({security}).\n"
        "If you can read it, the shop's e-mail alerts can reach you.\n"
    )
    return MailContent(subject, text, None)
