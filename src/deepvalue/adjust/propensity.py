"""The propensity score: a logistic regression of treatment on the confounder design matrix.

The model is fitted by Newton-Raphson on internally standardised columns (DESIGN section 9:
quasi-Newton solvers on unscaled columns take 20-40 times longer at a million rows), and the
coefficients are mapped back to the original units. Plain maximum likelihood is the default; an
l2 (ridge) penalty is available for data with (near) separation, where the maximum-likelihood
estimate does not exist. Separation is detected and reported as a user-facing error that names
the covariate columns, rather than left to produce scores of exactly 0 or 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import linalg
from scipy.special import expit

from deepvalue.core.errors import AnalysisError, Problem
from deepvalue.core.small_cells import count_phrase, is_small

Penalty = Literal["none", "l2"]
PENALTIES = ("none", "l2")

#: Newton stops when no standardised coefficient moves by more than this.
STEP_TOL = 1e-10
#: A legitimate fit converges in well under 10 Newton steps; under separation the coefficients
#: grow by a roughly constant amount per step forever, so this bound only costs time there.
MAX_ITER = 40
#: Fitted scores this close to 0 or 1 mean treatment is (almost) perfectly predicted.
EXTREME_SCORE = 1e-8
#: Rows per block when forming X'WX, so the weighted copy of X never exists in full.
CHUNK_ROWS = 65_536
#: A column whose residual variance, after regression on the earlier columns, is below this share
#: of its own variance is a linear combination of them (collinear) and is left out.
COLLINEAR_TOL = 1e-9

INTERCEPT = "intercept"
FIX_SEPARATION = (
    "drop or merge the level (recode it into a neighbouring level), drop the covariate from "
    "'covariates', or set 'propensity: {penalty: l2}' in the config"
)


@dataclass(frozen=True)
class PropensityFit:
    """A fitted propensity model.

    Attributes
    ----------
    score : ndarray
        Fitted probability of treatment, :math:`e_i = 1 / (1 + \\exp(-\\eta_i))`.
    logit : ndarray
        The linear predictor :math:`\\eta_i = \\beta_0 + x_i^\\top \\beta` (what matching uses).
    coef : pandas.Series
        :math:`\\beta` in the units of the design columns, ``intercept`` first; NaN for columns
        left out as collinear.
    converged : bool
        Whether the largest Newton step fell below ``STEP_TOL``.
    n_iter : int
        Newton iterations taken.
    warnings : list of str
        Anything the reader of the results should know (collinear columns left out, extreme
        scores under a penalty).
    dropped_collinear : list of str
        Design columns that are linear combinations of earlier columns (their effect is carried by
        those columns; the fitted scores are unchanged).
    penalty, C
        The penalty used (``none`` or ``l2``) and its inverse strength.
    """

    score: npt.NDArray[np.float64]
    logit: npt.NDArray[np.float64]
    coef: pd.Series
    converged: bool
    n_iter: int
    warnings: list[str] = field(default_factory=list)
    dropped_collinear: list[str] = field(default_factory=list)
    penalty: str = "none"
    C: float = 1.0


def fit_propensity(
    X: pd.DataFrame, treatment: npt.ArrayLike, penalty: Penalty = "none", C: float = 1.0
) -> PropensityFit:
    """Fit the logistic propensity model :math:`\\Pr(T_i = 1 \\mid x_i)`.

    With ``penalty="none"`` this maximises the log-likelihood

    .. math:: \\ell(\\beta) = \\sum_i T_i \\eta_i - \\log(1 + e^{\\eta_i}),
              \\qquad \\eta_i = \\beta_0 + x_i^\\top \\beta,

    which is invariant to rescaling the columns, so the fit is done on standardised columns
    :math:`z_{ij} = (x_{ij} - \\bar x_j) / s_j` (population SD) and mapped back:
    :math:`\\beta_j = b_j / s_j`, :math:`\\beta_0 = b_0 - \\sum_j b_j \\bar x_j / s_j`.
    Newton-Raphson with step halving: :math:`b \\leftarrow b + (Z^\\top W Z)^{-1} Z^\\top (T - e)`,
    :math:`W = \\mathrm{diag}(e_i (1 - e_i))`; it converges quadratically, so the result agrees with
    statsmodels ``Logit`` to about 1e-10.

    With ``penalty="l2"`` it minimises scikit-learn's objective
    :math:`\\tfrac12 \\lVert b \\rVert^2 - C\\,\\ell(b)` on the *standardised* coefficients (the
    intercept is not penalised), so the penalty does not depend on the units of the covariates;
    it equals ``LogisticRegression(C=C)`` fitted on the standardised columns.

    Parameters
    ----------
    X
        The confounder design matrix (:func:`deepvalue.adjust.design.covariate_design` ``.X``): float,
        no missing values, no intercept column.
    treatment
        0/1 per row of `X`.
    penalty
        ``"none"`` (maximum likelihood) or ``"l2"`` (ridge, for near-separation).
    C
        Inverse penalty strength; used only with ``penalty="l2"``.

    Returns
    -------
    PropensityFit

    Raises
    ------
    AnalysisError
        No treated or no control clients; or (without a penalty) separation: a level of a
        covariate, or a combination of covariates, predicts treatment perfectly, so the
        maximum-likelihood estimate does not exist. The error names the columns and the fix.
    ValueError
        Malformed input (missing values in `X`, treatment not 0/1, lengths differ).

    Examples
    --------
    >>> X = pd.DataFrame({"age": [20.0, 30.0, 40.0, 50.0, 60.0, 35.0]})
    >>> fit = fit_propensity(X, [0, 1, 0, 1, 1, 0])
    >>> fit.converged, list(fit.coef.index)
    (True, ['intercept', 'age'])
    """
    if penalty not in PENALTIES:
        raise ValueError(f"penalty must be one of {PENALTIES}, not {penalty!r}")
    if not C > 0:
        raise ValueError(f"C must be positive, not {C!r}")
    t = _check_treatment(treatment, len(X))
    names = [str(c) for c in X.columns]
    A = X.to_numpy(dtype=np.float64)
    if not np.isfinite(A).all():
        bad = [names[j] for j in np.flatnonzero(~np.isfinite(A).all(axis=0))]
        raise ValueError(
            f"the design matrix has missing or infinite values in {bad}; build it with "
            "deepvalue.adjust.design.covariate_design, which fills them"
        )
    _require_both_groups(t)
    if penalty == "none":
        problems = _separated_levels(A, t, names)
        if problems:
            raise AnalysisError(problems, headline="the propensity model cannot be fitted (separation)")

    # Standardise into one column-major array with the intercept first: building it from the
    # DataFrame's column-major values is a contiguous copy, and BLAS reads row blocks of it in place.
    n, k = A.shape
    mean = A.mean(axis=0)
    Z = np.empty((n, k + 1), order="F")
    Z[:, 0] = 1.0
    np.subtract(A, mean, out=Z[:, 1:])
    del A
    sd = np.sqrt(np.einsum("ij,ij->j", Z[:, 1:], Z[:, 1:]) / n)  # population SD, no n x k temporary
    varying = sd > 0
    scale = np.where(varying, sd, 1.0)
    Z[:, 1:] /= scale
    keep = _independent_columns(Z, varying)
    notes: list[str] = []
    dropped = [names[j] for j in range(k) if not keep[j + 1]]
    if dropped:
        notes.append(
            f"left out {len(dropped)} collinear column(s) (linear combinations of earlier "
            f"columns; scores unchanged): {', '.join(dropped)}"
        )
    if not keep.all():
        Z = np.asfortranarray(Z[:, keep])
    ridge = np.ones(Z.shape[1]) / C if penalty == "l2" else np.zeros(Z.shape[1])
    ridge[0] = 0.0  # the intercept is never penalised
    b, eta, converged, n_iter = _newton(Z, t, ridge)
    del Z

    score = expit(eta)
    extreme = int(np.count_nonzero((score < EXTREME_SCORE) | (score > 1 - EXTREME_SCORE)))
    kept_names = [names[j] for j in range(k) if keep[j + 1]]
    b_std = pd.Series(b[1:], index=kept_names)
    if penalty == "none" and (not converged or extreme):
        raise AnalysisError(
            [_separation_problem(b_std, extreme, n_iter, converged)],
            headline="the propensity model cannot be fitted (separation)",
        )
    if extreme:
        notes.append(
            f"{extreme} client(s) have a score within {EXTREME_SCORE:g} of 0 or 1 even with the "
            "l2 penalty: they have no comparable clients in the other group"
        )
    if not converged:
        notes.append(f"Newton-Raphson did not converge in {MAX_ITER} iterations")

    # Back to the original units: eta = b0 + sum_j b_j (x_j - m_j) / s_j.
    beta = b[1:] / scale[keep[1:]]
    intercept = b[0] - float(beta @ mean[keep[1:]])
    coef = pd.Series(np.nan, index=[INTERCEPT, *names], dtype=np.float64)
    coef.iloc[0] = intercept
    coef.loc[kept_names] = beta
    return PropensityFit(
        score=score,
        logit=eta,
        coef=coef,
        converged=converged,
        n_iter=n_iter,
        warnings=notes,
        dropped_collinear=dropped,
        penalty=penalty,
        C=float(C),
    )


def _check_treatment(treatment: npt.ArrayLike, n: int) -> npt.NDArray[np.float64]:
    t = np.asarray(treatment)
    if t.shape != (n,):
        raise ValueError(f"treatment has shape {t.shape}, expected ({n},)")
    if t.dtype == bool:
        t = t.astype(np.int8)
    if not np.isin(t, (0, 1)).all():
        raise ValueError("treatment must be 0/1 without missing values")
    return t.astype(np.float64)


def _require_both_groups(t: npt.NDArray[np.float64]) -> None:
    n_treated = int(t.sum())
    if n_treated == 0 or n_treated == t.size:
        missing, present = ("treated", "control") if n_treated == 0 else ("control", "treated")
        raise AnalysisError(
            [
                Problem(
                    "analysis",
                    "treatment",
                    f"no {missing} clients: {_all_clients(t.size)} are {present}, so there is nothing to compare",
                    "check exposure.index and exposure.threshold (they decide who is treated) and the cohort flow",
                )
            ],
            headline="the propensity model cannot be fitted",
        )


def binary_columns(A: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """Which columns of `A` hold only the values 0 and 1 (dummies, binary covariates, missing indicators).

    Examples
    --------
    >>> binary_columns(np.array([[0.0, 0.5, 1.0], [1.0, 1.0, 1.0]])).tolist()
    [True, False, True]
    """
    A = np.asarray(A, dtype=np.float64)
    if A.shape[0] == 0:
        return np.ones(A.shape[1], dtype=bool)
    # min and max rule out most non-binary columns cheaply; the rest are checked one column at a
    # time, which reads contiguous memory in the column-major arrays pandas hands out
    out = (A.min(axis=0) >= 0) & (A.max(axis=0) <= 1)
    for j in np.flatnonzero(out):
        col = A[:, j]
        out[j] = np.count_nonzero((col == 0.0) | (col == 1.0)) == col.size
    return out


def _all_clients(n: int, which: str = "") -> str:
    """The clients of a message, e.g. "all 25 clients with x = 1", or "all clients with x = 1 (fewer than 10)":
    the message can become the notes of a skipped estimate, which leave the secure environment (the publish
    stage checks them again)."""
    return f"all clients{which} ({count_phrase(n, '').strip()})" if is_small(n) else f"all {n} clients{which}"


def _separated_levels(A: npt.NDArray[np.float64], t: npt.NDArray[np.float64], names: list[str]) -> list[Problem]:
    """0/1 columns where one value occurs only among treated or only among controls.

    Such a column separates the groups quasi-completely: the log-likelihood keeps rising as its
    coefficient goes to +-infinity, so there is no maximum-likelihood estimate. Counting is exact
    and O(n k), so this common case is reported before any fitting.
    """
    binary = binary_columns(A)
    if not binary.any():
        return []
    cols = np.flatnonzero(binary)
    ones = A.sum(axis=0)[cols]
    ones_treated = (t @ A)[cols]
    n, n_treated = t.size, t.sum()
    problems = []
    for j, n1, n1t in zip(cols, ones, ones_treated):
        # value 1: n1 clients, n1t treated; value 0: n - n1 clients, n_treated - n1t treated
        for value, size, treated in ((1, n1, n1t), (0, n - n1, n_treated - n1t)):
            if treated in (0, size):
                group = "treated (treatment = 1)" if treated == size else "controls (treatment = 0)"
                problems.append(
                    Problem(
                        "analysis",
                        names[j],
                        f"{_all_clients(int(size), f' with {names[j]} = {value}')} are {group}: this value predicts "
                        "treatment perfectly (quasi-complete separation), so the propensity model has no "
                        "maximum-likelihood estimate",
                        FIX_SEPARATION,
                    )
                )
    return problems


def _independent_columns(Z: npt.NDArray[np.float64], varying: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Which columns of Z to keep: each column not (numerically) spanned by the kept earlier ones.

    A Cholesky factorisation of Z'Z built one column at a time; a column whose pivot (its residual
    sum of squares after projection on the kept columns) is tiny relative to its own sum of
    squares is dropped, as R's ``lm`` reports NA for it. The loop is over columns, not clients.
    """
    G = Z.T @ Z
    keep = np.concatenate([[True], varying])
    kept: list[int] = []
    L = np.zeros_like(G)
    for j in range(G.shape[0]):
        if not keep[j]:
            continue
        idx = np.array(kept, dtype=int)
        row = linalg.solve_triangular(L[np.ix_(idx, idx)], G[idx, j], lower=True) if kept else np.zeros(0)
        pivot = G[j, j] - row @ row
        if pivot <= COLLINEAR_TOL * G[j, j]:
            keep[j] = False
            continue
        L[j, idx] = row
        L[j, j] = np.sqrt(pivot)
        kept.append(j)
    return keep


