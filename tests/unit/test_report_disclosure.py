"""The report shows nothing the disclosure check would not publish (issue 13, item 7): text from the
published tables as checked, and what it reads from files that are not published (ingest_report.json,
match/summary.json, estimates_vs_truth.csv, provenance.json) through the same rules."""

from __future__ import annotations

import json

import pandas as pd

from deepvalue.core.tabular import write_csv
from deepvalue.publish import report
from deepvalue.publish.disclosure import publish

NOTE = (
    "skipped: propensity model: all 1 clients with start_quarter=2024Q1 = 1 are treated (treatment = 1): this value "
    "predicts treatment perfectly (quasi-complete separation)"
)


def estimates() -> pd.DataFrame:
    rows = []
    for subgroup, method, estimand, notes in (
        ("", "naive", "ATE", ""),
        ("", "ipw", "ATT", NOTE),
        ("", "aipw", "ATT", NOTE),
        ("service=employment", "naive", "ATE", ""),
    ):
        skipped = bool(notes)
        rows.append(
            {
                "outcome": "job_start",
                "subgroup": subgroup,
                "method": method,
                "estimand": estimand,
                "estimate": float("nan") if skipped else 0.1,
                "std_error": float("nan") if skipped else 0.02,
                "ci_lower": float("nan") if skipped else 0.06,
                "ci_upper": float("nan") if skipped else 0.14,
                "p_value": float("nan") if skipped else 0.001,
                "n_treated": 1339,
                "n_control": 918,
                "scale": "risk_difference",
                "notes": notes,
            }
        )
    return pd.DataFrame(rows)


def results_folder(tmp_path, published: bool = True):
    results = tmp_path / "results"
    write_csv(estimates(), results / "estimates.csv")
    write_csv(
        pd.DataFrame(
            {
                "adjustment": ["unadjusted", "unadjusted", "matched", "matched"],
                "group": ["treated", "control", "treated", "control"],
                "n": [2228, 7, 2228, 5],
                "sum_weights": [2228.0, 7.0, 2228.0, 2228.0],
                "ess": [2228.0, 7.0, 2228.0, 4.5],
            }
        ),
        results / "match" / "balance_summary.csv",
    )
    (results / "match" / "summary.json").write_text(json.dumps({"n_treated": 2228, "n_control": 7}))
    ingest = {
        "extract_date": "2025-12-31",
        "extract_date_source": "config",
        "tables": {
            "clients": {"file": "clients.csv", "rows_read": 2235, "rows_written": 2235, "dropped": [], "warnings": []},
            "contacts": {
                "file": "contacts.csv",
                "rows_read": 17000,
                "rows_written": 16997,
                "dropped": [
                    {"reason": "exact duplicate of an earlier contact", "rows": 3},
                    {"reason": "client_id not in the clients table", "rows": 0},
                ],
                "warnings": ["4 contacts (of 16997) name a worker_id that is not in the workers table"],
            },
        },
    }
    (results / "ingest_report.json").write_text(json.dumps(ingest))
    (results / "provenance.json").write_text(
        json.dumps(
            {
                "config": {"disclosure": {"min_cell": 10}},
                "inputs": {"contacts": {"path": "contacts.csv", "rows_read": 17000, "rows_written": 16997, "bytes": 1}},
            }
        )
    )
    write_csv(
        pd.DataFrame(
            {
                "outcome": ["job_start", "job_start"],
                "method": ["naive", "ipw"],
                "estimand": ["ATE", "ATT"],
                "estimate": [0.1, 0.123456],
                "std_error": [0.02, 0.02],
                "ci_lower": [0.06, 0.08],
                "ci_upper": [0.14, 0.16],
                "truth": [0.09, 0.09],
                "error": [0.01, 0.033456],
                "error_in_se": [0.5, 1.6728],
                "covered": [True, True],
            }
        ),
        results / "estimates_vs_truth.csv",
    )
    if published:
        publish(
            {
                "estimates.csv": results / "estimates.csv",
                "match/balance_summary.csv": results / "match" / "balance_summary.csv",
            },
            results / "publish",
        )
    return results


def build(tmp_path, published: bool = True) -> str:
    results = results_folder(tmp_path, published)
    out = tmp_path / "report.html"
    report.build_report(results, {"synthetic": {"truth": "truth.json"}, "disclosure": {"min_cell": 10}}, out)
    return out.read_text(encoding="utf-8")


def section(text: str, sid: str) -> str:
    return text.split(f'<h2 id="{sid}"')[1].split("<h2 ")[0]


def test_a_note_with_all_1_clients_never_reaches_the_report(tmp_path):
    text = build(tmp_path)
    assert "all 1 clients" not in text
    assert "all fewer than 10 clients with start_quarter=2024Q1" in section(text, "estimates")


def test_without_published_copies_the_report_checks_the_tables_itself(tmp_path):
    text = build(tmp_path, published=False)
    assert "all 1 clients" not in text
    assert "all fewer than 10 clients" in text


def test_the_extracts_small_drops_and_warnings_are_checked(tmp_path):
    text = build(tmp_path)
    question = section(text, "question-and-data")
    assert "exact duplicate of an earlier contact: 3" not in question
    assert "16,997" not in question and "16997" not in question  # 17,000 - 16,997 = 3
    assert "4 contacts" not in question and "fewer than 10 contacts" in question
    assert "16,997" not in section(text, "provenance")  # the same rows as recorded in provenance.json


def test_the_treated_share_uses_the_published_counts(tmp_path):
    # summary.json has the 7 controls; balance_summary.csv as published hides them
    exposure = section(build(tmp_path), "exposure")
    assert "7 controls" not in exposure and "2,235" not in exposure


def test_the_truth_comparison_shows_only_published_estimates(tmp_path):
    validation = section(build(tmp_path), "validation")
    assert "0.1235" not in validation  # the ipw row is skipped in the published estimates.csv
    assert "1 of 1 95% CIs cover the truth" in validation
