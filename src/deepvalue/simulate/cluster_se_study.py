"""Diagnostic: which part of the clustered standard error falls short (issues 14 and 16).

Under the null scenario at 2,000 clients every adjusted method's clustered SE for job_start is 11-16%
below the SD of its estimates. This study takes the regression adjustment (Lin's interacted OLS, fast)
on one outcome and computes, on each extract, the same estimate's SE in several ways:

- ``today``: the pipeline's influence-function sandwich by allocated worker, ``G/(G-1)`` only;
- ``cr1``: the same with ``(N-1)/(N-K)`` too (K the columns of the interacted regression);
- ``site``: clustered by site instead (6 clusters);
- ``hc0``/``hc1``: no clustering (``hc1`` with ``N/(N-K)``);
- ``hc2``/``hc3``, ``cr2``/``cr3``: the residuals of the regression part of the influence function
  scaled by ``(I - H_gg)^{-1/2}`` or ``(I - H_gg)^{-1}`` per client (HC) or per allocated worker (CR),
  with ``H_gg`` the block of the hat matrix (Bell and McCaffrey 2002; Cameron and Miller 2015,
  section VI.B); the centring term of the influence function is left as it is;
- ``jackknife``: the delete-one-worker jackknife of the whole estimator (centring means refitted),
  ``(G-1)/G sum_g (theta_(-g) - mean)^2``;

and each with normal and with t(G-1) critical values (t(5) for site), so that coverage and rejection can
be read per variant. ``--design site`` adjusts for the site dummies only (K = 12 instead of 54), to
see how much of the shortfall the number of columns makes. The results are in docs/validation.md,
"Why the clustered SEs fall short".

    python -m deepvalue.simulate.cluster_se_study --scenario null --clients 2000 --reps 200 \
        --outcome job_start --out results/cluster_se_null.csv
    python -m deepvalue.simulate.cluster_se_study --scenario default --recording events --clients 5000 \
        --reps 200 --outcome crisis_contacts --no-jackknife --out results/cluster_se_events.csv
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from scipy import linalg, stats

from deepvalue.adjust.design import covariate_design
from deepvalue.effects.base import _design, _prune
from deepvalue.effects.linear import regression_adjustment
from deepvalue.simulate.study import synthetic_cohort

VARIANTS = ("today", "cr1", "site", "hc0", "hc1", "hc2", "hc3", "cr2", "cr3", "jackknife")


def _lin_parts(y: np.ndarray, d: np.ndarray, x: np.ndarray, estimand: str):
    """The interacted regression's pieces: estimate, pruned design, bread, the D row of the bread,
    residuals and the centring term, so the residual part of the influence function can be rescaled."""
    centre = x[d == 1].mean(axis=0) if estimand == "ATT" else x.mean(axis=0)
    p = x.shape[1]
    M = _design(1.0, d, x, x)
    M[:, 2 : 2 + p] -= centre
    np.multiply(M[:, 2 : 2 + p], d[:, None], out=M[:, 2 + p :])
    M, gram, keep = _prune(M)
    bread = np.linalg.inv(gram)
    beta = bread @ (M.T @ y)
    coef = np.zeros(keep.size)
    coef[keep] = beta
    slope = np.zeros(keep.size)
    slope[2 : 2 + p] = coef[2 + p :]
    n = y.size
    lever = n * (M @ bread[1])
    resid = y - M @ beta
    weight = d / d.mean() if estimand == "ATT" else np.ones(n)
    shift = (M @ slope[keep]) * weight
    return float(beta[1]), M, bread, lever, resid, shift


def _adjusted_resid(M, bread, resid, codes, power: float) -> np.ndarray:
    """``(I - H_gg)^{-power}`` e_g per cluster (power 1/2: CR2, 1: CR3); ``codes`` None: per row (HC2, HC3)."""
    if codes is None:
        return resid * (1.0 - np.einsum("ij,jk,ik->i", M, bread, M)) ** -power
    out = np.empty_like(resid)
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    for rows in np.split(order, bounds):
        Mg = M[rows]
        H = Mg @ bread @ Mg.T
        A = np.eye(rows.size) - H
        vals, vecs = linalg.eigh(A)
        vals = np.clip(vals, 1e-12, None)
        out[rows] = (vecs * vals**-power) @ (vecs.T @ resid[rows])
    return out


def _cluster_var(psi: np.ndarray, codes: np.ndarray) -> float:
    sums = np.bincount(codes, weights=psi)
    return float(sums @ sums) / psi.size**2


def one_extract(
    seed: int,
    n_clients: int,
    outcome: str,
    scenario: str,
    recording: str,
    jackknife: bool = True,
    design: str = "full",
) -> pd.DataFrame:
    """The SE variants of the ATT and ATE of one extract. ``design="site"`` adjusts for the site dummies
    only (a small K, to isolate leverage; the estimate is then confounded, so read only SE / SD)."""
    run = synthetic_cohort(seed, n_clients, scenario=scenario, recording=recording)
    extract, cfg, analysis = run.extract, run.settings, run.cohort.analysis
    rows = analysis[analysis[outcome].notna()].reset_index(drop=True)
    if design == "site":
        X = covariate_design(rows, [], structural=("site",)).X
    else:
        X = covariate_design(rows, cfg.covariates).X
    y = rows[outcome].to_numpy(dtype=float)
    d = rows["treatment"].to_numpy(dtype=float)
    worker = pd.factorize(rows["first_worker"])[0]
    site = pd.factorize(rows["site"])[0]
    x = X.to_numpy(dtype=float)
    n = y.size
    truth = extract.truth["outcomes"][outcome]
    out = []
    for estimand in ("ATT", "ATE"):
        row = regression_adjustment(y, d, X, worker, estimand, leverage=False)
        est, M, bread, lever, resid, shift = _lin_parts(y, d, x, estimand)
        assert abs(est - row.estimate) < 1e-8
        k = M.shape[1]
        g = int(worker.max()) + 1
        psi = lever * resid + shift
        var = {
            "today": _cluster_var(psi, worker) * g / (g - 1),
            "cr1": _cluster_var(psi, worker) * g / (g - 1) * (n - 1) / (n - k),
            "site": _cluster_var(psi, site) * 6 / 5,
            "hc0": float(psi @ psi) / n**2,
            "hc1": float(psi @ psi) / n**2 * n / (n - k),
        }
        singles = np.arange(n)
        for name, codes, power in (
            ("hc2", None, 0.5),
            ("hc3", None, 1.0),
            ("cr2", worker, 0.5),
            ("cr3", worker, 1.0),
        ):
            adj = lever * _adjusted_resid(M, bread, resid, codes, power) + shift
            var[name] = _cluster_var(adj, singles if codes is None else codes)
        var["jackknife"] = float("nan")
        if jackknife:
            left = np.array(
                [
                    regression_adjustment(y[worker != w], d[worker != w], X[worker != w], None, estimand).estimate
                    for w in range(g)
                ]
            )
            var["jackknife"] = (g - 1) / g * float(((left - left.mean()) ** 2).sum())
        assert abs(np.sqrt(var["today"]) - row.std_error) < 1e-10
        rec = {
            "seed": seed,
            "estimand": estimand,
            "estimate": est,
            "truth": truth[estimand.lower()],
            "n": n,
            "k": k,
            "clusters": g,
            "effective_clusters": 1.0 / float(((np.bincount(worker) / n) ** 2).sum()),
            "share_treated": float(d.mean()),
        }
        rec |= {f"se_{v}": float(np.sqrt(var[v])) for v in VARIANTS}
        out.append(rec)
    return pd.DataFrame(out)


def summarise(replicates: pd.DataFrame) -> pd.DataFrame:
    """Per estimand and variant: mean SE / SD of the errors, coverage and rejection of zero, with
    normal and t(G-1) critical values (t(5) for site)."""
    r = replicates.assign(error=replicates["estimate"] - replicates["truth"])
    rows = []
    for estimand, x in r.groupby("estimand", sort=False):
        sd = x["error"].std(ddof=1)
        for v in VARIANTS:
            se = x[f"se_{v}"]
            if se.isna().all():  # the jackknife, skipped
                continue
            df = np.full(len(x), 5.0) if v == "site" else x["clusters"].to_numpy() - 1.0
            normal = np.full(len(x), stats.norm.ppf(0.975))
            for crit_name, crit in (("normal", normal), ("t(G-1)", stats.t.ppf(0.975, df))):
                rows.append(
                    {
                        "estimand": estimand,
                        "variant": v,
                        "critical": crit_name,
                        "reps": len(x),
                        "se_over_sd": se.mean() / sd,
                        "rms_se_over_sd": float(np.sqrt((se**2).mean())) / sd,
                        "coverage": float((x["error"].abs() <= crit * se).mean()),
                        "rejects_zero": float((x["estimate"].abs() > crit * se).mean()),
                    }
                )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--first-seed", type=int, default=1)
    p.add_argument("--reps", type=int, default=200)
    p.add_argument("--clients", type=int, default=2000)
    p.add_argument("--outcome", default="job_start")
    p.add_argument("--scenario", default="null")
    p.add_argument("--recording", choices=("events", "measured"), default="measured")
    p.add_argument("--no-jackknife", action="store_true", help="skip the delete-one-worker refits (slow at 5,000)")
    p.add_argument("--design", choices=("full", "site"), default="full", help="site: site dummies only")
    p.add_argument("--out", required=True, help="replicates CSV (written after every extract)")
    args = p.parse_args(argv)
    parts = []
    for seed in range(args.first_seed, args.first_seed + args.reps):
        jack = not args.no_jackknife
        parts.append(one_extract(seed, args.clients, args.outcome, args.scenario, args.recording, jack, args.design))
        pd.concat(parts).to_csv(args.out, index=False)
    with pd.option_context("display.width", 200):
        print(summarise(pd.concat(parts)).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
