"""Ingest an extract: read, validate, clean with a count per reason, write canonical tables.

The contract (DESIGN section 3): four tables (clients, contacts, outcomes, optional workers),
each CSV, Parquet or XLSX, with a column mapping in config. Validation collects *every*
problem before failing, so a user fixes an extract in one round; cleaning rules that drop rows
are counted by reason, so that `rows_read == rows_written + sum(dropped)` for every table.

Errors (stop the run, nothing written): missing or unreadable file, empty table, missing mapped
column, unparseable or missing dates, text in a numeric column, duplicate client or worker ids,
binary/count outcomes out of range, conflicting duplicate outcome rows, a configured covariate
or outcome absent from the extract, direct identifiers.

Cleaning (rows dropped and counted): exact duplicate contacts, contacts of unknown clients,
contacts before the client's start date, contacts after the extract date; exact duplicate
outcome rows, outcome rows of unknown clients, rows of outcomes not named in config.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .errors import ExtractError, Problem, did_you_mean, sheet_rows
from .identifiers import identifier_column_kind, identifier_value_hits
from .keys import codes, positions_in
from .tabular import write_parquet

TABLES = ("clients", "contacts", "outcomes", "workers")
ID_COLUMNS = ("client_id", "worker_id", "contact_id")
DATE_COLUMNS = ("start_date", "contact_date", "outcome_date", "end_date")
BINARY_TRUE = {"1", "1.0", "true", "t", "y", "yes"}
BINARY_FALSE = {"0", "0.0", "false", "f", "n", "no"}
MAX_SHOWN = 5


@dataclass
class TableReport:
    """What happened to one table: rows in, rows out, and why each dropped row went."""

    path: str
    rows_read: int = 0
    rows_written: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    missing_values: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            # the file name only: the path as given differs between machines and reruns, and
            # provenance.json records it with the file's checksum
            "file": Path(self.path).name,
            "rows_read": self.rows_read,
            "rows_written": self.rows_written,
            "dropped": [{"reason": k, "rows": v} for k, v in self.dropped.items()],
            "missing_values": self.missing_values,
            "warnings": self.warnings,
        }


@dataclass
class Extract:
    """The canonical, typed, cleaned extract with its report."""

    tables: dict[str, pd.DataFrame]
    report: dict[str, Any]


class _Collector:
    """Gathers problems across all tables so that they are reported together."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, table: str, column: str | None, message: str, fix: str,
            positions: np.ndarray | None = None, path: str | None = None) -> None:
        rows: tuple[int, ...] = ()
        count = None
        if positions is not None:
            positions = np.asarray(positions)
            count = int(positions.size)
            rows = sheet_rows(positions[:MAX_SHOWN])
        self.problems.append(Problem(table, column, message, fix, rows=rows, count=count, path=path))


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


