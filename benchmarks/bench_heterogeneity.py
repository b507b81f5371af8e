"""Benchmark the heterogeneity and targeting rules (their cost beside the dml rule they reuse).

Input: an analysis cohort (default: the 1,000,000-client run that ``benchmarks/bench_workflow.py``
leaves under ``benchmarks/out/``). Per outcome, the dml rule's population: the clients with the
outcome, cut to ``estimation.dml.max_rows`` (50,000) by dml's own stratified subsample, with three
repetitions of pseudo-outcomes, folds and propensity scores drawn at random: the two rules' cost
depends on the rows and covariates, not on the values (the dml fit itself is timed by
bench_designs.py). Timed (best and median of ``--repeats`` calls after a warm-up): the pyarrow read
of the cohort (the reference time: machines differ about 2x), ``run_heterogeneity`` and
``run_targeting`` with the default settings (linear proxy, 30 splits, capacities 20/40/60%).

    PYTHONPATH=src python benchmarks/bench_heterogeneity.py [--analysis PATH] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import platform
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import yaml
from bench_common import time_call

from deepvalue.core.config import load_config
from deepvalue.core.settings import Settings
from deepvalue.effects.dml import _subsample
from deepvalue.effects.heterogeneity import run_heterogeneity
from deepvalue.effects.targeting import run_targeting

HERE = Path(__file__).resolve().parent
DEFAULT = HERE / "out" / "workflow" / "run_1000000_1" / "results" / "cohort" / "analysis.parquet"


def fake_signals(analysis: pd.DataFrame, settings: Settings, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    parts = []
    for spec in settings.outcomes:
        pop = analysis.loc[analysis[spec.name].notna()].reset_index(drop=True)
        if len(pop) > settings.estimation.dml.max_rows:
            pop = _subsample(pop, settings.estimation.dml.max_rows, settings.seed)
        n, reps = len(pop), settings.estimation.dml.n_rep
        parts.append(
            pd.DataFrame(
                {
                    "outcome": spec.name,
                    "client_id": np.tile(pop["client_id"].to_numpy(), reps),
                    "rep": np.repeat(np.arange(reps), n),
                    "fold": rng.integers(0, 5, n * reps),
                    "signal": rng.normal(size=n * reps),
                    "propensity": rng.uniform(0.05, 0.95, n * reps),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--analysis", type=Path, default=DEFAULT)
    p.add_argument("--config", type=Path, default=HERE.parent / "config" / "config.yaml")
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    settings = Settings.from_sections(load_config(yaml.safe_load(a.config.read_text())))
    read = time_call(lambda: pq.read_table(a.analysis), a.repeats)
    analysis = pd.read_parquet(a.analysis)
    signals = fake_signals(analysis, settings)
    units = {"job_start": 10_000.0, "income_gain_gbp": 1.0, "crisis_contacts": -500.0}
    het = time_call(lambda: run_heterogeneity(analysis, signals, settings), a.repeats)
    tgt = time_call(lambda: run_targeting(analysis, signals, settings, units), a.repeats)
    rows = signals.groupby("outcome").size() // settings.estimation.dml.n_rep
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; cohort {len(analysis):,}")
    print(f"rows per outcome: {dict(rows)}")
    for name, (best, median) in (("read cohort (reference)", read), ("run_heterogeneity", het), ("run_targeting", tgt)):
        print(f"{name:26s} best {best:7.2f} s  median {median:7.2f} s")


if __name__ == "__main__":
    main()
