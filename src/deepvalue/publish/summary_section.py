"""The report's opening summary, one page for a policy maker: the question, the answer per outcome
in one sentence, one figure of the primary estimates with their intervals, how robust the answer
is, what it is worth, and the caveats.

Everything comes from :func:`deepvalue.publish.answer.run_answer`, which reads the disclosure-checked
tables, so a suppressed estimate is neither said nor drawn here. The figure is inline SVG drawn
here (every label escaped), one row per outcome on its own scale, so it needs no image file and
gives the same bytes for the same tables.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from deepvalue.publish.answer import (
    OutcomeAnswer,
    RunAnswer,
    _digits,
    _units,
    agreement_words,
    illustrative_words,
    run_answer,
    value_words,
)
from deepvalue.publish.html import _read_csv, esc
from deepvalue.publish.report_inputs import disclosure_settings

_ROW = 46
_WIDTH = 660
_LABEL = 190  # the outcome names' column
_PLOT = (_LABEL + 20, _WIDTH - 30)


def _question(cfg: dict) -> str:
    exp = cfg.get("exposure") or {}
    names = [str(o["name"]) for o in cfg.get("outcomes", []) if isinstance(o, dict) and "name" in o]
    return str(
        cfg.get("question")
        or (
            "Does keeping the same worker with a client (relational continuity: continuity index "
            f"{exp.get('index', 'upc')} of at least {exp.get('threshold', 0.75)} over the first "
            f"{exp.get('window_contacts', 4)} contacts) lead to better outcomes than passing the client between "
            f"workers, and what is it worth? Outcomes: {', '.join(names)}."
        )
    )


def _x(value: float, lo: float, hi: float) -> float:
    a, b = _PLOT
    return a + (value - lo) / (hi - lo) * (b - a)


def _tick(x: float, digits: int) -> str:
    return f"{x:,.{digits}f}"


def estimates_svg(outcomes: list[OutcomeAnswer]) -> str:
    """The primary estimate and 95% CI of each outcome, one row each on its own scale, with 0 marked."""
    shown = [o for o in outcomes if np.isfinite(o.estimate) and np.isfinite(o.ci_lower) and np.isfinite(o.ci_upper)]
    if not shown:
        return '<p class="missing">No primary estimate to draw (missing or suppressed).</p>'
    height = _ROW * len(shown) + 24
    parts = [
        f'<svg role="img" aria-label="Primary estimates with 95% confidence intervals" width="{_WIDTH}" '
        f'height="{height}" viewBox="0 0 {_WIDTH} {height}" font-family="Helvetica,Arial,sans-serif" font-size="12">'
    ]
    for i, o in enumerate(shown):
        _, unit, scale = _units(o.outcome, o.type)
        est, lo, hi = o.estimate * scale, o.ci_lower * scale, o.ci_upper * scale
        left, right = min(lo, 0.0), max(hi, 0.0)
        pad = (right - left) * 0.1 or 1.0
        left, right = left - pad, right + pad
        y = 18 + i * _ROW
        colour = "#2b5d8a" if o.clear else "#8a8a8a"
        x0, xl, xh, xe = (_x(v, left, right) for v in (0.0, lo, hi, est))
        d = _digits(est)
        parts += [
            f'<text x="0" y="{y + 4}" font-weight="bold">{esc(o.outcome)}</text>',
            f'<text x="0" y="{y + 19}" fill="#555">{esc(unit.strip())} ({esc(o.method)} {esc(o.estimand)})</text>',
            f'<line x1="{x0:.1f}" y1="{y - 12}" x2="{x0:.1f}" y2="{y + 12}" stroke="#b00020" stroke-dasharray="3,3"/>',
            f'<line x1="{xl:.1f}" y1="{y}" x2="{xh:.1f}" y2="{y}" stroke="{colour}" stroke-width="3"/>',
            f'<circle cx="{xe:.1f}" cy="{y}" r="5" fill="{colour}"/>',
            f'<text x="{xl:.1f}" y="{y + 22}" text-anchor="middle" fill="#555">{esc(_tick(lo, d))}</text>',
            f'<text x="{xh:.1f}" y="{y + 22}" text-anchor="middle" fill="#555">{esc(_tick(hi, d))}</text>',
            f'<text x="{xe:.1f}" y="{y - 9}" text-anchor="middle">{esc(_tick(est, d))}</text>',
        ]
    parts.append(
        f'<text x="{_PLOT[0]}" y="{height - 2}" fill="#b00020" font-size="11">dashed line: no effect (0)</text></svg>'
    )
    return "".join(parts)


ROBUSTNESS_NOTE = (
    "The E-value is how strongly (as a risk ratio) an unmeasured confounder would have to be associated with both "
    "continuity and the outcome to explain the estimate away (its CI limit: to make the interval include no effect); "
    "Rosenbaum's Gamma is how much hidden bias in the odds of continuity the matched comparison withstands before "
    "it stops being significant. 1 is no robustness; larger is more."
)


def _robustness(o: OutcomeAnswer) -> str:
    parts = [agreement_words(o)]
    if np.isfinite(o.evalue_point):
        parts.append(f"E-value {o.evalue_point:.2f} (CI limit {o.evalue_ci:.2f})")
    if np.isfinite(o.gamma):
        parts.append(f"Gamma {o.gamma:.2f}")
    if o.refuted_total:
        parts.append(f"{o.refuted_passed} of {o.refuted_total} DoWhy refutation checks passed")
    return "; ".join(parts)


def _caveats(cfg: dict, answer: RunAnswer, suppressed: bool, min_cell: int) -> list[str]:
    exp = cfg.get("exposure") or {}
    items = [
        "The data are observational: clients were not assigned to continuity at random. The estimates assume that "
        "service, site, start quarter and the recorded covariates account for why some clients kept their worker; "
        "the robustness figures above say how strong a missed reason would have to be.",
        f"Only clients with at least {exp.get('window_contacts', 4)} contacts within "
        f"{exp.get('window_max_days', 120)} days of the first are analysed: the answer is about clients who engaged.",
    ]
    ill = illustrative_words(answer)
    if ill and answer.illustrative_share:
        items.append(
            f"{ill[0].upper()}{ill[1:]}: the money figures are not a result until an economist replaces them "
            "(config/values.yaml)."
        )
    if suppressed:
        items.append(
            f"Some cells of the published tables are suppressed by disclosure control (counts below {min_cell} "
            "and what would give them back); none of them is shown here."
        )
    if (cfg.get("synthetic") or {}).get("truth"):
        items.append("These results come from a synthetic extract with known true effects, not from real clients.")
    return items


def section_summary(results: Path, cfg: dict) -> str:
    """The summary section's HTML (see the module docstring)."""
    results = Path(results)
    answer = run_answer(results, cfg)
    parts = [f"<p><strong>The question.</strong> {esc(_question(cfg))}</p>"]
    if not answer.outcomes:
        parts.append('<p class="missing">No estimates: estimates.csv was not found in the results folder.</p>')
        return "\n".join(parts)
    items = "".join(f"<li>{esc(o.sentence())}</li>" for o in answer.outcomes)
    parts.append(f"<p><strong>The answer</strong>, per outcome (primary estimate, 95% CI):</p><ul>{items}</ul>")
    parts.append(
        "<figure>"
        + estimates_svg(answer.outcomes)
        + "<figcaption>The primary estimate of each outcome (dot) with its 95% confidence interval (bar), each on "
        "its own scale; grey when the interval includes no effect. Estimates suppressed by disclosure control are "
        "not drawn.</figcaption></figure>"
    )
    robust = "".join(f"<li><b>{esc(o.outcome)}</b>: {esc(_robustness(o))}.</li>" for o in answer.outcomes)
    parts.append(f"<p><strong>How robust it is.</strong> {esc(ROBUSTNESS_NOTE)}</p><ul>{robust}</ul>")
    words = value_words(answer)
    if words:
        ill = illustrative_words(answer)
        note = f" {ill[0].upper()}{ill[1:]}." if ill else ""
        parts.append(f"<p><strong>What it is worth.</strong> {esc(words[0].upper() + words[1:])}.{esc(note)}</p>")
    else:
        parts.append('<p class="missing">No value: value.csv was not found in the results folder.</p>')
    min_cell, _ = disclosure_settings(cfg, results)
    suppressed = _has_suppression(results)
    caveats = "".join(f"<li>{esc(c)}</li>" for c in _caveats(cfg, answer, suppressed, min_cell))
    parts.append(f"<p><strong>Caveats.</strong></p><ul>{caveats}</ul>")
    return "\n".join(parts)


def _has_suppression(results: Path) -> bool:
    """Whether the disclosure log of the published tables records a suppressed cell."""
    log = _read_csv(results / "publish" / "disclosure_log.csv")
    return bool(log is not None and "action" in log and (log["action"] == "suppressed").any())
