"""Questionnaire scores per cohort client: the baseline and follow-up score of each questionnaire
outcome, the score of each mediator, their outcome-flow rows, and internal consistency per
administration (issue 15).

A questionnaire outcome ``name`` gives two columns: ``name``, the follow-up score, set only for
the analysed clients (a baseline and a follow-up administration found), and ``name_baseline``,
the baseline score wherever one was found. A mediator gives one column, ``name``. The choice of
administrations is :mod:`deepvalue.questionnaires.administrations`'.

Outcome flow of an outcome, in order: the cohort; "follow-up window not closed at the extract
date" (index date + follow_up_days + window_days after it); "not answered" (no administration
in the follow-up window) and "answered with items missing" (administrations in the window, none
scored under the instrument's missing-item rule); "no baseline" (no scored administration on or
before first contact + baseline_days and before the index date); analysed. A mediator: the
cohort; "measurement window not closed at the extract date"; "not answered"; "answered with
items missing"; analysed.

Internal consistency (:func:`deepvalue.questionnaires.reliability.reliability_table`) is computed
per entry and administration (baseline, follow_up, mediator) over every chosen administration,
analysed or not, on its complete answers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from deepvalue.cohort.outcomes import OUTCOME_FLOW_COLUMNS
from deepvalue.core.errors import AnalysisError, Problem
from deepvalue.core.settings import NotGiven, Questionnaire, Settings
from deepvalue.questionnaires.administrations import (
    administrations,
    choose_baseline,
    choose_follow_up,
    choose_mediator,
    chosen_scores,
)
from deepvalue.questionnaires.reliability import RELIABILITY_COLUMNS, reliability_table


@dataclass(frozen=True)
class QuestionnaireScores:
    """The score columns to add to the analysis table, the outcome-flow rows and the reliability table."""

    columns: pd.DataFrame
    outcome_flow: pd.DataFrame
    reliability: pd.DataFrame


def _closed(index_date: np.ndarray, days: int, extract_date: dt.date) -> np.ndarray:
    end = index_date.astype("datetime64[D]") + np.timedelta64(int(days), "D")
    return end <= np.datetime64(extract_date, "D")


def _exclude(flow: list, name: str, keep: np.ndarray, out: np.ndarray, reason: str) -> np.ndarray:
    gone = keep & out
    keep = keep & ~out
    flow.append((name, "excluded", int(keep.sum()), int(gone.sum()), reason))
    return keep


def questionnaire_scores(
    cohort: pd.DataFrame, responses: pd.DataFrame, specs: tuple[Questionnaire, ...], extract_date: dt.date
) -> QuestionnaireScores:
    """Score every configured questionnaire for the cohort's clients.

    Parameters
    ----------
    cohort
        The analysis table: ``client_id``, ``first_contact_date`` and ``index_date`` (datetime64).
    responses
        The canonical responses table (``interim/responses.parquet``).
    specs
        The ``questionnaires`` entries.
    extract_date
        The extract's date: a follow-up (or mediator) window must have closed by then.
    """
    ids = cohort["client_id"]
    first = cohort["first_contact_date"].to_numpy("datetime64[s]")
    index = cohort["index_date"].to_numpy("datetime64[s]")
    n = len(cohort)
    columns: dict[str, np.ndarray] = {}
    flow: list[tuple] = []
    groups: dict[tuple[str, str], np.ndarray] = {}
    for spec in specs:
        adm = administrations(responses, spec)
        name = spec.name
        flow.append((name, "cohort", n, 0, ""))
        keep = np.ones(n, dtype=bool)
        if spec.role == "mediator":
            days = int(spec.measured_within_days)
            chosen = choose_mediator(adm, ids, index, days)
            keep = _exclude(
                flow,
                name,
                keep,
                ~_closed(index, days, extract_date),
                f"measurement window not closed at the extract date (index date + {days} days after "
                f"{extract_date.isoformat()})",
            )
            keep = _exclude(
                flow, name, keep, ~chosen.any_in_period, f"not answered within {days} days after the index date"
            )
            keep = _exclude(
                flow, name, keep, chosen.index < 0, "answered with items missing (the instrument's missing-item rule)"
            )
            flow.append((name, "analysed", int(keep.sum()), 0, ""))
            value = np.where(keep, chosen_scores(adm, chosen), np.nan)
            columns[name] = value
            groups[(name, "mediator")] = adm.items[chosen.index[chosen.index >= 0]]
            continue
        f, w = int(spec.follow_up_days), int(spec.window_days)
        base = choose_baseline(adm, ids, first, index, int(spec.baseline_days))
        follow = choose_follow_up(adm, ids, index, f, w)
        keep = _exclude(
            flow,
            name,
            keep,
            ~_closed(index, f + w, extract_date),
            f"follow-up window not closed at the extract date (index date + {f} + {w} days after "
            f"{extract_date.isoformat()})",
        )
        keep = _exclude(
            flow, name, keep, ~follow.any_in_period, f"not answered within {w} days of index date + {f} days"
        )
        keep = _exclude(
            flow, name, keep, follow.index < 0, "answered with items missing (the instrument's missing-item rule)"
        )
        keep = _exclude(
            flow,
            name,
            keep,
            base.index < 0,
            f"no baseline (no scored administration on or before first contact + {spec.baseline_days} days and "
            "before the index date)",
        )
        flow.append((name, "analysed", int(keep.sum()), 0, ""))
        columns[name] = np.where(keep, chosen_scores(adm, follow), np.nan)
        columns[f"{name}_baseline"] = chosen_scores(adm, base)
        # every chosen administration, whether or not the client is analysed
        groups[(name, "baseline")] = adm.items[base.index[base.index >= 0]]
        groups[(name, "follow_up")] = adm.items[follow.index[follow.index >= 0]]
    return QuestionnaireScores(
        columns=pd.DataFrame(columns, index=cohort.index),
        outcome_flow=pd.DataFrame(flow, columns=OUTCOME_FLOW_COLUMNS),
        reliability=reliability_table(groups),
    )


def add_questionnaire_scores(
    cohort: pd.DataFrame, responses: pd.DataFrame, specs: tuple[Questionnaire, ...], extract_date: dt.date
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The cohort with the score columns added, the questionnaires' outcome flow, the reliability table."""
    scores = questionnaire_scores(cohort, responses, specs, extract_date)
    clash = sorted(set(scores.columns.columns) & set(cohort.columns))
    if clash:
        raise ValueError(f"questionnaire columns already in the cohort: {', '.join(clash)}")
    return pd.concat([cohort, scores.columns], axis=1), scores.outcome_flow, scores.reliability


