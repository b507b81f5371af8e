"""Instrumental variables: the first stage (with its F statistic) and 2SLS on the instrument
(the first worker left during the exposure window), cluster-robust.
"""

from __future__ import annotations

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
            f"first-stage F = {self.f_stat:.1f} (cluster-robust Wald, 1 instrument, "
            f"{self.n_clusters} clusters), partial R2 = {self.partial_r2:.4f}"
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
    if weak_instrument(first):
        notes.append(f"weak instrument (F < {WEAK_INSTRUMENT_F:g})")
    if ex.dropped:
        notes.append(f"{ex.dropped} collinear columns dropped")
    return s.result("LATE", est, se, scale or _default_scale(s.y), notes)
