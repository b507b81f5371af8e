"""The generator's scenarios of unmeasured confounding (issue 16): worker_quality and engagement.

References: the scenarios' definitions (deepvalue.synth.scenarios) checked on the written tables,
and the departure truths (itt, late) by hand on a small example.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import deepvalue.synth.generate as generate
from deepvalue.cli import SCENARIOS as CLI_SCENARIOS
from deepvalue.synth.outcomes import _departure_truth
from deepvalue.synth.parameters import SCENARIOS
from deepvalue.synth.scenarios import scenario_shift

N = 4000


@pytest.fixture(scope="module")
def worlds():
    """Each scenario's extract of seed 2, with the latent traits the generator drew (captured)."""
    captured = {}
    original = generate._draw_potential_outcomes

    def capture(rng, cl, quality, effect, engagement=None):
        captured["quality"], captured["engagement"] = quality, engagement
        return original(rng, cl, quality, effect, engagement)

    out = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(generate, "_draw_potential_outcomes", capture)
        for scenario in SCENARIOS:
            extract = generate.generate_extract(N, seed=2, scenario=scenario)
            out[scenario] = (extract, dict(captured))
    return out


def hand_off_rate(contacts: pd.DataFrame) -> pd.Series:
    """Per client: the share of its later contacts with another worker than the contact before."""
    c = contacts.sort_values(["client_id", "contact_date", "contact_id"])
    same_client = c["client_id"].eq(c["client_id"].shift())
    changed = same_client & c["worker_id"].ne(c["worker_id"].shift())
    return changed.groupby(c["client_id"]).sum() / same_client.groupby(c["client_id"]).sum()


def latent_by_client(rate: pd.Series, latent: np.ndarray) -> np.ndarray:
    return latent[rate.index.str[1:].astype(int).to_numpy() - 1]  # client ids are C<number>, from 1


def test_cli_offers_the_generators_scenarios():
    assert CLI_SCENARIOS == SCENARIOS == ("default", "worker_quality", "engagement", "null")


def test_scenario_shift_and_unknown_scenario():
    shift, e = scenario_shift("worker_quality", np.array([1.0, -0.5]), 1)
    np.testing.assert_allclose(shift, [-2.0, 1.0])
    assert e is None
    shift, e = scenario_shift("engagement", np.zeros(3), 5)
    np.testing.assert_allclose(shift, -0.8 * e)
    assert scenario_shift("null", np.zeros(2), 1) == (None, None)
    with pytest.raises(ValueError, match="scenario must be one of"):
        generate.generate_extract(100, scenario="quality")


def test_scenarios_keep_the_calendar_the_allocation_and_the_departures(worlds):
    base = worlds["default"][0]
    for scenario in ("worker_quality", "engagement", "null"):
        ex = worlds[scenario][0]
        pd.testing.assert_frame_equal(ex.clients, base.clients)
        pd.testing.assert_frame_equal(ex.workers, base.workers)
        cols = ["contact_id", "client_id", "contact_date"]
        pd.testing.assert_frame_equal(ex.contacts[cols], base.contacts[cols])
        first = ex.contacts.sort_values(["client_id", "contact_date", "contact_id"]).groupby("client_id").head(1)
        first_base = base.contacts.sort_values(["client_id", "contact_date", "contact_id"]).groupby("client_id").head(1)
        assert first["worker_id"].tolist() == first_base["worker_id"].tolist(), scenario
        for key in ("n_instrument_1", "n_instrument_0"):
            assert ex.truth["first_stage"][key] == base.truth["first_stage"][key], (scenario, key)
    assert worlds["worker_quality"][0].truth["scenario"] == "worker_quality"
    assert "scenario" not in base.truth  # the default truth keeps its keys
    # only the hand-off scenarios move who is seen at later contacts
    assert (worlds["null"][0].contacts["worker_id"] == base.contacts["worker_id"]).all()
    assert (worlds["worker_quality"][0].contacts["worker_id"] != base.contacts["worker_id"]).mean() > 0.1


def test_quality_keeps_clients_only_in_worker_quality(worlds):
    # default: the allocated worker's quality does not move the hand-offs (correlation 0.02 at seed 2)
    rate = hand_off_rate(worlds["default"][0].contacts)
    q = latent_by_client(rate, worlds["default"][1]["quality"])
    assert abs(np.corrcoef(rate.fillna(0), q)[0, 1]) < 0.1
    assert worlds["default"][1]["engagement"] is None
    # worker_quality: -2 log-odds per SD (correlation -0.74 at seed 2; 0 would mean no link)
    rate = hand_off_rate(worlds["worker_quality"][0].contacts)
    q = latent_by_client(rate, worlds["worker_quality"][1]["quality"])
    assert np.corrcoef(rate.fillna(0), q)[0, 1] < -0.5
    assert rate[q > 0].mean() < rate[q <= 0].mean() - 0.3


