"""The clustered-SE diagnostic (deepvalue.simulate.cluster_se_study).

- reference: the leverage-corrected residuals of the diagnostic, applied to the D coefficient of the
  interacted regression with the centre held fixed (the influence function without its centring
  term), give statsmodels 0.15 ``OLS(...).fit(cov_type="HC2")`` and ``"HC3"`` and pyfixest 0.60
  ``feols(..., vcov={"CRV3": "g"}, ssc=pf.ssc(k_adj=False, G_adj=False))`` (the delete-one-cluster
  jackknife centred at the estimate), to 1e-8 relative;
- the summary by hand on four replicates.
- one small extract: the study's estimate and today's SE are the pipeline's regression row's (checked
  inside ``one_extract``), for the full design and the site-only one.
"""

import numpy as np
import pandas as pd
import pyfixest as pf
import pytest
import statsmodels.api as sm

from deepvalue.simulate.cluster_se_study import _adjusted_resid, _cluster_var, _lin_parts, one_extract, summarise


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(20261201)
    n, g = 400, 30
    cluster = rng.integers(0, g, size=n)
    x = np.column_stack([rng.standard_normal(n), rng.random(n) < 0.3, rng.standard_normal(n)]).astype(float)
    d = (rng.random(n) < 1 / (1 + np.exp(-0.5 * x[:, 0]))).astype(float)
    y = 1 + x @ [0.5, -1.0, 0.2] + d * (0.3 + 0.4 * x[:, 0]) + rng.normal(size=g)[cluster] + rng.standard_normal(n)
    return y, d, x, cluster


@pytest.mark.parametrize("estimand", ["ATT", "ATE"])
def test_leverage_corrected_variances_equal_statsmodels_and_pyfixest(data, estimand):
    y, d, x, cluster = data
    n = y.size
    _, M, bread, lever, resid, _ = _lin_parts(y, d, x, estimand)
    fit = sm.OLS(y, M)
    singles = np.arange(n)
    for name, power in (("HC2", 0.5), ("HC3", 1.0)):
        ours = np.sqrt(_cluster_var(lever * _adjusted_resid(M, bread, resid, None, power), singles))
        looped = np.sqrt(_cluster_var(lever * _adjusted_resid(M, bread, resid, singles, power), singles))
        assert looped == pytest.approx(ours, rel=1e-10)
        assert ours == pytest.approx(fit.fit(cov_type=name).bse[1], rel=1e-8), name
    frame = pd.DataFrame(M[:, 1:], columns=[f"m{j}" for j in range(1, M.shape[1])]).assign(y=y, g=cluster)
    ref = pf.feols(
        "y ~ " + " + ".join(frame.columns[:-2]),
        data=frame,
        vcov={"CRV3": "g"},
        ssc=pf.ssc(k_adj=False, G_adj=False),
    )
    cr3 = np.sqrt(_cluster_var(lever * _adjusted_resid(M, bread, resid, cluster, 1.0), cluster))
    assert cr3 == pytest.approx(float(ref.se()["m1"]), rel=1e-8)
    # CR2 lies between the uncorrected cluster sum and CR3
    cr0 = np.sqrt(_cluster_var(lever * resid, cluster))
    cr2 = np.sqrt(_cluster_var(lever * _adjusted_resid(M, bread, resid, cluster, 0.5), cluster))
    assert cr0 < cr2 < cr3


def test_summary_by_hand():
    reps = pd.DataFrame(
        {
            "seed": [1, 2, 3, 4],
            "estimand": "ATE",
            "estimate": [1.0, 3.0, 2.5, 1.5],
            "truth": 2.0,
            "clusters": 11,
            **{f"se_{v}": 0.5 for v in ("today", "cr1", "site", "hc0", "hc1", "hc2", "hc3", "cr2", "cr3")},
            "se_jackknife": 0.6,
        }
    )
    out = summarise(reps).set_index(["variant", "critical"])
    sd = np.std([-1.0, 1.0, 0.5, -0.5], ddof=1)
    assert out.loc[("today", "normal"), "se_over_sd"] == pytest.approx(0.5 / sd)
    assert out.loc[("today", "normal"), "coverage"] == 0.5  # |1.0| > 0.98 twice
    # t(10) 2.228 * 0.5 = 1.11 covers all four; t(5) for site (2.571 * 0.5) too
    assert out.loc[("today", "t(G-1)"), "coverage"] == 1.0
    assert out.loc[("site", "t(G-1)"), "coverage"] == 1.0
    assert out.loc[("jackknife", "normal"), "coverage"] == 1.0  # 1.96 * 0.6 = 1.18
    assert out.loc[("today", "normal"), "rejects_zero"] == 1.0  # every estimate is far from 0


@pytest.mark.parametrize("design, k", [("site", 12), ("full", None)])
def test_one_small_extract(design, k):
    # one_extract itself checks that its estimate and today's SE are the pipeline's regression row's
    out = one_extract(3, 800, "income_gain_gbp", "null", "measured", jackknife=design == "full", design=design)
    assert list(out["estimand"]) == ["ATT", "ATE"]
    if k is not None:
        assert (out["k"] == k).all()  # 1, D, 5 site dummies and their interactions
    assert (out["se_hc3"] > out["se_hc0"]).all() and (out["se_cr3"] > out["se_cr2"]).all()
    assert np.isfinite(out["se_jackknife"]).all() == (design == "full")
