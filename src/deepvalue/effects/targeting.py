"""Targeting under a capacity: a depth-2 policy tree on the doubly robust pseudo-outcomes, split-sample.

The value of a policy pi (the probability pi(X) of offering continuity) is estimated by the mean
of pi(X_i) psi_i, psi the doubly robust pseudo-outcome (:mod:`deepvalue.effects.heterogeneity`):
E[pi(X) psi] = E[pi(X) tau(X)] (Athey and Wager 2021, *Econometrica* 89, section 2; Dudik,
Langford and Li 2011). Two policies at the same capacity c differ in value by
mean(psi_i (pi_a(X_i) - pi_b(X_i))), the ``gain``.

- **The rule.** A regression tree of depth 2 (scikit-learn ``DecisionTreeRegressor``) of the
  benefit b = sign * psi on the covariates, sign = +1 when more of the outcome is good and -1 when it
  is a cost (the sign of the values file's unit value), with leaves of at least ``min_leaf``
  clients. Its leaves are ranked by their mean benefit on the training clients (ties: the leaf met
  first in the tree). **Filling a capacity c:** of n clients, c n are offered continuity: whole
  leaves in rank order while they fit, then the marginal leaf's clients each with the probability
  that fills the rest (filling it at random), so pi is 1 in the leaves before it, that probability
  in it, 0 after it, and mean(pi) = c exactly.
- **Splits** (the heterogeneity module's: half of the allocated workers auxiliary, half main). In
  each split the tree is grown on the auxiliary half and its ranking fills c of the main half's
  clients, where the gain is computed; a main client's policy never saw a main client's outcome.
  (Cross-fitting over folds was not used: each fold's policy is trained on the other folds'
  outcomes, which correlates the folds' terms and understates the SE, as for the BLP test.)
- **Comparisons** at each capacity: ``random`` (pi = c for everyone) and ``today`` (today's practice
  at that capacity: the c share of the main half with the highest cross-fitted propensity score,
  i.e. the clients whom the service now most often gives continuity, filled in the same way).
- **Inference.** Per split the SE of the mean of psi_i (pi_rule - pi_comparison) over the main
  half, clustered by allocated worker, the policies held fixed; over splits CDDF's aggregation
  (:func:`deepvalue.effects.heterogeneity.cddf_aggregate`: medians, the median limits of the
  97.5% intervals). ``gain`` is in the outcome's units per client of the outcome's population (a
  fall in crisis contacts is negative), as are its limits.

DoubleML's ``policy_tree`` (a weighted classification tree of sign(psi) with weights |psi|) is not
used: it needs a single repetition and its leaves say treat or not, with no ranking, so it cannot
fill a capacity. The tree printed as a rule is grown on all clients (first repetition's psi).
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd

from deepvalue.effects.base import _variance_of_mean

log = logging.getLogger("deepvalue")

TARGETING_COLUMNS = ["outcome", "capacity", "comparison", "gain", "ci_lower", "ci_upper", "value_gbp"]
RULE_COLUMNS = ["outcome", "leaf", "rank", "rule", "effect", "n", "notes"]
COMPARISONS = ("random", "today")
MIN_LEAF = 20


def grow_tree(X: np.ndarray, benefit: np.ndarray, min_leaf: int, seed: int):
    """The depth-2 regression tree of the benefit on X."""
    from sklearn.tree import DecisionTreeRegressor

    return DecisionTreeRegressor(max_depth=2, min_samples_leaf=min_leaf, random_state=seed).fit(X, benefit)


def fill_capacity(rank_of: np.ndarray, capacity: float) -> np.ndarray:
    """pi for clients whose unit (leaf, or the client itself) has rank ``rank_of`` (0 = first served).

    Whole units in rank order, then the marginal unit's clients each with the probability that
    makes mean(pi) = capacity.
    """
    n = rank_of.size
    sizes = np.bincount(rank_of)
    before = np.concatenate(([0], np.cumsum(sizes)[:-1]))  # clients in the units ranked ahead
    room = capacity * n - before  # places left when a unit's turn comes
    share = np.clip(np.divide(room, sizes, out=np.zeros(sizes.size), where=sizes > 0), 0.0, 1.0)
    return share[rank_of]


def _leaf_ranks(tree, X_train: np.ndarray, b_train: np.ndarray) -> dict[int, int]:
    leaves = tree.apply(X_train)
    ids = np.unique(leaves)
    means = np.array([b_train[leaves == leaf].mean() for leaf in ids])  # at most 4 leaves
    order = np.argsort(-means, kind="stable")
    return {int(ids[j]): r for r, j in enumerate(order)}


def _served_by_rank(score: np.ndarray, capacity: float) -> np.ndarray:
    """pi of the capacity filled in order of a score, highest first (each client its own unit)."""
    order = np.argsort(-score, kind="stable")
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = np.arange(order.size)
    return fill_capacity(rank, capacity)


def policies(
    signal: np.ndarray,
    main: np.ndarray,
    X: np.ndarray,
    propensity: np.ndarray,
    sign: float,
    capacities: tuple[float, ...],
    min_leaf: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(pi_rule, pi_today), each (n_main, n_capacities): the tree grown on the auxiliary half fills the main."""
    aux = ~main
    tree = grow_tree(X[aux], sign * signal[aux], min_leaf, seed)
    ranks = _leaf_ranks(tree, X[aux], sign * signal[aux])
    lookup = np.zeros(tree.tree_.node_count, dtype=np.int64)
    lookup[list(ranks)] = list(ranks.values())
    leaf_rank = lookup[tree.apply(X[main])]
    pi_rule = np.column_stack([fill_capacity(leaf_rank, c) for c in capacities])
    pi_today = np.column_stack([_served_by_rank(propensity[main], c) for c in capacities])
    return pi_rule, pi_today


