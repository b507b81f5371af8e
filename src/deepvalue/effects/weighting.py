"""Weighting estimators: IPW (Hajek) for the ATE and ATT, overlap weights (ATO) and AIPW, with
stacked M-estimation SEs that account for the estimated logit propensity score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import get_args

import numpy as np
import numpy.typing as npt
import pandas as pd

from deepvalue.effects.base import (
    PS_SCORE_TOL,
    ArrayLike,
    EffectEstimate,
    Estimand,
    FloatArray,
    WeightingEstimand,
    _check_clusters,
    _default_scale,
    _design,
    _independent_columns,
    _prune,
    _Sample,
    _sample,
    _se_note,
)
from deepvalue.effects.cr2 import (
    _coefficient_noise,
    _cr2_df,
    _cr2_mean_residuals,
    _cr2_note,
    _cr2_residuals,
    _shrinkage_factor,
    _variance,
)

# ----------------------------------------------------------------------------------------------
# weighting estimators (propensity score given by the caller)
# ----------------------------------------------------------------------------------------------


def _scores(sample: _Sample, ps: ArrayLike) -> FloatArray:
    e = sample.take(ps, "ps")
    assert e is not None
    outside = (e <= 0) | (e >= 1)
    if outside.any():
        raise sample.error(
            "ps",
            f"{int(outside.sum())} propensity scores are 0 or 1",
            "overlap fails: trim the sample to common support or change the propensity model",
        )
    return e


@dataclass(frozen=True)
class _PsModel:
    """The logistic propensity model's design and information, for the stacked correction."""

    Z: FloatArray  # [1, X] with collinear columns dropped
    info_inv: FloatArray  # (Z' diag(e(1-e)) Z / n)^{-1}
    resid: FloatArray  # d - e: the logit score of unit i is resid_i * Z_i
    weighted: FloatArray  # Z' diag(e(1-e)) Z, the information (unscaled)

    def adjusted(self, codes: npt.NDArray[np.int64] | None, e: FloatArray) -> _PsModel:
        """The same model with its score residuals CR2-adjusted (the logit's working weights e(1-e))."""
        resid = _cr2_residuals(codes, self.Z, self.resid, self.weighted, weights=e * (1 - e))
        return replace(self, resid=resid)


def _ps_model(sample: _Sample, e: FloatArray, X: pd.DataFrame | None, notes: list[str]) -> _PsModel | None:
    """The logit propensity model behind ``e`` when ``X`` is given and ``e`` is its MLE, else None."""
    if X is None:
        return None
    Z = _design(1.0, sample.take(X, "X"))
    # collinear columns found on the weighted Gram (the weights e(1 - e) are positive), so one
    # n x k^2 product serves both
    weighted = Z.T @ (Z * (e * (1 - e))[:, None])
    Z, weighted, _ = _prune(Z, weighted)
    resid = sample.d - e
    info = weighted / e.size
    # At the logit MLE every column's score sums to zero; if not, ps came from another model.
    # The yardstick is the model-based SD of each score sum, sqrt(n * info_jj). (A logit on X
    # plus further terms passes this check; pass its full design as X then.)
    ratio = np.abs(resid @ Z) / np.sqrt(e.size * np.diag(info))
    if float(ratio.max()) > PS_SCORE_TOL:
        notes.append("ps is not the logit MLE on X (scores do not sum to zero): SE treats ps as known")
        return None
    return _PsModel(Z, np.linalg.inv(info), resid, weighted)


def _ps_correction(model: _PsModel, dphi_de: FloatArray, e: FloatArray) -> FloatArray:
    r"""Per-unit term that adds the propensity model's estimation to an influence function.

    For an estimating function :math:`\phi(e_i)` with :math:`e_i = \Lambda(Z_i'\beta)`, the
    first-order effect of :math:`\hat\beta - \beta = H^{-1} \bar s` (logit score ``s``,
    information ``H``) is :math:`A' H^{-1} s_i`, with
    :math:`A = n^{-1}\sum_i (\partial\phi_i/\partial e_i)\, e_i(1-e_i) Z_i`.
    """
    A = (dphi_de * e * (1 - e)) @ model.Z / e.size
    return model.resid * (model.Z @ (model.info_inv @ A))


