"""Within-worker estimates: continuity compared among the clients of the same allocated worker.

A good worker may both keep their clients and get better outcomes; comparing continuous and
fragmented clients of the *same* allocated worker removes everything about the worker that is
fixed (quality, caseload, site), the design of the continuity literature's within-clinician
comparisons. Only workers with clients in both arms identify the effect; the rows' notes count
them and their clients.

- ``within_worker_regression``: Lin's fully interacted regression adjustment
  (:func:`deepvalue.effects.linear.regression_adjustment`) with allocated-worker fixed effects,
  absorbed by demeaning within worker (one fixed effect: the within transformation is exact in one
  pass, no alternating projections), equal to pyfixest ``feols("y ~ d + x + d:x | worker")``.
- ``within_worker_aipw``: AIPW on the clients of workers with both arms, with outcome models that
  have arm-specific worker fixed effects and a propensity score that conditions on the worker
  through its leave-one-out share of continuous clients and its clients' mean covariates (the
  Mundlak 1978 device; a logit with one dummy per worker would suffer from the incidental
  parameters problem at 30-50 clients per worker).

SEs are clustered by the allocated worker.
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from typing import TYPE_CHECKING, get_args

import numpy as np
import numpy.typing as npt
import pandas as pd

from deepvalue.effects.base import (
    ArrayLike,
    EffectEstimate,
    FloatArray,
    WeightingEstimand,
    _default_scale,
    _design,
    _prune,
    _sample,
)
from deepvalue.effects.cr2 import (
    _centring_shrinkage,
    _cr2_df,
    _cr2_mean_residuals,
    _cr2_note,
    _cr2_residuals,
    _variance,
)

if TYPE_CHECKING:
    from deepvalue.adjust.propensity import Penalty


def _demean(A: FloatArray, codes: npt.NDArray[np.int64]) -> FloatArray:
    """Columns of ``A`` minus their mean within each group (the within transformation)."""
    counts = np.bincount(codes).astype(float)
    A = np.asarray(A, dtype=float)
    if A.ndim == 1:
        return A - (np.bincount(codes, weights=A) / counts)[codes]
    out = np.empty_like(A, order="F")
    for j in range(A.shape[1]):  # a loop over columns (a few dozen), each column vectorised
        out[:, j] = A[:, j] - (np.bincount(codes, weights=A[:, j]) / counts)[codes]
        # a column constant within every worker (the worker's site) leaves rounding noise of order
        # 1e-16, which a scaled collinearity check would keep as a column of its own: make it 0
        if np.abs(out[:, j]).max() <= 1e-10 * max(1.0, float(np.abs(A[:, j]).max())):
            out[:, j] = 0.0
    return out


def worker_support(d: FloatArray, codes: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.bool_], int, int]:
    """(clients of workers with both arms, number of workers, number of such workers)."""
    treated = np.bincount(codes, weights=d)
    total = np.bincount(codes).astype(float)
    both = (treated > 0) & (treated < total)
    return both[codes], int((total > 0).sum()), int(both.sum())


def _support_note(d, codes) -> str:
    rows, n_workers, n_both = worker_support(d, codes)
    return (
        f"{n_both} of {n_workers} allocated workers have both continuous and fragmented clients; "
        f"their {int(rows.sum())} clients identify the effect"
    )


def within_worker_regression(
    y: ArrayLike,
    d: ArrayLike,
    X: pd.DataFrame,
    worker: ArrayLike,
    estimand: WeightingEstimand = "ATT",
    *,
    outcome: str | None = None,
    subgroup: str = "",
    scale: str | None = None,
    leverage: bool = True,
) -> EffectEstimate:
    r"""Interacted regression adjustment with allocated-worker fixed effects (ATT or ATE).

    .. math::
        Y_i = \alpha_{w(i)} + \tau D_i + (X_i - c)'\beta + D_i (X_i - c)'\gamma + \varepsilon_i

    with :math:`c` the treated (ATT) or sample (ATE) means of X, fitted by OLS after demeaning
    every column within worker. :math:`\hat\tau` is then the average over the target population of
    the within-worker conditional effect :math:`\tau + (X_i - c)'\gamma`. The influence function is
    that of the Lin estimator with the demeaned design :math:`\tilde M`:

    .. math::
        \psi_i = n [(\tilde M'\tilde M)^{-1}\tilde M_i]_D\, \tilde e_i + \hat\gamma'(X_i - c)\, w_i,
        \qquad w_i = D_i / \bar D \text{ (ATT) or } 1 \text{ (ATE)}

    (a shift of :math:`c` by :math:`\delta` moves :math:`\hat\tau` by :math:`\hat\gamma'\delta`
    whether or not the worker effects are absorbed), and :math:`\widehat{Var} = \frac{G}{G-1}
    \sum_g (\sum_{i\in g}\psi_i)^2 / n^2` clustered by worker. Columns constant within every worker
    (the worker's site) are absorbed and dropped.

    ``leverage`` (default): :math:`\tilde e` is CR2-adjusted with the demeaned design
    (:func:`~deepvalue.effects.base._cr2_residuals`), no ``G/(G-1)``, t(G-1) intervals. The
    worker effects are nested in the clusters, so their hat-matrix block is the within-worker
    mean, whose directions the demeaned residuals do not carry: the demeaned design gives the
    CR2 of the full dummy regression (Pustejovsky and Tipton 2018, on absorbed fixed effects);
    the centring term is scaled by :func:`~deepvalue.effects.cr2._centring_shrinkage`, which takes
    the sampling noise of :math:`\hat\gamma` out of its sum of squares.
    """
    if estimand not in get_args(WeightingEstimand):
        raise ValueError(f"estimand must be 'ATT' or 'ATE', got {estimand!r}")
    s = _sample(y, d, "within_worker_regression", outcome, subgroup)
    codes = s.codes(worker, "worker")
    if codes is None:
        raise ValueError("within_worker_regression needs the allocated worker of every client")
    _, _, n_both = worker_support(s.d, codes)
    if n_both == 0:
        raise s.error(
            "treatment",
            "does not vary within any allocated worker",
            "a within-worker comparison needs workers with both continuous and fragmented clients",
        )
    x = s.take(X, "X")
    centre = x[s.d == 1].mean(axis=0) if estimand == "ATT" else x.mean(axis=0)
    p = x.shape[1]
    xc = x - centre
    M = _demean(_design(s.d, xc, xc * s.d[:, None]), codes)
    yt = _demean(s.y, codes)
    M, gram, keep = _prune(M)
    if not keep[0]:
        raise s.error("treatment", "is collinear with the confounders within workers", "check the overlap")
    sol = np.linalg.solve(gram, np.column_stack([M.T @ yt, np.eye(gram.shape[0])[:, 0]]))
    beta, row = sol[:, 0], sol[:, 1]
    coef = np.zeros(keep.size)
    coef[keep] = beta
    gamma = coef[1 + p :]
    resid = yt - M @ beta
    n = s.y.size
    weight = s.d / s.d.mean() if estimand == "ATT" else np.ones(n)
    kappa = 1.0
    if leverage:
        # the CR2 adjustment depends on the design only through its column space, which the
        # centring (an invertible map of the columns) does not change: the ATT and ATE rows share
        # one adjustment, computed with the sample-centred design whichever row asks first
        resid = _cached(
            ("regression_cr2", _digest(s.y, s.d, x, codes)),
            lambda: _within_cr2_residuals(s.y, s.d, x, codes),
        )
        inter = np.flatnonzero(keep[1 + p :])  # covariates whose interaction is kept
        cols = (np.cumsum(keep) - 1)[1 + p + inter]
        kappa = _centring_shrinkage(codes, M, resid, gram, cols, beta[cols], xc[:, inter], weight)
    psi = n * (M @ row) * resid + kappa * (xc @ gamma) * weight
    se = math.sqrt(_variance(psi, codes, leverage))
    notes = [
        f"interacted OLS with allocated-worker fixed effects, X centred at the "
        f"{'treated' if estimand == 'ATT' else 'sample'} means",
        _support_note(s.d, codes),
        _cr2_note(codes, "influence function")
        if leverage
        else f"SE: influence function, cluster-robust by allocated worker ({int(codes.max()) + 1} clusters)",
    ]
    if (~keep).any():
        notes.append(f"{int((~keep).sum())} columns constant within workers or collinear dropped")
    df = _cr2_df(codes, leverage)
    return s.result(estimand, float(beta[0]), se, scale or _default_scale(s.y), notes, df=df)


def _within_cr2_residuals(y, d, x, codes) -> FloatArray:
    """CR2-adjusted residuals of the within-worker interacted regression, X centred at its sample mean."""
    xc = x - x.mean(axis=0)
    M, gram, _ = _prune(_demean(_design(d, xc, xc * d[:, None]), codes))
    yt = _demean(y, codes)
    resid = _cr2_residuals(codes, M, yt - M @ np.linalg.solve(gram, M.T @ yt), gram)
    resid.setflags(write=False)
    return resid


def _mundlak_names(X: pd.DataFrame | FloatArray) -> list[str]:
    """Column names of within_worker_aipw's propensity design: the confounders, their worker means and
    the worker's leave-one-out share of continuous clients (x0, x1, ... for an unnamed array)."""
    base = [str(c) for c in X.columns] if isinstance(X, pd.DataFrame) else [f"x{j}" for j in range(np.shape(X)[1])]
    return [*base, *(f"{c} (worker mean)" for c in base), "continuous share of the worker's other clients"]


#: Fits that the ATT and ATE rows of a population share, by a digest of their inputs: the CR2
#: residuals of within_worker_regression, within_worker_aipw's outcome models and its propensity
#: (which outcomes on the same clients share too) are computed once. Bounded, so a long
#: run of many populations keeps at most this many; the values are never modified in place.
_NUISANCES: OrderedDict[tuple, tuple] = OrderedDict()
_NUISANCES_KEPT = 8


def _digest(*arrays: np.ndarray) -> bytes:
    """A 128-bit digest of the arrays' shapes, dtypes and bytes (BLAKE2b)."""
    h = hashlib.blake2b(digest_size=16)
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.shape}{a.dtype.str}".encode())
        h.update(a.data)
    return h.digest()


def _cached(key: tuple, compute):
    """``compute()``, or its stored value for ``key`` (most recently used kept; exceptions not stored)."""
    if key in _NUISANCES:
        _NUISANCES.move_to_end(key)
        return _NUISANCES[key]
    value = compute()
    _NUISANCES[key] = value
    while len(_NUISANCES) > _NUISANCES_KEPT:
        _NUISANCES.popitem(last=False)
    return value


def _mundlak_propensity(x, dd, codes, names, penalty, C) -> tuple[FloatArray, int]:
    """(scores clipped to [0.01, 0.99], how many were clipped): the logit of D on X, the worker's mean
    of X and its leave-one-out share of continuous clients."""
    from deepvalue.adjust.propensity import fit_propensity

    counts = np.bincount(codes).astype(float)
    share_loo = (np.bincount(codes, weights=dd)[codes] - dd) / (counts[codes] - 1)
    xbar = np.column_stack([(np.bincount(codes, weights=x[:, j]) / counts)[codes] for j in range(x.shape[1])])
    Z, _, kept = _prune(_design(x, xbar, share_loo))
    # named columns, so that a separation is reported by covariate rather than by column number
    Z = pd.DataFrame(Z, columns=[c for c, k in zip(names, kept) if k])
    ps = fit_propensity(Z, dd.astype(int), penalty=penalty, C=C).score  # the project's logit
    clipped = int(((ps < 0.01) | (ps > 0.99)).sum())
    ps = np.clip(ps, 0.01, 0.99)
    ps.setflags(write=False)
    return ps, clipped


def _fixed_effects_outcome_models(x, yy, dd, codes, leverage) -> tuple[dict, dict]:
    """({arm: fitted m_d}, {arm: residuals, CR2-adjusted with ``leverage``}): OLS per arm with worker
    fixed effects (within transformation), the worker effect the arm's mean of Y - X'b."""
    counts = np.bincount(codes)
    m, r = {}, {}
    for arm in (0, 1):
        rows = dd == arm
        xa, gram, keep = _prune(_demean(x[rows], codes[rows]))
        b = np.linalg.lstsq(xa, _demean(yy[rows], codes[rows]), rcond=None)[0]
        slope = x[:, keep] @ b
        alpha = np.bincount(codes[rows], weights=(yy - slope)[rows], minlength=counts.size) / np.bincount(
            codes[rows], minlength=counts.size
        )
        m[arm] = alpha[codes] + slope
        r[arm] = yy - m[arm]
        if leverage and xa.shape[1]:
            placed = np.zeros((yy.size, xa.shape[1]))
            placed[rows] = xa
            r[arm] = _cr2_residuals(codes, placed, r[arm], gram, rows=rows)
        m[arm].setflags(write=False)
        r[arm].setflags(write=False)
    return m, r


def within_worker_aipw(
    y: ArrayLike,
    d: ArrayLike,
    X: pd.DataFrame,
    worker: ArrayLike,
    estimand: WeightingEstimand = "ATT",
    *,
    outcome: str | None = None,
    subgroup: str = "",
    scale: str | None = None,
    leverage: bool = True,
    penalty: Penalty = "none",
    C: float = 1.0,
) -> EffectEstimate:
    r"""AIPW within allocated workers (ATT or ATE) on the clients of workers with both arms.

    Outcome models: in arm d, :math:`m_d(x, w) = \hat\alpha^d_w + x'\hat b_d` by OLS with worker
    fixed effects (within transformation), :math:`\hat\alpha^d_w` the arm-d mean of
    :math:`Y - X'\hat b_d` among worker w's clients. Propensity: a logit of D on X, the worker's
    mean of X and its leave-one-out share of continuous clients :math:`\bar D_{w,-i}`
    (:func:`deepvalue.adjust.propensity.fit_propensity`, Newton's method, equal to statsmodels ``Logit``).
    The scores are those of :func:`deepvalue.effects.weighting.aipw` (ATE: Robins, Rotnitzky and
    Zhao 1994; ATT: the odds-weighted form), and the SE is :math:`\sqrt{\frac{G}{G-1}\sum_g
    (\sum_{i\in g}\psi_i)^2}/n` clustered by worker, treating the nuisance fits as fixed, which
    the estimating function's orthogonality justifies when both models are right. Scores are
    clipped to [0.01, 0.99] (counted in the notes).

    ``leverage`` (default): each arm's residuals are CR2-adjusted by its fixed-effects OLS (with
    the demeaned design, as in :func:`within_worker_regression`) and, for the ATT, the treated
    term by the treated mean; no ``G/(G-1)``, t(G-1) intervals.

    ``penalty`` and ``C``: the config's ``propensity`` keys, as for the other propensity models
    (``l2`` is the fix the separation message names).
    """
    if estimand not in get_args(WeightingEstimand):
        raise ValueError(f"estimand must be 'ATT' or 'ATE', got {estimand!r}")
    s = _sample(y, d, "within_worker_aipw", outcome, subgroup)
    codes = s.codes(worker, "worker")
    if codes is None:
        raise ValueError("within_worker_aipw needs the allocated worker of every client")
    support, n_workers, n_both = worker_support(s.d, codes)
    if n_both < 2:
        raise s.error(
            "treatment",
            f"varies within {n_both} allocated worker(s)",
            "a within-worker comparison needs at least 2 workers with both continuous and fragmented clients",
        )
    x = s.take(X, "X")[support]
    yy, dd = s.y[support], s.d[support]
    _, codes = np.unique(codes[support], return_inverse=True)
    # the nuisance fits do not depend on the estimand (the propensity not on the outcome either):
    # the ATT and ATE rows, and outcomes on one population, share them (see _NUISANCES)
    population = _digest(x, dd, codes)
    ps, clipped = _cached(
        ("propensity", population, tuple(_mundlak_names(X)), penalty, C),
        lambda: _mundlak_propensity(x, dd, codes, _mundlak_names(X), penalty, C),
    )
    m, r = _cached(
        ("outcome", population, _digest(yy), leverage),
        lambda: _fixed_effects_outcome_models(x, yy, dd, codes, leverage),
    )
    if estimand == "ATE":
        phi = m[1] - m[0] + dd * (yy - m[1]) / ps - (1 - dd) * (yy - m[0]) / (1 - ps)
        est = float(phi.mean())
        psi = m[1] - m[0] + dd * r[1] / ps - (1 - dd) * r[0] / (1 - ps) - est
    else:
        r0 = yy - m[0]
        num = dd * r0 - (1 - dd) * ps / (1 - ps) * r0
        est = float(num.sum() / dd.sum())
        treated = dd * (r0 - est)
        if leverage:
            treated = _cr2_mean_residuals(codes, dd, r0 - est) * dd
        psi = (treated - (1 - dd) * ps / (1 - ps) * r[0]) / dd.mean()
    se = math.sqrt(_variance(psi, codes, leverage))
    notes = [
        "AIPW with arm-specific worker fixed effects in the outcome models and a Mundlak propensity score "
        "(worker means of X, leave-one-out share of continuous clients)",
        f"{n_both} of {n_workers} allocated workers have both continuous and fragmented clients; "
        f"their {int(support.sum())} clients are the sample ({int((~support).sum())} others left out)",
        _cr2_note(codes, "influence function (nuisances fixed)")
        if leverage
        else f"SE: influence function (nuisances fixed), cluster-robust by allocated worker ({n_both} clusters)",
    ]
    if clipped:
        notes.append(f"{clipped} propensity scores clipped to [0.01, 0.99]")
    n_t = int(dd.sum())
    df = _cr2_df(codes, leverage)
    return s.result(
        estimand, est, se, scale or _default_scale(s.y), notes, n_treated=n_t, n_control=int(dd.size - n_t), df=df
    )
