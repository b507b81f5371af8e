"""Clients: service, site, start date and the covariates that make a client complex (and so both
more often passed between workers and less likely to do well).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from deepvalue.synth.arrays import _date_series, _day, _skip_weekend, _str_series
from deepvalue.synth.parameters import (
    AGE_MEAN,
    AGE_RANGE,
    AGE_SD,
    COMPLEXITY_WEIGHTS,
    DISABILITY_PROB,
    ENROLMENT_DAYS,
    ENROLMENT_START,
    ETHNICITIES,
    ETHNICITY_SHARES,
    FEMALE_SHARE,
    ISSUES_P,
    ISSUES_P_DISABILITY,
    LANGUAGE_NEED_PROB,
    MAX_ISSUES,
    MESSY_MISSING_SHARE,
    PRIOR_UNEMPLOYED_MAX,
    PRIOR_UNEMPLOYED_SCALE,
    PRIOR_UNEMPLOYED_SHAPE,
    SERVICES,
    SITE_EMPLOYMENT_SHARE,
    SITE_SHARES,
    SITES,
    BoolArray,
    FloatArray,
    IntArray,
)

# ============================================================================================
# the data-generating process
# ============================================================================================


@dataclass(frozen=True)
class _Clients:
    site: IntArray
    service: IntArray  # 0 employment, 1 welfare_advice
    start_day: IntArray
    age: IntArray
    female: BoolArray
    disability: IntArray
    language_need: IntArray
    n_issues: IntArray
    prior_unemployed_months: IntArray
    ethnicity: IntArray
    complexity: FloatArray


def _draw_clients(rng: np.random.Generator, n: int) -> _Clients:
    site = rng.choice(len(SITES), size=n, p=np.asarray(SITE_SHARES))
    welfare = (rng.random(n) >= np.asarray(SITE_EMPLOYMENT_SHARE)[site]).astype(np.int64)
    start = _day(ENROLMENT_START) + np.sort(rng.integers(0, ENROLMENT_DAYS, size=n))
    start = _skip_weekend(start)  # ids are issued in start order, as a CRM does

    def by_service(table: dict[str, Any]) -> npt.NDArray[Any]:
        return np.asarray([table[s] for s in SERVICES])[welfare]

    age_range = by_service(AGE_RANGE)
    age = np.rint(by_service(AGE_MEAN) + by_service(AGE_SD) * rng.standard_normal(n))
    age = np.clip(age, age_range[:, 0], age_range[:, 1]).astype(np.int64)
    female = rng.random(n) < by_service(FEMALE_SHARE)
    disability = (rng.random(n) < by_service(DISABILITY_PROB)).astype(np.int64)
    ethnicity = rng.choice(len(ETHNICITIES), size=n, p=np.asarray(ETHNICITY_SHARES))
    language_need = (rng.random(n) < np.asarray(LANGUAGE_NEED_PROB)[ethnicity]).astype(np.int64)
    n_issues = 1 + rng.binomial(MAX_ISSUES - 1, ISSUES_P + ISSUES_P_DISABILITY * disability)
    prior = rng.gamma(PRIOR_UNEMPLOYED_SHAPE, PRIOR_UNEMPLOYED_SCALE * (1 + disability))
    prior = np.minimum(np.rint(prior), PRIOR_UNEMPLOYED_MAX).astype(np.int64)
    w = COMPLEXITY_WEIGHTS
    complexity = (
        w["disability"] * disability
        + w["language_need"] * language_need
        + w["extra_issue"] * (n_issues - 1)
        + w["prior_unemployed_month"] * prior
        + w["year_over_50"] * np.maximum(age - 50, 0)
    )
    return _Clients(
        site=site,
        service=welfare,
        start_day=start,
        age=age,
        female=female,
        disability=disability,
        language_need=language_need,
        n_issues=n_issues.astype(np.int64),
        prior_unemployed_months=prior,
        ethnicity=ethnicity,
        complexity=complexity,
    )


def _labels(names: tuple[str, ...], codes: IntArray) -> pd.Series:
    return _str_series(pc.take(pa.array(list(names), pa.large_string()), pa.array(codes)))


def _clients_frame(cl: _Clients, client_ids: pa.LargeStringArray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "client_id": _str_series(client_ids),
            "service": _labels(SERVICES, cl.service),
            "site": _labels(SITES, cl.site),
            "start_date": _date_series(cl.start_day),
            "age": cl.age,
            "sex": _labels(("M", "F"), cl.female.astype(np.int64)),
            "disability": cl.disability,
            "language_need": cl.language_need,
            "n_issues": cl.n_issues,
            "prior_unemployed_months": cl.prior_unemployed_months,
            "ethnicity": _labels(ETHNICITIES, cl.ethnicity),
        }
    )


def _blank_covariates(rng: np.random.Generator, clients: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    n = len(clients)
    out = clients.copy()
    age_missing = rng.choice(n, size=round(MESSY_MISSING_SHARE * n), replace=False)
    ethnicity_missing = rng.choice(n, size=round(MESSY_MISSING_SHARE * n), replace=False)
    age = out["age"].astype("Int64")
    age.iloc[age_missing] = pd.NA
    out["age"] = age
    ethnicity = out["ethnicity"].copy()
    ethnicity.iloc[ethnicity_missing] = np.nan
    out["ethnicity"] = ethnicity
    return out, {"missing_age": len(age_missing), "missing_ethnicity": len(ethnicity_missing)}
