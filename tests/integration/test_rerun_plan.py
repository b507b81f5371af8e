"""A changed config key replans only the rules that read it and what lies downstream.

Each rule's ``params`` carry only the config sections it reads (workflow/rules/common.smk,
``get_settings``), so Snakemake's params trigger reruns exactly those rules; a dry run after a
completed workflow lists what would run.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import REPO, SNAKEMAKE, run_small_workflow

# write_provenance records the whole resolved config, so it reruns on any change (by design)
ALWAYS = {"write_provenance", "write_report", "write_manifest"}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("rerun")
    results, cfg = run_small_workflow(base, clients=1200, seed=5)
    return base, results.parent, cfg


def planned_jobs(run_dir, configfile) -> set[str]:
    """The rules a dry run would execute (from Snakemake's 'Job stats' table), without 'all'."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SNAKEMAKE")}
    res = subprocess.run(
        [
            SNAKEMAKE,
            "--snakefile",
            str(REPO / "Snakefile"),
            "--directory",
            str(run_dir),
            "--configfile",
            str(configfile),
            "--cores",
            "1",
            "-n",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    out = res.stdout + res.stderr
    if "Nothing to be done" in out:
        return set()
    table = out.split("Job stats:", 1)[1].split("total", 1)[0]
    return {m.group(1) for m in re.finditer(r"^(\w+)\s+\d+\s*$", table, flags=re.M)} - {"job", "all"}


def with_change(base, cfg, name, section, key, value):
    changed = yaml.safe_load(yaml.safe_dump(cfg))
    changed.setdefault(section, {})[key] = value
    path = base / f"{name}.yaml"
    path.write_text(yaml.safe_dump(changed, sort_keys=False))
    return path


def test_unchanged_config_replans_nothing_even_with_keys_reordered(finished_run):
    base, run_dir, cfg = finished_run
    same = base / "same.yaml"
    same.write_text(yaml.safe_dump(cfg, sort_keys=True))
    assert planned_jobs(run_dir, same) == set()


def test_disclosure_change_reruns_only_publication_and_the_figures(finished_run):
    base, run_dir, cfg = finished_run
    path = with_change(base, cfg, "min_cell", "disclosure", "min_cell", 11)
    figures = {"plot_cohort_figures", "plot_propensity_overlap", "plot_forest", "plot_km_curves"}  # threshold too
    assert planned_jobs(run_dir, path) == {"publish_results", "write_brief"} | figures | ALWAYS


def test_value_draws_change_reruns_value_onward(finished_run):
    base, run_dir, cfg = finished_run
    path = with_change(base, cfg, "draws", "value", "draws", 2000)
    assert planned_jobs(run_dir, path) == {"value_effects", "publish_results", "write_brief"} | ALWAYS


def test_dowhy_change_leaves_our_estimators_alone(finished_run):
    base, run_dir, cfg = finished_run
    path = with_change(
        base, cfg, "dowhy", "estimation", "dowhy", {**(cfg.get("estimation") or {}).get("dowhy", {}), "simulations": 20}
    )
    planned = planned_jobs(run_dir, path)
    assert "refute_effects" in planned and "estimate_effects" not in planned and "match_cohort" not in planned
    assert "build_cohort" not in planned and "ingest_extract" not in planned


def test_exposure_change_reruns_cohort_onward_not_ingest(finished_run):
    base, run_dir, cfg = finished_run
    path = with_change(base, cfg, "threshold", "exposure", "threshold", 0.8)
    planned = planned_jobs(run_dir, path)
    assert "build_cohort" in planned and "match_cohort" in planned and "estimate_effects" in planned
    assert "ingest_extract" not in planned and "synthesize_extract" not in planned


def test_changed_extract_with_an_old_modification_time_reruns_the_ingest(finished_run):
    # unzip and cp -p give a changed file its old modification time: the checksum decides
    base, run_dir, cfg = finished_run
    path = Path(cfg["extract"]["outcomes"]["path"])
    original, st = path.read_bytes(), path.stat()
    lines = original.split(b"\n")
    lines[1], lines[2] = lines[2], lines[1]  # same size, other content
    try:
        path.write_bytes(b"\n".join(lines))
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert path.stat().st_mtime_ns == st.st_mtime_ns and path.stat().st_size == st.st_size
        planned = planned_jobs(run_dir, base / "extract" / "config.yaml")
        assert "ingest_extract" in planned and "synthesize_extract" not in planned
    finally:
        path.write_bytes(original)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    # the original content again: nothing to do (the cached checksum was not trusted blindly)
    assert planned_jobs(run_dir, base / "extract" / "config.yaml") == set()
