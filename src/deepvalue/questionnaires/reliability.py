"""Internal consistency of a questionnaire's items: Cronbach's alpha with Feldt's confidence
interval, and McDonald's omega from a one-factor model, with the model's fit.

Cronbach's alpha over k items and n complete administrations (Cronbach 1951, Psychometrika
16:297-334):

    alpha = k / (k - 1) * (1 - sum_i var(x_i) / var(sum_i x_i))

Its confidence interval (Feldt 1965, Psychometrika 30:357-370; Feldt, Woodruff and Salih 1987,
Applied Psychological Measurement 11:93-103): (1 - alpha) / (1 - alpha_hat) follows an F
distribution with n - 1 and (n - 1)(k - 1) degrees of freedom, so

    [1 - (1 - alpha_hat) F_{1-a/2},  1 - (1 - alpha_hat) F_{a/2}]

(as R's ``psych::alpha.ci``).

McDonald's omega (total) from the one-factor model of the item correlations (McDonald 1999,
Test Theory: A Unified Treatment), R = lambda lambda' + diag(psi), fitted by maximum likelihood
as R's ``factanal`` does (Lawley and Maxwell 1971; Joreskog 1967: for given uniquenesses psi the
loadings are the leading eigenvector of psi^-1/2 R psi^-1/2; psi is found by minimising the
concentrated discrepancy over [0.005, 1]):

    omega = (sum lambda)^2 / ((sum lambda)^2 + sum psi)

The fit: Bartlett's corrected likelihood-ratio chi-square (n - 1 - (2k + 5)/6 - 2/3) F_ML with
((k - 1)^2 - (k + 1)) / 2 degrees of freedom (as ``factanal``), and RMSEA = sqrt(max(chi2/df - 1,
0) / (n - 1)) (Steiger 1990). The model is said to fit when RMSEA <= 0.08 ("reasonable error of
approximation", Browne and Cudeck 1993, in Bollen and Long, Testing Structural Equation Models)
and no uniqueness sits at its lower bound (a Heywood case); with three items the model is just
identified (df = 0) and its fit cannot be tested; with fewer than three omega is not given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats

RELIABILITY_COLUMNS = [
    "questionnaire",
    "administration",
    "n",
    "n_items",
    "alpha",
    "alpha_ci_lower",
    "alpha_ci_upper",
    "omega",
    "chi2",
    "df",
    "p_value",
    "rmsea",
    "one_factor_fits",
    "notes",
]
#: RMSEA at or below this is a reasonable fit (Browne and Cudeck 1993).
RMSEA_FIT = 0.08
#: The lower bound of a uniqueness in the ML fit (R's factanal default lower = 0.005).
PSI_LOWER = 0.005


def cronbach_alpha(items: np.ndarray) -> float:
    """Cronbach's alpha of complete administrations (rows) over items (columns)."""
    x = np.asarray(items, dtype=np.float64)
    k = x.shape[1]
    item_var = x.var(axis=0, ddof=1).sum()
    total_var = x.sum(axis=1).var(ddof=1)
    return float(k / (k - 1) * (1.0 - item_var / total_var))


def feldt_interval(alpha: float, n: int, k: int, level: float = 0.95) -> tuple[float, float]:
    """Feldt's (1965; Feldt, Woodruff and Salih 1987) confidence interval of alpha."""
    a = 1.0 - level
    df1, df2 = n - 1, (n - 1) * (k - 1)
    lower = 1.0 - (1.0 - alpha) * stats.f.ppf(1.0 - a / 2.0, df1, df2)
    upper = 1.0 - (1.0 - alpha) * stats.f.ppf(a / 2.0, df1, df2)
    return float(lower), float(upper)


@dataclass(frozen=True)
class OneFactorFit:
    """A one-factor ML fit of a correlation matrix: loadings, uniquenesses and fit statistics."""

    loadings: np.ndarray
    uniquenesses: np.ndarray
    omega: float
    chi2: float
    df: int
    p_value: float
    rmsea: float
    heywood: bool


def _loadings(corr: np.ndarray, psi: np.ndarray) -> np.ndarray:
    s = 1.0 / np.sqrt(psi)
    vals, vecs = np.linalg.eigh(corr * s[:, None] * s[None, :])
    top, vec = vals[-1], vecs[:, -1]
    lam = np.sqrt(psi) * vec * np.sqrt(max(top - 1.0, 0.0))
    return lam if lam.sum() >= 0 else -lam


def _discrepancy(psi: np.ndarray, corr: np.ndarray) -> float:
    """F_ML = log|Sigma| + tr(R Sigma^-1) - log|R| - k at the loadings that are optimal for psi."""
    lam = _loadings(corr, psi)
    sigma = np.outer(lam, lam) + np.diag(psi)
    sign, logdet = np.linalg.slogdet(sigma)
    _, logdet_r = np.linalg.slogdet(corr)
    return float(logdet + np.trace(np.linalg.solve(sigma, corr)) - logdet_r - corr.shape[0])


