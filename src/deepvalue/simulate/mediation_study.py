"""Monte Carlo check of the mediation estimator: coverage of the natural effects over synthetic extracts.

Each replicate synthesises an extract, runs the workflow's own ingest and cohort steps (the
questionnaire cohort with the alliance) and :func:`deepvalue.effects.mediation.run_mediation`, and
compares each row with truth.json: wellbeing's ``natural_indirect_effect_with_mediator`` and
``natural_direct_effect_with_mediator`` (the estimator analyses the clients with the alliance
measured; ``ate`` and ``att``), their sum for the total; life satisfaction does not depend on the
alliance, so its true indirect effect is 0 and its direct and total effects are its ATE/ATT over the
same clients (not in truth.json: only the NIE is checked for it).

    python -m deepvalue.simulate.mediation_study --reps 200 --clients 3000 \\
        --out results/validation/mediation.csv
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from deepvalue.effects.mediation import run_mediation
from deepvalue.simulate.study import run_seeds, synthetic_cohort


def true_effects(truth: dict) -> dict[tuple[str, str, str], float]:
    """(outcome, effect, estimand) -> the true value the estimator targets (see the module docstring)."""
    out: dict[tuple[str, str, str], float] = {}
    med = truth["questionnaires"]["wellbeing"]["mediation"]
    for estimand in ("ATE", "ATT"):
        key = estimand.lower()
        nie = med["natural_indirect_effect_with_mediator"][key]
        nde = med["natural_direct_effect_with_mediator"][key]
        out[("wellbeing", "natural_indirect", estimand)] = nie
        out[("wellbeing", "natural_direct", estimand)] = nde
        out[("wellbeing", "total", estimand)] = nie + nde
        out[("wellbeing", "proportion_mediated", estimand)] = nie / (nie + nde)
        out[("life_satisfaction", "natural_indirect", estimand)] = 0.0
    return out


def mediation_replicate(seed: int, n_clients: int, scenario: str = "default") -> pd.DataFrame:
    """mediation.csv of one synthetic extract with its seed and the truth of each row (NaN: none)."""
    run = synthetic_cohort(seed, n_clients, {"mediation": {"mediator": "alliance"}}, scenario)
    extract = run.extract
    table, _ = run_mediation(run.cohort.analysis, run.settings)
    truth = true_effects(extract.truth)
    table = table.drop(columns=["notes"])
    table.insert(0, "seed", seed)
    table["truth"] = [
        truth.get((o, e, s), np.nan) for o, e, s in zip(table["outcome"], table["effect"], table["estimand"])
    ]
    return table


def coverage(replicates: pd.DataFrame) -> pd.DataFrame:
    """Per outcome, effect and estimand with a truth: replicates, mean truth, bias, bias / SD, SE / SD,
    coverage of the 95% CI and its Monte Carlo SE."""
    rep = replicates.dropna(subset=["truth", "estimate"])
    rep = rep.assign(
        error=rep["estimate"] - rep["truth"],
        covered=(rep["ci_lower"] <= rep["truth"]) & (rep["truth"] <= rep["ci_upper"]),
    )
    rows = []
    for (outcome, effect, estimand), g in rep.groupby(["outcome", "effect", "estimand"], sort=False):
        sd = float(g["estimate"].std(ddof=1)) if len(g) > 1 else float("nan")
        cov = float(g["covered"].mean())
        rows.append(
            {
                "outcome": outcome,
                "effect": effect,
                "estimand": estimand,
                "reps": len(g),
                "mean_truth": float(g["truth"].mean()),
                "bias": float(g["error"].mean()),
                "bias_over_sd": float(g["error"].mean()) / sd if sd > 0 else float("nan"),
                "se_over_sd": float(g["std_error"].mean()) / sd if sd > 0 else float("nan"),
                "coverage": cov,
                "coverage_mcse": float(np.sqrt(cov * (1 - cov) / len(g))),
            }
        )
    return pd.DataFrame(rows)


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        prog="python -m deepvalue.simulate.mediation_study", description=__doc__.splitlines()[0]
    )
    p.add_argument("--scenario", default="default")
    p.add_argument("--reps", type=int, default=200)
    p.add_argument("--first-seed", type=int, default=1)
    p.add_argument("--clients", type=int, default=3000)
    p.add_argument("--out", type=Path, default=Path("results/validation/mediation.csv"))
    a = p.parse_args(argv)
    replicate = partial(mediation_replicate, n_clients=a.clients, scenario=a.scenario)
    run_seeds(replicate, range(a.first_seed, a.first_seed + a.reps), a.out, coverage)


if __name__ == "__main__":  # pragma: no cover
    main()
