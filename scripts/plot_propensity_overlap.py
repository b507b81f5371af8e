"""Rule plot_propensity_overlap: the propensity overlap figure, with the disclosure threshold."""

import sys
from pathlib import Path

# the library is importable without installation (e.g. under --use-conda)
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821

from deepvalue.pipeline.runner import run_step
from deepvalue.pipeline.stages import overlap_figure_stage

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_step(sm.log[0], overlap_figure_stage, dict(sm.params.settings), sm.input.propensity, sm.input.weights, sm.output[0])
