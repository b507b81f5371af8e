"""Reproducibility: a manifest of every output, and `deepvalue verify` to rerun and compare.

``results/MANIFEST.sha256`` lists the SHA-256 of every file under results/ in the format of
``sha256sum`` (``cd results && sha256sum -c MANIFEST.sha256`` checks it). Left out, and said so
in the file's header: the manifest itself and ``provenance.json``, which records *where* the run
happened (input paths as given, the code commit) rather than what it produced.

``deepvalue verify RESULTS_DIR`` hashes the outputs on disk against the manifest (naming each
deleted, edited or added file), checks that the inputs still have the checksums in
provenance.json, reruns the workflow with the recorded config into a temporary folder, and lists
every output whose bytes differ from the manifest.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from deepvalue.core.errors import ConfigError, Problem
from deepvalue.pipeline.provenance import sha256_file

MANIFEST = "MANIFEST.sha256"
EXCLUDED = {
    MANIFEST: "the manifest itself",
    "provenance.json": "records where the run happened (paths, commit), not what it produced",
}


def manifest_lines(results_dir: str | Path, outputs: list[str | Path] | None = None) -> list[str]:
    """``<sha256>  <path>`` per output file (sorted POSIX paths relative to results_dir).

    `outputs` are the workflow's outputs (files, or folders whose files all count); without
    them, every file under results_dir. Exclusions are left out.
    """
    root = Path(results_dir)
    if outputs is None:
        files = [p for p in root.rglob("*") if p.is_file()]
    else:
        files = []
        for item in map(Path, outputs):
            files += [p for p in item.rglob("*") if p.is_file()] if item.is_dir() else [item]
    lines = []
    for path in sorted(set(files)):
        rel = path.resolve().relative_to(root.resolve()).as_posix()
        if rel in EXCLUDED:
            continue
        lines.append(f"{sha256_file(path)}  {rel}")
    return lines


def write_manifest(
    results_dir: str | Path, out_path: str | Path | None = None, outputs: list[str | Path] | None = None
) -> Path:
    """Write the manifest of `outputs` (default: every file under results_dir)."""
    out = Path(out_path) if out_path else Path(results_dir) / MANIFEST
    header = [f"# deepvalue output manifest; check with: cd {Path(results_dir).name} && sha256sum -c {MANIFEST}"]
    header += [f"# not listed: {name} ({why})" for name, why in EXCLUDED.items()]
    out.write_text("\n".join(header + manifest_lines(results_dir, outputs)) + "\n")
    return out


# intermediate outputs that are not results (the bootstrap jobs' replicates: their split over jobs
# is a setting, the estimates they feed do not depend on it)
INTERMEDIATE_PREFIXES = ("dowhy/bootstrap/",)


def files_on_disk_differences(results_dir: str | Path) -> list[str]:
    """Each output deleted, edited or added since the manifest was written (hashing the files).

    A reviewer's first check (``sha256sum -c MANIFEST.sha256``), done for every file and for files
    the manifest does not list; the manifest and provenance.json themselves are not outputs.
    """
    results = Path(results_dir).resolve()
    listed = read_manifest(results / MANIFEST)
    out = []
    for rel, digest in sorted(listed.items()):
        path = results / rel
        if not path.is_file():
            out.append(f"{rel}: deleted since the run")
        elif sha256_file(path) != digest:
            out.append(f"{rel}: edited since the run (SHA-256 differs from the manifest)")
    for path in sorted(p for p in results.rglob("*") if p.is_file()):
        rel = path.relative_to(results).as_posix()
        if rel not in listed and rel not in EXCLUDED and not rel.startswith(INTERMEDIATE_PREFIXES):
            out.append(f"{rel}: added since the run (not in the manifest)")
    return out


def read_manifest(path: str | Path) -> dict[str, str]:
    entries = {}
    for line in Path(path).read_text().splitlines():
        if line and not line.startswith("#"):
            digest, rel = line.split("  ", 1)
            entries[rel] = digest
    return entries


def _absolute_config(cfg: dict, base: Path) -> dict:
    """The recorded config with every file path made absolute against the original run folder."""
    cfg = copy.deepcopy(cfg)
    for spec in cfg["extract"].values():
        if isinstance(spec, dict) and "path" in spec:
            spec["path"] = str((base / spec["path"]).resolve())
    synthetic = cfg.get("synthetic") or {}
    if synthetic.get("truth"):
        synthetic["truth"] = str((base / synthetic["truth"]).resolve())
    value = cfg.get("value") or {}
    if value.get("file"):
        value["file"] = str((base / value["file"]).resolve())
    return cfg


def verify(
    results_dir: str | Path,
    snakefile: str | Path | None = None,
    cores: int = 2,
    workdir: str | Path | None = None,
    rerun: bool = True,
) -> list[str]:
    """Rerun the recorded study and compare every output with the manifest.

    Returns human-readable differences (empty when the rerun reproduces every output byte for
    byte). Inputs that changed since the run are reported first: a rerun on other inputs cannot
    reproduce the outputs.

    ``workdir`` keeps the rerun in that folder (its ``results/`` beside the original's, to see
    what differs); a folder that already holds a rerun of the same provenance is brought up to
    date by Snakemake, not recomputed. ``rerun=False`` checks only the files on disk against the
    manifest and the inputs against the provenance (seconds, not a whole run).
    """
    results = Path(results_dir).resolve()
    prov_path, manifest_path = results / "provenance.json", results / MANIFEST
    missing = [p for p in (prov_path, manifest_path) if not p.is_file()]
    if missing:
        raise ConfigError(
            [
                Problem(
                    "results",
                    None,
                    f"{p.name} not found in {results}",
                    "give the results folder of a complete run (snakemake ... all)",
                )
                for p in missing
            ],
            headline="cannot verify",
        )
    prov = json.loads(prov_path.read_text())
    base = results.parent
    # the files as they are now, against the manifest: an edited table must not pass as reproduced
    on_disk = files_on_disk_differences(results)
    differences = []
    for name, rec in prov["inputs"].items():
        path = (base / rec["path"]).resolve()
        if not path.is_file():
            differences.append(f"input {name}: {path} no longer exists")
        elif sha256_file(path) != rec["sha256"]:
            differences.append(f"input {name}: {path} has changed since the run (SHA-256 differs)")
    if differences or not rerun:  # changed inputs first: a rerun on other inputs cannot reproduce the outputs
        return differences + on_disk
    snakefile = Path(snakefile) if snakefile else Path(__file__).resolve().parents[3] / "Snakefile"
    if not snakefile.is_file():
        raise ConfigError(
            [Problem("verify", None, f"no Snakefile at {snakefile}", "pass --snakefile PATH/TO/deepvalue/Snakefile")],
            headline="cannot verify",
        )
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(workdir) if workdir else Path(tmp) / "rerun"
        run_dir.mkdir(parents=True, exist_ok=True)
        cfg_path = Path(tmp) / "config.yaml"
        cfg_path.write_text(yaml.safe_dump(_absolute_config(prov["config"], base), sort_keys=True))
        cmd = [
            str(Path(sys.executable).with_name("snakemake")),
            "--snakefile",
            str(snakefile),
            "--directory",
            str(run_dir),
            "--configfile",
            str(cfg_path),
            "--cores",
            str(cores),
            "--quiet",
            "all",
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("SNAKEMAKE")}
        done = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            return on_disk + [f"the rerun failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}"]
        old = read_manifest(manifest_path)
        new = read_manifest(run_dir / "results" / MANIFEST)
    for rel in sorted(set(old) | set(new)):
        if rel not in new:
            differences.append(f"{rel}: in the original run, not produced by the rerun")
        elif rel not in old:
            differences.append(f"{rel}: produced by the rerun, not in the original manifest")
        elif old[rel] != new[rel]:
            differences.append(f"{rel}: bytes differ")
    return on_disk + differences
