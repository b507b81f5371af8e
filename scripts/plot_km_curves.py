"""Rule plot_km_curves: km_ipw's weighted Kaplan-Meier curves by arm, coarsened for disclosure."""

import sys
from pathlib import Path

# the library is importable without installation (e.g. under --use-conda)
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821

from deepvalue.pipeline.runner import run_step
from deepvalue.pipeline.stages import km_figure_stage

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_step(sm.log[0], km_figure_stage, dict(sm.params.settings), sm.input.analysis, sm.input.propensity, sm.output[0])
