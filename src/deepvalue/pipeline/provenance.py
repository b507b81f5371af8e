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


def extract_checksums(paths: dict[str, str], cache: str | Path) -> dict[str, str]:
    """SHA-256 of each existing file by name, reusing a cached value while the file is untouched.

    The Snakefile gives these to the ingest rule as params, so a file whose content changed
    reruns the ingest even when its modification time is old (unzip, ``cp -p``, a restored
    backup), and an unchanged extract replans nothing. A cached checksum is reused only while
    the file's size, modification time, change time and inode are all the same: the change time
    (ctime) is set by the system on every write and no copying tool can set it back, so a file
    whose content changed is always hashed again. A missing file is left out.
    """
    cache = Path(cache)
    try:
        known = json.loads(cache.read_text())
    except (OSError, ValueError):
        known = {}
    out: dict[str, str] = {}
    fresh: dict[str, dict] = {}
    for name, given in sorted(paths.items()):
        path = Path(given)
        try:
            st = path.stat()
        except OSError:
            continue
        key = str(path.resolve())
        stamp = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
        hit = known.get(key)
        digest = hit["sha256"] if hit and hit.get("stamp") == stamp else sha256_file(path)
        fresh[key] = {"stamp": stamp, "sha256": digest}
        out[name] = digest
    if fresh != {k: known.get(k) for k in fresh}:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_text(json.dumps({**known, **fresh}, indent=1, sort_keys=True))
        except OSError:
            pass  # a read-only working directory only costs the hashing again
    return out


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
