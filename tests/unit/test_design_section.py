"""The report's Design section (deepvalue.publish.design_section): each design against aipw."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from deepvalue.publish.design_section import design_rows


def _row(outcome, method, estimand, est, se, subgroup=""):
    return {
        "outcome": outcome,
        "subgroup": subgroup,
        "method": method,
        "estimand": estimand,
        "estimate": est,
        "std_error": se,
        "ci_lower": est - 1.96 * se,
        "ci_upper": est + 1.96 * se,
    }


def test_design_rows_test_each_design_against_aipw_of_the_same_estimand():
    est = pd.DataFrame(
        [
            _row("job", "aipw", "ATT", 0.10, 0.02),
            _row("job", "aipw", "ATE", 0.08, 0.02),
            _row("job", "within_worker_regression", "ATT", 0.02, 0.03),
            _row("job", "iv", "LATE", 0.30, 0.10),
            _row("job", "departure_reduced_form", "ITT", -0.05, 0.02),
            _row("job", "regression", "ATT", 0.11, 0.02),  # not a design row
            _row("job", "within_worker_regression", "ATT", 0.5, 0.1, subgroup="service=a"),  # subgroup: out
            _row("job", "dml", "ATE", float("nan"), float("nan")),  # suppressed or skipped: out
        ]
    )
    rows = design_rows(est).set_index(["method", "estimand"])
    assert list(rows.index) == [
        ("aipw", "ATE"),
        ("aipw", "ATT"),
        ("within_worker_regression", "ATT"),
        ("departure_reduced_form", "ITT"),
        ("iv", "LATE"),
    ]
    w = rows.loc[("within_worker_regression", "ATT")]
    assert w["vs_aipw"] == pytest.approx(-0.08)
    assert w["z"] == pytest.approx(-0.08 / math.hypot(0.03, 0.02))
    assert w["p_differs"] == pytest.approx(0.0265, abs=2e-4)  # 2 * (1 - Phi(2.2188))
    assert rows.loc[("iv", "LATE"), "vs_aipw"] == pytest.approx(0.20)  # LATE against the ATT
    assert math.isnan(rows.loc[("departure_reduced_form", "ITT"), "z"])
    assert math.isnan(rows.loc[("aipw", "ATT"), "z"])
