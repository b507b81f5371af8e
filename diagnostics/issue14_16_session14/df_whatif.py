"""What-if: Satterthwaite df from the influence functions' within-cluster sums of squares."""

import sys
from functools import partial

import numpy as np
import pandas as pd

from deepvalue.adjust.matched_cohort import run_matching
from deepvalue.effects.base import collect_influence
from deepvalue.effects.table import compare_with_truth, run_estimates
from deepvalue.simulate.study import only_outcomes, synthetic_cohort

outcome = sys.argv[1]
first = int(sys.argv[2])
reps = int(sys.argv[3])
out = sys.argv[4]
methods = tuple(sys.argv[5].split(",")) if len(sys.argv) > 5 else ("regression", "ipw", "aipw", "km_ipw")
rows = []
for seed in range(first, first + reps):
    run = synthetic_cohort(seed, 5000, partial(only_outcomes, names=[outcome]), recording="events")
    cfg, analysis = run.settings, run.cohort.analysis
    prop = run_matching(analysis, cfg).propensity
    recs = []
    with collect_influence(recs.append):
        est = run_estimates(analysis, cfg, prop, methods=methods, subgroups=[])
    worker = analysis.set_index("client_id")["first_worker"]
    truth = {**run.extract.truth["outcomes"], **run.extract.truth.get("questionnaires", {})}
    tab = compare_with_truth(est, truth)
    extra = {}
    for r in recs:
        if r.subgroup != "" or r.estimand not in ("ATT", "ATE"):
            continue
        codes = pd.factorize(worker.reindex(r.clients).to_numpy())[0]
        a = np.bincount(codes, weights=r.psi**2)
        s = np.bincount(codes, weights=r.psi)
        ng = np.bincount(codes).astype(float)
        extra[(r.method, r.estimand, r.scale)] = dict(
            G=codes.max() + 1,
            df_psi=a.sum() ** 2 / (a**2).sum(),
            kish=ng.sum() ** 2 / (ng**2).sum(),
            df_sums=(s**2).sum() ** 2 / (s**4).sum(),
            cr2=r.cr2,
        )
    for _, x in tab.iterrows():
        d = x.to_dict()
        d["seed"] = seed
        d.update(extra.get((x["method"], x["estimand"], x["scale"]), {}))
        rows.append(d)
    pd.DataFrame(rows).to_csv(out, index=False)
    print(seed, flush=True)
