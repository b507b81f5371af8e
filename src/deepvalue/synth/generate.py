"""The generator's entry point: :func:`generate_extract` draws a whole extract with its truth."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from deepvalue.synth.arrays import (
    _date_series,
    _fixed_ids,
    _id_width,
    _mean_or_none,
    _round_sig,
    _segment_starts,
    _sha256_ids,
    _str_series,
    _to_date,
)
from deepvalue.synth.clients import _blank_covariates, _clients_frame, _draw_clients, _labels
from deepvalue.synth.contacts import _contacts_frame, _inject_contact_defects
from deepvalue.synth.exposure import _resolve_exposure, _window_continuity
from deepvalue.synth.outcomes import _draw_event_dates, _draw_outcome_dates, _draw_potential_outcomes, _outcomes
from deepvalue.synth.parameters import (
    EVENTS_EXTRACT_LAG_DAYS,
    EVENTS_STREAM,
    EXTRACT_WINDOW_ALLOWANCE_DAYS,
    GENERATOR_VERSION,
    MAX_FOLLOW_UP_DAYS,
    MAX_WINDOW_MAX_DAYS,
    RECORDINGS,
    SCENARIOS,
    SITES,
)
from deepvalue.synth.responses import draw_responses, questionnaire_dgp
from deepvalue.synth.scenarios import scenario_parameters, scenario_shift
from deepvalue.synth.truth import _MESSY_KEYS, _dgp_parameters
from deepvalue.synth.workers import _draw_schedule, _draw_workers, _holder, _slots_per_site, redo_hand_offs


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
    recording : {"measured", "events"}
        How the outcomes table records job starts and crisis contacts (see
        :func:`generate_extract`).
    responses : pandas.DataFrame or None
        The questionnaire answers (:mod:`deepvalue.synth.responses`), long: client_id,
        questionnaire, item, response (NaN = not answered), response_date.
    """

    clients: pd.DataFrame
    contacts: pd.DataFrame
    outcomes: pd.DataFrame
    workers: pd.DataFrame
    truth: dict
    extract_date: datetime.date
    recording: str = "measured"
    responses: pd.DataFrame | None = None


# ============================================================================================
# public API
# ============================================================================================


