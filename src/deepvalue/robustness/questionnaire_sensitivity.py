"""The sensitivity table's rows of the questionnaire outcomes (issue 15, part 2): E-values, Rosenbaum
bounds and robustness values on their points scale, with the baseline score among the confounders
(docs/design.md, "Questionnaire outcomes")."""

from __future__ import annotations

import pandas as pd

from deepvalue.core.settings import Settings
from deepvalue.effects.questionnaire import POINTS, _with_baseline, questionnaire_outcomes
from deepvalue.questionnaires.instruments import INSTRUMENTS
from deepvalue.robustness.sensitivity import SENSITIVITY_COLUMNS, sensitivity_table


def questionnaire_sensitivity(
    estimates: pd.DataFrame, analysis: pd.DataFrame, settings: Settings, propensity: pd.DataFrame | None
) -> pd.DataFrame:
    """The sensitivity table's rows (E-values, Rosenbaum bounds, robustness values) of the
    questionnaire outcomes: their ``points`` rows only (one row per outcome, method, estimand and
    measure, as for the other outcomes), as a continuous outcome signed as an improvement, with
    the baseline score among the confounders of the robustness value's OLS."""
    parts = []
    for spec in questionnaire_outcomes(settings):
        rows = estimates[(estimates["outcome"] == spec.name) & (estimates["scale"] == POINTS)]
        if rows.empty:
            continue
        inst = INSTRUMENTS[spec.instrument]
        signed = analysis.assign(**{spec.name: inst.direction * analysis[spec.name]})
        found = sensitivity_table(
            rows,
            signed,
            None,
            {spec.name: "continuous"},
            covariates=_with_baseline(settings, spec).covariates,
            propensity=propensity,
            matching=settings.matching,
            seed=settings.seed,
        )
        parts.append(found.assign(notes=found["notes"].astype(str) + "; points scale (ANCOVA)"))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=SENSITIVITY_COLUMNS)
