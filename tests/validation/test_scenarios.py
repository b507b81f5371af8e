"""Which designs survive which unmeasured confounder (issue 16): small versions of
`deepvalue simulate --scenario worker_quality|engagement` (docs/validation.md, "Validation by
scenario", has 200 seeds each: worker_quality at 5,000 clients, the others at 2,000).

Reference: the generator's truth (potential-outcome means, and for the departure designs the
exposure had the allocated worker stayed). The tolerances are those of test_recovery.py (mean error
within 0.6 SE, coverage at least 0.8 at 20-40 replicates); the confounded methods must miss by far
more than Monte Carlo error: they fail if the scenario stops confounding or the design stops
removing it.
"""

from __future__ import annotations

import pytest

from deepvalue.simulate.study import one_replicate, simulate, summarise

pytestmark = pytest.mark.slow

WITHIN = ("within_worker_regression", "within_worker_aipw")
DEPARTURE = ("departure_reduced_form", "iv")

#: the fixed extract of the issue's "Done when" (5,000 clients, the default size); docs/validation.md
#: shows the same contrast over 200 seeds
DONE_WHEN_SEED = 1


def test_within_worker_covers_where_aipw_does_not_on_a_worker_quality_extract():
    rows = one_replicate(DONE_WHEN_SEED, 5000, methods=("aipw", *WITHIN), scenario="worker_quality")
    rows = rows.set_index(["outcome", "method", "estimand"])
    shown = rows[["estimate", "ci_lower", "ci_upper", "truth", "covered"]]
    # continuous clients have better workers, so aipw's miss is the confounding's direction: more job
    # starts, fewer crisis contacts (sign -1). Generator 1.1.0's heterogeneous income effect (600 c)
    # widened income's aipw ATT interval until it covers on this seed by about 1 GBP (bias +103 GBP,
    # SE 52), so income is required of the ATE only; docs/validation.md has the 200-seed table.
    for outcome, sign, estimands in (
        ("job_start", 1, ("ATT", "ATE")),
        ("crisis_contacts", -1, ("ATT", "ATE")),
        ("income_gain_gbp", 1, ("ATE",)),
    ):
        for estimand in estimands:
            assert not rows.loc[(outcome, "aipw", estimand), "covered"], shown
            assert sign * rows.loc[(outcome, "aipw", estimand), "error"] > 0, shown
        for estimand in ("ATT", "ATE"):
            for method in WITHIN:
                assert rows.loc[(outcome, method, estimand), "covered"], shown


@pytest.fixture(scope="module")
def quality_study():
    reps = simulate(
        20, 3000, first_seed=501, workers=2, methods=("aipw", *WITHIN, *DEPARTURE), scenario="worker_quality"
    )
    return summarise(reps)


def test_within_worker_survives_worker_quality(quality_study):
    s = quality_study
    # the three outcomes of the generator's scenarios (the questionnaire outcomes have no scenario effect yet)
    within = s[s["method"].isin(WITHIN) & s["outcome"].isin(["job_start", "income_gain_gbp", "crisis_contacts"])]
    shown = within[["outcome", "method", "estimand", "bias_over_se", "coverage"]]
    assert len(within) == 12
    assert (within["bias_over_se"].abs() < 0.6).all(), shown
    assert (within["coverage"] >= 0.8).all(), shown
    # the upper bound was 1.4: the CR2 adjustment (docs/design.md) widens these rows by 1-12% at
    # 3,000 clients, and on seeds 501-520 crisis_contacts' within_worker_regression had SE / SD 1.35
    # before it (the SD of 20 estimates is uncertain by about +-16%), 1.48 after. An SE off by a
    # factor of two still fails; the anti-conservative side keeps its bound.
    assert (within["mean_se"] / within["sd_estimate"]).between(0.7, 1.6).all(), shown


def test_selection_on_observables_fails_under_worker_quality(quality_study):
    s = quality_study
    aipw = s[s["method"] == "aipw"].set_index(["outcome", "estimand"])
    shown = aipw[["bias_over_se", "coverage"]]
    # good workers keep their clients and get better outcomes: continuity looks better than it is
    assert (aipw.loc["income_gain_gbp", "bias_over_se"] > 1.5).all(), shown
    assert (aipw.loc["crisis_contacts", "bias_over_se"] < -1.5).all(), shown
    assert (aipw.loc[["income_gain_gbp", "crisis_contacts"], "coverage"] <= 0.6).all(), shown
    # job_start moves least with quality (0.25 on the logit): coverage 0.75 (ATT) and 0.55 (ATE) over
    # seeds 501-520 at 3,000 clients; at 5,000, bias 2.3-2.7 SE and coverage 0.20-0.36 over seeds 1-50.
    # Expected bias at 3,000: about 2.5 sqrt(3/5) = 1.9 SE, with a Monte Carlo SE of about 0.25 at 20 seeds
    assert (aipw.loc["job_start", "bias_over_se"] > 1.0).all(), shown


@pytest.fixture(scope="module")
def engagement_study():
    reps = simulate(20, 3000, first_seed=601, workers=2, methods=("aipw", *WITHIN, *DEPARTURE), scenario="engagement")
    return summarise(reps)


def test_only_the_departure_designs_survive_engagement(engagement_study):
    s = engagement_study
    departure = s[s["method"].isin(DEPARTURE)]
    shown = s[["outcome", "method", "estimand", "bias_over_se", "coverage"]]
    assert len(departure) == 6
    # the IV's and the reduced form's SEs are 3-6 times aipw's: coverage, not power, is checked
    assert (departure["bias_over_se"].abs() < 0.6).all(), shown
    assert (departure["coverage"] >= 0.8).all(), shown
    # engagement varies within worker: the within-worker rows are as confounded as aipw
    for method in ("aipw", *WITHIN):
        rows = s[(s["method"] == method) & (s["outcome"] == "crisis_contacts")]
        assert (rows["bias_over_se"] < -2).all() and (rows["coverage"] <= 0.5).all(), shown
