"""ICC by allocated worker of the extract's own draws (analysed rows) vs fresh N(0,1), over seeds."""

import sys

import numpy as np
import pandas as pd

from deepvalue.simulate.redraw_study import analysed_rows


def icc(e_, codes):
    sizes = np.bincount(codes)
    G = sizes.size
    n = e_.size
    m = np.bincount(codes, weights=e_) / sizes
    grand = e_.mean()
    msb = np.sum(sizes * (m - grand) ** 2) / (G - 1)
    msw = np.sum((e_ - m[codes]) ** 2) / (n - G)
    n0 = (n - np.sum(sizes**2) / n) / (G - 1)
    return (msb - msw) / (msb + (n0 - 1) * msw)


out = []
for seed in range(int(sys.argv[1]), int(sys.argv[2]) + 1):
    rows, X, _ = analysed_rows(seed, 3000)
    cl = pd.factorize(rows["first_worker"])[0]
    rng = np.random.default_rng([seed, 555])
    out.append(
        {
            k: icc(rows["gen_" + k].to_numpy() if k != "fresh" else rng.standard_normal(len(cl)), cl)
            for k in ("z_trait", "z_ls", "e_base", "e_fu", "fresh")
        }
    )
df = pd.DataFrame(out)
print(df.agg(["mean", "std"]).T.assign(mcse=lambda t: t["std"] / np.sqrt(len(df))).round(4).to_string())
