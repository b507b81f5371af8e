"""DoWhy's four refuters of the primary (regression) estimate, computed with vectorised least
squares instead of one DoWhy regression per simulation.

The algorithms, random draws and readings are DoWhy 0.14's, step for step (``placebo_treatment_refuter``
with ``placebo_type="permute"``, ``random_common_cause``, ``data_subset_refuter`` and
``add_unobserved_common_cause`` by direct simulation; see :mod:`deepvalue.robustness.dowhy_refuters`,
which calls DoWhy itself): the same ``numpy.random.RandomState(seed)`` is consumed in the same order,
so the simulated effects equal DoWhy's to rounding (tests/unit/test_refuters.py runs both). What
changes is the cost: DoWhy refits a statsmodels regression per simulation (300 per outcome, about
3 s at 5,000 clients, plus 2.5 s to import DoWhy), where the placebo and random-common-cause
simulations here are one residualisation on the confounders (Frisch-Waugh-Lovell) and a few column
products, and the subsets one small least-squares solve each. docs/design.md, "Refuters".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from deepvalue.robustness.dowhy_model import OUTCOME, TREATMENT, _prepare
from deepvalue.robustness.dowhy_refuters import (
    REFUTER_MAX_ROWS,
    REFUTER_SIMULATIONS,
    REFUTERS,
    SUBSET_FRACTION,
    UNOBSERVED_FLIP,
    UNOBSERVED_OUTCOME_SD,
    refutation_row,
)

ENGINE = "own (DoWhy's algorithms and draws, vectorised least squares)"


def _residualise(q: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``a`` minus its projection on the orthonormal columns ``q`` (one matrix product)."""
    return a - q @ (q.T @ a)


def _ols_treatment(design: np.ndarray, y: np.ndarray) -> float:
    """Coefficient of column 1 (the treatment) of an OLS fit of y on `design` (column 0 the constant)."""
    beta, *_ = np.linalg.lstsq(design, y, rcond=None)
    return float(beta[1])


def _significance(value: float, sims: np.ndarray) -> float:
    """DoWhy's ``test_significance(..., test_type="auto")``: a two-sided percentile p-value from
    100 simulations on, else one normal tail (with the population SD, as DoWhy's ``np.std``)."""
    sims = np.asarray(sims, dtype=float)
    if len(sims) >= 100:
        half = float(np.mean((sims > value) + 0.5 * (sims == value)))
        return 2 * min(half, 1 - half)
    z = (value - sims.mean()) / sims.std()
    return float(stats.norm.sf(z) if z > 0 else stats.norm.cdf(z))


