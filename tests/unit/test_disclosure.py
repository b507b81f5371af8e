"""Output checking: threshold rule, derived and complementary suppression, flow differencing, residual df."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from deepvalue.core.tabular import write_csv
from deepvalue.publish.disclosure import LOG_COLUMNS, check_table, check_tables, is_count_column, publish

STATS = ["estimate", "std_error", "ci_lower", "ci_upper", "p_value"]


def estimates(n_treated, n_control):
    rows = len(n_treated)
    return pd.DataFrame(
        {
            "outcome": ["job_start"] * rows,
            "method": [f"m{i}" for i in range(rows)],
            "estimate": np.linspace(0.1, 0.2, rows),
            "std_error": [0.02] * rows,
            "ci_lower": [0.05] * rows,
            "ci_upper": [0.3] * rows,
            "p_value": [0.01] * rows,
            "n_treated": n_treated,
            "n_control": n_control,
            "scale": ["risk_difference"] * rows,
            "notes": ["dropped some rows; clusters"] * rows,
        }
    )


def flow(excluded, start=1000, outcome=None):
    remaining, rows = start, []
    for e in [0, *excluded]:
        remaining -= e
        rows.append({"step": "excluded", "n_remaining": remaining, "n_excluded": e, "reason": "rule"})
    frame = pd.DataFrame(rows)
    if outcome is not None:
        frame.insert(0, "outcome", outcome)
    return frame


def cells(log):
    return {(e["row"], e["column"]) for e in log}


def attack_flow(checked: pd.DataFrame, original: pd.DataFrame, min_cell: int) -> None:
    """Differencing attack on one chain: any two published n_remaining bound the exclusions between them."""
    published = [i for i in range(len(checked)) if pd.notna(checked.at[i, "n_remaining"])]
    for a_pos, a in enumerate(published):
        for b in published[a_pos + 1 :]:
            between = range(a + 1, b + 1)
            hidden = [i for i in between if pd.isna(checked.at[i, "n_excluded"])]
            shown = sum(int(checked.at[i, "n_excluded"]) for i in between if i not in hidden)
            total_hidden = int(checked.at[a, "n_remaining"]) - int(checked.at[b, "n_remaining"]) - shown
            if hidden:
                assert len(hidden) >= 2, f"n_excluded of row {hidden[0]} = R[{a}] - R[{b}] - published"
                assert total_hidden >= min_cell, "suppressed exclusions pinned to a small interval"
    # a hidden n_remaining next to published neighbours must not follow from one published identity
    for i in range(1, len(checked)):
        prev_r, e, r = checked.at[i - 1, "n_remaining"], checked.at[i, "n_excluded"], checked.at[i, "n_remaining"]
        assert [pd.isna(prev_r), pd.isna(e), pd.isna(r)].count(True) != 1
    for i in range(len(original)):
        for column in ("n_remaining", "n_excluded"):
            value = original.at[i, column]
            if 0 < value < min_cell:
                assert pd.isna(checked.at[i, column])


def test_count_columns_by_name():
    assert all(is_count_column(c) for c in ["n", "N", "n_treated", "N_Used", "count", "Count_events"])
    assert not any(is_count_column(c) for c in ["ness", "ess", "mean_n", "amount", "n1", "notes"])


def test_primary_suppression_only_in_count_columns():
    frame = pd.DataFrame({"label": ["a", "b"], "count_x": [4, 40], "value": [3, 3]})
    checked, log = check_table(frame, "t")
    assert pd.isna(checked.at[0, "count_x"]) and checked.at[1, "count_x"] == 40
    # the small "value" 3 is no count: only suppressed in row 0 as a statistic of the suppressed count
    assert pd.isna(checked.at[0, "value"]) and checked.at[1, "value"] == 3
    assert log == [
        {"table": "t", "row": 0, "column": "count_x", "rule": "primary_min_cell", "action": "suppressed"},
        {"table": "t", "row": 0, "column": "value", "rule": "derived_from_suppressed_count", "action": "suppressed"},
    ]
    assert str(checked["count_x"].dtype) == "Int64"  # still an integer column


def test_zero_allowed_by_default_and_optionally_suppressed():
    frame = pd.DataFrame({"label": ["a", "b"], "n_events": [0, 25]})
    checked, log = check_table(frame, "t")
    assert checked.at[0, "n_events"] == 0 and log == []
    checked, log = check_table(frame, "t", allow_zero=False)
    assert pd.isna(checked.at[0, "n_events"]) and cells(log) == {(0, "n_events")}


def test_min_cell_threshold_is_strict_and_configurable():
    frame = pd.DataFrame({"n": [9, 10, 29, 30]})
    checked, _ = check_table(frame, "t")
    assert checked["n"].isna().tolist() == [True, False, False, False]
    checked, _ = check_table(frame, "t", min_cell=30)
    assert checked["n"].isna().tolist() == [True, True, True, False]
    with pytest.raises(ValueError):
        check_table(frame, "t", min_cell=0)


def test_estimates_small_group_suppresses_statistics_and_partner_count():
    frame = estimates([5, 300], [400, 200])
    checked, log = check_table(frame, "estimates.csv")
    row0 = checked.loc[0]
    assert all(pd.isna(row0[c]) for c in [*STATS, "n_treated", "n_control", "notes"])
    assert row0["outcome"] == "job_start" and row0["method"] == "m0" and row0["scale"] == "risk_difference"
    assert checked.loc[1].tolist() == frame.loc[1].tolist()
    rules = {(e["column"], e["rule"]) for e in log}
    assert ("n_treated", "primary_min_cell") in rules
    assert ("n_control", "secondary_complement") in rules
    assert ("estimate", "derived_from_suppressed_count") in rules
    assert {e["row"] for e in log} == {0}


def test_residual_df_rule_for_estimates():
    # with min_cell = 5 the counts pass, but df = 5 + 6 - 2 = 9 < 10; 6 + 6 - 2 = 10 is fine
    frame = estimates([5, 6], [6, 6])
    checked, log = check_table(frame, "estimates.csv", min_cell=5)
    assert all(pd.isna(checked.at[0, c]) for c in [*STATS, "notes"])
    assert checked.at[0, "n_treated"] == 5 and checked.at[0, "n_control"] == 6
    assert checked.loc[1, STATS].notna().all()
    assert {e["rule"] for e in log} == {"residual_df"} and {e["row"] for e in log} == {0}


def test_residual_df_uses_df_resid_column_and_n_used():
    frame = pd.DataFrame({"model": ["a", "b"], "coef": [1.0, 2.0], "df_resid": [9, 10], "n_obs": [50, 50]})
    checked, log = check_table(frame, "t")
    assert pd.isna(checked.at[0, "coef"]) and checked.at[1, "coef"] == 2.0
    assert checked["df_resid"].tolist() == [9, 10]
    refutations = pd.DataFrame(
        {
            "refuter": ["x", "y"],
            "new_effect": [0.1, 0.2],
            "passed": [True, False],
            "n_used": [11, 12],
            "reading": ["effect 0.1", "effect 0.2"],
        }
    )
    checked, log = check_table(refutations, "refutations.csv")
    assert (
        pd.isna(checked.at[0, "new_effect"]) and pd.isna(checked.at[0, "passed"]) and pd.isna(checked.at[0, "reading"])
    )
    assert checked.at[1, "new_effect"] == 0.2 and not checked.at[1, "passed"]
    assert checked["n_used"].tolist() == [11, 12]


def test_group_table_suppresses_all_groups_of_the_same_total():
    frame = pd.DataFrame(
        {
            "adjustment": ["unadjusted", "unadjusted", "matched", "matched"],
            "group": ["treated", "control", "treated", "control"],
            "n": [7, 500, 200, 180],
            "sum_weights": [7.0, 500.0, 200.0, 200.0],
            "ess": [7.0, 500.0, 200.0, 150.0],
        }
    )
    checked, log = check_table(frame, "balance_summary.csv")
    assert checked.loc[0:1, ["n", "sum_weights", "ess"]].isna().all().all()
    assert checked.loc[2:3, ["n", "sum_weights", "ess"]].notna().all().all()
    assert (1, "n") in cells(log)


def test_flow_small_exclusion_gets_complementary_suppression():
    original = flow([0, 996, 4, 75, 0], start=5000)
    checked, log = check_table(original, "flow.csv")
    # row 3 excluded 4: suppress it, its n_remaining, and the next exclusion (75)
    assert cells(log) == {(3, "n_excluded"), (3, "n_remaining"), (4, "n_excluded")}
    by_cell = {(e["row"], e["column"]): e["rule"] for e in log}
    assert by_cell[(3, "n_excluded")] == "primary_min_cell"
    assert by_cell[(3, "n_remaining")] == "secondary_differencing"
    attack_flow(checked, original, 10)
    assert checked.at[5, "n_remaining"] == original.at[5, "n_remaining"]  # the final cohort is still published


def test_flow_small_exclusions_are_combined_until_the_sum_reaches_min_cell():
    original = flow([3, 4, 0, 2, 500, 20])
    checked, log = check_table(original, "flow.csv")
    attack_flow(checked, original, 10)
    assert checked.at[6, "n_remaining"] == original.at[6, "n_remaining"]


def test_flow_small_exclusion_in_last_row_hides_the_tail():
    original = flow([100, 5])
    checked, _ = check_table(original, "flow.csv")
    assert pd.isna(checked.at[2, "n_excluded"]) and pd.isna(checked.at[2, "n_remaining"])
    assert checked.at[1, "n_remaining"] == 900
    attack_flow(checked, original, 10)


def test_flow_small_remaining_counts():
    original = flow([93, 2, 0], start=100)  # remaining 7, 5, 5
    checked, _ = check_table(original, "flow.csv")
    attack_flow(checked, original, 10)
    assert pd.isna(checked.at[1, "n_excluded"])  # 93 would give 100 - 93 = 7


def test_flow_chains_are_separate_per_outcome():
    original = pd.concat([flow([100, 4, 50, 0], outcome="a"), flow([100, 200, 50, 0], outcome="b")], ignore_index=True)
    checked, log = check_table(original, "outcome_flow.csv")
    assert {e["row"] for e in log} <= set(range(5))
    pd.testing.assert_frame_equal(
        checked.iloc[5:].reset_index(drop=True), original.iloc[5:].reset_index(drop=True), check_dtype=False
    )
    attack_flow(checked.iloc[:5].reset_index(drop=True), original.iloc[:5].reset_index(drop=True), 10)


@pytest.mark.parametrize("seed", range(25))
def test_flow_random_tables_resist_differencing(seed):
    rng = np.random.default_rng(seed)
    excluded = [int(x) for x in rng.choice([0, 1, 3, 6, 9, 12, 40, 300], size=rng.integers(2, 8))]
    original = flow(excluded, start=int(sum(excluded) + rng.choice([5, 50, 2000])))
    checked, _ = check_table(original, "flow.csv")
    attack_flow(checked, original, 10)


def test_nothing_suppressed_when_all_counts_pass():
    tables = {
        "estimates": estimates([10, 300], [10, 200]),
        "flow": flow([0, 10, 500, 0]),
        "summary": pd.DataFrame({"group": ["treated", "control"], "n": [10, 11], "ess": [9.5, 3.2]}),
    }
    for name, frame in tables.items():
        checked, log = check_table(frame, name)
        assert log == []
        pd.testing.assert_frame_equal(checked, frame)


def test_log_never_contains_the_suppressed_value(tmp_path):
    frame = pd.DataFrame({"label": ["alpha", "beta"], "n_people": [7, 123], "rate": [0.777, 0.5]})
    checked, log = check_table(frame, "people")
    assert log and all(set(e) == set(LOG_COLUMNS) for e in log)
    assert not any("7" in str(v) for e in log for v in e.values())
    source = tmp_path / "people.csv"
    write_csv(frame, source)
    publish({"people.csv": source}, tmp_path / "out")
    text = (tmp_path / "out" / "disclosure_log.csv").read_text()
    assert "7" not in text and "0.777" not in text
    published = (tmp_path / "out" / "people.csv").read_text()
    assert "0.777" not in published and ",7," not in published


def test_publish_writes_checked_tables_log_and_is_deterministic(tmp_path):
    sources = {
        "estimates.csv": estimates([5, 300], [400, 200]),
        "cohort/flow.csv": flow([0, 996, 4, 75, 0], start=5000),
        "match/flow.csv": flow([10, 20]),
    }
    paths = {}
    for name, frame in sources.items():
        paths[name] = tmp_path / "in" / name
        write_csv(frame, paths[name])
    log = publish(paths, tmp_path / "a")
    publish(dict(reversed(list(paths.items()))), tmp_path / "b")
    for name in [*sources, "disclosure_log.csv"]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert list(log.columns) == LOG_COLUMNS
    written = pd.read_csv(tmp_path / "a" / "disclosure_log.csv")
    assert list(written.columns) == LOG_COLUMNS and len(written) == len(log)
    assert set(log["table"]) == {"estimates.csv", "cohort/flow.csv"}
    assert set(log["action"]) == {"suppressed"}
    est = pd.read_csv(tmp_path / "a" / "estimates.csv")
    assert est.loc[0, STATS].isna().all() and est.loc[1, STATS].notna().all()
    # an unsuppressed table comes out byte-identical to its input
    assert (tmp_path / "a" / "match/flow.csv").read_bytes() == paths["match/flow.csv"].read_bytes()


def test_publish_rejects_colliding_or_escaping_names(tmp_path):
    source = tmp_path / "flow.csv"
    write_csv(flow([20]), source)
    with pytest.raises(ValueError):
        publish({"flow.csv": source, "flow": source}, tmp_path / "out")
    with pytest.raises(ValueError):
        publish({"../flow.csv": source}, tmp_path / "out")


# ---------------------------------------------------------------------------------------------------------
# rule 6: counts implied by proportions in balance.csv


def _balance(n_treated: int = 40) -> pd.DataFrame:
    """A balance table (unadjusted and matched rows) of a numeric, a binary and two categorical covariates."""
    covariates = ["age", "language_need", "sex=F", "sex=M", "ethnicity=Asian", "ethnicity=Other", "ethnicity=White"]
    binary = [False, True, True, True, True, True, True]
    treated = [40.1, 3 / n_treated, 0.5, 0.5, 12 / n_treated, 25 / n_treated, 3 / n_treated]
    control = [41.0, 0.2, 0.45, 0.55, 0.3, 0.2, 0.5]
    rows = [
        {"covariate": c, "adjustment": adjustment, "binary": b, "mean_treated": t, "mean_control": k,
         "smd": 0.1, "variance_ratio": 1.0, "ks": 0.05, "flagged": False}
        for adjustment in ("unadjusted", "matched")
        for c, b, t, k in zip(covariates, binary, treated, control)
    ]  # fmt: skip
    return pd.DataFrame(rows)


def test_small_counts_implied_by_proportions_are_suppressed_in_every_adjustment_and_level():
    balance = _balance()
    summary = pd.DataFrame(
        {"adjustment": ["unadjusted"] * 2, "group": ["treated", "control"], "n": [40, 60], "sum_weights": [40, 60]}
    )
    out = check_tables({"match/balance.csv": balance, "match/balance_summary.csv": summary}, min_cell=10)
    checked, log = out["match/balance.csv"]
    hidden = checked["mean_treated"].isna()
    # language_need (3 of 40 treated) and ethnicity (3 of 40 treated are White: every level hidden, since
    # the levels add up to one), in the unadjusted and matched rows; age and sex stay
    expect = balance["covariate"].str.startswith(("language_need", "ethnicity"))
    assert hidden.tolist() == expect.tolist()
    assert checked.loc[expect, ["mean_control", "smd", "variance_ratio", "ks"]].isna().all().all()
    assert checked.loc[~expect, ["mean_treated", "smd"]].notna().all().all()
    assert {e["rule"] for e in log} == {"implied_count"}
    # the same proportions with 400 treated and 600 controls imply 30 and more: nothing hidden
    big = balance.copy()
    big.loc[big["covariate"] == "language_need", "mean_treated"] = 30 / 400
    big.loc[big["covariate"] == "ethnicity=White", "mean_treated"] = 30 / 400
    big_summary = summary.assign(n=[400, 600])
    checked, log = check_tables({"match/balance.csv": big, "match/balance_summary.csv": big_summary}, min_cell=10)[
        "match/balance.csv"
    ]
    assert log == [] and checked["mean_treated"].notna().all()


def test_proportions_without_published_group_sizes_imply_no_count():
    checked, log = check_tables({"match/balance.csv": _balance()}, min_cell=10)["match/balance.csv"]
    assert log == [] and checked["mean_treated"].notna().all()


def test_all_or_none_of_a_group_is_small_only_when_zeros_are():
    balance = _balance()
    balance = balance[balance["covariate"].isin(["age", "sex=F", "sex=M"])].reset_index(drop=True)
    balance.loc[balance["covariate"] == "sex=F", "mean_treated"] = 0.0
    balance.loc[balance["covariate"] == "sex=M", "mean_treated"] = 1.0
    summary = pd.DataFrame({"adjustment": ["unadjusted"] * 2, "group": ["treated", "control"], "n": [40, 60]})
    frames = {"match/balance.csv": balance, "match/balance_summary.csv": summary}
    assert check_tables(frames, min_cell=10)["match/balance.csv"][1] == []
    checked, _ = check_tables(frames, min_cell=10, allow_zero=False)["match/balance.csv"]
    assert checked["mean_treated"].isna().tolist() == [False, True, True, False, True, True]


# ---------------------------------------------------------------------------------------------------------
# rule 7: the value tables follow the estimates they value


def _estimates_and_value(n_treated: int):
    estimates = pd.DataFrame(
        {
            "outcome": ["job_start", "job_start", "income"],
            "subgroup": ["", "", ""],
            "method": ["aipw", "ipw", "aipw"],
            "estimand": ["ATT", "ATT", "ATT"],
            "estimate": [0.1, 0.11, 350.0],
            "std_error": [0.02, 0.02, 40.0],
            "n_treated": [n_treated, n_treated, 800],
            "n_control": [900, 900, 700],
            "notes": ["", "", ""],
        }
    )
    value = pd.DataFrame(
        {
            "level": "per_client",
            "outcome": ["job_start", "income", "total", "total"],
            "quantity": ["benefit", "benefit", "benefit", "net_benefit"],
            "value": [1100.0, 140.0, 1240.0, 1100.0],
            "ci_lower": [700.0, 100.0, 800.0, 650.0],
            "notes": ["aipw ATT effect 0.1 (SE 0.02) per client", "aipw ATT effect 350 (SE 40) per client", "", ""],
            "method": ["aipw", "aipw", "aipw", "aipw"],
            "estimand": ["ATT", "ATT", "ATT", "ATT"],
        }
    )
    tornado = pd.DataFrame(
        {"parameter": ["job_start: effect (95% CI)", "income: unit value"], "input_low": [0.06, 0.8],
         "input_high": [0.14, 1.2], "net_point": [1100.0, 1100.0]}
    )  # fmt: skip
    return {"estimates.csv": estimates, "value.csv": value, "value_tornado.csv": tornado}


def test_value_rows_of_a_hidden_estimate_and_the_totals_are_suppressed():
    out = check_tables(_estimates_and_value(n_treated=4), min_cell=10)
    estimates, _ = out["estimates.csv"]
    value, log = out["value.csv"]
    tornado, _ = out["value_tornado.csv"]
    assert estimates["estimate"].isna().tolist() == [True, True, False]
    # job_start's benefit (1100 / unit value = the effect) and the totals (total - income = job_start) hide;
    # income's row stays; every tornado row hides (its effect row prints job_start's CI)
    assert value["value"].isna().tolist() == [True, False, True, True]
    assert value["notes"].isna().tolist() == [True, False, True, True]
    assert tornado[["input_low", "input_high", "net_point"]].isna().all().all()
    assert {e["rule"] for e in log} == {"derived_from_suppressed_count"}


def test_value_tables_stay_when_the_estimates_are_published():
    out = check_tables(_estimates_and_value(n_treated=40), min_cell=10)
    assert out["value.csv"][1] == [] and out["value_tornado.csv"][1] == []


def test_a_hidden_estimate_of_another_method_leaves_the_value_alone():
    frames = _estimates_and_value(n_treated=40)
    frames["estimates.csv"].loc[1, "n_treated"] = 4  # the ipw row only: the value rests on aipw
    out = check_tables(frames, min_cell=10)
    assert out["estimates.csv"][0]["estimate"].isna().tolist() == [False, True, False]
    assert out["value.csv"][1] == []
