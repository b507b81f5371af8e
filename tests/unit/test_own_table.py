"""`deepvalue estimate` on an analyst's own table: same estimators, same format, clear errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from deepvalue.core.errors import ExtractError
from deepvalue.effects.base import ESTIMATE_COLUMNS
from deepvalue.effects.own_table import estimate_own_table


@pytest.fixture
def own_table(tmp_path):
    """Confounded data with a known constant effect of 2 (so ATT = ATE = 2)."""
    rng = np.random.default_rng(5)
    n = 3000
    x = rng.normal(size=n)
    group = rng.choice(["a", "b", "c"], n)
    d = (rng.random(n) < 1 / (1 + np.exp(-(0.8 * x + (group == "b"))))).astype(int)
    y = 1 + 2 * d + 1.5 * x + 0.5 * (group == "c") + rng.normal(size=n)
    frame = pd.DataFrame({"treated": d, "y": y, "x": x, "group": group, "team": rng.integers(0, 60, n)})
    path = tmp_path / "mine.csv"
    frame.to_csv(path, index=False)
    return path


def test_recovers_a_known_effect_and_keeps_the_format(own_table):
    est = estimate_own_table(own_table, "treated", "y", ["x", "group"], cluster="team")
    assert list(est.columns) == list(ESTIMATE_COLUMNS)
    rows = est.set_index(["method", "estimand"])
    for key in [("regression", "ATT"), ("regression", "ATE"), ("ipw", "ATE"), ("aipw", "ATT"), ("psm", "ATT")]:
        r = rows.loc[key]
        assert abs(r["estimate"] - 2) < 4 * r["std_error"], key
    naive = rows.loc[("naive", "ATE")]
    assert naive["estimate"] - 2 > 4 * naive["std_error"]  # confounded by x
    assert "logit_ame" not in rows.index.get_level_values(0)  # continuous outcome
    iv = rows.loc[("iv", "LATE")]
    assert np.isnan(iv["estimate"]) and "no instrument" in iv["notes"]


def test_bad_options_are_reported_together(own_table):
    with pytest.raises(ExtractError) as err:
        estimate_own_table(own_table, "treatment", "y", ["xx"], methods=["ols"])
    text = str(err.value)
    assert "'treatment': --treatment names a column that is not in the table" in text
    assert "did you mean 'treated'" in text and "did you mean 'x'" in text
    assert "unknown method(s): ols" in text
    # km_ipw needs the workflow's time-to-event columns: refused with where it runs, never silently empty
    with pytest.raises(ExtractError, match=r"unknown method\(s\): km_ipw") as err:
        estimate_own_table(own_table, "treated", "y", ["x"], methods=["km_ipw"])
    assert "km_ipw runs in the workflow" in str(err.value)


def test_non_binary_treatment(own_table, tmp_path):
    frame = pd.read_csv(own_table)
    frame.loc[3, "treated"] = 2
    bad = tmp_path / "bad.csv"
    frame.to_csv(bad, index=False)
    with pytest.raises(ExtractError, match="treatment must be 0 or 1") as err:
        estimate_own_table(bad, "treated", "y", ["x"])
    assert err.value.problems[0].rows == (5,)


def test_cli_writes_estimates_csv(own_table, tmp_path):
    out = tmp_path / "out"
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "deepvalue.cli",
            "estimate",
            "--table",
            str(own_table),
            "--treatment",
            "treated",
            "--outcome",
            "y",
            "--covariates",
            "x,group",
            "--cluster",
            "team",
            "--methods",
            "naive,regression",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    est = pd.read_csv(out / "estimates.csv")
    assert set(est["method"]) == {"naive", "regression"} and len(est) == 3
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "deepvalue.cli",
            "estimate",
            "--table",
            str(own_table),
            "--treatment",
            "treatd",
            "--outcome",
            "y",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2 and "Traceback" not in res.stderr and "did you mean 'treated'" in res.stderr
