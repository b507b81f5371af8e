"""The published questionnaires the pipeline can score, each as its manual or paper describes it.

Every figure here comes from a source that was read (named on the instrument, with its URL; the
docs/design.md section "Questionnaires" lists them). Where no source was found for a rule, the
conservative choice is made and the instrument says so in ``notes``: a missing item is then
*refused* (the administration is not scored) rather than prorated by an invented rule, and no
meaningful-change threshold is given.

Scores (:func:`score_items`, vectorised over administrations):

- ``sum``: the sum of the item responses (after reversing the reverse-scored items);
- ``swemwbs_metric``: the SWEMWBS raw sum 7-35 converted to the metric score by the Rasch
  conversion table (``data/swemwbs_rasch.csv``, :func:`swemwbs_table`);
- ``item``: a single-item measure (the ONS4 questions), the response itself.

Missing items: ``refuse`` scores only complete administrations; ``prorate`` (with ``max_missing``)
scores an administration with at most that many items missing as the mean of the answered items
times the number of items (the sum-scale equivalent of the manual's mean score).

Direction: ``higher_is_better`` is False for PHQ-9, GAD-7 and ONS anxiety (symptom scales); an
effect (treated minus control, in points) is reported as an improvement with
:func:`improvement`, which flips its sign for those.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

import numpy as np

MissingRule = Literal["refuse", "prorate"]
ScoreKind = Literal["sum", "swemwbs_metric", "item"]

_WARWICK_TABLE = (
    "https://warwick.ac.uk/fac/sci/med/research/platform/wemwbs/using/howto/"
    "swemwbs_raw_score_to_metric_score_conversion_table.pdf"
)


@dataclass(frozen=True)
class Instrument:
    """One published instrument.

    ``reverse`` holds the 1-based positions (in the published item order) of the reverse-scored
    items, recoded ``low + high - response``. ``score_range`` is the range of the score as
    reported (the metric score for SWEMWBS). ``meaningful_change`` is a published threshold in
    score points (None where no source was found), with its source.
    """

    name: str
    title: str
    n_items: int
    low: int
    high: int
    score: ScoreKind
    score_range: tuple[float, float]
    higher_is_better: bool
    source: str
    reverse: tuple[int, ...] = ()
    missing: MissingRule = "refuse"
    max_missing: int = 0
    meaningful_change: float | None = None
    meaningful_change_source: str | None = None
    notes: str = ""

    @property
    def direction(self) -> int:
        """+1 when a higher score is better, -1 when lower is better (symptom scales)."""
        return 1 if self.higher_is_better else -1


_SWEMWBS_SOURCE = (
    "Stewart-Brown S, Tennant A, Tennant R, Platt S, Parkinson J, Weich S (2009). Internal construct validity of the "
    "Warwick-Edinburgh Mental Well-being Scale (WEMWBS): a Rasch analysis using data from the Scottish Health "
    "Education Population Survey. Health and Quality of Life Outcomes 7:15, https://doi.org/10.1186/1477-7525-7-15; "
    "Warwick Medical School, Collect, score, analyse and interpret WEMWBS, "
    "https://warwick.ac.uk/fac/sci/med/research/platform/wemwbs/using/howto (7 items, 1-5, the raw sum converted "
    f"by a conversion table); the table: {_WARWICK_TABLE}"
)
_ONS_SOURCE = (
    "Government Statistical Service, Personal well-being harmonised standard (2019), "
    "https://gss.civilservice.gov.uk/policy-store/personal-well-being/ (four questions, each 0-10, where 0 is "
    "'not at all' and 10 'completely'; anxiety: 'how anxious did you feel yesterday?')"
)
_PHQ_GAD_SCALE = (
    "items scored 0 (not at all), 1 (several days), 2 (more than half the days), 3 (nearly every day), summed"
)
_IAPT = (
    "IAPT (NHS Talking Therapies) manual, reliable improvement: a reduction of 6 or more on the PHQ-9 and 4 or more "
    "on the GAD-7, as quoted at http://www.cbtwatch.com/tag/no-justification-for-nhs-talking-theapies/ (the manual "
    "itself, https://www.england.nhs.uk/mental-health/adults/nhs-talking-therapies/, was not read)"
)
_NO_MISSING_RULE = (
    "no published missing-item rule was found in the sources read: an incomplete administration is refused"
)

INSTRUMENTS: dict[str, Instrument] = {
    "swemwbs": Instrument(
        name="swemwbs",
        title="Short Warwick-Edinburgh Mental Wellbeing Scale (SWEMWBS)",
        n_items=7,
        low=1,
        high=5,
        score="swemwbs_metric",
        score_range=(7.0, 35.0),
        higher_is_better=True,
        source=_SWEMWBS_SOURCE,
        meaningful_change=2.87,
        meaningful_change_source=(
            "Shah N, Cader M, Andrews WP, Wijesekera D, Stewart-Brown SL (2018). Responsiveness of the Short "
            "Warwick Edinburgh Mental Well-Being Scale (SWEMWBS): evaluation a clinical sample. Health and Quality of "
            "Life Outcomes 16:239, https://doi.org/10.1186/s12955-018-1060-2: 2.77 SEM = 2.87 points (the lower "
            "standard, 1 SEM, is 1.03 points; 'a change of between 1 and 3 points')"
        ),
        notes="the conversion table is defined for complete seven-item answers only (raw 7-35); " + _NO_MISSING_RULE,
    ),
    "wemwbs": Instrument(
        name="wemwbs",
        title="Warwick-Edinburgh Mental Wellbeing Scale (WEMWBS)",
        n_items=14,
        low=1,
        high=5,
        score="sum",
        score_range=(14.0, 70.0),
        higher_is_better=True,
        source=(
            "Tennant R et al. (2007). The Warwick-Edinburgh Mental Well-being Scale (WEMWBS): development and UK "
            "validation. Health and Quality of Life Outcomes 5:63, https://doi.org/10.1186/1477-7525-5-63; Warwick "
            "Medical School, https://warwick.ac.uk/fac/sci/med/research/platform/wemwbs/using/howto ('The total score "
            "is obtained by summing the score for each of the 14 items ... from 1 - 5 and the total score is from "
            "14-70')"
        ),
        notes=_NO_MISSING_RULE
        + "; Maheswaran et al. (2012, HQLO 10:156) give a SEM of 2.4 to 3.1 points but no single threshold, so "
        "none is used",
    ),
    "ons4_life_satisfaction": Instrument(
        name="ons4_life_satisfaction",
        title="ONS personal well-being: life satisfaction ('Overall, how satisfied are you with your life nowadays?')",
        n_items=1,
        low=0,
        high=10,
        score="item",
        score_range=(0.0, 10.0),
        higher_is_better=True,
        source=_ONS_SOURCE,
        notes="one item: unanswered is not scored; no published meaningful-change threshold was found",
    ),
    "ons4_worthwhile": Instrument(
        name="ons4_worthwhile",
        title="ONS personal well-being: worthwhile ('... the things you do in your life are worthwhile?')",
        n_items=1,
        low=0,
        high=10,
        score="item",
        score_range=(0.0, 10.0),
        higher_is_better=True,
        source=_ONS_SOURCE,
        notes="one item: unanswered is not scored; no published meaningful-change threshold was found",
    ),
    "ons4_happiness": Instrument(
        name="ons4_happiness",
        title="ONS personal well-being: happiness ('Overall, how happy did you feel yesterday?')",
        n_items=1,
        low=0,
        high=10,
        score="item",
        score_range=(0.0, 10.0),
        higher_is_better=True,
        source=_ONS_SOURCE,
        notes="one item: unanswered is not scored; no published meaningful-change threshold was found",
    ),
    "ons4_anxiety": Instrument(
        name="ons4_anxiety",
        title="ONS personal well-being: anxiety ('Overall, how anxious did you feel yesterday?')",
        n_items=1,
        low=0,
        high=10,
        score="item",
        score_range=(0.0, 10.0),
        higher_is_better=False,
        source=_ONS_SOURCE,
        notes="0 is 'not at all anxious': lower is better; one item: unanswered is not scored; no published "
        "meaningful-change threshold was found",
    ),
    "phq9": Instrument(
        name="phq9",
        title="Patient Health Questionnaire depression scale (PHQ-9)",
        n_items=9,
        low=0,
        high=3,
        score="sum",
        score_range=(0.0, 27.0),
        higher_is_better=False,
        source=(
            "Kroenke K, Spitzer RL, Williams JBW (2001). The PHQ-9: validity of a brief depression severity measure. "
            "J Gen Intern Med 16:606-613, https://doi.org/10.1046/j.1525-1497.2001.016009606.x; scoring as "
            "summarised at https://pubcompare.ai/protocol/NuN91YwB4C3bMWOeevSj (" + _PHQ_GAD_SCALE + ", 0 to 27, "
            "higher = more severe depression)"
        ),
        meaningful_change=6.0,
        meaningful_change_source=_IAPT,
        notes=_NO_MISSING_RULE,
    ),
    "gad7": Instrument(
        name="gad7",
        title="Generalised Anxiety Disorder scale (GAD-7)",
        n_items=7,
        low=0,
        high=3,
        score="sum",
        score_range=(0.0, 21.0),
        higher_is_better=False,
        source=(
            "Spitzer RL, Kroenke K, Williams JBW, Lowe B (2006). A brief measure for assessing generalized anxiety "
            "disorder: the GAD-7. Arch Intern Med 166:1092-1097, https://doi.org/10.1001/archinte.166.10.1092; "
            "scoring as summarised at https://pubcompare.ai/protocol/NuN91YwB4C3bMWOeevSj (" + _PHQ_GAD_SCALE + ", "
            "0 to 21, higher = more severe anxiety)"
        ),
        meaningful_change=4.0,
        meaningful_change_source=_IAPT,
        notes=_NO_MISSING_RULE,
    ),
    "wai_sr": Instrument(
        name="wai_sr",
        title="Working Alliance Inventory, short revised (WAI-SR), client version",
        n_items=12,
        low=1,
        high=5,
        score="sum",
        score_range=(12.0, 60.0),
        higher_is_better=True,
        source=(
            "Hatcher RL, Gillaspy JA (2006). Development and validation of a revised short version of the Working "
            "Alliance Inventory. Psychotherapy Research 16:12-25, https://doi.org/10.1080/10503300500352500; scoring "
            "as summarised at https://docs.getrivet.ca/clinical-templates/specialized/wai-sr (sum of 12 items rated "
            "1-5, range 12-60, higher = stronger alliance; subscales task 1, 2, 10, 12; bond 3, 5, 7, 9; goal 4, 6, "
            "8, 11)"
        ),
        notes="no reverse-scored items in the sources read; " + _NO_MISSING_RULE,
    ),
    "gse": Instrument(
        name="gse",
        title="General Self-Efficacy Scale (GSE)",
        n_items=10,
        low=1,
        high=4,
        score="sum",
        score_range=(10.0, 40.0),
        higher_is_better=True,
        source=(
            "Schwarzer R, Jerusalem M (1995). Generalized Self-Efficacy scale. In Weinman J, Wright S, Johnston M, "
            "Measures in health psychology: a user's portfolio (pp. 35-37). Windsor: NFER-NELSON; Schwarzer R, "
            "Everything you wanted to know about the General Self-Efficacy Scale but were afraid to ask (FAQ), "
            "https://www.yumpu.com/en/document/view/6352232/general-self-efficacy-scale-userpage-freie-universitat-berlin"
            " ('Add up all responses to a sum score. The range is from 10 to 40 points'; items 1 = not at all true "
            "to 4 = exactly true)"
        ),
        missing="prorate",
        max_missing=3,
        notes="missing items: 'calculate a score as long as no more than three items on the ten-item scale are "
        "missing' (the FAQ, with SPSS Mean.7): the mean of the answered items, here times 10 to stay on the "
        "10-40 sum scale; no published meaningful-change threshold was found",
    ),
}

INSTRUMENT_NAMES: tuple[str, ...] = tuple(INSTRUMENTS)


def instrument(name: str) -> Instrument:
    """The instrument called ``name`` (a KeyError naming the known ones otherwise)."""
    try:
        return INSTRUMENTS[name]
    except KeyError:
        raise KeyError(f"unknown instrument {name!r}; known: {', '.join(INSTRUMENT_NAMES)}") from None


@cache
def swemwbs_table() -> tuple[np.ndarray, np.ndarray]:
    """(raw 7..35, metric score) of the SWEMWBS Rasch conversion table, ``data/swemwbs_rasch.csv``.

    Source: the Warwick Medical School conversion table (Stewart-Brown et al. 2009), URL in
    :data:`INSTRUMENTS` ``["swemwbs"].source``. It was read in transcriptions in public code (the
    Warwick PDF itself could not be opened here); they agree entry by entry except raw 29, where
    four give 26.02 and one (two files of one project) 25.99; 26.02 is used (docs/design.md).
    """
    text = resources.files("deepvalue.questionnaires").joinpath("data/swemwbs_rasch.csv").read_text()
    rows = [line.split(",") for line in text.strip().splitlines()[1:]]
    raw = np.array([int(r[0]) for r in rows], dtype=np.int64)
    metric = np.array([float(r[1]) for r in rows], dtype=np.float64)
    return raw, metric


@dataclass(frozen=True)
class Scores:
    """Per administration: the raw score (reversed items recoded, summed or prorated), the scored
    value (the metric score for SWEMWBS, else the raw score), the items answered, and why an
    administration is not scored (empty when it is)."""

    raw: np.ndarray
    score: np.ndarray
    n_answered: np.ndarray
    reason: np.ndarray


def score_items(inst: Instrument, responses: np.ndarray) -> Scores:
    """Score administrations (rows) of one instrument from their item responses (columns, in the
    published item order; NaN = not answered), vectorised.

    Responses must lie in ``[low, high]`` (ingest checks this; out-of-range values raise here).
    Reverse-scored items become ``low + high - x``. ``refuse``: an administration with any item
    missing is not scored; ``prorate``: with at most ``max_missing`` items missing, raw =
    mean(answered) * n_items. SWEMWBS: score = metric(raw) from :func:`swemwbs_table`.

    >>> s = score_items(INSTRUMENTS["swemwbs"], np.array([[3, 3, 3, 3, 3, 3, 3.0]]))
    >>> float(s.raw[0]), float(s.score[0])
    (21.0, 19.25)
    """
    x = np.asarray(responses, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != inst.n_items:
        raise ValueError(f"{inst.name}: expected {inst.n_items} item columns, got shape {x.shape}")
    answered = ~np.isnan(x)
    bad = answered & ((x < inst.low) | (x > inst.high))
    if bad.any():
        raise ValueError(f"{inst.name}: responses outside {inst.low}-{inst.high}")
    if inst.reverse:
        cols = np.asarray(inst.reverse, dtype=np.int64) - 1
        x = x.copy()
        x[:, cols] = inst.low + inst.high - x[:, cols]
    n_answered = answered.sum(axis=1)
    n_missing = inst.n_items - n_answered
    allowed = inst.max_missing if inst.missing == "prorate" else 0
    scored = (n_missing <= allowed) & (n_answered > 0)
    total = np.where(answered, x, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        raw = np.where(n_missing == 0, total, total / n_answered * inst.n_items)
    raw = np.where(scored, raw, np.nan)
    reason = np.full(x.shape[0], "", dtype=object)
    reason[~scored & (n_answered == 0)] = "no item answered"
    incomplete = ~scored & (n_answered > 0)
    reason[incomplete] = (
        f"more than {allowed} of {inst.n_items} items missing ({inst.missing})"
        if inst.missing == "prorate"
        else f"items missing ({inst.name} is scored only when complete)"
    )
    if inst.score == "swemwbs_metric":
        table_raw, table_metric = swemwbs_table()
        score = np.full(raw.shape, np.nan)
        ok = scored
        score[ok] = table_metric[np.searchsorted(table_raw, raw[ok].astype(np.int64))]
    else:
        score = raw.copy()
    return Scores(raw=raw, score=score, n_answered=n_answered, reason=reason)


def improvement(inst: Instrument, effect: float | np.ndarray) -> float | np.ndarray:
    """An effect in score points (treated minus control) as an improvement: unchanged when a
    higher score is better, sign-flipped for the symptom scales (PHQ-9, GAD-7, ONS anxiety), so
    that a positive number always reads as "better"."""
    return inst.direction * effect


#: Slack for comparing an improvement with a threshold: scores are sums or two-decimal table
#: values, so a difference equal to the threshold must not fail on floating-point rounding.
_THRESHOLD_SLACK = 1e-9


def reaches_meaningful_change(inst: Instrument, baseline: np.ndarray, follow_up: np.ndarray) -> np.ndarray:
    """Whether each client's improvement from baseline reaches the instrument's published
    meaningful change: ``direction * (follow_up - baseline) >= meaningful_change`` (a fall for
    the symptom scales). NaN scores give False; an instrument without a threshold raises.

    >>> inst = INSTRUMENTS["swemwbs"]
    >>> reaches_meaningful_change(inst, np.array([19.25, 19.25]), np.array([22.12, 21.0])).tolist()
    [True, False]
    """
    if inst.meaningful_change is None:
        raise ValueError(f"{inst.name}: no published meaningful-change threshold")
    change = inst.direction * (np.asarray(follow_up, dtype=np.float64) - np.asarray(baseline, dtype=np.float64))
    with np.errstate(invalid="ignore"):
        return change >= inst.meaningful_change - _THRESHOLD_SLACK