def generate_extract(
    n_clients: int,
    seed: int = 1,
    messy: bool = False,
    exposure: dict | None = None,
    scenario: str = "default",
    recording: str = "measured",
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
    scenario : {"default", "worker_quality", "engagement", "null"}
        ``null``: continuity has no effect on any outcome (every effect term is zero; the same
        random stream, so the world is that of ``default``), for checking that nothing rejects
        more often than its level. ``worker_quality``: the allocated worker's quality, which moves
        the outcomes in every scenario, also lowers the hand-off hazard (good workers keep their
        clients; departures stay unrelated to quality). ``engagement``: an unobserved client trait
        lowers the hand-off hazard and raises the outcomes. Both are confounders no covariate
        measures (:func:`deepvalue.synth.scenarios.scenario_shift`); the dates, the allocated worker
        and its departures are those of ``default``. The truth records the scenario.
    recording : {"measured", "events"}
        ``measured``: one row per client and outcome, every outcome observed by the extract
        date. ``events``: job starts and crisis contacts as one dated row per occurrence
        (``recorded: events`` in the written config), and an extract date that leaves the
        follow-up of the latest clients incomplete; the truth is over the clients whose
        follow-up is complete. The world and the measured extract of a seed are the same in
        both (module docstring of :mod:`deepvalue.synth.parameters`).

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
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario must be one of {', '.join(SCENARIOS)}, not {scenario!r}")
    if recording not in RECORDINGS:
        raise ValueError(f"recording must be one of {', '.join(RECORDINGS)}, not {recording!r}")
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
    shift, engagement = scenario_shift(scenario, wk.quality[first_worker], seed)
    if shift is not None:  # an unobserved confounder of the hand-offs: same draws, same allocation
        sched = redo_hand_offs(sched, cl, slots, shift)
        worker = _holder(wk, sched.slot, sched.day)
    effect = 0.0 if scenario == "null" else 1.0
    potential = _draw_potential_outcomes(rng, cl, wk.quality[first_worker], effect, engagement)
    date_draws = _draw_outcome_dates(rng, n)

    # Calendar: the extract is taken once every outcome can be observed. The allowance keeps
    # the extract date (and so which contacts have happened) the same for usual windows. Event
    # recording takes it earlier, while the latest clients are still in follow-up.
    lag = max(max_days, EXTRACT_WINDOW_ALLOWANCE_DAYS) + MAX_FOLLOW_UP_DAYS
    if recording == "events":
        lag = EVENTS_EXTRACT_LAG_DAYS
    last_outcome = np.datetime64(int(first_day.max()) + lag, "D")
    extract_day = int((last_outcome.astype("datetime64[M]") + 1).astype("datetime64[D]").astype(np.int64))

    # Exposure window: positions 0..K-1 within max_days of the first contact (dates are
    # non-decreasing within a client and same-day contacts carry increasing contact_ids).
    pos = np.arange(k)
    idx = starts[:, None] + np.minimum(pos[None, :], sched.n_contacts[:, None] - 1)
    in_window = (pos[None, :] < sched.n_contacts[:, None]) & (sched.day[idx] - first_day[:, None] <= max_days)
    n_valid = in_window.sum(axis=1)
    # The K-th contact if eligible, else the last window contact (dates their outcomes).
    index_day = sched.day[starts + n_valid - 1]
    # a K-th contact on or after the extract date has not happened (only with event recording)
    eligible = (n_valid == k) & (index_day < extract_day)
    index_value = _window_continuity(worker[idx], n_valid, exp["index"])
    # A single contact is one worker: continuous by definition (ineligible clients only).
    treated = np.where(np.isnan(index_value), True, index_value >= exp["threshold"])
    first_end = wk.end_day[first_worker]
    instrument = (first_end >= first_day) & (first_end <= index_day)
    # had the allocated worker stayed: their successor's contacts in their slot are theirs
    successor = (sched.slot[idx] == sched.slot[starts][:, None]) & (sched.day[idx] > first_end[:, None])
    stayed_value = _window_continuity(np.where(successor, first_worker[:, None], worker[idx]), n_valid, exp["index"])
    stayed = np.where(np.isnan(stayed_value), True, stayed_value >= exp["threshold"])

    client_numbers = np.arange(1, n + 1)
    # Wide enough for the unknown clients messy mode invents, so ids match across modes.
    client_width = _id_width(7, n + max(10, n // 100))
    client_ids = _fixed_ids("C", client_numbers, client_width)

    event_draws = None
    if recording == "events":
        # their own stream, so the measured extract of this seed keeps its bytes
        event_draws = _draw_event_dates(np.random.default_rng([int(seed), EVENTS_STREAM]), potential)
    outcome_frames, truth_outcomes = _outcomes(
        potential,
        date_draws,
        treated,
        eligible,
        first_day,
        index_day,
        client_ids,
        extract_day,
        event_draws,
        (instrument, stayed),
    )

    # questionnaire answers: their own stream, so the other tables keep their bytes
    responses_df, truth_questionnaires = draw_responses(
        seed,
        cl.complexity,
        cl.site,
        wk.quality[first_worker],
        treated,
        eligible,
        first_day,
        index_day,
        extract_day,
        client_ids,
        0.0 if scenario == "null" else 1.0,
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
    worker_ids = _fixed_ids("W", np.arange(1, len(worker_order) + 1), _id_width(5, len(worker_order)))
    slot_site = np.repeat(np.arange(len(SITES)), slots)

    clients_df = _clients_frame(cl, client_ids)
    workers_df = pd.DataFrame(
        {
            "worker_id": _str_series(worker_ids),
            "site": _labels(SITES, slot_site[wk.slot[worker_order]]),
            "start_date": _date_series(wk.start_day[worker_order]),
            "end_date": _date_series(wk.end_day[worker_order]).where(wk.end_day[worker_order] < extract_day),
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
            "share_difference": None if share_z1 is None or share_z0 is None else share_z0 - share_z1,
            "share_continuity_lost_instrument_1": _mean_or_none(stayed[in_z1] & ~treated[in_z1]),
        },
        "outcomes": truth_outcomes,
        "questionnaires": truth_questionnaires,
        "questionnaire_dgp": questionnaire_dgp(),
        "messy": {"enabled": bool(messy), **messy_counts},
        "dgp": _dgp_parameters(slots, len(worker_order)),
        **({"scenario": scenario} if scenario != "default" else {}),
        **({"scenario_parameters": scenario_parameters(scenario)} if scenario_parameters(scenario) else {}),
        **({"recording": recording} if recording != "measured" else {}),
    }
    return SyntheticExtract(
        clients=clients_df,
        contacts=contacts_df,
        outcomes=outcome_frames,
        workers=workers_df,
        truth=_round_sig(truth),
        extract_date=_to_date(extract_day),
        recording=recording,
        responses=responses_df,
    )
