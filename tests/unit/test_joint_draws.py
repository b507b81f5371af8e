"""The joint draws (deepvalue.effects.joint): a multiplier cluster bootstrap of the influence functions.

References: each row's own SE (the draws' SD must match it within Monte Carlo error), the estimates
table made without collecting (identical), and a direct pairs cluster bootstrap that re-estimates
everything on resampled workers (the correlation across outcomes and methods must agree).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from deepvalue.effects.base import Influence, collect_influence
from deepvalue.effects.joint import ClusterSums, cluster_sums, draws_matrix, joint_draws, multiplier_draws
from deepvalue.effects.table import Roles, run_estimates

METHODS = ("regression", "poisson_ra", "ipw", "aipw", "overlap")


@pytest.fixture(scope="module")
def cohort():
    from deepvalue.adjust.matched_cohort import run_matching
    from deepvalue.cohort.build import build_cohort
    from deepvalue.core.settings import load_settings
    from deepvalue.extract.ingest import ingest_extract
    from deepvalue.synth.generate import generate_extract
    from deepvalue.synth.write import write_extract

    extract = generate_extract(3000, seed=3)
    with tempfile.TemporaryDirectory() as folder:
        write_extract(extract, folder)
        cfg = load_settings(Path(folder) / "config.yaml")
        ingested = ingest_extract(cfg)
        analysis = build_cohort(ingested.tables, cfg, ingested.extract_date).analysis
    return analysis, cfg, run_matching(analysis, cfg).propensity


def test_collecting_influence_changes_no_estimate(cohort):
    analysis, cfg, propensity = cohort
    plain = run_estimates(analysis, cfg, propensity, methods=METHODS, subgroups=["service"], roles=Roles())
    found: list[Influence] = []
    with collect_influence(found.append):
        collected = run_estimates(analysis, cfg, propensity, methods=METHODS, subgroups=["service"], roles=Roles())
    assert_frame_equal(plain, collected)
    # one record per estimated row, with the row's own estimate, SE, names and clients; the
    # questionnaire outcomes' records too, under their published scales (points, baseline_sd, share)
    rows = collected[collected["std_error"].notna() & (collected["scale"] != "wald_chi2_equal_effects")]
    questionnaires = {q.name for q in cfg.questionnaires if q.role == "outcome"}
    assert questionnaires and set(rows["outcome"]) >= questionnaires
    assert {"points", "baseline_sd"} <= set(rows.loc[rows["outcome"].isin(questionnaires), "scale"])
    assert len(found) == len(rows) > 20
    got = pd.DataFrame(
        [
            (r.outcome, r.subgroup, r.method, r.estimand, r.scale, r.estimate, r.std_error, r.clients.size)
            for r in found
        ],
        columns=["outcome", "subgroup", "method", "estimand", "scale", "estimate", "std_error", "n"],
    )
    merged = rows.merge(got, on=["outcome", "subgroup", "method", "estimand", "scale"], suffixes=("", "_if"))
    assert len(merged) == len(rows)
    np.testing.assert_allclose(merged["estimate"], merged["estimate_if"], rtol=1e-12)
    np.testing.assert_allclose(merged["std_error"], merged["std_error_if"], rtol=1e-12)
    assert (merged["n"] == merged["n_treated"] + merged["n_control"]).all()


def test_the_variance_of_the_influence_function_is_the_rows_se(cohort):
    # exact identity (no Monte Carlo): the cluster sums' variance is the SE the estimator reported
    analysis, cfg, propensity = cohort
    found: list[Influence] = []
    with collect_influence(found.append):
        run_estimates(analysis, cfg, propensity, methods=("aipw", "poisson_ra"), subgroups=[], roles=Roles())
    codes = pd.Series(pd.factorize(analysis["first_worker"])[0], index=analysis["client_id"].to_numpy())
    sums = cluster_sums(found, codes)
    se = np.sqrt(((sums.sums * sums.scale) ** 2).sum(axis=0))
    np.testing.assert_allclose(se, sums.keys["std_error"], rtol=1e-10)


def test_draws_sd_matches_each_rows_se_within_monte_carlo_error(cohort):
    analysis, cfg, propensity = cohort
    b = 2000
    draws = joint_draws(analysis, cfg, propensity, draws=b, seed=3)
    m = draws_matrix(draws)
    table = run_estimates(analysis, cfg, propensity, methods=METHODS, subgroups=cfg.estimation.subgroups)
    ref = table.set_index(["outcome", "subgroup", "method", "estimand", "scale"]).loc[m.columns]
    ratio = m.std(ddof=1).to_numpy() / ref["std_error"].to_numpy()
    # the SD of a normal sample of size B has relative MC error 1/sqrt(2B) = 0.016; 4 of them
    assert np.abs(ratio - 1).max() < 4 / np.sqrt(2 * b)
    centre = (m.mean().to_numpy() - ref["estimate"].to_numpy()) / ref["std_error"].to_numpy()
    assert np.abs(centre).max() < 4.5 / np.sqrt(b)
    # deterministic for a seed; another seed gives other draws
    one = joint_draws(analysis, cfg, propensity, draws=50, seed=3, methods=("aipw",))
    assert_frame_equal(one, joint_draws(analysis, cfg, propensity, draws=50, seed=3, methods=("aipw",)))
    assert not np.allclose(
        joint_draws(analysis, cfg, propensity, draws=50, seed=4, methods=("aipw",))["estimate"], one["estimate"]
    )


def _direct_bootstrap(analysis, cfg, reps: int, seed: int) -> pd.DataFrame:
    """Pairs cluster bootstrap: resample allocated workers with replacement, refit everything."""
    from deepvalue.adjust.design import covariate_design
    from deepvalue.adjust.propensity import fit_propensity
    from deepvalue.effects.linear import regression_adjustment
    from deepvalue.effects.weighting import aipw

    rng = np.random.default_rng(seed)
    workers, codes = np.unique(analysis["first_worker"].to_numpy(), return_inverse=True)
    members = [np.flatnonzero(codes == g) for g in range(workers.size)]
    out = []
    for _ in range(reps):
        pick = rng.integers(0, workers.size, workers.size)
        idx = np.concatenate([members[g] for g in pick])
        labels = np.repeat(np.arange(pick.size), [members[g].size for g in pick])
        boot = analysis.iloc[idx].reset_index(drop=True).assign(first_worker=labels)
        row = {}
        for outcome in ("job_start", "crisis_contacts"):
            sub = boot[boot[outcome].notna()].reset_index(drop=True)
            X = covariate_design(sub, cfg.covariates).X
            d = sub["treatment"].to_numpy(float)
            ps = fit_propensity(X, d.astype(int), penalty=cfg.propensity.penalty, C=cfg.propensity.C).score
            y, w = sub[outcome], sub["first_worker"]
            row[(outcome, "aipw")] = aipw(y, d, X, ps, "ATT", ps_design=X, cluster=w).estimate
            row[(outcome, "regression")] = regression_adjustment(y, d, X, w, "ATT").estimate
        out.append(row)
    return pd.DataFrame(out)


def test_correlation_across_outcomes_and_methods_matches_a_direct_cluster_bootstrap(cohort):
    analysis, cfg, propensity = cohort
    draws = draws_matrix(joint_draws(analysis, cfg, propensity, draws=4000, seed=11, methods=("aipw", "regression")))
    reps = 150
    direct = _direct_bootstrap(analysis, cfg, reps, seed=5)
    pairs = [
        (("job_start", "aipw"), ("crisis_contacts", "aipw")),  # across outcomes
        (("job_start", "regression"), ("crisis_contacts", "aipw")),
        (("crisis_contacts", "aipw"), ("crisis_contacts", "regression")),  # across methods
    ]
    for a, b in pairs:
        col = {c[:4]: c for c in draws.columns}
        mult = float(np.corrcoef(draws[col[(a[0], "", a[1], "ATT")]], draws[col[(b[0], "", b[1], "ATT")]])[0, 1])
        ref = float(np.corrcoef(direct[a], direct[b])[0, 1])
        # the direct bootstrap's correlation has MC SE (1 - rho^2) / sqrt(reps); 3.5 of them plus
        # 0.03 for the first-order (influence function) approximation
        tol = 3.5 * (1 - ref**2) / np.sqrt(reps) + 0.03
        assert abs(mult - ref) < tol, (a, b, mult, ref)
    # the test has power: the correlation across outcomes is not near 0 on this extract (about -0.4)
    assert abs(float(np.corrcoef(direct[pairs[0][0]], direct[pairs[0][1]])[0, 1])) > 0.25


def test_multiplier_draws_by_hand():
    # two rows, three clusters: draws = estimate + sqrt(G/(G-1))/n * xi @ S, the same xi for both
    keys = pd.DataFrame(
        {
            "outcome": ["a", "b"],
            "subgroup": ["", ""],
            "method": ["m", "m"],
            "estimand": ["ATT", "ATT"],
            "scale": ["risk_difference", "mean_difference"],
            "estimate": [1.0, -2.0],
            "std_error": [np.nan, np.nan],
        }
    )
    sums = np.array([[1.0, 2.0], [-1.0, 0.0], [0.5, -1.0]])
    scale = np.array([np.sqrt(1.5) / 10, np.sqrt(1.5) / 20])
    got = multiplier_draws(ClusterSums(keys, sums, scale), draws=5, seed=9)
    xi = np.random.default_rng(9).standard_normal((5, 3))
    np.testing.assert_allclose(got, xi @ (sums * scale) + [1.0, -2.0], rtol=1e-12)
    rad = multiplier_draws(ClusterSums(keys, sums, scale), draws=300, seed=9, multipliers="rademacher")
    # Rademacher draws take the 2^3 sign patterns only: |draw - estimate| is one of 4 values per row
    assert np.unique(np.round(np.abs(rad[:, 0] - 1.0), 12)).size <= 4
    with pytest.raises(ValueError, match="multipliers"):
        multiplier_draws(ClusterSums(keys, sums, scale), draws=5, seed=9, multipliers="mammen")
