"""DoWhy's rows: its estimates (with bootstrap SEs from the replicate jobs) and its refutations of
the primary regression estimate, one table per workflow rule (estimate_dowhy, dowhy_bootstrap,
refute_effects).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging

import pandas as pd

from deepvalue.core.errors import AnalysisError
from deepvalue.core.settings import Settings
from deepvalue.effects.base import EffectEstimate, estimates_frame, skipped_estimate
from deepvalue.effects.table import SCALES, outcome_without_variation

log = logging.getLogger("deepvalue")


def _degenerate(analysis: pd.DataFrame, spec, settings: Settings) -> str | None:
    """Why DoWhy is not run on this outcome (no variation in an arm), as for our estimators."""
    rows = analysis[analysis[spec.name].notna()]
    return outcome_without_variation(
        rows[spec.name].to_numpy(dtype=float),
        rows["treatment"].to_numpy(dtype=float),
        spec.type,
        settings.estimation.min_events_per_arm,
    )


@contextlib.contextmanager
def _silent_dowhy_output():
    """DoWhy prints regression formulas to stdout and logs each step at INFO: keep the run's log
    readable (its warnings still come through)."""
    level = logging.getLogger("dowhy").level
    logging.getLogger("dowhy").setLevel(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        logging.getLogger("dowhy").setLevel(level)


def bootstrap_rows(analysis: pd.DataFrame, settings: Settings, job: int = 0, jobs: int = 1) -> pd.DataFrame:
    """Job `job` of `jobs`: its share of DoWhy's bootstrap replicates, for every outcome.

    An outcome DoWhy cannot be run on gives no rows here (the estimates job says why).
    """
    from deepvalue.robustness.dowhy import REPLICATE_COLUMNS, dowhy_bootstrap_replicates, replicate_range

    dowhy = settings.estimation.dowhy
    numbers = replicate_range(dowhy.bootstrap_replicates, jobs, job)
    parts = [pd.DataFrame(columns=REPLICATE_COLUMNS).astype({"replicate": "int64", "estimate": float})]
    if dowhy.enabled and len(numbers):
        for spec in settings.outcomes:
            if _degenerate(analysis, spec, settings):
                continue
            try:
                with _silent_dowhy_output():
                    parts.append(
                        dowhy_bootstrap_replicates(
                            analysis,
                            spec.name,
                            settings.covariates,
                            settings.seed,
                            numbers,
                            max_rows=dowhy.max_rows,
                            bootstrap_max_rows=dowhy.bootstrap_max_rows,
                        )
                    )
            except AnalysisError:
                continue
    return pd.concat(parts, ignore_index=True)


def dowhy_rows(analysis: pd.DataFrame, settings: Settings, replicates: pd.DataFrame | None = None) -> pd.DataFrame:
    """DoWhy's three estimates per outcome (whole cohort), in the estimates.csv format.

    ``replicates``: the bootstrap replicates from the :func:`bootstrap_rows` jobs (None: made here).
    """
    from deepvalue.robustness.dowhy import dowhy_estimates

    dowhy = settings.estimation.dowhy
    rows: list[EffectEstimate] = []
    if not dowhy.enabled:
        return estimates_frame(rows)
    fields = {f.name for f in dataclasses.fields(EffectEstimate)}
    for spec in settings.outcomes:
        scale = SCALES[spec.type]
        reason = _degenerate(analysis, spec, settings)
        if reason:
            for m, e in (("dowhy_regression", "ATE"), ("dowhy_psm", "ATT"), ("dowhy_ipw", "ATE")):
                rows.append(skipped_estimate(spec.name, m, e, scale, reason))
            continue
        try:
            with _silent_dowhy_output():
                found = dowhy_estimates(
                    analysis,
                    spec.name,
                    settings.covariates,
                    settings.seed,
                    max_rows=dowhy.max_rows,
                    bootstrap_replicates=dowhy.bootstrap_replicates,
                    bootstrap_max_rows=dowhy.bootstrap_max_rows,
                    replicates=replicates,
                )
        except AnalysisError as exc:
            reason = "; ".join(p.message for p in exc.problems)
            log.warning("%s: DoWhy estimates not made: %s", spec.name, reason)
            found = [
                {"outcome": spec.name, "method": m, "estimand": e, "skip": reason}
                for m, e in (("dowhy_regression", "ATE"), ("dowhy_psm", "ATT"), ("dowhy_ipw", "ATE"))
            ]
        for item in found:
            if "skip" in item:
                rows.append(skipped_estimate(item["outcome"], item["method"], item["estimand"], scale, item["skip"]))
            else:
                rows.append(EffectEstimate(**{k: v for k, v in item.items() if k in fields}, scale=scale))
    return estimates_frame(rows)


REFUTATION_COLUMNS = [
    "outcome",
    "refuter",
    "estimate",
    "new_effect",
    "p_value",
    "passed",
    "reading",
    "n_used",
    "simulations",
    "engine",
]


def refutation_rows(analysis: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """DoWhy's refuters of the primary (regression) estimate for each outcome.

    ``estimation.dowhy.refuters``: ``own`` (the default) computes DoWhy's algorithms with the same
    draws by vectorised least squares (:mod:`deepvalue.robustness.refuters`, equal to DoWhy's to
    rounding, about 30-100x faster); ``dowhy`` calls DoWhy's refuters. The ``engine`` column says which.
    """
    from deepvalue.robustness.dowhy_refuters import dowhy_refutations
    from deepvalue.robustness.refuters import refutations

    dowhy = settings.estimation.dowhy
    refute = refutations if dowhy.refuters == "own" else dowhy_refutations
    if not dowhy.enabled:
        return pd.DataFrame(columns=REFUTATION_COLUMNS)
    parts = []
    for spec in settings.outcomes:
        reason = _degenerate(analysis, spec, settings)
        if reason:
            parts.append(pd.DataFrame([{"outcome": spec.name, "refuter": "(none)", "reading": reason}]))
            continue
        try:
            with _silent_dowhy_output():
                parts.append(
                    refute(
                        analysis,
                        spec.name,
                        settings.covariates,
                        settings.seed,
                        max_rows=dowhy.refutation_rows,
                        simulations=dowhy.simulations,
                    )
                )
        except AnalysisError as exc:
            reason = "; ".join(p.message for p in exc.problems)
            log.warning("%s: refutations not run: %s", spec.name, reason)
            parts.append(pd.DataFrame([{"outcome": spec.name, "refuter": "(none)", "reading": reason}]))
    table = pd.concat(parts, ignore_index=True)
    table["engine"] = "own" if dowhy.refuters == "own" else "dowhy"
    return table[[c for c in REFUTATION_COLUMNS if c in table] + [c for c in table if c not in REFUTATION_COLUMNS]]
