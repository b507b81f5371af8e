"""Reading an extract's files (CSV, Parquet, XLSX) into arrow tables, and parsing their text
columns into dates, numbers and 0/1 values with the positions of what does not parse.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import mmap
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from deepvalue.core.errors import did_you_mean

BINARY_TRUE = {"1", "1.0", "true", "t", "y", "yes"}
BINARY_FALSE = {"0", "0.0", "false", "f", "n", "no"}


# ----------------------------------------------------------------------------------------------
# reading

_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_OTHER_DELIMITERS = {";": "semicolon", "\t": "tab", "|": "pipe"}
#: Excel's day numbers count from 1899-12-30 (day 1 = 1900-01-01, with Lotus' leap-year bug).
EXCEL_EPOCH = np.datetime64("1899-12-30")


class ReadProblem(ValueError):
    """A table file that cannot be read as it is: what is wrong, the fix, and the file's row numbers."""

    def __init__(self, message: str, fix: str, rows: tuple[int, ...] = (), column: str | None = None) -> None:
        super().__init__(message)
        self.message, self.fix, self.rows, self.column = message, fix, rows, column


@dataclass
class RawTable:
    """A table as read: every column as text (CSV, XLSX) or as stored (Parquet).

    ``rows`` holds the file's row number of each data row (a CSV's line, a sheet's row) when it is
    not simply the header's row plus the position (blank lines, lines above the header); None
    otherwise. ``missing_tokens`` counts, per column, the cells read as missing by their text.
    """

    table: pa.Table
    rows: np.ndarray | None = None
    missing_tokens: dict[str, dict[str, int]] = field(default_factory=dict)
    encoding: str = "utf-8"
    header_row: int = 1


def _encoding(path: Path, given: str | None) -> str:
    if given:
        return given
    with open(path, "rb") as fh:
        head = fh.read(4)
    return "utf-16" if head[:2] in _UTF16_BOMS else "utf-8"


def _head_lines(path: Path, encoding: str, n: int) -> list[str]:
    enc = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    lines = []
    with open(path, newline="", encoding=enc, errors="replace") as fh:
        for line in fh:
            lines.append(line.rstrip("\r\n"))
            if len(lines) >= n:
                break
    return lines


def _fields(line: str, delimiter: str) -> list[str]:
    return next(csv.reader(io.StringIO(line), delimiter=delimiter), [])


def _check_layout(lines: list[str], delimiter: str, skip_rows: int, key: str) -> None:
    """Refuse a file whose delimiter or header line is not what the config says, with the fix."""
    body = [ln for ln in lines[skip_rows:] if ln.strip()]
    if not body:
        return
    header, after = _fields(body[0], delimiter), [_fields(ln, delimiter) for ln in body[1:4]]
    if len(header) == 1:
        for other, name in _OTHER_DELIMITERS.items():
            if other != delimiter and len(_fields(body[0], other)) > 1:
                decimal = " (and decimal: ',' if numbers are written 1,5)" if other == ";" else ""
                shown = other.replace("\t", "\\t")
                raise ReadProblem(
                    f"the file looks {name}-separated (header line: {body[0][:80]!r}), not "
                    f"{_OTHER_DELIMITERS.get(delimiter, repr(delimiter))}-separated",
                    f'set {key}.delimiter: "{shown}"{decimal}, or export it again comma-separated',
                    rows=(skip_rows + 1,),
                )
    if after and len(header) < max(len(f) for f in after):
        # a title above the header: the first line with as many fields as the next is the header
        widths = [len(_fields(ln, delimiter)) for ln in lines]
        real = next(
            (i for i in range(skip_rows, len(widths) - 1) if widths[i] > 1 and widths[i] >= widths[i + 1]), None
        )
        where = f"set {key}.skip_rows: {real}" if real is not None else f"set {key}.skip_rows"
        raise ReadProblem(
            f"line {skip_rows + 1} ({body[0][:80]!r}) has {len(header)} field(s) but the lines below have "
            f"{max(len(f) for f in after)}: it looks like a title above the header, not the header",
            f"delete the line(s) above the column names, or {where} (the number of lines above the header)",
            rows=(skip_rows + 1,),
        )


def _utf8_problem(path: Path, key: str) -> ReadProblem:
    """Where a file stops being UTF-8, and which encoding it probably is."""
    data = path.read_bytes()
    try:
        data.decode("utf-8")
        return ReadProblem("the file cannot be read as UTF-8 text", f"export it again as CSV UTF-8 ({key}.encoding)")
    except UnicodeDecodeError as exc:
        pos = exc.start
    line = data.count(b"\n", 0, pos) + 1
    guess = "cp1252"
    try:
        data.decode("cp1252")
        sample = data[max(0, pos - 10) : pos + 10].decode("cp1252").replace("\n", " ")
        looks = f"; read as Windows-1252 (Excel's CSV on Windows) it says {sample!r}"
    except UnicodeDecodeError:
        guess, looks = "latin-1", ""
    return ReadProblem(
        f"the file is not UTF-8: byte 0x{data[pos]:02x} on line {line} is not UTF-8 text{looks}",
        f"set {key}.encoding: {guess} (or the encoding the export used), or export it again as 'CSV UTF-8'",
        rows=(line,),
    )


