"""workflow/validation.smk: the validation study as one job per chunk of seeds.

Runs `snakemake -s workflow/validation.smk --directory TMP --config ...` in a subprocess, as a user
would, on a tiny study (4 extracts of 600 clients), and checks that the outputs do not depend on
how the seeds are chunked and equal `deepvalue simulate` written with the same writer.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO
from deepvalue.simulate.study import chunks, run_chunk, simulate, summarise, validation_settings, write_validation

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
SNAKEFILE = REPO / "workflow" / "validation.smk"
REPS, CLIENTS = 4, 600
OUTPUTS = ("summary.csv", "summary_replicates.csv")


def validation_command(workdir: Path, *config: str, dry_run: bool = False, cores: int = 2) -> list[str]:
    return [
        SNAKEMAKE,
        "-s",
        str(SNAKEFILE),
        "--directory",
        str(workdir),
        "--cores",
        str(cores),
        *(["--dry-run"] if dry_run else []),
        "--config",
        *config,
    ]


ENV = {k: v for k, v in os.environ.items() if not k.startswith("SNAKEMAKE")}


def run_validation(workdir: Path, *config: str, dry_run: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run(
        validation_command(workdir, *config, dry_run=dry_run), capture_output=True, text=True, env=ENV
    )


@pytest.mark.parametrize("reps, first_seed, per_job", [(7, 1, 3), (4, 10, 10), (200, 1, 10), (5, 3, 1), (9, 0, 4)])
def test_chunks_cover_every_seed_once_in_order(reps, first_seed, per_job):
    parts = chunks(reps, first_seed, per_job)
    seeds = [s for a, b in parts for s in range(a, b + 1)]
    assert seeds == list(range(first_seed, first_seed + reps))
    assert len(parts) == math.ceil(reps / per_job)
    assert all(b - a + 1 == per_job for a, b in parts[:-1])
    assert 1 <= parts[-1][1] - parts[-1][0] + 1 <= per_job


def test_settings_defaults_and_overrides_as_snakemake_passes_them():
    s = validation_settings({})
    assert (s["reps"], s["clients"], s["first_seed"], s["seeds_per_job"], s["overrides"]) == (200, 5000, 1, 10, {})
    # `--config set='{matching: {replace: false}}'` reaches the Snakefile with every scalar a string
    s = validation_settings({"set": {"matching": {"replace": "false", "caliper": "0.2"}}})
    assert s["overrides"] == {"matching": {"replace": False, "caliper": 0.2}}


def test_scenario_and_recording_reach_the_replicates(tmp_path):
    s = validation_settings({"scenario": "null", "recording": "events"})
    assert (s["scenario"], s["recording"]) == ("null", "events")
    assert (validation_settings({})["scenario"], validation_settings({})["recording"]) == ("default", "measured")
    # one chunk of one small null extract with event recording: every truth is 0, and km_ipw (events only) is there
    rows = run_chunk(2, 2, 400, {}, tmp_path / "chunk.csv", scenario=s["scenario"], recording=s["recording"])
    assert (rows["truth"] == 0).all() and "km_ipw" in set(rows["method"])


@pytest.mark.parametrize(
    "entry, key",
    [
        ({"scenario": "worker-quality"}, "scenario"),
        ({"recording": "event"}, "recording"),
        ({"reps": 0}, "reps"),
        ({"clients": 49}, "clients"),
        ({"seeds_per_job": 2.5}, "seeds_per_job"),
        ({"first_seed": -1}, "first_seed"),
        ({"reps": True}, "reps"),
        ({"rep": 3}, "rep"),
    ],
)
def test_bad_settings_name_the_key(entry, key):
    with pytest.raises(ValueError, match=f"'?{key}'?[=;]"):
        validation_settings(entry)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("validation_workflow")
    out = {per_job: base / f"per_job_{per_job}" for per_job in (1, 3)}
    # the two runs side by side (one core each), the direct simulate meanwhile in this process
    procs = {
        per_job: subprocess.Popen(
            validation_command(
                folder, f"reps={REPS}", f"clients={CLIENTS}", "first_seed=1", f"seeds_per_job={per_job}", cores=1
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
        )
        for per_job, folder in out.items()
    }
    write_validation(reps := simulate(REPS, CLIENTS), summarise(reps), base / "direct" / "summary.csv")
    out["direct"] = base / "direct"
    for proc in procs.values():
        _, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, stderr[-3000:]
    return out


@pytest.mark.slow
def test_outputs_do_not_depend_on_chunking_and_equal_simulate(runs):
    for name in OUTPUTS:
        one = (runs[1] / "results" / "validation" / name).read_bytes()
        three = (runs[3] / "results" / "validation" / name).read_bytes()
        direct = (runs["direct"] / name).read_bytes()
        assert one == three, name
        assert one == direct, name
    page = (runs[3] / "results" / "validation" / "validation.md").read_text()
    assert "snakemake -s workflow/validation.smk" in page and "seeds_per_job=3" in page
    assert f"{REPS} synthetic extracts of {CLIENTS} clients (seeds 1..{REPS})" in page


@pytest.mark.slow
def test_one_chunk_job_per_chunk_of_seeds(runs):
    for per_job in (1, 3):
        files = sorted(p.name for p in (runs[per_job] / "results" / "validation" / "chunks").iterdir())
        assert len(files) == math.ceil(REPS / per_job)
        assert files == sorted(f"seeds_{a}_{b}.csv" for a, b in chunks(REPS, 1, per_job))
        assert (runs[per_job] / "logs" / "benchmarks" / "validation" / files[0].replace(".csv", ".tsv")).exists()


def test_dry_run_plans_one_job_per_chunk(tmp_path):
    res = run_validation(tmp_path, "reps=200", "seeds_per_job=7", dry_run=True)
    assert res.returncode == 0, res.stderr[-3000:]
    counts = dict(re.findall(r"^(validation_\w+)\s+(\d+)$", res.stdout + res.stderr, flags=re.M))
    assert counts["validation_chunk"] == str(math.ceil(200 / 7)), counts
    assert counts["validation_summary"] == "1"


@pytest.mark.parametrize(
    "entry, key", [("reps=0", "reps"), ("clients=10", "clients"), ("seeds_per_job=x", "seeds_per_job")]
)
def test_bad_config_stops_with_a_message_naming_the_key(tmp_path, entry, key):
    res = run_validation(tmp_path, entry, dry_run=True)
    assert res.returncode != 0
    assert f"validation config: {entry.split('=')[0]}=" in res.stderr and "fix:" in res.stderr
    assert "Traceback" not in res.stderr
