"""Questionnaire outcomes in estimates.csv: ANCOVA (the baseline among the confounders of its own
outcome only) on the points, baseline_sd and share_meaningful_change scales (issue 15, part 2).

Reference: the fully interacted regression with the baseline among the covariates is Lin's (2013)
OLS of y on d, centred X and d x centred X; statsmodels OLS of that design gives the treatment
coefficient, to 1e-8.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from deepvalue.adjust.design import covariate_design
from deepvalue.adjust.matched_cohort import run_matching
from deepvalue.cohort.build import build_cohort
from deepvalue.core.config import load_config
from deepvalue.core.settings import Covariate, Settings
from deepvalue.effects.base import estimates_frame
from deepvalue.effects.questionnaire import per_baseline_sd, questionnaire_estimates
from deepvalue.effects.table import Roles, compare_with_truth, run_estimates
from deepvalue.extract.ingest import ingest_extract
from deepvalue.questionnaires.instruments import INSTRUMENTS, reaches_meaningful_change
from deepvalue.synth.generate import generate_extract
from deepvalue.synth.write import write_extract

METHODS = ("naive", "regression", "logit_ame", "psm", "ipw", "aipw")


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    extract = generate_extract(2500, seed=6)
    paths = write_extract(extract, tmp_path_factory.mktemp("q"))
    cfg = Settings.from_sections(load_config(paths["config"]))
    ingested = ingest_extract(cfg)
    cohort = build_cohort(ingested.tables, cfg, ingested.extract_date)
    adjusted = run_matching(cohort.analysis, cfg)
    return extract, cfg, cohort.analysis, adjusted.propensity


def _rows(study, settings=None, methods=METHODS, subgroups=()):
    _, cfg, analysis, propensity = study
    found = questionnaire_estimates(
        analysis, settings or cfg, propensity, methods, list(subgroups), Roles(index="upc"), None
    )
    return estimates_frame(found)


def _lin(y, d, X, estimand):
    """statsmodels OLS of y on d, Xc and d * Xc, X centred at the treated (ATT) or sample (ATE) means."""
    centre = X[d == 1].mean() if estimand == "ATT" else X.mean()
    Xc = X - centre
    design = pd.concat([pd.Series(d, index=X.index, name="d"), Xc, Xc.mul(d, axis=0).add_prefix("d:")], axis=1)
    return sm.OLS(y, sm.add_constant(design)).fit().params["d"]


@pytest.mark.parametrize("name", ["wellbeing", "life_satisfaction"])
@pytest.mark.parametrize("estimand", ["ATT", "ATE"])
def test_regression_is_ancova_with_its_own_baseline_as_statsmodels_ols(study, name, estimand):
    _, cfg, analysis, _ = study
    est = _rows(study, methods=("regression",))
    row = est[(est["outcome"] == name) & (est["scale"] == "points") & (est["estimand"] == estimand)].iloc[0]
    rows = analysis.loc[analysis[name].notna()].reset_index(drop=True)
    covs = tuple(cfg.covariates) + (Covariate(f"{name}_baseline", "numeric"),)
    X = covariate_design(rows, covs).X
    y, d = rows[name].to_numpy(dtype=float), rows["treatment"].to_numpy(dtype=float)
    assert row["estimate"] == pytest.approx(_lin(y, d, X, estimand), abs=1e-8, rel=0)
    # the baseline matters (so the test would fail without it); the equality above also says that the
    # other questionnaire's baseline is not among the covariates (it would add a column and its missing flag)
    without = _lin(y, d, covariate_design(rows, cfg.covariates).X, estimand)
    assert abs(row["estimate"] - without) > 0.01
    assert row["n_treated"] + row["n_control"] == len(rows)


def test_every_scale_has_its_rows_and_the_baseline_sd_divides_the_points(study):
    _, _, analysis, _ = study
    est = _rows(study)
    wb = est[est["outcome"] == "wellbeing"]
    assert set(wb["scale"]) == {"points", "baseline_sd", "share_meaningful_change"}
    points = wb[wb["scale"] == "points"].set_index(["method", "estimand"])
    per_sd = wb[wb["scale"] == "baseline_sd"].set_index(["method", "estimand"])
    assert list(points.index) == list(per_sd.index)
    sd = analysis.loc[analysis["wellbeing"].notna(), "wellbeing_baseline"].std(ddof=1)
    for col in ("estimate", "std_error", "ci_lower", "ci_upper"):
        np.testing.assert_allclose(per_sd[col], points[col] / sd, rtol=1e-12)
    np.testing.assert_allclose(per_sd["p_value"], points["p_value"], rtol=0)
    assert per_sd["notes"].str.contains("treated as fixed").all()
    # share: the naive row is the difference in the share reaching 2.87 points (Shah et al. 2018)
    rows = analysis.loc[analysis["wellbeing"].notna()]
    reached = reaches_meaningful_change(INSTRUMENTS["swemwbs"], rows["wellbeing_baseline"], rows["wellbeing"])
    t = rows["treatment"].to_numpy() == 1
    naive = wb[(wb["scale"] == "share_meaningful_change") & (wb["method"] == "naive")].iloc[0]
    assert naive["estimate"] == pytest.approx(reached[t].mean() - reached[~t].mean(), abs=1e-12)
    assert "Shah et al. 2018" in naive["notes"]
    assert "logit_ame" in set(wb.loc[wb["scale"] == "share_meaningful_change", "method"])
    # ONS4 life satisfaction has no published threshold: points and baseline_sd only
    assert set(est.loc[est["outcome"] == "life_satisfaction", "scale"]) == {"points", "baseline_sd"}


def test_a_symptom_scale_is_reported_as_an_improvement(study):
    _, cfg, _, _ = study
    est = _rows(study, methods=("naive", "regression"))
    specs = tuple(dataclasses.replace(q, instrument="gad7") if q.name == "wellbeing" else q for q in cfg.questionnaires)
    flipped = _rows(study, dataclasses.replace(cfg, questionnaires=specs), methods=("naive", "regression"))
    a = est[(est["outcome"] == "wellbeing") & (est["scale"] == "points")].reset_index(drop=True)
    b = flipped[(flipped["outcome"] == "wellbeing") & (flipped["scale"] == "points")].reset_index(drop=True)
    np.testing.assert_allclose(b["estimate"], -a["estimate"], rtol=1e-10)
    np.testing.assert_allclose(b["ci_lower"], -a["ci_upper"], rtol=1e-10)
    assert b["notes"].str.contains("sign reversed").all()


def test_subgroup_rows_and_equal_effects_tests_on_points_only(study):
    est = _rows(study, methods=("regression",), subgroups=["service"])
    wb = est[est["outcome"] == "wellbeing"]
    assert {"service=employment", "service=welfare_advice"} <= set(wb["subgroup"])
    tests = wb[wb["subgroup"] == "service: equal effects"]
    assert len(tests) == 2 and tests["notes"].str.contains("equal points").all()


def test_degenerate_outcomes_give_skipped_rows_with_the_reason(study):
    extract, cfg, analysis, propensity = study
    flat = analysis.assign(wellbeing_baseline=np.where(analysis["wellbeing_baseline"].notna(), 20.0, np.nan))
    est = estimates_frame(
        questionnaire_estimates(flat, cfg, propensity, ("naive", "regression"), [], Roles(index=None), None)
    )
    sd_rows = est[(est["outcome"] == "wellbeing") & (est["scale"] == "baseline_sd")]
    assert len(sd_rows) == 3 and sd_rows["estimate"].isna().all()
    assert sd_rows["notes"].str.contains("baseline score does not vary").all()
    const = analysis.assign(wellbeing=np.where(analysis["wellbeing"].notna(), 25.0, np.nan))
    est = estimates_frame(
        questionnaire_estimates(const, cfg, propensity, ("naive", "regression"), [], Roles(index=None), None)
    )
    wb = est[(est["outcome"] == "wellbeing") & est["scale"].isin(["points", "baseline_sd"])]
    assert len(wb) == 6 and wb["estimate"].isna().all() and wb["notes"].str.contains("no variation").all()
    # the share reaching the threshold still varies with the baseline: estimated
    share = est[(est["outcome"] == "wellbeing") & (est["scale"] == "share_meaningful_change")]
    assert len(share) == 3 and share["estimate"].notna().all()


def test_per_baseline_sd_leaves_other_scales_alone():
    from deepvalue.effects.base import EffectEstimate

    rows = [
        EffectEstimate("y", "regression", "ATT", 2.0, 0.5, 1.0, 3.0, 0.01, 10, 10, "points"),
        EffectEstimate("y", "dose_response", "slope", 0.3, 0.1, 0.1, 0.5, 0.01, 10, 10, "per_0.1_upc"),
    ]
    out = per_baseline_sd(rows, 4.0)
    assert len(out) == 1 and (out[0].estimate, out[0].std_error, out[0].scale) == (0.5, 0.125, "baseline_sd")
    assert math.isnan(per_baseline_sd(rows, 0.0)[0].estimate)


def test_other_outcomes_are_unchanged_and_the_truth_is_compared_per_scale(study):
    extract, cfg, analysis, propensity = study
    full = run_estimates(analysis, cfg, propensity, methods=("naive", "regression"), subgroups=[])
    bare = run_estimates(
        analysis, dataclasses.replace(cfg, questionnaires=()), propensity, methods=("naive", "regression"), subgroups=[]
    )
    pd.testing.assert_frame_equal(full[full["outcome"].isin(bare["outcome"])].reset_index(drop=True), bare)
    truth = {**extract.truth["outcomes"], **extract.truth["questionnaires"]}
    vs = compare_with_truth(full, truth)
    wb = vs[vs["outcome"] == "wellbeing"].set_index(["scale", "method", "estimand"])
    scales = extract.truth["questionnaires"]["wellbeing"]["scales"]
    for scale in ("points", "baseline_sd", "share_meaningful_change"):
        assert wb.loc[(scale, "regression", "ATT"), "truth"] == pytest.approx(scales[scale]["att"])


def test_the_report_shows_the_reliability_table(tmp_path):
    from deepvalue.core.tabular import write_csv
    from deepvalue.publish.sections import section_cohort_flow
    from deepvalue.questionnaires.reliability import RELIABILITY_COLUMNS

    (tmp_path / "cohort").mkdir()
    path = tmp_path / "cohort" / "questionnaire_reliability.csv"
    write_csv(pd.DataFrame(columns=RELIABILITY_COLUMNS), path)
    assert "Questionnaires" not in section_cohort_flow(tmp_path, {})  # no questionnaires: nothing
    row = dict.fromkeys(RELIABILITY_COLUMNS, np.nan)
    row.update(questionnaire="wellbeing", administration="baseline", n=812, n_items=7, alpha=0.8601, notes="x")
    row.update(one_factor_fits="yes")
    write_csv(pd.DataFrame([row]), path)
    html = section_cohort_flow(tmp_path, {})
    assert "Questionnaires: internal consistency" in html and "0.8601" in html and "812" in html