def _hajek(
    sample: _Sample,
    e: FloatArray,
    estimand: Estimand,
    psm: _PsModel | None,
    codes: npt.NDArray[np.int64] | None,
    leverage: bool = True,
) -> tuple[float, float, list[str], FloatArray]:
    r"""Normalised weighting estimator with tilting function t(e) and its sandwich SE.

    Weights :math:`w_1 = D\,t(e)/e`, :math:`w_0 = (1-D)\,t(e)/(1-e)`; :math:`t = 1` (ATE),
    :math:`e` (ATT), :math:`e(1-e)` (ATO, overlap weights). Each arm mean solves
    :math:`\sum_i w_{di}(Y_i - \mu_d) = 0`; influence function
    :math:`\psi_i = w_{1i}(Y_i-\hat\mu_1)/\bar w_1 - w_{0i}(Y_i-\hat\mu_0)/\bar w_0`
    plus, with the propensity model, its correction term.

    With ``leverage`` every residual the influence function contains is CR2-adjusted by the
    model that produced it (:func:`_cr2_residuals`): :math:`Y - \hat\mu_d` by the arm's weighted
    mean (a weighted regression on a constant, whose leverage in cluster g is the cluster's share
    of the arm's weight) and :math:`D - e` by the logit; the variance then has no ``G/(G-1)``.
    """
    y, d = sample.y, sample.d
    if estimand == "ATE":
        w1, w0 = d / e, (1 - d) / (1 - e)
        dw1, dw0 = -d / e**2, (1 - d) / (1 - e) ** 2
    elif estimand == "ATT":
        w1, w0 = d, (1 - d) * e / (1 - e)
        dw1, dw0 = np.zeros_like(e), (1 - d) / (1 - e) ** 2
    else:  # ATO
        w1, w0 = d * (1 - e), (1 - d) * e
        dw1, dw0 = -d, 1 - d
    m1, m0 = w1.mean(), w0.mean()
    mu1, mu0 = float(w1 @ y / w1.sum()), float(w0 @ y / w0.sum())
    r1, r0 = y - mu1, y - mu0
    if leverage:
        r1, r0 = _cr2_mean_residuals(codes, w1, r1), _cr2_mean_residuals(codes, w0, r0)
        psm = None if psm is None else psm.adjusted(codes, e)
    r1, r0 = r1 / m1, r0 / m0
    psi = w1 * r1 - w0 * r0
    if psm is not None:
        psi = psi + _ps_correction(psm, dw1 * r1 - dw0 * r0, e)
    se = math.sqrt(_variance(psi, codes, leverage))
    ess = [float(w.sum() ** 2 / (w @ w)) for w in (w1, w0)]
    notes = [f"effective sample size treated {ess[0]:.0f}, control {ess[1]:.0f}"]
    return mu1 - mu0, se, notes, psi


def ipw(
    y: ArrayLike,
    d: ArrayLike,
    ps: ArrayLike,
    estimand: WeightingEstimand = "ATE",
    X: pd.DataFrame | None = None,
    *,
    cluster: ArrayLike | None = None,
    outcome: str | None = None,
    subgroup: str = "",
    scale: str | None = None,
    leverage: bool = True,
) -> EffectEstimate:
    r"""Inverse probability weighting, Hajek (normalised) form, for the ATE or ATT.

    .. math::
        \hat\tau = \frac{\sum_i w_{1i} Y_i}{\sum_i w_{1i}} - \frac{\sum_i w_{0i} Y_i}{\sum_i w_{0i}},
        \quad
        \text{ATE: } w_1 = \frac{D}{e},\ w_0 = \frac{1-D}{1-e};\qquad
        \text{ATT: } w_1 = D,\ w_0 = \frac{(1-D)\,e}{1-e}

    SE from the influence function (M-estimation sandwich). With ``X`` (the design the logistic
    propensity model was fitted on, without intercept), the logit score equations are stacked
    with the weighting equations, so the SE accounts for the estimated score, as statsmodels
    ``TreatmentEffect.ipw`` and Stata ``teffects ipw`` do (provided ``ps`` is that model's MLE,
    which is checked). Without ``X`` the score is treated as known, which overstates the
    variance of the ATE (Hirano, Imbens and Ridder 2003) but can understate it for the ATT.
    ``cluster`` sums the influence function within clusters. Scores must be strictly in (0, 1);
    trimming is the caller's decision. ``leverage`` (default) CR2-adjusts the residuals
    (:func:`_hajek`) and gives t(G-1) intervals; ``leverage=False`` is the sandwich of statsmodels
    and Stata (with ``G/(G-1)`` when clustered).
    """
    if estimand not in get_args(WeightingEstimand):
        raise ValueError(f"estimand must be 'ATT' or 'ATE', got {estimand!r}")
    s = _sample(y, d, "ipw", outcome, subgroup)
    return _weighted_estimate(s, ps, X, cluster, estimand, "Hajek IPW", scale, leverage)


