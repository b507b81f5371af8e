"""Tests of the Poisson regression adjustment for count outcomes (deepvalue.effects.poisson).

- reference: statsmodels ``TreatmentEffect(Poisson(y, x), d).ra()`` (a GMM that stacks the two arm
  fits and the potential-outcome means) gives the same estimate and HC0 SE, to 1e-8; clustered,
  a generic stacked M-estimator with a numerical Jacobian gives the same SE;
- truth: with a log-linear mean and an effect that varies with X, Poisson RA recovers the ATT
  over 300 draws while Lin's linear regression adjustment is visibly biased (where it fails);
- edge cases: negative outcomes and an arm without any events are refused with the reason.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from numpy.testing import assert_allclose
from statsmodels.tools.numdiff import approx_fprime
from statsmodels.treatment.treatment_effects import TreatmentEffect

from deepvalue.core.errors import AnalysisError
from deepvalue.effects.linear import regression_adjustment
from deepvalue.effects.poisson import poisson_regression_adjustment


def _draw(rng: np.random.Generator, n: int, n_clusters: int = 40) -> dict:
    """Confounded treatment, log-linear counts, an effect on the log scale varying with x2, worker shocks."""
    x = np.column_stack([rng.normal(size=n), rng.normal(size=n), (rng.random(n) < 0.4).astype(float)])
    d = (rng.random(n) < 1 / (1 + np.exp(-(0.8 * x[:, 0] - 0.3)))).astype(float)
    cluster = rng.integers(0, n_clusters, n)
    shock = rng.normal(scale=0.2, size=n_clusters)[cluster]
    log_mu0 = 0.3 + 0.6 * x[:, 0] - 0.3 * x[:, 1] + 0.4 * x[:, 2]
    log_mu1 = log_mu0 - 0.4 + 0.2 * x[:, 1]
    y = rng.poisson(np.exp(np.where(d == 1, log_mu1, log_mu0) + shock)).astype(float)
    gap = np.exp(log_mu1 + shock) - np.exp(log_mu0 + shock)
    truth_att = float(gap[d == 1].mean())  # the sample ATT of the conditional means
    return {"x": x, "d": d, "y": y, "cluster": cluster, "truth_att": truth_att}


@pytest.fixture(scope="module")
def data() -> dict:
    return _draw(np.random.default_rng(20261201), 3000)


@pytest.mark.parametrize(("estimand", "effect_group"), [("ATT", 1), ("ATE", "all")])
def test_poisson_ra_matches_statsmodels_treatment_effect(data, estimand, effect_group):
    # reference: statsmodels 0.15 TreatmentEffect(sm.Poisson(y, Z), d).ra(effect_group=...), whose
    # robust GMM covariance is HC0; its ra() needs an integer treatment and a selection model
    y, d, x = data["y"], data["d"], data["x"]
    Z = sm.add_constant(x)
    select = sm.Logit(d, Z).fit(disp=0)
    ref = TreatmentEffect(sm.Poisson(y, Z), d.astype(int), results_select=select).ra(effect_group=effect_group)
    est = poisson_regression_adjustment(y, d, pd.DataFrame(x), None, estimand, leverage=False)
    assert_allclose([est.estimate, est.std_error], [ref.effect[0], ref.sd[0]], rtol=1e-8)
    assert "(robust, HC0)" in est.notes and est.scale == "mean_difference"


def test_poisson_ra_clustered_se_equals_a_numerical_stacked_sandwich(data):
    # reference: theta = (b0, tau) with moments (1-D) x (y - exp(x'b0)) and D (y - exp(x'b0) - tau) / mean(D);
    # V = J^-1 S J^-T / n with J by central differences, S = G/(G-1) sum of cluster sums
    y, d, x, cl = data["y"], data["d"], data["x"], data["cluster"]
    Z = sm.add_constant(x)
    est = poisson_regression_adjustment(y, d, pd.DataFrame(x), cl, "ATT", leverage=False)
    b0 = sm.GLM(y[d == 0], Z[d == 0], family=sm.families.Poisson()).fit(tol=1e-12).params

    def moments(theta):
        b, tau = theta[:-1], theta[-1]
        m0 = np.exp(Z @ b)
        return np.column_stack([((1 - d) * (y - m0))[:, None] * Z, d * (y - m0 - tau) / d.mean()])

    theta = np.r_[b0, est.estimate]
    g = moments(theta)
    n = g.shape[0]
    sums = pd.DataFrame(g).groupby(cl).sum().to_numpy()
    S = sums.T @ sums / n * sums.shape[0] / (sums.shape[0] - 1)
    J = approx_fprime(theta, lambda t: moments(t).mean(axis=0), centered=True)
    V = np.linalg.inv(J) @ S @ np.linalg.inv(J).T / n
    assert_allclose(est.std_error, np.sqrt(V[-1, -1]), rtol=1e-5)
    assert "40 clusters" in est.notes


def test_poisson_ra_recovers_a_log_linear_att_where_the_linear_model_is_biased():
    # truth: 300 draws of n = 2,000 with a log-linear mean and a log effect varying with x2. The
    # Poisson RA's mean error is within 0.1 SE of 0 and its clustered 95% CI covers the ATT in
    # [0.92, 0.98] of draws; Lin's linear adjustment on the same draws is biased by more than
    # 1 SE (with this seed: Poisson +0.02 SE, coverage 0.933; linear +1.95 SE, coverage 0.537).
    rng = np.random.default_rng(11)
    pois, lin, covered = [], [], []
    for _ in range(300):
        s = _draw(rng, 2000)
        X = pd.DataFrame(s["x"])
        p = poisson_regression_adjustment(s["y"], s["d"], X, s["cluster"], "ATT")
        r = regression_adjustment(s["y"], s["d"], X, s["cluster"], "ATT")
        pois.append((p.estimate - s["truth_att"]) / p.std_error)
        lin.append((r.estimate - s["truth_att"]) / r.std_error)
        covered.append(p.ci_lower <= s["truth_att"] <= p.ci_upper)
    assert abs(np.mean(pois)) < 0.1
    assert 0.92 <= np.mean(covered) <= 0.98
    assert np.mean(lin) > 1.0


def test_poisson_ra_refuses_negative_outcomes_and_an_arm_without_events(data):
    y, d, X = data["y"].copy(), data["d"], pd.DataFrame(data["x"])
    y[:3] = -1.0
    with pytest.raises(AnalysisError, match="3 negative values"):
        poisson_regression_adjustment(y, d, X, None, "ATT", outcome="crisis_contacts")
    none = np.where(d == 0, 0.0, data["y"])
    with pytest.raises(AnalysisError, match="0 for every client in the control group"):
        poisson_regression_adjustment(none, d, X, None, "ATT", outcome="crisis_contacts")
