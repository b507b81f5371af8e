"""Seed 1 design: cluster-block eigenvalues of the hat matrix, what columns drive them, the exact
design-conditional expectation of CR0/CR2 under the generator's heteroskedastic errors, ICC of the
true errors, and a dense CR2 check (CSV for clubSandwich written to diag/)."""

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from deepvalue.effects.base import _design, _prune
from deepvalue.effects.cr2 import _cr2_residuals
from deepvalue.effects.linear import regression_adjustment
from deepvalue.synth import responses as R
from deepvalue.synth.parameters import COMPLEXITY_REF

DIAG = Path(__file__).resolve().parent  # the designs and outputs are written beside the scripts

D = pickle.load(open(DIAG / "design_1.pkl", "rb"))
rows, X0 = D["rows"], D["X"]
d = rows["treatment"].to_numpy(float)
t = d == 1
codes = pd.factorize(rows["first_worker"])[0]
G = codes.max() + 1
n = len(d)
y_obs = rows["life_satisfaction"].to_numpy(float)


def lin_design(X, estimand="ATT"):
    x = X.to_numpy(float)
    p = x.shape[1]
    centre = x[t].mean(0) if estimand == "ATT" else x.mean(0)
    M = _design(1.0, d, x, x)
    M[:, 2 : 2 + p] -= centre
    np.multiply(M[:, 2 : 2 + p], d[:, None], out=M[:, 2 + p :])
    M, gram, keep = _prune(M)
    return M, gram


def blocks(M):
    B = np.linalg.inv(M.T @ M)
    H = M @ B @ M.T
    return B, H


def expected_ratio(M, Sigma_diag=None):
    """Exact E[V_CR0], E[V_CR2] (resid part, coefficient on D) / true Var, for errors with diag variance."""
    B, H = blocks(M)
    c = M @ B[1]  # tau-hat = c'y
    S = np.ones(n) if Sigma_diag is None else Sigma_diag
    I_H = np.eye(n) - H
    Ee = I_H @ (S[:, None] * I_H)  # E[e e'] = (I-H) Sigma (I-H)
    true = float(c @ (S * c))
    e0 = e2 = 0.0
    eig = []
    for g in range(G):
        ix = np.flatnonzero(codes == g)
        lam, V = np.linalg.eigh(H[np.ix_(ix, ix)])
        eig.append(lam)
        A = V @ np.diag(1 / np.sqrt(np.clip(1 - lam, 1e-12, None))) @ V.T
        cg = c[ix]
        E = Ee[np.ix_(ix, ix)]
        e0 += cg @ E @ cg
        e2 += (A @ cg) @ E @ (A @ cg)
    return e0 / true, e2 / true, eig, H, c


# ---------- Q2: eigenvalues and which columns
M, gram = lin_design(X0)
r0, r2, eig, H, c = expected_ratio(M)
sizes = np.bincount(codes)
tr = np.array([l.sum() for l in eig])
mx = np.array([l.max() for l in eig])
alle = np.concatenate(eig)
print(f"n={n} G={G} k={M.shape[1]}; cluster sizes median {np.median(sizes):.0f} range {sizes.min()}-{sizes.max()}")
print(
    f"eigenvalues of H_gg (all {alle.size}): quantiles 50/90/99/max = {np.quantile(alle, [0.5, 0.9, 0.99]).round(3)} {alle.max():.3f}; #>0.5: {(alle > 0.5).sum()}, #>0.9: {(alle > 0.9).sum()}"
)
print(
    f"per-cluster trace(H_gg): mean {tr.mean():.3f} (= k/G {M.shape[1] / G:.3f}), max {tr.max():.2f}; largest eigenvalue per cluster: median {np.median(mx):.3f}, max {mx.max():.3f}"
)
print(f"diag h_ii: mean {np.diag(H).mean():.4f} max {np.diag(H).max():.3f}")
top = np.argsort(-mx)[:6]
print(
    "top clusters (size, max eig, trace):",
    [(int(sizes[g]), round(float(mx[g]), 3), round(float(tr[g]), 2)) for g in top],
)
print(
    f"homoskedastic working model, exact: E[CR0]/Var = {r0:.4f} (SE ratio {np.sqrt(r0):.4f}); E[CR2]/Var = {r2:.4f}; CR2/CR0 SE = {np.sqrt(r2 / r0):.4f}"
)
# on the observed answers
e = y_obs - M @ np.linalg.solve(gram, M.T @ y_obs)
e2 = _cr2_residuals(codes, M, e, gram)
s0 = np.sqrt(np.sum(np.bincount(codes, weights=c * e) ** 2))
s2 = np.sqrt(np.sum(np.bincount(codes, weights=c * e2) ** 2))
ra_t = regression_adjustment(y_obs, d, X0, codes, "ATT", leverage=True).std_error
ra_f = regression_adjustment(y_obs, d, X0, codes, "ATT", leverage=False).std_error
print(
    f"observed answers: resid-part CR2/CR0 SE = {s2 / s0:.4f}; library total ATT SE CR2 {ra_t:.4f} vs old {ra_f:.4f} (ratio {ra_t / ra_f:.4f})"
)

