"""Sensitivity of the effect estimates to unmeasured confounding.

DESIGN section 5 (Sensitivity). Three families of measures, each a pure function, and one
long-format table builder over ``results/estimates.csv``:

- **E-values** (VanderWeele and Ding 2017, Ann Intern Med 167:268): the minimum strength of
  association, on the risk-ratio scale, that an unmeasured confounder would need with both the
  treatment and the outcome to explain away the estimate (``evalue_point``) or to move the
  confidence limit nearest the null onto the null (``evalue_ci``). Additive estimates are first
  converted to the ratio scale (:func:`rd_to_rr`, :func:`md_to_rr`, :func:`count_md_to_rr`).
- **Rosenbaum bounds** for matched pairs (Rosenbaum 2002, Observational Studies, 2nd ed., ch. 4):
  the upper bound of the one-sided p-value when the odds of treatment within a pair may differ
  by a factor Gamma, and the smallest Gamma at which it exceeds alpha
  (:func:`rosenbaum_gamma`).
- **Robustness values** (Cinelli and Hazlett 2020, JRSS-B 82:39): the partial R2 that a
  confounder would need with both treatment and outcome to bring the estimate to zero
  (``rv_q1``) or to make it non-significant at level alpha (``rv_q1_alpha``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from deepvalue.core.settings import Covariate

SENSITIVITY_COLUMNS = ["outcome", "method", "estimand", "measure", "value", "notes"]
MEASURES = ("evalue_point", "evalue_ci", "rosenbaum_gamma", "rv_q1", "rv_q1_alpha")
OUTCOME_TYPES = ("binary", "continuous", "count")
#: Methods whose estimate is an OLS/WLS coefficient, for which a robustness value is reported.
RV_METHODS = ("regression", "dowhy_regression", "dose_response")
#: Methods whose estimate comes from the 1:1 matched pairs (Rosenbaum bounds).
PAIR_METHODS = ("psm",)


# --------------------------------------------------------------------------- E-values


def evalue_rr(rr: float) -> float:
    """E-value of a risk ratio (or rate ratio).

    .. math::

        E = RR^* + \\sqrt{RR^* (RR^* - 1)}, \\qquad RR^* = \\begin{cases} RR & RR \\ge 1 \\\\
        1/RR & RR < 1 \\end{cases}

    VanderWeele, T. J. and Ding, P. (2017). Sensitivity analysis in observational research:
    introducing the E-value. Annals of Internal Medicine 167(4), 268-274, eq. in Box 1.

    Parameters
    ----------
    rr : float
        Risk ratio, > 0.

    Returns
    -------
    float
        The E-value (>= 1); NaN if ``rr`` is missing or not positive.

    Examples
    --------
    >>> round(evalue_rr(3.9), 2)
    7.26
    """
    if rr is None or not np.isfinite(rr) or rr <= 0:
        return float("nan")
    r = rr if rr >= 1 else 1.0 / rr
    return float(r + math.sqrt(r * (r - 1.0)))


def evalue_ci(rr: float, lo: float, hi: float) -> float:
    """E-value of the confidence limit nearest the null.

    .. math::

        E_{CI} = \\begin{cases} E(\\text{lo}) & RR > 1,\\ \\text{lo} > 1 \\\\
        E(\\text{hi}) & RR < 1,\\ \\text{hi} < 1 \\\\ 1 & \\text{lo} \\le 1 \\le \\text{hi}
        \\end{cases}

    with :math:`E(\\cdot)` the E-value of :func:`evalue_rr` (VanderWeele and Ding 2017, Box 1;
    as the R package EValue's ``evalues.RR``).

    Parameters
    ----------
    rr, lo, hi : float
        Point estimate and confidence limits on the risk-ratio scale.

    Returns
    -------
    float
        E-value for the limit nearest 1; 1.0 when the interval contains 1; NaN if a needed value
        is missing or not positive.
    """
    vals = [rr, lo, hi]
    if any(v is None or not np.isfinite(v) or v <= 0 for v in vals):
        return float("nan")
    lo, hi = min(lo, hi), max(lo, hi)
    if lo <= 1.0 <= hi:
        return 1.0
    return evalue_rr(lo) if lo > 1.0 else evalue_rr(hi)


def rd_to_rr(rd: float, p0: float) -> float:
    """Risk ratio implied by a risk difference at the control group's risk.

    .. math:: RR = (p_0 + RD) / p_0

    with :math:`p_0` the outcome risk of the control group. This holds the baseline risk fixed;
    VanderWeele and Ding (2017) note that E-values for risk differences should be computed on
    the risk-ratio scale (EValue's ``evalues.RD`` instead works from the 2x2 counts).

    Parameters
    ----------
    rd : float
        Risk difference (treated minus control).
    p0 : float
        Control risk, in (0, 1).

    Returns
    -------
    float
        The risk ratio; NaN when :math:`p_0 \\notin (0, 1)` or :math:`p_0 + RD \\le 0`.
    """
    if not (np.isfinite(rd) and np.isfinite(p0)) or not 0.0 < p0 < 1.0 or p0 + rd <= 0:
        return float("nan")
    return float((p0 + rd) / p0)


def md_to_rr(md: float, sd: float) -> float:
    """Approximate risk ratio for a mean difference of a continuous outcome.

    .. math:: d = MD / SD, \\qquad RR \\approx \\exp(0.91\\, d)

    VanderWeele, T. J. (2017). On a square-root transformation of the odds ratio for a common
    outcome. Epidemiology 28(6), e58-e60 (with Chinn 2000, Stat Med 19:3127); the conversion used
    by EValue's ``evalues.MD``/``evalues.OLS``. Applied to a confidence limit it gives
    :math:`\\exp(0.91 d \\pm 1.78\\, SE_d)`, EValue's interval for a 95% CI.

    Parameters
    ----------
    md : float
        Mean difference (treated minus control).
    sd : float
        Standard deviation of the outcome (here: pooled within-group SD), > 0.

    Returns
    -------
    float
        The approximate risk ratio; NaN if ``sd`` is not positive.
    """
    if not (np.isfinite(md) and np.isfinite(sd)) or sd <= 0:
        return float("nan")
    return float(math.exp(0.91 * md / sd))


def count_md_to_rr(md: float, m0: float) -> float:
    """Rate ratio implied by a mean difference of a count outcome.

    .. math:: RR = (m_0 + MD) / m_0

    with :math:`m_0` the control group's mean count. E-values apply to rate ratios as to risk
    ratios (VanderWeele and Ding 2017; EValue's ``evalues.RR`` "risk ratio or rate ratio").

    Parameters
    ----------
    md : float
        Difference in mean counts (treated minus control).
    m0 : float
        Control mean count, > 0.

    Returns
    -------
    float
        The rate ratio; NaN when :math:`m_0 \\le 0` or :math:`m_0 + MD \\le 0`.
    """
    if not (np.isfinite(md) and np.isfinite(m0)) or m0 <= 0 or m0 + md <= 0:
        return float("nan")
    return float((m0 + md) / m0)


# --------------------------------------------------------------------------- Rosenbaum bounds


def signed_rank_upper_p(differences: npt.ArrayLike, gamma: float) -> float:
    """Upper bound of the one-sided p-value of Wilcoxon's signed-rank test at sensitivity Gamma.

    Zero differences are dropped; :math:`q_i` are the ranks of :math:`|d_i|` (average ranks for
    ties) and :math:`T = \\sum_i q_i 1[d_i > 0]`. With :math:`p^+ = \\Gamma / (1 + \\Gamma)` the
    bounding null distribution has

    .. math::

        E^+ = p^+ \\sum_i q_i, \\qquad V = p^+ (1 - p^+) \\sum_i q_i^2,
        \\qquad p_{\\text{upper}} = 1 - \\Phi\\{(T - E^+) / \\sqrt V\\}

    (Rosenbaum 2002, Observational Studies, 2nd ed., sec. 4.3.3, large-sample approximation; as
    rbounds' ``psens``). At :math:`\\Gamma = 1` it is the usual normal-approximation signed-rank
    p-value without continuity correction (ties handled through the ranks).

    Parameters
    ----------
    differences : array_like
        Pair differences, treated minus control, oriented so that the alternative is "greater".
    gamma : float
        Sensitivity parameter, >= 1.

    Returns
    -------
    float
        The upper-bound p-value (1.0 when every difference is zero).
    """
    d = np.asarray(differences, dtype=float)
    d = d[np.isfinite(d) & (d != 0)]
    if d.size == 0:
        return 1.0
    q = stats.rankdata(np.abs(d))
    t = q[d > 0].sum()
    p = gamma / (1.0 + gamma)
    e = p * q.sum()
    v = p * (1.0 - p) * np.square(q).sum()
    return float(stats.norm.sf((t - e) / math.sqrt(v)))


def sign_test_upper_p(n_treated_only: int, n_control_only: int, gamma: float) -> float:
    """Upper bound of the one-sided p-value of McNemar's (sign) test at sensitivity Gamma.

    Among the :math:`D = a + b` discordant pairs, :math:`a` pairs have the event in the treated
    member only and :math:`b` in the control member only. With :math:`p^+ = \\Gamma/(1+\\Gamma)`

    .. math:: p_{\\text{upper}} = \\Pr\\{\\text{Bin}(D, p^+) \\ge a\\}
              = \\sum_{k=a}^{D} \\binom{D}{k} (p^+)^k (1 - p^+)^{D-k}

    (Rosenbaum 2002, sec. 4.3.2, exact binomial; rbounds' ``binarysens``).

    Parameters
    ----------
    n_treated_only : int
        Discordant pairs in the direction of the alternative (:math:`a`).
    n_control_only : int
        Discordant pairs in the other direction (:math:`b`).
    gamma : float
        Sensitivity parameter, >= 1.

    Returns
    -------
    float
        The upper-bound p-value (1.0 with no discordant pairs).
    """
    a, b = int(n_treated_only), int(n_control_only)
    if a + b == 0:
        return 1.0
    return float(stats.binom.sf(a - 1, a + b, gamma / (1.0 + gamma)))


def _gamma_threshold(
    pfun: Callable[[float], float], alpha: float, gamma_max: float, grid_step: float, tol: float
) -> float:
    if pfun(1.0) > alpha:
        return 1.0
    grid = np.arange(1.0, gamma_max + grid_step / 2, grid_step)
    lo = 1.0
    hi = None
    for g in grid[1:]:
        if pfun(float(g)) > alpha:
            hi = float(g)
            break
        lo = float(g)
    if hi is None:
        return float("inf")
    while hi - lo > tol / 2:
        mid = 0.5 * (lo + hi)
        if pfun(mid) > alpha:
            hi = mid
        else:
            lo = mid
    # p is increasing in Gamma, so rounding the upper end up keeps p > alpha.
    return math.ceil(hi / tol - 1e-9) * tol


def rosenbaum_gamma(
    treated: npt.ArrayLike,
    control: npt.ArrayLike,
    outcome_type: str = "continuous",
    alpha: float = 0.05,
    alternative: str = "greater",
    gamma_max: float = 50.0,
    grid_step: float = 0.25,
    tol: float = 0.01,
) -> float:
    """Smallest Gamma at which the upper-bound one-sided p-value exceeds alpha.

    .. math:: \\Gamma^* = \\min\\{\\Gamma \\ge 1 : p_{\\text{upper}}(\\Gamma) > \\alpha\\}

    with :math:`p_{\\text{upper}}` from :func:`sign_test_upper_p` (binary outcomes, discordant
    pairs) or :func:`signed_rank_upper_p` (continuous and count outcomes) on the pair
    differences (Rosenbaum 2002, ch. 4). :math:`p_{\\text{upper}}` increases with Gamma, so the
    search scans a grid (``grid_step``) from 1 and bisects the bracketing step; the result is the
    upper end of a bracket no wider than ``tol``, rounded up to a multiple of ``tol``.

    Parameters
    ----------
    treated, control : array_like
        Outcomes of the treated and control member of each pair, in pair order. Pairs with a
        missing value are dropped.
    outcome_type : {"binary", "continuous", "count"}
        Binary uses the sign test; otherwise the signed-rank test.
    alpha : float
        Significance level of the one-sided test.
    alternative : {"greater", "less"}
        Direction of the effect tested ("less": treated outcomes lower, e.g. fewer crises).
    gamma_max : float
        Largest Gamma searched; ``inf`` is returned when the result stays significant up to it.
    grid_step, tol : float
        Grid step and final precision.

    Returns
    -------
    float
        :math:`\\Gamma^*` (1.0 if not significant even at Gamma = 1; ``inf`` beyond ``gamma_max``;
        NaN without usable pairs).
    """
    y1 = np.asarray(treated, dtype=float)
    y0 = np.asarray(control, dtype=float)
    if y1.shape != y0.shape:
        raise ValueError("treated and control must have the same length (one value per pair)")
    if outcome_type not in OUTCOME_TYPES:
        raise ValueError(f"outcome_type must be one of {OUTCOME_TYPES}, got {outcome_type!r}")
    if alternative not in ("greater", "less"):
        raise ValueError("alternative must be 'greater' or 'less'")
    ok = np.isfinite(y1) & np.isfinite(y0)
    d = y1[ok] - y0[ok]
    if d.size == 0:
        return float("nan")
    if alternative == "less":
        d = -d
    if outcome_type == "binary":
        a, b = int((d > 0).sum()), int((d < 0).sum())

        def pfun(g: float) -> float:
            return sign_test_upper_p(a, b, g)
    else:

        def pfun(g: float) -> float:
            return signed_rank_upper_p(d, g)

    return _gamma_threshold(pfun, alpha, gamma_max, grid_step, tol)


# --------------------------------------------------------------------------- robustness values


def partial_r2(t: float, df: float) -> float:
    """Partial R2 of the treatment with the outcome, from its t-statistic.

    .. math:: R^2_{Y \\sim D | X} = t^2 / (t^2 + df)

    (Cinelli and Hazlett 2020, JRSS-B 82(1):39-67, eq. 12; sensemakr's ``partial_r2``).

    Parameters
    ----------
    t : float
        t-statistic of the treatment coefficient.
    df : float
        Residual degrees of freedom.

    Returns
    -------
    float
    """
    return float(t * t / (t * t + df))


def robustness_value(t: float, df: float, q: float = 1.0, alpha: float | None = None) -> float:
    """Robustness value RV_q (``alpha=None``) or RV_{q,alpha} of a regression coefficient.

    With :math:`f_q = q |t| / \\sqrt{df}` (Cinelli and Hazlett 2020, eq. 19):

    .. math:: RV_q = \\tfrac12 \\left(\\sqrt{f_q^4 + 4 f_q^2} - f_q^2\\right)

    With significance level :math:`\\alpha`, let
    :math:`f^* = |t^*_{\\alpha/2,\\,df-1}| / \\sqrt{df - 1}` and :math:`f_{q,\\alpha} = f_q - f^*`
    (eq. 18). Then :math:`RV_{q,\\alpha} = 0` if :math:`f_{q,\\alpha} \\le 0`; the formula above
    with :math:`f_{q,\\alpha}` in place of :math:`f_q` when :math:`f_q \\le 1/f^*`; and
    :math:`(f_q^2 - f^{*2}) / (1 + f_q^2)` otherwise (the constraint :math:`R^2 \\le 1` not
    binding), as in sensemakr's ``robustness_value.numeric`` (R package, current source).

    Parameters
    ----------
    t : float
        t-statistic of the treatment coefficient.
    df : float
        Residual degrees of freedom (> 1 when ``alpha`` is given).
    q : float
        Fraction of the estimate to be explained away (1: bring it to zero).
    alpha : float, optional
        Significance level; None gives the point-estimate robustness value.

    Returns
    -------
    float
        The robustness value in [0, 1); NaN for missing input.
    """
    if not (np.isfinite(t) and np.isfinite(df)) or df <= 0 or q <= 0:
        return float("nan")
    fq = q * abs(t) / math.sqrt(df)
    if alpha is None:
        return float(0.5 * (math.sqrt(fq**4 + 4 * fq**2) - fq**2))
    if not 0 < alpha < 1 or df <= 1:
        return float("nan")
    fcrit = abs(stats.t.ppf(alpha / 2, df - 1)) / math.sqrt(df - 1)
    fqa = fq - fcrit
    if fqa <= 0:
        return 0.0
    if fq > 1.0 / fcrit:
        return float((fq**2 - fcrit**2) / (1 + fq**2))
    return float(0.5 * (math.sqrt(fqa**4 + 4 * fqa**2) - fqa**2))


# --------------------------------------------------------------------------- table


def _is_whole_cohort(subgroup: pd.Series) -> pd.Series:
    s = subgroup.astype("object")
    return s.isna() | (s.astype(str).str.strip() == "")


def _outcome_baseline(analysis: pd.DataFrame, outcome: str, outcome_type: str) -> tuple[float, str]:
    """The pooled within-group SD that puts a continuous mean difference on the ratio scale."""
    y = pd.to_numeric(analysis[outcome], errors="coerce")
    t = pd.to_numeric(analysis["treatment"], errors="coerce")
    y0 = y[(t == 0) & y.notna()]
    y1 = y[(t == 1) & y.notna()]
    n1, n0 = len(y1), len(y0)
    if n1 < 2 or n0 < 2:
        return float("nan"), "too few observations for a pooled SD"
    sd = math.sqrt(((n1 - 1) * y1.var(ddof=1) + (n0 - 1) * y0.var(ddof=1)) / (n1 + n0 - 2))
    return sd, f"SD = {sd:.4g} (pooled within-group SD of the outcome)"


def _control_model_mean(rows: pd.DataFrame, outcome: str, covariates: Sequence[Covariate]) -> float:
    """E[Y(0)] over all clients from a linear model of the outcome fitted on the controls.

    The counterfactual mean that regression adjustment's ATE contrasts with (its control-arm
    model, averaged over everyone); columns collinear among the controls are dropped by lstsq.
    """
    from deepvalue.adjust.design import covariate_design

    X = covariate_design(rows, covariates).X.to_numpy(dtype=float)
    Z = np.column_stack([np.ones(len(rows)), X])
    y = rows[outcome].to_numpy(dtype=float)
    control = rows["treatment"].to_numpy() == 0
    beta, *_ = np.linalg.lstsq(Z[control], y[control], rcond=None)
    return float((Z @ beta).mean())


def counterfactual_baseline(
    analysis: pd.DataFrame,
    outcome: str,
    estimand: str,
    estimate: float,
    covariates: Sequence[Covariate] | None = None,
) -> tuple[float, str]:
    """The untreated mean an additive effect on a binary or count outcome is a ratio against.

    - ATT: the treated clients' counterfactual mean, treated mean minus the ATT, so the ratio is
      E[Y(1) | D=1] / E[Y(0) | D=1] (VanderWeele and Ding 2017 use the risk the contrast is taken
      against, not the raw, confounded control risk);
    - ATE: E[Y(0)] over everyone from the control-arm linear model (with ``covariates``; without
      them, or for other estimands, the raw control mean, said so in the note).

    >>> frame = pd.DataFrame({"treatment": [1, 1, 0, 0], "y": [1.0, 1.0, 0.0, 1.0]})
    >>> counterfactual_baseline(frame, "y", "ATT", 0.25)[0]
    0.75
    """
    rows = analysis.loc[pd.to_numeric(analysis[outcome], errors="coerce").notna()]
    y = pd.to_numeric(rows[outcome], errors="coerce")
    t = pd.to_numeric(rows["treatment"], errors="coerce")
    if estimand == "ATT":
        treated = y[t == 1]
        base = float(treated.mean()) - float(estimate)
        return base, f"baseline {base:.4f} = treated mean {treated.mean():.4f} - ATT ({len(treated)} treated)"
    if estimand == "ATE" and covariates is not None:
        base = _control_model_mean(rows.reset_index(drop=True), outcome, covariates)
        return base, f"baseline E[Y(0)] = {base:.4f} (control-arm linear model averaged over {len(rows)} clients)"
    y0 = y[t == 0]
    return float(
        y0.mean()
    ), f"baseline {y0.mean():.4f} = raw control mean ({len(y0)} controls; no model baseline for {estimand})"


def _to_ratio(value: float, outcome_type: str, baseline: float) -> float:
    if outcome_type == "binary":
        return rd_to_rr(value, baseline)
    if outcome_type == "count":
        return count_md_to_rr(value, baseline)
    return md_to_rr(value, baseline)


_CONVERSION = {
    "binary": "RR = (p0 + RD)/p0",
    "count": "rate ratio = (m0 + MD)/m0",
    "continuous": "d = MD/SD, RR ~ exp(0.91 d) (VanderWeele 2017)",
}


def _pair_outcomes(pairs: pd.DataFrame, analysis: pd.DataFrame, outcome: str) -> tuple[np.ndarray, np.ndarray, str]:
    y = pd.to_numeric(analysis.set_index("client_id")[outcome], errors="coerce")
    y1 = pairs["treated_id"].map(y).to_numpy(dtype=float)
    y0 = pairs["control_id"].map(y).to_numpy(dtype=float)
    ok = np.isfinite(y1) & np.isfinite(y0)
    used = pairs.loc[ok]
    n_reused = int(used["control_id"].duplicated(keep=False).sum())
    n_controls = int(used["control_id"].nunique())
    note = (
        f"{int(ok.sum())} of {len(pairs)} pairs with the outcome for both members; "
        f"{n_controls} distinct controls, {n_reused} pairs share their control with another pair "
        "(matching with replacement): each pair enters as its own matched pair with the control's "
        "outcome repeated, so pairs are not independent and the bound is approximate"
    )
    return y1[ok], y0[ok], note


def sensitivity_table(
    estimates: pd.DataFrame,
    analysis: pd.DataFrame,
    pairs: pd.DataFrame | None,
    outcome_types: Mapping[str, str],
    alpha: float = 0.05,
    covariates: Sequence[Covariate] | None = None,
    rv_methods: tuple[str, ...] = RV_METHODS,
    pair_methods: tuple[str, ...] = PAIR_METHODS,
) -> pd.DataFrame:
    """Sensitivity measures for the whole-cohort effect estimates, in long format.

    One row per (outcome, method, estimand, measure) for the rows of ``estimates`` whose
    ``subgroup`` is empty:

    - ``evalue_point``, ``evalue_ci``: every row. The estimate and its CI limits are put on the
      ratio scale by the outcome type (``binary``: :func:`rd_to_rr`, ``count``:
      :func:`count_md_to_rr`, each against the estimand's counterfactual untreated mean from
      :func:`counterfactual_baseline`; ``continuous``: :func:`md_to_rr` with the pooled
      within-group SD), then :func:`evalue_rr` /
      :func:`evalue_ci`. Rows on the ``per_0.1_upc`` scale are converted as a contrast of 0.1 UPC,
      as EValue's ``evalues.OLS`` does with ``delta``.
    - ``rosenbaum_gamma``: rows of ``pair_methods`` when ``pairs`` is given
      (:func:`rosenbaum_gamma` on treated-minus-control pair differences, one-sided in the
      direction of the estimate).
    - ``rv_q1``, ``rv_q1_alpha``: rows of ``rv_methods``, with :math:`t` = estimate / std_error
      and :math:`df = n_{treated} + n_{control} - 2` (the number of regressors is not in the
      table; the notes say so).

    A row with a missing estimate gives one ``measure = "skipped"`` row with the reason.

    Parameters
    ----------
    estimates : DataFrame
        ``results/estimates.csv``: outcome, subgroup, method, estimand, estimate, std_error,
        ci_lower, ci_upper, n_treated, n_control, scale, notes.
    analysis : DataFrame
        The analysis cohort: client_id, treatment (0/1) and the outcome columns.
    pairs : DataFrame or None
        Matched pairs (treated_id, control_id); None skips the Rosenbaum bounds.
    outcome_types : mapping
        Outcome name to ``"binary"``, ``"continuous"`` or ``"count"``.
    alpha : float
        Level for ``rv_q1_alpha`` (two-sided) and ``rosenbaum_gamma`` (one-sided).
    covariates : sequence of Covariate, optional
        The confounders, for the ATE's model-based untreated mean (without them: the raw
        control mean, said in the notes).
    rv_methods, pair_methods : tuple of str
        Methods that get robustness values and Rosenbaum bounds.

    Returns
    -------
    DataFrame
        Columns :data:`SENSITIVITY_COLUMNS`, in the order of ``estimates`` then of
        :data:`MEASURES`.
    """
    rows: list[dict[str, object]] = []
    whole = estimates.loc[_is_whole_cohort(estimates["subgroup"])] if "subgroup" in estimates else estimates
    baselines: dict[str, tuple[float, str]] = {}
    pair_cache: dict[str, tuple[np.ndarray, np.ndarray, str]] = {}

    def add(rec: pd.Series, measure: str, value: float, notes: str) -> None:
        rows.append(
            {
                "outcome": rec["outcome"],
                "method": rec["method"],
                "estimand": rec["estimand"],
                "measure": measure,
                "value": float(value),
                "notes": notes,
            }
        )

    for _, rec in whole.iterrows():
        outcome = rec["outcome"]
        est = pd.to_numeric(pd.Series([rec.get("estimate")]), errors="coerce").iloc[0]
        if not np.isfinite(est):
            reason = rec.get("notes")
            reason = "" if reason is None or (isinstance(reason, float) and np.isnan(reason)) else str(reason)
            add(rec, "skipped", float("nan"), f"no estimate in estimates.csv: {reason}".rstrip(": "))
            continue
        otype = outcome_types.get(outcome)
        if otype not in OUTCOME_TYPES:
            add(rec, "skipped", float("nan"), f"outcome type of {outcome!r} not given or unknown: {otype!r}")
            continue
        if otype == "continuous":
            if outcome not in baselines:
                baselines[outcome] = _outcome_baseline(analysis, outcome, otype)
            base, base_note = baselines[outcome]
        else:
            base, base_note = counterfactual_baseline(analysis, outcome, str(rec["estimand"]), est, covariates)
            if not base > 0 or (otype == "binary" and not base < 1):
                base_note += " is outside the outcome's range"
                base = float("nan")
        lo = float(pd.to_numeric(pd.Series([rec.get("ci_lower")]), errors="coerce").iloc[0])
        hi = float(pd.to_numeric(pd.Series([rec.get("ci_upper")]), errors="coerce").iloc[0])
        scale = str(rec.get("scale", ""))
        contrast = "; contrast of 0.1 UPC (per_0.1_upc)" if scale == "per_0.1_upc" else ""

        # E-values
        if otype != "continuous" and not np.isfinite(base):
            rr = float("nan")
        else:
            rr = _to_ratio(est, otype, base)
        conv = f"{_CONVERSION[otype]}, {base_note}{contrast}"
        if np.isfinite(rr):
            add(rec, "evalue_point", evalue_rr(rr), f"ratio {rr:.4f} from {conv}")
        else:
            add(rec, "evalue_point", float("nan"), f"estimate cannot be put on the ratio scale ({conv})")
        if np.isfinite(lo) and np.isfinite(hi) and min(lo, hi) <= 0.0 <= max(lo, hi):
            add(rec, "evalue_ci", 1.0, f"CI {lo:.4g} to {hi:.4g} contains the null; {conv}")
        else:
            near = min(lo, hi) if est > 0 else max(lo, hi)
            rnear = _to_ratio(near, otype, base) if np.isfinite(rr) else float("nan")
            if np.isfinite(rr) and np.isfinite(rnear):
                add(
                    rec,
                    "evalue_ci",
                    evalue_rr(rnear),
                    f"limit nearest the null {near:.4g} -> ratio {rnear:.4f}; {conv}",
                )
            else:
                add(rec, "evalue_ci", float("nan"), f"CI missing or cannot be put on the ratio scale ({conv})")

        # Rosenbaum bounds
        if rec["method"] in pair_methods:
            if pairs is None:
                add(rec, "rosenbaum_gamma", float("nan"), "no matched pairs given")
            else:
                if outcome not in pair_cache:
                    pair_cache[outcome] = _pair_outcomes(pairs, analysis, outcome)
                y1, y0, pnote = pair_cache[outcome]
                direction = "greater" if est >= 0 else "less"
                test = (
                    "sign (McNemar) test on discordant pairs, exact binomial"
                    if otype == "binary"
                    else "Wilcoxon signed-rank test, normal approximation"
                )
                g = rosenbaum_gamma(y1, y0, outcome_type=otype, alpha=alpha, alternative=direction)
                extra = ""
                if g == 1.0:
                    extra = "; not significant at Gamma = 1"
                elif np.isinf(g):
                    extra = "; still significant at Gamma = 50 (search limit)"
                add(
                    rec,
                    "rosenbaum_gamma",
                    g,
                    f"{test}, one-sided ({'treated higher' if direction == 'greater' else 'treated lower'}), "
                    f"alpha = {alpha}, precision 0.01{extra}; {pnote}; the pairs are those of the match "
                    "stage, not of this row's outcome-specific sample",
                )

        # robustness values
        if rec["method"] in rv_methods:
            se = float(pd.to_numeric(pd.Series([rec.get("std_error")]), errors="coerce").iloc[0])
            n = (
                pd.to_numeric(pd.Series([rec.get("n_treated")]), errors="coerce").iloc[0]
                + pd.to_numeric(pd.Series([rec.get("n_control")]), errors="coerce").iloc[0]
            )
            if not (np.isfinite(se) and se > 0 and np.isfinite(n) and n > 3):
                add(rec, "rv_q1", float("nan"), "standard error or sample size missing")
                add(rec, "rv_q1_alpha", float("nan"), "standard error or sample size missing")
            else:
                t = est / se
                df = float(n - 2)
                rnote = (
                    f"t = {t:.3f} (estimate/std_error, with this row's SE, not the classical OLS SE), "
                    f"df = n - 2 = {df:.0f}: number of regressors k unknown, so df is an upper bound; "
                    f"partial R2 = {partial_r2(t, df):.4f}"
                )
                add(rec, "rv_q1", robustness_value(t, df), rnote)
                add(rec, "rv_q1_alpha", robustness_value(t, df, alpha=alpha), f"alpha = {alpha}; {rnote}")

    return pd.DataFrame(rows, columns=SENSITIVITY_COLUMNS)
