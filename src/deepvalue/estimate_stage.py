"""The estimate stage: every method for every outcome (and subgroup), as rows of estimates.csv.

DESIGN sections 4 and 5. For each outcome the analysed population is the cohort clients whose
outcome is measured (results/cohort/outcome_flow.csv says who is not). On that population:

- the confounder design (:func:`deepvalue.design.covariate_design`) is rebuilt, and the
  propensity score is refitted, so the weighting estimators' stacked (M-estimation) standard
  errors rest on the logit MLE of exactly the rows they use;
- the matched sample is the match stage's (matching on the whole cohort, exact within service),
  restricted to clients with the outcome measured;
- a method that cannot be applied (a weak or absent instrument, a non-binary outcome for the
  logit, too few clients in a subgroup) gives a row with empty numbers and the reason in
  ``notes``, never a missing row.

Method names: naive, regression, logit_ame, psm, ipw, aipw, overlap, iv, dose_response (and
dowhy_* from :mod:`deepvalue.dowhy_checks`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import estimators as est
from .design import STRUCTURAL, covariate_design
from .errors import AnalysisError, ConfigError, Problem, did_you_mean
from .keys import codes as keys_codes
from .keys import positions_in
from .propensity import fit_propensity

log = logging.getLogger("deepvalue")

METHODS = ("naive", "regression", "logit_ame", "psm", "ipw", "aipw", "overlap", "iv", "dose_response")


@dataclasses.dataclass(frozen=True)
class Roles:
    """Which columns of the analysis table play which part (the pipeline's cohort by default).

    ``deepvalue estimate`` on an analyst's own table names its own: no structural columns, its
    cluster column (or none), no instrument or index unless given.
    """

    cluster: str | None = "primary_worker"
    instrument: str | None = "first_worker_left"
    index: str | None = None  # None: the config's exposure index
    structural: tuple[str, ...] = STRUCTURAL
SCALES = {"binary": "risk_difference", "continuous": "mean_difference", "count": "mean_difference"}


def _named(method: str, row: est.EffectEstimate) -> est.EffectEstimate:
    return dataclasses.replace(row, method=method)


def _attempt(method: str, estimand: str, outcome: str, scale: str, subgroup: str,
             fn: Callable[[], est.EffectEstimate], n_t: int, n_c: int) -> est.EffectEstimate:
    """Run one estimator; a data problem becomes a row that says why (and a log line)."""
    try:
        return _named(method, fn())
    except AnalysisError as exc:
        reason = "; ".join(p.message for p in exc.problems) or str(exc)
        log.warning("%s %s %s%s: not estimated: %s", outcome, method, estimand,
                    f" ({subgroup})" if subgroup else "", reason)
        return est.skipped_estimate(outcome, method, estimand, scale, reason, n_treated=n_t, n_control=n_c,
                                    subgroup=subgroup)


def estimate_outcome(rows: pd.DataFrame, spec: dict, cfg: dict, matched: pd.DataFrame | None,
                     subgroup: str = "", methods: Sequence[str] = METHODS,
                     roles: Roles = Roles()) -> list[est.EffectEstimate]:
    """All configured methods for one outcome on one population (the whole cohort or a subgroup).

    Parameters
    ----------
    rows
        Cohort rows with the outcome measured (and in the subgroup).
    spec
        The outcome's config entry (name, type, follow_up_days).
    cfg
        The validated config (covariates, propensity, matching, exposure).
    matched
        The match stage's matched clients (client_id, treatment, subclass, weight) or None.
    """
    name, kind = spec["name"], spec["type"]
    scale = SCALES[kind]
    y = rows[name].to_numpy(dtype=float)
    d = rows["treatment"].to_numpy(dtype=float)
    n_t, n_c = int((d == 1).sum()), int((d == 0).sum())
    design = covariate_design(rows, cfg["covariates"], structural=roles.structural)
    X = design.X
    cluster = _cluster_codes(rows[roles.cluster]) if roles.cluster else None
    out: list[est.EffectEstimate] = []

    def add(method: str, estimand: str, fn: Callable[[], est.EffectEstimate]) -> None:
        if method in methods:
            out.append(_attempt(method, estimand, name, scale, subgroup, fn, n_t, n_c))

    kw = dict(outcome=name, subgroup=subgroup)
    add("naive", "ATE", lambda: est.naive_difference(y, d, scale=scale, **kw))
    for estimand in ("ATT", "ATE"):
        add("regression", estimand,
            lambda e=estimand: est.regression_adjustment(y, d, X, cluster, e, scale=scale, **kw))
    if kind == "binary":
        add("logit_ame", "ATT", lambda: est.logit_ame(y, d, X, cluster, "ATT", **kw))
    if "psm" in methods:
        add("psm", "ATT", lambda: _psm(rows, y, d, matched, cfg, scale, kw))

    ps = None
    if any(m in methods for m in ("ipw", "aipw", "overlap")):
        prop = cfg.get("propensity") or {}
        try:
            ps = fit_propensity(X, d.astype(int), penalty=prop.get("penalty", "none"), C=prop.get("C", 1.0)).score
        except AnalysisError as exc:
            reason = "propensity model: " + "; ".join(p.message for p in exc.problems)
            for method, estimand in (("ipw", "ATT"), ("ipw", "ATE"), ("aipw", "ATT"), ("aipw", "ATE"),
                                     ("overlap", "ATO")):
                if method in methods:
                    out.append(est.skipped_estimate(name, method, estimand, scale, reason, n_treated=n_t,
                                                    n_control=n_c, subgroup=subgroup))
    if ps is not None:
        for estimand in ("ATT", "ATE"):
            add("ipw", estimand, lambda e=estimand: est.ipw(y, d, ps, e, X, cluster=cluster, scale=scale, **kw))
        for estimand in ("ATT", "ATE"):
            add("aipw", estimand,
                lambda e=estimand: est.aipw(y, d, X, ps, e, ps_design=X, cluster=cluster, scale=scale, **kw))
        add("overlap", "ATO", lambda: est.overlap_weighted(y, d, ps, X, cluster=cluster, scale=scale, **kw))

    if "iv" in methods:
        out.append(_iv(rows, roles.instrument, y, d, X, cluster, name, scale, subgroup, n_t, n_c))
    index = roles.index or (cfg.get("exposure") or {}).get("index")
    if index and index in rows:
        add("dose_response", "ATE",
            lambda: est.dose_response(y, rows[index].to_numpy(dtype=float), X, cluster, 0.1, d=d,
                                      index_name=index, **kw))
    return out


def _cluster_codes(column: pd.Series) -> np.ndarray:
    """Integer codes of the cluster ids (hashed once per population, in arrow, not per method).

    Missing ids keep the column itself, so each estimator reports them with its own message.
    """
    codes = keys_codes(column.array)
    return column.to_numpy() if (codes < 0).any() else codes


def _psm(rows, y, d, matched, cfg, scale, kw) -> est.EffectEstimate:
    if matched is None or len(matched) == 0:
        raise AnalysisError([est.Problem("match", None, "no matched sample", "run the match stage")])
    # a hash join in arrow: pandas' isin/loc on arrow strings goes through Python objects
    pos = positions_in(rows["client_id"].array, matched["client_id"].array)
    in_set = pos >= 0
    weights = np.zeros(len(rows))
    weights[in_set] = matched["weight"].to_numpy(dtype=float)[pos[in_set]]
    subclass = np.full(len(rows), -1, dtype=np.int64)
    subclass[in_set] = matched["subclass"].to_numpy(dtype=np.int64)[pos[in_set]]
    replace = bool((cfg.get("matching") or {}).get("replace", False))
    row = est.matched_regression(y, d, weights, subclass, replace, scale=scale, **kw)
    note = "ATT of the matched treated clients (unmatched treated are left out; see results/match/flow.csv)"
    return dataclasses.replace(row, notes="; ".join(n for n in (row.notes, note) if n))


def _iv(rows, instrument, y, d, X, cluster, name, scale, subgroup, n_t, n_c) -> est.EffectEstimate:
    if not instrument or instrument not in rows:
        return est.skipped_estimate(name, "iv", "LATE", scale, "no instrument given", n_treated=n_t,
                                    n_control=n_c, subgroup=subgroup)
    z = rows[instrument]
    known = z.notna().to_numpy()
    if not known.any():
        return est.skipped_estimate(name, "iv", "LATE", scale,
                                    "no instrument: the extract has no workers table with leaving dates",
                                    n_treated=n_t, n_control=n_c, subgroup=subgroup)
    zf = z.astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    try:
        first = est.iv_first_stage(d, zf, X, cluster, y=y, subgroup=subgroup)
        if est.weak_instrument(first):
            return est.skipped_estimate(name, "iv", "LATE", scale, f"weak instrument: {first.describe()}",
                                        n_treated=n_t, n_control=n_c, subgroup=subgroup)
        return _named("iv", est.iv_2sls(y, d, zf, X, cluster, outcome=name, subgroup=subgroup, scale=scale))
    except AnalysisError as exc:
        reason = "; ".join(p.message for p in exc.problems)
        return est.skipped_estimate(name, "iv", "LATE", scale, reason, n_treated=n_t, n_control=n_c,
                                    subgroup=subgroup)


def subgroup_populations(rows: pd.DataFrame, columns: Sequence[str]) -> list[tuple[str, pd.DataFrame]]:
    """(label, rows) for each level of each subgroup column, e.g. ("service=employment", ...)."""
    out = []
    for column in columns:
        for level in sorted(rows[column].dropna().unique()):
            out.append((f"{column}={level}", rows.loc[rows[column] == level]))
    return out


def run_estimates(analysis: pd.DataFrame, cfg: dict, matched: pd.DataFrame | None,
                  methods: Sequence[str] = METHODS, subgroups: Sequence[str] | None = None,
                  roles: Roles = Roles()) -> pd.DataFrame:
    """estimates.csv for every configured outcome: whole cohort, then each subgroup level.

    A subgroup column with a single level in an outcome's population (service for an outcome
    recorded by one service only) adds nothing and is skipped for that outcome.
    """
    if subgroups is None:
        subgroups = (cfg.get("estimation") or {}).get("subgroups", ["service"])
    absent = [c for c in subgroups if c not in analysis.columns]
    if absent:
        raise ConfigError([Problem("config", "estimation.subgroups", f"not a column of the analysis table: {c!r}",
                                   f"{did_you_mean(c, analysis.columns)}use service, site, start_quarter or a "
                                   "covariate name") for c in absent], headline="the configuration is invalid")
    if matched is not None and pc.count_distinct(pa.array(matched["client_id"].array)).as_py() < len(matched):
        raise AnalysisError([Problem("match", "client_id", "the matched sample lists a client twice",
                                     "rerun the match stage (it writes one row per matched client)")],
                            headline="the matched sample is not one row per client")
    rows: list[est.EffectEstimate] = []
    for spec in cfg["outcomes"]:
        measured = analysis.loc[analysis[spec["name"]].notna()].reset_index(drop=True)
        if measured.empty:
            log.warning("%s: no client has this outcome measured; no estimates", spec["name"])
            continue
        rows += estimate_outcome(measured, spec, cfg, matched, "", methods, roles)
        for label, sub in subgroup_populations(measured, [c for c in subgroups
                                                          if measured[c].nunique() > 1]):
            rows += estimate_outcome(sub.reset_index(drop=True), spec, cfg, matched, label, methods, roles)
    return est.estimates_frame(rows)


def compare_with_truth(estimates: pd.DataFrame, truth: dict) -> pd.DataFrame:
    """Whole-cohort ATT and ATE rows next to the synthetic truth: error, and whether the CI covers it."""
    rows = estimates[(estimates["subgroup"] == "") & estimates["estimand"].isin(["ATT", "ATE"])
                     & estimates["estimate"].notna()].copy()
    rows["truth"] = [truth.get(o, {}).get(e.lower(), np.nan) for o, e in zip(rows["outcome"], rows["estimand"])]
    rows = rows[rows["truth"].notna() & (rows["method"] != "dose_response")]
    rows["error"] = rows["estimate"] - rows["truth"]
    rows["error_in_se"] = rows["error"] / rows["std_error"]
    rows["covered"] = (rows["ci_lower"] <= rows["truth"]) & (rows["truth"] <= rows["ci_upper"])
    return rows[["outcome", "method", "estimand", "estimate", "std_error", "ci_lower", "ci_upper", "truth", "error",
                 "error_in_se", "covered"]].reset_index(drop=True)


@contextlib.contextmanager
def _quiet_dowhy():
    """DoWhy prints regression formulas to stdout and logs each step at INFO: keep the run's log
    readable (its warnings still come through)."""
    level = logging.getLogger("dowhy").level
    logging.getLogger("dowhy").setLevel(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        logging.getLogger("dowhy").setLevel(level)


def _dowhy_settings(cfg: dict) -> dict:
    from .dowhy_checks import BOOTSTRAP_MAX_ROWS, BOOTSTRAP_REPLICATES

    settings = ((cfg.get("estimation") or {}).get("dowhy") or {})
    return {"enabled": settings.get("enabled", True), "max_rows": settings.get("max_rows"),
            "bootstrap_replicates": settings.get("bootstrap_replicates", BOOTSTRAP_REPLICATES),
            "bootstrap_max_rows": settings.get("bootstrap_max_rows", BOOTSTRAP_MAX_ROWS)}


def bootstrap_rows(analysis: pd.DataFrame, cfg: dict, job: int = 0, jobs: int = 1) -> pd.DataFrame:
    """Job `job` of `jobs`: its share of DoWhy's bootstrap replicates, for every outcome.

    An outcome DoWhy cannot be run on gives no rows here (the estimates job says why).
    """
    from .dowhy_checks import REPLICATE_COLUMNS, dowhy_bootstrap_replicates, replicate_range

    settings = _dowhy_settings(cfg)
    numbers = replicate_range(settings["bootstrap_replicates"], jobs, job)
    parts = [pd.DataFrame(columns=REPLICATE_COLUMNS).astype({"replicate": "int64", "estimate": float})]
    if settings["enabled"] and len(numbers):
        for spec in cfg["outcomes"]:
            try:
                with _quiet_dowhy():
                    parts.append(dowhy_bootstrap_replicates(
                        analysis, spec["name"], cfg["covariates"], cfg["seed"], numbers,
                        max_rows=settings["max_rows"], bootstrap_max_rows=settings["bootstrap_max_rows"]))
            except AnalysisError:
                continue
    return pd.concat(parts, ignore_index=True)


def dowhy_rows(analysis: pd.DataFrame, cfg: dict, replicates: pd.DataFrame | None = None) -> pd.DataFrame:
    """DoWhy's three estimates per outcome (whole cohort), in the estimates.csv format.

    ``replicates``: the bootstrap replicates from the :func:`bootstrap_rows` jobs (None: made here).
    """
    from .dowhy_checks import dowhy_estimates

    settings = _dowhy_settings(cfg)
    rows: list[est.EffectEstimate] = []
    if not settings["enabled"]:
        return est.estimates_frame(rows)
    fields = {f.name for f in dataclasses.fields(est.EffectEstimate)}
    for spec in cfg["outcomes"]:
        scale = SCALES[spec["type"]]
        try:
            with _quiet_dowhy():
                found = dowhy_estimates(analysis, spec["name"], cfg["covariates"], cfg["seed"],
                                        max_rows=settings["max_rows"],
                                        bootstrap_replicates=settings["bootstrap_replicates"],
                                        bootstrap_max_rows=settings["bootstrap_max_rows"],
                                        replicates=replicates)
        except AnalysisError as exc:
            reason = "; ".join(p.message for p in exc.problems)
            log.warning("%s: DoWhy estimates not made: %s", spec["name"], reason)
            found = [{"outcome": spec["name"], "method": m, "estimand": e, "skip": reason}
                     for m, e in (("dowhy_regression", "ATE"), ("dowhy_psm", "ATT"), ("dowhy_ipw", "ATE"))]
        for item in found:
            if "skip" in item:
                rows.append(est.skipped_estimate(item["outcome"], item["method"], item["estimand"], scale,
                                                 item["skip"]))
            else:
                rows.append(est.EffectEstimate(**{k: v for k, v in item.items() if k in fields}, scale=scale))
    return est.estimates_frame(rows)


REFUTATION_COLUMNS = ["outcome", "refuter", "estimate", "new_effect", "p_value", "passed", "reading", "n_used",
                      "simulations"]


def refutation_rows(analysis: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """DoWhy's refuters of the primary (regression) estimate for each outcome."""
    from .dowhy_checks import dowhy_refutations

    settings = ((cfg.get("estimation") or {}).get("dowhy") or {})
    if not settings.get("enabled", True):
        return pd.DataFrame(columns=REFUTATION_COLUMNS)
    parts = []
    for spec in cfg["outcomes"]:
        try:
            with _quiet_dowhy():
                parts.append(dowhy_refutations(analysis, spec["name"], cfg["covariates"], cfg["seed"],
                                               max_rows=settings.get("refutation_rows", 10000),
                                               simulations=settings.get("simulations", 100)))
        except AnalysisError as exc:
            reason = "; ".join(p.message for p in exc.problems)
            log.warning("%s: refutations not run: %s", spec["name"], reason)
            parts.append(pd.DataFrame([{"outcome": spec["name"], "refuter": "(none)", "reading": reason}]))
    table = pd.concat(parts, ignore_index=True)
    return table[[c for c in REFUTATION_COLUMNS if c in table] + [c for c in table if c not in REFUTATION_COLUMNS]]
