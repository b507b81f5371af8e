"""Benchmark the issue-16 designs (within-worker rows, DoubleML) beside the estimators they join.

Input: an analysis cohort (``results/cohort/analysis.parquet`` of a workflow run; by default the
1,000,000-client run that ``benchmarks/bench_workflow.py`` leaves under ``benchmarks/out/``),
restricted to one outcome's population (job_start: the employment clients) and, with ``--n``, to
a random subsample. Timed (best and median of ``--repeats`` calls after a warm-up): the pyarrow
read of the cohort (the reference time: machines differ about 2x), the covariate design, our
regression adjustment and AIPW, ``within_worker_regression`` and ``within_worker_aipw`` (ATT),
pyfixest's ``feols`` of the same within-worker regression (the library the own demeaning is
checked against), and one ``dml_irm`` call (ATE and ATT from one cross-fit) on
``estimation.dml.max_rows`` (50,000) clients at most, as the workflow runs it.

    PYTHONPATH=src python benchmarks/bench_designs.py [--analysis PATH] [--n 5000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
from bench_common import time_call

from deepvalue.adjust.design import covariate_design
from deepvalue.adjust.propensity import fit_propensity
from deepvalue.core.settings import Covariate
from deepvalue.effects.dml import dml_irm
from deepvalue.effects.linear import regression_adjustment
from deepvalue.effects.table import _cluster_codes
from deepvalue.effects.weighting import aipw
from deepvalue.effects.within import within_worker_aipw, within_worker_regression

DEFAULT = Path(__file__).parent / "out" / "workflow" / "run_1000000_1" / "results" / "cohort" / "analysis.parquet"
COVARIATES = [
    Covariate("age", "numeric"),
    Covariate("sex", "categorical"),
    Covariate("disability", "binary"),
    Covariate("language_need", "binary"),
    Covariate("n_issues", "numeric"),
    Covariate("prior_unemployed_months", "numeric"),
    Covariate("ethnicity", "categorical"),
]


def job_start_population(analysis, n: int | None, repeats: int):
    """(best pyarrow read time of the cohort, the cohort, job_start's population, y, d, allocated-worker
    codes), with ``n`` a random subsample of the cohort (None: all)."""
    read_best, _ = time_call(lambda: pq.read_table(analysis), repeats)
    cohort = pd.read_parquet(analysis)
    if n is not None and n < len(cohort):
        cohort = cohort.sample(n=n, random_state=1).reset_index(drop=True)
    pop = cohort.loc[cohort["job_start"].notna()].reset_index(drop=True)
    y, d = pop["job_start"].to_numpy(float), pop["treatment"].to_numpy(float)
    return read_best, cohort, pop, y, d, _cluster_codes(pop["first_worker"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--analysis", type=Path, default=DEFAULT)
    ap.add_argument("--n", type=int, default=None, help="random subsample of the cohort (default: all)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dml-rows", type=int, default=50_000)
    args = ap.parse_args()
    read_best, cohort, pop, y, d, worker = job_start_population(args.analysis, args.n, args.repeats)
    design_best, _ = time_call(lambda: covariate_design(pop, COVARIATES), args.repeats)
    X = covariate_design(pop, COVARIATES).X
    rows = [("pyarrow read of the whole cohort (reference)", read_best, len(cohort))]
    rows.append(("covariate design", design_best, len(pop)))
    ps = fit_propensity(X, d.astype(int)).score
    timed = {
        "regression (ATT)": lambda: regression_adjustment(y, d, X, worker, "ATT"),
        "aipw (ATT, score given)": lambda: aipw(y, d, X, ps, "ATT", ps_design=X, cluster=worker),
        "within_worker_regression (ATT)": lambda: within_worker_regression(y, d, X, worker, "ATT"),
        "within_worker_aipw (ATT)": lambda: within_worker_aipw(y, d, X, worker, "ATT"),
    }
    for label, fn in timed.items():
        rows.append((label, time_call(fn, args.repeats)[0], len(pop)))
    import pyfixest as pf

    frame = X.copy()
    frame.columns = [f"x{j}" for j in range(X.shape[1])]
    frame["y"], frame["d"], frame["w"] = y, d, worker
    terms = " + ".join(frame.columns[: X.shape[1]])
    inter = " + ".join(f"d:{c}" for c in frame.columns[: X.shape[1]])
    fml = f"y ~ d + {terms} + {inter} | w"
    rows.append(
        (
            "pyfixest feols, same within-worker regression (CRV1)",
            time_call(lambda: pf.feols(fml, data=frame, vcov={"CRV1": "w"}, fixef_rm="none"), 1)[0],
            len(pop),
        )
    )
    sub = pop if len(pop) <= args.dml_rows else pop.sample(n=args.dml_rows, random_state=1).reset_index(drop=True)
    Xs = covariate_design(sub, COVARIATES).X
    t0 = time.perf_counter()
    dml_irm(
        sub["job_start"].to_numpy(float),
        sub["treatment"].to_numpy(float),
        Xs,
        _cluster_codes(sub["first_worker"]),
        outcome="job_start",
        seed=1,
    )
    rows.append(("dml (LightGBM, 5 folds x 3, ATE and ATT), one call", time.perf_counter() - t0, len(sub)))
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    print("| step | rows | best (s) | / pyarrow read |")
    print("|---|---:|---:|---:|")
    for label, secs, n in rows:
        print(f"| {label} | {n:,} | {secs:.3f} | {secs / read_best:.1f} |")


if __name__ == "__main__":
    main()
