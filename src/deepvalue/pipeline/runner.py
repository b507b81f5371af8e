"""Run one workflow step with its log, turning user mistakes into a clear message and exit 1.

Rule scripts call :func:`run_step`; a :class:`DeepvalueError` (bad config, bad extract, data that
cannot support the analysis) is written to the rule's log and to the console without a
traceback, and the step exits non-zero so Snakemake removes its outputs and stops downstream.
"""

from __future__ import annotations

import logging
import sys
import time
import warnings
from pathlib import Path
from typing import Callable

from deepvalue.core.errors import DeepvalueError
from deepvalue.pipeline.progress import report_progress


def run_step(log_path: str | Path, func: Callable[..., object], *args, **kwargs) -> object:
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_path, mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler, logging.StreamHandler(sys.stderr)]
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    warnings.simplefilter("default")
    t0 = time.perf_counter()
    try:
        result = func(*args, **kwargs)
    except DeepvalueError as exc:
        logging.getLogger("deepvalue").error("%s", exc)
        sys.exit(1)
    report_progress(log_path, time.perf_counter() - t0)
    return result
