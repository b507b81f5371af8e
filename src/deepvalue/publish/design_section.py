"""The report's "Design" section: each design, the assumption it rests on, its estimate, and whether
it differs from the selection-on-observables estimate (issue 16, item 6).

The reference is the AIPW estimate of the same outcome and estimand (selection on observables,
doubly robust). For a design row with estimate :math:`\\hat\\tau_d` (SE :math:`s_d`) and the
reference :math:`\\hat\\tau_0` (:math:`s_0`) the difference is tested with

.. math::
    z = \\frac{\\hat\\tau_d - \\hat\\tau_0}{\\sqrt{s_d^2 + s_0^2}}

which treats the two estimates as independent. They come from the same clients and are positively
correlated, so the true SE of the difference is smaller and this test is conservative: a
significant difference is real, a non-significant one is weak evidence of agreement. Only rows the
published estimates.csv shows are used; a suppressed estimate stays out.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
from scipy import stats

from deepvalue.publish.html import NOTE, NUM, Col, table_data
from deepvalue.publish.report_inputs import checked_table
from deepvalue.publish.templating import render

REFERENCE = "aipw"

#: method -> (design, the assumption it rests on, in one sentence)
DESIGNS = {
    "aipw": (
        "selection on observables (reference)",
        "Given the recorded characteristics, who gets continuity is as good as random; the propensity or "
        "the outcome model is right.",
    ),
    "dml": (
        "selection on observables, machine learning",
        "As for aipw, with the outcome and the propensity learned flexibly (gradient boosting, cross-fitted).",
    ),
    "within_worker_regression": (
        "within the allocated worker",
        "Among the clients of the same allocated worker, continuity is as good as random given the recorded "
        "characteristics: anything fixed about the worker (quality, caseload, site) is allowed to matter.",
    ),
    "within_worker_aipw": (
        "within the allocated worker, doubly robust",
        "As for within_worker_regression, with a propensity score that conditions on the worker.",
    ),
    "departure_reduced_form": (
        "worker departure (intention to treat)",
        "The allocated worker leaving during the exposure window is as good as random given the recorded "
        "characteristics and the window's length; the row is the effect of a departure, not of continuity.",
    ),
    "iv": (
        "worker departure (instrument)",
        "As for the reduced form, and a departure affects outcomes only by breaking continuity (exclusion); "
        "the effect is for the clients whose continuity a departure breaks.",
    ),
}


def design_rows(estimates: pd.DataFrame) -> pd.DataFrame:
    """One row per outcome and design (whole cohort), with the test against the reference."""
    if estimates is None or estimates.empty:
        return pd.DataFrame()
    whole = estimates[estimates["subgroup"].astype(object).fillna("").astype(str).str.strip() == ""]
    whole = whole[whole["method"].isin(DESIGNS) & whole["estimate"].notna()]
    if "scale" in whole:  # a questionnaire outcome on its points scale (its other scales are in the estimates)
        whole = whole[~whole["scale"].isin(["baseline_sd", "share_meaningful_change"])]
    ref = whole[whole["method"] == REFERENCE].set_index(["outcome", "estimand"])
    out = []
    for row in whole.itertuples(index=False):
        design, assumption = DESIGNS[row.method]
        key = (row.outcome, "ATT" if row.estimand in ("LATE", "ITT") else row.estimand)
        diff = z = p = float("nan")
        if row.method != REFERENCE and key in ref.index and row.method != "departure_reduced_form":
            r = ref.loc[key]
            diff = float(row.estimate) - float(r["estimate"])
            se = math.hypot(float(row.std_error), float(r["std_error"]))
            if se > 0 and math.isfinite(se):
                z = diff / se
                p = float(2 * stats.norm.sf(abs(z)))
        out.append(
            {
                "outcome": row.outcome,
                "design": design,
                "method": row.method,
                "estimand": row.estimand,
                "estimate": row.estimate,
                "ci_lower": row.ci_lower,
                "ci_upper": row.ci_upper,
                "vs_aipw": diff,
                "z": z,
                "p_differs": p,
                "assumption": assumption,
            }
        )
    order = {m: i for i, m in enumerate(DESIGNS)}
    frame = pd.DataFrame(out)
    if frame.empty:
        return frame
    outcomes = {o: i for i, o in enumerate(dict.fromkeys(frame["outcome"]))}  # the configured order
    frame["_o"], frame["_m"] = frame["outcome"].map(outcomes), frame["method"].map(order)
    frame = frame.sort_values(["_o", "_m", "estimand"], kind="stable")
    return frame.drop(columns=["_o", "_m"]).reset_index(drop=True)


def design_context(results: Path, cfg: dict) -> dict[str, Any]:
    """The Design section's table (None when no design estimate is published)."""
    est = checked_table(results, "estimates.csv", cfg)
    rows = design_rows(est) if est is not None else pd.DataFrame()
    if rows.empty:
        return {"designs": None}
    return {
        "designs": table_data(
            rows,
            [
                Col("outcome"),
                Col("design"),
                Col("method"),
                Col("estimand"),
                Col("estimate", **NUM),
                Col("ci_lower", "CI low", **NUM),
                Col("ci_upper", "CI high", **NUM),
                Col("vs_aipw", "difference from aipw", **NUM),
                Col("z", **NUM),
                Col("p_differs", "p (differs)", **NUM),
                Col("assumption", **NOTE),
            ],
        )
    }


def section_design(results: Path, cfg: dict) -> str:
    """The Design section of the report (``templates/section-design.html.j2``)."""
    return render("section-design.html.j2", s=design_context(results, cfg))
