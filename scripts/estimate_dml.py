"""Rule estimate_dml: DoubleML's interactive regression model (method dml) and its sensitivity analysis."""

import sys
from pathlib import Path

# the library is importable without installation (e.g. under --use-conda)
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821

from deepvalue.pipeline.runner import run_step
from deepvalue.pipeline.stages import dml_stage

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_step(
    sm.log[0],
    dml_stage,
    dict(sm.params.settings),
    sm.input.analysis,
    sm.output.estimates,
    sm.output.sensitivity,
    sm.output.signals,
)
