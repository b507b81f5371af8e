"""Cohort: window, ordering, ties, eligibility, treatment, instrument, outcome timing, flow accounts.

Every expected value here is worked by hand from the definitions in DESIGN section 5.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from deepvalue.cohort.build import build_cohort
from deepvalue.core.errors import AnalysisError
from deepvalue.core.settings import Settings

CFG = {
    "exposure": {"index": "upc", "threshold": 0.75, "window_contacts": 4, "window_max_days": 120},
    "covariates": [{"name": "age", "type": "numeric"}],
    "outcomes": [
        {"name": "job_start", "type": "binary", "follow_up_days": 100},
        {"name": "income", "type": "continuous", "follow_up_days": 100},
    ],
}
SETTINGS = Settings.from_sections(CFG)
EXTRACT_DATE = "2025-12-31"  # every follow-up window of these tables has closed by then


def tables(sequences: dict[str, list[tuple[str, str]]], outcomes=None, workers=None) -> dict:
    """Canonical tables from {client: [(date, worker), ...]} in file order."""
    ids = list(sequences)
    clients = pd.DataFrame(
        {
            "client_id": ids,
            "service": "employment",
            "site": "S01",
            "start_date": pd.to_datetime(["2024-01-01"] * len(ids)),
            "age": np.arange(len(ids), dtype=float),
            "source_row": np.arange(len(ids)) + 2,
        }
    )
    rows = [(c, w, pd.Timestamp(d)) for c, seq in sequences.items() for d, w in seq]
    contacts = pd.DataFrame(rows, columns=["client_id", "worker_id", "contact_date"])
    contacts["source_row"] = np.arange(len(contacts)) + 2
    if outcomes is None:
        outcomes = pd.DataFrame(
            {
                "client_id": ids * 2,
                "outcome": ["job_start"] * len(ids) + ["income"] * len(ids),
                "value": [1.0] * len(ids) + [100.0] * len(ids),
                "outcome_date": pd.to_datetime(["2024-04-01"] * (2 * len(ids))),
            }
        )
    out = {"clients": clients, "contacts": contacts, "outcomes": outcomes}
    if workers is not None:
        out["workers"] = workers
    return out


def test_window_treatment_and_indices():
    t = tables(
        {
            "a": [
                ("2024-01-02", "A"),
                ("2024-01-09", "A"),
                ("2024-01-16", "B"),
                ("2024-01-23", "A"),
                ("2024-02-01", "C"),
            ],
            "b": [("2024-01-02", "A"), ("2024-01-09", "B"), ("2024-01-16", "C"), ("2024-01-23", "A")],
        }
    )
    c = build_cohort(t, SETTINGS, EXTRACT_DATE).analysis.set_index("client_id")
    assert c.loc["a", "upc"] == 0.75 and c.loc["a", "treatment"] == 1
    assert c.loc["b", "upc"] == 0.5 and c.loc["b", "treatment"] == 0
    assert c.loc["a", "index_date"] == pd.Timestamp("2024-01-23")  # 4th contact, not the 5th
    assert c.loc["a", "n_contacts_total"] == 5 and c.loc["a", "n_workers"] == 2
    assert c.loc["b", "secon"] == 0.0 and c.loc["a", "secon"] == pytest.approx(1 / 3)
    assert c.loc["a", "primary_worker"] == "A"


def test_contacts_are_ordered_by_date_not_file_order():
    t = tables(
        {"a": [("2024-01-23", "A"), ("2024-01-02", "B"), ("2024-01-16", "B"), ("2024-01-09", "B"), ("2024-01-03", "A")]}
    )
    c = build_cohort(t, SETTINGS, EXTRACT_DATE).analysis.iloc[0]
    # by date: B(01-02) A(01-03) B(01-09) B(01-16) -> UPC 0.75, index date 01-16
    assert c["upc"] == 0.75 and c["index_date"] == pd.Timestamp("2024-01-16")
    assert c["first_worker"] == "B"


def test_same_day_ties_use_contact_id_then_file_order():
    seq = {
        "a": [("2024-01-02", "A"), ("2024-01-02", "B"), ("2024-01-03", "B"), ("2024-01-04", "B"), ("2024-01-05", "C")]
    }
    t = tables(seq)
    assert build_cohort(t, SETTINGS, EXTRACT_DATE).analysis.iloc[0]["first_worker"] == "A"  # file order
    t["contacts"]["contact_id"] = ["k2", "k1", "k3", "k4", "k5"]
    c = build_cohort(t, SETTINGS, EXTRACT_DATE).analysis.iloc[0]
    assert c["first_worker"] == "B"  # contact_id k1 comes first
    assert c["secon"] == pytest.approx(1 / 3)  # B A B B: only the last pair repeats


def test_eligibility_flow_adds_up():
    t = tables(
        {
            "ok": [("2024-01-02", "A")] * 4,
            "few": [("2024-01-02", "A")] * 3,
            "slow": [("2024-01-02", "A"), ("2024-02-01", "A"), ("2024-03-01", "A"), ("2024-06-01", "A")],
            "edge": [("2024-01-02", "A"), ("2024-02-01", "A"), ("2024-03-01", "A"), ("2024-05-01", "A")],  # 120 days
        }
    )
    t["clients"] = pd.concat([t["clients"], t["clients"].iloc[[0]].assign(client_id="none")], ignore_index=True)
    cohort = build_cohort(t, SETTINGS, EXTRACT_DATE)
    flow = cohort.flow
    assert flow["n_excluded"].tolist() == [0, 1, 1, 1, 0]
    assert flow["n_remaining"].tolist() == [5, 4, 3, 2, 2]
    assert (
        flow["n_remaining"].iloc[0] - flow["n_excluded"].sum() == flow["n_remaining"].iloc[-1] == len(cohort.analysis)
    )
    assert set(cohort.analysis["client_id"]) == {"ok", "edge"}


def test_empty_cohort_is_a_clear_error():
    with pytest.raises(AnalysisError, match="no client is eligible"):
        build_cohort(tables({"few": [("2024-01-02", "A")] * 2}), SETTINGS, EXTRACT_DATE)


def test_instrument_first_worker_left_inside_window():
    seq = {
        c: [("2024-01-02", w), ("2024-01-09", "B"), ("2024-01-16", "B"), ("2024-01-23", "B")]
        for c, w in (("left", "A"), ("after", "C"), ("stays", "D"), ("unlisted", "E"))
    }
    workers = pd.DataFrame(
        {"worker_id": ["A", "B", "C", "D"], "end_date": pd.to_datetime(["2024-01-10", None, "2024-03-01", None])}
    )
    c = build_cohort(tables(seq, workers=workers), SETTINGS, EXTRACT_DATE).analysis.set_index("client_id")[
        "first_worker_left"
    ]
    assert c["left"] == 1 and c["after"] == 0 and c["stays"] == 0 and pd.isna(c["unlisted"])
    no_workers = build_cohort(tables(seq), SETTINGS, EXTRACT_DATE).analysis["first_worker_left"]
    assert no_workers.isna().all()


def test_outcome_timing_rules_and_outcome_flow():
    seq = {
        c: [("2024-01-02", "A"), ("2024-01-09", "A"), ("2024-01-16", "A"), ("2024-01-23", "A")]
        for c in ("in", "before", "on", "late", "undated", "none")
    }
    outcomes = pd.DataFrame(
        {
            "client_id": ["in", "before", "on", "late", "undated", "in", "late"],
            "outcome": ["job_start"] * 5 + ["income", "income"],
            "value": [1.0, 1.0, 1.0, 1.0, 1.0, 250.0, 99.0],
            "outcome_date": pd.to_datetime(
                ["2024-03-01", "2024-01-10", "2024-01-23", "2024-06-01", None, "2024-03-01", "2024-06-01"]
            ),
        }
    )
    cohort = build_cohort(tables(seq, outcomes=outcomes), SETTINGS, EXTRACT_DATE)
    a = cohort.analysis.set_index("client_id")
    assert a.loc["in", "job_start"] == 1.0
    assert np.isnan(a.loc["before", "job_start"]) and np.isnan(a.loc["on", "job_start"])  # on index date: excluded
    assert a.loc["late", "job_start"] == 0.0  # event after 100 days of follow-up: 0 within follow-up
    assert np.isnan(a.loc["undated", "job_start"]) and np.isnan(a.loc["none", "job_start"])
    assert a.loc["in", "income"] == 250.0 and np.isnan(a.loc["late", "income"])
    f = cohort.outcome_flow
    job = f[f["outcome"] == "job_start"]
    assert job["n_excluded"].tolist() == [0, 0, 1, 1, 2, 0, 0, 0]
    assert job["n_remaining"].iloc[-1] == 2 == a["job_start"].notna().sum()
    income = f[f["outcome"] == "income"]
    assert income["n_remaining"].iloc[-1] == 1 == a["income"].notna().sum()


def test_threshold_is_inclusive_and_configurable_index():
    seq = {"a": [("2024-01-02", "A"), ("2024-01-09", "A"), ("2024-01-16", "B"), ("2024-01-23", "B")]}
    cfg = Settings.from_sections({**CFG, "exposure": {**CFG["exposure"], "index": "coc", "threshold": 1 / 3}})
    c = build_cohort(tables(seq), cfg, EXTRACT_DATE).analysis.iloc[0]
    assert c["coc"] == pytest.approx(1 / 3) and c["treatment"] == 1


def test_design_pools_rare_levels():
    from deepvalue.adjust.design import covariate_design

    df = pd.DataFrame(
        {
            "service": "a",
            "site": ["S1"] * 50 + ["S2"] * 40 + ["S3"] * 5 + ["S4"] * 3,
            "start_quarter": ["2024Q1"] * 97 + ["2024Q2"],
        }
    )
    d = covariate_design(df, [])
    # S3 and S4 (8 clients) pool into "(other)", still under 20, so they join the reference S1;
    # the single client of 2024Q2 joins 2024Q1, which leaves start_quarter constant
    assert d.columns == ["site=S2"]
    assert d.pooled == {"site": ["S3", "S4"], "start_quarter": ["2024Q2"]}
    big = covariate_design(df, [], min_level_size=3)
    assert big.columns == ["site=S2", "site=S3", "site=S4"]
