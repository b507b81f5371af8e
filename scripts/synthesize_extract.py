"""Rule synthesize_extract: write the synthetic extract and its truth."""

import sys
from pathlib import Path

# the library is importable without installation (e.g. under --use-conda)
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821

from deepvalue.pipeline.runner import run_step
from deepvalue.pipeline.stages import synthesize_stage

p = snakemake.params.synthetic  # noqa: F821 (injected by Snakemake)
run_step(
    snakemake.log[0],
    synthesize_stage,
    p["clients"],
    p["seed"],
    p["messy"],  # noqa: F821
    Path(snakemake.output.clients).parent,
    p.get("recording", "measured"),
    p.get("scenario", "default"),
)  # noqa: F821
