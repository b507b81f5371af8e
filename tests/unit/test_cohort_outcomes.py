"""Outcome timing by recording (issue 14): events, undated binary 0s, follow-up cut short by the extract date.

Expected values are worked by hand from the rules in ``deepvalue.cohort.outcomes``; the random case
is checked against a plain per-client loop (the slow obvious version is the oracle).
"""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np
import pandas as pd
import pytest

from deepvalue.cohort.build import build_cohort
from deepvalue.core.settings import Settings

# every client's four contacts are weekly from 2024-01-02, so the index date is 2024-01-23
INDEX = pd.Timestamp("2024-01-23")
WEEKLY = [("2024-01-02", "A"), ("2024-01-09", "A"), ("2024-01-16", "A"), ("2024-01-23", "A")]


def settings(*outcomes: dict) -> Settings:
    return Settings.from_sections(
        {
            "exposure": {"index": "upc", "threshold": 0.75, "window_contacts": 4, "window_max_days": 120},
            "covariates": [],
            "outcomes": list(outcomes),
        }
    )


def tables(contacts: dict[str, list[tuple[str, str]]], outcomes: list[tuple]) -> dict[str, pd.DataFrame]:
    """Canonical tables; ``outcomes`` rows are (client, outcome, value, date or None)."""
    ids = list(contacts)
    clients = pd.DataFrame(
        {
            "client_id": ids,
            "service": "employment",
            "site": "S01",
            "start_date": pd.to_datetime(["2024-01-01"] * len(ids)),
            "source_row": np.arange(len(ids)) + 2,
        }
    )
    rows = [(c, w, pd.Timestamp(d)) for c, seq in contacts.items() for d, w in seq]
    contact_frame = pd.DataFrame(rows, columns=["client_id", "worker_id", "contact_date"])
    contact_frame["source_row"] = np.arange(len(contact_frame)) + 2
    frame = pd.DataFrame(outcomes, columns=["client_id", "outcome", "value", "outcome_date"])
    frame["outcome_date"] = pd.to_datetime(frame["outcome_date"])
    frame["value"] = frame["value"].astype(float)
    frame["source_row"] = np.arange(len(frame)) + 2
    return {"clients": clients, "contacts": contact_frame, "outcomes": frame}


def day(n: int) -> str:
    """The date n days after the index date."""
    return (INDEX + pd.Timedelta(days=n)).strftime("%Y-%m-%d")


def sha256_ids(ids) -> str:
    """The fingerprint truth.json gives a population (SHA-256 of the sorted ids, one a line)."""
    return hashlib.sha256("\n".join(sorted(ids)).encode("utf-8")).hexdigest()


def flow_of(cohort, name: str) -> list[tuple]:
    f = cohort.outcome_flow
    f = f[f["outcome"] == name]
    return list(zip(f["step"], f["n_remaining"], f["n_excluded"], f["reason"], strict=True))


def test_measured_binary_with_undated_zeros_gives_the_column_of_dated_zeros():
    # today's export: a row per client, 1 with the date achieved, 0 with no date. Before issue 14
    # every undated 0 was excluded as "timing unknown" and only the 1s were left.
    people = {f"c{i}": WEEKLY for i in range(6)}
    values = [1, 0, 1, 0, 0, 1]
    spec = {"name": "job_start", "type": "binary", "follow_up_days": 100}
    dated = [(c, "job_start", v, day(30) if v else day(100)) for c, v in zip(people, values, strict=True)]
    undated = [(c, "job_start", v, day(30) if v else None) for c, v in zip(people, values, strict=True)]
    a = build_cohort(tables(people, dated), settings(spec), "2025-12-31").analysis["job_start"]
    b = build_cohort(tables(people, undated), settings(spec), "2025-12-31").analysis["job_start"]
    assert b.tolist() == a.tolist() == [1.0, 0.0, 1.0, 0.0, 0.0, 1.0]
    # an undated 1 still cannot be placed in time
    one = build_cohort(tables({"x": WEEKLY}, [("x", "job_start", 1, None)]), settings(spec), "2025-12-31")
    assert np.isnan(one.analysis["job_start"].iloc[0])


