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
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from deepvalue.core.settings import Covariate, MatchingSettings
from deepvalue.robustness.evalues import (
    _CONVERSION,
    OUTCOME_TYPES,
    _outcome_baseline,
    _to_ratio,
    counterfactual_baseline,
    evalue_rr,
)
from deepvalue.robustness.rosenbaum import _pair_outcomes, rematched_pairs, rosenbaum_gamma

SENSITIVITY_COLUMNS = ["outcome", "method", "estimand", "scale", "measure", "value", "notes"]
MEASURES = ("evalue_point", "evalue_ci", "rosenbaum_gamma", "rv_q1", "rv_q1_alpha")
#: Scales of estimates.csv on which an estimate is a difference of the outcome itself (a risk, a mean,
#: a count), so the outcome type's conversion to the ratio scale applies; ``""`` is a table without a
#: scale column. dose_levels' level contrasts (``upc_0.5_vs_0.25``, ...) are differences too
#: (:func:`_converts`).
RATIO_SCALES = frozenset(
    {"", "risk_difference", "risk_difference_at_horizon", "mean_difference", "points", "per_0.1_upc"}
)
#: Scales with no conversion to the ratio scale and a reason of their own (any other scale not in
#: :data:`RATIO_SCALES` gets a generic one): one "skipped" row.
NOT_RATIO_SCALES = {
    "rmst_difference_days": "restricted mean time to event difference (days): no conversion to a risk ratio, so "
    "no E-value; this method's E-value is on its risk_difference_at_horizon row",
    "baseline_sd": "effect in baseline SDs: its E-value is that of the points row (the same estimate rescaled)",
    "share_meaningful_change": "difference in the share with a meaningful change, a binary outcome not modelled "
    "here: no E-value",
}


def _converts(scale: str) -> bool:
    """Whether an estimate on ``scale`` is put on the ratio scale by its outcome type's conversion."""
    return scale in RATIO_SCALES or (scale.startswith("upc_") and "_vs_" in scale)


def _not_ratio_reason(scale: str) -> str:
    return NOT_RATIO_SCALES.get(
        scale, f"scale {scale!r} is not a difference of the outcome: no conversion to the ratio scale, so no E-value"
    )


#: Methods whose estimate is an OLS/WLS coefficient, for which a robustness value is reported.
RV_METHODS = ("regression", "dowhy_regression", "dose_response")
#: Methods whose estimate comes from the 1:1 matched pairs (Rosenbaum bounds).
PAIR_METHODS = ("psm",)


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


def classical_ols_t(
    rows: pd.DataFrame, outcome: str, regressor: str, covariates: Sequence[Covariate]
) -> tuple[float, int]:
    """The classical OLS t of `regressor` in Y ~ regressor + confounders, and its residual df.

    The model the Cinelli and Hazlett (2020) robustness value is defined for (their eq. 18 uses
    the classical t and df = n - k - 1), rather than a robust t of an interacted model. Collinear
    columns are dropped (numpy's rank).
    """
    from deepvalue.adjust.design import covariate_design

    rows = rows.loc[pd.to_numeric(rows[outcome], errors="coerce").notna()].reset_index(drop=True)
    X = covariate_design(rows, covariates).X.to_numpy(dtype=float)
    Z = np.column_stack([np.ones(len(rows)), rows[regressor].to_numpy(dtype=float), X])
    y = rows[outcome].to_numpy(dtype=float)
    beta, _, rank, _ = np.linalg.lstsq(Z, y, rcond=None)
    df = len(y) - int(rank)
    resid = y - Z @ beta
    cov = np.linalg.pinv(Z.T @ Z) * float(resid @ resid) / df
    return float(beta[1] / np.sqrt(cov[1, 1])), df


def _index_of(scale: str) -> str:
    """The index column of a dose_response row from its scale (``per_0.1_upc`` -> ``upc``)."""
    return scale.split("_", 2)[2] if scale.startswith("per_") and scale.count("_") >= 2 else "upc"


