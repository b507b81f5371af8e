"""What every estimator shares: the result row (:class:`EffectEstimate`), the sample checks, Wald
inference, collinearity pruning and the Gram-matrix least squares with CR1 cluster-robust SEs.

Conventions for all families (DESIGN section 5):

- Rows with a missing outcome are dropped and the count is written in ``notes``; every method
  needs at least two units in each treatment group (else :class:`AnalysisError`).
- Confidence intervals are normal (estimate +/- 1.96 SE) except the naive Welch comparison,
  which uses Student's t with the Welch-Satterthwaite degrees of freedom, and the clustered
  CR2 rows below, which use Student's t with G - 1 degrees of freedom.
- Cluster-robust SEs from linear models are CR1, the small-sample correction of Stata's
  ``regress, vce(cluster)`` and statsmodels' ``cov_type="cluster"``:
  ``V * G/(G-1) * (N-1)/(N-K)``, equal to linearmodels ``IV2SLS(...).fit(cov_type="clustered",
  debiased=True)`` (its default ``debiased=False`` applies no correction at all). The linear
  fits (OLS, WLS, 2SLS) are computed from Gram matrices (:func:`_least_squares`) and tested
  against linearmodels and statsmodels to 1e-8: linearmodels itself takes about 90 s per
  regression at the design's scale of a million clients.
- Weighting estimators and regression adjustment use influence-function (M-estimation)
  variances ``sum(IF_i^2) / n^2``. By default (``leverage=True``) every residual an influence
  function contains is first replaced by its CR2 (Bell-McCaffrey) leverage-adjusted value from
  the model that produced it (:func:`_cr2_residuals`; HC2 without clusters), the clustered sum
  has no ``G/(G-1)`` factor and the interval uses t(G-1): the interacted designs have many
  columns per arm, and the unadjusted sandwich was 11-12% low on small extracts
  (docs/validation.md, "Why the clustered SEs fall short"). ``leverage=False`` gives the HC0
  form that statsmodels ``TreatmentEffect`` and Stata ``teffects`` report (with ``cluster``:
  the influence functions summed within clusters and scaled by ``G/(G-1)``), which the tests
  compare against.
- Columns of a design that are exactly collinear in the sample at hand (for example the
  interaction of a site dummy with treatment when the site has no treated clients) are dropped
  before fitting and counted in ``notes``.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field, replace
from typing import Callable, Iterator, Literal, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import linalg, sparse, stats

from deepvalue.core.errors import AnalysisError, Problem

Estimand = Literal["ATT", "ATE", "ATO", "LATE", "ITT", "slope", "level_contrast"]
WeightingEstimand = Literal["ATT", "ATE"]

ESTIMATE_COLUMNS = (
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
# A collinear column explains all but this share of its (scaled) variance from the earlier ones.
COLLINEAR_TOL = 1e-9
# |sum of logit scores| / its model-based SD, per column of the propensity design: 1e-15 at a
# Newton-fitted logit MLE, ~1e-3 for a loosely converged (lbfgs, tol 1e-4) one, O(1) for a score
# from some other model (probit, other columns), for which the stacked correction would be wrong.
PS_SCORE_TOL = 1e-2
# What the pipeline clusters by: the worker allocated at the first contact, fixed before the
# exposure (the worker seen most is defined by it, so clustering by that would use a post-treatment
# grouping). ``deepvalue estimate --cluster COL`` names its own column in the notes instead.
CLUSTER_NAME = "allocated (first) worker"

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


def skipped_estimate(
    outcome: str,
    method: str,
    estimand: Estimand,
    scale: str,
    reason: str,
    *,
    n_treated: int = 0,
    n_control: int = 0,
    subgroup: str = "",
) -> EffectEstimate:
    """A row that records why an estimate was not made (numbers NaN, ``notes`` = the reason).

    Used, for example, when :func:`weak_instrument` says the first stage is too weak for 2SLS.
    """
    nan = float("nan")
    return EffectEstimate(
        outcome,
        method,
        estimand,
        nan,
        nan,
        nan,
        nan,
        nan,
        int(n_treated),
        int(n_control),
        scale,
        f"skipped: {reason}",
        subgroup,
    )


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
    clustered: bool = False  # set by codes(): the SE sums the influence function within clusters

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
            raise self.error(
                name,
                f"has {arr.shape[0]} rows but the outcome has {self.keep.size}",
                "pass arrays cut from the same analysis rows, in the same order",
            )
        if not self.keep.all():
            arr = arr[self.keep]
        if np.isnan(arr).any():
            bad = np.isnan(arr) if arr.ndim == 1 else np.isnan(arr).any(axis=1)
            raise self.error(
                name,
                f"has missing values in {int(bad.sum())} measured rows",
                "impute them (deepvalue.adjust.design adds missing indicators) or drop the rows before estimating",
            )
        return arr

    def codes(self, cluster: ArrayLike | None, name: str = "cluster") -> npt.NDArray[np.int64] | None:
        """Integer cluster codes on the kept rows; missing ids are refused."""
        if cluster is None:
            return None
        self.clustered = True
        raw = cluster.to_numpy() if isinstance(cluster, pd.Series) else np.asarray(cluster)
        if raw.shape[0] != self.keep.size:
            raise self.error(
                name,
                f"has {raw.shape[0]} rows but the outcome has {self.keep.size}",
                "pass arrays cut from the same analysis rows, in the same order",
            )
        if raw.dtype.kind not in "iu":  # text ids (or floats with NaN) go through objects
            raw = raw.astype(object)
        # codes in order of first appearance, so integer ids and their text give the same codes
        codes, _ = pd.factorize(raw[self.keep], use_na_sentinel=True)
        if (codes < 0).any():
            raise self.error(
                name,
                f"is missing for {int((codes < 0).sum())} measured rows",
                "every client needs a cluster id (allocated worker or matched set)",
            )
        return codes.astype(np.int64)

    def error(self, column: str | None, message: str, fix: str) -> AnalysisError:
        where = f"{self.method} for outcome '{self.outcome}'"
        if self.subgroup:
            where += f" in subgroup '{self.subgroup}'"
        return AnalysisError(
            [Problem("analysis", column, f"{where}: {message}", fix)], headline="an effect cannot be estimated"
        )

    def result(
        self,
        estimand: str,
        estimate: float,
        std_error: float,
        scale: str,
        notes: Sequence[str] = (),
        *,
        n_treated: int | None = None,
        n_control: int | None = None,
        influence: FloatArray | None = None,
        cr2: bool = False,
        df: float | None = None,
    ) -> EffectEstimate:
        """The row; ``influence`` (the estimator's influence function on the kept rows, on the scale of
        a mean) is recorded when :func:`collect_influence` is active, and changes nothing else.
        ``cr2`` says the influence function is leverage-adjusted (:func:`_cr2_residuals`), so its
        variance has no ``G/(G-1)`` factor; ``df`` gives a Student t interval."""
        if influence is not None:
            _record_influence(self, estimand, float(estimate), float(std_error), influence, scale, cr2)
        lower, upper, p = _wald(estimate, std_error, df)
        return EffectEstimate(
            outcome=self.outcome,
            method=self.method,
            estimand=estimand,
            estimate=float(estimate),
            std_error=float(std_error),
            ci_lower=lower,
            ci_upper=upper,
            p_value=p,
            n_treated=self.n_treated if n_treated is None else int(n_treated),
            n_control=self.n_control if n_control is None else int(n_control),
            scale=scale,
            notes="; ".join([*self.notes, *notes]),
            subgroup=self.subgroup,
        )


# ----------------------------------------------------------------------------------------------
# influence functions, exposed for the joint bootstrap (deepvalue.effects.joint)
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Influence:
    r"""The influence function of one estimate, as its estimator computed it for the SE.

    ``psi`` is on the scale of a mean over the ``n`` kept rows: the estimator's variance is
    :math:`\frac{G}{G-1}\sum_g (\sum_{i\in g}\psi_i)^2 / n^2` with ``clustered`` (G clusters), else
    :math:`\sum_i \psi_i^2/n^2` (:func:`_variance_of_mean`). ``keep`` marks the estimator's input rows it
    used; ``clients`` are the ids of the kept rows, set by the estimates table (None for a direct call).
    """

    outcome: str
    subgroup: str
    method: str
    estimand: str
    estimate: float
    std_error: float
    keep: npt.NDArray[np.bool_]
    psi: FloatArray
    clustered: bool
    clients: np.ndarray | None = None
    scale: str = ""
    cr2: bool = False  # leverage-adjusted psi: the clustered variance has no G/(G-1) factor


@dataclass
class _Collector:
    sink: Callable[[Influence], None]
    pending: list[Influence] = field(default_factory=list)


_COLLECTOR: ContextVar[_Collector | None] = ContextVar("deepvalue_influence", default=None)


@contextmanager
def collect_influence(sink: Callable[[Influence], None]) -> Iterator[None]:
    """Within this block, each influence-function estimate made through the estimates table
    (:func:`deepvalue.effects.table.run_estimates`) is passed to ``sink`` with its client ids.

    Outside it nothing is recorded; inside it no estimate or SE changes (the estimators compute the
    same arrays either way).
    """
    token = _COLLECTOR.set(_Collector(sink))
    try:
        yield
    finally:
        _COLLECTOR.reset(token)


def collecting_influence() -> bool:
    return _COLLECTOR.get() is not None


@contextmanager
def relabel_influence(transform: Callable[[Influence], Sequence[Influence]]) -> Iterator[None]:
    """Within this block, each influence record reaches the enclosing :func:`collect_influence` sink as
    ``transform(record)`` (none, one or several records): for estimates whose rows are renamed or
    rescaled after the estimator ran (the questionnaire outcomes' scales), so the records name the
    rows of the published table. Without an enclosing collector it does nothing.
    """
    outer = _COLLECTOR.get()
    if outer is None:
        yield
        return

    def sink(rec: Influence) -> None:
        for out in transform(rec):
            outer.sink(out)

    token = _COLLECTOR.set(_Collector(sink))
    try:
        yield
    finally:
        _COLLECTOR.reset(token)


def _record_influence(
    sample: _Sample, estimand: str, estimate: float, std_error: float, psi: FloatArray, scale: str, cr2: bool = False
) -> None:
    collector = _COLLECTOR.get()
    if collector is None:
        return
    collector.pending.append(
        Influence(
            sample.outcome,
            sample.subgroup,
            sample.method,
            estimand,
            estimate,
            std_error,
            sample.keep.copy(),
            np.asarray(psi, dtype=float),
            sample.clustered,
            scale=scale,
            cr2=cr2,
        )
    )


def discard_influence() -> None:
    """Forget what an estimator recorded (it failed, or its row is not one of the table's)."""
    collector = _COLLECTOR.get()
    if collector is not None:
        collector.pending.clear()


def flush_influence(method: str, estimand: str, ids: np.ndarray | None) -> None:
    """Hand what the last estimator recorded for ``estimand`` to the sink, named as the table names
    the method and with the ids of the rows it used (``ids``: one per row given to the estimator)."""
    collector = _COLLECTOR.get()
    if collector is None:
        return
    found, collector.pending = collector.pending, []
    for rec in found:
        if rec.estimand == estimand:
            clients = None if ids is None else np.asarray(ids)[rec.keep]
            collector.sink(replace(rec, method=method, clients=clients))


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


def _sample(
    y: ArrayLike,
    d: ArrayLike | None,
    method: str,
    outcome: str | None,
    subgroup: str,
    extra_keep: npt.NDArray[np.bool_] | None = None,
    extra_reason: str = "",
    min_per_group: int = 2,
) -> _Sample:
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
            raise sample.error(
                None,
                f"only {sample.y.size} measured rows",
                "an effect needs at least 3 clients with the outcome measured",
            )
        return sample
    dd = _floats(d, "d")
    if dd.shape[0] != yy.shape[0]:
        raise sample.error(
            "treatment",
            f"has {dd.shape[0]} rows but the outcome has {yy.shape[0]}",
            "pass arrays cut from the same analysis rows, in the same order",
        )
    dd = dd[keep]
    if not np.isin(dd, (0.0, 1.0)).all():
        raise sample.error(
            "treatment", "must be 0/1 without missing values", "code continuity as 1 and fragmented service as 0"
        )
    sample.d = dd
    for label, n in (("treated (continuous)", sample.n_treated), ("control (fragmented)", sample.n_control)):
        if n < min_per_group:
            raise sample.error(
                "treatment",
                f"the {label} group has {n} clients with the outcome measured",
                f"an effect needs at least {min_per_group} clients in each group: check the "
                "treatment threshold, the subgroup, or whether the outcome applies here",
            )
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
        out[:, at : at + w] = a.reshape(-1, 1) if a.ndim == 1 else a
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


def _least_squares(
    y: FloatArray,
    W: FloatArray,
    codes: npt.NDArray[np.int64] | None,
    *,
    endog: FloatArray | None = None,
    instruments: FloatArray | None = None,
    weights: FloatArray | None = None,
    gram: FloatArray | None = None,
) -> _LinearFit:
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


def _linear_note(codes: npt.NDArray[np.int64] | None, who: str | None = None) -> str:
    who = who or CLUSTER_NAME
    if codes is None:
        return "SE: heteroskedasticity-robust (HC1)"
    return f"SE: cluster-robust by {who} (CR1, {int(codes.max()) + 1} clusters)"


def _check_clusters(sample: _Sample, codes: npt.NDArray[np.int64] | None, name: str) -> None:
    if codes is not None and int(codes.max()) + 1 < 2:
        raise sample.error(name, "has a single cluster", "cluster-robust SEs need at least 2 clusters")


def _expit(x: FloatArray) -> FloatArray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # overflow-free logistic
