"""What the report reads, checked as the published tables are: the disclosure-checked copies under
``results/publish/``, and the same rules applied here to what the report takes from files the publish stage
does not publish (ingest_report.json, match/summary.json, estimates_vs_truth.csv, provenance.json).

* A table without a published copy (a report built on a results folder the publish stage has not run on)
  is checked on its own with :func:`deepvalue.publish.disclosure.check_table`.
* The extract's row counts (ingest section and provenance inputs) become a flow table per extract table
  (rows read, each cleaning rule's dropped rows, rows written) and go through the flow check; warnings
  through the free-text check.
* The treated share comes from the published balance_summary.csv (unadjusted rows), not from summary.json.
* The comparison with a synthetic truth shows only the estimates the published estimates.csv shows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from deepvalue.core.small_cells import DEFAULT_MIN_CELL
from deepvalue.publish.disclosure import check_table
from deepvalue.publish.free_text import redact_counts
from deepvalue.publish.html import _read_csv, _read_json


def disclosure_settings(cfg: dict | None, results: Path) -> tuple[int, bool]:
    """``(min_cell, allow_zero)`` of the run: the config given to the report, else provenance.json's."""
    d = (cfg or {}).get("disclosure")
    if not d:
        prov = _read_json(Path(results) / "provenance.json") or {}
        d = (prov.get("config") or {}).get("disclosure")
    d = d or {}
    return int(d.get("min_cell", DEFAULT_MIN_CELL)), bool(d.get("allow_zero", True))


def checked_table(results: Path, rel: str, cfg: dict | None) -> pd.DataFrame | None:
    """A table as published: the checked copy under publish/, or the table checked on its own here."""
    published = _read_csv(Path(results) / "publish" / rel)
    if published is not None:
        return published
    raw = _read_csv(Path(results) / rel)
    if raw is None:
        return None
    min_cell, allow_zero = disclosure_settings(cfg, results)
    return check_table(raw, rel, min_cell=min_cell, allow_zero=allow_zero)[0]


def checked_ingest(results: Path, cfg: dict | None) -> dict[str, dict] | None:
    """Per extract table: rows read and written, (reason, rows) per cleaning rule and the warnings, with a
    count that would reveal a small number of dropped rows as NaN (flow check) and warnings redacted."""
    ingest = _read_json(Path(results) / "ingest_report.json")
    if ingest is None:
        return None
    min_cell, allow_zero = disclosure_settings(cfg, results)
    rows = []
    for name in sorted(ingest.get("tables", {})):
        t = ingest["tables"][name]
        remaining = int(t.get("rows_read", 0))
        rows.append((name, "read", remaining, 0, ""))
        for d in t.get("dropped", []):
            remaining -= int(d.get("rows", 0))
            rows.append((name, "dropped", remaining, int(d.get("rows", 0)), str(d.get("reason", ""))))
        rows.append((name, "written", int(t.get("rows_written", remaining)), 0, ""))
    frame = pd.DataFrame(rows, columns=["table", "step", "n_remaining", "n_excluded", "reason"])
    checked = check_table(frame, "ingest_report.json", min_cell=min_cell, allow_zero=allow_zero)[0]
    hidden = {int(frame.at[i, c]) for c in ("n_remaining", "n_excluded") for i in frame.index[checked[c].isna()]}
    out: dict[str, dict] = {}
    for name, part in checked.groupby("table", sort=True):
        part = part.reset_index(drop=True)
        dropped = part[part["step"] == "dropped"]
        out[str(name)] = {
            "rows_read": part["n_remaining"].iloc[0],
            "rows_written": part["n_remaining"].iloc[-1],
            "dropped": list(zip(dropped["reason"], dropped["n_excluded"])),
            "warnings": [
                redact_counts(str(w), min_cell, allow_zero, hidden)[0]
                for w in ingest["tables"][name].get("warnings", [])
            ],
        }
    return out


def cohort_arms(results: Path, cfg: dict | None) -> tuple[float, float] | None:
    """(treated, controls) of the cohort as balance_summary.csv publishes them (NaN when suppressed)."""
    summary = checked_table(results, "match/balance_summary.csv", cfg)
    if summary is None or not {"adjustment", "group", "n"} <= set(summary.columns):
        return None
    unadjusted = summary[summary["adjustment"] == "unadjusted"].set_index("group")["n"]
    if not {"treated", "control"} <= set(unadjusted.index):
        return None
    t, c = unadjusted["treated"], unadjusted["control"]
    return (np.nan if pd.isna(t) else float(t)), (np.nan if pd.isna(c) else float(c))


def checked_truth_table(results: Path, cfg: dict | None) -> pd.DataFrame | None:
    """estimates_vs_truth.csv with the numbers of every estimate the published estimates.csv hides blanked."""
    table = _read_csv(Path(results) / "estimates_vs_truth.csv")
    est = checked_table(results, "estimates.csv", cfg)
    if table is None or est is None or table.empty:
        return table
    whole = est[est["subgroup"].isna() | (est["subgroup"].astype(str) == "")] if "subgroup" in est else est
    shown = {
        (o, m, e)
        for o, m, e, v in zip(whole["outcome"], whole["method"], whole["estimand"], whole["estimate"])
        if pd.notna(v)
    }
    table = table.copy()
    hidden = [(o, m, e) not in shown for o, m, e in zip(table["outcome"], table["method"], table["estimand"])]
    numbers = [c for c in ("estimate", "std_error", "ci_lower", "ci_upper", "error", "error_in_se") if c in table]
    table.loc[hidden, numbers] = np.nan
    if "covered" in table:
        table["covered"] = table["covered"].astype(object)
        table.loc[hidden, "covered"] = np.nan
    return table