groups = {
    "site": [c_ for c_ in X0 if c_.startswith("site=")],
    "start_quarter": [c_ for c_ in X0 if c_.startswith("start_quarter=")],
    "ethnicity": [c_ for c_ in X0 if c_.startswith("ethnicity=")],
    "service": ["service=welfare_advice"],
}
groups["site+quarter"] = groups["site"] + groups["start_quarter"]
print("drop columns -> k, max eig, mean per-cluster trace, exact homosk. CR2/CR0 SE ratio:")
for name, cols in groups.items():
    Mx, _ = lin_design(X0.drop(columns=cols))
    a0, a2, eg, _, _ = expected_ratio(Mx)
    print(
        f"  -{name:14s} k={Mx.shape[1]:3d} maxeig={max(l.max() for l in eg):.3f} trace/cluster={np.mean([l.sum() for l in eg]):.3f} CR2/CR0={np.sqrt(a2 / a0):.4f} E[CR0]/Var={a0:.3f}"
    )
# additive (not interacted) design for comparison
A = np.column_stack([np.ones(n), d, X0.to_numpy(float)])
a0, a2, eg, _, _ = expected_ratio(A)
print(f"  additive D+X   k={A.shape[1]:3d} maxeig={max(l.max() for l in eg):.3f} CR2/CR0={np.sqrt(a2 / a0):.4f}")

# ---------- Q3: true error variances (generator, conditional on X incl. the baseline) and ICC
site = rows["gen_site"].to_numpy()
cx = rows["gen_complexity"].to_numpy()
cc = cx - COMPLEXITY_REF
base = X0["life_satisfaction_baseline"].to_numpy()
mu = R.LS_MEAN + R.LS_PER_WB * (np.asarray(R.WB_SITE)[site] - R.WB_COMPLEXITY * cc) - R.LS_COMPLEXITY * cc
v_l = (R.LS_PER_WB * R.WB_TRAIT_SD) ** 2 + R.LS_TRAIT_SD**2
v_L = v_l + 1.0
sL = np.sqrt(v_L)
lo = np.where(base <= 0, -np.inf, base - 0.5)
hi = np.where(base >= 10, np.inf, base + 0.5)
rng = np.random.default_rng(7)
K = 4000
L = stats.truncnorm.rvs(
    ((lo - mu) / sL)[:, None], ((hi - mu) / sL)[:, None], loc=mu[:, None], scale=sL, size=(n, K), random_state=rng
)
ls = mu[:, None] + v_l / v_L * (L - mu[:, None]) + np.sqrt(v_l * (1 - v_l / v_L)) * rng.standard_normal((n, K))
Y = np.clip(
    np.rint(
        ls
        + R.LS_GROWTH
        + (R.LS_TAU + R.LS_TAU_COMPLEXITY * cx * d)[:, None] * 0
        + (R.LS_TAU + R.LS_TAU_COMPLEXITY * cx)[:, None] * d[:, None]
        + rng.standard_normal((n, K))
    ),
    0,
    10,
)
sig2 = Y.var(1)
err = Y - Y.mean(1, keepdims=True)
h = np.diag(H)
clev = np.array([mx[g] for g in codes])
print(
    f"true error SD: mean {np.sqrt(sig2).mean():.3f}, range {np.sqrt(sig2).min():.3f}-{np.sqrt(sig2).max():.3f}; corr(sigma2, h_ii) = {np.corrcoef(sig2, h)[0, 1]:+.3f}; corr(sigma2, |c_i|) = {np.corrcoef(sig2, np.abs(c))[0, 1]:+.3f}; corr(sigma2, cluster max eig) = {np.corrcoef(sig2, clev)[0, 1]:+.3f}"
)


def icc(E):  # one-way ANOVA ICC by worker, per column
    out = []
    for k in range(E.shape[1]):
        e_ = E[:, k]
        m = np.bincount(codes, weights=e_) / sizes
        grand = e_.mean()
        msb = np.sum(sizes * (m - grand) ** 2) / (G - 1)
        msw = np.sum((e_ - m[codes]) ** 2) / (n - G)
        n0 = (n - np.sum(sizes**2) / n) / (G - 1)
        out.append((msb - msw) / (msb + (n0 - 1) * msw))
    return np.array(out)


ic = icc(err[:, :300])
print(f"ICC of true errors by allocated worker over 300 redraws: mean {ic.mean():+.4f} (SD {ic.std():.4f})")
resid_obs_icc = icc(e[:, None])[0]
print(f"ICC of the OLS residuals on the observed answers: {resid_obs_icc:+.4f}")
h0, h2, _, _, _ = expected_ratio(M, sig2)
print(
    f"exact with the generator's heteroskedastic variances: E[CR0]/Var = {h0:.4f} (SE {np.sqrt(h0):.4f}); E[CR2]/Var = {h2:.4f} (SE {np.sqrt(h2):.4f})"
)

# ---------- Q4: dense CR2 check + CSV for clubSandwich
B = np.linalg.inv(M.T @ M)
meat = np.zeros((M.shape[1],) * 2)
for g in range(G):
    ix = np.flatnonzero(codes == g)
    lam, V = np.linalg.eigh(H[np.ix_(ix, ix)])
    es = V @ ((1 / np.sqrt(np.clip(1 - lam, 1e-12, None))) * (V.T @ e[ix]))
    u = M[ix].T @ es
    meat += np.outer(u, u)
Vd = B @ meat @ B
print(
    f"dense CR2 var(D) = {Vd[1, 1]:.8e}; library-residual CR2 var(D) = {s2**2:.8e}; rel diff {Vd[1, 1] / s2**2 - 1:+.2e}"
)
pd.DataFrame(np.column_stack([y_obs, M, codes]), columns=["y"] + [f"m{j}" for j in range(M.shape[1])] + ["cl"]).to_csv(
    DIAG / "seed1_lin_att.csv", index=False
)
print("wrote diag/seed1_lin_att.csv; D column is m1")
