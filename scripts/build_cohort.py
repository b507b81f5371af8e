"""Rule build_cohort: the analysis cohort and its flow."""

import sys
from pathlib import Path

# the library is importable without installation (e.g. under --use-conda)
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821

from deepvalue.pipeline.runner import run_step
from deepvalue.pipeline.stages import cohort_stage

sm = snakemake  # noqa: F821 (injected by Snakemake)
interim = {name: sm.input[name] for name in ("clients", "contacts", "outcomes", "workers", "responses")}
out = sm.output
run_step(
    sm.log[0],
    cohort_stage,
    dict(sm.params.settings),
    interim,
    sm.input.ingest_report,
    out.analysis,
    out.flow,
    out.outcome_flow,
    out.reliability,
)
