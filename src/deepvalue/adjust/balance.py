"""Covariate balance before and after adjustment: SMD, variance ratio, KS, effective sample size.

DESIGN section 5 (Balance). One long table, a row per covariate and adjustment (unadjusted,
matched, each weighting), with the same statistics throughout, so a Love plot and the flags are
one filter away. The SMD denominator is always the SD of the *unadjusted* sample, so a change in
SMD reflects a change in the means and not in the yardstick (Stuart 2010; cobalt's FAQ).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from deepvalue.adjust.propensity import binary_columns
from deepvalue.adjust.weighting import effective_sample_size

UNADJUSTED = "unadjusted"
BALANCE_COLUMNS = [
    "covariate",
    "adjustment",
    "binary",
    "mean_treated",
    "mean_control",
    "smd",
    "variance_ratio",
    "ks",
    "flagged",
]
SUMMARY_COLUMNS = ["adjustment", "group", "n", "sum_weights", "ess"]


def balance_table(
    X: pd.DataFrame,
    treatment: npt.ArrayLike,
    weights: Mapping[str, npt.ArrayLike],
    smd_threshold: float = 0.1,
    variance_ratio: Sequence[float] = (0.5, 2.0),
) -> pd.DataFrame:
    """Balance statistics per covariate, unadjusted and under each set of weights.

    For a covariate :math:`x`, group :math:`g \\in \\{t, c\\}` and weights :math:`w` (all 1 for
    the unadjusted sample):

    - weighted mean :math:`\\bar x_{g} = \\sum_{i \\in g} w_i x_i / \\sum_{i \\in g} w_i`;
    - weighted variance: for a 0/1 covariate :math:`\\bar x_g (1 - \\bar x_g)`; otherwise the
      unbiased "reliability weights" form
      :math:`s_g^2 = \\frac{V_1}{V_1^2 - V_2} \\sum_{i \\in g} w_i (x_i - \\bar x_g)^2` with
      :math:`V_1 = \\sum w_i`, :math:`V_2 = \\sum w_i^2`, which is the usual ddof = 1 variance when
      all weights are 1 (Austin 2009, Stat Med 28:3083, uses exactly these two forms);
    - standardised mean difference
      :math:`\\mathrm{SMD} = (\\bar x_t - \\bar x_c) / \\sqrt{(s_{t,0}^2 + s_{c,0}^2)/2}`, where
      :math:`s_{g,0}^2` are the *unadjusted* variances, for every adjustment;
    - variance ratio :math:`s_t^2 / s_c^2` (weighted);
    - KS: :math:`\\max_x |F_t(x) - F_c(x)|` of the weighted empirical CDFs (for a 0/1
      covariate this is :math:`|\\bar x_t - \\bar x_c|`).

    Parameters
    ----------
    X
        Covariates (the design matrix), one column each.
    treatment
        0/1 per row.
    weights
        Name to weight per row (0 = not in the adjusted sample), e.g. ``{"matched": ...,
        "ipw_ate": ...}``. The unadjusted sample is always added first.
    smd_threshold, variance_ratio
        ``flagged`` is true when :math:`|\\mathrm{SMD}| \\ge` `smd_threshold`, or, for a covariate
        that is not 0/1, when the variance ratio lies outside `variance_ratio`. The variance
        ratio of a 0/1 covariate is reported but not flagged: it is a function of the two means,
        already judged by the SMD (cobalt does not report it at all). Unadjusted rows are flagged
        by the same rule, to show what adjustment had to fix.

    Returns
    -------
    pandas.DataFrame
        Columns ``covariate, adjustment, binary, mean_treated, mean_control, smd,
        variance_ratio, ks, flagged``; rows by adjustment (unadjusted first), then covariate in
        the order of `X`. Statistics of a group with no positive weight are NaN.

    Examples
    --------
    >>> X = pd.DataFrame({"age": [30.0, 40.0, 20.0, 30.0]})
    >>> bal = balance_table(X, [1, 1, 0, 0], {})
    >>> float(bal.loc[0, "smd"])  # (35 - 25) / sqrt((50 + 50) / 2)
    1.414213562373095
    """
    if UNADJUSTED in weights:
        raise ValueError(f"{UNADJUSTED!r} is added automatically; do not pass it in weights")
    t = np.asarray(treatment)
    A = X.to_numpy(dtype=np.float64)
    n, k = A.shape
    if t.shape != (n,) or not np.isin(t, (0, 1)).all():
        raise ValueError("treatment must be 0/1 with one value per row of X")
    is_treated = t.astype(bool)
    binary = binary_columns(A)
    # Centre once: weighted sums of squares are then taken about values near the means, which
    # keeps sum(w x^2) - V1 m^2 free of cancellation for columns such as income in pounds.
    centre = A.mean(axis=0) if n else np.zeros(k)
    Ac = A - centre
    continuous = np.flatnonzero(~binary)
    # one sort per non-binary column serves every adjustment's KS statistic
    sorted_cols = {j: _sorted_column(A[:, j]) for j in continuous}
    treated_sorted = {j: is_treated[order] for j, (order, _) in sorted_cols.items()}

    all_weights: dict[str, npt.NDArray[np.float64]] = {UNADJUSTED: np.ones(n)}
    for name, w in weights.items():
        w = np.asarray(w, dtype=np.float64)
        if w.shape != (n,) or not np.isfinite(w).all() or (w < 0).any():
            raise ValueError(f"weights {name!r} must be finite, non-negative, one per row")
        all_weights[name] = w

    stats = _group_stats(Ac, centre, binary, all_weights, is_treated)
    var_t0, var_c0 = stats[UNADJUSTED]["var_t"], stats[UNADJUSTED]["var_c"]
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled_sd = np.sqrt((var_t0 + var_c0) / 2)
    lo, hi = variance_ratio
    frames = []
    for name, w in all_weights.items():
        s = stats[name]
        with np.errstate(divide="ignore", invalid="ignore"):
            smd = (s["mean_t"] - s["mean_c"]) / pooled_sd
            vr = s["var_t"] / s["var_c"]
        ks = np.abs(s["mean_t"] - s["mean_c"])  # exact for 0/1 columns; others replaced below
        for j, (order, last_of_value) in sorted_cols.items():
            ks[j] = _weighted_ks(w[order], treated_sorted[j], last_of_value)
        flagged = (np.abs(smd) >= smd_threshold) | (~binary & ((vr < lo) | (vr > hi)))
        frames.append(
            pd.DataFrame(
                {
                    "covariate": X.columns.astype(str),
                    "adjustment": name,
                    "binary": binary,
                    "mean_treated": s["mean_t"],
                    "mean_control": s["mean_c"],
                    "smd": smd,
                    "variance_ratio": vr,
                    "ks": ks,
                    "flagged": flagged,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)[BALANCE_COLUMNS]


def _group_stats(
    Ac: npt.NDArray[np.float64],
    centre: npt.NDArray[np.float64],
    binary: npt.NDArray[np.bool_],
    weights: dict[str, npt.NDArray[np.float64]],
    is_treated: npt.NDArray[np.bool_],
) -> dict[str, dict[str, npt.NDArray[np.float64]]]:
    """Weighted means and variances of every column, per adjustment and group.

    All (adjustment, group) weight vectors go into one n x 2a matrix, so the centred data are read
    twice in two matrix products rather than four times per adjustment (the step is memory-bound).
    """
    names = list(weights)
    W = np.empty((is_treated.size, 2 * len(names)))
    for i, name in enumerate(names):
        W[:, 2 * i] = np.where(is_treated, weights[name], 0.0)
        W[:, 2 * i + 1] = np.where(is_treated, 0.0, weights[name])
    v1 = W.sum(axis=0)
    v2 = np.einsum("ij,ij->j", W, W)
    sum1 = Ac.T @ W  # k x 2a: sum w (x - centre)
    sum2 = (Ac * Ac).T @ W  # k x 2a: sum w (x - centre)^2
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_c = sum1 / v1  # weighted mean of the centred column
        ss = sum2 - v1 * mean_c**2  # sum w (x - mean)^2, taken about a nearby centre: no cancellation
        var = np.maximum(ss, 0.0) * v1 / (v1**2 - v2)  # reliability weights; ddof = 1 when w = 1
        mean = mean_c + centre[:, None]
        var = np.where(binary[:, None], mean * (1 - mean), var)
    empty = v1 <= 0
    mean[:, empty] = np.nan
    var[:, empty] = np.nan
    return {
        name: {
            "mean_t": mean[:, 2 * i],
            "mean_c": mean[:, 2 * i + 1],
            "var_t": var[:, 2 * i],
            "var_c": var[:, 2 * i + 1],
        }
        for i, name in enumerate(names)
    }


def _sorted_column(x: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
    """The sort order of `x` and, in that order, which positions end a run of tied values."""
    order = np.argsort(x, kind="stable")
    xs = x[order]
    last_of_value = np.ones(x.size, dtype=bool)
    last_of_value[:-1] = xs[1:] != xs[:-1]
    return order, last_of_value


def _weighted_ks(
    w: npt.NDArray[np.float64], is_treated: npt.NDArray[np.bool_], last_of_value: npt.NDArray[np.bool_]
) -> float:
    """:math:`\\max |F_t - F_c|` over the distinct values; all inputs in the sorted order of x."""
    wt = np.where(is_treated, w, 0.0)
    wc = np.where(is_treated, 0.0, w)
    st, sc = wt.sum(), wc.sum()
    if st <= 0 or sc <= 0:
        return float("nan")
    # the ECDFs step at the end of each run of tied values, so compare them only there
    diff = np.cumsum(wt)[last_of_value] / st - np.cumsum(wc)[last_of_value] / sc
    return float(np.abs(diff).max())


def balance_summary(treatment: npt.ArrayLike, weights: Mapping[str, npt.ArrayLike]) -> pd.DataFrame:
    """Sample size, total weight and effective sample size per adjustment and group.

    ESS is Kish's :math:`(\\sum w)^2 / \\sum w^2` within each group (see
    :func:`deepvalue.adjust.weighting.effective_sample_size`); ``n`` counts rows with positive weight.

    Examples
    --------
    >>> balance_summary([1, 1, 0, 0], {"ipw": [1.0, 1.0, 1.0, 3.0]})["ess"].tolist()
    [2.0, 2.0, 2.0, 1.6]
    """
    t = np.asarray(treatment).astype(bool)
    rows = []
    for name, w in {UNADJUSTED: np.ones(t.size), **weights}.items():
        w = np.asarray(w, dtype=np.float64)
        for group, member in (("treated", t), ("control", ~t)):
            wg = w[member]
            rows.append(
                {
                    "adjustment": name,
                    "group": group,
                    "n": int(np.count_nonzero(wg > 0)),
                    "sum_weights": float(wg.sum()),
                    "ess": effective_sample_size(wg),
                }
            )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
