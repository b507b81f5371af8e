"""Rule combine_estimates: estimates.csv and the comparison with a synthetic truth."""

import sys
from pathlib import Path

# the library is importable without installation (e.g. under --use-conda)
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821

from deepvalue.pipeline.runner import run_step
from deepvalue.pipeline.stages import combine_stage

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_step(
    sm.log[0],
    combine_stage,
    sm.input.methods,
    sm.input.dowhy,
    sm.output.estimates,
    sm.input.get("truth"),
    sm.output.truth_table,
    sm.input.dml,
)
