"""The CR2 (Bell-McCaffrey) leverage adjustment of the influence-function SEs (issues 14 and 16).

Every residual an influence function contains is replaced, cluster by cluster, by its
leverage-adjusted value from the model that produced it (:func:`_cr2_residuals`); the clustered
variance then has no ``G/(G-1)`` factor (:func:`_variance_cr2`) and the interval uses t(G-1)
(:func:`_cr2_df`). docs/design.md, "Standard errors: the CR2 leverage adjustment", says which
residuals each estimator adjusts and why CR2.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import numpy.typing as npt
from scipy import linalg

from deepvalue.effects.base import CLUSTER_NAME, FloatArray, _cluster_sums, _variance_of_mean


def _variance_cr2(psi: FloatArray, codes: npt.NDArray[np.int64] | None) -> float:
    """Variance of a mean of leverage-adjusted influence functions (:func:`_cr2_residuals`).

    The CR2 (HC2 without clusters) sum ``sum_g (sum_{i in g} psi_i)^2 / n^2`` with no
    ``G/(G-1)`` factor: the adjustment of the residuals replaces it (Bell and McCaffrey 2002)."""
    n = psi.size
    if codes is None:
        return float(psi @ psi) / n**2
    sums = np.bincount(codes, weights=psi)
    return float(sums @ sums) / n**2


def _variance(psi: FloatArray, codes: npt.NDArray[np.int64] | None, leverage: bool) -> float:
    """The estimators' variance of a mean of influence functions: :func:`_variance_cr2` when ``psi``
    was leverage-adjusted, else the unadjusted ``G/(G-1)`` sum (:func:`~deepvalue.effects.base._variance_of_mean`)."""
    return _variance_cr2(psi, codes) if leverage else _variance_of_mean(psi, codes)


def _cr2_residuals(
    codes: npt.NDArray[np.int64] | None,
    Z: FloatArray,
    u: FloatArray,
    gram: FloatArray,
    *,
    weights: FloatArray | None = None,
    rows: npt.NDArray[np.bool_] | None = None,
) -> FloatArray:
    r"""A fitted model's score residuals with the Bell-McCaffrey (CR2) leverage adjustment.

    The model's score of unit i is :math:`Z_i u_i` and its information ``gram`` is
    :math:`\sum_i a_i Z_i Z_i'` over ``rows`` (OLS: :math:`a = 1`, :math:`u` the residual; WLS
    with weights :math:`w`: :math:`a = w`, :math:`u = w e`; logit: :math:`a = e(1-e)`,
    :math:`u = D - e`). With :math:`\tilde Z = \sqrt a Z` and :math:`\tilde e = u/\sqrt a`,
    the residuals of cluster g are replaced by

    .. math::
        \tilde e_g^* = (I - H_{gg})^{-1/2}\, \tilde e_g, \qquad
        H_{gg} = \tilde Z_g (\textstyle\sum a Z Z')^{-1} \tilde Z_g'

    and :math:`u^* = \sqrt a\, \tilde e^*` is returned (``u`` outside ``rows`` unchanged).
    For OLS this is CR2 of Bell and McCaffrey (2002) with the symmetric square root
    (Pustejovsky and Tipton 2018, JBES 36(4):672-683; for ``lm`` the variance from :math:`u^*`
    equals R clubSandwich's ``vcovCR(type = "CR2")``, tested; for ``glm`` and weighted ``lm``,
    clubSandwich's working-model target differs, by up to 0.5% and 1.1% on the test data), and HC2
    without clusters (each unit its own cluster: :math:`u_i^* = u_i/\sqrt{1-h_{ii}}`). With
    :math:`F = \tilde Z (\sum a Z Z')^{-1/2}` (so :math:`H_{gg} = F_g F_g'`), a cluster of at most
    k units is decomposed as its :math:`n_g \times n_g` block (clusters of one size in one batched
    eigh) and a larger one in the k x k form :math:`F_g'F_g = V \Lambda V'`,
    :math:`\tilde e_g^* = \tilde e_g + F_g V \mathrm{diag}\{((1-\lambda)^{-1/2} - 1)/\lambda\} V' F_g'\tilde e_g`,
    so a cluster costs :math:`O(n_g k^2)` and no large block is formed. An eigenvalue of 1 (a
    column that only this cluster's units carry) leaves that direction unchanged: the residuals
    carry none of it.

    The adjustment runs with BLAS on one thread, so its bits do not depend on the machine's thread
    count (the same inputs give byte-identical tables; tests/validation/test_validation_workflow.py).
    """
    with _one_blas_thread():
        return _adjust(codes, Z, u, gram, weights, rows)


def _adjust(
    codes: npt.NDArray[np.int64] | None,
    Z: FloatArray,
    u: FloatArray,
    gram: FloatArray,
    weights: FloatArray | None,
    rows: npt.NDArray[np.bool_] | None,
) -> FloatArray:
    """The body of :func:`_cr2_residuals`."""
    sel = np.ones(u.size, dtype=bool) if rows is None else rows.copy()
    if weights is not None:
        sel &= weights > 0
    idx = np.flatnonzero(sel)
    a = np.ones(idx.size) if weights is None else weights[idx]
    ra = np.sqrt(a)
    norms = np.sqrt(np.diag(gram))
    chol = linalg.cholesky(gram / np.outer(norms, norms), lower=True)
    # F F' = Z~ gram^{-1} Z~' (the hat matrix of the model's rows)
    F = linalg.solve_triangular(chol, (Z[idx] * ra[:, None] / norms).T, lower=True).T
    e = u[idx] / ra
    out = u.astype(float, copy=True)
    if codes is None:
        h = np.einsum("ij,ij->i", F, F)
        out[idx] = ra * e / np.sqrt(np.clip(1.0 - h, _CR2_FLOOR, None))
        return out
    c = codes[idx]
    order = np.argsort(c, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(c[order]) != 0])
    sizes = np.diff(np.r_[starts, order.size])
    k = F.shape[1]
    adjusted = e.copy()
    # small clusters (at most k units): their n_g x n_g blocks H_gg = F_g F_g', stacked by size and
    # decomposed together (batched eigh), so there is no Python step per cluster
    for size in np.unique(sizes[sizes <= k]):
        first = starts[sizes == size]
        for chunk in np.array_split(first, max(1, int(first.size * size * size) // _CR2_BATCH + 1)):
            rows = order[chunk[:, None] + np.arange(size)]  # (clusters, size)
            Fg = F[rows]
            lam, vec = np.linalg.eigh(np.einsum("gsk,gtk->gst", Fg, Fg))
            eb = e[rows]
            proj = np.einsum("gsr,gs->gr", vec, eb) * _factor(lam)
            adjusted[rows] = eb + np.einsum("gsr,gr->gs", vec, proj)
    # large clusters: the k x k form. With F_g'F_g = V diag(lam) V', (I - H_gg)^{-1/2} e_g =
    # e_g + F_g V diag(((1 - lam)^{-1/2} - 1) / lam) V' F_g' e_g; the cost is the cluster's n_g k^2
    for start, size in zip(starts[sizes > k], sizes[sizes > k], strict=True):
        rows = order[start : start + size]
        Fg = F[rows]
        lam, vec = np.linalg.eigh(Fg.T @ Fg)
        scale = np.divide(_factor(lam), lam, out=np.zeros_like(lam), where=lam > _CR2_FLOOR)
        adjusted[rows] = e[rows] + Fg @ (vec @ (scale * (vec.T @ (Fg.T @ e[rows]))))
    out[idx] = ra * adjusted
    return out


@functools.lru_cache(maxsize=1)
def _controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _one_blas_thread():
    """A context with BLAS on one thread (a controller made once: threadpool_limits scans the loaded
    libraries at every call)."""
    return _controller().limit(limits=1, user_api="blas")


def _factor(lam: FloatArray) -> FloatArray:
    """``(1 - lam)^{-1/2} - 1`` for the eigenvalues of H_gg; 0 (no change) for an eigenvalue of 1."""
    lam = np.clip(lam, 0.0, None)
    keep = lam < 1.0 - _CR2_FLOOR
    return np.where(keep, 1.0 / np.sqrt(np.where(keep, 1.0 - lam, 1.0)), 1.0) - 1.0


def _cr2_mean_residuals(codes: npt.NDArray[np.int64] | None, w: FloatArray, resid: FloatArray) -> FloatArray:
    """CR2-adjusted residuals of a weighted mean (a regression on a constant with weights ``w``;
    ``resid`` is returned where ``w`` is 0). Cluster g's leverage is its share of the weight, so
    this multiplies the cluster's residuals by ``(1 - share_g)^{-1/2}``."""
    u = _cr2_residuals(codes, np.ones((w.size, 1)), w * resid, np.array([[w.sum()]]), weights=w)
    return np.divide(u, w, out=resid.astype(float, copy=True), where=w > 0)


# Floats per batch of stacked clusters in _cr2_residuals (about 64 MB).
_CR2_BATCH = 8_000_000
# Eigenvalues of H_gg within this of 1 are treated as 1 (the residuals carry none of them).
_CR2_FLOOR = 1e-10


def _cr2_note(codes: npt.NDArray[np.int64] | None, what: str) -> str:
    if codes is None:
        return f"SE: {what}, leverage-adjusted (HC2)"
    g = int(codes.max()) + 1
    return f"SE: {what}, cluster-robust by {CLUSTER_NAME} ({g} clusters), leverage-adjusted (CR2), t({g - 1}) intervals"


def _cr2_df(codes: npt.NDArray[np.int64] | None, leverage: bool = True) -> float | None:
    """Degrees of freedom of an interval: G - 1 for a clustered CR2 SE, else None (normal)."""
    return None if codes is None or not leverage else float(int(codes.max()))


def _centring_shrinkage(
    codes: npt.NDArray[np.int64] | None,
    M: FloatArray,
    resid: FloatArray,
    gram: FloatArray,
    gamma_cols: npt.NDArray[np.int64],
    gamma: FloatArray,
    xc: FloatArray,
    weight: FloatArray | float,
) -> float:
    r"""The factor :math:`\kappa` that takes the noise of :math:`\hat\gamma` out of the centring term.

    An interacted regression's influence function carries :math:`\hat\gamma'(X_i - c) w_i`, whose
    clustered sum of squares is :math:`\hat\gamma' Q \hat\gamma` with
    :math:`Q = \sum_g S_g S_g'`, :math:`S_g = \sum_{i \in g} (X_i - c) w_i`. Because
    :math:`E[\hat\gamma' Q \hat\gamma] \approx \gamma' Q \gamma + \mathrm{tr}(Q V_\gamma)`, the
    plug-in is biased upward by the sampling variance :math:`V_\gamma` of the interaction
    coefficients: where X is nearly constant within a cluster (the site and start-quarter dummies
    within a worker) and there are many interactions, that bias is most of the term
    (docs/validation.md, "The questionnaire outcomes with CR2 (issue 15)"). The term is scaled by

    .. math::
        \kappa = \sqrt{\max\{0,\ 1 - \mathrm{tr}(Q \hat V_\gamma) / \hat\gamma' Q \hat\gamma\}}

    so its sum of squares is the unbiased :math:`\hat\gamma' Q \hat\gamma - \mathrm{tr}(Q \hat V_\gamma)`
    (floored at 0), and the influence function stays a per-unit vector for the joint draws.
    :math:`\hat V_\gamma` is the CR2 covariance of the coefficients in ``gamma_cols`` (the bread
    ``gram`` and the cluster sums of the scores :math:`M_i e^*_i`, with ``resid`` the adjusted
    residuals :math:`e^*`), ``gamma`` their estimates; ``xc`` holds :math:`X - c` for those
    coefficients' covariates, in the same order. Without clusters each unit is its own (HC2).
    The cross term between the residual part and :math:`\hat\gamma - \gamma` is of smaller
    order (one cluster's own contribution) and is left as it is.
    """
    gamma_cols = np.asarray(gamma_cols, dtype=np.int64)
    if gamma_cols.size == 0:
        return 1.0
    return _shrinkage_factor(codes, _coefficient_noise(codes, M, resid, gram)[gamma_cols], gamma, xc, weight)


def _coefficient_noise(
    codes: npt.NDArray[np.int64] | None, M: FloatArray, resid: FloatArray, gram: FloatArray
) -> FloatArray:
    """Each cluster's contribution to an OLS fit's coefficient error, ``gram^{-1} sum_{i in g} M_i e_i``:
    (coefficients, clusters); its outer product is the fit's clustered (CR2, with adjusted ``resid``)
    covariance. Rows outside the fit carry ``resid`` 0."""
    U = _cluster_sums(_units_if_none(codes, resid.size), resid, M)
    norms = np.sqrt(np.diag(gram))
    with _one_blas_thread():
        return np.linalg.solve(gram / np.outer(norms, norms), U.T / norms[:, None]) / norms[:, None]


def _units_if_none(codes: npt.NDArray[np.int64] | None, n: int) -> npt.NDArray[np.int64]:
    """The cluster codes, or each unit its own cluster (the HC2 case)."""
    return np.arange(n) if codes is None else codes


def _shrinkage_factor(
    codes: npt.NDArray[np.int64] | None,
    A: FloatArray,
    gamma: FloatArray,
    xc: FloatArray,
    weight: FloatArray | float,
) -> float:
    """kappa of :func:`_centring_shrinkage` from the coefficients' per-cluster noise ``A``
    (coefficients, clusters), their estimates ``gamma`` and the centred covariates ``xc``."""
    n = xc.shape[0]
    S = _cluster_sums(_units_if_none(codes, n), np.broadcast_to(np.asarray(weight, dtype=float), (n,)), xc)
    with _one_blas_thread():  # like the adjustment itself: bits independent of the thread count
        Q = S.T @ S
        plug_in = float(gamma @ Q @ gamma)
        noise = float(np.sum(Q * (A @ A.T)))
    if plug_in <= 0.0:
        return 1.0
    return math.sqrt(max(0.0, 1.0 - noise / plug_in))
