"""Double machine learning: DoubleML's interactive regression model, and its sensitivity analysis.

The ``dml`` rows of estimates.csv (estimands ATE and ATT, DoubleML's ``ATE`` and ``ATTE`` scores)
come from :class:`doubleml.DoubleMLIRM` (Chernozhukov et al. 2018, *Econometrics Journal* 21) with

- cross-fitting over ``estimation.dml.n_folds`` folds (5) repeated ``n_rep`` times (3), aggregated
  by the median as DoubleML does (Chernozhukov et al. 2018, section 3.4);
- folds grouped by the allocated worker and cluster-robust SEs (DoubleML's cluster data,
  Chiang, Kato, Ma and Sasaki 2022, *JBES* 40), so no worker's clients are on both sides of a split;
- gradient boosting learners by default (LightGBM for the outcome and the score), or the
  parametric ones (OLS per arm and the logit, the models of the project's AIPW), or
  scikit-learn's HistGradientBoosting;
- the nuisance predictions fitted once per outcome: the ATT reuses the ATE fit's out-of-fold
  predictions and sample splits (DoubleML ``external_predictions``), so both estimands rest on the
  same models and the learners run once.

Sensitivity (Chernozhukov, Cinelli, Newey, Sharma and Syrgkanis 2022, "Long story short: omitted
variable bias in causal machine learning", NBER w30302): DoubleML's bounds at ``cf_y = cf_d =
0.03`` with the robustness value, and benchmarks: each configured covariate left out in turn
gives the confounding strength (cf_y, cf_d, rho) of an omitted variable "as strong as" it, and the
bounds an unobserved confounder that strong would allow.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from deepvalue.effects.base import EffectEstimate, _wald

log = logging.getLogger("deepvalue")

LEARNERS = ("lightgbm", "hist_gradient_boosting", "linear")
SENSITIVITY_COLUMNS = [
    "outcome",
    "estimand",
    "benchmark",
    "cf_y",
    "cf_d",
    "rho",
    "estimate",
    "theta_lower",
    "theta_upper",
    "ci_lower",
    "ci_upper",
    "rv",
    "rva",
    "notes",
]


@dataclass(frozen=True)
class DmlFit:
    """The two rows (ATE, ATT) of one outcome and the fitted DoubleML objects behind them."""

    rows: list[EffectEstimate]
    models: dict[str, Any]  # estimand -> DoubleMLIRM
    x_cols: list[str]
    notes: str
    #: the ATE score's orthogonal signal psi_b (the AIPW pseudo-outcome), (n, n_rep)
    signal: np.ndarray | None = None
    #: each client's cross-fitting fold in each repetition, (n, n_rep)
    folds: np.ndarray | None = None
    #: the out-of-fold propensity score P(D = 1 | X), (n, n_rep)
    propensity: np.ndarray | None = None


#: LightGBM settings every learner of the project shares: silent, one thread (Snakemake's job has one
#: core) and bit-reproducible for a seed (deterministic, row-wise histograms).
LGBM_REPRODUCIBLE = {"verbose": -1, "n_jobs": 1, "deterministic": True, "force_row_wise": True}


def learners(name: str, binary_outcome: bool, seed: int) -> tuple[Any, Any]:
    """(ml_g, ml_m): the outcome learner and the propensity learner, seeded and single-threaded."""
    if name == "lightgbm":
        from lightgbm import LGBMClassifier, LGBMRegressor

        kw = dict(
            n_estimators=200, learning_rate=0.05, num_leaves=15, min_child_samples=20, subsample=1.0, random_state=seed
        )
        kw.update(LGBM_REPRODUCIBLE)
        return (LGBMClassifier(**kw) if binary_outcome else LGBMRegressor(**kw)), LGBMClassifier(**kw)
    if name == "hist_gradient_boosting":
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        kw = dict(max_iter=200, learning_rate=0.05, random_state=seed)
        g = HistGradientBoostingClassifier(**kw) if binary_outcome else HistGradientBoostingRegressor(**kw)
        return g, HistGradientBoostingClassifier(**kw)
    if name == "linear":
        from sklearn.linear_model import LinearRegression, LogisticRegression

        return LinearRegression(), LogisticRegression(C=np.inf, max_iter=10_000, tol=1e-10)
    raise ValueError(f"unknown DML learner {name!r}: use one of {', '.join(LEARNERS)}")


def clustered_var_est(
    psi, psi_deriv, smpls, is_cluster_data, cluster_vars=None, smpls_cluster=None, n_folds_per_cluster=None
):
    r"""DoubleML 0.11's ``doubleml.utils._estimation._var_est``, one-way clusters vectorised.

    DoubleML's one-way cluster variance (Chiang et al. 2022) is
    :math:`\hat\gamma = \frac1K \sum_k \frac1{|I_k|} \sum_{g \in I_k} (\sum_{i \in g} \psi_i)^2`
    and :math:`\hat J = \frac1K \sum_k \frac1{|I_k|} \sum_{i \in k} \psi'_i`, with
    :math:`I_k` the clusters of test fold k; it sums ``np.outer(psi_g, psi_g)`` after a comparison of
    the whole cluster column with each cluster's value, O(n G) per call. The sensitivity analysis
    calls it hundreds of times per outcome: at 10,000 clients in about 4,000 clusters it took 146
    of dml's 180 s (docs/benchmarks.md). Here each cluster's sum is one ``bincount``. Equal to
    DoubleML's to rounding (tests/unit/test_dml.py); any other case (no clusters, two-way) is
    DoubleML's own code.
    """
    if not is_cluster_data or cluster_vars is None or np.shape(cluster_vars)[1] != 1:
        return _DOUBLEML_VAR_EST(
            psi,
            psi_deriv,
            smpls,
            is_cluster_data,
            cluster_vars=cluster_vars,
            smpls_cluster=smpls_cluster,
            n_folds_per_cluster=n_folds_per_cluster,
        )
    values, codes = np.unique(cluster_vars[:, 0], return_inverse=True)
    sums = np.bincount(codes, weights=np.asarray(psi, dtype=float), minlength=values.size)
    gamma_hat = 0.0
    j_hat = 0.0
    for i_fold in range(len(smpls)):  # a loop over the folds (5), each vectorised
        in_fold = np.searchsorted(values, smpls_cluster[i_fold][1][0])
        gamma_hat += float(sums[in_fold] @ sums[in_fold]) / in_fold.size
        j_hat += float(np.sum(psi_deriv[smpls[i_fold][1]])) / in_fold.size
    J = j_hat / n_folds_per_cluster
    gamma_hat /= n_folds_per_cluster
    return gamma_hat / (values.size * J**2), values.size


_DOUBLEML_VAR_EST = None


def _use_vectorised_cluster_variance() -> None:
    """Point DoubleML's two callers of ``_var_est`` at :func:`clustered_var_est` (once), if the
    installed DoubleML still has the function with the signature it was written against."""
    global _DOUBLEML_VAR_EST
    if _DOUBLEML_VAR_EST is not None:
        return
    import inspect

    import doubleml.double_ml as dml_module
    import doubleml.double_ml_framework as framework_module
    from doubleml.utils import _estimation

    original = getattr(_estimation, "_var_est", None)
    expected = ["psi", "psi_deriv", "smpls", "is_cluster_data", "cluster_vars", "smpls_cluster", "n_folds_per_cluster"]
    if original is None or list(inspect.signature(original).parameters) != expected:
        log.warning("DoubleML's _var_est has changed: its own (slow) cluster variance is used")
        return
    _DOUBLEML_VAR_EST = original
    for module in (dml_module, framework_module):
        if getattr(module, "_var_est", None) is original:
            module._var_est = clustered_var_est


def _irm(data, ml_g, ml_m, score: str, n_folds: int, n_rep: int, seed: int):
    import doubleml

    _use_vectorised_cluster_variance()
    np.random.seed(seed % 2**32)  # DoubleML draws its sample splits from numpy's global generator
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        return doubleml.DoubleMLIRM(data, ml_g, ml_m, n_folds=n_folds, n_rep=n_rep, score=score)


def dml_irm(
    y: np.ndarray,
    d: np.ndarray,
    X: pd.DataFrame,
    cluster: np.ndarray | None,
    *,
    outcome: str,
    learner: str = "lightgbm",
    n_folds: int = 5,
    n_rep: int = 3,
    seed: int = 0,
    scale: str = "mean_difference",
) -> DmlFit:
    """DoubleML IRM ATE and ATT (ATTE) rows for one outcome on one population.

    ``y`` outcome, ``d`` treatment (0/1), ``X`` the confounder design
    (:func:`deepvalue.adjust.design.covariate_design`), ``cluster`` the allocated worker's codes
    (None: folds and SEs at the client level). The ATT fit reuses the ATE fit's out-of-fold
    predictions of E[Y | D=0, X] and P(D=1 | X) and its sample splits.
    """
    import doubleml

    binary = bool(np.isin(y, (0.0, 1.0)).all())
    frame = pd.DataFrame(np.asarray(X, dtype=float), columns=[f"x{j}" for j in range(X.shape[1])])
    x_cols = list(frame.columns)
    frame["y"], frame["d"] = np.asarray(y, dtype=float), np.asarray(d, dtype=float)
    kw: dict[str, Any] = {}
    if cluster is not None:
        frame["cluster"] = np.asarray(cluster)
        kw["cluster_cols"] = "cluster"
    data = doubleml.DoubleMLData(frame, "y", "d", x_cols=x_cols, **kw)
    ml_g, ml_m = learners(learner, binary, seed)
    ate = _irm(data, ml_g, ml_m, "ATE", n_folds, n_rep, seed)
    ate.fit(store_predictions=True)
    preds = ate.predictions
    att = _irm(data, ml_g, ml_m, "ATTE", n_folds, n_rep, seed)
    att.set_sample_splitting(ate.smpls, ate.smpls_cluster)
    external = {
        "d": {"ml_g0": preds["ml_g0"][:, :, 0], "ml_g1": preds["ml_g1"][:, :, 0], "ml_m": preds["ml_m"][:, :, 0]}
    }
    att.fit(external_predictions=external)
    n_t, n_c = int((d == 1).sum()), int((d == 0).sum())
    notes = f"DoubleML IRM, {learner} learners, {n_folds}-fold cross-fitting x {n_rep} repetitions (median); " + (
        f"folds grouped and SE clustered by allocated worker ({int(pd.Series(cluster).nunique())} clusters)"
        if cluster is not None
        else "SE robust (no clusters)"
    )
    rows = []
    for estimand, model in (("ATE", ate), ("ATT", att)):
        est, se = float(model.coef[0]), float(model.se[0])
        lower, upper, p = _wald(est, se)
        rows.append(EffectEstimate(outcome, "dml", estimand, est, se, lower, upper, p, n_t, n_c, scale, notes, ""))
    signal = np.asarray(ate.psi_elements["psi_b"][:, :, 0], dtype=float)
    folds = np.full(signal.shape, -1, dtype=np.int64)
    for r, splits in enumerate(ate.smpls):
        for k, (_, test) in enumerate(splits):
            folds[test, r] = k
    return DmlFit(rows, {"ATE": ate, "ATT": att}, x_cols, notes, signal, folds, preds["ml_m"][:, :, 0].copy())


SIGNAL_COLUMNS = ["outcome", "client_id", "rep", "fold", "signal", "propensity"]


def signal_frame(fit: DmlFit, outcome: str, client_ids: np.ndarray) -> pd.DataFrame:
    """The ATE fit's pseudo-outcomes, folds and propensity scores, one row per client and repetition.

    ``signal`` is DoubleML's ``psi_b`` of the ATE score, the doubly robust (AIPW) pseudo-outcome
    ``g1 - g0 + d (y - g1) / m - (1 - d)(y - g0) / (1 - m)`` with out-of-fold nuisance predictions
    (Chernozhukov et al. 2018, section 5.1): its mean is the dml ATE and its conditional mean
    given X the CATE, which is what the heterogeneity and targeting rules build on.
    """
    n, n_rep = fit.signal.shape
    return pd.DataFrame(
        {
            "outcome": outcome,
            "client_id": np.tile(np.asarray(client_ids), n_rep),
            "rep": np.repeat(np.arange(n_rep, dtype=np.int64), n),
            "fold": fit.folds.T.reshape(-1),
            "signal": fit.signal.T.reshape(-1),
            "propensity": fit.propensity.T.reshape(-1),
        },
        columns=SIGNAL_COLUMNS,
    )


def sensitivity_table(
    fit: DmlFit,
    source: dict[str, str],
    columns: list[str],
    benchmarks: list[str],
    *,
    outcome: str,
    cf_y: float = 0.03,
    cf_d: float = 0.03,
) -> pd.DataFrame:
    """DoubleML's omitted-variable bounds: one row at (cf_y, cf_d) per estimand, then one per benchmark.

    ``source`` maps each design column to its covariate (``Design.source``; a column absent from it
    is its own covariate) and ``columns`` are the design's column names in order; a benchmark
    leaves out every column of that covariate and refits (DoubleML ``sensitivity_benchmark``),
    which gives the (cf_y, cf_d, rho) of a confounder as strong as it; the bounds at those values
    say where such an unobserved confounder could move the estimate.
    """
    rows = []
    by_covariate: dict[str, list[str]] = {}
    for j, col in enumerate(columns):
        by_covariate.setdefault(source.get(col, col), []).append(f"x{j}")
    for estimand, model in fit.models.items():
        model.sensitivity_analysis(cf_y=cf_y, cf_d=cf_d, rho=1.0)
        rows.append(_bounds_row(model, outcome, estimand, "", cf_y, cf_d, 1.0, "bounds at cf_y = cf_d = 0.03, rho = 1"))
        if estimand != "ATT":
            continue
        for name in benchmarks:
            cols = by_covariate.get(name)
            if not cols:
                rows.append(_skipped(outcome, estimand, name, "not a confounder of this population's design"))
                continue
            if len(cols) == len(fit.x_cols):
                rows.append(_skipped(outcome, estimand, name, "the only confounder: nothing is left to benchmark on"))
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", category=UserWarning)
                bench = model.sensitivity_benchmark(benchmarking_set=cols)
            b_y, b_d, b_rho = (float(bench[k].iloc[0]) for k in ("cf_y", "cf_d", "rho"))
            if not all(map(math.isfinite, (b_y, b_d, b_rho))):
                rows.append(_skipped(outcome, estimand, name, "DoubleML's benchmark is not finite"))
                continue
            b_y, b_d = min(max(b_y, 0.0), 0.999), min(max(b_d, 0.0), 0.999)
            model.sensitivity_analysis(cf_y=b_y, cf_d=b_d, rho=min(max(abs(b_rho), 0.0), 1.0))
            rows.append(
                _bounds_row(model, outcome, estimand, name, b_y, b_d, b_rho, f"a confounder as strong as {name}")
            )
        model.sensitivity_analysis(cf_y=cf_y, cf_d=cf_d, rho=1.0)  # leave the model at the headline values
    return pd.DataFrame(rows, columns=SENSITIVITY_COLUMNS)


def _bounds_row(model, outcome, estimand, benchmark, cf_y, cf_d, rho, notes) -> dict:
    p = model.sensitivity_params
    return {
        "outcome": outcome,
        "estimand": estimand,
        "benchmark": benchmark,
        "cf_y": cf_y,
        "cf_d": cf_d,
        "rho": rho,
        "estimate": float(model.coef[0]),
        "theta_lower": float(p["theta"]["lower"][0]),
        "theta_upper": float(p["theta"]["upper"][0]),
        "ci_lower": float(p["ci"]["lower"][0]),
        "ci_upper": float(p["ci"]["upper"][0]),
        "rv": float(p["rv"][0]),
        "rva": float(p["rva"][0]),
        "notes": notes,
    }


def _skipped(outcome, estimand, benchmark, reason) -> dict:
    row = dict.fromkeys(SENSITIVITY_COLUMNS, float("nan"))
    row.update(outcome=outcome, estimand=estimand, benchmark=benchmark, notes=f"not benchmarked: {reason}")
    return row


def run_dml(
    analysis: pd.DataFrame,
    settings,
    cluster_column: str | None = "first_worker",
    signals: list[pd.DataFrame] | None = None,
):
    """(estimate rows, sensitivity table) of ``dml`` for every configured outcome, on the whole cohort.

    With ``signals`` (a list), each fitted outcome's :func:`signal_frame` is appended to it (the
    heterogeneity and targeting rules reuse the cross-fit instead of fitting the learners again).

    Reads ``covariates``, ``outcomes``, ``estimation.dml``, ``estimation.min_events_per_arm``,
    ``estimation.min_rows_per_parameter`` and ``seed``. Each outcome's population is the clients
    with it measured, as for the other methods; above ``estimation.dml.max_rows`` clients a random
    subsample stratified by treatment is used (said in the notes). Subgroups get no dml rows: the
    cross-fitting would run once per level.
    """
    from deepvalue.adjust.design import covariate_design
    from deepvalue.effects.base import skipped_estimate
    from deepvalue.effects.table import SCALES, _cluster_codes, outcome_without_variation, too_few_rows

    cfg = settings.estimation.dml
    est_cfg = settings.estimation
    rows: list[EffectEstimate] = []
    tables = []
    for spec in settings.outcomes:
        pop = analysis.loc[analysis[spec.name].notna()].reset_index(drop=True)
        if pop.empty:
            continue
        scale = SCALES[spec.type]
        sub_note = ""
        if cfg.max_rows is not None and len(pop) > cfg.max_rows:
            pop, sub_note = (
                _subsample(pop, cfg.max_rows, settings.seed),
                f"; on a random {cfg.max_rows:,} of {len(pop):,} clients (stratified by treatment)",
            )
        y = pop[spec.name].to_numpy(dtype=float)
        d = pop["treatment"].to_numpy(dtype=float)
        n_t, n_c = int((d == 1).sum()), int((d == 0).sum())
        design = covariate_design(pop, settings.covariates)
        reason = (
            outcome_without_variation(y, d, spec.type, est_cfg.min_events_per_arm)
            or (
                f"too few clients for cross-fitting: {min(n_t, n_c)} in the smaller arm, at least two per fold "
                f"({2 * cfg.n_folds}; estimation.dml.n_folds)"
                if min(n_t, n_c) < 2 * cfg.n_folds
                else None
            )
            or too_few_rows(len(pop), 2 + 2 * design.X.shape[1], est_cfg.min_rows_per_parameter)
        )
        if reason:
            rows += [
                skipped_estimate(spec.name, "dml", e, scale, reason, n_treated=n_t, n_control=n_c)
                for e in ("ATE", "ATT")
            ]
            continue
        cluster = _cluster_codes(pop[cluster_column]) if cluster_column else None
        try:
            fit = dml_irm(
                y,
                d,
                design.X,
                cluster,
                outcome=spec.name,
                learner=cfg.learner,
                n_folds=cfg.n_folds,
                n_rep=cfg.n_rep,
                seed=settings.seed,
                scale=scale,
            )
        except Exception as exc:  # noqa: BLE001 - a learner's failure becomes a skipped row, logged with its traceback
            log.exception("%s dml: not estimated", spec.name)
            why = f"DoubleML failed: {type(exc).__name__}: {exc}"
            rows += [
                skipped_estimate(spec.name, "dml", e, scale, why, n_treated=n_t, n_control=n_c) for e in ("ATE", "ATT")
            ]
            continue
        if sub_note:
            fit.rows[:] = [_with_note(r, sub_note) for r in fit.rows]
        rows += fit.rows
        if signals is not None:
            signals.append(signal_frame(fit, spec.name, pop["client_id"].to_numpy()))
        benchmarks = list(cfg.benchmarks) if cfg.benchmarks is not None else most_imbalanced(design, d)
        tables.append(sensitivity_table(fit, design.source, design.columns, benchmarks, outcome=spec.name))
    sens = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=SENSITIVITY_COLUMNS)
    return rows, sens


def most_imbalanced(design, d: np.ndarray, k: int = 2) -> list[str]:
    """The ``k`` covariates with the largest absolute standardised mean difference between the arms.

    A covariate's SMD is the largest over its design columns (a category's dummies), with the
    pooled SD ``sqrt((s1^2 + s0^2) / 2)`` (Austin 2009); the strongest observed predictors of
    treatment are the natural benchmarks for an unobserved one (Cinelli and Hazlett 2020, section 6).
    Structural columns (service, site, start quarter) are left out: they are fixed effects of the
    design, not confounders a reader would name. Ties keep the covariates' configured order.
    """
    X = design.X.to_numpy(dtype=float)
    treated = d == 1
    m1, m0 = X[treated].mean(axis=0), X[~treated].mean(axis=0)
    sd = np.sqrt((X[treated].var(axis=0, ddof=1) + X[~treated].var(axis=0, ddof=1)) / 2)
    smd = np.divide(np.abs(m1 - m0), sd, out=np.zeros_like(sd), where=sd > 0)
    best: dict[str, float] = {}
    for col, value in zip(design.columns, smd):
        name = design.source.get(col, col)
        if name in ("service", "site", "start_quarter"):
            continue
        best[name] = max(best.get(name, 0.0), float(value))
    return sorted(best, key=lambda name: -best[name])[:k]


def _with_note(row: EffectEstimate, note: str) -> EffectEstimate:
    import dataclasses

    return dataclasses.replace(row, notes=row.notes + note)


def _subsample(pop: pd.DataFrame, size: int, seed: int) -> pd.DataFrame:
    """``size`` rows, the same share from each arm, drawn with ``seed``; original order kept."""
    rng = np.random.default_rng(seed)
    d = pop["treatment"].to_numpy()
    keep = np.zeros(len(pop), dtype=bool)
    for arm in (0, 1):
        where = np.flatnonzero(d == arm)
        take = int(round(size * where.size / len(pop)))
        keep[rng.choice(where, size=take, replace=False)] = True
    return pop.loc[keep].reset_index(drop=True)
