"""The match stage: design -> propensity -> matching -> weights -> balance, as one pure function.

:func:`run_matching` takes the cohort's analysis table and the config and returns every table
the stage writes; :func:`write_match_outputs` writes them (Parquet, CSV, JSON) with the figures.
The function does not read or write files, so tests and the CLI call it directly.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deepvalue.adjust.balance import UNADJUSTED, balance_summary, balance_table
from deepvalue.adjust.design import covariate_design
from deepvalue.adjust.matching import REASONS, match_nearest
from deepvalue.adjust.propensity import fit_propensity
from deepvalue.adjust.weighting import propensity_weights, trimmed
from deepvalue.core.errors import AnalysisError, ConfigError, Problem, did_you_mean
from deepvalue.core.settings import Settings
from deepvalue.core.small_cells import DEFAULT_MIN_CELL

log = logging.getLogger("deepvalue")

#: Weight columns of the weights table, by the adjustment name used in the balance table.
WEIGHT_COLUMNS = {"matched": "w_matched", "ipw_ate": "w_ipw_ate", "ipw_att": "w_ipw_att", "overlap": "w_overlap"}
FLOW_COLUMNS = ["step", "n_remaining", "n_excluded", "reason"]


@dataclass(frozen=True)
class MatchOutputs:
    """Everything the match stage produces (all row positions are rows of the analysis table).

    Attributes
    ----------
    propensity : DataFrame
        client_id, treatment, score, logit, trimmed (outside ``weighting.trim``).
    matched : DataFrame
        Matched clients only (weight > 0): client_id, treatment, subclass (the first matched set
        of a control reused with replacement), weight (ATT matching weight). Sorted by subclass,
        treated first.
    pairs : DataFrame
        Every (treated, control) pair: subclass, treated_id, control_id, distance (logit units).
        With replacement it is the full membership of the matched sets, for cluster-robust
        errors by matched set.
    weights : DataFrame
        client_id, treatment, w_matched, w_ipw_ate, w_ipw_att, w_overlap (0 when trimmed).
    balance : DataFrame
        The long balance table (:func:`deepvalue.adjust.balance.balance_table`).
    balance_summary : DataFrame
        n, total weight and effective sample size per adjustment and group.
    summary : dict
        JSON-ready: counts, unmatched by reason, caliper, propensity fit, ESS, flagged covariates.
    flow : DataFrame
        step, n_remaining, n_excluded, reason: from the treated clients to the matched ones.
    """

    propensity: pd.DataFrame
    matched: pd.DataFrame
    pairs: pd.DataFrame
    weights: pd.DataFrame
    balance: pd.DataFrame
    balance_summary: pd.DataFrame
    summary: dict[str, Any]
    flow: pd.DataFrame


def run_matching(analysis: pd.DataFrame, settings: Settings) -> MatchOutputs:
    """Propensity score, matching, weighting and balance for the analysis cohort.

    Steps: the confounder design matrix (:func:`deepvalue.adjust.design.covariate_design`); the
    logistic propensity model (``propensity``); greedy nearest-neighbour matching on its logit
    within the strata of ``matching.exact`` (``matching``); IPW weights for the ATE and ATT and
    overlap weights (``weighting.trim``); balance of every design column unadjusted and under
    each adjustment (``balance``). A warning is logged for every covariate flagged after
    adjustment.

    Parameters
    ----------
    analysis
        The cohort table (client_id, treatment, service, site, start_quarter, covariates).
    settings
        The study settings; reads ``covariates``, ``propensity``, ``matching``, ``weighting``,
        ``balance`` and ``seed``.

    Returns
    -------
    MatchOutputs

    Raises
    ------
    ConfigError
        A ``matching.exact`` column is not in the analysis table.
    AnalysisError
        No treated or no controls, separation in the propensity model, or fewer than
        ``matching.min_matched`` treated clients matched.
    """
    prop_cfg, match_cfg = settings.propensity, settings.matching
    weight_cfg, bal_cfg = settings.weighting, settings.balance
    seed = int(settings.seed)
    analysis = analysis.reset_index(drop=True)
    exact = list(match_cfg.exact or [])
    missing = [c for c in exact if c not in analysis.columns]
    if missing:
        raise ConfigError(
            [
                Problem(
                    "config",
                    "matching.exact",
                    f"column {c!r} is not in the analysis table",
                    f"{did_you_mean(c, analysis.columns)}use columns of the cohort table "
                    "(e.g. service, site) or remove it",
                )
                for c in missing
            ],
            headline="cannot match",
        )

    design = covariate_design(analysis, settings.covariates)
    t = analysis["treatment"].to_numpy().astype(np.int64)
    fit = fit_propensity(design.X, t, penalty=prop_cfg.penalty, C=prop_cfg.C)
    for note in fit.warnings:
        log.warning("propensity: %s", note)

    strata = analysis.groupby(exact, sort=True, dropna=False).ngroup().to_numpy() if exact else None
    m = match_nearest(
        fit.logit,
        t,
        caliper=match_cfg.caliper,
        ratio=match_cfg.ratio,
        replace=match_cfg.replace,
        strata=strata,
        order=match_cfg.order,
        seed=seed,
    )
    n_treated, n_control = int(t.sum()), int(t.size - t.sum())
    if m.n_treated_matched < match_cfg.min_matched:
        reasons = "; ".join(f"{reason}: {n}" for reason, n in m.n_treated_unmatched.items() if n)
        raise AnalysisError(
            [
                Problem(
                    "analysis",
                    "treatment",
                    f"only {m.n_treated_matched} of {n_treated} treated clients found a control "
                    f"(matching.min_matched = {match_cfg.min_matched}); unmatched: {reasons or 'none'}",
                    "widen matching.caliper (or set it to null), lower matching.ratio or set matching.replace: true, "
                    "or match exactly on fewer columns (matching.exact); if the groups do not overlap at all, the "
                    "data cannot support a matched comparison",
                )
            ],
            headline="too few matches",
        )

    trim = weight_cfg.trim
    w = {
        "matched": m.weights,
        "ipw_ate": propensity_weights(fit.score, t, "ATE", trim=trim),
        "ipw_att": propensity_weights(fit.score, t, "ATT", trim=trim),
        "overlap": propensity_weights(fit.score, t, "ATO", trim=trim),
    }
    lo_hi = tuple(bal_cfg.variance_ratio)
    balance = balance_table(design.X, t, w, smd_threshold=bal_cfg.smd, variance_ratio=lo_hi)
    ess = balance_summary(t, w)
    adjusted = balance[balance["adjustment"] != UNADJUSTED]
    for row in adjusted[adjusted["flagged"]].itertuples():
        log.warning(
            "balance: %s is imbalanced after %s adjustment (SMD %.3f, variance ratio %.2f; thresholds "
            "|SMD| < %g, variance ratio in [%g, %g])",
            row.covariate,
            row.adjustment,
            row.smd,
            row.variance_ratio,
            bal_cfg.smd,
            *lo_hi,
        )

    ids = analysis["client_id"]

    def ids_at(rows: np.ndarray) -> pd.Series:
        # take, not to_numpy: Arrow-backed strings stay Arrow strings (no million Python objects)
        return ids.iloc[rows].reset_index(drop=True)

    is_trimmed = trimmed(fit.score, trim)
    propensity = pd.DataFrame(
        {
            "client_id": ids,
            "treatment": t.astype(np.int8),
            "score": fit.score,
            "logit": fit.logit,
            "trimmed": is_trimmed,
        }
    )
    in_match = np.flatnonzero(m.weights > 0)
    matched = pd.DataFrame(
        {
            "client_id": ids_at(in_match),
            "treatment": t[in_match].astype(np.int8),
            "subclass": m.subclass[in_match],
            "weight": m.weights[in_match],
        }
    )
    matched = matched.sort_values(["subclass", "treatment"], ascending=[True, False], kind="stable", ignore_index=True)
    pairs = pd.DataFrame(
        {
            "subclass": m.pairs["subclass"].to_numpy(),
            "treated_id": ids_at(m.pairs["treated"].to_numpy()),
            "control_id": ids_at(m.pairs["control"].to_numpy()),
            "distance": m.pairs["distance"].to_numpy(),
        }
    )
    weights = pd.DataFrame(
        {"client_id": ids, "treatment": t.astype(np.int8), **{col: w[name] for name, col in WEIGHT_COLUMNS.items()}}
    )

    flow_rows = [("treated clients in the cohort", n_treated, 0, "")]
    remaining = n_treated
    for reason in REASONS:
        n = m.n_treated_unmatched[reason]
        remaining -= n
        flow_rows.append(("unmatched", remaining, n, reason))
    flow_rows.append(("matched treated clients", m.n_treated_matched, 0, ""))
    if trim is not None:
        # the weighting estimators' (and the weighted balance tables') sample, from the whole cohort
        n_trim = int(is_trimmed.sum())
        flow_rows.append(("cohort clients for the weighting estimators", n_treated + n_control, 0, ""))
        flow_rows.append(
            ("trimmed", n_treated + n_control - n_trim, n_trim, f"propensity score outside [{trim:g}, {1 - trim:g}]")
        )
    flow = pd.DataFrame(flow_rows, columns=FLOW_COLUMNS)

    flagged = {
        name: adjusted.loc[(adjusted["adjustment"] == name) & adjusted["flagged"], "covariate"].tolist() for name in w
    }
    summary = {
        "n_treated": n_treated,
        "n_control": n_control,
        "n_matched_treated": m.n_treated_matched,
        "n_matched_controls": m.n_controls_matched,
        "n_unmatched": dict(m.n_treated_unmatched),
        "caliper_sd": m.caliper,
        "caliper_abs": m.caliper_abs,
        "logit_sd": m.logit_sd,
        "logit_sd_definition": "pooled: sqrt((var_treated + var_control) / 2) of the logit, whole sample, ddof=1",
        "ratio": m.ratio,
        "replace": m.replace,
        "order": m.order,
        "seed": seed,
        "exact": exact,
        "n_strata": int(strata.max() + 1) if strata is not None and strata.size else 1,
        "propensity": {
            "penalty": fit.penalty,
            "C": fit.C,
            "converged": fit.converged,
            "n_iter": fit.n_iter,
            "warnings": list(fit.warnings),
            "dropped_collinear": list(fit.dropped_collinear),
            "coef": {k: _json_float(v) for k, v in fit.coef.items()},
        },
        "trim": trim,
        "n_trimmed": int(is_trimmed.sum()),
        "ess": {
            name: {row.group: _json_float(row.ess) for row in grp.itertuples()}
            for name, grp in ess.groupby("adjustment", sort=False)
        },
        "max_abs_smd": {
            name: _json_float(grp["smd"].abs().max()) for name, grp in balance.groupby("adjustment", sort=False)
        },
        "flagged": flagged,
        "thresholds": {"smd": bal_cfg.smd, "variance_ratio": list(lo_hi)},
        "dropped_constant": list(design.dropped_constant),
    }
    if design.dropped_constant:
        log.warning(
            "design columns constant in the cohort, left out of every model: %s", ", ".join(design.dropped_constant)
        )
    log.info(
        "matching: %d of %d treated matched to %d controls (caliper %s logit units); unmatched %s",
        m.n_treated_matched,
        n_treated,
        m.n_controls_matched,
        "none" if m.caliper_abs is None else f"{m.caliper_abs:.4f}",
        m.n_treated_unmatched,
    )
    return MatchOutputs(
        propensity=propensity,
        matched=matched,
        pairs=pairs,
        weights=weights,
        balance=balance,
        balance_summary=ess,
        summary=summary,
        flow=flow,
    )


def _json_float(value: Any) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value


def write_match_outputs(
    outputs: MatchOutputs,
    propensity_path: str | Path,
    matched_path: str | Path,
    weights_path: str | Path,
    balance_path: str | Path,
    summary_path: str | Path,
    flow_path: str | Path,
    love_plot_path: str | Path | None = None,
    overlap_plot_path: str | Path | None = None,
    pairs_path: str | Path | None = None,
    balance_summary_path: str | Path | None = None,
    min_cell: int = DEFAULT_MIN_CELL,
    allow_zero: bool = True,
) -> None:
    """Write the match stage's tables (Parquet for per-client tables, CSV for small ones) and figures.

    The summary is JSON with sorted keys and no timestamp, so the same inputs give the same bytes. The
    overlap figure merges score bins of fewer than ``min_cell`` clients (``disclosure`` settings).
    """
    from deepvalue.adjust.figures import plot_love, plot_overlap
    from deepvalue.core.tabular import write_csv, write_parquet

    write_parquet(outputs.propensity, propensity_path)
    write_parquet(outputs.matched, matched_path)
    write_parquet(outputs.weights, weights_path)
    write_csv(outputs.balance, balance_path)
    write_csv(outputs.flow, flow_path)
    if pairs_path is not None:
        write_parquet(outputs.pairs, pairs_path)
    if balance_summary_path is not None:
        write_csv(outputs.balance_summary, balance_summary_path)
    Path(summary_path).parent.mkdir(parents=True, exist_ok=True)
    Path(summary_path).write_text(json.dumps(outputs.summary, indent=2, sort_keys=True) + "\n")
    if love_plot_path is not None:
        plot_love(outputs.balance, love_plot_path, threshold=outputs.summary["thresholds"]["smd"])
    if overlap_plot_path is not None:
        plot_overlap(
            outputs.propensity["score"],
            outputs.propensity["treatment"],
            outputs.weights["w_matched"],
            overlap_plot_path,
            min_cell=min_cell,
            allow_zero=allow_zero,
        )
