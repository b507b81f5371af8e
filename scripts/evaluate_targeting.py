"""Rule evaluate_targeting: a depth-2 policy tree and its gain under each capacity, cross-fitted."""

import sys
from pathlib import Path

# the library is importable without installation (e.g. under --use-conda)
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821

from deepvalue.pipeline.runner import run_step
from deepvalue.pipeline.stages import targeting_stage

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_step(
    sm.log[0],
    targeting_stage,
    dict(sm.params.settings),
    sm.input.analysis,
    sm.input.signals,
    sm.input.values,
    sm.output.targeting,
    sm.output.rules,
)