def test_events_binary_and_count_from_occurrence_rows():
    people = {name: WEEKLY for name in ("twice", "before", "late", "edge", "none", "on_index")}
    rows = [
        ("twice", "job_start", 1, day(10)),
        ("twice", "job_start", 1, day(50)),
        ("twice", "crisis", 1, day(10)),
        ("twice", "crisis", 1, day(50)),
        ("twice", "crisis", 1, day(400)),  # after the 365 days: not counted
        ("before", "job_start", 1, day(-5)),  # in the exposure window: ignored, the client stays in
        ("before", "crisis", 1, day(-5)),
        ("late", "job_start", 1, day(101)),
        ("edge", "job_start", 1, day(100)),  # the last day of follow-up counts
        ("edge", "crisis", 1, day(365)),
        ("on_index", "job_start", 1, day(0)),
    ]
    cfg = settings(
        {"name": "job_start", "type": "binary", "follow_up_days": 100, "recorded": "events"},
        {"name": "crisis", "type": "count", "follow_up_days": 365, "recorded": "events"},
    )
    cohort = build_cohort(tables(people, rows), cfg, "2025-12-31")
    a = cohort.analysis.set_index("client_id")
    assert a["job_start"].to_dict() == {
        "twice": 1.0,
        "before": 0.0,
        "late": 0.0,
        "edge": 1.0,
        "none": 0.0,
        "on_index": 0.0,
    }
    assert a["crisis"].to_dict() == {
        "twice": 2.0,
        "before": 0.0,
        "late": 0.0,
        "edge": 1.0,
        "none": 0.0,
        "on_index": 0.0,
    }
    job = flow_of(cohort, "job_start")
    assert [(s, r, e) for s, r, e, _ in job] == [
        ("cohort", 6, 0),
        ("excluded", 6, 0),
        ("excluded", 6, 0),
        ("analysed", 6, 0),
        ("counted", 2, 4),
        ("counted", 0, 2),
    ]
    assert job[4][3] == "no occurrence in the follow-up window: value 0"
    assert job[5][3] == "an occurrence in the follow-up window: value 1"
    assert flow_of(cohort, "crisis")[5][3] == "occurrences in the follow-up window: value = their number"


def test_follow_up_not_complete_at_the_extract_date_is_excluded_for_every_outcome_with_its_flow_row():
    early = WEEKLY  # index 2024-01-23
    late = [("2024-06-03", "A"), ("2024-06-10", "A"), ("2024-06-17", "A"), ("2024-06-24", "A")]  # index 2024-06-24
    people = {"early": early, "late": late, "late2": late}
    rows = [
        ("early", "job_start", 1, day(30)),
        ("late", "job_start", 1, "2024-07-01"),  # in the window, but the window has not closed
        ("early", "income", 100.0, day(30)),
        ("late", "income", 100.0, "2024-07-01"),
        ("late2", "income", 50.0, "2024-07-01"),
    ]
    cfg = settings(
        {"name": "job_start", "type": "binary", "follow_up_days": 100, "recorded": "events"},
        {"name": "income", "type": "continuous", "follow_up_days": 100},
    )
    # early's window closes on 2024-05-02, late's on 2024-10-02
    extract_date = dt.date(2024, 9, 30)
    cohort = build_cohort(tables(people, rows), cfg, extract_date)
    a = cohort.analysis.set_index("client_id")
    assert a.loc["early", "job_start"] == 1.0 and a.loc["early", "income"] == 100.0
    assert a.loc[["late", "late2"], ["job_start", "income"]].isna().all().all()
    reason = "follow-up not complete at the extract date (index date + 100 days after 2024-09-30)"
    for name in ("job_start", "income"):
        assert flow_of(cohort, name)[1] == ("excluded", 1, 2, reason)
    # on the day the window closes the follow-up is complete
    closes = build_cohort(tables(people, rows), cfg, "2024-10-02").analysis.set_index("client_id")
    assert closes.loc["late", "job_start"] == 1.0 and closes.loc["late2", "income"] == 50.0
    assert closes.loc["late2", "job_start"] == 0.0


def test_undated_occurrence_excludes_its_client_for_that_outcome_only():
    people = {"undated": WEEKLY, "dated_and_undated": WEEKLY, "clean": WEEKLY}
    rows = [
        ("undated", "job_start", 1, None),
        ("dated_and_undated", "job_start", 1, day(10)),
        ("dated_and_undated", "job_start", 1, None),
        ("clean", "job_start", 1, day(10)),
        ("undated", "crisis", 1, day(10)),
    ]
    cfg = settings(
        {"name": "job_start", "type": "binary", "follow_up_days": 100, "recorded": "events"},
        {"name": "crisis", "type": "count", "follow_up_days": 100, "recorded": "events"},
    )
    cohort = build_cohort(tables(people, rows), cfg, "2025-12-31")
    a = cohort.analysis.set_index("client_id")
    assert np.isnan(a.loc["undated", "job_start"]) and np.isnan(a.loc["dated_and_undated", "job_start"])
    assert a.loc["clean", "job_start"] == 1.0
    assert a["crisis"].to_dict() == {"undated": 1.0, "dated_and_undated": 0.0, "clean": 0.0}
    assert flow_of(cohort, "job_start")[2] == ("excluded", 1, 2, "undated occurrence: timing unknown")


