"""Benchmark of the publication step (disclosure checks of every publishable table) on a finished run.

    .venv/bin/python benchmarks/bench_publish.py --results RUN/results [--repeats 3]

Times `deepvalue.publish.disclosure.publish` on the tables the run's publish_results rule published
(read from results/publish/, each from its source under results/) into a temporary folder, best and median of
`repeats` calls after a warm-up, and pyarrow reading the run's contacts table as the machine's
reference time (docs/benchmarks.md compares ratios, not seconds, across machines).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import pyarrow.parquet as pq
from bench_common import time_call

from deepvalue.publish.disclosure import publish


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", type=Path, required=True, help="results/ folder of a finished workflow run")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    # the tables the run published (results/publish/<path> came from results/<path>; the rule's list is
    # get_publishable_tables in workflow/rules/common.smk), so the benchmark never keeps a copy of that list
    published = args.results / "publish"
    names = sorted(
        p.relative_to(published).as_posix() for p in published.rglob("*.csv") if p.name != "disclosure_log.csv"
    )
    tables = {name: args.results / name for name in names}
    missing = [str(path) for path in tables.values() if not path.is_file()]
    if not names or missing:
        raise SystemExit(f"not a finished run: no published tables, or missing {', '.join(missing)}")
    with tempfile.TemporaryDirectory() as tmp:
        best, median = time_call(
            lambda: publish(tables, Path(tmp) / "publish", min_cell=10, allow_zero=True), args.repeats
        )
    contacts = args.results / "interim" / "contacts.parquet"
    ref, _ = time_call(lambda: pq.read_table(contacts), 5)
    print(f"publish: best {best:.2f} s, median {median:.2f} s ({len(tables)} tables)")
    print(f"reference: pyarrow reads {contacts.name} ({pq.read_metadata(contacts).num_rows:,d} rows) in {ref:.4f} s")


if __name__ == "__main__":
    main()
