"""Reading an extract's files (CSV, Parquet, XLSX) into arrow tables, and parsing their text
columns into dates, numbers and 0/1 values with the positions of what does not parse.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

BINARY_TRUE = {"1", "1.0", "true", "t", "y", "yes"}
BINARY_FALSE = {"0", "0.0", "false", "f", "n", "no"}


# ----------------------------------------------------------------------------------------------
# reading


def _csv_header(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        first = fh.readline()
    return next(csv.reader(io.StringIO(first)), [])


def read_raw_table(path: Path, sheet: str | int | None = None) -> pa.Table:
    """Read a table with every column as text (CSV, XLSX) or as stored (Parquet).

    Text first, then our own parsing, so that a bad value is reported with its row instead of
    failing the whole read.
    """
    suffix = path.suffix.lower()
    if suffix == ".csv":
        header = _csv_header(path)
        dup = sorted({h for h in header if header.count(h) > 1})
        if dup:
            raise ValueError(f"the header repeats column name(s) {', '.join(map(repr, dup))}")
        convert = pacsv.ConvertOptions(
            column_types={h: pa.string() for h in header},
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        )
        read = pacsv.ReadOptions(use_threads=True, block_size=1 << 24)
        return pacsv.read_csv(path, read_options=read, convert_options=convert)
    if suffix in (".parquet", ".pq"):
        return pq.read_table(path)
    if suffix == ".xlsx":
        frame = pd.read_excel(path, sheet_name=0 if sheet is None else sheet, dtype=str, engine="openpyxl")
        frame.columns = [str(c) for c in frame.columns]
        return pa.Table.from_pandas(frame.astype(object).where(frame.notna(), None), preserve_index=False)
    raise ValueError(f"unsupported file type '{path.suffix}'")


# ----------------------------------------------------------------------------------------------
# parsing helpers: each returns the typed values and the positions of unparseable entries


def _is_text(arr: pa.ChunkedArray) -> bool:
    return pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)


def _null_positions(arr: pa.ChunkedArray) -> np.ndarray:
    return np.flatnonzero(np.asarray(pc.is_null(arr).to_numpy(zero_copy_only=False), dtype=bool))


def _blank_to_null(arr: pa.ChunkedArray) -> pa.ChunkedArray:
    """Trimmed text with empty cells as null (CSV and Parquet exports spell 'missing' both ways)."""
    text = pc.utf8_trim_whitespace(arr)
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)


def _mask_positions(mask) -> np.ndarray:
    return np.flatnonzero(np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool))


_OFFSET = r"(Z|[+-]\d{2}:?\d{2})$"


class MixedOffsetsError(ValueError):
    """A date column whose values carry different UTC offsets (``positions``: rows with one)."""

    def __init__(self, positions: np.ndarray, offsets: list[str]) -> None:
        super().__init__(f"different UTC offsets: {', '.join(offsets)}")
        self.positions, self.offsets = positions, offsets


def parse_dates(arr: pa.ChunkedArray, date_format: str | None) -> tuple[pa.Array, np.ndarray]:
    """Dates as date32 and positions of non-empty values that are not dates.

    ISO 8601 (``2024-03-01``, also with a time part) when `date_format` is None, else the strftime
    format. A time of day is dropped: the pipeline works in days. With a UTC offset the local
    calendar date is kept (``2021-01-04T10:00:00+01:00`` is 4 January); values with different
    offsets in one column raise :class:`MixedOffsetsError`. Only the distinct strings are
    parsed (an extract of millions of contacts has a few thousand distinct dates), strictly, by
    pandas: arrow's own parser is faster per value but rolls impossible dates over (2024-02-30
    becomes 1 March).
    """
    if pa.types.is_date(arr.type):
        return pc.cast(arr, pa.date32()).combine_chunks(), np.array([], dtype=np.int64)
    if pa.types.is_timestamp(arr.type):
        days = pc.floor_temporal(arr, unit="day")
        return pc.cast(days, pa.date32(), safe=False).combine_chunks(), np.array([], dtype=np.int64)
    if not _is_text(arr):
        return pa.nulls(len(arr), pa.date32()), _mask_positions(pc.is_valid(arr))
    enc = pc.dictionary_encode(_blank_to_null(arr))
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.combine_chunks()
    distinct = pd.Series(enc.dictionary.to_pylist(), dtype=object)
    if date_format is None:
        # A UTC offset ("2021-01-04T10:00:00+01:00", "...Z") is the clock the record was made on:
        # keep its local calendar date (converting to UTC first moved 10:00+01:00 to the day before).
        # Different offsets in one column are refused: which calendar is meant is unclear.
        offsets = distinct.astype(str).str.extract(_OFFSET, expand=False)
        kinds = sorted(set(offsets.dropna()))
        if len(kinds) > 1:
            codes = np.asarray(pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False))
            rows = np.flatnonzero(np.isin(codes, np.flatnonzero(offsets.notna().to_numpy())))
            raise MixedOffsetsError(rows, kinds)
        if kinds:
            distinct = distinct.astype(str).str.replace(_OFFSET, "", regex=True)
    parsed = pd.to_datetime(distinct, format=date_format or "ISO8601", errors="coerce")
    days = parsed.dt.floor("D").to_numpy(dtype="datetime64[D]")
    bad_distinct = np.flatnonzero(np.isnat(days))
    out = pc.take(pa.array(days, type=pa.date32(), from_pandas=True), enc.indices)
    codes = np.asarray(pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False))
    bad = np.flatnonzero(np.isin(codes, bad_distinct)) if bad_distinct.size else np.array([], dtype=np.int64)
    return out, bad


def parse_numbers(arr: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Float64 values (NaN for empty) and positions of non-empty values that are not numbers."""
    if pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type) or pa.types.is_boolean(arr.type):
        vals = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
        return np.asarray(vals, dtype=float), np.array([], dtype=np.int64)
    if _is_text(arr):
        arr = _blank_to_null(arr)
        try:
            # arrow parses clean text 10x faster than pandas; the first bad value makes it raise,
            # and pandas then finds every bad row
            vals = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
            return np.asarray(vals, dtype=float), np.array([], dtype=np.int64)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    series = pd.Series(arr.to_pandas(), copy=False)
    text = series.str.strip() if _is_text(arr) else series.astype(str)
    vals = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = np.flatnonzero(np.isnan(vals) & series.notna().to_numpy() & (text.str.lower() != "nan").to_numpy())
    return vals, bad


