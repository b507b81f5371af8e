"""Questionnaire outcomes: the follow-up score adjusted for its baseline score (ANCOVA), on three
scales (issue 15, part 2).

For each ``questionnaires`` entry with ``role: outcome`` (name ``y``), the analysed clients are
those with a follow-up score (column ``y``, set by the cohort only when a baseline was found as
well); the baseline score (``y_baseline``) joins the confounders of *every* method on that
outcome only (regression, within-worker, the propensity score of IPW, AIPW and overlap weights,
the score PSM matches on, IV and dose-response); the naive difference stays unadjusted, by
definition. This is ANCOVA: regressing the follow-up on treatment and baseline is more precise
than the change score and unbiased whatever the baseline imbalance (Senn 2006, Statistics in
Medicine 25:4334-4344; Vickers and Altman 2001, BMJ 323:1123-1124).

Rows, each with its ``scale``:

- ``points``: the effect on the instrument's score (the SWEMWBS metric score, the ONS4 answer, a
  sum score), signed so that a positive effect is an improvement
  (:func:`deepvalue.questionnaires.instruments.improvement`: reversed for PHQ-9, GAD-7 and ONS
  anxiety);
- ``baseline_sd``: the points rows divided by the SD of the baseline score of the analysed
  clients (the whole population's SD for subgroup rows too, so their effects stay comparable).
  The SD is treated as fixed: the estimand is the effect in units of the analysed clients'
  observed baseline SD, so its SE is the points SE / SD. Read as an effect in units of the
  population SD, the SD's sampling error would add (tau / SE)^2 / (2 n) to the ratio's relative
  variance (delta method, normal scores): about 3% of the variance (1.5% of the SE) for the
  default study's wellbeing (tau / SE ~ 12, n ~ 2,300; docs/design.md);
- ``share_meaningful_change``: where the instrument has a published threshold, the effect on the
  share of clients whose improvement from baseline reaches it
  (:func:`~deepvalue.questionnaires.instruments.reaches_meaningful_change`), estimated as a
  binary outcome by the same methods with the baseline among the confounders.

A degenerate outcome (no variation in an arm, too few clients for a model) gives skipped rows
with the reason, as for other outcomes (:func:`deepvalue.effects.table.estimate_outcome`).
Subgroup tests of equal effects are given for the points scale only (so that each test row is
unique; the test does not depend on the scale's divisor).
"""

from __future__ import annotations

import dataclasses
import logging
import re
from typing import Sequence

import numpy as np
import pandas as pd

from deepvalue.adjust.design import covariate_design
from deepvalue.adjust.propensity import fit_propensity
from deepvalue.core.errors import AnalysisError
from deepvalue.core.settings import Covariate, NotGiven, Outcome, Questionnaire, Settings
from deepvalue.effects.base import EffectEstimate, Influence, relabel_influence
from deepvalue.questionnaires.instruments import INSTRUMENTS, Instrument, reaches_meaningful_change

log = logging.getLogger("deepvalue")

POINTS, BASELINE_SD, SHARE = "points", "baseline_sd", "share_meaningful_change"
QUESTIONNAIRE_SCALES = (POINTS, BASELINE_SD, SHARE)
_RELABEL = {"mean_difference": POINTS, "risk_difference": SHARE}


def questionnaire_outcomes(settings: Settings) -> tuple[Questionnaire, ...]:
    """The ``questionnaires`` entries that are outcomes (none when the section was not given)."""
    specs = settings.questionnaires
    if isinstance(specs, NotGiven):
        return ()
    return tuple(q for q in specs if q.role == "outcome")


def baseline_column(spec: Questionnaire) -> str:
    """The analysis table's baseline score column of a questionnaire outcome."""
    return f"{spec.name}_baseline"


def _with_baseline(settings: Settings, spec: Questionnaire) -> Settings:
    """The settings with the outcome's baseline score as one more (numeric) confounder."""
    return dataclasses.replace(
        settings, covariates=tuple(settings.covariates) + (Covariate(baseline_column(spec), "numeric"),)
    )