def test_services_limit_an_outcome_to_the_clients_it_applies_to():
    t = tables({"emp": WEEKLY, "wel": WEEKLY, "emp2": WEEKLY}, [("emp", "job_start", 1, day(10))])
    t["clients"]["service"] = ["employment", "welfare_advice", "employment"]
    spec = {"name": "job_start", "type": "binary", "follow_up_days": 100, "recorded": "events"}
    cohort = build_cohort(t, settings({**spec, "services": ["employment"]}), "2025-12-31")
    np.testing.assert_array_equal(cohort.analysis["job_start"], [1.0, np.nan, 0.0])  # emp, wel, emp2
    assert flow_of(cohort, "job_start")[1] == (
        "excluded",
        2,
        1,
        "service without this outcome (outcomes.services: employment)",
    )
    # without services, a welfare client without a job start row had none
    everyone = build_cohort(t, settings(spec), "2025-12-31").analysis["job_start"]
    assert everyone.tolist() == [1.0, 0.0, 0.0]


def _oracle(index: pd.Series, rows: pd.DataFrame, kind: str, days: int, extract_date: pd.Timestamp) -> dict:
    """The rules written out client by client."""
    out = {}
    for client, idx in index.items():
        if idx + pd.Timedelta(days=days) > extract_date:
            out[client] = np.nan
            continue
        mine = rows[rows["client_id"] == client]
        if mine["outcome_date"].isna().any():
            out[client] = np.nan
            continue
        n = 0
        for when in mine["outcome_date"]:
            if idx < when <= idx + pd.Timedelta(days=days):
                n += 1
        out[client] = float(n) if kind == "count" else float(n > 0)
    return out


@pytest.mark.parametrize("kind", ["binary", "count"])
def test_events_agree_with_a_per_client_loop_and_the_flow_accounts_for_every_client(kind):
    rng = np.random.default_rng(14)
    n = 300
    people = {}
    for i in range(n):
        first = pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(rng.integers(0, 300)))
        people[f"c{i:03d}"] = [((first + pd.Timedelta(days=7 * j)).strftime("%Y-%m-%d"), "A") for j in range(4)]
    rows = []
    for i in range(n):
        base = pd.Timestamp(people[f"c{i:03d}"][3][0])
        for _ in range(int(rng.poisson(1.5))):
            when = (
                None
                if rng.random() < 0.05
                else (base + pd.Timedelta(days=int(rng.integers(-30, 250)))).strftime("%Y-%m-%d")
            )
            rows.append((f"c{i:03d}", "y", 1, when))
    days, extract_date = 182, pd.Timestamp("2024-12-31")
    cfg = settings({"name": "y", "type": kind, "follow_up_days": days, "recorded": "events"})
    t = tables(people, rows)
    cohort = build_cohort(t, cfg, extract_date.date())
    a = cohort.analysis.set_index("client_id")
    expected = _oracle(a["index_date"], t["outcomes"], kind, days, extract_date)
    np.testing.assert_array_equal(a["y"].to_numpy(), np.array([expected[c] for c in a.index]))
    flow = flow_of(cohort, "y")
    steps = [s for s, *_ in flow]
    assert steps == ["cohort", "excluded", "excluded", "analysed", "counted", "counted"]
    # every client once: excluded for follow-up, excluded as undated, counted 0, counted >= 1
    assert sum(e for _, _, e, _ in flow) == n == flow[0][1]
    assert flow[3][1] == a["y"].notna().sum() and flow[-1][1] == 0
    incomplete = (a["index_date"] + pd.Timedelta(days=days) > extract_date).sum()
    assert 0 < flow[1][2] == incomplete and flow[2][2] > 0
    for prev, row in zip(flow, flow[1:]):
        assert prev[1] - row[2] == row[1]  # n_remaining chains, so disclosure control can audit the table


def _synthetic_cohort(tmp_path, recording: str, seed: int = 4, edit=None):
    """The cohort of a generated extract run through ingest, with its truth; ``edit`` changes the
    outcomes CSV first."""
    from deepvalue.core.settings import load_settings
    from deepvalue.extract.ingest import ingest_extract
    from deepvalue.synth.generate import generate_extract
    from deepvalue.synth.write import write_extract

    extract = generate_extract(3000, seed=seed, recording=recording)
    paths = write_extract(extract, tmp_path / recording)
    if edit is not None:
        frame = pd.read_csv(paths["outcomes"], dtype=str, keep_default_na=False)
        edit(frame).to_csv(paths["outcomes"], index=False)
    cfg = load_settings(paths["config"])
    ingested = ingest_extract(cfg)
    return build_cohort(ingested.tables, cfg, ingested.extract_date), extract.truth


