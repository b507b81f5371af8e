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
(eligible, outcome applicable to the service, outcome dated after the index date, follow-up
complete at the extract date), with counts
and the SHA-256 of the population's and treated clients' sorted ids, so a pipeline run can check
it analysed the same people. Also the first stage (share treated when Z = 1 vs Z = 0).

Scenarios (``scenario``; :mod:`deepvalue.synth.scenarios`). ``default`` is the above: the
allocated worker's quality moves the outcomes but not the hand-offs, so the observed covariates
are enough. ``worker_quality``: the hand-off log-odds also fall by ``SWITCH_WORKER_QUALITY`` per SD
of the allocated worker's quality (good workers keep their clients), at every later contact;
tenures do not depend on quality, so departures stay unrelated to it. ``engagement``: a client
trait e ~ N(0, 1) from the stream ``[seed, ENGAGEMENT_STREAM]`` lowers the hand-off log-odds by
``SWITCH_ENGAGEMENT`` per SD and adds ``JOB_ENGAGEMENT`` e, ``INCOME_ENGAGEMENT`` e and
``CRISIS_ENGAGEMENT`` e to the three outcomes' linear predictors; contact dates do not depend on it,
so neither does the instrument. Both redo the hand-offs from the default world's draws: the
calendar, the allocation and the departures are the default's. ``null``: every effect of
continuity is zero. The truth adds, per outcome, the departure designs' targets: ``itt``, the mean
over analysed clients with Z = 1 of tau (D - D_stayed), and ``late``, the sum of tau (D - D_stayed)
over the sum of (D - D_stayed), where D_stayed is the exposure had the allocated worker stayed (their
successor's contacts in their slot seen by them, the same hand-off draws) and tau = mu1 - mu0.

Event recording (``recording="events"``; the default ``"measured"`` is the above). The same world
and realised outcomes, recorded as a case-management system records events: ``job_start`` as
one row dated at the job start for each employment client who started one within follow-up, and
``crisis_contacts`` as one row per crisis, each dated uniformly over the follow-up window (value 1,
``recorded: events`` in the written config); ``income_gain_gbp`` stays measured. For the
``EARLY_OUTCOME_SHARE`` flagged clients an extra occurrence falls between the first contact and
the index date (the pipeline ignores it and keeps the client), and ``LATE_EVENT_SHARE`` of
clients get one after the window (up to ``LATE_EVENT_MAX_DAYS`` later; not counted). The
extract is taken ``EVENTS_EXTRACT_LAG_DAYS`` after the last first contact (the first day of the
next month), so the follow-up of the latest clients is not complete: contacts, workers and
outcome rows after the extract date are not in the extract, clients whose K-th contact had not
happened are not eligible, and the truth of each outcome is over the clients whose follow-up
window closed on or before the extract date (``n_excluded_follow_up_incomplete``). Occurrence
dates, late flags and late days come from their own stream (``[seed, EVENTS_STREAM]``), with as
many draws per client as max(Y(0), Y(1)) occurrences, so the measured extract of a seed is
unchanged byte for byte and the events extract relabels the same world.

Messy mode adds rows the pipeline's cleaning must drop and count (never alters real rows, so the
clean data and the truth are unchanged): ``MESSY_DUPLICATE_SHARE`` exact duplicate contacts,
``MESSY_UNKNOWN_CLIENT_SHARE`` contacts of clients not in the clients table,
``MESSY_BEFORE_START_SHARE`` contacts dated before the client's start date,
``MESSY_FUTURE_SHARE`` contacts after the extract date, and blanks ``MESSY_MISSING_SHARE`` of
age and of ethnicity.
"""

from __future__ import annotations

import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

# 1.1.0 (session 9): the income effect is 600 c (was 200 + 150 c), so the heterogeneity analysis has an
# effect modification it can find at 5,000 clients (docs/validation.md, "Heterogeneity test")
GENERATOR_VERSION = "1.1.0"

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
# the income effect is 600 GBP per unit of complexity and nothing for the simplest clients: strong enough
# modification for the heterogeneity test to find (power 1.0 over 10 seeds at 5,000 clients; at 200 + 150 c
# it was 0.0, and the oracle proxy's t-statistic about 1.9)
TAU_INCOME_GBP = 0.0
TAU_INCOME_COMPLEXITY = 600.0
CRISIS_MEAN = 0.9
CRISIS_QUALITY = -0.10
CRISIS_COMPLEXITY = 0.35
CRISIS_WELFARE_LOG = 0.20
BETA_CRISIS = {"employment": -0.15, "welfare_advice": -0.30}
EARLY_OUTCOME_SHARE = 0.02

# --- scenarios (issue 16): unobserved confounders of continuity -----------------------------
SCENARIOS = ("default", "worker_quality", "engagement", "null")
# worker_quality: the allocated worker's quality (the q above) lowers the log-odds of a hand-off
SWITCH_WORKER_QUALITY = 2.0
# engagement: an unobserved client trait e ~ N(0, 1) lowers the log-odds of a hand-off and raises
# the outcomes; drawn from its own stream so the other scenarios' worlds keep their bytes
SWITCH_ENGAGEMENT = 0.8
JOB_ENGAGEMENT = 0.4
INCOME_ENGAGEMENT = 250.0
CRISIS_ENGAGEMENT = -0.20
ENGAGEMENT_STREAM = 16  # the engagement draws' own random stream: [seed, ENGAGEMENT_STREAM]

# --- event recording (recording="events") ---------------------------------------------------
RECORDINGS = ("measured", "events")
EVENTS_EXTRACT_LAG_DAYS = 150  # the extract is taken this long after the last first contact
LATE_EVENT_SHARE = 0.10  # clients with an occurrence after their follow-up window
LATE_EVENT_MAX_DAYS = 180
EVENTS_STREAM = 14  # the events' own random stream: [seed, EVENTS_STREAM]

# --- messy mode -----------------------------------------------------------------------------
MESSY_DUPLICATE_SHARE = 0.005
MESSY_UNKNOWN_CLIENT_SHARE = 0.003
MESSY_BEFORE_START_SHARE = 0.003
MESSY_FUTURE_SHARE = 0.002
MESSY_MISSING_SHARE = 0.03
MESSY_MAX_DAYS_OFF = 90

_EPOCH = datetime.date(1970, 1, 1)
_DIGITS4 = np.stack([48 + np.arange(10_000) // 10**p % 10 for p in (3, 2, 1, 0)], axis=1).astype(np.uint8)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
