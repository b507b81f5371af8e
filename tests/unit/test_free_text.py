"""Counts in free text (issue 13, item 7 of the reliability review): notes, readings and reasons of the
published tables never carry a count below the threshold, nor a copy of a suppressed count."""

from __future__ import annotations

import pandas as pd
import pytest

from deepvalue.core.tabular import write_csv
from deepvalue.publish.disclosure import check_table, publish, read_table

# the pipeline's own phrasings (from estimates.csv, sensitivity.csv, value.csv and the flow tables of a
# default run and of a run with two tiny sites) and what must come out of them
REWRITTEN = [
    (
        "skipped: propensity model: all 1 clients with start_quarter=2024Q1 = 1 are treated (treatment = 1): this "
        "value predicts treatment perfectly",
        "skipped: propensity model: all fewer than 10 clients with start_quarter=2024Q1 = 1 are treated (treatment "
        "= 1): this value predicts treatment perfectly",
    ),
    (
        "581 distinct controls, 339 used more than once; matched within this population: 1338 of 1339 treated "
        "clients; unmatched: 1 no control within caliper; the estimand is the ATT of the matched treated",
        "581 distinct controls, 339 used more than once; matched within this population: [suppressed] of 1339 "
        "treated clients; unmatched: fewer than 10 no control within caliper; the estimand is the ATT of the "
        "matched treated",
    ),
    (
        "8 distinct controls, 7 used more than once",
        "fewer than 10 distinct controls, fewer than 10 used more than once",
    ),
    (
        "skipped: no variation to estimate from: 8 events and 28 non-events among the treated, 4 and 47 among the "
        "controls (at least 5 of each per arm; estimation.min_events_per_arm)",
        "skipped: no variation to estimate from: fewer than 10 events and 28 non-events among the treated, fewer "
        "than 10 and 47 among the controls (at least 5 of each per arm; estimation.min_events_per_arm)",
    ),
    (
        "cluster-robust by allocated (first) worker (CR1, 7 clusters)",
        "cluster-robust by allocated (first) worker (CR1, fewer than 10 clusters)",
    ),
    (
        "scores clipped to [0.05, 0.95] (2 clipped); propensity",
        "scores clipped to [0.05, 0.95] (fewer than 10 clipped); propensity",
    ),
    (
        "skipped: too few clients for the model: 8 for 20 parameters (at least 5 per parameter)",
        "skipped: too few clients for the model: fewer than 10 for 20 parameters (at least 5 per parameter)",
    ),
    (
        "3 events dated after 182 days of follow-up counted as 0",
        "fewer than 10 events dated after 182 days of follow-up counted as 0",
    ),
    (
        "the treated (continuous) group has 3 clients with the outcome measured",
        "the treated (continuous) group has fewer than 10 clients with the outcome measured",
    ),
    (
        "1000 clients (995 treated) with a whole-cohort propensity",
        "1000 clients ([suppressed] treated) with a whole-cohort propensity",
    ),
]

KEPT = [
    "fewer than 4 contacts (window_contacts)",
    "contact 4 more than 120 days after the first (window_max_days)",
    "0 events dated after 182 days of follow-up counted as 0",
    "Wald test of equal upc 1 vs 0.25 across 2 levels of service (chi2 = 15.19, df = 1); levels taken as independent",
    "conditional variances from 2 within-control matches (Stata vce(robust, nn(2))), not adjusted",
    "2SLS, instrument: first worker left in the exposure window; first-stage effective F = 7.5 (Montiel Olea-"
    "Pflueger 2013; with one instrument the cluster-robust Wald F, 81 clusters; 23.1 is the 10% worst-case-bias "
    "threshold, Andrews, Stock and Sun 2019), partial R2 = 0.0227",
    "DoWhy PSM: 1-NN with replacement, no caliper; bootstrap: 100 replicates; scores clipped to [0.05, 0.95] "
    "(0 clipped)",
    "unit value 1 GBP (2025 prices) = 1 GBP in 2025 prices; PV factor 1 (1 y, drop-off 0, r 0.035); deadweight 0",
    "PV factor 1.67633 (2 y, drop-off 0.3, r 0.035); about 4 hours per client at about 40 GBP per hour",
    "sign (McNemar) test on discordant pairs, two-sided at alpha = 0.05 (alpha/2 on the side of the estimate); a "
    "1:1 re-match without replacement (234 pairs of 448 treated; caliper 0.2 SD of the logit)",
    "df = n - 2 = 712: number of regressors k unknown",
    "too few clients for the model: 98 for 20 parameters (at least 5 per parameter; estimation.min_rows_per_parameter)",
    "Welch t interval, df = 2144.2; unadjusted (confounded)",
    "stratified subsample of 100000 of 453355 rows (seed 1)",
    "quasi-separation: some cell has all 0 or all 1",
]


