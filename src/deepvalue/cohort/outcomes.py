"""Outcome timing: each outcome's value per cohort client, and the outcome flow that accounts for
every client.

Every outcome: clients of a service the outcome does not apply to (``services``) are excluded
first ("service without this outcome"). A client counts only when its follow-up window (index
date, index date + ``follow_up_days``] has closed on or before the extract date; the others are
excluded for that outcome ("follow-up not complete at the extract date").

``recorded: measured`` (one row per measured client): the value counts when dated after the
index date and within follow-up. Dated on or before the index date: excluded (it overlaps the
exposure). Undated: excluded (timing unknown), except a binary 0, which says no event happened
and is kept. After follow-up: a binary 1 is recoded 0 (the event did not happen *within* it), a
binary 0 stays 0; a continuous or count value is excluded. Clients without a row are excluded.

``recorded: events`` (one dated row per occurrence): binary = 1 when an occurrence falls in the
follow-up window, else 0; count = the occurrences in it. Occurrences on or before the index date
or after the window are not counted (the client stays in). A client without a row had none (0).
A client with an undated occurrence is excluded ("undated occurrence: timing unknown"): it may
fall in the window or not, and it is neither counted nor dropped without a row in the flow.

Time to event (``time_to_event``, events binary outcomes; read by km_ipw only): days from the
index date to the first occurrence in the window (event observed), else censored at the horizon or,
when the follow-up is incomplete, at the extract date. Those clients keep a time (censored) while
the outcome column excludes them; other services and undated occurrences get no time.

Vectorised: integer positions of the rows' clients, then ``np.bincount`` per outcome.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from deepvalue.core.keys import positions_in
from deepvalue.core.settings import Outcome

OUTCOME_FLOW_COLUMNS = ["outcome", "step", "n_remaining", "n_excluded", "reason"]


def time_to_event_columns(name: str) -> tuple[str, str]:
    """The analysis table's time-to-event columns of an outcome: days to the first occurrence or
    to censoring, and 1 when the occurrence was observed (0: censored)."""
    return f"{name}_days_to_event", f"{name}_event_observed"


def follow_up_complete(index_date: np.ndarray, days: int, extract_date: dt.date) -> np.ndarray:
    """True where the follow-up window (index date + ``days``) closes on or before the extract date."""
    end = index_date.astype("datetime64[D]") + np.timedelta64(int(days), "D")
    return end <= np.datetime64(extract_date, "D")


def _first_rows(
    out: pd.DataFrame, spec: Outcome, complete: np.ndarray, extract_date: dt.date
) -> tuple[list, np.ndarray]:
    """The flow's first rows (cohort, other services, follow-up incomplete) and who is left."""
    n = len(out)
    flow = [(spec.name, "cohort", n, 0, "")]
    keep = np.ones(n, dtype=bool)
    if spec.services is not None:
        keep = out["service"].isin(spec.services).to_numpy()
        flow.append(
            (
                spec.name,
                "excluded",
                int(keep.sum()),
                int((~keep).sum()),
                f"service without this outcome (outcomes.services: {', '.join(spec.services)})",
            )
        )
    incomplete = keep & ~complete
    keep = keep & complete
    flow.append(
        (
            spec.name,
            "excluded",
            int(keep.sum()),
            int(incomplete.sum()),
            f"follow-up not complete at the extract date (index date + {spec.follow_up_days} days after "
            f"{extract_date.isoformat()})",
        )
    )
    return flow, keep


def measure_outcome(
    out: pd.DataFrame, outcomes: pd.DataFrame, spec: Outcome, extract_date: dt.date
) -> tuple[np.ndarray, list[tuple], tuple[np.ndarray, np.ndarray] | None]:
    """One outcome's value per cohort client (NaN when not analysed), its outcome flow rows, and
    with ``time_to_event`` the days to event or censoring and the event flag (NaN: no time).

    Parameters
    ----------
    out
        The cohort: ``client_id``, ``service`` and ``index_date`` (datetime64) per client.
    outcomes
        The canonical outcomes table (every outcome's rows).
    spec
        The outcome (name, type, follow_up_days, recorded).
    extract_date
        The extract's date (the ingest report's ``extract_date``).
    """
    rows = outcomes.loc[(outcomes["outcome"] == spec.name).to_numpy()]
    pos = positions_in(rows["client_id"], out["client_id"])
    rows = rows.loc[pos >= 0]
    pos = pos[pos >= 0]
    complete = follow_up_complete(out["index_date"].to_numpy("datetime64[s]"), spec.follow_up_days, extract_date)
    flow, kept = _first_rows(out, spec, complete, extract_date)
    if spec.recorded == "events":
        timed = None
        if spec.time_to_event:  # every client of the outcome's services, follow-up complete or not
            timed = np.ones(len(out), dtype=bool) if spec.services is None else out["service"].isin(spec.services)
            timed = np.asarray(timed, dtype=bool)
        return _events(out, rows, pos, spec, kept, flow, timed, extract_date)
    return (*_measured(out, rows, pos, spec, kept, flow), None)


