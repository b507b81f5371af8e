"""Natural direct and indirect effects (deepvalue.effects.mediation) against references: statsmodels OLS by
hand (product of coefficients and the interaction formulas), a plain stacked M-estimation sandwich (the
slow obvious version of the SE), DoWhy's two-stage regression, g-computation, the generator-free
simulated truth, and the bias formula against an omitted confounder."""

from __future__ import annotations

import warnings

import networkx as nx
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from deepvalue.core.config import load_config
from deepvalue.core.errors import ConfigError
from deepvalue.core.settings import Covariate, Questionnaire, Settings
from deepvalue.effects.mediation import (
    EFFECTS,
    MEDIATION_COLUMNS,
    SENSITIVITY_COLUMNS,
    mediation_frame,
    mediation_sensitivity,
    natural_effects,
    run_mediation,
    sensitivity_frame,
)
from deepvalue.publish.disclosure import check_tables


def simulate(n: int, seed: int, interaction: float = 0.3, heterogeneity: float = 0.0, clusters: int = 0):
    """Linear mediation data: C = (x1, x2), D logistic in x1, M = 0.5 + 0.8 D + 0.6 x1 - 0.3 x2 (+ h D x1),
    Y = 1 + 0.4 D + 0.7 M + interaction D M + 0.5 x1 + 0.2 x2 (+ h D x2). Returns the data and the true
    NDE and NIE (ATE: at the population means of x1, x2, both 0)."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=(2, n))
    d = (rng.random(n) < 1 / (1 + np.exp(-0.5 * x1))).astype(float)
    u = rng.normal(size=clusters)[rng.integers(0, clusters, n)] if clusters else 0.0
    m = 0.5 + 0.8 * d + 0.6 * x1 - 0.3 * x2 + heterogeneity * d * x1 + rng.normal(size=n) + u
    y = 1 + 0.4 * d + 0.7 * m + interaction * d * m + 0.5 * x1 + 0.2 * x2 + heterogeneity * d * x2
    y = y + rng.normal(size=n)
    frame = pd.DataFrame({"d": d, "m": m, "y": y, "x1": x1, "x2": x2})
    if clusters:
        frame["cluster"] = rng.integers(0, clusters, n)
    # truth: E[M(0) | c] = 0.5 + 0.6 x1 - 0.3 x2, mean 0.5; NDE = 0.4 + interaction * 0.5; NIE = (0.7 + int) * 0.8
    return frame, 0.4 + interaction * 0.5, (0.7 + interaction) * 0.8


def ols(y, X):
    return np.asarray(sm.OLS(y, sm.add_constant(X, has_constant="add")).fit().params)


# ------------------------------------------------------------------------------------- references


def test_without_interaction_is_the_product_of_statsmodels_coefficients():
    df, _, _ = simulate(1500, 1)
    fit = natural_effects(df.y, df.d, df.m, df[["x1", "x2"]], None, interaction=False, by_covariate=False)
    b = ols(df.m, df[["d", "x1", "x2"]])  # const, d, x1, x2
    t = ols(df.y, df[["d", "m", "x1", "x2"]])  # const, d, m, x1, x2
    assert fit.row("natural_indirect").estimate == pytest.approx(t[2] * b[1], abs=1e-10)
    assert fit.row("natural_direct").estimate == pytest.approx(t[1], abs=1e-10)
    # the total is the coefficient of D without the mediator (OLS algebra: the same covariates)
    assert fit.row("total").estimate == pytest.approx(ols(df.y, df[["d", "x1", "x2"]])[1], abs=1e-10)


@pytest.mark.parametrize("estimand", ["ATE", "ATT"])
def test_with_interaction_matches_the_formulas_on_statsmodels_coefficients(estimand):
    df, _, _ = simulate(1500, 2)
    fit = natural_effects(df.y, df.d, df.m, df[["x1", "x2"]], None, estimand, by_covariate=False)
    b = ols(df.m, df[["d", "x1", "x2"]])
    t = ols(df.y, df.assign(dm=df.d * df.m)[["d", "m", "dm", "x1", "x2"]])
    c = df.loc[df.d == 1, ["x1", "x2"]].mean() if estimand == "ATT" else df[["x1", "x2"]].mean()
    # Valeri and VanderWeele (2013), continuous Y and M, a = 1, a* = 0, at the covariates c
    nde = t[1] + t[3] * (b[0] + b[2] * c["x1"] + b[3] * c["x2"])
    nie = (t[2] + t[3]) * b[1]
    assert fit.row("natural_direct").estimate == pytest.approx(nde, abs=1e-10)
    assert fit.row("natural_indirect").estimate == pytest.approx(nie, abs=1e-10)
    assert fit.row("proportion_mediated").estimate == pytest.approx(nie / (nde + nie), abs=1e-10)


@pytest.mark.parametrize("estimand", ["ATE", "ATT"])
def test_with_covariate_terms_is_g_computation(estimand):
    df, _, _ = simulate(2000, 3, heterogeneity=0.4)
    fit = natural_effects(df.y, df.d, df.m, df[["x1", "x2"]], None, estimand)
    X = df[["x1", "x2"]].to_numpy()
    mm = (
        sm.OLS(df.m, np.column_stack([np.ones(len(df)), df.d, X, df.d.to_numpy()[:, None] * X])).fit().params.to_numpy()
    )
    wy = np.column_stack([np.ones(len(df)), df.d, df.m, df.d * df.m, X, df.d.to_numpy()[:, None] * X])
    ty = sm.OLS(df.y, wy).fit().params.to_numpy()

    def m_hat(d):
        return mm[0] + mm[1] * d + X @ mm[2:4] + d * X @ mm[4:6]

    def y_hat(d, m):
        return ty[0] + ty[1] * d + ty[2] * m + ty[3] * d * m + X @ ty[4:6] + d * X @ ty[6:8]

    # linear in M, so E[Y(d, M(d*)) | c] is the outcome model at the mediator model's mean
    who = df.d.to_numpy() == 1 if estimand == "ATT" else np.ones(len(df), dtype=bool)
    nde = (y_hat(1, m_hat(0)) - y_hat(0, m_hat(0)))[who].mean()
    nie = (y_hat(1, m_hat(1)) - y_hat(1, m_hat(0)))[who].mean()
    assert fit.row("natural_direct").estimate == pytest.approx(nde, abs=1e-8)
    assert fit.row("natural_indirect").estimate == pytest.approx(nie, abs=1e-8)


@pytest.mark.parametrize("by_covariate", [False, True])
@pytest.mark.parametrize("clustered", [False, True])
def test_se_is_the_stacked_sandwich(clustered, by_covariate):
    """The slow obvious version: every estimating equation of both (uncentred) regressions and the covariate
    mean, the sandwich A^-1 B A^-T with A the Jacobian, and the delta method's gradient written out:
    NDE = t1 + t3 (b0 + b2'c) + t5'c, NIE = (t2 + t3)(b1 + b3'c), with b3 = t5 = 0 without D x C terms."""
    df, _, _ = simulate(800, 4, clusters=40 if clustered else 0, heterogeneity=0.3)
    cluster = df["cluster"] if clustered else None
    fit = natural_effects(df.y, df.d, df.m, df[["x1", "x2"]], cluster, by_covariate=by_covariate)
    n = len(df)
    C = df[["x1", "x2"]].to_numpy()
    d, m = df.d.to_numpy(), df.m.to_numpy()
    dc = [d[:, None] * C] if by_covariate else []
    X = np.column_stack([np.ones(n), d, C, *dc])
    W = np.column_stack([np.ones(n), d, m, d * m, C, *dc])
    kx, kw = X.shape[1], W.shape[1]
    b = np.linalg.lstsq(X, m, rcond=None)[0]
    t = np.linalg.lstsq(W, df.y, rcond=None)[0]
    c = C.mean(axis=0)
    scores = np.column_stack([X * (m - X @ b)[:, None], W * (df.y - W @ t).to_numpy()[:, None], C - c])
    k = scores.shape[1]
    A = np.zeros((k, k))
    A[:kx, :kx] = -X.T @ X / n
    A[kx : kx + kw, kx : kx + kw] = -W.T @ W / n
    A[kx + kw :, kx + kw :] = -np.eye(2)
    if clustered:
        g = df["cluster"].to_numpy()
        sums = np.array([scores[g == j].sum(axis=0) for j in np.unique(g)])
        G = len(sums)
        B = sums.T @ sums / n * G / (G - 1)
    else:
        B = scores.T @ scores / n
    Ainv = np.linalg.inv(A)
    V = Ainv @ B @ Ainv.T / n
    b2, t1, t2, t3 = b[2:4], t[1], t[2], t[3]
    b3 = b[4:6] if by_covariate else np.zeros(2)
    t5 = t[6:8] if by_covariate else np.zeros(2)
    grad_nde, grad_nie = np.zeros(k), np.zeros(k)
    grad_nde[0], grad_nde[2:4] = t3, t3 * c  # beta_0, beta_2
    grad_nde[kx + 1] = 1.0  # theta_1
    grad_nde[kx + 3] = b[0] + b2 @ c  # theta_3
    grad_nde[kx + kw :] = t3 * b2 + t5  # c-bar
    grad_nie[1] = t2 + t3  # beta_1
    grad_nie[kx + 2] = grad_nie[kx + 3] = b[1] + b3 @ c  # theta_2, theta_3
    grad_nie[kx + kw :] = (t2 + t3) * b3
    if by_covariate:
        grad_nde[kx + 6 : kx + 8] = c  # theta_5
        grad_nie[4:6] = (t2 + t3) * c  # beta_3
    assert t1 + t3 * (b[0] + b2 @ c) + t5 @ c == pytest.approx(fit.row("natural_direct").estimate, abs=1e-10)
    for effect, grad in (("natural_direct", grad_nde), ("natural_indirect", grad_nie)):
        assert fit.row(effect).std_error == pytest.approx(float(np.sqrt(grad @ V @ grad)), rel=1e-8), effect


@pytest.mark.parametrize("estimand", ["ATE", "ATT"])
def test_jackknife_is_the_refit_without_each_cluster(estimand):
    """The downdated Gram matrices against refitting both models on the clients of the other clusters."""
    df, _, _ = simulate(600, 14, clusters=15, heterogeneity=0.3)
    fit = natural_effects(df.y, df.d, df.m, df[["x1", "x2"]], df["cluster"], estimand, se="jackknife")
    refits = {e: [] for e in ("natural_direct", "natural_indirect")}
    for g in sorted(df["cluster"].unique()):
        rest = df[df["cluster"] != g]
        part = natural_effects(rest.y, rest.d, rest.m, rest[["x1", "x2"]], None, estimand)
        for e in refits:
            refits[e].append(part.row(e).estimate)
    for e, values in refits.items():
        values = np.asarray(values)
        G = values.size
        se = np.sqrt((G - 1) / G * ((values - values.mean()) ** 2).sum())
        assert fit.row(e).std_error == pytest.approx(se, rel=1e-8), e
        # the jackknife's interval and p-value use t(G - 1); the sandwich's the normal
        row, q = fit.row(e), stats.t.ppf(0.975, G - 1)
        assert row.ci_upper - row.estimate == pytest.approx(q * row.std_error, rel=1e-10)
        assert row.p_value == pytest.approx(2 * stats.t.sf(abs(row.estimate / row.std_error), G - 1), rel=1e-10)
    assert "t(14) intervals" in fit.row("natural_direct").notes
    sandwich = natural_effects(df.y, df.d, df.m, df[["x1", "x2"]], df["cluster"], estimand)
    low = sandwich.row("total")
    assert low.ci_upper - low.estimate == pytest.approx(stats.norm.ppf(0.975) * low.std_error, rel=1e-10)
    assert fit.row("natural_indirect").estimate == sandwich.row("natural_indirect").estimate
    assert 0.8 < fit.row("natural_indirect").std_error / sandwich.row("natural_indirect").std_error < 1.3


def test_dowhy_two_stage_regression_agrees():
    """DoWhy's nonparametric-nie / nonparametric-nde estimands with mediation.two_stage_regression (OLS in
    both stages) on linear data without interaction: the same numbers to 1e-8."""
    from dowhy import CausalModel
    from dowhy.causal_estimators.linear_regression_estimator import LinearRegressionEstimator

    df, _, _ = simulate(3000, 5, interaction=0.0)
    edges = [(x, v) for x in ("x1", "x2") for v in ("d", "m", "y")] + [("d", "m"), ("m", "y"), ("d", "y")]
    graph = "\n".join(nx.generate_gml(nx.DiGraph(edges)))
    fit = natural_effects(df.y, df.d, df.m, df[["x1", "x2"]], None, interaction=False, by_covariate=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # DoWhy 0.14's pandas and sympy deprecation warnings
        model = CausalModel(df.assign(d=df.d.astype(int)), "d", "y", graph=graph)
        for estimand, effect in (("nonparametric-nie", "natural_indirect"), ("nonparametric-nde", "natural_direct")):
            found = model.estimate_effect(
                model.identify_effect(estimand_type=estimand),
                method_name="mediation.two_stage_regression",
                confidence_intervals=False,
                test_significance=False,
                method_params={
                    "first_stage_model": LinearRegressionEstimator,
                    "second_stage_model": LinearRegressionEstimator,
                },
            )
            assert fit.row(effect).estimate == pytest.approx(found.value, abs=1e-8), effect


# ------------------------------------------------------------------------------------------- truth


def test_recovers_the_simulated_truth_with_interaction():
    df, nde, nie = simulate(20_000, 6)
    fit = natural_effects(df.y, df.d, df.m, df[["x1", "x2"]], None)
    for effect, truth in (("natural_direct", nde), ("natural_indirect", nie), ("total", nde + nie)):
        row = fit.row(effect)
        assert abs(row.estimate - truth) < 4 * row.std_error, (effect, row.estimate, truth)
        assert row.ci_lower < truth < row.ci_upper or abs(row.estimate - truth) < 3 * row.std_error


def test_intervals_cover_over_simulations():
    """200 worlds of 400 clients in 40 clusters with a cluster effect on the mediator: the clustered intervals
    cover the true NIE and NDE at 95% within Monte Carlo error (4 MC SEs: 0.95 +/- 0.06)."""
    hits = {"natural_direct": 0, "natural_indirect": 0}
    for seed in range(200):
        df, nde, nie = simulate(400, 1000 + seed, clusters=40)
        fit = natural_effects(df.y, df.d, df.m, df[["x1", "x2"]], df["cluster"])
        for effect, truth in (("natural_direct", nde), ("natural_indirect", nie)):
            row = fit.row(effect)
            hits[effect] += row.ci_lower <= truth <= row.ci_upper
    for effect, k in hits.items():
        assert 0.89 <= k / 200 <= 1.0, (effect, k)


# ---------------------------------------------------------------------------------- sensitivity


def test_bias_formula_matches_an_omitted_confounder():
    """An unmeasured binary U raises the mediator and the outcome (not the treatment): leaving it out, the
    NIE estimate is off by -gamma x delta, with gamma U's coefficient in the outcome model and delta the
    difference in U between the arms given M and C (its coefficient on D in the linear projection of U on
    D, M, C), so NIE + gamma x delta is the NIE adjusted for U."""
    rng = np.random.default_rng(7)
    n = 50_000
    x = rng.normal(size=n)
    d = (rng.random(n) < 1 / (1 + np.exp(-0.5 * x))).astype(float)
    u = (rng.random(n) < 0.4).astype(float)
    m = 0.8 * d + 0.5 * x + 1.0 * u + rng.normal(size=n)
    y = 0.4 * d + 0.7 * m + 0.5 * x + 0.8 * u + rng.normal(size=n)
    naive = natural_effects(y, d, m, x[:, None], None, interaction=False, by_covariate=False)
    adjusted = natural_effects(y, d, m, np.column_stack([x, u]), None, interaction=False, by_covariate=False)
    gamma = ols(y, np.column_stack([d, m, x, u]))[4]
    delta = ols(u, np.column_stack([d, m, x]))[1]
    assert delta < -0.05  # conditioning on M makes U less common among the treated (collider)
    corrected = naive.row("natural_indirect").estimate + gamma * delta
    assert corrected == pytest.approx(adjusted.row("natural_indirect").estimate, abs=0.01)
    assert abs(naive.row("natural_indirect").estimate - adjusted.row("natural_indirect").estimate) > 0.1
    # the table applies the same correction
    table = sensitivity_frame(mediation_sensitivity(naive, gammas=[gamma], deltas=[delta]))
    assert list(table.columns) == list(SENSITIVITY_COLUMNS)
    assert table.loc[0, "estimate_corrected"] == pytest.approx(corrected, abs=1e-12)


def test_explain_away_row_brings_the_interval_to_zero():
    df, _, _ = simulate(2000, 8)
    fit = natural_effects(df.y, df.d, df.m, df[["x1", "x2"]], None)
    table = sensitivity_frame(mediation_sensitivity(fit))
    last = table.iloc[-1]
    assert np.isnan(last["delta"]) and last["ci_lower_corrected"] == pytest.approx(0.0, abs=1e-12)
    assert len(table) == 3 * 4 + 1


# --------------------------------------------------------------------------------- rows and stage


def test_proportion_mediated_flagged_when_the_total_is_not_distinguished_from_zero():
    rng = np.random.default_rng(9)
    n = 300
    x = rng.normal(size=n)
    d = (rng.random(n) < 0.5).astype(float)
    m = 0.3 * d + rng.normal(size=n)
    y = 0.5 * m - 0.15 * d + x + rng.normal(size=n)  # direct and indirect effects cancel
    fit = natural_effects(y, d, m, x[:, None], None)
    total, pm = fit.row("total"), fit.row("proportion_mediated")
    assert total.ci_lower < 0 < total.ci_upper
    assert "not interpretable" in pm.notes
    strong = natural_effects(*[simulate(2000, 10)[0][c] for c in ("y", "d", "m")], np.zeros((2000, 0)), None)
    assert "not interpretable" not in strong.row("proportion_mediated").notes


def _analysis(n: int, seed: int) -> pd.DataFrame:
    df, _, _ = simulate(n, seed, clusters=30)
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "client_id": [f"C{i}" for i in range(n)],
            "treatment": df.d.astype(int),
            "first_worker": "W" + df["cluster"].astype(str),
            "service": "employment",
            "site": "S1",
            "start_quarter": "2024Q1",
            "age": df.x1,
            "wellbeing": np.where(rng.random(n) < 0.1, np.nan, df.y),
            "wellbeing_baseline": df.x2,
            "alliance": np.where(rng.random(n) < 0.2, np.nan, df.m),
        }
    )


def _settings(mediator: str | None) -> Settings:
    settings = Settings.from_sections(
        {
            "covariates": [{"name": "age", "type": "numeric"}],
            "questionnaires": [
                {
                    "name": "wellbeing",
                    "instrument": "swemwbs",
                    "questionnaire": "S",
                    "items": list("abcdefg"),
                    "follow_up_days": 182,
                },
                {
                    "name": "alliance",
                    "instrument": "wai_sr",
                    "questionnaire": "W",
                    "items": [f"w{i}" for i in range(12)],
                    "role": "mediator",
                    "measured_within_days": 60,
                },
            ],
            "mediation": {"mediator": mediator},
            "estimation": {"min_rows_per_parameter": 5},
        }
    )
    assert settings.covariates == (Covariate("age", "numeric"),)
    assert isinstance(settings.questionnaires[0], Questionnaire)
    return settings


def test_run_mediation_rows_and_population():
    analysis = _analysis(1200, 11)
    table, sens = run_mediation(analysis, _settings("alliance"))
    assert list(table.columns) == list(MEDIATION_COLUMNS)
    assert list(table["effect"]) == list(EFFECTS) * 2 and list(table["estimand"]) == ["ATE"] * 4 + ["ATT"] * 4
    measured = analysis[analysis.wellbeing.notna() & analysis.alliance.notna()]
    assert (table["n_treated"] == measured.treatment.sum()).all()
    assert (table["n_control"] == (measured.treatment == 0).sum()).all()
    assert table["estimate"].notna().all() and (table["std_error"] > 0).all()
    assert "delete-one-cluster jackknife by allocated (first) worker (30 clusters" in table.loc[0, "notes"]
    assert len(sens) == 2 * 13 and (sens["effect"] == "natural_indirect").all()


@pytest.mark.parametrize(
    ("mediator", "n", "reason"),
    [(None, 1200, "no mediator is configured"), ("alliance", 40, "too few clients for the model")],
)
def test_run_mediation_always_gives_a_table(mediator, n, reason):
    table, sens = run_mediation(_analysis(n, 12), _settings(mediator))
    assert list(table.columns) == list(MEDIATION_COLUMNS) and len(table) == 8
    assert table["estimate"].isna().all() and table["notes"].str.contains(reason).all(), table["notes"][0]
    assert sens.empty and list(sens.columns) == list(SENSITIVITY_COLUMNS)


def test_config_mediator_must_be_a_mediator_entry():
    base = load_config("config/config.yaml")
    assert base["mediation"] == {"mediator": "alliance"}
    for wrong, says in (
        ("wellbeing", "role: outcome, not a mediator"),
        ("allyance", "is not among the questionnaires"),
    ):
        with pytest.raises(ConfigError) as err:
            load_config({**base, "mediation": {"mediator": wrong}})
        assert says in str(err.value) and "configured mediators: alliance" in str(err.value)
    assert load_config({**base, "mediation": {"mediator": None}})["mediation"]["mediator"] is None


def test_disclosure_hides_small_arms_and_the_sensitivity_rows_follow():
    analysis = _analysis(1200, 13)
    table, sens = run_mediation(analysis, _settings("alliance"))
    small = table.assign(n_control=np.where(table["estimand"] == "ATT", 6, table["n_control"]))
    checked = check_tables({"mediation.csv": small, "mediation_sensitivity.csv": sens}, min_cell=10)
    med, _ = checked["mediation.csv"]
    att = med["estimand"] == "ATT"
    assert med.loc[att, "estimate"].isna().all() and med.loc[~att, "estimate"].notna().all()
    out, log = checked["mediation_sensitivity.csv"]
    assert out.loc[out["estimand"] == "ATT", "estimate_corrected"].isna().all()
    assert out.loc[out["estimand"] == "ATE", "estimate_corrected"].notna().all()
    assert {e["rule"] for e in log} == {"derived_from_suppressed_count"}


def test_frame_types_are_stable():
    frame = mediation_frame([])
    assert list(frame.columns) == list(MEDIATION_COLUMNS) and frame["n_treated"].dtype == "int64"


def test_cross_table_protects_the_clients_without_the_mediator():
    """mediation.csv's arms are subsets of the outcome's arms in estimates.csv: 5 treated without the alliance
    measured (100 - 95) is a small hidden difference, so one of the two counts must go."""
    est = pd.DataFrame(
        {
            "outcome": ["wellbeing"],
            "subgroup": [""],
            "method": ["regression"],
            "estimand": ["ATE"],
            "estimate": [1.0],
            "std_error": [0.1],
            "ci_lower": [0.8],
            "ci_upper": [1.2],
            "p_value": [0.001],
            "n_treated": [100],
            "n_control": [80],
            "scale": ["points"],
            "notes": [""],
        }
    )
    rows = [
        dict(zip(MEDIATION_COLUMNS, ("wellbeing", "alliance", e, "ATE", 0.5, 0.1, 0.3, 0.7, 0.001, 95, 60, "")))
        for e in ("total", "natural_indirect")
    ]
    med = pd.DataFrame(rows)
    checked = check_tables({"estimates.csv": est, "mediation.csv": med}, min_cell=10)
    shown = {name: frame["n_treated"].notna().all() for name, (frame, _) in checked.items() if name != "mediation_sens"}
    assert not all(shown.values()), shown
    # 15 without the mediator is not small: nothing hidden
    ok = check_tables({"estimates.csv": est, "mediation.csv": med.assign(n_treated=85)}, min_cell=10)
    assert all(frame["n_treated"].notna().all() for frame, _ in ok.values())
