"""Benchmark km_ipw (effects/survival.py) on the cohort of an events-recorded synthetic extract.

Times ``km_ipw_rows`` for job_start (propensity fit, weighted Kaplan-Meier by arm, the four rows with
their influence-function SEs clustered by first worker) against the ipw/aipw/overlap rows on the
same outcome's analysed clients (``_weighting_rows``: the same propensity fit), best and median of
``--repeats`` after a warm-up call:

    PYTHONPATH=src python benchmarks/bench_km_ipw.py --clients 5000 1000000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_common import time_call  # noqa: E402

from deepvalue.adjust.design import STRUCTURAL, covariate_design  # noqa: E402
from deepvalue.cohort.build import build_cohort  # noqa: E402
from deepvalue.core.settings import load_settings  # noqa: E402
from deepvalue.effects.survival import km_ipw_rows, km_population  # noqa: E402
from deepvalue.effects.table import _cluster_codes, _weighting_rows  # noqa: E402
from deepvalue.extract.ingest import ingest_extract  # noqa: E402
from deepvalue.synth.generate import generate_extract  # noqa: E402
from deepvalue.synth.write import write_extract  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[5000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(
        "| clients | km_ipw population | censored before the horizon | km_ipw_rows (4 rows) | ipw, aipw, overlap rows |"
    )
    print("|---:|---:|---:|---:|---:|")
    for n in args.clients:
        extract = generate_extract(n, seed=1, recording="events")
        with tempfile.TemporaryDirectory(prefix="bench_km_") as folder:
            paths = write_extract(extract, folder)
            cfg = load_settings(paths["config"])
            ingested = ingest_extract(cfg)
        analysis = build_cohort(ingested.tables, cfg, ingested.extract_date).analysis
        spec = cfg.outcome("job_start")
        rows = km_population(analysis, spec)
        censored = int(((rows["job_start_event_observed"] == 0) & (rows["job_start_days_to_event"] < 182)).sum())
        km = time_call(lambda: km_ipw_rows(rows, spec, cfg, None, "first_worker", STRUCTURAL), args.repeats)
        measured = analysis.loc[analysis["job_start"].notna()].reset_index(drop=True)
        y, d = measured["job_start"].to_numpy(float), measured["treatment"].to_numpy(float)
        X = covariate_design(measured, cfg.covariates).X
        cluster = _cluster_codes(measured["first_worker"])
        methods = ("ipw", "aipw", "overlap")
        weighting = time_call(
            lambda: _weighting_rows(measured, y, d, X, cluster, cfg, None, "job_start", "risk_difference", "", methods),
            args.repeats,
        )
        print(
            f"| {n:,} | {len(rows):,} | {censored:,} | {km[0]:.3f} s (median {km[1]:.3f}) | "
            f"{weighting[0]:.3f} s (median {weighting[1]:.3f}) |"
        )


if __name__ == "__main__":
    main()
