"""The own refuters (deepvalue.robustness.refuters) against DoWhy's refuters on the same data.

Reference: DoWhy 0.14 itself (``dowhy_refutations`` calls ``CausalModel.refute_estimate``). The own
implementation consumes the same random draws, so the simulated effects agree to rounding
(tolerance 1e-9 relative) and the p-values and readings are identical.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from deepvalue.robustness.dowhy_refuters import REFUTERS, dowhy_refutations
from deepvalue.robustness.refuters import refutations

SEED = 20261125


def _frame(n: int, seed: int, effect: float = 0.5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(4)})
    frame["site"] = rng.choice(["a", "b", "c"], n)
    z = frame[[f"x{i}" for i in range(4)]].to_numpy() @ np.array([0.8, -0.5, 0.3, 0.0])
    frame["treatment"] = (rng.random(n) < 1 / (1 + np.exp(-z))).astype("int8")
    frame["y"] = effect * frame["treatment"] + z + (frame["site"] == "b") + rng.normal(size=n)
    frame.loc[rng.random(n) < 0.05, "y"] = np.nan  # some clients without the outcome
    return frame


COVARIATES = ["x0", "x1", "x2", "x3", "site"]


@pytest.mark.parametrize("simulations", [12, 100])  # the normal-tail and the percentile p-values
def test_own_refuters_equal_dowhys(simulations):
    frame = _frame(500, seed=3)
    own = refutations(frame, "y", COVARIATES, SEED, simulations=simulations)
    ref = dowhy_refutations(frame, "y", COVARIATES, SEED, simulations=simulations)
    assert list(own["refuter"]) == list(REFUTERS)
    assert_allclose(own["estimate"], ref["estimate"], rtol=1e-9)
    assert_allclose(own["new_effect"], ref["new_effect"], rtol=1e-9, atol=1e-12)
    assert_allclose(own["p_value"], ref["p_value"], rtol=1e-9, atol=1e-12)
    pd.testing.assert_frame_equal(
        own[["passed", "n_used", "simulations"]], ref[["passed", "n_used", "simulations"]], check_dtype=False
    )
    assert list(own["reading"]) == list(ref["reading"])  # the CI of the original estimate included


def test_own_refuters_on_a_subsample_and_other_seeds_equal_dowhys():
    frame = _frame(1500, seed=4)
    own = refutations(frame, "y", COVARIATES, SEED + 1, max_rows=1000, simulations=15)
    ref = dowhy_refutations(frame, "y", COVARIATES, SEED + 1, max_rows=1000, simulations=15)
    assert (own["n_used"] == 1000).all()
    assert_allclose(own["new_effect"], ref["new_effect"], rtol=1e-9, atol=1e-12)
    other = refutations(frame, "y", COVARIATES, SEED + 2, max_rows=1000, simulations=15)
    assert (other["new_effect"] != own["new_effect"]).all()  # the seed drives every draw