def one_factor_fit(items: np.ndarray) -> OneFactorFit:
    """The one-factor ML model of the items' correlation matrix (as R ``factanal(x, 1)``) and omega."""
    x = np.asarray(items, dtype=np.float64)
    n, k = x.shape
    corr = np.corrcoef(x, rowvar=False)
    start = np.clip(1.0 / np.diag(np.linalg.inv(corr)), PSI_LOWER, 1.0)  # factanal's start: 1 - SMC
    res = optimize.minimize(
        _discrepancy,
        start,
        args=(corr,),
        method="L-BFGS-B",
        bounds=[(PSI_LOWER, 1.0)] * k,
        options={"ftol": 1e-14, "gtol": 1e-10, "maxiter": 2000},
    )
    psi = res.x
    lam = _loadings(corr, psi)
    total = lam.sum()
    omega = float(total**2 / (total**2 + psi.sum()))
    df = ((k - 1) ** 2 - (k + 1)) // 2
    chi2 = (n - 1 - (2 * k + 5) / 6.0 - 2.0 / 3.0) * res.fun
    if df > 0:
        p = float(stats.chi2.sf(chi2, df))
        rmsea = float(np.sqrt(max(chi2 / df - 1.0, 0.0) / (n - 1)))
    else:
        p, rmsea = float("nan"), float("nan")
    heywood = bool(np.any(psi <= PSI_LOWER * 1.0001))
    return OneFactorFit(lam, psi, omega, float(chi2), int(df), p, rmsea, heywood)


def internal_consistency(items: np.ndarray, level: float = 0.95, min_n: int = 10) -> dict:
    """Alpha with its Feldt interval and omega with the one-factor fit, on the complete rows.

    Degenerate cases give no numbers and a reason in ``notes``: a single item, fewer than
    ``min_n`` complete administrations, an item or the total without variation.
    """
    x = np.asarray(items, dtype=np.float64)
    complete = x[~np.isnan(x).any(axis=1)]
    n, k = complete.shape
    row = dict.fromkeys(RELIABILITY_COLUMNS[4:], np.nan)
    row.update(n=int(n), n_items=int(k), one_factor_fits="", notes="")
    if k < 2:
        row["notes"] = "one item: internal consistency is not defined"
        return row
    if n < min_n:
        row["notes"] = f"skipped: {n} complete administrations (fewer than {min_n})"
        return row
    if np.any(complete.var(axis=0, ddof=1) == 0):
        row["notes"] = "skipped: an item takes one value in every complete administration"
        return row
    alpha = cronbach_alpha(complete)
    lo, hi = feldt_interval(alpha, n, k, level)
    row.update(alpha=alpha, alpha_ci_lower=lo, alpha_ci_upper=hi)
    notes = [f"alpha CI: Feldt, {level:.0%}"]
    if k < 3:
        notes.append("omega not given: a one-factor model needs at least three items")
    else:
        corr = np.corrcoef(complete, rowvar=False)
        if np.linalg.matrix_rank(corr) < k:
            notes.append("omega not given: the item correlation matrix is singular (items that move in lockstep)")
            row["notes"] = "; ".join(notes)
            return row
        fit = one_factor_fit(complete)
        row.update(omega=fit.omega, chi2=fit.chi2, df=fit.df, p_value=fit.p_value, rmsea=fit.rmsea)
        if fit.heywood:
            row["one_factor_fits"] = "no"
            notes.append("omega doubtful: a uniqueness at its lower bound (Heywood case)")
        elif fit.df == 0:
            row["one_factor_fits"] = "untestable"
            notes.append("three items: the one-factor model is just identified, its fit cannot be tested")
        elif fit.rmsea <= RMSEA_FIT:
            row["one_factor_fits"] = "yes"
        else:
            row["one_factor_fits"] = "no"
            notes.append(
                f"the one-factor model does not fit (RMSEA {fit.rmsea:.3f} > {RMSEA_FIT}): read omega with care"
            )
    row["notes"] = "; ".join(notes)
    return row


def reliability_table(groups: Mapping[tuple[str, str], np.ndarray], level: float = 0.95) -> pd.DataFrame:
    """One row per (questionnaire, administration) with :func:`internal_consistency`'s columns.

    ``groups`` maps (questionnaire name, administration label such as ``baseline`` or
    ``follow_up``) to the item matrix (administrations x items, NaN = not answered).
    """
    rows = []
    for (name, administration), items in groups.items():
        row = internal_consistency(items, level=level)
        rows.append({"questionnaire": name, "administration": administration, **row})
    return pd.DataFrame(rows, columns=RELIABILITY_COLUMNS)
