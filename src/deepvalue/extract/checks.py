"""The ingest's problem collector and its cross-table checks that warn rather than refuse.

Warnings go into the ingest report (``ingest_report.json``, printed by ``deepvalue validate``
and shown in the report's data section); problems stop the ingest with one message each.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from deepvalue.core.errors import Problem, did_you_mean
from deepvalue.core.keys import positions_in

MAX_SHOWN = 5
#: Dates before this are taken to be placeholders or typos (1900-01-01, 0021-01-04) and warned of.
PLAUSIBLE_FROM = dt.date(1990, 1, 1)


class Collector:
    """Gathers problems across all tables so that they are reported together."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        # per table: the file's row number of each data row (None: header row + 1 + position),
        # and the header's row
        self.row_maps: dict[str, tuple[np.ndarray | None, int]] = {}
        self.missing_tokens: dict[str, dict[str, dict[str, int]]] = {}

    def file_rows(self, table: str, positions: np.ndarray) -> np.ndarray:
        """The file's row numbers (a CSV's line, a sheet's row) of 0-based data positions."""
        rows, header = self.row_maps.get(table, (None, 1))
        positions = np.asarray(positions, dtype=np.int64)
        return rows[positions] if rows is not None else positions + header + 1

    def positions_of(self, table: str, file_rows: np.ndarray) -> np.ndarray:
        """The inverse of :meth:`file_rows`."""
        rows, header = self.row_maps.get(table, (None, 1))
        file_rows = np.asarray(file_rows, dtype=np.int64)
        return np.searchsorted(rows, file_rows) if rows is not None else file_rows - header - 1

    def add(
        self,
        table: str,
        column: str | None,
        message: str,
        fix: str,
        positions: np.ndarray | None = None,
        path: str | None = None,
    ) -> None:
        rows: tuple[int, ...] = ()
        count = None
        if positions is not None:
            positions = np.asarray(positions)
            count = int(positions.size)
            rows = tuple(int(r) for r in self.file_rows(table, positions[:MAX_SHOWN]))
        self.problems.append(Problem(table, column, message, fix, rows=rows, count=count, path=path))


def _rows_text(rows: np.ndarray) -> str:
    shown = ", ".join(str(int(r)) for r in rows[:MAX_SHOWN])
    return f"row{'s' if len(rows) > 1 else ''} {shown}{', ...' if len(rows) > MAX_SHOWN else ''}"


def missing_token_warnings(tokens: dict[str, dict[str, int]], key: str) -> list[str]:
    """One line per column where cell texts such as 'NA' were read as missing.

    >>> print(missing_token_warnings({"site": {"NA": 12}}, "extract.clients")[0][:55])
    site: 12 cells read as missing for their text ('NA' 12)
    """
    out = []
    for column, counts in tokens.items():
        n = sum(counts.values())
        each = ", ".join(f"{t!r} {c}" for t, c in counts.items())
        out.append(
            f"{column}: {n} cells read as missing for their text ({each}); if one is a real value "
            f"(a site called NA), leave it out of {key}.missing_values"
        )
    return out


def _normal_ids(values: pd.Series) -> pd.Series:
    """Ids as an export may have changed them: case, surrounding spaces, leading zeros of a number.

    >>> _normal_ids(pd.Series(["C0000002", "c002", "000123", " 123 ", "W-0042"])).tolist()
    ['c2', 'c2', '123', '123', 'w-42']
    """
    return values.astype(str).str.strip().str.lower().str.replace(r"(?<![0-9])0+(?=[0-9])", "", regex=True)


