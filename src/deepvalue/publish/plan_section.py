"""The top of the report: the analysis plan that was run (the config's hash) and the confirmatory result.

The plan is the resolved config recorded in provenance.json; its SHA-256 (canonical JSON,
:func:`deepvalue.core.primary.config_hash`) identifies it, so a reader can check that the analysis
reported is the one registered. The confirmatory result is the whole-cohort row of the stated
primary analysis (``estimation.primary``) in the disclosure-checked multiplicity.csv, with its
Holm-adjusted p-value; every other number of the report is exploratory.
"""

from __future__ import annotations

import math
from pathlib import Path

from deepvalue.core.primary import config_hash
from deepvalue.publish.html import _read_json, esc, fmt_num
from deepvalue.publish.report_inputs import checked_table


def plan_block(results: Path, cfg: dict) -> str:
    """A short block under the title: the plan's hash, then the confirmatory result and what is exploratory."""
    prov = _read_json(Path(results) / "provenance.json")
    plan = (
        f"config SHA-256 <code>{esc(config_hash(prov['config']))}</code> (the resolved config in provenance.json)"
        if prov and "config" in prov
        else "not recorded (provenance.json is missing)"
    )
    parts = [f'<p class="plan"><strong>Analysis plan that was run:</strong> {plan}.</p>']
    table = checked_table(results, "multiplicity.csv", cfg)
    if table is None or table.empty:
        parts.append("<p><strong>Confirmatory result:</strong> not available (multiplicity.csv is missing).</p>")
        return "".join(parts)
    conf = table[table["role"] == "confirmatory"]
    if conf.empty:
        parts.append(
            "<p><strong>Confirmatory result:</strong> none: the primary analysis gave no estimate "
            "(see the estimates section for the reason).</p>"
        )
    else:
        row = conf.iloc[0]
        est = row["estimate"]
        shown = "suppressed (disclosure control)" if est is None or not math.isfinite(float(est)) else fmt_num(est)
        parts.append(
            f"<p><strong>Confirmatory result</strong> (stated primary analysis: {esc(row['outcome'])}, "
            f"{esc(row['method'])} {esc(row['estimand'])}): estimate {esc(shown)}, p = {esc(fmt_num(row['p_value']))}, "
            f"Holm-adjusted p = {esc(fmt_num(row['p_holm']))} over the {int(row['family_size'])} tests of the "
            f"primary method (outcomes x subgroups).</p>"
        )
    parts.append(
        "<p>Everything else in this report is <strong>exploratory</strong>: other outcomes, subgroups, methods, "
        "heterogeneity and targeting. Their p-values are not adjusted, except the Holm column of "
        "multiplicity.csv.</p>"
    )
    return "".join(parts)
