"""Rule joint_draws: joint multiplier-bootstrap draws of the influence-function estimates."""

import sys
from pathlib import Path

# the library is importable without installation (e.g. under --use-conda)
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821

from deepvalue.pipeline.runner import run_step
from deepvalue.pipeline.stages import joint_draws_stage

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_step(sm.log[0], joint_draws_stage, dict(sm.params.settings), sm.input.analysis, sm.input.propensity, sm.output[0])