def targeting_gains(
    signal: np.ndarray,
    X: np.ndarray,
    propensity: np.ndarray,
    cluster: np.ndarray,
    capacities: tuple[float, ...],
    sign: float,
    min_leaf: int,
    n_splits: int,
    seed: int,
) -> list[tuple[float, str, tuple[float, ...]]]:
    """(capacity, comparison, (gain, SE, CI lower, CI upper, p)) for each capacity and comparison."""
    from deepvalue.effects.heterogeneity import cddf_aggregate, split_halves

    masks = split_halves(cluster, n_splits, seed)
    per = {(c, k): [] for c in capacities for k in COMPARISONS}
    for s, main in enumerate(masks):
        r = s % signal.shape[1]
        pi_rule, pi_today = policies(signal[:, r], main, X, propensity[:, r], sign, capacities, min_leaf, seed)
        psi, codes = signal[main, r], np.unique(cluster[main], return_inverse=True)[1]
        for j, c in enumerate(capacities):
            for name, pi_b in (("random", np.full(psi.size, c)), ("today", pi_today[:, j])):
                phi = psi * (pi_rule[:, j] - pi_b)
                gain = float(phi.mean())
                per[(c, name)].append((gain, math.sqrt(_variance_of_mean(phi - gain, codes))))
    return [(c, k, cddf_aggregate(*np.asarray(per[(c, k)]).T)) for c in capacities for k in COMPARISONS]


def rule_text(tree, names: list[str]) -> dict[int, str]:
    """Each leaf's path as a readable condition, e.g. ``n_issues > 2.5 and disability > 0.5``."""
    t = tree.tree_
    paths: dict[int, str] = {}

    def walk(node: int, conds: list[str]) -> None:
        if t.children_left[node] < 0:
            paths[node] = " and ".join(conds) or "everyone"
            return
        name, thr = names[t.feature[node]], t.threshold[node]
        walk(t.children_left[node], [*conds, f"{name} <= {thr:.4g}"])
        walk(t.children_right[node], [*conds, f"{name} > {thr:.4g}"])

    walk(0, [])
    return paths


