"""Instrumental variables: the first stage (with its F statistic) and 2SLS on the instrument
(the first worker left during the exposure window), cluster-robust.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from deepvalue.effects.base import (
    ArrayLike,
    EffectEstimate,
    FloatArray,
    _check_clusters,
    _default_scale,
    _design,
    _floats,
    _independent_columns,
    _least_squares,
    _linear_note,
    _LinearFit,
    _Sample,
    _sample,
)

WEAK_INSTRUMENT_F = 10.0  # Staiger and Stock (1997) rule of thumb for one instrument


# ----------------------------------------------------------------------------------------------
# instrument and dose-response
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FirstStage:
    """Strength of the instrument: regression of D on the instrument and the confounders.

    ``f_stat`` is the cluster-robust Wald statistic of the instrument's coefficient (with one
    instrument, the robust F: linearmodels ``first_stage.diagnostics["f.stat"]``).
    """

    f_stat: float
    partial_r2: float
    coefficient: float
    std_error: float
    n: int
    n_clusters: int

    def describe(self) -> str:
        return (
            f"first-stage effective F = {self.f_stat:.1f} (Montiel Olea-Pflueger 2013; with one instrument the "
            f"cluster-robust Wald F, {self.n_clusters} clusters; 23.1 is the 10% worst-case-bias threshold, "
            f"Andrews, Stock and Sun 2019), partial R2 = {self.partial_r2:.4f}"
        )


def weak_instrument(first: FirstStage | float, threshold: float = WEAK_INSTRUMENT_F) -> bool:
    """True when the first-stage F is below ``threshold`` (default 10: Staiger and Stock 1997).

    A weak instrument biases 2SLS toward OLS and makes Wald intervals unreliable; the caller
    then writes :func:`skipped_estimate` with the reason instead of the 2SLS row.

    Examples
    --------
    >>> weak_instrument(4.2), weak_instrument(35.0)
    (True, False)
    """
    f = first.f_stat if isinstance(first, FirstStage) else float(first)
    return not (f >= threshold)  # NaN counts as weak


def _iv_sample(
    y: ArrayLike | None, d: ArrayLike, z: ArrayLike, method: str, outcome: str | None, subgroup: str
) -> tuple[_Sample, FloatArray]:
    zz = _floats(z, "z")
    known = ~np.isnan(zz)
    yy = np.zeros(zz.size) if y is None else y
    s = _sample(
        yy,
        d,
        method,
        outcome if y is not None else (outcome or ""),
        subgroup,
        extra_keep=known,
        extra_reason="with unknown instrument",
    )
    zk = zz[s.keep]
    if np.ptp(zk) == 0:
        raise s.error(
            "first_worker_left",
            "the instrument does not vary in the measured rows",
            "the instrument needs clients whose first worker left and clients whose did not",
        )
    return s, zk


@dataclass(frozen=True)
class _Exog:
    """The exogenous design [1, X] without collinear columns, and its Gram matrix."""

    W: FloatArray
    gram: FloatArray
    dropped: int


def _exog(s: _Sample, X: pd.DataFrame, lead: FloatArray) -> _Exog:
    """[1, X] without collinear columns, checked against ``lead`` (the regressor of interest)."""
    W = _design(1.0, s.take(X, "X"))
    Wl = W.T @ lead
    gram = W.T @ W
    keep = _independent_columns(np.block([[gram, Wl[:, None]], [Wl[None, :], np.array([[lead @ lead]])]]))
    if not keep[-1]:
        raise s.error(
            None,
            "the regressor of interest is collinear with the confounders",
            "it must vary within levels of the confounders",
        )
    keep = keep[:-1]
    if keep.all():
        return _Exog(W, gram, 0)
    return _Exog(W[:, keep], gram[np.ix_(keep, keep)], int((~keep).sum()))


def _ols_on(y: FloatArray, ex: _Exog, lead: FloatArray, codes: npt.NDArray[np.int64] | None) -> _LinearFit:
    """OLS of y on [W, lead] without copying W: 2SLS with ``lead`` as its own instrument."""
    return _least_squares(y, ex.W, codes, endog=lead[:, None], instruments=lead[:, None], gram=ex.gram)


def _first_stage(s: _Sample, ex: _Exog, zk: FloatArray, codes: npt.NDArray[np.int64] | None) -> FirstStage:
    fit = _ols_on(s.d, ex, zk, codes)
    coef, se = fit.coef(ex.W.shape[1])
    # partial R2: squared correlation of D and Z after both are residualised on W (as linearmodels)
    dz = np.column_stack([s.d, zk])
    cross = ex.W.T @ dz
    part = dz.T @ dz - cross.T @ np.linalg.solve(ex.gram, cross)  # 2 x 2, residualised D and Z
    partial = float(part[0, 1] ** 2 / (part[0, 0] * part[1, 1]))
    n_clusters = fit.n_clusters if fit.n_clusters is not None else fit.n
    return FirstStage((coef / se) ** 2, partial, coef, se, fit.n, n_clusters)


def iv_first_stage(
    d: ArrayLike,
    z: ArrayLike,
    X: pd.DataFrame,
    cluster: ArrayLike | None,
    *,
    y: ArrayLike | None = None,
    subgroup: str = "",
) -> FirstStage:
    r"""First stage :math:`D = \pi Z + X'\delta + v` with CR1 cluster-robust :math:`F = (\hat\pi/SE)^2`.

    Pass ``y`` to use the rows where that outcome is measured, the sample :func:`iv_2sls` uses.
    Rows with an unknown instrument are dropped. With one instrument this F equals
    linearmodels' ``first_stage.diagnostics["f.stat"]`` for the same covariance (tested).
    """
    s, zk = _iv_sample(y, d, z, "iv_first_stage", None, subgroup)
    codes = s.codes(cluster)
    _check_clusters(s, codes, "cluster")
    return _first_stage(s, _exog(s, X, zk), zk, codes)


def iv_2sls(
    y: ArrayLike,
    d: ArrayLike,
    z: ArrayLike,
    X: pd.DataFrame,
    cluster: ArrayLike | None,
    *,
    outcome: str | None = None,
    subgroup: str = "",
    scale: str | None = None,
) -> EffectEstimate:
    r"""Two-stage least squares of Y on D instrumented by Z, with exogenous X.

    .. math::
        D = \pi Z + X'\delta + v, \qquad Y = \tau \hat D + X'\beta + \varepsilon

    :math:`\hat\tau` is the local average treatment effect (LATE) of continuity for compliers,
    clients whose continuity was broken because their first worker left (Imbens and Angrist
    1994), under exclusion (the departure affects outcomes only through continuity) and
    monotonicity. SE cluster-robust by the allocated (first) worker (CR1), the estimator of linearmodels
    ``IV2SLS(...).fit(cov_type="clustered", debiased=True)`` (see :func:`_least_squares`;
    equality tested). ``notes`` carry the first-stage F (:func:`iv_first_stage`); the caller
    checks :func:`weak_instrument` before reporting. Rows with an unknown instrument are dropped.
    """
    s, zk = _iv_sample(y, d, z, "iv_2sls", outcome, subgroup)
    codes = s.codes(cluster)
    _check_clusters(s, codes, "cluster")
    ex = _exog(s, X, zk)
    first = _first_stage(s, ex, zk, codes)
    fit = _least_squares(s.y, ex.W, codes, endog=s.d[:, None], instruments=zk[:, None], gram=ex.gram)
    est, se = fit.coef(ex.W.shape[1])
    notes = [
        "2SLS, instrument: first worker left in the exposure window",
        first.describe(),
        _linear_note(codes),
        "with unsaturated covariates 2SLS is not a convex average of covariate-specific LATEs (Blandhol, "
        "Bonney, Mogstad and Torgovitsky 2022): read it as a LATE only if the first stage is similar across them",
    ]
    ar = _anderson_rubin(s, ex, zk, codes)
    notes.append(ar.describe())
    if weak_instrument(first):
        notes.append(f"weak instrument (F < {WEAK_INSTRUMENT_F:g}): read the Anderson-Rubin set, not the SE")
    if ex.dropped:
        notes.append(f"{ex.dropped} collinear columns dropped")
    row = s.result("LATE", est, se, scale or _default_scale(s.y), notes)
    # the CI and p-value are the Anderson-Rubin ones, valid however weak the instrument; the SE is
    # the 2SLS Wald SE (unbounded sets are written as infinite limits)
    lo, hi = (ar.lower, ar.upper) if ar.kind == "bounded" else (-np.inf, np.inf)
    return dataclasses.replace(row, ci_lower=float(lo), ci_upper=float(hi), p_value=ar.p_value)


def departure_reduced_form(
    y: ArrayLike,
    d: ArrayLike,
    z: ArrayLike,
    X: pd.DataFrame,
    cluster: ArrayLike | None,
    *,
    outcome: str | None = None,
    subgroup: str = "",
    scale: str | None = None,
) -> EffectEstimate:
    r"""The reduced form: the effect on the outcome of the allocated worker leaving in the window.

        .. math::
            Y =
    ho Z + X'eta + u

        by OLS with the same confounders and clustering as :func:`iv_2sls` (CR1; linearmodels'
        estimator). :math:`\hat
    ho` is the intention-to-treat effect of a departure (estimand
        ``ITT``); it needs no exclusion restriction to be causal for the departure itself, only that
        departures are as good as random given X, and :math:`\hat
    ho / \hat\pi` (the first stage) is
        the 2SLS effect. The notes give the first stage: how much a departure lowers continuity.
    """
    s, zk = _iv_sample(y, d, z, "departure_reduced_form", outcome, subgroup)
    codes = s.codes(cluster)
    _check_clusters(s, codes, "cluster")
    ex = _exog(s, X, zk)
    first = _first_stage(s, ex, zk, codes)
    fit = _least_squares(s.y, np.column_stack([ex.W, zk]), codes)
    est, se = fit.coef(ex.W.shape[1])
    notes = [
        "OLS of the outcome on the allocated worker leaving in the exposure window (intention to treat)",
        f"first stage: a departure changes the continuous share by {first.coefficient:+.3f} (SE {first.std_error:.3f})",
        _linear_note(codes),
    ]
    if ex.dropped:
        notes.append(f"{ex.dropped} collinear columns dropped")
    return s.result("ITT", est, se, scale or _default_scale(s.y), notes)


AR_LEVEL = 0.95


@dataclass(frozen=True)
class AndersonRubin:
    """The Anderson-Rubin (1949) confidence set for the IV effect and the AR test of no effect.

    ``kind`` is ``bounded`` (``[lower, upper]``), ``rays`` (everything outside ``(lower, upper)``),
    ``everything`` (no value can be rejected) or ``empty``.
    """

    lower: float
    upper: float
    kind: str
    p_value: float

    def describe(self) -> str:
        what = {
            "bounded": f"[{self.lower:.4g}, {self.upper:.4g}]",
            "rays": f"(-inf, {self.lower:.4g}] and [{self.upper:.4g}, inf)",
            "everything": "the whole line",
            "empty": "empty",
        }[self.kind]
        return (
            f"Anderson-Rubin 95% set (weak-instrument robust, same clustering): {what}; "
            f"AR p of no effect {self.p_value:.3g}"
        )


def _anderson_rubin(s: _Sample, ex: _Exog, zk: FloatArray, codes: npt.NDArray[np.int64] | None) -> AndersonRubin:
    """Invert the cluster-robust test of the instrument's coefficient in Y - b D on [Z, W].

    With the instrument residualised on W (Frisch-Waugh), the reduced-form coefficients of Y and D
    on Z are g and p with joint CR1 covariance V; b is in the set when
    (g - b p)^2 <= c (V_yy - 2 b V_yd + b^2 V_dd), c the chi2(1) critical value: a quadratic in b.
    """
    from scipy import stats

    W = ex.W
    proj = lambda v: v - W @ np.linalg.solve(ex.gram, W.T @ v)  # noqa: E731
    zt, yt, dt = proj(zk), proj(s.y), proj(s.d)
    szz = float(zt @ zt)
    g, pi = float(zt @ yt) / szz, float(zt @ dt) / szz
    a, b = zt * (yt - g * zt) / szz, zt * (dt - pi * zt) / szz
    n, k = s.y.size, W.shape[1] + 1
    if codes is None:
        sa, sb, corr = a, b, n / (n - k)
    else:
        G = int(codes.max()) + 1
        sa, sb = np.bincount(codes, weights=a, minlength=G), np.bincount(codes, weights=b, minlength=G)
        corr = G / (G - 1) * (n - 1) / (n - k)
    vyy, vyd, vdd = corr * float(sa @ sa), corr * float(sa @ sb), corr * float(sb @ sb)
    c = float(stats.chi2.ppf(AR_LEVEL, 1))
    A, B, C = pi**2 - c * vdd, -2.0 * (g * pi - c * vyd), g**2 - c * vyy
    p0 = float(stats.chi2.sf(g**2 / vyy, 1)) if vyy > 0 else float("nan")
    disc = B * B - 4 * A * C
    if A > 0:
        if disc < 0:
            return AndersonRubin(float("nan"), float("nan"), "empty", p0)
        r = np.sqrt(disc)
        return AndersonRubin((-B - r) / (2 * A), (-B + r) / (2 * A), "bounded", p0)
    if disc > 0 and A < 0:
        r = np.sqrt(disc)
        lo, hi = sorted(((-B - r) / (2 * A), (-B + r) / (2 * A)))
        return AndersonRubin(lo, hi, "rays", p0)
    return AndersonRubin(-np.inf, np.inf, "everything", p0)


def anderson_rubin(
    y: ArrayLike, d: ArrayLike, z: ArrayLike, X: pd.DataFrame, cluster: ArrayLike | None, *, subgroup: str = ""
) -> AndersonRubin:
    """The Anderson-Rubin set of :func:`iv_2sls`'s effect on the same rows (:class:`AndersonRubin`)."""
    s, zk = _iv_sample(y, d, z, "anderson_rubin", None, subgroup)
    codes = s.codes(cluster)
    _check_clusters(s, codes, "cluster")
    return _anderson_rubin(s, _exog(s, X, zk), zk, codes)
