"""Outcomes: potential outcomes under continuity and fragmentation, the observed outcome rows and
their dates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from deepvalue.synth.arrays import _date_series, _expit, _mean_or_none, _sha256_ids, _str_series
from deepvalue.synth.clients import _Clients, _labels
from deepvalue.synth.parameters import (
    BETA_CRISIS,
    BETA_JOB,
    BETA_JOB_COMPLEXITY,
    CRISIS_COMPLEXITY,
    CRISIS_ENGAGEMENT,
    CRISIS_MEAN,
    CRISIS_QUALITY,
    CRISIS_WELFARE_LOG,
    EARLY_OUTCOME_SHARE,
    INCOME_COMPLEXITY,
    INCOME_ENGAGEMENT,
    INCOME_MEAN_GBP,
    INCOME_QUALITY,
    INCOME_SD_GBP,
    JOB_COMPLEXITY,
    JOB_ENGAGEMENT,
    JOB_INTERCEPT,
    JOB_QUALITY,
    LATE_EVENT_MAX_DAYS,
    LATE_EVENT_SHARE,
    OUTCOMES,
    SERVICES,
    SITE_CRISIS_LOG,
    SITE_INCOME_GBP,
    SITE_JOB_LOGIT,
    TAU_INCOME_COMPLEXITY,
    TAU_INCOME_GBP,
    BoolArray,
    FloatArray,
    IntArray,
)
from deepvalue.synth.truth import time_to_event_truth


@dataclass(frozen=True)
class _Potential:
    """Per-client potential-outcome means and coupled draws for one outcome."""

    applies: BoolArray
    mu0: FloatArray
    mu1: FloatArray
    y0: FloatArray
    y1: FloatArray


def _draw_potential_outcomes(
    rng: np.random.Generator,
    cl: _Clients,
    quality: FloatArray,
    effect: float = 1.0,
    engagement: FloatArray | None = None,
) -> dict[str, _Potential]:
    """Potential outcomes; ``effect`` scales every effect of continuity (0: the null scenario);
    ``engagement`` (the engagement scenario's unobserved client trait) loads on every outcome
    through ``JOB_ENGAGEMENT``, ``INCOME_ENGAGEMENT`` and ``CRISIS_ENGAGEMENT``."""
    n = len(cl.site)
    c = cl.complexity
    employment = cl.service == 0
    e = np.zeros(n) if engagement is None else engagement

    job_lp = JOB_INTERCEPT + np.asarray(SITE_JOB_LOGIT)[cl.site] + JOB_QUALITY * quality - JOB_COMPLEXITY * c
    job_lp = job_lp + JOB_ENGAGEMENT * e
    p0 = _expit(job_lp)
    p1 = _expit(job_lp + effect * (BETA_JOB + BETA_JOB_COMPLEXITY * c))
    u = rng.random(n)  # one uniform couples Y(0) and Y(1): Y(1) >= Y(0) for every client
    job = _Potential(employment, p0, p1, (u < p0).astype(np.float64), (u < p1).astype(np.float64))

    m0 = INCOME_MEAN_GBP + np.asarray(SITE_INCOME_GBP)[cl.site] + INCOME_QUALITY * quality - INCOME_COMPLEXITY * c
    m0 = m0 + INCOME_ENGAGEMENT * e
    m1 = m0 + effect * (TAU_INCOME_GBP + TAU_INCOME_COMPLEXITY * c)
    noise = INCOME_SD_GBP * rng.standard_normal(n)
    income = _Potential(~employment, m0, m1, np.round(m0 + noise, 2), np.round(m1 + noise, 2))

    log_mu = (
        math.log(CRISIS_MEAN)
        + np.asarray(SITE_CRISIS_LOG)[cl.site]
        + CRISIS_QUALITY * quality
        + CRISIS_COMPLEXITY * c
        + CRISIS_WELFARE_LOG * cl.service
        + CRISIS_ENGAGEMENT * e
    )
    mu0 = np.exp(log_mu)
    mu1 = np.exp(log_mu + effect * np.asarray([BETA_CRISIS[s] for s in SERVICES])[cl.service])
    crisis = _Potential(
        np.ones(n, dtype=bool),
        mu0,
        mu1,
        rng.poisson(mu0).astype(np.float64),
        rng.poisson(mu1).astype(np.float64),
    )
    return {"job_start": job, "income_gain_gbp": income, "crisis_contacts": crisis}


def _draw_outcome_dates(rng: np.random.Generator, n: int) -> dict[str, tuple[FloatArray, FloatArray, BoolArray]]:
    """Per outcome: uniforms for the event day and for an early day, and the early flag."""
    return {name: (rng.random(n), rng.random(n), rng.random(n) < EARLY_OUTCOME_SHARE) for name in OUTCOMES}


@dataclass(frozen=True)
class _EventDraws:
    """The events recording's own draws (its stream): late flags and days per client, and for
    count outcomes one uniform per potential occurrence (max(Y(0), Y(1)) per client)."""

    late: BoolArray
    u_late: FloatArray
    u_occurrence: dict[str, FloatArray]


def _draw_event_dates(rng: np.random.Generator, potential: dict[str, _Potential]) -> dict[str, _EventDraws]:
    """Draws for event recording, sized by the potential outcomes (never by the exposure config)."""
    out = {}
    for name, spec in OUTCOMES.items():
        po = potential[name]
        n = len(po.y0)
        occurrences = {}
        if spec["type"] == "count":
            occurrences["count"] = rng.random(int(np.maximum(po.y0, po.y1).sum()))
        out[name] = _EventDraws(rng.random(n) < LATE_EVENT_SHARE, rng.random(n), occurrences)
    return out


def _event_rows(
    spec: dict[str, Any],
    po: _Potential,
    y: FloatArray,
    event_day: IntArray,
    early: BoolArray,
    early_day: IntArray,
    index_day: IntArray,
    draws: _EventDraws,
) -> tuple[IntArray, IntArray]:
    """(client, day) of one outcome's occurrences: the realised ones in the follow-up window, one
    before the index date for the early-flagged clients, one after the window for the late ones."""
    follow_up = spec["follow_up_days"]
    if spec["type"] == "binary":
        clients = np.flatnonzero(po.applies & (y == 1))
        days = event_day[clients]
    else:
        m = np.maximum(po.y0, po.y1).astype(np.int64)
        owner = np.repeat(np.arange(len(y)), m)
        rank = np.arange(owner.size) - np.repeat(np.cumsum(m) - m, m)
        # the first Y(d) of a client's potential occurrences are the realised ones
        keep = (rank < y[owner]) & po.applies[owner]
        clients = owner[keep]
        # the r-th of a client's y occurrences falls in the r-th of y equal parts of the window, so
        # no two are on one day (the ingest takes identical rows for one occurrence exported twice)
        y_c, r = y[clients].astype(np.int64), rank[keep]
        lo, hi = r * follow_up // y_c, (r + 1) * follow_up // y_c
        days = index_day[clients] + 1 + lo + np.floor(draws.u_occurrence["count"][keep] * (hi - lo)).astype(np.int64)
    before = np.flatnonzero(po.applies & early)
    after = np.flatnonzero(po.applies & draws.late & ((y == 0) if spec["type"] == "binary" else True))
    late_day = index_day + follow_up + 1 + np.floor(draws.u_late * LATE_EVENT_MAX_DAYS).astype(np.int64)
    return (
        np.concatenate([clients, before, after]),
        np.concatenate([days, early_day[before], late_day[after]]),
    )


def _departure_truth(
    effect: FloatArray, treated: BoolArray, population: BoolArray, instrument: BoolArray, stayed: BoolArray
) -> dict[str, float | None]:
    r"""The truths of departure_reduced_form (ITT) and of the iv row (LATE).

    For a client whose allocated worker left in the window (:math:`Z = 1`), ``stayed`` is
    :math:`D(0)`, the exposure had that worker stayed (the later contacts in the worker's slot seen
    by them rather than their successor; the same hand-off draws), and the realised D is
    :math:`D(1)`. Over the analysed clients with :math:`Z = 1` (representative of everyone, the
    departure being as good as random given the window's length):

    .. math::
        ITT = \overline{\tau_i (D_i(1) - D_i(0))}, \qquad
        LATE = \frac{\sum_i \tau_i (D_i(1) - D_i(0))}{\sum_i (D_i(1) - D_i(0))}

    with :math:`\tau_i = \mu_1(x_i) - \mu_0(x_i)`: the effect of a departure on the outcome, and the
    Wald ratio's target, the effect among the clients whose continuity the departure decided
    (Imbens and Angrist 1994; defiers, if any, count with weight -1, as in the Wald ratio).
    """
    rows = population & instrument
    moved = treated[rows].astype(np.float64) - stayed[rows].astype(np.float64)
    shift = float(moved.sum())
    return {
        "itt": _mean_or_none(effect[rows] * moved),
        "late": float((effect[rows] * moved).sum() / shift) + 0.0 if shift != 0 else None,  # + 0.0: no -0.0
    }


def _outcomes(
    potential: dict[str, _Potential],
    date_draws: dict[str, tuple[FloatArray, FloatArray, BoolArray]],
    treated: BoolArray,
    eligible: BoolArray,
    first_day: IntArray,
    index_day: IntArray,
    client_ids: pa.LargeStringArray,
    extract_day: int,
    event_draws: dict[str, _EventDraws] | None = None,
    departure: tuple[BoolArray, BoolArray] | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Long outcomes table and the per-outcome truth.

    ``departure`` = (instrument, treated had the allocated worker stayed): adds the departure
    designs' truths, ``itt`` and ``late`` (:func:`_departure_truth`).

    ``event_draws`` given: event recording (binary and count outcomes as dated occurrences).
    Rows dated after the extract date have not happened and are left out; the truth is over the
    clients whose follow-up closed by the extract date (all of them in measured recording).
    """
    clients, codes, values, days = [], [], [], []
    truth: dict[str, Any] = {}
    for code, (name, spec) in enumerate(OUTCOMES.items()):
        po = potential[name]
        follow_up = spec["follow_up_days"]
        y = np.where(treated, po.y1, po.y0)
        u_event, u_early, early = date_draws[name]
        event_day = index_day + 1 + np.floor(u_event * follow_up).astype(np.int64)
        # Recorded during the exposure window: the pipeline must exclude these clients (measured)
        # or not count the occurrence (events).
        early_day = first_day + np.floor(u_early * (index_day - first_day + 1)).astype(np.int64)
        events = event_draws is not None and spec["type"] != "continuous"
        if events:
            rows, row_day = _event_rows(spec, po, y, event_day, early, early_day, index_day, event_draws[name])
            row_value = np.ones(len(rows))
            on_time = np.ones(len(y), dtype=bool)
        else:
            day = index_day + follow_up
            if spec["type"] == "binary":
                # An event is dated when it happens; a non-event when follow-up ends.
                day = np.where(y == 1, event_day, day)
            day = np.where(early, early_day, day)
            rows = np.flatnonzero(po.applies)
            row_day, row_value = day[rows], y[rows]
            on_time = (day > index_day) & (day <= index_day + follow_up)
        happened = row_day <= extract_day
        clients.append(rows[happened])
        codes.append(np.full(int(happened.sum()), code, dtype=np.int64))
        values.append(row_value[happened])
        days.append(row_day[happened])

        base = eligible & po.applies
        complete = index_day + follow_up <= extract_day
        population = base & complete & on_time
        effect = po.mu1 - po.mu0
        in_t, in_c = population & treated, population & ~treated
        truth[name] = {
            "type": spec["type"],
            "scale": "risk_difference" if spec["type"] == "binary" else "mean_difference",
            "follow_up_days": follow_up,
            "services": list(spec["services"]),
            "att": _mean_or_none(effect[in_t]),
            "ate": _mean_or_none(effect[population]),
            "atc": _mean_or_none(effect[in_c]),
            "mean_potential_0_treated": _mean_or_none(po.mu0[in_t]),
            "mean_potential_1_treated": _mean_or_none(po.mu1[in_t]),
            "n_eligible": int(base.sum()),
            "n_excluded_outcome_not_after_index": int((base & complete & ~on_time).sum()),
            "n_treated": int(in_t.sum()),
            "n_control": int(in_c.sum()),
            "population_sha256": _sha256_ids(client_ids.filter(pa.array(population))),
            "treated_sha256": _sha256_ids(client_ids.filter(pa.array(in_t))),
        }
        if departure is not None:
            truth[name].update(_departure_truth(effect, treated, population, *departure))
        if event_draws is not None:
            truth[name]["recorded"] = "events" if events else "measured"
            truth[name]["n_excluded_follow_up_incomplete"] = int((base & ~complete).sum())
            if events and spec["type"] == "binary":
                truth[name]["time_to_event"] = time_to_event_truth(po.mu0, po.mu1, base, treated, follow_up, client_ids)

    client = np.concatenate(clients)
    code = np.concatenate(codes)
    day = np.concatenate(days)
    # one block per client, outcomes in a fixed order, a client's occurrences by date
    order = np.lexsort((day, code, client))
    frame = pd.DataFrame(
        {
            "client_id": _str_series(pc.take(client_ids, pa.array(client[order]))),
            "outcome": _labels(tuple(OUTCOMES), code[order]),
            "value": np.concatenate(values)[order].astype(np.float64),
            "outcome_date": _date_series(day[order]),
        }
    )
    return frame, truth
