"""Profiling an unknown extract table for ``deepvalue init``: how the file is laid out (encoding,
delimiter, lines above the header, decimal mark, sheet) and what each column holds (dates and
their format, numbers, 0/1 values, labels, identifiers).

The file is then read by :func:`deepvalue.extract.read.read_raw_table`, the reader the ingest
uses, with the layout found here, so a layout that reads here reads in the workflow too. Columns
are profiled on an evenly spaced sample of rows (deterministic: the same file gives the same
profile).
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from deepvalue.core.errors import ExtractError, Problem
from deepvalue.extract.identifiers import identifier_column_kind, identifier_value_hits
from deepvalue.extract.read import (
    ReadProblem,
    _fields,
    _head_lines,
    _is_text,
    parse_binary,
    parse_numbers,
    read_raw_table,
)

ColumnKind = Literal["empty", "date", "binary", "number", "text"]

#: Rows of a table looked at for its columns' contents.
SAMPLE_ROWS = 20_000
_DELIMITERS = (",", ";", "\t", "|")
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")

# A text date starts with three numbers (2024-03-01, 01/03/2024) or a day, a month name and a year.
_DATE_SHAPE = re.compile(r"^\s*(\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}|\d{1,2}[-/ .][A-Za-z]{3,9}[-/ .]\d{2,4})")
#: Day-first formats and their month-first twins (None: no twin). Tried in this order after ISO 8601.
DAY_FIRST_FORMATS: tuple[tuple[str, str | None], ...] = (
    ("%d/%m/%Y", "%m/%d/%Y"),
    ("%d/%m/%y", "%m/%d/%y"),
    ("%d-%m-%Y", "%m-%d-%Y"),
    ("%d.%m.%Y", None),
    ("%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M"),
    ("%d/%m/%Y %H:%M:%S", "%m/%d/%Y %H:%M:%S"),
    ("%d %b %Y", None),
    ("%d-%b-%Y", None),
    ("%d-%b-%y", None),
    ("%d %B %Y", None),
    ("%Y/%m/%d", None),
)
_COMMA_DECIMAL = re.compile(r"^-?(\d{1,3}(\.\d{3})+|\d+)(,\d+)?$")
_POINT_DECIMAL = re.compile(r"^-?\d+\.\d+$")


@dataclass(frozen=True)
class Layout:
    """How a table's file is to be read: the keys of ``extract.<table>`` besides the columns."""

    encoding: str | None = None  # None: UTF-8 (or UTF-16 with its byte-order mark), the reader's default
    delimiter: str = ","
    skip_rows: int = 0
    decimal: str = "."
    sheet: str | None = None  # XLSX: None = the first sheet


@dataclass(frozen=True)
class DateFormat:
    """A date column's format: ``fmt`` None = ISO 8601 or real dates; ``ambiguous`` when every day
    is at most 12, so month-first (``other``) reads the column too."""

    fmt: str | None
    typed: bool = False
    ambiguous: bool = False
    other: str | None = None


@dataclass(frozen=True)
class ColumnProfile:
    """What a column of the sample holds."""

    name: str
    norm: str
    kind: ColumnKind
    rows: int
    missing: int
    distinct: int
    integer: bool = False
    date: DateFormat | None = None
    identifier: str | None = None  # the kind of direct identifier its name or values suggest
    examples: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None

    @property
    def present(self) -> int:
        return self.rows - self.missing

    @property
    def unique(self) -> bool:
        return self.present > 0 and self.distinct == self.present


@dataclass
class TableProfile:
    """A table as read (every row) with its layout and the profile of each column (from a sample)."""

    name: str
    path: Path
    layout: Layout
    table: pa.Table
    columns: dict[str, ColumnProfile] = field(default_factory=dict)


def normalise_name(column: str) -> str:
    """A column name as lower-case words joined by underscores ("ClientRef" -> "client_ref").

    >>> normalise_name("Key Worker"), normalise_name("ClientRef"), normalise_name("  Start-Date ")
    ('key_worker', 'client_ref', 'start_date')
    """
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", column.strip())
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


# ----------------------------------------------------------------------------------------------
# layout


