"""The generator's scenarios (issue 16): worlds in which continuity is confounded by something no
covariate measures, to show which designs survive which threat.

- ``default``: the allocated worker's quality moves the outcomes but not the hand-offs, so
  selection on the observed covariates holds.
- ``worker_quality``: the same quality also lowers the hand-off hazard by ``SWITCH_WORKER_QUALITY``
  log-odds per SD (good workers keep their clients). Continuous clients then have better workers;
  a within-worker comparison removes it. Tenures are drawn independently of quality, so departures
  stay unrelated to it (the departure instrument remains valid).
- ``engagement``: a client trait e ~ N(0, 1), drawn from its own stream ``[seed, ENGAGEMENT_STREAM]``,
  lowers the hand-off hazard by ``SWITCH_ENGAGEMENT`` log-odds per SD and raises every outcome
  (``JOB_ENGAGEMENT``, ``INCOME_ENGAGEMENT``, ``CRISIS_ENGAGEMENT``). It varies within worker, so
  only the departure design recovers the truth; it does not touch contact dates, so the window's
  length, and with it the chance of a departure inside the window, is independent of it.
- ``null``: no effect of continuity on any outcome.

A hand-off scenario redraws the hand-offs from the default world's draws
(:func:`deepvalue.synth.workers.redo_hand_offs`): the calendar, the allocated worker and its
leaving date are unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deepvalue.synth.parameters import (
    CRISIS_ENGAGEMENT,
    ENGAGEMENT_STREAM,
    INCOME_ENGAGEMENT,
    JOB_ENGAGEMENT,
    SCENARIOS,
    SWITCH_ENGAGEMENT,
    SWITCH_WORKER_QUALITY,
    FloatArray,
)


def scenario_shift(scenario: str, quality: FloatArray, seed: int) -> tuple[FloatArray | None, FloatArray | None]:
    """(log-odds shift of each client's hand-off hazard, engagement) of a scenario; None where it has none.

    Parameters
    ----------
    scenario : str
        One of :data:`SCENARIOS`.
    quality : (n,) float array
        The quality of each client's allocated worker.
    seed : int
        The extract's seed (the engagement stream is ``[seed, ENGAGEMENT_STREAM]``).

    Examples
    --------
    >>> shift, e = scenario_shift("worker_quality", np.array([1.0, -0.5]), 1)
    >>> shift.tolist(), e
    ([-2.0, 1.0], None)
    >>> scenario_shift("default", np.array([1.0]), 1)
    (None, None)
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario must be one of {', '.join(SCENARIOS)}, not {scenario!r}")
    if scenario == "worker_quality":
        return -SWITCH_WORKER_QUALITY * quality, None
    if scenario == "engagement":
        e = np.random.default_rng([int(seed), ENGAGEMENT_STREAM]).standard_normal(len(quality))
        return -SWITCH_ENGAGEMENT * e, e
    return None, None


def scenario_parameters(scenario: str) -> dict[str, Any]:
    """The scenario's own parameters, for truth.json (empty for default and null)."""
    if scenario == "worker_quality":
        return {"switch_log_odds_per_sd_of_allocated_worker_quality": -SWITCH_WORKER_QUALITY}
    if scenario == "engagement":
        return {
            "switch_log_odds_per_sd_of_engagement": -SWITCH_ENGAGEMENT,
            "job_start_logit_per_sd": JOB_ENGAGEMENT,
            "income_gain_gbp_per_sd": INCOME_ENGAGEMENT,
            "crisis_contacts_log_per_sd": CRISIS_ENGAGEMENT,
        }
    return {}
