"""Fixed-design redraws of life_satisfaction answers; compare SEs with the SD of the redrawn estimates.

Modes: 'cond' = X incl. the baseline fixed, follow-up drawn from the generator's model
conditional on the observed (rounded) baseline (exact: truncated-normal latent baseline);
'full' = redraw_study-style (trait, baseline and follow-up redrawn; baseline column changes).
Usage: redraw_fixed.py SEED MODE REPS OUTCSV
"""

import pickle
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from deepvalue.effects.base import _design, _prune
from deepvalue.effects.cr2 import _cr2_residuals
from deepvalue.effects.linear import regression_adjustment
from deepvalue.synth import responses as R
from deepvalue.synth.parameters import COMPLEXITY_REF

DIAG = Path(__file__).resolve().parent  # the designs and outputs are written beside the scripts

seed, mode, reps, out = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
D = pickle.load(open(DIAG / f"design_{seed}.pkl", "rb"))
rows, X0 = D["rows"], D["X"]
d = rows["treatment"].to_numpy(float)
t = d == 1
codes = pd.factorize(rows["first_worker"])[0]
site = rows["gen_site"].to_numpy()
c = rows["gen_complexity"].to_numpy()
cc = c - COMPLEXITY_REF
base_obs = X0["life_satisfaction_baseline"].to_numpy()
n = len(rows)
G = codes.max() + 1
# generator: ls_trait = mu + s_l * xi ; latent base L = ls_trait + e_base
mu = R.LS_MEAN + R.LS_PER_WB * (np.asarray(R.WB_SITE)[site] - R.WB_COMPLEXITY * cc) - R.LS_COMPLEXITY * cc
v_l = (R.LS_PER_WB * R.WB_TRAIT_SD) ** 2 + R.LS_TRAIT_SD**2
v_L = v_l + R.LS_OCCASION_SD**2
lo = np.where(base_obs <= 0, -np.inf, base_obs - 0.5)
hi = np.where(base_obs >= 10, np.inf, base_obs + 0.5)
sL = np.sqrt(v_L)
rng = np.random.default_rng([seed, 4242, 0 if mode == "cond" else 1])


def draw():
    if mode == "cond":
        L = stats.truncnorm.rvs((lo - mu) / sL, (hi - mu) / sL, loc=mu, scale=sL, random_state=rng)
        ls = mu + v_l / v_L * (L - mu) + np.sqrt(v_l * (1 - v_l / v_L)) * rng.standard_normal(n)
        base = base_obs
    else:
        z_trait, z_ls, e_base = rng.standard_normal((3, n))
        trait = R.wellbeing_trait(site, c, z_trait)
        ls = R.LS_MEAN + R.LS_PER_WB * (trait - R.WB_MEAN) - R.LS_COMPLEXITY * cc + R.LS_TRAIT_SD * z_ls
        base = np.clip(np.rint(ls + R.LS_OCCASION_SD * e_base), 0, 10)
    e_fu = rng.standard_normal(n)
    f = {
        dd: np.clip(
            np.rint(ls + R.LS_GROWTH + (R.LS_TAU + R.LS_TAU_COMPLEXITY * c) * dd + R.LS_OCCASION_SD * e_fu), 0, 10
        )
        for dd in (0, 1)
    }
    return np.where(t, f[1], f[0]), base, f


def lin_parts(y, x, estimand):
    """psi components of the library's Lin estimator: n*lever (row D), resid, shift*weight."""
    p = x.shape[1]
    centre = x[t].mean(0) if estimand == "ATT" else x.mean(0)
    M = _design(1.0, d, x, x)
    M[:, 2 : 2 + p] -= centre
    np.multiply(M[:, 2 : 2 + p], d[:, None], out=M[:, 2 + p :])
    M, gram, keep = _prune(M)
    B = np.linalg.inv(gram)
    beta = B @ (M.T @ y)
    row = B[1]
    coef = np.zeros(keep.size)
    coef[keep] = beta
    slope = np.zeros(keep.size)
    slope[2 : 2 + p] = coef[2 + p :]
    resid = y - M @ beta
    weight = d / d.mean() if estimand == "ATT" else 1.0
    shift = (M @ slope[keep]) * weight
    return beta[1], n * (M @ row), resid, shift, M, gram


