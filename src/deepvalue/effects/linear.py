"""Linear and outcome-model estimators: the naive Welch difference, Lin's fully interacted
regression adjustment (ATT and ATE), the logit average marginal effect, and the matched-sample
regression.

Each takes plain arrays (outcome ``y``, treatment ``d`` 0/1, the confounder design ``X`` from
:func:`deepvalue.adjust.design.covariate_design`, cluster ids) and returns an
:class:`~deepvalue.effects.base.EffectEstimate` with a 95% interval.
"""

from __future__ import annotations

import math
import warnings
from typing import get_args

import numpy as np
import numpy.typing as npt
import pandas as pd
import statsmodels.api as sm
from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

from deepvalue.effects.base import (
    CLUSTER_NAME,
    ArrayLike,
    EffectEstimate,
    FloatArray,
    WeightingEstimand,
    _check_clusters,
    _default_scale,
    _design,
    _expit,
    _floats,
    _least_squares,
    _linear_note,
    _prune,
    _sample,
    _wald,
)
from deepvalue.effects.cr2 import _centring_shrinkage, _cr2_df, _cr2_note, _cr2_residuals, _variance

# ----------------------------------------------------------------------------------------------
# naive comparison and outcome regressions
# ----------------------------------------------------------------------------------------------


def naive_difference(
    y: ArrayLike, d: ArrayLike, *, outcome: str | None = None, subgroup: str = "", scale: str | None = None
) -> EffectEstimate:
    r"""Unadjusted difference in means with Welch's standard error.

    .. math::
        \hat\tau = \bar y_1 - \bar y_0, \quad
        SE = \sqrt{s_1^2/n_1 + s_0^2/n_0}, \quad
        \nu = \frac{(s_1^2/n_1 + s_0^2/n_0)^2}{(s_1^2/n_1)^2/(n_1-1) + (s_0^2/n_0)^2/(n_0-1)}

    The interval and p-value use Student's t with the Welch-Satterthwaite df ``nu``. The
    estimand is labelled ATE, but the difference is causal only without confounding: it is the
    benchmark the adjusted methods are compared with.

    Examples
    --------
    >>> e = naive_difference([1, 0, 1, 1, 0, 0, 0, 1], [1, 1, 1, 1, 0, 0, 0, 0], outcome="job_start")
    >>> round(e.estimate, 3), round(e.std_error, 3), e.scale
    (0.5, 0.354, 'risk_difference')
    """
    s = _sample(y, d, "naive_difference", outcome, subgroup)
    y1, y0 = s.y[s.d == 1], s.y[s.d == 0]
    v1, v0 = y1.var(ddof=1) / y1.size, y0.var(ddof=1) / y0.size
    est = float(y1.mean() - y0.mean())
    se = math.sqrt(v1 + v0)
    denom = v1**2 / (y1.size - 1) + v0**2 / (y0.size - 1)
    df = (v1 + v0) ** 2 / denom if denom > 0 else float("nan")
    lower, upper, p = _wald(est, se, df)
    notes = [*s.notes, f"Welch t interval, df = {df:.1f}; unadjusted (confounded)"]
    return EffectEstimate(
        s.outcome,
        s.method,
        "ATE",
        est,
        se,
        lower,
        upper,
        p,
        s.n_treated,
        s.n_control,
        scale or _default_scale(s.y),
        "; ".join(notes),
        s.subgroup,
    )


