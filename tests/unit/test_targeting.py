"""Targeting (deepvalue.effects.targeting): filling a capacity, the gain against a plain re-implementation,
the rule as text, and a rule that beats random allocation when the effect is concentrated."""

from __future__ import annotations

import math

import numpy as np
import pytest

from deepvalue.effects.heterogeneity import split_halves
from deepvalue.effects.targeting import fill_capacity, grow_tree, policies, rule_text, targeting_gains


def test_a_capacity_is_filled_leaf_by_leaf_and_the_marginal_leaf_at_random():
    # leaves of sizes 30 (rank 0), 50 (rank 1), 20 (rank 2); capacity 40% of 100 = 40 places
    rank_of = np.repeat([0, 1, 2], [30, 50, 20])
    pi = fill_capacity(rank_of, 0.4)
    assert np.all(pi[:30] == 1.0)
    assert np.allclose(pi[30:80], 10 / 50)
    assert np.all(pi[80:] == 0.0)
    for c in (0.05, 0.2, 0.33, 0.6, 0.95):
        assert fill_capacity(rank_of, c).mean() == pytest.approx(c, abs=1e-12)


def _world(n=2000, seed=0, concentrated=True):
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.integers(0, 2, n), rng.normal(size=n), rng.normal(size=n)]).astype(float)
    tau = np.where(X[:, 0] == 1, 2.0, 0.0) if concentrated else np.full(n, 1.0)
    signal = (tau + rng.normal(scale=2.0, size=n))[:, None]
    propensity = np.clip(0.5 + 0.1 * X[:, [2]], 0.05, 0.95)
    cluster = rng.integers(0, 80, n)
    return X, signal, propensity, cluster


def test_the_gain_equals_a_plain_loop_over_clients_in_one_split():
    X, signal, propensity, cluster = _world()
    main = split_halves(cluster, 1, seed=4)[0]
    pi_rule, pi_today = policies(signal[:, 0], main, X, propensity[:, 0], 1.0, (0.3,), 40, 0)
    tree = grow_tree(X[~main], signal[~main, 0], 40, 0)
    # the oracle: leaves ranked by their training mean, then clients served one by one
    leaves_aux, leaves_main = tree.apply(X[~main]), tree.apply(X[main])
    means = {leaf: signal[~main, 0][leaves_aux == leaf].mean() for leaf in set(leaves_aux)}
    places = 0.3 * main.sum()
    want = np.zeros(main.sum())
    for leaf in sorted(means, key=lambda lf: -means[lf]):
        members = [i for i in range(main.sum()) if leaves_main[i] == leaf]
        share = min(1.0, max(0.0, places / len(members))) if members else 0.0
        for i in members:
            want[i] = share
        places -= len(members)
    assert np.allclose(pi_rule[:, 0], want, atol=1e-12)
    order = sorted(range(main.sum()), key=lambda i: -propensity[main, 0][i])
    today = np.zeros(main.sum())
    for i in order[: math.floor(0.3 * main.sum())]:
        today[i] = 1.0
    rest = 0.3 * main.sum() - math.floor(0.3 * main.sum())
    today[order[math.floor(0.3 * main.sum())]] = rest
    assert np.allclose(pi_today[:, 0], today, atol=1e-12)


def test_the_rule_beats_random_allocation_when_the_effect_is_concentrated():
    X, signal, propensity, cluster = _world(n=4000, seed=2)
    gains = targeting_gains(signal, X, propensity, cluster, (0.2, 0.4), 1.0, 50, 10, 0)
    by = {(c, k): stats for c, k, stats in gains}
    # the treated-by-X0 half has effect 2: at 20% capacity the rule serves only them, gain = 0.2 * (2 - 1)
    assert by[(0.2, "random")][0] == pytest.approx(0.2, abs=0.08)
    assert by[(0.2, "random")][2] > 0  # CI excludes 0
    assert by[(0.4, "random")][2] > 0


def test_no_gain_over_random_allocation_when_the_effect_is_constant():
    X, signal, propensity, cluster = _world(n=4000, seed=3, concentrated=False)
    gains = targeting_gains(signal, X, propensity, cluster, (0.4,), 1.0, 50, 10, 0)
    g, _, lower, upper, _ = dict(((c, k), s) for c, k, s in gains)[(0.4, "random")]
    assert lower < 0 < upper


def test_the_tree_reads_as_a_rule():
    X, signal, _, _ = _world()
    tree = grow_tree(X, signal[:, 0], 40, 0)
    text = rule_text(tree, ["disability", "age", "n_issues"])
    assert any(t.startswith("disability > 0.5") for t in text.values())
    assert all(" and " in t or t == "everyone" or t.count(" ") == 2 for t in text.values())
