"""The estimators recover the synthetic truth: a small version of `deepvalue simulate`.

The full study (200 extracts of 5,000 clients, docs/validation.md) is too slow for CI; this runs
40 extracts of 3,000 clients (about 35 s), and 30 event-recorded ones with km_ipw, enough to fail
when an estimator is broken (wrong sign, wrong estimand, a standard error off by a factor of two,
the adjustment not applied), not enough to measure coverage to a point. The tolerances are set from
the Monte Carlo error at 12 replicates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from deepvalue.simulate.study import simulate, summarise

pytestmark = pytest.mark.slow

ADJUSTED = ("regression", "psm", "ipw", "aipw")
# 12 replicates were too few: one unlucky draw of seeds moved regression ATE coverage from 9/12 to
# 7/12 with an SE unchanged to 0.2%; at 40 the Monte Carlo SE of a 0.95 coverage is 0.034
REPS = 40
QUESTIONNAIRES = ("wellbeing", "life_satisfaction")


@pytest.fixture(scope="module")
def study():
    reps = simulate(REPS, 3000, first_seed=101, workers=2)
    return reps, summarise(reps)


def test_every_outcome_method_and_estimand_ran(study):
    reps, summary = study
    # and the questionnaire outcomes (issue 15), on their three scales
    assert set(summary["outcome"]) == {"job_start", "income_gain_gbp", "crisis_contacts", *QUESTIONNAIRES}
    scales = summary.loc[summary["outcome"] == "wellbeing", "scale"]
    assert set(scales) == {"points", "baseline_sd", "share_meaningful_change"}
    assert (summary["reps"] == REPS).all()
    for method in ADJUSTED:
        assert method in set(summary["method"])


def test_naive_comparison_is_visibly_biased(study):
    reps, summary = study
    # the questionnaire outcomes' naive rows are checked in test_questionnaire_recovery.py (the share
    # reaching a change from baseline is barely confounded: the baseline moves with the follow-up)
    outcomes = ["job_start", "income_gain_gbp", "crisis_contacts"]
    naive = reps[(reps["method"] == "naive") & reps["outcome"].isin(outcomes)].set_index(["seed", "outcome"])
    att = reps[(reps["method"] == "regression") & (reps["estimand"] == "ATT") & reps["outcome"].isin(outcomes)]
    att = att.set_index(["seed", "outcome"])
    # The naive difference is the ATT plus the selection bias E[Y(0) | continuous] - E[Y(0) | fragmented]:
    # confounding by complexity makes continuity look better than it is on every outcome. (Against the
    # ATE the bias also holds the effect's heterogeneity: generator 1.1.0's income effect, 600 c, is
    # smaller for the less complex continuous clients, which offsets most of income's confounding.)
    selection = (naive["estimate"] - att["truth"].reindex(naive.index)).groupby(level="outcome").mean()
    se = naive["std_error"].groupby(level="outcome").mean()
    shown = pd.DataFrame({"selection_bias": selection, "mean_se": se})
    assert (selection.abs() > 2 * se).all(), shown
    assert selection["job_start"] > 0 and selection["income_gain_gbp"] > 0 and selection["crisis_contacts"] < 0
    rows = summary[(summary["method"] == "naive") & summary["outcome"].isin(["job_start", "crisis_contacts"])]
    assert (rows["coverage"] <= 0.6).all(), rows


def test_adjusted_methods_recover_the_truth(study):
    _, summary = study
    adjusted = summary[summary["method"].isin(ADJUSTED)]
    # mean error within 0.6 SE (40 replicates: Monte Carlo SE of the mean error is SD/sqrt(40) ~ 0.16 SE)
    assert (adjusted["bias_over_se"].abs() < 0.6).all(), adjusted[["outcome", "method", "estimand", "bias_over_se"]]
    assert (adjusted["coverage"] >= 0.8).all(), adjusted[["outcome", "method", "estimand", "coverage"]]


def test_standard_errors_match_the_spread_of_estimates(study):
    _, summary = study
    adjusted = summary[summary["method"].isin(ADJUSTED)]
    ratio = adjusted["mean_se"] / adjusted["sd_estimate"]
    # the SD of 40 estimates is itself uncertain by about +-11%. The upper bound was 1.4: the CR2
    # adjustment (docs/design.md) widens the questionnaire rows by 5-9% at 3,000 clients, and
    # life_satisfaction's rows on seeds 101-140 were already at 1.24-1.39 before it (1.24-1.47
    # after; docs/validation.md, "CR2 standard errors", on their over-coverage). A factor-of-two
    # error still fails; the anti-conservative side keeps its bound.
    assert ratio.between(0.7, 1.6).all(), adjusted.assign(ratio=ratio)[["outcome", "method", "estimand", "ratio"]]


def test_replicates_are_reproducible():
    a = simulate(1, 1500, first_seed=7)
    b = simulate(1, 1500, first_seed=7)
    assert a.equals(b)
    assert np.isfinite(a["estimate"]).all()


# --- event recording (issue 14): the same checks on event outcomes, km_ipw among them -------------

EVENT_METHODS = (*ADJUSTED, "km_ipw")
EVENT_REPS = 30


@pytest.fixture(scope="module")
def events_study():
    reps = simulate(EVENT_REPS, 3000, first_seed=301, workers=2, methods=EVENT_METHODS, recording="events")
    return reps, summarise(reps)


def test_events_km_ipw_gives_both_scales_and_estimands_every_replicate(events_study):
    reps, summary = events_study
    km = summary[summary["method"] == "km_ipw"]
    assert set(zip(km["estimand"], km["scale"])) == {
        (e, s) for e in ("ATT", "ATE") for s in ("risk_difference_at_horizon", "rmst_difference_days")
    }
    assert (km["outcome"] == "job_start").all() and (km["reps"] == EVENT_REPS).all()
    assert reps.loc[reps["method"] == "km_ipw", "truth"].notna().all()


def test_events_km_ipw_recovers_the_truth_as_ipw_does(events_study):
    """km_ipw against its truth, and against ipw on the same replicates, which share its Monte Carlo
    noise: seeds 301-330 are an unlucky window for every method (SE / SD about 0.75 for job_start's and
    income's rows alike, 30 replicates: the SD is uncertain by +-13%), so the absolute checks are
    bias and coverage only, and the SEs are checked against ipw's. Breaks when km_ipw does (a wrong
    sign, estimand or truth, an SE off by a fifth, censored clients counted as events; dropping them is
    the cohort unit tests' to catch, as it moves the estimate too little here)."""
    reps, summary = events_study
    km = summary[summary["method"] == "km_ipw"].set_index(["estimand", "scale"])
    shown = km[["bias_over_se", "coverage", "mean_se", "sd_estimate"]]
    assert (km["bias_over_se"].abs() < 0.6).all(), shown
    assert (km["coverage"] >= 0.8).all(), shown
    rmst = km.xs("rmst_difference_days", level="scale")
    assert (rmst["mean_se"] / rmst["sd_estimate"]).between(0.7, 1.4).all(), shown
    # the horizon risk difference, replicate by replicate, next to ipw's on the complete-follow-up clients
    risk = reps[(reps["method"] == "km_ipw") & (reps["scale"] == "risk_difference_at_horizon")]
    ipw = reps[(reps["method"] == "ipw") & (reps["outcome"] == "job_start")]
    pair = risk.merge(ipw, on=["seed", "estimand"], suffixes=("_km", "_ipw"))
    assert len(pair) == 2 * EVENT_REPS
    # the populations differ by the ~4% of clients km_ipw keeps censored: gaps of SD ~0.2 SE (seeds 301-330:
    # SD 0.18, largest 0.54)
    gap = (pair["estimate_km"] - pair["estimate_ipw"]) / pair["std_error_ipw"]
    assert gap.abs().max() < 1.0 and abs(gap.mean()) < 0.2 and gap.std() < 0.4, gap.describe()
    assert (pair["std_error_km"] / pair["std_error_ipw"]).between(0.85, 1.1).all()
    assert (pair["covered_km"].mean() - pair["covered_ipw"].mean()) >= -0.1


def test_events_adjusted_methods_are_unbiased(events_study):
    """regression, psm, ipw and aipw on the event outcomes: mean error within 0.6 SE (the coverage and
    SE checks are the measured study's above, and docs/validation.md's 200 seeds)."""
    _, summary = events_study
    rows = summary[summary["method"].isin(ADJUSTED)]
    assert (rows["bias_over_se"].abs() < 0.6).all(), rows[["outcome", "method", "estimand", "bias_over_se"]]
