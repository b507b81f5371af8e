"""Rule validation_summary (workflow/validation.smk): join the chunks, summarise, write the page."""

import sys
from pathlib import Path

# the library is importable without installation (e.g. under --use-conda)
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821

from deepvalue.pipeline.runner import run_step
from deepvalue.simulate.study import summarise_chunks

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_step(
    sm.log[0],
    summarise_chunks,
    list(sm.input),
    sm.output.summary,
    sm.output.markdown,
    sm.params.reps,
    sm.params.clients,
    sm.params.first_seed,
    sm.params.command,
)
