"""Tests of the double machine learning rows (deepvalue.effects.dml, DoubleML's IRM).

- reference: with the parametric learners (OLS per arm, the logit) DoubleML's cross-fitted ATE
  and ATT agree with the project's AIPW (full-sample models, stacked SE) within 0.2 of the AIPW
  SE, and their SEs within 10%;
- truth: on a confounded simulation with a non-linear outcome model, the LightGBM rows cover
  the true effect and the naive difference does not;
- mechanics: the ATT reuses the ATE fit's folds and predictions, results are identical for the
  same seed, the sensitivity table has the headline bounds and one row per benchmark, a
  degenerate outcome gives skipped rows, and the stage writes header-only files without dml.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from deepvalue.adjust.propensity import fit_propensity
from deepvalue.effects.dml import SENSITIVITY_COLUMNS, dml_irm, run_dml, sensitivity_table
from deepvalue.effects.weighting import aipw


def _draw(n: int, seed: int, nonlinear: bool = False) -> dict:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "c": (rng.random(n) < 0.4).astype(float)})
    d = (rng.random(n) < 1 / (1 + np.exp(-(0.7 * X.a - 0.4 * X.c)))).astype(float)
    m0 = X.a + 0.5 * X.b - 0.7 * X.c + (1.5 * np.sin(2 * X.a) + X.b**2 if nonlinear else 0.0)
    tau = 1.0 + 0.5 * X.b
    cluster = rng.integers(0, 60, n)
    y = (m0 + d * tau + rng.normal(size=n) + rng.normal(scale=0.3, size=60)[cluster]).to_numpy()
    return {"X": X, "d": d, "y": y, "cluster": cluster, "att": float(tau[d == 1].mean()), "ate": float(tau.mean())}


@pytest.fixture(scope="module")
def linear_fit():
    s = _draw(4000, 3)
    return s, dml_irm(s["y"], s["d"], s["X"], s["cluster"], outcome="y", learner="linear", n_folds=5, n_rep=3, seed=7)


def test_dml_with_parametric_learners_agrees_with_the_project_aipw(linear_fit):
    # reference: deepvalue.effects.weighting.aipw with the logit score and OLS outcome models on the
    # same rows; cross-fitting moves the estimate by a small fraction of an SE (with this seed
    # ATE +0.006 SE and ATT -0.005 SE apart; SE ratios 1.006 and 1.050)
    s, fit = linear_fit
    ps = fit_propensity(s["X"], s["d"].astype(int)).score
    for row in fit.rows:
        ref = aipw(s["y"], s["d"], s["X"], ps, row.estimand, ps_design=s["X"], cluster=s["cluster"])
        assert abs(row.estimate - ref.estimate) < 0.2 * ref.std_error, row.estimand
        assert row.std_error == pytest.approx(ref.std_error, rel=0.10), row.estimand
        assert row.ci_lower < row.estimate < row.ci_upper and row.method == "dml"
    assert "60 clusters" in fit.rows[0].notes and "5-fold" in fit.rows[0].notes


def test_dml_att_reuses_the_ate_folds_and_predictions(linear_fit):
    _, fit = linear_fit
    ate, att = fit.models["ATE"], fit.models["ATT"]
    assert att.score == "ATTE" and ate.score == "ATE"
    for r in range(3):
        for (tr_a, te_a), (tr_b, te_b) in zip(ate.smpls[r], att.smpls[r]):
            assert np.array_equal(te_a, te_b)
    assert np.array_equal(ate.predictions["ml_m"], att.predictions["ml_m"])


def test_dml_is_deterministic_for_a_seed():
    s = _draw(1500, 5)
    a = dml_irm(s["y"], s["d"], s["X"], s["cluster"], outcome="y", learner="lightgbm", n_rep=2, seed=11)
    b = dml_irm(s["y"], s["d"], s["X"], s["cluster"], outcome="y", learner="lightgbm", n_rep=2, seed=11)
    assert [(r.estimate, r.std_error) for r in a.rows] == [(r.estimate, r.std_error) for r in b.rows]


def test_dml_boosting_covers_a_nonlinear_truth_the_naive_difference_misses():
    # truth: the outcome is non-linear in a and b; the sample ATE/ATT of the simulation lie in the
    # LightGBM rows' 95% CIs; the naive difference is more than 3 of its SEs away (confounded by a)
    s = _draw(6000, 21, nonlinear=True)
    fit = dml_irm(s["y"], s["d"], s["X"], s["cluster"], outcome="y", learner="lightgbm", n_rep=3, seed=2)
    rows = {r.estimand: r for r in fit.rows}
    assert rows["ATE"].ci_lower <= s["ate"] <= rows["ATE"].ci_upper
    assert rows["ATT"].ci_lower <= s["att"] <= rows["ATT"].ci_upper
    y, d = s["y"], s["d"]
    naive = y[d == 1].mean() - y[d == 0].mean()
    se = np.sqrt(y[d == 1].var() / (d == 1).sum() + y[d == 0].var() / (d == 0).sum())
    assert abs(naive - s["ate"]) > 3 * se


def test_sensitivity_table_has_headline_bounds_and_a_row_per_benchmark(linear_fit):
    s, fit = linear_fit
    table = sensitivity_table(fit, {}, list(s["X"].columns), ["a", "c", "nope"], outcome="y")
    assert list(table.columns) == SENSITIVITY_COLUMNS
    head = table[table["benchmark"] == ""]
    assert list(head["estimand"]) == ["ATE", "ATT"]
    assert (head["theta_lower"] < head["estimate"]).all() and (head["estimate"] < head["theta_upper"]).all()
    assert ((head["rv"] > 0) & (head["rv"] < 1)).all()
    bench = table[table["benchmark"] != ""].set_index("benchmark")
    assert list(bench.index) == ["a", "c", "nope"] and (bench["estimand"] == "ATT").all()
    # a, the confounder of the simulation, is a stronger benchmark than c for the treatment
    assert bench.loc["a", "cf_d"] > bench.loc["c", "cf_d"]
    assert np.isnan(bench.loc["nope", "cf_y"]) and "not a confounder" in bench.loc["nope", "notes"]


class _Settings:
    """The parts of deepvalue.core.settings.Settings that run_dml reads."""

    def __init__(self, outcomes, benchmarks=()):
        from deepvalue.core.settings import Covariate, DmlSettings, EstimationSettings, Outcome

        self.covariates = [Covariate("a", "numeric"), Covariate("b", "numeric")]
        self.outcomes = [Outcome(name=o, type=t, follow_up_days=182) for o, t in outcomes]
        self.estimation = EstimationSettings(
            methods=("dml",),
            dml=DmlSettings(learner="linear", n_rep=1, max_rows=1000, benchmarks=tuple(benchmarks)),
            min_rows_per_parameter=5,
            min_events_per_arm=5,
        )
        self.seed = 3


def test_run_dml_subsamples_skips_degenerate_outcomes_and_benchmarks():
    s = _draw(3000, 8)
    analysis = pd.DataFrame({"a": s["X"].a, "b": s["X"].b, "treatment": s["d"].astype(int), "y": s["y"]})
    analysis["flat"] = 0.0
    analysis["first_worker"] = [f"W{c}" for c in s["cluster"]]
    for col in ("service", "site", "start_quarter"):
        analysis[col] = "one"
    rows, sens = run_dml(analysis, _Settings([("y", "continuous"), ("flat", "continuous")], ["a"]))
    by = {(r.outcome, r.estimand): r for r in rows}
    assert "random 1,000 of 3,000 clients" in by[("y", "ATE")].notes
    assert by[("y", "ATE")].n_treated + by[("y", "ATE")].n_control == 1000
    assert np.isnan(by[("flat", "ATT")].estimate) and by[("flat", "ATT")].notes
    assert list(sens["benchmark"]) == ["", "", "a"]


def test_default_benchmarks_are_the_most_imbalanced_covariates():
    from deepvalue.adjust.design import covariate_design
    from deepvalue.core.settings import Covariate
    from deepvalue.effects.dml import most_imbalanced

    s = _draw(3000, 4)
    frame = s["X"].assign(service="one", site=np.where(s["d"] == 1, "S1", "S2"), start_quarter="2024Q1")
    design = covariate_design(frame, [Covariate("b", "numeric"), Covariate("c", "binary"), Covariate("a", "numeric")])
    # a drives treatment (SMD about 0.7), c less (about 0.2), b not at all; site is perfectly
    # imbalanced here but structural, so never a benchmark
    assert most_imbalanced(design, s["d"]) == ["a", "c"]


def test_a_learner_failure_is_a_skipped_row_and_without_dml_the_stage_writes_headers(tmp_path, monkeypatch):
    import deepvalue.effects.dml as dml_module
    from deepvalue.pipeline.stages import dml_stage

    s = _draw(600, 12)
    analysis = pd.DataFrame({"a": s["X"].a, "b": s["X"].b, "treatment": s["d"].astype(int), "y": s["y"]})
    analysis["first_worker"] = [f"W{c}" for c in s["cluster"]]
    for col in ("service", "site", "start_quarter"):
        analysis[col] = "one"

    def broken(*args, **kwargs):
        raise RuntimeError("learner exploded")

    monkeypatch.setattr(dml_module, "dml_irm", broken)
    rows, sens = run_dml(analysis, _Settings([("y", "continuous")]))
    assert [r.estimand for r in rows] == ["ATE", "ATT"]
    assert all(np.isnan(r.estimate) and "DoubleML failed: RuntimeError: learner exploded" in r.notes for r in rows)
    assert sens.empty and list(sens.columns) == SENSITIVITY_COLUMNS

    analysis.to_parquet(tmp_path / "a.parquet")
    cfg = {
        "covariates": [{"name": "a", "type": "numeric"}],
        "outcomes": [{"name": "y", "type": "continuous", "follow_up_days": 182}],
        "estimation": {"methods": ["aipw"]},
        "seed": 1,
    }
    dml_stage(cfg, tmp_path / "a.parquet", tmp_path / "e.csv", tmp_path / "s.csv")
    assert pd.read_csv(tmp_path / "e.csv").empty and pd.read_csv(tmp_path / "s.csv").empty
    assert "notes" in pd.read_csv(tmp_path / "s.csv").columns


def test_the_vectorised_cluster_variance_equals_doublemls_own():
    # DoubleML's one-way cluster variance loops over clusters with an O(n) comparison each (146 of
    # dml's 180 s at 10,000 clients); the bincount form must give its numbers, fold by fold
    import doubleml.double_ml as dml_module
    import doubleml.double_ml_framework as framework_module
    from doubleml.utils._estimation import _var_est

    import deepvalue.effects.dml as dml

    rng = np.random.default_rng(7)
    n, g = 900, 60
    x = rng.normal(size=(n, 2))
    cluster = rng.integers(100, 100 + g, n)  # cluster values not 0..G-1, and not sorted
    d = (rng.random(n) < 1 / (1 + np.exp(-x[:, 0]))).astype(float)
    y = x @ [1.0, -0.5] + d + rng.normal(size=n) + rng.normal(size=g)[cluster - 100]
    frame = pd.DataFrame({"x0": x[:, 0], "x1": x[:, 1], "y": y, "d": d, "cluster": cluster})
    fit = dml_irm(y, d, frame[["x0", "x1"]], cluster, outcome="y", learner="linear", n_rep=2)
    model = fit.models["ATE"]
    assert dml_module._var_est is dml.clustered_var_est and framework_module._var_est is dml.clustered_var_est
    psi = model.psi[:, :, 0]  # (n, n_rep, n_coefs)
    psi_deriv = model.psi_deriv[:, :, 0]
    for rep in range(2):
        args = dict(
            psi=psi[:, rep],
            psi_deriv=psi_deriv[:, rep],
            smpls=model.smpls[rep],
            is_cluster_data=True,
            cluster_vars=model._dml_data.cluster_vars,
            smpls_cluster=model.smpls_cluster[rep],
            n_folds_per_cluster=model._n_folds_per_cluster,
        )
        ours, reference = dml.clustered_var_est(**args), _var_est(**args)
        np.testing.assert_allclose(ours[0], reference[0], rtol=1e-12)
        assert ours[1] == reference[1] == g
    # without clusters, DoubleML's own code runs
    plain = dict(psi=psi[:, 0], psi_deriv=psi_deriv[:, 0], smpls=None, is_cluster_data=False)
    assert dml.clustered_var_est(**plain) == _var_est(**plain)
    # and the sensitivity bounds (which call it through DoubleML's framework) are unchanged
    model.sensitivity_analysis(cf_y=0.03, cf_d=0.03)
    patched = model.sensitivity_params["ci"]["lower"][0]
    framework_module._var_est = _var_est
    try:
        model.sensitivity_analysis(cf_y=0.03, cf_d=0.03)
        np.testing.assert_allclose(patched, model.sensitivity_params["ci"]["lower"][0], rtol=1e-10)
    finally:
        framework_module._var_est = dml.clustered_var_est
