"""Over seeds: Lin ATT on pure-noise outcomes = the extract's own standard-normal draws (analysed rows)
vs fresh N(0,1) noise. Equal SDs expected if the own draws are independent of the design."""

import sys

import numpy as np
import pandas as pd

from deepvalue.effects.linear import regression_adjustment
from deepvalue.simulate.redraw_study import analysed_rows

recs = []
for seed in range(int(sys.argv[1]), int(sys.argv[2]) + 1):
    rows, X, _ = analysed_rows(seed, 3000)
    d = rows["treatment"].to_numpy(float)
    cl = pd.factorize(rows["first_worker"])[0]
    rng = np.random.default_rng([seed, 31337])
    rec = {"seed": seed}
    for k in ("z_trait", "z_ls", "e_base", "e_fu", "fresh"):
        y = rng.standard_normal(len(d)) if k == "fresh" else rows["gen_" + k].to_numpy()
        r = regression_adjustment(y, d, X, cl, "ATT", leverage=True)
        rec[k] = r.estimate
        rec[k + "_se"] = r.std_error
        rec[k + "_var"] = y.var()
    recs.append(rec)
df = pd.DataFrame(recs)
df.to_csv(sys.argv[3], index=False)
for k in ("z_trait", "z_ls", "e_base", "e_fu", "fresh"):
    print(
        f"{k:8s} SD of ATT {df[k].std():.4f}  mean CR2 SE {df[k + '_se'].mean():.4f}  SE/SD {df[k + '_se'].mean() / df[k].std():.3f}  mean var of draw {df[k + '_var'].mean():.3f}"
    )
