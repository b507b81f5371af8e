"""The sandwich-vs-jackknife diagnostic (deepvalue.simulate.jackknife_study)."""

import numpy as np
import pandas as pd
import pytest

from deepvalue.simulate.jackknife_study import one_extract, summarise


def test_summary_by_hand():
    reps = pd.DataFrame(
        {
            "seed": [1, 2, 3, 4],
            "method": "ipw",
            "estimand": "ATE",
            "estimate": [1.0, 3.0, 2.5, 1.5],
            "std_error": [0.5, 0.5, 0.5, 0.5],
            "jackknife_se": [0.55, 0.55, 0.5, 0.6],
            "truth": 2.0,
            "clusters": 10,
            "effective_clusters": 8.0,
        }
    )
    row = summarise(reps).iloc[0]
    sd = np.std([-1.0, 1.0, 0.5, -0.5], ddof=1)
    assert row["jackknife_over_sandwich"] == pytest.approx((1.1 + 1.1 + 1.0 + 1.2) / 4)
    assert row["sandwich_se_over_sd"] == pytest.approx(0.5 / sd)
    assert row["coverage_sandwich"] == 0.5  # |1.0| > 0.98 twice, |0.5| inside twice
    assert row["coverage_jackknife"] == 1.0  # 1.96 * 0.55 covers the errors of 1, 1.96 * 0.5 those of 0.5


def test_jackknife_of_one_small_extract_is_near_the_sandwich():
    out = one_extract(3, 800, "income_gain_gbp", recording="measured")
    assert set(out["method"]) == {"regression", "ipw", "aipw"}
    assert (out["clusters"] >= 10).all() and (out["effective_clusters"] <= out["clusters"]).all()
    # the delete-one-cluster jackknife and the CR1-type sandwich estimate the same variance: within a
    # quarter of each other on one extract, and the jackknife is not the sandwich itself
    ratio = out["jackknife_se"] / out["std_error"]
    assert ratio.between(0.75, 1.33).all(), ratio.tolist()
    assert not np.allclose(ratio, 1.0, atol=1e-6)


def test_km_ipw_rows_are_keyed_by_scale_with_their_own_truth():
    """km_ipw's two rows per estimand (horizon risk difference, restricted mean in days) stay apart, each
    with the truth of its own scale, and its jackknife is near its sandwich on each."""
    out = one_extract(2, 800, "job_start", recording="events", methods=("km_ipw",))
    assert sorted(zip(out["estimand"], out["scale"])) == [
        ("ATE", "risk_difference_at_horizon"),
        ("ATE", "rmst_difference_days"),
        ("ATT", "risk_difference_at_horizon"),
        ("ATT", "rmst_difference_days"),
    ]
    days = out[out["scale"] == "rmst_difference_days"]
    risk = out[out["scale"] == "risk_difference_at_horizon"]
    assert (days["truth"].abs() > 1.0).all() and (risk["truth"].abs() < 1.0).all(), out  # days, not a risk
    ratio = out["jackknife_se"] / out["std_error"]
    assert ratio.between(0.75, 1.33).all(), ratio.tolist()
