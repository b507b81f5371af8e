"""The data-generating parameters recorded in truth.json beside the true effects."""

from __future__ import annotations

from typing import Any

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
