"""Administrations, the baseline/follow-up/mediator choice and the cohort's questionnaire columns
(deepvalue.questionnaires.administrations, deepvalue.cohort.questionnaires), on hand-built
clients whose expected choices are worked out below, and against a per-client loop (the oracle).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from deepvalue.cohort.questionnaires import add_questionnaire_scores, questionnaire_scores
from deepvalue.core.settings import Questionnaire
from deepvalue.questionnaires.administrations import (
    administrations,
    choose_baseline,
    choose_follow_up,
    choose_mediator,
)

SWEMWBS = Questionnaire(
    name="wellbeing",
    instrument="swemwbs",
    questionnaire="SWEMWBS",
    items=tuple(f"q{j}" for j in range(1, 8)),
    follow_up_days=182,
)
WAI = Questionnaire(
    name="alliance",
    instrument="wai_sr",
    questionnaire="WAI-SR",
    items=tuple(f"w{j}" for j in range(1, 13)),
    role="mediator",
    measured_within_days=60,
)
EXTRACT = dt.date(2025, 1, 1)
D = np.datetime64


def _admin(client, date, value, spec=SWEMWBS, missing=()):
    return [
        (client, spec.questionnaire, item, np.nan if j in missing else float(value), D(date, "ms"))
        for j, item in enumerate(spec.items)
    ]


def cohort() -> pd.DataFrame:
    first = D("2024-01-01", "s")
    index = D("2024-02-01", "s")  # index + 182 days = 2024-08-01
    rows = {
        "A": (first, index),
        "B": (first, index),
        "C": (first, index),
        "D": (first, index),
        "E": (first, D("2024-12-01", "s")),  # window closes 2024-12-01 + 242 days, after the extract date
        "F": (first, index),
        "G": (first, D("2024-01-06", "s")),  # index 5 days after first contact
    }
    return pd.DataFrame(
        {
            "client_id": list(rows),
            "first_contact_date": [v[0] for v in rows.values()],
            "index_date": [v[1] for v in rows.values()],
        }
    )


def responses() -> pd.DataFrame:
    rows = []
    for c in "ABCDF":
        rows += _admin(c, "2023-12-20", 3)  # raw 21 -> 19.25, an earlier baseline candidate
    rows += _admin("A", "2024-01-10", 4)  # raw 28 -> 25.03: the latest on or before first + 14 days
    rows += _admin("A", "2024-01-20", 1)  # after first contact + 14 days: not a baseline
    rows += _admin("A", "2024-07-01", 5)  # 31 days before the target
    rows += _admin("A", "2024-08-10", 2)  # 9 days after the target: nearest -> raw 14 -> 15.32
    rows += _admin("B", "2024-08-01", 3, missing=(2,))  # in the window, an item missing: not scored
    rows += _admin("D", "2024-08-01", 3)
    rows = [r for r in rows if not (r[0] == "D" and r[4] < D("2024-01-15", "ms"))]  # D: no baseline
    rows += _admin("D", "2024-01-20", 3)
    rows += _admin("E", "2023-12-31", 3)
    rows += _admin("F", "2024-07-27", 4)  # 5 days before the target: the earlier of two equally near
    rows += _admin("F", "2024-08-06", 5)
    rows += _admin("G", "2024-01-10", 3)  # within first + 14 days but after the index date: no baseline
    rows += _admin("G", "2024-07-06", 3)
    rows += _admin("A", "2024-02-20", 3, spec=WAI)  # mediator: index + 19 days
    rows += _admin("A", "2024-03-15", 5, spec=WAI)
    rows += _admin("B", "2024-02-01", 5, spec=WAI)  # on the index date: not after it
    rows += _admin("C", "2024-03-01", 4, spec=WAI, missing=(0,))  # items missing (WAI-SR refuses)
    frame = pd.DataFrame(rows, columns=["client_id", "questionnaire", "item", "response", "response_date"])
    frame.loc[len(frame)] = ("A", "OTHER", "x", 1.0, D("2024-03-01", "ms"))  # another questionnaire
    return frame


def test_choices_on_hand_built_clients():
    c, r = cohort(), responses()
    adm = administrations(r, SWEMWBS)
    base = choose_baseline(adm, c["client_id"], c["first_contact_date"], c["index_date"], 14)
    follow = choose_follow_up(adm, c["client_id"], c["index_date"], 182, 60)
    day = lambda i: str(np.datetime64(int(adm.day[i]), "D")) if i >= 0 else None  # noqa: E731
    assert [day(i) for i in base.index] == [
        "2024-01-10",  # A: the latest in the baseline period
        "2023-12-20",  # B
        "2023-12-20",  # C
        None,  # D: its only early administration is after first contact + 14 days
        "2023-12-31",  # E
        "2023-12-20",  # F
        None,  # G: 2024-01-10 is after its index date
    ]
    assert [day(i) for i in follow.index] == [
        "2024-08-10",  # A: 9 days from the target, not 2024-07-01 (31)
        None,  # B: answered, an item missing
        None,  # C: not answered
        "2024-08-01",  # D
        None,  # E: nothing in its window
        "2024-07-27",  # F: 5 days either side, the earlier
        "2024-07-06",  # G: target 2024-07-06
    ]
    assert follow.any_in_period.tolist() == [True, True, False, True, False, True, True]


def test_cohort_columns_and_outcome_flow():
    c, r = cohort(), responses()
    out, flow, reliability = add_questionnaire_scores(c, r, (SWEMWBS, WAI), EXTRACT)
    # A: baseline raw 28 -> 25.03, follow-up raw 14 -> 15.32 (Warwick table); F: raw 28 -> 25.03
    assert_allclose(out["wellbeing"].to_numpy(), [15.32, np.nan, np.nan, np.nan, np.nan, 25.03, np.nan], atol=1e-12)
    assert_allclose(
        out["wellbeing_baseline"].to_numpy(), [25.03, 19.25, 19.25, np.nan, 19.25, 19.25, np.nan], atol=1e-12
    )
    # WAI-SR (sum): A's first after the index date, 12 x 3 = 36; B's is on the index date
    assert_allclose(out["alliance"].to_numpy(), [36, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan])
    wb = flow[flow["outcome"] == "wellbeing"]
    assert wb["n_excluded"].tolist() == [0, 1, 1, 1, 2, 0]  # E; C; B; D and G; analysed A, F
    assert wb["n_remaining"].tolist() == [7, 6, 5, 4, 2, 2]
    assert wb["reason"].iloc[1].startswith("follow-up window not closed at the extract date")
    assert wb["reason"].iloc[2].startswith("not answered")
    assert wb["reason"].iloc[3].startswith("answered with items missing")
    assert wb["reason"].iloc[4].startswith("no baseline")
    al = flow[flow["outcome"] == "alliance"]
    # E's window (2024-12-01 + 60 days) is open at 2025-01-01; B (on the index date), D, F, G not
    # answered; C items missing
    assert al["n_excluded"].tolist() == [0, 1, 4, 1, 0]
    assert set(reliability["administration"]) == {"baseline", "follow_up", "mediator"}
    # every chosen administration: baselines of A, B, C, E, F; follow-ups of A, D, F, G; A's mediator
    assert reliability.set_index("administration")["n"].to_dict() == {"baseline": 5, "follow_up": 4, "mediator": 1}
    assert reliability["notes"].str.contains("skipped").all()  # fewer than 10 each


def _oracle(c: pd.DataFrame, adm, f=182, w=60, b=14):
    """The obvious per-client loop over administrations."""
    base, follow = [], []
    for cid, first, index in zip(c["client_id"], c["first_contact_date"], c["index_date"], strict=True):
        fd, idx = int(np.datetime64(first, "D").astype(int)), int(np.datetime64(index, "D").astype(int))
        mine = [i for i in range(len(adm.day)) if adm.client_id[i] == cid and adm.scored[i]]
        cands = [i for i in mine if adm.day[i] <= fd + b and adm.day[i] < idx]
        base.append(max(cands, key=lambda i: adm.day[i]) if cands else -1)
        t = idx + f
        cands = [i for i in mine if abs(adm.day[i] - t) <= w and adm.day[i] > idx]
        follow.append(min(cands, key=lambda i: (abs(adm.day[i] - t), adm.day[i])) if cands else -1)
    return np.array(base), np.array(follow)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_vectorised_choice_matches_the_per_client_loop(seed):
    rng = np.random.default_rng(seed)
    n = 150
    first = D("2023-01-01", "D") + rng.integers(0, 300, n)
    c = pd.DataFrame(
        {
            "client_id": [f"C{i:04d}" for i in range(n)],
            "first_contact_date": first.astype("datetime64[s]"),
            "index_date": (first + rng.integers(1, 60, n)).astype("datetime64[s]"),
        }
    )
    rows = []
    for _ in range(600):
        i = rng.integers(n)
        day = first[i] + rng.integers(-40, 320)
        missing = (0,) if rng.random() < 0.1 else ()
        rows += _admin(c["client_id"][i], str(day), rng.integers(1, 6), missing=missing)
    r = pd.DataFrame(rows, columns=["client_id", "questionnaire", "item", "response", "response_date"])
    r = r.drop_duplicates(["client_id", "item", "response_date"])
    adm = administrations(r, SWEMWBS)
    base = choose_baseline(adm, c["client_id"], c["first_contact_date"], c["index_date"], 14)
    follow = choose_follow_up(adm, c["client_id"], c["index_date"], 182, 60)
    want_base, want_follow = _oracle(c, adm)
    assert_array_equal(base.index, want_base)
    assert_array_equal(follow.index, want_follow)
    assert (base.index >= 0).sum() > 20 and (follow.index >= 0).sum() > 20  # the test exercises both


def test_administrations_group_by_client_and_date():
    adm = administrations(responses(), SWEMWBS)
    # A 5, B 2, C 1, D 2, E 1, F 3, G 2 (client, date) pairs; the WAI-SR and OTHER rows are not SWEMWBS
    assert len(adm.day) == 16
    assert adm.items.shape == (16, 7)
    # B's follow-up has item 3 missing and is not scored
    b = np.flatnonzero((adm.client_id == "B") & (adm.day == np.datetime64("2024-08-01", "D").astype(int)))
    assert np.isnan(adm.items[b[0], 2]) and np.isnan(adm.scores.score[b[0]])


def test_mediator_choice():
    c = cohort()
    adm = administrations(responses(), WAI)
    chosen = choose_mediator(adm, c["client_id"], c["index_date"], 60)
    assert chosen.index[1] == -1 and chosen.index[0] >= 0
    assert str(np.datetime64(int(adm.day[chosen.index[0]]), "D")) == "2024-02-20"


def test_no_responses_gives_empty_columns_and_full_exclusion():
    c = cohort()
    empty = responses().iloc[:0]
    scores = questionnaire_scores(c, empty, (SWEMWBS,), EXTRACT)
    assert scores.columns["wellbeing"].isna().all()
    assert scores.outcome_flow["n_remaining"].iloc[-1] == 0


def test_build_cohort_adds_the_questionnaire_columns_and_flow(monkeypatch):
    from pathlib import Path

    import yaml

    from deepvalue.cohort.build import build_cohort
    from deepvalue.core.config import load_config
    from deepvalue.core.errors import AnalysisError
    from deepvalue.core.settings import Settings
    from deepvalue.extract.ingest import ingest_extract

    root = Path(__file__).resolve().parents[2]
    monkeypatch.chdir(root)
    cfg = load_config(
        yaml.safe_load((root / "tests/broken_extracts/warn_responses_other_questionnaire/config.yaml").read_text())
    )
    settings = Settings.from_sections(cfg)
    extract = ingest_extract(settings)
    cohort = build_cohort(extract.tables, settings, extract.extract_date)
    a = cohort.analysis
    assert {"wellbeing", "wellbeing_baseline", "life_satisfaction", "life_satisfaction_baseline"} <= set(a.columns)
    # the responses of that extract are all at intake: no follow-up, so nobody is analysed
    assert a["wellbeing"].isna().all() and a["wellbeing_baseline"].notna().any()
    flow = cohort.outcome_flow.set_index(["outcome", "step"], append=True)
    for name in ("wellbeing", "life_satisfaction"):
        rows = cohort.outcome_flow[cohort.outcome_flow["outcome"] == name]
        assert rows["n_remaining"].iloc[0] == len(a)
        assert rows["n_excluded"].sum() == len(a) - rows["n_remaining"].iloc[-1]  # everyone accounted for
    assert len(flow) > 0 and list(cohort.reliability["questionnaire"].unique()) == ["wellbeing", "life_satisfaction"]

    tables = dict(extract.tables)
    del tables["responses"]
    with pytest.raises(AnalysisError, match="responses table"):
        build_cohort(tables, settings, extract.extract_date)
    without = Settings.from_sections({k: v for k, v in cfg.items() if k != "questionnaires"})
    plain = build_cohort(tables, without, extract.extract_date)
    assert "wellbeing" not in plain.analysis and len(plain.reliability) == 0