def sniff_encoding(path: Path) -> str | None:
    """None when the file is UTF-8 (or starts with a UTF-16 byte-order mark), else cp1252 or latin-1."""
    with open(path, "rb") as fh:
        if fh.read(2) in _UTF16_BOMS:
            return None
        fh.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            while chunk := fh.read(1 << 24):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
            return None
        except UnicodeDecodeError:
            pass
    try:
        path.read_bytes().decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:  # cp1252 leaves five bytes undefined; latin-1 reads any byte
        return "latin-1"


def sniff_csv_layout(path: Path, encoding: str | None) -> tuple[str, int]:
    """(delimiter, lines above the header) from the first lines of a CSV.

    The delimiter is the one that splits most lines into the same number (> 1) of fields; the
    header is the first line of that width whose fields are all filled in (a title line, even one
    padded with delimiters by Excel, has empty fields).
    """
    lines = _head_lines(path, encoding or ("utf-16" if _bom(path) else "utf-8"), 40)
    best, best_score = ",", (-1, -1)
    for delim in _DELIMITERS:
        widths = [len(_fields(ln, delim)) if ln.strip() else 0 for ln in lines]
        filled = [w for w in widths if w > 1]
        if not filled:
            continue
        modal = max(set(filled), key=lambda w: (filled.count(w), w))
        score = (filled.count(modal), modal)
        if score > best_score:
            best, best_score = delim, score
    width = best_score[1]
    for i, line in enumerate(lines):
        fields = _fields(line, best) if line.strip() else []
        if len(fields) == width and all(f.strip() for f in fields):
            return best, i
    return best, 0


def _bom(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) in _UTF16_BOMS


def sniff_xlsx_layout(path: Path, words: tuple[str, ...]) -> tuple[str | None, int]:
    """(sheet, rows above the header) of a workbook: the sheet whose header row has most column
    names among `words` (normalised), then the widest; None = the first sheet."""
    from openpyxl import load_workbook

    book = load_workbook(path, read_only=True, data_only=True)
    try:
        scored = []
        for i, ws in enumerate(book.worksheets):
            rows = [
                [c for c in r if c is not None and str(c).strip()] for r in ws.iter_rows(max_row=10, values_only=True)
            ]
            widths = [len(r) for r in rows]
            if not widths or max(widths) < 1:
                continue
            header = next(j for j, w in enumerate(widths) if w == max(widths))
            hits = sum(normalise_name(str(c)) in words for c in rows[header])
            scored.append(((hits, max(widths), -i), ws.title, header, i))
    finally:
        book.close()
    if not scored:
        return None, 0
    _, title, header, index = max(scored)
    return (None if index == 0 else title), header


def _decimal(table: pa.Table) -> str:
    """ "," when some text column holds numbers written 1,5 (or 1.234,5) and none holds 1.5."""
    comma = point = False
    for name in table.column_names:
        arr = table[name]
        if not _is_text(arr):
            continue
        values = pd.Series(pc.unique(arr.slice(0, SAMPLE_ROWS)).drop_null().to_pylist(), dtype=object).str.strip()
        values = values[values != ""]
        if values.empty:
            continue
        if values.str.match(_POINT_DECIMAL).all():
            point = True
        elif values.str.match(_COMMA_DECIMAL).all() and values.str.contains(",").any():
            comma = True
    return "," if comma and not point else "."


def read_table(
    name: str, path: str | Path, missing_values: tuple[str, ...], words: tuple[str, ...] = ()
) -> TableProfile:
    """Find a table file's layout, read it with the ingest's reader and profile its columns.

    Raises
    ------
    ExtractError
        When the file is missing or cannot be read even with the layout found.
    """
    path = Path(path)
    if not path.is_file():
        raise ExtractError(
            [Problem(name, None, f"file not found: {path}", f"give the path of the {name} table")],
            headline="init cannot read a table",
        )
    suffix = path.suffix.lower()
    if suffix in (".tsv", ".tab", ".txt"):
        raise ExtractError(
            [
                Problem(
                    name,
                    None,
                    f"the extract's tables are read as .csv, .xlsx or .parquet files, not {suffix}",
                    f"rename the file to {path.stem}.csv (any delimiter: init finds it and writes delimiter: "
                    '"\\t" for tabs)',
                    path=str(path),
                )
            ],
            headline="init cannot read a table",
        )
    layout = Layout()
    if suffix == ".csv":
        encoding = sniff_encoding(path)
        delimiter, skip = sniff_csv_layout(path, encoding)
        layout = Layout(encoding=encoding, delimiter=delimiter, skip_rows=skip)
    elif suffix == ".xlsx":
        sheet, skip = sniff_xlsx_layout(path, words)
        layout = Layout(sheet=sheet, skip_rows=skip)
    try:
        raw = read_raw_table(
            path,
            layout.sheet,
            encoding=layout.encoding,
            delimiter=layout.delimiter,
            skip_rows=layout.skip_rows,
            missing_values=missing_values,
            key=f"extract.{name}",
        )
    except ReadProblem as exc:
        raise ExtractError(
            [Problem(name, exc.column, exc.message, exc.fix, rows=exc.rows, path=str(path))],
            headline="init cannot read a table",
        ) from None
    table = raw.table
    if suffix == ".csv":
        layout = Layout(layout.encoding, layout.delimiter, layout.skip_rows, _decimal(table), None)
    sample = sample_rows(table)
    columns = {c: profile_column(c, sample[c], layout.decimal) for c in table.column_names}
    return TableProfile(name, path, layout, table, columns)


