"""Diagnostic: life satisfaction's intervals on the extract's own answers and on redrawn answers.

Issue 15's questionnaire validation found life satisfaction's SEs 12-18% above the SD of the
estimates over seeds 1-200 (coverage 0.98-0.99). This study separates the estimator from the draws:
for each extract it fits the ANCOVA regression (Lin, pipeline's cluster-robust SE and HC0) and
statsmodels OLS (treatment + confounders + baseline, CR1 by allocated worker and HC1) on the analysed
clients, once with the extract's own answers and once with answers redrawn from the generator's
model (:func:`deepvalue.synth.responses.life_satisfaction_answers`) with fresh normal draws from
the stream ``[seed, REDRAW_STREAM]``, on the same clients, confounders, continuity and workers. If
the SE is right, the redrawn estimates' SD over seeds matches the mean SE. It also records how
balanced between the arms the extract's own draws are (``z_*``: the two-sample z statistic of each
draw, N(0, 1) over seeds when the draws are independent of continuity) and the variance of the
individual effects ``Y(1) - Y(0)`` (what separates the sample truth from the population effect).

    python -m deepvalue.simulate.redraw_study --first-seed 1 --reps 200 --clients 3000 --out results/redraw.csv
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import statsmodels.api as sm

from deepvalue.adjust.design import STRUCTURAL, covariate_design
from deepvalue.core.settings import Covariate
from deepvalue.effects.linear import regression_adjustment
from deepvalue.simulate.study import synthetic_cohort
from deepvalue.synth.parameters import COMPLEXITY_WEIGHTS, SITES
from deepvalue.synth.responses import (
    life_satisfaction_answers,
    life_satisfaction_draws,
    wellbeing_trait,
)

OUTCOME = "life_satisfaction"
REDRAW_STREAM = 999
# the study's outcomes cut to one (as the documented questionnaire validation does), to save time
OUTCOMES = [{"name": "income_gain_gbp", "type": "continuous", "follow_up_days": 365}]


def complexity_of(clients: pd.DataFrame) -> np.ndarray:
    """The generator's complexity score from the clients table (``synth.clients``)."""
    w = COMPLEXITY_WEIGHTS
    return (
        w["disability"] * clients["disability"]
        + w["language_need"] * clients["language_need"]
        + w["extra_issue"] * (clients["n_issues"] - 1)
        + w["prior_unemployed_month"] * clients["prior_unemployed_months"]
        + w["year_over_50"] * np.maximum(clients["age"] - 50, 0)
    ).to_numpy(dtype=np.float64)


def analysed_rows(seed: int, n_clients: int) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """The analysed life-satisfaction rows (with the generator's draws and potential answers as
    ``gen_*`` columns), their design matrix with the baseline, and the outcome's truth."""
    run = synthetic_cohort(seed, n_clients, {"outcomes": OUTCOMES})
    extract, cfg, analysis = run.extract, run.settings, run.cohort.analysis
    base_col = f"{OUTCOME}_baseline"
    rows = analysis.loc[analysis[OUTCOME].notna() & analysis[base_col].notna()].reset_index(drop=True)
    clients = extract.clients
    complexity = complexity_of(clients)
    site = pd.Series(range(len(SITES)), index=list(SITES)).reindex(clients["site"]).to_numpy()
    draws = life_satisfaction_draws(seed, len(clients))
    trait = wellbeing_trait(site, complexity, draws["z_trait"])
    _, follow = life_satisfaction_answers(trait, complexity, draws["z_ls"], draws["e_base"], draws["e_fu"], 1.0)
    at = pd.Series(np.arange(len(clients)), index=clients["client_id"].to_numpy()).reindex(rows["client_id"])
    at = at.to_numpy()
    extra = {"complexity": complexity, "site": site, "y0": follow[0], "y1": follow[1], **draws}
    for key, value in extra.items():
        rows[f"gen_{key}"] = np.asarray(value)[at]
    covariates = tuple(cfg.covariates) + (Covariate(base_col, "numeric"),)
    X = covariate_design(rows, covariates, structural=STRUCTURAL).X
    return rows, X, extract.truth["questionnaires"][OUTCOME]


def _fits(y: np.ndarray, d: np.ndarray, X: pd.DataFrame, cluster: np.ndarray, out: dict, tag: str) -> None:
    for estimand in ("ATT", "ATE"):
        cr = regression_adjustment(y, d, X, cluster, estimand, leverage=False)
        hc = regression_adjustment(y, d, X, None, estimand, leverage=False)
        out[f"{tag}{estimand}_estimate"] = cr.estimate
        out[f"{tag}{estimand}_se_cluster"] = cr.std_error
        out[f"{tag}{estimand}_se_hc0"] = hc.std_error
    model = sm.OLS(y, sm.add_constant(np.column_stack([d, X.to_numpy(dtype=float)]), has_constant="add"))
    out[f"{tag}ols_estimate"] = model.fit().params[1]
    out[f"{tag}ols_se_cr1"] = model.fit(cov_type="cluster", cov_kwds={"groups": cluster}).bse[1]
    out[f"{tag}ols_se_hc1"] = model.fit(cov_type="HC1").bse[1]


