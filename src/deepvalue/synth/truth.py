"""The data-generating parameters recorded in truth.json beside the true effects."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from deepvalue.synth.arrays import _mean_or_none, _sha256_ids
from deepvalue.synth.parameters import (
    BETA_CRISIS,
    BETA_JOB,
    BETA_JOB_COMPLEXITY,
    COMPLEXITY_REF,
    COMPLEXITY_WEIGHTS,
    CONTACTS_DISPERSION,
    CONTACTS_MAX,
    CONTACTS_MEAN,
    CONTACTS_PER_ISSUE,
    CRISIS_COMPLEXITY,
    CRISIS_MEAN,
    CRISIS_QUALITY,
    CRISIS_WELFARE_LOG,
    EARLY_OUTCOME_SHARE,
    ENROLMENT_DAYS,
    ENROLMENT_START,
    GAP_MEDIAN_DAYS,
    INCOME_COMPLEXITY,
    INCOME_MEAN_GBP,
    INCOME_QUALITY,
    INCOME_SD_GBP,
    JOB_COMPLEXITY,
    JOB_INTERCEPT,
    JOB_QUALITY,
    MESSY_BEFORE_START_SHARE,
    MESSY_DUPLICATE_SHARE,
    MESSY_FUTURE_SHARE,
    MESSY_MISSING_SHARE,
    MESSY_UNKNOWN_CLIENT_SHARE,
    SITE_CRISIS_LOG,
    SITE_EMPLOYMENT_SHARE,
    SITE_INCOME_GBP,
    SITE_JOB_LOGIT,
    SITE_SHARES,
    SITE_SWITCH_PROB,
    SITES,
    SWITCH_COMPLEXITY,
    TAU_INCOME_COMPLEXITY,
    TAU_INCOME_GBP,
    TENURE_MEAN_DAYS,
    TENURE_MIN_DAYS,
    IntArray,
)

# ============================================================================================
# effects by complexity (the heterogeneity analysis' truth)
# ============================================================================================

#: complexity values at which truth.json gives the true conditional effect (0 = no issue beyond the first)
COMPLEXITY_GRID = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0)
_HERMITE = np.polynomial.hermite_e.hermegauss(40)  # E over quality q ~ N(0, 1), probabilists' nodes


def true_cate(outcome: str, complexity: np.ndarray, site: np.ndarray, welfare: np.ndarray) -> np.ndarray:
    """E[Y(1) - Y(0) | complexity, site, service] of the generator, integrating the allocated worker's
    quality q ~ N(0, 1) (drawn independently of the client): what the heterogeneity analysis estimates.

    job_start: E_q[expit(lp + beta + beta_c c) - expit(lp)], lp = intercept + site + quality_w q -
    complexity_w c (Gauss-Hermite, 40 nodes); income_gain_gbp: tau + tau_c c; crisis_contacts:
    mean(0) exp(site + complexity_w c + welfare_w [welfare] + quality_w^2 / 2) (exp(beta[service]) - 1).
    The effect rises with complexity for job_start and income (beta_c, tau_c > 0) and, for crisis
    contacts, falls (more negative) with it through the baseline rate.
    """
    c, site, welfare = (np.asarray(a) for a in (complexity, site, welfare))
    if outcome == "income_gain_gbp":
        return TAU_INCOME_GBP + TAU_INCOME_COMPLEXITY * c
    if outcome == "job_start":
        nodes, weights = _HERMITE
        lp = (JOB_INTERCEPT + np.asarray(SITE_JOB_LOGIT)[site] - JOB_COMPLEXITY * c)[:, None] + JOB_QUALITY * nodes
        shift = (BETA_JOB + BETA_JOB_COMPLEXITY * c)[:, None]
        diff = 1 / (1 + np.exp(-(lp + shift))) - 1 / (1 + np.exp(-lp))
        return diff @ weights / weights.sum()
    if outcome == "crisis_contacts":
        beta = np.where(welfare.astype(bool), BETA_CRISIS["welfare_advice"], BETA_CRISIS["employment"])
        base = np.log(CRISIS_MEAN) + np.asarray(SITE_CRISIS_LOG)[site] + CRISIS_COMPLEXITY * c
        return np.exp(base + CRISIS_WELFARE_LOG * welfare + CRISIS_QUALITY**2 / 2) * (np.exp(beta) - 1)
    raise ValueError(f"no true effect for outcome {outcome!r}")


def _effects_by_complexity() -> dict[str, Any]:
    """True effect at each complexity of :data:`COMPLEXITY_GRID`, averaged over the sites of the
    outcome's service (client shares x service shares) and the worker's quality."""
    grid = np.asarray(COMPLEXITY_GRID)
    shares = np.asarray(SITE_SHARES)
    emp = np.asarray(SITE_EMPLOYMENT_SHARE)
    mixes = {
        "job_start": [(0, shares * emp)],
        "income_gain_gbp": [(1, shares * (1 - emp))],
        "crisis_contacts": [(0, shares * emp), (1, shares * (1 - emp))],
    }
    out: dict[str, Any] = {"complexity": list(COMPLEXITY_GRID)}
    for name, parts in mixes.items():
        total = sum(w.sum() for _, w in parts)
        value = np.zeros(grid.size)
        for welfare, w in parts:
            for i, wi in enumerate(w):
                value += wi / total * true_cate(name, grid, np.full(grid.size, i), np.full(grid.size, welfare))
        out[name] = [float(v) for v in value]
    return out


# ============================================================================================
# time to event (km_ipw)
# ============================================================================================


def time_to_event_truth(
    mu0: np.ndarray, mu1: np.ndarray, population: np.ndarray, treated: np.ndarray, follow_up: int, client_ids
) -> dict[str, Any]:
    r"""The true km_ipw effects: horizon risk difference and RMST difference, ATT and ATE.

    The population is km_ipw's: every eligible client the outcome applies to, follow-up complete
    or not (the incomplete are censored at the extract date, not excluded). A client's event, when
    :math:`Y(d) = 1` (probability :math:`p_d`), falls on day :math:`T = 1 + \lfloor U F \rfloor`
    after the index date, uniform on :math:`1..F` (:math:`F` = follow_up_days) and independent of
    :math:`Y(d)` and of the extract date, so :math:`S_d(t) = 1 - p_d \lfloor t \rfloor / F` on
    :math:`[0, F]`: the cumulative incidence at :math:`F` is :math:`p_d` and
    :math:`\int_0^F S_d = F - p_d (F - 1)/2`. The effects are means of :math:`p_1 - p_0` and of
    :math:`-(p_1 - p_0)(F - 1)/2` over the treated (ATT) or everyone (ATE).
    """
    effect = mu1 - mu0
    rmst = -effect * (follow_up - 1) / 2
    in_t = population & treated
    return {
        "method": "km_ipw",
        "horizon_days": follow_up,
        "att_risk_difference_at_horizon": _mean_or_none(effect[in_t]),
        "ate_risk_difference_at_horizon": _mean_or_none(effect[population]),
        "att_rmst_difference_days": _mean_or_none(rmst[in_t]),
        "ate_rmst_difference_days": _mean_or_none(rmst[population]),
        "n_treated": int(in_t.sum()),
        "n_control": int((population & ~treated).sum()),
        "population_sha256": _sha256_ids(client_ids.filter(pa.array(population))),
    }


# ============================================================================================
# tables
# ============================================================================================

_MESSY_KEYS = (
    "duplicate_contacts",
    "unknown_client_contacts",
    "contacts_before_start",
    "future_contacts",
    "missing_age",
    "missing_ethnicity",
)


def _dgp_parameters(slots: IntArray, n_workers: int) -> dict[str, Any]:
    """The key parameters, recorded in truth.json so a reader need not open the code."""
    return {
        "enrolment_start": ENROLMENT_START.isoformat(),
        "enrolment_days": ENROLMENT_DAYS,
        "sites": {
            site: {
                "client_share": SITE_SHARES[i],
                "employment_share": SITE_EMPLOYMENT_SHARE[i],
                "switch_prob_at_reference_complexity": SITE_SWITCH_PROB[i],
                "job_logit": SITE_JOB_LOGIT[i],
                "income_gbp": SITE_INCOME_GBP[i],
                "crisis_log": SITE_CRISIS_LOG[i],
                "caseload_slots": int(slots[i]),
            }
            for i, site in enumerate(SITES)
        },
        "n_workers": n_workers,
        "tenure_days": {"minimum": TENURE_MIN_DAYS, "mean": TENURE_MEAN_DAYS},
        "complexity_weights": COMPLEXITY_WEIGHTS,
        "complexity_reference": COMPLEXITY_REF,
        "switch_log_odds_per_complexity": SWITCH_COMPLEXITY,
        "contacts": {
            "mean_extra_contacts": CONTACTS_MEAN,
            "extra_contacts_per_issue": CONTACTS_PER_ISSUE,
            "dispersion": CONTACTS_DISPERSION,
            "max": CONTACTS_MAX,
            "gap_median_days": GAP_MEDIAN_DAYS,
        },
        "job_start": {
            "model": "logit p(d) = intercept + site + quality_w*q - complexity_w*c + (beta + beta_complexity*c)*d",
            "intercept": JOB_INTERCEPT,
            "quality_w": JOB_QUALITY,
            "complexity_w": JOB_COMPLEXITY,
            "beta": BETA_JOB,
            "beta_complexity": BETA_JOB_COMPLEXITY,
        },
        "income_gain_gbp": {
            "model": "y(d) ~ Normal(mean + site + quality_w*q - complexity_w*c + (tau + tau_complexity*c)*d, sd)",
            "mean": INCOME_MEAN_GBP,
            "quality_w": INCOME_QUALITY,
            "complexity_w": INCOME_COMPLEXITY,
            "sd": INCOME_SD_GBP,
            "tau": TAU_INCOME_GBP,
            "tau_complexity": TAU_INCOME_COMPLEXITY,
        },
        "crisis_contacts": {
            "model": "y(d) ~ Poisson(exp(log(mean) + site + quality_w*q + complexity_w*c "
            "+ welfare_w*[welfare] + beta[service]*d))",
            "mean": CRISIS_MEAN,
            "quality_w": CRISIS_QUALITY,
            "complexity_w": CRISIS_COMPLEXITY,
            "welfare_w": CRISIS_WELFARE_LOG,
            "beta": BETA_CRISIS,
        },
        "effect_by_complexity": _effects_by_complexity(),
        "early_outcome_share": EARLY_OUTCOME_SHARE,
        "messy_shares": {
            "duplicate_contacts": MESSY_DUPLICATE_SHARE,
            "unknown_client_contacts": MESSY_UNKNOWN_CLIENT_SHARE,
            "contacts_before_start": MESSY_BEFORE_START_SHARE,
            "future_contacts": MESSY_FUTURE_SHARE,
            "missing_age_and_ethnicity": MESSY_MISSING_SHARE,
        },
    }
