"""The departure reduced form (deepvalue.effects.iv.departure_reduced_form).

Reference: statsmodels OLS of y on [1, X, z] with ``cov_type="cluster"`` (CR1:
G/(G-1) (N-1)/(N-K)), the same estimator as the module's linear fits; and the identity of
indirect least squares: reduced form / first stage = the 2SLS coefficient (exactly, with one
instrument and the same exogenous design).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.api as sm
from numpy.testing import assert_allclose

from deepvalue.effects.iv import departure_reduced_form, iv_2sls, iv_first_stage


def _data(seed: int = 5, n: int = 2000):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": (rng.random(n) < 0.3).astype(float)})
    z = (rng.random(n) < 0.25).astype(float)
    d = (rng.random(n) < 1 / (1 + np.exp(-(0.8 - 1.5 * z + 0.5 * X.a)))).astype(float)
    cl = rng.integers(0, 50, n)
    y = (0.5 * d + X.a - 0.3 * X.b + rng.normal(size=n)).to_numpy()
    return y, d, z, X, cl


def test_reduced_form_equals_statsmodels_ols_with_cr1():
    y, d, z, X, cl = _data()
    est = departure_reduced_form(y, d, z, X, cl, outcome="y")
    ref = sm.OLS(y, np.column_stack([np.ones(len(y)), X.to_numpy(), z])).fit(
        cov_type="cluster", cov_kwds={"groups": cl}
    )
    assert_allclose([est.estimate, est.std_error], [ref.params[-1], ref.bse[-1]], rtol=1e-8)
    assert est.estimand == "ITT" and "first stage" in est.notes


def test_reduced_form_over_first_stage_is_the_2sls_coefficient():
    y, d, z, X, cl = _data(seed=8)
    rf = departure_reduced_form(y, d, z, X, cl)
    first = iv_first_stage(d, z, X, cl)
    iv = iv_2sls(y, d, z, X, cl)
    assert_allclose(rf.estimate / first.coefficient, iv.estimate, rtol=1e-8)
