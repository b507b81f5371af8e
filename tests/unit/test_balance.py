"""Balance statistics and the match-stage figures.

Reference values: unweighted statistics against direct numpy computations of the formulas and
``scipy.stats.ks_2samp`` (the installed scipy); weighted ones worked by hand in the comments
(tolerance 1e-12 relative); overlap weights balance the means exactly when the score is a
logistic model fitted by maximum likelihood (Li, Morgan and Zaslavsky 2018, JASA 113:390).
No published table with its raw data could be found reliably for the SMD, so the formulas of
Austin (2009, Stat Med 28:3083) for continuous and binary covariates are checked by hand.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy.stats import ks_2samp

from deepvalue.adjust.balance import BALANCE_COLUMNS, balance_summary, balance_table
from deepvalue.adjust.figures import plot_love, plot_overlap
from deepvalue.adjust.propensity import fit_propensity
from deepvalue.adjust.weighting import propensity_weights


@pytest.fixture
def sample():
    rng = np.random.default_rng(21)
    n = 500
    t = (rng.random(n) < 0.4).astype(int)
    X = pd.DataFrame(
        {
            "age": rng.normal(40, 12, n) + 5 * t,
            "n_issues": rng.integers(0, 5, n).astype(float),  # many ties
            "disability": (rng.random(n) < 0.2 + 0.2 * t).astype(float),
        }
    )
    return X, t


def test_unweighted_statistics_equal_direct_formulas(sample):
    X, t = sample
    bal = balance_table(X, t, {}).set_index("covariate")
    assert list(balance_table(X, t, {}).columns) == BALANCE_COLUMNS
    for col in ("age", "n_issues"):
        xt, xc = X.loc[t == 1, col].to_numpy(), X.loc[t == 0, col].to_numpy()
        sd = np.sqrt((xt.var(ddof=1) + xc.var(ddof=1)) / 2)
        assert bal.loc[col, "mean_treated"] == pytest.approx(xt.mean(), rel=1e-12)
        assert bal.loc[col, "smd"] == pytest.approx((xt.mean() - xc.mean()) / sd, rel=1e-12)
        assert bal.loc[col, "variance_ratio"] == pytest.approx(xt.var(ddof=1) / xc.var(ddof=1), rel=1e-12)
        assert bal.loc[col, "ks"] == pytest.approx(ks_2samp(xt, xc).statistic, rel=1e-12)
        assert not bal.loc[col, "binary"]
    # 0/1 column: p(1 - p) variances (Austin 2009); KS is the difference in proportions
    pt, pc = X.loc[t == 1, "disability"].mean(), X.loc[t == 0, "disability"].mean()
    row = bal.loc["disability"]
    assert row["binary"]
    assert row["smd"] == pytest.approx((pt - pc) / np.sqrt((pt * (1 - pt) + pc * (1 - pc)) / 2), rel=1e-12)
    assert row["variance_ratio"] == pytest.approx(pt * (1 - pt) / (pc * (1 - pc)), rel=1e-12)
    assert row["ks"] == pytest.approx(
        ks_2samp(X.loc[t == 1, "disability"], X.loc[t == 0, "disability"]).statistic, rel=1e-12
    )


def test_weighted_statistics_by_hand():
    # treated x = 1, 2, 3 with weights 1, 1, 2; controls x = 2, 4 with weights 3, 1
    X = pd.DataFrame({"x": [1.0, 2.0, 3.0, 2.0, 4.0], "b": [1.0, 0.0, 1.0, 0.0, 1.0]})
    t = np.array([1, 1, 1, 0, 0])
    w = np.array([1.0, 1.0, 2.0, 3.0, 1.0])
    bal = balance_table(X, t, {"w": w}).set_index(["adjustment", "covariate"])
    x = bal.loc[("w", "x")]
    # means: (1 + 2 + 6) / 4 = 2.25 and (6 + 4) / 4 = 2.5
    assert x["mean_treated"] == pytest.approx(2.25, rel=1e-12) and x["mean_control"] == pytest.approx(2.5, rel=1e-12)
    # denominator from the unadjusted sample: variances 1 (of 1, 2, 3) and 2 (of 2, 4): sqrt(1.5)
    assert x["smd"] == pytest.approx(-0.25 / np.sqrt(1.5), rel=1e-12)
    # reliability-weighted variances: treated V1 = 4, V2 = 6, sum w (x - m)^2 = 1.5625 + 0.0625 + 1.125
    # = 2.75, times 4 / (16 - 6) = 1.1; controls V1 = 4, V2 = 10, 0.75 + 2.25 = 3, times 4 / 6 = 2
    assert x["variance_ratio"] == pytest.approx(1.1 / 2, rel=1e-12)
    # weighted ECDFs at 1, 2, 3, 4: treated .25, .5, 1, 1; controls 0, .75, .75, 1 -> KS 0.25
    assert x["ks"] == pytest.approx(0.25, rel=1e-12)
    b = bal.loc[("w", "b")]
    # proportions 3/4 and 1/4; unadjusted 2/3 and 1/2: SD sqrt((2/9 + 1/4) / 2)
    assert b["smd"] == pytest.approx(0.5 / np.sqrt((2 / 9 + 1 / 4) / 2), rel=1e-12)
    assert b["variance_ratio"] == pytest.approx(1.0, rel=1e-12)  # 3/16 against 3/16
    assert b["ks"] == pytest.approx(0.5, rel=1e-12)


def test_integer_weights_are_replication_for_means_and_ks(sample):
    X, t = sample
    w = np.random.default_rng(3).integers(0, 4, len(t)).astype(float)
    bal = balance_table(X, t, {"w": w}).set_index(["adjustment", "covariate"])
    rep = np.repeat(np.arange(len(t)), w.astype(int))
    for col in X.columns:
        x = X[col].to_numpy()[rep]
        tr = t[rep]
        assert bal.loc[("w", col), "mean_control"] == pytest.approx(x[tr == 0].mean(), rel=1e-12)
        assert bal.loc[("w", col), "ks"] == pytest.approx(ks_2samp(x[tr == 1], x[tr == 0]).statistic, rel=1e-12)


def test_flags_use_smd_for_all_and_variance_ratio_for_non_binary():
    X = pd.DataFrame({"x": [0.0, 0.0, 10.0, 4.9, 5.0, 5.1], "b": [1.0, 0.0, 0.0, 1.0, 0.0, 0.0]})
    t = np.array([1, 1, 1, 0, 0, 0])
    bal = balance_table(X, t, {}, smd_threshold=0.1, variance_ratio=(0.5, 2.0)).set_index("covariate")
    # x: equal-ish means (3.33 vs 5; SMD -0.29) and variance ratio 33.3 / 0.01: flagged
    assert bal.loc["x", "flagged"]
    # b: equal proportions (1/3): SMD 0, VR 1: not flagged
    assert bal.loc["b", "smd"] == 0 and not bal.loc["b", "flagged"]
    # a 0/1 column with a small SMD but a variance ratio outside the range is not flagged
    X2 = pd.DataFrame({"b": np.r_[np.zeros(99), 1.0, np.zeros(97), np.ones(3)]})
    t2 = np.r_[np.ones(100), np.zeros(100)].astype(int)
    row = balance_table(X2, t2, {}, smd_threshold=0.2).iloc[0]
    assert row["variance_ratio"] < 0.5 and abs(row["smd"]) < 0.2 and not row["flagged"]


def test_unadjusted_name_is_reserved(sample):
    X, t = sample
    with pytest.raises(ValueError, match="added automatically"):
        balance_table(X, t, {"unadjusted": np.ones(len(t))})


def test_overlap_weights_balance_means_exactly():
    # Li, Morgan and Zaslavsky (2018), exact balance: with a logistic score fitted by maximum
    # likelihood, overlap weights give identical weighted means for every covariate in the model.
    rng = np.random.default_rng(9)
    n = 2000
    X = pd.DataFrame({"a": rng.normal(size=n), "b": (rng.random(n) < 0.3).astype(float), "c": rng.gamma(2, 3, n)})
    t = (rng.random(n) < 1 / (1 + np.exp(-(0.5 * X["a"] - X["b"] + 0.1 * X["c"] - 0.5)))).astype(int)
    fit = fit_propensity(X, t)
    bal = balance_table(X, t, {"overlap": propensity_weights(fit.score, t, "ATO")})
    assert_allclose(bal.loc[bal["adjustment"] == "overlap", "smd"], 0, atol=1e-9)


def test_balance_summary_ess():
    s = balance_summary([1, 1, 0, 0, 0], {"w": [1.0, 3.0, 0.0, 2.0, 2.0]})
    row = s.set_index(["adjustment", "group"])
    assert row.loc[("unadjusted", "control"), "ess"] == 3.0
    assert row.loc[("w", "treated"), "ess"] == pytest.approx(16 / 10, rel=1e-15)  # (1 + 3)^2 / (1 + 9)
    assert row.loc[("w", "control"), "n"] == 2 and row.loc[("w", "control"), "ess"] == pytest.approx(2.0)


def test_figures_are_written_deterministically(sample, tmp_path):
    X, t = sample
    w = np.where(np.arange(len(t)) % 2 == 0, 1.0, 0.0)
    bal = balance_table(X, t, {"matched": w, "overlap": np.full(len(t), 0.5)})
    score = np.clip(X["age"].to_numpy() / 100, 0.01, 0.99)
    digests = []
    for i in range(2):
        love, overlap = tmp_path / f"love{i}.png", tmp_path / f"overlap{i}.png"
        plot_love(bal, love, threshold=0.1)
        plot_overlap(score, t, w, overlap)
        digests.append([hashlib.sha256(p.read_bytes()).hexdigest() for p in (love, overlap)])
        assert love.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert digests[0] == digests[1]
