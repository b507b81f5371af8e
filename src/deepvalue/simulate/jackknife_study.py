"""Diagnostic: the cluster-robust sandwich SE against the delete-one-cluster jackknife.

Issue 14's events validation found crisis_contacts' clustered SEs 4-5% below the SD of the estimates
(regression, ipw, aipw). This study refits the estimators with each allocated worker's clients left out
(the CR3-type jackknife, ``(G - 1) / G * sum_g (theta_(-g) - mean)^2``; MacKinnon and White 1985,
Cameron and Miller 2015 section VI.B) on event-recorded extracts and reports the ratio of the two SEs
and the coverage of each against the truth, with the clusters' Kish effective number
``1 / sum_g (n_g / n)^2``. It refits everything G times per extract, so it is slow (about 6 s per
5,000-client extract on a quiet core) and not part of CI.

    python -m deepvalue.simulate.jackknife_study --first-seed 1 --reps 200 --out results/jackknife.csv
    python -m deepvalue.simulate.jackknife_study --outcome job_start --methods regression,ipw,aipw,km_ipw \
        --first-seed 1 --reps 100 --out results/jackknife_job.csv
"""

from __future__ import annotations

import argparse
from functools import partial

import numpy as np
import pandas as pd

from deepvalue.adjust.matched_cohort import run_matching
from deepvalue.cohort.outcomes import time_to_event_columns
from deepvalue.effects.table import compare_with_truth, run_estimates
from deepvalue.simulate.study import only_outcomes, synthetic_cohort

METHODS = ("regression", "ipw", "aipw")
KEYS = ["method", "estimand", "scale"]


def one_extract(
    seed: int, n_clients: int, outcome: str, recording: str = "events", methods: tuple[str, ...] = METHODS
) -> pd.DataFrame:
    """Sandwich and jackknife SEs of the whole-cohort ATT and ATE rows of one outcome of one extract.

    Every left-out fit reruns the estimators whole, their own propensity models included. ``km_ipw``
    in ``methods`` adds its two rows per estimand (horizon risk difference, restricted mean), keyed
    by the scale; its population keeps the censored clients, so a worker is left out of it too."""

    run = synthetic_cohort(seed, n_clients, partial(only_outcomes, names=[outcome]), recording=recording)
    extract, cfg, analysis = run.extract, run.settings, run.cohort.analysis
    propensity = run_matching(analysis, cfg).propensity

    def whole(frame: pd.DataFrame) -> pd.DataFrame:
        kept = propensity[propensity["client_id"].isin(frame["client_id"])]
        est = run_estimates(frame, cfg, kept, methods=methods, subgroups=[])
        return est[(est["outcome"] == outcome) & (est["subgroup"] == "") & est["estimand"].isin(["ATT", "ATE"])]

    estimates = whole(analysis)
    full = estimates.set_index(KEYS)
    # the workers of the outcome's clients, and of km_ipw's population (its censored clients too)
    used = analysis[outcome].notna()
    if "km_ipw" in methods:
        days, _ = time_to_event_columns(outcome)
        used |= analysis[days].notna() if days in analysis else False
    workers = analysis.loc[used, "first_worker"].to_numpy()
    ids, sizes = np.unique(workers, return_counts=True)
    left_out = np.array(
        [
            whole(analysis[analysis["first_worker"] != w]).set_index(KEYS)["estimate"].reindex(full.index).to_numpy()
            for w in ids
        ]
    )
    g = len(ids)
    jackknife = np.sqrt((g - 1) / g * ((left_out - left_out.mean(axis=0)) ** 2).sum(axis=0))
    truth = compare_with_truth(estimates, extract.truth["outcomes"]).set_index(KEYS)["truth"]
    out = full[["estimate", "std_error"]].reset_index()
    out.insert(0, "seed", seed)
    out["jackknife_se"] = jackknife
    out["truth"] = truth.reindex(full.index).to_numpy()
    out["clusters"] = g
    out["effective_clusters"] = 1.0 / float(((sizes / sizes.sum()) ** 2).sum())
    out["n"] = int(sizes.sum())
    return out


def summarise(replicates: pd.DataFrame) -> pd.DataFrame:
    """Per method and estimand: mean SE ratio, each SE over the SD of the errors, and each coverage."""
    r = replicates.assign(error=replicates["estimate"] - replicates["truth"])

    def one(x: pd.DataFrame) -> pd.Series:
        sd = x["error"].std(ddof=1)
        return pd.Series(
            {
                "reps": len(x),
                "jackknife_over_sandwich": (x["jackknife_se"] / x["std_error"]).mean(),
                "sandwich_se_over_sd": x["std_error"].mean() / sd,
                "jackknife_se_over_sd": x["jackknife_se"].mean() / sd,
                "coverage_sandwich": (x["error"].abs() <= 1.959964 * x["std_error"]).mean(),
                "coverage_jackknife": (x["error"].abs() <= 1.959964 * x["jackknife_se"]).mean(),
                "clusters": x["clusters"].mean(),
                "effective_clusters": x["effective_clusters"].mean(),
            }
        )

    keys = [k for k in KEYS if k in r]
    return r.groupby(keys).apply(one).reset_index()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--first-seed", type=int, default=1)
    p.add_argument("--reps", type=int, default=200)
    p.add_argument("--clients", type=int, default=5000)
    p.add_argument("--outcome", default="crisis_contacts")
    p.add_argument("--recording", choices=("events", "measured"), default="events")
    p.add_argument("--methods", default=",".join(METHODS), help="comma-separated (km_ipw for events outcomes)")
    p.add_argument("--out", required=True, help="replicates CSV (written after every extract)")
    args = p.parse_args(argv)
    rows = []
    for seed in range(args.first_seed, args.first_seed + args.reps):
        rows.append(one_extract(seed, args.clients, args.outcome, args.recording, tuple(args.methods.split(","))))
        pd.concat(rows).to_csv(args.out, index=False)
    print(summarise(pd.concat(rows)).to_string(index=False))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
