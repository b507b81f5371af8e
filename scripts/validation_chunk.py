"""Rule validation_chunk (workflow/validation.smk): the replicates of seeds first..last, in seed order."""

import sys
from pathlib import Path

# the library is importable without installation (e.g. under --use-conda)
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821

from deepvalue.pipeline.runner import run_step
from deepvalue.simulate.study import run_chunk

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_step(
    sm.log[0],
    run_chunk,
    int(sm.wildcards.first),
    int(sm.wildcards.last),
    sm.params.clients,
    dict(sm.params.overrides),
    sm.output[0],
    scenario=sm.params.scenario,
    recording=sm.params.recording,
)