def regression_adjustment(
    y: ArrayLike,
    d: ArrayLike,
    X: pd.DataFrame,
    cluster: ArrayLike | None,
    estimand: WeightingEstimand = "ATT",
    *,
    outcome: str | None = None,
    subgroup: str = "",
    scale: str | None = None,
    leverage: bool = True,
) -> EffectEstimate:
    r"""Fully interacted linear regression (Lin 2013) with an influence-function SE.

    .. math::
        Y_i = \alpha + \tau D_i + (X_i - \bar X)'\beta + D_i (X_i - \bar X)'\gamma + \varepsilon_i

    with :math:`\bar X` the mean over the treated (ATT) or over everyone (ATE). Interacting
    every confounder with treatment fits a separate linear model per arm, so the effect may vary
    with X; centring makes the coefficient on D the average of
    :math:`\hat m_1(x) - \hat m_0(x)` over the target population, i.e. the regression-adjustment
    (imputation, g-computation) ATT or ATE, with :math:`\hat m_d` the OLS of Y on
    :math:`x = (1, X)` in arm d. A model with D and X only would estimate a variance-weighted
    average of effects, not the ATT, when effects are heterogeneous. ``X`` holds the
    confounders, including the site and start-quarter dummies, which are the fixed effects.

    SE: the M-estimation sandwich that stacks the centring means with the arm regressions, so
    it counts the sampling variability of :math:`\bar X` (which moves :math:`\hat\tau` by
    :math:`(\bar X - E[X])'\gamma` when effects vary with X; the regression's own CR1 SE treats
    :math:`\bar X` as fixed and is too small then: Imbens and Wooldridge 2009).
    With :math:`b_d = (X_d'X_d)^{-1} X_d'Y_d` the arm-d OLS coefficients, :math:`e_i` the residual
    of unit i in its own arm, :math:`\bar x_T` and :math:`\bar x` the treated and sample means of
    :math:`x`, the influence functions (:math:`\hat\tau - \tau \approx \sum_i \phi_i`) are

    .. math::
        \text{ATT: } \phi_i = \frac{D_i (Y_i - x_i'b_0 - \hat\tau)}{n_1}
                      - (1-D_i)\, \bar x_T'(X_0'X_0)^{-1} x_i e_i

        \text{ATE: } \phi_i = \frac{x_i'(b_1 - b_0) - \hat\tau}{n}
                      + D_i\, \bar x'(X_1'X_1)^{-1} x_i e_i - (1-D_i)\, \bar x'(X_0'X_0)^{-1} x_i e_i

    and :math:`V = \frac{G}{G-1}\sum_g \big(\sum_{i\in g}\phi_i\big)^2` clustered by ``cluster``
    (the allocated worker), or :math:`\sum_i \phi_i^2` (HC0) with ``None``, as for the weighting
    estimators (:func:`_variance_of_mean`). They are computed in the equivalent form read off
    the interacted regression, :math:`\phi_i = [(M'M)^{-1} M_i]_D\, e_i + \hat\gamma'(X_i - \bar X) w_i`
    with :math:`w_i = D_i/n_1` (ATT) or :math:`1/n` (ATE), which stays consistent with the
    coefficient when collinear columns are dropped. With ``leverage=False`` and without clusters
    this is the SE of statsmodels ``TreatmentEffect.ra`` (equality tested), the analogue of Stata
    ``teffects ra``.

    With ``leverage=True`` (the default) the residuals are CR2-adjusted first (HC2 without
    clusters; :func:`_lin_influence`), the variance has no ``G/(G-1)`` factor and the interval
    and p-value use t(G-1): the interacted design has many columns per arm (54 on about 900
    clients in a small extract), and the unadjusted sandwich was 11-12% low there
    (docs/validation.md, "Why the clustered SEs fall short").
    """
    if estimand not in get_args(WeightingEstimand):
        raise ValueError(f"estimand must be 'ATT' or 'ATE', got {estimand!r}")
    s = _sample(y, d, "regression_adjustment", outcome, subgroup)
    x = s.take(X, "X")
    codes = s.codes(cluster)
    _check_clusters(s, codes, "cluster")
    centre = x[s.d == 1].mean(axis=0) if estimand == "ATT" else x.mean(axis=0)
    p = x.shape[1]
    M = _design(1.0, s.d, x, x)
    M[:, 2 : 2 + p] -= centre
    np.multiply(M[:, 2 : 2 + p], s.d[:, None], out=M[:, 2 + p :])
    del x
    M, gram, keep = _prune(M)
    if not keep[1]:
        raise s.error(
            "treatment",
            "is collinear with the confounders",
            "the treated and control groups must overlap in the confounders",
        )
    est, psi = _lin_influence(s.y, s.d, M, gram, keep, p, estimand, codes if leverage else _NO_ADJUSTMENT)
    se = math.sqrt(_variance(psi, codes, leverage))
    notes = [
        f"fully interacted OLS (Lin 2013), X centred at the {'treated' if estimand == 'ATT' else 'sample'} means",
        _ra_note(codes, leverage),
    ]
    if (~keep).any():
        notes.append(f"{int((~keep).sum())} collinear columns dropped")
    df = _cr2_df(codes, leverage)
    return s.result(estimand, est, se, scale or _default_scale(s.y), notes, influence=psi, cr2=leverage, df=df)


