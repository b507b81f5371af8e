"""The whole workflow on an events-recorded synthetic extract (issue 14): job starts and crisis
contacts as dated occurrences, and an extract date that leaves the latest clients' follow-up
incomplete. The estimates must cover the truth of the population analysed (complete follow-up),
and the outcome flow must account for every cohort client.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from conftest import fingerprint

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def events_run(default_workflow):
    # the default study's run (the session fixture default_workflow in tests/conftest.py)
    results, cfg = default_workflow
    return results, json.loads((results.parents[1] / "extract" / "truth.json").read_text()), cfg


def test_events_extract_config_and_ingest(events_run):
    results, truth, cfg = events_run
    recorded = {o["name"]: o.get("recorded", "measured") for o in cfg["outcomes"]}
    assert recorded == {"job_start": "events", "income_gain_gbp": "measured", "crisis_contacts": "events"}
    assert truth["recording"] == "events"
    report = json.loads((results / "ingest_report.json").read_text())
    assert report["extract_date"] == truth["extract_date"] == cfg["extract"]["extract_date"]


def test_analysed_populations_are_the_truths_with_complete_follow_up(events_run):
    results, truth, _ = events_run
    analysis = pd.read_parquet(results / "cohort" / "analysis.parquet")
    assert fingerprint(analysis["client_id"]) == truth["cohort"]["eligible_sha256"]
    for name, t in truth["outcomes"].items():
        analysed = analysis.loc[analysis[name].notna()]
        assert fingerprint(analysed["client_id"]) == t["population_sha256"], name
        assert int(analysed["treatment"].sum()) == t["n_treated"], name
        assert t["n_excluded_follow_up_incomplete"] > 0, name


def test_outcome_flow_accounts_for_every_client(events_run):
    results, truth, _ = events_run
    flow = pd.read_csv(results / "cohort" / "outcome_flow.csv")
    n = truth["cohort"]["n_eligible"]
    for name, t in truth["outcomes"].items():
        f = flow[flow["outcome"] == name].reset_index(drop=True)
        analysed = int(f.loc[f["step"] == "analysed", "n_remaining"].iloc[0])
        assert f["n_remaining"].iloc[0] == n and analysed == t["n_treated"] + t["n_control"], name
        # each client once: an events outcome's flow counts the analysed too (with and without an
        # occurrence in the window), a measured one ends at the analysed
        counted = f.loc[f["step"] == "counted", "n_excluded"].sum()
        assert f["n_excluded"].sum() + (analysed if t["recorded"] == "measured" else 0) == n, name
        assert counted == (analysed if t["recorded"] == "events" else 0), name
        chained = f["n_remaining"].shift() - f["n_excluded"] == f["n_remaining"]
        assert chained.iloc[1:].all(), name
        incomplete = f[f["reason"].fillna("").str.startswith("follow-up not complete at the extract date")]
        assert incomplete["n_excluded"].tolist() == [t["n_excluded_follow_up_incomplete"]], name
    assert (results / "publish" / "cohort" / "outcome_flow.csv").is_file()


def test_regression_and_aipw_intervals_cover_the_job_start_truth(events_run):
    results, _, _ = events_run
    vs = pd.read_csv(results / "estimates_vs_truth.csv")
    job = vs[(vs["outcome"] == "job_start") & vs["method"].isin(["regression", "aipw"])]
    assert len(job) == 4  # ATT and ATE of each
    assert job["covered"].all(), job
    adjusted = vs[vs["method"].isin(["regression", "ipw", "aipw"])]
    assert (adjusted["error_in_se"].abs() < 3.5).all(), adjusted


def test_every_evalue_of_the_default_run_is_a_number_or_a_stated_skip(events_run):
    """km_ipw's two rows per estimand share one (outcome, method, estimand) key, told apart by the scale: the risk
    difference at the horizon gets the E-values, the restricted mean difference in days a skipped row (before,
    the days were converted as a risk difference and gave four NaN E-values on this run)."""
    results, _, _ = events_run
    sens = pd.read_csv(results / "sensitivity.csv")
    evalues = sens[sens["measure"].str.startswith("evalue")]
    assert evalues["value"].notna().all() and (evalues["value"] >= 1).all(), evalues[evalues["value"].isna()]
    km = sens[(sens["method"] == "km_ipw") & (sens["outcome"] == "job_start")]
    for estimand in ("ATT", "ATE"):
        rows = km[km["estimand"] == estimand]
        assert list(rows["measure"]) == ["evalue_point", "evalue_ci", "skipped"], rows
        assert "restricted mean time to event" in rows["notes"].iloc[2]
        assert list(rows["scale"]) == ["risk_difference_at_horizon"] * 2 + ["rmst_difference_days"], rows
    # with the scale as a key, every row is one (outcome, method, estimand, scale, measure): dose_levels'
    # three level contrasts, which shared a key before, are told apart
    assert not sens.duplicated(["outcome", "method", "estimand", "scale", "measure"]).any()
    levels = sens[(sens["method"] == "dose_levels") & (sens["measure"] == "evalue_point")]
    assert levels["scale"].str.match(r"upc_[\d.]+_vs_[\d.]+$").all() and levels["scale"].nunique() == 3, levels
