"""The mediation estimator recovers the generator's natural effects (issue 17, item 3): a reduced version of
the 200-seed study in docs/validation.md ("Mediation through the alliance"), for CI.

One extract of 20,000 clients (seed 1) through ingest, the cohort with the alliance and
:func:`deepvalue.effects.mediation.run_mediation`. It fails when the estimator breaks (a wrong product, a
lost interaction, the sign, the population) or the truth does: each effect within 3 SEs of truth.json's
``*_with_mediator`` value, life satisfaction's indirect effect within 3 SEs of 0, and wrong truths (no
indirect effect on wellbeing; the whole effect direct) rejected.
"""

from __future__ import annotations

import pytest

from deepvalue.simulate.mediation_study import mediation_replicate

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def table():
    return mediation_replicate(seed=1, n_clients=20_000).set_index(["outcome", "effect", "estimand"])


@pytest.mark.parametrize("estimand", ["ATE", "ATT"])
def test_effects_within_three_se_of_the_truth(table, estimand):
    for effect in ("total", "natural_direct", "natural_indirect", "proportion_mediated"):
        row = table.loc[("wellbeing", effect, estimand)]
        assert abs(row["estimate"] - row["truth"]) < 3 * row["std_error"], (effect, row.to_dict())
    row = table.loc[("life_satisfaction", "natural_indirect", estimand)]
    assert row["truth"] == 0 and abs(row["estimate"]) < 3 * row["std_error"], row.to_dict()


def test_wrong_truths_are_rejected(table):
    nie = table.loc[("wellbeing", "natural_indirect", "ATE")]
    assert nie["ci_lower"] > 0 and nie["estimate"] > 5 * nie["std_error"]
    total, nde = table.loc[("wellbeing", "total", "ATE")], table.loc[("wellbeing", "natural_direct", "ATE")]
    assert abs(nde["estimate"] - total["truth"]) > 3 * nde["std_error"]  # the alliance carries part of it
    assert (table["n_treated"] > 1000).all() and (table["std_error"] > 0).all()