def _lin_influence(
    y: FloatArray,
    d: FloatArray,
    M: FloatArray,
    gram: FloatArray,
    keep: npt.NDArray[np.bool_],
    p: int,
    estimand: WeightingEstimand,
    codes: npt.NDArray[np.int64] | None | object = None,
) -> tuple[float, FloatArray]:
    r"""The D coefficient of the interacted regression and its influence function (mean scale).

    ``M`` is the pruned design ``[1, D, X - c, D (X - c)]`` (``keep`` says which of its
    ``2 + 2p`` columns are left) and ``gram`` its Gram matrix. Stacking the centring mean
    :math:`c` (moments :math:`w_i (X_i - c)`, :math:`w = D/\bar D` or 1) with the normal equations
    :math:`M_i(c) e_i`: the Jacobian of the normal equations in :math:`c` is
    :math:`\overline{M_i (\beta + D_i\gamma)'}`, whose image under the bread is :math:`\gamma'` in
    the row of D (:math:`\beta + D\gamma` is spanned by the columns 1 and D), so

    .. math::
        \psi_i = n [(M'M)^{-1} M_i]_D\, e_i + \hat\gamma'(X_i - c)\, w_i, \qquad
        \widehat{Var}(\hat\tau) = \sum_i \psi_i^2 / n^2

    The coefficient of a dropped column is 0; an interaction is kept only if its main effect
    is, so :math:`\hat\gamma'(X_i - c)` is a product with the kept columns of ``M``.

    Unless ``codes`` is ``_NO_ADJUSTMENT``, :math:`e` is replaced by the CR2-adjusted residuals of
    the interacted regression (:func:`_cr2_residuals`, clusters ``codes``; HC2 with ``None``), so
    the OLS part of the variance is Bell and McCaffrey's CR2, and the centring term is scaled by
    :func:`~deepvalue.effects.cr2._centring_shrinkage` so that it no longer carries the sampling
    noise of :math:`\hat\gamma`.
    """
    n = y.size
    norms = np.sqrt(np.diag(gram))
    unit = np.zeros(gram.shape[0])
    unit[1] = 1.0  # D stays the second column: the intercept is never dropped, D is checked
    rhs = np.column_stack([(y @ M) / norms, unit / norms])
    sol = np.linalg.solve(gram / np.outer(norms, norms), rhs) / norms[:, None]
    beta, row = sol[:, 0], sol[:, 1]  # coefficients; row D of (M'M)^{-1}
    coef = np.zeros(keep.size)
    coef[keep] = beta
    slope = np.zeros(keep.size)  # gamma placed on the centred main-effect columns
    slope[2 : 2 + p] = coef[2 + p :]
    fitted, lever, shift = (M @ np.column_stack([beta, row, slope[keep]])).T
    weight = d / d.mean() if estimand == "ATT" else 1.0
    resid = y - fitted
    kappa = 1.0
    if codes is not _NO_ADJUSTMENT:
        resid = _cr2_residuals(codes, M, resid, gram)  # type: ignore[arg-type]
        pos = np.cumsum(keep) - 1  # column of the pruned design
        inter = np.flatnonzero(keep[2 + p :])  # covariates whose interaction is kept
        kappa = _centring_shrinkage(
            codes,  # type: ignore[arg-type]
            M,
            resid,
            gram,
            pos[2 + p + inter],
            beta[pos[2 + p + inter]],
            M[:, pos[2 + inter]],
            weight,
        )
    psi = n * lever * resid + kappa * shift * weight
    return float(beta[1]), psi


# Passed as ``codes`` to :func:`_lin_influence`: no leverage adjustment (the HC0/CR1-type sandwich).
_NO_ADJUSTMENT = object()


def _ra_note(codes: npt.NDArray[np.int64] | None, leverage: bool = False) -> str:
    what = "influence function including the variability of the covariate means"
    if leverage:
        return _cr2_note(codes, what)
    if codes is None:
        return f"SE: {what} (robust, HC0)"
    return f"SE: {what}, cluster-robust by {CLUSTER_NAME} ({int(codes.max()) + 1} clusters)"