@pytest.mark.parametrize("text, expected", REWRITTEN, ids=range(len(REWRITTEN)))
def test_small_counts_in_the_pipelines_notes_are_rewritten(text, expected):
    frame = pd.DataFrame({"outcome": ["y"], "n_treated": [400], "n_control": [300], "notes": [text]})
    checked, log = check_table(frame, "estimates.csv")
    assert checked.at[0, "notes"] == expected
    assert log == [
        {"table": "estimates.csv", "row": 0, "column": "notes", "rule": "free_text_count", "action": "redacted"}
    ]


@pytest.mark.parametrize("text", KEPT, ids=range(len(KEPT)))
def test_settings_statistics_and_large_counts_are_kept(text):
    frame = pd.DataFrame({"outcome": ["y"], "n_treated": [400], "n_control": [300], "notes": [text]})
    checked, log = check_table(frame, "estimates.csv")
    assert checked.at[0, "notes"] == text and log == []


def test_every_text_column_is_checked_not_only_notes():
    frame = pd.DataFrame(
        {
            "outcome": ["y", "y"],
            "step": ["recoded", "excluded"],
            "n_remaining": [900, 900],
            "n_excluded": [0, 0],
            "reason": ["3 events dated after 182 days of follow-up counted as 0", "no outcome row for this client"],
        }
    )
    checked, log = check_table(frame, "cohort/outcome_flow.csv")
    assert checked.at[0, "reason"].startswith("fewer than 10 events")
    assert [(e["column"], e["rule"]) for e in log] == [("reason", "free_text_count")]


def test_a_zero_count_in_text_is_a_small_cell_only_when_zeros_are(tmp_path):
    frame = pd.DataFrame({"n": [500], "notes": ["scores clipped (0 clipped); deadweight 0"]})
    assert check_table(frame, "t")[0].at[0, "notes"] == "scores clipped (0 clipped); deadweight 0"
    checked, _ = check_table(frame, "t", allow_zero=False)
    assert checked.at[0, "notes"] == "scores clipped (fewer than 10 clipped); deadweight 0"


def test_a_note_quoting_a_count_suppressed_in_another_table_is_redacted(tmp_path):
    flow = pd.DataFrame(
        {
            "step": ["treated clients in the cohort", "unmatched", "matched treated clients"],
            "n_remaining": [713, 711, 711],
            "n_excluded": [0, 2, 0],
            "reason": ["", "no control within caliper", ""],
        }
    )
    value = pd.DataFrame({"quantity": ["benefit"], "value": [1.5], "notes": ["cohort of 711 matched treated clients"]})
    paths = {}
    for name, frame in {"match/flow.csv": flow, "value.csv": value}.items():
        paths[name] = tmp_path / "in" / name
        write_csv(frame, paths[name])
    log = publish(paths, tmp_path / "out")
    assert read_table(tmp_path / "out" / "value.csv").at[0, "notes"] == "cohort of [suppressed] matched treated clients"
    assert "711" not in (tmp_path / "out" / "disclosure_log.csv").read_text()
    assert ("value.csv", "free_text_count", "redacted") in set(zip(log["table"], log["rule"], log["action"]))


def test_a_note_with_all_1_clients_never_reaches_the_published_estimates(tmp_path):
    note = (
        "skipped: propensity model: all 1 clients with start_quarter=2024Q1 = 1 are treated (treatment = 1): this "
        "value predicts treatment perfectly (quasi-complete separation)"
    )
    frame = pd.DataFrame(
        {
            "outcome": ["job_start"] * 2,
            "subgroup": ["service=employment"] * 2,
            "method": ["ipw", "aipw"],
            "estimand": ["ATT", "ATT"],
            "estimate": [float("nan")] * 2,
            "n_treated": [1328, 1328],
            "n_control": [918, 918],
            "notes": [note, note],
        }
    )
    write_csv(frame, tmp_path / "estimates.csv")
    publish({"estimates.csv": tmp_path / "estimates.csv"}, tmp_path / "out")
    text = (tmp_path / "out" / "estimates.csv").read_text()
    assert "all 1 clients" not in text and "all fewer than 10 clients with start_quarter=2024Q1" in text
