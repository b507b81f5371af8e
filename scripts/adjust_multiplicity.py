"""Rule adjust_multiplicity: Holm and Romano-Wolf adjusted p-values over the primary method's rows, and the
confirmatory row."""

import sys
from pathlib import Path

# the library is importable without installation (e.g. under --use-conda)
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821

from deepvalue.pipeline.runner import run_step
from deepvalue.pipeline.stages import multiplicity_stage

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_step(
    sm.log[0],
    multiplicity_stage,
    dict(sm.params.settings),
    sm.input.estimates,
    sm.input.values,
    sm.output[0],
    sm.input.draws,
)
