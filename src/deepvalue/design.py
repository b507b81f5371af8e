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
- columns that do not vary in the data at hand (for example service within a service subgroup)
  are dropped, and the dropped names are recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

STRUCTURAL = ("service", "site", "start_quarter")
MISSING_LEVEL = "(missing)"


@dataclass(frozen=True)
class Design:
    """A numeric design matrix with the provenance of each column."""

    X: pd.DataFrame  # float64, one column per term, no intercept
    source: dict[str, str]  # column -> the covariate it came from
    dropped_constant: list[str] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        return list(self.X.columns)


def covariate_design(analysis: pd.DataFrame, covariates: list[dict],
                     structural: tuple[str, ...] = STRUCTURAL) -> Design:
    """Build the design matrix of the confounders.

    Parameters
    ----------
    analysis
        The cohort table (results/cohort/analysis.parquet).
    covariates
        The config's covariates: ``[{"name": ..., "type": "numeric" | "binary" | "categorical"}]``.
    structural
        Categorical columns always adjusted for (service, site, start quarter).

    Examples
    --------
    >>> df = pd.DataFrame({"service": ["a", "b", "a"], "site": ["s", "s", "t"],
    ...                    "start_quarter": ["2024Q1"] * 3, "age": [30.0, np.nan, 50.0]})
    >>> covariate_design(df, [{"name": "age", "type": "numeric"}]).columns
    ['age', 'age__missing', 'service=b', 'site=t']
    """
    cols: dict[str, np.ndarray] = {}
    source: dict[str, str] = {}
    n = len(analysis)
    for cov in covariates:
        name, kind = cov["name"], cov["type"]
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
            _dummies(values, name, cols, source)
    for name in structural:
        if name in analysis:
            _dummies(analysis[name], name, cols, source)
    X = pd.DataFrame(cols, index=analysis.index) if cols else pd.DataFrame(index=analysis.index)
    constant = [c for c in X.columns if n == 0 or np.ptp(X[c].to_numpy()) == 0]
    X = X.drop(columns=constant)
    return Design(X=X.astype(float), source={c: s for c, s in source.items() if c in X.columns},
                  dropped_constant=constant)


def _dummies(values: pd.Series, name: str, cols: dict, source: dict) -> None:
    text = values.astype("object").where(values.notna(), MISSING_LEVEL).astype(str)
    levels = sorted(text.unique())
    codes = pd.Categorical(text, categories=levels).codes
    for i, level in enumerate(levels[1:], start=1):
        col = f"{name}={level}"
        cols[col] = (codes == i).astype(float)
        source[col] = name