def _weighted_estimate(
    s: _Sample,
    ps: ArrayLike,
    X: pd.DataFrame | None,
    cluster: ArrayLike | None,
    estimand: Estimand,
    label: str,
    scale: str | None,
    leverage: bool = True,
) -> EffectEstimate:
    """The Hajek weighting estimate (IPW or overlap) with its stacked or known-score SE."""
    e = _scores(s, ps)
    codes = s.codes(cluster)
    _check_clusters(s, codes, "cluster")
    notes = [label]
    psm = _ps_model(s, e, X, notes)
    est, se, more, psi = _hajek(s, e, estimand, psm, codes, leverage)
    what = "sandwich with estimated ps (logit scores stacked)" if psm else "influence function, ps treated as known"
    notes = [*notes, (_cr2_note if leverage else _se_note)(codes, what), *more]
    df = _cr2_df(codes, leverage)
    return s.result(estimand, est, se, scale or _default_scale(s.y), notes, influence=psi, cr2=leverage, df=df)


def overlap_weighted(
    y: ArrayLike,
    d: ArrayLike,
    ps: ArrayLike,
    X: pd.DataFrame | None = None,
    *,
    cluster: ArrayLike | None = None,
    outcome: str | None = None,
    subgroup: str = "",
    scale: str | None = None,
    leverage: bool = True,
) -> EffectEstimate:
    r"""Average treatment effect in the overlap population (ATO) with overlap weights.

    Li, Morgan and Zaslavsky (2018): weights :math:`w_1 = D(1-e)`, :math:`w_0 = (1-D)e`, Hajek
    form as in :func:`ipw`. The target population weights each client by :math:`e(1-e)`, the
    clients who could plausibly have been in either group; weights are bounded, so no trimming
    is needed. SE as in :func:`ipw`: with ``X`` the logit scores are stacked (the sandwich
    variance of Li et al. 2018), otherwise ``ps`` is treated as known.
    """
    s = _sample(y, d, "overlap_weights", outcome, subgroup)
    return _weighted_estimate(s, ps, X, cluster, "ATO", "overlap weights (Hajek)", scale, leverage)


@dataclass(frozen=True)
class _ArmFit:
    """OLS of Y on Z = [1, X] within one treatment arm (coefficients of dropped columns are 0)."""

    arm: npt.NDArray[np.bool_]
    keep: npt.NDArray[np.bool_]
    coef: FloatArray  # full length, zeros for columns collinear within the arm
    gram: FloatArray  # Z_arm' Z_arm over the kept columns


def _arm_ols(Z: FloatArray, y: FloatArray, arm: npt.NDArray[np.bool_]) -> _ArmFit:
    Za = Z[arm]
    gram = Za.T @ Za
    keep = _independent_columns(gram)
    gram = gram[np.ix_(keep, keep)]
    scale = np.sqrt(np.diag(gram))
    coef = np.zeros(Z.shape[1])
    coef[keep] = np.linalg.solve(gram / np.outer(scale, scale), (y[arm] @ Za)[keep] / scale) / scale
    return _ArmFit(arm, keep, coef, gram)


