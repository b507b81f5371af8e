"""The report's heterogeneity section: for whom continuity works best, the value of targeting it, and how
it works (mediation through the working alliance).

Read from the disclosure-checked tables (heterogeneity.csv, heterogeneity_groups.csv,
targeting.csv, targeting_rules.csv, mediation.csv, mediation_sensitivity.csv), never recomputed; the figure (sorted group effects with
their 95% CIs, one panel per outcome on its own scale) is inline SVG drawn from the published rows,
so a suppressed GATE is not drawn.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from deepvalue.publish.html import NUM, Col, finite, fmt_num, table_data
from deepvalue.publish.report_inputs import checked_table
from deepvalue.publish.templating import render

_W, _H, _LEFT, _RIGHT = 560, 150, 60, 20
GATES = [f"gate_q{k}" for k in range(1, 6)]


def gates_figure(outcome: str, rows: pd.DataFrame) -> dict[str, Any]:
    """The geometry of one outcome's figure (the ``gates_svg`` macro draws it): five points (GATE) with CI bars,
    0 dashed; a missing (suppressed) GATE is left out. Coordinates are formatted strings."""
    rows = rows.set_index("statistic")
    got = [g for g in GATES if g in rows.index and finite(rows.at[g, "estimate"], rows.at[g, "ci_lower"])]
    if not got:
        return {"outcome": outcome, "drawn": False}
    lo = min(0.0, *(float(rows.at[g, "ci_lower"]) for g in got))
    hi = max(0.0, *(float(rows.at[g, "ci_upper"]) for g in got))
    span = (hi - lo) or 1.0

    def y(v: float, shift: float = 0.0) -> str:
        return f"{20 + (_H - 45) * (hi - float(v)) / span + shift:.1f}"

    step = (_W - _LEFT - _RIGHT) / 5
    points = []
    for k, g in enumerate(GATES):
        x = _LEFT + step * (k + 0.5)
        point = {"label": f"q{k + 1}", "label_x": f"{x - 8:.1f}", "shown": g in got}
        if g in got:
            est, a, b = (float(rows.at[g, c]) for c in ("estimate", "ci_lower", "ci_upper"))
            point.update(x=f"{x:.1f}", y=y(est), y_lo=y(a), y_hi=y(b))
        points.append(point)
    return {
        "outcome": outcome,
        "drawn": True,
        "width": _W,
        "height": _H,
        "left": _LEFT,
        "right": _W - _RIGHT,
        "y0": y(0),
        "hi": fmt_num(hi, 3),
        "lo": fmt_num(lo, 3),
        "y_hi": y(hi, 4),  # the axis labels' baselines, 4 px under their values
        "y_lo": y(lo, 4),
        "label_y": _H - 6,
        "points": points,
    }


def _stat_cols() -> list[Col]:
    return [
        Col("outcome"),
        Col("statistic"),
        Col("estimate", **NUM),
        Col("std_error", "SE", **NUM),
        Col("ci_lower", "95% CI lower", **NUM),
        Col("ci_upper", "95% CI upper", **NUM),
        Col("p_value", "p", **NUM),
    ]


def readings(het: pd.DataFrame, alpha: float = 0.05) -> list[str]:
    """One plain sentence per outcome: whether the test finds heterogeneity, and the two end fifths."""
    out = []
    for outcome, rows in het.groupby("outcome", sort=False):
        by = rows.set_index("statistic")
        p = by["p_value"].get("blp_het")
        if not finite(p):
            out.append(f"{outcome}: the heterogeneity test is not available (its row is skipped or suppressed).")
            continue
        q1, q5 = by["estimate"].get("gate_q1"), by["estimate"].get("gate_q5")
        ends = (
            f" The fifth with the largest predicted effect: {fmt_num(q5)}; the fifth with the smallest: {fmt_num(q1)}."
            if finite(q1, q5)
            else ""
        )
        if float(p) < alpha:
            out.append(f"{outcome}: the effect varies between clients (heterogeneity test p = {fmt_num(p)}).{ends}")
        else:
            out.append(
                f"{outcome}: no heterogeneity detected (p = {fmt_num(p)}); the effects by fifth below are not "
                "evidence that some clients gain more than others."
            )
    return out


def heterogeneity_context(results: Path, cfg: dict) -> dict[str, Any]:
    """BLP test, GATE figures and table, the fifths' characteristics, the targeting gains and the rule."""
    het = checked_table(results, "heterogeneity.csv", cfg)
    if het is None:
        return {"statistics": None, **_mediation(results, cfg)}
    out: dict[str, Any] = {
        "gates": [gates_figure(str(outcome), rows) for outcome, rows in het.groupby("outcome", sort=False)],
        "statistics": table_data(het, _stat_cols()),
        "readings": readings(het),
        "ends": None,
        "group_notes": [],
    }
    groups = checked_table(results, "heterogeneity_groups.csv", cfg)
    if groups is not None and not groups.empty:
        ends = groups[groups["group"].isin(["q1", "q5"])]
        if not ends.empty:
            wide = ends.pivot_table(index=["outcome", "covariate"], columns="group", values="mean", sort=False)
            wide = wide.reset_index().rename(columns={"q1": "least_affected_q1", "q5": "most_affected_q5"})
            out["ends"] = table_data(
                wide,
                [
                    Col("outcome"),
                    Col("covariate"),
                    Col("least_affected_q1", "q1", **NUM),
                    Col("most_affected_q5", "q5", **NUM),
                ],
            )
        noted = groups[groups["notes"].astype(object).fillna("").astype(str) != ""]
        out["group_notes"] = [(str(r["outcome"]), str(r["notes"])) for r in noted.to_dict("records")]
    out.update(_targeting(results, cfg))
    out.update(_mediation(results, cfg))
    return out


