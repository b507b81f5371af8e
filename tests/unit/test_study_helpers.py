"""The studies' shared start (synthetic_cohort) and main loop (run_seeds)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from deepvalue.simulate.study import run_seeds, summarise, synthetic_cohort, validation_markdown


def test_synthetic_cohort_merges_a_mapping_or_applies_a_function_to_the_config():
    merged = synthetic_cohort(2, 400, {"estimation": {"dml": {"n_folds": 3}}})
    assert merged.settings.estimation.dml.n_folds == 3
    assert merged.extract.truth["n_clients"] == 400
    assert len(merged.cohort.analysis) > 0 and merged.cohort.analysis["client_id"].is_unique
    names = [o.name for o in merged.settings.outcomes]
    only = synthetic_cohort(2, 400, lambda raw: {**raw, "outcomes": raw["outcomes"][:1]})
    assert [o.name for o in only.settings.outcomes] == names[:1]
    # the same seed gives the same cohort whatever the overrides of the estimation
    assert only.cohort.analysis["client_id"].equals(merged.cohort.analysis["client_id"])


def test_run_seeds_writes_the_replicates_after_every_seed_and_the_summary(tmp_path, capsys):
    out = tmp_path / "deep" / "study.csv"

    def replicate(seed: int) -> pd.DataFrame:
        return pd.DataFrame({"seed": [seed, seed], "x": [seed, 2 * seed]})

    summary = run_seeds(replicate, range(3, 6), out, lambda reps: reps.groupby("seed", as_index=False)["x"].sum())
    assert list(summary["x"]) == [9, 12, 15]
    assert pd.read_csv(out).equals(summary)
    assert len(pd.read_csv(tmp_path / "deep" / "study_replicates.csv")) == 6
    assert "seed 5 done" in capsys.readouterr().out


def test_summarise_separates_the_sd_of_the_estimates_from_the_sd_of_their_errors():
    # the per-seed (sample) truth moves with the estimate: the estimates vary by 2 around it,
    # the truth by 1, in step, so the errors vary by 1 and coverage reads against sd_error
    truth = np.array([0.0, 1.0, 2.0, 3.0])
    estimate = 2.0 * truth
    reps = pd.DataFrame(
        {
            "outcome": "y",
            "method": "regression",
            "estimand": "ATT",
            "truth": truth,
            "estimate": estimate,
            "error": estimate - truth,
            "std_error": 1.0,
            "ci_lower": estimate - 1.96,
            "ci_upper": estimate + 1.96,
            "covered": [True, True, False, False],
        }
    )
    row = summarise(reps).iloc[0]
    assert row["sd_estimate"] == np.std(estimate, ddof=1)
    assert row["sd_error"] == np.std(truth, ddof=1)
    assert row["sd_error"] == row["sd_estimate"] / 2
    # the page's table shows both ratios: SE / SD of the estimates, and SE / SD of the errors
    table = validation_markdown(summarise(reps), 4, 100, "cmd").splitlines()
    head = [c.strip() for c in table[4].strip("|").split("|")]
    cells = dict(zip(head, [c.strip() for c in table[6].strip("|").split("|")], strict=True))
    sd = np.std(estimate, ddof=1)
    assert cells["SE / SD"] == f"{1.0 / sd:.2f}"
    assert cells["SE / SD(estimate - truth)"] == f"{2.0 / sd:.2f}"
    # the mean truth, 1.5, is inside the intervals (estimate +- 1.96) of the first two seeds only
    assert row["coverage_population"] == 0.5 and cells["coverage of the mean truth"] == "0.500"
    # with +- 3 it is inside the first three (-3..3, -1..5, 1..7), not the fourth (3..9)
    wide = summarise(reps.assign(ci_lower=estimate - 3, ci_upper=estimate + 3)).iloc[0]
    assert wide["coverage_population"] == 0.75 and wide["coverage"] == 0.5  # covered is the input's