def _ols_correction(fit: _ArmFit, Z: FloatArray, resid: FloatArray, dphi_dm: FloatArray) -> FloatArray:
    r"""Per-unit term adding an arm's OLS estimation to an influence function.

    Normal equations :math:`u_i = 1[i\in arm] Z_i (Y_i - Z_i'\gamma)`, Jacobian
    :math:`-n^{-1}\sum_{arm} Z_i Z_i'`; with :math:`A = n^{-1}\sum_i (\partial\phi_i/\partial m_i) Z_i`
    the term is :math:`A' (n^{-1}\sum_{arm} Z Z')^{-1} u_i = 1[i\in arm]\, e_i\, Z_i'v`.
    """
    A = (dphi_dm @ Z)[fit.keep]
    v = np.zeros(Z.shape[1])
    v[fit.keep] = np.linalg.solve(fit.gram, A)  # the two 1/n factors cancel
    return np.where(fit.arm, resid, 0.0) * (Z @ v)


def _arm_residuals(fit: _ArmFit, Z: FloatArray, resid: FloatArray, codes: npt.NDArray[np.int64] | None) -> FloatArray:
    """An arm OLS's residuals, CR2-adjusted on the arm's rows (unchanged elsewhere)."""
    return _cr2_residuals(codes, Z[:, fit.keep], resid, fit.gram, rows=fit.arm)


def _centring_kappa(
    codes: npt.NDArray[np.int64] | None, Z: FloatArray, fit1: _ArmFit, r1: FloatArray, fit0: _ArmFit, r0: FloatArray
) -> float:
    r""":func:`~deepvalue.effects.cr2._centring_shrinkage` for the ATE's imputed effects
    :math:`\hat m_1 - \hat m_0 = c + (Z - \bar Z)'(\hat b_1 - \hat b_0)`: the noise of the slope
    difference, from both arms' CR2-adjusted residuals ``r1`` and ``r0`` (each used on its arm)."""
    noise = np.zeros((Z.shape[1], Z.shape[0] if codes is None else int(codes.max()) + 1))
    for fit, resid, sign in ((fit1, r1, 1.0), (fit0, r0, -1.0)):
        noise[fit.keep] += sign * _coefficient_noise(codes, Z[:, fit.keep], np.where(fit.arm, resid, 0.0), fit.gram)
    xc = Z[:, 1:] - Z[:, 1:].mean(axis=0)
    return _shrinkage_factor(codes, noise[1:], (fit1.coef - fit0.coef)[1:], xc, 1.0)


