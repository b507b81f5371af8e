"""Administrations of a questionnaire (one client answering it on one date), their scores, and the
choice of the baseline, follow-up or mediator administration of each client.

An administration of a configured entry is the set of its items a client answered on one date
(client, questionnaire, response_date); it is scored by the entry's instrument
(:func:`deepvalue.questionnaires.instruments.score_items`: reverse items, missing-item rule,
SWEMWBS Rasch conversion). Only scored administrations are chosen; the others are counted.

The choice per client (days as whole dates; issue 15's contract):

- baseline: the latest scored administration dated on or before first contact + ``baseline_days``
  and before the index date;
- follow-up: the scored administration nearest index date + ``follow_up_days``, within
  ``window_days`` of it (either side) and after the index date; of two equally near, the
  earlier;
- mediator: the first scored administration after the index date and within
  ``measured_within_days`` of it.

Everything is vectorised: integer positions of the administrations' clients in the cohort, one
lexsort per choice, and the first row of each client.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from deepvalue.core.keys import codes, positions_in
from deepvalue.core.settings import Questionnaire
from deepvalue.questionnaires.instruments import INSTRUMENTS, Scores, score_items


@dataclass(frozen=True)
class Administrations:
    """One entry's administrations: client ids, dates (days since 1970), the item matrix
    (administrations x items in the published order, NaN = not answered) and the scores."""

    client_id: np.ndarray
    day: np.ndarray
    items: np.ndarray
    scores: Scores

    @property
    def scored(self) -> np.ndarray:
        return ~np.isnan(self.scores.score)


def _days(values) -> np.ndarray:
    return np.asarray(values, dtype="datetime64[D]").astype(np.int64)


def administrations(responses: pd.DataFrame, spec: Questionnaire) -> Administrations:
    """The administrations of one questionnaire entry in the canonical responses table."""
    rows = responses.loc[(responses["questionnaire"] == spec.questionnaire).to_numpy()]
    item_pos = positions_in(rows["item"], list(spec.items))
    rows, item_pos = rows.loc[item_pos >= 0], item_pos[item_pos >= 0]
    day = _days(rows["response_date"].to_numpy("datetime64[s]"))
    client = codes(rows["client_id"])
    key = pd.DataFrame({"c": client, "d": day})
    group = key.groupby(["c", "d"], sort=True).ngroup().to_numpy()
    n = int(group.max()) + 1 if group.size else 0
    items = np.full((n, len(spec.items)), np.nan)
    items[group, item_pos] = rows["response"].to_numpy(dtype=np.float64)
    first = np.unique(group, return_index=True)[1]  # each administration's first row
    inst = INSTRUMENTS[spec.instrument]
    return Administrations(
        client_id=rows["client_id"].to_numpy(dtype=object)[first],
        day=day[first],
        items=items,
        scores=score_items(inst, items),
    )


def _first_per_client(client: np.ndarray, candidate: np.ndarray, order_key: tuple, n_clients: int) -> np.ndarray:
    """For each client, the index of the candidate administration that sorts first by
    ``order_key`` (a lexsort tuple, last key primary after the client); -1 without one."""
    idx = np.flatnonzero(candidate)
    chosen = np.full(n_clients, -1, dtype=np.int64)
    if idx.size == 0:
        return chosen
    keys = tuple(k[idx] for k in order_key) + (client[idx],)
    order = idx[np.lexsort(keys)]
    c = client[order]
    first = np.concatenate(([True], c[1:] != c[:-1]))
    chosen[c[first]] = order[first]
    return chosen


@dataclass(frozen=True)
class Chosen:
    """Per cohort client: the chosen administration's index into :class:`Administrations` (-1:
    none), and whether the client had any administration in the period, scored or not."""

    index: np.ndarray
    any_in_period: np.ndarray


def _client_positions(adm: Administrations, cohort_ids) -> np.ndarray:
    return positions_in(pd.Series(adm.client_id, dtype="str"), cohort_ids)


def choose_baseline(adm: Administrations, cohort_ids, first_contact, index_date, baseline_days: int) -> Chosen:
    """The latest scored administration on or before first contact + baseline_days and before the index date."""
    pos = _client_positions(adm, cohort_ids)
    known = pos >= 0
    p = np.maximum(pos, 0)
    limit = _days(first_contact)[p] + int(baseline_days)
    period = known & (adm.day <= limit) & (adm.day < _days(index_date)[p])
    n = len(first_contact)
    chosen = _first_per_client(p, period & adm.scored, (-adm.day,), n)
    return Chosen(chosen, np.bincount(p[period], minlength=n) > 0)


def choose_follow_up(adm: Administrations, cohort_ids, index_date, follow_up_days: int, window_days: int) -> Chosen:
    """The scored administration nearest index date + follow_up_days within window_days, after the index date."""
    pos = _client_positions(adm, cohort_ids)
    known = pos >= 0
    p = np.maximum(pos, 0)
    index = _days(index_date)[p]
    distance = np.abs(adm.day - (index + int(follow_up_days)))
    period = known & (distance <= int(window_days)) & (adm.day > index)
    n = len(index_date)
    chosen = _first_per_client(p, period & adm.scored, (adm.day, distance), n)
    return Chosen(chosen, np.bincount(p[period], minlength=n) > 0)


def choose_mediator(adm: Administrations, cohort_ids, index_date, measured_within_days: int) -> Chosen:
    """The first scored administration after the index date and within measured_within_days of it."""
    pos = _client_positions(adm, cohort_ids)
    known = pos >= 0
    p = np.maximum(pos, 0)
    index = _days(index_date)[p]
    period = known & (adm.day > index) & (adm.day <= index + int(measured_within_days))
    n = len(index_date)
    chosen = _first_per_client(p, period & adm.scored, (adm.day,), n)
    return Chosen(chosen, np.bincount(p[period], minlength=n) > 0)


def chosen_scores(adm: Administrations, chosen: Chosen) -> np.ndarray:
    """The score of each client's chosen administration (NaN without one)."""
    out = np.full(chosen.index.size, np.nan)
    ok = chosen.index >= 0
    out[ok] = adm.scores.score[chosen.index[ok]]
    return out