def _mediation(results: Path, cfg: dict) -> dict[str, Any]:
    """mediation.csv's rows, and the sensitivity table's explain-away rows (the confounding, as bias in the
    outcome's units, that would bring the indirect effect's nearer CI limit to 0)."""
    table = checked_table(results, "mediation.csv", cfg)
    if table is None:
        return {"mediation": None}
    out: dict[str, Any] = {
        "mediation": table_data(
            table,
            [
                Col("outcome"),
                Col("mediator"),
                Col("effect"),
                Col("estimand"),
                Col("estimate", **NUM),
                Col("std_error", "SE", **NUM),
                Col("ci_lower", "95% CI lower", **NUM),
                Col("ci_upper", "95% CI upper", **NUM),
                Col("p_value", "p", **NUM),
                Col("n_treated", "treated", **NUM),
                Col("n_control", "control", **NUM),
            ],
        ),
        "mediation_notes": sorted({str(n) for n in table.get("notes", pd.Series(dtype=object)).dropna() if str(n)}),
        "explain_away": None,
    }
    sens = checked_table(results, "mediation_sensitivity.csv", cfg)
    if sens is not None and not sens.empty:
        notes = sens["notes"].astype(object).fillna("").astype(str)
        away = sens[notes.str.startswith("explain-away")]
        if not away.empty:
            out["explain_away"] = table_data(
                away,
                [
                    Col("outcome"),
                    Col("estimand"),
                    Col("estimate", "indirect effect", **NUM),
                    Col("bias", "bias that explains it away", **NUM),
                    Col("notes"),
                ],
            )
    return out


def section_heterogeneity(results: Path, cfg: dict) -> str:
    return render("section-heterogeneity.html.j2", s=heterogeneity_context(results, cfg))


def _targeting(results: Path, cfg: dict) -> dict[str, Any]:
    table = checked_table(results, "targeting.csv", cfg)
    if table is None:
        return {"targeting": None}
    rules = checked_table(results, "targeting_rules.csv", cfg)
    return {
        "targeting": table_data(
            table,
            [
                Col("outcome"),
                Col("capacity", **NUM),
                Col("comparison"),
                Col("gain", **NUM),
                Col("ci_lower", "95% CI lower", **NUM),
                Col("ci_upper", "95% CI upper", **NUM),
                Col("value_gbp", "GBP per client", **NUM),
            ],
        ),
        "rules": None
        if rules is None or rules.empty
        else table_data(rules, [Col("outcome"), Col("rank"), Col("rule"), Col("effect", **NUM), Col("n")]),
    }
