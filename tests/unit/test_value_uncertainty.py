"""Value under uncertainty and WELLBYs (deepvalue.value.valuation.value_analysis, value.uncertainty).

References are hand computations: present values, switching values solved in closed form, the
probabilistic mean of a linear valuation with symmetric ranges (= the point value within Monte Carlo
error), and a joint draw that makes the total constant.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
import pytest

from deepvalue.value.valuation import validate_values, value_analysis, value_table

UP = {2019: 80.0, 2020: 80.0, 2022: 90.0, 2025: 100.0}


def _values() -> dict:
    return {
        "discount_rate": 0.035,
        "price_year": 2025,
        "uprating": {"source": "test", "illustrative": False, "index": dict(UP)},
        "primary": {"method": "aipw", "estimand": "ATT"},
        "outcomes": {
            "job_start": {
                "unit_value_gbp": 9000,
                "price_year": 2022,
                "source": "s",
                "duration_years": 3,
                "drop_off": 0.2,
                "attribution": 0.1,
                "illustrative": False,
            },
            "crisis_contacts": {
                "unit_value_gbp": -400,
                "price_year": 2020,
                "source": "s",
                "duration_years": 1,
                "illustrative": False,
            },
        },
        "cost": {"gbp_per_client": 180, "price_year": 2022, "basis": "b", "source": "s", "illustrative": False},
    }


def _estimates() -> pd.DataFrame:
    rows = [
        ("job_start", "", "aipw", "ATT", 0.10, 0.02, 100, "risk_difference"),
        ("crisis_contacts", "", "aipw", "ATT", -0.25, 0.04, 100, "mean_difference"),
    ]
    cols = ["outcome", "subgroup", "method", "estimand", "estimate", "std_error", "n_treated", "scale"]
    return pd.DataFrame(rows, columns=cols)


PV_JOB = 1 + 0.8 / 1.035 + 0.64 / 1.035**2
M_JOB = 9000 * 100 / 90 * PV_JOB * 0.9  # GBP per unit of effect
M_CRISIS = -400 * 100 / 80
COST = 180 * 100 / 90


def _get(t: pd.DataFrame, outcome: str, quantity: str, level: str = "per_client") -> pd.Series:
    hit = t[(t.level == level) & (t.outcome == outcome) & (t.quantity == quantity)]
    assert len(hit) == 1, (outcome, quantity, len(hit))
    return hit.iloc[0]


def test_switching_values_solve_net_benefit_zero_by_hand():
    t = value_table(_estimates(), validate_values(_values()), n_clients=100, seed=1, draws=500)
    net = 0.10 * M_JOB + (-0.25) * M_CRISIS - COST
    assert _get(t, "total", "net_benefit").value == pytest.approx(net, rel=1e-12)
    # job_start: 0.1 x PV x 0.9 x u + 125 - 200 = 0
    u_job = (COST - (-0.25) * M_CRISIS) / (0.10 * PV_JOB * 0.9)
    row = _get(t, "job_start", "benefit")
    assert row.switching_value == pytest.approx(u_job, rel=1e-12)
    assert f"worth at least {u_job:,.0f} GBP" in row.notes
    # crisis contacts: job starts alone cover the cost, so any value down to 0 (and beyond) will do
    u_crisis = (COST - 0.10 * M_JOB) / (-0.25)
    row = _get(t, "crisis_contacts", "benefit")
    assert u_crisis > 0 and row.switching_value == pytest.approx(u_crisis, rel=1e-12)
    assert "whatever one unit of crisis_contacts is worth" in row.notes
    # with a cost too large for job starts alone, crisis contacts must be worth at most u (a cost of at least -u)
    v = _values()
    v["cost"]["gbp_per_client"] = 2700
    big = value_table(_estimates(), validate_values(v), n_clients=100, seed=1, draws=200)
    u = (2700 * 100 / 90 - 0.10 * M_JOB) / (-0.25)
    assert _get(big, "crisis_contacts", "benefit").switching_value == pytest.approx(u, rel=1e-12) and u < 0
    assert f"worth at most {u:,.0f} GBP" in _get(big, "crisis_contacts", "benefit").notes
    # valued at its switching value, the net benefit is 0
    v = _values()
    v["outcomes"]["job_start"]["unit_value_gbp"] = u_job * 90 / 100
    again = value_table(_estimates(), validate_values(v), n_clients=100, seed=1, draws=500)
    assert _get(again, "total", "net_benefit").value == pytest.approx(0.0, abs=1e-9)
    assert _get(t, "job_start", "benefit", "cohort").switching_value == pytest.approx(u_job, rel=1e-12)


def test_point_entries_give_the_effect_only_interval_and_symmetric_ranges_keep_the_mean():
    t = value_table(_estimates(), validate_values(_values()), n_clients=100, seed=2, draws=4000)
    row = _get(t, "total", "net_benefit")
    # no range anywhere: the probabilistic draws are the effect draws, to the last digit
    assert (row.psa_lower, row.psa_upper) == (row.ci_lower, row.ci_upper)
    assert "held at its point value" in _get(t, "job_start", "benefit").notes
    v = _values()
    v["outcomes"]["job_start"] |= {"low": 6000, "high": 12000, "distribution": "uniform"}
    v["outcomes"]["crisis_contacts"] |= {"low": -500, "high": -300, "distribution": "triangular"}
    v["cost"] |= {"low": 150, "high": 210, "distribution": "normal"}
    n = 40000
    p = value_table(_estimates(), validate_values(v), n_clients=100, seed=3, draws=n)
    row = _get(p, "total", "net_benefit")
    # linear valuation, symmetric ranges, effects independent of unit values: E[net] = point net
    sd = (row.psa_upper - row.psa_lower) / (2 * 1.96)
    assert abs(row.psa_mean - row.value) < 4 * sd / math.sqrt(n)
    # the ranges widen the interval beyond the effects' own
    assert row.psa_upper - row.psa_lower > row.ci_upper - row.ci_lower
    # the probability of a positive net benefit: Normal approximation by hand, within 0.02
    assert row.p_positive == pytest.approx(1 - 0.5 * math.erfc(row.value / sd / math.sqrt(2)), abs=0.02)
    assert "uniform on [6000, 12000]" in _get(p, "job_start", "benefit").notes


def test_joint_draws_carry_the_correlation_into_the_total():
    # joint draws in which crisis contacts move exactly against job starts: the total benefit is constant
    b = 500
    job = 0.10 + 0.02 * np.random.default_rng(0).standard_normal(b)
    crisis = -0.25 - (job - 0.10) * M_JOB / M_CRISIS
    joint = pd.DataFrame(
        {
            "outcome": ["job_start"] * b + ["crisis_contacts"] * b,
            "subgroup": "",
            "method": "aipw",
            "estimand": "ATT",
            "scale": ["risk_difference"] * b + ["mean_difference"] * b,
            "draw": np.r_[np.arange(b), np.arange(b)],
            "estimate": np.r_[job, crisis],
        }
    )
    t = value_table(_estimates(), validate_values(_values()), n_clients=100, seed=1, draws=2000, joint=joint)
    total = _get(t, "total", "benefit")
    assert total.ci_upper - total.ci_lower == pytest.approx(0.0, abs=1e-9)
    assert "joint bootstrap" in total.notes
    assert _get(t, "job_start", "benefit").ci_upper - _get(t, "job_start", "benefit").ci_lower > 100
    free = value_table(_estimates(), validate_values(_values()), n_clients=100, seed=1, draws=2000)
    assert _get(free, "total", "benefit").ci_upper - _get(free, "total", "benefit").ci_lower > 100
    assert "independent" in _get(free, "total", "benefit").notes


def _wellbeing_estimates() -> pd.DataFrame:
    # questionnaire outcomes as the wellbeing issue writes them: three scales per method and estimand
    rows = [
        ("life_satisfaction", "", "aipw", "ATT", 0.30, 0.05, 100, "points"),
        ("life_satisfaction", "", "aipw", "ATT", 0.15, 0.025, 100, "baseline_sd"),
        ("life_satisfaction", "", "aipw", "ATT", 0.08, 0.02, 100, "share_meaningful_change"),
        ("wellbeing", "", "aipw", "ATT", 1.2, 0.3, 100, "points"),
        ("wellbeing", "", "aipw", "ATT", 0.4, 0.1, 100, "baseline_sd"),
    ]
    cols = ["outcome", "subgroup", "method", "estimand", "estimate", "std_error", "n_treated", "scale"]
    return pd.concat([_estimates(), pd.DataFrame(rows, columns=cols)], ignore_index=True)


def _wellby_values(**extra) -> dict:
    v = _values()
    v["wellby"] = {
        "unit_value_gbp": 13000,
        "low": 10000,
        "high": 16000,
        "price_year": 2019,
        "discount_rate": 0.015,
        "duration_years": 2,
        "source": "HM Treasury (2021) wellbeing guidance",
        "illustrative": False,
        **extra,
    }
    v["outcomes"]["income_gain_gbp"] = {
        "unit_value_gbp": 1.0,
        "price_year": 2025,
        "source": "s",
        "duration_years": 1,
        "illustrative": False,
    }
    return v


def _wellby_table(values: dict, **kw):
    est = _wellbeing_estimates()
    est = pd.concat(
        [
            est,
            pd.DataFrame(
                [("income_gain_gbp", "", "aipw", "ATT", 50.0, 10.0, 100, "mean_difference")], columns=est.columns
            ),
        ]
    )
    outcomes = ["job_start", "income_gain_gbp", "crisis_contacts", "wellbeing", "life_satisfaction"]
    inst = {"wellbeing": "swemwbs", "life_satisfaction": "ons4_life_satisfaction"}
    return value_analysis(
        est, validate_values(values), n_clients=100, seed=4, draws=3000, outcomes=outcomes, instruments=inst, **kw
    )


def test_wellby_value_by_hand_and_kept_apart_from_money():
    t, tornado = _wellby_table(_wellby_values(overlaps=["income_gain_gbp"]))
    row = _get(t, "life_satisfaction", "benefit")
    # 0.30 points (the points row, not the other scales) x 13,000 x 100/80 x (1 + 1/1.015)
    assert row.value == pytest.approx(0.30 * 13000 * 100 / 80 * (1 + 1 / 1.015), rel=1e-12)
    assert row.account == "wellbeing"
    assert "WELLBY" in row.notes and "13000 GBP per WELLBY" in row.notes and "HM Treasury (2021)" in row.notes
    # SWEMWBS has no unit value and no official conversion: reported, not valued
    sw = _get(t, "wellbeing", "benefit")
    assert math.isnan(sw.value) and "no official conversion from swemwbs" in sw.notes
    money = 0.10 * M_JOB + 50.0 + (-0.25) * M_CRISIS
    assert _get(t, "total", "benefit").value == pytest.approx(money, rel=1e-12)  # money only
    assert _get(t, "total_wellbeing", "benefit").value == pytest.approx(row.value, rel=1e-12)
    # together: the income gain is left out, the life-satisfaction effect already holds it
    both = _get(t, "total_with_wellbeing", "net_benefit")
    assert both.value == pytest.approx(money - 50.0 + row.value - COST, rel=1e-12)
    assert "income_gain_gbp" in both.notes and "overlaps" in both.notes
    # the WELLBY switching value, against the combined account
    # (in 2025 prices, GBP per WELLBY: the PV factor and share multiply it, the uprating is inside it)
    sv = (COST - (money - 50.0)) / (0.30 * (1 + 1 / 1.015))
    assert row.switching_value == pytest.approx(sv, rel=1e-12)
    assert "one WELLBY of life_satisfaction" in row.notes
    # tornado: the WELLBY's range moves the combined net by 0.30 x (16,000 - 10,000) x 100/80 x PV
    wb = tornado[(tornado.account == "combined") & (tornado.parameter == "life_satisfaction: unit value")].iloc[0]
    assert wb.swing == pytest.approx(0.30 * 6000 * 100 / 80 * (1 + 1 / 1.015), rel=1e-12)
    assert set(tornado.account) == {"monetary", "combined"}
    assert list(tornado[tornado.account == "monetary"].swing) == sorted(
        tornado[tornado.account == "monetary"].swing, reverse=True
    )


def test_two_wellby_outcomes_are_refused_and_overlaps_are_checked():
    v = _wellby_values()
    v["outcomes"]["wellbeing"] = {"unit": "wellby", "duration_years": 1}
    with pytest.raises(ValueError, match="more than one outcome is valued in WELLBYs"):
        _wellby_table(v)
    bad = copy.deepcopy(_values())
    bad["wellby"] = _wellby_values()["wellby"]
    bad["outcomes"]["life_satisfaction"] = {"unit": "wellby", "duration_years": 1, "overlaps": ["income"]}
    with pytest.raises(ValueError, match="overlaps"):
        validate_values(bad)
    bad["outcomes"]["job_start"]["overlaps"] = ["crisis_contacts"]
    with pytest.raises(ValueError, match="given for a monetary outcome"):
        validate_values(bad)


def test_ranges_are_validated():
    v = _values()
    v["outcomes"]["job_start"] |= {"low": 9500, "high": 12000}
    with pytest.raises(ValueError, match="does not contain the point value"):
        validate_values(v)
    v["outcomes"]["job_start"] |= {"low": 6000, "distribution": "lognormal"}
    with pytest.raises(ValueError, match="distribution"):
        validate_values(v)
    v = _values()
    v["outcomes"]["job_start"]["low"] = 6000
    with pytest.raises(ValueError, match="give both low and high"):
        validate_values(v)


def test_value_stage_values_a_life_satisfaction_outcome_in_wellbys(tmp_path, caplog):
    # the stage with the bundled values file, a questionnaire outcome of each kind and hand-made estimate rows
    from pathlib import Path

    from deepvalue.pipeline.stages import value_stage

    repo = Path(__file__).resolve().parents[2]
    est = _wellbeing_estimates()
    extra = pd.DataFrame(
        [("income_gain_gbp", "", "aipw", "ATT", 50.0, 10.0, 100, "mean_difference")], columns=est.columns
    )
    est = pd.concat([est, extra], ignore_index=True)
    est.to_csv(tmp_path / "estimates.csv", index=False)
    d = np.r_[np.ones(100), np.zeros(100)]
    pd.DataFrame(
        {"treatment": d, "job_start": 1.0, "income_gain_gbp": 1.0, "crisis_contacts": 1.0, "life_satisfaction": 1.0}
    ).to_parquet(tmp_path / "analysis.parquet")
    config = {
        "outcomes": [
            {"name": "job_start", "type": "binary"},
            {"name": "income_gain_gbp", "type": "continuous"},
            {"name": "crisis_contacts", "type": "count"},
        ],
        "questionnaires": [
            {"name": "wellbeing", "instrument": "swemwbs", "questionnaire": "S", "items": ["q1"]},
            {"name": "life_satisfaction", "instrument": "ons4_life_satisfaction", "questionnaire": "O", "items": ["l"]},
        ],
        "value": {"file": None, "draws": 500},
        "estimation": {"primary": {}},  # the rule's settings (workflow/rules/value.smk) include it
        "seed": 3,
    }
    with caplog.at_level("WARNING", logger="deepvalue"):
        value_stage(
            config,
            tmp_path / "estimates.csv",
            repo / "config" / "values.yaml",
            tmp_path / "value.csv",
            tmp_path / "analysis.parquet",
            None,
            tmp_path / "tornado.csv",
            tmp_path / "tornado.png",
        )
    t = pd.read_csv(tmp_path / "value.csv")
    ls = _get(t, "life_satisfaction", "benefit")
    # the bundled block: 13,000 GBP per WELLBY (2019 prices, uprated 100 / 81.6), 1 year: no discounting
    assert ls.value == pytest.approx(0.30 * 13000 * 100 / 81.6, rel=1e-9)
    assert "WELLBY" in ls.notes and "HM Treasury (2021)" in ls.notes and ls.account == "wellbeing"
    assert "no official conversion from swemwbs" in _get(t, "wellbeing", "benefit").notes
    assert "income_gain_gbp" in _get(t, "total_with_wellbeing", "net_benefit").notes
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "wellbeing" in warned and "life_satisfaction" not in warned  # the WELLBY outcome needs no entry
    assert (tmp_path / "tornado.png").read_bytes()[:4] == b"\x89PNG"
