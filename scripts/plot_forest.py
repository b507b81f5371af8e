"""Rule plot_forest: the forest plot of the disclosure-checked estimates."""

import sys
from pathlib import Path

# the library is importable without installation (e.g. under --use-conda)
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821

from deepvalue.pipeline.runner import run_step
from deepvalue.pipeline.stages import forest_stage

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_step(sm.log[0], forest_stage, dict(sm.params.settings), sm.input.estimates, sm.input.get("truth"), sm.output[0])
