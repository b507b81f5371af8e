"""Scale benchmark: synthesize N clients, run the real workflow, record per-rule time and memory.

    .venv/bin/python benchmarks/bench_workflow.py --clients 1000000 [--write-docs]

Per-rule wall time and peak memory come from Snakemake's own `benchmark:` files; the whole run
and a no-op rerun are timed around the snakemake command, and the peak memory of the whole run
is the largest summed RSS of snakemake and all its jobs at once (sampled every 0.2 s). Then,
unless --no-peers, our PSM and AIPW run beside DoWhy's estimators on the run's cohort
(bench_peers.py). With --write-docs the tables replace the block between the markers in
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
START, END = "<!-- bench_workflow:start -->", "<!-- bench_workflow:end -->"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
        mem = f"{mem_kb / 1024**2:.0f} GiB"
    except (OSError, StopIteration):
        mem = "unknown memory"
    return f"{os.cpu_count()} cores ({cpu}), {mem}, Python {platform.python_version()}, {platform.system()}"


def run(cmd: list[str], **kw) -> tuple[float, float]:
    """Wall time of the command and the peak of the summed RSS of its whole process tree (MB).

    The tree (snakemake and every job it runs at once) is sampled every 0.2 s, so a peak shorter
    than that can be missed; each rule's own peak is in its benchmark file.
    """
    import psutil

    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, **kw)
    peak = 0
    try:
        root = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                tree = [root, *root.children(recursive=True)]
                total = 0
                for p in tree:
                    try:
                        total += p.memory_info().rss
                    except psutil.Error:
                        pass
                peak = max(peak, total)
            except psutil.Error:
                pass
            time.sleep(0.2)
    finally:
        proc.wait()
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, cmd)
    return time.perf_counter() - t0, peak / 1e6


def _without_methods(config: Path, dropped: list[str], workdir: Path) -> Path:
    """A config file that sets estimation.methods to the extract config's methods (its defaults
    resolved) without ``dropped``; Snakemake merges it over the extract's config."""
    import yaml

    from deepvalue.core.settings import load_settings

    methods = load_settings(config).estimation.methods
    unknown = sorted(set(dropped) - set(methods))
    if unknown:
        raise SystemExit(f"--drop-methods: {', '.join(unknown)} not among the config's methods ({', '.join(methods)})")
    workdir.mkdir(parents=True)
    path = workdir / "drop_methods.yaml"
    path.write_text(yaml.safe_dump({"estimation": {"methods": [m for m in methods if m not in dropped]}}))
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "workflow")
    ap.add_argument("--cores", default="2")
    ap.add_argument("--write-docs", action="store_true")
    ap.add_argument("--no-peers", action="store_true", help="skip the comparison with DoWhy's estimators")
    ap.add_argument(
        "--drop-methods",
        default="",
        help="comma-separated methods left out of the extract's estimation.methods (e.g. "
        "dml,within_worker_regression,within_worker_aipw, the without side of issue 16's budget); "
        "the run gets its own work folder",
    )
    args = ap.parse_args()

    extract = args.out / f"extract_{args.clients}_{args.seed}"
    dropped = [m for m in args.drop_methods.split(",") if m]
    workdir = args.out / ("_".join([f"run_{args.clients}_{args.seed}", *(f"no_{m}" for m in dropped)]))
    synth_s = None
    if not (extract / "config.yaml").exists():
        synth_s, _ = run(
            [
                str(BIN / "deepvalue"),
                "synth",
                "--clients",
                str(args.clients),
                "--seed",
                str(args.seed),
                "--out",
                str(extract),
            ],
            stdout=subprocess.DEVNULL,
        )
    if workdir.exists():
        shutil.rmtree(workdir)
    configs = [str(extract / "config.yaml")]
    if dropped:
        configs.append(str(_without_methods(extract / "config.yaml", dropped, workdir)))
    snake = [
        str(BIN / "snakemake"),
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        *configs,
        "--cores",
        args.cores,
        "--quiet",
        "all",
    ]
    total_s, tree_mb = run(snake)
    noop_s, _ = run(snake)

    rows = []
    for tsv in sorted((workdir / "logs" / "benchmarks").glob("*.tsv")):
        with open(tsv) as fh:
            rec = next(csv.DictReader(fh, delimiter="\t"))
        rows.append((tsv.stem, float(rec["s"]), float(rec["max_rss"])))
    contacts = sum(1 for _ in open(extract / "contacts.csv")) - 1

    lines = [
        START,
        "",
        f"Machine: {machine()}. Extract: {args.clients:,} clients, {contacts:,} contacts "
        f"(`deepvalue synth --seed {args.seed}`). Command: `python benchmarks/bench_workflow.py "
        f"--clients {args.clients}" + (f" --drop-methods {','.join(dropped)}" if dropped else "") + "`.",
        "",
        "| step | wall time (s) | peak memory (MB) |",
        "|---|---:|---:|",
    ]
    if synth_s is not None:
        lines.append(f"| synthesize (deepvalue synth, outside the workflow) | {synth_s:.1f} | |")
    for name, secs, rss in rows:
        lines.append(f"| rule {name} | {secs:.1f} | {rss:,.0f} |")
    lines.append(
        f"| **whole workflow** (snakemake, from the extract) | **{total_s:.1f}** | "
        f"**{tree_mb:,.0f}** (all jobs at once; largest rule {max(r[2] for r in rows):,.0f}) |"
    )
    lines.append(f"| no-op rerun | {noop_s:.1f} | |")
    met = total_s < 90 and tree_mb < 5000 and noop_s < 3
    lines += ["", f"Targets (under 90 s, under 5 GB, no-op under 3 s): {'met' if met else 'NOT met'}.", ""]
    if not args.no_peers:
        import pandas as pd
        from bench_peers import compare, markdown

        from deepvalue.core.settings import load_settings

        print("peer comparison (ours vs DoWhy) on the workflow's cohort ...", flush=True)
        peers = compare(
            pd.read_parquet(workdir / "results" / "cohort" / "analysis.parquet"), load_settings(extract / "config.yaml")
        )
        lines += [
            "Peer comparison on the same cohort (`benchmarks/bench_peers.py`, after the workflow, "
            "one process, point estimates; DoWhy as the pipeline runs it):",
            "",
            *markdown(peers),
            "",
        ]
    lines += [END]
    table = "\n".join(lines)
    print(table)
    if args.write_docs:
        doc = REPO / "docs" / "benchmarks.md"
        text = doc.read_text()
        head, _, rest = text.partition(START)
        _, _, tail = rest.partition(END)
        doc.write_text(head + table + tail)


if __name__ == "__main__":
    main()
