"""The top of the report: the analysis plan that was run (the config's hash) and the confirmatory result.

The plan is the resolved config recorded in provenance.json; its SHA-256 (canonical JSON,
:func:`deepvalue.core.primary.config_hash`) identifies it, so a reader can check that the analysis
reported is the one registered. The confirmatory result is the whole-cohort row of the stated
primary analysis (``estimation.primary``) in the disclosure-checked multiplicity.csv, with its
Holm- and Romano-Wolf-adjusted p-values; every other number of the report is exploratory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deepvalue.core.primary import config_hash
from deepvalue.publish.html import _read_json, finite, fmt_num
from deepvalue.publish.report_inputs import checked_table
from deepvalue.publish.templating import render


def plan_context(results: Path, cfg: dict) -> dict[str, Any]:
    """The plan's hash (empty when provenance.json is missing) and the confirmatory result (None when
    multiplicity.csv is missing, an empty dict when the primary analysis gave no estimate)."""
    prov = _read_json(Path(results) / "provenance.json")
    out: dict[str, Any] = {"config_hash": config_hash(prov["config"]) if prov and "config" in prov else ""}
    table = checked_table(results, "multiplicity.csv", cfg)
    if table is None or table.empty:
        return {**out, "confirmatory": None}
    conf = table[table["role"] == "confirmatory"]
    if conf.empty:
        return {**out, "confirmatory": {}}
    row = conf.iloc[0]
    est = row["estimate"]
    return {
        **out,
        "confirmatory": {
            "outcome": row["outcome"],
            "method": row["method"],
            "estimand": row["estimand"],
            "estimate": fmt_num(est) if finite(est) else "suppressed (disclosure control)",
            "p": fmt_num(row["p_value"]),
            "p_holm": fmt_num(row["p_holm"]),
            "p_romano_wolf": fmt_num(row["p_romano_wolf"]) if finite(row.get("p_romano_wolf")) else "",
            "family_size": int(row["family_size"]),
        },
    }


def plan_block(results: Path, cfg: dict) -> str:
    """A short block under the title: the plan's hash, then the confirmatory result and what is exploratory."""
    return render("plan.html.j2", s=plan_context(results, cfg))
