"""The estimates table: every configured method on every outcome, population and subgroup.

:func:`run_estimates` builds ``results/estimates.csv`` from the analysis table. Per outcome
(:func:`estimate_outcome`) it plans the rows of each method (:func:`planned_rows`), turns a
degenerate outcome, too few clients for a model (``estimation.min_rows_per_parameter``) or an
estimator's failure into a skipped row with the reason, and otherwise runs the estimators of
:mod:`deepvalue.effects` on the same clients, with the same clusters and propensity score.
Subgroup rows come with a Wald test of equal effects across levels (:func:`equal_effects_tests`).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Callable, Sequence, get_args

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from deepvalue.adjust.design import STRUCTURAL, covariate_design
from deepvalue.adjust.matching import match_population
from deepvalue.adjust.propensity import fit_propensity
from deepvalue.core.errors import AnalysisError, ConfigError, Problem, did_you_mean
from deepvalue.core.keys import codes as keys_codes
from deepvalue.core.keys import positions_in
from deepvalue.core.settings import MethodName, Outcome, Settings
from deepvalue.effects.base import (
    EffectEstimate,
    collecting_influence,
    discard_influence,
    estimates_frame,
    flush_influence,
    skipped_estimate,
)
from deepvalue.effects.dose import dose_levels, dose_response
from deepvalue.effects.iv import departure_reduced_form, iv_2sls
from deepvalue.effects.linear import logit_ame, matched_regression, naive_difference, regression_adjustment
from deepvalue.effects.matched import abadie_imbens_att
from deepvalue.effects.poisson import poisson_regression_adjustment
from deepvalue.effects.weighting import aipw, ipw, overlap_weighted
from deepvalue.effects.within import within_worker_aipw, within_worker_regression

log = logging.getLogger("deepvalue")

METHODS: tuple[str, ...] = get_args(MethodName)  # every method the config may name, in its order


@dataclasses.dataclass(frozen=True)
class Roles:
    """Which columns of the analysis table play which part (the pipeline's cohort by default).

    ``deepvalue estimate`` on an analyst's own table names its own: no structural columns, its
    cluster column (or none), no instrument or index unless given.
    """

    cluster: str | None = "first_worker"  # allocated before the exposure; see effects.base.CLUSTER_NAME
    instrument: str | None = "first_worker_left"
    index: str | None = None  # the continuity index for dose_response (None: no dose_response)
    structural: tuple[str, ...] = STRUCTURAL


SCALES = {"binary": "risk_difference", "continuous": "mean_difference", "count": "mean_difference"}


def _named(method: str, row: EffectEstimate) -> EffectEstimate:
    return dataclasses.replace(row, method=method)


def _attempt(
    method: str,
    estimand: str,
    outcome: str,
    scale: str,
    subgroup: str,
    fn: Callable[[], EffectEstimate],
    n_t: int,
    n_c: int,
    ids: np.ndarray | None = None,
) -> EffectEstimate:
    """Run one estimator; a data problem becomes a row that says why (and a log line).

    ``ids``: the client ids of the rows the estimator is given, for the influence functions that
    :func:`deepvalue.effects.base.collect_influence` collects (None when nothing is collected).
    """
    discard_influence()
    try:
        row = _named(method, fn())
        flush_influence(method, estimand, ids)
        return row
    except AnalysisError as exc:
        reason = "; ".join(p.message for p in exc.problems) or str(exc)
    except Exception as exc:  # noqa: BLE001 - an estimator failure is a skipped row, never a crashed step
        log.exception(
            "%s %s %s%s: the estimator failed", outcome, method, estimand, f" ({subgroup})" if subgroup else ""
        )
        reason = f"the estimator failed ({type(exc).__name__}: {exc}); the traceback is in the rule's log"
    discard_influence()
    log.warning(
        "%s %s %s%s: not estimated: %s", outcome, method, estimand, f" ({subgroup})" if subgroup else "", reason
    )
    return skipped_estimate(outcome, method, estimand, scale, reason, n_treated=n_t, n_control=n_c, subgroup=subgroup)


def estimate_outcome(
    rows: pd.DataFrame,
    spec: Outcome,
    settings: Settings,
    propensity: pd.DataFrame | None,
    subgroup: str = "",
    methods: Sequence[str] = METHODS,
    roles: Roles = Roles(),
    trimmed: Sequence[str] | None = None,
) -> list[EffectEstimate]:
    """All configured methods for one outcome on one population (the whole cohort or a subgroup).

    Parameters
    ----------
    rows
        Cohort rows with the outcome measured (and in the subgroup).
    spec
        The outcome (name, type, follow_up_days).
    settings
        The study settings; reads ``covariates``, ``propensity``, ``matching`` and ``seed``.
    propensity
        The match stage's scores (client_id, logit; ``results/match/propensity.parquet``) or None:
        PSM matches this population on them.
    trimmed
        Client ids the match stage trimmed (``weighting.trim``): left out of IPW, AIPW and overlap
        weights, as in the balance table. Reads ``weighting.trim`` when any are given.
    """
    name, kind = spec.name, spec.type
    scale = SCALES[kind]
    y = rows[name].to_numpy(dtype=float)
    d = rows["treatment"].to_numpy(dtype=float)
    n_t, n_c = int((d == 1).sum()), int((d == 0).sum())
    design = covariate_design(rows, settings.covariates, structural=roles.structural)
    X = design.X
    cluster = _cluster_codes(rows[roles.cluster]) if roles.cluster else None
    out: list[EffectEstimate] = []
    ids = rows["client_id"].to_numpy() if collecting_influence() and "client_id" in rows else None
    est_cfg = settings.estimation
    degenerate = outcome_without_variation(y, d, kind, est_cfg.min_events_per_arm)
    if degenerate:
        log.warning("%s%s: no estimates: %s", name, f" ({subgroup})" if subgroup else "", degenerate)
        return [
            skipped_estimate(name, m, e, sc, degenerate, n_treated=n_t, n_control=n_c, subgroup=subgroup)
            for m, e, sc in planned_rows(methods, kind, scale, roles.index, rows)
        ]
    p = X.shape[1]
    per = est_cfg.min_rows_per_parameter
    # parameters of each method's model on this population: the stated rows-per-parameter rule
    params = {
        "regression": 2 + 2 * p,
        "logit_ame": 2 + p,
        "poisson_ra": 2 + 2 * p,
        "within_worker_regression": 1 + 2 * p,
        "within_worker_aipw": 2 + 3 * p,
        "iv": 3 + p,
        "dose_response": 2 + p,
        "dose_levels": 4 + p,
    }

    def add(method: str, estimand: str, fn: Callable[[], EffectEstimate]) -> None:
        if method not in methods:
            return
        few = too_few_rows(len(rows), params.get(method), per)
        if few:
            out.append(
                skipped_estimate(name, method, estimand, scale, few, n_treated=n_t, n_control=n_c, subgroup=subgroup)
            )
            return
        out.append(_attempt(method, estimand, name, scale, subgroup, fn, n_t, n_c, ids))

    kw = dict(outcome=name, subgroup=subgroup)
    add("naive", "ATE", lambda: naive_difference(y, d, scale=scale, **kw))
    for estimand in ("ATT", "ATE"):
        add("regression", estimand, lambda e=estimand: regression_adjustment(y, d, X, cluster, e, scale=scale, **kw))
    if kind == "binary":
        add("logit_ame", "ATT", lambda: logit_ame(y, d, X, cluster, "ATT", **kw))
    if kind == "count":
        for estimand in ("ATT", "ATE"):
            add(
                "poisson_ra",
                estimand,
                lambda e=estimand: poisson_regression_adjustment(y, d, X, cluster, e, scale=scale, **kw),
            )
    if roles.cluster:
        worker = rows[roles.cluster].to_numpy()
        prop = settings.propensity
        for estimand in ("ATT", "ATE"):
            add(
                "within_worker_regression",
                estimand,
                lambda e=estimand: within_worker_regression(y, d, X, worker, e, scale=scale, **kw),
            )
        for estimand in ("ATT", "ATE"):
            add(
                "within_worker_aipw",
                estimand,
                lambda e=estimand: within_worker_aipw(
                    y, d, X, worker, e, scale=scale, penalty=prop.penalty, C=prop.C, **kw
                ),
            )
    if "psm" in methods:
        add("psm", "ATT", lambda: _psm(rows, y, d, propensity, settings, scale, kw))

    if any(m in methods for m in WEIGHTING_METHODS):
        few = too_few_rows(len(rows), 1 + p, per) or too_few_rows(min(n_t, n_c), 1 + p, per, "in the smaller arm")
        if few:
            out += [
                skipped_estimate(name, m, e, scale, few, n_treated=n_t, n_control=n_c, subgroup=subgroup)
                for m, e in WEIGHTING_ROWS
                if m in methods
            ]
        else:
            out += _weighting_rows(rows, y, d, X, cluster, settings, trimmed, name, scale, subgroup, methods)

    for method, estimand in (("iv", "LATE"), ("departure_reduced_form", "ITT")):
        if method not in methods:
            continue
        few = too_few_rows(len(rows), params["iv"], per)
        out.append(
            skipped_estimate(name, method, estimand, scale, few, n_treated=n_t, n_control=n_c, subgroup=subgroup)
            if few
            else _iv(rows, roles.instrument, y, d, X, cluster, name, scale, subgroup, n_t, n_c, method)
        )
    index = roles.index
    if index and index in rows:
        add(
            "dose_response",
            "slope",
            lambda: dose_response(y, rows[index].to_numpy(dtype=float), X, cluster, 0.1, d=d, index_name=index, **kw),
        )
        if "dose_levels" in methods:
            try:
                few = too_few_rows(len(rows), params["dose_levels"], per)
                if few:
                    raise AnalysisError([Problem("analysis", name, few, "")])
                found = dose_levels(y, rows[index].to_numpy(dtype=float), X, cluster, index_name=index, **kw)
                out += [_named("dose_levels", r) for r in found]
            except AnalysisError as exc:
                reason = "; ".join(p.message for p in exc.problems)
                out.append(
                    skipped_estimate(
                        name,
                        "dose_levels",
                        "level_contrast",
                        f"{index}_levels",
                        reason,
                        n_treated=n_t,
                        n_control=n_c,
                        subgroup=subgroup,
                    )
                )
    return out


WEIGHTING_METHODS = ("ipw", "aipw", "overlap")
WEIGHTING_ROWS = (("ipw", "ATT"), ("ipw", "ATE"), ("aipw", "ATT"), ("aipw", "ATE"), ("overlap", "ATO"))


def _weighting_rows(rows, y, d, X, cluster, settings, trimmed, name, scale, subgroup, methods) -> list[EffectEstimate]:
    """IPW, AIPW and overlap weights on the clients the match stage kept after ``weighting.trim``.

    The trimmed clients are the ones the balance table leaves out (whole-cohort score outside
    [trim, 1 - trim]); they leave these estimators' sample, which is counted in the notes, and the
    score is refitted on the rest so that the stacked SEs rest on the MLE of exactly the rows used.
    """
    note = ""
    if trimmed is not None and len(trimmed):
        drop = positions_in(rows["client_id"].array, pa.array(trimmed)) >= 0
        if drop.any():
            keep = ~drop
            note = (
                f"{int(drop.sum())} clients ({int((d[drop] == 1).sum())} treated) with a whole-cohort propensity "
                f"score outside [{settings.weighting.trim:g}, {1 - settings.weighting.trim:g}] left out "
                "(weighting.trim; results/match/flow.csv)"
            )
            rows, y, d = rows.loc[keep].reset_index(drop=True), y[keep], d[keep]
            X = X.loc[keep].reset_index(drop=True)
            cluster = cluster[keep] if cluster is not None else None
    n_t, n_c = int((d == 1).sum()), int((d == 0).sum())
    kw = dict(outcome=name, subgroup=subgroup)
    prop = settings.propensity
    try:
        ps = fit_propensity(X, d.astype(int), penalty=prop.penalty, C=prop.C).score
    except AnalysisError as exc:
        reason = "propensity model: " + "; ".join(p.message for p in exc.problems)
        return [
            skipped_estimate(
                name,
                m,
                e,
                scale,
                "; ".join(x for x in (reason, note) if x),
                n_treated=n_t,
                n_control=n_c,
                subgroup=subgroup,
            )
            for m, e in WEIGHTING_ROWS
            if m in methods
        ]
    fns = {
        ("ipw", "ATT"): lambda: ipw(y, d, ps, "ATT", X, cluster=cluster, scale=scale, **kw),
        ("ipw", "ATE"): lambda: ipw(y, d, ps, "ATE", X, cluster=cluster, scale=scale, **kw),
        ("aipw", "ATT"): lambda: aipw(y, d, X, ps, "ATT", ps_design=X, cluster=cluster, scale=scale, **kw),
        ("aipw", "ATE"): lambda: aipw(y, d, X, ps, "ATE", ps_design=X, cluster=cluster, scale=scale, **kw),
        ("overlap", "ATO"): lambda: overlap_weighted(y, d, ps, X, cluster=cluster, scale=scale, **kw),
    }
    out = []
    ids = rows["client_id"].to_numpy() if collecting_influence() and "client_id" in rows else None
    for m, e in WEIGHTING_ROWS:
        if m in methods:
            row = _attempt(m, e, name, scale, subgroup, fns[(m, e)], n_t, n_c, ids)
            if note:
                row = dataclasses.replace(row, notes="; ".join(x for x in (row.notes, note) if x))
            out.append(row)
    return out


def outcome_without_variation(y: np.ndarray, d: np.ndarray, kind: str, min_events: int) -> str | None:
    """Why no method can be run on this outcome, or None.

    A binary outcome needs at least `min_events` events and as many non-events in each arm; a
    continuous or count outcome some variation in each arm. Otherwise every method would report
    an effect of 0 with an SE of 0 or 1e-16 and a confident p-value.

    >>> d = np.r_[np.ones(20), np.zeros(20)]
    >>> outcome_without_variation(np.zeros(40), d, "binary", 5)[:60]
    'no variation to estimate from: 0 events and 20 non-events am'
    >>> outcome_without_variation(np.tile([1.0, 0.0], 20), d, "binary", 5) is None
    True
    """
    ok = ~np.isnan(y)
    y, d = y[ok], d[ok]
    arms = [y[d == 1], y[d == 0]]
    if kind == "binary":
        counts = [(int(a.sum()), int((a == 0).sum())) for a in arms]
        if min(min(c) for c in counts) < min_events:
            (e1, n1), (e0, n0) = counts
            return (
                f"no variation to estimate from: {e1} events and {n1} non-events among the treated, {e0} and {n0} "
                f"among the controls (at least {min_events} of each per arm; estimation.min_events_per_arm)"
            )
        return None
    flat = [label for label, a in zip(("treated", "controls"), arms) if a.size < 2 or np.ptp(a) == 0]
    if flat:
        return f"no variation to estimate from: the outcome is constant among the {' and the '.join(flat)}"
    return None


def too_few_rows(n: int, parameters: int | None, per: int, where: str = "") -> str | None:
    """The rows-per-parameter rule: a model needs at least `per` clients per parameter."""
    if parameters is None or n >= per * parameters:
        return None
    return (
        f"too few clients for the model: {n}{' ' + where if where else ''} for {parameters} parameters "
        f"(at least {per} per parameter; estimation.min_rows_per_parameter)"
    )


def planned_rows(methods: Sequence[str], kind: str, scale: str, index: str | None, rows: pd.DataFrame):
    """The (method, estimand, scale) rows estimate_outcome gives, for skipping them all at once."""
    plan = [("naive", "ATE"), ("regression", "ATT"), ("regression", "ATE")]
    if kind == "binary":
        plan.append(("logit_ame", "ATT"))
    if kind == "count":
        plan += [("poisson_ra", "ATT"), ("poisson_ra", "ATE")]
    plan += [(m, e) for m in ("within_worker_regression", "within_worker_aipw") for e in ("ATT", "ATE")]
    plan += [("psm", "ATT"), *WEIGHTING_ROWS, ("iv", "LATE"), ("departure_reduced_form", "ITT")]
    out = [(m, e, scale) for m, e in plan if m in methods]
    if index and index in rows:
        if "dose_response" in methods:
            out.append(("dose_response", "slope", f"per_0.1_{index}"))
        if "dose_levels" in methods:
            out.append(("dose_levels", "level_contrast", f"{index}_levels"))
    return out


def _cluster_codes(column: pd.Series) -> np.ndarray:
    """Integer codes of the cluster ids (hashed once per population, in arrow, not per method).

    Missing ids keep the column itself, so each estimator reports them with its own message.
    """
    codes = keys_codes(column.array)
    return column.to_numpy() if (codes < 0).any() else codes


def _psm(rows, y, d, propensity, settings: Settings, scale, kw) -> EffectEstimate:
    """Matching within this population (an outcome's clients, or a subgroup of them) on the match
    stage's logit, with the configured matching rules; the Abadie-Imbens SE with replacement,
    CR1 by matched set without (MatchIt's practice, Abadie and Spiess 2021)."""
    pm = match_population(rows, propensity, settings.matching, settings.seed)
    m, logit, strata, mcfg = pm.result, pm.logit, pm.strata, settings.matching
    t = d.astype(np.int64)
    n_treated = int(t.sum())
    unmatched = {reason: n for reason, n in m.n_treated_unmatched.items() if n}
    if m.n_treated_matched < 2:
        raise AnalysisError(
            [
                Problem(
                    "match",
                    None,
                    f"only {m.n_treated_matched} of {n_treated} treated clients matched",
                    "widen matching.caliper or check overlap",
                )
            ]
        )
    if mcfg.replace:
        row = abadie_imbens_att(
            y, d, m.pairs["treated"].to_numpy(), m.pairs["control"].to_numpy(), logit, strata, scale=scale, **kw
        )
    else:
        row = matched_regression(y, d, m.weights, m.subclass, False, scale=scale, **kw)
    lost = "; ".join(f"{n} {reason}" for reason, n in unmatched.items())
    note = f"matched within this population: {m.n_treated_matched} of {n_treated} treated clients" + (
        f"; unmatched: {lost}; the estimand is the ATT of the matched treated" if lost else ""
    )
    return dataclasses.replace(row, notes="; ".join(n for n in (row.notes, note) if n))


def window_days(rows: pd.DataFrame) -> np.ndarray | None:
    """Days from the first contact to the index date (the exposure window's length), or None without them."""
    if "first_contact_date" not in rows or "index_date" not in rows:
        return None
    days = pd.to_datetime(rows["index_date"]) - pd.to_datetime(rows["first_contact_date"])
    return days.dt.days.to_numpy(dtype=float)


def _iv(rows, instrument, y, d, X, cluster, name, scale, subgroup, n_t, n_c, method="iv") -> EffectEstimate:
    """The iv (2SLS, LATE) or departure_reduced_form (ITT) row on the departure instrument."""
    estimand = "LATE" if method == "iv" else "ITT"
    if not instrument or instrument not in rows:
        return skipped_estimate(
            name, method, estimand, scale, "no instrument given", n_treated=n_t, n_control=n_c, subgroup=subgroup
        )
    z = rows[instrument]
    known = z.notna().to_numpy()
    if not known.any():
        return skipped_estimate(
            name,
            method,
            estimand,
            scale,
            "no instrument: the extract has no workers table with leaving dates",
            n_treated=n_t,
            n_control=n_c,
            subgroup=subgroup,
        )
    zf = z.astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    note = ""
    days = window_days(rows)
    if days is not None:
        # a departure inside the window goes with longer windows (slower contact cadence), which
        # may matter for outcomes on its own: the window's length joins the IV's confounders
        X = X.assign(window_days=days)
        note = "exposure window length (days) among the IV's confounders"
    try:
        fn = iv_2sls if method == "iv" else departure_reduced_form
        row = _named(method, fn(y, d, zf, X, cluster, outcome=name, subgroup=subgroup, scale=scale))
        return dataclasses.replace(row, notes="; ".join(x for x in (row.notes, note) if x))
    except AnalysisError as exc:
        reason = "; ".join(p.message for p in exc.problems)
        return skipped_estimate(name, method, estimand, scale, reason, n_treated=n_t, n_control=n_c, subgroup=subgroup)
    except Exception as exc:  # noqa: BLE001 - a skipped row, never a crashed step
        log.exception("%s %s: the estimator failed", name, method)
        reason = f"the estimator failed ({type(exc).__name__}: {exc}); the traceback is in the rule's log"
        return skipped_estimate(name, method, estimand, scale, reason, n_treated=n_t, n_control=n_c, subgroup=subgroup)


def subgroup_populations(rows: pd.DataFrame, columns: Sequence[str]) -> list[tuple[str, pd.DataFrame]]:
    """(label, rows) for each level of each subgroup column, e.g. ("service=employment", ...)."""
    out = []
    for column in columns:
        for level in sorted(rows[column].dropna().unique()):
            out.append((f"{column}={level}", rows.loc[rows[column] == level]))
    return out


def run_estimates(
    analysis: pd.DataFrame,
    settings: Settings,
    propensity: pd.DataFrame | None,
    methods: Sequence[str] = METHODS,
    subgroups: Sequence[str] | None = None,
    roles: Roles | None = None,
) -> pd.DataFrame:
    """estimates.csv for every configured outcome: whole cohort, then each subgroup level.

    Reads the settings' ``outcomes``, ``questionnaires`` (when given: their outcomes' rows come from
    :mod:`deepvalue.effects.questionnaire`), ``covariates``, ``propensity`` and ``matching``, and
    ``estimation.subgroups`` and ``exposure.index`` unless ``subgroups`` and ``roles`` are given
    (the pipeline's cohort roles with the exposure index by default). ``propensity``: the match
    stage's scores (client_id, logit, trimmed): PSM rematches each population on them, and the
    clients it trimmed (``weighting.trim``) leave the weighting estimators.

    A subgroup column with a single level in an outcome's population (service for an outcome
    recorded by one service only) adds nothing and is skipped for that outcome.
    """
    if subgroups is None:
        subgroups = settings.estimation.subgroups
    if roles is None:
        roles = Roles(index=settings.exposure.index)
    absent = [c for c in subgroups if c not in analysis.columns]
    if absent:
        raise ConfigError(
            [
                Problem(
                    "config",
                    "estimation.subgroups",
                    f"not a column of the analysis table: {c!r}",
                    f"{did_you_mean(c, analysis.columns)}use service, site, start_quarter or a covariate name",
                )
                for c in absent
            ],
            headline="the configuration is invalid",
        )
    if propensity is not None and pc.count_distinct(pa.array(propensity["client_id"].array)).as_py() < len(propensity):
        raise AnalysisError(
            [
                Problem(
                    "match",
                    "client_id",
                    "the propensity table lists a client twice",
                    "rerun the match stage (it writes one row per client)",
                )
            ],
            headline="the propensity table is not one row per client",
        )
    trimmed = trimmed_clients(propensity) if propensity is not None and "trimmed" in propensity else None
    rows: list[EffectEstimate] = []
    for spec in settings.outcomes:
        if "km_ipw" in methods:
            rows += _km_rows(analysis, spec, settings, trimmed, roles, subgroups)
        measured = analysis.loc[analysis[spec.name].notna()].reset_index(drop=True)
        if measured.empty:
            log.warning("%s: no client has this outcome measured; no estimates", spec.name)
            continue
        rows += estimate_outcome(measured, spec, settings, propensity, "", methods, roles, trimmed)
        for column in [c for c in subgroups if measured[c].nunique() > 1]:
            level_rows = []
            for label, sub in subgroup_populations(measured, [column]):
                level_rows += estimate_outcome(
                    sub.reset_index(drop=True), spec, settings, propensity, label, methods, roles, trimmed
                )
            rows += level_rows + equal_effects_tests(level_rows, column)
    # questionnaire outcomes: the follow-up score adjusted for its baseline, on three scales
    from deepvalue.effects.questionnaire import questionnaire_estimates

    rows += questionnaire_estimates(analysis, settings, propensity, methods, subgroups, roles, trimmed)
    return estimates_frame(rows)


def _km_rows(analysis, spec, settings, trimmed, roles, subgroups) -> list[EffectEstimate]:
    """km_ipw's rows for a time-to-event outcome: its population includes the censored clients
    (follow-up incomplete at the extract date), so it is estimated apart from the other methods."""
    from deepvalue.effects.survival import km_ipw_rows, km_population

    population = km_population(analysis, spec)
    if population is None or population.empty:
        return []
    run = dict(settings=settings, trimmed=trimmed, cluster_column=roles.cluster, structural=roles.structural)
    out = km_ipw_rows(population, spec, **run)
    for column in [c for c in subgroups if population[c].nunique() > 1]:
        level_rows = []
        for label, sub in subgroup_populations(population, [column]):
            level_rows += km_ipw_rows(sub.reset_index(drop=True), spec, subgroup=label, **run)
        out += level_rows + equal_effects_tests(level_rows, column)
    return out


EQUAL_EFFECTS_SCALE = "wald_chi2_equal_effects"


def equal_effects_tests(level_rows: Sequence[EffectEstimate], column: str) -> list[EffectEstimate]:
    r"""A Wald test that an effect is the same at every level of a subgroup column.

    For each (method, estimand, scale) with an estimate at :math:`K \ge 2` levels,
    :math:`W = \sum_k (\hat\tau_k - \bar\tau)^2 / \widehat{SE}_k^2` with :math:`\bar\tau` the
    inverse-variance weighted mean, :math:`\chi^2_{K-1}` under equal effects. The levels are
    disjoint samples, so their estimates are taken as independent; workers who serve clients at
    several levels make them slightly dependent (the notes say so). The row's ``estimate`` is
    :math:`W` (scale ``wald_chi2_equal_effects``); no SE or CI.

    >>> rows = [EffectEstimate("y", "naive", "ATE", 1.0, 0.5, 0, 2, 0.05, 50, 50, "mean_difference", "", "s=a"),
    ...         EffectEstimate("y", "naive", "ATE", 3.0, 0.5, 2, 4, 0.01, 50, 50, "mean_difference", "", "s=b")]
    >>> test = equal_effects_tests(rows, "s")[0]
    >>> test.estimate, round(test.p_value, 4)
    (8.0, 0.0047)
    """
    from scipy import stats

    groups: dict[tuple[str, str, str], list[EffectEstimate]] = {}
    for r in level_rows:
        if np.isfinite(r.estimate) and np.isfinite(r.std_error) and r.std_error > 0:
            groups.setdefault((r.method, r.estimand, r.scale), []).append(r)
    out = []
    for (method, estimand, scale), found in groups.items():
        if len(found) < 2:
            continue
        b = np.array([r.estimate for r in found])
        v = np.array([r.std_error for r in found]) ** 2
        mean = float(np.sum(b / v) / np.sum(1 / v))
        w = float(np.sum((b - mean) ** 2 / v))
        df = len(found) - 1
        out.append(
            EffectEstimate(
                outcome=found[0].outcome,
                method=method,
                estimand=estimand,
                estimate=w,
                std_error=float("nan"),
                ci_lower=float("nan"),
                ci_upper=float("nan"),
                p_value=float(stats.chi2.sf(w, df)),
                n_treated=int(sum(r.n_treated for r in found)),
                n_control=int(sum(r.n_control for r in found)),
                scale=EQUAL_EFFECTS_SCALE,
                notes=(
                    f"Wald test of equal {scale.replace('_', ' ')} across {len(found)} levels of {column} "
                    f"(chi2 = {w:.4g}, df = {df}); levels taken as independent samples (workers shared across "
                    "levels make this approximate)"
                ),
                subgroup=f"{column}: equal effects",
            )
        )
    return out


def trimmed_clients(propensity: pd.DataFrame) -> list[str]:
    """Client ids the match stage trimmed (``results/match/propensity.parquet``, column ``trimmed``)."""
    return propensity.loc[propensity["trimmed"].astype(bool), "client_id"].astype(str).tolist()


def compare_with_truth(estimates: pd.DataFrame, truth: dict) -> pd.DataFrame:
    """Whole-cohort ATT and ATE rows, and the departure designs' LATE (iv) and ITT (departure_reduced_form),
    next to the synthetic truth: error, and whether the CI covers it."""
    rows = estimates[
        (estimates["subgroup"] == "")
        & estimates["estimand"].isin(["ATT", "ATE", "LATE", "ITT"])
        & estimates["estimate"].notna()
    ].copy()
    rows["truth"] = [
        # km_ipw's truth is its own population's (censored clients in) on its own scale
        (truth.get(o, {}).get("time_to_event") or {}).get(f"{e.lower()}_{sc}", np.nan)
        if m == "km_ipw"
        # a questionnaire outcome's truth is per scale (points, baseline_sd, share_meaningful_change)
        else ((truth[o]["scales"].get(sc) or {}) if "scales" in truth.get(o, {}) else truth.get(o, {})).get(
            e.lower(), np.nan
        )
        for o, m, e, sc in zip(rows["outcome"], rows["method"], rows["estimand"], rows["scale"])
    ]
    rows["truth"] = rows["truth"].astype(float)
    rows = rows[rows["truth"].notna() & (rows["method"] != "dose_response")]
    rows["error"] = rows["estimate"] - rows["truth"]
    rows["error_in_se"] = rows["error"] / rows["std_error"]
    rows["covered"] = (rows["ci_lower"] <= rows["truth"]) & (rows["truth"] <= rows["ci_upper"])
    return rows[
        [
            "outcome",
            "method",
            "estimand",
            "scale",
            "estimate",
            "std_error",
            "ci_lower",
            "ci_upper",
            "truth",
            "error",
            "error_in_se",
            "covered",
        ]
    ].reset_index(drop=True)
