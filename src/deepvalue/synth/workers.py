"""Workers: caseload slots per site, each held by a sequence of workers with start and leaving
dates (a departure forces a hand-off: the instrument), and the contact schedule.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from deepvalue.synth.arrays import _day, _expit, _logit, _segment_starts, _segmented_cumsum, _skip_weekend
from deepvalue.synth.clients import _Clients
from deepvalue.synth.parameters import (
    CLIENTS_PER_WORKER,
    COMPLEXITY_REF,
    CONTACTS_DISPERSION,
    CONTACTS_MAX,
    CONTACTS_MEAN,
    CONTACTS_PER_ISSUE,
    DURATION_MEAN_MINUTES,
    DURATION_SHAPE,
    ENROLMENT_DAYS,
    ENROLMENT_START,
    FIRST_CONTACT_DELAY_MAX_DAYS,
    FIRST_CONTACT_DELAY_PROB,
    FIRST_TENURE_LOOKBACK_DAYS,
    GAP_CADENCE_SIGMA,
    GAP_MEDIAN_DAYS,
    GAP_SHAPE,
    MAX_FOLLOW_UP_DAYS,
    MIN_SLOTS_PER_SITE,
    MODE_PROBS,
    MODES,
    SITE_SHARES,
    SITE_SWITCH_PROB,
    SWITCH_COMPLEXITY,
    TENURE_MEAN_DAYS,
    TENURE_MIN_DAYS,
    FloatArray,
    IntArray,
)


@dataclass(frozen=True)
class _Schedule:
    n_contacts: IntArray  # per client
    client: IntArray  # per contact, in (client, position) order
    day: IntArray
    slot: IntArray  # global caseload slot
    mode: IntArray
    duration: IntArray
    u_switch: FloatArray  # the switching draws, kept so a scenario can redo the hand-offs
    u_step: FloatArray
    first_slot: IntArray  # per client, within its site


def _slots_per_site(n_clients: int) -> IntArray:
    # A slot sees ~1 + span / mean tenure workers, so size the slot count from the worker target.
    span = ENROLMENT_DAYS + FIRST_TENURE_LOOKBACK_DAYS / 2 + MAX_FOLLOW_UP_DAYS + 120
    workers_per_slot = 1 + span / TENURE_MEAN_DAYS
    total = n_clients / CLIENTS_PER_WORKER / workers_per_slot
    return np.maximum(MIN_SLOTS_PER_SITE, np.rint(total * np.asarray(SITE_SHARES))).astype(np.int64)


def _draw_schedule(rng: np.random.Generator, cl: _Clients, slots: IntArray) -> _Schedule:
    n = len(cl.site)
    mean = CONTACTS_MEAN + CONTACTS_PER_ISSUE * (cl.n_issues - 1)
    extra = rng.negative_binomial(CONTACTS_DISPERSION, CONTACTS_DISPERSION / (CONTACTS_DISPERSION + mean))
    n_contacts = np.minimum(1 + extra, CONTACTS_MAX).astype(np.int64)
    client = np.repeat(np.arange(n, dtype=np.int64), n_contacts)
    starts = _segment_starts(n_contacts)
    m = len(client)

    delayed = rng.random(n) < FIRST_CONTACT_DELAY_PROB
    delay = np.where(delayed, rng.integers(1, FIRST_CONTACT_DELAY_MAX_DAYS + 1, size=n), 0)
    cadence = GAP_MEDIAN_DAYS * np.exp(GAP_CADENCE_SIGMA * rng.standard_normal(n))
    gaps = np.rint(rng.gamma(GAP_SHAPE, 1.0, size=m) * (cadence / GAP_SHAPE)[client]).astype(np.int64)
    gaps[starts] = cl.start_day + delay
    day = _skip_weekend(_segmented_cumsum(gaps, n_contacts))

    # Per-contact switching: complexity and the site's rota practice raise the hazard.
    u_switch = rng.random(m)
    # Moving by 1..n_slots-1 places (mod n_slots) always lands on another slot.
    u_step = rng.random(m)
    first_slot = np.floor(rng.random(n) * slots[cl.site]).astype(np.int64)
    slot = _switch_slots(cl, slots, n_contacts, u_switch, u_step, first_slot)

    mode = rng.choice(len(MODES), size=m, p=np.asarray(MODE_PROBS))
    minutes = rng.gamma(DURATION_SHAPE, 1.0, size=m) * (np.asarray(DURATION_MEAN_MINUTES)[mode] / DURATION_SHAPE)
    duration = np.maximum(5, 5 * np.rint(minutes / 5)).astype(np.int64)
    return _Schedule(n_contacts, client, day, slot, mode, duration, u_switch, u_step, first_slot)


def _switch_slots(
    cl: _Clients,
    slots: IntArray,
    n_contacts: IntArray,
    u_switch: FloatArray,
    u_step: FloatArray,
    first_slot: IntArray,
    shift: FloatArray | None = None,
) -> IntArray:
    """Global slot of every contact: a hand-off at a contact with probability
    ``expit(logit(SITE_SWITCH_PROB[site]) + SWITCH_COMPLEXITY * (c - COMPLEXITY_REF) + shift)``.

    ``shift`` (per client, log-odds; None = 0) is a scenario's unobserved confounder
    (:func:`redo_hand_offs`); the draws are the same, so shift 0 gives the default world's slots.
    """
    client = np.repeat(np.arange(len(n_contacts), dtype=np.int64), n_contacts)
    starts = _segment_starts(n_contacts)
    lp = np.asarray([_logit(p) for p in SITE_SWITCH_PROB])[cl.site] + SWITCH_COMPLEXITY * (
        cl.complexity - COMPLEXITY_REF
    )
    p_switch = _expit(lp if shift is None else lp + shift)
    n_slots = slots[cl.site]
    switch = u_switch < p_switch[client]
    switch[starts] = False
    step = 1 + np.floor(u_step * (n_slots - 1)[client]).astype(np.int64)
    moves = np.where(switch, step, 0)
    moves[starts] = first_slot
    slot_base = _segment_starts(slots)
    return slot_base[cl.site][client] + _segmented_cumsum(moves, n_contacts) % n_slots[client]


def redo_hand_offs(sched: _Schedule, cl: _Clients, slots: IntArray, shift: FloatArray) -> _Schedule:
    """The schedule with the hand-offs redrawn under a per-client log-odds ``shift`` (same draws).

    The first contact's slot and every date stay, so the allocated worker and the exposure window's
    dates are those of the default world; only who is seen at later contacts changes.
    """
    slot = _switch_slots(cl, slots, sched.n_contacts, sched.u_switch, sched.u_step, sched.first_slot, shift)
    return dataclasses.replace(sched, slot=slot)


@dataclass(frozen=True)
class _Workers:
    slot: IntArray  # tenures in (slot, start) order
    start_day: IntArray
    end_day: IntArray
    quality: FloatArray


def _draw_workers(rng: np.random.Generator, n_slots: int, horizon_day: int) -> _Workers:
    """Chains of tenures per slot covering every day up to `horizon_day`."""
    first_start = _day(ENROLMENT_START) - rng.integers(0, FIRST_TENURE_LOOKBACK_DAYS + 1, size=n_slots)
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
