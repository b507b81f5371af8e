"""Probe: is job_start's 5% SE shortfall under the null the allocated worker's random effect?

Reruns the null scenario's job_start rows with the generator's worker-quality loading on job_start
(JOB_QUALITY, 0.25 on the logit) set to a given value; everything else as `deepvalue simulate`.

    PYTHONPATH=src python diagnostics/issue14_16_session15/quality_probe.py LOADING FIRST REPS OUT.csv [METHODS] [--unclustered]

``--unclustered``: every client its own cluster (the allocated worker replaced by the client id
before estimation), so the SEs are the leverage-adjusted heteroskedasticity-robust ones (HC2-type).
"""

import sys
from functools import partial

import deepvalue.simulate.study as study
import deepvalue.synth.outcomes as synth_outcomes
from deepvalue.simulate.study import only_outcomes, simulate, summarise

args = [a for a in sys.argv[1:] if not a.startswith("--")]  # the flag may come anywhere
loading, first, reps, out = float(args[0]), int(args[1]), int(args[2]), args[3]
methods = tuple(args[4].split(",")) if len(args) > 4 else ("regression", "ipw")
if "--unclustered" in sys.argv:
    _run_estimates = study.run_estimates

    def _unclustered(analysis, *args, **kwargs):
        return _run_estimates(analysis.assign(first_worker=analysis["client_id"]), *args, **kwargs)

    study.run_estimates = _unclustered
synth_outcomes.JOB_QUALITY = loading  # the name outcomes.py reads at call time
reps_df = simulate(
    reps,
    5000,
    first_seed=first,
    overrides=partial(only_outcomes, names=["job_start"]),
    methods=methods,
    scenario="null",
)
reps_df.to_csv(out, index=False)
s = summarise(reps_df)
print(s[["outcome", "method", "estimand", "reps", "mean_se", "sd_estimate", "coverage", "rejects_zero"]].to_string())
