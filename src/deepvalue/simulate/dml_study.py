"""Monte Carlo check of the ``dml`` rows (DoubleML's interactive regression model) against the
synthetic truth: coverage under the default scenario, rejection of zero under the null.

The main validation (:mod:`deepvalue.simulate.study`) runs the estimators of ``estimate_effects``;
``dml`` has its own rule (cross-fitting is the slowest estimator), so it has its own study. Each
replicate runs the workflow's steps (ingest, cohort, :func:`deepvalue.effects.dml.run_dml` with the
config's learners, folds and repetitions; DoubleML's sensitivity benchmarks switched off: they do not
change the estimate or its SE) on a fresh extract and compares the ATE and ATT rows with the truth.

    python -m deepvalue.simulate.dml_study --scenario null --reps 200 --clients 5000 \\
        --out results/validation/dml_null.csv
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from deepvalue.cohort.build import build_cohort
from deepvalue.core.config import load_config
from deepvalue.core.settings import Settings
from deepvalue.effects.base import estimates_frame
from deepvalue.effects.dml import run_dml
from deepvalue.effects.table import compare_with_truth
from deepvalue.extract.ingest import ingest_extract
from deepvalue.simulate.study import _merge, summarise
from deepvalue.synth.generate import generate_extract
from deepvalue.synth.write import write_extract

# the questionnaires and the mediator are not dml outcomes (dml reads settings.outcomes only)
DROP_QUESTIONNAIRES = {"questionnaires": [], "mediation": {"mediator": None}}


def dml_replicate(
    seed: int, n_clients: int, scenario: str = "default", learner: str = "lightgbm", recording: str = "measured"
) -> pd.DataFrame:
    """The dml rows of one synthetic extract next to its truth, with the seed."""
    extract = generate_extract(n_clients, seed=seed, scenario=scenario, recording=recording)
    overrides = {**DROP_QUESTIONNAIRES, "estimation": {"dml": {"learner": learner, "benchmarks": []}}}
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_extract(extract, tmp)
        cfg = Settings.from_sections(load_config(_merge(load_config(paths["config"]), overrides)))
        ingested = ingest_extract(cfg)
    cohort = build_cohort(ingested.tables, cfg, ingested.extract_date)
    rows, _ = run_dml(cohort.analysis, cfg)
    table = compare_with_truth(estimates_frame(rows), extract.truth["outcomes"])
    table.insert(0, "seed", seed)
    table["rosenbaum_rejects"] = float("nan")
    return table


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m deepvalue.simulate.dml_study", description=__doc__.splitlines()[0])
    p.add_argument("--scenario", default="null")
    p.add_argument("--reps", type=int, default=200)
    p.add_argument("--first-seed", type=int, default=1)
    p.add_argument("--clients", type=int, default=5000)
    p.add_argument("--learner", default="lightgbm")
    p.add_argument("--recording", default="measured")
    p.add_argument("--out", type=Path, default=Path("results/validation/dml_null.csv"))
    a = p.parse_args(argv)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    parts = []
    for seed in range(a.first_seed, a.first_seed + a.reps):
        parts.append(dml_replicate(seed, a.clients, a.scenario, a.learner, a.recording))
        # written after every seed, so a stopped study keeps what it has
        pd.concat(parts, ignore_index=True).to_csv(a.out.with_name(a.out.stem + "_replicates.csv"), index=False)
        print(f"seed {seed} done", flush=True)
    summary = summarise(pd.concat(parts, ignore_index=True))
    summary.to_csv(a.out, index=False)
    print(summary.to_string(index=False))


if __name__ == "__main__":  # pragma: no cover
    main()
