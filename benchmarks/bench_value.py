"""Benchmark the joint draws (effects/joint.py) and the value analysis (value/valuation.py) on a finished
run's results, against a pyarrow read of the cohort as the reference:

    PYTHONPATH=src python benchmarks/bench_value.py --results results --repeats 3

It times the IF-based estimates with their influence functions (the joint_draws rule's estimation),
the multiplier draws alone (B = 999 x the cohort's workers x the rows), and value_analysis with the
joint draws (value.draws = 10,000), best and median of ``--repeats`` after a warm-up call.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import pandas as pd  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from bench_common import time_call  # noqa: E402

from deepvalue.core.config import load_config  # noqa: E402
from deepvalue.core.settings import Settings  # noqa: E402
from deepvalue.effects.joint import INFLUENCE_METHODS, cluster_sums, influence_records, multiplier_draws  # noqa: E402
from deepvalue.value.valuation import cohort_counts, load_values, value_analysis  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", default="results")
    ap.add_argument("--config", default="config/config.yaml")
    ap.add_argument("--values", default="config/values.yaml")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    res = Path(args.results)
    settings = Settings.from_sections(load_config(args.config))
    analysis_path = res / "cohort" / "analysis.parquet"
    analysis = pd.read_parquet(analysis_path)
    propensity = pd.read_parquet(res / "match" / "propensity.parquet")
    subgroups = settings.estimation.subgroups

    def estimate():
        return influence_records(analysis, settings, propensity, INFLUENCE_METHODS, subgroups)

    _, records = estimate()
    codes = pd.Series(pd.factorize(analysis["first_worker"])[0], index=analysis["client_id"].to_numpy())
    found = cluster_sums(records, codes)
    joint = pd.read_parquet(res / "joint_draws.parquet")
    estimates = pd.read_csv(res / "estimates.csv", keep_default_na=False, na_values=[""], dtype={"subgroup": str})
    estimates["subgroup"] = estimates["subgroup"].fillna("")
    names = [o.name for o in settings.outcomes]
    values = load_values(args.values, names)
    n_treated, applies = cohort_counts(analysis, names)

    rows = [
        ("pyarrow read of the cohort (reference)", lambda: pq.read_table(analysis_path)),
        (f"IF-based estimates with influence functions ({len(records)} rows)", estimate),
        (
            f"multiplier draws (B = 999, {found.sums.shape[0]} workers x {found.sums.shape[1]} rows)",
            lambda: multiplier_draws(found, 999, 1),
        ),
        (
            "value_analysis with the joint draws (10,000 draws)",
            lambda: value_analysis(
                estimates, values, n_treated, 1, 10_000, applies, names, joint=joint, instruments={}
            ),
        ),
    ]
    ref = None
    print(f"cohort: {len(analysis):,} clients")
    print("| step | best (s) | median (s) | / pyarrow read |")
    print("|---|---:|---:|---:|")
    for label, fn in rows:
        best, median = time_call(fn, args.repeats)
        ref = ref or best
        print(f"| {label} | {best:.3f} | {median:.3f} | {best / ref:.0f} |")


if __name__ == "__main__":
    main()
