"""One progress line per workflow step, in words, printed when the step has finished.

Snakemake's own log says which job ran; this line says what the step did, so a run reads as a
list of stages ending with the answer (:func:`deepvalue.publish.answer.console_summary`). The
line goes to the console (stderr) only, not to the step's log, so that logs stay free of timings.
"""

from __future__ import annotations

import sys
from pathlib import Path

#: What each rule has done, by the name of its log file (logs/<rule>.log, logs/<rule>/<job>.log).
STAGE_DONE = {
    "synthesize_extract": "synthetic extract written (data/synthetic/)",
    "ingest_extract": "extract read, checked and cleaned (results/interim/, ingest_report.json)",
    "write_provenance": "provenance recorded (results/provenance.json)",
    "build_cohort": "cohort built: exposure window, continuity, outcomes (results/cohort/)",
    "plot_cohort_figures": "cohort figures drawn",
    "match_cohort": "propensity scores, matching and balance done (results/match/)",
    "plot_propensity_overlap": "propensity overlap drawn",
    "estimate_effects": "effects estimated by every method (results/estimates/)",
    "estimate_dml": "double machine learning and its sensitivity bounds done (results/dml/)",
    "estimate_heterogeneity": "best linear predictor and sorted group effects (results/heterogeneity.csv)",
    "evaluate_targeting": "policy tree's gain under each capacity (results/targeting.csv)",
    "estimate_mediation": "natural direct and indirect effects through the mediator (results/mediation.csv)",
    "adjust_multiplicity": "primary analysis stated, Holm-adjusted p-values (results/multiplicity.csv)",
    "instrument_balance": "the departure instrument's balance tabled (results/instrument_balance.csv)",
    "dowhy_bootstrap": "DoWhy bootstrap replicates drawn",
    "estimate_dowhy": "DoWhy cross-check estimates done",
    "joint_draws": "joint bootstrap of the estimates drawn (results/joint_draws.parquet)",
    "combine_estimates": "estimates combined (results/estimates.csv)",
    "plot_forest": "forest plot drawn (results/figures/forest.png)",
    "plot_km_curves": "weighted Kaplan-Meier curves drawn (results/figures/km_curves.png)",
    "refute_effects": "DoWhy refuters run (results/refutations.csv)",
    "analyse_sensitivity": "sensitivity analysed: E-values, Rosenbaum bounds (results/sensitivity.csv)",
    "value_effects": "effects valued in money (results/value.csv)",
    "publish_results": "disclosure-checked copies written (results/publish/)",
    "write_report": "report written (results/report.html)",
    "write_brief": "two-page PDF brief written (results/brief.pdf)",
    "write_manifest": "manifest written (results/MANIFEST.sha256)",
}


def stage_of(log_path: str | Path) -> str:
    """The rule a step's log belongs to: logs/<rule>.log, or logs/<rule>/<job>.log for a job of many."""
    path = Path(log_path)
    return path.stem if path.parent.name in ("logs", "") else path.parent.name


def progress_line(log_path: str | Path, seconds: float) -> str:
    """The line for a finished step, e.g. ``deepvalue [ingest_extract] extract read, ... (1.2 s)``."""
    path = Path(log_path)
    stage = stage_of(path)
    what = STAGE_DONE.get(stage, "done")
    job = f" {path.stem}" if stage != path.stem else ""
    return f"deepvalue [{stage}{job}] {what} ({seconds:.1f} s)"


def report_progress(log_path: str | Path, seconds: float) -> None:
    sys.stderr.write(progress_line(log_path, seconds) + "\n")
    sys.stderr.flush()