def test_events_extract_gives_the_outcomes_of_the_measured_extract_of_the_same_world(tmp_path):
    measured, _ = _synthetic_cohort(tmp_path, "measured")
    events, truth = _synthetic_cohort(tmp_path, "events")
    m = measured.analysis.set_index("client_id")
    e = events.analysis.set_index("client_id")
    for name in ("job_start", "crisis_contacts", "income_gain_gbp"):
        both = m.index[m[name].notna()].intersection(e.index[e[name].notna()])
        assert len(both) > 500, name
        pd.testing.assert_series_equal(m.loc[both, name], e.loc[both, name], check_names=False)
        # and the pipeline analyses exactly the truth's population
        analysed = e.index[e[name].notna()]
        t = truth["outcomes"][name]
        assert sha256_ids(analysed) == t["population_sha256"], name
        assert e.loc[analysed, "treatment"].sum() == t["n_treated"], name
    # job starts of welfare clients are not "no job start": their service has no such outcome
    f = events.outcome_flow
    job = f[f["outcome"] == "job_start"]
    assert job["reason"].iloc[1] == "service without this outcome (outcomes.services: employment)"
    assert job["n_excluded"].iloc[1] == (e["service"] != "employment").sum()
    assert job["n_excluded"].iloc[2] == truth["outcomes"]["job_start"]["n_excluded_follow_up_incomplete"] > 0


def test_synthetic_binary_with_undated_zeros_gives_the_measured_column(tmp_path):
    measured, _ = _synthetic_cohort(tmp_path, "measured", seed=5)
    index = measured.analysis.set_index("client_id")["index_date"]

    def undate_zeros(frame):
        # the export of issue 14: 1 with the date achieved, 0 with no date (a 0 dated in the
        # exposure window stays dated, so that it is still excluded as overlapping it)
        when = pd.to_datetime(frame["outcome_date"])
        after = when.to_numpy() > frame["client_id"].map(index).to_numpy(dtype="datetime64[ns]")
        zero = (frame["outcome"] == "job_start") & (frame["value"] == "0") & after
        frame.loc[zero, "outcome_date"] = ""
        assert zero.sum() > 500
        return frame

    undated, _ = _synthetic_cohort(tmp_path / "undated", "measured", seed=5, edit=undate_zeros)
    pd.testing.assert_series_equal(undated.analysis["job_start"], measured.analysis["job_start"])


def test_time_to_event_censors_incomplete_follow_up_at_the_extract_date():
    """km_ipw's columns: days to the first occurrence in the window (observed, follow-up complete or
    not), else censored at the horizon or at the extract date; other services and undated
    occurrences get no time; time_to_event: false gives no columns and the same outcome flow."""
    from deepvalue.cohort.outcomes import time_to_event_columns

    late = [("2024-06-03", "A"), ("2024-06-10", "A"), ("2024-06-17", "A"), ("2024-06-24", "A")]  # index 2024-06-24
    people = {"early": WEEKLY, "early_none": WEEKLY, "late": late, "late_none": late, "undated": WEEKLY, "wel": late}
    rows = [
        ("early", "job_start", 1, day(30)),
        ("early", "job_start", 1, day(60)),  # the first occurrence counts
        ("early_none", "job_start", 1, day(101)),  # after the window: censored at the horizon
        ("late", "job_start", 1, "2024-07-01"),  # 7 days after the index date, follow-up not complete
        ("undated", "job_start", 1, None),
    ]
    t = tables(people, rows)
    t["clients"]["service"] = ["employment"] * 5 + ["welfare_advice"]
    spec = {"name": "job_start", "type": "binary", "follow_up_days": 100, "recorded": "events"}
    cohort = build_cohort(t, settings({**spec, "services": ["employment"]}), dt.date(2024, 9, 30))
    days, event = time_to_event_columns("job_start")
    a = cohort.analysis.set_index("client_id")
    assert a[days].to_dict() == pytest.approx(
        {"early": 30.0, "early_none": 100.0, "late": 7.0, "late_none": 98.0, "undated": np.nan, "wel": np.nan},
        nan_ok=True,
    )
    assert a[event].dropna().to_dict() == {"early": 1.0, "early_none": 0.0, "late": 1.0, "late_none": 0.0}
    # the outcome column itself still excludes the incomplete follow-up
    assert a["job_start"].dropna().to_dict() == {"early": 1.0, "early_none": 0.0}
    # the outcome flow is the same with or without it (its rows chain; km_ipw's notes count the censored)
    off = build_cohort(t, settings({**spec, "services": ["employment"], "time_to_event": False}), dt.date(2024, 9, 30))
    assert days not in off.analysis and flow_of(off, "job_start") == flow_of(cohort, "job_start")