def rule_table(signal: np.ndarray, X: pd.DataFrame, sign: float, min_leaf: int, seed: int, outcome: str) -> list[dict]:
    """The tree grown on every client (first repetition), one row per leaf in rank order."""
    Xa = X.to_numpy(dtype=float)
    benefit = sign * signal[:, 0]
    tree = grow_tree(Xa, benefit, min_leaf, seed)
    ranks = _leaf_ranks(tree, Xa, benefit)
    text = rule_text(tree, list(X.columns))
    leaves = tree.apply(Xa)
    rows = []
    for leaf, r in sorted(ranks.items(), key=lambda kv: kv[1]):
        inside = leaves == leaf
        rows.append(
            {
                "outcome": outcome,
                "leaf": f"leaf_{r + 1}",
                "rank": r + 1,
                "rule": text[leaf],
                "effect": float(signal[inside, 0].mean()),
                "n": int(inside.sum()),
                "notes": "effect: mean doubly robust pseudo-outcome in the leaf (in-sample, first repetition)",
            }
        )
    return rows


def _run_targeting(analysis: pd.DataFrame, signals: pd.DataFrame, settings, unit_values: dict[str, float]):
    """(targeting table, rules table) for every configured outcome.

    ``unit_values``: per outcome the present value in GBP of one unit of effect per client (the
    value module's unit value, uprated, times its present-value factor and (1 - deadweight)(1 -
    attribution)); an outcome without one gets an empty ``value_gbp`` and sign +1.
    """
    from deepvalue.adjust.design import covariate_design
    from deepvalue.effects.heterogeneity import MIN_WORKERS, _worker_codes, outcome_population, signal_arrays

    cfg = settings.estimation.heterogeneity
    rows: list[dict] = []
    rules: list[dict] = []
    for spec in settings.outcomes:
        arrays = signal_arrays(signals, spec.name)
        unit = unit_values.get(spec.name, math.nan)
        reason = None
        pop = None if arrays is None else outcome_population(analysis, arrays[0])
        if pop is None:
            reason = "not estimated: no dml fit for this outcome (dml not among estimation.methods, or its row skipped)"
        elif len(pop) < 4 * MIN_LEAF:
            reason = f"not estimated: fewer than {4 * MIN_LEAF} clients for a tree grown on half of them"
        elif np.unique(_worker_codes(pop["first_worker"])).size < MIN_WORKERS:
            reason = f"not estimated: fewer than {MIN_WORKERS} allocated workers to split into halves"
        if reason:
            log.info("%s targeting: %s", spec.name, reason)
            for c in cfg.capacities:
                rows += [dict(zip(TARGETING_COLUMNS, (spec.name, c, k, *(math.nan,) * 4))) for k in COMPARISONS]
            rules.append(dict.fromkeys(RULE_COLUMNS, math.nan) | {"outcome": spec.name, "notes": reason})
            continue
        ids, signal, _, propensity = arrays
        design = covariate_design(pop, settings.covariates)
        # a rule can use who the client is and where they are served, not when they started
        X = design.X[[c for c in design.columns if design.source.get(c, c) != "start_quarter"]]
        cluster = _worker_codes(pop["first_worker"])
        sign = -1.0 if math.isfinite(unit) and unit < 0 else 1.0
        min_leaf = max(MIN_LEAF, math.ceil(cfg.min_leaf_share * len(ids) / 2))
        gains = targeting_gains(
            signal,
            X.to_numpy(dtype=float),
            propensity,
            cluster,
            tuple(cfg.capacities),
            sign,
            min_leaf,
            cfg.splits,
            settings.seed,
        )
        for c, name, (g, _, lower, upper, _) in gains:
            value = g * unit if math.isfinite(unit) else math.nan
            rows.append(dict(zip(TARGETING_COLUMNS, (spec.name, c, name, g, lower, upper, value))))
        rules += rule_table(
            signal, X, sign, max(MIN_LEAF, math.ceil(cfg.min_leaf_share * len(ids))), settings.seed, spec.name
        )
    return pd.DataFrame(rows, columns=TARGETING_COLUMNS), pd.DataFrame(rules, columns=RULE_COLUMNS)


def run_targeting(analysis: pd.DataFrame, signals: pd.DataFrame, settings, unit_values: dict[str, float]):
    """:func:`_run_targeting` with BLAS on one thread: the second-stage fits are small (n x p with p about
    25), and a multi-threaded BLAS on a busy machine made each least-squares fit 60 times slower
    (0.33 s against 0.005 s measured here)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        return _run_targeting(analysis, signals, settings, unit_values)
