"""The analysis cohort: exposure window, continuity, treatment, instrument, outcomes, and the flow.

DESIGN section 5 (Exposure). For each client, contacts are ordered by date (ties by contact_id,
else by file order). The exposure window is the first K contacts (``window_contacts``); a client
is eligible when it has at least K contacts and the K-th falls within ``window_max_days`` of the
first. The index date is the date of the K-th contact. Continuity indices are computed over the
window, so every eligible client's indices rest on the same number of contacts (indices depend
mechanically on N). Treatment is 1 (continuous) when the configured index is at least the
threshold, else 0 (fragmented).

Outcomes count only after the index date, within each outcome's ``follow_up_days``: exposure and
outcome must not overlap; and only for clients whose follow-up has closed by the extract date.
A measured outcome dated on or before the index date makes the client ineligible *for that
outcome*; an event dated so is not counted. Every exclusion is counted in the outcome flow
(:mod:`deepvalue.cohort.outcomes`).

Everything is vectorised over integer codes with one sort (no Python loop over clients).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from deepvalue.cohort.continuity import INDEX_NAMES, continuity_indices, primary_worker
from deepvalue.cohort.outcomes import OUTCOME_FLOW_COLUMNS, measure_outcome, time_to_event_columns
from deepvalue.cohort.questionnaires import cohort_questionnaires
from deepvalue.core.errors import AnalysisError, Problem
from deepvalue.core.keys import encode, positions_in
from deepvalue.core.settings import Settings

FLOW_COLUMNS = ["step", "n_remaining", "n_excluded", "reason"]


@dataclass(frozen=True)
class Cohort:
    """The analysis table (one row per eligible client) and the accounts of who was excluded."""

    analysis: pd.DataFrame
    flow: pd.DataFrame
    outcome_flow: pd.DataFrame
    #: internal consistency per questionnaire and administration (empty without questionnaires)
    reliability: pd.DataFrame | None = None


def _ordered_contacts(contacts: pd.DataFrame, client_codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Contacts sorted by client, date, then contact_id (or file order).

    One integer lexsort on (client, date, file order); contact_id, a string, only matters for
    contacts of one client on one day, so only those few rows are re-ordered by it.
    """
    dates = contacts["contact_date"].to_numpy("datetime64[D]").astype(np.int64)
    source = contacts["source_row"].to_numpy()
    order = np.lexsort((source, dates, client_codes))
    if "contact_id" in contacts and contacts["contact_id"].notna().all():
        c, d = client_codes[order], dates[order]
        same = (c[1:] == c[:-1]) & (d[1:] == d[:-1])
        tied = np.zeros(order.size, dtype=bool)
        tied[1:] |= same
        tied[:-1] |= same
        rows = np.flatnonzero(tied)
        if rows.size:
            group = np.cumsum(~np.concatenate(([False], same)))[rows]
            ids = contacts["contact_id"].to_numpy()[order[rows]]
            rank = pd.factorize(ids, sort=True)[0]
            order[rows] = order[rows][np.lexsort((source[order[rows]], rank, group))]
    return order, dates[order]