def _events(out, rows, pos, spec, kept, flow, timed, extract_date):
    name, days, n = spec.name, int(spec.follow_up_days), len(out)
    when = rows["outcome_date"].to_numpy("datetime64[s]")
    index = out["index_date"].to_numpy("datetime64[s]")[pos]
    undated = np.isnat(when)
    in_window = ~undated & (when > index) & (when <= index + np.timedelta64(days, "D"))
    found = np.bincount(pos[in_window], minlength=n)
    has_undated = np.bincount(pos[undated], minlength=n) > 0
    value = found.astype(np.float64) if spec.type == "count" else (found > 0).astype(np.float64)

    remaining = int(kept.sum())
    undated_out = kept & has_undated
    k = int(undated_out.sum())
    remaining -= k
    flow.append((name, "excluded", remaining, k, "undated occurrence: timing unknown"))
    value[~kept | undated_out] = np.nan
    flow.append((name, "analysed", remaining, 0, ""))
    analysed = ~np.isnan(value)
    # every analysed client counted once, by what was found in its follow-up window
    none, some = int((analysed & (found == 0)).sum()), int((analysed & (found > 0)).sum())
    flow.append((name, "counted", remaining - none, none, "no occurrence in the follow-up window: value 0"))
    flow.append(
        (
            name,
            "counted",
            remaining - none - some,
            some,
            "an occurrence in the follow-up window: value 1"
            if spec.type == "binary"
            else "occurrences in the follow-up window: value = their number",
        )
    )
    assert remaining == int(analysed.sum()) == none + some
    timing = None
    if timed is not None:
        timed = timed & ~has_undated
        timing = _time_to_event(out, pos, when, index, in_window, timed, days, extract_date)
    return value, flow, timing


def _time_to_event(out, pos, when, index, in_window, timed, days, extract_date) -> tuple[np.ndarray, np.ndarray]:
    """Days from the index date to the first occurrence in the window (observed), else to the end
    of follow-up: the horizon, or the extract date when it comes first (censored)."""
    n = len(out)
    delta = ((when[in_window] - index[in_window]) // np.timedelta64(1, "D")).astype(np.float64)
    first = np.full(n, np.inf)
    np.minimum.at(first, pos[in_window], delta)
    own_index = out["index_date"].to_numpy("datetime64[s]")
    censor = np.minimum(float(days), ((np.datetime64(extract_date, "s") - own_index) // np.timedelta64(1, "D")))
    observed = first <= censor
    time = np.where(observed, first, censor).astype(np.float64)
    time[~timed] = np.nan
    event = np.where(timed, observed.astype(np.float64), np.nan)
    return time, event


def _measured(out, rows, pos, spec, kept, flow) -> tuple[np.ndarray, list[tuple]]:
    name, kind, days, n = spec.name, spec.type, int(spec.follow_up_days), len(out)
    value = np.full(n, np.nan)
    value[pos] = rows["value"].to_numpy(dtype=float)
    recorded = np.zeros(n, dtype=bool)
    recorded[pos] = True

    remaining = int(kept.sum())
    value[~kept] = np.nan
    recorded &= kept
    excluded = kept & ~recorded
    remaining -= int(excluded.sum())
    flow.append((name, "excluded", remaining, int(excluded.sum()), "no outcome row for this client"))
    if "outcome_date" in rows:
        when = np.full(n, np.datetime64("NaT"), dtype="datetime64[s]")
        when[pos] = rows["outcome_date"].to_numpy("datetime64[s]")
        index = out["index_date"].to_numpy("datetime64[s]")
        # a binary 0 without a date says that no event happened: nothing to place in time
        undated = recorded & np.isnat(when) & ~((kind == "binary") & (value == 0))
        dated = recorded & ~np.isnat(when)
        before = dated & (when <= index)
        late = dated & (when > index + np.timedelta64(days, "D"))
        for mask, reason in (
            (undated, "outcome_date missing: timing against the index date unknown"),
            (before, "outcome dated on or before the index date (overlaps the exposure window)"),
        ):
            k = int(mask.sum())
            remaining -= k
            flow.append((name, "excluded", remaining, k, reason))
            value[mask] = np.nan
        if kind == "binary":
            recoded = late & (value == 1)
            value[recoded] = 0.0
            flow.append(
                (
                    name,
                    "recoded",
                    remaining,
                    0,
                    f"{int(recoded.sum())} events dated after {days} days of follow-up counted as 0",
                )
            )
            # a 0 recorded after follow-up is also 0 within it: nothing to exclude
            late_other = np.zeros(n, dtype=bool)
        else:
            late_other = late
        k = int(late_other.sum())
        remaining -= k
        value[late_other] = np.nan
        flow.append((name, "excluded", remaining, k, f"measured more than {days} days after the index date"))
    else:
        flow.append((name, "note", remaining, 0, "no outcome_date column: timing against the index date not checked"))
    flow.append((name, "analysed", remaining, 0, ""))
    assert remaining == int(np.isfinite(value).sum())
    return value, flow
