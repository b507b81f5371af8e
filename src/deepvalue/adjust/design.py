"""The covariate design matrix shared by the propensity model, balance and outcome regressions.

One function turns the analysis table's confounders into a numeric matrix, so every method
adjusts for exactly the same thing:

- numeric and binary covariates enter as they are; a covariate with missing values gets its
  observed mean in the empty cells *and* a 0/1 indicator ``<name>__missing`` (the
  missing-indicator method: complete-case analysis would change the population and so the
  estimand; the indicator keeps everyone and lets missingness itself be balanced);
- categorical covariates, and always service, site and start quarter, enter as 0/1 dummies,
  one per level except the reference (the first level in sorted order); a missing category is
  its own level ``(missing)``;
- levels with fewer than ``min_level_size`` clients (20 by default) are pooled into one level
  ``(other)``, which itself joins the reference level when it is still that small: a category of
  three clients who all happen to be controls would otherwise separate the propensity model
  perfectly (seen with the last, partly filled start quarter of an extract);
- columns that do not vary in the data at hand (for example service within a service subgroup)
  are dropped, and the dropped names are recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from deepvalue.core.settings import Covariate

STRUCTURAL = ("service", "site", "start_quarter")
MISSING_LEVEL = "(missing)"
OTHER_LEVEL = "(other)"
MIN_LEVEL_SIZE = 20


@dataclass(frozen=True)
class Design:
    """A numeric design matrix with the provenance of each column."""

    X: pd.DataFrame  # float64, one column per term, no intercept
    source: dict[str, str]  # column -> the covariate it came from
    dropped_constant: list[str] = field(default_factory=list)
    pooled: dict[str, list[str]] = field(default_factory=dict)  # covariate -> rare levels pooled

    @property
    def columns(self) -> list[str]:
        return list(self.X.columns)


def covariate_design(
    analysis: pd.DataFrame,
    covariates: Sequence[Covariate],
    structural: tuple[str, ...] = STRUCTURAL,
    min_level_size: int = MIN_LEVEL_SIZE,
) -> Design:
    """Build the design matrix of the confounders.

    Parameters
    ----------
    analysis
        The cohort table (results/cohort/analysis.parquet).
    covariates
        The study's covariates (:class:`deepvalue.core.settings.Covariate`: name, and type
        ``numeric``, ``binary`` or ``categorical``).
    structural
        Categorical columns always adjusted for (service, site, start quarter).

    Examples
    --------
    >>> df = pd.DataFrame({"service": ["a", "b", "a"], "site": ["s", "s", "t"],
    ...                    "start_quarter": ["2024Q1"] * 3, "age": [30.0, np.nan, 50.0]})
    >>> covariate_design(df, [Covariate("age", "numeric")]).columns
    ['age', 'age__missing', 'service=b', 'site=t']
    """
    cols: dict[str, np.ndarray] = {}
    source: dict[str, str] = {}
    pooled: dict[str, list[str]] = {}
    n = len(analysis)
    for cov in covariates:
        name, kind = cov.name, cov.type
        values = analysis[name]
        if kind in ("numeric", "binary"):
            x = pd.to_numeric(values, errors="raise").to_numpy(dtype=float, na_value=np.nan)
            miss = np.isnan(x)
            if miss.any():
                fill = float(np.nanmean(x)) if (~miss).any() else 0.0
                x = np.where(miss, fill, x)
                cols[name] = x
                cols[f"{name}__missing"] = miss.astype(float)
                source[f"{name}__missing"] = name
            else:
                cols[name] = x
            source[name] = name
        else:
            _dummies(values, name, cols, source, pooled, min_level_size)
    for name in structural:
        if name in analysis:
            _dummies(analysis[name], name, cols, source, pooled, min_level_size)
    X = pd.DataFrame(cols, index=analysis.index) if cols else pd.DataFrame(index=analysis.index)
    constant = [c for c in X.columns if n == 0 or np.ptp(X[c].to_numpy()) == 0]
    X = X.drop(columns=constant)
    return Design(
        X=X.astype(float),
        source={c: s for c, s in source.items() if c in X.columns},
        dropped_constant=constant,
        pooled=pooled,
    )


def _dummies(values: pd.Series, name: str, cols: dict, source: dict, pooled: dict, min_level_size: int) -> None:
    text = values.astype("object").where(values.notna(), MISSING_LEVEL).astype(str)
    counts = text.value_counts()
    rare = sorted(counts.index[counts < min_level_size])
    if rare and len(rare) < len(counts):
        pooled[name] = rare
        text = text.where(~text.isin(rare), OTHER_LEVEL)
        if (text == OTHER_LEVEL).sum() < min_level_size:
            # still too small to stand alone: it joins the reference level (no dummy of its own)
            text = text.where(text != OTHER_LEVEL, sorted(set(text) - {OTHER_LEVEL})[0])
    levels = sorted(text.unique())
    codes = pd.Categorical(text, categories=levels).codes
    for i, level in enumerate(levels[1:], start=1):
        col = f"{name}={level}"
        cols[col] = (codes == i).astype(float)
        source[col] = name
