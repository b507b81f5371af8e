"""The report's heterogeneity section: for whom continuity works best, and the value of targeting it.

Read from the disclosure-checked tables (heterogeneity.csv, heterogeneity_groups.csv,
targeting.csv, targeting_rules.csv), never recomputed; the figure (sorted group effects with
their 95% CIs, one panel per outcome on its own scale) is inline SVG drawn from the published rows,
so a suppressed GATE is not drawn.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from deepvalue.publish.html import NUM, Col, esc, fmt_num, html_table, missing
from deepvalue.publish.report_inputs import checked_table

_W, _H, _LEFT, _RIGHT = 560, 150, 60, 20
GATES = [f"gate_q{k}" for k in range(1, 6)]


def _finite(*xs) -> bool:
    return all(isinstance(x, (int, float)) and math.isfinite(float(x)) for x in xs)


def gates_svg(outcome: str, rows: pd.DataFrame) -> str:
    """Five points (GATE) with CI bars for one outcome; 0 dashed; a missing (suppressed) GATE is left out."""
    rows = rows.set_index("statistic")
    got = [g for g in GATES if g in rows.index and _finite(rows.at[g, "estimate"], rows.at[g, "ci_lower"])]
    if not got:
        return f"<p>{esc(outcome)}: no sorted group effect to show.</p>"
    lo = min(0.0, *(float(rows.at[g, "ci_lower"]) for g in got))
    hi = max(0.0, *(float(rows.at[g, "ci_upper"]) for g in got))
    span = (hi - lo) or 1.0

    def y(v: float) -> float:
        return 20 + (_H - 45) * (hi - float(v)) / span

    step = (_W - _LEFT - _RIGHT) / 5
    parts = [
        f'<svg role="img" aria-label="Sorted group effects of {esc(outcome)}" width="{_W}" height="{_H}" '
        f'viewBox="0 0 {_W} {_H}" xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="11">',
        f'<text x="4" y="12" font-weight="bold">{esc(outcome)}</text>',
        f'<line x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="#b00020" stroke-dasharray="4 3"/>',
        f'<text x="4" y="{y(hi) + 4:.1f}">{esc(fmt_num(hi, 3))}</text>',
        f'<text x="4" y="{y(lo) + 4:.1f}">{esc(fmt_num(lo, 3))}</text>',
    ]
    for k, g in enumerate(GATES):
        x = _LEFT + step * (k + 0.5)
        parts.append(f'<text x="{x - 8:.1f}" y="{_H - 6}">q{k + 1}</text>')
        if g not in got:
            continue
        est, a, b = (float(rows.at[g, c]) for c in ("estimate", "ci_lower", "ci_upper"))
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y(a):.1f}" y2="{y(b):.1f}" stroke="#333"/>')
        parts.append(f'<circle cx="{x:.1f}" cy="{y(est):.1f}" r="4" fill="#1f4e79"/>')
    parts.append("</svg>")
    return "".join(parts)


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


def section_heterogeneity(results: Path, cfg: dict) -> str:
    """BLP test, GATE figure and table, the fifths' characteristics, the targeting gains and the rule."""
    parts = [
        "<p>Exploratory. On the dml fit's cross-fitted doubly robust pseudo-outcomes, a proxy of "
        "each client's effect is built from the covariates; the best linear predictor (Chernozhukov, Demirer, "
        "Duflo and Fernández-Val) gives the average effect (blp_ate) and how much of the proxy's variation is "
        "real (blp_het: 0 means no detectable heterogeneity, 1 a perfect proxy; its p-value is the test of "
        "heterogeneity); gate_q1 ... gate_q5 are the effects in the fifths of clients by predicted effect. "
        "SEs clustered by allocated worker; each statistic is computed on a random half of the workers with the proxy fitted on the other half, and aggregated over the splits as CDDF (medians; p-value twice the median).</p>"
    ]
    het = checked_table(results, "heterogeneity.csv", cfg)
    if het is None:
        return "".join(parts) + missing("heterogeneity.csv")
    for outcome, rows in het.groupby("outcome", sort=False):
        parts.append(gates_svg(str(outcome), rows))
    parts.append(html_table(het, _stat_cols()))
    groups = checked_table(results, "heterogeneity_groups.csv", cfg)
    if groups is not None and not groups.empty:
        ends = groups[groups["group"].isin(["q1", "q5"])]
        if not ends.empty:
            wide = ends.pivot_table(index=["outcome", "covariate"], columns="group", values="mean", sort=False)
            wide = wide.reset_index().rename(columns={"q1": "least_affected_q1", "q5": "most_affected_q5"})
            parts.append(
                "<p>Mean characteristics of the fifths with the lowest (q1) and highest (q5) predicted effect "
                "(on the outcome's scale: for an outcome where less is better, q1 gains most).</p>"
            )
            parts.append(
                html_table(
                    wide,
                    [
                        Col("outcome"),
                        Col("covariate"),
                        Col("least_affected_q1", "q1", **NUM),
                        Col("most_affected_q5", "q5", **NUM),
                    ],
                )
            )
        for rec in groups[groups["notes"].astype(object).fillna("").astype(str) != ""].to_dict("records"):
            parts.append(f"<p>{esc(rec['outcome'])}: {esc(rec['notes'])}</p>")
    parts.append(_targeting(results, cfg))
    return "".join(parts)


def _targeting(results: Path, cfg: dict) -> str:
    table = checked_table(results, "targeting.csv", cfg)
    if table is None:
        return missing("targeting.csv")
    out = [
        "<h3>Targeting under a capacity</h3><p>If continuity could be offered to a share of clients only: the gain "
        "per client (outcome units, and GBP from the values file's unit value) of a depth-2 policy tree over "
        "random allocation and over today's practice at the same share (the clients with the highest "
        "propensity score), cross-fitted. The tree's leaves are served in order of their estimated effect; "
        "the last leaf served is filled at random.</p>",
        html_table(
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
    ]
    rules = checked_table(results, "targeting_rules.csv", cfg)
    if rules is not None and not rules.empty:
        out.append("<p>The tree, grown on every client, leaves in the order they are served:</p>")
        out.append(html_table(rules, [Col("outcome"), Col("rank"), Col("rule"), Col("effect", **NUM), Col("n")]))
    return "".join(out)