def refutations(
    frame: pd.DataFrame,
    outcome: str,
    covariate_columns: Sequence[Any],
    seed: int,
    max_rows: int | None = REFUTER_MAX_ROWS,
    simulations: int = REFUTER_SIMULATIONS,
) -> pd.DataFrame:
    """The refutation table of :func:`deepvalue.robustness.dowhy_refuters.dowhy_refutations`
    (same rows, columns, rules for ``passed`` and readings), without DoWhy.

    The primary estimate is the OLS coefficient of the treatment on the treatment, a constant and
    the confounders of DoWhy's design (``backdoor.linear_regression``, ATE), with the classical
    95% CI (t with n - k degrees of freedom, as statsmodels' ``conf_int``). Per refuter, with a
    fresh ``RandomState(seed)`` as in DoWhy:

    - placebo: `simulations` permutations ``rs.choice(n, n, replace=False)`` of the treatment; the
      placebo's coefficient with the confounders (the real treatment left out), by residualising
      the n x S permuted treatments on the confounders at once;
    - random common cause: `simulations` columns ``rs.normal(size=n)`` added as a confounder; the
      treatment's coefficient from the 2 x 2 normal equations of the residualised treatment and
      column;
    - data subset: `simulations` subsets ``rs.choice(n, round(0.8 n), replace=False)`` (pandas'
      ``DataFrame.sample``), each refitted;
    - unobserved common cause: ``U`` from the global generator after ``np.random.seed(seed)`` (as
      ``scipy.stats.norm().rvs`` draws it), treatment flipped where ``U`` is above the
      ``1 - UNOBSERVED_FLIP`` normal quantile, outcome lowered by ``UNOBSERVED_OUTCOME_SD`` SDs per
      unit of ``U``; refitted once.
    """
    prep = _prepare(frame, outcome, covariate_columns, seed, None, max_rows)
    data = prep.data
    n = len(data)
    x = np.column_stack([np.ones(n), data[prep.confounders].to_numpy(dtype=float)])
    d = data[TREATMENT].to_numpy(dtype=float)
    y = data[OUTCOME].to_numpy(dtype=float)
    design = np.column_stack([x[:, :1], d, x[:, 1:]])
    beta, *_ = np.linalg.lstsq(design, y, rcond=None)
    original = float(beta[1])
    rank = np.linalg.matrix_rank(design)
    resid = y - design @ beta
    df = n - rank
    xtx_inv = np.linalg.pinv(design.T @ design)
    se = float(np.sqrt(resid @ resid / df * xtx_inv[1, 1]))
    half = stats.t.ppf(0.975, df) * se
    lo, hi = original - half, original + half

    # orthonormal basis of the confounders' span (constant included); rank-revealing for collinear dummies
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    q = u[:, s > s.max() * max(x.shape) * np.finfo(float).eps]
    ry = _residualise(q, y)
    rd = _residualise(q, d)

    results: dict[str, tuple[float, float, int]] = {}
    for refuter in REFUTERS:
        if refuter == "placebo_treatment_refuter":
            rs = np.random.RandomState(seed)
            perms = np.column_stack([d[rs.choice(n, size=n, replace=False)] for _ in range(simulations)])
            rp = _residualise(q, perms)
            sims = (rp * ry[:, None]).sum(axis=0) / (rp * rp).sum(axis=0)
            results[refuter] = (float(sims.mean()), _significance(0.0, sims), simulations)
        elif refuter == "random_common_cause":
            rs = np.random.RandomState(seed)
            w = np.column_stack([rs.normal(size=n) for _ in range(simulations)])
            rw = _residualise(q, w)
            s_dd, s_dy = rd @ rd, rd @ ry
            s_ww = (rw * rw).sum(axis=0)
            s_dw = rd @ rw
            s_wy = rw.T @ ry
            sims = (s_ww * s_dy - s_dw * s_wy) / (s_dd * s_ww - s_dw**2)
            results[refuter] = (float(sims.mean()), _significance(original, sims), simulations)
        elif refuter == "data_subset_refuter":
            rs = np.random.RandomState(seed)
            size = round(SUBSET_FRACTION * n)
            sims = np.array(
                [
                    _ols_treatment(design[idx], y[idx])
                    for idx in (rs.choice(n, size=size, replace=False) for _ in range(simulations))
                ]
            )
            results[refuter] = (float(sims.mean()), _significance(original, sims), simulations)
        else:
            np.random.seed(seed)
            u_conf = np.random.standard_normal(n)
            threshold = stats.norm.ppf(1 - UNOBSERVED_FLIP)
            flip = u_conf >= threshold
            d_new = np.where(flip, 1.0 - d, d)
            y_sd = float(np.std(y, ddof=1))
            kappa_y = UNOBSERVED_OUTCOME_SD * y_sd if y_sd > 0 else UNOBSERVED_OUTCOME_SD
            y_new = y - kappa_y * u_conf
            new = _ols_treatment(np.column_stack([x[:, :1], d_new, x[:, 1:]]), y_new)
            results[refuter] = (new, float("nan"), 1)

    rows = [refutation_row(outcome, r, original, *results[r][:2], (lo, hi), results[r][2], n) for r in REFUTERS]
    return pd.DataFrame(rows)
