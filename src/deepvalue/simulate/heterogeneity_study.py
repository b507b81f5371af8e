"""Monte Carlo check of the heterogeneity test: its rejection rate over synthetic extracts.

Under the generator's ``null`` scenario continuity has no effect on anyone, so the BLP slope
(``blp_het``) is 0 and its test should reject about 5% of the time (the issue's bound: at most
7% over 200 seeds). Under the ``default`` scenario the effect rises with complexity and the
rejection rate is the test's power. Each replicate runs the workflow's own steps (ingest, cohort,
``run_dml`` with its signals, ``run_heterogeneity``) on a fresh extract.

    python -m deepvalue.simulate.heterogeneity_study --scenario null --reps 200 --clients 5000 \\
        --dml-learner linear --out results/validation/heterogeneity_null.csv
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import pandas as pd

from deepvalue.effects.dml import run_dml
from deepvalue.effects.heterogeneity import run_heterogeneity
from deepvalue.simulate.study import run_seeds, synthetic_cohort


def heterogeneity_replicate(
    seed: int,
    n_clients: int,
    scenario: str = "default",
    dml_learner: str = "linear",
    proxy_learner: str = "linear",
    recording: str = "measured",
) -> pd.DataFrame:
    """heterogeneity.csv of one synthetic extract, with its seed (DoubleML's benchmarks switched off)."""
    overrides = {
        "estimation": {
            "dml": {"learner": dml_learner, "benchmarks": []},
            "heterogeneity": {"proxy_learner": proxy_learner},
        }
    }
    run = synthetic_cohort(seed, n_clients, overrides, scenario, recording)
    cfg, cohort = run.settings, run.cohort
    signals: list[pd.DataFrame] = []
    run_dml(cohort.analysis, cfg, signals=signals)
    het, _ = run_heterogeneity(cohort.analysis, pd.concat(signals, ignore_index=True), cfg)
    het.insert(0, "seed", seed)
    return het


def rejection_rates(replicates: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Per outcome and statistic: replicates, share with p < alpha, mean estimate."""
    rep = replicates.assign(rejects=replicates["p_value"] < alpha)
    return (
        rep.groupby(["outcome", "statistic"], sort=False)
        .agg(reps=("seed", "size"), rejection_rate=("rejects", "mean"), mean_estimate=("estimate", "mean"))
        .reset_index()
    )


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        prog="python -m deepvalue.simulate.heterogeneity_study", description=__doc__.splitlines()[0]
    )
    p.add_argument("--scenario", default="null")
    p.add_argument("--reps", type=int, default=200)
    p.add_argument("--first-seed", type=int, default=1)
    p.add_argument("--clients", type=int, default=5000)
    p.add_argument("--dml-learner", default="linear")
    p.add_argument("--proxy-learner", default="linear")
    p.add_argument("--out", type=Path, default=Path("results/validation/heterogeneity_null.csv"))
    a = p.parse_args(argv)
    replicate = partial(
        heterogeneity_replicate,
        n_clients=a.clients,
        scenario=a.scenario,
        dml_learner=a.dml_learner,
        proxy_learner=a.proxy_learner,
    )
    run_seeds(replicate, range(a.first_seed, a.first_seed + a.reps), a.out, rejection_rates)


if __name__ == "__main__":  # pragma: no cover
    main()
