"""Provenance: what went in (checksums, row counts), with which config and software.

Written without a timestamp so that two runs on the same inputs give the same bytes; the git
commit and package versions say which code produced the results.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

KEY_PACKAGES = (
    "deepvalue",
    "numpy",
    "pandas",
    "pyarrow",
    "scipy",
    "statsmodels",
    "linearmodels",
    "dowhy",
    "scikit-learn",
    "matplotlib",
    "jsonschema",
    "pyyaml",
    "openpyxl",
    "snakemake",
)


def sha256_file(path: str | Path, chunk: int = 1 << 22) -> str:
    """Hex SHA-256 of a file, read in chunks (extracts can be hundreds of MB)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def package_versions(names=KEY_PACKAGES) -> dict[str, str | None]:
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_commit(where: str | Path) -> dict[str, Any] | None:
    """The commit of the code checkout at `where`, and whether it had uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": head, "uncommitted_changes": bool(dirty)}


def build_provenance(cfg: dict, ingest_report: dict, code_dir: str | Path | None = None) -> dict[str, Any]:
    """Everything a reviewer needs to rerun and compare: inputs, config, seed, software, code."""
    inputs = {}
    for name, rep in ingest_report["tables"].items():
        path = Path(cfg["extract"][name]["path"])
        inputs[name] = {
            "path": str(path),
            "sha256": sha256_file(path),
            "bytes": path.stat().st_size,
            "rows_read": rep["rows_read"],
            "rows_written": rep["rows_written"],
        }
    return {
        "deepvalue_provenance_version": 1,
        "inputs": inputs,
        "extract_date": ingest_report["extract_date"],
        "config": cfg,
        "seed": cfg.get("seed"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
        "code": git_commit(code_dir) if code_dir else None,
    }


def write_provenance(prov: dict, path: str | Path) -> None:
    Path(path).write_text(json.dumps(prov, indent=2, sort_keys=True, default=str) + "\n")