def _blank_line_rows(path: Path, encoding: str, skip_rows: int) -> np.ndarray | None:
    """File line numbers (1-based) of the data rows when blank lines shift them, else None.

    Arrow skips blank lines; without this, a problem on the row after one would be reported a
    line too early. Vectorised over the bytes; only runs when the file has a blank line.
    """
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            if mm.find(b"\n\n") < 0 and mm.find(b"\n\r\n") < 0 and mm[:1] not in (b"\n", b"\r"):
                return None
            buf = np.frombuffer(mm, dtype=np.uint8).copy()
    else:
        text = path.read_text(encoding=encoding)
        if "\n\n" not in text and "\n\r\n" not in text and not text.startswith(("\n", "\r")):
            return None
        buf = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    nl = np.flatnonzero(buf == 10)
    starts = np.concatenate([[0], nl + 1])
    ends = np.concatenate([nl, [len(buf)]])
    if starts[-1] >= len(buf):  # the file ends with a newline: no last line after it
        starts, ends = starts[:-1], ends[:-1]
    length = ends - starts
    first = buf[np.minimum(starts, len(buf) - 1)]
    blank = (length == 0) | ((length == 1) & (first == 13))
    lines = np.flatnonzero(~blank) + 1
    lines = lines[lines > skip_rows]
    return lines[1:].astype(np.int64)  # after the header line


def _apply_missing(table: pa.Table, tokens: tuple[str, ...]) -> tuple[pa.Table, dict[str, dict[str, int]]]:
    """Turn cells whose whole text is a missing token into nulls, counting each token per column."""
    counts: dict[str, dict[str, int]] = {}
    if not tokens:
        return table, counts
    value_set = pa.array(sorted(set(tokens)), pa.string())
    columns = []
    for name in table.column_names:
        arr = table[name]
        if not _is_text(arr):
            columns.append(arr)
            continue
        hit = pc.is_in(arr, value_set=value_set)
        if pc.any(hit).as_py():
            found = pc.value_counts(pc.filter(arr, hit)).to_pylist()
            counts[name] = {d["values"]: int(d["counts"]) for d in sorted(found, key=lambda d: d["values"])}
            arr = pc.if_else(hit, pa.scalar(None, pa.string()), arr)
        columns.append(arr)
    return pa.table(columns, names=table.column_names), counts


def xlsx_sheets(path: Path) -> dict[str, list[str]]:
    """Each sheet's name and its first row's texts (to say where the mapped columns are)."""
    from openpyxl import load_workbook

    book = load_workbook(path, read_only=True, data_only=True)
    try:
        out = {}
        for ws in book.worksheets:
            first = next(ws.iter_rows(min_row=1, max_row=1, values_only=True), ())
            out[ws.title] = [str(v) for v in first if v is not None]
        return out
    finally:
        book.close()


def _xlsx_column(values: pd.Series) -> pa.Array:
    """A sheet column as arrow: real date cells stay dates, everything else becomes text."""
    present = values.dropna()
    if len(present) and present.map(lambda v: isinstance(v, (dt.datetime, dt.date, pd.Timestamp))).all():
        return pa.array(pd.to_datetime(values), type=pa.timestamp("us"), from_pandas=True)
    text = values.map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
    return pa.array(text.astype(object), type=pa.string(), from_pandas=True)


