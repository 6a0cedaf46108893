"""How a cell's value reads on screen: the one place that turns raw values into text by column kind.

The grid, Ctrl+C and anything else that shows a table cell use `display_text`, so a price copied to
the clipboard reads exactly as it does in the cell. Numbers go through Python's exact decimal
formatting and only borrow the locale's separators from QLocale: a Decimal never passes through a
float, so 1234567890.05 never shows as ...0.04999.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from PySide6.QtCore import QDate, QDateTime, QLocale, Qt

from ecomdesk.services.tables import Kind

#: Decimals per kind: money in cents (the currency is the shop's, shown once elsewhere, not per cell).
PLACES = {Kind.MONEY: 2, Kind.PERCENT: 1}
RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
CENTER = Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignVCenter


def alignment(kind: Kind) -> Qt.AlignmentFlag:
    """Numbers line up on their last digit; yes/no sits in the middle; text reads from the left."""
    if kind.numeric:
        return RIGHT
    if kind is Kind.BOOL:
        return CENTER
    return LEFT


def display_text(value: Any, kind: Kind, locale: QLocale) -> str:
    """The text of one cell; NULL is empty (not "None", not "0")."""
    if value is None:
        return ""
    match kind:
        case Kind.INTEGER:
            return number_text(value, 0, locale)
        case Kind.CHANGE:
            text = number_text(value, 0, locale)
            return locale.positiveSign() + text if value > 0 else text
        case Kind.MONEY | Kind.PERCENT | Kind.DECIMAL:
            places = PLACES.get(kind)
            text = number_text(value, places, locale)
            return text + locale.percent() if kind is Kind.PERCENT else text
        case Kind.DATETIME:
            return datetime_text(value, locale)
        case Kind.DATE:
            return date_text(value, locale)
        case Kind.BOOL:
            return "Yes" if value else "No"
    return str(value)


def number_text(value: int | float | Decimal, places: int | None, locale: QLocale) -> str:
    """`value` with the locale's digit grouping, decimal point and minus sign.

    `places` None keeps a Decimal's own precision (trailing zeros trimmed only if it has none).
    """
    if places is None:
        text = f"{value:,}" if isinstance(value, int | Decimal) else f"{value:,.6g}"
    else:
        text = f"{value:,.{places}f}"
    separators: dict[str, str | int | None] = {
        ",": locale.groupSeparator(),
        ".": locale.decimalPoint(),
        "-": locale.negativeSign(),
    }
    return text.translate(str.maketrans(separators))


def date_text(value: dt.date, locale: QLocale) -> str:
    """A calendar day in the locale's short format; no time zone applies to a day."""
    if _unnamed(locale):
        return value.isoformat()
    return locale.toString(QDate(value.year, value.month, value.day), QLocale.FormatType.ShortFormat)


def _unnamed(locale: QLocale) -> bool:
    """The "C" locale (LANG=C, containers, CI) has no date format of its own and writes "26 11 2026":
    ISO 8601 reads better there."""
    return locale.language() == QLocale.Language.C


def datetime_text(value: dt.datetime, locale: QLocale) -> str:
    """Local wall-clock time in the locale's short format. Naive values are taken as UTC (the
    database hands out zone-aware times; a naive one can only have come from a UTC column)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    if _unnamed(locale):
        return value.astimezone().strftime("%Y-%m-%d %H:%M")  # local time
    moment = QDateTime.fromMSecsSinceEpoch(round(value.timestamp() * 1000))  # local time
    return locale.toString(moment, QLocale.FormatType.ShortFormat)
