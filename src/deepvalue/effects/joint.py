"""Joint draws of the estimates across outcomes, subgroups and methods: one multiplier (wild) cluster
bootstrap of the estimators' influence functions, with the same cluster multipliers for every row.

Every influence-function estimator of :mod:`deepvalue.effects` (``regression``, ``poisson_ra``,
``ipw``, ``aipw``, ``overlap``) has, on the scale of a mean over its ``n`` rows,
:math:`\\hat\\theta - \\theta \\approx n^{-1}\\sum_i \\psi_i` and reports the variance
:math:`\\frac{G}{G-1} n^{-2} \\sum_g S_g^2`, :math:`S_g = \\sum_{i \\in g}\\psi_i` over the G clusters
(allocated workers) of its rows (:func:`deepvalue.effects.base._variance_of_mean`). A draw is

.. math::
    \\theta^*_{r,b} = \\hat\\theta_r + \\sqrt{\\tfrac{G_r}{G_r - 1}}\\, n_r^{-1} \\sum_g \\xi_{g,b} S_{g,r}

with one multiplier :math:`\\xi_{g,b}` per cluster and draw, shared by every row r (outcome, subgroup,
method, estimand), standard normal (Gaussian multiplier bootstrap: Chernozhukov, Chetverikov and Kato
2013, Ann. Statist. 41(6), the bootstrap of Romano-Wolf's stepdown in DoubleML's ``bootstrap``) or
Rademacher (the wild cluster bootstrap of Cameron, Gelbach and Miller 2008). Then
:math:`E^*[(\\theta^*_r - \\hat\\theta_r)^2]` is exactly the row's squared SE, and the covariance of
two rows is that of their influence functions summed within shared clusters: the correlation that
clients (and workers) common to two outcomes or methods give them, without re-estimating anything.
The propensity and outcome models' estimation is inside each ``psi`` (the stacked corrections), so a
draw accounts for it as the SE does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from deepvalue.core.errors import AnalysisError, Problem
from deepvalue.core.settings import Settings
from deepvalue.effects.base import Influence, collect_influence
from deepvalue.effects.table import Roles, run_estimates

log = logging.getLogger("deepvalue")

#: The methods whose estimators expose an influence function (the ones the draws can cover).
INFLUENCE_METHODS = ("regression", "poisson_ra", "ipw", "aipw", "overlap")
JOINT_COLUMNS = ("outcome", "subgroup", "method", "estimand", "scale", "draw", "estimate")
KEYS = ["outcome", "subgroup", "method", "estimand", "scale"]
MULTIPLIERS = ("normal", "rademacher")


@dataclass(frozen=True)
class ClusterSums:
    """The rows' influence functions summed by cluster: ``sums`` is G x R (G clusters of the cohort),
    ``scale`` the per-row factor :math:`\\sqrt{G_r/(G_r-1)}/n_r` (1/n_r unclustered)."""

    keys: pd.DataFrame  # outcome, subgroup, method, estimand, scale, estimate, std_error: one row per column of sums
    sums: np.ndarray
    scale: np.ndarray


def cluster_sums(records: Sequence[Influence], cluster_of: pd.Series) -> ClusterSums:
    """Sum each record's ``psi`` within the clusters of its clients.

    ``cluster_of``: integer cluster code (0..G-1) indexed by client id, for every client of the
    cohort. A record whose estimator was not clustered gets each client as its own cluster and no
    G/(G-1) factor, as its SE has (then G is the number of clients).
    """
    codes_all = cluster_of.to_numpy(dtype=np.int64)
    n_groups = int(codes_all.max()) + 1 if codes_all.size else 0
    clustered = [r.clustered for r in records]
    if records and not all(clustered):
        if any(clustered):
            raise ValueError("records mix clustered and unclustered SEs; fix: estimate them with one cluster rule")
        codes_all = np.arange(len(cluster_of), dtype=np.int64)
        n_groups = len(cluster_of)
    where = pd.Index(cluster_of.index)
    sums = np.zeros((n_groups, len(records)))
    scale = np.zeros(len(records))
    for j, rec in enumerate(records):
        pos = where.get_indexer(rec.clients)
        if (pos < 0).any():
            raise ValueError(f"{rec.outcome} {rec.method}: {int((pos < 0).sum())} clients without a cluster")
        codes = codes_all[pos]
        sums[:, j] = np.bincount(codes, weights=rec.psi, minlength=n_groups)
        n = rec.psi.size
        g = int(np.unique(codes).size)
        scale[j] = (np.sqrt(g / (g - 1)) if rec.clustered and not rec.cr2 else 1.0) / n
    keys = pd.DataFrame(
        {
            "outcome": [r.outcome for r in records],
            "subgroup": [r.subgroup for r in records],
            "method": [r.method for r in records],
            "estimand": [r.estimand for r in records],
            "scale": [r.scale for r in records],
            "estimate": [r.estimate for r in records],
            "std_error": [r.std_error for r in records],
        }
    )
    return ClusterSums(keys, sums, scale)


def multiplier_draws(found: ClusterSums, draws: int, seed: int, multipliers: str = "normal") -> np.ndarray:
    """B x R joint draws of the rows' estimates (formula in the module docstring).

    The multipliers are drawn in blocks of draws (a G x 100 block at a time), so memory stays
    O(G x 100 + B x R) at any number of clusters; the values do not depend on the block size.
    """
    if multipliers not in MULTIPLIERS:
        raise ValueError(f"multipliers: {multipliers!r}; fix: use one of {', '.join(MULTIPLIERS)}")
    rng = np.random.default_rng(seed)
    g, r = found.sums.shape
    weighted = found.sums * found.scale  # G x R
    out = np.empty((draws, r))
    block = 100
    for start in range(0, draws, block):
        b = min(block, draws - start)
        if multipliers == "normal":
            xi = rng.standard_normal((b, g))
        else:
            xi = rng.integers(0, 2, size=(b, g)) * 2.0 - 1.0
        out[start : start + b] = xi @ weighted
    return out + found.keys["estimate"].to_numpy()


def influence_records(
    analysis: pd.DataFrame,
    settings: Settings,
    propensity: pd.DataFrame | None,
    methods: Sequence[str],
    subgroups: Sequence[str],
    cluster: str | None = "first_worker",
) -> tuple[pd.DataFrame, list[Influence]]:
    """The estimates of ``methods`` (as :func:`run_estimates` makes them) and their influence functions."""
    records: list[Influence] = []
    with collect_influence(records.append):
        table = run_estimates(
            analysis, settings, propensity, methods=methods, subgroups=subgroups, roles=Roles(cluster=cluster)
        )
    return table, records


def joint_draws(
    analysis: pd.DataFrame,
    settings: Settings,
    propensity: pd.DataFrame | None,
    draws: int,
    seed: int,
    methods: Sequence[str] = INFLUENCE_METHODS,
    multipliers: str = "normal",
    cluster: str | None = "first_worker",
) -> pd.DataFrame:
    """``results/joint_draws.parquet``: B joint draws of every influence-function estimate, long format
    (columns :data:`JOINT_COLUMNS`, ``draw`` 0..B-1), rows in the order of ``estimates.csv``.

    Reads the settings' ``outcomes``, ``questionnaires`` (their points, baseline_sd and share rows get
    draws too: effects.questionnaire names their influence records as the published rows),
    ``covariates``, ``propensity``, ``weighting`` and
    ``estimation.subgroups``/``min_rows_per_parameter``/``min_events_per_arm``. Estimates that are
    skipped (too few clients, no variation) have no draws. Deterministic for a given ``seed``.
    """
    chosen = [m for m in methods if m in INFLUENCE_METHODS]
    _, records = influence_records(analysis, settings, propensity, chosen, settings.estimation.subgroups, cluster)
    if not records:
        return pd.DataFrame({c: pd.Series(dtype=float if c == "estimate" else str) for c in JOINT_COLUMNS}).astype(
            {"draw": "int64"}
        )
    if cluster is not None and cluster in analysis:
        labels = analysis[cluster]
        if labels.isna().any():
            raise AnalysisError(
                [
                    Problem(
                        "analysis",
                        cluster,
                        f"missing for {int(labels.isna().sum())} clients",
                        "every client needs an allocated worker",
                    )
                ]
            )
        codes = pd.Series(pd.factorize(labels.to_numpy())[0], index=analysis["client_id"].to_numpy())
    else:
        codes = pd.Series(np.arange(len(analysis)), index=analysis["client_id"].to_numpy())
    found = cluster_sums(records, codes)
    values = multiplier_draws(found, draws, seed, multipliers)  # B x R
    r = values.shape[1]
    keys = found.keys.loc[np.repeat(np.arange(r), draws), KEYS]
    out = keys.reset_index(drop=True)
    out["draw"] = np.tile(np.arange(draws, dtype=np.int64), r)
    out["estimate"] = values.T.reshape(-1)
    log.info("joint draws: %d estimates x %d draws over %d clusters", r, draws, found.sums.shape[0])
    return out


def draws_matrix(draws: pd.DataFrame) -> pd.DataFrame:
    """The long draws as a B x R frame, one column per (outcome, subgroup, method, estimand, scale)."""
    return draws.pivot_table(index="draw", columns=KEYS, values="estimate", sort=False)
