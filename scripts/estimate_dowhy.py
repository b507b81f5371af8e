"""Rule estimate_dowhy: DoWhy's estimates (regression, matching, weighting) on an explicit graph."""

import sys
from pathlib import Path

# the library is importable without installation (e.g. under --use-conda)
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821

from deepvalue.pipeline.runner import run_step
from deepvalue.pipeline.stages import dowhy_stage

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_step(sm.log[0], dowhy_stage, dict(sm.params.settings), sm.input.analysis, sm.output[0], list(sm.input.bootstrap))
