"""The report's opening summary, one page for a policy maker: the question, the answer per outcome
in one sentence, one figure of the primary estimates with their intervals, how robust the answer
is, what it is worth, and the caveats.

Everything comes from :func:`deepvalue.publish.answer.run_answer`, which reads the disclosure-checked
tables, so a suppressed estimate is neither said nor drawn here. The figure is inline SVG, one row
per outcome on its own scale, so it needs no image file and gives the same bytes for the same
tables. This module computes what is said and where the figure's marks go
(:func:`summary_context`); the Jinja2 templates ``templates/summary.html.j2`` and
``estimates.svg.j2`` lay it out, escaped, for the report and the PDF brief
(:mod:`deepvalue.publish.brief`) alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
from deepvalue.publish.html import _read_csv
from deepvalue.publish.report_inputs import disclosure_settings
from deepvalue.publish.templating import render

_ROW = 52
_WIDTH = 660
_LABEL = 190  # the outcome names' column
_PLOT = (_LABEL + 20, _WIDTH - 30)


def _question(cfg: dict) -> str:
    exp = cfg.get("exposure") or {}
    names = [str(o["name"]) for o in cfg.get("outcomes", []) if isinstance(o, dict) and "name" in o]
    # questionnaire outcomes too (a mediator, such as the working alliance, is not an outcome)
    names += [
        str(q["name"])
        for q in cfg.get("questionnaires") or []
        if isinstance(q, dict) and "name" in q and q.get("role", "outcome") != "mediator"
    ]
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


def figure_rows(outcomes: list[OutcomeAnswer]) -> dict[str, Any]:
    """The figure's geometry (``templates/estimates.svg.j2`` draws it): the primary estimate and 95% CI of
    each outcome with a finite estimate and interval, one row each on its own scale, 0 marked, 10% margin."""
    shown = [o for o in outcomes if np.isfinite(o.estimate) and np.isfinite(o.ci_lower) and np.isfinite(o.ci_upper)]
    rows = []
    for i, o in enumerate(shown):
        _, unit, scale = _units(o.outcome, o.type)
        est, lo, hi = o.estimate * scale, o.ci_lower * scale, o.ci_upper * scale
        left, right = min(lo, 0.0), max(hi, 0.0)
        pad = (right - left) * 0.1 or 1.0
        left, right = left - pad, right + pad
        d = _digits(est)
        x0, xl, xh, xe = (f"{_x(v, left, right):.1f}" for v in (0.0, lo, hi, est))
        rows.append(
            {
                "outcome": o.outcome,
                "unit": unit.strip(),
                "method": o.method,
                "estimand": o.estimand,
                "y": 18 + i * _ROW,
                "colour": "#2b5d8a" if o.clear else "#8a8a8a",
                "x0": x0,
                "xl": xl,
                "xh": xh,
                "xe": xe,
                "lo": _tick(lo, d),
                "hi": _tick(hi, d),
                "est": _tick(est, d),
            }
        )
    return {"rows": rows, "width": _WIDTH, "height": _ROW * len(rows) + 24, "plot_left": _PLOT[0]}


def estimates_svg(outcomes: list[OutcomeAnswer]) -> str:
    """The figure alone, as SVG (or a note when there is nothing to draw)."""
    return render("estimates.svg.j2", figure=figure_rows(outcomes))


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


def summary_context(results: Path, cfg: dict) -> dict[str, Any]:
    """What the summary says, as plain text and numbers (``templates/summary.html.j2`` lays it out, escaped):
    the question, a sentence per outcome, the figure's geometry, the robustness per outcome, the value, the
    caveats. Read through :func:`~deepvalue.publish.answer.run_answer` (the disclosure-checked tables)."""
    results = Path(results)
    answer = run_answer(results, cfg)
    value = None
    words = value_words(answer)
    if words:
        ill = illustrative_words(answer)
        note = f" {ill[0].upper()}{ill[1:]}." if ill else ""
        value = f"{words[0].upper()}{words[1:]}.{note}"
    min_cell, _ = disclosure_settings(cfg, results)
    return {
        "question": _question(cfg),
        "answers": [o.sentence() for o in answer.outcomes],
        "figure": figure_rows(answer.outcomes),
        "robustness_note": ROBUSTNESS_NOTE,
        "robustness": [(o.outcome, _robustness(o)) for o in answer.outcomes],
        "value": value,
        "caveats": _caveats(cfg, answer, _has_suppression(results), min_cell),
    }


def section_summary(results: Path, cfg: dict) -> str:
    """The summary section's HTML (see the module docstring), from ``templates/summary.html.j2``."""
    return render("summary.html.j2", **summary_context(results, cfg))


def _has_suppression(results: Path) -> bool:
    """Whether the disclosure log of the published tables records a suppressed cell."""
    log = _read_csv(results / "publish" / "disclosure_log.csv")
    return bool(log is not None and "action" in log and (log["action"] == "suppressed").any())
