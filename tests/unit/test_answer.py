"""The run's answer in words (issue 18, item 2): deepvalue.publish.answer and the progress lines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from deepvalue.pipeline.progress import progress_line, stage_of
from deepvalue.publish.answer import console_summary, run_answer

CFG = {"outcomes": [{"name": "job", "type": "binary"}, {"name": "crises", "type": "count"}]}


def _row(outcome, method, estimand, est, lo, hi, subgroup=""):
    return {
        "outcome": outcome,
        "subgroup": subgroup,
        "method": method,
        "estimand": estimand,
        "estimate": est,
        "std_error": 0.01,
        "ci_lower": lo,
        "ci_upper": hi,
        "p_value": 0.01,
        "n_treated": 400,
        "n_control": 300,
        "scale": "risk_difference",
        "notes": "a test row",
    }


def write_results(folder: Path, job_aipw=(0.1, 0.05, 0.15), crises_aipw=(-0.3, -0.5, -0.1)) -> Path:
    pub = folder / "publish"
    pub.mkdir(parents=True)
    rows = [
        _row("job", "aipw", "ATT", *job_aipw),
        _row("job", "psm", "ATT", 0.12, 0.02, 0.22),
        _row("job", "iv", "LATE", -0.02, -0.3, 0.26),
        _row("job", "naive", "ATE", 0.3, 0.2, 0.4),  # not an adjusted estimate: not counted
        _row("job", "aipw", "ATT", -0.5, -0.6, -0.4, subgroup="employment"),  # a subgroup: not counted
        _row("crises", "aipw", "ATT", *crises_aipw),
        _row("crises", "regression", "ATE", -0.2, -0.4, 0.0),
    ]
    pd.DataFrame(rows).to_csv(pub / "estimates.csv", index=False)
    pd.DataFrame(
        [
            {"outcome": "job", "method": "aipw", "estimand": "ATT", "measure": "evalue_point", "value": 2.5},
            {"outcome": "job", "method": "aipw", "estimand": "ATT", "measure": "evalue_ci", "value": 1.5},
            {"outcome": "job", "method": "psm", "estimand": "ATT", "measure": "rosenbaum_gamma", "value": 1.3},
        ]
    ).to_csv(pub / "sensitivity.csv", index=False)
    value = [
        ("per_client", "job", "benefit", 300.0, 100.0, 500.0, True, "aipw ATT effect 0.1 (SE 0.02) per client"),
        ("per_client", "crises", "benefit", 100.0, 50.0, 150.0, False, "aipw ATT effect -0.3 (SE 0.1) per client"),
        ("per_client", "total", "cost", 150.0, 150.0, 150.0, True, "cost"),
        ("per_client", "total", "net_benefit", 250.0, 40.0, 460.0, True, ""),
        ("per_client", "total", "benefit_cost_ratio", 2.67, 1.27, 4.07, True, ""),
    ]
    cols = ["level", "outcome", "quantity", "value", "ci_lower", "ci_upper", "illustrative", "notes"]
    frame = pd.DataFrame(value, columns=cols)
    frame["price_year"] = 2025
    frame.to_csv(pub / "value.csv", index=False)
    return folder


def test_answer_in_words(tmp_path):
    text = console_summary(write_results(tmp_path), CFG, tmp_path / "no_report.html")
    assert "job: continuity raised the share of clients with job by 10.0 percentage points (95% CI 5.0 to 15.0)" in text
    assert "crises: continuity lowered crises by 0.300 per client (95% CI 0.100 to 0.500)" in text
    # aipw, psm and iv are adjusted; naive and the subgroup row are not
    assert "2 of 3 adjusted estimates (doubly robust, matching, instrument) have the same sign, 2 exclude" in text
    assert "E-value 2.50 (its CI limit 1.50); Rosenbaum Gamma 1.30 (matched pairs)" in text
    assert "net benefit £250 per treated client (95% interval £40 to £460), benefit-cost ratio 2.67" in text
    assert "75% of the benefit rests on illustrative unit values and the cost is illustrative" in text
    assert "report:" not in text  # no report written


def test_an_interval_that_includes_no_effect(tmp_path):
    answer = run_answer(write_results(tmp_path, job_aipw=(0.02, -0.03, 0.07)), CFG)
    assert answer.outcomes[0].sentence() == (
        "job: no clear effect; continuity changed the share of clients with job by 2.00 percentage points "
        "(95% CI -3.00 to 7.00, an interval that includes no effect)."
    )


def test_a_suppressed_estimate_stays_suppressed(tmp_path):
    answer = run_answer(write_results(tmp_path, crises_aipw=(np.nan, np.nan, np.nan)), CFG)
    crises = answer.outcomes[1]
    assert crises.sentence() == "crises: no estimate to show (aipw ATT is missing or suppressed)."


def test_no_results_yet(tmp_path):
    assert "no estimates yet" in console_summary(tmp_path, CFG)


def test_progress_lines():
    assert stage_of("logs/ingest_extract.log") == "ingest_extract"
    assert stage_of("logs/dowhy_bootstrap/job_1.log") == "dowhy_bootstrap"
    assert progress_line("logs/dowhy_bootstrap/job_1.log", 2.04) == (
        "deepvalue [dowhy_bootstrap job_1] DoWhy bootstrap replicates drawn (2.0 s)"
    )
    assert progress_line("logs/some_new_rule.log", 1).endswith("[some_new_rule] done (1.0 s)")


def test_a_skipped_primary_method_says_why(tmp_path):
    results = write_results(tmp_path)
    est = pd.read_csv(results / "publish" / "estimates.csv")
    rows = (est["outcome"] == "crises") & (est["method"] == "aipw")
    est.loc[rows, ["estimate", "ci_lower", "ci_upper"]] = np.nan
    est.loc[rows, "notes"] = "skipped: fewer than 5 events among the controls"
    est.to_csv(results / "publish" / "estimates.csv", index=False)
    crises = run_answer(results, CFG).outcomes[1]
    assert crises.sentence() == "crises: no estimate (aipw ATT skipped: fewer than 5 events among the controls)."


def test_the_evalue_is_that_of_the_primary_rows_scale(tmp_path):
    """A key with rows on two scales in sensitivity.csv (as km_ipw writes): the answer quotes the E-value of
    the scale the primary estimate is on, whichever comes first in the file."""
    write_results(tmp_path)
    pub = tmp_path / "publish"
    sens = pd.read_csv(pub / "sensitivity.csv").assign(scale="risk_difference")
    other = sens[sens["method"] == "aipw"].assign(scale="some_other_scale", value=[9.0, 8.0])
    pd.concat([other, sens], ignore_index=True).to_csv(pub / "sensitivity.csv", index=False)
    text = console_summary(tmp_path, CFG, tmp_path / "no_report.html")
    assert "E-value 2.50 (its CI limit 1.50)" in text and "E-value 9.00" not in text
