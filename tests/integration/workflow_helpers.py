"""Helpers of the workflow tests: synthesise an extract, run the real Snakefile on it."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def synth(out: Path, clients: int, seed: int, messy: bool = False) -> Path:
    cmd = [
        sys.executable,
        "-m",
        "deepvalue.cli",
        "synth",
        "--clients",
        str(clients),
        "--seed",
        str(seed),
        "--out",
        str(out),
        "--recording",
        "measured",  # these tests read the measured tables (tests/integration/test_events_workflow.py: events)
    ] + (["--messy"] if messy else [])
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return out / "config.yaml"


def run_workflow(workdir: Path, configfile: Path, *targets: str) -> subprocess.CompletedProcess:
    cmd = [
        SNAKEMAKE,
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(configfile),
        "--cores",
        "2",
        *targets,
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SNAKEMAKE")}
    return subprocess.run(cmd, capture_output=True, text=True, env=env)


def fingerprint(ids) -> str:
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()
