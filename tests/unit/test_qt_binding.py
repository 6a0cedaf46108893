"""PySide6 6.12.0 on Python 3.11 drops a reference to None on every void call; painting a chart
then aborts the interpreter within seconds. The pin in pyproject.toml avoids it; this proves it."""

from __future__ import annotations

import sys

from PySide6.QtCore import QLineF
from PySide6.QtGui import QColor, QImage, QPainter, QPen


def test_void_qt_calls_do_not_drain_references_to_none():
    image = QImage(64, 64, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    pen = QPen(QColor("steelblue"))
    line = QLineF(0, 0, 63, 63)
    # Few enough calls that a leaking binding shows as a failed assertion, not as an abort when
    # None's count reaches zero.
    calls = min(2_000, sys.getrefcount(None) // 8)
    try:
        before = sys.getrefcount(None)
        for _ in range(calls):
            painter.setPen(pen)  # void
            painter.drawLine(line)  # void
        after = sys.getrefcount(None)
    finally:
        painter.end()
    # A leaking binding loses one reference per void call (2 × calls here); allow noise only.
    assert before - after < calls // 10, f"None lost {before - after} references over {2 * calls} calls"
