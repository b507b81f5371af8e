"""Each workflow stage as one function of paths and config: what the rule scripts call."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from .config import load_config
from .ingest import ingest_extract, write_interim
from .provenance import build_provenance, write_provenance

log = logging.getLogger("deepvalue")


def synthesize_stage(n_clients: int, seed: int, messy: bool, out_dir: str | Path) -> None:
    from .synth import generate_extract, write_extract

    extract = generate_extract(n_clients, seed=seed, messy=messy)
    paths = write_extract(extract, out_dir)
    log.info("synthetic extract: %d clients, %d contacts -> %s", len(extract.clients),
             len(extract.contacts), ", ".join(str(p) for p in paths.values()))


def ingest_stage(config: dict, interim_dir: str | Path, report_path: str | Path) -> None:
    cfg = load_config(config)
    extract = ingest_extract(cfg)
    write_interim(extract, interim_dir, report_path)
    for name, rep in extract.report["tables"].items():
        log.info("%s: %d rows read, %d written, dropped %s", name, rep["rows_read"], rep["rows_written"],
                 {d["reason"]: d["rows"] for d in rep["dropped"]})
        for w in rep["warnings"]:
            log.warning("%s: %s", name, w)


def provenance_stage(config: dict, report_path: str | Path, out_path: str | Path, code_dir: str | Path) -> None:
    cfg = load_config(config)
    report = json.loads(Path(report_path).read_text())
    write_provenance(build_provenance(cfg, report, code_dir), out_path)
