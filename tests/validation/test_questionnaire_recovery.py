"""The questionnaire outcomes recover their truth on the default extract (issue 15, part 2): a reduced
version of the 200-seed study in docs/validation.md, for CI.

One extract, the default study's (5,000 clients, seed 1, event recording), through ingest, cohort,
matching and the questionnaire estimators. It fails when the ANCOVA estimator breaks (the baseline
no longer adjusting: the SE would grow by a fifth; a wrong sign or scale) or the truth does (a truth
without the effect carried by the alliance, the natural direct effect alone, is not covered).
"""

from __future__ import annotations

import pandas as pd
import pytest

from deepvalue.adjust.matched_cohort import run_matching
from deepvalue.cohort.build import build_cohort
from deepvalue.core.config import load_config
from deepvalue.core.settings import Outcome, Settings
from deepvalue.effects.base import estimates_frame
from deepvalue.effects.questionnaire import questionnaire_estimates
from deepvalue.effects.table import Roles, compare_with_truth, estimate_outcome
from deepvalue.extract.ingest import ingest_extract
from deepvalue.synth.generate import generate_extract
from deepvalue.synth.write import write_extract

pytestmark = pytest.mark.slow

METHODS = ("naive", "regression", "logit_ame", "psm", "ipw", "aipw")


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    extract = generate_extract(5000, seed=1, recording="events")
    paths = write_extract(extract, tmp_path_factory.mktemp("default"))
    cfg = Settings.from_sections(load_config(paths["config"]))
    ingested = ingest_extract(cfg)
    cohort = build_cohort(ingested.tables, cfg, ingested.extract_date)
    propensity = run_matching(cohort.analysis, cfg).propensity
    rows = questionnaire_estimates(cohort.analysis, cfg, propensity, METHODS, [], Roles(), None)
    return extract, cfg, cohort.analysis, estimates_frame(rows)


def test_adjusted_intervals_cover_the_truth_on_every_scale(default_run):
    extract, _, _, est = default_run
    vs = compare_with_truth(est, extract.truth["questionnaires"])
    adjusted = vs[vs["method"].isin(["regression", "ipw", "aipw"])]
    # wellbeing: 3 scales x 3 methods x 2 estimands; life satisfaction: 2 scales (no published threshold)
    assert len(adjusted[adjusted["outcome"] == "wellbeing"]) == 18
    assert len(adjusted[adjusted["outcome"] == "life_satisfaction"]) == 12
    assert adjusted["covered"].all(), adjusted
    assert (adjusted["error_in_se"].abs() < 2.5).all(), adjusted


def test_naive_wellbeing_is_confounded(default_run):
    extract, _, _, est = default_run
    vs = compare_with_truth(est, extract.truth["questionnaires"])
    naive = vs[(vs["outcome"] == "wellbeing") & (vs["method"] == "naive") & (vs["scale"] == "points")].iloc[0]
    # the continuous arm is less complex and starts better off: the unadjusted follow-up difference overstates
    assert naive["error_in_se"] > 2.5 and not naive["covered"]


def test_a_wrong_truth_is_not_covered(default_run):
    extract, _, _, est = default_run
    wrong = {
        name: {**t, "scales": {"points": t["mediation"]["natural_direct_effect"]}}
        for name, t in extract.truth["questionnaires"].items()
        if name == "wellbeing"
    }
    vs = compare_with_truth(est, wrong)
    rows = vs[(vs["scale"] == "points") & vs["method"].isin(["regression", "aipw"])]
    assert len(rows) == 4 and not rows["covered"].any(), rows


def test_the_baseline_adjustment_is_what_makes_it_precise(default_run):
    _, cfg, analysis, est = default_run
    rows = analysis.loc[analysis["wellbeing"].notna()].reset_index(drop=True)
    plain = estimates_frame(
        estimate_outcome(rows, Outcome("wellbeing", "continuous"), cfg, None, methods=("regression",))
    )
    ancova = est[(est["outcome"] == "wellbeing") & (est["scale"] == "points") & (est["method"] == "regression")]
    merged = pd.merge(ancova, plain, on="estimand", suffixes=("_ancova", "_plain"))
    assert len(merged) == 2
    # baseline-follow-up correlation about 0.57: the residual SD falls by roughly a fifth
    assert (merged["std_error_ancova"] < 0.9 * merged["std_error_plain"]).all(), merged
