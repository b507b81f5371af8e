"""Synthetic case-management extract of a community charity with known effects of continuity.

The generator writes the four extract tables the pipeline ingests (DESIGN section 3) plus
``truth.json`` (the true ATT and ATE of relational continuity on each outcome, computed from
potential-outcome means over exactly the population the pipeline analyses) and a ready-to-run
``config.yaml``. Everything is vectorised numpy: one million clients (about eight million
contacts) generate and write in seconds.

Data-generating process
-----------------------
Every number below is a module-level constant of the same name.

Calendar. Client start dates are uniform over ``ENROLMENT_DAYS`` days from ``ENROLMENT_START``;
weekend dates move to the next Monday (services are closed at weekends). The extract date is the
first day of the month after the latest date any outcome can take (last first contact +
max(``window_max_days``, ``EXTRACT_WINDOW_ALLOWANCE_DAYS``) + the longest follow-up), so every
outcome is fully observed and exposure windows up to 180 days see the same extract. Contacts on or
after the extract date have not happened yet and are not in the extract.

Sites. ``SITES`` with client shares ``SITE_SHARES``, share of employment (vs welfare advice)
clients ``SITE_EMPLOYMENT_SHARE``, and rota practice ``SITE_SWITCH_PROB`` (the per-contact
probability of being passed to another worker for a client of reference complexity). Outcome
levels differ by site: ``SITE_JOB_LOGIT``, ``SITE_INCOME_GBP``, ``SITE_CRISIS_LOG``.

Workers. Each site has caseload slots in proportion to its clients (at least
``MIN_SLOTS_PER_SITE``), sized so that about one worker per ``CLIENTS_PER_WORKER`` clients is
employed over the whole period. A slot is held by a chain of workers: the first started up to
``FIRST_TENURE_LOOKBACK_DAYS`` before enrolment opened, each tenure lasts
``TENURE_MIN_DAYS`` + Exponential so that the mean is ``TENURE_MEAN_DAYS`` (high turnover, as in
charities), and the next worker starts the day after the previous one leaves. Worker quality is
standard normal and loads on the outcomes through ``JOB_QUALITY``, ``INCOME_QUALITY`` and
``CRISIS_QUALITY``; the quality that counts is that of the client's first worker (the allocated
caseworker), so a departure changes outcomes only through continuity (the instrument's exclusion
restriction holds by construction).

Clients. Service by site; age normal (``AGE_MEAN``, ``AGE_SD``, clipped to ``AGE_RANGE``) by
service; sex female with ``FEMALE_SHARE``; disability with ``DISABILITY_PROB``; ethnicity from
``ETHNICITY_SHARES``; language need with ``LANGUAGE_NEED_PROB`` by ethnicity (so ethnicity is a
proxy, with no direct effect on outcomes); ``n_issues`` = 1 + Binomial(5, ``ISSUES_P`` +
``ISSUES_P_DISABILITY`` * disability); prior unemployment months Gamma(``PRIOR_UNEMPLOYED_SHAPE``,
``PRIOR_UNEMPLOYED_SCALE`` * (1 + disability)), rounded and capped at ``PRIOR_UNEMPLOYED_MAX``.
Complexity is the linear score ``c = sum COMPLEXITY_WEIGHTS[k] * x_k`` over disability,
language need, n_issues - 1, prior unemployed months and years of age over 50.

Contacts. Per client 1 + NegativeBinomial with mean ``CONTACTS_MEAN`` + ``CONTACTS_PER_ISSUE`` *
(n_issues - 1) and dispersion ``CONTACTS_DISPERSION``, capped at ``CONTACTS_MAX`` (so some
clients have fewer than K contacts and are ineligible). The first contact is on the start date,
or with probability ``FIRST_CONTACT_DELAY_PROB`` up to ``FIRST_CONTACT_DELAY_MAX_DAYS`` later.
Gaps are Gamma(``GAP_SHAPE``) with a client cadence whose median is ``GAP_MEDIAN_DAYS`` and
log-sd ``GAP_CADENCE_SIGMA``, rounded to days (zero gaps give same-day contacts, ordered by
contact_id). Mode from ``MODE_PROBS``; duration Gamma with mean ``DURATION_MEAN_MINUTES`` by mode,
rounded to 5 minutes.

Worker assignment. A client is allocated to a random slot of its site. At each later contact it
moves to another slot of the site with probability
``expit(logit(SITE_SWITCH_PROB[site]) + SWITCH_COMPLEXITY * (c - COMPLEXITY_REF))``: complex
clients are passed on more often (confounding). The worker seen is whoever holds the slot on the
contact date, so a departure forces a switch (the instrument: the first worker's end_date falls
inside the exposure window).

Exposure (DESIGN section 5, the pipeline's definition). Contacts ordered by date, ties by
contact_id; the window is the first K = ``window_contacts`` contacts with
``contact_date - first_contact_date <= window_max_days``; clients with fewer than K such contacts
are ineligible. The continuity index (default UPC = max_i n_i / K) over the window gives
D = 1 if index >= threshold. Index date = date of the K-th contact. Instrument Z = 1 if the
first worker's end_date lies in [first contact date, index date].

Outcomes, with potential outcomes indexed by D (heterogeneous effects, so ATT != ATE):

- ``job_start`` (employment clients, follow-up 182 days): P(Y(d)=1|x) = expit(``JOB_INTERCEPT``
  + ``SITE_JOB_LOGIT`` + ``JOB_QUALITY`` q - ``JOB_COMPLEXITY`` c + (``BETA_JOB`` +
  ``BETA_JOB_COMPLEXITY`` c) d): continuity helps complex clients more.
- ``income_gain_gbp`` (welfare advice clients, follow-up 365 days): Normal with mean
  ``INCOME_MEAN_GBP`` + ``SITE_INCOME_GBP`` + ``INCOME_QUALITY`` q - ``INCOME_COMPLEXITY`` c +
  (``TAU_INCOME_GBP`` + ``TAU_INCOME_COMPLEXITY`` c) d and sd ``INCOME_SD_GBP``, in pounds to 2 dp.
- ``crisis_contacts`` (all clients, follow-up 365 days): Poisson with log mean
  log(``CRISIS_MEAN``) + ``SITE_CRISIS_LOG`` + ``CRISIS_QUALITY`` q + ``CRISIS_COMPLEXITY`` c +
  ``CRISIS_WELFARE_LOG`` [welfare] + ``BETA_CRISIS[service]`` d, with BETA_CRISIS < 0.

Both potential outcomes are drawn for every client (binary ones coupled through one uniform,
continuous ones through one normal) and the realised value is the one at the realised D, so the
random stream never depends on the exposure config. Job starts are dated at the event (index +
1..182 days), everything else at index + follow-up. For ``EARLY_OUTCOME_SHARE`` of the rows the
date instead falls between the first contact and the index date inclusive: the pipeline excludes
those clients from that outcome, and so does the truth. Ineligible clients get outcomes too,
dated from their last window contact, at the continuity they experienced (one contact counts as
continuous); they never enter the truth.

Truth. Per outcome: ATT, ATE and ATC as means of mu1(x) - mu0(x) over the analysis population
(eligible, outcome applicable to the service, outcome dated after the index date), with counts
and the SHA-256 of the population's and treated clients' sorted ids, so a pipeline run can check
it analysed the same people. Also the first stage (share treated when Z = 1 vs Z = 0).

Messy mode adds rows the pipeline's cleaning must drop and count (never alters real rows, so the
clean data and the truth are unchanged): ``MESSY_DUPLICATE_SHARE`` exact duplicate contacts,
``MESSY_UNKNOWN_CLIENT_SHARE`` contacts of clients not in the clients table,
``MESSY_BEFORE_START_SHARE`` contacts dated before the client's start date,
``MESSY_FUTURE_SHARE`` contacts after the extract date, and blanks ``MESSY_MISSING_SHARE`` of
age and of ethnicity.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import yaml

__all__ = [
    "DEFAULT_EXPOSURE",
    "GENERATOR_VERSION",
    "SyntheticExtract",
    "generate_extract",
    "write_extract",
]

GENERATOR_VERSION = "1.0.0"

DEFAULT_EXPOSURE: dict[str, Any] = {
    "index": "upc",
    "threshold": 0.75,
    "window_contacts": 4,
    "window_max_days": 120,
}
CONTINUITY_INDICES = ("upc", "coc", "secon", "hhi", "mmci", "k")
MAX_WINDOW_MAX_DAYS = 730  # bounds the calendar, so the random stream never depends on exposure
EXTRACT_WINDOW_ALLOWANCE_DAYS = 180  # windows up to this long share one extract date

# --- calendar -------------------------------------------------------------------------------
ENROLMENT_START = datetime.date(2021, 1, 4)
ENROLMENT_DAYS = 3 * 365

# --- sites ----------------------------------------------------------------------------------
SITES = ("S01", "S02", "S03", "S04", "S05", "S06")
SITE_SHARES = (0.24, 0.21, 0.18, 0.15, 0.13, 0.09)
SITE_EMPLOYMENT_SHARE = (0.65, 0.55, 0.70, 0.50, 0.60, 0.45)
SITE_SWITCH_PROB = (0.32, 0.40, 0.35, 0.50, 0.44, 0.38)
SITE_JOB_LOGIT = (0.00, -0.20, 0.15, -0.35, 0.10, -0.10)
SITE_INCOME_GBP = (0.0, -150.0, 100.0, -250.0, 50.0, -100.0)
SITE_CRISIS_LOG = (0.00, 0.10, -0.05, 0.20, 0.05, 0.10)

# --- workers --------------------------------------------------------------------------------
CLIENTS_PER_WORKER = 50
MIN_SLOTS_PER_SITE = 3
TENURE_MIN_DAYS = 30
TENURE_MEAN_DAYS = 365
FIRST_TENURE_LOOKBACK_DAYS = 730

# --- clients --------------------------------------------------------------------------------
SERVICES = ("employment", "welfare_advice")
AGE_MEAN = {"employment": 38.0, "welfare_advice": 46.0}
AGE_SD = {"employment": 12.0, "welfare_advice": 15.0}
AGE_RANGE = {"employment": (18, 66), "welfare_advice": (18, 90)}
FEMALE_SHARE = {"employment": 0.48, "welfare_advice": 0.56}
DISABILITY_PROB = {"employment": 0.25, "welfare_advice": 0.38}
ETHNICITIES = ("White", "Asian", "Black", "Mixed", "Other")
ETHNICITY_SHARES = (0.70, 0.13, 0.09, 0.04, 0.04)
LANGUAGE_NEED_PROB = (0.02, 0.30, 0.20, 0.05, 0.35)
ISSUES_P = 0.22
ISSUES_P_DISABILITY = 0.12
MAX_ISSUES = 6
PRIOR_UNEMPLOYED_SHAPE = 0.9
PRIOR_UNEMPLOYED_SCALE = 9.0
PRIOR_UNEMPLOYED_MAX = 120

# --- complexity (drives both switching and outcomes: the confounder) ------------------------
COMPLEXITY_WEIGHTS = {
    "disability": 0.6,
    "language_need": 0.6,
    "extra_issue": 0.3,
    "prior_unemployed_month": 0.025,
    "year_over_50": 0.03,
}
COMPLEXITY_REF = 1.0
SWITCH_COMPLEXITY = 0.8

# --- contacts -------------------------------------------------------------------------------
CONTACTS_MEAN = 5.5
CONTACTS_PER_ISSUE = 1.0
CONTACTS_DISPERSION = 2.5
CONTACTS_MAX = 40
FIRST_CONTACT_DELAY_PROB = 0.3
FIRST_CONTACT_DELAY_MAX_DAYS = 14
GAP_MEDIAN_DAYS = 11.0
GAP_CADENCE_SIGMA = 0.5
GAP_SHAPE = 1.5
MODES = ("in_person", "phone", "video")
MODE_PROBS = (0.6, 0.3, 0.1)
DURATION_MEAN_MINUTES = (45.0, 20.0, 30.0)
DURATION_SHAPE = 4.0

# --- outcomes -------------------------------------------------------------------------------
OUTCOMES: dict[str, dict[str, Any]] = {
    "job_start": {"type": "binary", "follow_up_days": 182, "services": ("employment",)},
    "income_gain_gbp": {
        "type": "continuous",
        "follow_up_days": 365,
        "services": ("welfare_advice",),
    },
    "crisis_contacts": {
        "type": "count",
        "follow_up_days": 365,
        "services": ("employment", "welfare_advice"),
    },
}
MAX_FOLLOW_UP_DAYS = max(spec["follow_up_days"] for spec in OUTCOMES.values())
JOB_INTERCEPT = -0.1
JOB_QUALITY = 0.25
JOB_COMPLEXITY = 1.2
BETA_JOB = 0.05
BETA_JOB_COMPLEXITY = 0.45
INCOME_MEAN_GBP = 1900.0
INCOME_QUALITY = 150.0
INCOME_COMPLEXITY = 300.0
INCOME_SD_GBP = 700.0
TAU_INCOME_GBP = 200.0
TAU_INCOME_COMPLEXITY = 150.0
CRISIS_MEAN = 0.9
CRISIS_QUALITY = -0.10
CRISIS_COMPLEXITY = 0.35
CRISIS_WELFARE_LOG = 0.20
BETA_CRISIS = {"employment": -0.15, "welfare_advice": -0.30}
EARLY_OUTCOME_SHARE = 0.02

# --- messy mode -----------------------------------------------------------------------------
MESSY_DUPLICATE_SHARE = 0.005
MESSY_UNKNOWN_CLIENT_SHARE = 0.003
MESSY_BEFORE_START_SHARE = 0.003
MESSY_FUTURE_SHARE = 0.002
MESSY_MISSING_SHARE = 0.03
MESSY_MAX_DAYS_OFF = 90

_EPOCH = datetime.date(1970, 1, 1)
_DIGITS4 = np.stack([48 + np.arange(10_000) // 10**p % 10 for p in (3, 2, 1, 0)], axis=1).astype(
    np.uint8
)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class SyntheticExtract:
    """A generated extract: the four tables, the truth and the extract date.

    Attributes
    ----------
    clients, contacts, outcomes, workers : pandas.DataFrame
        The extract tables, with the canonical column names of DESIGN section 3. Dates are
        ``datetime64[s]`` at midnight; ``workers.end_date`` is NaT while still employed.
    truth : dict
        JSON-serialisable true effects and counts (see :func:`generate_extract`).
    extract_date : datetime.date
        The date the extract was taken; every clean date is before it.
    """

    clients: pd.DataFrame
    contacts: pd.DataFrame
    outcomes: pd.DataFrame
    workers: pd.DataFrame
    truth: dict
    extract_date: datetime.date


# ============================================================================================
# small vectorised helpers
# ============================================================================================


def _expit(x: FloatArray) -> FloatArray:
    return 1.0 / (1.0 + np.exp(-x))


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def _day(date: datetime.date) -> int:
    return (date - _EPOCH).days


def _to_date(day: int) -> datetime.date:
    return _EPOCH + datetime.timedelta(days=int(day))


def _skip_weekend(days: IntArray) -> IntArray:
    # Monotone (Sat, Sun -> Mon), so contact order within a client is preserved.
    dow = (days + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    return days + np.where(dow == 5, 2, np.where(dow == 6, 1, 0))


def _segment_starts(lengths: IntArray) -> IntArray:
    starts = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    return starts


def _segmented_cumsum(values: IntArray, lengths: IntArray) -> IntArray:
    """Cumulative sum restarting at each segment (segments contiguous, all non-empty)."""
    total = np.cumsum(values)
    starts = _segment_starts(lengths)
    base = total[starts] - values[starts]
    return total - np.repeat(base, lengths)


def _fixed_ids(prefix: str, numbers: IntArray, width: int) -> pa.LargeStringArray:
    """Zero-padded identifiers such as ``C0000001`` built straight into an Arrow buffer.

    Python string formatting costs about 2 s per 8 million ids; this costs a few hundred ms.
    """
    n_chunks = -(-width // 4)
    digits = np.empty((len(numbers), 4 * n_chunks), dtype=np.uint8)
    rest = numbers.astype(np.int64)
    for chunk in range(n_chunks - 1, -1, -1):
        digits[:, 4 * chunk : 4 * chunk + 4] = _DIGITS4[rest % 10_000]
        rest = rest // 10_000
    if np.any(rest):
        raise ValueError(f"identifier numbers do not fit in {width} digits")
    body = digits[:, 4 * n_chunks - width :]
    row = np.empty((len(numbers), len(prefix) + width), dtype=np.uint8)
    row[:, : len(prefix)] = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    row[:, len(prefix) :] = body
    size = row.shape[1]
    # large_string is what pandas' str dtype stores, so no conversion copy later.
    offsets = np.arange(0, (len(numbers) + 1) * size, size, dtype=np.int64)
    return pa.LargeStringArray.from_buffers(
        len(numbers), pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(row).ravel())
    )


def _id_width(minimum: int, largest: int) -> int:
    return max(minimum, len(str(int(largest))))


def _str_series(values: pa.Array) -> pd.Series:
    return values.to_pandas()


def _date_series(days: IntArray) -> pd.Series:
    return pd.Series(days.astype("datetime64[D]").astype("datetime64[s]"))


def _sha256_ids(ids: pa.Array) -> str:
    """SHA-256 of newline-joined ids (sorted order, as generated), the population fingerprint."""
    digest = hashlib.sha256()
    digest.update("\n".join(ids.to_pylist()).encode("utf-8"))
    return digest.hexdigest()


def _round_sig(value: Any, digits: int = 10) -> Any:
    """Round every float in a nested structure to `digits` significant digits (stable bytes)."""
    if value is None:
        return None
    if isinstance(value, dict):
        return {str(key): _round_sig(value[key], digits) for key in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [_round_sig(item, digits) for item in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if not math.isfinite(value):
            raise ValueError("truth must be finite")
        return float(f"{value:.{digits}g}")
    return value


# ============================================================================================
# exposure
# ============================================================================================


def _resolve_exposure(exposure: dict | None) -> dict[str, Any]:
    resolved = dict(DEFAULT_EXPOSURE)
    if exposure:
        unknown = sorted(set(exposure) - set(DEFAULT_EXPOSURE))
        if unknown:
            raise ValueError(
                f"unknown exposure keys {unknown}; allowed: {sorted(DEFAULT_EXPOSURE)}"
            )
        resolved.update(exposure)
    if resolved["index"] not in CONTINUITY_INDICES:
        raise ValueError(
            f"exposure index {resolved['index']!r} is not one of {list(CONTINUITY_INDICES)}"
        )
    if not 0.0 < float(resolved["threshold"]) <= 1.0:
        raise ValueError("exposure threshold must be in (0, 1]")
    k = resolved["window_contacts"]
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 2 <= k <= 20:
        raise ValueError("exposure window_contacts must be an integer from 2 to 20")
    days = resolved["window_max_days"]
    if (
        isinstance(days, bool)
        or not isinstance(days, (int, np.integer))
        or not 1 <= days <= MAX_WINDOW_MAX_DAYS
    ):
        raise ValueError(
            f"exposure window_max_days must be an integer from 1 to {MAX_WINDOW_MAX_DAYS}"
        )
    resolved["threshold"] = float(resolved["threshold"])
    resolved["window_contacts"] = int(k)
    resolved["window_max_days"] = int(days)
    return resolved


def _window_continuity(window: IntArray, n_valid: IntArray, index: str) -> FloatArray:
    """Continuity index of each row of a worker window (DESIGN section 5 formulas).

    Parameters
    ----------
    window : (n, K) int array
        Worker codes of the first K window contacts; only the first ``n_valid`` are used.
    n_valid : (n,) int array
        Number of contacts N in each window (1..K).
    index : str
        One of ``CONTINUITY_INDICES``.

    Returns
    -------
    (n,) float array; NaN where the index is undefined (N = 1 for coc, secon, k).
    """
    k = window.shape[1]
    valid = np.arange(k)[None, :] < n_valid[:, None]
    # Padding gets distinct negative codes so it never matches a worker or itself.
    codes = np.where(valid, window, -1 - np.arange(k)[None, :])
    same = codes[:, :, None] == codes[:, None, :]
    per_position = np.where(valid, same.sum(axis=2), 0)  # n_i of the worker at each position
    n = n_valid.astype(np.float64)
    sum_sq = per_position.sum(axis=1).astype(np.float64)  # sum_i n_i^2
    earlier = np.tril(np.ones((k, k), dtype=bool), -1)
    first_seen = valid & ~np.any(same & earlier[None, :, :], axis=2)
    distinct = first_seen.sum(axis=1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        if index == "upc":
            return per_position.max(axis=1) / n
        if index == "hhi":
            return sum_sq / (n * n)
        if index == "coc":
            return np.where(n > 1, (sum_sq - n) / (n * (n - 1)), np.nan)
        if index == "secon":
            pair_valid = valid[:, 1:]
            same_next = (codes[:, 1:] == codes[:, :-1]) & pair_valid
            return np.where(n > 1, same_next.sum(axis=1) / (n - 1), np.nan)
        if index == "mmci":
            return (1 - distinct / (n + 0.1)) / (1 - 1 / (n + 0.1))
        if index == "k":
            return np.where(n > 1, (n - distinct) / (n - 1), np.nan)
    raise ValueError(f"unknown continuity index {index!r}")


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


@dataclass(frozen=True)
class _Schedule:
    n_contacts: IntArray  # per client
    client: IntArray  # per contact, in (client, position) order
    day: IntArray
    slot: IntArray  # global caseload slot
    mode: IntArray
    duration: IntArray


def _slots_per_site(n_clients: int) -> IntArray:
    # A slot sees ~1 + span / mean tenure workers, so size the slot count from the worker target.
    span = ENROLMENT_DAYS + FIRST_TENURE_LOOKBACK_DAYS / 2 + MAX_FOLLOW_UP_DAYS + 120
    workers_per_slot = 1 + span / TENURE_MEAN_DAYS
    total = n_clients / CLIENTS_PER_WORKER / workers_per_slot
    return np.maximum(MIN_SLOTS_PER_SITE, np.rint(total * np.asarray(SITE_SHARES))).astype(np.int64)


def _draw_schedule(rng: np.random.Generator, cl: _Clients, slots: IntArray) -> _Schedule:
    n = len(cl.site)
    mean = CONTACTS_MEAN + CONTACTS_PER_ISSUE * (cl.n_issues - 1)
    extra = rng.negative_binomial(
        CONTACTS_DISPERSION, CONTACTS_DISPERSION / (CONTACTS_DISPERSION + mean)
    )
    n_contacts = np.minimum(1 + extra, CONTACTS_MAX).astype(np.int64)
    client = np.repeat(np.arange(n, dtype=np.int64), n_contacts)
    starts = _segment_starts(n_contacts)
    m = len(client)

    delayed = rng.random(n) < FIRST_CONTACT_DELAY_PROB
    delay = np.where(delayed, rng.integers(1, FIRST_CONTACT_DELAY_MAX_DAYS + 1, size=n), 0)
    cadence = GAP_MEDIAN_DAYS * np.exp(GAP_CADENCE_SIGMA * rng.standard_normal(n))
    gaps = np.rint(rng.gamma(GAP_SHAPE, 1.0, size=m) * (cadence / GAP_SHAPE)[client]).astype(
        np.int64
    )
    gaps[starts] = cl.start_day + delay
    day = _skip_weekend(_segmented_cumsum(gaps, n_contacts))

    # Per-contact switching: complexity and the site's rota practice raise the hazard.
    p_switch = _expit(
        np.asarray([_logit(p) for p in SITE_SWITCH_PROB])[cl.site]
        + SWITCH_COMPLEXITY * (cl.complexity - COMPLEXITY_REF)
    )
    n_slots = slots[cl.site]
    switch = rng.random(m) < p_switch[client]
    switch[starts] = False
    # Moving by 1..n_slots-1 places (mod n_slots) always lands on another slot.
    step = 1 + np.floor(rng.random(m) * (n_slots - 1)[client]).astype(np.int64)
    first_slot = np.floor(rng.random(n) * n_slots).astype(np.int64)
    moves = np.where(switch, step, 0)
    moves[starts] = first_slot
    slot_base = _segment_starts(slots)
    slot = slot_base[cl.site][client] + _segmented_cumsum(moves, n_contacts) % n_slots[client]

    mode = rng.choice(len(MODES), size=m, p=np.asarray(MODE_PROBS))
    minutes = rng.gamma(DURATION_SHAPE, 1.0, size=m) * (
        np.asarray(DURATION_MEAN_MINUTES)[mode] / DURATION_SHAPE
    )
    duration = np.maximum(5, 5 * np.rint(minutes / 5)).astype(np.int64)
    return _Schedule(n_contacts, client, day, slot, mode, duration)


@dataclass(frozen=True)
class _Workers:
    slot: IntArray  # tenures in (slot, start) order
    start_day: IntArray
    end_day: IntArray
    quality: FloatArray


def _draw_workers(rng: np.random.Generator, n_slots: int, horizon_day: int) -> _Workers:
    """Chains of tenures per slot covering every day up to `horizon_day`."""
    first_start = _day(ENROLMENT_START) - rng.integers(
        0, FIRST_TENURE_LOOKBACK_DAYS + 1, size=n_slots
    )
    # Every tenure lasts at least TENURE_MIN_DAYS, so this many always reach the horizon.
    per_slot = (horizon_day - int(first_start.min())) // TENURE_MIN_DAYS + 2
    length = TENURE_MIN_DAYS + np.rint(
        rng.exponential(TENURE_MEAN_DAYS - TENURE_MIN_DAYS, size=(n_slots, per_slot))
    ).astype(np.int64)
    start = first_start[:, None] + np.cumsum(length, axis=1) - length
    keep = start <= horizon_day
    slot = np.broadcast_to(np.arange(n_slots)[:, None], start.shape)[keep]
    start_kept = start[keep]
    end_kept = (start + length - 1)[keep]
    quality = rng.standard_normal(len(start_kept))
    return _Workers(slot.astype(np.int64), start_kept, end_kept, quality)


def _holder(workers: _Workers, slot: IntArray, day: IntArray) -> IntArray:
    """Index of the worker holding `slot` on `day`: one searchsorted over (slot, start) keys."""
    origin = int(workers.start_day.min())
    span = int(max(workers.end_day.max(), day.max())) - origin + 1
    tenure_key = workers.slot * span + (workers.start_day - origin)
    contact_key = slot * span + (day - origin)
    return np.searchsorted(tenure_key, contact_key, side="right") - 1


@dataclass(frozen=True)
class _Potential:
    """Per-client potential-outcome means and coupled draws for one outcome."""

    applies: BoolArray
    mu0: FloatArray
    mu1: FloatArray
    y0: FloatArray
    y1: FloatArray


def _draw_potential_outcomes(
    rng: np.random.Generator, cl: _Clients, quality: FloatArray
) -> dict[str, _Potential]:
    n = len(cl.site)
    c = cl.complexity
    employment = cl.service == 0

    job_lp = (
        JOB_INTERCEPT
        + np.asarray(SITE_JOB_LOGIT)[cl.site]
        + JOB_QUALITY * quality
        - JOB_COMPLEXITY * c
    )
    p0 = _expit(job_lp)
    p1 = _expit(job_lp + BETA_JOB + BETA_JOB_COMPLEXITY * c)
    u = rng.random(n)  # one uniform couples Y(0) and Y(1): Y(1) >= Y(0) for every client
    job = _Potential(employment, p0, p1, (u < p0).astype(np.float64), (u < p1).astype(np.float64))

    m0 = (
        INCOME_MEAN_GBP
        + np.asarray(SITE_INCOME_GBP)[cl.site]
        + INCOME_QUALITY * quality
        - INCOME_COMPLEXITY * c
    )
    m1 = m0 + TAU_INCOME_GBP + TAU_INCOME_COMPLEXITY * c
    noise = INCOME_SD_GBP * rng.standard_normal(n)
    income = _Potential(~employment, m0, m1, np.round(m0 + noise, 2), np.round(m1 + noise, 2))

    log_mu = (
        math.log(CRISIS_MEAN)
        + np.asarray(SITE_CRISIS_LOG)[cl.site]
        + CRISIS_QUALITY * quality
        + CRISIS_COMPLEXITY * c
        + CRISIS_WELFARE_LOG * cl.service
    )
    mu0 = np.exp(log_mu)
    mu1 = np.exp(log_mu + np.asarray([BETA_CRISIS[s] for s in SERVICES])[cl.service])
    crisis = _Potential(
        np.ones(n, dtype=bool),
        mu0,
        mu1,
        rng.poisson(mu0).astype(np.float64),
        rng.poisson(mu1).astype(np.float64),
    )
    return {"job_start": job, "income_gain_gbp": income, "crisis_contacts": crisis}


def _draw_outcome_dates(
    rng: np.random.Generator, n: int
) -> dict[str, tuple[FloatArray, FloatArray, BoolArray]]:
    """Per outcome: uniforms for the event day and for an early day, and the early flag."""
    return {
        name: (rng.random(n), rng.random(n), rng.random(n) < EARLY_OUTCOME_SHARE)
        for name in OUTCOMES
    }


# ============================================================================================
# public API
# ============================================================================================


def generate_extract(
    n_clients: int, seed: int = 1, messy: bool = False, exposure: dict | None = None
) -> SyntheticExtract:
    """Generate a synthetic extract with known true effects of relational continuity.

    Parameters
    ----------
    n_clients : int
        Number of clients (about 8 contacts each).
    seed : int, default 1
        Seed of ``numpy.random.default_rng``; the same (n_clients, seed, messy, exposure) gives
        identical tables and identical written bytes.
    messy : bool, default False
        Add defect rows (duplicates, unknown clients, contacts before start or in the future)
        and blank some age and ethnicity values. Real rows are never altered, so the cleaned
        data and the truth equal those of ``messy=False``.
    exposure : dict, optional
        Overrides of :data:`DEFAULT_EXPOSURE` (index, threshold, window_contacts,
        window_max_days). The world (clients, contacts, workers) does not depend on it; the
        realised outcomes and the truth do.

    Returns
    -------
    SyntheticExtract
        Tables, truth and extract date. ``truth["outcomes"][name]`` holds ``att``, ``ate``,
        ``atc`` (from potential-outcome means), ``n_eligible`` (eligible clients the outcome
        applies to), ``n_excluded_outcome_not_after_index``, ``n_treated``, ``n_control``,
        ``scale`` and population fingerprints; ``truth["first_stage"]`` the instrument strength.

    Examples
    --------
    >>> ex = generate_extract(2000, seed=3)
    >>> sorted(ex.truth["outcomes"])
    ['crisis_contacts', 'income_gain_gbp', 'job_start']
    """
    if isinstance(n_clients, bool) or not isinstance(n_clients, (int, np.integer)) or n_clients < 1:
        raise ValueError("n_clients must be a positive integer")
    n = int(n_clients)
    exp = _resolve_exposure(exposure)
    k, max_days = exp["window_contacts"], exp["window_max_days"]
    rng = np.random.default_rng(seed)

    # All random draws come first and their sizes never depend on the exposure config, so
    # changing the exposure definition re-labels the same world rather than drawing a new one.
    cl = _draw_clients(rng, n)
    slots = _slots_per_site(n)
    sched = _draw_schedule(rng, cl, slots)
    starts = _segment_starts(sched.n_contacts)
    first_day = sched.day[starts]
    horizon = int(first_day.max()) + MAX_WINDOW_MAX_DAYS + MAX_FOLLOW_UP_DAYS + 31
    wk = _draw_workers(rng, int(slots.sum()), max(horizon, int(sched.day.max())))
    worker = _holder(wk, sched.slot, sched.day)
    first_worker = worker[starts]
    potential = _draw_potential_outcomes(rng, cl, wk.quality[first_worker])
    date_draws = _draw_outcome_dates(rng, n)

    # Calendar: the extract is taken once every outcome can be observed. The allowance keeps
    # the extract date (and so which contacts have happened) the same for usual windows.
    lag = max(max_days, EXTRACT_WINDOW_ALLOWANCE_DAYS) + MAX_FOLLOW_UP_DAYS
    last_outcome = np.datetime64(int(first_day.max()) + lag, "D")
    extract_day = int(
        (last_outcome.astype("datetime64[M]") + 1).astype("datetime64[D]").astype(np.int64)
    )

    # Exposure window: positions 0..K-1 within max_days of the first contact (dates are
    # non-decreasing within a client and same-day contacts carry increasing contact_ids).
    pos = np.arange(k)
    idx = starts[:, None] + np.minimum(pos[None, :], sched.n_contacts[:, None] - 1)
    in_window = (pos[None, :] < sched.n_contacts[:, None]) & (
        sched.day[idx] - first_day[:, None] <= max_days
    )
    n_valid = in_window.sum(axis=1)
    eligible = n_valid == k
    # The K-th contact if eligible, else the last window contact (dates their outcomes).
    index_day = sched.day[starts + n_valid - 1]
    index_value = _window_continuity(worker[idx], n_valid, exp["index"])
    # A single contact is one worker: continuous by definition (ineligible clients only).
    treated = np.where(np.isnan(index_value), True, index_value >= exp["threshold"])
    first_end = wk.end_day[first_worker]
    instrument = (first_end >= first_day) & (first_end <= index_day)

    client_numbers = np.arange(1, n + 1)
    # Wide enough for the unknown clients messy mode invents, so ids match across modes.
    client_width = _id_width(7, n + max(10, n // 100))
    client_ids = _fixed_ids("C", client_numbers, client_width)

    outcome_frames, truth_outcomes = _outcomes(
        potential, date_draws, treated, eligible, first_day, index_day, client_ids
    )

    # Contacts on or after the extract date have not happened yet.
    happened = sched.day < extract_day
    order = np.argsort(sched.day[happened] * len(sched.day) + np.flatnonzero(happened))
    kept = np.flatnonzero(happened)[order]  # chronological, so contact ids follow time

    # Workers: numbered by start date; not yet hired at the extract date -> not in the extract.
    hired = wk.start_day < extract_day
    worker_order = np.lexsort((wk.slot, wk.start_day))
    worker_order = worker_order[hired[worker_order]]
    worker_number = np.full(len(wk.start_day), -1, dtype=np.int64)
    worker_number[worker_order] = np.arange(len(worker_order))
    worker_ids = _fixed_ids(
        "W", np.arange(1, len(worker_order) + 1), _id_width(5, len(worker_order))
    )
    slot_site = np.repeat(np.arange(len(SITES)), slots)

    clients_df = _clients_frame(cl, client_ids)
    workers_df = pd.DataFrame(
        {
            "worker_id": _str_series(worker_ids),
            "site": _labels(SITES, slot_site[wk.slot[worker_order]]),
            "start_date": _date_series(wk.start_day[worker_order]),
            "end_date": _date_series(wk.end_day[worker_order]).where(
                wk.end_day[worker_order] < extract_day
            ),
        }
    )
    contact_rows = {
        "client": sched.client[kept],
        "worker": worker_number[worker[kept]],
        "day": sched.day[kept],
        "mode": sched.mode[kept],
        "duration": sched.duration[kept],
        "number": np.arange(1, len(kept) + 1, dtype=np.int64),
    }

    messy_counts = {key: 0 for key in _MESSY_KEYS}
    if messy:
        contact_rows, contact_defects = _inject_contact_defects(
            rng,
            contact_rows,
            cl,
            first_worker=worker_number[first_worker],
            extract_day=extract_day,
            n_workers=len(worker_order),
        )
        clients_df, missing = _blank_covariates(rng, clients_df)
        messy_counts.update(contact_defects)
        messy_counts.update(missing)

    contact_width = _id_width(8, 2 * len(kept) + 10)
    contacts_df = _contacts_frame(contact_rows, client_ids, worker_ids, client_width, contact_width)

    in_z1, in_z0 = eligible & instrument, eligible & ~instrument
    share_z1, share_z0 = _mean_or_none(treated[in_z1]), _mean_or_none(treated[in_z0])
    truth: dict[str, Any] = {
        "generator_version": GENERATOR_VERSION,
        "seed": int(seed),
        "n_clients": n,
        "extract_date": _to_date(extract_day).isoformat(),
        "exposure": exp,
        "cohort": {
            "n_eligible": int(eligible.sum()),
            "n_treated": int((eligible & treated).sum()),
            "n_control": int((eligible & ~treated).sum()),
            "share_treated": _mean_or_none(treated[eligible]),
            "eligible_sha256": _sha256_ids(client_ids.filter(pa.array(eligible))),
            "treated_sha256": _sha256_ids(client_ids.filter(pa.array(eligible & treated))),
        },
        "first_stage": {
            "definition": "instrument = 1 when the first worker's end_date is in "
            "[first contact date, index date]; shares over eligible clients",
            "n_instrument_1": int(in_z1.sum()),
            "n_instrument_0": int(in_z0.sum()),
            "share_treated_instrument_1": share_z1,
            "share_treated_instrument_0": share_z0,
            "share_difference": None
            if share_z1 is None or share_z0 is None
            else share_z0 - share_z1,
        },
        "outcomes": truth_outcomes,
        "messy": {"enabled": bool(messy), **messy_counts},
        "dgp": _dgp_parameters(slots, len(worker_order)),
    }
    return SyntheticExtract(
        clients=clients_df,
        contacts=contacts_df,
        outcomes=outcome_frames,
        workers=workers_df,
        truth=_round_sig(truth),
        extract_date=_to_date(extract_day),
    )


def write_extract(extract: SyntheticExtract, out_dir: str | Path) -> dict[str, Path]:
    """Write the extract, ``truth.json`` and a runnable ``config.yaml`` into `out_dir`.

    CSVs are written with ``pyarrow.csv`` (pandas ``to_csv`` takes ~18 s at 8 million rows):
    no index column, unquoted fields, ISO dates, empty cells for missing values, outcome values
    as integers (binary, count) or with two decimals (continuous). Output bytes depend only on
    the extract.

    Parameters
    ----------
    extract : SyntheticExtract
        What :func:`generate_extract` returned.
    out_dir : str or Path
        Created if missing. Paths in ``config.yaml`` are ``str(Path(out_dir) / file)``, so a
        relative `out_dir` stays relative (to the directory the workflow runs from).

    Returns
    -------
    dict of str to Path
        ``clients``, ``contacts``, ``outcomes``, ``workers``, ``truth`` and ``config``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / f"{name}.csv" for name in ("clients", "contacts", "outcomes", "workers")}
    paths["truth"] = out / "truth.json"
    paths["config"] = out / "config.yaml"

    decimals = pa.array([2 if OUTCOMES[o]["type"] == "continuous" else 0 for o in OUTCOMES])
    outcome_codes = pc.index_in(
        pa.array(extract.outcomes["outcome"]), value_set=pa.array(list(OUTCOMES), pa.large_string())
    )
    _write_csv(extract.clients, paths["clients"])
    _write_csv(extract.contacts, paths["contacts"])
    _write_csv(
        extract.outcomes,
        paths["outcomes"],
        value_decimals=np.asarray(pc.take(decimals, outcome_codes)),
    )
    _write_csv(extract.workers, paths["workers"])
    paths["truth"].write_text(
        json.dumps(extract.truth, sort_keys=True, indent=2) + "\n", encoding="utf-8"
    )
    config = _workflow_config(extract, out, paths)
    paths["config"].write_text(
        yaml.safe_dump(config, sort_keys=False, default_flow_style=None, width=120),
        encoding="utf-8",
    )
    return paths


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


