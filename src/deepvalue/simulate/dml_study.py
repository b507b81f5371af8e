"""Monte Carlo check of the ``dml`` rows (DoubleML's interactive regression model) against the
synthetic truth: coverage under the default scenario, rejection of zero under the null.

The main validation (:mod:`deepvalue.simulate.study`) runs the estimators of ``estimate_effects``;
``dml`` has its own rule (cross-fitting is the slowest estimator), so it has its own study. Each
replicate runs the workflow's steps (ingest, cohort, :func:`deepvalue.effects.dml.run_dml` with the
config's learners, folds and repetitions; DoubleML's sensitivity benchmarks switched off: they do not
change the estimate or its SE) on a fresh extract and compares the ATE and ATT rows with the truth.

    python -m deepvalue.simulate.dml_study --scenario null --reps 200 --clients 5000 \\
        --out results/validation/dml_null.csv
    python -m deepvalue.simulate.dml_study --scenario null --reps 100 --first-seed 201 --clients 5000 \\
        --outcomes income_gain_gbp --out results/validation/dml_null_income_201.csv
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import pandas as pd

from deepvalue.effects.base import estimates_frame
from deepvalue.effects.dml import run_dml
from deepvalue.effects.table import compare_with_truth

# the questionnaires and the mediator are not dml outcomes (dml reads settings.outcomes only)
from deepvalue.simulate.study import DROP_QUESTIONNAIRES, only_outcomes, run_seeds, summarise, synthetic_cohort

__all__ = ["DROP_QUESTIONNAIRES", "dml_replicate", "main"]


def dml_replicate(
    seed: int,
    n_clients: int,
    scenario: str = "default",
    learner: str = "lightgbm",
    recording: str = "measured",
    outcomes: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The dml rows of one synthetic extract next to its truth, with the seed; ``outcomes``: only these
    of the config's outcomes (each outcome is its own cross-fit, so the others' rows do not change)."""
    overrides = {"estimation": {"dml": {"learner": learner, "benchmarks": []}}}
    configured = partial(only_outcomes, names=outcomes, overrides=overrides)
    run = synthetic_cohort(seed, n_clients, configured, scenario, recording)
    rows, _ = run_dml(run.cohort.analysis, run.settings)
    table = compare_with_truth(estimates_frame(rows), run.extract.truth["outcomes"])
    table.insert(0, "seed", seed)
    return table


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m deepvalue.simulate.dml_study", description=__doc__.splitlines()[0])
    p.add_argument("--scenario", default="null")
    p.add_argument("--reps", type=int, default=200)
    p.add_argument("--first-seed", type=int, default=1)
    p.add_argument("--clients", type=int, default=5000)
    p.add_argument("--learner", default="lightgbm")
    p.add_argument("--recording", default="measured")
    p.add_argument("--outcomes", default=None, help="comma-separated outcome names (default: every outcome)")
    p.add_argument("--out", type=Path, default=Path("results/validation/dml_null.csv"))
    a = p.parse_args(argv)
    replicate = partial(
        dml_replicate,
        n_clients=a.clients,
        scenario=a.scenario,
        learner=a.learner,
        recording=a.recording,
        outcomes=a.outcomes.split(",") if a.outcomes else None,
    )
    run_seeds(replicate, range(a.first_seed, a.first_seed + a.reps), a.out, summarise)


if __name__ == "__main__":  # pragma: no cover
    main()
