"""The dml Monte Carlo study's replicate: the dml rows of a fresh extract next to the truth."""

from __future__ import annotations

import numpy as np

from deepvalue.simulate.dml_study import dml_replicate
from deepvalue.simulate.study import summarise


def test_a_replicate_compares_both_estimands_of_every_outcome_with_the_truth():
    rows = dml_replicate(3, 1500, scenario="default", learner="linear")
    assert set(rows["method"]) == {"dml"}
    assert set(rows["outcome"]) == {"job_start", "income_gain_gbp", "crisis_contacts"}
    assert set(rows["estimand"]) == {"ATE", "ATT"}
    assert rows["truth"].notna().all() and (rows["std_error"] > 0).all()
    # the covered flag is the CI against the truth, not a constant
    inside = (rows["ci_lower"] <= rows["truth"]) & (rows["truth"] <= rows["ci_upper"])
    assert np.array_equal(rows["covered"].to_numpy(dtype=bool), inside.to_numpy())
    summary = summarise(rows)
    assert (summary["reps"] == 1).all() and len(summary) == 6
    # --outcomes: one outcome's cross-fit alone gives that outcome's rows of the full replicate, to the digit
    alone = dml_replicate(3, 1500, scenario="default", learner="linear", outcomes=["income_gain_gbp"])
    assert set(alone["outcome"]) == {"income_gain_gbp"}
    full = rows[rows["outcome"] == "income_gain_gbp"].reset_index(drop=True)
    assert alone.reset_index(drop=True)[["estimand", "estimate", "std_error"]].equals(
        full[["estimand", "estimate", "std_error"]]
    )


def test_the_null_scenario_has_zero_truth():
    rows = dml_replicate(3, 1500, scenario="null", learner="linear")
    assert (rows["truth"] == 0).all()
