"""Rule plot_cohort_figures: the exposure figures, with the disclosure threshold."""

import sys
from pathlib import Path

# the library is importable without installation (e.g. under --use-conda)
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821

from deepvalue.pipeline.runner import run_step
from deepvalue.pipeline.stages import cohort_figures_stage

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_step(
    sm.log[0],
    cohort_figures_stage,
    dict(sm.params.settings),
    sm.input.analysis,
    sm.output.index_figure,
    sm.output.site_figure,
)
