"""The responses table: questionnaire answers, long (one row per item answered), validated against
the configured questionnaires and their published instruments.

Problems, one message each naming the file, column, rows and fix: a response that is not a
number; a response outside the instrument's answers (6 on a 1-5 item, or 2.5); an item label not
listed for a configured questionnaire; the same item twice with different answers in one
administration (same client, questionnaire and date); a response without a date; an entry whose
item count is not the instrument's. Rows of a questionnaire not configured are counted, dropped
and warned of; exact repeats of a row are dropped and counted; an empty response is an item not
answered (kept, counted under missing values, and handled by the instrument's missing-item rule).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from deepvalue.core.keys import codes, positions_in
from deepvalue.core.settings import Settings
from deepvalue.extract.checks import Collector, date_range_warnings, unmatched_clients
from deepvalue.extract.read import _null_positions, _pd, _sample_values, _text, parse_dates, parse_numbers
from deepvalue.questionnaires.instruments import INSTRUMENTS

TEXT_COLUMNS = ("client_id", "questionnaire", "item")


def questionnaire_config_problems(settings: Settings, col: Collector) -> None:
    """Each entry's item count against its instrument's (the schema cannot know it)."""
    for i, q in enumerate(settings.questionnaires):
        inst = INSTRUMENTS[q.instrument]
        if len(q.items) != inst.n_items:
            col.add(
                "config",
                f"questionnaires[{i}].items",
                f"{q.name!r} lists {len(q.items)} item(s) but {inst.title} has {inst.n_items}",
                f"list the {inst.n_items} item labels of the responses table in the instrument's published order",
            )


def _text_column(table, src: str, canon: str, path: str, col: Collector):
    values = _text(table[src])
    missing = _null_positions(values)
    if missing.size:
        col.add(
            "responses",
            src,
            f"{canon} is empty",
            f"fill in {canon} for every row, or remove those rows",
            positions=missing,
            path=path,
        )
    return values


def _check_items(frame: pd.DataFrame, response: np.ndarray, settings: Settings, mapping, path: str, col) -> None:
    """Unknown item labels per configured questionnaire, and responses outside each item's answers."""
    labels = frame["questionnaire"].to_numpy(dtype=object)
    items = frame["item"].to_numpy(dtype=object)
    for label in dict.fromkeys(q.questionnaire for q in settings.questionnaires):
        entries = [q for q in settings.questionnaires if q.questionnaire == label]
        known = [item for q in entries for item in q.items]
        rows = labels == label
        unknown = rows & (positions_in(frame["item"], known) < 0) & pd.notna(items)
        if unknown.any():
            shown = ", ".join(repr(v) for v in pd.unique(items[unknown])[:3])
            col.add(
                "responses",
                mapping["item"],
                f"unknown item label(s) for questionnaire {label!r} (e.g. {shown})",
                f"the items configured for it are {', '.join(known)}; correct the labels in the file, or the items "
                f"of the questionnaires entry for {label!r}",
                positions=np.flatnonzero(unknown),
                path=path,
            )
        for q in entries:
            inst = INSTRUMENTS[q.instrument]
            mine = rows & (positions_in(frame["item"], list(q.items)) >= 0) & ~np.isnan(response)
            r = response
            off = mine & ((r < inst.low) | (r > inst.high) | (r != np.round(r)))
            if off.any():
                shown = ", ".join(f"{v:g}" for v in pd.unique(r[off])[:3])
                col.add(
                    "responses",
                    mapping["response"],
                    f"responses outside the answers of {inst.title} (whole numbers {inst.low} to {inst.high}) for "
                    f"questionnaire {label!r} (e.g. {shown})",
                    f"give the scored answer, {inst.low}-{inst.high} (check the export's answer coding: some systems "
                    "number answers from 0 or 1), or leave an unanswered item empty",
                    positions=np.flatnonzero(off),
                    path=path,
                )


