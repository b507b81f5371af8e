"""The own-vs-redrawn answers diagnostic of life satisfaction (deepvalue.simulate.redraw_study)."""

import numpy as np
import pandas as pd
import pytest

from deepvalue.simulate.redraw_study import balance_z, one_extract, summarise


def test_one_small_extract_replays_the_generator_and_redraws_other_answers():
    row = one_extract(3, 900)
    # the replayed potential answers give the extract's truth exactly (one_extract also checks that
    # they reproduce every observed follow-up answer)
    assert row["replayed_satt"] == pytest.approx(row["satt"], abs=1e-9)
    assert row["replayed_sate"] == pytest.approx(row["sate"], abs=1e-9)
    # the individual effects of a rounded 0-10 answer are 0 or 1 (common random numbers): variance
    # near p (1 - p) with p the mean effect, about 0.43
    assert 0.2 < row["var_individual_effect"] < 0.26
    # fresh draws give another estimate, of the same size of SE
    assert row["redrawn_ATT_estimate"] != pytest.approx(row["ATT_estimate"], abs=1e-6)
    assert 0.8 < row["redrawn_ATT_se_cluster"] / row["ATT_se_cluster"] < 1.25
    # the additive OLS' CR1 and the interacted regression's SE estimate similar variances
    assert 0.8 < row["ols_se_cr1"] / row["ATT_se_cluster"] < 1.25


def test_balance_z_by_hand():
    v = np.array([1.0, 2.0, 3.0, 0.0, 1.0, 2.0])
    t = np.array([True, True, True, False, False, False])
    se = np.sqrt(np.var([1.0, 2.0, 3.0]) / 3 + np.var([0.0, 1.0, 2.0]) / 3)
    assert balance_z(v, t) == pytest.approx(1.0 / se)


def test_summary_by_hand():
    base = {
        "ATT_estimate": [0.3, 0.5, 0.4, 0.6],
        "ATT_se_cluster": 0.1,
        "ATT_se_hc0": 0.2,
        "satt": [0.4, 0.4, 0.5, 0.5],
        "ATE_estimate": [0.3, 0.5, 0.4, 0.6],
        "ATE_se_cluster": 0.1,
        "ATE_se_hc0": 0.1,
        "sate": 0.45,
        "ols_estimate": [0.3, 0.5, 0.4, 0.6],
        "ols_se_cr1": 0.1,
        "ols_se_hc1": 0.1,
    }
    reps = pd.DataFrame({**base, **{f"redrawn_{k}": v for k, v in base.items()}})
    out = summarise(reps)
    row = out[(out["answers"] == "own") & (out["estimator"] == "regression ATT") & (out["se"] == "cluster")].iloc[0]
    sd = np.std([0.3, 0.5, 0.4, 0.6], ddof=1)
    assert row["se_over_sd"] == pytest.approx(0.1 / sd)
    assert row["sd_error"] == pytest.approx(np.std([-0.1, 0.1, -0.1, 0.1], ddof=1))
    assert row["coverage_sample_truth"] == 1.0  # every error 0.1 < 0.196
    # against the mean truth 0.45 the errors are -0.15, 0.05, -0.05, 0.15: all inside 0.196
    assert row["coverage_mean_truth"] == 1.0
    hc = out[(out["answers"] == "own") & (out["estimator"] == "regression ATT") & (out["se"] == "hc0")].iloc[0]
    assert hc["mean_se"] == pytest.approx(0.2)
    assert len(out) == 2 * (2 * 2 + 2)