def read_raw_table(
    path: Path,
    sheet: str | int | None = None,
    *,
    encoding: str | None = None,
    delimiter: str = ",",
    skip_rows: int = 0,
    missing_values: tuple[str, ...] = (),
    key: str = "extract.<table>",
) -> RawTable:
    """Read a table with every column as text (CSV, XLSX) or as stored (Parquet).

    Text first, then our own parsing, so that a bad value is reported with its row instead of
    failing the whole read. A file that cannot be read as configured raises :class:`ReadProblem`
    saying why and the config key (under `key`) that fixes it: not UTF-8, another delimiter, a
    title above the header, a sheet that is not there.
    """
    suffix = path.suffix.lower()
    if suffix == ".csv":
        enc = _encoding(path, encoding)
        try:
            lines = _head_lines(path, enc, skip_rows + 6)
        except LookupError:
            raise ReadProblem(f"unknown encoding {enc!r}", f"set {key}.encoding to e.g. cp1252, latin-1 or utf-16")
        _check_layout(lines, delimiter, skip_rows, key)
        header = _fields(next((ln for ln in lines[skip_rows:] if ln.strip()), ""), delimiter)
        dup = sorted({h for h in header if header.count(h) > 1})
        if dup:
            raise ReadProblem(
                f"the header repeats column name(s) {', '.join(map(repr, dup))}",
                "give every column its own name and export it again",
                rows=(skip_rows + 1,),
            )
        convert = pacsv.ConvertOptions(
            column_types={h: pa.string() for h in header},
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
            null_values=[""],
        )
        read = pacsv.ReadOptions(use_threads=True, block_size=1 << 24, encoding=enc, skip_rows=skip_rows)
        try:
            table = pacsv.read_csv(path, read_options=read, convert_options=convert, parse_options=_parse(delimiter))
        except pa.ArrowInvalid as exc:
            if "UTF8" in str(exc) and enc == "utf-8":
                raise _utf8_problem(path, key) from None
            raise
        except UnicodeDecodeError as exc:
            raise ReadProblem(
                f"the file is not {enc} text ({exc.reason} at byte {exc.start})",
                f"set {key}.encoding to the encoding the export used, or export it again as 'CSV UTF-8'",
            ) from None
        table, tokens = _apply_missing(table, missing_values)
        return RawTable(table, _blank_line_rows(path, enc, skip_rows), tokens, enc, skip_rows + 1)
    if suffix in (".parquet", ".pq"):
        return RawTable(pq.read_table(path))
    if suffix == ".xlsx":
        sheets = xlsx_sheets(path)
        names = list(sheets)
        if isinstance(sheet, str) and sheet not in sheets:
            hint = did_you_mean(sheet, names)
            raise ReadProblem(
                f"the workbook has no sheet {sheet!r} (its sheets: {', '.join(map(repr, names))})",
                f"{hint}set {key}.sheet to one of them",
            )
        if isinstance(sheet, int) and not 0 <= sheet < len(names):
            raise ReadProblem(
                f"the workbook has {len(names)} sheet(s), so there is no sheet {sheet} (0-based); "
                f"its sheets: {', '.join(map(repr, names))}",
                f"set {key}.sheet to a sheet name or an index from 0 to {len(names) - 1}",
            )
        frame = pd.read_excel(
            path, sheet_name=0 if sheet is None else sheet, dtype=object, engine="openpyxl", skiprows=skip_rows
        )
        frame.columns = [str(c) for c in frame.columns]
        table = pa.table({c: _xlsx_column(frame[c]) for c in frame.columns})
        table, tokens = _apply_missing(table, missing_values)
        return RawTable(table, None, tokens, "xlsx", skip_rows + 1)
    raise ReadProblem(f"unsupported file type '{path.suffix}'", "give a .csv, .parquet or .xlsx file")


def sheet_holding(path: Path, sheet: str | int | None, columns: list[str]) -> str | None:
    """The sheet of an XLSX workbook whose header has all `columns`, when it is not the one read."""
    if path.suffix.lower() != ".xlsx":
        return None
    sheets = xlsx_sheets(path)
    read = list(sheets)[sheet] if isinstance(sheet, int) else (sheet or next(iter(sheets), None))
    return next((n for n, head in sheets.items() if n != read and set(columns) <= set(head)), None)


def _parse(delimiter: str) -> pacsv.ParseOptions:
    return pacsv.ParseOptions(delimiter=delimiter)


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


def excel_serial_example(arr: pa.ChunkedArray, bad: np.ndarray) -> str | None:
    """When every unparseable date is a whole number of Excel's plausible range (1982-2064), an
    example conversion ("45292 = 2024-01-01"), else None.

    >>> excel_serial_example(pa.chunked_array([["45292", "45293"]]), np.array([0, 1]))
    '45292 = 2024-01-01'
    """
    vals = pc.take(arr, pa.array(bad[:1000])).to_pylist()
    try:
        nums = np.array([float(str(v).strip()) for v in vals])
    except ValueError:
        return None
    if not (np.all(nums == np.round(nums)) and np.all((nums >= 30000) & (nums <= 60000))):
        return None
    return f"{int(nums[0])} = {EXCEL_EPOCH + np.timedelta64(int(nums[0]), 'D')}"


def parse_numbers(arr: pa.ChunkedArray, decimal: str = ".") -> tuple[np.ndarray, np.ndarray]:
    """Float64 values (NaN for empty) and positions of non-empty values that are not numbers.

    With ``decimal=","`` text numbers are read the continental way: "1.234,5" is 1234.5 (a point
    is a thousands separator and is dropped).
    """
    if pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type) or pa.types.is_boolean(arr.type):
        vals = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
        return np.asarray(vals, dtype=float), np.array([], dtype=np.int64)
    if _is_text(arr):
        arr = _blank_to_null(arr)
        if decimal == ",":
            arr = pc.replace_substring(pc.replace_substring(arr, ".", ""), ",", ".")
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
