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
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from deepvalue.cohort.build import build_cohort
from deepvalue.core.config import load_config
from deepvalue.core.settings import Settings
from deepvalue.effects.dml import run_dml
from deepvalue.effects.heterogeneity import run_heterogeneity
from deepvalue.extract.ingest import ingest_extract
from deepvalue.simulate.study import _merge
from deepvalue.synth.generate import generate_extract
from deepvalue.synth.write import write_extract


def heterogeneity_replicate(
    seed: int,
    n_clients: int,
    scenario: str = "default",
    dml_learner: str = "linear",
    proxy_learner: str = "linear",
    recording: str = "measured",
) -> pd.DataFrame:
    """heterogeneity.csv of one synthetic extract, with its seed (DoubleML's benchmarks switched off)."""
    extract = generate_extract(n_clients, seed=seed, scenario=scenario, recording=recording)
    overrides = {
        "estimation": {
            "dml": {"learner": dml_learner, "benchmarks": []},
            "heterogeneity": {"proxy_learner": proxy_learner},
        }
    }
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_extract(extract, tmp)
        cfg = Settings.from_sections(load_config(_merge(load_config(paths["config"]), overrides)))
        ingested = ingest_extract(cfg)
    cohort = build_cohort(ingested.tables, cfg, ingested.extract_date)
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
    parts = []
    a.out.parent.mkdir(parents=True, exist_ok=True)
    for seed in range(a.first_seed, a.first_seed + a.reps):
        parts.append(heterogeneity_replicate(seed, a.clients, a.scenario, a.dml_learner, a.proxy_learner))
        # written after every seed, so a stopped study keeps what it has
        pd.concat(parts, ignore_index=True).to_csv(a.out.with_name(a.out.stem + "_replicates.csv"), index=False)
        print(f"seed {seed} done", flush=True)
    summary = rejection_rates(pd.concat(parts, ignore_index=True))
    summary.to_csv(a.out, index=False)
    print(summary.to_string(index=False))


if __name__ == "__main__":  # pragma: no cover
    main()
