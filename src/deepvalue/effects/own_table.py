"""`deepvalue estimate`: the pipeline's estimators on an analyst's own client-level table.

For analysts who bring their own cohort (one row per client, a 0/1 treatment, an outcome and
covariates): the same estimators and the same estimates.csv format as the workflow. Covariates
are numeric when their column is numeric, else categorical (dummies); the outcome is binary when
its values are 0/1. Matching for the psm row uses the workflow's defaults (caliper 0.2 SD of the
logit, 1:1, with replacement, random order seeded by --seed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from deepvalue.adjust.propensity import fit_propensity
from deepvalue.core.errors import ConfigError, ExtractError, Problem, did_you_mean
from deepvalue.core.settings import Covariate, Settings
from deepvalue.effects.base import CLUSTER_NAME
from deepvalue.effects.table import METHODS, Roles, run_estimates


def _read(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise ExtractError(
            [Problem("table", None, "file not found", "give the path of a CSV or Parquet file", path=str(path))]
        )
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if suffix == ".csv":
        return pd.read_csv(path)
    raise ExtractError(
        [
            Problem(
                "table", None, f"unsupported file type '{path.suffix}'", "give a .csv or .parquet file", path=str(path)
            )
        ]
    )


def estimate_own_table(
    path: str | Path,
    treatment: str,
    outcome: str,
    covariates: Sequence[str],
    cluster: str | None = None,
    methods: Sequence[str] | None = None,
    instrument: str | None = None,
    index: str | None = None,
    seed: int = 20261125,
) -> pd.DataFrame:
    """Estimates for one outcome of a ready client-level table (the rows of estimates.csv)."""
    path = Path(path)
    table = _read(path)
    wanted = [("--treatment", treatment), ("--outcome", outcome)] + [("--covariates", c) for c in covariates]
    wanted += [(flag, c) for flag, c in (("--cluster", cluster), ("--instrument", instrument), ("--index", index)) if c]
    problems = [
        Problem(
            "table",
            col,
            f"{flag} names a column that is not in the table",
            f"{did_you_mean(col, table.columns)}columns: {', '.join(map(str, table.columns))}",
            path=str(path),
        )
        for flag, col in wanted
        if col not in table.columns
    ]
    # km_ipw needs the cohort's time-to-event columns (events outcomes of the pipeline), not one outcome column
    own = [m for m in METHODS if m != "km_ipw"]
    unknown = sorted(set(methods or ()) - set(own))
    if unknown:
        problems.append(
            Problem(
                "options",
                "--methods",
                f"unknown method(s): {', '.join(unknown)}",
                f"choose from {', '.join(own)} (km_ipw runs in the workflow, on outcomes recorded as events)",
            )
        )
    if problems:
        raise ExtractError(problems, headline="the table does not fit the options")
    d = pd.to_numeric(table[treatment], errors="coerce")
    bad = np.flatnonzero(~d.isin([0, 1]).to_numpy())
    if bad.size:
        raise ExtractError(
            [
                Problem(
                    "table",
                    treatment,
                    "treatment must be 0 or 1 in every row",
                    "recode the treatment to 0/1 and drop rows where it is unknown",
                    rows=tuple(int(i) + 2 for i in bad[:5]),
                    count=int(bad.size),
                    path=str(path),
                )
            ]
        )
    y = pd.to_numeric(table[outcome], errors="coerce")
    text = np.flatnonzero(y.isna().to_numpy() & table[outcome].notna().to_numpy())
    if text.size:
        raise ExtractError(
            [
                Problem(
                    "table",
                    outcome,
                    "text in the outcome column",
                    "give numbers only",
                    rows=tuple(int(i) + 2 for i in text[:5]),
                    count=int(text.size),
                    path=str(path),
                )
            ]
        )
    kind = "binary" if y.dropna().isin([0, 1]).all() else "continuous"
    frame = table.copy()
    frame[treatment] = d.astype(int)
    frame["treatment"] = d.astype(int)
    frame["client_id"] = [f"row{i + 2}" for i in range(len(frame))]
    covs = [Covariate(c, "numeric" if pd.api.types.is_numeric_dtype(table[c]) else "categorical") for c in covariates]
    settings = Settings.from_sections(
        {
            "covariates": [{"name": c.name, "type": c.type} for c in covs],
            "outcomes": [{"name": outcome, "type": kind}],
            "propensity": {},
            "matching": {"replace": True, "exact": []},
            "estimation": {"min_rows_per_parameter": 5, "min_events_per_arm": 5},
            "seed": seed,
        }
    )
    roles = Roles(cluster=cluster, instrument=instrument, index=index, structural=())
    chosen = tuple(methods or [m for m in METHODS if m != "km_ipw"])
    scores = _scores(frame, covs) if "psm" in chosen else None
    table = run_estimates(frame, settings, scores, methods=chosen, subgroups=[], roles=roles)
    if cluster:  # the notes name the analyst's own cluster column, not the pipeline's worker
        table["notes"] = table["notes"].str.replace(CLUSTER_NAME, f"'{cluster}'", regex=False)
    return table


def _scores(frame: pd.DataFrame, covs: list[Covariate]) -> pd.DataFrame:
    """The logit propensity score PSM matches on (caliper 0.2 SD, 1:1, with replacement)."""
    from deepvalue.adjust.design import covariate_design

    X = covariate_design(frame, covs, structural=()).X
    fit = fit_propensity(X, frame["treatment"].to_numpy())
    return pd.DataFrame({"client_id": frame["client_id"].to_numpy(), "logit": fit.logit})


def check_out_dir(out: str | Path) -> Path:
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError([Problem("options", "--out", f"{out} is a file", "give a folder for estimates.csv")])
    out.mkdir(parents=True, exist_ok=True)
    return out
