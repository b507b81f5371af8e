# deepvalue: validation against known truth as independent jobs, one per chunk of seeds, so that the
# replicates spread over a cluster. The same study as `deepvalue simulate` (src/deepvalue/simulate/study.py):
#
#   snakemake -s workflow/validation.smk --cores 2 \
#       --config reps=200 clients=5000 first_seed=1 seeds_per_job=10 [set='{matching: {replace: false}}'] \
#       [scenario=default|worker_quality|engagement|null] [recording=measured|events]
#   snakemake -s workflow/validation.smk --executor slurm --profile workflow/profiles/slurm --config ...
#
# Standalone: the main Snakefile does not include it (its config has its own strict schema).
# Every --config key is optional (defaults: reps 200, clients 5000, first_seed 1, seeds_per_job 10,
# scenario default, recording measured).
# Outputs, byte-identical whatever seeds_per_job and equal to
# `deepvalue simulate --reps R --clients C --seed S [--scenario X --recording Y] --out results/validation/summary.csv`:
#   results/validation/summary.csv              the summary per outcome, method and estimand
#   results/validation/summary_replicates.csv   every replicate's rows (seed order)
#   results/validation/validation.md            the docs/validation.md page for this run
import math
import shlex
import sys
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")

# the library is importable without installation (as in scripts/*.py)
sys.path.insert(0, str(Path(workflow.basedir).parent / "src"))

from deepvalue.simulate.study import VALIDATION_DEFAULTS, chunks, validation_settings

try:
    S = validation_settings(config)
except ValueError as exc:
    # one line, no traceback (as workflow/rules/common.smk does for the main config)
    sys.stderr.write(f"{exc}\n")
    raise SystemExit(1)

CHUNKS = chunks(S["reps"], S["first_seed"], S["seeds_per_job"])
CHUNK_CSV = "results/validation/chunks/seeds_{first}_{last}.csv"


def validation_command():
    """The command that reproduces this run (shown on validation.md)."""
    import yaml

    args = [f"{k}={S[k]}" for k in ("reps", "clients", "first_seed", "seeds_per_job")]
    args += [f"{k}={S[k]}" for k in ("scenario", "recording") if S[k] != VALIDATION_DEFAULTS[k]]
    if S["overrides"]:
        flow = yaml.safe_dump(S["overrides"], default_flow_style=True, sort_keys=False).strip()
        args.append(shlex.quote(f"set={flow}"))
    return "snakemake -s workflow/validation.smk --cores all --config " + " ".join(args)


# the summary is a few seconds of pandas: not worth a trip through the queue
localrules:
    validation_all,
    validation_summary,


rule validation_all:
    default_target: True
    input:
        "results/validation/summary.csv",
        "results/validation/summary_replicates.csv",
        "results/validation/validation.md",


rule validation_chunk:
    output:
        CHUNK_CSV,
    log:
        "logs/validation/seeds_{first}_{last}.log",
    benchmark:
        "logs/benchmarks/validation/seeds_{first}_{last}.tsv"
    wildcard_constraints:
        first=r"\d+",
        last=r"\d+",
    conda:
        "envs/deepvalue.yaml"
    threads: 1
    # Measured: a 5,000-client replicate takes about 1 s and 430 MB (20,000 clients: 1.6 s, 520 MB).
    # Budget ten times the time (10 s + 10 s per 5,000 clients per seed) plus 5 min of start-up,
    # and 1 GB + 20 MB per 1,000 clients.
    resources:
        mem_mb=1000 + S["clients"] // 50,
        runtime=5 + math.ceil(S["seeds_per_job"] * (10 + 10 * S["clients"] / 5000) / 60),
    params:
        clients=S["clients"],
        overrides=S["overrides"],
        scenario=S["scenario"],
        recording=S["recording"],
    script:
        "../scripts/validation_chunk.py"


rule validation_summary:
    input:
        [CHUNK_CSV.format(first=a, last=b) for a, b in CHUNKS],
    output:
        summary="results/validation/summary.csv",
        replicates="results/validation/summary_replicates.csv",
        markdown="results/validation/validation.md",
    log:
        "logs/validation/summary.log",
    benchmark:
        "logs/benchmarks/validation/summary.tsv"
    conda:
        "envs/deepvalue.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        reps=S["reps"],
        clients=S["clients"],
        first_seed=S["first_seed"],
        command=validation_command(),
    script:
        "../scripts/validation_summary.py"
