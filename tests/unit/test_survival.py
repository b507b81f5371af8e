"""km_ipw (effects/survival.py): the weighted Kaplan-Meier against lifelines, the horizon risk
difference against ipw without censoring, the influence function against finite differences, and
coverage of a known truth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepvalue.adjust.propensity import fit_propensity
from deepvalue.effects.survival import RISK_SCALE, RMST_SCALE, _arm_summary, km_ipw, weighted_kaplan_meier
from deepvalue.effects.weighting import ipw

REFERENCE = Path(__file__).parents[1] / "reference" / "km_ipw"


def _reference():
    data = pd.read_csv(REFERENCE / "data.csv")
    ref = json.loads((REFERENCE / "lifelines.json").read_text())
    return data, ref


def _weights(d, e, estimand):
    return np.where(d == 1, 1.0, e / (1 - e)) if estimand == "ATT" else np.where(d == 1, 1 / e, 1 / (1 - e))


@pytest.mark.parametrize("estimand", ["ATT", "ATE"])
def test_weighted_kaplan_meier_equals_lifelines(estimand):
    """Curve, survival at the horizon and RMST per arm equal lifelines 0.30.3's to 1e-10
    (tests/reference/km_ipw/make_reference.py)."""
    data, ref = _reference()
    T, E, d, e = (data[c].to_numpy(dtype=float) for c in ("duration", "event", "treatment", "ps"))
    w = _weights(d, e, estimand)
    horizon = ref["horizon"]
    for arm, mask in (("treated", d == 1), ("control", d == 0)):
        expected = ref["estimands"][estimand][arm]
        km = weighted_kaplan_meier(T[mask], E[mask], w[mask])
        # lifelines' index holds every distinct duration (0 first); compare at each of them
        np.testing.assert_allclose(km.at(expected["times"]), expected["survival"], rtol=0, atol=1e-10)
        summary = _arm_summary(T[mask], E[mask], w[mask], horizon, arm)
        assert abs((1 - summary.risk) - expected["survival_at_horizon"]) < 1e-10
        assert abs(summary.rmst - expected["rmst"]) < 1e-10 * horizon
    risk, rmst = km_ipw(T, E, d, e, horizon, estimand)
    arms = ref["estimands"][estimand]
    assert risk.scale == RISK_SCALE and rmst.scale == RMST_SCALE
    want = arms["control"]["survival_at_horizon"] - arms["treated"]["survival_at_horizon"]
    assert abs(risk.estimate - want) < 1e-10
    assert abs(rmst.estimate - (arms["treated"]["rmst"] - arms["control"]["rmst"])) < 1e-8


def test_reference_has_censoring_and_ties():
    """The reference data exercise what matters: censoring before the horizon and tied times."""
    data, _ = _reference()
    assert ((data["event"] == 0) & (data["duration"] < 182)).sum() > 50
    assert data.loc[data["event"] == 1, "duration"].duplicated().sum() > 10


def _world(n, seed, censor_share=0.0, horizon=182, effect=-0.5):
    """Covariates, a logit treatment, exponential event days; optional censoring before the horizon.

    Returns the data and the true ATT and ATE of the horizon risk difference and of the RMST
    (numerically, from each unit's two potential survival curves, on the whole-day grid)."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"x1": rng.standard_normal(n), "x2": rng.random(n) < 0.4})
    X["x2"] = X["x2"].astype(float)
    lin = -0.2 + 0.7 * X["x1"].to_numpy() - 0.5 * X["x2"].to_numpy()
    e = 1 / (1 + np.exp(-lin))
    d = (rng.random(n) < e).astype(float)
    base = 0.003 * np.exp(0.6 * X["x1"].to_numpy() + 0.4 * X["x2"].to_numpy())
    rate = {0: base, 1: base * np.exp(effect)}
    u = rng.random(n)
    day = {a: np.ceil(-np.log(u) / r) for a, r in rate.items()}  # coupled potential event days
    t = np.where(d == 1, day[1], day[0])
    censor = np.where(rng.random(n) < censor_share, rng.integers(0, horizon, n), horizon).astype(float)
    T = np.minimum(np.minimum(t, censor), horizon)
    E = ((t <= censor) & (t <= horizon)).astype(float)
    grid = np.arange(horizon)  # S on [k, k+1): P(day > k) = exp(-rate k) for whole days
    truth = {}
    for name, who in (("ATT", d == 1), ("ATE", np.ones(n, dtype=bool))):
        risk = [np.mean(1 - np.exp(-rate[a][who] * horizon)) for a in (0, 1)]
        rmst = [np.mean(np.exp(-np.outer(rate[a][who], grid)).sum(axis=1)) for a in (0, 1)]
        truth[name] = {RISK_SCALE: risk[1] - risk[0], RMST_SCALE: rmst[1] - rmst[0]}
    return X, d, T, E, truth


@pytest.mark.parametrize("leverage", [False, True])
@pytest.mark.parametrize("estimand", ["ATT", "ATE"])
def test_without_censoring_risk_difference_and_se_equal_ipw(estimand, leverage):
    """With no censoring before the horizon the weighted KM incidence is the Hajek mean, so the
    estimate and the stacked SE (clustered; with and without the CR2 adjustment) and the interval
    equal ipw's on the same clients to 1e-10."""
    X, d, T, E, _ = _world(3000, 7)
    ps = fit_propensity(X, d.astype(int)).score
    cluster = np.arange(d.size) % 40
    risk, _ = km_ipw(T, E, d, ps, 182, estimand, X, cluster=cluster, leverage=leverage)
    ref = ipw(E, d, ps, estimand, X, cluster=cluster, leverage=leverage)
    assert abs(risk.estimate - ref.estimate) < 1e-10
    assert abs(risk.std_error - ref.std_error) < 1e-10
    assert abs(risk.ci_lower - ref.ci_lower) < 1e-10
    assert "logit scores stacked" in risk.notes


def test_influence_function_is_the_derivative():
    """The derivatives behind the IF equal central finite differences of the estimator in each
    unit's weight (the slow obvious version), with censoring and ties."""
    data, _ = _reference()
    mask = data["treatment"].to_numpy() == 0
    T, E = data["duration"].to_numpy(float)[mask], data["event"].to_numpy(float)[mask]
    w = 1 + np.random.default_rng(3).random(T.size)
    s = _arm_summary(T, E, w, 182, "control")
    h = 1e-6
    for i in range(0, T.size, 7):
        up, down = w.copy(), w.copy()
        up[i] += h
        down[i] -= h
        a, b = _arm_summary(T, E, up, 182, "control"), _arm_summary(T, E, down, 182, "control")
        assert abs((a.risk - b.risk) / (2 * h) - s.d_risk[i]) < 1e-6
        assert abs((a.rmst - b.rmst) / (2 * h) - s.d_rmst[i]) < 1e-4


@pytest.mark.slow
def test_coverage_of_known_truth():
    """Over 150 worlds with 30% censored before the horizon, the 95% CIs of both scales and
    estimands cover the truth at 0.90-0.99 and the mean SE is within 15% of the SD of estimates
    (Monte Carlo SE of the coverage about 0.018)."""
    rows = []
    for seed in range(150):
        X, d, T, E, truth = _world(1500, 1000 + seed, censor_share=0.3)
        ps = fit_propensity(X, d.astype(int)).score
        for estimand in ("ATT", "ATE"):
            for row in km_ipw(T, E, d, ps, 182, estimand, X):
                target = truth[estimand][row.scale]
                rows.append((estimand, row.scale, row.estimate, row.std_error, row.ci_lower <= target <= row.ci_upper))
    frame = pd.DataFrame(rows, columns=["estimand", "scale", "estimate", "se", "covered"])
    summary = frame.groupby(["estimand", "scale"]).agg(
        coverage=("covered", "mean"), se=("se", "mean"), sd=("estimate", "std")
    )
    assert summary["coverage"].between(0.90, 0.99).all(), summary
    assert ((summary["se"] / summary["sd"]) - 1).abs().max() < 0.15, summary


def test_refuses_bad_events_and_collapsing_survival():
    from deepvalue.core.errors import AnalysisError

    d = np.r_[np.ones(5), np.zeros(5)]
    with pytest.raises(AnalysisError, match="must be 0/1"):
        km_ipw(np.arange(10.0), np.full(10, 2.0), d, np.full(10, 0.5), 30)
    with pytest.raises(AnalysisError, match="reaches 0 before the horizon"):
        km_ipw(np.arange(1.0, 11), np.ones(10), d, np.full(10, 0.5), 30)


def test_figure_steps_hold_at_least_min_cell_events_and_stop_before_small_risk_sets(tmp_path):
    """The km figure's disclosure: each drawn step merges event times until it holds min_cell events;
    the curve stops where fewer than min_cell clients are at risk; the stage writes a PNG."""
    from deepvalue.effects.survival import km_curves
    from deepvalue.effects.survival_figures import disclosed_steps, plot_km_curves

    data, _ = _reference()
    T, E, d, e = (data[c].to_numpy(dtype=float) for c in ("duration", "event", "treatment", "ps"))
    curves = km_curves(T, E, d, e, 182, "ATT")
    for min_cell in (5, 10, 25):
        for arm in ("continuous", "fragmented"):
            c = curves[curves["arm"] == arm]
            times, incidence = disclosed_steps(c, min_cell)
            assert times.size > 1
            cum = np.r_[0, np.cumsum(c["n_events"].to_numpy())]
            at = np.searchsorted(c["time"].to_numpy(), times) + 1
            assert (np.diff(np.r_[0, cum[at]]) >= min_cell).all()
            assert (c.set_index("time").loc[times, "n_at_risk"] >= min_cell).all()
            # the drawn levels are the curve's own at those times
            np.testing.assert_array_equal(incidence, c.set_index("time").loc[times, "cumulative_incidence"])
    assert disclosed_steps(curves[curves["arm"] == "continuous"], 10_000)[0].size == 0
    plot_km_curves(
        [("y", "ATT", 182.0, curves), ("y", "ATE", 182.0, "propensity model: no overlap")], tmp_path / "k.png", 10
    )
    plot_km_curves([], tmp_path / "none.png", 10)
    assert (tmp_path / "k.png").stat().st_size > 0 and (tmp_path / "none.png").stat().st_size > 0


def test_rows_are_skipped_with_the_reason_when_an_arm_has_too_few_events():
    """km_ipw_rows: a population with fewer than min_events_per_arm observed events in an arm gives its
    four rows skipped, each saying why; otherwise four estimated rows on both scales."""
    from deepvalue.core.settings import Settings
    from deepvalue.effects.survival import KM_ROWS, km_ipw_rows

    X, d, T, E, _ = _world(800, 11)
    settings = Settings.from_sections(
        {
            "covariates": [{"name": "x1", "type": "numeric"}, {"name": "x2", "type": "numeric"}],
            "outcomes": [{"name": "y", "type": "binary", "follow_up_days": 182, "recorded": "events"}],
            "propensity": {},
            "weighting": {},
            "estimation": {"min_events_per_arm": 5, "min_rows_per_parameter": 5},
        }
    )
    spec = settings.outcome("y")
    rows = X.assign(client_id=[f"c{i}" for i in range(d.size)], treatment=d, y_days_to_event=T, y_event_observed=E)
    rows["worker"] = np.arange(d.size) % 30
    found = km_ipw_rows(rows, spec, settings, None, "worker", ())
    assert [(r.method, r.estimand, r.scale) for r in found] == list(KM_ROWS)
    assert all(np.isfinite(r.estimate) and r.std_error > 0 for r in found)
    kept = np.flatnonzero((d == 1) & (E == 1))[:3]  # 3 treated events, fewer than 5
    few = rows.assign(y_event_observed=np.where((d == 1) & ~np.isin(np.arange(d.size), kept), 0.0, E))
    skipped = km_ipw_rows(few, spec, settings, None, "worker", ())
    assert [(r.method, r.estimand, r.scale) for r in skipped] == list(KM_ROWS)
    assert all(np.isnan(r.estimate) and r.notes.startswith("skipped: no variation") for r in skipped)
