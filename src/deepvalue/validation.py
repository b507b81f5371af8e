"""Validation against known truth: run the estimators over many synthetic extracts.

Each replicate draws an extract with :func:`deepvalue.synth.generate_extract` (seed = first seed
+ replicate number), runs the real stages (ingest from files, cohort, matching, estimates) and
compares every whole-cohort ATT and ATE with the generator's truth for that extract (computed
from potential-outcome means, so the target is exact). The summary per outcome, method and
estimand gives bias, RMSE, the mean standard error, the SD of the estimates and the coverage of
the 95% intervals.

    deepvalue simulate --reps 200 --clients 5000 --out results/validation.csv --docs docs/validation.md
"""

from __future__ import annotations

import copy
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from .cohort import build_cohort
from .config import load_config
from .estimate_stage import compare_with_truth, run_estimates
from .ingest import ingest_extract
from .match_stage import run_matching
from .synth import generate_extract, write_extract

VALIDATED_METHODS = ("naive", "regression", "logit_ame", "psm", "ipw", "aipw")


def _merge(base: dict, overrides: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def one_replicate(seed: int, n_clients: int, overrides: dict | None = None,
                  methods: Sequence[str] = VALIDATED_METHODS) -> pd.DataFrame:
    """Estimates of one synthetic extract next to its truth (one row per outcome x method x estimand)."""
    extract = generate_extract(n_clients, seed=seed)
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_extract(extract, tmp)
        raw = load_config(paths["config"])
        cfg = load_config(_merge(raw, overrides or {}))
        tables = ingest_extract(cfg).tables
    cohort = build_cohort(tables, cfg)
    matched = run_matching(cohort.analysis, cfg).matched
    estimates = run_estimates(cohort.analysis, cfg, matched, methods=methods, subgroups=[])
    table = compare_with_truth(estimates, extract.truth["outcomes"])
    table.insert(0, "seed", seed)
    return table


def summarise(replicates: pd.DataFrame) -> pd.DataFrame:
    """Bias, RMSE, mean SE, SD of estimates and 95% CI coverage per outcome, method and estimand."""
    g = replicates.groupby(["outcome", "method", "estimand"], sort=False)
    out = pd.DataFrame({
        "reps": g.size(),
        "mean_truth": g["truth"].mean(),
        "mean_estimate": g["estimate"].mean(),
        "bias": g["error"].mean(),
        "rmse": g["error"].apply(lambda e: float(np.sqrt(np.mean(e**2)))),
        "mean_se": g["std_error"].mean(),
        "sd_estimate": g["estimate"].std(ddof=1),
        "coverage": g["covered"].mean(),
    }).reset_index()
    out["bias_over_se"] = out["bias"] / out["mean_se"]
    # Monte Carlo standard error of the coverage, to read it against its nominal 0.95
    out["coverage_mcse"] = np.sqrt(out["coverage"] * (1 - out["coverage"]) / out["reps"])
    return out


def simulate(reps: int, n_clients: int, first_seed: int = 1, workers: int = 1,
             overrides: dict | None = None, methods: Sequence[str] = VALIDATED_METHODS) -> pd.DataFrame:
    """All replicates (seeds first_seed .. first_seed + reps - 1), in seed order whatever the workers."""
    seeds = list(range(first_seed, first_seed + reps))
    if workers <= 1:
        parts = [one_replicate(s, n_clients, overrides, methods) for s in seeds]
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            parts = list(pool.map(one_replicate, seeds, [n_clients] * reps, [overrides] * reps,
                                  [tuple(methods)] * reps))
    return pd.concat(parts, ignore_index=True)


def validation_markdown(summary: pd.DataFrame, reps: int, n_clients: int, command: str) -> str:
    """The docs/validation.md page: what was run, and the table."""
    lines = [
        "# Validation against known truth",
        "",
        f"Command: `{command}`. {reps} synthetic extracts of {n_clients:,} clients (seeds 1..{reps}), each run",
        "through ingest, cohort, matching and estimation; every whole-cohort ATT and ATE is compared with",
        "the generator's truth for that extract (from potential-outcome means).",
        "",
        "Acceptance (issue 5): for regression, psm, ipw and aipw, coverage of the 95% CI within",
        "[0.90, 0.98] and |bias| below a quarter of the mean SE; the naive comparison visibly biased.",
        "`coverage_mcse` is the Monte Carlo standard error of the coverage. logit_ame is reported but not",
        "part of the acceptance: its logit outcome model is misspecified for this generator (age enters the",
        "generator as years over 50). The choices these results led to (matching with replacement, the",
        "regression SE that counts the centring means, pooling rare category levels) are in docs/design.md.",
        "",
        "| outcome | method | estimand | reps | mean truth | bias | bias / SE | RMSE | mean SE | SD of estimates | coverage (MCSE) |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in summary.itertuples():
        lines.append(f"| {r.outcome} | {r.method} | {r.estimand} | {r.reps} | {r.mean_truth:.4g} | {r.bias:.3g} | "
                     f"{r.bias_over_se:+.2f} | {r.rmse:.3g} | {r.mean_se:.3g} | {r.sd_estimate:.3g} | "
                     f"{r.coverage:.3f} ({r.coverage_mcse:.3f}) |")
    return "\n".join(lines) + "\n"


def write_validation(replicates: pd.DataFrame, summary: pd.DataFrame, out: str | Path) -> None:
    from .tabular import write_csv

    out = Path(out)
    write_csv(summary, out)
    write_csv(replicates, out.with_name(out.stem + "_replicates.csv"))
