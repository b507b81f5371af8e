"""Peer comparison: our propensity matching and AIPW beside DoWhy's estimators, on the same data.

For each outcome, on the clients with it measured (the rows DoWhy's cross-check uses: sorted by
client_id, the same design matrix, which both sides get ready-made, so the timings cover the
estimation alone):

- PSM (ATT). Ours: the propensity fit (Newton), greedy matching as configured (logit caliper,
  exact strata, with replacement, random order) and the matched regression with its SE. DoWhy:
  ``backdoor.propensity_score_matching`` as the pipeline runs it (1-NN with replacement on the
  score, no caliper; the same converged logistic model, ``deepvalue.robustness.dowhy``), point
  estimate only (its SE needs the bootstrap, 100 more fits). A second row, ours with DoWhy's
  rules (1-NN on the score, no caliper, no strata, with replacement), separates the
  implementations from the matching rules; a third, our matcher on DoWhy's own scores, also
  removes the two logistic fits, leaving only ties: the share of treated clients whose nearest
  control is not unique (identical scores), where we take the lowest row and DoWhy's ball tree
  another.
- AIPW (ATE). Ours: propensity fit and :func:`deepvalue.effects.weighting.aipw` (OLS outcome models by
  arm, stacked sandwich SE). DoWhy: ``backdoor.doubly_robust`` (one linear regression of the
  outcome on treatment and confounders, scores clipped to [0.01, 0.99]), point estimate only.

The difference is DoWhy minus ours, also in units of our SE. Used by bench_workflow.py, or alone:

    .venv/bin/python benchmarks/bench_peers.py RESULTS_DIR/cohort/analysis.parquet EXTRACT/config.yaml
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from deepvalue.adjust.matching import match_nearest  # noqa: E402
from deepvalue.adjust.propensity import fit_propensity  # noqa: E402
from deepvalue.core.settings import Outcome, Settings, load_settings  # noqa: E402
from deepvalue.effects.linear import matched_regression  # noqa: E402
from deepvalue.effects.table import SCALES  # noqa: E402
from deepvalue.effects.weighting import aipw  # noqa: E402
from deepvalue.robustness.dowhy_model import TREATMENT, _estimate, _model, _prepare, _propensity_model, _quiet_dowhy

COLUMNS = ["outcome", "estimand", "comparison", "n", "ours", "ours_se", "ours_s", "dowhy", "dowhy_s"]


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def compare_outcome(analysis: pd.DataFrame, cfg: Settings, spec: Outcome) -> list[dict]:
    """The PSM and AIPW rows for one outcome (see the module docstring)."""
    name, scale = spec.name, SCALES[spec.type]
    prep = _prepare(analysis, name, cfg.covariates, cfg.seed, None, None)
    data = prep.data
    rows = analysis[analysis[name].notna()].sort_values("client_id", kind="mergesort")  # as _prepare
    X = data[prep.confounders]
    t = data[TREATMENT].to_numpy(dtype=np.int64)
    y = data["outcome"].to_numpy(dtype=float)
    mcfg = cfg.matching
    exact = list(mcfg.exact or [])
    strata = rows.groupby(exact, sort=True, dropna=False).ngroup().to_numpy() if exact else None
    keep = list(data.columns)
    out = []

    def ours_psm(caliper, strata, on_score):
        fit = fit_propensity(X, t)
        m = match_nearest(
            fit.score if on_score else fit.logit,
            t,
            caliper=caliper,
            ratio=mcfg.ratio,
            replace=True if on_score else mcfg.replace,
            strata=strata,
            order=mcfg.order,
            seed=cfg.seed,
        )
        return matched_regression(
            y, t, m.weights, m.subclass, True if on_score else mcfg.replace, scale=scale, outcome=name
        )

    def dowhy(method, target, params=None):
        with _quiet_dowhy():
            for col in [c for c in data.columns if c not in keep]:
                del data[col]
            model, estimand = _model(prep)
            if params is None:
                return float(_estimate(model, estimand, method, target, cfg.seed).value)
            np.random.seed(cfg.seed)
            return float(
                model.estimate_effect(estimand, method_name=method, target_units=target, method_params=params).value
            )

    psm_dowhy, psm_dowhy_s = _timed(lambda: dowhy("backdoor.propensity_score_matching", "att"))
    their_scores = data["propensity_score"].to_numpy(dtype=float).copy()
    for label, args in (
        ("PSM as configured", (mcfg.caliper, strata, False)),
        ("PSM with DoWhy's rules", (None, None, True)),
    ):
        ours, secs = _timed(lambda: ours_psm(*args))
        out.append(
            dict(
                outcome=name,
                estimand="ATT",
                comparison=label,
                n=len(y),
                ours=ours.estimate,
                ours_se=ours.std_error,
                ours_s=secs,
                dowhy=psm_dowhy,
                dowhy_s=psm_dowhy_s,
            )
        )
    # the implementations alone: our matcher on DoWhy's own scores, and how many treated clients
    # have two equally near controls (identical scores), where the tie rules differ
    m = match_nearest(their_scores, t, caliper=None, ratio=1, replace=True, strata=None, seed=cfg.seed)
    same = matched_regression(y, t, m.weights, m.subclass, True, scale=scale, outcome=name)
    control = np.sort(their_scores[t == 0])
    treated = their_scores[t == 1]
    at = np.clip(np.searchsorted(control, treated), 1, control.size - 1)
    nearest = np.minimum(np.abs(control[at] - treated), np.abs(treated - control[at - 1]))
    lo = np.searchsorted(control, treated - nearest, side="left")
    hi = np.searchsorted(control, treated + nearest, side="right")
    tied = float(np.mean(hi - lo > 1))
    out.append(
        dict(
            outcome=name,
            estimand="ATT",
            comparison=f"PSM, ours on DoWhy's scores ({tied:.0%} tied)",
            n=len(y),
            ours=same.estimate,
            ours_se=same.std_error,
            ours_s=np.nan,
            dowhy=psm_dowhy,
            dowhy_s=psm_dowhy_s,
        )
    )

    def ours_aipw():
        fit = fit_propensity(X, t)
        return aipw(y, t, X, fit.score, "ATE", ps_design=X, scale=scale, outcome=name)

    ours, secs = _timed(ours_aipw)
    dr, dr_s = _timed(
        lambda: dowhy("backdoor.doubly_robust", "ate", {"init_params": {"propensity_score_model": _propensity_model()}})
    )
    out.append(
        dict(
            outcome=name,
            estimand="ATE",
            comparison="AIPW / doubly robust",
            n=len(y),
            ours=ours.estimate,
            ours_se=ours.std_error,
            ours_s=secs,
            dowhy=dr,
            dowhy_s=dr_s,
        )
    )
    return out


def compare(analysis: pd.DataFrame, cfg: Settings) -> pd.DataFrame:
    # warm-up on 3,000 clients, so neither side's timings include imports or numba's cache load
    compare_outcome(analysis.sample(n=min(3000, len(analysis)), random_state=1), cfg, cfg.outcomes[0])
    table = pd.DataFrame([r for spec in cfg.outcomes for r in compare_outcome(analysis, cfg, spec)], columns=COLUMNS)
    table["time_ratio"] = table["dowhy_s"] / table["ours_s"]
    table["difference"] = table["dowhy"] - table["ours"]
    table["difference_in_se"] = table["difference"] / table["ours_se"]
    return table


def markdown(table: pd.DataFrame) -> list[str]:
    lines = [
        "| outcome | estimand | comparison | clients | ours (SE) | ours time (s) | DoWhy | DoWhy time (s) | "
        "DoWhy / ours time | DoWhy - ours (in our SEs) |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in table.itertuples():
        lines.append(
            f"| {r.outcome} | {r.estimand} | {r.comparison} | {r.n:,} | {r.ours:.4g} ({r.ours_se:.2g}) | "
            f"{'' if np.isnan(r.ours_s) else f'{r.ours_s:.2f}'} | {r.dowhy:.4g} | {r.dowhy_s:.2f} | "
            f"{'' if np.isnan(r.time_ratio) else f'{r.time_ratio:.1f}x'} | "
            f"{r.difference:+.3g} ({r.difference_in_se:+.2f}) |"
        )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("analysis", type=Path, help="results/cohort/analysis.parquet of a workflow run")
    ap.add_argument("config", type=Path, help="the run's config file")
    args = ap.parse_args()
    table = compare(pd.read_parquet(args.analysis), load_settings(args.config))
    print("\n".join(markdown(table)))


if __name__ == "__main__":
    main()