def cohort_questionnaires(
    out: pd.DataFrame, tables: dict[str, pd.DataFrame], settings: Settings, extract_date: dt.date
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """:func:`add_questionnaire_scores` for :func:`deepvalue.cohort.build.build_cohort`.

    Without a responses table and without the ``questionnaires`` section (a caller that reads no
    questionnaires) the cohort is returned unchanged; with configured questionnaires but no
    responses table, or a score column that clashes with a cohort column, an error says so.
    """
    given = not isinstance(settings.questionnaires, NotGiven)
    specs = settings.questionnaires if (given or "responses" in tables) else ()
    empty = pd.DataFrame(columns=RELIABILITY_COLUMNS)
    if not specs:
        return out, pd.DataFrame(columns=OUTCOME_FLOW_COLUMNS), empty
    if "responses" not in tables:
        raise AnalysisError(
            [
                Problem(
                    "cohort",
                    None,
                    "questionnaires are configured but the responses table (interim/responses.parquet) was not given",
                    "build the cohort with the workflow (snakemake), which passes it",
                )
            ],
            headline="the questionnaires cannot be scored",
        )
    names = [n for q in specs for n in ((q.name,) if q.role == "mediator" else (q.name, f"{q.name}_baseline"))]
    clash = sorted(set(names) & set(out.columns))
    if clash:
        raise AnalysisError(
            [
                Problem(
                    "config",
                    "questionnaires",
                    f"questionnaire columns already in the cohort: {', '.join(clash)}",
                    "rename the questionnaire entry (its name, and name_baseline, are its columns)",
                )
            ],
            headline="the questionnaires cannot be scored",
        )
    return add_questionnaire_scores(out, tables["responses"], specs, extract_date)