def _propensity_with_baseline(rows: pd.DataFrame, settings: Settings, structural) -> pd.DataFrame | None:
    """The logit of a propensity score fitted on this population's confounders and baseline, for
    PSM (the match stage's whole-cohort score cannot hold a baseline only some clients have)."""
    X = covariate_design(rows, settings.covariates, structural=structural).X
    try:
        fit = fit_propensity(
            X, rows["treatment"].to_numpy().astype(int), settings.propensity.penalty, settings.propensity.C
        )
    except AnalysisError:
        return None  # PSM then says why (no scores)
    return pd.DataFrame({"client_id": rows["client_id"].to_numpy(), "logit": fit.logit})


def _note(row: EffectEstimate, text: str) -> EffectEstimate:
    return dataclasses.replace(row, notes="; ".join(x for x in (row.notes, text) if x))


def _relabel(rows: list[EffectEstimate], note: str, naive_note: str) -> list[EffectEstimate]:
    """The rows on the questionnaire's scale names, each with the note of its adjustment."""
    return [
        _note(dataclasses.replace(r, scale=_RELABEL.get(r.scale, r.scale)), naive_note if r.method == "naive" else note)
        for r in rows
    ]


def short_source(source: str) -> str:
    """A short citation: first author et al. (year) when the source starts so, else its first part.

    >>> short_source("Shah N, Cader M, Andrews WP (2018). Responsiveness of ...")
    'Shah et al. 2018'
    >>> short_source("IAPT (NHS Talking Therapies) manual, reliable improvement: ...")
    'IAPT (NHS Talking Therapies) manual'
    """
    found = re.match(r"^([A-Z][\w'-]+) [A-Z]+, .*?\((\d{4})\)", source)
    return f"{found.group(1)} et al. {found.group(2)}" if found else source.split(",")[0]


def per_baseline_sd(rows: Sequence[EffectEstimate], sd: float) -> list[EffectEstimate]:
    """The ``points`` rows divided by the baseline SD (estimate, SE and CI; the p-value is the
    same), as ``baseline_sd`` rows; the SD is treated as fixed (module docstring). A baseline
    that does not vary (SD 0 or undefined) gives skipped rows that say so."""
    out = []
    for r in rows:
        if r.scale != POINTS:
            continue
        if not sd > 0:
            nan = float("nan")
            out.append(
                dataclasses.replace(
                    r,
                    estimate=nan,
                    std_error=nan,
                    ci_lower=nan,
                    ci_upper=nan,
                    p_value=nan,
                    scale=BASELINE_SD,
                    notes="the baseline score does not vary among the analysed clients: no baseline_sd scale",
                )
            )
            continue
        out.append(
            dataclasses.replace(
                r,
                estimate=r.estimate / sd,
                std_error=r.std_error / sd,
                ci_lower=r.ci_lower / sd,
                ci_upper=r.ci_upper / sd,
                scale=BASELINE_SD,
                notes="; ".join(
                    x
                    for x in (
                        r.notes,
                        f"points / {sd:.4g}, the SD of the baseline score of the analysed clients (treated as fixed)",
                    )
                    if x
                ),
            )
        )
    return out


def _scaled_records(rec: Influence, sd: float) -> list[Influence]:
    """A points-scale influence record under the row's published scale name, and its baseline_sd
    copy (estimate, SE and influence function divided by the baseline SD, as :func:`per_baseline_sd`
    divides the row), so the joint draws cover both scales' rows."""
    points = dataclasses.replace(rec, scale=_RELABEL.get(rec.scale, rec.scale))
    if points.scale != POINTS or not sd > 0:
        return [points]
    scaled = dataclasses.replace(
        points, estimate=points.estimate / sd, std_error=points.std_error / sd, psi=points.psi / sd, scale=BASELINE_SD
    )
    return [points, scaled]