def balance_z(v: np.ndarray, t: np.ndarray) -> float:
    """Two-sample z statistic of ``v`` between treated (``t``) and control."""
    return float((v[t].mean() - v[~t].mean()) / np.sqrt(v[t].var() / t.sum() + v[~t].var() / (~t).sum()))


def one_extract(seed: int, n_clients: int) -> dict:
    """One extract's row: the own and the redrawn (``redrawn_*``) estimates and SEs, truths, balance."""
    rows, X, truth = analysed_rows(seed, n_clients)
    d = rows["treatment"].to_numpy(dtype=float)
    t = d == 1
    cluster = pd.factorize(rows["first_worker"])[0]
    y = rows[OUTCOME].to_numpy(dtype=float)
    y0, y1 = rows["gen_y0"].to_numpy(), rows["gen_y1"].to_numpy()
    if not np.array_equal(np.where(t, y1, y0), y):
        raise AssertionError(f"seed {seed}: the replayed answers are not the extract's (generator changed?)")
    effects = y1 - y0
    out = {
        "seed": seed,
        "n": len(rows),
        "n_treated": int(t.sum()),
        "clusters": int(cluster.max()) + 1,
        "satt": truth["att"],
        "sate": truth["ate"],
        "replayed_satt": float(effects[t].mean()),
        "replayed_sate": float(effects.mean()),
        "var_individual_effect": float(np.var(effects, ddof=1)),
    }
    for key in ("z_trait", "z_ls", "e_base", "e_fu"):
        out[f"z_{key}"] = balance_z(rows[f"gen_{key}"].to_numpy(), t)
    _fits(y, d, X, cluster, out, "")
    rng = np.random.default_rng([seed, REDRAW_STREAM])
    z_trait, z_ls, e_base, e_fu = rng.standard_normal((4, len(rows)))
    trait = wellbeing_trait(rows["gen_site"].to_numpy(), rows["gen_complexity"].to_numpy(), z_trait)
    base, follow = life_satisfaction_answers(trait, rows["gen_complexity"].to_numpy(), z_ls, e_base, e_fu, 1.0)
    redrawn_X = X.assign(**{f"{OUTCOME}_baseline": base})
    out["redrawn_satt"] = float((follow[1] - follow[0])[t].mean())
    out["redrawn_sate"] = float((follow[1] - follow[0]).mean())
    _fits(np.where(t, follow[1], follow[0]), d, redrawn_X, cluster, out, "redrawn_")
    return out


def summarise(replicates: pd.DataFrame) -> pd.DataFrame:
    """Per answers (own, redrawn) and estimator: mean SE, SD of the estimates, SE / SD, coverage of
    the sample truth and of the mean truth over seeds."""
    rows = []
    for answers, tag in (("own", ""), ("redrawn", "redrawn_")):
        for estimand, truth in (("ATT", "satt"), ("ATE", "sate")):
            est = replicates[f"{tag}{estimand}_estimate"]
            sample = replicates[f"{tag}{truth}"]
            for se_name in ("se_cluster", "se_hc0"):
                se = replicates[f"{tag}{estimand}_{se_name}"]
                rows.append(
                    {
                        "answers": answers,
                        "estimator": f"regression {estimand}",
                        "se": se_name[3:],
                        "reps": len(est),
                        "mean_se": se.mean(),
                        "sd_estimate": est.std(ddof=1),
                        "sd_error": (est - sample).std(ddof=1),
                        "se_over_sd": se.mean() / est.std(ddof=1),
                        "coverage_sample_truth": ((est - sample).abs() <= 1.959964 * se).mean(),
                        "coverage_mean_truth": ((est - sample.mean()).abs() <= 1.959964 * se).mean(),
                    }
                )
        est = replicates[f"{tag}ols_estimate"]
        for se_name in ("se_cr1", "se_hc1"):
            se = replicates[f"{tag}ols_{se_name}"]
            rows.append(
                {
                    "answers": answers,
                    "estimator": "statsmodels OLS (additive)",
                    "se": se_name[3:],
                    "reps": len(est),
                    "mean_se": se.mean(),
                    "sd_estimate": est.std(ddof=1),
                    "sd_error": np.nan,
                    "se_over_sd": se.mean() / est.std(ddof=1),
                    "coverage_sample_truth": np.nan,
                    "coverage_mean_truth": np.nan,
                }
            )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--first-seed", type=int, default=1)
    p.add_argument("--reps", type=int, default=200)
    p.add_argument("--clients", type=int, default=3000)
    p.add_argument("--out", required=True, help="replicates CSV (written after every extract)")
    args = p.parse_args(argv)
    rows = []
    for seed in range(args.first_seed, args.first_seed + args.reps):
        rows.append(one_extract(seed, args.clients))
        pd.DataFrame(rows).to_csv(args.out, index=False)
    reps = pd.DataFrame(rows)
    print(summarise(reps).to_string(index=False))
    balance = reps[[c for c in reps if c.startswith("z_")]]
    print("balance z of the own draws over seeds (N(0, 1) expected):")
    print(balance.agg(["mean", "std"]).T.to_string())
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
