"""Benchmark deepvalue.cohort.continuity at the DESIGN section 9 scale; prints a markdown table.

Cases: 1,000,000 clients x 4 contacts (the default exposure window, K = 4), and 8,000,000 contacts over
1,000,000 clients (unequal lengths, every client at least one contact). Time is the best and median of
``--repeats`` runs; peak memory is the largest extra allocation during one call, measured with
tracemalloc (numpy reports its buffers to it) in a separate, untimed run, so tracing does not slow the timed
runs. Inputs are int64 code arrays already ordered by client, as the caller provides them.

    PYTHONPATH=src python benchmarks/bench_continuity.py [--repeats 3] [--scale 1.0]
"""

from __future__ import annotations

import argparse
import platform
import resource
from collections.abc import Callable

import numpy as np
from bench_common import peak_extra_mib, time_call

from deepvalue.cohort.continuity import continuity_indices, primary_worker

N_WORKERS = 20_000  # DESIGN section 9: about 20,000 worker clusters at this scale
P_PRIMARY = 0.7  # chance a contact is with the client's own worker, so runs and ties are realistic


def make_contacts(rng: np.random.Generator, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ordered (client, worker) codes: each client has a main worker and is sometimes passed on."""
    n_clients = lengths.size
    client = np.repeat(np.arange(n_clients, dtype=np.int64), lengths)
    main = rng.integers(0, N_WORKERS, size=n_clients)[client]
    other = rng.integers(0, N_WORKERS, size=client.size)
    worker = np.where(rng.random(client.size) < P_PRIMARY, main, other)
    return client, worker


def fixed_window(rng: np.random.Generator, n_clients: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    return make_contacts(rng, np.full(n_clients, k, dtype=np.int64))


def uneven(rng: np.random.Generator, n_clients: int, n_contacts: int) -> tuple[np.ndarray, np.ndarray]:
    # One contact each, the rest spread at random: exactly n_contacts in all, lengths roughly 1 + Poisson.
    lengths = 1 + np.bincount(rng.integers(0, n_clients, size=n_contacts - n_clients), minlength=n_clients)
    return make_contacts(rng, lengths)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply sizes (e.g. 0.01 for a smoke run)")
    parser.add_argument("--seed", type=int, default=20240601)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    n_clients = int(1_000_000 * args.scale)
    n_contacts = int(8_000_000 * args.scale)
    cases = [
        (f"{n_clients:,} clients x 4 contacts", fixed_window(rng, n_clients, 4)),
        (f"{n_contacts:,} contacts, {n_clients:,} clients", uneven(rng, n_clients, n_contacts)),
    ]
    funcs: list[tuple[str, Callable[[np.ndarray, np.ndarray], object]]] = [
        ("continuity_indices", continuity_indices),
        ("primary_worker", primary_worker),
    ]

    rows = []
    for label, (client, worker) in cases:
        inputs_mib = (client.nbytes + worker.nbytes) / 2**20
        for fname, func in funcs:
            call = lambda f=func, c=client, w=worker: f(c, w)  # noqa: E731
            best, median = time_call(call, args.repeats)
            peak = peak_extra_mib(call)
            rows.append((label, fname, best, median, peak, inputs_mib))

    print(
        f"numpy {np.__version__}, Python {platform.python_version()}, {platform.machine()}, "
        f"repeats={args.repeats}, workers={N_WORKERS:,}, p(main worker)={P_PRIMARY}\n"
    )
    print("| case | function | best (s) | median (s) | peak extra memory (MiB) | inputs (MiB) |")
    print("|---|---|---:|---:|---:|---:|")
    for label, fname, best, median, peak, inputs_mib in rows:
        print(f"| {label} | {fname} | {best:.3f} | {median:.3f} | {peak:.0f} | {inputs_mib:.0f} |")
    max_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"\nprocess max RSS (including data generation): {max_rss_mib:.0f} MiB")


if __name__ == "__main__":
    main()
