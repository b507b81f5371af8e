"""The outcomes of an unknown extract for ``deepvalue init``: each value of the outcome column with
a suggested type (binary, count, continuous) and recording (measured, events), and the values-file
stub that lists them.

Recording: a dated outcome whose every value is 1 or empty is read as one row per occurrence
(``events``; a count when some client has several, else binary); anything else as one measured
value per client (``measured``): binary for 0/1, count for small whole numbers, continuous
otherwise. The services an outcome applies to are those of the clients that have rows of it,
when they are not all the services (``services``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import yaml

from deepvalue.extract.profile import TableProfile, normalise_name
from deepvalue.extract.read import _text, parse_dates, parse_numbers
from deepvalue.pipeline.init_columns import Check

_MONEY = frozenset("gbp income earnings pay salary wage wages amount cost costs money savings debt value".split())
_COUNTS = frozenset("count counts contacts number n times episodes visits nights days admissions calls".split())
#: A measured whole-number outcome up to this is suggested as a count, above it as continuous (with a check).
MAX_SUGGESTED_COUNT = 100
BUNDLED_VALUES = Path(__file__).resolve().parents[3] / "config" / "values.yaml"


@dataclass(frozen=True)
class OutcomeProposal:
    """One outcome as it will be written under ``outcomes``."""

    name: str
    type: str
    recorded: str
    rows: int
    clients: int
    services: tuple[str, ...] | None = None
    note: str = ""
    check: str | None = None
    follow_up_hint: str | None = None


def propose_outcomes(
    outcomes: TableProfile,
    mapping: dict[str, str],
    clients: TableProfile,
    client_columns: dict[str, str],
    client_date_format: str | None,
    outcome_date_format: str | None,
) -> list[OutcomeProposal]:
    """Every value of the outcome column (all rows, not a sample), in order of first appearance."""
    table = outcomes.table
    names = pd.Series(_text(table[mapping["outcome"]]).to_pandas(), dtype=object)
    client = pd.Series(_text(table[mapping["client_id"]]).to_pandas(), dtype=object)
    values, bad = parse_numbers(table[mapping["value"]], outcomes.layout.decimal)
    text_bad = np.zeros(len(values), dtype=bool)
    text_bad[bad] = True
    dated = "outcome_date" in mapping
    dates = None
    if dated:
        dates = pd.Series(_days(parse_dates(table[mapping["outcome_date"]], outcome_date_format)[0]))
    ctab = clients.table
    by_client = pd.DataFrame(
        {"service": _text(ctab[client_columns["service"]]).to_pandas().to_numpy()},
        index=pd.Index(_text(ctab[client_columns["client_id"]]).to_pandas().to_numpy(), dtype=object),
    )
    if "start_date" in client_columns:
        by_client["start"] = _days(parse_dates(ctab[client_columns["start_date"]], client_date_format)[0])
    by_client = by_client[~by_client.index.duplicated()]
    all_services = sorted(by_client["service"].dropna().unique())

    proposals = []
    for name in pd.unique(names.dropna()):
        rows = (names == name).to_numpy()
        v = values[rows]
        present = v[~np.isnan(v)]
        per_client = client[rows].value_counts()
        several = bool((per_client > 1).any())
        n_clients = int(per_client.size)
        words = set(normalise_name(str(name)).split("_"))
        check = None
        note = ""
        if text_bad[rows].any():
            raw = pc.take(table[mapping["value"]], np.flatnonzero(rows & text_bad)).to_pylist()
            shown = ", ".join(sorted({str(x) for x in raw})[:3])
            kind, recorded = "binary", "measured"
            check = (
                f"values that are not numbers (e.g. {shown}): the ingest reads numbers only; recode them "
                "(0/1 for a binary outcome) and set the type"
            )
        elif dated and (present.size == 0 or np.all(present == 1.0)):
            recorded = "events"
            kind = "count" if several else "binary"
            note = "every row is one dated occurrence (value 1 or empty)" + (
                f", up to {int(per_client.max())} per client" if several else ", at most one per client"
            )
            undated = int(dates[rows].isna().sum()) if dates is not None else 0
            if undated:
                note += f"; {undated} rows have no date (their clients are excluded for it)"
        else:
            recorded = "measured"
            kind, check = _measured_type(present, words)
            note = _value_note(present)
            empty = int((np.isnan(v) & ~text_bad[rows]).sum())
            if empty:
                check = (
                    f"{empty} rows have no value; a measured outcome needs one in every row (remove the rows "
                    "of clients whose outcome is unknown), or, if each row is an occurrence, recorded: events"
                )
            elif several:
                check = (
                    f"some clients have several rows (up to {int(per_client.max())}) with values other than 1: "
                    "aggregate them to one per client, or, if each row is an occurrence, use recorded: events"
                )
        served = sorted(by_client["service"].reindex(per_client.index).dropna().unique())
        services = tuple(served) if served and len(served) < len(all_services) else None
        hint = _follow_up_hint(client[rows], dates[rows] if dates is not None else None, by_client.get("start"))
        proposals.append(
            OutcomeProposal(str(name), kind, recorded, int(rows.sum()), n_clients, services, note, check, hint)
        )
    return proposals


def _days(arr) -> np.ndarray:
    """Arrow dates as datetime64[D] (NaT when missing)."""
    return np.asarray(arr.to_pandas(date_as_object=False), dtype="datetime64[D]")


def _measured_type(present: np.ndarray, words: set[str]) -> tuple[str, str | None]:
    if present.size == 0:
        return "continuous", "no values: say what it measures and its type"
    if np.isin(present, (0.0, 1.0)).all():
        return "binary", None
    whole = bool(np.all(present == np.round(present))) and present.min() >= 0
    if not whole:
        return "continuous", None
    if words & _MONEY:
        return "continuous", None
    if words & _COUNTS or present.max() <= MAX_SUGGESTED_COUNT:
        return "count", None
    return "continuous", (
        f"whole numbers from {present.min():g} to {present.max():g}: continuous (an amount) or count (a number of "
        "occurrences)?"
    )


def _value_note(present: np.ndarray) -> str:
    if present.size == 0:
        return "no values"
    return f"values {present.min():g} to {present.max():g}, mean {present.mean():.3g}"


def _follow_up_hint(clients: pd.Series, dates: pd.Series | None, starts: pd.Series | None) -> str | None:
    """How long after the client's start the outcome's dates fall (95th percentile), as a hint."""
    if dates is None or starts is None:
        return None
    start = starts.reindex(clients.to_numpy()).to_numpy(dtype="datetime64[D]")
    days = dates.to_numpy(dtype="datetime64[D]") - start
    days = days[~np.isnat(days)].astype(np.int64)
    if days.size == 0:
        return None
    return f"its dates fall up to {int(np.percentile(days, 95))} days after the client's start (95th percentile)"


# ----------------------------------------------------------------------------------------------
# the values file stub


def values_stub(outcomes: list[OutcomeProposal], bundled: Path = BUNDLED_VALUES) -> tuple[str, list[Check]]:
    """A values file (see config/values.yaml) listing the study's outcomes, as commented YAML.

    The discount rate, price year, uprating index, primary estimate and cost come from the bundled
    file; an outcome the bundled file values under the same name keeps its (illustrative) entry,
    any other gets a unit value of 0 and a CHECK. Every entry stays ``illustrative: true``.
    """
    base = yaml.safe_load(bundled.read_text()) if bundled.is_file() else {}
    year = int(base.get("price_year", 2025))
    checks = []
    lines = [
        "# Unit values of the study's outcomes (written by deepvalue init; documented in config/values.yaml).",
        "# EVERY NUMBER HERE IS A PLACEHOLDER: illustrative: true stays until an economist has sourced it.",
        "",
        "# HM Treasury Green Book discount rate (3.5% a year, real).",
        f"discount_rate: {base.get('discount_rate', 0.035)}",
        f"price_year: {year}",
        "",
        _dump({"uprating": base.get("uprating") or _default_uprating(year)}),
        "# Which row of results/estimates.csv is valued.",
        _dump({"primary": base.get("primary") or {"method": "aipw", "estimand": "ATT"}}),
        "outcomes:",
    ]
    bundled_outcomes = base.get("outcomes") or {}
    for o in outcomes:
        key = f"values.outcomes.{o.name}.unit_value_gbp"
        if o.name in bundled_outcomes:
            entry = dict(bundled_outcomes[o.name])
            lines.append(f"  # {o.type}, {o.recorded}: the bundled illustrative value of {o.name}")
        else:
            unit = {"binary": "one more client with", "count": "one more", "continuous": "one unit of"}[o.type]
            msg = f"give the value in GBP of {unit} {o.name!r} (negative for a cost), with its price year and source"
            checks.append(Check(key, msg))
            lines.append(f"  # CHECK: {msg}")
            entry = {
                "unit_value_gbp": 0,
                "price_year": year,
                "source": "PLACEHOLDER written by deepvalue init: no unit value yet",
                "duration_years": 1,
                "drop_off": 0.0,
                "deadweight": 0.0,
                "attribution": 0.0,
                "illustrative": True,
            }
        body = _dump({o.name: entry}).splitlines()
        lines += ["  " + ln for ln in body]
    cost = base.get("cost") or {
        "gbp_per_client": 0,
        "price_year": year,
        "basis": "PLACEHOLDER",
        "source": "PLACEHOLDER",
        "illustrative": True,
    }
    msg = "the extra cost of continuity per treated client is the bundled placeholder: give your own"
    checks.append(Check("values.cost.gbp_per_client", msg))
    lines += ["", f"# CHECK: {msg}", _dump({"cost": cost})]
    return "\n".join(lines).rstrip() + "\n", checks


def _dump(mapping: dict) -> str:
    return yaml.safe_dump(mapping, sort_keys=False, default_flow_style=False, width=110, allow_unicode=True).rstrip()


def _default_uprating(year: int) -> dict:
    return {"name": "none", "source": "PLACEHOLDER: no deflator series", "illustrative": True, "index": {year: 100.0}}
