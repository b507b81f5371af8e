"""Rule ingest_extract: validate and clean the extract into canonical Parquet."""

import sys
from pathlib import Path

# the library is importable without installation (e.g. under --use-conda)
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821

from deepvalue.pipeline.runner import run_step
from deepvalue.pipeline.stages import ingest_stage

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_step(sm.log[0], ingest_stage, dict(sm.params.settings), Path(sm.output.clients).parent, sm.output.report)
