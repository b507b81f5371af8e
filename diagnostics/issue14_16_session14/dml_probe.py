"""dml on income under the null: each repetition's coefficient and SE beside DoubleML's aggregate and
an own clustered SE from the score (docs/validation.md, session 14). Args: FIRST LAST OUT [learner]."""

import sys

import numpy as np
import pandas as pd

import deepvalue.effects.dml as dml
from deepvalue.simulate.dml_study import DROP_QUESTIONNAIRES
from deepvalue.simulate.study import _merge, synthetic_cohort

first, last, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
learner = sys.argv[4] if len(sys.argv) > 4 else "lightgbm"
if learner == "lgbm_reg":  # the regularised variant: fewer, larger leaves
    from lightgbm import LGBMClassifier, LGBMRegressor

    def reg_learners(name, binary, seed):
        kw = dict(n_estimators=150, learning_rate=0.05, num_leaves=7, min_child_samples=50, random_state=seed)
        kw.update(dml.LGBM_REPRODUCIBLE)
        return (LGBMClassifier(**kw) if binary else LGBMRegressor(**kw)), LGBMClassifier(**kw)

    dml.learners, learner = reg_learners, "lightgbm"

fits = []
original = dml.dml_irm


def spy(*a, **k):
    fit = original(*a, **k)
    fits.append((a[3], fit))  # (cluster codes, DmlFit)
    return fit


dml.dml_irm = spy
overrides = {**DROP_QUESTIONNAIRES, "estimation": {"dml": {"learner": learner, "benchmarks": []}}}


def income_only(raw):
    cfg = _merge(raw, overrides)
    cfg["outcomes"] = [o for o in cfg["outcomes"] if o["name"] == "income_gain_gbp"]
    return cfg


rows = []
for seed in range(first, last):
    fits.clear()
    run = synthetic_cohort(seed, 5000, income_only, "null", "measured")
    dml.run_dml(run.cohort.analysis, run.settings)
    cluster, fit = fits[0]
    codes = pd.factorize(cluster)[0]
    row = {"seed": seed}
    for name in ("ATE", "ATT"):
        m = fit.models[name]
        coefs, ses = np.asarray(m.all_coef).ravel(), np.asarray(m.all_se).ravel()
        own = []
        for r in range(coefs.size):
            pa, pb = m.psi_elements["psi_a"][:, r, 0], m.psi_elements["psi_b"][:, r, 0]
            influence = -(pa * coefs[r] + pb) / pa.mean()
            s = np.bincount(codes, weights=influence)
            own.append(np.sqrt(s.size / (s.size - 1) * (s @ s)) / influence.size)
        row |= {
            f"{name}_coef": float(m.coef[0]),
            f"{name}_se": float(m.se[0]),
            f"{name}_rep_coef_sd": coefs.std(ddof=1),
            f"{name}_rep_se_med": np.median(ses),
            f"{name}_own_se_med": np.median(own),
            f"{name}_coef_rep0": coefs[0],
        }
    rows.append(row)
    pd.DataFrame(rows).to_csv(out, index=False)
    print(seed, flush=True)
