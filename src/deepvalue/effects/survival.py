"""Time to event: IPW-weighted Kaplan-Meier curves by arm (``km_ipw``), with the difference in
cumulative incidence at the horizon and in restricted mean time to event, and their influence-
function standard errors.

For ``recorded: events`` binary outcomes with ``time_to_event`` (the cohort's
``<outcome>_days_to_event`` and ``<outcome>_event_observed`` columns): the time from the index
date to the first occurrence after it, censored at the horizon (``follow_up_days``) or, when the
follow-up is incomplete, at the extract date. Those clients are censored instead of excluded
(every other method excludes them).

The Kaplan-Meier estimator with weights is the product-limit estimator on weighted counts
(Xie and Liu 2005, "Adjusted Kaplan-Meier estimator and log-rank test with inverse probability of
treatment weighting for survival data", Statistics in Medicine 24:3089-3110); lifelines
``KaplanMeierFitter().fit(durations, event_observed, weights=w)`` computes the same curve, and the
tests check the two agree to 1e-10. The weights are those of :func:`deepvalue.effects.weighting.ipw`
(ATT: treated 1, controls e/(1-e); ATE: 1/e and 1/(1-e)) from the same logistic propensity model.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from deepvalue.adjust.design import covariate_design
from deepvalue.adjust.propensity import fit_propensity
from deepvalue.cohort.outcomes import time_to_event_columns
from deepvalue.core.errors import AnalysisError, Problem
from deepvalue.core.keys import positions_in
from deepvalue.core.settings import Outcome, Settings
from deepvalue.effects.base import (
    ArrayLike,
    EffectEstimate,
    FloatArray,
    WeightingEstimand,
    _check_clusters,
    _floats,
    _sample,
    _se_note,
    skipped_estimate,
)
from deepvalue.effects.cr2 import _cr2_df, _cr2_mean_residuals, _cr2_note, _variance
from deepvalue.effects.weighting import _ps_correction, _ps_model, _scores

RISK_SCALE = "risk_difference_at_horizon"
RMST_SCALE = "rmst_difference_days"
#: km_ipw's rows (method, estimand, scale), in estimates.csv's order
KM_ROWS = tuple(("km_ipw", estimand, scale) for estimand in ("ATT", "ATE") for scale in (RISK_SCALE, RMST_SCALE))


@dataclass(frozen=True)
class KaplanMeier:
    """A weighted Kaplan-Meier curve: its event times, weighted counts and survival after each.

    ``survival[j]`` is :math:`\\hat S(t)` for :math:`t_j \\le t < t_{j+1}` (1 before ``times[0]``).
    """

    times: FloatArray
    at_risk: FloatArray  # weighted number at risk just before each event time
    events: FloatArray  # weighted events at each time
    survival: FloatArray

    def at(self, t: float | FloatArray) -> FloatArray:
        """:math:`\\hat S(t)`, right-continuous."""
        k = np.searchsorted(self.times, np.asarray(t, dtype=float), side="right")
        return np.concatenate(([1.0], self.survival))[k]


def weighted_kaplan_meier(durations: FloatArray, events: FloatArray, weights: FloatArray) -> KaplanMeier:
    r"""The product-limit estimator on weighted counts.

    .. math::
        \hat S(t) = \prod_{t_j \le t} \Big(1 - \frac{d_j}{Y_j}\Big),\quad
        d_j = \sum_i w_i \delta_i 1[T_i = t_j],\quad Y_j = \sum_i w_i 1[T_i \ge t_j]

    over the distinct event times :math:`t_j` (a unit censored at :math:`t_j` is at risk at
    :math:`t_j`, lifelines' convention). Vectorised: one sort, a reversed cumulative sum.

    >>> km = weighted_kaplan_meier(np.array([1., 2, 2, 3, 5]), np.array([1., 0, 1, 1, 0]),
    ...                            np.array([1.5, 1, 2, 1, 1]))
    >>> [round(float(s), 6) for s in km.at([0.5, 1, 2, 4])]
    [1.0, 0.769231, 0.461538, 0.230769]
    """
    T, E, w = (np.asarray(a, dtype=float) for a in (durations, events, weights))
    event = E == 1
    times = np.unique(T[event])
    dN = np.bincount(np.searchsorted(times, T[event]), weights=w[event], minlength=times.size)
    order = np.argsort(T, kind="stable")
    tail = np.concatenate((np.cumsum(w[order][::-1])[::-1], [0.0]))
    Y = tail[np.searchsorted(T[order], times, side="left")]
    return KaplanMeier(times, Y, dN, np.cumprod(1.0 - dN / Y))


@dataclass(frozen=True)
class _ArmSummary:
    """An arm's cumulative incidence and RMST at the horizon, and their derivatives in each weight."""

    risk: float
    rmst: float
    d_risk: FloatArray  # d risk / d w_i for the arm's units
    d_rmst: FloatArray


def _arm_summary(T: FloatArray, E: FloatArray, w: FloatArray, horizon: float, arm: str) -> _ArmSummary:
    r"""Cumulative incidence :math:`1 - \hat S(\tau)` and RMST :math:`\int_0^\tau \hat S(t)\,dt`,
    with their exact derivatives in each unit's weight.

    With :math:`h_j = d_j / Y_j`, :math:`\log\hat S(t_k) = \sum_{j \le k}\log(1 - h_j)` and

    .. math::
        a_{ij} = \frac{\partial \log(1 - h_j)}{\partial w_i}
               = -\frac{\delta_i 1[T_i = t_j] - h_j 1[T_i \ge t_j]}{Y_j - d_j}.

    :math:`\partial\hat S(\tau)/\partial w_i = \hat S(\tau)\sum_{t_j\le\tau} a_{ij}` and
    :math:`\partial\,\mathrm{RMST}/\partial w_i = \sum_j a_{ij} R_j` with
    :math:`R_j = \sum_{k \ge j} \hat S(t_k)(t_{k+1} - t_k)` (:math:`t_{m+1} = \tau`): the area
    under the curve after :math:`t_j`. :math:`n\,w_i\,\partial\theta/\partial w_i` is unit
    :math:`i`'s influence function (the Hajek mean's :math:`w_i(Y_i - \mu)/\bar w` when nothing is
    censored before :math:`\tau`); summing over :math:`j` is one cumulative sum.
    """
    inside = T <= horizon
    km = weighted_kaplan_meier(np.minimum(T, horizon), np.where(inside, E, 0.0), w)
    times, Y, dN, S = km.times, km.at_risk, km.events, km.survival
    left = Y - dN
    if (left <= 0).any():
        raise AnalysisError(
            [
                Problem(
                    "analysis",
                    None,
                    f"every {arm} client still at risk has the event by day {times[left <= 0][0]:g}: the weighted "
                    "survival reaches 0 before the horizon",
                    "shorten follow_up_days or check the outcome's dates",
                )
            ]
        )
    S_tau = float(S[-1]) if S.size else 1.0
    edges = np.concatenate((times, [horizon]))
    area = S * np.diff(edges)  # S(t_k) (t_{k+1} - t_k) for k = 1..m
    R = np.cumsum(area[::-1])[::-1]
    rmst = float(times[0] if times.size else horizon) + float(area.sum())
    # the two sums over j: the unit's own event term and the at-risk term up to min(T_i, tau)
    k = np.searchsorted(times, np.minimum(T, horizon), side="right")  # event times <= T_i
    own = (E == 1) & inside
    j = np.maximum(k - 1, 0)

    def dlog(c: FloatArray) -> FloatArray:
        cum = np.concatenate(([0.0], np.cumsum(dN / Y * c / left)))
        out = cum[k]
        out[own] -= c[j[own]] / left[j[own]]
        return out

    d_risk = -S_tau * dlog(np.ones(times.size))
    d_rmst = dlog(R) if times.size else np.zeros(T.size)
    return _ArmSummary(1.0 - S_tau, rmst, d_risk, d_rmst)


def _weights(d: FloatArray, e: FloatArray, estimand: str) -> tuple[FloatArray, FloatArray]:
    """The ipw weights and their derivatives in e (as in effects.weighting._hajek)."""
    if estimand == "ATE":
        return np.where(d == 1, 1 / e, 1 / (1 - e)), np.where(d == 1, -1 / e**2, 1 / (1 - e) ** 2)
    return np.where(d == 1, 1.0, e / (1 - e)), np.where(d == 1, 0.0, 1 / (1 - e) ** 2)


def km_ipw(
    durations: ArrayLike,
    events: ArrayLike,
    d: ArrayLike,
    ps: ArrayLike,
    horizon: float,
    estimand: WeightingEstimand = "ATE",
    X: pd.DataFrame | None = None,
    *,
    cluster: ArrayLike | None = None,
    outcome: str | None = None,
    subgroup: str = "",
    leverage: bool = True,
) -> tuple[EffectEstimate, EffectEstimate]:
    r"""IPW-weighted Kaplan-Meier by arm: risk difference at the horizon and RMST difference.

    .. math::
        \hat\tau_F = \{1 - \hat S_1(\tau)\} - \{1 - \hat S_0(\tau)\},\qquad
        \hat\tau_R = \int_0^\tau \hat S_1(t)\,dt - \int_0^\tau \hat S_0(t)\,dt

    with :math:`\hat S_d` the Kaplan-Meier curve of arm :math:`d` weighted by
    :math:`w = D + (1-D)e/(1-e)` (ATT) or :math:`D/e + (1-D)/(1-e)` (ATE). Without censoring
    before :math:`\tau`, :math:`\hat\tau_F` is exactly :func:`~deepvalue.effects.weighting.ipw`'s
    risk difference.

    SE from the influence function: :math:`\psi_i = n w_i\,\partial\hat\tau/\partial w_i` (exact
    derivatives of the product-limit estimator, :func:`_arm_summary`), plus, with ``X`` (the
    logit propensity design the score is the MLE on), the term for the estimated score
    (:func:`~deepvalue.effects.weighting._ps_correction` with
    :math:`\partial\phi_i/\partial e_i = n\,(\partial w_i/\partial e_i)\,\partial\hat\tau/\partial w_i`),
    the M-estimation sandwich the ipw rows use; ``cluster`` sums it within clusters. This is the
    IPW Kaplan-Meier's asymptotic variance (Xie and Liu 2005 give it with the weights known).

    ``leverage`` (default): CR2 as for :func:`~deepvalue.effects.weighting.ipw`. Each arm's terms
    :math:`w_i \cdot n\,\partial\hat\tau/\partial w_i` are adjusted as the residuals of a weighted
    mean (cluster g's leverage is its share of the arm's weight; without censoring they are the
    Hajek residuals, so the SE stays ipw's), the logit's residuals by the logit; no ``G/(G-1)``,
    t(G-1) intervals.

    Returns the risk-difference row (scale ``risk_difference_at_horizon``) and the RMST row
    (``rmst_difference_days``, in the units of ``durations``).
    """
    s = _sample(durations, d, "km_ipw", outcome, subgroup)
    E = s.take(events, "events")
    assert E is not None
    if not np.isin(E, (0.0, 1.0)).all():
        raise s.error("events", "must be 0/1 (1: the event was observed)", "pass the event indicator column")
    if (s.y < 0).any():
        raise s.error("durations", "has negative times", "times are days from the index date")
    e = _scores(s, ps)
    codes = s.codes(cluster)
    _check_clusters(s, codes, "cluster")
    notes = [f"Kaplan-Meier weighted by IPW ({estimand} weights) by arm, horizon {horizon:g} days"]
    psm = _ps_model(s, e, X, notes)
    if leverage and psm is not None:
        psm = psm.adjusted(codes, e)
    dd = s.d
    w, dw = _weights(dd, e, estimand)
    n = dd.size
    treated = dd == 1
    arms = {}
    for label, mask in (("treated", treated), ("control", ~treated)):
        arms[label] = _arm_summary(s.y[mask], E[mask], w[mask], float(horizon), label)
    censored = int(((E == 0) & (s.y < horizon)).sum())
    notes.append(f"{censored} clients censored before the horizon (follow-up incomplete at the extract date)")
    what = "influence function with estimated ps (logit scores stacked)" if psm else "influence function, ps known"
    rows = []
    for scale, field in ((RISK_SCALE, "risk"), (RMST_SCALE, "rmst")):
        t1, t0 = arms["treated"], arms["control"]
        grad = np.empty(n)
        grad[treated] = getattr(t1, "d_" + field)
        grad[~treated] = -getattr(t0, "d_" + field)
        r = n * grad
        if leverage:
            for mask in (treated, ~treated):
                r = _cr2_mean_residuals(codes, np.where(mask, w, 0.0), r)
        psi = w * r
        if psm is not None:
            psi = psi + _ps_correction(psm, dw * r, e)
        se = math.sqrt(_variance(psi, codes, leverage))
        est = getattr(t1, field) - getattr(t0, field)
        mean = f"treated {getattr(t1, field):.4g}, control {getattr(t0, field):.4g}"
        what_of = "cumulative incidence" if field == "risk" else "restricted mean days to event"
        se_note = (_cr2_note if leverage else _se_note)(codes, what)
        df = _cr2_df(codes, leverage)
        rows.append(s.result(estimand, est, se, scale, [*notes, f"{what_of} {mean}", se_note], df=df))
    return rows[0], rows[1]


def km_curves(
    durations: ArrayLike, events: ArrayLike, d: ArrayLike, ps: ArrayLike, horizon: float, estimand: str
) -> pd.DataFrame:
    """Weighted cumulative incidence by arm at each event time (for the figure): columns arm,
    time, cumulative_incidence, n_at_risk (unweighted clients at risk just before), n_events
    (unweighted events at that time)."""
    T, E, dd, e = (_floats(a, n) for a, n in ((durations, "durations"), (events, "events"), (d, "d"), (ps, "ps")))
    w, _ = _weights(dd, e, estimand)
    frames = []
    for label, mask in (("continuous", dd == 1), ("fragmented", dd == 0)):
        Ta, Ea = np.minimum(T[mask], horizon), np.where(T[mask] <= horizon, E[mask], 0.0)
        km = weighted_kaplan_meier(Ta, Ea, w[mask])
        counts = weighted_kaplan_meier(Ta, Ea, np.ones(Ta.size))
        frames.append(
            pd.DataFrame(
                {
                    "arm": label,
                    "time": km.times,
                    "cumulative_incidence": 1.0 - km.survival,
                    "n_at_risk": counts.at_risk.round().astype(np.int64),
                    "n_events": counts.events.round().astype(np.int64),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


# ----------------------------------------------------------------------------------------------
# the estimates table's rows (effects.table.run_estimates)
# ----------------------------------------------------------------------------------------------


def km_population(analysis: pd.DataFrame, spec: Outcome) -> pd.DataFrame | None:
    """The clients km_ipw analyses for an outcome (time known; censored ones included), or None
    when the outcome has no time-to-event columns."""
    days, _ = time_to_event_columns(spec.name)
    if not spec.time_to_event or days not in analysis:
        return None
    return analysis.loc[analysis[days].notna()].reset_index(drop=True)


def _untrimmed(rows: pd.DataFrame, settings: Settings, trimmed: Sequence[str] | None) -> tuple[pd.DataFrame, str]:
    """The rows without the clients the match stage trimmed (``weighting.trim``), and a note."""
    if trimmed is None or not len(trimmed):
        return rows, ""
    drop = positions_in(rows["client_id"].array, pa.array(trimmed)) >= 0
    if not drop.any():
        return rows, ""
    d = rows["treatment"].to_numpy(dtype=float)
    note = (
        f"{int(drop.sum())} clients ({int((d[drop] == 1).sum())} treated) with a whole-cohort propensity "
        f"score outside [{settings.weighting.trim:g}, {1 - settings.weighting.trim:g}] left out "
        "(weighting.trim; results/match/flow.csv)"
    )
    return rows.loc[~drop].reset_index(drop=True), note


def km_ipw_rows(
    rows: pd.DataFrame,
    spec: Outcome,
    settings: Settings,
    trimmed: Sequence[str] | None,
    cluster_column: str | None,
    structural: Sequence[str],
    subgroup: str = "",
) -> list[EffectEstimate]:
    """km_ipw's four rows (ATT and ATE, each on both scales) for one outcome's population, or
    skipped rows that say why; the same propensity model and trimming as the ipw rows."""
    from deepvalue.effects.table import outcome_without_variation, too_few_rows

    name = spec.name
    days, event = time_to_event_columns(name)
    rows, note = _untrimmed(rows, settings, trimmed)
    d = rows["treatment"].to_numpy(dtype=float)
    n_t, n_c = int((d == 1).sum()), int((d == 0).sum())

    def skipped(reason: str) -> list[EffectEstimate]:
        reason = "; ".join(x for x in (reason, note) if x)
        return [
            skipped_estimate(name, m, e, sc, reason, n_treated=n_t, n_control=n_c, subgroup=subgroup)
            for m, e, sc in KM_ROWS
        ]

    T = rows[days].to_numpy(dtype=float)
    E = rows[event].to_numpy(dtype=float)
    est = settings.estimation
    degenerate = outcome_without_variation(E, d, "binary", est.min_events_per_arm)
    if degenerate:
        return skipped(degenerate.replace("non-events", "clients without an observed event"))
    X = covariate_design(rows, settings.covariates, structural=structural).X
    p = X.shape[1]
    few = too_few_rows(len(rows), 1 + p, est.min_rows_per_parameter) or too_few_rows(
        min(n_t, n_c), 1 + p, est.min_rows_per_parameter, "in the smaller arm"
    )
    if few:
        return skipped(few)
    cluster = rows[cluster_column].to_numpy() if cluster_column else None
    prop = settings.propensity
    out: list[EffectEstimate] = []
    try:
        ps = fit_propensity(X, d.astype(int), penalty=prop.penalty, C=prop.C).score
        for estimand in ("ATT", "ATE"):
            kw = dict(cluster=cluster, outcome=name, subgroup=subgroup)
            out += km_ipw(T, E, d, ps, spec.follow_up_days, estimand, X, **kw)
    except AnalysisError as exc:
        return skipped("; ".join(p.message for p in exc.problems))
    if note:
        out = [dataclasses.replace(r, notes="; ".join((r.notes, note))) for r in out]
    return out


def km_figure_curves(
    analysis: pd.DataFrame, settings: Settings, trimmed: Sequence[str] | None, structural: Sequence[str]
) -> list[tuple[str, str, float, pd.DataFrame | str]]:
    """(outcome, estimand, horizon, curves or the reason there are none) for each time-to-event
    outcome: the whole-cohort curves behind the km_ipw rows (same population, trimming and score)."""
    out: list[tuple[str, str, float, pd.DataFrame | str]] = []
    for spec in settings.outcomes:
        rows = km_population(analysis, spec)
        if rows is None:
            continue
        rows, _ = _untrimmed(rows, settings, trimmed)
        days, event = time_to_event_columns(spec.name)
        d = rows["treatment"].to_numpy(dtype=float)
        try:
            X = covariate_design(rows, settings.covariates, structural=structural).X
            prop = settings.propensity
            ps = fit_propensity(X, d.astype(int), penalty=prop.penalty, C=prop.C).score
        except AnalysisError as exc:
            reason = "propensity model: " + "; ".join(p.message for p in exc.problems)
            out += [(spec.name, estimand, spec.follow_up_days, reason) for estimand in ("ATT", "ATE")]
            continue
        for estimand in ("ATT", "ATE"):
            curves = km_curves(rows[days], rows[event], d, ps, spec.follow_up_days, estimand)
            out.append((spec.name, estimand, float(spec.follow_up_days), curves))
    return out