def read_responses(opened: dict, settings: Settings, col: Collector, reports: dict, clients, extract_date):
    """Read and validate the responses table (None when not configured); problems go to ``col``.

    Returns the canonical frame: client_id, questionnaire, item (strings), response (float, NaN =
    not answered), response_date (datetime64) and source_row, with the rows of questionnaires not
    configured, of unknown clients and exact repeats dropped and counted in ``reports``.
    """
    if settings.extract.responses is None:
        return None  # the config refuses questionnaires without a responses table
    questionnaire_config_problems(settings, col)
    if "responses" not in opened:
        return None
    table, mapping, path = opened["responses"]
    path = str(path)
    spec = settings.extract.responses
    frame = pd.DataFrame({canon: _pd(_text_column(table, mapping[canon], canon, path, col)) for canon in TEXT_COLUMNS})
    response, bad = parse_numbers(table[mapping["response"]], spec.decimal)
    if bad.size:
        col.add(
            "responses",
            mapping["response"],
            f"responses that are not numbers (e.g. {_sample_values(table[mapping['response']], bad)})",
            "export the scored answer (a number, such as 1-5), not its label ('Often'); leave an unanswered item empty",
            positions=bad,
            path=path,
        )
    response = np.where(np.isin(np.arange(response.size), bad), np.nan, response)
    frame["response"] = response
    dates, bad_dates = parse_dates(table[mapping["response_date"]], settings.extract.date_format_of("responses"))
    if bad_dates.size:
        col.add(
            "responses",
            mapping["response_date"],
            f"unparseable dates (e.g. {_sample_values(table[mapping['response_date']], bad_dates)})",
            "give ISO 8601 dates (YYYY-MM-DD), or set extract.responses.date_format to the file's format",
            positions=bad_dates,
            path=path,
        )
    undated = np.setdiff1d(_null_positions(dates), bad_dates)
    if undated.size:
        col.add(
            "responses",
            mapping["response_date"],
            "undated responses: an answer without its date cannot be placed at baseline or follow-up",
            "give each response the date the questionnaire was answered, or remove those rows",
            positions=undated,
            path=path,
        )
    frame["response_date"] = _pd(dates)
    frame["source_row"] = col.file_rows("responses", np.arange(len(frame)))
    report = reports["responses"]
    report.rows_read = len(frame)
    report.missing_values["response"] = int(np.isnan(response).sum() - bad.size)

    _check_items(frame, response, settings, mapping, path, col)
    configured = list(dict.fromkeys(q.questionnaire for q in settings.questionnaires))
    keys = pd.DataFrame({k: codes(frame[k]) for k in ("client_id", "questionnaire", "item", "response_date")})
    answer = np.where(np.isnan(response), -np.inf, response)
    exact = keys.assign(response=answer).duplicated(keep="first").to_numpy()
    group = keys.groupby(list(keys.columns), sort=False).ngroup().to_numpy()
    # an administration's item with more than one distinct answer (exact repeats are only dropped)
    clash = pd.Series(answer).groupby(group).transform("nunique").to_numpy() > 1
    clash &= positions_in(frame["questionnaire"], configured) >= 0
    if clash.any():
        col.add(
            "responses",
            mapping["item"],
            "the same item answered twice, differently, in one administration (same client, questionnaire and date)",
            "keep one answer per item and administration (a questionnaire answered twice on one day needs one of "
            "them removed)",
            positions=np.flatnonzero(clash),
            path=path,
        )
    if clients is None or col.problems:
        return frame
    frame = _drop(frame, exact, report, "exact duplicate of an earlier response row")
    other = positions_in(frame["questionnaire"], configured) < 0
    if other.any():
        counts = frame.loc[other, "questionnaire"].value_counts().sort_index()
        listed = ", ".join(f"{k!r} ({v} rows)" for k, v in counts.items())
        report.warnings.append(
            f"rows of questionnaires not named under questionnaires are ignored: {listed}; add an entry for one "
            "to score it"
        )
    frame = _drop(frame, other, report, "questionnaire not named under questionnaires")
    unknown = positions_in(frame["client_id"], clients["client_id"]) < 0
    if unmatched_clients(frame["client_id"], clients["client_id"], unknown, "responses", mapping, path, col, report):
        return frame
    frame = _drop(frame, unknown, report, "client_id not in the clients table")
    report.warnings.extend(date_range_warnings(frame, ["response_date"], extract_date))
    report.rows_written = len(frame)
    return frame.reset_index(drop=True)


def _drop(frame: pd.DataFrame, mask: np.ndarray, report, reason: str) -> pd.DataFrame:
    report.dropped[reason] = int(mask.sum())
    return frame.loc[~mask] if mask.any() else frame


def empty_responses() -> pd.DataFrame:
    """The canonical responses table without rows (written when the extract has none)."""
    return pd.DataFrame(
        {
            "client_id": pd.Series([], dtype="str"),
            "questionnaire": pd.Series([], dtype="str"),
            "item": pd.Series([], dtype="str"),
            "response": pd.Series([], dtype="float64"),
            "response_date": pd.Series([], dtype="datetime64[ms]"),
            "source_row": pd.Series([], dtype="int64"),
        }
    )
