"""E-values (VanderWeele and Ding 2017, Ann Intern Med 167:268): an additive effect put on the ratio
scale against the estimand's counterfactual untreated mean (binary, count) or the pooled SD
(continuous), and the minimum confounder strength that would explain it away.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from deepvalue.core.settings import Covariate

# --------------------------------------------------------------------------- E-values


OUTCOME_TYPES = ("binary", "continuous", "count")


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
