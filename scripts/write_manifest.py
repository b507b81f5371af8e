"""Rule write_manifest: SHA-256 of every output under results/."""

import sys
from pathlib import Path

# the library is importable without installation (e.g. under --use-conda)
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821

from deepvalue.pipeline.reproduce import write_manifest
from deepvalue.pipeline.runner import run_step

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_step(sm.log[0], write_manifest, Path(sm.output[0]).parent, sm.output[0], list(sm.input))