def test_engagement_keeps_clients_and_is_a_client_trait(worlds):
    ex, latent = worlds["engagement"]
    e = latent["engagement"]
    assert e.shape == (N,)
    assert abs(e.mean()) < 0.05 and abs(e.std() - 1) < 0.05
    rate = hand_off_rate(ex.contacts)
    ee = latent_by_client(rate, e)
    assert np.corrcoef(rate.fillna(0), ee)[0, 1] < -0.3  # -0.49 at seed 2
    # the trait is the client's, not the worker's: the engagement of a worker's clients averages out
    first = ex.contacts.sort_values(["client_id", "contact_date", "contact_id"]).groupby("client_id").head(1)
    by_worker = pd.Series(latent_by_client(first.set_index("client_id")["worker_id"], e), index=first["worker_id"])
    means = by_worker.groupby(level=0).mean()
    sizes = by_worker.groupby(level=0).size()
    # worker means of N(0, 1) draws: z-scores with SD 1 (a worker-level trait would give SD ~ sqrt(size))
    assert (means * np.sqrt(sizes)).std() < 1.3
    # the truth under engagement stays an effect of continuity (the null scenario has none)
    assert ex.truth["outcomes"]["job_start"]["att"] > 0
    assert worlds["null"][0].truth["outcomes"]["job_start"]["att"] == 0


def test_departure_truth_by_hand():
    # five analysed clients, three with a departure in the window (Z = 1); of those, client 0 kept
    # continuity anyway, clients 1 and 2 lost it (D: 1 -> 0); tau = mu1 - mu0
    effect = np.array([0.1, 0.2, 0.4, 0.5, 0.9])
    treated = np.array([True, False, False, True, False])
    stayed = np.array([True, True, True, True, False])
    instrument = np.array([True, True, True, False, False])
    population = np.ones(5, dtype=bool)
    got = _departure_truth(effect, treated, population, instrument, stayed)
    # ITT over Z = 1: (0.1 * 0 + 0.2 * -1 + 0.4 * -1) / 3 = -0.2; LATE: -0.6 / -2 = 0.3
    assert got["itt"] == pytest.approx(-0.2)
    assert got["late"] == pytest.approx(0.3)
    # no client moved by the departure: no LATE
    assert _departure_truth(effect, treated, population, instrument, treated)["late"] is None


def test_departure_truths_in_every_scenario(worlds):
    for scenario, (ex, _) in worlds.items():
        fs = ex.truth["first_stage"]
        # the departure moves continuity one way: the share it cost is near the first-stage difference
        assert 0.1 < fs["share_continuity_lost_instrument_1"] < 0.5, scenario
        for name, t in ex.truth["outcomes"].items():
            if scenario == "null":
                assert t["itt"] == 0 and t["late"] == 0, name
                continue
            # LATE: an average effect of continuity, near the ATE; ITT: that effect times the share moved
            assert t["late"] == pytest.approx(t["ate"], rel=0.25), (scenario, name)
            assert np.sign(t["itt"]) == -np.sign(t["late"]), (scenario, name)
            assert abs(t["itt"]) == pytest.approx(abs(t["late"]) * fs["share_continuity_lost_instrument_1"], rel=0.35)


def test_compare_with_truth_reads_the_departure_truths():
    from deepvalue.effects.table import compare_with_truth

    est = pd.DataFrame(
        {
            "outcome": ["y"] * 3,
            "method": ["iv", "departure_reduced_form", "aipw"],
            "estimand": ["LATE", "ITT", "ATT"],
            "scale": ["mean_difference"] * 3,
            "subgroup": [""] * 3,
            "estimate": [0.5, -0.1, 0.2],
            "std_error": [0.2, 0.05, 0.1],
            "ci_lower": [0.1, -0.2, 0.0],
            "ci_upper": [0.9, 0.0, 0.4],
        }
    )
    got = compare_with_truth(est, {"y": {"att": 0.3, "late": 0.35, "itt": -0.3}}).set_index("method")
    assert got.loc["iv", "truth"] == 0.35 and got.loc["iv", "covered"]
    assert got.loc["departure_reduced_form", "error"] == pytest.approx(0.2)
    assert not got.loc["departure_reduced_form", "covered"]
    assert got.loc["aipw", "covered"]


def test_scenario_comparison_markdown():
    from deepvalue.simulate.study import scenario_comparison_markdown

    def summary(bias, se, sd, cov, rej):
        return pd.DataFrame(
            {
                "outcome": ["y"],
                "method": ["aipw"],
                "estimand": ["ATT"],
                "bias_over_se": [bias],
                "mean_se": [se],
                "sd_estimate": [sd],
                "coverage": [cov],
                "rejects_zero": [rej],
            }
        )

    extra = summary(0.1, 1.0, 1.0, 0.95, 0.05).assign(method="iv", estimand="LATE")
    text = scenario_comparison_markdown(
        {"worker_quality": pd.concat([summary(3.0, 2.0, 2.5, 0.2, 0.9), extra]), "null": summary(0.0, 1, 1, 0.94, 0.06)}
    )
    lines = text.splitlines()
    assert lines[0].startswith("| outcome | method | estimand | worker_quality bias / SE |")
    assert lines[0].endswith("| null rejects 0 | null coverage |")
    assert lines[2] == "| y | aipw | ATT | +3.00 | 0.80 | 0.200 | 0.060 | 0.940 |"
    assert lines[3] == "| y | iv | LATE | +0.10 | 1.00 | 0.950 |  |  |"  # not run under null: empty cells
