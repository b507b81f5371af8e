"""Benchmark deepvalue.extract.identifiers.identifier_value_hits at 1M clients; prints a markdown table.

Cases: the contact ids of 1M clients (8M distinct strings like ``K0000001``, checked for names as an
identifier column), the client ids, a worker column of 20,000 labels over 8M rows (plain text, and
as a dictionary array as Parquet stores a pandas ``category``), a site column of 10 labels, 8M
integer ids (the numeric path), and the worst case for the name check: 1M distinct "First Last"
values in an identifier column. Time is the best and median of ``--repeats`` runs after a warm-up.

    PYTHONPATH=src python benchmarks/bench_identifiers.py [--repeats 3] [--scale 1.0]
"""

from __future__ import annotations

import argparse
import platform

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from bench_common import time_call

from deepvalue.extract.identifiers import identifier_value_hits


def codes(prefix: str, n: int, width: int = 7) -> pa.ChunkedArray:
    digits = pc.utf8_lpad(pc.cast(pa.array(np.arange(n)), pa.string()), width, "0")
    return pa.chunked_array([pc.binary_join_element_wise(pa.scalar(prefix), digits, "")])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply sizes (e.g. 0.01 for a smoke run)")
    args = parser.parse_args()

    rng = np.random.default_rng(20240601)
    n_contacts, n_clients = int(8_000_000 * args.scale), int(1_000_000 * args.scale)
    workers = codes("W", 20_000, 5)
    worker_rows = pc.take(workers, pa.array(rng.integers(0, len(workers), n_contacts)))
    sites = pa.array([f"S{i:02d}" for i in range(10)])
    first = np.array(["mary", "john", "priya", "mohammed", "sean", "fatima", "tomasz", "grace"])
    letters = str.maketrans("0123456789", "abcdefghij")  # digit-free surnames, so every value is a name
    people = pa.chunked_array(
        [pa.array([f"{first[i % first.size].title()} Mc{i:07d}".translate(letters) for i in range(n_clients)])]
    )
    cases = [
        (f"{n_contacts:,} distinct contact ids", codes("K", n_contacts), True),
        (f"{n_clients:,} distinct client ids", codes("C", n_clients), True),
        (f"{n_contacts:,} rows, 20,000 worker ids", worker_rows, True),
        ("the same as a dictionary array", pa.chunked_array([worker_rows.combine_chunks().dictionary_encode()]), True),
        (f"{n_contacts:,} rows, 10 sites", pc.take(sites, pa.array(rng.integers(0, 10, n_contacts))), False),
        (f"{n_contacts:,} integer ids", pa.chunked_array([pa.array(np.arange(n_contacts))]), False),
        (f"{n_clients:,} distinct personal names", people, True),
    ]
    print(
        f"pyarrow {pa.__version__}, Python {platform.python_version()}, {platform.machine()}, repeats={args.repeats}\n"
    )
    print("| case | names | best (s) | median (s) | rows found |")
    print("|---|---|---:|---:|---:|")
    for label, values, names in cases:
        best, median = time_call(lambda v=values, n=names: identifier_value_hits(v, n), args.repeats)
        found = sum(len(p) for p in identifier_value_hits(values, names).values())
        print(f"| {label} | {'yes' if names else 'no'} | {best:.2f} | {median:.2f} | {found:,} |")


if __name__ == "__main__":
    main()
