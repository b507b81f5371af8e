"""Effect estimators: one function per method, each returning one row of ``estimates.csv``.

DESIGN section 5 (Estimators). Every function takes plain arrays (outcome ``y``, treatment ``d``
0/1, the confounder design ``X`` from :func:`deepvalue.design.covariate_design`, cluster ids,
matching weights, propensity scores fitted elsewhere) and returns an :class:`EffectEstimate`
with a 95% Wald interval. Arrays are aligned by position, not by index.

Common conventions
------------------
- Rows with a missing outcome are dropped and the count is written in ``notes``; every method
  needs at least two units in each treatment group (else :class:`AnalysisError`).
- Confidence intervals are normal (estimate +/- 1.96 SE) except the naive Welch comparison,
  which uses Student's t with the Welch-Satterthwaite degrees of freedom.
- Cluster-robust SEs from linear models are CR1, the small-sample correction of Stata's
  ``regress, vce(cluster)`` and statsmodels' ``cov_type="cluster"``:
  ``V * G/(G-1) * (N-1)/(N-K)``, equal to linearmodels ``IV2SLS(...).fit(cov_type="clustered",
  debiased=True)`` (its default ``debiased=False`` applies no correction at all). The linear
  fits (OLS, WLS, 2SLS) are computed here from Gram matrices (:func:`_least_squares`) and
  tested against linearmodels and statsmodels to 1e-8: linearmodels itself takes about 90 s
  per regression at the design's scale of a million clients.
- Weighting estimators (IPW, AIPW, overlap weights) and regression adjustment use
  influence-function (M-estimation) variances ``sum(IF_i^2) / n^2``, the HC0 form that
  statsmodels ``TreatmentEffect`` and Stata ``teffects`` report; with ``cluster`` the influence
  functions are summed within clusters and scaled by ``G/(G-1)``.
- Columns of a design that are exactly collinear in the sample at hand (for example the
  interaction of a site dummy with treatment when the site has no treated clients) are dropped
  before fitting and counted in ``notes``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from typing import Literal, Sequence, get_args

import numpy as np
import numpy.typing as npt
import pandas as pd
import statsmodels.api as sm
from scipy import linalg, sparse, stats
from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

from .errors import AnalysisError, Problem

__all__ = [
    "ESTIMATE_COLUMNS",
    "WEAK_INSTRUMENT_F",
    "EffectEstimate",
    "FirstStage",
    "aipw",
    "dose_response",
    "estimates_frame",
    "iv_2sls",
    "iv_first_stage",
    "ipw",
    "logit_ame",
    "matched_regression",
    "naive_difference",
    "overlap_weighted",
    "regression_adjustment",
    "skipped_estimate",
    "weak_instrument",
]

Estimand = Literal["ATT", "ATE", "ATO", "LATE"]
WeightingEstimand = Literal["ATT", "ATE"]

ESTIMATE_COLUMNS = ("outcome", "subgroup", "method", "estimand", "estimate", "std_error", "ci_lower",
                    "ci_upper", "p_value", "n_treated", "n_control", "scale", "notes")
WEAK_INSTRUMENT_F = 10.0  # Staiger and Stock (1997) rule of thumb for one instrument
# A collinear column explains all but this share of its (scaled) variance from the earlier ones.
COLLINEAR_TOL = 1e-9
# |sum of logit scores| / its model-based SD, per column of the propensity design: 1e-15 at a
# Newton-fitted logit MLE, ~1e-3 for a loosely converged (lbfgs, tol 1e-4) one, O(1) for a score
# from some other model (probit, other columns), for which the stacked correction would be wrong.
PS_SCORE_TOL = 1e-2

ArrayLike = npt.ArrayLike
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class EffectEstimate:
    """One effect estimate: a row of ``estimates.csv``.

    ``scale`` says what the number means: ``risk_difference`` (binary outcome, percentage
    points / 100), ``mean_difference`` (outcome units), ``per_0.1_upc`` (change per 0.1 of the
    continuity index).
    """

    outcome: str
    method: str
    estimand: str  # ATT | ATE | ATO | LATE
    estimate: float
    std_error: float
    ci_lower: float
    ci_upper: float
    p_value: float
    n_treated: int
    n_control: int
    scale: str
    notes: str = ""
    subgroup: str = ""


def estimates_frame(rows: Sequence[EffectEstimate]) -> pd.DataFrame:
    """Stack estimates into the ``estimates.csv`` table (columns in :data:`ESTIMATE_COLUMNS` order).

    Examples
    --------
    >>> row = EffectEstimate("job_start", "naive_difference", "ATE", 0.1, 0.02, 0.06, 0.14, 1e-6,
    ...                      50, 40, "risk_difference")
    >>> list(estimates_frame([row]).columns[:4])
    ['outcome', 'subgroup', 'method', 'estimand']
    """
    frame = pd.DataFrame([asdict(r) for r in rows], columns=list(ESTIMATE_COLUMNS))
    types = {c: float for c in ("estimate", "std_error", "ci_lower", "ci_upper", "p_value")}
    types |= {"n_treated": "int64", "n_control": "int64"}
    types |= {c: str for c in ("outcome", "subgroup", "method", "estimand", "scale", "notes")}
    return frame.astype(types)


def skipped_estimate(outcome: str, method: str, estimand: Estimand, scale: str, reason: str, *,
                     n_treated: int = 0, n_control: int = 0, subgroup: str = "") -> EffectEstimate:
    """A row that records why an estimate was not made (numbers NaN, ``notes`` = the reason).

    Used, for example, when :func:`weak_instrument` says the first stage is too weak for 2SLS.
    """
    nan = float("nan")
    return EffectEstimate(outcome, method, estimand, nan, nan, nan, nan, nan, int(n_treated),
                          int(n_control), scale, f"skipped: {reason}", subgroup)


# ----------------------------------------------------------------------------------------------
# input handling shared by every estimator
# ----------------------------------------------------------------------------------------------


@dataclass
class _Sample:
    """The measured rows of one estimation, with what was dropped and why."""

    outcome: str
    subgroup: str
    method: str
    keep: npt.NDArray[np.bool_]
    y: FloatArray
    d: FloatArray
    notes: list[str]

    @property
    def n_treated(self) -> int:
        return int(self.d.sum())

    @property
    def n_control(self) -> int:
        return int(self.d.size - self.d.sum())

    def take(self, values: ArrayLike | pd.DataFrame | None, name: str) -> FloatArray | None:
        """``values`` as floats on the kept rows (a matrix for a DataFrame); NaN is refused."""
        if values is None:
            return None
        arr = _floats(values, name, allow_2d=True)
        if arr.shape[0] != self.keep.size:
            raise self.error(name, f"has {arr.shape[0]} rows but the outcome has {self.keep.size}",
                             "pass arrays cut from the same analysis rows, in the same order")
        if not self.keep.all():
            arr = arr[self.keep]
        if np.isnan(arr).any():
            bad = np.isnan(arr) if arr.ndim == 1 else np.isnan(arr).any(axis=1)
            raise self.error(name, f"has missing values in {int(bad.sum())} measured rows",
                             "impute them (deepvalue.design adds missing indicators) or drop the rows "
                             "before estimating")
        return arr

    def codes(self, cluster: ArrayLike | None, name: str = "cluster") -> npt.NDArray[np.int64] | None:
        """Integer cluster codes on the kept rows; missing ids are refused."""
        if cluster is None:
            return None
        raw = cluster.to_numpy() if isinstance(cluster, pd.Series) else np.asarray(cluster)
        if raw.shape[0] != self.keep.size:
            raise self.error(name, f"has {raw.shape[0]} rows but the outcome has {self.keep.size}",
                             "pass arrays cut from the same analysis rows, in the same order")
        if raw.dtype.kind not in "iu":  # text ids (or floats with NaN) go through objects
            raw = raw.astype(object)
        # codes in order of first appearance, so integer ids and their text give the same codes
        codes, _ = pd.factorize(raw[self.keep], use_na_sentinel=True)
        if (codes < 0).any():
            raise self.error(name, f"is missing for {int((codes < 0).sum())} measured rows",
                             "every client needs a cluster id (primary worker or matched set)")
        return codes.astype(np.int64)

    def error(self, column: str | None, message: str, fix: str) -> AnalysisError:
        where = f"{self.method} for outcome '{self.outcome}'"
        if self.subgroup:
            where += f" in subgroup '{self.subgroup}'"
        return AnalysisError([Problem("analysis", column, f"{where}: {message}", fix)],
                             headline="an effect cannot be estimated")

    def result(self, estimand: str, estimate: float, std_error: float, scale: str,
               notes: Sequence[str] = (), *, n_treated: int | None = None,
               n_control: int | None = None) -> EffectEstimate:
        lower, upper, p = _wald(estimate, std_error)
        return EffectEstimate(
            outcome=self.outcome, method=self.method, estimand=estimand, estimate=float(estimate),
            std_error=float(std_error), ci_lower=lower, ci_upper=upper, p_value=p,
            n_treated=self.n_treated if n_treated is None else int(n_treated),
            n_control=self.n_control if n_control is None else int(n_control),
            scale=scale, notes="; ".join([*self.notes, *notes]), subgroup=self.subgroup)


def _floats(values: ArrayLike | pd.DataFrame, name: str, allow_2d: bool = False) -> FloatArray:
    """Float copy of a Series/array/frame with pandas NA turned into NaN."""
    if isinstance(values, pd.DataFrame):
        if not allow_2d:
            raise TypeError(f"{name} must be one-dimensional")
        return values.to_numpy(dtype=float, na_value=np.nan)
    if isinstance(values, pd.Series):
        return pd.to_numeric(values, errors="raise").to_numpy(dtype=float, na_value=np.nan)
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1 and not allow_2d:
        raise TypeError(f"{name} must be one-dimensional, got shape {arr.shape}")
    return arr


def _outcome_name(y: ArrayLike, outcome: str | None) -> str:
    if outcome is not None:
        return outcome
    name = getattr(y, "name", None)
    return name if isinstance(name, str) else ""


def _sample(y: ArrayLike, d: ArrayLike | None, method: str, outcome: str | None, subgroup: str,
            extra_keep: npt.NDArray[np.bool_] | None = None, extra_reason: str = "",
            min_per_group: int = 2) -> _Sample:
    """Drop unmeasured outcomes, check the treatment and the size of each group."""
    yy = _floats(y, "y")
    keep = ~np.isnan(yy)
    sample = _Sample(_outcome_name(y, outcome), subgroup, method, keep, yy, np.empty(0), [])
    if (~keep).any():
        sample.notes.append(f"dropped {_rows(int((~keep).sum()))} with missing outcome")
    if extra_keep is not None:
        more = keep & ~extra_keep
        if more.any():
            sample.notes.append(f"dropped {_rows(int(more.sum()))} {extra_reason}")
        keep &= extra_keep
    sample.keep = keep
    sample.y = yy[keep]
    if d is None:
        sample.d = np.zeros(sample.y.size)
        if sample.y.size < 3:
            raise sample.error(None, f"only {sample.y.size} measured rows",
                               "an effect needs at least 3 clients with the outcome measured")
        return sample
    dd = _floats(d, "d")
    if dd.shape[0] != yy.shape[0]:
        raise sample.error("treatment", f"has {dd.shape[0]} rows but the outcome has {yy.shape[0]}",
                           "pass arrays cut from the same analysis rows, in the same order")
    dd = dd[keep]
    if not np.isin(dd, (0.0, 1.0)).all():
        raise sample.error("treatment", "must be 0/1 without missing values",
                           "code continuity as 1 and fragmented service as 0")
    sample.d = dd
    for label, n in (("treated (continuous)", sample.n_treated), ("control (fragmented)", sample.n_control)):
        if n < min_per_group:
            raise sample.error("treatment", f"the {label} group has {n} clients with the outcome measured",
                               f"an effect needs at least {min_per_group} clients in each group: check the "
                               "treatment threshold, the subgroup, or whether the outcome applies here")
    return sample


def _rows(n: int) -> str:
    return f"{n} row" if n == 1 else f"{n} rows"


def _wald(estimate: float, std_error: float, df: float | None = None) -> tuple[float, float, float]:
    """95% interval and two-sided p-value (normal, or Student t with ``df``)."""
    if not (np.isfinite(estimate) and np.isfinite(std_error) and std_error > 0):
        return float("nan"), float("nan"), float("nan")
    dist = stats.norm if df is None else stats.t(df)
    q = float(dist.ppf(0.975))
    p = float(2 * dist.sf(abs(estimate / std_error)))
    return float(estimate - q * std_error), float(estimate + q * std_error), p


def _default_scale(y: FloatArray) -> str:
    return "risk_difference" if np.isin(y, (0.0, 1.0)).all() else "mean_difference"


def _independent_columns(gram: FloatArray, tol: float = COLLINEAR_TOL) -> npt.NDArray[np.bool_]:
    """Mask of the columns kept, in order, dropping each column that the earlier kept ones span.

    Works on the Gram matrix ``M'M`` (so the caller computes it once and reuses it). Columns
    are taken in order, so the intercept and the treatment, placed first, are kept; each is
    tested with an incremental Cholesky factor of the Gram matrix of unit-norm columns and kept
    when the share of it not explained by the kept ones exceeds ``tol``. Cost O(p^3).
    """
    norms = np.sqrt(np.clip(np.diag(gram), 0.0, None))
    safe = np.where(norms > 0, norms, 1.0)
    corr = gram / np.outer(safe, safe)
    keep = np.zeros(gram.shape[0], dtype=bool)
    chol = np.zeros((0, 0))
    kept: list[int] = []
    for j in np.flatnonzero(norms > 0):
        z = linalg.solve_triangular(chol, corr[kept, j], lower=True) if kept else np.zeros(0)
        resid = corr[j, j] - z @ z
        if resid > tol:
            k = len(kept)
            grown = np.zeros((k + 1, k + 1))
            grown[:k, :k] = chol
            grown[k, :k] = z
            grown[k, k] = math.sqrt(resid)
            chol = grown
            kept.append(int(j))
            keep[j] = True
    return keep


def _design(*blocks: FloatArray | float) -> FloatArray:
    """Columns side by side in one allocation (scalars become constant columns).

    Fortran (column-major) order: pandas hands a frame's values over column-major, so copying
    them in is contiguous, and column operations on the design are too.
    """
    arrays = [np.asarray(b, dtype=float) for b in blocks]
    n = max(a.shape[0] for a in arrays if a.ndim > 0)
    widths = [1 if a.ndim < 2 else a.shape[1] for a in arrays]
    out = np.empty((n, sum(widths)), order="F")
    at = 0
    for a, w in zip(arrays, widths):
        out[:, at:at + w] = a.reshape(-1, 1) if a.ndim == 1 else a
        at += w
    return out


def _prune(M: FloatArray, gram: FloatArray | None = None) -> tuple[FloatArray, FloatArray, npt.NDArray[np.bool_]]:
    """Drop collinear columns of ``M``; returns the design, its Gram matrix and the kept mask."""
    gram = M.T @ M if gram is None else gram
    keep = _independent_columns(gram)
    if keep.all():
        return M, gram, keep
    return M[:, keep], gram[np.ix_(keep, keep)], keep


def _variance_of_mean(psi: FloatArray, codes: npt.NDArray[np.int64] | None) -> float:
    """Variance of a mean of influence functions: ``sum psi^2 / n^2`` or its cluster sum."""
    n = psi.size
    if codes is None:
        return float(psi @ psi) / n**2
    sums = np.bincount(codes, weights=psi)
    g = sums.size
    return float(sums @ sums) / n**2 * g / (g - 1)


def _se_note(codes: npt.NDArray[np.int64] | None, what: str) -> str:
    if codes is None:
        return f"SE: {what}"
    return f"SE: {what}, clustered ({int(codes.max()) + 1} clusters)"


@dataclass(frozen=True)
class _LinearFit:
    """Coefficients and covariance of a least-squares fit (OLS, WLS or 2SLS)."""

    params: FloatArray
    cov: FloatArray
    n: int
    n_clusters: int | None

    def coef(self, j: int) -> tuple[float, float]:
        return float(self.params[j]), float(math.sqrt(self.cov[j, j]))


def _cluster_sums(codes: npt.NDArray[np.int64], resid: FloatArray, *blocks: FloatArray) -> FloatArray:
    """Per-cluster sums of ``resid_i * [blocks]_i`` (G x k) without forming the n x k scores."""
    n = resid.size
    g = int(codes.max()) + 1
    summer = sparse.csr_array((resid, (codes, np.arange(n))), shape=(g, n))
    return np.column_stack([summer @ (b if b.ndim == 2 else b[:, None]) for b in blocks])


def _least_squares(y: FloatArray, W: FloatArray, codes: npt.NDArray[np.int64] | None, *,
                   endog: FloatArray | None = None, instruments: FloatArray | None = None,
                   weights: FloatArray | None = None, gram: FloatArray | None = None) -> _LinearFit:
    r"""OLS/WLS/2SLS with CR1 cluster-robust (or HC1) covariance, the estimator of linearmodels.

    Regressors :math:`R = [W, D]`, instruments :math:`Q = [W, Z]` (:math:`Q = R = W` for
    OLS), :math:`\Pi = (Q'Q)^{-1} Q'R`, :math:`\hat X = Q\Pi`,
    :math:`\hat\beta = (\hat X'R)^{-1}\hat X'y`,

    .. math::
        \hat V = (\hat X'\hat X)^{-1} \Big(\sum_g \xi_g \xi_g'\Big) (\hat X'\hat X)^{-1}
                 \frac{G}{G-1}\frac{N-1}{N-K}, \qquad \xi_g = \Pi' \sum_{i\in g} q_i \hat e_i

    (HC1 without clusters: :math:`\sum_i \hat x_i\hat x_i'\hat e_i^2 \cdot N/(N-K)`). Weights
    multiply rows by :math:`\sqrt{w}`. This is linearmodels ``IV2SLS(...).fit(cov_type=
    "clustered", debiased=True)`` and statsmodels ``OLS(...).fit(cov_type="cluster")``
    (equality is tested). It needs one Gram matrix ``W'W`` (passed in when the caller has it),
    matrix-vector products and one sparse cluster sum, and never copies the n x k design:
    linearmodels takes several SVDs of it (about 90 s for one regression with 62 columns at a
    million rows, a few seconds here). The small systems are solved with unit-norm columns so
    they stay well conditioned.
    """
    if weights is not None:
        sw = np.sqrt(weights)
        W, y = W * sw[:, None], y * sw
        endog = None if endog is None else endog * sw[:, None]
        instruments = None if instruments is None else instruments * sw[:, None]
        gram = None
    n, p = W.shape
    WW = W.T @ W if gram is None else gram
    if endog is None:
        QQ, QR, Qy = WW, WW, W.T @ y
    else:
        WD, WZ = W.T @ endog, W.T @ instruments
        QQ = np.block([[WW, WZ], [WZ.T, instruments.T @ instruments]])
        QR = np.block([[WW, WD], [WZ.T, instruments.T @ endog]])
        Qy = np.concatenate([W.T @ y, instruments.T @ y])
    k = QR.shape[1]
    q_scale = np.sqrt(np.diag(QQ))
    r_scale = q_scale if endog is None else np.concatenate([q_scale[:p], np.sqrt(np.diag(endog.T @ endog))])
    QQs, QRs, Qys = QQ / np.outer(q_scale, q_scale), QR / np.outer(q_scale, r_scale), Qy / q_scale
    Pi = np.eye(k) if endog is None else np.linalg.solve(QQs, QRs)
    bread = np.linalg.inv(Pi.T @ QRs)
    beta = bread @ (Pi.T @ Qys) / r_scale
    resid = y - W @ beta[:p]
    if endog is not None:
        resid -= endog @ beta[p:]
    if codes is None:
        Q = W if endog is None else np.column_stack([W, instruments])
        xhat = (Q / q_scale) @ Pi
        meat = (xhat * resid[:, None] ** 2).T @ xhat * (n / (n - k))
        n_clusters = None
    else:
        n_clusters = int(codes.max()) + 1
        blocks = (W,) if endog is None else (W, instruments)
        xi = _cluster_sums(codes, resid, *blocks) / q_scale @ Pi
        meat = xi.T @ xi * (n_clusters / (n_clusters - 1) * (n - 1) / (n - k))
    cov = bread @ meat @ bread.T / np.outer(r_scale, r_scale)
    return _LinearFit(beta, cov, n, n_clusters)


def _linear_note(codes: npt.NDArray[np.int64] | None, who: str = "primary worker") -> str:
    if codes is None:
        return "SE: heteroskedasticity-robust (HC1)"
    return f"SE: cluster-robust by {who} (CR1, {int(codes.max()) + 1} clusters)"


def _check_clusters(sample: _Sample, codes: npt.NDArray[np.int64] | None, name: str) -> None:
    if codes is not None and int(codes.max()) + 1 < 2:
        raise sample.error(name, "has a single cluster", "cluster-robust SEs need at least 2 clusters")


# ----------------------------------------------------------------------------------------------
# naive comparison and outcome regressions
# ----------------------------------------------------------------------------------------------


def naive_difference(y: ArrayLike, d: ArrayLike, *, outcome: str | None = None, subgroup: str = "",
                     scale: str | None = None) -> EffectEstimate:
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
    return EffectEstimate(s.outcome, s.method, "ATE", est, se, lower, upper, p, s.n_treated, s.n_control,
                          scale or _default_scale(s.y), "; ".join(notes), s.subgroup)


def regression_adjustment(y: ArrayLike, d: ArrayLike, X: pd.DataFrame, cluster: ArrayLike | None,
                          estimand: WeightingEstimand = "ATT", *, outcome: str | None = None,
                          subgroup: str = "", scale: str | None = None) -> EffectEstimate:
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
    (the primary worker), or :math:`\sum_i \phi_i^2` (HC0) with ``None``, as for the weighting
    estimators (:func:`_variance_of_mean`). They are computed in the equivalent form read off
    the interacted regression, :math:`\phi_i = [(M'M)^{-1} M_i]_D\, e_i + \hat\gamma'(X_i - \bar X) w_i`
    with :math:`w_i = D_i/n_1` (ATT) or :math:`1/n` (ATE), which stays consistent with the
    coefficient when collinear columns are dropped. Without clusters this is the SE of
    statsmodels ``TreatmentEffect.ra`` (equality tested), the analogue of Stata ``teffects ra``.
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
    M[:, 2:2 + p] -= centre
    np.multiply(M[:, 2:2 + p], s.d[:, None], out=M[:, 2 + p:])
    del x
    M, gram, keep = _prune(M)
    if not keep[1]:
        raise s.error("treatment", "is collinear with the confounders",
                      "the treated and control groups must overlap in the confounders")
    est, psi = _lin_influence(s.y, s.d, M, gram, keep, p, estimand)
    se = math.sqrt(_variance_of_mean(psi, codes))
    notes = [f"fully interacted OLS (Lin 2013), X centred at the {'treated' if estimand == 'ATT' else 'sample'} "
             "means", _ra_note(codes)]
    if (~keep).any():
        notes.append(f"{int((~keep).sum())} collinear columns dropped")
    return s.result(estimand, est, se, scale or _default_scale(s.y), notes)


def _lin_influence(y: FloatArray, d: FloatArray, M: FloatArray, gram: FloatArray, keep: npt.NDArray[np.bool_],
                   p: int, estimand: WeightingEstimand) -> tuple[float, FloatArray]:
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
    slope[2:2 + p] = coef[2 + p:]
    fitted, lever, shift = (M @ np.column_stack([beta, row, slope[keep]])).T
    weight = d / d.mean() if estimand == "ATT" else 1.0
    psi = n * lever * (y - fitted) + shift * weight
    return float(beta[1]), psi


def _ra_note(codes: npt.NDArray[np.int64] | None) -> str:
    what = "influence function including the variability of the covariate means"
    if codes is None:
        return f"SE: {what} (robust, HC0)"
    return f"SE: {what}, cluster-robust by primary worker ({int(codes.max()) + 1} clusters)"


def logit_ame(y: ArrayLike, d: ArrayLike, X: pd.DataFrame, cluster: ArrayLike | None,
              estimand: WeightingEstimand = "ATT", *, outcome: str | None = None,
              subgroup: str = "") -> EffectEstimate:
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
        raise s.error(s.outcome or "y", "is not binary (0/1)",
                      "use regression_adjustment for continuous and count outcomes")
    x = s.take(X, "X")
    codes = s.codes(cluster)
    _check_clusters(s, codes, "cluster")
    # column-major (as _design builds it): statsmodels' Hessian X'diag(w)X is about a third
    # faster on it at a million rows
    M = _design(1.0, s.d, x)
    del x
    M, _, keep = _prune(M)
    if not keep[1]:
        raise s.error("treatment", "is collinear with the confounders",
                      "the treated and control groups must overlap in the confounders")
    notes = [f"logit AME over the {'treated' if estimand == 'ATT' else 'sample'}, delta-method SE"]
    if codes is None:
        fit_kw: dict = {"cov_type": "HC0"}
        notes.append("SE: robust (HC0)")
    else:
        fit_kw = {"cov_type": "cluster", "cov_kwds": {"groups": codes}}
        notes.append(f"SE: cluster-robust by primary worker (CR1, {int(codes.max()) + 1} clusters)")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        warnings.simplefilter("always", PerfectSeparationWarning)
        res = sm.Logit(s.y, M).fit(method="newton", maxiter=100, disp=0, **fit_kw)
    if not res.mle_retvals.get("converged", True) or any(
            issubclass(w.category, (ConvergenceWarning, PerfectSeparationWarning)) for w in caught):
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


def _expit(x: FloatArray) -> FloatArray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # overflow-free logistic


def matched_regression(y: ArrayLike, d: ArrayLike, weights: ArrayLike, subclass: ArrayLike | None,
                       replace: bool, *, outcome: str | None = None, subgroup: str = "",
                       scale: str | None = None) -> EffectEstimate:
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
    s = _sample(y, d, "matched_regression", outcome, subgroup, extra_keep=matched,
                extra_reason="not in the matched sample (weight 0 or missing)")
    w = w_all[s.keep]
    M = np.column_stack([np.ones(s.y.size), s.d])
    notes = ["WLS of outcome on treatment in the matched sample"]
    if not replace:
        if subclass is None:
            raise s.error("subclass", "is required when matching was without replacement",
                          "pass the matched-set id written by the matching stage")
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


# ----------------------------------------------------------------------------------------------
# weighting estimators (propensity score given by the caller)
# ----------------------------------------------------------------------------------------------


def _scores(sample: _Sample, ps: ArrayLike) -> FloatArray:
    e = sample.take(ps, "ps")
    assert e is not None
    outside = (e <= 0) | (e >= 1)
    if outside.any():
        raise sample.error("ps", f"{int(outside.sum())} propensity scores are 0 or 1",
                           "overlap fails: trim the sample to common support or change the propensity model")
    return e


@dataclass(frozen=True)
class _PsModel:
    """The logistic propensity model's design and information, for the stacked correction."""

    Z: FloatArray  # [1, X] with collinear columns dropped
    info_inv: FloatArray  # (Z' diag(e(1-e)) Z / n)^{-1}
    resid: FloatArray  # d - e: the logit score of unit i is resid_i * Z_i


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
    return _PsModel(Z, np.linalg.inv(info), resid)


def _ps_correction(model: _PsModel, dphi_de: FloatArray, e: FloatArray) -> FloatArray:
    r"""Per-unit term that adds the propensity model's estimation to an influence function.

    For an estimating function :math:`\phi(e_i)` with :math:`e_i = \Lambda(Z_i'\beta)`, the
    first-order effect of :math:`\hat\beta - \beta = H^{-1} \bar s` (logit score ``s``,
    information ``H``) is :math:`A' H^{-1} s_i`, with
    :math:`A = n^{-1}\sum_i (\partial\phi_i/\partial e_i)\, e_i(1-e_i) Z_i`.
    """
    A = (dphi_de * e * (1 - e)) @ model.Z / e.size
    return model.resid * (model.Z @ (model.info_inv @ A))


def _hajek(sample: _Sample, e: FloatArray, estimand: Estimand, psm: _PsModel | None,
           codes: npt.NDArray[np.int64] | None) -> tuple[float, float, list[str]]:
    r"""Normalised weighting estimator with tilting function t(e) and its sandwich SE.

    Weights :math:`w_1 = D\,t(e)/e`, :math:`w_0 = (1-D)\,t(e)/(1-e)`; :math:`t = 1` (ATE),
    :math:`e` (ATT), :math:`e(1-e)` (ATO, overlap weights). Each arm mean solves
    :math:`\sum_i w_{di}(Y_i - \mu_d) = 0`; influence function
    :math:`\psi_i = w_{1i}(Y_i-\hat\mu_1)/\bar w_1 - w_{0i}(Y_i-\hat\mu_0)/\bar w_0`
    plus, with the propensity model, its correction term.
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
    r1, r0 = (y - mu1) / m1, (y - mu0) / m0
    psi = w1 * r1 - w0 * r0
    if psm is not None:
        psi = psi + _ps_correction(psm, dw1 * r1 - dw0 * r0, e)
    se = math.sqrt(_variance_of_mean(psi, codes))
    ess = [float(w.sum() ** 2 / (w @ w)) for w in (w1, w0)]
    notes = [f"effective sample size treated {ess[0]:.0f}, control {ess[1]:.0f}"]
    return mu1 - mu0, se, notes


def ipw(y: ArrayLike, d: ArrayLike, ps: ArrayLike, estimand: WeightingEstimand = "ATE",
        X: pd.DataFrame | None = None, *, cluster: ArrayLike | None = None, outcome: str | None = None,
        subgroup: str = "", scale: str | None = None) -> EffectEstimate:
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
    trimming is the caller's decision.
    """
    if estimand not in get_args(WeightingEstimand):
        raise ValueError(f"estimand must be 'ATT' or 'ATE', got {estimand!r}")
    s = _sample(y, d, "ipw", outcome, subgroup)
    return _weighted_estimate(s, ps, X, cluster, estimand, "Hajek IPW", scale)


def _weighted_estimate(s: _Sample, ps: ArrayLike, X: pd.DataFrame | None, cluster: ArrayLike | None,
                       estimand: Estimand, label: str, scale: str | None) -> EffectEstimate:
    """The Hajek weighting estimate (IPW or overlap) with its stacked or known-score SE."""
    e = _scores(s, ps)
    codes = s.codes(cluster)
    _check_clusters(s, codes, "cluster")
    notes = [label]
    psm = _ps_model(s, e, X, notes)
    est, se, more = _hajek(s, e, estimand, psm, codes)
    what = "sandwich with estimated ps (logit scores stacked)" if psm else "influence function, ps treated as known"
    return s.result(estimand, est, se, scale or _default_scale(s.y), [*notes, _se_note(codes, what), *more])


def overlap_weighted(y: ArrayLike, d: ArrayLike, ps: ArrayLike, X: pd.DataFrame | None = None, *,
                     cluster: ArrayLike | None = None, outcome: str | None = None, subgroup: str = "",
                     scale: str | None = None) -> EffectEstimate:
    r"""Average treatment effect in the overlap population (ATO) with overlap weights.

    Li, Morgan and Zaslavsky (2018): weights :math:`w_1 = D(1-e)`, :math:`w_0 = (1-D)e`, Hajek
    form as in :func:`ipw`. The target population weights each client by :math:`e(1-e)`, the
    clients who could plausibly have been in either group; weights are bounded, so no trimming
    is needed. SE as in :func:`ipw`: with ``X`` the logit scores are stacked (the sandwich
    variance of Li et al. 2018), otherwise ``ps`` is treated as known.
    """
    s = _sample(y, d, "overlap_weights", outcome, subgroup)
    return _weighted_estimate(s, ps, X, cluster, "ATO", "overlap weights (Hajek)", scale)


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


def aipw(y: ArrayLike, d: ArrayLike, X: pd.DataFrame, ps: ArrayLike, estimand: WeightingEstimand = "ATE",
         *, ps_design: pd.DataFrame | None = None, cluster: ArrayLike | None = None,
         outcome: str | None = None, subgroup: str = "", scale: str | None = None) -> EffectEstimate:
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
    fit0 = _arm_ols(Z, y, dd == 0)
    m0 = Z @ fit0.coef
    if estimand == "ATE":
        fit1 = _arm_ols(Z, y, dd == 1)
        m1 = Z @ fit1.coef
        phi = m1 - m0 + dd * (y - m1) / e - (1 - dd) * (y - m0) / (1 - e)
        est = float(phi.mean())
        psi = phi - est
        if psm is not None:
            psi = psi + _ols_correction(fit1, Z, y - m1, 1 - dd / e)
            psi = psi + _ols_correction(fit0, Z, y - m0, -(1 - (1 - dd) / (1 - e)))
            dphi_de = -dd * (y - m1) / e**2 - (1 - dd) * (y - m0) / (1 - e) ** 2
            psi = psi + _ps_correction(psm, dphi_de, e)
    else:
        odds = e / (1 - e)
        phi = dd * (y - m0) - (1 - dd) * odds * (y - m0)
        pbar = dd.mean()
        est = float(phi.sum() / dd.sum())
        psi = (phi - est * dd) / pbar
        if psm is not None:
            psi = psi + _ols_correction(fit0, Z, y - m0, -dd + (1 - dd) * odds) / pbar
            dphi_de = -(1 - dd) * (y - m0) / (1 - e) ** 2
            psi = psi + _ps_correction(psm, dphi_de, e) / pbar
    se = math.sqrt(_variance_of_mean(psi, codes))
    what = ("sandwich stacking the logit and outcome-model equations" if psm
            else "influence function, nuisance models treated as fixed")
    return s.result(estimand, est, se, scale or _default_scale(s.y), [*notes, _se_note(codes, what)])


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
        return (f"first-stage F = {self.f_stat:.1f} (cluster-robust Wald, 1 instrument, "
                f"{self.n_clusters} clusters), partial R2 = {self.partial_r2:.4f}")


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


def _iv_sample(y: ArrayLike | None, d: ArrayLike, z: ArrayLike, method: str, outcome: str | None,
               subgroup: str) -> tuple[_Sample, FloatArray]:
    zz = _floats(z, "z")
    known = ~np.isnan(zz)
    yy = np.zeros(zz.size) if y is None else y
    s = _sample(yy, d, method, outcome if y is not None else (outcome or ""), subgroup,
                extra_keep=known, extra_reason="with unknown instrument")
    zk = zz[s.keep]
    if np.ptp(zk) == 0:
        raise s.error("first_worker_left", "the instrument does not vary in the measured rows",
                      "the instrument needs clients whose first worker left and clients whose did not")
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
        raise s.error(None, "the regressor of interest is collinear with the confounders",
                      "it must vary within levels of the confounders")
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


def iv_first_stage(d: ArrayLike, z: ArrayLike, X: pd.DataFrame, cluster: ArrayLike | None, *,
                   y: ArrayLike | None = None, subgroup: str = "") -> FirstStage:
    r"""First stage :math:`D = \pi Z + X'\delta + v` with CR1 cluster-robust :math:`F = (\hat\pi/SE)^2`.

    Pass ``y`` to use the rows where that outcome is measured, the sample :func:`iv_2sls` uses.
    Rows with an unknown instrument are dropped. With one instrument this F equals
    linearmodels' ``first_stage.diagnostics["f.stat"]`` for the same covariance (tested).
    """
    s, zk = _iv_sample(y, d, z, "iv_first_stage", None, subgroup)
    codes = s.codes(cluster)
    _check_clusters(s, codes, "cluster")
    return _first_stage(s, _exog(s, X, zk), zk, codes)


def iv_2sls(y: ArrayLike, d: ArrayLike, z: ArrayLike, X: pd.DataFrame, cluster: ArrayLike | None, *,
            outcome: str | None = None, subgroup: str = "", scale: str | None = None) -> EffectEstimate:
    r"""Two-stage least squares of Y on D instrumented by Z, with exogenous X.

    .. math::
        D = \pi Z + X'\delta + v, \qquad Y = \tau \hat D + X'\beta + \varepsilon

    :math:`\hat\tau` is the local average treatment effect (LATE) of continuity for compliers,
    clients whose continuity was broken because their first worker left (Imbens and Angrist
    1994), under exclusion (the departure affects outcomes only through continuity) and
    monotonicity. SE cluster-robust by primary worker (CR1), the estimator of linearmodels
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
    notes = ["2SLS, instrument: first worker left in the exposure window", first.describe(), _linear_note(codes)]
    if weak_instrument(first):
        notes.append(f"weak instrument (F < {WEAK_INSTRUMENT_F:g})")
    if ex.dropped:
        notes.append(f"{ex.dropped} collinear columns dropped")
    return s.result("LATE", est, se, scale or _default_scale(s.y), notes)


def dose_response(y: ArrayLike, index: ArrayLike, X: pd.DataFrame, cluster: ArrayLike | None,
                  per: float = 0.1, *, d: ArrayLike | None = None, outcome: str | None = None,
                  subgroup: str = "", index_name: str | None = None) -> EffectEstimate:
    r"""Linear dose-response in the continuous continuity index, per ``per`` units (default 0.1).

    .. math::
        Y_i = \alpha + \beta\, \mathrm{UPC}_i + X_i'\gamma + \varepsilon_i, \qquad
        \text{estimate} = \beta \times \text{per}

    OLS with CR1 SE clustered by primary worker (:func:`_least_squares`; HC1 without clusters). Scale
    ``per_0.1_upc``. The slope is an average over the index's range under linearity; estimand
    labelled ATE. ``d`` is used only to count the treated and control clients in the row;
    without it every client counts as treated.
    """
    s = _sample(y, None, "dose_response", outcome, subgroup)
    idx = s.take(index, "index")
    assert idx is not None
    codes = s.codes(cluster)
    _check_clusters(s, codes, "cluster")
    if np.ptp(idx) == 0:
        raise s.error("index", "the continuity index does not vary", "a dose-response needs varying continuity")
    ex = _exog(s, X, idx)
    slope, se = _ols_on(s.y, ex, idx, codes).coef(ex.W.shape[1])
    name = index_name or (index.name if isinstance(getattr(index, "name", None), str) else "index")
    notes = [f"OLS slope of the outcome on {name} x {per:g}", _linear_note(codes)]
    if ex.dropped:
        notes.append(f"{ex.dropped} collinear columns dropped")
    if d is None:
        n1, n0 = s.y.size, 0
    else:
        dd = _floats(d, "d")[s.keep]
        n1, n0 = int((dd == 1).sum()), int((dd == 0).sum())
    per = float(per)
    return s.result("ATE", slope * per, se * per, f"per_{per:g}_{name}", notes, n_treated=n1, n_control=n0)