def sensitivity_table(
    estimates: pd.DataFrame,
    analysis: pd.DataFrame,
    pairs: pd.DataFrame | None,
    outcome_types: Mapping[str, str],
    alpha: float = 0.05,
    covariates: Sequence[Covariate] | None = None,
    rv_methods: tuple[str, ...] = RV_METHODS,
    pair_methods: tuple[str, ...] = PAIR_METHODS,
    propensity: pd.DataFrame | None = None,
    matching: MatchingSettings | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Sensitivity measures for the whole-cohort effect estimates, in long format.

    One row per (outcome, method, estimand, scale, measure) for the rows of ``estimates`` whose
    ``subgroup`` is empty:

    - ``evalue_point``, ``evalue_ci``: every row whose scale is a difference of the outcome
      (:data:`RATIO_SCALES`; any other scale gets one ``skipped`` row with the reason,
      :data:`NOT_RATIO_SCALES`). The estimate and its CI limits are put on the
      ratio scale by the outcome type (``binary``: :func:`rd_to_rr`, ``count``:
      :func:`count_md_to_rr`, each against the estimand's counterfactual untreated mean from
      :func:`counterfactual_baseline`; ``continuous``: :func:`md_to_rr` with the pooled
      within-group SD), then :func:`evalue_rr` /
      :func:`evalue_ci`. Rows on the ``per_0.1_upc`` scale are converted as a contrast of 0.1 UPC,
      as EValue's ``evalues.OLS`` does with ``delta``.
    - ``rosenbaum_gamma``: rows of ``pair_methods`` when ``pairs`` is given
      (:func:`rosenbaum_gamma` on treated-minus-control pair differences of 1:1 pairs without
      replacement, two-sided: alpha/2 on the side of the estimate).
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
        Matched pairs (treated_id, control_id) to use as given; the workflow passes `propensity`
        instead. Neither skips the Rosenbaum bounds.
    outcome_types : mapping
        Outcome name to ``"binary"``, ``"continuous"`` or ``"count"``.
    alpha : float
        Level of ``rv_q1_alpha`` and ``rosenbaum_gamma`` (both two-sided).
    covariates : sequence of Covariate, optional
        The confounders, for the ATE's model-based untreated mean (without them: the raw
        control mean, said in the notes).
    propensity, matching, seed
        The match stage's scores (client_id, logit) and the matching settings: the bounds then use
        a 1:1 re-match without replacement within each outcome's clients
        (:func:`deepvalue.robustness.rosenbaum.rematched_pairs`).
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

    def scale_of(rec: pd.Series) -> str:
        scale = rec.get("scale", "")
        return "" if scale is None or (isinstance(scale, float) and np.isnan(scale)) else str(scale)

    def add(rec: pd.Series, measure: str, value: float, notes: str) -> None:
        rows.append(
            {
                "outcome": rec["outcome"],
                "method": rec["method"],
                "estimand": rec["estimand"],
                "scale": scale_of(rec),
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
        if not _converts(scale_of(rec)):
            # e.g. km_ipw's restricted mean time to event difference, in days, beside its risk difference at
            # the horizon: no conversion to a risk ratio exists, and a risk-difference conversion of days
            # would give a number for the wrong quantity
            add(rec, "skipped", float("nan"), _not_ratio_reason(scale_of(rec)))
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
            if pairs is None and (propensity is None or matching is None):
                add(rec, "rosenbaum_gamma", float("nan"), "no matched pairs or propensity scores given")
            else:
                if outcome not in pair_cache:
                    pair_cache[outcome] = (
                        rematched_pairs(analysis, outcome, propensity, matching, seed)
                        if propensity is not None and matching is not None
                        else _pair_outcomes(pairs, analysis, outcome)
                    )
                y1, y0, pnote = pair_cache[outcome]
                direction = "greater" if est >= 0 else "less"
                test = (
                    "sign (McNemar) test on discordant pairs, exact binomial"
                    if otype == "binary"
                    else "Wilcoxon signed-rank test, normal approximation"
                )
                # two-sided: alpha/2 on the side of the estimate (its sign is chosen after seeing the
                # data, so a one-sided alpha test in that direction has twice the nominal size)
                g = rosenbaum_gamma(y1, y0, outcome_type=otype, alpha=alpha / 2, alternative=direction)
                extra = ""
                if g == 1.0:
                    extra = "; not significant at Gamma = 1"
                elif np.isinf(g):
                    extra = "; still significant at Gamma = 50 (search limit)"
                add(
                    rec,
                    "rosenbaum_gamma",
                    g,
                    f"{test}, two-sided at alpha = {alpha} (alpha/2 on the side of the estimate: "
                    f"{'treated higher' if direction == 'greater' else 'treated lower'}), precision 0.01{extra}; "
                    f"{pnote}",
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
            elif covariates is not None and rec["method"] in ("regression", "dose_response"):
                regressor = "treatment" if rec["method"] == "regression" else _index_of(str(rec.get("scale", "")))
                t, df_int = classical_ols_t(analysis, outcome, regressor, covariates)
                df = float(df_int)
                model = f"OLS of {outcome} on {regressor} + the confounders"
                rnote = (
                    f"t = {t:.3f}, df = {df_int}: classical t of {model}, the model the Cinelli-Hazlett formula "
                    f"is for (this row's own estimate and SE come from its own model); partial R2 = "
                    f"{partial_r2(t, df):.4f}"
                )
            else:
                t = est / se
                df = float(n - 2)
                rnote = (
                    f"t = {t:.3f} (estimate/std_error, with this row's SE, not the classical OLS SE), "
                    f"df = n - 2 = {df:.0f}: number of regressors k unknown, so df is an upper bound; "
                    f"partial R2 = {partial_r2(t, df):.4f}"
                )
            if np.isfinite(se) and se > 0 and np.isfinite(n) and n > 3:
                add(rec, "rv_q1", robustness_value(t, df), rnote)
                add(rec, "rv_q1_alpha", robustness_value(t, df, alpha=alpha), f"alpha = {alpha}; {rnote}")

    return pd.DataFrame(rows, columns=SENSITIVITY_COLUMNS)
