"""Heterogeneous effects: a doubly robust learner and the generic-ML inference on it.

Chernozhukov, Demirer, Duflo and Fernandez-Val (2018, rev. 2023), "Generic machine learning
inference on heterogeneous treatment effects in randomized experiments", NBER w24678 (CDDF), on
the doubly robust pseudo-outcome of an observational study (Semenova and Chernozhukov 2021,
*Econometrics Journal* 24; DoubleML's ``cate`` and ``gate``):

1. **Pseudo-outcomes** psi_i = g1(X_i) - g0(X_i) + D_i (Y_i - g1(X_i)) / m(X_i) - (1 - D_i)(Y_i -
   g0(X_i)) / (1 - m(X_i)), with cross-fitted nuisance predictions: DoubleML's ``psi_b`` of the
   ``dml`` rows' ATE fit, one column per cross-fitting repetition, folds grouped by allocated
   worker (:func:`deepvalue.effects.dml.signal_frame`). E[psi | X] is the CATE.
2. **Splits.** Each of ``splits`` random splits puts half of the allocated workers (with all their
   clients) in an auxiliary half and the rest in the main half. The CATE proxy S(X) (the
   DR-learner's second stage, Kennedy 2023, *EJS* 17) is psi regressed on X in the auxiliary half,
   and predicted for the main half, where the statistics below are computed: a main client's proxy
   never saw any main client's outcome. (Pooling cross-fitted proxies over folds instead, each fold's
   proxy trained on the others, made the folds' contributions positively correlated and the test
   oversized: 16.5% rejections at 5% over 200 null worlds, tests/unit/test_heterogeneity.py.)
   Split s uses the pseudo-outcomes of repetition s mod n_rep.
3. **Best linear predictor** of the CATE given S: OLS of psi on (1, S - mean(S)). ``blp_ate`` is
   the intercept (the ATE); ``blp_het`` the slope, 1 when S is the CATE and 0 when S says nothing
   about it (or the effect is constant): its test is the test of heterogeneity.
4. **Sorted group effects** (GATES): OLS of psi on the indicators of the fifths of S in the main
   half (ranks, equal sizes; ``gate_q1`` lowest predicted effect), and ``gate_top_minus_bottom``
   = gate_q5 - gate_q1 with the covariance of the two coefficients.

Per split, SEs are cluster-robust by allocated worker (statsmodels ``cov_type="cluster"``, CR1,
through DoubleML's :class:`doubleml.DoubleMLBLP`). Over the splits, CDDF's aggregation (their
section 4): estimate and SE the medians; the CI [median of the lower, median of the upper limits]
of the per-split (1 - alpha/2) intervals, which has level at least 1 - alpha; the p-value
min(1, 2 x median p). Both are conservative: a test that rejects is one that rejects in most splits.
"""

from __future__ import annotations

import logging
import math
import warnings
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger("deepvalue")

HETEROGENEITY_COLUMNS = ["outcome", "statistic", "estimate", "std_error", "ci_lower", "ci_upper", "p_value"]
N_GROUPS = 5
GATES = tuple(f"gate_q{k}" for k in range(1, N_GROUPS + 1))
STATISTICS = ("blp_ate", "blp_het", *GATES, "gate_top_minus_bottom")
GROUP_COLUMNS = ["outcome", "group", "covariate", "mean", "n", "notes"]
MIN_WORKERS = 10
PROXY_LEARNERS = ("elastic_net", "lightgbm", "linear")


def proxy_learner(name: str, seed: int) -> Any:
    """The second-stage regressor of the pseudo-outcome on X (small and regularised: psi is noisy)."""
    if name == "lightgbm":
        from lightgbm import LGBMRegressor

        from deepvalue.effects.dml import LGBM_REPRODUCIBLE

        return LGBMRegressor(
            n_estimators=100,
            learning_rate=0.05,
            num_leaves=7,
            min_child_samples=50,
            random_state=seed,
            **LGBM_REPRODUCIBLE,
        )
    if name == "elastic_net":
        from sklearn.linear_model import ElasticNetCV
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        # CDDF's first proxy; the penalty chosen by 3-fold CV within the training folds
        return make_pipeline(StandardScaler(), ElasticNetCV(l1_ratio=[0.5, 1.0], alphas=30, cv=3, max_iter=5000))
    if name == "linear":
        from sklearn.linear_model import LinearRegression

        return LinearRegression()
    raise ValueError(f"unknown proxy learner {name!r}: use one of {', '.join(PROXY_LEARNERS)}")