def _gram(Z: npt.NDArray[np.float64], w: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """:math:`Z^\\top \\mathrm{diag}(w) Z`, in row blocks so no weighted copy of Z is held in full."""
    p = Z.shape[1]
    G = np.zeros((p, p))
    buf = np.empty((min(CHUNK_ROWS, Z.shape[0]), p), order="F")
    for lo in range(0, Z.shape[0], CHUNK_ROWS):
        block = Z[lo : lo + CHUNK_ROWS]
        scaled = buf[: block.shape[0]]
        np.multiply(block, np.sqrt(w[lo : lo + CHUNK_ROWS])[:, None], out=scaled)
        G += scaled.T @ scaled
    return G


def _penalised_loglik(
    eta: npt.NDArray[np.float64], t: npt.NDArray[np.float64], b: npt.NDArray[np.float64], ridge: npt.NDArray[np.float64]
) -> float:
    # log(1 + e^eta) through logaddexp, so large |eta| neither overflows nor loses precision
    return float(t @ eta - np.logaddexp(0.0, eta).sum() - 0.5 * b @ (ridge * b))


def _newton(
    Z: npt.NDArray[np.float64], t: npt.NDArray[np.float64], ridge: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], bool, int]:
    """Maximise :math:`\\ell(b) - \\tfrac12 b^\\top \\mathrm{diag}(r) b` by Newton-Raphson with step halving."""
    b = np.zeros(Z.shape[1])
    share = t.mean()
    b[0] = np.log(share / (1 - share))  # start at the intercept-only MLE: fewer steps, same optimum
    eta = Z @ b
    objective = _penalised_loglik(eta, t, b, ridge)
    for iteration in range(1, MAX_ITER + 1):
        e = expit(eta)
        gradient = Z.T @ (t - e) - ridge * b
        hessian = _gram(Z, e * (1 - e))
        hessian[np.diag_indices_from(hessian)] += ridge
        try:
            step = linalg.cho_solve(linalg.cho_factor(hessian), gradient)
        except linalg.LinAlgError:
            # W underflows to 0 when scores reach 0/1 (separation); report as not converged
            return b, eta, False, iteration
        # Halve the step until the objective does not fall (it always rises near the optimum, where
        # the full Newton step is taken and convergence is quadratic).
        for _ in range(30):
            b_new = b + step
            eta_new = Z @ b_new
            new = _penalised_loglik(eta_new, t, b_new, ridge)
            if new >= objective - 1e-12 * abs(objective):
                break
            step = step / 2
        b, eta, objective = b_new, eta_new, new
        if np.abs(step).max() <= STEP_TOL:
            return b, eta, True, iteration
    return b, eta, False, MAX_ITER


def _separation_problem(b_std: pd.Series, extreme: int, n_iter: int, converged: bool) -> Problem:
    """Name the columns that carry a separation the 0/1 pre-check could not see.

    Under separation the coefficients along the separating direction grow without bound, so the
    columns with the largest standardised coefficients (per SD of the column) are the culprits.
    """
    size = b_std.abs().sort_values(ascending=False, kind="stable")
    top = size[size >= 0.1 * size.iloc[0]].index[:5] if len(size) else []
    named = ", ".join(f"{c} ({b_std[c]:+.1f} per SD)" for c in top)
    what = []
    if extreme:
        what.append(f"{extreme} client(s) have a fitted score within {EXTREME_SCORE:g} of 0 or 1")
    if not converged:
        what.append(f"the fit did not converge in {n_iter} Newton iterations")
    return Problem(
        "analysis",
        ", ".join(top) or None,
        f"{' and '.join(what)}: a combination of covariates predicts treatment (almost) perfectly "
        f"(separation), so the maximum-likelihood estimate does not exist; largest coefficients: {named}",
        FIX_SEPARATION,
    )
