"""The responses table and the questionnaires config (issue 15): reading, validation, counts.

The broken cases of tests/broken_extracts/responses_* check one message per problem through
`deepvalue validate`; these tests check what is kept, dropped and counted, and the config checks.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from deepvalue.core.config import load_config
from deepvalue.core.errors import ConfigError, ExtractError
from deepvalue.core.settings import Settings
from deepvalue.extract.ingest import ingest_extract, write_interim

ROOT = Path(__file__).resolve().parents[2]
CASE = ROOT / "tests" / "broken_extracts" / "warn_responses_other_questionnaire"


@pytest.fixture
def base_config(monkeypatch):
    monkeypatch.chdir(ROOT)
    return yaml.safe_load((CASE / "config.yaml").read_text())


def _with_responses(cfg: dict, frame: pd.DataFrame, tmp_path: Path) -> dict:
    cfg = copy.deepcopy(cfg)
    path = tmp_path / "responses.csv"
    frame.to_csv(path, index=False)
    cfg["extract"]["responses"]["path"] = str(path)
    return cfg


def _answers() -> pd.DataFrame:
    return pd.read_csv(CASE / "responses.csv", dtype=str, keep_default_na=False)


def test_valid_responses_are_read_typed_and_counted(base_config, tmp_path):
    extract = ingest_extract(Settings.from_sections(load_config(base_config)))
    frame = extract.tables["responses"]
    assert list(frame.columns) == ["client_id", "questionnaire", "item", "response", "response_date", "source_row"]
    assert frame["response"].dtype == np.float64
    assert str(frame["response_date"].dtype).startswith("datetime64")
    assert set(frame["questionnaire"]) == {"SWEMWBS", "ONS4"}  # PHQ9 is not configured
    rep = extract.report["tables"]["responses"]
    assert rep["rows_read"] == 169 and rep["rows_written"] == 160
    dropped = {d["reason"]: d["rows"] for d in rep["dropped"]}
    assert dropped["questionnaire not named under questionnaires"] == 9
    paths = write_interim(extract, tmp_path / "interim", tmp_path / "report.json")
    assert len(pd.read_parquet(paths["responses"])) == 160


def test_exact_repeats_are_dropped_unanswered_items_kept_unknown_clients_dropped(base_config, tmp_path):
    answers = _answers()
    answers = answers[answers["questionnaire"] != "PHQ9"]
    extra = pd.concat(
        [
            answers.iloc[[0]],  # an exact repeat
            answers.iloc[[1]].assign(client_id="C9999999"),  # a client not in the clients table
        ]
    )
    answers = pd.concat([answers, extra], ignore_index=True)
    answers.loc[2, "response"] = ""  # an item not answered
    extract = ingest_extract(Settings.from_sections(load_config(_with_responses(base_config, answers, tmp_path))))
    rep = extract.report["tables"]["responses"]
    dropped = {d["reason"]: d["rows"] for d in rep["dropped"]}
    assert dropped["exact duplicate of an earlier response row"] == 1
    assert dropped["client_id not in the clients table"] == 1
    assert rep["missing_values"]["response"] == 1
    assert extract.tables["responses"]["response"].isna().sum() == 1
    assert any("1 responses rows (of 161)" in w for w in rep["warnings"])


def test_every_problem_is_reported_at_once(base_config, tmp_path):
    answers = _answers()
    answers.loc[0, "response"] = "6"
    answers.loc[8, "item"] = "q9"
    answers.loc[10, "response_date"] = ""
    answers.loc[7, "response"] = "11"  # ONS4 life satisfaction is 0-10
    with pytest.raises(ExtractError) as info:
        ingest_extract(Settings.from_sections(load_config(_with_responses(base_config, answers, tmp_path))))
    text = str(info.value)
    assert "(4 problems)" in text
    assert "unknown item label(s) for questionnaire 'SWEMWBS' (e.g. 'q9')" in text
    assert "whole numbers 1 to 5" in text and "whole numbers 0 to 10" in text
    assert "undated responses" in text


def test_a_half_point_is_not_an_answer(base_config, tmp_path):
    answers = _answers()
    answers.loc[0, "response"] = "2.5"
    with pytest.raises(ExtractError, match=r"e\.g\. 2\.5"):
        ingest_extract(Settings.from_sections(load_config(_with_responses(base_config, answers, tmp_path))))


def test_item_count_must_be_the_instruments(base_config):
    cfg = copy.deepcopy(base_config)
    cfg["questionnaires"][0]["items"] = cfg["questionnaires"][0]["items"][:6]
    with pytest.raises(ExtractError, match=r"'wellbeing' lists 6 item\(s\) but Short Warwick.* has 7"):
        ingest_extract(Settings.from_sections(load_config(cfg)))


def test_questionnaire_config_defaults_and_checks(base_config):
    cfg = load_config(base_config)
    q = Settings.from_sections(cfg).questionnaires[0]
    assert (q.window_days, q.baseline_days, q.role, q.items[0]) == (60, 14, "outcome", "q1")

    bad = copy.deepcopy(base_config)
    bad["questionnaires"][1]["name"] = "job_start"  # an outcome's name
    bad["questionnaires"].append(
        {"name": "alliance", "instrument": "wai_sr", "questionnaire": "WAI-SR", "items": ["w1"], "role": "mediator"}
    )
    del bad["questionnaires"][0]["follow_up_days"]
    bad["questionnaires"].append(dict(bad["questionnaires"][0], instrument="swemwbs-7"))
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    text = str(info.value)
    assert "name(s) also used under outcomes: job_start" in text
    assert "'alliance' (role: mediator) has no measured_within_days" in text
    assert "'wellbeing' (role: outcome) has no follow_up_days" in text
    assert "duplicate name(s): wellbeing" in text
    assert "swemwbs-7" in text and "use one of: swemwbs" in text

    no_table = copy.deepcopy(base_config)
    del no_table["extract"]["responses"]
    with pytest.raises(ConfigError, match="no responses table"):
        load_config(no_table)


def test_a_config_without_questionnaires_reads_no_responses(base_config):
    cfg = copy.deepcopy(base_config)
    del cfg["questionnaires"], cfg["extract"]["responses"]
    extract = ingest_extract(Settings.from_sections(load_config(cfg)))
    assert "responses" not in extract.tables and "responses" not in extract.report["tables"]


CONTRACT = """
questionnaires:
  - name: wellbeing
    instrument: swemwbs
    questionnaire: SWEMWBS
    items: [q1, q2, q3, q4, q5, q6, q7]
    follow_up_days: 182
    window_days: 60
    baseline_days: 14
  - {name: life_satisfaction, instrument: ons4_life_satisfaction, questionnaire: ONS4, items: [life_satisfaction], follow_up_days: 182}
  - {name: alliance, instrument: wai_sr, questionnaire: WAI-SR, items: [w1, w2, w3, w4, w5, w6, w7, w8, w9, w10, w11, w12], role: mediator, measured_within_days: 60}
"""  # noqa: E501 (issue 15's contract, verbatim)


def test_the_issue_contract_is_a_valid_config(base_config):
    cfg = {**base_config, **yaml.safe_load(CONTRACT)}
    settings = Settings.from_sections(load_config(cfg))
    wellbeing, life, alliance = settings.questionnaires
    assert (wellbeing.follow_up_days, wellbeing.window_days, wellbeing.baseline_days) == (182, 60, 14)
    assert (life.window_days, life.baseline_days, life.role) == (60, 14, "outcome")  # the defaults
    assert (alliance.role, alliance.measured_within_days, len(alliance.items)) == ("mediator", 60, 12)