def parse_binary(arr: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """0/1 as float64 (NaN for empty); accepts 0/1, true/false, t/f, y/n, yes/no in any case."""
    if pa.types.is_boolean(arr.type) or pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type):
        vals = np.asarray(pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False), dtype=float)
        bad = np.flatnonzero(~np.isnan(vals) & ~np.isin(vals, (0.0, 1.0)))
        return vals, bad
    text = pd.Series(_blank_to_null(arr).to_pandas(), copy=False).str.lower()
    vals = np.full(len(text), np.nan)
    vals[text.isin(BINARY_TRUE).to_numpy()] = 1.0
    vals[text.isin(BINARY_FALSE).to_numpy()] = 0.0
    bad = np.flatnonzero(np.isnan(vals) & text.notna().to_numpy())
    return vals, bad


def _text(arr: pa.ChunkedArray) -> pa.Array:
    """Identifiers and labels as trimmed text, whatever type the file stored them as."""
    if not _is_text(arr):
        arr = pc.cast(arr, pa.string())
    out = pc.utf8_trim_whitespace(arr)
    out = pc.if_else(pc.equal(out, ""), pa.scalar(None, pa.string()), out)
    return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out


def _pd(arr: pa.Array | pa.ChunkedArray) -> pd.Series:
    """A pandas Series from an arrow array, with dates as datetime64 (not Python objects)."""
    return pd.Series(arr.to_pandas(date_as_object=False), copy=False)


def _sample_values(arr: pa.ChunkedArray | pa.Array, positions: np.ndarray, n: int = 3) -> str:
    vals = pc.take(arr, pa.array(positions[:n])).to_pylist()
    return ", ".join(repr(v) for v in vals)
