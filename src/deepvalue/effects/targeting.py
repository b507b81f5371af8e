"""Targeting under a capacity: a depth-2 policy tree on the doubly robust pseudo-outcomes, cross-fitted.

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
- **Cross-fitting.** In each repetition of the dml fit's folds (grouped by allocated worker) the
  tree is grown on the other folds and its ranking applied to the held-out fold, which is filled
  to c of its own clients; a client's policy never saw its outcome.
- **Comparisons** at each capacity: ``random`` (pi = c for everyone) and ``today`` (today's practice
  at that capacity: the c share of each held-out fold with the highest cross-fitted propensity score,
  i.e. the clients whom the service now most often gives continuity, filled in the same way).
- **Inference.** SE of the mean of psi_i (pi_rule - pi_comparison), clustered by allocated worker,
  the policies held fixed (they are out-of-fold); over repetitions DoubleML's median aggregation.
  ``gain`` is in the outcome's units per client of the outcome's population (a fall in crisis
  contacts is negative), as are its limits.

DoubleML's ``policy_tree`` (a weighted classification tree of sign(psi) with weights |psi|) is not
used: it needs a single repetition and its leaves say treat or not, with no ranking, so it cannot
fill a capacity. The tree printed as a rule is grown on all clients (first repetition's psi).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from deepvalue.effects.base import _variance_of_mean, _wald
from deepvalue.effects.heterogeneity import _aggregate

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


def policies(
    signal: np.ndarray,
    folds: np.ndarray,
    X: np.ndarray,
    propensity: np.ndarray,
    sign: float,
    capacity: float,
    min_leaf: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(pi_rule, pi_today) for one repetition: each held-out fold filled to the capacity."""
    pi_rule = np.zeros(signal.size)
    pi_today = np.zeros(signal.size)
    for k in np.unique(folds):
        test = folds == k
        tree = grow_tree(X[~test], sign * signal[~test], min_leaf, seed)
        ranks = _leaf_ranks(tree, X[~test], sign * signal[~test])
        lookup = np.zeros(tree.tree_.node_count, dtype=np.int64)
        lookup[list(ranks)] = list(ranks.values())
        pi_rule[test] = fill_capacity(lookup[tree.apply(X[test])], capacity)
        order = np.argsort(-propensity[test], kind="stable")
        rank = np.empty(order.size, dtype=np.int64)
        rank[order] = np.arange(order.size)
        pi_today[test] = fill_capacity(rank, capacity)
    return pi_rule, pi_today


def targeting_gains(
    signal: np.ndarray,
    folds: np.ndarray,
    X: np.ndarray,
    propensity: np.ndarray,
    cluster: np.ndarray | None,
    capacities: tuple[float, ...],
    sign: float,
    min_leaf: int,
    seed: int,
) -> list[tuple[float, str, float, float]]:
    """(capacity, comparison, gain, SE) for each capacity and comparison, aggregated over repetitions."""
    out = []
    for c in capacities:
        est = {name: [] for name in COMPARISONS}
        ses = {name: [] for name in COMPARISONS}
        for r in range(signal.shape[1]):
            pi_rule, pi_today = policies(signal[:, r], folds[:, r], X, propensity[:, r], sign, c, min_leaf, seed)
            for name, pi_b in (("random", np.full(signal.shape[0], c)), ("today", pi_today)):
                phi = signal[:, r] * (pi_rule - pi_b)
                gain = float(phi.mean())
                est[name].append(gain)
                ses[name].append(math.sqrt(_variance_of_mean(phi - gain, cluster)))
        for name in COMPARISONS:
            g, se = _aggregate(np.asarray(est[name]), np.asarray(ses[name]))
            out.append((c, name, g, se))
    return out


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


def run_targeting(analysis: pd.DataFrame, signals: pd.DataFrame, settings, unit_values: dict[str, float]):
    """(targeting table, rules table) for every configured outcome.

    ``unit_values``: per outcome the present value in GBP of one unit of effect per client (the
    value module's unit value, uprated, times its present-value factor and (1 - deadweight)(1 -
    attribution)); an outcome without one gets an empty ``value_gbp`` and sign +1.
    """
    from deepvalue.adjust.design import covariate_design
    from deepvalue.effects.heterogeneity import outcome_population, signal_arrays
    from deepvalue.effects.table import _cluster_codes

    cfg = settings.estimation.heterogeneity
    rows: list[dict] = []
    rules: list[dict] = []
    for spec in settings.outcomes:
        arrays = signal_arrays(signals, spec.name)
        unit = unit_values.get(spec.name, math.nan)
        if arrays is None:
            for c in cfg.capacities:
                rows += [dict(zip(TARGETING_COLUMNS, (spec.name, c, k, *(math.nan,) * 4))) for k in COMPARISONS]
            reason = "not estimated: no dml fit for this outcome (dml not among estimation.methods, or its row skipped)"
            rules.append(dict.fromkeys(RULE_COLUMNS, math.nan) | {"outcome": spec.name, "notes": reason})
            continue
        ids, signal, folds, propensity = arrays
        pop = outcome_population(analysis, ids)
        design = covariate_design(pop, settings.covariates)
        # a rule can use who the client is and where they are served, not when they started
        X = design.X[[c for c in design.columns if design.source.get(c, c) != "start_quarter"]]
        cluster = _cluster_codes(pop["first_worker"])
        sign = -1.0 if math.isfinite(unit) and unit < 0 else 1.0
        n_train = int(len(ids) * (1 - 1 / max(int(folds[:, 0].max()) + 1, 2)))
        min_leaf = max(MIN_LEAF, math.ceil(cfg.min_leaf_share * n_train))
        gains = targeting_gains(
            signal,
            folds,
            X.to_numpy(dtype=float),
            propensity,
            cluster,
            tuple(cfg.capacities),
            sign,
            min_leaf,
            settings.seed,
        )
        for c, name, g, se in gains:
            lower, upper, _ = _wald(g, se)
            value = g * unit if math.isfinite(unit) else math.nan
            rows.append(dict(zip(TARGETING_COLUMNS, (spec.name, c, name, g, lower, upper, value))))
        rules += rule_table(
            signal, X, sign, max(MIN_LEAF, math.ceil(cfg.min_leaf_share * len(ids))), settings.seed, spec.name
        )
    return pd.DataFrame(rows, columns=TARGETING_COLUMNS), pd.DataFrame(rules, columns=RULE_COLUMNS)
