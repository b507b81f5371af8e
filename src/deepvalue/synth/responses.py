"""Questionnaire answers of the synthetic extract (``responses.csv``) and their truth (issue 15).

Three instruments, scored by the pipeline's own scorer
(:func:`deepvalue.questionnaires.instruments.score_items`): SWEMWBS (7 items, 1-5, the raw sum
converted by the Rasch table), ONS4 life satisfaction (one item, 0-10) and the WAI-SR (12 items,
1-5, the sum). Every constant below is recorded in truth.json (``questionnaire_dgp``).

Data-generating process (item scale: a latent on the scale of one item's answer)
-----------------------------------------------------------------------------------
- Wellbeing trait: ``t = WB_MEAN + WB_SITE[site] - WB_COMPLEXITY (c - COMPLEXITY_REF) +
  WB_TRAIT_SD z``: complex clients (more often passed between workers) are worse off, so the
  baseline is related to the confounders and prognostic of the follow-up.
- Baseline SWEMWBS: item j = clip(rint(t + WB_OCCASION_SD e + OFFSET_j + WB_ITEM_SD e_j), 1, 5).
- Alliance (WAI-SR, after the index date): item latent ``a(d) = AL_MEAN + AL_QUALITY q -
  AL_COMPLEXITY (c - COMPLEXITY_REF) + AL_TAU d + AL_SD z_a`` (q the allocated worker's
  quality), items clip(rint(a(d) + AL_ITEM_SD e_j), 1, 5), score A(d) = their sum.
- Follow-up SWEMWBS under continuity d and alliance score A: latent ``t + WB_GROWTH + (WB_TAU +
  WB_TAU_COMPLEXITY c) d + WB_ALLIANCE (A / 12 - AL_MEAN) + WB_OCCASION_SD e'``, items as at
  baseline with their own noise. The alliance carries part of the effect (mediation), and the
  allocated worker's quality reaches wellbeing only through the alliance, so no unmeasured
  variable confounds the alliance and wellbeing (issue 17 estimates the natural effects).
- Life satisfaction: ``l = LS_MEAN + LS_PER_WB (t - WB_MEAN) - LS_COMPLEXITY (c - COMPLEXITY_REF)
  + LS_TRAIT_SD z_l``; baseline clip(rint(l + LS_OCCASION_SD e), 0, 10), follow-up
  clip(rint(l + LS_GROWTH + (LS_TAU + LS_TAU_COMPLEXITY c) d + LS_OCCASION_SD e'), 0, 10).

Potential outcomes share every random number (common random numbers): S(d) = score(items of
d, A(d)) for d = 0, 1, and the cross-world S(1, A(0)) for the natural effects. The truth is the
mean of S(1) - S(0) over the analysed treated (ATT) and the analysed clients (ATE); the same for
the share whose improvement from baseline reaches the instrument's meaningful change, and the
points divided by the SD of the baseline score of the analysed clients (``baseline_sd``). The
SWEMWBS score is a nonlinear transform of ordinal sums, so no formula in the means gives it.

Dates and gaps (realised continuity only): intake (SWEMWBS and ONS4 together) on first contact
+ 0..7 days, except ``INTAKE_LATE_SHARE`` later (15..40 days, after the baseline rule's 14) and
``INTAKE_MISSED_SHARE`` never; an intake on or after the index date is no baseline either. The
follow-up on index + 182 + ``FOLLOW_UP_JITTER`` days, missed with probability
expit(logit(``MISSED_FOLLOW_UP``) + ``MISSED_COMPLEXITY`` (c - ref) + ``MISSED_CONTINUITY`` d)
(about a quarter; missing at random given the confounders and continuity). One SWEMWBS or
WAI-SR item is left blank in ``ITEM_MISSING_SHARE`` of administrations (the instruments refuse
them) and the ONS4 answer in ``ONS4_BLANK_SHARE``. The WAI-SR on index + 14..50 days, not
answered by ``ALLIANCE_MISSED_SHARE``. Responses on or after the extract date are not in the
extract. The analysed population is the pipeline's: eligible, follow-up window closed at the
extract date (index + 182 + 60), follow-up answered and complete, baseline found and complete.

All draws come from their own stream ``[seed, RESPONSES_STREAM]`` and are sized by the number of
clients only, so the other tables of a seed keep their bytes and the exposure config relabels
the same answers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from deepvalue.questionnaires.instruments import INSTRUMENTS, reaches_meaningful_change, score_items
from deepvalue.synth.arrays import _date_series, _expit, _logit, _mean_or_none, _sha256_ids, _str_series
from deepvalue.synth.parameters import COMPLEXITY_REF, BoolArray, FloatArray, IntArray

RESPONSES_STREAM = 15

#: The configured questionnaires of the synthetic study (issue 15's contract).
SYNTH_QUESTIONNAIRES: tuple[dict[str, Any], ...] = (
    {
        "name": "wellbeing",
        "instrument": "swemwbs",
        "questionnaire": "SWEMWBS",
        "items": [f"q{j}" for j in range(1, 8)],
        "follow_up_days": 182,
        "window_days": 60,
        "baseline_days": 14,
    },
    {
        "name": "life_satisfaction",
        "instrument": "ons4_life_satisfaction",
        "questionnaire": "ONS4",
        "items": ["life_satisfaction"],
        "follow_up_days": 182,
    },
    {
        "name": "alliance",
        "instrument": "wai_sr",
        "questionnaire": "WAI-SR",
        "items": [f"w{j}" for j in range(1, 13)],
        "role": "mediator",
        "measured_within_days": 60,
    },
)
FOLLOW_UP_DAYS = 182
WINDOW_DAYS = 60
BASELINE_DAYS = 14
MEASURED_WITHIN_DAYS = 60

# --- wellbeing (SWEMWBS, item scale 1-5) ------------------------------------------------------
WB_MEAN = 3.2
WB_SITE = (0.0, -0.05, 0.05, -0.10, 0.05, -0.05)
WB_COMPLEXITY = 0.25
WB_TRAIT_SD = 0.45
WB_OCCASION_SD = 0.30
WB_ITEM_SD = 0.55
WB_ITEM_OFFSETS = (0.10, -0.10, 0.00, 0.05, -0.05, 0.10, -0.10)
WB_GROWTH = 0.10
WB_TAU = 0.15
WB_TAU_COMPLEXITY = 0.05
WB_ALLIANCE = 0.30  # per point of the WAI-SR mean item
# --- alliance (WAI-SR, item scale 1-5) --------------------------------------------------------
AL_MEAN = 3.6
AL_QUALITY = 0.15
AL_COMPLEXITY = 0.10
AL_TAU = 0.30
AL_SD = 0.45
AL_ITEM_SD = 0.50
# --- life satisfaction (ONS4, 0-10) -----------------------------------------------------------
LS_MEAN = 6.0
LS_PER_WB = 1.6
LS_COMPLEXITY = 0.10
LS_TRAIT_SD = 0.8
LS_OCCASION_SD = 1.0
LS_GROWTH = 0.2
LS_TAU = 0.35
LS_TAU_COMPLEXITY = 0.10
# --- administrations ----------------------------------------------------------------------------
INTAKE_MAX_DELAY_DAYS = 7
INTAKE_LATE_SHARE = 0.04
INTAKE_LATE_DAYS = (15, 40)
INTAKE_MISSED_SHARE = 0.04
FOLLOW_UP_JITTER = (-30, 45)
MISSED_FOLLOW_UP = 0.25
MISSED_COMPLEXITY = 0.3
MISSED_CONTINUITY = -0.3
ITEM_MISSING_SHARE = 0.04
ONS4_BLANK_SHARE = 0.02
ALLIANCE_DAYS = (14, 50)
ALLIANCE_MISSED_SHARE = 0.20


def questionnaire_dgp() -> dict[str, Any]:
    """The constants above, for truth.json."""
    return {
        "wellbeing": {
            "model": "item_j = clip(rint(t + (tau + tau_c*c)*d + alliance_w*(A/12 - alliance_mean) + growth + "
            "occasion + offset_j + item_noise), 1, 5); t = mean + site - complexity_w*(c - ref) + trait_sd*z",
            "mean": WB_MEAN,
            "site": list(WB_SITE),
            "complexity_w": WB_COMPLEXITY,
            "trait_sd": WB_TRAIT_SD,
            "occasion_sd": WB_OCCASION_SD,
            "item_sd": WB_ITEM_SD,
            "item_offsets": list(WB_ITEM_OFFSETS),
            "growth": WB_GROWTH,
            "tau": WB_TAU,
            "tau_complexity": WB_TAU_COMPLEXITY,
            "alliance_w": WB_ALLIANCE,
        },
        "alliance": {
            "model": "item_j = clip(rint(mean + quality_w*q - complexity_w*(c - ref) + tau*d + sd*z + item_noise), "
            "1, 5)",
            "mean": AL_MEAN,
            "quality_w": AL_QUALITY,
            "complexity_w": AL_COMPLEXITY,
            "tau": AL_TAU,
            "sd": AL_SD,
            "item_sd": AL_ITEM_SD,
        },
        "life_satisfaction": {
            "model": "clip(rint(l + growth + (tau + tau_c*c)*d + occasion), 0, 10); "
            "l = mean + per_wb*(t - wb_mean) - complexity_w*(c - ref) + trait_sd*z",
            "mean": LS_MEAN,
            "per_wb": LS_PER_WB,
            "complexity_w": LS_COMPLEXITY,
            "trait_sd": LS_TRAIT_SD,
            "occasion_sd": LS_OCCASION_SD,
            "growth": LS_GROWTH,
            "tau": LS_TAU,
            "tau_complexity": LS_TAU_COMPLEXITY,
        },
        "administrations": {
            "intake_max_delay_days": INTAKE_MAX_DELAY_DAYS,
            "intake_late_share": INTAKE_LATE_SHARE,
            "intake_late_days": list(INTAKE_LATE_DAYS),
            "intake_missed_share": INTAKE_MISSED_SHARE,
            "follow_up_jitter_days": list(FOLLOW_UP_JITTER),
            "missed_follow_up": MISSED_FOLLOW_UP,
            "missed_complexity_log_odds": MISSED_COMPLEXITY,
            "missed_continuity_log_odds": MISSED_CONTINUITY,
            "item_missing_share": ITEM_MISSING_SHARE,
            "ons4_blank_share": ONS4_BLANK_SHARE,
            "alliance_days": list(ALLIANCE_DAYS),
            "alliance_missed_share": ALLIANCE_MISSED_SHARE,
        },
        "stream": RESPONSES_STREAM,
    }


def _items(latent: FloatArray, noise: FloatArray, low: int, high: int, offsets=0.0) -> FloatArray:
    return np.clip(np.rint(latent[:, None] + np.asarray(offsets) + noise), low, high)


def wellbeing_trait(site: IntArray, complexity: FloatArray, z_trait: FloatArray) -> FloatArray:
    """The wellbeing trait ``t`` of the module docstring (item scale)."""
    cc = np.asarray(complexity, dtype=np.float64) - COMPLEXITY_REF
    return WB_MEAN + np.asarray(WB_SITE)[site] - WB_COMPLEXITY * cc + WB_TRAIT_SD * z_trait


def life_satisfaction_answers(
    trait: FloatArray, complexity: FloatArray, z_ls: FloatArray, e_base: FloatArray, e_fu: FloatArray, effect: float
) -> tuple[FloatArray, dict[int, FloatArray]]:
    """The ONS4 life-satisfaction baseline and potential follow-up answers (module docstring), from
    the wellbeing trait and the standard normal draws (trait, baseline and follow-up occasions)."""
    c = np.asarray(complexity, dtype=np.float64)
    cc = c - COMPLEXITY_REF
    ls_trait = LS_MEAN + LS_PER_WB * (trait - WB_MEAN) - LS_COMPLEXITY * cc + LS_TRAIT_SD * z_ls
    base = np.clip(np.rint(ls_trait + LS_OCCASION_SD * e_base), 0, 10)
    follow = {
        dd: np.clip(
            np.rint(ls_trait + LS_GROWTH + effect * (LS_TAU + LS_TAU_COMPLEXITY * c) * dd + LS_OCCASION_SD * e_fu),
            0,
            10,
        )
        for dd in (0, 1)
    }
    return base, follow


def life_satisfaction_draws(seed: int, n: int) -> dict[str, FloatArray]:
    """The standard normal draws behind the life-satisfaction answers of extract ``seed`` (``n`` clients,
    in the generator's order), replayed from the stream in :func:`draw_responses`' order: the wellbeing
    trait's ``z_trait``, and ``z_ls``, ``e_base``, ``e_fu`` (diagnostics: ``simulate.redraw_study``)."""
    rng = np.random.default_rng([int(seed), RESPONSES_STREAM])
    z_trait = rng.standard_normal((3, n))[0]
    rng.standard_normal((2, n, 7))
    rng.standard_normal(n)
    rng.standard_normal((n, 12))
    z_ls, e_base, e_fu = rng.standard_normal((3, n))
    return {"z_trait": z_trait, "z_ls": z_ls, "e_base": e_base, "e_fu": e_fu}


def _blank_one(items: FloatArray, blank: BoolArray, which: FloatArray) -> FloatArray:
    """The items with one (uniformly chosen) item left unanswered where ``blank``."""
    out = items.copy()
    rows = np.flatnonzero(blank)
    out[rows, np.floor(which[rows] * items.shape[1]).astype(np.int64)] = np.nan
    return out


def _score(instrument: str, items: FloatArray) -> FloatArray:
    return score_items(INSTRUMENTS[instrument], items).score


def _long(client: IntArray, day: IntArray, questionnaire: int, items: FloatArray) -> tuple:
    n, k = items.shape
    return (
        np.repeat(client, k),
        np.repeat(day, k),
        np.full(n * k, questionnaire, dtype=np.int64),
        np.tile(np.arange(k, dtype=np.int64), n),
        items.reshape(-1),
    )


def _effects(s0: FloatArray, s1: FloatArray, population: BoolArray, treated: BoolArray) -> dict[str, Any]:
    diff = s1 - s0
    return {"att": _mean_or_none(diff[population & treated]), "ate": _mean_or_none(diff[population])}


def draw_responses(
    seed: int,
    complexity: FloatArray,
    site: IntArray,
    quality: FloatArray,
    treated: BoolArray,
    eligible: BoolArray,
    first_day: IntArray,
    index_day: IntArray,
    extract_day: int,
    client_ids: pa.LargeStringArray,
    effect: float = 1.0,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The long responses table and the questionnaires' truth (module docstring).

    Parameters
    ----------
    seed
        The extract's seed; the draws come from ``default_rng([seed, RESPONSES_STREAM])``.
    complexity, site, quality
        Per client: complexity score, site code, the allocated worker's quality.
    treated, eligible, first_day, index_day
        Per client: realised continuity, eligibility, first contact and index day (days since 1970).
    extract_day
        The extract's day: responses on or after it are not in the extract; a follow-up window
        must close by it.
    effect
        Scales every effect of continuity (0: the null scenario).

    Returns
    -------
    (responses, truth)
        ``responses``: client_id, questionnaire, item, response (float, NaN = not answered),
        response_date; ``truth``: per configured name, the true effects and the population.
    """
    rng = np.random.default_rng([int(seed), RESPONSES_STREAM])
    n = len(complexity)
    c = np.asarray(complexity, dtype=np.float64)
    d = np.asarray(treated, dtype=np.float64)
    cc = c - COMPLEXITY_REF
    # --- every draw, sized by n only --------------------------------------------------------------
    z_trait, e_base, e_fu = rng.standard_normal((3, n))
    e_base_items, e_fu_items = rng.standard_normal((2, n, 7))
    z_al = rng.standard_normal(n)
    e_al_items = rng.standard_normal((n, 12))
    z_ls, e_ls_base, e_ls_fu = rng.standard_normal((3, n))
    u_intake_kind, u_intake_delay, u_late_delay, u_miss, u_jitter = rng.random((5, n))
    u_blank = rng.random((5, n))  # base SWEMWBS, follow-up SWEMWBS, WAI-SR, base ONS4, follow-up ONS4
    u_which = rng.random((3, n))
    u_al_missed, u_al_day = rng.random((2, n))

    # --- potential answers ----------------------------------------------------------------------
    trait = wellbeing_trait(site, c, z_trait)
    base_sw = _items(trait + WB_OCCASION_SD * e_base, WB_ITEM_SD * e_base_items, 1, 5, WB_ITEM_OFFSETS)
    al_latent = AL_MEAN + AL_QUALITY * np.asarray(quality) - AL_COMPLEXITY * cc + AL_SD * z_al
    al_items = {dd: _items(al_latent + effect * AL_TAU * dd, AL_ITEM_SD * e_al_items, 1, 5) for dd in (0, 1)}
    al_score = {dd: _score("wai_sr", al_items[dd]) for dd in (0, 1)}

    def follow_sw(dd: int, a: FloatArray) -> FloatArray:
        latent = (
            trait
            + WB_GROWTH
            + effect * (WB_TAU + WB_TAU_COMPLEXITY * c) * dd
            + WB_ALLIANCE * (a / 12.0 - AL_MEAN)
            + WB_OCCASION_SD * e_fu
        )
        return _items(latent, WB_ITEM_SD * e_fu_items, 1, 5, WB_ITEM_OFFSETS)

    fu_sw = {dd: follow_sw(dd, al_score[dd]) for dd in (0, 1)}
    s_base = _score("swemwbs", base_sw)
    s_fu = {dd: _score("swemwbs", fu_sw[dd]) for dd in (0, 1)}
    s_cross = _score("swemwbs", follow_sw(1, al_score[0]))  # Y(1, A(0))
    ls_base, ls_fu = life_satisfaction_answers(trait, c, z_ls, e_ls_base, e_ls_fu, effect)

    # --- administrations at the realised continuity -----------------------------------------------
    missed_intake = u_intake_kind < INTAKE_MISSED_SHARE
    late_intake = (u_intake_kind >= INTAKE_MISSED_SHARE) & (u_intake_kind < INTAKE_MISSED_SHARE + INTAKE_LATE_SHARE)
    lo, hi = INTAKE_LATE_DAYS
    delay = np.where(
        late_intake,
        lo + np.floor(u_late_delay * (hi - lo + 1)),
        np.floor(u_intake_delay * (INTAKE_MAX_DELAY_DAYS + 1)),
    ).astype(np.int64)
    intake_day = first_day + delay
    jlo, jhi = FOLLOW_UP_JITTER
    fu_day = index_day + FOLLOW_UP_DAYS + jlo + np.floor(u_jitter * (jhi - jlo + 1)).astype(np.int64)
    p_miss = _expit(_logit(MISSED_FOLLOW_UP) + MISSED_COMPLEXITY * cc + MISSED_CONTINUITY * d)
    missed_fu = u_miss < p_miss
    alo, ahi = ALLIANCE_DAYS
    al_day = index_day + alo + np.floor(u_al_day * (ahi - alo + 1)).astype(np.int64)
    al_missed = u_al_missed < ALLIANCE_MISSED_SHARE

    t = np.asarray(treated, dtype=bool)
    blank = u_blank < np.array([ITEM_MISSING_SHARE] * 3 + [ONS4_BLANK_SHARE] * 2)[:, None]
    sw_base_obs = _blank_one(base_sw, blank[0], u_which[0])
    sw_fu_obs = _blank_one(np.where(t[:, None], fu_sw[1], fu_sw[0]), blank[1], u_which[1])
    al_obs = _blank_one(np.where(t[:, None], al_items[1], al_items[0]), blank[2], u_which[2])
    ls_base_obs = np.where(blank[3], np.nan, ls_base)[:, None]
    ls_fu_obs = np.where(blank[4], np.nan, np.where(t, ls_fu[1], ls_fu[0]))[:, None]

    intake = np.flatnonzero(~missed_intake)
    follow = np.flatnonzero(~missed_fu)
    alliance = np.flatnonzero(~al_missed)
    parts = [
        _long(intake, intake_day[intake], 0, sw_base_obs[intake]),
        _long(intake, intake_day[intake], 1, ls_base_obs[intake]),
        _long(follow, fu_day[follow], 0, sw_fu_obs[follow]),
        _long(follow, fu_day[follow], 1, ls_fu_obs[follow]),
        _long(alliance, al_day[alliance], 2, al_obs[alliance]),
    ]
    client, day, qcode, icode, response = (np.concatenate(x) for x in zip(*parts, strict=True))
    happened = day < extract_day
    order = np.flatnonzero(happened)[np.lexsort((icode[happened], qcode[happened], day[happened], client[happened]))]
    names = [q["questionnaire"] for q in SYNTH_QUESTIONNAIRES]
    labels = [q["items"] for q in SYNTH_QUESTIONNAIRES]
    item_table = pa.array([label for q in labels for label in q], pa.large_string())
    item_start = np.cumsum([0] + [len(q) for q in labels])[:-1]
    frame = pd.DataFrame(
        {
            "client_id": _str_series(pc.take(client_ids, pa.array(client[order]))),
            "questionnaire": _str_series(pc.take(pa.array(names, pa.large_string()), pa.array(qcode[order]))),
            "item": _str_series(pc.take(item_table, pa.array(item_start[qcode[order]] + icode[order]))),
            "response": response[order],
            "response_date": _date_series(day[order]),
        }
    )

    # --- truth over the pipeline's analysed populations ----------------------------------------
    baseline_found = ~missed_intake & (intake_day <= first_day + BASELINE_DAYS) & (intake_day < index_day)
    closed = index_day + FOLLOW_UP_DAYS + WINDOW_DAYS <= extract_day
    truth: dict[str, Any] = {}
    populations: dict[str, BoolArray] = {}
    specs = {
        "wellbeing": (s_base, s_fu[0], s_fu[1], blank[0], blank[1], "swemwbs"),
        "life_satisfaction": (ls_base, ls_fu[0], ls_fu[1], blank[3], blank[4], "ons4_life_satisfaction"),
    }
    for name, (base, y0, y1, base_blank, fu_blank, inst_name) in specs.items():
        inst = INSTRUMENTS[inst_name]
        steps = {
            "n_excluded_follow_up_window_not_closed": ~closed,
            "n_excluded_not_answered": missed_fu,
            "n_excluded_items_missing": fu_blank,
            "n_excluded_no_baseline": ~baseline_found | base_blank,
        }
        keep = np.asarray(eligible, dtype=bool).copy()
        counts = {}
        for key, out in steps.items():
            counts[key] = int((keep & out).sum())
            keep &= ~out
        population = populations[name] = keep
        direction = inst.direction
        points = _effects(direction * y0, direction * y1, population, t)
        sd = float(np.std(base[population], ddof=1)) if population.sum() > 1 else None
        scales: dict[str, Any] = {"points": points}
        if sd:
            scales["baseline_sd"] = {
                "att": None if points["att"] is None else points["att"] / sd,
                "ate": None if points["ate"] is None else points["ate"] / sd,
                "baseline_sd": sd,
            }
        if inst.meaningful_change is not None:
            r0 = reaches_meaningful_change(inst, base, y0).astype(np.float64)
            r1 = reaches_meaningful_change(inst, base, y1).astype(np.float64)
            scales["share_meaningful_change"] = {
                **_effects(r0, r1, population, t),
                "threshold": inst.meaningful_change,
                "share_0_treated": _mean_or_none(r0[population & t]),
            }
        truth[name] = {
            "instrument": inst_name,
            "role": "outcome",
            "scale": "points",
            "follow_up_days": FOLLOW_UP_DAYS,
            "window_days": WINDOW_DAYS,
            "baseline_days": BASELINE_DAYS,
            "att": points["att"],
            "ate": points["ate"],
            "atc": _mean_or_none((direction * (y1 - y0))[population & ~t]),
            "mean_potential_0_treated": _mean_or_none(y0[population & t]),
            "mean_potential_1_treated": _mean_or_none(y1[population & t]),
            "scales": scales,
            "n_eligible": int(np.asarray(eligible).sum()),
            **counts,
            "n_treated": int((population & t).sum()),
            "n_control": int((population & ~t).sum()),
            "population_sha256": _sha256_ids(client_ids.filter(pa.array(population))),
            "treated_sha256": _sha256_ids(client_ids.filter(pa.array(population & t))),
        }
    mediator_window = index_day + MEASURED_WITHIN_DAYS <= extract_day
    measured = np.asarray(eligible, dtype=bool) & mediator_window & ~al_missed & ~blank[2]
    truth["alliance"] = {
        "instrument": "wai_sr",
        "role": "mediator",
        "scale": "points",
        "measured_within_days": MEASURED_WITHIN_DAYS,
        **_effects(al_score[0], al_score[1], measured, t),
        "n_treated": int((measured & t).sum()),
        "n_control": int((measured & ~t).sum()),
        "population_sha256": _sha256_ids(client_ids.filter(pa.array(measured))),
    }
    wb = populations["wellbeing"]
    with_mediator = wb & measured
    truth["wellbeing"]["mediation"] = {
        "mediator": "alliance",
        "definition": "natural indirect effect E[Y(1, A(1)) - Y(1, A(0))] and natural direct effect "
        "E[Y(1, A(0)) - Y(0, A(0))] on the SWEMWBS metric score, from the potential answers with common random "
        "numbers; over the wellbeing outcome's analysed clients (treated for att) and, *_with_mediator, those of "
        "them with the alliance measured",
        "natural_indirect_effect": _effects(s_cross, s_fu[1], wb, t),
        "natural_direct_effect": _effects(s_fu[0], s_cross, wb, t),
        "natural_indirect_effect_with_mediator": _effects(s_cross, s_fu[1], with_mediator, t),
        "natural_direct_effect_with_mediator": _effects(s_fu[0], s_cross, with_mediator, t),
        "n_with_mediator": int(with_mediator.sum()),
    }
    return frame, truth
