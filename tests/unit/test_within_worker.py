"""Tests of the within-worker estimators (deepvalue.effects.within).

- reference: the within-worker regression's coefficient equals pyfixest 0.60
  ``feols("y ~ d + xc + d:xc | worker", fixef_rm="none")``, and, with the centring means held fixed,
  its SE equals pyfixest's CRV1 by worker with only the G/(G-1) correction (``ssc(k_adj=False)``);
  the full SE equals a stacked sandwich with explicit worker dummies and a numerical Jacobian;
- truth (where the selection-on-observables estimators fail): with a worker quality that raises
  both the chance of continuity and the outcome, the project's AIPW is biased by several SEs while
  both within-worker estimators recover the ATT (300 draws: bias and coverage);
- edge cases: no worker with both arms is refused; workers with one arm are counted in the notes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyfixest as pf
import pytest
from numpy.testing import assert_allclose

from deepvalue.adjust.propensity import fit_propensity
from deepvalue.core.errors import AnalysisError
from deepvalue.effects.weighting import aipw
from deepvalue.effects.within import within_worker_aipw, within_worker_regression


def _draw(rng: np.random.Generator, n: int = 3000, workers: int = 60, quality_sd: float = 1.0) -> dict:
    """Worker quality q raises continuity and the outcome; the effect of continuity varies with x1."""
    w = rng.integers(0, workers, n)
    q = rng.normal(scale=quality_sd, size=workers)[w]
    x = np.column_stack([rng.normal(size=n), (rng.random(n) < 0.4).astype(float)])
    d = (rng.random(n) < 1 / (1 + np.exp(-(0.5 * x[:, 0] - 0.3 * x[:, 1] + 1.2 * q)))).astype(float)
    tau = 1.0 + 0.5 * x[:, 0]
    y = 2.0 * q + x @ [1.0, -0.5] + d * tau + rng.normal(size=n)
    return {"y": y, "d": d, "X": pd.DataFrame(x, columns=["x1", "x2"]), "w": w, "att": float(tau[d == 1].mean())}


@pytest.fixture(scope="module")
def data() -> dict:
    return _draw(np.random.default_rng(20261201))


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore:The inplace keyword")
def test_within_worker_regression_equals_pyfixest(data):
    y, d, X, w = data["y"], data["d"], data["X"], data["w"]
    est = within_worker_regression(y, d, X, w, "ATT", leverage=False)
    c = X[d == 1].mean()
    frame = pd.DataFrame({"y": y, "d": d, "w": w, "x1c": X.x1 - c.x1, "x2c": X.x2 - c.x2})
    ref = pf.feols(
        "y ~ d + x1c + x2c + d:x1c + d:x2c | w",
        data=frame,
        vcov={"CRV1": "w"},
        ssc=pf.ssc(k_adj=False, G_adj=True),
        fixef_rm="none",
    )
    assert_allclose(est.estimate, ref.coef()["d"], rtol=1e-10)
    # the SE without the centring term: n [(M'M)^-1 M_i]_D e_i only, as pyfixest computes it
    fixed = within_worker_regression(
        y, d, X * 0 + 1.0, w, "ATT", leverage=False
    )  # constant X, absorbed: no centring term
    assert fixed.std_error > 0
    ref_plain = pf.feols(
        "y ~ d | w", data=frame, vcov={"CRV1": "w"}, ssc=pf.ssc(k_adj=False, G_adj=True), fixef_rm="none"
    )
    assert_allclose(fixed.estimate, ref_plain.coef()["d"], rtol=1e-10)
    assert_allclose(fixed.std_error, ref_plain.se()["d"], rtol=1e-8)
    assert "60 clusters" in est.notes and "allocated workers have both" in est.notes


def test_within_worker_regression_se_equals_a_stacked_sandwich_with_worker_dummies():
    from statsmodels.tools.numdiff import approx_fprime

    rng = np.random.default_rng(4)
    s = _draw(rng, n=600, workers=12)
    y, d, X, w = s["y"], s["d"], s["X"].to_numpy(), s["w"]
    est = within_worker_regression(y, d, pd.DataFrame(X), w, "ATT", leverage=False)
    W = (w[:, None] == np.arange(12)).astype(float)
    p = X.shape[1]

    def moments(theta):
        c, b = theta[:p], theta[p:]
        xc = X - c
        M = np.column_stack([W, d, xc, d[:, None] * xc])
        return np.column_stack([(d / d.mean())[:, None] * (X - c), (y - M @ b)[:, None] * M])

    c = X[d == 1].mean(axis=0)
    xc = X - c
    b = np.linalg.lstsq(np.column_stack([W, d, xc, d[:, None] * xc]), y, rcond=None)[0]
    theta = np.r_[c, b]
    g = moments(theta)
    n = g.shape[0]
    sums = pd.DataFrame(g).groupby(w).sum().to_numpy()
    S = sums.T @ sums / n * 12 / 11
    J = approx_fprime(theta, lambda t: moments(t).mean(axis=0), centered=True)
    V = np.linalg.inv(J) @ S @ np.linalg.inv(J).T / n
    assert_allclose(est.estimate, b[12], rtol=1e-8)
    assert_allclose(est.std_error, np.sqrt(V[p + 12, p + 12]), rtol=1e-5)


def test_within_worker_estimators_survive_worker_quality_where_aipw_fails():
    # truth: 300 draws of 3,000 clients and 60 workers. With this seed: aipw ATT bias +6.6 SE;
    # within_worker_regression bias +0.05 SE, coverage 0.947; within_worker_aipw bias +0.11 SE,
    # coverage 0.960. Bounds: |bias| < 0.2 SE and coverage in [0.91, 0.98] for both
    # within-worker rows; aipw biased by more than 3 SE.
    rng = np.random.default_rng(9)
    err = {"reg": [], "wa": [], "aipw": []}
    cov = {"reg": [], "wa": []}
    for _ in range(300):
        s = _draw(rng)
        y, d, X, w = s["y"], s["d"], s["X"], s["w"]
        reg = within_worker_regression(y, d, X, w, "ATT")
        wa = within_worker_aipw(y, d, X, w, "ATT")
        ps = fit_propensity(X, d.astype(int)).score
        ai = aipw(y, d, X, ps, "ATT", cluster=w)
        for key, e in (("reg", reg), ("wa", wa), ("aipw", ai)):
            err[key].append((e.estimate - s["att"]) / e.std_error)
        cov["reg"].append(reg.ci_lower <= s["att"] <= reg.ci_upper)
        cov["wa"].append(wa.ci_lower <= s["att"] <= wa.ci_upper)
    assert np.mean(err["aipw"]) > 3
    for key in ("reg", "wa"):
        assert abs(np.mean(err[key])) < 0.2, key
        assert 0.91 <= np.mean(cov[key]) <= 0.98, key


def test_no_worker_with_both_arms_is_refused_and_single_arm_workers_are_counted(data):
    y, X = data["y"], data["X"]
    w = np.arange(y.size) % 10
    d = (w < 5).astype(float)  # each worker's clients all in one arm
    with pytest.raises(AnalysisError, match="does not vary within any allocated worker"):
        within_worker_regression(y, d, X, w, "ATT", outcome="y")
    with pytest.raises(AnalysisError, match="varies within 0 allocated worker"):
        within_worker_aipw(y, d, X, w, "ATT", outcome="y")
    d2 = data["d"].copy()
    d2[data["w"] == 0] = 1.0
    est = within_worker_aipw(y, d2, X, data["w"], "ATE", outcome="y")
    assert "59 of 60 allocated workers" in est.notes and "others left out" in est.notes


def test_a_covariate_constant_within_workers_is_absorbed_not_kept_as_rounding_noise(data):
    # the worker's site: constant within worker, so its main effect is absorbed by the worker
    # effects; left as 1e-17 noise it entered the design as a column of its own and blew the ATT SE
    # up fivefold on the default extract (0.10 against 0.021)
    y, d, X, w = data["y"], data["d"], data["X"], data["w"]
    site = pd.DataFrame({"site_b": (w % 3 == 1).astype(float) * 0.1, "site_c": (w % 3 == 2).astype(float) * 0.3})
    plain = within_worker_regression(y, d, X, w, "ATT")
    with_site = within_worker_regression(y, d, pd.concat([X, site], axis=1), w, "ATT")
    assert "2 columns constant within workers or collinear dropped" in with_site.notes
    assert with_site.std_error < 1.5 * plain.std_error


def test_an_estimator_refusing_the_data_gives_a_skipped_row_with_the_reason(data):
    # effects.table._attempt returned None (no row at all) when an estimator raised AnalysisError
    from deepvalue.effects.table import _attempt

    y, X = data["y"], data["X"]
    w = np.arange(y.size) % 10
    d = (w < 5).astype(float)
    row = _attempt(
        "within_worker_regression",
        "ATT",
        "y",
        "mean_difference",
        "",
        lambda: within_worker_regression(y, d, X, w, "ATT", outcome="y"),
        int(d.sum()),
        int((1 - d).sum()),
    )
    assert row is not None and np.isnan(row.estimate)
    assert row.method == "within_worker_regression" and "does not vary within any allocated worker" in row.notes


def test_a_separating_propensity_is_reported_by_covariate_name(data):
    # the Mundlak logit's design was handed over as an unnamed array, so a separation named its
    # culprits by column number ("largest coefficients: 51 (-1.8 per SD), 44 ...", seed 456 of the
    # questionnaire study; "column '2'" here); now by the confounder, its worker mean or the
    # workers' continuity share
    y, d, w = data["y"], data["d"], data["w"]
    exact = data["X"].assign(referred_by_court=d)  # a 0/1 covariate equal to continuity: the pre-check
    with pytest.raises(AnalysisError, match="separation") as refused:
        within_worker_aipw(y, d, exact, w, "ATT", outcome="y")
    assert "column 'referred_by_court'" in str(refused.value) and "column '2'" not in str(refused.value)
    # a continuous covariate that separates: the Newton fit's report of the largest coefficients
    steep = data["X"].assign(score=data["X"]["x1"] + 50 * (d - 0.5))
    with pytest.raises(AnalysisError, match="separation") as refused:
        within_worker_aipw(y, d, steep, w, "ATT", outcome="y")
    assert "largest coefficients: score (" in str(refused.value)


def test_the_penalty_the_separation_message_names_reaches_the_mundlak_logit(data, monkeypatch):
    # the message says "set 'propensity: {penalty: l2}' in the config", but within_worker_aipw fitted
    # its logit without the config's penalty, so that fix did nothing for this row
    y, d, w = data["y"], data["d"], data["w"]
    steep = data["X"].assign(score=data["X"]["x1"] + 50 * (d - 0.5))
    ridge = within_worker_aipw(y, d, steep, w, "ATT", outcome="y", penalty="l2", C=0.1)
    assert np.isfinite(ridge.estimate) and np.isfinite(ridge.std_error)
    plain = within_worker_aipw(y, d, data["X"], w, "ATT", outcome="y")
    weak = within_worker_aipw(y, d, data["X"], w, "ATT", outcome="y", penalty="l2", C=1e-3)
    assert weak.estimate != plain.estimate  # the penalty is used, not ignored
    # and the estimates table hands the config's keys over
    import deepvalue.effects.table as table
    from deepvalue.simulate.study import only_outcomes, synthetic_cohort

    seen = []

    def spy(*args, **kwargs):
        seen.append((kwargs["penalty"], kwargs["C"]))
        return within_worker_aipw(*args, **kwargs)

    monkeypatch.setattr(table, "within_worker_aipw", spy)
    run = synthetic_cohort(
        2, 1500, lambda raw: only_outcomes(raw, ["income_gain_gbp"], {"propensity": {"penalty": "l2", "C": 0.5}})
    )
    table.run_estimates(run.cohort.analysis, run.settings, None, methods=("within_worker_aipw",), subgroups=[])
    assert seen and set(seen) == {("l2", 0.5)}


def test_the_nuisance_fits_are_shared_by_estimands_and_outcomes_without_changing_a_row(data, monkeypatch):
    # the ATT and ATE rows of a population rest on one propensity fit and one pair of outcome
    # models; a second outcome on the same clients reuses the propensity only. Each row equals the
    # row computed with nothing stored.
    import deepvalue.adjust.propensity as propensity
    import deepvalue.effects.within as within

    y, d, X, w = data["y"], data["d"], data["X"], data["w"]
    y2 = y + np.sin(X["x1"].to_numpy())
    fresh = {}
    for label, outcome in (("y", y), ("y2", y2)):
        for estimand in ("ATT", "ATE"):
            within._NUISANCES.clear()
            fresh[label, estimand] = within_worker_aipw(outcome, d, X, w, estimand, outcome=label)
    fits = []
    real = propensity.fit_propensity
    monkeypatch.setattr(propensity, "fit_propensity", lambda *a, **k: fits.append(1) or real(*a, **k))
    outcome_models = []
    real_models = within._fixed_effects_outcome_models
    monkeypatch.setattr(within, "_fixed_effects_outcome_models", lambda *a: outcome_models.append(1) or real_models(*a))
    within._NUISANCES.clear()
    for label, outcome in (("y", y), ("y2", y2)):
        for estimand in ("ATT", "ATE"):
            row = within_worker_aipw(outcome, d, X, w, estimand, outcome=label)
            assert row == fresh[label, estimand]
    assert len(fits) == 1 and len(outcome_models) == 2
    # another penalty, or other clients, is another propensity fit
    within_worker_aipw(y, d, X, w, "ATT", penalty="l2", C=0.5)
    within_worker_aipw(y[:-1], d[:-1], X.iloc[:-1], w[:-1], "ATT")
    assert len(fits) == 3


def test_the_regressions_att_and_ate_share_one_cr2_adjustment(data, monkeypatch):
    # the centring changes the design's basis, not its column space, so the CR2 residuals of the
    # ATT's design equal the ATE's: one adjustment serves both rows, and each row equals the row
    # computed alone (to rounding: the shared residuals come from the sample-centred design)
    import deepvalue.effects.within as within

    y, d, X, w = data["y"], data["d"], data["X"], data["w"]
    alone = {}
    for estimand in ("ATT", "ATE"):
        within._NUISANCES.clear()
        alone[estimand] = within_worker_regression(y, d, X, w, estimand)
    calls = []
    real = within._within_cr2_residuals
    monkeypatch.setattr(within, "_within_cr2_residuals", lambda *a: calls.append(1) or real(*a))
    within._NUISANCES.clear()
    for estimand in ("ATT", "ATE"):
        row = within_worker_regression(y, d, X, w, estimand)
        ref = alone[estimand]
        assert_allclose([row.estimate, row.std_error], [ref.estimate, ref.std_error], rtol=1e-10)
    assert len(calls) == 1
    # the residuals are those of the estimand's own design, adjusted: without leverage nothing is shared
    within_worker_regression(y + 1.0, d, X, w, "ATT", leverage=False)
    assert len(calls) == 1
