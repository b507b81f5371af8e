"""Rule write_provenance: checksums, row counts, config, software and code version."""

import sys
from pathlib import Path

# the library is importable without installation (e.g. under --use-conda)
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821
from deepvalue.pipeline.runner import run_step
from deepvalue.pipeline.stages import provenance_stage

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_step(sm.log[0], provenance_stage, dict(sm.params.settings), sm.input.report, sm.output[0], sm.params.code_dir)