def sample_rows(table: pa.Table, n: int = SAMPLE_ROWS) -> pa.Table:
    """At most `n` evenly spaced rows (all of a small table), the same rows for the same table."""
    if table.num_rows <= n:
        return table
    return table.take(pa.array(np.linspace(0, table.num_rows - 1, n).round().astype(np.int64)))


# ----------------------------------------------------------------------------------------------
# columns


def detect_date_format(arr: pa.ChunkedArray | pa.Array) -> DateFormat | None:
    """The format that reads every non-empty value of a column as a date, or None.

    Real dates (Parquet, XLSX date cells) need no format; text is tried as ISO 8601, then the
    formats of :data:`DAY_FIRST_FORMATS`. Day-first wins when every day is at most 12 (01/02/2024
    reads both ways), and the format is then marked ``ambiguous``.
    """
    if pa.types.is_date(arr.type) or pa.types.is_timestamp(arr.type):
        return DateFormat(None, typed=True)
    if not _is_text(arr):
        return None
    distinct = pd.Series(pc.unique(arr).drop_null().to_pylist(), dtype=object).str.strip()
    distinct = distinct[distinct != ""]
    if distinct.empty or not distinct.str.match(_DATE_SHAPE).all():
        return None

    def reads(fmt: str) -> bool:
        return not pd.to_datetime(distinct, format=fmt, errors="coerce").isna().any()

    if reads("ISO8601"):
        return DateFormat(None)
    for day_first, month_first in DAY_FIRST_FORMATS:
        if reads(day_first):
            both = month_first is not None and reads(month_first)
            return DateFormat(day_first, ambiguous=both, other=month_first if both else None)
        if month_first is not None and reads(month_first):
            return DateFormat(month_first)
    return None


def profile_column(name: str, arr: pa.ChunkedArray, decimal: str = ".") -> ColumnProfile:
    """The kind of a column (date, 0/1, number, text, empty) with its counts and a few examples."""
    if _is_text(arr):
        text = pc.utf8_trim_whitespace(arr)
        arr = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
    rows, missing = len(arr), arr.null_count
    distinct = int(pc.count_distinct(arr).as_py()) if rows else 0
    shown = tuple(str(v) for v in pc.unique(arr).drop_null().slice(0, 3).to_pylist())
    base = {"name": name, "norm": normalise_name(name), "rows": rows, "missing": missing, "distinct": distinct}
    base["identifier"] = identifier_column_kind(name) or next(iter(identifier_value_hits(arr)), None)
    base["examples"] = shown
    if rows == missing:
        return ColumnProfile(kind="empty", **base)
    date = detect_date_format(arr)
    if date is not None:
        return ColumnProfile(kind="date", date=date, **base)
    if not pa.types.is_boolean(arr.type):
        numbers, bad = parse_numbers(arr, decimal)
        if bad.size == 0 and np.isfinite(numbers).any():
            valid = numbers[~np.isnan(numbers)]
            integer = bool(np.all(valid == np.round(valid)))
            kind: ColumnKind = "binary" if np.isin(valid, (0.0, 1.0)).all() else "number"
            return ColumnProfile(
                kind=kind, integer=integer, minimum=float(valid.min()), maximum=float(valid.max()), **base
            )
    _, bad = parse_binary(arr)
    if bad.size == 0 and distinct <= 2:
        return ColumnProfile(kind="binary", **base)
    return ColumnProfile(kind="text", **base)
