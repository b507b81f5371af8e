"""Internal consistency (deepvalue.questionnaires.reliability) against R.

References: `Rscript tests/reference/reliability/reference.R` (R 4, psych 2.2.9: psych::alpha,
psych::alpha.ci (Feldt); stats::factanal(x, factors = 1), omega = sum(l)^2 / (sum(l)^2 + sum(u)))
on the item tables written by tests/reference/reliability/make_data.py. Output pasted below.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose

from deepvalue.questionnaires.reliability import (
    RELIABILITY_COLUMNS,
    cronbach_alpha,
    feldt_interval,
    internal_consistency,
    one_factor_fit,
    reliability_table,
)

HERE = Path(__file__).resolve().parents[1] / "reference" / "reliability"

R = {
    "one_factor": {
        "alpha": (0.7999558478, 0.7633679566, 0.8327155380),
        "omega": 0.8044362311,
        "chi2": 19.9856731737,
        "df": 14,
        "p": 0.1305937607,
        "loadings": [0.47052198, 0.58840933, 0.65078624, 0.75269858, 0.58802245, 0.65993025, 0.53284547],
        "uniquenesses": [0.77860877, 0.65377407, 0.57647689, 0.43344475, 0.65422953, 0.56449187, 0.71607654],
    },
    "two_factor": {
        "alpha": (0.6319250771, 0.5634382556, 0.6928907771),
        "omega": 0.5507235852,
        "chi2": 262.5963391204,
        "df": 9,
        "p": 2.176872604e-51,
        "loadings": [0.77624461, 0.77367275, 0.79315631, -0.01434318, -0.08823902, 0.01807454],
        "uniquenesses": [0.39744601, 0.40142816, 0.37090334, 0.99979322, 0.99221458, 0.99967273],
    },
}


def items(name: str) -> np.ndarray:
    return np.loadtxt(HERE / f"{name}.csv", delimiter=",", skiprows=1)


@pytest.mark.parametrize("name", list(R))
def test_alpha_and_feldt_interval_match_psych(name):
    x = items(name)
    a = cronbach_alpha(x)
    ref = R[name]["alpha"]
    assert_allclose(a, ref[0], rtol=0, atol=1e-9)
    assert_allclose(feldt_interval(a, *x.shape), ref[1:], rtol=0, atol=1e-9)


@pytest.mark.parametrize("name", list(R))
def test_one_factor_ml_fit_matches_factanal(name):
    fit = one_factor_fit(items(name))
    ref = R[name]
    # the optimiser stops at a slightly different point from factanal's: 1e-5 on the loadings
    assert_allclose(fit.loadings, ref["loadings"], rtol=0, atol=1e-5)
    assert_allclose(fit.uniquenesses, ref["uniquenesses"], rtol=0, atol=1e-5)
    assert_allclose(fit.omega, ref["omega"], rtol=0, atol=1e-5)
    assert_allclose(fit.chi2, ref["chi2"], rtol=1e-7)
    assert fit.df == ref["df"]
    assert_allclose(fit.p_value, ref["p"], rtol=1e-5)
    # Steiger's RMSEA from factanal's statistic (psych::fa's variant, with n in one place, gives
    # 0.03760 and 0.30645)
    n = items(name).shape[0]
    assert_allclose(fit.rmsea, np.sqrt(max(ref["chi2"] / ref["df"] - 1, 0) / (n - 1)), rtol=1e-7)


def test_alpha_by_hand_on_a_tiny_table():
    # 4 respondents x 3 items; item variances 4/3, 2/3, 4/3 (sum 10/3); totals 3, 6, 6, 9, variance
    # 6; alpha = 3/2 * (1 - (10/3)/6) = 2/3
    x = np.array([[1, 1, 1], [1, 2, 3], [3, 2, 1], [3, 3, 3.0]])
    assert_allclose(cronbach_alpha(x), 2 / 3, rtol=1e-12)


def test_the_table_says_when_the_one_factor_model_fits():
    table = reliability_table(
        {("wellbeing", "baseline"): items("one_factor"), ("mixed", "baseline"): items("two_factor")}
    )
    assert list(table.columns) == RELIABILITY_COLUMNS
    by = table.set_index("questionnaire")
    assert by.loc["wellbeing", "one_factor_fits"] == "yes"
    assert by.loc["mixed", "one_factor_fits"] == "no"
    assert "does not fit" in by.loc["mixed", "notes"]


def test_degenerate_cases_give_a_reason_not_a_number():
    one_item = internal_consistency(np.arange(20.0)[:, None])
    assert np.isnan(one_item["alpha"]) and "one item" in one_item["notes"]
    few = internal_consistency(items("one_factor")[:5])
    assert np.isnan(few["alpha"]) and "fewer than 10" in few["notes"]
    x = items("one_factor").copy()
    x[:, 0] = 3
    constant = internal_consistency(x)
    assert np.isnan(constant["alpha"]) and "one value" in constant["notes"]
    lockstep = items("one_factor")[:, :4].copy()
    lockstep[:, 3] = 6 - lockstep[:, 0]  # an item that is another reversed
    singular = internal_consistency(lockstep)
    assert np.isfinite(singular["alpha"]) and np.isnan(singular["omega"]) and "singular" in singular["notes"]
    three = internal_consistency(items("one_factor")[:, :3])
    assert three["one_factor_fits"] == "untestable" and three["df"] == 0


def test_incomplete_rows_are_left_out_and_counted():
    x = items("one_factor").copy()
    x[:10, 2] = np.nan
    row = internal_consistency(x)
    assert row["n"] == 290
    assert_allclose(row["alpha"], cronbach_alpha(items("one_factor")[10:]), rtol=1e-12)