def aipw(
    y: ArrayLike,
    d: ArrayLike,
    X: pd.DataFrame,
    ps: ArrayLike,
    estimand: WeightingEstimand = "ATE",
    *,
    ps_design: pd.DataFrame | None = None,
    cluster: ArrayLike | None = None,
    outcome: str | None = None,
    subgroup: str = "",
    scale: str | None = None,
    leverage: bool = True,
) -> EffectEstimate:
    r"""Augmented IPW (doubly robust) for the ATE or ATT, with influence-function SE.

    Outcome models: OLS of Y on [1, X] within each arm, :math:`\hat m_d(x)` (a linear
    probability model for binary outcomes: it keeps the estimator's influence function and the
    stacked correction linear, and it is the outcome model of statsmodels ``TreatmentEffect``
    and Stata ``teffects aipw``; double robustness means the propensity model covers for its
    misspecification).

    ATE (Robins, Rotnitzky and Zhao 1994; Hahn 1998; Kennedy 2016):

    .. math::
        \phi_i = \hat m_1(X_i) - \hat m_0(X_i) + \frac{D_i (Y_i - \hat m_1(X_i))}{e_i}
                 - \frac{(1-D_i)(Y_i - \hat m_0(X_i))}{1-e_i},
        \quad \hat\tau = \bar\phi, \quad \psi_i = \phi_i - \hat\tau

    ATT (Moodie et al. 2018; Robins' form, only :math:`m_0` needed; the control term is the
    unnormalised odds-weighted sum, as written):

    .. math::
        \hat\tau = \frac{\sum_i D_i (Y_i - \hat m_0) - (1-D_i)\frac{e_i}{1-e_i}(Y_i - \hat m_0)}{\sum_i D_i},
        \quad \psi_i = \frac{D_i(Y_i - \hat m_0) - (1-D_i)\frac{e_i}{1-e_i}(Y_i - \hat m_0) - \hat\tau D_i}{\bar D}

    SE: :math:`\sqrt{\sum\psi_i^2}/n`, treating the fitted nuisance models as fixed, which is
    valid when both are correctly specified because the AIPW estimating function is orthogonal
    to them. With ``ps_design`` (the logistic propensity model's design; usually ``X``), the
    full M-estimation sandwich is used instead: the logit scores and each arm's OLS normal
    equations are stacked, which stays valid when one model is wrong; this is the SE of
    statsmodels ``TreatmentEffect.aipw`` and Stata ``teffects aipw``. Columns constant within an
    arm are dropped from that arm's model, so its prediction for the other arm ignores them (an
    overlap problem that the balance stage reports).

    ``leverage`` (default): each residual is CR2-adjusted by the model that produced it
    (:func:`_cr2_residuals`): :math:`Y - \hat m_d` by arm d's OLS, :math:`D - e` by the logit and,
    for the ATT, the treated term by the treated mean; the variance has no ``G/(G-1)`` and the
    interval uses t(G-1). ``leverage=False`` is the sandwich of statsmodels and Stata.
    """
    if estimand not in get_args(WeightingEstimand):
        raise ValueError(f"estimand must be 'ATT' or 'ATE', got {estimand!r}")
    s = _sample(y, d, "aipw", outcome, subgroup)
    e = _scores(s, ps)
    Z = _design(1.0, s.take(X, "X"))
    codes = s.codes(cluster)
    _check_clusters(s, codes, "cluster")
    notes = ["AIPW with OLS outcome models by arm"]
    psm = _ps_model(s, e, ps_design, notes)
    y, dd = s.y, s.d
    if leverage and psm is not None:
        psm = psm.adjusted(codes, e)
    fit0 = _arm_ols(Z, y, dd == 0)
    m0 = Z @ fit0.coef
    r0 = _arm_residuals(fit0, Z, y - m0, codes) if leverage else y - m0  # used on arm 0 only
    if estimand == "ATE":
        fit1 = _arm_ols(Z, y, dd == 1)
        m1 = Z @ fit1.coef
        r1 = _arm_residuals(fit1, Z, y - m1, codes) if leverage else y - m1
        phi = m1 - m0 + dd * (y - m1) / e - (1 - dd) * (y - m0) / (1 - e)
        est = float(phi.mean())
        effect = m1 - m0  # the imputed effects, whose spread carries the noise of b1 - b0
        if leverage:
            effect = effect.mean() + _centring_kappa(codes, Z, fit1, r1, fit0, r0) * (effect - effect.mean())
        psi = effect + dd * r1 / e - (1 - dd) * r0 / (1 - e) - est
        if psm is not None:
            psi = psi + _ols_correction(fit1, Z, r1, 1 - dd / e)
            psi = psi + _ols_correction(fit0, Z, r0, -(1 - (1 - dd) / (1 - e)))
            dphi_de = -dd * r1 / e**2 - (1 - dd) * r0 / (1 - e) ** 2
            psi = psi + _ps_correction(psm, dphi_de, e)
    else:
        odds = e / (1 - e)
        phi = dd * (y - m0) - (1 - dd) * odds * (y - m0)
        pbar = dd.mean()
        est = float(phi.sum() / dd.sum())
        treated = dd * (y - m0 - est)  # the treated mean's residual
        if leverage:
            treated = _cr2_mean_residuals(codes, dd, y - m0 - est) * dd
        psi = (treated - (1 - dd) * odds * r0) / pbar
        if psm is not None:
            psi = psi + _ols_correction(fit0, Z, r0, -dd + (1 - dd) * odds) / pbar
            dphi_de = -(1 - dd) * r0 / (1 - e) ** 2
            psi = psi + _ps_correction(psm, dphi_de, e) / pbar
    se = math.sqrt(_variance(psi, codes, leverage))
    what = (
        "sandwich stacking the logit and outcome-model equations"
        if psm
        else "influence function, nuisance models treated as fixed"
    )
    notes = [*notes, (_cr2_note if leverage else _se_note)(codes, what)]
    df = _cr2_df(codes, leverage)
    return s.result(estimand, est, se, scale or _default_scale(s.y), notes, influence=psi, cr2=leverage, df=df)
