"""The generator's questionnaire answers (responses.csv) and their truth (issue 15, part 2).

The answers must pass the pipeline's own reading and validation, the pipeline must analyse
exactly the clients the truth is over (measured and events recording), and the truth must be
reproducible, zero under the null scenario and made with the pipeline's scorer.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from deepvalue.cohort.build import build_cohort
from deepvalue.core.config import load_config
from deepvalue.core.settings import Settings
from deepvalue.extract.ingest import ingest_extract
from deepvalue.synth.generate import generate_extract
from deepvalue.synth.write import write_extract


def fingerprint(ids) -> str:
    return hashlib.sha256("\n".join(sorted(ids)).encode("utf-8")).hexdigest()


def _run(extract, tmp_path):
    paths = write_extract(extract, tmp_path)
    cfg = Settings.from_sections(load_config(paths["config"]))
    ingested = ingest_extract(cfg)
    return paths, ingested, build_cohort(ingested.tables, cfg, ingested.extract_date)


@pytest.fixture(scope="module", params=["measured", "events"])
def run(request, tmp_path_factory):
    extract = generate_extract(2500, seed=4, recording=request.param)
    return extract, *_run(extract, tmp_path_factory.mktemp(request.param))


def test_responses_pass_the_pipelines_validation_and_are_all_read(run):
    extract, paths, ingested, _ = run
    written = pd.read_csv(paths["responses"], keep_default_na=False, dtype=str)
    assert list(written.columns) == ["client_id", "questionnaire", "item", "response", "response_date"]
    # whole numbers in range, or empty (not answered)
    answered = written["response"] != ""
    values = written.loc[answered, "response"].astype(int)
    sw = written.loc[answered, "questionnaire"] != "ONS4"
    assert values[sw].between(1, 5).all() and values[~sw].between(0, 10).all()
    assert (~answered).sum() > 0  # some items left blank
    # every row is read (none dropped as a duplicate, an unknown client or another questionnaire)
    assert len(ingested.tables["responses"]) == len(written)
    assert (written["response_date"] < extract.extract_date.isoformat()).all()


def test_the_pipeline_analyses_the_truths_populations(run):
    extract, _, _, cohort = run
    analysis, flow = cohort.analysis, cohort.outcome_flow
    for name, t in extract.truth["questionnaires"].items():
        analysed = analysis.loc[analysis[name].notna()]
        assert fingerprint(analysed["client_id"]) == t["population_sha256"], name
        assert int(analysed["treatment"].sum()) == t["n_treated"], name
        assert int((analysed["treatment"] == 0).sum()) == t["n_control"], name
        if t["role"] != "outcome":
            continue
        f = flow[flow["outcome"] == name]
        excluded = f.loc[f["step"] == "excluded", "n_excluded"].tolist()
        assert excluded == [
            t["n_excluded_follow_up_window_not_closed"],
            t["n_excluded_not_answered"],
            t["n_excluded_items_missing"],
            t["n_excluded_no_baseline"],
        ], name
        assert analysed[f"{name}_baseline"].notna().all()
    if extract.recording == "events":
        assert extract.truth["questionnaires"]["wellbeing"]["n_excluded_follow_up_window_not_closed"] > 0


def test_some_follow_ups_are_missed_and_baselines_are_prognostic(run):
    extract, _, _, cohort = run
    t = extract.truth["questionnaires"]["wellbeing"]
    at_risk = t["n_eligible"] - t["n_excluded_follow_up_window_not_closed"]
    assert 0.20 <= t["n_excluded_not_answered"] / at_risk <= 0.30
    assert t["n_excluded_items_missing"] > 0 and t["n_excluded_no_baseline"] > 0
    a = cohort.analysis.loc[cohort.analysis["wellbeing"].notna()]
    assert np.corrcoef(a["wellbeing"], a["wellbeing_baseline"])[0, 1] > 0.4
    # related to the confounders: complex clients start lower (disability is part of complexity)
    assert (
        a.loc[a["disability"] == 1, "wellbeing_baseline"].mean()
        < a.loc[a["disability"] == 0, "wellbeing_baseline"].mean() - 0.5
    )
    # and continuity is more common among the better-off at baseline (so ANCOVA matters)
    assert (
        a.loc[a["treatment"] == 1, "wellbeing_baseline"].mean()
        > a.loc[a["treatment"] == 0, "wellbeing_baseline"].mean()
    )


def test_truth_is_reproducible_for_a_seed_and_differs_between_seeds():
    a, b, c = (generate_extract(800, seed=s) for s in (9, 9, 10))
    assert a.truth["questionnaires"] == b.truth["questionnaires"]
    pd.testing.assert_frame_equal(a.responses, b.responses)
    assert a.truth["questionnaires"]["wellbeing"]["att"] != c.truth["questionnaires"]["wellbeing"]["att"]


def test_truth_magnitudes_and_mediation():
    q = generate_extract(5000, seed=1).truth["questionnaires"]
    wb = q["wellbeing"]
    # the effects the generator builds in (module docstring of deepvalue.synth.responses), on the metric score
    assert 1.2 < wb["att"] < 2.0 and 1.2 < wb["ate"] < 2.0
    assert wb["scales"]["baseline_sd"]["att"] == pytest.approx(wb["att"] / wb["scales"]["baseline_sd"]["baseline_sd"])
    assert 0.05 < wb["scales"]["share_meaningful_change"]["att"] < 0.3
    med = wb["mediation"]
    # total = natural direct + natural indirect, exactly (the same potential answers)
    for e in ("att", "ate"):
        total = med["natural_direct_effect"][e] + med["natural_indirect_effect"][e]
        assert total == pytest.approx(wb[e], rel=1e-8)
        assert 0.2 < med["natural_indirect_effect"][e] / wb[e] < 0.5
    assert 0.25 < q["life_satisfaction"]["att"] < 0.6
    assert "share_meaningful_change" not in q["life_satisfaction"]["scales"]  # ONS4: no published threshold
    assert 2.0 < q["alliance"]["att"] < 5.0  # WAI-SR sum points


def test_null_scenario_truth_is_exactly_zero():
    q = generate_extract(1500, seed=2, scenario="null").truth["questionnaires"]
    for name in ("wellbeing", "life_satisfaction"):
        for scale, effects in q[name]["scales"].items():
            assert effects["att"] == 0 and effects["ate"] == 0, (name, scale)
    assert q["wellbeing"]["mediation"]["natural_indirect_effect"]["ate"] == 0
    assert q["alliance"]["ate"] == 0


def test_other_tables_do_not_depend_on_the_answers(monkeypatch):
    # the answers come from their own stream: without them the other tables and their truth are the same
    ex = generate_extract(600, seed=5)
    monkeypatch.setattr("deepvalue.synth.generate.draw_responses", lambda *a, **k: (None, {}))
    bare = generate_extract(600, seed=5)
    for table in ("clients", "contacts", "outcomes", "workers"):
        pd.testing.assert_frame_equal(getattr(ex, table), getattr(bare, table), obj=table)
    assert ex.truth["outcomes"] == bare.truth["outcomes"] and ex.truth["cohort"] == bare.truth["cohort"]
    assert set(ex.responses["client_id"]) <= set(ex.clients["client_id"])
