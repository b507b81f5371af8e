"""Benchmark the match stage at the DESIGN section 9 scale, beside DoWhy's propensity score matching.

Input: the analysis cohort of ``generate_extract(n, seed)`` (written to a temporary folder,
ingested, built), cached with its truth.json under ``benchmarks/out/`` (git-ignored), since
building it takes about a minute at 1,000,000 clients. Timed: the design matrix, the propensity
fit, the matching alone (first call separately: numba loads or compiles the greedy loop), the
three propensity weights, the balance table, the two figures and the whole ``run_matching``;
also the matching alone on a synthetic 280,000 treated x 720,000 controls problem. Times are the
best and median of ``--repeats`` runs. Peak memory: the largest extra traced allocation of one
untimed ``run_matching`` (tracemalloc; numpy reports its buffers to it, numba's own small arrays
are not traced) and the process high-water mark.

DoWhy: ``backdoor.propensity_score_matching`` with ``target_units="att"`` on the clients with a
job_start outcome (the employment service), with the same design columns as common causes,
side by side with ``run_matching`` on the same rows, both as configured (caliper 0.2 SD,
without replacement) and as DoWhy matches (1:1 with replacement, no caliper). DoWhy fits its
default ``LogisticRegression()`` (lbfgs, l2 with C = 1, unscaled columns) on the score itself,
and also computes the ATC in the same call.

    PYTHONPATH=src python benchmarks/bench_matching.py [--n 1000000] [--repeats 3] [--no-dowhy]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from bench_common import peak_extra_mib

from deepvalue.adjust.balance import balance_table
from deepvalue.adjust.design import covariate_design
from deepvalue.adjust.figures import plot_love, plot_overlap
from deepvalue.adjust.matched_cohort import run_matching
from deepvalue.adjust.matching import match_nearest
from deepvalue.adjust.propensity import fit_propensity
from deepvalue.adjust.weighting import propensity_weights
from deepvalue.core.settings import load_settings

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "out"


def load_cohort(n: int, seed: int) -> tuple[pd.DataFrame, dict, float | None]:
    """The cohort of a synthetic extract and its truth, from the cache or built (and timed)."""
    cohort_path = OUT / f"cohort_n{n}_seed{seed}.parquet"
    truth_path = OUT / f"truth_n{n}_seed{seed}.json"
    if cohort_path.exists() and truth_path.exists():
        return pd.read_parquet(cohort_path), json.loads(truth_path.read_text()), None
    from deepvalue.cohort.build import build_cohort
    from deepvalue.core.tabular import write_parquet
    from deepvalue.extract.ingest import ingest_extract
    from deepvalue.synth.generate import generate_extract
    from deepvalue.synth.write import write_extract

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_matching_") as folder:
        paths = write_extract(generate_extract(n, seed=seed), folder)
        cfg = load_settings(paths["config"])
        ingested = ingest_extract(cfg)
        analysis = build_cohort(ingested.tables, cfg, ingested.extract_date).analysis
        truth = json.loads(paths["truth"].read_text())
    built = time.perf_counter() - start
    write_parquet(analysis, cohort_path)
    truth_path.write_text(json.dumps(truth, indent=2, sort_keys=True))
    return analysis, truth, built


def time_call(func: Callable[[], object], repeats: int) -> tuple[float, float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times), result


def matched_att(y: np.ndarray, t: np.ndarray, w: np.ndarray) -> float:
    """ATT of a matched sample: treated mean minus the weighted control mean."""
    treated, control = (t == 1) & (w > 0), (t == 0) & (w > 0)
    return float(y[treated].mean() - np.average(y[control], weights=w[control]))


def dowhy_psm(X: pd.DataFrame, t: np.ndarray, y: np.ndarray) -> tuple[float, float, list[str]]:
    """DoWhy's PSM ATT, its time, and the warnings other than pandas deprecations."""
    import dowhy

    frame = X.set_axis([f"c{i}" for i in range(X.shape[1])], axis=1)
    frame = frame.assign(treatment=t.astype(np.int64), outcome=y)  # DoWhy 0.14 wants an int 0/1 treatment
    seen: list[str] = []
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # DoWhy 0.14 on pandas 3 can emit pandas deprecation warnings by the hundred (attributed to
        # DoWhy's modules): drop only those, and keep e.g. sklearn's ConvergenceWarning to report
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"dowhy\.")
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"dowhy\.")
        model = dowhy.CausalModel(
            data=frame.copy(), treatment="treatment", outcome="outcome", common_causes=list(frame.columns[:-2])
        )
        estimand = model.identify_effect(proceed_when_unidentifiable=True)
        estimate = model.estimate_effect(estimand, method_name="backdoor.propensity_score_matching", target_units="att")
    elapsed = time.perf_counter() - start
    for w in caught:
        text = f"{w.category.__name__}: {str(w.message).splitlines()[0][:90]}"
        if text not in seen:
            seen.append(text)
    return float(estimate.value), elapsed, seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="synthetic clients")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-dowhy", action="store_true")
    args = parser.parse_args()

    OUT.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()[0]  # other processes on a 2-core machine distort every timing
    analysis, truth, built = load_cohort(args.n, args.seed)
    cfg = load_settings(REPO / "config" / "config.yaml")
    mcfg = cfg.matching
    t = analysis["treatment"].to_numpy().astype(np.int64)
    rows: list[tuple[str, float, float, str]] = []

    best, med, design = time_call(lambda: covariate_design(analysis, cfg.covariates), args.repeats)
    X = design.X
    rows.append(("design matrix", best, med, f"{X.shape[0]:,} x {X.shape[1]}"))
    best, med, fit = time_call(lambda: fit_propensity(X, t), args.repeats)
    rows.append(("propensity fit (Newton, standardised)", best, med, f"{fit.n_iter} iterations"))
    strata = analysis.groupby(mcfg.exact, sort=True).ngroup().to_numpy()

    def match():
        return match_nearest(
            fit.logit,
            t,
            caliper=mcfg.caliper,
            ratio=mcfg.ratio,
            replace=mcfg.replace,
            strata=strata,
            order=mcfg.order,
            seed=cfg.seed,
        )

    first, _, _ = time_call(match, 1)
    best, med, m = time_call(match, args.repeats)
    rows.append(("matching, first call in the process (numba cache load)", first, first, ""))
    rows.append(
        (
            "matching (1:1, caliper 0.2 SD, exact service)",
            best,
            med,
            f"{m.n_treated_matched:,} of {int(t.sum()):,} treated matched",
        )
    )

    def weights():
        return {
            name: propensity_weights(fit.score, t, est)
            for name, est in (("ipw_ate", "ATE"), ("ipw_att", "ATT"), ("overlap", "ATO"))
        }

    best, med, w = time_call(weights, args.repeats)
    rows.append(("weights (ATE, ATT, ATO)", best, med, ""))
    w = {"matched": m.weights, **w}
    best, med, bal = time_call(lambda: balance_table(X, t, w), args.repeats)
    rows.append(("balance table (5 adjustments)", best, med, f"{len(bal)} rows"))

    def figures():
        with tempfile.TemporaryDirectory() as folder:
            plot_love(bal, Path(folder) / "love.png")
            plot_overlap(fit.score, t, m.weights, Path(folder) / "overlap.png")

    best, med, _ = time_call(figures, args.repeats)
    rows.append(("figures (Love plot, overlap plot)", best, med, ""))
    best, med, out = time_call(lambda: run_matching(analysis, cfg), args.repeats)
    rows.append(
        (
            "**run_matching (whole stage)**",
            best,
            med,
            f"max abs SMD after matching {out.summary['max_abs_smd']['matched']:.3f}",
        )
    )
    peak = peak_extra_mib(lambda: run_matching(analysis, cfg))

    # the brief's target problem: 280k treated against 720k controls, matching alone
    rng = np.random.default_rng(args.seed)
    t_big = np.zeros(1_000_000, dtype=np.int64)
    t_big[rng.choice(t_big.size, 280_000, replace=False)] = 1
    logit_big = rng.normal(size=t_big.size) + 0.5 * t_big
    best, med, mb = time_call(lambda: match_nearest(logit_big, t_big), args.repeats)
    rows.append(("matching alone, 280k treated x 720k controls", best, med, f"{mb.n_treated_matched:,} matched"))

    print(
        f"Python {platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}, "
        f"{platform.machine()}; cohort of generate_extract({args.n:,}, seed={args.seed}): "
        f"{len(analysis):,} clients, {int(t.sum()):,} treated"
        + (f" (built in {built:.1f} s, now cached)" if built is not None else " (cached)")
        + f"; repeats={args.repeats}; {os.cpu_count()} cores, 1-minute load average "
        f"{load_before:.2f} before and {os.getloadavg()[0]:.2f} after the timings\n"
    )
    print("| step | best (s) | median (s) | note |")
    print("|---|---:|---:|---|")
    for name, b, md, note in rows:
        print(f"| {name} | {b:.3f} | {md:.3f} | {note} |")
    print(
        f"\nrun_matching peak extra memory (tracemalloc): {peak:,.0f} MiB; "
        f"process max RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB"
    )

    if args.no_dowhy:
        return
    # DoWhy side by side on the clients with the job_start outcome
    sub = analysis[analysis["job_start"].notna()].reset_index(drop=True)
    ts = sub["treatment"].to_numpy().astype(np.int64)
    y = sub["job_start"].to_numpy(dtype=float)
    Xs = covariate_design(sub, cfg.covariates).X
    ours = []
    for label, settings in (
        ("as configured: 1:1, caliper 0.2 SD, no replacement", {}),
        ("DoWhy's rules: 1:1, with replacement, no caliper", {"replace": True, "caliper": None}),
    ):
        c = dataclasses.replace(cfg, matching=dataclasses.replace(cfg.matching, **settings))
        start = time.perf_counter()
        o = run_matching(sub, c)
        elapsed = time.perf_counter() - start
        wm = o.weights["w_matched"].to_numpy()
        ours.append(
            (
                f"deepvalue run_matching, {label}",
                elapsed,
                matched_att(y, ts, wm),
                f"{o.summary['n_matched_treated']:,} treated matched",
            )
        )
    att_d, time_d, caught = dowhy_psm(Xs, ts, y)
    truth_att = truth["outcomes"]["job_start"]["att"]
    print(
        f"\nDoWhy {__import__('dowhy').__version__} side by side: job_start, {len(sub):,} clients "
        f"({int(ts.sum()):,} treated), {Xs.shape[1]} design columns; true ATT in truth.json "
        f"{truth_att:.4f} (over the synthetic world's eligible treated)\n"
    )
    print("| method | time (s) | ATT job_start | difference from DoWhy | note |")
    print("|---|---:|---:|---:|---|")
    print(
        f"| DoWhy backdoor.propensity_score_matching (att) | {time_d:.2f} | {att_d:.4f} | | "
        "1:1 on the score, with replacement, no caliper; also computes the ATC |"
    )
    for name, elapsed, att, note in ours:
        print(
            f"| {name} | {elapsed:.2f} | {att:.4f} | {att - att_d:+.4f} | {note}; "
            f"DoWhy / deepvalue time {time_d / elapsed:.1f}x |"
        )
    if caught:
        print("\nwarnings from the DoWhy call (pandas deprecations filtered): " + "; ".join(caught))


if __name__ == "__main__":
    main()
