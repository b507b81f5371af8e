"""Heterogeneous effects: a cross-fitted doubly robust learner and the generic-ML inference on it.

Chernozhukov, Demirer, Duflo and Fernandez-Val (2018, rev. 2023), "Generic machine learning
inference on heterogeneous treatment effects in randomized experiments", NBER w24678 (CDDF), on
the doubly robust pseudo-outcome of an observational study (Semenova and Chernozhukov 2021,
*Econometrics Journal* 24; DoubleML's ``cate`` and ``gate``):

1. **Pseudo-outcomes** psi_i = g1(X_i) - g0(X_i) + D_i (Y_i - g1(X_i)) / m(X_i) - (1 - D_i)(Y_i -
   g0(X_i)) / (1 - m(X_i)), with out-of-fold nuisance predictions: DoubleML's ``psi_b`` of the
   ``dml`` rows' ATE fit, one column per cross-fitting repetition, folds grouped by allocated
   worker (:func:`deepvalue.effects.dml.signal_frame`). E[psi | X] is the CATE.
2. **A cross-fitted CATE proxy** S(X) (the DR-learner's second stage, Kennedy 2023, *EJS* 17):
   psi regressed on X on the other folds of the same repetition, predicted on the held-out fold,
   so a client's proxy never saw its own outcome.
3. **Best linear predictor** of the CATE given S: OLS of psi on (1, S - mean(S)). ``blp_ate`` is
   the intercept (the ATE); ``blp_het`` the slope, 1 when S is the CATE and 0 when S says nothing
   about it (or the effect is constant): its test is the test of heterogeneity.
4. **Sorted group effects** (GATES): OLS of psi on the indicators of the quintiles of S (ranks, so
   the groups have equal sizes; ``gate_q1`` lowest predicted effect), and ``gate_top_minus_bottom``
   = gate_q5 - gate_q1 with the covariance of the two coefficients.

Standard errors are cluster-robust by allocated worker (statsmodels ``cov_type="cluster"``, CR1,
through DoubleML's :class:`doubleml.DoubleMLBLP`, which fits one OLS per repetition with its own
basis). Over the repetitions the estimate is the median and the SE DoubleML's aggregate (the
median of the upper bounds theta_r + 1.96 se_r, minus the median estimate, over 1.96: Chernozhukov
et al. 2018, section 3.4), the aggregation of the ``dml`` rows; CIs and p-values are Wald ones
from those.
"""

from __future__ import annotations

import logging
import math
import warnings
from typing import Any

import numpy as np
import pandas as pd

from deepvalue.effects.base import _wald

log = logging.getLogger("deepvalue")

HETEROGENEITY_COLUMNS = ["outcome", "statistic", "estimate", "std_error", "ci_lower", "ci_upper", "p_value"]
N_GROUPS = 5
GATES = tuple(f"gate_q{k}" for k in range(1, N_GROUPS + 1))
STATISTICS = ("blp_ate", "blp_het", *GATES, "gate_top_minus_bottom")
GROUP_COLUMNS = ["outcome", "group", "covariate", "mean", "n", "notes"]
PROXY_LEARNERS = ("elastic_net", "lightgbm", "linear")


