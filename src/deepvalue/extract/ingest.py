"""Ingestion: read, validate and clean the extract's tables into canonical, typed frames.

Every problem in every table is collected before anything is raised (:class:`ExtractError`,
one message per problem naming the file, column, rows and fix); every dropped row is counted
under its reason in the ingest report; warnings (the ids that match no client, cells read as
missing, implausible dates, constant covariates) go into the report too and are printed by
``deepvalue validate``.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from deepvalue.core.errors import ExtractError, Problem, did_you_mean
from deepvalue.core.keys import codes, positions_in
from deepvalue.core.settings import ExtractSettings, Settings
from deepvalue.core.tabular import write_parquet
from deepvalue.extract.checks import Collector as _Collector
from deepvalue.extract.checks import (
    covariate_warnings,
    date_range_warnings,
    missing_token_warnings,
    outcome_name_warnings,
    unmatched_clients,
)
from deepvalue.extract.identifiers import check_identifiers
from deepvalue.extract.outcome_values import (
    check_outcome_services,
    check_outcome_values,
    events_as_ones,
    measured_rows,
    undated_outcome_warnings,
)
from deepvalue.extract.read import (
    MixedOffsetsError,
    ReadProblem,
    _null_positions,
    _pd,
    _sample_values,
    _text,
    excel_serial_example,
    parse_binary,
    parse_dates,
    parse_numbers,
    read_raw_table,
    sheet_holding,
)
from deepvalue.extract.responses import empty_responses, read_responses

TABLES = ("clients", "contacts", "outcomes", "workers", "responses")
ID_COLUMNS = ("client_id", "worker_id", "contact_id")
DATE_COLUMNS = ("start_date", "contact_date", "outcome_date", "end_date")
# larger magnitudes in a numeric covariate are overflows or placeholders, and break the propensity fit
MAX_ABS_NUMBER = 1e12


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

    @property
    def extract_date(self) -> dt.date:
        """The date the extract was taken (the config's, else the run date), as the report says."""
        return dt.date.fromisoformat(self.report["extract_date"])


# ----------------------------------------------------------------------------------------------
# the stages of ingestion


def _open_tables(extract: ExtractSettings, col: _Collector) -> dict[str, tuple[pa.Table, dict[str, str], Path]]:
    """Read each configured table; report missing files, unreadable files, empty tables, absent columns."""
    opened = {}
    for name in TABLES:
        spec = getattr(extract, name)
        if spec is None:
            continue
        path = Path(spec.path)
        if not path.is_file():
            col.add(
                name,
                None,
                f"file not found: {path}",
                f"check extract.{name}.path in the config (relative paths start at the working "
                f"directory, {Path.cwd()})",
                path=str(path),
            )
            continue
        try:
            raw = read_raw_table(
                path,
                spec.sheet,
                encoding=spec.encoding,
                delimiter=spec.delimiter,
                skip_rows=spec.skip_rows,
                missing_values=extract.missing_values if spec.missing_values is None else spec.missing_values,
                key=f"extract.{name}",
            )
        except ReadProblem as exc:
            col.problems.append(Problem(name, exc.column, exc.message, exc.fix, rows=exc.rows, path=str(path)))
            continue
        except Exception as exc:  # any other reader failure is the user's file, reported not raised
            col.add(
                name,
                None,
                f"cannot read the file: {exc}".replace("\n", " "),
                "export it again as CSV (UTF-8, comma-separated, one header row), Parquet or XLSX",
                path=str(path),
            )
            continue
        table = raw.table
        col.row_maps[name] = (raw.rows, raw.header_row)
        col.missing_tokens[name] = raw.missing_tokens
        if table.num_rows == 0:
            col.add(name, None, "the table has no data rows", "export the table again with its rows", path=str(path))
            continue
        mapping = dict(spec.columns)
        absent = {canon: src for canon, src in mapping.items() if src not in table.column_names}
        elsewhere = sheet_holding(path, spec.sheet, list(absent.values())) if absent else None
        if elsewhere is not None:
            col.add(
                name,
                None,
                f"the mapped columns ({', '.join(absent.values())}) are not on the sheet read "
                f"({'the first' if spec.sheet is None else repr(spec.sheet)}) but on sheet {elsewhere!r}",
                f"set extract.{name}.sheet: {elsewhere}",
                path=str(path),
            )
            continue
        for canon, src in absent.items():
            hint = did_you_mean(src, table.column_names, also=canon)
            col.add(
                name,
                src,
                f"mapped column for '{canon}' is not in the file",
                f"{hint}set extract.{name}.columns.{canon} to one of: {', '.join(table.column_names)}",
                path=str(path),
            )
        if absent:
            continue
        opened[name] = (table, mapping, path)
    return opened


def _required_text(table: pa.Table, src: str, name: str, canon: str, path: Path, col: _Collector) -> pa.Array:
    values = _text(table[src])
    missing = _null_positions(values)
    if missing.size:
        tokens = col.missing_tokens.get(name, {}).get(src, {})
        said = ", ".join(repr(t) for t in tokens)
        col.add(
            name,
            src,
            f"{canon} is empty" + (f" (or holds {said}, read as missing)" if tokens else ""),
            f"fill in {canon} for every row, or remove those rows"
            + (f"; if {said} is a real value, give extract.{name}.missing_values without it" if tokens else ""),
            positions=missing,
            path=str(path),
        )
    return values


def _dates(
    table: pa.Table, src: str, name: str, canon: str, path: Path, fmt: str | None, col: _Collector, required: bool
) -> pa.Array:
    try:
        values, bad = parse_dates(table[src], fmt)
    except MixedOffsetsError as exc:
        col.add(
            name,
            src,
            f"dates with different UTC offsets ({', '.join(exc.offsets)}; e.g. "
            f"{_sample_values(table[src], exc.positions)})",
            "export every date on one clock (local dates without offsets, or all with the same offset)",
            positions=exc.positions,
            path=str(path),
        )
        return pa.nulls(table.num_rows, pa.date32())
    if bad.size:
        shown = _sample_values(table[src], bad)
        expect = f"dates in the format {fmt!r}" if fmt else "ISO 8601 dates (YYYY-MM-DD)"
        serial = excel_serial_example(table[src], bad)
        col.add(
            name,
            src,
            f"unparseable dates (e.g. {shown})"
            + (f"; they look like Excel serial day numbers ({serial})" if serial else ""),
            "format the column as dates in Excel before saving, or export it as text dates"
            if serial
            else f"give {expect}, or set extract.{name}.date_format (or extract.date_format) to the format the file "
            'uses (e.g. "%d/%m/%Y")',
            positions=bad,
            path=str(path),
        )
    if required:
        missing = np.setdiff1d(_null_positions(values), bad)
        if missing.size:
            col.add(
                name,
                src,
                f"{canon} is empty",
                f"fill in {canon} for every row, or remove those rows",
                positions=missing,
                path=str(path),
            )
    return values


def _clients(opened, settings, col, reports) -> pd.DataFrame | None:
    if "clients" not in opened:
        return None
    table, mapping, path = opened["clients"]
    fmt = settings.extract.date_format_of("clients")
    out: dict[str, Any] = {}
    for canon in ("client_id", "service", "site"):
        out[canon] = _required_text(table, mapping[canon], "clients", canon, path, col)
    ids = out["client_id"]
    dup = pc.is_in(ids, value_set=pc.filter(*_dupes(ids)))
    dup_pos = np.flatnonzero(
        np.asarray(dup.to_numpy(zero_copy_only=False), dtype=bool)
        & ~np.asarray(pc.is_null(ids).to_numpy(zero_copy_only=False), dtype=bool)
    )
    if dup_pos.size:
        col.add(
            "clients",
            mapping["client_id"],
            f"duplicate client ids (e.g. {_sample_values(ids, dup_pos)})",
            "give one row per client episode with a unique client_id; merge or renumber the duplicates",
            positions=dup_pos,
            path=str(path),
        )
    out["start_date"] = _dates(table, mapping["start_date"], "clients", "start_date", path, fmt, col, True)
    frame = pd.DataFrame({k: _pd(v) for k, v in out.items()})
    report = reports["clients"]
    for cov in settings.covariates:
        name, kind = cov.name, cov.type
        if name not in table.column_names:
            hint = did_you_mean(name, table.column_names)
            col.add(
                "clients",
                name,
                "configured covariate is not a column of the clients table",
                f"{hint}fix the name under covariates in the config, or add the column to the extract",
                path=str(path),
            )
            continue
        raw = table[name]
        if kind == "numeric":
            vals, bad = parse_numbers(raw, settings.extract.clients.decimal)
            if bad.size:
                col.add(
                    "clients",
                    name,
                    f"text in a numeric covariate (e.g. {_sample_values(raw, bad)})",
                    "give numbers only (leave the cell empty when unknown), or declare the covariate as categorical",
                    positions=bad,
                    path=str(path),
                )
            huge = np.flatnonzero(~np.isnan(vals) & ~(np.abs(vals) <= MAX_ABS_NUMBER))
            if huge.size:
                col.add(
                    "clients",
                    name,
                    f"infinite or implausibly large values (e.g. {_sample_values(raw, huge)}; limit "
                    f"{MAX_ABS_NUMBER:.0e})",
                    "export the real values (an overflow or a placeholder such as 1e308 is not a measurement), "
                    "or leave the cells empty when unknown",
                    positions=huge,
                    path=str(path),
                )
            frame[name] = vals
        elif kind == "binary":
            vals, bad = parse_binary(raw)
            if bad.size:
                col.add(
                    "clients",
                    name,
                    f"values that are not binary (e.g. {_sample_values(raw, bad)})",
                    "use 0/1, true/false, Y/N or yes/no (empty when unknown), or declare the covariate as categorical",
                    positions=bad,
                    path=str(path),
                )
            frame[name] = vals
        else:
            frame[name] = _pd(_text(raw))
        report.missing_values[name] = int(frame[name].isna().sum())
    frame["source_row"] = col.file_rows("clients", np.arange(len(frame)))
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


def _contacts(
    opened, settings, col, reports, clients: pd.DataFrame | None, extract_date: dt.date
) -> pd.DataFrame | None:
    if "contacts" not in opened:
        return None
    table, mapping, path = opened["contacts"]
    fmt = settings.extract.date_format_of("contacts")
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
        vals, bad = parse_numbers(table[mapping["duration_minutes"]], settings.extract.contacts.decimal)
        if bad.size:
            col.add(
                "contacts",
                mapping["duration_minutes"],
                "text in duration_minutes",
                "give minutes as numbers (empty when unknown)",
                positions=bad,
                path=str(path),
            )
        frame["duration_minutes"] = vals
    frame["source_row"] = col.file_rows("contacts", np.arange(len(frame)))
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
            pos = col.positions_of("contacts", frame["source_row"].to_numpy()[clash])
            col.add(
                "contacts",
                mapping["contact_id"],
                f"contact ids used for different contacts (e.g. {frame['contact_id'][clash].head(3).tolist()})",
                "give every contact a unique contact_id, or leave contact_id unmapped",
                positions=pos,
                path=str(path),
            )
            return frame
    else:
        frame = _drop(frame, _duplicate_rows(frame, keys), report, "exact duplicate of an earlier contact")
    where = positions_in(frame["client_id"], clients["client_id"])
    if unmatched_clients(frame["client_id"], clients["client_id"], where < 0, "contacts", mapping, path, col, report):
        return frame
    frame = _drop(frame, where < 0, report, "client_id not in the clients table")
    where = where[where >= 0]
    start = clients["start_date"].to_numpy()[where]
    frame = _drop(frame, frame["contact_date"].to_numpy() < start, report, "contact before the client's start date")
    frame = _drop(
        frame,
        (frame["contact_date"] > pd.Timestamp(extract_date)).to_numpy(),
        report,
        f"contact after the extract date ({extract_date.isoformat()})",
    )
    report.rows_written = len(frame)
    return frame.reset_index(drop=True)


def _drop(frame: pd.DataFrame, mask: np.ndarray, report: TableReport, reason: str) -> pd.DataFrame:
    """Drop rows by a cleaning rule and count them under its reason (zero counts are kept too)."""
    report.dropped[reason] = int(mask.sum())
    return frame.loc[~mask] if mask.any() else frame


def _outcomes(opened, settings, col, reports, clients: pd.DataFrame | None) -> pd.DataFrame | None:
    if "outcomes" not in opened:
        return None
    table, mapping, path = opened["outcomes"]
    fmt = settings.extract.date_format_of("outcomes")
    frame = pd.DataFrame(
        {
            "client_id": _pd(_required_text(table, mapping["client_id"], "outcomes", "client_id", path, col)),
            "outcome": _pd(_required_text(table, mapping["outcome"], "outcomes", "outcome", path, col)),
        }
    )
    values, bad = parse_numbers(table[mapping["value"]], settings.extract.outcomes.decimal)
    if bad.size:
        col.add(
            "outcomes",
            mapping["value"],
            f"text in the outcome value (e.g. {_sample_values(table[mapping['value']], bad)})",
            "give numbers only (0/1 for binary outcomes)",
            positions=bad,
            path=str(path),
        )
    frame["value"] = values
    if "outcome_date" in mapping:
        frame["outcome_date"] = _pd(
            _dates(table, mapping["outcome_date"], "outcomes", "outcome_date", path, fmt, col, False)
        )
    frame["source_row"] = col.file_rows("outcomes", np.arange(len(frame)))
    report = reports["outcomes"]
    report.rows_read = len(frame)

    present = set(frame["outcome"].dropna().unique())
    v = frame["value"].to_numpy()
    unparsed = np.zeros(len(v), dtype=bool)
    unparsed[bad] = True
    for spec in settings.outcomes:
        name = spec.name
        if name not in present:
            hint = did_you_mean(name, sorted(present))
            col.add(
                "outcomes",
                mapping["outcome"],
                f"configured outcome '{name}' has no rows",
                f"{hint}outcomes in the file: {', '.join(sorted(present)[:20])}; fix the name in the config",
                path=str(path),
            )
            continue
        rows = (frame["outcome"] == name).to_numpy()
        check_outcome_values(spec, rows, v, unparsed, mapping["value"], str(path), col)
    if clients is not None:
        spec = settings.extract.clients
        check_outcome_services(settings.outcomes, clients["service"], spec.columns["service"], spec.path, col)
    if clients is None or col.problems:
        return frame

    frame = events_as_ones(frame, settings.outcomes)  # before duplicates: an empty and a 1 are one occurrence
    keys = [c for c in frame.columns if c != "source_row"]
    frame = _drop(frame, _duplicate_rows(frame, keys), report, "exact duplicate of an earlier outcome row")
    configured = [o.name for o in settings.outcomes]
    report.warnings.extend(outcome_name_warnings(frame["outcome"], configured))
    frame = _drop(frame, positions_in(frame["outcome"], configured) < 0, report, "outcome not named in the config")
    unknown = positions_in(frame["client_id"], clients["client_id"]) < 0
    if unmatched_clients(frame["client_id"], clients["client_id"], unknown, "outcomes", mapping, path, col, report):
        return frame
    frame = _drop(frame, unknown, report, "client_id not in the clients table")
    # several rows of one client are occurrences of an events outcome, a clash for a measured one
    pair = pd.DataFrame({"c": codes(frame["client_id"]), "o": codes(frame["outcome"])})
    clash = pair.duplicated(keep=False).to_numpy() & measured_rows(frame, settings.outcomes)
    if clash.any():
        pos = col.positions_of("outcomes", frame["source_row"].to_numpy()[clash])
        col.add(
            "outcomes",
            mapping["client_id"],
            "more than one differing row for the same client and outcome",
            "give one row per client and outcome (aggregate repeated measurements before export); if each row "
            "is one occurrence (a dated event), set recorded: events for this outcome",
            positions=pos,
            path=str(path),
        )
    report.warnings.extend(undated_outcome_warnings(frame, settings.outcomes))
    report.rows_written = len(frame)
    return frame.reset_index(drop=True)


def _workers(opened, settings, col, reports) -> pd.DataFrame | None:
    if "workers" not in opened:
        return None
    table, mapping, path = opened["workers"]
    fmt = settings.extract.date_format_of("workers")
    ids = _required_text(table, mapping["worker_id"], "workers", "worker_id", path, col)
    frame = pd.DataFrame({"worker_id": _pd(ids)})
    dup = frame["worker_id"].notna() & frame["worker_id"].duplicated(keep=False)
    if dup.any():
        col.add(
            "workers",
            mapping["worker_id"],
            f"duplicate worker ids (e.g. {frame.loc[dup, 'worker_id'].head(3).tolist()})",
            "give one row per worker",
            positions=np.flatnonzero(dup.to_numpy()),
            path=str(path),
        )
    if "site" in mapping:
        frame["site"] = _pd(_text(table[mapping["site"]]))
    for canon in ("start_date", "end_date"):
        if canon in mapping:
            frame[canon] = _pd(_dates(table, mapping[canon], "workers", canon, path, fmt, col, False))
    if "start_date" in frame and "end_date" in frame:
        back = np.flatnonzero((frame["end_date"] < frame["start_date"]).to_numpy())
        if back.size:
            col.add(
                "workers",
                mapping["end_date"],
                "end_date before start_date",
                "correct the dates (end_date is the leaving date)",
                positions=back,
                path=str(path),
            )
    frame["source_row"] = col.file_rows("workers", np.arange(len(frame)))
    report = reports["workers"]
    report.rows_read = report.rows_written = len(frame)
    return frame


def ingest_extract(settings: Settings, today: dt.date | None = None) -> Extract:
    """Read, validate and clean the extract described by a validated config.

    Parameters
    ----------
    settings
        The study settings (:func:`deepvalue.core.settings.load_settings`); reads ``extract``,
        ``covariates`` and ``outcomes``.
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
    ed = settings.extract.extract_date
    extract_date = dt.date.fromisoformat(ed) if ed else (today or dt.date.today())
    reports = {name: TableReport(path=str(spec.path)) for name, spec in settings.extract.tables().items()}
    opened = _open_tables(settings.extract, col)
    check_identifiers(opened, col, settings.covariates, ID_COLUMNS, settings.extract.not_names)
    clients = _clients(opened, settings, col, reports)
    workers = _workers(opened, settings, col, reports)
    contacts = _contacts(opened, settings, col, reports, clients, extract_date)
    outcomes = _outcomes(opened, settings, col, reports, clients)
    responses = read_responses(opened, settings, col, reports, clients, extract_date)
    if col.problems:
        raise ExtractError(col.problems, headline="the extract cannot be used as it is")

    if workers is not None:
        unknown = ~contacts["worker_id"].isin(workers["worker_id"])
        if unknown.any():
            reports["contacts"].warnings.append(
                f"{int(unknown.sum())} contacts (of {len(contacts)}) name a worker_id that is not in the workers "
                "table; the instrument treats their leaving date as unknown"
            )
    for name, tokens in col.missing_tokens.items():
        reports[name].warnings.extend(missing_token_warnings(tokens, f"extract.{name}"))
    reports["clients"].warnings.extend(covariate_warnings(clients, settings.covariates))
    for name, frame, columns in (
        ("clients", clients, ["start_date"]),
        ("contacts", contacts, ["contact_date"]),
        ("outcomes", outcomes, ["outcome_date"]),
        ("workers", workers, ["start_date", "end_date"]),
    ):
        if frame is not None:
            # a worker's leaving date may lie after the extract date (notice given)
            reports[name].warnings.extend(date_range_warnings(frame, columns, extract_date, {"end_date": False}))
    for name, rep in reports.items():
        assert rep.rows_read == rep.rows_written + sum(rep.dropped.values()), name
    tables = {"clients": clients, "contacts": contacts, "outcomes": outcomes}
    if workers is not None:
        tables["workers"] = workers
    if responses is not None:
        tables["responses"] = responses
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
    tables.setdefault(
        "workers",
        pd.DataFrame(
            {
                "worker_id": pd.Series([], dtype="str"),
                "end_date": pd.Series([], dtype="datetime64[ms]"),
                "source_row": pd.Series([], dtype="int64"),
            }
        ),
    )
    tables.setdefault("responses", empty_responses())  # questionnaires are optional
    for name, frame in tables.items():
        path = out_dir / f"{name}.parquet"
        write_parquet(frame, path)
        paths[name] = path
    Path(report_path).write_text(json.dumps(extract.report, indent=2, sort_keys=True) + "\n")
    return paths
