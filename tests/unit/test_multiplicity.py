"""Multiplicity and the primary analysis: Holm against statsmodels, the family, the confirmatory row, and the
rules that reconcile estimation.primary with the values file's primary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

from deepvalue.core.errors import ConfigError
from deepvalue.core.primary import config_hash, resolve_primary, values_file_primary
from deepvalue.effects.multiplicity import holm, multiplicity_table, romano_wolf


@pytest.mark.parametrize("seed", range(5))
def test_holm_equals_statsmodels(seed):
    p = np.random.default_rng(seed).uniform(0, 0.2, size=17) ** 2
    p[3] = p[5]  # a tie
    assert np.allclose(holm(p), multipletests(p, method="holm")[1], atol=1e-15, rtol=0)


def test_holm_leaves_missing_p_values_out_of_the_family():
    p = np.array([0.01, np.nan, 0.04, 0.03])
    got = holm(p)
    assert np.isnan(got[1])
    assert np.allclose(got[[0, 2, 3]], multipletests(p[[0, 2, 3]], method="holm")[1])


def _estimates():
    rows = []
    for outcome in ("a", "b"):
        for subgroup in ("", "service=x", "service=y", "service: equal effects"):
            for method, estimand in (("aipw", "ATT"), ("aipw", "ATE"), ("ipw", "ATT")):
                rows.append((outcome, subgroup, method, estimand, 1.0, 0.01 + 0.01 * len(rows), 50, 40))
    rows.append(("b", "", "aipw", "ATT", np.nan, np.nan, 50, 40))  # a skipped row: no p-value
    return pd.DataFrame(
        rows, columns=["outcome", "subgroup", "method", "estimand", "estimate", "p_value", "n_treated", "n_control"]
    )


def test_the_family_is_outcomes_by_subgroups_of_the_primary_method_and_the_confirmatory_row_comes_first():
    table = multiplicity_table(_estimates(), {"outcome": "b", "method": "aipw", "estimand": "ATT"})
    assert len(table) == 6 and set(table["family_size"]) == {6}
    assert not table["subgroup"].str.endswith("equal effects").any()
    assert table.iloc[0][["outcome", "subgroup", "role"]].tolist() == ["b", "", "confirmatory"]
    assert (table["role"].iloc[1:] == "exploratory").all()
    assert np.allclose(table["p_holm"], multipletests(table["p_value"], method="holm")[1])
    assert table["p_romano_wolf"].isna().all()  # no draws given: empty, and the notes say why
    assert table["notes"].str.contains("no joint draws").all()


def test_primary_defaults_to_the_first_outcome_and_aipw_att():
    assert resolve_primary({}, None, ["x", "y"]) == {"outcome": "x", "method": "aipw", "estimand": "ATT"}


def test_the_values_files_primary_is_used_when_the_config_gives_none():
    got = resolve_primary({"outcome": "y"}, {"method": "dml", "estimand": "ATE"}, ["x", "y"])
    assert got == {"outcome": "y", "method": "dml", "estimand": "ATE"}


def test_a_config_and_a_values_file_that_disagree_are_a_clear_error():
    with pytest.raises(ConfigError) as err:
        resolve_primary({"method": "ipw"}, {"method": "aipw", "estimand": "ATT"}, ["x"], values_path="v.yaml")
    text = str(err.value)
    assert "ipw" in text and "aipw" in text and "v.yaml" in text and "the same method in both" in text


def test_an_unknown_primary_outcome_or_method_is_refused():
    with pytest.raises(ConfigError, match="not a configured outcome"):
        resolve_primary({"outcome": "nope"}, None, ["x"])
    with pytest.raises(ConfigError, match="choose one of"):
        resolve_primary({"method": "psm", "estimand": "ATE"}, None, ["x"], methods=["psm", "aipw"])


def test_values_file_primary_reads_what_the_file_says(tmp_path):
    path = tmp_path / "values.yaml"
    path.write_text("discount_rate: 0.035\n")
    assert values_file_primary(path) is None
    path.write_text("primary: {method: dml, estimand: ATE}\n")
    assert values_file_primary(path) == {"method": "dml", "estimand": "ATE"}


def test_the_config_hash_ignores_key_order_and_sees_any_change():
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


def test_a_row_hidden_in_estimates_is_hidden_in_multiplicity_too():
    from deepvalue.publish.disclosure import check_tables

    est = _estimates()
    est.loc[(est["outcome"] == "a") & (est["subgroup"] == "service=x"), ["n_treated"]] = 3  # a small subgroup
    est["std_error"], est["ci_lower"], est["ci_upper"], est["scale"], est["notes"] = 0.1, 0.8, 1.2, "md", ""
    table = multiplicity_table(est, {"outcome": "a", "method": "aipw", "estimand": "ATT"})
    checked = check_tables({"estimates.csv": est, "multiplicity.csv": table}, min_cell=10)
    out = checked["multiplicity.csv"][0]
    small = (out["outcome"] == "a") & (out["subgroup"] == "service=x")
    assert out.loc[small, ["estimate", "p_value", "p_holm"]].isna().all().all()
    assert out.loc[~small, "p_holm"].notna().all()


# --------------------------------------------------------------------------------------------------
# Romano-Wolf
# --------------------------------------------------------------------------------------------------


def _normal_p(t):
    from scipy.stats import norm

    return 2 * (1 - norm.cdf(np.abs(t)))


def _doubleml_framework(seed: int, n: int = 400, m: int = 7):
    """A DoubleML framework over m correlated scores (one repetition), bootstrapped with its own draws."""
    from doubleml.double_ml_framework import DoubleMLCore, DoubleMLFramework

    rng = np.random.default_rng(seed)
    common = rng.standard_normal((n, 1))
    psi = 0.8 * common + 0.6 * rng.standard_normal((n, m))  # correlation about 0.64 between scores
    psi -= psi.mean(axis=0)
    thetas = np.linspace(0.0, 0.25, m)  # from null to clearly non-null
    ses = psi.std(axis=0) / np.sqrt(n)
    core = DoubleMLCore(
        all_thetas=thetas.reshape(m, 1),
        all_ses=ses.reshape(m, 1),
        var_scaling_factors=np.full(m, float(n)),
        scaled_psi=psi.reshape(n, m, 1),
    )
    fw = DoubleMLFramework(core)
    np.random.seed(seed)  # DoubleML draws its multipliers from numpy's global generator
    fw.bootstrap(method="normal", n_rep_boot=499)
    return fw


@pytest.mark.parametrize("seed", range(4))
def test_romano_wolf_equals_doubleml_p_adjust_on_the_same_draws(seed):
    """DoubleML 0.11's DoubleMLFramework.p_adjust("romano-wolf") (its step-down loop), fed the framework's
    own bootstrap t-statistics: our vectorised step-down gives the same p-values to the last bit."""
    fw = _doubleml_framework(seed)
    ref = fw.p_adjust("romano-wolf")[0]["pval"].to_numpy()
    t, boot = fw.all_t_stats[:, 0], fw._boot_t_stat[:, :, 0]
    assert np.array_equal(romano_wolf(t, boot, plus_one=False), ref)
    b = boot.shape[0]  # the default, (1 + count) / (B + 1), is the same counts
    assert np.allclose(romano_wolf(t, boot), (ref * b + 1) / (b + 1), atol=1e-15, rtol=0)
    assert romano_wolf(t, boot).min() >= 1 / (b + 1)
    assert ref.min() < 0.05 < ref.max()  # the family has both rejected and retained hypotheses


def test_romano_wolf_ties_and_shapes():
    t = np.array([3.0, 3.0, 0.5])
    boot = np.random.default_rng(0).standard_normal((2000, 3))
    p = romano_wolf(t, boot)
    assert p[0] == p[1] and p[2] >= p[0]  # tied statistics get the same adjusted p, monotone in |t|
    with pytest.raises(ValueError, match="B x 3"):
        romano_wolf(t, boot[:, :2])
    assert romano_wolf(np.empty(0), np.empty((10, 0))).size == 0


def test_romano_wolf_controls_the_familywise_error_and_uses_the_correlation():
    """Monte Carlo, 1,500 worlds of 10 null hypotheses whose estimates correlate 0.9 (as an outcome's
    subgroups and scales do), each with 499 joint multiplier draws from the estimated influence
    functions (as joint.py draws): Romano-Wolf's family-wise error rate is close to 5% (MCSE 0.6
    points); Holm's, which ignores the correlation, is far below it. A single test gets its
    unadjusted p-value."""
    rng = np.random.default_rng(2026)
    m, worlds, draws, n = 10, 1500, 499, 200
    corr = np.full((m, m), 0.9) + 0.1 * np.eye(m)
    chol = np.linalg.cholesky(corr)
    rw_reject = holm_reject = 0
    for _ in range(worlds):
        psi = rng.standard_normal((n, m)) @ chol.T  # influence functions of m means, true effects 0
        est = psi.mean(axis=0)
        centred = psi - est
        se = centred.std(axis=0) / np.sqrt(n)
        boot = rng.standard_normal((draws, n)) @ centred / n
        t = est / se
        rw_reject += romano_wolf(t, boot / se).min() < 0.05
        holm_reject += holm(_normal_p(t)).min() < 0.05
    rw_fwer, holm_fwer = rw_reject / worlds, holm_reject / worlds
    assert 0.035 <= rw_fwer <= 0.07, rw_fwer
    assert holm_fwer < 0.03 < rw_fwer, (holm_fwer, rw_fwer)
    boot1 = np.random.default_rng(1).standard_normal((200_000, 1))
    assert romano_wolf(np.array([1.7]), boot1)[0] == pytest.approx(_normal_p(1.7), abs=0.003)


def _family_with_draws(seed: int = 0, draws: int = 999):
    """Estimates of two outcomes (one with points and baseline_sd scales) and their joint draws."""
    rng = np.random.default_rng(seed)
    keys = [
        ("a", "", "aipw", "ATT", "risk_difference", 0.10, 0.04),
        ("a", "service=x", "aipw", "ATT", "risk_difference", 0.12, 0.06),
        ("q", "", "aipw", "ATT", "points", 1.5, 0.5),
        ("q", "", "aipw", "ATT", "baseline_sd", 0.3, 0.1),  # points / 5: the same test
        ("q", "", "ipw", "ATT", "points", 1.4, 0.5),  # another method: outside the family
    ]
    est = pd.DataFrame(keys, columns=["outcome", "subgroup", "method", "estimand", "scale", "estimate", "std_error"])
    est["p_value"] = _normal_p(est["estimate"] / est["std_error"])
    z = rng.standard_normal((draws, 1)) * 0.7 + rng.standard_normal((draws, len(est))) * 0.71
    z[:, 3] = z[:, 2]  # the rescaled row moves with its points row
    values = est["estimate"].to_numpy() + z * est["std_error"].to_numpy()
    long = est.loc[np.repeat(np.arange(len(est)), draws), ["outcome", "subgroup", "method", "estimand", "scale"]]
    long = long.reset_index(drop=True)
    long["draw"] = np.tile(np.arange(draws), len(est))
    long["estimate"] = values.T.reshape(-1)
    return est, long, values


def test_the_table_fills_romano_wolf_from_the_joint_draws_and_leaves_rescaled_rows_out():
    est, draws, values = _family_with_draws()
    table = multiplicity_table(est, {"outcome": "a", "method": "aipw", "estimand": "ATT"}, draws)
    assert list(table["scale"]) == ["risk_difference", "risk_difference", "points"]  # no baseline_sd row
    assert set(table["family_size"]) == {3} and table["notes"].eq("").all()
    fam = est.iloc[[0, 1, 2]]
    se, theta = fam["std_error"].to_numpy(), fam["estimate"].to_numpy()
    expected = romano_wolf(theta / se, (values[:, [0, 1, 2]] - theta) / se)
    expected = np.maximum(expected, fam["p_value"].to_numpy())  # never below the row's own p
    assert np.allclose(table["p_romano_wolf"].to_numpy(), expected, atol=1e-15, rtol=0)
    assert (table["p_romano_wolf"] >= table["p_value"]).all()
    # and at most Holm's for correlated tests (up to Monte Carlo error)
    assert (table["p_romano_wolf"] <= table["p_holm"] + 0.01).all()


def test_a_family_row_without_draws_leaves_romano_wolf_empty_with_the_fix():
    est, draws, _ = _family_with_draws()
    draws = draws[draws["subgroup"] != "service=x"]
    table = multiplicity_table(est, {"outcome": "a", "method": "aipw", "estimand": "ATT"}, draws)
    assert table["p_romano_wolf"].isna().all() and table["p_holm"].notna().all()
    note = table["notes"].iloc[0]
    assert "service=x" in note and "estimation.joint_draws.methods" in note


def test_an_adjusted_p_is_never_below_the_rows_own_p_value():
    """999 draws resolve p only to 0.001: a row whose own (t-based) p is 0.0017 and that no draw
    exceeds would get 0.001 from the step-down; the table keeps its own p instead."""
    est, draws, _ = _family_with_draws()
    est.loc[1, ["estimate", "std_error"]] = [0.5, 0.05]  # |t| = 10: no draw reaches it
    row_draws = draws["subgroup"] == "service=x"
    draws.loc[row_draws, "estimate"] = 0.5 + (draws.loc[row_draws, "estimate"] - 0.12) / 0.06 * 0.05
    est.loc[1, "p_value"] = 0.0017  # as a t(G - 1) p-value of a small family of workers might be
    table = multiplicity_table(est, {"outcome": "a", "method": "aipw", "estimand": "ATT"}, draws)
    row = table.set_index("subgroup").loc["service=x"]
    assert row["p_romano_wolf"] == pytest.approx(0.0017)
    assert (table["p_romano_wolf"] >= 1 / 1000).all()