def proxy_learner(name: str, seed: int) -> Any:
    """The second-stage regressor of the pseudo-outcome on X (small and regularised: psi is noisy)."""
    if name == "lightgbm":
        from lightgbm import LGBMRegressor

        return LGBMRegressor(
            n_estimators=100,
            learning_rate=0.05,
            num_leaves=7,
            min_child_samples=50,
            verbose=-1,
            n_jobs=1,
            random_state=seed,
            deterministic=True,
            force_row_wise=True,
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


def cross_fitted_proxy(signal: np.ndarray, X: np.ndarray, folds: np.ndarray, learner: str, seed: int) -> np.ndarray:
    """S(X_i) for every client and repetition: psi regressed on X without the client's fold.

    ``signal`` and ``folds`` are (n, n_rep); the folds are the nuisance fit's (grouped by worker).
    """
    from sklearn.base import clone

    X = np.asarray(X, dtype=float)
    proxy = np.full(signal.shape, np.nan)
    template = proxy_learner(learner, seed)
    for r in range(signal.shape[1]):
        for k in np.unique(folds[:, r]):
            test = folds[:, r] == k
            model = clone(template).fit(X[~test], signal[~test, r])
            proxy[test, r] = model.predict(X[test])
    return proxy


def rank_groups(proxy: np.ndarray, folds: np.ndarray | None = None, k: int = N_GROUPS) -> np.ndarray:
    """Group 0..k-1 of each client by rank of the proxy within its fold (ties in row order).

    Within each fold, since each fold's proxy comes from its own model: pooled, a fold whose model
    predicts a higher mean would fill the top group. Sizes differ by at most 1 per fold.
    """
    folds = np.zeros(proxy.size, dtype=np.int64) if folds is None else np.asarray(folds)
    order = np.lexsort((proxy, folds))
    sorted_folds = folds[order]
    start = np.searchsorted(sorted_folds, sorted_folds, side="left")
    size = np.bincount(folds)[sorted_folds]
    groups = np.empty(proxy.size, dtype=np.int64)
    groups[order] = ((np.arange(proxy.size) - start) * k) // size
    return groups


def within_fold_centred(proxy: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """S minus its fold's mean: a fold model's level is the mean psi of the other folds, which
    is negatively correlated with the held-out fold's mean psi, and would bias the BLP slope down."""
    means = np.bincount(folds, weights=proxy) / np.bincount(folds)
    return proxy - means[folds]


def _aggregate(coefs: np.ndarray, ses: np.ndarray) -> tuple[float, float]:
    """DoubleML's aggregation over repetitions: median estimate, SE from the median upper bound."""
    est = float(np.median(coefs))
    return est, float((np.median(coefs + 1.96 * ses) - est) / 1.96)


def generic_ml(
    signal: np.ndarray, proxy: np.ndarray, folds: np.ndarray, cluster: np.ndarray | None
) -> dict[str, tuple[float, float]]:
    """(estimate, SE) of each statistic in :data:`STATISTICS`, aggregated over the repetitions.

    ``signal``, ``proxy`` and ``folds`` are (n, n_rep); ``cluster`` integer worker codes (None:
    HC0 SEs). The BLP's regressor is S centred within its fold, the groups are fifths within folds.
    """
    from doubleml import DoubleMLBLP

    n_rep = signal.shape[1]
    fit_kw: dict[str, Any] = {"cov_type": "HC0"}
    if cluster is not None:
        fit_kw = {"cov_type": "cluster", "cov_kwds": {"groups": np.asarray(cluster)}}
    blp_basis = [
        pd.DataFrame({"blp_ate": 1.0, "blp_het": within_fold_centred(proxy[:, r], folds[:, r])}) for r in range(n_rep)
    ]
    gate_basis = [
        pd.DataFrame(np.eye(N_GROUPS)[rank_groups(proxy[:, r], folds[:, r])], columns=list(GATES)) for r in range(n_rep)
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        blp = DoubleMLBLP(signal, blp_basis).fit(**fit_kw)
        gate = DoubleMLBLP(signal, gate_basis, is_gate=True).fit(**fit_kw)
    out: dict[str, tuple[float, float]] = {}
    for model, names in ((blp, ("blp_ate", "blp_het")), (gate, GATES)):
        for j, name in enumerate(names):
            out[name] = _aggregate(model.all_coef[j], model.all_se[j])
    omega = gate.blp_omega  # (k, k, n_rep)
    diff = gate.all_coef[-1] - gate.all_coef[0]
    diff_se = np.sqrt(omega[-1, -1] + omega[0, 0] - 2 * omega[-1, 0])
    out["gate_top_minus_bottom"] = _aggregate(diff, diff_se)
    return out


def _rows(outcome: str, stats: dict[str, tuple[float, float]] | None) -> list[dict]:
    rows = []
    for name in STATISTICS:
        est, se = (stats or {}).get(name, (math.nan, math.nan))
        lower, upper, p = _wald(est, se) if math.isfinite(est) and math.isfinite(se) else (math.nan,) * 3
        rows.append(dict(zip(HETEROGENEITY_COLUMNS, (outcome, name, est, se, lower, upper, p))))
    return rows


def characteristics(design: pd.DataFrame, proxy: np.ndarray, folds: np.ndarray, outcome: str) -> list[dict]:
    """Mean of each design column in each fifth of the proxy (CDDF's CLAN), median over repetitions.

    Groups ``q1`` (lowest predicted effect) ... ``q5`` (highest); ``n`` is the group's size.
    """
    X = design.to_numpy(dtype=float)
    means = np.empty((proxy.shape[1], N_GROUPS, X.shape[1]))
    sizes = np.bincount(rank_groups(proxy[:, 0], folds[:, 0]), minlength=N_GROUPS)
    for r in range(proxy.shape[1]):
        g = rank_groups(proxy[:, r], folds[:, r])
        counts = np.bincount(g, minlength=N_GROUPS)
        for j in range(X.shape[1]):
            means[r, :, j] = np.bincount(g, weights=X[:, j], minlength=N_GROUPS) / counts
    med = np.median(means, axis=0)
    return [
        {"outcome": outcome, "group": f"q{k + 1}", "covariate": col, "mean": float(med[k, j]), "n": int(sizes[k])}
        | {"notes": ""}
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


def outcome_population(analysis: pd.DataFrame, ids: np.ndarray) -> pd.DataFrame:
    """The clients of the dml fit in its order (its subsample, when it took one)."""
    pos = pd.Index(analysis["client_id"]).get_indexer(ids)
    if (pos < 0).any():
        raise ValueError("the dml signals name clients that the cohort does not have: rerun estimate_dml")
    return analysis.iloc[pos].reset_index(drop=True)


def run_heterogeneity(analysis: pd.DataFrame, signals: pd.DataFrame, settings, cluster_column: str = "first_worker"):
    """(heterogeneity table, characteristics table) for every configured outcome.

    Reads ``covariates``, ``outcomes``, ``estimation.heterogeneity`` and ``seed``. An outcome the
    dml rule did not fit (dml not among the methods, or its row skipped) gets rows with empty
    numbers and one characteristics row whose notes say why.
    """
    from deepvalue.adjust.design import covariate_design
    from deepvalue.effects.table import _cluster_codes

    cfg = settings.estimation.heterogeneity
    rows: list[dict] = []
    groups: list[dict] = []
    for spec in settings.outcomes:
        arrays = signal_arrays(signals, spec.name)
        reason = None
        if arrays is None:
            reason = "not estimated: no dml fit for this outcome (dml not among estimation.methods, or its row skipped)"
        elif len(arrays[0]) < 10 * N_GROUPS:
            reason = f"not estimated: fewer than {10 * N_GROUPS} clients for five groups"
        if reason:
            log.info("%s heterogeneity: %s", spec.name, reason)
            rows += _rows(spec.name, None)
            groups.append(dict.fromkeys(GROUP_COLUMNS, math.nan) | {"outcome": spec.name, "notes": reason})
            continue
        ids, signal, folds, _ = arrays
        pop = outcome_population(analysis, ids)
        design = covariate_design(pop, settings.covariates).X
        cluster = _cluster_codes(pop[cluster_column]) if cluster_column else None
        proxy = cross_fitted_proxy(signal, design.to_numpy(dtype=float), folds, cfg.proxy_learner, settings.seed)
        rows += _rows(spec.name, generic_ml(signal, proxy, folds, cluster))
        groups += characteristics(design, proxy, folds, spec.name)
    het = pd.DataFrame(rows, columns=HETEROGENEITY_COLUMNS)
    return het, pd.DataFrame(groups, columns=GROUP_COLUMNS)
