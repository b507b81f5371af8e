"""Tests of the effect estimators (deepvalue.effects).

Three kinds of check, each with its tolerance and the origin of its reference beside it:

- reference: the same estimate and SE from another implementation on a small simulated data set
  (statsmodels OLS/WLS/Logit/TreatmentEffect, linearmodels IV2SLS, scipy's Welch test, and a
  generic stacked M-estimator whose Jacobian is taken numerically, independent of the analytic
  derivatives in the module);
- truth: on synthetic extracts with known true effects (deepvalue.synth), the adjusted
  estimators recover the ATT within 3 SE and the naive comparison does not;
- edge cases: empty groups, missing outcomes, bad propensity scores, collinear columns.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from linearmodels.iv import IV2SLS
from numpy.testing import assert_allclose
from scipy import stats
from statsmodels.tools.numdiff import approx_fprime
from statsmodels.treatment.treatment_effects import TreatmentEffect

from deepvalue.core.errors import AnalysisError
from deepvalue.effects.base import ESTIMATE_COLUMNS, EffectEstimate, estimates_frame, skipped_estimate
from deepvalue.effects.dose import dose_response
from deepvalue.effects.iv import FirstStage, iv_2sls, iv_first_stage, weak_instrument
from deepvalue.effects.linear import logit_ame, matched_regression, naive_difference, regression_adjustment
from deepvalue.effects.weighting import aipw, ipw, overlap_weighted

TIGHT = 1e-8  # two exact implementations of the same closed form: only rounding differs


# --------------------------------------------------------------------------------------------
# a small simulated data set with confounding, clusters, heterogeneous effects and an instrument
# --------------------------------------------------------------------------------------------


def simulate(n: int = 3000, n_clusters: int = 60, seed: int = 20261125) -> dict:
    """Confounded treatment (logit in X), effect varying with X, worker clusters, instrument z."""
    rng = np.random.default_rng(seed)
    x = np.column_stack([rng.normal(size=n), rng.normal(size=n), (rng.random(n) < 0.4).astype(float)])
    X = pd.DataFrame(x, columns=["age_std", "issues_std", "disability"])
    cluster = rng.integers(0, n_clusters, n)
    z = (rng.random(n) < 0.3).astype(float)
    e_true = 1 / (1 + np.exp(-(0.3 + 0.6 * x[:, 0] - 0.4 * x[:, 1] + 0.5 * x[:, 2] - 1.0 * z)))
    d = (rng.random(n) < e_true).astype(float)
    shock = rng.normal(scale=0.5, size=n_clusters)[cluster]  # worker effect: clustered errors
    y = 1 + x @ [1.0, 0.5, -0.7] + d * (1 + 0.5 * x[:, 0]) + shock + rng.normal(size=n)
    eta = -0.5 + 0.8 * x[:, 0] - 0.5 * x[:, 2] + d * (0.6 + 0.3 * x[:, 1]) + shock
    yb = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    upc = np.clip(0.55 + 0.3 * d + 0.1 * x[:, 1] + rng.normal(scale=0.1, size=n), 0.25, 1.0)
    return {"X": X, "x": x, "d": d, "y": y, "yb": yb, "z": z, "cluster": cluster, "upc": upc}


@pytest.fixture(scope="module")
def sim() -> dict:
    data = simulate()
    Z = sm.add_constant(data["x"])
    # propensity model as the matching stage fits it: logit of D on [1, X] (not on z)
    data["ps_fit"] = sm.Logit(data["d"], Z).fit(disp=0, method="newton", tol=1e-12)
    data["ps"] = data["ps_fit"].predict()
    data["Z"] = Z
    return data


def stacked_se(moments, theta: np.ndarray, contrast: np.ndarray, cluster: np.ndarray | None = None) -> float:
    """SE of ``contrast @ theta`` from a just-identified M-estimator, Jacobian by numdiff.

    V = J^{-1} S J^{-T} / n with J = d mean(g)/d theta (central differences) and S = mean(g g')
    or, with ``cluster``, S = G/(G-1) sum_g (sum_{i in g} g_i)(...)' / n (moments summed within
    clusters); independent of the analytic derivatives in deepvalue.effects.
    """
    g = moments(theta)
    n = g.shape[0]
    if cluster is None:
        S = g.T @ g / n
    else:
        sums = pd.DataFrame(g).groupby(np.asarray(cluster)).sum().to_numpy()
        G = sums.shape[0]
        S = sums.T @ sums / n * G / (G - 1)
    J = approx_fprime(theta, lambda t: moments(t).mean(axis=0), centered=True)
    Jinv = np.linalg.inv(J)
    V = Jinv @ S @ Jinv.T / n
    return float(np.sqrt(contrast @ V @ contrast))


def expit(v: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-v))


# --------------------------------------------------------------------------------------------
# reference tests
# --------------------------------------------------------------------------------------------


def test_naive_difference_matches_scipy_welch(sim):
    # reference: scipy.stats.ttest_ind(equal_var=False) and its confidence_interval(0.95)
    y, d = sim["y"], sim["d"]
    est = naive_difference(y, d, outcome="y")
    ref = stats.ttest_ind(y[d == 1], y[d == 0], equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert_allclose(est.estimate / est.std_error, ref.statistic, rtol=1e-12)
    assert_allclose([est.ci_lower, est.ci_upper, est.p_value], [ci.low, ci.high, ref.pvalue], rtol=1e-10)
    assert f"df = {ref.df:.1f}" in est.notes
    assert (est.n_treated, est.n_control) == (int(d.sum()), int((1 - d).sum()))


@pytest.mark.parametrize("estimand", ["ATT", "ATE"])
def test_regression_adjustment_coefficient_matches_statsmodels_and_linearmodels(sim, estimand):
    # the point estimate is the D coefficient of the centred, fully interacted regression
    y, d, x, cl = sim["y"], sim["d"], sim["x"], sim["cluster"]
    est = regression_adjustment(y, d, sim["X"], cl, estimand, leverage=False)
    centre = x[d == 1].mean(axis=0) if estimand == "ATT" else x.mean(axis=0)
    xc = x - centre
    M = np.column_stack([np.ones(len(y)), d, xc, d[:, None] * xc])
    # reference 1: statsmodels OLS
    sm_fit = sm.OLS(y, M).fit(cov_type="cluster", cov_kwds={"groups": cl})
    assert_allclose(est.estimate, sm_fit.params[1], rtol=TIGHT)
    # reference 2: linearmodels IV2SLS without endogenous regressors
    lm_fit = IV2SLS(y, M, None, None).fit(cov_type="clustered", clusters=cl, debiased=True)
    assert_allclose(est.estimate, np.asarray(lm_fit.params)[1], rtol=TIGHT)
    # reference 3 (hand computation, Lin 2013): the D coefficient is the mean over the target
    # population of the difference between separate OLS fits in each arm
    Z = sm.add_constant(x)
    b1 = np.linalg.lstsq(Z[d == 1], y[d == 1], rcond=None)[0]
    b0 = np.linalg.lstsq(Z[d == 0], y[d == 0], rcond=None)[0]
    target = Z[d == 1] if estimand == "ATT" else Z
    assert_allclose(est.estimate, np.mean(target @ (b1 - b0)), rtol=TIGHT)
    # the SE counts the variability of the centring means, so it exceeds the regression's CR1 SE
    # (which treats them as fixed) on these heterogeneous effects
    assert est.std_error > sm_fit.bse[1]
    assert "including the variability of the covariate means" in est.notes
    assert "cluster-robust by allocated (first) worker (60 clusters)" in est.notes and est.estimand == estimand


def imputation_moments(y, d, Z, estimand):
    """Stacked moments of the imputation (regression-adjustment) estimator with arm-wise OLS.

    ATT: (tau, b0) with d (y - Z b0 - tau) and (1-d) Z (y - Z b0); ATE: (tau, b1, b0) with
    Z (b1 - b0) - tau and each arm's normal equations.
    """
    k = Z.shape[1]

    def moments(theta):
        tau = theta[0]
        if estimand == "ATT":
            b0 = theta[1:]
            return np.column_stack([d * (y - Z @ b0 - tau), ((1 - d) * (y - Z @ b0))[:, None] * Z])
        b1, b0 = theta[1 : k + 1], theta[k + 1 :]
        return np.column_stack(
            [Z @ (b1 - b0) - tau, (d * (y - Z @ b1))[:, None] * Z, ((1 - d) * (y - Z @ b0))[:, None] * Z]
        )

    return moments


@pytest.mark.parametrize("clustered", [False, True])
@pytest.mark.parametrize("estimand", ["ATT", "ATE"])
def test_regression_adjustment_se_matches_numerical_stacked_sandwich(sim, estimand, clustered):
    # reference: generic M-estimation sandwich with a numerical Jacobian (stacked_se above) of the
    # imputation estimator, whose moments include the target-population mean (tolerance 1e-6;
    # the moments are linear, so the central differences are exact up to rounding); with
    # clusters the moments are summed within clusters and scaled by G/(G-1)
    y, d, Z = sim["y"], sim["d"], sim["Z"]
    cl = sim["cluster"] if clustered else None
    est = regression_adjustment(y, d, sim["X"], cl, estimand, leverage=False)
    b1 = np.linalg.lstsq(Z[d == 1], y[d == 1], rcond=None)[0]
    b0 = np.linalg.lstsq(Z[d == 0], y[d == 0], rcond=None)[0]
    k = Z.shape[1]
    if estimand == "ATT":
        theta, contrast = np.r_[est.estimate, b0], np.r_[1.0, np.zeros(k)]
    else:
        theta, contrast = np.r_[est.estimate, b1, b0], np.r_[1.0, np.zeros(2 * k)]
    ref = stacked_se(imputation_moments(y, d, Z, estimand), theta, contrast, cl)
    assert_allclose(est.std_error, ref, rtol=1e-6)
    assert ("cluster-robust" in est.notes) == clustered


@pytest.mark.parametrize("estimand", ["ATT", "ATE"])
def test_regression_adjustment_se_with_a_dropped_interaction_matches_stacked_lin_moments(sim, estimand):
    # a site with no treated clients: its interaction with D is dropped (zero for the ATT,
    # collinear with D for the ATE), so the treated arm borrows the control arm's site effect and
    # the Lin coefficient is no longer the arm-wise imputation estimate (for the ATE). Reference:
    # the stacked sandwich (numerical Jacobian, clustered) of the Lin regression itself, with the
    # centring mean as a parameter: moments w (x - c) and the normal equations M(c)' e
    y, d, x, cl = sim["y"], sim["d"].copy(), sim["x"], sim["cluster"]
    n = len(y)
    site = (np.arange(n) % 10 == 0).astype(float)
    d[site == 1] = 0
    y = y + 0.7 * site
    xs = np.column_stack([x, site])
    est = regression_adjustment(y, d, pd.DataFrame(xs), cl, estimand, leverage=False)
    p = xs.shape[1]
    w = d / d.mean() if estimand == "ATT" else np.ones(n)
    cols = [j for j in range(2 + 2 * p) if j != 2 + 2 * p - 1]  # all but D x site

    def design(c):
        return np.column_stack([np.ones(n), d, xs - c, d[:, None] * (xs - c)])[:, cols]

    def moments(theta):
        c, b = theta[:p], theta[p:]
        M = design(c)
        return np.column_stack([w[:, None] * (xs - c), (y - M @ b)[:, None] * M])

    c = w @ xs / n
    beta = np.linalg.lstsq(design(c), y, rcond=None)[0]
    assert_allclose(est.estimate, beta[1], rtol=TIGHT)
    contrast = np.zeros(p + len(cols))
    contrast[p + 1] = 1.0
    assert_allclose(est.std_error, stacked_se(moments, np.r_[c, beta], contrast, cl), rtol=1e-6)
    assert "1 collinear columns dropped" in est.notes


@pytest.mark.parametrize(("estimand", "effect_group"), [("ATT", 1), ("ATE", "all")])
def test_regression_adjustment_matches_statsmodels_treatment_effect_ra(sim, estimand, effect_group):
    # reference: statsmodels TreatmentEffect(...).ra(effect_group=...) (OLS outcome model per arm,
    # GMM stacking the outcome equations and the target mean; validated against Stata teffects
    # ra): same estimate and, without clusters, the same robust (HC0) SE. (Its ra() needs an
    # integer treatment: with a float one it fails on a slice index.)
    y, d = sim["y"], sim["d"]
    ref = TreatmentEffect(sm.OLS(y, sim["Z"]), d.astype(int), results_select=sim["ps_fit"]).ra(
        effect_group=effect_group
    )
    est = regression_adjustment(y, d, sim["X"], None, estimand, leverage=False)
    assert_allclose([est.estimate, est.std_error], [ref.effect[0], ref.sd[0]], rtol=TIGHT)
    assert "(robust, HC0)" in est.notes


@pytest.mark.parametrize("estimand", ["ATT", "ATE"])
def test_regression_adjustment_se_is_calibrated_under_heterogeneous_effects(estimand):
    # simulation: 300 draws of n = 400 (no clusters) with an effect varying with X; the mean SE
    # must match the SD of the estimates within 15%, while the regression's own SE (HC1 from
    # statsmodels, centring means treated as fixed) is visibly too small. With this seed the
    # ratios are ATT 0.97 (old 0.67) and ATE 0.99 (old 0.78).
    rng = np.random.default_rng(7)
    n, reps = 400, 300
    estimates, new_se, old_se = np.empty(reps), np.empty(reps), np.empty(reps)
    for r in range(reps):
        x = rng.normal(size=(n, 2))
        d = (rng.random(n) < expit(0.5 * x[:, 0])).astype(float)
        y = x @ [1.0, 0.5] + d * (1 + 1.5 * x[:, 0] - 0.5 * x[:, 1]) + rng.normal(size=n)
        row = regression_adjustment(y, d, x, None, estimand)
        xc = x - (x[d == 1].mean(axis=0) if estimand == "ATT" else x.mean(axis=0))
        fit = sm.OLS(y, np.column_stack([np.ones(n), d, xc, d[:, None] * xc])).fit(cov_type="HC1")
        estimates[r], new_se[r], old_se[r] = row.estimate, row.std_error, fit.bse[1]
    sd = estimates.std(ddof=1)
    new_ratio, old_ratio = new_se.mean() / sd, old_se.mean() / sd
    assert 0.85 <= new_ratio <= 1.15, new_ratio
    assert old_ratio < 0.85 and old_ratio < 0.9 * new_ratio, (old_ratio, new_ratio)


def test_dose_response_matches_statsmodels(sim):
    # reference: statsmodels OLS of y on [1, X, upc], cov_type="cluster"; estimate = slope x 0.1
    y, cl = sim["y"], sim["cluster"]
    est = dose_response(y, pd.Series(sim["upc"], name="upc"), sim["X"], cl, d=sim["d"])
    fit = sm.OLS(y, np.column_stack([sim["Z"], sim["upc"]])).fit(cov_type="cluster", cov_kwds={"groups": cl})
    assert_allclose([est.estimate, est.std_error], [fit.params[-1] * 0.1, fit.bse[-1] * 0.1], rtol=TIGHT)
    assert est.scale == "per_0.1_upc"
    assert (est.n_treated, est.n_control) == (int(sim["d"].sum()), int((1 - sim["d"]).sum()))


def matched_sample(replace: bool, seed: int = 3) -> pd.DataFrame:
    """A matched sample as the matching stage writes it: one row per unit, weights, subclass."""
    rng = np.random.default_rng(seed)
    n_sets = 400
    if not replace:  # 1:2 matching without replacement: each set has 1 treated and 2 controls
        subclass = np.repeat(np.arange(n_sets), 3)
        d = np.tile([1.0, 0.0, 0.0], n_sets)
        w = np.where(d == 1, 1.0, 0.5)
        y = rng.normal(size=n_sets)[subclass] + 0.8 * d + rng.normal(size=subclass.size)
        extra = pd.DataFrame({"y": [5.0, 6.0], "d": [0.0, 1.0], "w": [0.0, np.nan], "subclass": [np.nan, np.nan]})
        frame = pd.DataFrame({"y": y, "d": d, "w": w, "subclass": subclass.astype(float)})
        return pd.concat([frame, extra], ignore_index=True)  # two unmatched rows: weight 0 / missing
    n_controls = 250  # 1:1 with replacement: controls reused; weight = times used (MatchIt-style)
    used = rng.integers(0, n_controls, n_sets)
    cw = np.bincount(used, minlength=n_controls).astype(float)
    d = np.r_[np.ones(n_sets), np.zeros(n_controls)]
    y = np.r_[1.0 + rng.normal(size=n_sets) * 1.5, rng.normal(size=n_controls)]
    return pd.DataFrame({"y": y, "d": d, "w": np.r_[np.ones(n_sets), cw], "subclass": np.nan})


def test_matched_regression_without_replacement_matches_statsmodels_wls():
    m = matched_sample(replace=False)
    est = matched_regression(m["y"], m["d"], m["w"], m["subclass"], replace=False, outcome="y")
    keep = m["w"].fillna(0) > 0
    mm = m[keep]
    # reference: statsmodels WLS with cov_type="cluster" by matched set (CR1)
    fit = sm.WLS(mm["y"], sm.add_constant(mm["d"]), weights=mm["w"]).fit(
        cov_type="cluster", cov_kwds={"groups": mm["subclass"].astype(int)}
    )
    assert_allclose([est.estimate, est.std_error], [fit.params["d"], fit.bse["d"]], rtol=TIGHT)
    assert (est.n_treated, est.n_control) == (400, 800)
    assert "dropped 2 rows not in the matched sample" in est.notes  # weight 0 and weight missing


def test_matched_regression_with_replacement_matches_statsmodels_hc3():
    m = matched_sample(replace=True)
    est = matched_regression(m["y"], m["d"], m["w"], None, replace=True, outcome="y")
    keep = m["w"] > 0
    # reference: statsmodels WLS with cov_type="HC3" on the units with positive weight
    fit = sm.WLS(m.loc[keep, "y"], sm.add_constant(m.loc[keep, "d"]), weights=m.loc[keep, "w"]).fit(cov_type="HC3")
    assert_allclose([est.estimate, est.std_error], [fit.params["d"], fit.bse["d"]], rtol=TIGHT)
    assert "HC3" in est.notes


@pytest.mark.parametrize(("estimand", "effect_group"), [("ATE", "all"), ("ATT", 1)])
def test_ipw_matches_statsmodels_treatment_effect(sim, estimand, effect_group):
    # reference: statsmodels TreatmentEffect(...).ipw(effect_group=...), whose GMM stacks the logit
    # scores (validated against Stata teffects ipw). Its SE accounts for the estimated score, so it
    # is compared with ours when X is passed. Tolerance 1e-6: statsmodels re-solves the GMM with
    # Nelder-Mead from the closed-form start, which moves the parameters in the ~1e-9 range.
    # All scores lie in [0.05, 0.96], inside its internal clipping to [0.01, 0.99].
    y, d, ps = sim["y"], sim["d"], sim["ps"]
    assert ps.min() > 0.01 and ps.max() < 0.99
    ref = TreatmentEffect(sm.OLS(y, sim["Z"]), d, results_select=sim["ps_fit"]).ipw(effect_group=effect_group)
    est = ipw(y, d, ps, estimand, sim["X"], leverage=False)
    assert_allclose(est.estimate, ref.effect[0], rtol=1e-10)
    assert_allclose(est.std_error, ref.sd[0], rtol=1e-6)
    assert "estimated ps" in est.notes
    # without X the score is treated as known: a different (here larger) SE, same estimate
    known = ipw(y, d, ps, estimand, leverage=False)
    assert known.estimate == est.estimate and known.std_error > est.std_error
    assert "ps treated as known" in known.notes


def hajek_moments(y, d, Z, tilt):
    """Stacked moments (mu1, mu0, beta) of a Hajek weighting estimator with a logit score."""

    def moments(theta):
        mu1, mu0, beta = theta[0], theta[1], theta[2:]
        e = expit(Z @ beta)
        t = tilt(e)
        return np.column_stack([d * t / e * (y - mu1), (1 - d) * t / (1 - e) * (y - mu0), (d - e)[:, None] * Z])

    return moments


@pytest.mark.parametrize(
    ("method", "tilt"), [("ATE", lambda e: np.ones_like(e)), ("ATT", lambda e: e), ("ATO", lambda e: e * (1 - e))]
)
def test_weighting_se_matches_numerical_stacked_sandwich(sim, method, tilt):
    # reference: generic M-estimation sandwich with a numerical Jacobian (stacked_se above), for
    # IPW (ATE, ATT) and overlap weights (ATO, Li, Morgan and Zaslavsky 2018); tolerance 1e-5
    # covers central-difference error in J
    y, d, ps, Z = sim["y"], sim["d"], sim["ps"], sim["Z"]
    kw = {"leverage": False}
    est = overlap_weighted(y, d, ps, sim["X"], **kw) if method == "ATO" else ipw(y, d, ps, method, sim["X"], **kw)
    t = tilt(ps)
    w1, w0 = d * t / ps, (1 - d) * t / (1 - ps)
    mu1, mu0 = w1 @ y / w1.sum(), w0 @ y / w0.sum()
    assert_allclose(est.estimate, mu1 - mu0, rtol=1e-12)
    theta = np.r_[mu1, mu0, sim["ps_fit"].params]
    contrast = np.r_[1.0, -1.0, np.zeros(Z.shape[1])]
    assert_allclose(est.std_error, stacked_se(hajek_moments(y, d, Z, tilt), theta, contrast), rtol=1e-5)
    assert est.estimand == method


def test_aipw_ate_matches_statsmodels_treatment_effect(sim):
    # reference: statsmodels TreatmentEffect(...).aipw() (OLS outcome models by arm, GMM stacking
    # logit and outcome equations; validated against Stata teffects aipw). Our full sandwich
    # (ps_design given) is compared at 1e-6 (Nelder-Mead re-solve, as for IPW); the plain
    # influence-function SE (nuisances fixed) is asymptotically equal when both models are
    # right, and is within 2% here.
    y, d, ps = sim["y"], sim["d"], sim["ps"]
    ref = TreatmentEffect(sm.OLS(y, sim["Z"]), d, results_select=sim["ps_fit"]).aipw()
    full = aipw(y, d, sim["X"], ps, "ATE", ps_design=sim["X"], leverage=False)
    plain = aipw(y, d, sim["X"], ps, "ATE", leverage=False)
    assert_allclose([full.estimate, plain.estimate], ref.effect[0], rtol=1e-10)
    assert_allclose(full.std_error, ref.sd[0], rtol=1e-6)
    assert_allclose(plain.std_error, ref.sd[0], rtol=0.02)
    assert "stacking" in full.notes and "treated as fixed" in plain.notes


def test_aipw_att_matches_formula_and_numerical_stacked_sandwich(sim):
    # references: the ATT point estimate from the Moodie et al. (2018) formula written out here;
    # the full-sandwich SE from the generic numerical-Jacobian M-estimator (tolerance 1e-5);
    # the plain IF SE from sqrt(sum psi^2)/n with psi written out here (1e-10)
    y, d, ps, Z = sim["y"], sim["d"], sim["ps"], sim["Z"]
    g0 = np.linalg.lstsq(Z[d == 0], y[d == 0], rcond=None)[0]
    m0 = Z @ g0
    odds = ps / (1 - ps)
    tau = np.sum(d * (y - m0) - (1 - d) * odds * (y - m0)) / d.sum()
    full = aipw(y, d, sim["X"], ps, "ATT", ps_design=sim["X"], leverage=False)
    plain = aipw(y, d, sim["X"], ps, "ATT", leverage=False)
    assert_allclose([full.estimate, plain.estimate], tau, rtol=1e-10)
    psi = (d * (y - m0) - (1 - d) * odds * (y - m0) - tau * d) / d.mean()
    assert_allclose(plain.std_error, np.sqrt(psi @ psi) / len(y), rtol=1e-10)
    k = Z.shape[1]

    def moments(theta):
        t, gamma, beta = theta[0], theta[1 : k + 1], theta[k + 1 :]
        e = expit(Z @ beta)
        r = y - Z @ gamma
        return np.column_stack(
            [d * r - (1 - d) * e / (1 - e) * r - t * d, ((1 - d) * r)[:, None] * Z, (d - e)[:, None] * Z]
        )

    theta = np.r_[tau, g0, sim["ps_fit"].params]
    contrast = np.r_[1.0, np.zeros(2 * k)]
    assert_allclose(full.std_error, stacked_se(moments, theta, contrast), rtol=1e-5)


def test_logit_ame_matches_statsmodels_margeff_and_hand_att(sim):
    yb, d, x, cl = sim["yb"], sim["d"], sim["x"], sim["cluster"]
    M = np.column_stack([np.ones(len(yb)), d, x])
    fit = sm.Logit(yb, M).fit(disp=0, method="newton", cov_type="cluster", cov_kwds={"groups": cl})
    # reference 1: statsmodels get_margeff(at="overall", dummy=True): the discrete change of the
    # 0/1 column D averaged over the sample, delta-method SE with a numerical Jacobian (1e-6)
    marg = fit.get_margeff(at="overall", method="dydx", dummy=True)
    ate = logit_ame(yb, d, sim["X"], cl, "ATE")
    assert_allclose(ate.estimate, marg.margeff[0], rtol=1e-10)
    assert_allclose(ate.std_error, marg.margeff_se[0], rtol=1e-6)
    # reference 2: ATT-AME by hand (predict with D set to 1 and to 0 over the treated), and its
    # delta-method SE with a numerical gradient of that function (1e-6)
    treated = M[d == 1]

    def att_ame(beta):
        m1, m0 = treated.copy(), treated.copy()
        m1[:, 1], m0[:, 1] = 1.0, 0.0
        return np.mean(expit(m1 @ beta) - expit(m0 @ beta))

    att = logit_ame(yb, d, sim["X"], cl)
    grad = approx_fprime(fit.params, att_ame, centered=True)
    assert_allclose(att.estimate, att_ame(fit.params), rtol=1e-10)
    assert_allclose(att.std_error, np.sqrt(grad @ fit.cov_params() @ grad), rtol=1e-6)
    assert att.estimand == "ATT" and att.scale == "risk_difference"


def test_iv_2sls_matches_two_stage_hand_computation_and_linearmodels(sim):
    y, d, z, cl = sim["y"], sim["d"], sim["z"], sim["cluster"]
    Z = sim["Z"]
    est = iv_2sls(y, d, z, sim["X"], cl, outcome="y")
    # reference 1 (hand): first stage D on [1, X, z]; second stage y on [1, X, D-hat]
    first = np.column_stack([Z, z])
    dhat = first @ np.linalg.lstsq(first, d, rcond=None)[0]
    second = np.linalg.lstsq(np.column_stack([Z, dhat]), y, rcond=None)[0]
    assert_allclose(est.estimate, second[-1], rtol=TIGHT)
    # reference 2: linearmodels IV2SLS, clustered, debiased=True; first-stage diagnostics
    lm_fit = IV2SLS(y, Z, d[:, None], z[:, None]).fit(cov_type="clustered", clusters=cl, debiased=True)
    assert_allclose(
        [est.estimate, est.std_error], [np.asarray(lm_fit.params)[-1], np.asarray(lm_fit.std_errors)[-1]], rtol=TIGHT
    )
    diag = lm_fit.first_stage.diagnostics.iloc[0]
    fs = iv_first_stage(d, z, sim["X"], cl)
    assert_allclose([fs.f_stat, fs.partial_r2], [diag["f.stat"], diag["partial.rsquared"]], rtol=TIGHT)
    assert f"first-stage effective F = {fs.f_stat:.1f}" in est.notes
    assert est.estimand == "LATE" and not weak_instrument(fs) and fs.n_clusters == 60


# --------------------------------------------------------------------------------------------
# truth: synthetic extracts with known effects
# --------------------------------------------------------------------------------------------

SEEDS = (1, 2, 3)
N_SYNTH = 20000


@pytest.fixture(scope="module")
def synthetic() -> dict:
    """Cohorts of three synthetic extracts (20,000 clients each) with their truth."""
    from deepvalue.cohort.build import build_cohort
    from deepvalue.core.settings import load_settings
    from deepvalue.extract.ingest import ingest_extract
    from deepvalue.synth.generate import generate_extract
    from deepvalue.synth.write import write_extract

    out = {}
    for seed in SEEDS:
        extract = generate_extract(N_SYNTH, seed=seed)
        with tempfile.TemporaryDirectory() as folder:
            write_extract(extract, folder)
            cfg = load_settings(Path(folder) / "config.yaml")
            ingested = ingest_extract(cfg)
            analysis = build_cohort(ingested.tables, cfg, ingested.extract_date).analysis
        out[seed] = (analysis, cfg, extract.truth["outcomes"])
    return out


def outcome_inputs(analysis: pd.DataFrame, cfg, outcome: str) -> dict:
    from deepvalue.adjust.design import covariate_design

    sub = analysis[analysis[outcome].notna()].reset_index(drop=True)
    X = covariate_design(sub, cfg.covariates).X
    d = sub["treatment"].to_numpy(float)
    # the propensity model is fitted elsewhere in the pipeline; a plain logit on X stands in here
    ps = sm.Logit(d, sm.add_constant(X.to_numpy())).fit(disp=0, method="newton").predict()
    return {"y": sub[outcome], "d": d, "X": X, "ps": ps, "cluster": sub["first_worker"]}


@pytest.mark.parametrize("seed", SEEDS)
def test_adjusted_estimators_recover_true_att(synthetic, seed):
    # reference: truth.json's ATT (mean of mu1(x) - mu0(x) over the analysed treated clients);
    # tolerance 3 cluster-robust SEs per estimate (a false alarm about 3 times in 1000 each)
    analysis, cfg, truth = synthetic[seed]
    for outcome, tr in truth.items():
        a = outcome_inputs(analysis, cfg, outcome)
        y, d, X, ps, cl = a["y"], a["d"], a["X"], a["ps"], a["cluster"]
        rows = [
            regression_adjustment(y, d, X, cl, "ATT"),
            ipw(y, d, ps, "ATT", X, cluster=cl),
            aipw(y, d, X, ps, "ATT", cluster=cl),
        ]
        if outcome == "job_start":
            rows.append(logit_ame(y, d, X, cl))
        for row in rows:
            z = (row.estimate - tr["att"]) / row.std_error
            assert abs(z) < 3, (
                f"seed {seed} {outcome} {row.method}: {row.estimate:.4f} vs ATT {tr['att']:.4f} ({z:.1f} SE)"
            )
            assert row.outcome == outcome and row.n_treated == tr["n_treated"] and row.n_control == tr["n_control"]


@pytest.mark.parametrize("seed", SEEDS)
def test_naive_difference_is_biased_for_job_start(synthetic, seed):
    # the generator makes complex clients both fragmented and less likely to find work, so the
    # naive difference overstates the effect: by 6-7 SE at this size; the test asks for > 2 SE
    analysis, cfg, truth = synthetic[seed]
    a = outcome_inputs(analysis, cfg, "job_start")
    row = naive_difference(a["y"], a["d"])
    assert (row.estimate - truth["job_start"]["att"]) / row.std_error > 2


# --------------------------------------------------------------------------------------------
# edge cases and the result table
# --------------------------------------------------------------------------------------------


def all_methods(y, d, X, ps, cl, z, w):
    """Every estimator on the same inputs (used for the shared edge-case checks)."""
    return {
        "naive_difference": lambda: naive_difference(y, d),
        "regression_adjustment": lambda: regression_adjustment(y, d, X, cl),
        "logit_ame": lambda: logit_ame((y > np.nanmedian(y)).astype(float).where(y.notna()), d, X, cl),
        "matched_regression": lambda: matched_regression(y, d, w, cl, replace=False),
        "ipw": lambda: ipw(y, d, ps, "ATT", X),
        "aipw": lambda: aipw(y, d, X, ps, "ATT"),
        "overlap_weights": lambda: overlap_weighted(y, d, ps, X),
        "iv_2sls": lambda: iv_2sls(y, d, z, X, cl),
    }


@pytest.mark.parametrize("treated_left", [0, 1])
@pytest.mark.parametrize(
    "method",
    [
        "naive_difference",
        "regression_adjustment",
        "logit_ame",
        "matched_regression",
        "ipw",
        "aipw",
        "overlap_weights",
        "iv_2sls",
    ],
)
def test_group_with_fewer_than_two_units_is_an_analysis_error(sim, method, treated_left):
    n = 400
    d = np.zeros(n)
    d[:treated_left] = 1
    y = pd.Series(sim["y"][:n], name="income_gain_gbp")
    call = all_methods(y, d, sim["X"].iloc[:n], np.full(n, 0.4), sim["cluster"][:n], sim["z"][:n], np.ones(n))[method]
    with pytest.raises(AnalysisError, match=rf"treated \(continuous\) group has {treated_left} clients") as info:
        call()
    assert "at least 2 clients in each group" in str(info.value)
    assert "income_gain_gbp" in str(info.value) or method == "logit_ame"


@pytest.mark.parametrize(
    "method",
    [
        "naive_difference",
        "regression_adjustment",
        "logit_ame",
        "matched_regression",
        "ipw",
        "aipw",
        "overlap_weights",
        "iv_2sls",
    ],
)
def test_missing_outcomes_are_dropped_and_noted(sim, method):
    n = 600
    y = pd.Series(sim["y"][:n].copy(), name="y")
    y.iloc[[3, 50, 51, 400]] = np.nan
    args = (sim["X"].iloc[:n], sim["ps"][:n], sim["cluster"][:n], sim["z"][:n], np.ones(n))
    with_missing = all_methods(y, sim["d"][:n], *args)[method]()
    keep = y.notna().to_numpy()
    measured = all_methods(
        y[keep].reset_index(drop=True),
        sim["d"][:n][keep],
        *(a.iloc[keep] if isinstance(a, pd.DataFrame) else a[keep] for a in args),
    )[method]()
    assert "dropped 4 rows with missing outcome" in with_missing.notes
    assert_allclose(
        [with_missing.estimate, with_missing.std_error], [measured.estimate, measured.std_error], rtol=1e-12
    )
    assert with_missing.n_treated + with_missing.n_control == n - 4


def test_unknown_instrument_rows_are_dropped_and_noted(sim):
    n = 800
    z = pd.Series(sim["z"][:n], dtype="Int8")
    z.iloc[:10] = pd.NA
    est = iv_2sls(sim["y"][:n], sim["d"][:n], z, sim["X"].iloc[:n], sim["cluster"][:n])
    ref = iv_2sls(sim["y"][10:n], sim["d"][10:n], sim["z"][10:n], sim["X"].iloc[10:n], sim["cluster"][10:n])
    assert "dropped 10 rows with unknown instrument" in est.notes
    assert_allclose(est.estimate, ref.estimate, rtol=1e-12)


def test_propensity_scores_of_zero_or_one_are_refused(sim):
    ps = sim["ps"].copy()
    ps[:3] = 1.0
    with pytest.raises(AnalysisError, match="3 propensity scores are 0 or 1"):
        ipw(sim["y"], sim["d"], ps, "ATE")


def test_ps_not_from_a_logit_on_x_falls_back_to_known_ps(sim):
    # a score from another model (a logit without the disability column: its score on that
    # column sums to 2.6 of its SDs, against 5e-16 at the MLE) is not the logit MLE on X, so the
    # stacked logit correction would be wrong
    other = sm.Logit(sim["d"], sim["Z"][:, :3]).fit(disp=0).predict()
    est = ipw(sim["y"], sim["d"], other, "ATE", sim["X"])
    assert "not the logit MLE on X" in est.notes and "ps treated as known" in est.notes
    assert est.std_error == ipw(sim["y"], sim["d"], other, "ATE").std_error


def test_collinear_columns_are_dropped_without_changing_the_estimate(sim):
    X = sim["X"].assign(age_copy=2 * sim["X"]["age_std"], constant=1.0)
    est = regression_adjustment(sim["y"], sim["d"], X, sim["cluster"])
    ref = regression_adjustment(sim["y"], sim["d"], sim["X"], sim["cluster"])
    assert_allclose([est.estimate, est.std_error], [ref.estimate, ref.std_error], rtol=1e-10)
    assert "4 collinear columns dropped" in est.notes  # copy and constant, each with its interaction


def test_nonbinary_outcome_is_refused_by_logit_ame(sim):
    with pytest.raises(AnalysisError, match="is not binary"):
        logit_ame(pd.Series(sim["y"], name="income_gain_gbp"), sim["d"], sim["X"], sim["cluster"])


def test_weak_instrument_helper_and_skipped_row():
    assert weak_instrument(9.99) and not weak_instrument(10.0) and weak_instrument(float("nan"))
    fs = FirstStage(f_stat=4.2, partial_r2=0.001, coefficient=0.05, std_error=0.024, n=900, n_clusters=40)
    assert weak_instrument(fs)
    row = skipped_estimate(
        "job_start",
        "iv_2sls",
        "LATE",
        "risk_difference",
        f"weak instrument: {fs.describe()}",
        n_treated=500,
        n_control=400,
    )
    assert np.isnan(row.estimate) and row.notes.startswith("skipped: weak instrument: first-stage effective F = 4.2")


def test_estimates_frame_has_the_documented_columns(sim):
    rows = [
        naive_difference(sim["y"], sim["d"], outcome="y", subgroup="service=employment"),
        skipped_estimate("y", "iv_2sls", "LATE", "mean_difference", "no instrument"),
    ]
    frame = estimates_frame(rows)
    assert (
        tuple(frame.columns)
        == ESTIMATE_COLUMNS
        == (
            "outcome",
            "subgroup",
            "method",
            "estimand",
            "estimate",
            "std_error",
            "ci_lower",
            "ci_upper",
            "p_value",
            "n_treated",
            "n_control",
            "scale",
            "notes",
        )
    )
    assert frame.loc[0, "subgroup"] == "service=employment" and frame["n_treated"].dtype == "int64"
    assert len(estimates_frame([])) == 0 and tuple(estimates_frame([]).columns) == ESTIMATE_COLUMNS
    first = rows[0]
    assert isinstance(first, EffectEstimate)
    assert_allclose([first.ci_lower, first.ci_upper], [frame.loc[0, "ci_lower"], frame.loc[0, "ci_upper"]])


def test_normal_wald_interval_and_p_value(sim):
    est = ipw(sim["y"], sim["d"], sim["ps"], "ATE", sim["X"])
    # reference: the normal 97.5% quantile and two-sided p-value from scipy
    q = stats.norm.ppf(0.975)
    assert_allclose(
        [est.ci_lower, est.ci_upper], [est.estimate - q * est.std_error, est.estimate + q * est.std_error], rtol=1e-12
    )
    assert_allclose(est.p_value, 2 * stats.norm.sf(abs(est.estimate / est.std_error)), rtol=1e-12)


def test_cluster_robust_weighting_se_sums_influence_within_clusters(sim):
    # with every unit its own cluster the clustered IF variance is the unclustered one times n/(n-1)
    y, d, ps, X = sim["y"], sim["d"], sim["ps"], sim["X"]
    n = len(y)
    own = ipw(y, d, ps, "ATE", X, cluster=np.arange(n), leverage=False)
    plain = ipw(y, d, ps, "ATE", X, leverage=False)
    assert_allclose(own.std_error, plain.std_error * np.sqrt(n / (n - 1)), rtol=1e-12)
    clustered = aipw(y, d, X, ps, "ATE", cluster=sim["cluster"], leverage=False)
    assert "clustered (60 clusters)" in clustered.notes


def test_collinear_propensity_design_leaves_the_stacked_weighting_se_unchanged(sim):
    # the propensity correction drops collinear columns on the weighted Gram e(1-e) Z'Z; a copy
    # of a column and a constant span nothing new, so the logit MLE and the SE are the same
    y, d, ps, X = sim["y"], sim["d"], sim["ps"], sim["X"]
    wide = X.assign(age_copy=2 * X["age_std"], constant=1.0)
    for fn in (
        lambda M: ipw(y, d, ps, "ATE", M),
        lambda M: ipw(y, d, ps, "ATT", M),
        lambda M: overlap_weighted(y, d, ps, M),
        lambda M: aipw(y, d, X, ps, "ATE", ps_design=M),
    ):
        ref, est = fn(X), fn(wide)
        assert "sandwich" in est.notes and "ps treated as known" not in est.notes
        assert_allclose([est.estimate, est.std_error], [ref.estimate, ref.std_error], rtol=1e-9)


def test_cluster_ids_as_text_or_integer_codes_give_the_same_standard_errors(sim):
    from deepvalue.effects.table import _cluster_codes

    y, d, ps, X = sim["y"], sim["d"], sim["ps"], sim["X"]
    text = pd.Series([f"W{c:05d}" for c in sim["cluster"]], dtype="string[pyarrow]")
    codes = _cluster_codes(text)
    assert codes.dtype.kind == "i" and len(np.unique(codes)) == len(np.unique(sim["cluster"]))
    for fn in (
        lambda c: ipw(y, d, ps, "ATE", X, cluster=c),
        lambda c: aipw(y, d, X, ps, "ATT", ps_design=X, cluster=c),
        lambda c: regression_adjustment(y, d, X, c, "ATE"),
    ):
        by_text, by_code = fn(text), fn(codes)
        assert by_text.std_error == by_code.std_error  # exact: the same cluster codes, in the same order
    missing = text.copy()
    missing[3] = None
    kept = _cluster_codes(missing)  # a missing id keeps the column, so the estimator names it
    with pytest.raises(AnalysisError, match="missing for 1 measured rows"):
        ipw(y, d, ps, "ATE", X, cluster=kept)


def test_dose_levels_equal_statsmodels_ols_on_level_indicators():
    """The saturated dose-response (review item 10): each UPC level against the lowest, with the
    confounders, CR1 by cluster, as statsmodels OLS(cov_type="cluster")."""
    import statsmodels.api as sm

    from deepvalue.effects.dose import dose_levels, dose_response

    rng = np.random.default_rng(8)
    n = 900
    upc = rng.choice([0.25, 0.5, 0.75, 1.0], n, p=[0.1, 0.3, 0.3, 0.3])
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.integers(0, 2, n).astype(float)})
    g = rng.integers(0, 60, n)
    y = 1.0 + 2.0 * (upc == 1.0) + 0.5 * X["a"] + rng.normal(size=n)  # a step at UPC = 1, not a line
    rows = dose_levels(y, upc, X, g, outcome="y", index_name="upc")
    D = np.column_stack([(upc == v).astype(float) for v in (0.5, 0.75, 1.0)])
    ref = sm.OLS(y, np.column_stack([np.ones(n), D, X.to_numpy()])).fit(cov_type="cluster", cov_kwds={"groups": g})
    assert [r.scale for r in rows] == ["upc_0.5_vs_0.25", "upc_0.75_vs_0.25", "upc_1_vs_0.25"]
    assert all(r.estimand == "level_contrast" for r in rows)
    assert_allclose([r.estimate for r in rows], ref.params[1:4], rtol=1e-9)
    assert_allclose([r.std_error for r in rows], ref.bse[1:4], rtol=1e-8)
    assert rows[2].n_treated == int((upc == 1.0).sum()) and rows[2].n_control == int((upc == 0.25).sum())
    assert dose_response(y, upc, X, g).estimand == "slope"


def test_anderson_rubin_set_inverts_the_reduced_form_test():
    """Review item 11: the AR set is every b whose cluster-robust test of Z in Y - b D on [Z, X]
    (statsmodels OLS, cov_type="cluster") does not reject at 5%; checked on a grid."""
    import statsmodels.api as sm

    from deepvalue.effects.iv import anderson_rubin

    rng = np.random.default_rng(12)
    n = 1500
    X = pd.DataFrame({"a": rng.normal(size=n)})
    g = rng.integers(0, 80, n)
    z = (rng.random(n) < 0.3).astype(float)
    u = rng.normal(size=n)
    d = ((0.8 * z + 0.5 * X["a"] + u + rng.normal(size=n)) > 0.5).astype(float)
    y = 1.0 * d + X["a"] + u + rng.normal(size=n)
    ar = anderson_rubin(y, d, z, X, g)
    assert ar.kind == "bounded" and ar.lower < 1.0 < ar.upper
    design = sm.add_constant(np.column_stack([z, X["a"].to_numpy()]))

    def p_of(b):
        fit = sm.OLS(y - b * d, design).fit(cov_type="cluster", cov_kwds={"groups": g})
        return float(np.asarray(fit.pvalues)[1])

    assert p_of(ar.lower) == pytest.approx(0.05, abs=1e-6) and p_of(ar.upper) == pytest.approx(0.05, abs=1e-6)
    assert p_of((ar.lower + ar.upper) / 2) > 0.05 and p_of(ar.lower - 0.05) < 0.05
    assert ar.p_value == pytest.approx(p_of(0.0), rel=1e-8)
    # a useless instrument: the set is unbounded, never a confident interval
    weak = anderson_rubin(y, d, rng.random(n) < 0.3, X, g)
    assert weak.kind in ("rays", "everything")
