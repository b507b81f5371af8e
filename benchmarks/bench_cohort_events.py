"""Benchmark the cohort step on measured and events-recorded synthetic extracts; prints a markdown table.

The same world is generated in both recordings (``generate_extract(n, seed, recording=...)``),
written as CSV and ingested; then ``build_cohort`` is timed on the ingested tables (best of
``--repeats``). The reference is reading the extract's four CSVs with pyarrow (its own floor).
``--before PATH`` also times another ``build_cohort`` (a ``cohort/build.py`` saved from an older
commit, which takes no extract date) on the measured extract, for a before/after figure on the
same machine and load:

    git show 8864540:src/deepvalue/cohort/build.py > /tmp/build_before.py
    PYTHONPATH=src python benchmarks/bench_cohort_events.py --clients 200000 --before /tmp/build_before.py
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
import time
from collections.abc import Callable

import pyarrow.csv as pacsv

from deepvalue.cohort.build import build_cohort
from deepvalue.core.settings import load_settings
from deepvalue.extract.ingest import ingest_extract
from deepvalue.synth.generate import generate_extract
from deepvalue.synth.write import write_extract

TABLES = ("clients", "contacts", "outcomes", "workers")


def best(func: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--before", help="a cohort/build.py of an older commit, timed on the measured extract")
    args = parser.parse_args()
    before = None
    if args.before:
        spec = importlib.util.spec_from_file_location("build_before", args.before)
        before = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(before)

    print(f"{args.clients:,} clients, seed {args.seed}, best of {args.repeats}\n")
    print("| recording | contacts | outcome rows | read 4 CSVs (pyarrow) | build_cohort | before |")
    print("|---|---:|---:|---:|---:|---:|")
    for recording in ("measured", "events"):
        extract = generate_extract(args.clients, seed=args.seed, recording=recording)
        with tempfile.TemporaryDirectory(prefix="bench_cohort_") as folder:
            paths = write_extract(extract, folder)
            read = best(lambda: [pacsv.read_csv(paths[name]) for name in TABLES], args.repeats)
            cfg = load_settings(paths["config"])
            ingested = ingest_extract(cfg)
        tables = ingested.tables
        after = best(lambda: build_cohort(tables, cfg, ingested.extract_date), args.repeats)
        old = ""
        if before is not None and recording == "measured":
            old = f"{best(lambda: before.build_cohort(tables, cfg), args.repeats):.3f} s"
        print(
            f"| {recording} | {len(tables['contacts']):,} | {len(tables['outcomes']):,} | {read:.3f} s | "
            f"{after:.3f} s | {old} |"
        )


if __name__ == "__main__":
    main()
