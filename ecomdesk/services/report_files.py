"""The two formats a report is written in, written a batch of rows at a time and read back a row at
a time, so neither generating nor previewing a large report holds it whole.

CSV: a header of column titles, then each value as the lists' CSV export writes it
(`row_table.csv_text`: ISO 8601 UTC times, plain numbers, formula-neutralised text).

JSON: one document, `{"report": kind, "parameters": {…}, "generated_at": ISO time, "columns":
[keys…], "rows": [{key: value, …}, …]}` — counts as numbers, money and other decimals as decimal
strings (exact, unlike floats), days and times in ISO 8601, empty values as null. It is laid out
with the head on the first line and one row per line, which any JSON reader accepts and which lets
`read_rows` stream it back without a streaming JSON parser.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import make_dataclass
from decimal import Decimal
from functools import cache
from typing import Any, Final

from ecomdesk.services.row_table import csv_converter, csv_rows
from ecomdesk.services.tables import FORMULA_PREFIXES, Column, Kind, csv_header

#: Bytes gathered before a chunk is handed on (stored as one `report_chunks` row, or written).
CHUNK_BYTES: Final = 1 << 20


def _json_decimal(value: Any) -> Any:
    """Money and other decimals as exact decimal text ("12.40"), never a float."""
    if isinstance(value, Decimal):
        return format(value, "f")
    return format(Decimal(str(value)), "f") if isinstance(value, int | float) else str(value)


def _json_text(value: Any) -> Any:
    return value if isinstance(value, str) else str(value)


def _json_converter(kind: Kind) -> Callable[[Any], Any]:
    """How one kind's (non-empty) values appear in the JSON document: counts as numbers, decimals
    as text, days and times as ISO 8601 (times in UTC, as in the CSV)."""
    if kind in (Kind.INTEGER, Kind.CHANGE):
        return int
    if kind is Kind.BOOL:
        return bool
    if kind.numeric:
        return _json_decimal
    if kind in (Kind.DATE, Kind.DATETIME):
        return csv_converter(kind)
    return _json_text


class ReportEncoder:
    """Turns rows into the bytes of one report file: `head()`, then `rows(batch)` as often as
    needed, then `tail()`."""

    def __init__(
        self,
        fmt: str,
        *,
        kind: str,
        columns: Sequence[Column],
        parameters: Mapping[str, Any],
        generated_at: dt.datetime,
    ) -> None:
        if fmt not in ("csv", "json"):
            raise ValueError(fmt)
        self.fmt = fmt
        self.kind = kind
        self.columns = tuple(columns)
        self.parameters = dict(parameters)
        self.generated_at = generated_at
        self._keys = [column.key for column in self.columns]
        self._kinds = [column.kind for column in self.columns]
        self._json_converters = [_json_converter(column.kind) for column in self.columns]
        self._first = True

    def head(self) -> bytes:
        if self.fmt == "csv":
            return csv_header(column.title for column in self.columns)
        head = {
            "report": self.kind,
            "parameters": self.parameters,
            "generated_at": csv_converter(Kind.DATETIME)(self.generated_at),
            "columns": self._keys,
        }
        text = json.dumps(head, ensure_ascii=False, separators=(", ", ": "))
        return (text[:-1] + ', "rows": [\n').encode()

    def rows(self, batch: Iterable[Sequence[Any]]) -> bytes:
        if self.fmt == "csv":
            return csv_rows(batch, self._kinds)
        keys, convert = self._keys, self._json_converters
        texts = [
            json.dumps(
                {key: None if v is None else c(v) for key, v, c in zip(keys, row, convert, strict=True)},
                ensure_ascii=False,
                separators=(",", ":"),
            )
            for row in batch
        ]
        if not texts:
            return b""
        text = ",\n".join(texts)
        if not self._first:
            text = ",\n" + text
        self._first = False
        return text.encode()

    def tail(self) -> bytes:
        if self.fmt == "csv":
            return b""
        return b"\n]}\n" if not self._first else b"]}\n"


# -- reading back ---------------------------------------------------------------------------------


class _ChunkStream(io.RawIOBase):
    """A readable byte stream over an iterator of chunks (the stored rows of `report_chunks`)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        super().__init__()
        self._chunks = chunks
        self._chunk = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._chunk:
            try:
                self._chunk = memoryview(next(self._chunks))
            except StopIteration:
                return 0
        size = min(len(buffer), len(self._chunk))
        buffer[:size] = self._chunk[:size]
        self._chunk = self._chunk[size:]
        return size


def _parse(text: Any, kind: Kind, *, from_csv: bool = False) -> Any:
    """A value as written by the encoder, back to its type (None for empty). `from_csv`: text
    from the CSV, where a formula-like value carries a neutralising apostrophe."""
    if text is None or text == "":
        return None
    if kind in (Kind.INTEGER, Kind.CHANGE):
        return int(text)
    if kind.numeric:
        return Decimal(str(text))
    if kind is Kind.DATE:
        return dt.date.fromisoformat(text)
    if kind is Kind.DATETIME:
        return dt.datetime.fromisoformat(text)
    if kind is Kind.BOOL:
        return text if isinstance(text, bool) else text == "true"
    if from_csv and text.startswith("'") and text[1:2] and text[1] in "".join(FORMULA_PREFIXES):
        return text[1:]  # the CSV's neutralising apostrophe is not part of the value
    return text


@cache
def record_type(keys: tuple[str, ...]) -> type:
    """A frozen record class with one attribute per column key (what `RowsTable` pages through)."""
    return make_dataclass("ReportRecord", [(key, Any) for key in keys], frozen=True)


def read_rows(chunks: Iterator[bytes], fmt: str, columns: Sequence[Column]) -> Generator[Any, None, None]:
    """The rows of a stored report file, one record at a time, typed by `columns`."""
    keys = tuple(column.key for column in columns)
    kinds = [column.kind for column in columns]
    record = record_type(keys)
    text = io.TextIOWrapper(io.BufferedReader(_ChunkStream(chunks)), encoding="utf-8", newline="")
    if fmt == "csv":
        reader = csv.reader(text)
        next(reader, None)  # the header
        for fields in reader:
            yield record(*(_parse(v, k, from_csv=True) for v, k in zip(fields, kinds, strict=True)))
        return
    next(text, None)  # the head line
    for line in text:
        line = line.strip().removesuffix(",")
        if not line.startswith("{"):
            continue  # the closing "]}"
        values = json.loads(line)
        yield record(*(_parse(values.get(key), k) for key, k in zip(keys, kinds, strict=True)))
