"""Benchmark of the publication step (disclosure checks of every publishable table) on a finished run.

    .venv/bin/python benchmarks/bench_publish.py --results RUN/results [--repeats 3]

Times `deepvalue.publish.disclosure.publish` on the tables the workflow's publish_results rule reads
(workflow/rules/common.smk, get_publishable_tables) into a temporary folder, best and median of
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

# the path under results/publish/ -> the table's path under results/ (as get_publishable_tables)
TABLES = {
    name: name
    for name in (
        "estimates.csv",
        "refutations.csv",
        "sensitivity.csv",
        "dml/sensitivity.csv",
        "instrument_balance.csv",
        "heterogeneity.csv",
        "heterogeneity_groups.csv",
        "targeting.csv",
        "targeting_rules.csv",
        "multiplicity.csv",
        "mediation.csv",
        "mediation_sensitivity.csv",
        "value.csv",
        "value_tornado.csv",
        "cohort/flow.csv",
        "cohort/outcome_flow.csv",
        "match/flow.csv",
        "match/balance.csv",
        "match/balance_summary.csv",
    )
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", type=Path, required=True, help="results/ folder of a finished workflow run")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    tables = {name: args.results / rel for name, rel in TABLES.items()}
    missing = [str(path) for path in tables.values() if not path.is_file()]
    if missing:
        raise SystemExit(f"not a finished run: missing {', '.join(missing)}")
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
