"""Rule write_brief: the two-page PDF brief (the report's summary)."""

import sys
from pathlib import Path

# the library is importable without installation (e.g. under --use-conda)
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821

from deepvalue.pipeline.runner import run_step
from deepvalue.pipeline.stages import brief_stage

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_step(sm.log[0], brief_stage, dict(sm.params.settings), Path(sm.output[0]).parent, sm.output[0])