def split_halves(cluster: np.ndarray, n_splits: int, seed: int) -> np.ndarray:
    """(n_splits, n) masks of the main half: each worker (cluster code) in it with probability 1/2."""
    rng = np.random.default_rng([seed, 17])
    codes = np.asarray(cluster)
    draws = rng.random((n_splits, int(codes.max()) + 1))
    main = draws[:, codes] < 0.5
    # a split with a tiny half is drawn again from the same stream (deterministic), a few times at most
    need = max(2 * N_GROUPS, codes.size // 10)
    for s in range(n_splits):
        for _ in range(100):
            if min(main[s].sum(), (~main[s]).sum()) >= need:
                break
            main[s] = rng.random(int(codes.max()) + 1)[codes] < 0.5
        else:
            raise ValueError(f"the allocated workers cannot be split into halves of at least {need} clients")
    return main


def rank_groups(proxy: np.ndarray, k: int = N_GROUPS) -> np.ndarray:
    """Group 0..k-1 of each client by rank of the proxy (ties in row order): sizes differ by at most 1."""
    order = np.argsort(proxy, kind="stable")
    groups = np.empty(proxy.size, dtype=np.int64)
    groups[order] = (np.arange(proxy.size) * k) // proxy.size
    return groups


def split_statistics(
    signal: np.ndarray, proxy: np.ndarray, cluster: np.ndarray | None
) -> dict[str, tuple[float, float]]:
    """(estimate, SE) of each statistic on one main half: the BLP and GATE regressions of the pseudo-outcome."""
    from doubleml import DoubleMLBLP

    fit_kw: dict[str, Any] = {"cov_type": "HC0"}
    if cluster is not None:
        fit_kw = {"cov_type": "cluster", "cov_kwds": {"groups": np.asarray(cluster)}}
    blp_basis = pd.DataFrame({"blp_ate": 1.0, "blp_het": proxy - proxy.mean()})
    gate_basis = pd.DataFrame(np.eye(N_GROUPS)[rank_groups(proxy)], columns=list(GATES))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        blp = DoubleMLBLP(signal, blp_basis).fit(**fit_kw)
        gate = DoubleMLBLP(signal, gate_basis, is_gate=True).fit(**fit_kw)
    out = {name: (float(blp.all_coef[j, 0]), float(blp.all_se[j, 0])) for j, name in enumerate(("blp_ate", "blp_het"))}
    out |= {name: (float(gate.all_coef[j, 0]), float(gate.all_se[j, 0])) for j, name in enumerate(GATES)}
    omega = gate.blp_omega[:, :, 0]
    out["gate_top_minus_bottom"] = (
        float(gate.all_coef[-1, 0] - gate.all_coef[0, 0]),
        float(np.sqrt(omega[-1, -1] + omega[0, 0] - 2 * omega[-1, 0])),
    )
    return out


def cddf_aggregate(estimates: np.ndarray, ses: np.ndarray, alpha: float = 0.05) -> tuple[float, ...]:
    """(estimate, SE, CI lower, CI upper, p) over splits as CDDF: medians, (1 - alpha/2) intervals, 2 x median p."""
    from scipy import stats

    estimates, ses = np.asarray(estimates, dtype=float), np.asarray(ses, dtype=float)
    ok = np.isfinite(estimates) & np.isfinite(ses) & (ses > 0)
    if not ok.any():
        return (math.nan,) * 5
    est, se = estimates[ok], ses[ok]
    z = float(stats.norm.ppf(1 - alpha / 4))
    p = 2 * stats.norm.sf(np.abs(est / se))
    return (
        float(np.median(est)),
        float(np.median(se)),
        float(np.median(est - z * se)),
        float(np.median(est + z * se)),
        float(min(1.0, 2 * np.median(p))),
    )


def fit_proxy(X: np.ndarray, signal: np.ndarray, learner: str, seed: int) -> Any:
    """The proxy model: the pseudo-outcome regressed on the covariates (the auxiliary half)."""
    return proxy_learner(learner, seed).fit(X, signal)


def generic_ml(
    signal: np.ndarray,
    X: np.ndarray,
    cluster: np.ndarray,
    *,
    learner: str = "linear",
    n_splits: int = 30,
    seed: int = 0,
) -> tuple[dict[str, tuple[float, ...]], list[tuple[np.ndarray, np.ndarray]]]:
    """CDDF's statistics aggregated over the splits, and per split (main mask, main proxy).

    ``signal`` (n, n_rep) pseudo-outcomes, ``X`` (n, p) covariates, ``cluster`` integer worker codes.
    """
    X = np.asarray(X, dtype=float)
    masks = split_halves(cluster, n_splits, seed)
    per: dict[str, list[tuple[float, float]]] = {name: [] for name in STATISTICS}
    splits = []
    for s, main in enumerate(masks):
        psi = signal[:, s % signal.shape[1]]
        model = fit_proxy(X[~main], psi[~main], learner, seed)
        proxy = np.asarray(model.predict(X[main]), dtype=float)
        splits.append((main, proxy))
        if np.ptp(proxy) <= 1e-12 * max(1.0, float(np.abs(proxy).max())):
            stats_s = {name: (math.nan, math.nan) for name in STATISTICS}  # a constant proxy: no slope
        else:
            stats_s = split_statistics(psi[main], proxy, cluster[main])
        for name in STATISTICS:
            per[name].append(stats_s[name])
    out = {name: cddf_aggregate(*np.asarray(per[name]).T) for name in STATISTICS}
    return out, splits


def _rows(outcome: str, stats: dict[str, tuple[float, ...]] | None) -> list[dict]:
    return [
        dict(zip(HETEROGENEITY_COLUMNS, (outcome, name, *(stats or {}).get(name, (math.nan,) * 5))))
        for name in STATISTICS
    ]


def characteristics(design: pd.DataFrame, splits: list[tuple[np.ndarray, np.ndarray]], outcome: str) -> list[dict]:
    """Mean of each design column in each fifth of the proxy (CDDF's CLAN), median over the splits.

    Groups ``q1`` (lowest predicted effect) ... ``q5`` (highest), each over a split's main half;
    ``n`` is the median group size.
    """
    X = design.to_numpy(dtype=float)
    means = np.empty((len(splits), N_GROUPS, X.shape[1]))
    sizes = np.empty((len(splits), N_GROUPS))
    for s, (main, proxy) in enumerate(splits):
        g = rank_groups(proxy)
        sizes[s] = np.bincount(g, minlength=N_GROUPS)
        for j in range(X.shape[1]):
            means[s, :, j] = np.bincount(g, weights=X[main, j], minlength=N_GROUPS) / sizes[s]
    med, n = np.median(means, axis=0), np.median(sizes, axis=0)
    return [
        {"outcome": outcome, "group": f"q{k + 1}", "covariate": col, "mean": float(med[k, j])}
        | {"n": int(n[k]), "notes": ""}
        for k in range(N_GROUPS)
        for j, col in enumerate(design.columns)
    ]


def signal_arrays(signals: pd.DataFrame, outcome: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """(client ids, signal, folds, propensity) of one outcome from the dml rule's signals table, or None."""
    part = signals.loc[signals["outcome"] == outcome]
    if part.empty:
        return None
    n_rep = int(part["rep"].max()) + 1
    n = len(part) // n_rep
    part = part.sort_values("rep", kind="stable")
    ids = part["client_id"].to_numpy()[:n]

    def wide(column: str) -> np.ndarray:
        return part[column].to_numpy().reshape(n_rep, n).T

    return ids, wide("signal").astype(float), wide("fold").astype(np.int64), wide("propensity").astype(float)


def _worker_codes(column: pd.Series) -> np.ndarray:
    """0..G-1 codes of the allocated workers (a missing worker is a cluster of its own)."""
    codes = pd.factorize(column, use_na_sentinel=True)[0]
    missing = codes < 0
    codes[missing] = codes.max() + 1 + np.arange(int(missing.sum()))
    return codes.astype(np.int64)


def outcome_population(analysis: pd.DataFrame, ids: np.ndarray) -> pd.DataFrame:
    """The clients of the dml fit in its order (its subsample, when it took one); an arrow hash lookup."""
    import pyarrow as pa
    import pyarrow.compute as pc

    pos = pc.index_in(pa.array(ids), value_set=pa.array(analysis["client_id"])).to_numpy(zero_copy_only=False)
    if np.isnan(pos.astype(float)).any():
        raise ValueError("the dml signals name clients that the cohort does not have: rerun estimate_dml")
    return analysis.iloc[pos.astype(np.int64)].reset_index(drop=True)


def _run_heterogeneity(analysis: pd.DataFrame, signals: pd.DataFrame, settings, cluster_column: str = "first_worker"):
    """(heterogeneity table, characteristics table) for every configured outcome.

    Reads ``covariates``, ``outcomes``, ``estimation.heterogeneity`` and ``seed``. An outcome the
    dml rule did not fit (dml not among the methods, or its row skipped) gets rows with empty
    numbers and one characteristics row whose notes say why.
    """
    from deepvalue.adjust.design import covariate_design

    cfg = settings.estimation.heterogeneity
    rows: list[dict] = []
    groups: list[dict] = []
    for spec in settings.outcomes:
        arrays = signal_arrays(signals, spec.name)
        reason = None
        if arrays is None:
            reason = "not estimated: no dml fit for this outcome (dml not among estimation.methods, or its row skipped)"
        elif len(arrays[0]) < 20 * N_GROUPS:
            reason = f"not estimated: fewer than {20 * N_GROUPS} clients for five groups in each half"
        if reason:
            log.info("%s heterogeneity: %s", spec.name, reason)
            rows += _rows(spec.name, None)
            groups.append(dict.fromkeys(GROUP_COLUMNS, math.nan) | {"outcome": spec.name, "notes": reason})
            continue
        ids, signal, _, _ = arrays
        pop = outcome_population(analysis, ids)
        design = covariate_design(pop, settings.covariates).X
        cluster = _worker_codes(pop[cluster_column]) if cluster_column else np.arange(len(pop))
        if np.unique(cluster).size < MIN_WORKERS:
            reason = f"not estimated: fewer than {MIN_WORKERS} allocated workers to split into halves"
        else:
            try:
                stats, splits = generic_ml(
                    signal,
                    design.to_numpy(dtype=float),
                    cluster,
                    learner=cfg.proxy_learner,
                    n_splits=cfg.splits,
                    seed=settings.seed,
                )
            except Exception as exc:  # noqa: BLE001 - a failed fit is a skipped outcome, logged with its traceback
                log.exception("%s heterogeneity: not estimated", spec.name)
                reason = f"not estimated: {type(exc).__name__}: {exc}"
        if reason:
            rows += _rows(spec.name, None)
            groups.append(dict.fromkeys(GROUP_COLUMNS, math.nan) | {"outcome": spec.name, "notes": reason})
            continue
        rows += _rows(spec.name, stats)
        groups += characteristics(design, splits, spec.name)
    het = pd.DataFrame(rows, columns=HETEROGENEITY_COLUMNS)
    return het, pd.DataFrame(groups, columns=GROUP_COLUMNS)


def run_heterogeneity(analysis: pd.DataFrame, signals: pd.DataFrame, settings, cluster_column: str = "first_worker"):
    """:func:`_run_heterogeneity` with BLAS on one thread: the second-stage fits are small (n x p with p about
    25), and a multi-threaded BLAS on a busy machine made each least-squares fit 60 times slower
    (0.33 s against 0.005 s measured here)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        return _run_heterogeneity(analysis, signals, settings, cluster_column)
