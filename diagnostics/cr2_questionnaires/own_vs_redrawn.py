"""Over seeds: SD of the Lin ATT/ATE on the extract's own answers vs on one redrawn answer set per
seed (redraw_study's redraw), and the balance z of the own draws (N(0,1) if independent of treatment)."""

import sys

import numpy as np
import pandas as pd

from deepvalue.effects.linear import regression_adjustment
from deepvalue.simulate.redraw_study import REDRAW_STREAM, analysed_rows, balance_z
from deepvalue.synth.responses import life_satisfaction_answers, wellbeing_trait

recs = []
for seed in range(int(sys.argv[1]), int(sys.argv[2]) + 1):
    rows, X, truth = analysed_rows(seed, 3000)
    d = rows["treatment"].to_numpy(float)
    t = d == 1
    cl = pd.factorize(rows["first_worker"])[0]
    rec = {"seed": seed}
    for k in ("z_trait", "z_ls", "e_base", "e_fu"):
        rec["z_" + k] = balance_z(rows["gen_" + k].to_numpy(), t)
    rng = np.random.default_rng([seed, REDRAW_STREAM])
    z = rng.standard_normal((4, len(rows)))
    tr = wellbeing_trait(rows.gen_site.to_numpy(), rows.gen_complexity.to_numpy(), z[0])
    b, f = life_satisfaction_answers(tr, rows.gen_complexity.to_numpy(), z[1], z[2], z[3], 1.0)
    for tag, y, XX in (
        ("own", rows.life_satisfaction.to_numpy(float), X),
        ("red", np.where(t, f[1], f[0]), X.assign(life_satisfaction_baseline=b)),
    ):
        for est in ("ATT", "ATE"):
            r2 = regression_adjustment(y, d, XX, cl, est, leverage=True)
            r1 = regression_adjustment(y, d, XX, cl, est, leverage=False)
            rec[f"{tag}_{est}"] = r2.estimate
            rec[f"{tag}_{est}_cr2"] = r2.std_error
            rec[f"{tag}_{est}_old"] = r1.std_error
    recs.append(rec)
df = pd.DataFrame(recs)
df.to_csv(sys.argv[3], index=False)
print(len(df), "seeds")
for tag in ("own", "red"):
    for est in ("ATT", "ATE"):
        sd = df[f"{tag}_{est}"].std(ddof=1)
        print(
            f" {tag} {est}: SD {sd:.4f}  CR2/SD {df[f'{tag}_{est}_cr2'].mean() / sd:.3f}  old/SD {df[f'{tag}_{est}_old'].mean() / sd:.3f}"
        )
print(" balance z of own draws, mean/SD over seeds:")
print(df.filter(like="z_").agg(["mean", "std"]).T.round(3).to_string())
