"""Multiplicity and the primary analysis: Holm against statsmodels, the family, the confirmatory row, and the
rules that reconcile estimation.primary with the values file's primary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

from deepvalue.core.errors import ConfigError
from deepvalue.core.primary import config_hash, resolve_primary, values_file_primary
from deepvalue.effects.multiplicity import holm, multiplicity_table


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
    assert table["p_romano_wolf"].isna().all()  # the hook, filled once the joint bootstrap exists


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
