"""Shared fixtures: a tiny, hand-made valid extract that each bad-input test breaks in one way."""

from __future__ import annotations

import copy
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

# scripts that regenerate stored reference values with a tool the test environment does not install
# (lifelines pins pandas < 3): run by hand, as their docstrings say, never collected
collect_ignore_glob = ["reference/*/make_reference.py"]

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def synth(out: Path, clients: int, seed: int, messy: bool = False, recording: str = "measured") -> Path:
    """`deepvalue synth` into `out`; return its config.yaml (measured recording unless asked: the workflow
    tests read the measured tables; tests/integration/test_events_workflow.py reads the events)."""
    cmd = [sys.executable, "-m", "deepvalue.cli", "synth", "--clients", str(clients), "--seed", str(seed)]
    cmd += ["--out", str(out), "--recording", recording] + (["--messy"] if messy else [])
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return out / "config.yaml"


def run_workflow(workdir: Path, configfile: Path, *targets: str) -> subprocess.CompletedProcess:
    """The real Snakefile on `configfile` in `workdir` (2 cores), as a user runs it; the caller checks it."""
    cmd = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir)]
    cmd += ["--configfile", str(configfile), "--cores", "2", *targets]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SNAKEMAKE")}
    return subprocess.run(cmd, capture_output=True, text=True, env=env)


def fingerprint(ids) -> str:
    """SHA-256 of the sorted ids, as truth.json's population fingerprints."""
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()


def run_small_workflow(
    base: Path, clients: int = 1500, seed: int = 3, recording: str = "measured"
) -> tuple[Path, dict]:
    """Synthesise a small extract and run the whole workflow on it; return (results dir, config)."""
    import yaml

    config = synth(base / "extract", clients, seed, recording=recording)
    res = run_workflow(base / "run", config)
    assert res.returncode == 0, res.stderr[-3000:]
    # the console of the run, for the tests of what the workflow prints (tests/integration/test_run_answer.py)
    (base / "snakemake.stdout").write_text(res.stdout)
    (base / "snakemake.stderr").write_text(res.stderr)
    return base / "run" / "results", yaml.safe_load(config.read_text())


def shared_workflow(tmp_path_factory, name: str, **extract) -> tuple[Path, dict]:
    """`run_small_workflow(base, **extract)` once per test session, shared by the tests that only read it.

    Under pytest-xdist every worker is a separate process with its own session fixtures; the first
    worker to ask builds the run in the session's shared temporary folder under an exclusive file
    lock, the others wait on the lock and reuse it (pytest-xdist's documented recipe for a session
    fixture computed once, with fcntl in place of the filelock package). The run's console output is
    kept beside it (snakemake.stdout, snakemake.stderr). Read-only: a test that writes works in its
    own tmp_path.
    """
    import fcntl

    import yaml

    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return run_small_workflow(tmp_path_factory.mktemp(name), **extract)
    root = tmp_path_factory.getbasetemp().parent  # one folder per session, shared by its workers
    base, done = root / name, root / f"{name}.done"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            run_small_workflow(base, **extract)
            done.touch()
    return base / "run" / "results", yaml.safe_load((base / "extract" / "config.yaml").read_text())


@pytest.fixture(scope="session")
def small_workflow(tmp_path_factory) -> tuple[Path, dict]:
    """The workflow on `run_small_workflow`'s default extract (1,500 clients, seed 3, measured), shared
    by the report, browser, console-answer, verify and bootstrap-split tests."""
    return shared_workflow(tmp_path_factory, "small_workflow")


@pytest.fixture(scope="session")
def default_workflow(tmp_path_factory) -> tuple[Path, dict]:
    """The default study's run (5,000 clients, seed 1, event recording, as config/config.yaml's
    synthetic section), for the tests that only read it (tests/integration/test_events_workflow.py)."""
    return shared_workflow(tmp_path_factory, "default_workflow", clients=5000, seed=1, recording="events")


def make_tiny_extract(folder: Path, n_clients: int = 40) -> dict:
    """Write a small valid extract (CSV) into `folder` and return a config dict for it.

    Deterministic and independent of the synthetic generator, so ingest tests do not move
    when the generator changes.
    """
    rng = np.random.default_rng(7)
    folder.mkdir(parents=True, exist_ok=True)
    ids = [f"C{i:04d}" for i in range(n_clients)]
    start = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 200, n_clients), unit="D")
    clients = pd.DataFrame(
        {
            "client_id": ids,
            "service": np.where(np.arange(n_clients) % 2 == 0, "employment", "welfare_advice"),
            "site": np.where(np.arange(n_clients) % 3 == 0, "S01", "S02"),
            "start_date": start.strftime("%Y-%m-%d"),
            "age": rng.integers(18, 70, n_clients),
            "disability": np.where(rng.random(n_clients) < 0.3, "Y", "N"),
            "ethnicity": rng.choice(["White", "Asian", "Black"], n_clients),
        }
    )
    rows = []
    k = 0
    for i, cid in enumerate(ids):
        for j in range(5):
            k += 1
            rows.append(
                {
                    "contact_id": f"K{k:05d}",
                    "client_id": cid,
                    "worker_id": f"W{(i + j * (i % 2)) % 6:02d}",
                    "contact_date": (start[i] + pd.Timedelta(days=7 * j + 1)).strftime("%Y-%m-%d"),
                }
            )
    contacts = pd.DataFrame(rows)
    outcomes = pd.DataFrame(
        {
            "client_id": ids,
            "outcome": "job_start",
            "value": rng.integers(0, 2, n_clients),
            "outcome_date": (start + pd.Timedelta(days=150)).strftime("%Y-%m-%d"),
        }
    )
    workers = pd.DataFrame(
        {"worker_id": [f"W{w:02d}" for w in range(6)], "end_date": ["", "2024-05-01", "", "", "", ""]}
    )
    for name, frame in (("clients", clients), ("contacts", contacts), ("outcomes", outcomes), ("workers", workers)):
        frame.to_csv(folder / f"{name}.csv", index=False)
    return {
        "extract": {
            "clients": {
                "path": str(folder / "clients.csv"),
                "columns": {"client_id": "client_id", "service": "service", "site": "site", "start_date": "start_date"},
            },
            "contacts": {
                "path": str(folder / "contacts.csv"),
                "columns": {
                    "client_id": "client_id",
                    "worker_id": "worker_id",
                    "contact_date": "contact_date",
                    "contact_id": "contact_id",
                },
            },
            "outcomes": {
                "path": str(folder / "outcomes.csv"),
                "columns": {
                    "client_id": "client_id",
                    "outcome": "outcome",
                    "value": "value",
                    "outcome_date": "outcome_date",
                },
            },
            "workers": {
                "path": str(folder / "workers.csv"),
                "columns": {"worker_id": "worker_id", "end_date": "end_date"},
            },
            "extract_date": "2025-06-30",
        },
        "covariates": [
            {"name": "age", "type": "numeric"},
            {"name": "disability", "type": "binary"},
            {"name": "ethnicity", "type": "categorical"},
        ],
        "outcomes": [{"name": "job_start", "type": "binary", "follow_up_days": 182}],
    }


@pytest.fixture
def tiny(tmp_path) -> dict:
    """A valid tiny extract and its config (a fresh copy per test)."""
    return copy.deepcopy(make_tiny_extract(tmp_path / "extract"))
