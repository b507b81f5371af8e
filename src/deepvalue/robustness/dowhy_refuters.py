"""DoWhy's refuters of the primary (regression) estimate: placebo treatment, random common cause,
data subset and an unobserved common cause, each with its reading (passed or not, and why).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from deepvalue.robustness.dowhy_model import (
    OUTCOME,
    PRIMARY_METHOD,
    _drop_added,
    _estimate,
    _model,
    _prepare,
    _quiet_dowhy,
    _scalar,
)

#: Refuter simulations: 100 is the least at which DoWhy's refutation p-value is its two-sided
#: percentile test; with fewer it assumes a normal distribution and reports one tail.
REFUTER_SIMULATIONS = 100
REFUTER_MAX_ROWS = 10_000
SUBSET_FRACTION = 0.8
#: add_unobserved_common_cause (direct simulation): U ~ N(0, 1) flips the treatment of the
#: UNOBSERVED_FLIP share of clients with the highest U and lowers the outcome by
#: UNOBSERVED_OUTCOME_SD outcome standard deviations per SD of U.
UNOBSERVED_FLIP = 0.05
UNOBSERVED_OUTCOME_SD = 0.1
SIGNIFICANCE = 0.05

REFUTERS = ("placebo_treatment_refuter", "random_common_cause", "data_subset_refuter", "add_unobserved_common_cause")


# ------------------------------------------------------------------------------- refutations


def dowhy_refutations(
    frame: pd.DataFrame,
    outcome: str,
    covariate_columns: Sequence[Any],
    seed: int,
    max_rows: int | None = REFUTER_MAX_ROWS,
    simulations: int = REFUTER_SIMULATIONS,
    instrument: str | None = None,
) -> pd.DataFrame:
    """DoWhy's refutation tests of the primary estimate (``backdoor.linear_regression``, ATE).

    Runs on the rows with `outcome` measured; above `max_rows` rows on a subsample of that size,
    stratified by treatment and drawn with `seed` (its size is ``n_used``; ``estimate`` is the
    original estimate on those rows). Each refuter gets a ``numpy.random.RandomState(seed)``
    (an int seed would make DoWhy's data-subset refuter draw the *same* subset in every
    simulation, as ``DataFrame.sample(random_state=int)`` restarts the generator).

    Refuters and the rule for ``passed``:

    - ``placebo_treatment_refuter``: treatment permuted across rows (``placebo_type="permute"``),
      `simulations` times; ``new_effect`` = mean placebo effect. ``p_value`` is DoWhy's
      probability that 0 belongs to the distribution of placebo effects (two-sided percentile
      test with >= 100 simulations; one normal tail with fewer). Passed: p_value > 0.05.
    - ``random_common_cause``: an independent N(0, 1) column added as a confounder, `simulations`
      times. Passed: new effect inside the original estimate's 95% CI. ``p_value`` (DoWhy: is the
      original estimate in the distribution of new ones) is reported, not used.
    - ``data_subset_refuter``: re-estimated on random 80% subsets, `simulations` times. Passed as
      for the random common cause.
    - ``add_unobserved_common_cause``: one simulated confounder U ~ N(0, 1) (direct simulation)
      that flips the treatment of the ``UNOBSERVED_FLIP`` share with the highest U and lowers the
      outcome by ``UNOBSERVED_OUTCOME_SD`` outcome SDs per SD of U. A sensitivity reading, not a
      test: passed = the sign of the effect is unchanged; no p-value.

    Returns
    -------
    pandas.DataFrame
        outcome, refuter, estimate, new_effect, p_value, passed, reading, n_used, simulations.
    """
    prep = _prepare(frame, outcome, covariate_columns, seed, instrument, max_rows)
    data = prep.data
    keep = list(data.columns)
    rows = []
    with _quiet_dowhy():
        model, estimand = _model(prep)
        est = _estimate(model, estimand, PRIMARY_METHOD, "ate", seed)
        original = float(est.value)
        lo, hi = np.asarray(est.get_confidence_intervals(), dtype=float).ravel()[:2]
        y_sd = float(data[OUTCOME].std(ddof=1))
        kappa_y = UNOBSERVED_OUTCOME_SD * y_sd if y_sd > 0 else UNOBSERVED_OUTCOME_SD
        for refuter in REFUTERS:
            _drop_added(data, keep)
            np.random.seed(seed)
            if refuter == "add_unobserved_common_cause":
                kwargs = {
                    "simulation_method": "direct-simulation",
                    "confounders_effect_on_treatment": "binary_flip",
                    "confounders_effect_on_outcome": "linear",
                    "effect_strength_on_treatment": UNOBSERVED_FLIP,
                    "effect_strength_on_outcome": kappa_y,
                    "plotmethod": None,
                }
                sims = 1
            else:
                kwargs = {"num_simulations": simulations, "random_state": np.random.RandomState(seed)}
                if refuter == "placebo_treatment_refuter":
                    kwargs["placebo_type"] = "permute"
                elif refuter == "data_subset_refuter":
                    kwargs["subset_fraction"] = SUBSET_FRACTION
                sims = simulations
            res = model.refute_estimate(estimand, est, method_name=refuter, **kwargs)
            new = float(np.asarray(res.new_effect, dtype=float).ravel()[0])
            p = float("nan")
            if res.refutation_result is not None:
                p = _scalar(res.refutation_result["p_value"])
            rows.append(refutation_row(outcome, refuter, original, new, p, (lo, hi), sims, len(data)))
        _drop_added(data, keep)
    return pd.DataFrame(rows)


def refutation_row(
    outcome: str, refuter: str, original: float, new: float, p: float, ci: tuple[float, float], sims: int, n: int
) -> dict:
    """One row of refutations.csv, with its reading and verdict (:func:`_judge`)."""
    passed, reading = _judge(refuter, original, new, p, ci[0], ci[1], sims)
    return {
        "outcome": outcome,
        "refuter": refuter,
        "estimate": original,
        "new_effect": new,
        "p_value": p,
        "passed": bool(passed),
        "reading": reading,
        "n_used": n,
        "simulations": sims,
    }


def _judge(refuter: str, original: float, new: float, p: float, lo: float, hi: float, sims: int) -> tuple[bool, str]:
    g = "{:.4g}".format
    if refuter == "placebo_treatment_refuter":
        test = "percentile" if sims >= 100 else "one-tailed normal"
        passed = bool(p > SIGNIFICANCE)
        verdict = "no effect without the real treatment" if passed else "the placebo effect differs from 0"
        return passed, (
            f"mean placebo effect {g(new)} vs estimate {g(original)}; p = {g(p)} ({test}) that 0 "
            f"belongs to the placebo distribution: {verdict}"
        )
    if refuter in ("random_common_cause", "data_subset_refuter"):
        what = "with a random common cause" if refuter == "random_common_cause" else "on 80% subsets"
        passed = bool(lo <= new <= hi)
        return passed, (
            f"effect {what} {g(new)} vs {g(original)} (95% CI {g(lo)} to {g(hi)}): "
            f"{'inside' if passed else 'outside'} the CI; DoWhy p = {g(p)}"
        )
    passed = bool(np.sign(new) == np.sign(original) and new != 0)
    return passed, (
        f"with an unobserved confounder (flips {UNOBSERVED_FLIP:.0%} of treatments, "
        f"{UNOBSERVED_OUTCOME_SD} outcome SD per SD) the effect is {g(new)} vs {g(original)}: "
        f"sign {'unchanged' if passed else 'changed'}"
    )
