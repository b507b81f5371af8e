"""Rule dowhy_bootstrap: one job's share of the bootstrap replicates of DoWhy's estimates."""

import sys
from pathlib import Path

# the library is importable without installation (e.g. under --use-conda)
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821

from deepvalue.pipeline.runner import run_step
from deepvalue.pipeline.stages import dowhy_bootstrap_stage

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_step(sm.log[0], dowhy_bootstrap_stage, dict(sm.params.settings), sm.input.analysis, sm.wildcards.job, sm.output[0])