def parse_dates(arr: pa.ChunkedArray, date_format: str | None) -> tuple[pa.Array, np.ndarray]:
    """Dates as date32 and positions of non-empty values that are not dates.

    ISO 8601 (``2024-03-01``, also with a time part) when `date_format` is None, else the strftime
    format. A time of day is dropped: the pipeline works in days. Only the distinct strings are
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


# ----------------------------------------------------------------------------------------------
# the stages of ingestion


def _open_tables(cfg: dict, col: _Collector) -> dict[str, tuple[pa.Table, dict[str, str], Path]]:
    """Read each configured table; report missing files, unreadable files, empty tables, absent columns."""
    extract = cfg["extract"]
    opened = {}
    for name in TABLES:
        spec = extract.get(name)
        if spec is None:
            continue
        path = Path(spec["path"])
        if not path.is_file():
            col.add(name, None, f"file not found: {path}",
                    f"check extract.{name}.path in the config (relative paths start at the working "
                    f"directory, {Path.cwd()})", path=str(path))
            continue
        try:
            table = read_raw_table(path, spec.get("sheet"))
        except Exception as exc:  # any reader failure is the user's file, reported not raised
            col.add(name, None, f"cannot read the file: {exc}".replace("\n", " "),
                    "export it again as CSV (UTF-8, comma-separated, one header row), Parquet or XLSX",
                    path=str(path))
            continue
        if table.num_rows == 0:
            col.add(name, None, "the table has no data rows", "export the table again with its rows",
                    path=str(path))
            continue
        mapping = dict(spec["columns"])
        absent = {canon: src for canon, src in mapping.items() if src not in table.column_names}
        for canon, src in absent.items():
            hint = did_you_mean(src, table.column_names, also=canon)
            col.add(name, src, f"mapped column for '{canon}' is not in the file",
                    f"{hint}set extract.{name}.columns.{canon} to one of: {', '.join(table.column_names)}",
                    path=str(path))
        if absent:
            continue
        opened[name] = (table, mapping, path)
    return opened


def _check_identifiers(opened: dict, col: _Collector) -> None:
    for name, (table, mapping, path) in opened.items():
        id_sources = {mapping[c] for c in ID_COLUMNS if c in mapping}
        for column in table.column_names:
            kind = identifier_column_kind(column)
            if kind:
                col.add(name, column, f"the column name suggests a direct identifier ({kind})",
                        "remove the column from the extract (the pipeline needs pseudonymised data only)",
                        path=str(path))
                continue
            for vkind, positions in identifier_value_hits(table[column], column in id_sources).items():
                col.add(name, column, f"values look like a direct identifier ({vkind})",
                        "remove or pseudonymise these values before export" if column in id_sources
                        else "remove the column or these values before export (postcode districts such as "
                        "'E1' are fine; full postcodes are not)",
                        positions=positions, path=str(path))


def _required_text(table: pa.Table, src: str, name: str, canon: str, path: Path, col: _Collector) -> pa.Array:
    values = _text(table[src])
    missing = _null_positions(values)
    if missing.size:
        col.add(name, src, f"{canon} is empty", f"fill in {canon} for every row, or remove those rows",
                positions=missing, path=str(path))
    return values


def _dates(table: pa.Table, src: str, name: str, canon: str, path: Path, fmt: str | None,
           col: _Collector, required: bool) -> pa.Array:
    values, bad = parse_dates(table[src], fmt)
    if bad.size:
        shown = _sample_values(table[src], bad)
        expect = f"dates in the format {fmt!r}" if fmt else "ISO 8601 dates (YYYY-MM-DD)"
        col.add(name, src, f"unparseable dates (e.g. {shown})",
                f"give {expect}, or set extract.date_format to the format the file uses (e.g. \"%d/%m/%Y\")",
                positions=bad, path=str(path))
    if required:
        missing = np.setdiff1d(_null_positions(values), bad)
        if missing.size:
            col.add(name, src, f"{canon} is empty", f"fill in {canon} for every row, or remove those rows",
                    positions=missing, path=str(path))
    return values


def _clients(opened, cfg, col, reports) -> pd.DataFrame | None:
    if "clients" not in opened:
        return None
    table, mapping, path = opened["clients"]
    fmt = cfg["extract"]["date_format"]
    out: dict[str, Any] = {}
    for canon in ("client_id", "service", "site"):
        out[canon] = _required_text(table, mapping[canon], "clients", canon, path, col)
    ids = out["client_id"]
    dup = pc.is_in(ids, value_set=pc.filter(*_dupes(ids)))
    dup_pos = np.flatnonzero(np.asarray(dup.to_numpy(zero_copy_only=False), dtype=bool) & ~np.asarray(
        pc.is_null(ids).to_numpy(zero_copy_only=False), dtype=bool))
    if dup_pos.size:
        col.add("clients", mapping["client_id"], f"duplicate client ids (e.g. {_sample_values(ids, dup_pos)})",
                "give one row per client episode with a unique client_id; merge or renumber the duplicates",
                positions=dup_pos, path=str(path))
    out["start_date"] = _dates(table, mapping["start_date"], "clients", "start_date", path, fmt, col, True)
    frame = pd.DataFrame({k: _pd(v) for k, v in out.items()})
    report = reports["clients"]
    for cov in cfg["covariates"]:
        name, kind = cov["name"], cov["type"]
        if name not in table.column_names:
            hint = did_you_mean(name, table.column_names)
            col.add("clients", name, "configured covariate is not a column of the clients table",
                    f"{hint}fix the name under covariates in the config, or add the column to the extract",
                    path=str(path))
            continue
        raw = table[name]
        if kind == "numeric":
            vals, bad = parse_numbers(raw)
            if bad.size:
                col.add("clients", name, f"text in a numeric covariate (e.g. {_sample_values(raw, bad)})",
                        "give numbers only (leave the cell empty when unknown), or declare the covariate "
                        "as categorical", positions=bad, path=str(path))
            frame[name] = vals
        elif kind == "binary":
            vals, bad = parse_binary(raw)
            if bad.size:
                col.add("clients", name, f"values that are not binary (e.g. {_sample_values(raw, bad)})",
                        "use 0/1, true/false, Y/N or yes/no (empty when unknown), or declare the covariate "
                        "as categorical", positions=bad, path=str(path))
            frame[name] = vals
        else:
            frame[name] = _pd(_text(raw))
        report.missing_values[name] = int(frame[name].isna().sum())
    frame["source_row"] = np.arange(len(frame), dtype=np.int64) + 2
    report.rows_read = report.rows_written = len(frame)
    return frame


def _shared(codes: np.ndarray) -> np.ndarray:
    """Rows whose (non-missing) code occurs more than once."""
    counts = np.bincount(codes[codes >= 0], minlength=1)
    return (codes >= 0) & (counts[np.maximum(codes, 0)] > 1)


def _duplicate_rows(frame: pd.DataFrame, keys: list[str]) -> np.ndarray:
    """Rows that repeat an earlier row on every key column (the first occurrence is kept),
    compared on integer codes rather than strings."""
    return pd.DataFrame({k: codes(frame[k]) for k in keys}).duplicated(keep="first").to_numpy()


def _dupes(values: pa.Array) -> tuple[pa.Array, pa.Array]:
    """(distinct values, mask of those seen more than once), for pc.filter."""
    counts = pc.value_counts(values.drop_null() if hasattr(values, "drop_null") else values)
    return counts.field("values"), pc.greater(counts.field("counts"), 1)


def _contacts(opened, cfg, col, reports, clients: pd.DataFrame | None, extract_date: dt.date) -> pd.DataFrame | None:
    if "contacts" not in opened:
        return None
    table, mapping, path = opened["contacts"]
    fmt = cfg["extract"]["date_format"]
    out: dict[str, Any] = {}
    for canon in ("client_id", "worker_id"):
        out[canon] = _required_text(table, mapping[canon], "contacts", canon, path, col)
    out["contact_date"] = _dates(table, mapping["contact_date"], "contacts", "contact_date", path, fmt, col, True)
    if "contact_id" in mapping:
        out["contact_id"] = _text(table[mapping["contact_id"]])
    if "mode" in mapping:
        out["mode"] = _text(table[mapping["mode"]])
    frame = pd.DataFrame({k: _pd(v) for k, v in out.items()})
    if "duration_minutes" in mapping:
        vals, bad = parse_numbers(table[mapping["duration_minutes"]])
        if bad.size:
            col.add("contacts", mapping["duration_minutes"], "text in duration_minutes",
                    "give minutes as numbers (empty when unknown)", positions=bad, path=str(path))
        frame["duration_minutes"] = vals
    frame["source_row"] = np.arange(len(frame), dtype=np.int64) + 2
    report = reports["contacts"]
    report.rows_read = len(frame)
    if clients is None or col.problems:
        return frame

    keys = [c for c in frame.columns if c != "source_row"]
    if "contact_id" in frame:
        # contact ids are near-unique: only rows sharing an id can be exact duplicates, and any
        # id still shared after dropping those is a clash (two different contacts, one id)
        ids = codes(frame["contact_id"])
        shared = _shared(ids)
        dup = np.zeros(len(frame), dtype=bool)
        cand = np.flatnonzero(shared)
        if cand.size:
            sub = frame.iloc[cand]
            dup[cand] = pd.DataFrame({k: codes(sub[k]) for k in keys}).duplicated(keep="first").to_numpy()
        frame = _drop(frame, dup, report, "exact duplicate of an earlier contact")
        ids = ids[~dup]
        clash = _shared(ids) if dup.any() else shared
        if clash.any():
            pos = frame["source_row"].to_numpy()[clash] - 2
            col.add("contacts", mapping["contact_id"],
                    f"contact ids used for different contacts (e.g. {frame['contact_id'][clash].head(3).tolist()})",
                    "give every contact a unique contact_id, or leave contact_id unmapped",
                    positions=pos, path=str(path))
            return frame
    else:
        frame = _drop(frame, _duplicate_rows(frame, keys), report, "exact duplicate of an earlier contact")
    where = positions_in(frame["client_id"], clients["client_id"])
    frame = _drop(frame, where < 0, report, "client_id not in the clients table")
    where = where[where >= 0]
    start = clients["start_date"].to_numpy()[where]
    frame = _drop(frame, frame["contact_date"].to_numpy() < start, report,
                  "contact before the client's start date")
    frame = _drop(frame, (frame["contact_date"] > pd.Timestamp(extract_date)).to_numpy(), report,
                  f"contact after the extract date ({extract_date.isoformat()})")
    report.rows_written = len(frame)
    return frame.reset_index(drop=True)


def _drop(frame: pd.DataFrame, mask: np.ndarray, report: TableReport, reason: str) -> pd.DataFrame:
    """Drop rows by a cleaning rule and count them under its reason (zero counts are kept too)."""
    report.dropped[reason] = int(mask.sum())
    return frame.loc[~mask] if mask.any() else frame


def _outcomes(opened, cfg, col, reports, clients: pd.DataFrame | None) -> pd.DataFrame | None:
    if "outcomes" not in opened:
        return None
    table, mapping, path = opened["outcomes"]
    fmt = cfg["extract"]["date_format"]
    frame = pd.DataFrame({
        "client_id": _pd(_required_text(table, mapping["client_id"], "outcomes", "client_id", path, col)),
        "outcome": _pd(_required_text(table, mapping["outcome"], "outcomes", "outcome", path, col)),
    })
    values, bad = parse_numbers(table[mapping["value"]])
    if bad.size:
        col.add("outcomes", mapping["value"], f"text in the outcome value (e.g. {_sample_values(table[mapping['value']], bad)})",
                "give numbers only (0/1 for binary outcomes)", positions=bad, path=str(path))
    frame["value"] = values
    if "outcome_date" in mapping:
        frame["outcome_date"] = _pd(_dates(table, mapping["outcome_date"], "outcomes", "outcome_date", path, fmt,
                                       col, False))
    frame["source_row"] = np.arange(len(frame), dtype=np.int64) + 2
    report = reports["outcomes"]
    report.rows_read = len(frame)

    present = set(frame["outcome"].dropna().unique())
    for spec in cfg["outcomes"]:
        name, kind = spec["name"], spec["type"]
        if name not in present:
            hint = did_you_mean(name, sorted(present))
            col.add("outcomes", mapping["outcome"], f"configured outcome '{name}' has no rows",
                    f"{hint}outcomes in the file: {', '.join(sorted(present)[:20])}; fix the name in the config",
                    path=str(path))
            continue
        rows = (frame["outcome"] == name).to_numpy()
        v = frame["value"].to_numpy()
        unparsed = np.zeros(len(v), dtype=bool)
        unparsed[bad] = True
        empty = np.flatnonzero(rows & np.isnan(v) & ~unparsed)
        if empty.size:
            col.add("outcomes", mapping["value"], f"outcome '{name}' has empty values",
                    "record a value on every outcome row, or remove the rows of clients whose outcome is unknown",
                    positions=empty, path=str(path))
        if kind == "binary":
            off = np.flatnonzero(rows & ~np.isnan(v) & ~np.isin(v, (0.0, 1.0)))
            if off.size:
                col.add("outcomes", mapping["value"],
                        "binary outcome '%s' has values other than 0 and 1 (e.g. %s)"
                        % (name, ", ".join(f"{x:g}" for x in sorted(set(v[off]))[:3])),
                        "recode to 0/1, or declare the outcome as continuous or count in the config",
                        positions=off, path=str(path))
        elif kind == "count":
            off = np.flatnonzero(rows & ~np.isnan(v) & ((v < 0) | (v != np.round(v))))
            if off.size:
                col.add("outcomes", mapping["value"],
                        f"count outcome '{name}' has negative or fractional values",
                        "give whole numbers >= 0, or declare the outcome as continuous",
                        positions=off, path=str(path))
        elif kind == "continuous":
            off = np.flatnonzero(rows & np.isinf(v))
            if off.size:
                col.add("outcomes", mapping["value"], f"outcome '{name}' has infinite values",
                        "give finite numbers", positions=off, path=str(path))
    if clients is None or col.problems:
        return frame

    keys = [c for c in frame.columns if c != "source_row"]
    frame = _drop(frame, _duplicate_rows(frame, keys), report, "exact duplicate of an earlier outcome row")
    configured = [o["name"] for o in cfg["outcomes"]]
    frame = _drop(frame, positions_in(frame["outcome"], configured) < 0, report,
                  "outcome not named in the config")
    frame = _drop(frame, positions_in(frame["client_id"], clients["client_id"]) < 0, report,
                  "client_id not in the clients table")
    pair = pd.DataFrame({"c": codes(frame["client_id"]), "o": codes(frame["outcome"])})
    clash = pair.duplicated(keep=False).to_numpy()
    if clash.any():
        pos = frame["source_row"].to_numpy()[clash] - 2
        col.add("outcomes", mapping["client_id"],
                "more than one differing row for the same client and outcome",
                "give one row per client and outcome (aggregate repeated measurements before export)",
                positions=pos, path=str(path))
    report.rows_written = len(frame)
    return frame.reset_index(drop=True)


def _workers(opened, cfg, col, reports) -> pd.DataFrame | None:
    if "workers" not in opened:
        return None
    table, mapping, path = opened["workers"]
    fmt = cfg["extract"]["date_format"]
    ids = _required_text(table, mapping["worker_id"], "workers", "worker_id", path, col)
    frame = pd.DataFrame({"worker_id": _pd(ids)})
    dup = frame["worker_id"].notna() & frame["worker_id"].duplicated(keep=False)
    if dup.any():
        col.add("workers", mapping["worker_id"], f"duplicate worker ids (e.g. {frame.loc[dup, 'worker_id'].head(3).tolist()})",
                "give one row per worker", positions=np.flatnonzero(dup.to_numpy()), path=str(path))
    if "site" in mapping:
        frame["site"] = _pd(_text(table[mapping["site"]]))
    for canon in ("start_date", "end_date"):
        if canon in mapping:
            frame[canon] = _pd(_dates(table, mapping[canon], "workers", canon, path, fmt, col, False))
    if "start_date" in frame and "end_date" in frame:
        back = np.flatnonzero((frame["end_date"] < frame["start_date"]).to_numpy())
        if back.size:
            col.add("workers", mapping["end_date"], "end_date before start_date",
                    "correct the dates (end_date is the leaving date)", positions=back, path=str(path))
    frame["source_row"] = np.arange(len(frame), dtype=np.int64) + 2
    report = reports["workers"]
    report.rows_read = report.rows_written = len(frame)
    return frame


def ingest_extract(cfg: dict, today: dt.date | None = None) -> Extract:
    """Read, validate and clean the extract described by a validated config.

    Parameters
    ----------
    cfg
        A config returned by :func:`deepvalue.config.load_config`.
    today
        The run date, used as the extract date when ``extract.extract_date`` is null.

    Returns
    -------
    Extract
        Canonical tables (pandas, typed; dates as datetime64) and the ingest report.

    Raises
    ------
    ExtractError
        With every problem found, across all tables.
    """
    col = _Collector()
    ed = cfg["extract"].get("extract_date")
    extract_date = dt.date.fromisoformat(ed) if ed else (today or dt.date.today())
    reports = {name: TableReport(path=str(cfg["extract"][name]["path"]))
               for name in TABLES if cfg["extract"].get(name)}
    opened = _open_tables(cfg, col)
    _check_identifiers(opened, col)
    clients = _clients(opened, cfg, col, reports)
    workers = _workers(opened, cfg, col, reports)
    contacts = _contacts(opened, cfg, col, reports, clients, extract_date)
    outcomes = _outcomes(opened, cfg, col, reports, clients)
    if col.problems:
        raise ExtractError(col.problems, headline="the extract cannot be used as it is")

    if workers is not None:
        unknown = ~contacts["worker_id"].isin(workers["worker_id"])
        if unknown.any():
            reports["contacts"].warnings.append(
                f"{int(unknown.sum())} contacts (of {len(contacts)}) name a worker_id that is not in the workers "
                "table; the instrument treats their leaving date as unknown")
    for name, rep in reports.items():
        assert rep.rows_read == rep.rows_written + sum(rep.dropped.values()), name
    tables = {"clients": clients, "contacts": contacts, "outcomes": outcomes}
    if workers is not None:
        tables["workers"] = workers
    report = {
        "extract_date": extract_date.isoformat(),
        "extract_date_source": "config" if ed else "run date",
        "tables": {name: rep.as_dict() for name, rep in reports.items()},
    }
    return Extract(tables=tables, report=report)


def write_interim(extract: Extract, out_dir: str | Path, report_path: str | Path) -> dict[str, Path]:
    """Write each canonical table to ``out_dir/<table>.parquet`` and the report as JSON."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    tables = dict(extract.tables)
    # downstream rules always find a workers table; without one it is empty and the
    # instrument is reported as unavailable
    tables.setdefault("workers", pd.DataFrame({
        "worker_id": pd.Series([], dtype="str"),
        "end_date": pd.Series([], dtype="datetime64[ms]"),
        "source_row": pd.Series([], dtype="int64"),
    }))
    for name, frame in tables.items():
        path = out_dir / f"{name}.parquet"
        write_parquet(frame, path)
        paths[name] = path
    Path(report_path).write_text(json.dumps(extract.report, indent=2, sort_keys=True) + "\n")
    return paths
