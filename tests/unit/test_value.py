"""Tests for deepvalue.value.valuation: hand-worked PV and uprating, point values by hand, bootstrap
intervals, determinism, and validation messages that name the key."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from deepvalue.core.errors import ConfigError
from deepvalue.value.valuation import (
    PSA_COLUMNS,
    VALUE_COLUMNS,
    VALUED_COLUMNS,
    check_values_file,
    load_values,
    present_value_factor,
    uprate,
    validate_values,
    value_table,
    values_coverage,
    values_warnings,
)

ROOT = Path(__file__).resolve().parents[2]
STUDY_OUTCOMES = ["job_start", "income_gain_gbp", "crisis_contacts"]


def _values() -> dict:
    """A tiny values mapping with round numbers."""
    return {
        "discount_rate": 0.035,
        "price_year": 2025,
        "uprating": {"source": "test", "illustrative": True, "index": {2020: 80.0, 2022: 90.0, 2025: 100.0}},
        "primary": {"method": "aipw", "estimand": "ATT"},
        "outcomes": {
            "job_start": {
                "unit_value_gbp": 9000,
                "price_year": 2022,
                "source": "GMCA UCD",
                "duration_years": 3,
                "drop_off": 0.2,
                "deadweight": 0.0,
                "attribution": 0.1,
                "illustrative": True,
            },
            "crisis_contacts": {
                "unit_value_gbp": -400,
                "price_year": 2020,
                "source": "GMCA",
                "duration_years": 1,
                "drop_off": 0.0,
                "deadweight": 0.0,
                "attribution": 0.0,
                "illustrative": False,
            },
        },
        "cost": {
            "gbp_per_client": 180,
            "price_year": 2022,
            "basis": "4 h x 45 GBP",
            "source": "PSSRU",
            "illustrative": True,
        },
    }


def _estimates(se_job: float = 0.02, se_crisis: float = 0.04, n=(100, 100)) -> pd.DataFrame:
    rows = [
        # the row that must be valued
        ("job_start", "", "aipw", "ATT", 0.10, se_job, n[0]),
        ("crisis_contacts", "", "aipw", "ATT", -0.25, se_crisis, n[1]),
        # decoys: other methods, estimands, subgroups
        ("job_start", "", "aipw", "ATE", 0.50, 0.01, n[0]),
        ("job_start", "", "ipw", "ATT", 0.70, 0.01, n[0]),
        ("crisis_contacts", "service=x", "aipw", "ATT", -9.0, 0.01, 10),
    ]
    df = pd.DataFrame(rows, columns=["outcome", "subgroup", "method", "estimand", "estimate", "std_error", "n_treated"])
    df["subgroup"] = df["subgroup"].replace("", np.nan)
    return df


def _get(t: pd.DataFrame, level: str, outcome: str, quantity: str) -> pd.Series:
    hit = t[(t.level == level) & (t.outcome == outcome) & (t.quantity == quantity)]
    assert len(hit) == 1
    return hit.iloc[0]


# ---------------------------------------------------------------------------- building blocks


def test_present_value_factor_hand_worked():
    assert present_value_factor(3, 0.2, 0.035) == pytest.approx(1 + 0.8 / 1.035 + 0.64 / 1.035**2, rel=1e-12)
    assert present_value_factor(3, 0.2, 0.035) == pytest.approx(2.370394, abs=1e-6)


def test_present_value_factor_edge_cases():
    assert present_value_factor(1, 0.7, 0.035) == 1.0  # year 0 only: undiscounted
    assert present_value_factor(5, 0.0, 0.0) == 5.0
    assert present_value_factor(4, 1.0, 0.035) == 1.0  # all lost after the first year
    with pytest.raises(ValueError, match="duration_years"):
        present_value_factor(2.5, 0.1, 0.035)  # whole years only
    with pytest.raises(ValueError, match="drop_off"):
        present_value_factor(2, 1.2, 0.035)
    with pytest.raises(ValueError, match="discount_rate"):
        present_value_factor(2, 0.1, -0.01)


def test_uprate_hand_worked():
    index = {2022: 90.0, 2025: 100.0}
    assert uprate(9000, 2022, 2025, index) == pytest.approx(10000.0)
    assert uprate(10000, 2025, 2022, index) == pytest.approx(9000.0)
    assert uprate(123.0, 2025, 2025, index) == 123.0
    with pytest.raises(ValueError, match="2019"):
        uprate(1.0, 2019, 2025, index)


# ---------------------------------------------------------------------------- value table


def test_point_values_equal_hand_computation():
    t = value_table(_estimates(), validate_values(_values()), n_clients=200, seed=1, draws=2000)
    assert list(t.columns) == [*VALUE_COLUMNS, *PSA_COLUMNS, *VALUED_COLUMNS]  # today's columns first, in order
    job = 0.10 * (9000 * 100 / 90) * (1 + 0.8 / 1.035 + 0.64 / 1.035**2) * (1 - 0.1)
    crisis = -0.25 * (-400 * 100 / 80) * 1.0
    cost = 180 * 100 / 90
    assert job == pytest.approx(2133.3543, abs=1e-3)
    assert crisis == pytest.approx(125.0)
    assert _get(t, "per_client", "job_start", "benefit").value == pytest.approx(job)
    assert _get(t, "per_client", "crisis_contacts", "benefit").value == pytest.approx(crisis)
    assert _get(t, "per_client", "total", "benefit").value == pytest.approx(job + crisis)
    assert _get(t, "per_client", "total", "cost").value == pytest.approx(cost)
    assert _get(t, "per_client", "total", "net_benefit").value == pytest.approx(job + crisis - cost)
    assert _get(t, "cohort", "total", "benefit").value == pytest.approx(200 * (job + crisis))
    assert _get(t, "cohort", "total", "cost").value == pytest.approx(200 * cost)
    assert (t.price_year == 2025).all()
    # crisis value is not illustrative, but the deflator is, so every row is flagged
    assert t.illustrative.all()
    assert "aipw ATT" in _get(t, "per_client", "job_start", "benefit").notes
    assert "GMCA UCD" in _get(t, "per_client", "job_start", "benefit").notes


def test_default_cohort_and_share_of_outcome_population():
    # job_start measured on 60 of the 100 treated clients: spread over the whole cohort.
    est = _estimates(n=(60, 100))
    t = value_table(est, validate_values(_values()), seed=1, draws=500)
    job_full = 0.10 * 10000 * (1 + 0.8 / 1.035 + 0.64 / 1.035**2) * 0.9
    assert _get(t, "per_client", "job_start", "benefit").value == pytest.approx(0.6 * job_full)
    # default n_clients = the largest n_treated among the valued rows (100)
    assert _get(t, "cohort", "job_start", "benefit").value == pytest.approx(60 * job_full)
    assert _get(t, "cohort", "total", "cost").value == pytest.approx(100 * 200.0)


def test_benefit_cost_ratio_is_benefit_over_cost():
    t = value_table(_estimates(), validate_values(_values()), n_clients=50, seed=3, draws=2000)
    for level in ("per_client", "cohort"):
        b = _get(t, level, "total", "benefit")
        c = _get(t, level, "total", "cost")
        r = _get(t, level, "total", "benefit_cost_ratio")
        assert r.value == pytest.approx(b.value / c.value)
        assert r.ci_lower == pytest.approx(b.ci_lower / c.value)
        assert r.ci_upper == pytest.approx(b.ci_upper / c.value)
        assert c.ci_lower == c.value == c.ci_upper  # cost held fixed


def test_zero_cost_gives_undefined_ratio():
    v = _values()
    v["cost"]["gbp_per_client"] = 0
    t = value_table(_estimates(), validate_values(v), n_clients=10, seed=1, draws=100)
    assert math.isnan(_get(t, "per_client", "total", "benefit_cost_ratio").value)


def test_interval_contains_point_and_shrinks_with_se():
    v = validate_values(_values())
    wide = value_table(_estimates(0.04, 0.08), v, n_clients=100, seed=7, draws=4000)
    narrow = value_table(_estimates(0.01, 0.02), v, n_clients=100, seed=7, draws=4000)
    for t in (wide, narrow):
        for _, row in t.iterrows():
            assert row.ci_lower <= row.value <= row.ci_upper, row.to_dict()
    for outcome in ("job_start", "crisis_contacts", "total"):
        w = _get(wide, "per_client", outcome, "benefit")
        n = _get(narrow, "per_client", outcome, "benefit")
        assert (n.ci_upper - n.ci_lower) < (w.ci_upper - w.ci_lower)
    # the interval roughly matches +-1.96 SE x multiplier for a single outcome
    job = _get(wide, "per_client", "job_start", "benefit")
    mult = job.value / 0.10
    assert (job.ci_upper - job.ci_lower) == pytest.approx(2 * 1.96 * 0.04 * mult, rel=0.08)


def test_zero_se_collapses_interval_to_point():
    t = value_table(_estimates(0.0, 0.0), validate_values(_values()), n_clients=30, seed=2, draws=500)
    assert np.allclose(t.ci_lower, t.value, rtol=1e-12, atol=1e-9)
    assert np.allclose(t.ci_upper, t.value, rtol=1e-12, atol=1e-9)


def test_deterministic_for_a_seed():
    v = validate_values(_values())
    a = value_table(_estimates(), v, n_clients=40, seed=11, draws=1000)
    b = value_table(_estimates(), v, n_clients=40, seed=11, draws=1000)
    c = value_table(_estimates(), v, n_clients=40, seed=12, draws=1000)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a.ci_lower, c.ci_lower)
    assert np.allclose(a.value, c.value)  # point values do not depend on the seed


def test_value_table_errors_name_the_problem():
    v = validate_values(_values())
    with pytest.raises(ValueError, match="crisis_contacts"):
        value_table(_estimates()[lambda d: d.outcome != "crisis_contacts"], v, n_clients=10)
    v2 = copy.deepcopy(v)
    v2["primary"]["method"] = "tmle"
    with pytest.raises(ValueError, match="primary.*tmle"):
        value_table(_estimates(), v2, n_clients=10)


# ---------------------------------------------------------------------------- config file


def test_shipped_values_file_loads_and_values_real_estimates():
    v = load_values(ROOT / "config" / "values.yaml", outcomes=STUDY_OUTCOMES)
    assert v["discount_rate"] == 0.035 and v["price_year"] == 2025
    assert set(v["outcomes"]) == set(STUDY_OUTCOMES)
    assert all(o["illustrative"] for o in v["outcomes"].values())
    assert all(o["deadweight"] == 0 for o in v["outcomes"].values())
    assert v["cost"]["illustrative"] and v["uprating"]["illustrative"]
    assert v["outcomes"]["crisis_contacts"]["unit_value_gbp"] < 0  # a crisis is a cost
    est = pd.DataFrame(
        {
            "outcome": STUDY_OUTCOMES,
            "subgroup": [np.nan] * 3,
            "method": ["aipw"] * 3,
            "estimand": ["ATT"] * 3,
            "estimate": [0.1, 350.0, -0.25],
            "std_error": [0.02, 30, 0.04],
            "n_treated": [1300, 850, 2150],
        }
    )
    t = value_table(est, v, seed=1, draws=200)
    assert len(t) == 2 * (3 + 4)
    assert _get(t, "per_client", "crisis_contacts", "benefit").value > 0  # fewer crises = saving


def _write(tmp_path: Path, values: dict) -> Path:
    p = tmp_path / "values.yaml"
    p.write_text(yaml.safe_dump(values))
    return p


@pytest.mark.parametrize(
    "mutate, key",
    [
        (lambda v: v.__setitem__("discount_rate", -0.01), "discount_rate"),
        (lambda v: v["outcomes"]["job_start"].__setitem__("drop_off", 1.5), "outcomes.job_start.drop_off"),
        (lambda v: v["outcomes"]["job_start"].__setitem__("attribution", -0.2), "outcomes.job_start.attribution"),
        (
            lambda v: v["outcomes"]["crisis_contacts"].__setitem__("duration_years", 1.5),
            "outcomes.crisis_contacts.duration_years",
        ),
        (
            lambda v: v["outcomes"]["crisis_contacts"].__setitem__("price_year", 2010),
            "outcomes.crisis_contacts.price_year",
        ),
        (lambda v: v["cost"].__setitem__("gbp_per_client", -5), "cost.gbp_per_client"),
        (lambda v: v["outcomes"]["job_start"].__setitem__("unit_valeu_gbp", 1), "outcomes.job_start.unit_valeu_gbp"),
    ],
)
def test_validation_errors_name_the_key(tmp_path, mutate, key):
    v = _values()
    mutate(v)
    with pytest.raises(ValueError) as err:
        load_values(_write(tmp_path, v), outcomes=STUDY_OUTCOMES)
    msg = str(err.value)
    assert f"'{key}" in msg
    assert "fix:" in msg


def test_unknown_outcome_is_not_an_error_but_a_warning_with_the_right_name(tmp_path):
    v = _values()
    v["outcomes"]["job_strat"] = v["outcomes"].pop("job_start")
    loaded = load_values(_write(tmp_path, v), outcomes=STUDY_OUTCOMES)
    missing, unused = values_coverage(loaded, STUDY_OUTCOMES)
    assert missing == ["job_start", "income_gain_gbp"] and unused == ["job_strat (did you mean 'job_start'?)"]
    lines = values_warnings(loaded, STUDY_OUTCOMES, "values.yaml")
    assert "no unit value for job_start, income_gain_gbp" in lines[0] and "not valued" in lines[0]
    assert "not used: job_strat (did you mean 'job_start'?)" in lines[1]


def test_outcomes_without_unit_values_are_not_valued_rows_not_a_failure():
    # the bundled values (job_start, ...) meet a study whose outcomes are named otherwise
    v = validate_values(_values())
    est = _estimates().assign(outcome=lambda d: d.outcome.replace({"job_start": "Job entry"}))
    study = ["Job entry", "crisis_contacts"]
    t = value_table(est, v, n_clients=100, seed=1, draws=200, outcomes=study)
    row = _get(t, "per_client", "Job entry", "benefit")
    assert np.isnan(row.value) and row.notes.startswith("not valued: no unit value")
    assert "outcomes.Job entry" in row.notes
    total = _get(t, "per_client", "total", "benefit")
    assert "not valued (no unit value): Job entry" in total.notes
    assert "values not used (not outcomes of this study): job_start" in total.notes
    # the valued outcome keeps its point value (the share uses n_clients, not the missing row)
    full = value_table(_estimates(), v, n_clients=100, seed=1, draws=200)
    crisis = _get(full, "per_client", "crisis_contacts", "benefit").value
    assert _get(t, "per_client", "crisis_contacts", "benefit").value == pytest.approx(crisis)
    assert _get(t, "per_client", "total", "benefit").value == pytest.approx(crisis)
    # nothing valued: the totals are zero benefit, and they say so
    none = value_table(est.assign(outcome="Other"), v, n_clients=100, draws=50, outcomes=["Other"])
    assert "sum over outcomes (none)" in _get(none, "per_client", "total", "benefit").notes


def test_broken_values_file_is_a_config_error_naming_the_file(tmp_path):
    v = _values()
    v["discount_rate"] = -1
    with pytest.raises(ConfigError) as err:
        check_values_file(_write(tmp_path, v), STUDY_OUTCOMES)
    assert "values.yaml" in str(err.value) and "discount_rate" in str(err.value)
    _, warnings = check_values_file(ROOT / "config" / "values.yaml", ["Job entry"])
    assert len(warnings) == 2


def test_all_problems_reported_at_once(tmp_path):
    v = _values()
    v["discount_rate"] = -1
    v["outcomes"]["job_start"]["drop_off"] = 2
    with pytest.raises(ValueError, match="2 problems") as err:
        load_values(_write(tmp_path, v))
    assert "discount_rate" in str(err.value) and "drop_off" in str(err.value)


def test_defaults_filled():
    v = _values()
    for k in ("drop_off", "deadweight", "attribution", "illustrative"):
        del v["outcomes"]["crisis_contacts"][k]
    out = validate_values(v)
    spec = out["outcomes"]["crisis_contacts"]
    assert (spec["drop_off"], spec["deadweight"], spec["attribution"]) == (0.0, 0.0, 0.0)
    assert spec["illustrative"] is True  # unconfirmed values count as illustrative


def test_cohort_counts_set_the_denominators_not_the_estimate_rows():
    """Review defect 4: rows' n_treated (2,185 matched or measured) is not the cohort's treated
    clients (2,228); the counts come from the cohort, per outcome from the clients it applies to."""
    from deepvalue.value.valuation import cohort_counts

    analysis = pd.DataFrame(
        {
            "treatment": [1] * 2228 + [0] * 1500,
            # job_start applies to 1,300 treated employment clients; crisis to everyone
            "job_start": [1.0] * 1300 + [np.nan] * 928 + [0.0] * 1500,
            "crisis_contacts": 1.0,
        }
    )
    n_clients, applies = cohort_counts(analysis, ["job_start", "crisis_contacts"])
    assert (n_clients, applies) == (2228, {"job_start": 1300, "crisis_contacts": 2228})
    est = _estimates(n=(1290, 2185))  # the estimate rows' own samples, smaller
    t = value_table(est, validate_values(_values()), n_clients=n_clients, seed=1, draws=500, applies_to=applies)
    job_full = 0.10 * 10000 * (1 + 0.8 / 1.035 + 0.64 / 1.035**2) * 0.9
    crisis_full = -0.25 * -500.0
    assert _get(t, "per_client", "job_start", "benefit").value == pytest.approx(1300 / 2228 * job_full)
    assert _get(t, "per_client", "crisis_contacts", "benefit").value == pytest.approx(crisis_full)
    assert _get(t, "cohort", "job_start", "benefit").value == pytest.approx(1300 * job_full)
    assert _get(t, "cohort", "total", "cost").value == pytest.approx(2228 * 200.0)
    assert "applies to 1300 of 2228 treated clients" in _get(t, "per_client", "job_start", "benefit").notes


def test_primary_must_name_a_configured_method_and_its_estimand(tmp_path):
    from deepvalue.core.settings import METHOD_ESTIMANDS
    from deepvalue.effects.table import METHODS, WEIGHTING_ROWS

    assert tuple(METHOD_ESTIMANDS) == METHODS
    assert all(e in METHOD_ESTIMANDS[m] for m, e in WEIGHTING_ROWS)
    path = _write(tmp_path, _values())
    check_values_file(path, STUDY_OUTCOMES, ["aipw", "psm"])  # aipw ATT: fine
    v = _values()
    v["primary"] = {"method": "psm", "estimand": "ATE"}
    with pytest.raises(ConfigError, match="no method 'psm' with estimand 'ATE'") as err:
        check_values_file(_write(tmp_path, v), STUDY_OUTCOMES, ["aipw", "psm"])
    assert "psm ATT" in str(err.value) and "aipw ATE" in str(err.value)
    with pytest.raises(ConfigError, match="'aipw' is not among estimation.methods"):
        check_values_file(_write(tmp_path, _values()), STUDY_OUTCOMES, ["psm"])
