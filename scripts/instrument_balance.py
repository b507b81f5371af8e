"""Rule instrument_balance: the confounders by whether the allocated worker left in the window."""

import sys
from pathlib import Path

# the library is importable without installation (e.g. under --use-conda)
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821

from deepvalue.pipeline.runner import run_step
from deepvalue.pipeline.stages import instrument_balance_stage

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_step(sm.log[0], instrument_balance_stage, dict(sm.params.settings), sm.input.analysis, sm.output[0])
