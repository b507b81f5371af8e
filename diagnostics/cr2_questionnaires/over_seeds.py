"""Over seeds (own answers of each extract): SE components of the Lin ATT/ATE vs SD of estimates and of (est - sample truth).
Usage: over_seeds.py FIRST LAST OUTCSV"""

import sys
import time

import numpy as np
import pandas as pd

from deepvalue.effects.base import _design, _prune
from deepvalue.effects.cr2 import _cr2_residuals
from deepvalue.simulate.redraw_study import analysed_rows

first, last, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
recs = []
t0 = time.time()
for seed in range(first, last + 1):
    rows, X, truth = analysed_rows(seed, 3000)
    d = rows["treatment"].to_numpy(float)
    t = d == 1
    codes = pd.factorize(rows["first_worker"])[0]
    G = codes.max() + 1
    y = rows["life_satisfaction"].to_numpy(float)
    x = X.to_numpy(float)
    n = len(y)
    rec = {"seed": seed, "n": n, "G": G, "satt": truth["att"], "sate": truth["ate"]}
    for est in ("ATT", "ATE"):
        p = x.shape[1]
        centre = x[t].mean(0) if est == "ATT" else x.mean(0)
        M = _design(1.0, d, x, x)
        M[:, 2 : 2 + p] -= centre
        np.multiply(M[:, 2 : 2 + p], d[:, None], out=M[:, 2 + p :])
        M, gram, keep = _prune(M)
        B = np.linalg.inv(gram)
        beta = B @ (M.T @ y)
        coef = np.zeros(keep.size)
        coef[keep] = beta
        slope = np.zeros(keep.size)
        slope[2 : 2 + p] = coef[2 + p :]
        e = y - M @ beta
        lev = n * (M @ B[1])
        shift = (M @ slope[keep]) * (d / d.mean() if est == "ATT" else 1.0)
        e2 = _cr2_residuals(codes, M, e, gram)

        def v(psi, cl=codes, fac=1.0):
            s = np.bincount(cl, weights=psi) if cl is not None else psi
            return float(s @ s) / n**2 * fac

        rec[f"{est}_est"] = beta[1]
        rec[f"{est}_se_cr2"] = np.sqrt(v(lev * e2 + shift))
        rec[f"{est}_se_old"] = np.sqrt(v(lev * e + shift, fac=G / (G - 1)))
        rec[f"{est}_se_cr2_noshift"] = np.sqrt(v(lev * e2))
        rec[f"{est}_se_old_noshift"] = np.sqrt(v(lev * e, fac=G / (G - 1)))
        rec[f"{est}_se_cr2_hcshift"] = np.sqrt(v(lev * e2) + v(shift, None))  # shift term unclustered
        rec[f"{est}_shift_cl"] = np.sqrt(v(shift))
        rec[f"{est}_shift_hc"] = np.sqrt(v(shift, None))
    recs.append(rec)
    pd.DataFrame(recs).to_csv(out, index=False)
df = pd.DataFrame(recs)
print(f"seeds {first}-{last}: {len(df)} in {time.time() - t0:.0f}s")
for est, tr in (("ATT", "satt"), ("ATE", "sate")):
    sd = df[f"{est}_est"].std(ddof=1)
    sde = (df[f"{est}_est"] - df[tr]).std(ddof=1)
    print(
        f" {est}: SD est {sd:.4f}, SD(est - sample truth) {sde:.4f}; SE/SD:",
        " ".join(
            f"{k}={df[f'{est}_se_{k}'].mean() / sd:.3f}"
            for k in ("cr2", "old", "cr2_noshift", "old_noshift", "cr2_hcshift")
        ),
        f"; shift SE clustered {df[f'{est}_shift_cl'].mean():.4f} unclustered {df[f'{est}_shift_hc'].mean():.4f}",
    )
