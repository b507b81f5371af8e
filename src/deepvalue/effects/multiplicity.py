"""Multiplicity: Holm-adjusted p-values over the family of primary-method tests, and the confirmatory row.

The family is every estimate row of results/estimates.csv with the primary method and estimand
(``estimation.primary``, :func:`deepvalue.core.primary.resolve_primary`): each outcome, for the whole
cohort and for each level of each subgroup column (outcomes x subgroups x the primary method). The
"equal effects" Wald rows of the subgroups test other hypotheses and are left out, as are skipped rows
(no p-value). Holm's step-down (Holm 1979, *Scand. J. Statist.* 6): with the m p-values sorted,
p_holm_(i) = max_{j <= i} min(1, (m - j + 1) p_(j)); it controls the family-wise error rate under
any dependence. Tested equal to ``statsmodels.stats.multitest.multipletests(method="holm")``.

``role`` is ``confirmatory`` for the whole-cohort row of the primary outcome, ``exploratory`` for the
rest. ``p_romano_wolf`` is the hook for the Romano-Wolf step-down (Romano and Wolf 2005,
*Econometrica* 73), which needs joint bootstrap draws of all the family's estimates: it stays empty
until the joint bootstrap artefact exists; pass its draws (one column per row of the family, in the
table's order, and the point estimates and SEs) to a ``romano_wolf`` function and fill the column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MULTIPLICITY_COLUMNS = [
    "outcome",
    "subgroup",
    "method",
    "estimand",
    "role",
    "estimate",
    "p_value",
    "p_holm",
    "p_romano_wolf",
    "family_size",
]


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values, in the order given (NaN stays NaN, outside the family)."""
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = ok.size
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    stepped = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(stepped)
    return out


def multiplicity_table(estimates: pd.DataFrame, primary: dict[str, str]) -> pd.DataFrame:
    """The family's rows with their Holm-adjusted p-values; the primary whole-cohort row first."""
    est = estimates.copy()
    est["subgroup"] = est["subgroup"].fillna("").astype(str)
    family = est[
        (est["method"] == primary["method"])
        & (est["estimand"] == primary["estimand"])
        & ~est["subgroup"].str.endswith(": equal effects")
        & est["p_value"].notna()
    ].copy()
    family["role"] = np.where(
        (family["outcome"] == primary["outcome"]) & (family["subgroup"] == ""), "confirmatory", "exploratory"
    )
    family["p_holm"] = holm(family["p_value"].to_numpy(dtype=float))
    family["p_romano_wolf"] = np.nan
    family["family_size"] = len(family)
    family = family.sort_values("role", kind="stable")  # "confirmatory" sorts first
    return family.reindex(columns=MULTIPLICITY_COLUMNS).reset_index(drop=True)
