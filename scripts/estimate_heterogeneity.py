"""Rule estimate_heterogeneity: the best linear predictor and sorted group effects on the dml pseudo-outcomes."""

import sys
from pathlib import Path

# the library is importable without installation (e.g. under --use-conda)
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821

from deepvalue.pipeline.runner import run_step
from deepvalue.pipeline.stages import heterogeneity_stage

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_step(
    sm.log[0],
    heterogeneity_stage,
    dict(sm.params.settings),
    sm.input.analysis,
    sm.input.signals,
    sm.output.heterogeneity,
    sm.output.groups,
)
