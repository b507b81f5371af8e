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
        "early_outcome_share": EARLY_OUTCOME_SHARE,
        "messy_shares": {
            "duplicate_contacts": MESSY_DUPLICATE_SHARE,
            "unknown_client_contacts": MESSY_UNKNOWN_CLIENT_SHARE,
            "contacts_before_start": MESSY_BEFORE_START_SHARE,
            "future_contacts": MESSY_FUTURE_SHARE,
            "missing_age_and_ethnicity": MESSY_MISSING_SHARE,
        },
    }