def build_cohort(tables: dict[str, pd.DataFrame], settings: Settings, extract_date: dt.date | str) -> Cohort:
    """Build the analysis cohort from the canonical (ingested) tables.

    Parameters
    ----------
    tables
        ``clients``, ``contacts``, ``outcomes`` and optionally ``workers``, as written by ingest.
    settings
        The study settings; reads ``exposure``, ``covariates`` and ``outcomes``.
    extract_date
        The date the extract was taken, as the ingest report records it (``extract_date``: the
        config's, or the run date when the config's is null). A client counts for an outcome only
        when its follow-up has closed by then.

    Returns
    -------
    Cohort
        ``analysis``: one row per eligible client with client_id, service, site, start_quarter,
        first_contact_date, index_date, n_contacts_total, treatment (0/1), the six indices,
        n_workers, primary_worker, first_worker_left (0/1, missing without a workers table or
        when the first worker is not in it), the covariates and one column per outcome.
        ``flow``: the exposure eligibility flow. ``outcome_flow``: per outcome, every cohort
        client from the cohort to the analysed (exclusions by reason; for events outcomes also
        the analysed clients with and without an occurrence).
        With ``questionnaires`` and a ``responses`` table, each questionnaire outcome adds its
        follow-up score (``name``, analysed clients only) and ``name_baseline``, each mediator
        ``name``, their rows of the outcome flow, and ``reliability``
        (:mod:`deepvalue.cohort.questionnaires`).

    Examples
    --------
    A client seen by A, A, B, A in the first four contacts has UPC 0.75 and is treated at the
    default threshold; one seen by A, B, C, A has UPC 0.5 and is not.
    """
    if isinstance(extract_date, str):
        extract_date = dt.date.fromisoformat(extract_date)
    exposure = settings.exposure
    k = int(exposure.window_contacts)
    max_days = int(exposure.window_max_days)
    clients = tables["clients"].reset_index(drop=True)
    contacts = tables["contacts"]
    workers = tables.get("workers")
    n_clients = len(clients)

    # integer codes: clients in the clients table's order, workers by first appearance
    client_code = positions_in(contacts["client_id"], clients["client_id"])
    known = client_code >= 0  # ingest already dropped unknown clients; keep the guard cheap
    contacts = contacts.loc[known]
    client_code = client_code[known]
    worker_code, worker_labels = encode(contacts["worker_id"])
    order, dates = _ordered_contacts(contacts, client_code)
    c_sorted = client_code[order]
    w_sorted = worker_code[order]

    # rank of each contact within its client
    n_total = np.bincount(c_sorted, minlength=n_clients)
    starts = np.concatenate(([0], np.cumsum(n_total)[:-1]))
    rank = np.arange(c_sorted.size) - starts[c_sorted]

    first_date = np.full(n_clients, np.iinfo(np.int64).min)
    has_contacts = n_total > 0
    first_date[has_contacts] = dates[starts[has_contacts]]
    enough = n_total >= k
    kth_date = np.full(n_clients, np.iinfo(np.int64).min)
    kth_date[enough] = dates[starts[enough] + k - 1]
    in_time = enough & (kth_date - first_date <= max_days)

    flow_rows = [("clients in the extract", n_clients, 0, "")]
    remaining = n_clients
    for mask, reason in (
        (~has_contacts, "no contacts (after cleaning)"),
        (has_contacts & ~enough, f"fewer than {k} contacts (window_contacts)"),
        (enough & ~in_time, f"contact {k} more than {max_days} days after the first (window_max_days)"),
    ):
        n = int(mask.sum())
        remaining -= n
        flow_rows.append(("excluded", remaining, n, reason))
    flow_rows.append(("analysis cohort", remaining, 0, ""))
    flow = pd.DataFrame(flow_rows, columns=FLOW_COLUMNS)
    if remaining == 0:
        raise AnalysisError(
            [
                Problem(
                    "cohort",
                    None,
                    "no client is eligible for the exposure window",
                    f"check exposure.window_contacts ({k}) and window_max_days ({max_days}) "
                    "against the number and spacing of contacts in the extract",
                )
            ],
            headline="the cohort is empty",
        )

    eligible = np.flatnonzero(in_time)
    window = (rank < k) & in_time[c_sorted]
    wc, ww = c_sorted[window], w_sorted[window]
    indices = continuity_indices(wc, ww)
    primary = primary_worker(wc, ww)
    first_worker = w_sorted[starts[eligible]]

    cohort = clients.iloc[eligible].reset_index(drop=True)
    start = pd.to_datetime(cohort["start_date"])
    out = pd.DataFrame(
        {
            "client_id": cohort["client_id"].to_numpy(),
            "service": cohort["service"].to_numpy(),
            "site": cohort["site"].to_numpy(),
            "start_quarter": start.dt.year.astype(str) + "Q" + start.dt.quarter.astype(str),
            "first_contact_date": first_date[eligible].astype("datetime64[D]").astype("datetime64[s]"),
            "index_date": kth_date[eligible].astype("datetime64[D]").astype("datetime64[s]"),
            "n_contacts_total": n_total[eligible],
        }
    )
    index_name = exposure.index
    values = indices[index_name].to_numpy()
    # N = K >= 2 in the window, so every index is defined; the guard documents the assumption
    assert not np.isnan(values).any()
    out["treatment"] = (values >= exposure.threshold - 1e-12).astype(np.int8)
    for name in INDEX_NAMES:
        out[name] = indices[name].to_numpy()
    out["n_workers"] = indices["n_workers"].to_numpy()
    out["primary_worker"] = pd.Series(worker_labels[primary], dtype="str")
    out["first_worker"] = pd.Series(worker_labels[first_worker], dtype="str")
    out["first_worker_left"] = _first_worker_left(out, workers)
    for cov in settings.covariates:
        out[cov.name] = cohort[cov.name].to_numpy()

    outcome_flow_rows = []
    for spec in settings.outcomes:
        values, rows, timing = measure_outcome(out, tables["outcomes"], spec, extract_date)
        out[spec.name] = values
        if timing is not None:
            for column, found in zip(time_to_event_columns(spec.name), timing):
                out[column] = found
        outcome_flow_rows += rows
    outcome_flow = pd.DataFrame(outcome_flow_rows, columns=OUTCOME_FLOW_COLUMNS)
    out, questionnaire_flow, reliability = cohort_questionnaires(out, tables, settings, extract_date)
    if len(questionnaire_flow):
        outcome_flow = pd.concat([outcome_flow, questionnaire_flow], ignore_index=True)
    return Cohort(analysis=out, flow=flow, outcome_flow=outcome_flow, reliability=reliability)


def _first_worker_left(out: pd.DataFrame, workers: pd.DataFrame | None) -> pd.Series:
    """1 when the first worker's leaving date falls inside the client's window (first contact to
    index date, inclusive), 0 when it does not or the worker had not left, missing when there is no
    workers table or the worker is not in it."""
    if workers is None or len(workers) == 0 or "end_date" not in workers:
        return pd.Series(pd.array([pd.NA] * len(out), dtype="Int8"))
    where = positions_in(out["first_worker"], workers["worker_id"])
    listed = where >= 0
    end = workers["end_date"].to_numpy("datetime64[s]")[np.maximum(where, 0)]
    left = listed & (end >= out["first_contact_date"].to_numpy()) & (end <= out["index_date"].to_numpy())
    result = pd.array(np.where(left, 1, 0), dtype="Int8")
    result[~listed] = pd.NA
    return pd.Series(result)