def logit_ame(
    y: ArrayLike,
    d: ArrayLike,
    X: pd.DataFrame,
    cluster: ArrayLike | None,
    estimand: WeightingEstimand = "ATT",
    *,
    outcome: str | None = None,
    subgroup: str = "",
) -> EffectEstimate:
    r"""Average marginal effect of treatment from a logit model (binary outcomes; statsmodels).

    Fits :math:`P(Y=1|D,X) = \Lambda(\alpha + \tau D + X'\beta)` by maximum likelihood with a
    cluster-robust covariance (statsmodels ``cov_type="cluster"``: CR1 with
    ``G/(G-1) (N-1)/(N-K)``; HC0 when ``cluster`` is None). The effect is the average discrete
    change over the target population S (the treated for ATT, everyone for ATE):

    .. math::
        \widehat{AME} = \frac{1}{|S|}\sum_{i\in S} \Lambda(\eta_{i1}) - \Lambda(\eta_{i0}),
        \qquad \eta_{id} = \hat\alpha + \hat\tau d + X_i'\hat\beta

    with delta-method SE :math:`\sqrt{g'\hat V g}`, where

    .. math::
        g = \frac{1}{|S|}\sum_{i\in S} \lambda(\eta_{i1}) (1, 1, X_i) - \lambda(\eta_{i0}) (1, 0, X_i),
        \quad \lambda = \Lambda(1-\Lambda).

    The SE conditions on the covariates of S (Stata ``margins`` default), so it omits the
    sampling variance of the covariate distribution. The ATE version equals statsmodels
    ``get_margeff(at="overall", dummy=True)`` for D.
    """
    if estimand not in get_args(WeightingEstimand):
        raise ValueError(f"estimand must be 'ATT' or 'ATE', got {estimand!r}")
    s = _sample(y, d, "logit_ame", outcome, subgroup)
    if not np.isin(s.y, (0.0, 1.0)).all():
        raise s.error(
            s.outcome or "y", "is not binary (0/1)", "use regression_adjustment for continuous and count outcomes"
        )
    x = s.take(X, "X")
    codes = s.codes(cluster)
    _check_clusters(s, codes, "cluster")
    # column-major (as _design builds it): statsmodels' Hessian X'diag(w)X is about a third
    # faster on it at a million rows
    M = _design(1.0, s.d, x)
    del x
    M, _, keep = _prune(M)
    if not keep[1]:
        raise s.error(
            "treatment",
            "is collinear with the confounders",
            "the treated and control groups must overlap in the confounders",
        )
    notes = [f"logit AME over the {'treated' if estimand == 'ATT' else 'sample'}, delta-method SE"]
    if codes is None:
        fit_kw: dict = {"cov_type": "HC0"}
        notes.append("SE: robust (HC0)")
    else:
        fit_kw = {"cov_type": "cluster", "cov_kwds": {"groups": codes}}
        notes.append(f"SE: cluster-robust by {CLUSTER_NAME} (CR1, {int(codes.max()) + 1} clusters)")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        warnings.simplefilter("always", PerfectSeparationWarning)
        res = sm.Logit(s.y, M).fit(method="newton", maxiter=100, disp=0, **fit_kw)
    if not res.mle_retvals.get("converged", True) or any(
        issubclass(w.category, (ConvergenceWarning, PerfectSeparationWarning)) for w in caught
    ):
        notes.append("logit did not converge cleanly (quasi-separation: some cell has all 0 or all 1)")
    if (~keep).any():
        notes.append(f"{int((~keep).sum())} collinear columns dropped")
    beta = np.asarray(res.params)
    target = s.d == 1 if estimand == "ATT" else np.ones(s.y.size, dtype=bool)
    Ms = M[target]
    eta_base = Ms @ beta - Ms[:, 1] * beta[1]  # linear predictor with D = 0
    p1, p0 = _expit(eta_base + beta[1]), _expit(eta_base)
    est = float(np.mean(p1 - p0))
    lam1, lam0 = p1 * (1 - p1), p0 * (1 - p0)
    grad = (lam1 - lam0) @ Ms / Ms.shape[0]
    grad[1] = lam1.mean()  # d eta_1 / d tau = 1, d eta_0 / d tau = 0
    se = math.sqrt(float(grad @ np.asarray(res.cov_params()) @ grad))
    return s.result(estimand, est, se, "risk_difference", notes)