def _mean_or_none(values: npt.NDArray[Any]) -> float | None:
    # An empty group (tiny n) has no mean; JSON gets null rather than NaN.
    return float(np.mean(values)) if len(values) else None


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


def _outcomes(
    potential: dict[str, _Potential],
    date_draws: dict[str, tuple[FloatArray, FloatArray, BoolArray]],
    treated: BoolArray,
    eligible: BoolArray,
    first_day: IntArray,
    index_day: IntArray,
    client_ids: pa.LargeStringArray,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Long outcomes table and the per-outcome truth."""
    clients, codes, values, days = [], [], [], []
    truth: dict[str, Any] = {}
    for code, (name, spec) in enumerate(OUTCOMES.items()):
        po = potential[name]
        follow_up = spec["follow_up_days"]
        y = np.where(treated, po.y1, po.y0)
        u_event, u_early, early = date_draws[name]
        day = index_day + follow_up
        if spec["type"] == "binary":
            # An event is dated when it happens; a non-event when follow-up ends.
            event_day = index_day + 1 + np.floor(u_event * follow_up).astype(np.int64)
            day = np.where(y == 1, event_day, day)
        # Recorded during the exposure window: the pipeline must exclude these clients.
        early_day = first_day + np.floor(u_early * (index_day - first_day + 1)).astype(np.int64)
        day = np.where(early, early_day, day)

        rows = np.flatnonzero(po.applies)
        clients.append(rows)
        codes.append(np.full(len(rows), code, dtype=np.int64))
        values.append(y[rows])
        days.append(day[rows])

        base = eligible & po.applies
        population = base & (day > index_day) & (day <= index_day + follow_up)
        effect = po.mu1 - po.mu0
        in_t, in_c = population & treated, population & ~treated
        truth[name] = {
            "type": spec["type"],
            "scale": "risk_difference" if spec["type"] == "binary" else "mean_difference",
            "follow_up_days": follow_up,
            "services": list(spec["services"]),
            "att": _mean_or_none(effect[in_t]),
            "ate": _mean_or_none(effect[population]),
            "atc": _mean_or_none(effect[in_c]),
            "mean_potential_0_treated": _mean_or_none(po.mu0[in_t]),
            "mean_potential_1_treated": _mean_or_none(po.mu1[in_t]),
            "n_eligible": int(base.sum()),
            "n_excluded_outcome_not_after_index": int((base & ~population).sum()),
            "n_treated": int(in_t.sum()),
            "n_control": int(in_c.sum()),
            "population_sha256": _sha256_ids(client_ids.filter(pa.array(population))),
            "treated_sha256": _sha256_ids(client_ids.filter(pa.array(in_t))),
        }

    client = np.concatenate(clients)
    order = np.argsort(client, kind="stable")  # one block per client, outcomes in a fixed order
    client = client[order]
    frame = pd.DataFrame(
        {
            "client_id": _str_series(pc.take(client_ids, pa.array(client))),
            "outcome": _labels(tuple(OUTCOMES), np.concatenate(codes)[order]),
            "value": np.concatenate(values)[order].astype(np.float64),
            "outcome_date": _date_series(np.concatenate(days)[order]),
        }
    )
    return frame, truth


def _contacts_frame(
    rows: dict[str, IntArray],
    client_ids: pa.LargeStringArray,
    worker_ids: pa.LargeStringArray,
    client_width: int,
    contact_width: int,
) -> pd.DataFrame:
    n = len(client_ids)
    client = rows["client"]
    ids = client_ids
    if len(client) and client.max() >= n:
        # Unknown clients (messy mode) continue the numbering beyond the real clients.
        extra = _fixed_ids("C", np.arange(n + 1, int(client.max()) + 2), client_width)
        ids = pa.concat_arrays([client_ids, extra])
    return pd.DataFrame(
        {
            "contact_id": _str_series(_fixed_ids("K", rows["number"], contact_width)),
            "client_id": _str_series(pc.take(ids, pa.array(client))),
            "worker_id": _str_series(pc.take(worker_ids, pa.array(rows["worker"]))),
            "contact_date": _date_series(rows["day"]),
            "mode": _labels(MODES, rows["mode"]),
            "duration_minutes": rows["duration"],
        }
    )


def _inject_contact_defects(
    rng: np.random.Generator,
    rows: dict[str, IntArray],
    cl: _Clients,
    first_worker: IntArray,
    extract_day: int,
    n_workers: int,
) -> tuple[dict[str, IntArray], dict[str, int]]:
    """Add defect rows that cleaning drops; real rows stay as they are."""
    m, n = len(rows["day"]), len(cl.site)
    n_dup = round(MESSY_DUPLICATE_SHARE * m)
    n_unknown = round(MESSY_UNKNOWN_CLIENT_SHARE * m)
    n_before = round(MESSY_BEFORE_START_SHARE * m)
    n_future = round(MESSY_FUTURE_SHARE * m)

    dup = np.sort(rng.choice(m, size=n_dup, replace=False))
    unknown_client = n + rng.integers(0, max(10, n // 100), size=n_unknown)
    before_client = rng.integers(0, n, size=n_before)
    future_client = rng.integers(0, n, size=n_future)
    new_client = np.concatenate([unknown_client, before_client, future_client])
    new_day = np.concatenate(
        [
            rng.integers(_day(ENROLMENT_START), extract_day, size=n_unknown),
            cl.start_day[before_client] - rng.integers(1, MESSY_MAX_DAYS_OFF + 1, size=n_before),
            extract_day + rng.integers(1, MESSY_MAX_DAYS_OFF + 1, size=n_future),
        ]
    )
    n_new = len(new_client)
    new_worker = np.concatenate(
        [
            rng.integers(0, n_workers, size=n_unknown),
            first_worker[np.concatenate([before_client, future_client])],
        ]
    )
    extra = {
        "client": np.concatenate([rows["client"][dup], new_client]),
        "worker": np.concatenate([rows["worker"][dup], new_worker]),
        "day": np.concatenate([rows["day"][dup], new_day]),
        "mode": np.concatenate(
            [rows["mode"][dup], rng.choice(len(MODES), size=n_new, p=np.asarray(MODE_PROBS))]
        ),
        "duration": np.concatenate([rows["duration"][dup], 5 * rng.integers(1, 13, size=n_new)]),
        "number": np.concatenate([rows["number"][dup], m + 1 + np.arange(n_new)]),
    }
    # Keep the file sorted by (date, contact_id); a duplicate lands right after its original.
    scale = m + n_new + 1
    key = rows["day"] * scale + rows["number"]
    extra_key = extra["day"] * scale + extra["number"]
    extra_order = np.argsort(extra_key, kind="stable")
    at = np.searchsorted(key, extra_key[extra_order], side="right")
    take = np.insert(np.arange(m), at, m + extra_order)
    merged = {col: np.concatenate([rows[col], extra[col]])[take] for col in rows}
    counts = {
        "duplicate_contacts": n_dup,
        "unknown_client_contacts": n_unknown,
        "contacts_before_start": n_before,
        "future_contacts": n_future,
    }
    return merged, counts


def _blank_covariates(
    rng: np.random.Generator, clients: pd.DataFrame
) -> tuple[pd.DataFrame, dict[str, int]]:
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


# ============================================================================================
# writing
# ============================================================================================


def _format_values(values: npt.NDArray[np.float64], decimals: IntArray) -> pa.Array:
    """Fixed-point text: integers for decimals 0, two decimals (pounds and pence) for 2."""
    cents = np.rint(values * 100).astype(np.int64)
    whole = pc.cast(pa.array(np.rint(values).astype(np.int64)), pa.string())
    magnitude = np.abs(cents)
    sign = pa.array(np.where(cents < 0, "-", ""))
    pounds = pc.cast(pa.array(magnitude // 100), pa.string())
    pence = pc.utf8_lpad(pc.cast(pa.array(magnitude % 100), pa.string()), width=2, padding="0")
    fixed = pc.binary_join_element_wise(pc.binary_join_element_wise(sign, pounds, ""), pence, ".")
    return pc.if_else(pa.array(decimals == 2), fixed, whole)


def _write_csv(frame: pd.DataFrame, path: Path, value_decimals: IntArray | None = None) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
    columns = []
    for name, column in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_timestamp(column.type):
            column = pc.cast(column, pa.date32())  # ISO YYYY-MM-DD, empty when missing
        elif pa.types.is_floating(column.type):
            if value_decimals is None:
                raise ValueError(f"no fixed format for float column {name!r}")
            column = _format_values(frame[name].to_numpy(dtype=np.float64), value_decimals)
        columns.append(column)
    table = pa.table(columns, names=table.column_names)
    # Arrow quotes header names; writing the header ourselves keeps the file plain.
    with pa.OSFile(str(path), "wb") as sink:
        sink.write((",".join(table.column_names) + "\n").encode("utf-8"))
        pacsv.write_csv(
            table,
            sink,
            write_options=pacsv.WriteOptions(include_header=False, quoting_style="none"),
        )


def _workflow_config(
    extract: SyntheticExtract, out: Path, paths: dict[str, Path]
) -> dict[str, Any]:
    def table(name: str, columns: list[str]) -> dict[str, Any]:
        return {"path": str(out / paths[name].name), "columns": {c: c for c in columns}}

    exposure = extract.truth["exposure"]
    return {
        "extract": {
            "clients": table("clients", ["client_id", "service", "site", "start_date"]),
            "contacts": table("contacts", ["client_id", "worker_id", "contact_date", "contact_id"]),
            "outcomes": table("outcomes", ["client_id", "outcome", "value", "outcome_date"]),
            "workers": table("workers", ["worker_id", "end_date", "start_date", "site"]),
            "date_format": None,
            "extract_date": extract.extract_date.isoformat(),
        },
        "covariates": [
            {"name": "age", "type": "numeric"},
            {"name": "sex", "type": "categorical"},
            {"name": "disability", "type": "binary"},
            {"name": "language_need", "type": "binary"},
            {"name": "n_issues", "type": "numeric"},
            {"name": "prior_unemployed_months", "type": "numeric"},
            {"name": "ethnicity", "type": "categorical"},
        ],
        "outcomes": [
            {"name": name, "type": spec["type"], "follow_up_days": spec["follow_up_days"]}
            for name, spec in OUTCOMES.items()
        ],
        "exposure": {key: exposure[key] for key in DEFAULT_EXPOSURE},
        "seed": extract.truth["seed"],
        "synthetic": {"truth": str(out / paths["truth"].name)},
    }


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
            "model": "logit p(d) = intercept + site + quality_w*q - complexity_w*c "
            "+ (beta + beta_complexity*c)*d",
            "intercept": JOB_INTERCEPT,
            "quality_w": JOB_QUALITY,
            "complexity_w": JOB_COMPLEXITY,
            "beta": BETA_JOB,
            "beta_complexity": BETA_JOB_COMPLEXITY,
        },
        "income_gain_gbp": {
            "model": "y(d) ~ Normal(mean + site + quality_w*q - complexity_w*c "
            "+ (tau + tau_complexity*c)*d, sd)",
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
