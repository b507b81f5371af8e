"""Benchmark the CR2 leverage adjustment (docs/design.md, "Standard errors: the CR2 leverage adjustment").

Input: an analysis cohort (``results/cohort/analysis.parquet``; by default the 1,000,000-client run
that ``benchmarks/bench_workflow.py`` leaves under ``benchmarks/out/``), restricted to job_start's
population (the employment clients) and, with ``--n``, to a random subsample. Each influence-function
estimator is timed with ``leverage=False`` (the previous sandwich) and ``leverage=True`` (CR2), best
of ``--repeats`` calls after a warm-up, beside the pyarrow read of the cohort (the reference time:
machines differ about 2x).

    PYTHONPATH=src python benchmarks/bench_cr2.py [--analysis PATH] [--n 5000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import platform

from bench_common import time_call
from bench_designs import COVARIATES, DEFAULT, job_start_population

from deepvalue.adjust.design import covariate_design
from deepvalue.adjust.propensity import fit_propensity
from deepvalue.effects.linear import regression_adjustment
from deepvalue.effects.weighting import aipw, ipw
from deepvalue.effects.within import within_worker_regression


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--analysis", default=str(DEFAULT))
    ap.add_argument("--n", type=int, default=None, help="random subsample of the cohort (default: all)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    read_best, _, pop, y, d, worker = job_start_population(args.analysis, args.n, args.repeats)
    X = covariate_design(pop, COVARIATES).X
    ps = fit_propensity(X, d.astype(int)).score
    calls = {
        "regression (ATE)": lambda lev: regression_adjustment(y, d, X, worker, "ATE", leverage=lev),
        "ipw (ATE)": lambda lev: ipw(y, d, ps, "ATE", X, cluster=worker, leverage=lev),
        "aipw (ATE)": lambda lev: aipw(y, d, X, ps, "ATE", ps_design=X, cluster=worker, leverage=lev),
        "within_worker_regression (ATE)": lambda lev: within_worker_regression(y, d, X, worker, "ATE", leverage=lev),
    }
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; {len(pop):,} clients, {int(worker.max()) + 1} clusters, "
        f"{X.shape[1]} confounder columns; pyarrow read {read_best:.3f} s"
    )
    print("| estimator | previous (s) | CR2 (s) | CR2 / previous | CR2 / pyarrow read |")
    print("|---|---:|---:|---:|---:|")
    for label, fn in calls.items():
        before = time_call(lambda f=fn: f(False), args.repeats)[0]
        after = time_call(lambda f=fn: f(True), args.repeats)[0]
        print(f"| {label} | {before:.3f} | {after:.3f} | {after / before:.2f} | {after / read_best:.1f} |")


if __name__ == "__main__":
    main()