def contact_client_warnings(
    ids: pd.Series, known: pd.Series, unknown: np.ndarray, table: str, column: str
) -> tuple[str | None, str | None]:
    """(problem, warning) about rows whose client id matches no client of the clients table.

    A problem when no row matches (the tables do not belong together, or every id was changed
    on the way); a warning with the count otherwise. Both say how many of the unmatched ids do
    match once case and leading zeros are ignored (Excel drops leading zeros of numbers; some
    exports change case), which points at the fix.
    """
    n_unknown, n = int(unknown.sum()), len(ids)
    if n_unknown == 0:
        return None, None
    bad = ids[unknown]
    distinct = pd.Series(bad.unique())
    normal_known = pd.Index(_normal_ids(pd.Series(known.unique())))
    near = distinct[_normal_ids(distinct).isin(normal_known).to_numpy()]
    near_rows = int(bad.isin(near).sum())
    examples = ", ".join(repr(v) for v in distinct.head(3))
    hint = (
        f"; {near_rows} of them match a client once case and leading zeros are ignored (e.g. "
        f"{near.iloc[0]!r}): export the ids as text, unchanged, from the same system"
        if near_rows
        else ""
    )
    text = f"{n_unknown} {table} rows (of {n}) have a {column} that is not in the clients table (e.g. {examples}){hint}"
    if n_unknown == n:
        return (
            f"no {table} row's {column} matches a client of the clients table (e.g. {examples}; clients' ids "
            f"look like {', '.join(repr(v) for v in known.head(2))}){hint}",
            None,
        )
    return None, text + "; these rows are dropped"


def outcome_name_warnings(names: pd.Series, configured: list[str]) -> list[str]:
    """Outcome names in the file that differ from a configured one only in case, spacing or
    punctuation (their rows are dropped as not named in the config)."""
    out = []
    unnamed = names[positions_in(names, configured) < 0]
    for name, count in unnamed.value_counts().sort_index().items():
        hint = did_you_mean(name, configured)
        if hint:
            out.append(
                f"outcome {name!r} ({count} rows) is not an outcome of the config and its rows are dropped; "
                f"{hint.strip()} (rename it in the file, or add it under outcomes)"
            )
    return out


def date_range_warnings(
    frame: pd.DataFrame, columns: list[str], extract_date: dt.date, upper: dict[str, bool] | None = None
) -> list[str]:
    """Dates before :data:`PLAUSIBLE_FROM` or after the extract date (placeholders such as
    1900-01-01 or 2099-01-01, or typos such as 0021-01-04), with their rows (``source_row``)."""
    lo = np.datetime64(PLAUSIBLE_FROM, "D")
    hi = np.datetime64(extract_date, "D")
    out = []
    for column in columns:
        if column not in frame:
            continue
        days = frame[column].to_numpy(dtype="datetime64[D]")
        late = (days > hi) if (upper or {}).get(column, True) else np.zeros(len(days), dtype=bool)
        odd = ~np.isnat(days) & ((days < lo) | late)
        if odd.any():
            rows = frame["source_row"].to_numpy()[odd]
            vals = ", ".join(sorted({str(d) for d in days[odd][:50]})[:3])
            out.append(
                f"{column}: {int(odd.sum())} dates outside {PLAUSIBLE_FROM} to {extract_date} (e.g. {vals}; "
                f"{_rows_text(rows)}): check for placeholder or mistyped dates"
            )
    return out


def covariate_warnings(clients: pd.DataFrame, covariates) -> list[str]:
    """Covariates that are empty or take one value: they adjust for nothing and the models leave them out."""
    out = []
    for cov in covariates:
        if cov.name not in clients:
            continue
        values = clients[cov.name]
        present = values.dropna()
        if present.empty:
            out.append(f"covariate {cov.name} is empty for every client: the models leave it out")
        elif present.nunique() == 1:
            value = present.iloc[0]
            shown = f"{value:g}" if isinstance(value, (int, float, np.number)) else repr(value)
            out.append(
                f"covariate {cov.name} takes one value ({shown}) for every client with a value: "
                "the models leave it out (its missing-value indicator stays when some are missing)"
            )
    return out


def unmatched_clients(ids, known, unknown, table, mapping, path, col, report) -> bool:
    """Warn of rows whose client matches no client; a problem (True) when none matches."""
    problem, warning = contact_client_warnings(ids, known, unknown, table, mapping["client_id"])
    if problem:
        col.add(
            table,
            mapping["client_id"],
            problem,
            f"check that extract.{table} and extract.clients come from the same extract, and that "
            f"extract.{table}.columns.client_id names the client id column",
            path=str(path),
        )
        return True
    if warning:
        report.warnings.append(warning)
    return False