def v_cl(psi, cl, factor=1.0):
    s = np.bincount(cl, weights=psi) if cl is not None else psi
    return float(s @ s) / n**2 * factor


recs = []
t0 = time.time()
for r in range(reps):
    y, base, f = draw()
    X = X0.assign(life_satisfaction_baseline=base)
    x = X.to_numpy(float)
    rec = {"rep": r, "ybar": y.mean(), "share_10": (y == 10).mean(), "share_0": (y == 0).mean()}
    for est in ("ATT", "ATE"):
        tau, lev, e, shift, M, gram = lin_parts(y, x, est)
        e_cr2 = _cr2_residuals(codes, M, e, gram)
        e_hc2 = _cr2_residuals(None, M, e, gram)
        k = M.shape[1]
        rec[f"{est}_est"] = tau
        for tag, ee, cl, fac in (
            ("cr2", e_cr2, codes, 1.0),
            ("old", e, codes, G / (G - 1)),
            ("cr0", e, codes, 1.0),
            ("hc2", e_hc2, None, 1.0),
            ("hc0", e, None, 1.0),
            ("hc1", e, None, n / (n - k)),
        ):
            rec[f"{est}_se_{tag}"] = np.sqrt(v_cl(lev * ee + shift, cl, fac))
            rec[f"{est}_se_{tag}_noshift"] = np.sqrt(v_cl(lev * ee, cl, fac))
        rec[f"{est}_shiftvar"] = v_cl(shift, None)
        if r < 3:  # check against the library
            a = regression_adjustment(y, d, X, codes, est, leverage=True).std_error
            b = regression_adjustment(y, d, X, codes, est, leverage=False).std_error
            assert abs(a / rec[f"{est}_se_cr2"] - 1) < 1e-8 and abs(b / rec[f"{est}_se_old"] - 1) < 1e-8, (a, b, rec)
        rec[f"{est}_satt" if est == "ATT" else "ATE_sate"] = float(
            (f[1] - f[0])[t].mean() if est == "ATT" else (f[1] - f[0]).mean()
        )
    # additive OLS (D + X): statsmodels HC1/HC2/CR1 and own CR2
    A = sm.add_constant(np.column_stack([d, x]), has_constant="add")
    mod = sm.OLS(y, A)
    rec["add_est"] = mod.fit().params[1]
    rec["add_se_hc1"] = mod.fit(cov_type="HC1").bse[1]
    rec["add_se_hc2"] = mod.fit(cov_type="HC2").bse[1]
    rec["add_se_cr1"] = mod.fit(cov_type="cluster", cov_kwds={"groups": codes}).bse[1]
    gA = A.T @ A
    BA = np.linalg.inv(gA)
    eA = y - A @ (BA @ (A.T @ y))
    eA2 = _cr2_residuals(codes, A, eA, gA)
    lA = A @ BA[1]
    rec["add_se_cr2"] = np.sqrt(float(np.bincount(codes, weights=lA * eA2) @ np.bincount(codes, weights=lA * eA2)))
    rec["add_se_cr0"] = np.sqrt(float(np.bincount(codes, weights=lA * eA) @ np.bincount(codes, weights=lA * eA)))
    recs.append(rec)
df = pd.DataFrame(recs)
df.to_csv(out, index=False)
print(f"seed {seed} mode {mode} n {n} G {G} reps {reps} {time.time() - t0:.0f}s")
for est in ("ATT", "ATE"):
    sd = df[f"{est}_est"].std(ddof=1)
    line = " ".join(
        f"{tag}={df[f'{est}_se_{tag}'].mean() / sd:.3f}/{df[f'{est}_se_{tag}_noshift'].mean() / sd:.3f}"
        for tag in ("cr2", "old", "cr0", "hc2", "hc1", "hc0")
    )
    print(
        f" {est}: SD={sd:.4f} (MC se of SD ~{sd / np.sqrt(2 * (reps - 1)):.4f}) SE/SD with/without shift: {line}; mean shift SE {np.sqrt(df[f'{est}_shiftvar'].mean()):.4f}"
    )
sd = df["add_est"].std(ddof=1)
print(
    " additive OLS: SD=%.4f " % sd
    + " ".join(f"{k}={df['add_se_' + k].mean() / sd:.3f}" for k in ("cr2", "cr1", "cr0", "hc2", "hc1"))
)
