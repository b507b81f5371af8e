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


def test_instrument_balance_table_shows_the_first_stage_and_is_empty_without_workers(tmp_path):
    from deepvalue.pipeline.stages import instrument_balance_stage

    rng = np.random.default_rng(2)
    n = 400
    z = (rng.random(n) < 0.3).astype(float)
    analysis = pd.DataFrame(
        {
            "client_id": [f"C{i}" for i in range(n)],
            "age": rng.normal(40, 10, n),
            "service": "employment",
            "site": "S01",
            "start_quarter": "2024Q1",
            "first_worker_left": z,
            "treatment": (rng.random(n) < np.where(z == 1, 0.2, 0.7)).astype(int),
        }
    )
    analysis.to_parquet(tmp_path / "a.parquet")
    cfg = {"covariates": [{"name": "age", "type": "numeric"}]}
    instrument_balance_stage(cfg, tmp_path / "a.parquet", tmp_path / "b.csv")
    table = pd.read_csv(tmp_path / "b.csv").set_index("covariate")
    assert list(table.index) == ["age", "treatment"]
    assert table.loc["treatment", "mean_treated"] < table.loc["treatment", "mean_control"]
    assert table.loc["treatment", "smd"] < -0.5 and abs(table.loc["age", "smd"]) < 0.3
    analysis.assign(first_worker_left=np.nan).to_parquet(tmp_path / "c.parquet")
    instrument_balance_stage(cfg, tmp_path / "c.parquet", tmp_path / "d.csv")
    assert pd.read_csv(tmp_path / "d.csv").empty
