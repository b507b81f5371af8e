"""Tests of the synthetic extract generator (deepvalue.synth).

The key check is that an independent, deliberately plain pandas re-computation of exposure
from the written CSVs reproduces the generator's own treatment, eligibility and analysis
populations (compared through the SHA-256 fingerprints in truth.json), so the truth is computed
over exactly the population the pipeline will build.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from numpy.testing import assert_allclose

from deepvalue.synth.generate import SyntheticExtract, _window_continuity, generate_extract
from deepvalue.synth.write import DEFAULT_EXPOSURE, OUTCOMES, write_extract

N_SMALL = 2000
# responses.csv: the questionnaire answers (issue 15)
FILES = ("clients.csv", "contacts.csv", "outcomes.csv", "workers.csv", "responses.csv", "truth.json", "config.yaml")


# --------------------------------------------------------------------------------------------
# fixtures and an independent, obviously-correct re-computation
# --------------------------------------------------------------------------------------------


def read_tables(paths: dict[str, Path]) -> dict[str, pd.DataFrame]:
    """Read the CSVs as a user would, with ids as strings and dates parsed."""
    ids = {c: str for c in ("client_id", "worker_id", "contact_id")}
    return {
        "clients": pd.read_csv(paths["clients"], dtype=ids, parse_dates=["start_date"]),
        "contacts": pd.read_csv(paths["contacts"], dtype=ids, parse_dates=["contact_date"]),
        "outcomes": pd.read_csv(paths["outcomes"], dtype=ids, parse_dates=["outcome_date"]),
        "workers": pd.read_csv(paths["workers"], dtype=ids, parse_dates=["start_date", "end_date"]),
    }


def recompute_exposure(contacts: pd.DataFrame, exposure: dict) -> pd.DataFrame:
    """Eligibility, continuity index and treatment per client, straight from DESIGN section 5.

    Returns one row per client with at least one contact: eligible, index (NaN if ineligible),
    treated, first_date, index_date (K-th contact date), first_worker.
    """
    k, max_days = exposure["window_contacts"], exposure["window_max_days"]
    c = contacts.sort_values(["client_id", "contact_date", "contact_id"]).copy()
    c["position"] = c.groupby("client_id").cumcount()
    c["first_date"] = c.groupby("client_id")["contact_date"].transform("min")
    window = c[(c["position"] < k) & ((c["contact_date"] - c["first_date"]).dt.days <= max_days)]
    per_client = window.groupby("client_id").agg(
        n_window=("position", "size"),
        first_date=("first_date", "first"),
        index_date=("contact_date", "max"),
    )
    per_client["first_worker"] = window[window["position"] == 0].set_index("client_id")["worker_id"]
    per_client["eligible"] = per_client["n_window"] == k
    w = window[window["client_id"].isin(per_client.index[per_client["eligible"]])]
    n_i = w.groupby(["client_id", "worker_id"]).size()
    if exposure["index"] == "upc":
        value = n_i.groupby(level="client_id").max() / k
    elif exposure["index"] == "secon":
        same_next = w["worker_id"].eq(w.groupby("client_id")["worker_id"].shift(-1))
        value = same_next.groupby(w["client_id"]).sum() / (k - 1)
    else:
        raise ValueError(f"this reference covers upc and secon only, not {exposure['index']!r}")
    per_client["index"] = value
    per_client["treated"] = per_client["eligible"] & (per_client["index"] >= exposure["threshold"])
    return per_client


def sha256_ids(ids) -> str:
    return hashlib.sha256("\n".join(sorted(ids)).encode("utf-8")).hexdigest()


def analysis_population(tables: dict[str, pd.DataFrame], exposure: pd.DataFrame, outcome: str) -> pd.DataFrame:
    """Eligible clients with `outcome` dated after the index date and within follow-up."""
    o = tables["outcomes"][tables["outcomes"]["outcome"] == outcome]
    o = o.merge(exposure[exposure["eligible"]], left_on="client_id", right_index=True)
    follow_up = pd.to_timedelta(OUTCOMES[outcome]["follow_up_days"], unit="D")
    keep = (o["outcome_date"] > o["index_date"]) & (o["outcome_date"] <= o["index_date"] + follow_up)
    return o[keep]


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> tuple[SyntheticExtract, dict[str, Path], dict[str, pd.DataFrame]]:
    extract = generate_extract(N_SMALL, seed=1)
    paths = write_extract(extract, tmp_path_factory.mktemp("clean"))
    return extract, paths, read_tables(paths)


@pytest.fixture(scope="module")
def messy(tmp_path_factory) -> tuple[SyntheticExtract, dict[str, Path], dict[str, pd.DataFrame]]:
    extract = generate_extract(N_SMALL, seed=1, messy=True)
    paths = write_extract(extract, tmp_path_factory.mktemp("messy"))
    return extract, paths, read_tables(paths)


@pytest.fixture(scope="module")
def large(tmp_path_factory) -> tuple[SyntheticExtract, dict[str, pd.DataFrame], pd.DataFrame]:
    extract = generate_extract(20_000, seed=7)
    paths = write_extract(extract, tmp_path_factory.mktemp("large"))
    tables = read_tables(paths)
    return extract, tables, recompute_exposure(tables["contacts"], DEFAULT_EXPOSURE)


# --------------------------------------------------------------------------------------------
# determinism
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("messy_mode", [False, True])
def test_same_seed_gives_identical_file_bytes(tmp_path, monkeypatch, messy_mode):
    written = []
    for run in ("a", "b"):
        (tmp_path / run).mkdir()
        monkeypatch.chdir(tmp_path / run)  # same relative out_dir, so config.yaml can match too
        paths = write_extract(generate_extract(N_SMALL, seed=5, messy=messy_mode), "extract")
        written.append({name: (tmp_path / run / p).read_bytes() for name, p in paths.items()})
    assert written[0].keys() == written[1].keys()
    for name in written[0]:
        assert written[0][name] == written[1][name], name


def test_different_seed_gives_different_files(tmp_path):
    a = write_extract(generate_extract(N_SMALL, seed=1), tmp_path / "a")
    b = write_extract(generate_extract(N_SMALL, seed=2), tmp_path / "b")
    for name in ("clients", "contacts", "outcomes", "truth"):
        assert a[name].read_bytes() != b[name].read_bytes(), name


# --------------------------------------------------------------------------------------------
# shape of the tables
# --------------------------------------------------------------------------------------------


def test_tables_have_exact_columns_and_dtypes(clean):
    extract, _, _ = clean
    expected = {
        "clients": {
            "client_id": "str",
            "service": "str",
            "site": "str",
            "start_date": "datetime64[s]",
            "age": "int64",
            "sex": "str",
            "disability": "int64",
            "language_need": "int64",
            "n_issues": "int64",
            "prior_unemployed_months": "int64",
            "ethnicity": "str",
        },
        "contacts": {
            "contact_id": "str",
            "client_id": "str",
            "worker_id": "str",
            "contact_date": "datetime64[s]",
            "mode": "str",
            "duration_minutes": "int64",
        },
        "outcomes": {
            "client_id": "str",
            "outcome": "str",
            "value": "float64",
            "outcome_date": "datetime64[s]",
        },
        "workers": {
            "worker_id": "str",
            "site": "str",
            "start_date": "datetime64[s]",
            "end_date": "datetime64[s]",
        },
    }
    for table, columns in expected.items():
        frame = getattr(extract, table)
        assert list(frame.columns) == list(columns), table
        for column, dtype in columns.items():
            assert str(frame[column].dtype) == dtype, (table, column)


def test_values_follow_the_documented_domains(clean):
    extract, _, _ = clean
    clients, contacts = extract.clients, extract.contacts
    assert set(clients["service"]) == {"employment", "welfare_advice"}
    assert set(clients["site"]) == {f"S0{i}" for i in range(1, 7)}
    assert set(clients["sex"]) == {"F", "M"}
    assert set(clients["ethnicity"]) <= {"White", "Asian", "Black", "Mixed", "Other"}
    assert clients["n_issues"].between(1, 6).all()
    assert clients["age"].between(18, 90).all()
    assert set(clients["disability"]) | set(clients["language_need"]) == {0, 1}
    assert (clients["prior_unemployed_months"] >= 0).all()
    assert clients["client_id"].str.fullmatch(r"C\d{7}").all()
    assert contacts["contact_id"].str.fullmatch(r"K\d{8}").all()
    assert extract.workers["worker_id"].str.fullmatch(r"W\d{5}").all()
    assert set(contacts["mode"]) == {"in_person", "phone", "video"}
    assert (contacts["duration_minutes"] > 0).all()
    per_client = contacts.groupby("client_id").size()
    assert 7.0 <= per_client.mean() <= 9.0
    # workers ~ n_clients / 50 over time, at least a few per site
    assert extract.workers.groupby("site").size().min() >= 3


def test_written_csvs_have_iso_dates_no_index_and_fixed_values(clean):
    _, paths, _ = clean
    header = paths["contacts"].read_text().splitlines()[0]
    assert header == "contact_id,client_id,worker_id,contact_date,mode,duration_minutes"
    first = paths["workers"].read_text().splitlines()[1].split(",")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", first[2])
    values = pd.read_csv(paths["outcomes"], dtype=str)
    income = values.loc[values["outcome"] == "income_gain_gbp", "value"]
    assert income.str.fullmatch(r"-?\d+\.\d{2}").all()
    others = values.loc[values["outcome"] != "income_gain_gbp", "value"]
    assert others.str.fullmatch(r"\d+").all()


# --------------------------------------------------------------------------------------------
# integrity and realism of the clean extract
# --------------------------------------------------------------------------------------------


def test_clean_extract_is_referentially_intact(clean):
    extract, _, t = clean
    clients, contacts, outcomes, workers = t["clients"], t["contacts"], t["outcomes"], t["workers"]
    extract_date = pd.Timestamp(extract.extract_date)
    assert clients["client_id"].is_unique and workers["worker_id"].is_unique
    assert contacts["contact_id"].is_unique
    assert contacts["client_id"].isin(clients["client_id"]).all()
    assert contacts["worker_id"].isin(workers["worker_id"]).all()
    assert outcomes["client_id"].isin(clients["client_id"]).all()
    assert clients["client_id"].isin(contacts["client_id"]).all()
    c = contacts.merge(clients[["client_id", "site", "start_date"]], on="client_id")
    c = c.merge(workers, on="worker_id", suffixes=("", "_worker"))
    assert (c["contact_date"] >= c["start_date"]).all()
    assert (c["contact_date"] < extract_date).all()
    # the worker seen works at the client's site and is in post on the contact date
    assert (c["site"] == c["site_worker"]).all()
    assert (c["contact_date"] >= c["start_date_worker"]).all()
    assert (c["end_date"].isna() | (c["contact_date"] <= c["end_date"])).all()
    assert (workers["start_date"] < extract_date).all()
    assert (workers["end_date"].dropna() < extract_date).all()
    assert (outcomes["outcome_date"] < extract_date).all()


def test_one_outcome_row_per_client_and_applicable_outcome(clean):
    _, _, t = clean
    o = t["outcomes"].merge(t["clients"][["client_id", "service"]], on="client_id")
    assert not o.duplicated(["client_id", "outcome"]).any()
    for name, spec in OUTCOMES.items():
        applicable = t["clients"]["service"].isin(spec["services"])
        assert (o["outcome"] == name).sum() == applicable.sum(), name
        assert o.loc[o["outcome"] == name, "service"].isin(spec["services"]).all(), name
    assert set(o.loc[o["outcome"] == "job_start", "value"]) == {0, 1}
    crisis = o.loc[o["outcome"] == "crisis_contacts", "value"]
    assert (crisis >= 0).all() and (crisis == crisis.round()).all()


def test_outcome_dates_follow_the_index_date_with_a_small_early_share(clean):
    _, _, t = clean
    exposure = recompute_exposure(t["contacts"], DEFAULT_EXPOSURE)
    for name, spec in OUTCOMES.items():
        o = t["outcomes"][t["outcomes"]["outcome"] == name]
        o = o.merge(exposure[exposure["eligible"]], left_on="client_id", right_index=True)
        follow_up = pd.Timedelta(days=spec["follow_up_days"])
        early = o["outcome_date"] <= o["index_date"]
        assert 0.005 <= early.mean() <= 0.04, name
        assert (o["outcome_date"] >= o["first_date"]).all(), name
        assert (o["outcome_date"] <= o["index_date"] + follow_up).all(), name
        on_time = o[~early]
        at_end = on_time["outcome_date"] == on_time["index_date"] + follow_up
        if spec["type"] == "binary":
            # events at the event, non-events when follow-up ends
            assert at_end[on_time["value"] == 0].all()
            assert not at_end[on_time["value"] == 1].all()
        else:
            assert at_end.all(), name


def test_some_clients_are_ineligible(clean):
    _, _, t = clean
    exposure = recompute_exposure(t["contacts"], DEFAULT_EXPOSURE)
    share_eligible = exposure["eligible"].mean()
    assert 0.6 <= share_eligible <= 0.9


# --------------------------------------------------------------------------------------------
# the truth is the pipeline's population
# --------------------------------------------------------------------------------------------


def test_independent_exposure_recomputation_matches_generator(clean):
    extract, _, t = clean
    truth = extract.truth
    exposure = recompute_exposure(t["contacts"], DEFAULT_EXPOSURE)
    eligible = exposure[exposure["eligible"]]
    assert truth["cohort"]["n_eligible"] == len(eligible)
    assert truth["cohort"]["n_treated"] == int(eligible["treated"].sum())
    assert truth["cohort"]["eligible_sha256"] == sha256_ids(eligible.index)
    assert truth["cohort"]["treated_sha256"] == sha256_ids(eligible.index[eligible["treated"]])
    for name in OUTCOMES:
        population = analysis_population(t, exposure, name)
        applicable = t["outcomes"]["outcome"] == name
        got = truth["outcomes"][name]
        assert got["n_eligible"] == int(t["outcomes"].loc[applicable, "client_id"].isin(eligible.index).sum())
        assert got["n_treated"] == int(population["treated"].sum()), name
        assert got["n_control"] == int((~population["treated"]).sum()), name
        assert got["n_treated"] + got["n_control"] + got["n_excluded_outcome_not_after_index"] == got["n_eligible"]
        assert got["population_sha256"] == sha256_ids(population["client_id"]), name
        assert got["treated_sha256"] == sha256_ids(population.loc[population["treated"], "client_id"]), name


def test_exposure_config_relabels_the_same_world(tmp_path):
    exposure = {"index": "secon", "threshold": 0.6, "window_contacts": 5, "window_max_days": 90}
    default = generate_extract(N_SMALL, seed=4)
    other = generate_extract(N_SMALL, seed=4, exposure=exposure)
    pd.testing.assert_frame_equal(default.clients, other.clients)
    pd.testing.assert_frame_equal(default.contacts, other.contacts)
    assert other.truth["exposure"] == exposure
    paths = write_extract(other, tmp_path)
    t = read_tables(paths)
    recomputed = recompute_exposure(t["contacts"], exposure)
    eligible = recomputed[recomputed["eligible"]]
    assert other.truth["cohort"]["eligible_sha256"] == sha256_ids(eligible.index)
    assert other.truth["cohort"]["treated_sha256"] == sha256_ids(eligible.index[eligible["treated"]])
    assert yaml.safe_load(paths["config"].read_text())["exposure"] == exposure


def test_treated_share_is_moderate_at_default_size():
    truth = generate_extract(5000, seed=1).truth
    assert 2000 <= truth["cohort"]["n_eligible"] <= 4500
    assert 0.3 <= truth["cohort"]["share_treated"] <= 0.6


def test_truth_values_are_finite_and_att_differs_from_ate(clean):
    extract, paths, _ = clean
    truth = json.loads(paths["truth"].read_text())
    assert truth == extract.truth
    for name, spec in OUTCOMES.items():
        got = truth["outcomes"][name]
        for key in ("att", "ate", "atc"):
            assert np.isfinite(got[key]), (name, key)
        assert abs(got["att"] - got["ate"]) > 0.01 * abs(got["ate"]), name
        assert got["scale"] == ("risk_difference" if spec["type"] == "binary" else "mean_difference")
    assert truth["outcomes"]["job_start"]["att"] > 0
    assert truth["outcomes"]["income_gain_gbp"]["att"] > 0
    assert truth["outcomes"]["crisis_contacts"]["att"] < 0
    assert truth["seed"] == 1 and truth["n_clients"] == N_SMALL and truth["messy"]["enabled"] is False
    assert truth["exposure"] == DEFAULT_EXPOSURE
    assert truth["extract_date"] == extract.extract_date.isoformat()
    assert {"generator_version", "dgp", "first_stage"} <= truth.keys()


def test_truth_json_has_sorted_keys_and_ten_significant_digits(clean):
    _, paths, _ = clean
    text = paths["truth"].read_text()
    assert text == json.dumps(json.loads(text), sort_keys=True, indent=2) + "\n"

    def floats(node):
        if isinstance(node, dict):
            for item in node.values():
                yield from floats(item)
        elif isinstance(node, list):
            for item in node:
                yield from floats(item)
        elif isinstance(node, float):
            yield node

    values = list(floats(json.loads(text)))
    assert values and all(float(f"{v:.10g}") == v for v in values)


# --------------------------------------------------------------------------------------------
# confounding and the instrument
# --------------------------------------------------------------------------------------------


def test_complexity_is_associated_with_lower_upc(large):
    _, t, exposure = large
    eligible = exposure[exposure["eligible"]].join(t["clients"].set_index("client_id"))
    by_disability = eligible.groupby("disability")["index"].mean()
    assert by_disability[1] < by_disability[0] - 0.05
    assert eligible["index"].corr(eligible["n_issues"], method="spearman") < -0.1
    assert eligible["index"].corr(eligible["prior_unemployed_months"], method="spearman") < -0.05


def test_naive_job_start_difference_exceeds_true_att(large):
    extract, t, exposure = large
    population = analysis_population(t, exposure, "job_start")
    groups = population.groupby("treated")["value"]
    mean, var, size = groups.mean(), groups.var(), groups.size()
    naive = mean[True] - mean[False]
    se = float(np.sqrt((var / size).sum()))
    att = extract.truth["outcomes"]["job_start"]["att"]
    assert naive - att > max(0.03, 3 * se)


def test_first_worker_departure_is_a_strong_instrument(large):
    extract, t, exposure = large
    eligible = exposure[exposure["eligible"]]
    end = eligible["first_worker"].map(t["workers"].set_index("worker_id")["end_date"])
    z = (end >= eligible["first_date"]) & (end <= eligible["index_date"])
    share = eligible.groupby(z)["treated"].mean()
    first_stage = extract.truth["first_stage"]
    assert first_stage["n_instrument_1"] == int(z.sum())
    assert_allclose(first_stage["share_treated_instrument_1"], share[True], rtol=1e-9)
    assert_allclose(first_stage["share_treated_instrument_0"], share[False], rtol=1e-9)
    assert share[False] - share[True] >= 0.1
    assert first_stage["share_difference"] >= 0.1


# --------------------------------------------------------------------------------------------
# messy mode
# --------------------------------------------------------------------------------------------


def test_messy_counts_equal_the_defect_rows_in_the_files(messy):
    extract, _, t = messy
    counts = extract.truth["messy"]
    contacts, clients = t["contacts"], t["clients"]
    assert counts["enabled"] is True
    known = contacts["client_id"].isin(clients["client_id"])
    c = contacts.merge(clients[["client_id", "start_date"]], on="client_id", how="left")
    found = {
        "duplicate_contacts": int(contacts.duplicated().sum()),
        "unknown_client_contacts": int((~known).sum()),
        "contacts_before_start": int((c["contact_date"] < c["start_date"]).sum()),
        "future_contacts": int((contacts["contact_date"] > pd.Timestamp(extract.extract_date)).sum()),
        "missing_age": int(clients["age"].isna().sum()),
        "missing_ethnicity": int(clients["ethnicity"].isna().sum()),
    }
    assert {key: counts[key] for key in found} == found
    # duplicates repeat the contact_id too; the defect kinds are disjoint
    assert contacts["contact_id"].duplicated().sum() == found["duplicate_contacts"]
    n_clean = len(contacts) - sum(v for k, v in found.items() if k.endswith("contacts") or k.startswith("contacts"))
    assert_allclose(found["duplicate_contacts"] / n_clean, 0.005, rtol=0.05)
    assert_allclose(found["unknown_client_contacts"] / n_clean, 0.003, rtol=0.05)
    assert_allclose(found["contacts_before_start"] / n_clean, 0.003, rtol=0.05)
    assert_allclose(found["future_contacts"] / n_clean, 0.002, rtol=0.05)
    assert_allclose(found["missing_age"] / len(clients), 0.03, rtol=0.05)


def test_dropping_messy_defects_recovers_the_clean_extract_and_truth(clean, messy):
    clean_extract, _, clean_t = clean
    messy_extract, _, t = messy
    contacts, clients = t["contacts"], t["clients"]
    c = contacts.drop_duplicates()
    c = c[c["client_id"].isin(clients["client_id"])]
    c = c.merge(clients[["client_id", "start_date"]], on="client_id")
    c = c[(c["contact_date"] >= c["start_date"]) & (c["contact_date"] <= pd.Timestamp(messy_extract.extract_date))]
    c = c.drop(columns="start_date").sort_values("contact_id").reset_index(drop=True)
    expected = clean_t["contacts"].sort_values("contact_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(c, expected)
    for table in ("outcomes", "workers"):
        pd.testing.assert_frame_equal(t[table], clean_t[table])
    same_columns = [col for col in clients.columns if col not in ("age", "ethnicity")]
    pd.testing.assert_frame_equal(clients[same_columns], clean_t["clients"][same_columns])
    assert messy_extract.truth["outcomes"] == clean_extract.truth["outcomes"]
    assert messy_extract.truth["cohort"] == clean_extract.truth["cohort"]


# --------------------------------------------------------------------------------------------
# config.yaml and inputs
# --------------------------------------------------------------------------------------------


def test_config_yaml_runs_the_workflow_on_the_written_extract(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    extract = generate_extract(200, seed=3)
    paths = write_extract(extract, Path("data") / "synthetic")
    assert sorted(p.name for p in paths.values()) == sorted(FILES)
    config = yaml.safe_load(paths["config"].read_text())
    for table in ("clients", "contacts", "outcomes", "workers", "responses"):
        assert config["extract"][table]["path"] == f"data/synthetic/{table}.csv"
        header = Path(config["extract"][table]["path"]).read_text().splitlines()[0].split(",")
        assert set(config["extract"][table]["columns"].values()) <= set(header)
    assert config["extract"]["extract_date"] == extract.extract_date.isoformat()
    assert config["extract"]["date_format"] is None
    assert config["synthetic"]["truth"] == "data/synthetic/truth.json"
    assert config["exposure"] == DEFAULT_EXPOSURE and config["seed"] == 3
    assert [o["name"] for o in config["outcomes"]] == list(OUTCOMES)
    assert [q["name"] for q in config["questionnaires"]] == ["wellbeing", "life_satisfaction", "alliance"]
    assert [c["name"] for c in config["covariates"]] == [
        "age",
        "sex",
        "disability",
        "language_need",
        "n_issues",
        "prior_unemployed_months",
        "ethnicity",
    ]


@pytest.mark.parametrize(
    "exposure",
    [
        {"index": "bogus"},
        {"threshold": 0},
        {"window_contacts": 1},
        {"window_max_days": 0},
        {"windw": 4},
    ],
)
def test_bad_exposure_is_refused(exposure):
    with pytest.raises(ValueError):
        generate_extract(10, exposure=exposure)


# Worked values from ../shared/reference/continuity_examples.csv (hand-worked, DESIGN section 5).
CONTINUITY_EXAMPLES = [
    ("A A B A C", 0.6, 0.3, 0.25, 0.44, 0.512195, 0.5),
    ("A A A B B B", 0.5, 0.4, 0.8, 0.5, 0.803922, 0.8),
    ("A B A B A B", 0.5, 0.4, 0.0, 0.5, 0.803922, 0.8),
    ("A B", 0.5, 0.0, 0.0, 0.5, 0.090909, 0.0),
    ("A A A A", 1.0, 1.0, 1.0, 1.0, 1.0, 1.0),
    ("A B C D", 0.25, 0.0, 0.0, 0.25, 0.032258, 0.0),
    ("A", 1.0, np.nan, np.nan, 1.0, 1.0, np.nan),
    ("A A A B", 0.75, 0.5, 0.666667, 0.625, 0.677419, 0.666667),
    ("A B B B", 0.75, 0.5, 0.666667, 0.625, 0.677419, 0.666667),
    ("A A B B", 0.5, 0.333333, 0.666667, 0.5, 0.677419, 0.666667),
    ("A B A B", 0.5, 0.333333, 0.0, 0.5, 0.677419, 0.666667),
    ("A B C A", 0.5, 0.166667, 0.0, 0.375, 0.354839, 0.333333),
]


@pytest.mark.parametrize("index_col", list(enumerate(["upc", "coc", "secon", "hhi", "mmci", "k"], start=1)))
def test_window_continuity_matches_worked_examples(index_col):
    column, index = index_col
    width = 6
    window = np.zeros((len(CONTINUITY_EXAMPLES), width), dtype=np.int64)
    n_valid = np.zeros(len(CONTINUITY_EXAMPLES), dtype=np.int64)
    for row, example in enumerate(CONTINUITY_EXAMPLES):
        codes = [ord(s) for s in example[0].split()]
        window[row, : len(codes)] = codes
        n_valid[row] = len(codes)
    expected = np.array([example[column] for example in CONTINUITY_EXAMPLES], dtype=float)
    assert_allclose(_window_continuity(window, n_valid, index), expected, atol=1e-6)


# --------------------------------------------------------------------------------------------
# event recording (issue 14)
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def events(tmp_path_factory) -> tuple[SyntheticExtract, dict[str, Path], dict[str, pd.DataFrame]]:
    extract = generate_extract(N_SMALL, seed=1, recording="events")
    paths = write_extract(extract, tmp_path_factory.mktemp("events"))
    return extract, paths, read_tables(paths)


def test_event_recording_writes_occurrence_rows_and_says_so_in_the_config(events, clean):
    extract, paths, t = events
    o = t["outcomes"]
    job, crisis = o[o["outcome"] == "job_start"], o[o["outcome"] == "crisis_contacts"]
    assert (job["value"] == 1).all() and (crisis["value"] == 1).all()
    assert job["outcome_date"].notna().all() and crisis["outcome_date"].notna().all()
    # a job start row only for clients who started (plus occurrences before or after the window)
    assert job["client_id"].nunique() < (t["clients"]["service"] == "employment").sum()
    assert crisis.duplicated("client_id").any()  # one row per crisis
    assert not crisis.duplicated(["client_id", "outcome_date"]).any()  # never twice on one day
    assert (o["outcome_date"] <= pd.Timestamp(extract.extract_date)).all()
    income = o[o["outcome"] == "income_gain_gbp"]
    assert not income.duplicated("client_id").any()  # continuous: still measured
    cfg = {x["name"]: x for x in yaml.safe_load(paths["config"].read_text())["outcomes"]}
    assert cfg["job_start"]["recorded"] == "events" and cfg["job_start"]["services"] == ["employment"]
    assert cfg["crisis_contacts"]["recorded"] == "events" and "services" not in cfg["crisis_contacts"]
    assert "recorded" not in cfg["income_gain_gbp"] and cfg["income_gain_gbp"]["services"] == ["welfare_advice"]
    assert extract.truth["recording"] == "events" and "recording" not in clean[0].truth
    # the same world: clients are the same, the extract is taken earlier
    pd.testing.assert_frame_equal(extract.clients, clean[0].clients)
    assert extract.extract_date < clean[0].extract_date
    assert len(extract.contacts) < len(clean[0].contacts)


def test_event_recording_leaves_some_follow_up_incomplete_and_the_truth_is_over_the_complete(events):
    extract, _, t = events
    exposure = recompute_exposure(t["contacts"], DEFAULT_EXPOSURE)
    eligible = exposure[exposure["eligible"]]
    assert extract.truth["cohort"]["eligible_sha256"] == sha256_ids(eligible.index)
    services = t["clients"].set_index("client_id")["service"]
    for name, spec in OUTCOMES.items():
        got = extract.truth["outcomes"][name]
        end = eligible["index_date"] + pd.Timedelta(days=spec["follow_up_days"])
        complete = eligible[
            (end <= pd.Timestamp(extract.extract_date)) & services[eligible.index].isin(spec["services"])
        ]
        if spec["type"] == "continuous":  # measured: the early-dated ones are excluded as before
            complete = (
                analysis_population(t, exposure, name)
                .set_index("client_id")
                .loc[lambda f: f.index.isin(complete.index)]
            )
        assert got["population_sha256"] == sha256_ids(complete.index), name
        assert got["n_excluded_follow_up_incomplete"] > 0, name
        assert (
            got["n_treated"]
            + got["n_control"]
            + got["n_excluded_outcome_not_after_index"]
            + got["n_excluded_follow_up_incomplete"]
            == got["n_eligible"]
        ), name


def test_measured_recording_is_unchanged_by_the_events_option(tmp_path):
    # the events' draws come from their own stream: a measured extract keeps its bytes
    a = write_extract(generate_extract(N_SMALL, seed=2), tmp_path / "a")
    generate_extract(N_SMALL, seed=2, recording="events")
    b = write_extract(generate_extract(N_SMALL, seed=2, recording="measured"), tmp_path / "b")
    for name in ("clients", "contacts", "outcomes", "workers", "truth"):
        assert a[name].read_bytes() == b[name].read_bytes(), name
    with pytest.raises(ValueError, match="recording must be one of measured, events"):
        generate_extract(50, recording="event")
