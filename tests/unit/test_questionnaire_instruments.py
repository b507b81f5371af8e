"""Instrument definitions and scoring (deepvalue.questionnaires.instruments) against their sources.

Each reference value below was read in the source named beside it (docs/design.md, section
"Questionnaires", lists them with URLs).
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from deepvalue.questionnaires.instruments import (
    INSTRUMENT_NAMES,
    INSTRUMENTS,
    improvement,
    instrument,
    score_items,
    swemwbs_table,
)

# SWEMWBS raw score -> metric score, Warwick Medical School conversion table (Stewart-Brown et al.
# 2009), as transcribed in public code that names the table's URL
# (https://warwick.ac.uk/fac/sci/med/research/platform/wemwbs/using/howto/
# swemwbs_raw_score_to_metric_score_conversion_table.pdf); raw 29 is 26.02 in four of five copies.
WARWICK_SWEMWBS = {
    7: 7.00, 8: 9.51, 9: 11.25, 10: 12.40, 11: 13.33, 12: 14.08, 13: 14.75, 14: 15.32, 15: 15.84,
    16: 16.36, 17: 16.88, 18: 17.43, 19: 17.98, 20: 18.59, 21: 19.25, 22: 19.98, 23: 20.73, 24: 21.54,
    25: 22.35, 26: 23.21, 27: 24.11, 28: 25.03, 29: 26.02, 30: 27.03, 31: 28.13, 32: 29.31, 33: 30.70,
    34: 32.55, 35: 35.00,
}  # fmt: skip


def test_swemwbs_table_entry_by_entry():
    raw, metric = swemwbs_table()
    assert_array_equal(raw, np.arange(7, 36))
    assert dict(zip(raw.tolist(), metric.tolist(), strict=True)) == WARWICK_SWEMWBS
    assert np.all(np.diff(metric) > 0)  # a conversion of a sum is strictly increasing


@pytest.mark.parametrize("raw", list(WARWICK_SWEMWBS))
def test_swemwbs_score_of_every_raw_total(raw):
    # one administration per raw total: as many 5s as fit, the rest 1s, one middle value
    base = np.ones(7)
    extra = raw - 7
    for i in range(7):
        step = min(4, extra)
        base[i] += step
        extra -= step
    s = score_items(INSTRUMENTS["swemwbs"], base[None, :])
    assert s.raw[0] == raw
    assert_allclose(s.score[0], WARWICK_SWEMWBS[raw], rtol=0, atol=1e-12)


def test_item_counts_ranges_and_score_ranges_as_published():
    # (items, lowest response, highest response, score range) from each instrument's source
    published = {
        "swemwbs": (7, 1, 5, (7, 35)),  # Warwick: 7 items, 1-5
        "wemwbs": (14, 1, 5, (14, 70)),  # Warwick: "total score is from 14-70"
        "ons4_life_satisfaction": (1, 0, 10, (0, 10)),  # GSS harmonised standard: scale 0 to 10
        "ons4_worthwhile": (1, 0, 10, (0, 10)),
        "ons4_happiness": (1, 0, 10, (0, 10)),
        "ons4_anxiety": (1, 0, 10, (0, 10)),
        "phq9": (9, 0, 3, (0, 27)),  # Kroenke et al. 2001: 0-3 each, 0-27
        "gad7": (7, 0, 3, (0, 21)),  # Spitzer et al. 2006: 0-21
        "wai_sr": (12, 1, 5, (12, 60)),  # Hatcher & Gillaspy 2006: 12 items 1-5, 12-60
        "gse": (10, 1, 4, (10, 40)),  # Schwarzer & Jerusalem 1995: "from 10 to 40 points"
    }
    assert set(published) == set(INSTRUMENT_NAMES)
    for name, (k, lo, hi, rng) in published.items():
        inst = instrument(name)
        assert (inst.n_items, inst.low, inst.high) == (k, lo, hi), name
        assert inst.score_range == rng, name
        if inst.score == "sum":
            # the lowest and highest answers give the ends of the published range
            s = score_items(inst, np.array([[lo] * k, [hi] * k], dtype=float))
            assert_array_equal(s.score, rng)
        assert inst.source and "http" in inst.source, name


def test_direction_lower_is_better_only_for_symptom_scales():
    lower = {n for n, i in INSTRUMENTS.items() if not i.higher_is_better}
    assert lower == {"phq9", "gad7", "ons4_anxiety"}
    # a PHQ-9 effect of -3 points (treated less depressed) is an improvement of +3
    assert improvement(INSTRUMENTS["phq9"], -3.0) == 3.0
    assert improvement(INSTRUMENTS["swemwbs"], 1.5) == 1.5
    assert_array_equal(improvement(INSTRUMENTS["ons4_anxiety"], np.array([1.0, -2.0])), [-1.0, 2.0])


def test_meaningful_change_only_where_a_source_gives_one():
    given = {n: i.meaningful_change for n, i in INSTRUMENTS.items() if i.meaningful_change is not None}
    # Shah et al. 2018 (2.77 SEM = 2.87 SWEMWBS points); the IAPT manual (PHQ-9 6, GAD-7 4)
    assert given == {"swemwbs": 2.87, "phq9": 6.0, "gad7": 4.0}
    for name in given:
        assert "http" in INSTRUMENTS[name].meaningful_change_source


def test_phq9_worked_sum():
    # answers 0,1,2,3,3,2,1,0,1 ("not at all" .. "nearly every day") sum to 13
    s = score_items(INSTRUMENTS["phq9"], np.array([[0, 1, 2, 3, 3, 2, 1, 0, 1.0]]))
    assert s.score[0] == 13


def test_refuse_rule_leaves_incomplete_administrations_unscored():
    x = np.array([[3, 3, 3, 3, 3, 3, np.nan], [np.nan] * 7])
    s = score_items(INSTRUMENTS["swemwbs"], x)
    assert np.isnan(s.score).all()
    assert s.reason.tolist() == ["items missing (swemwbs is scored only when complete)", "no item answered"]
    assert s.n_answered.tolist() == [6, 0]


def test_gse_prorates_up_to_three_missing_items():
    # Schwarzer's FAQ: score "as long as no more than three items on the ten-item scale are
    # missing" (SPSS Mean.7): the mean of the answered items; on the 10-40 sum scale, times 10
    x = np.array(
        [
            [4, 3, 4, 3, np.nan, np.nan, np.nan, 4, 3, 4],  # 7 answered, mean 25/7
            [2, 2, 2, 2, 2, 2, np.nan, np.nan, np.nan, np.nan],  # 6 answered: not scored
        ]
    )
    s = score_items(INSTRUMENTS["gse"], x)
    assert_allclose(s.score[0], 25 / 7 * 10, rtol=1e-12)
    assert np.isnan(s.score[1]) and "more than 3 of 10" in s.reason[1]


def test_reverse_items_are_recoded():
    from dataclasses import replace

    inst = replace(INSTRUMENTS["wemwbs"], reverse=(1, 2))  # no published WEMWBS reverse items; a made-up case
    x = np.full((1, 14), 3.0)
    x[0, 0], x[0, 1] = 1, 5  # recoded 5 and 1
    assert score_items(inst, x).score[0] == 42


def test_out_of_range_responses_raise():
    with pytest.raises(ValueError, match="outside 1-5"):
        score_items(INSTRUMENTS["swemwbs"], np.array([[6, 3, 3, 3, 3, 3, 3.0]]))


def _slow_score(inst, row):
    """The obvious per-administration scorer, the oracle for the vectorised one."""
    answered = [v for v in row if not np.isnan(v)]
    values = [inst.low + inst.high - v if (j + 1) in inst.reverse else v for j, v in enumerate(row)]
    values = [v for v in values if not np.isnan(v)]
    missing = inst.n_items - len(answered)
    if not answered or missing > (inst.max_missing if inst.missing == "prorate" else 0):
        return np.nan
    raw = sum(values) if missing == 0 else sum(values) / len(values) * inst.n_items
    if inst.score == "swemwbs_metric":
        return WARWICK_SWEMWBS[int(raw)]
    return raw


@pytest.mark.parametrize("name", INSTRUMENT_NAMES)
def test_vectorised_scoring_matches_the_slow_oracle(name):
    inst = INSTRUMENTS[name]
    rng = np.random.default_rng(7)
    x = rng.integers(inst.low, inst.high + 1, size=(200, inst.n_items)).astype(float)
    x[rng.random(x.shape) < 0.08] = np.nan
    s = score_items(inst, x)
    expected = np.array([_slow_score(inst, row) for row in x])
    assert_allclose(s.score, expected, rtol=1e-12, equal_nan=True)
    assert (s.reason[np.isnan(s.score)] != "").all()