def matched_regression(
    y: ArrayLike,
    d: ArrayLike,
    weights: ArrayLike,
    subclass: ArrayLike | None,
    replace: bool,
    *,
    outcome: str | None = None,
    subgroup: str = "",
    scale: str | None = None,
) -> EffectEstimate:
    r"""Weighted regression of Y on D in the matched sample (ATT), MatchIt's recommended practice.

    .. math::
        \hat\tau = \frac{\sum_i w_i D_i Y_i}{\sum_i w_i D_i} - \frac{\sum_i w_i (1-D_i) Y_i}{\sum_i w_i (1-D_i)}

    the coefficient on D in the weighted least squares fit of :math:`Y = \alpha + \tau D`, with
    the matching weights ``weights`` (1 for matched treated; the sum of 1/k shares for each
    control, rescaled by the matcher). Rows with weight 0 or missing (unmatched) are dropped.

    SE:

    - without replacement, CR1 cluster-robust by matched set ``subclass``: MatchIt's
      "Estimating Effects After Matching" guide, justified by Abadie and Spiess (2021), who
      show that clustering on matched sets gives valid SEs after matching without replacement;
    - with replacement a control belongs to several sets, so the sets do not partition the
      units and cannot be clusters; following DESIGN, HC3 (MacKinnon and White 1985) on the
      weighted regression, as statsmodels ``WLS(...).fit(cov_type="HC3")`` (linearmodels has
      no HC3). ``subclass`` is ignored. Clustering on both set and unit, MatchIt's other
      option, needs one row per (set, unit), which the matching stage does not write. Neither
      SE accounts for the estimation of the propensity score used to match.
    """
    w_all = _floats(weights, "weights")
    matched = np.isfinite(w_all) & (w_all > 0)
    s = _sample(
        y,
        d,
        "matched_regression",
        outcome,
        subgroup,
        extra_keep=matched,
        extra_reason="not in the matched sample (weight 0 or missing)",
    )
    w = w_all[s.keep]
    M = np.column_stack([np.ones(s.y.size), s.d])
    notes = ["WLS of outcome on treatment in the matched sample"]
    if not replace:
        if subclass is None:
            raise s.error(
                "subclass",
                "is required when matching was without replacement",
                "pass the matched-set id written by the matching stage",
            )
        codes = s.codes(subclass, "subclass")
        _check_clusters(s, codes, "subclass")
        est, se = _least_squares(s.y, M, codes, weights=w).coef(1)
        notes.append(_linear_note(codes, "matched set"))
    else:
        est, se = _wls_hc3(s.y, M, w, column=1)
        notes.append("SE: HC3 (matching with replacement)")
    return s.result("ATT", est, se, scale or _default_scale(s.y), notes)


def _wls_hc3(y: FloatArray, M: FloatArray, w: FloatArray, column: int) -> tuple[float, float]:
    r"""WLS coefficient and HC3 SE: :math:`B \sum_i \tilde x_i \tilde x_i' \tilde e_i^2/(1-h_i)^2 B`.

    On the whitened data :math:`\tilde x = \sqrt{w} x`, :math:`\tilde e = \sqrt{w} e`, with
    :math:`B = (\tilde X'\tilde X)^{-1}` and leverage :math:`h_i = \tilde x_i' B \tilde x_i`
    (the definition statsmodels ``WLS(...).fit(cov_type="HC3")`` uses).
    """
    sw = np.sqrt(w)
    Mt, yt = M * sw[:, None], y * sw
    bread = np.linalg.inv(Mt.T @ Mt)
    beta = bread @ (Mt.T @ yt)
    resid = yt - Mt @ beta
    lever = np.einsum("ij,jk,ik->i", Mt, bread, Mt)
    u = Mt * (resid / (1.0 - lever))[:, None]
    cov = bread @ (u.T @ u) @ bread
    return float(beta[column]), float(math.sqrt(cov[column, column]))