def _outcome_rows(
    rows, spec, inst, settings, propensity, subgroup, methods, roles, trimmed, sd
) -> list[EffectEstimate]:
    """The three scales' rows of one questionnaire outcome on one population."""
    from deepvalue.effects.table import estimate_outcome

    adjusted = _with_baseline(settings, spec)
    ps = _propensity_with_baseline(rows, adjusted, roles.structural) if "psm" in methods else propensity
    base = rows[baseline_column(spec)].to_numpy(dtype=float)
    follow = rows[spec.name].to_numpy(dtype=float)
    sign = "" if inst.higher_is_better else "; sign reversed so that a positive effect is an improvement (lower score)"
    note = f"ANCOVA: {baseline_column(spec)} among the confounders{sign}"
    naive_note = f"the follow-up score unadjusted (no ANCOVA){sign}"
    points = rows.assign(**{spec.name: inst.direction * follow})
    run = dict(settings=adjusted, propensity=ps, subgroup=subgroup, methods=methods, roles=roles, trimmed=trimmed)
    with relabel_influence(lambda rec: _scaled_records(rec, sd)):
        found = estimate_outcome(points, Outcome(spec.name, "continuous"), **run)
    out = _relabel(found, note, naive_note)
    out += per_baseline_sd(out, sd)
    if inst.meaningful_change is not None:
        reached = reaches_meaningful_change(inst, base, follow).astype(float)
        share = rows.assign(**{spec.name: reached})
        with relabel_influence(lambda rec: [dataclasses.replace(rec, scale=_RELABEL.get(rec.scale, rec.scale))]):
            found = estimate_outcome(share, Outcome(spec.name, "binary"), **run)
        share_note = (
            f"share whose improvement from baseline reaches {inst.meaningful_change:g} points "
            f"({short_source(inst.meaningful_change_source or '')})"
        )
        out += _relabel(found, f"{share_note}; {note}", f"{share_note}; {naive_note}")
    return out


def questionnaire_estimates(
    analysis: pd.DataFrame,
    settings: Settings,
    propensity: pd.DataFrame | None,
    methods: Sequence[str],
    subgroups: Sequence[str],
    roles,
    trimmed: Sequence[str] | None,
) -> list[EffectEstimate]:
    """The rows of every questionnaire outcome: whole population, then each subgroup level (with
    the points scale's tests of equal effects), as :func:`deepvalue.effects.table.run_estimates`
    does for the other outcomes."""
    from deepvalue.effects.table import equal_effects_tests, subgroup_populations

    out: list[EffectEstimate] = []
    for spec in questionnaire_outcomes(settings):
        if spec.name not in analysis or baseline_column(spec) not in analysis:
            log.warning("%s: no score columns in the analysis table; rebuild the cohort", spec.name)
            continue
        inst: Instrument = INSTRUMENTS[spec.instrument]
        analysed = analysis.loc[analysis[spec.name].notna() & analysis[baseline_column(spec)].notna()]
        analysed = analysed.reset_index(drop=True)
        if analysed.empty:
            log.warning("%s: no client has a baseline and a follow-up score; no estimates", spec.name)
            continue
        base = analysed[baseline_column(spec)].to_numpy(dtype=float)
        sd = float(np.std(base, ddof=1)) if len(base) > 1 else float("nan")
        if not sd > 0:
            log.warning("%s: the baseline score does not vary; the baseline_sd rows are skipped", spec.name)
        args = (inst, settings, propensity)
        rest = (methods, roles, trimmed, sd)
        out += _outcome_rows(analysed, spec, *args, "", *rest)
        for column in [c for c in subgroups if analysed[c].nunique() > 1]:
            level_rows: list[EffectEstimate] = []
            for label, sub in subgroup_populations(analysed, [column]):
                level_rows += _outcome_rows(sub.reset_index(drop=True), spec, *args, label, *rest)
            out += level_rows + equal_effects_tests([r for r in level_rows if r.scale == POINTS], column)
    return out
