"""truth.json's effects by complexity (deepvalue.synth.truth.true_cate) against the generator's own draws."""

from __future__ import annotations

import numpy as np
import pytest

from deepvalue.synth.clients import _draw_clients
from deepvalue.synth.outcomes import _draw_potential_outcomes
from deepvalue.synth.parameters import TAU_INCOME_COMPLEXITY, TAU_INCOME_GBP
from deepvalue.synth.truth import COMPLEXITY_GRID, true_cate


@pytest.mark.parametrize("outcome", ["job_start", "income_gain_gbp", "crisis_contacts"])
def test_true_cate_is_the_generators_mean_effect_by_fifth_of_complexity(outcome):
    rng = np.random.default_rng(11)
    cl = _draw_clients(rng, 200_000)
    quality = rng.standard_normal(200_000)  # the allocated worker's quality, independent of the client
    po = _draw_potential_outcomes(rng, cl, quality)[outcome]
    keep = po.applies
    effect = (po.mu1 - po.mu0)[keep]
    truth = true_cate(outcome, cl.complexity[keep], cl.site[keep], cl.service[keep])
    fifth = np.searchsorted(np.quantile(cl.complexity[keep], [0.2, 0.4, 0.6, 0.8]), cl.complexity[keep], side="right")
    for g in range(5):
        inside = fifth == g
        se = effect[inside].std() / np.sqrt(inside.sum())
        assert truth[inside].mean() == pytest.approx(effect[inside].mean(), abs=4 * se + 1e-9)


def test_truth_json_gives_the_effects_on_the_complexity_grid():
    from deepvalue.synth.generate import generate_extract

    grid = generate_extract(300, seed=2).truth["dgp"]["effect_by_complexity"]
    assert grid["complexity"] == list(COMPLEXITY_GRID)
    inc = grid["income_gain_gbp"]
    assert inc == pytest.approx([TAU_INCOME_GBP + TAU_INCOME_COMPLEXITY * c for c in COMPLEXITY_GRID], abs=1e-6)
    assert inc[-1] > inc[0]
    # job starts: rises with complexity, then falls as the baseline chance of a job becomes small
    job = grid["job_start"]
    assert job[0] < job[1] < job[2] < job[3] and job[-1] < job[3]
    # crisis contacts: more negative (a larger fall) with complexity, through the baseline rate
    crisis = grid["crisis_contacts"]
    assert all(a > b for a, b in zip(crisis, crisis[1:]))
