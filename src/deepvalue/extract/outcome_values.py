"""The outcomes table's values by how each outcome is recorded: checks that refuse, counts that warn.

A ``recorded: measured`` outcome has one row per measured client and a value of its type (0/1,
a whole number >= 0, a finite number). A ``recorded: events`` outcome has one row per occurrence,
``value`` empty or 1 (an empty value is read as 1: the row is the occurrence), several rows per
client, and no row for a client who had none. Undated occurrences cannot be placed in the
follow-up window: they are kept, counted here as a warning, and the cohort step excludes their
clients for that outcome with its own row in the outcome flow.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from deepvalue.core.errors import did_you_mean
from deepvalue.core.settings import Outcome
from deepvalue.extract.checks import Collector


def _shown(values: np.ndarray) -> str:
    return ", ".join(f"{x:g}" for x in sorted(set(values))[:3])


def check_outcome_values(
    spec: Outcome, rows: np.ndarray, v: np.ndarray, unparsed: np.ndarray, column: str, path: str, col: Collector
) -> None:
    """Add a problem for each kind of bad value among one outcome's rows (``rows``, a mask).

    ``v`` holds the parsed values (NaN when empty or unparsed), ``unparsed`` marks the values
    already reported as text.
    """
    name, kind = spec.name, spec.type
    if spec.recorded == "events":
        off = np.flatnonzero(rows & ~np.isnan(v) & (v != 1.0))
        if off.size:
            col.add(
                "outcomes",
                column,
                f"outcome '{name}' is recorded as events, and event rows hold values other than empty or 1 "
                f"(e.g. {_shown(v[off])})",
                "give one row per occurrence with value 1 (or empty) and no row for a client without one; "
                "if the table has one row per client with its value, set recorded: measured for this outcome",
                positions=off,
                path=path,
            )
        return
    empty = np.flatnonzero(rows & np.isnan(v) & ~unparsed)
    if empty.size:
        col.add(
            "outcomes",
            column,
            f"outcome '{name}' has empty values",
            "record a value on every outcome row, or remove the rows of clients whose outcome is unknown; if each "
            "row is one occurrence (a dated event), set recorded: events for this outcome",
            positions=empty,
            path=path,
        )
    if kind == "binary":
        off = np.flatnonzero(rows & ~np.isnan(v) & ~np.isin(v, (0.0, 1.0)))
        if off.size:
            col.add(
                "outcomes",
                column,
                f"binary outcome '{name}' has values other than 0 and 1 (e.g. {_shown(v[off])})",
                "recode to 0/1, or declare the outcome as continuous or count in the config",
                positions=off,
                path=path,
            )
    elif kind == "count":
        off = np.flatnonzero(rows & ~np.isnan(v) & ((v < 0) | (v != np.round(v))))
        if off.size:
            col.add(
                "outcomes",
                column,
                f"count outcome '{name}' has negative or fractional values",
                "give whole numbers >= 0, or declare the outcome as continuous",
                positions=off,
                path=path,
            )
    elif kind == "continuous":
        off = np.flatnonzero(rows & np.isinf(v))
        if off.size:
            col.add(
                "outcomes",
                column,
                f"outcome '{name}' has infinite values",
                "give finite numbers",
                positions=off,
                path=path,
            )


def events_as_ones(frame: pd.DataFrame, outcomes: tuple[Outcome, ...]) -> pd.DataFrame:
    """Event rows with an empty value read as 1 (each row is one occurrence)."""
    events = [o.name for o in outcomes if o.recorded == "events"]
    if not events:
        return frame
    fill = frame["outcome"].isin(events).to_numpy() & np.isnan(frame["value"].to_numpy(dtype=float))
    if fill.any():
        frame = frame.copy()
        frame.loc[fill, "value"] = 1.0
    return frame


def measured_rows(frame: pd.DataFrame, outcomes: tuple[Outcome, ...]) -> np.ndarray:
    """Rows of measured outcomes (one row per client and outcome is required of them only)."""
    measured = [o.name for o in outcomes if o.recorded == "measured"]
    return frame["outcome"].isin(measured).to_numpy()


def undated_outcome_warnings(frame: pd.DataFrame, outcomes: tuple[Outcome, ...]) -> list[str]:
    """Per outcome: undated occurrences (events) and undated 0s (measured binary), with what the
    cohort step does with them."""
    if "outcome_date" not in frame:
        return []
    undated = frame["outcome_date"].isna().to_numpy()
    out = []
    for spec in outcomes:
        rows = (frame["outcome"] == spec.name).to_numpy() & undated
        if not rows.any():
            continue
        if spec.recorded == "events":
            clients = frame["client_id"][rows].nunique()
            out.append(
                f"outcome {spec.name!r}: {int(rows.sum())} occurrences without an outcome_date ({clients} clients): "
                "they cannot be placed in the follow-up window, so those clients are excluded for this outcome "
                "(outcome_flow.csv: 'undated occurrence: timing unknown'); give every occurrence its date"
            )
        elif spec.type == "binary":
            zeros = int((rows & (frame["value"].to_numpy() == 0)).sum())
            if zeros:
                out.append(
                    f"outcome {spec.name!r}: {zeros} rows with value 0 and no outcome_date, read as 'no event' "
                    "(counted as 0 when the client's follow-up is complete at the extract date)"
                )
    return out


def check_outcome_services(outcomes: tuple[Outcome, ...], services: pd.Series, column: str, path: str, col: Collector):
    """A problem for each outcome whose ``services`` names a service that no client has (a typo
    would otherwise exclude every client of the meant service)."""
    present = sorted(services.dropna().unique())
    for i, spec in enumerate(outcomes):
        unknown = [s for s in spec.services or () if s not in present]
        if unknown:
            col.add(
                "clients",
                column,
                f"outcomes[{i}].services of '{spec.name}' names services no client has: "
                f"{', '.join(repr(s) for s in unknown)}",
                f"{did_you_mean(unknown[0], present)}use the service values of the clients table: {', '.join(present)}",
                path=path,
            )
