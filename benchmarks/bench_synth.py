"""Time the synthetic generator at scale: generate + write, with peak memory.

Usage::

    PYTHONPATH=src python benchmarks/bench_synth.py [--n 1000000] [--seed 1] [--messy]

Prints one markdown table row (with a header) for docs/benchmarks.md. Peak RSS is the
process high-water mark from ``resource.getrusage`` (Linux reports KiB), so run this in a
fresh process.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
import time

from deepvalue.synth.generate import generate_extract
from deepvalue.synth.write import write_extract


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="number of clients")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--messy", action="store_true")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench_synth_") as out:
        start = time.perf_counter()
        extract = generate_extract(args.n, seed=args.seed, messy=args.messy)
        generated = time.perf_counter()
        paths = write_extract(extract, out)
        written = time.perf_counter()
        csv_mb = sum(p.stat().st_size for p in paths.values() if p.suffix == ".csv") / 2**20

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        "| n_clients | n_contacts | messy | generate (s) | write (s) | total (s) "
        "| peak RSS (MB) | CSV size (MB) | machine |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {args.n:,} | {len(extract.contacts):,} | {args.messy} "
        f"| {generated - start:.1f} | {written - generated:.1f} | {written - start:.1f} "
        f"| {peak_mb:,.0f} | {csv_mb:,.0f} "
        f"| {os.cpu_count()} CPU, Python {platform.python_version()} |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
