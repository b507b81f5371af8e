"""Counts implied by proportions (the rule ``implied_count`` of :mod:`deepvalue.publish.disclosure`).

``match/balance.csv`` publishes, for every binary covariate (and every level of a categorical one,
``"ethnicity=Other"``), its mean among the treated and the controls. Unweighted, a mean is a count divided
by the group's size, and ``match/balance_summary.csv`` publishes the sizes: 3 of 40 treated with a
language need is published as 0.075 beside n = 40. So, for each covariate row of the unadjusted
comparison, the implied counts ``k = mean * n`` and ``n - k`` of each arm are checked against the threshold
like any count (as :func:`deepvalue.core.small_cells.is_small`, zeros by ``allow_zero``). When one is small,
the covariate's proportions are suppressed in every adjustment's row (the treated mean of the matched and
ATT-weighted rows is the unadjusted one, since the treated keep weight 1), with the statistics computed
from them (``smd``, ``variance_ratio``, ``ks``: with one mean published, the SMD gives back the other), and
for a categorical covariate in the rows of all its levels (the levels' shares add up to one, so one hidden
level would come back as a difference).

Weighted means (matched controls with replacement, IPW and overlap weights) do not imply a count without
the weights, which are not published; they are hidden only with the unadjusted row's covariate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

RULE = "implied_count"
BALANCE_COLUMNS = frozenset({"covariate", "adjustment", "binary", "mean_treated", "mean_control"})
#: The columns of a hidden covariate's rows: its proportions and what is computed from them.
HIDDEN_COLUMNS = ("mean_treated", "mean_control", "smd", "variance_ratio", "ks")
UNADJUSTED = "unadjusted"


def _small(counts: np.ndarray, min_cell: int, allow_zero: bool) -> np.ndarray:
    """:func:`is_small` over an array (NaN is not small)."""
    lower = 0 if allow_zero else -1
    return (counts > lower) & (counts < min_cell)


def _summary_name(name: str) -> str:
    return name[: -len("balance.csv")] + "balance_summary.csv" if name.endswith("balance.csv") else ""


def _group_sizes(summary: pd.DataFrame) -> dict[str, float]:
    rows = summary[summary["adjustment"].astype(str) == UNADJUSTED]
    return {str(g): float(n) for g, n in zip(rows["group"], rows["n"]) if pd.notna(n)}


def implied_count_cells(
    frames: dict[str, pd.DataFrame], min_cell: int, allow_zero: bool = True
) -> dict[str, list[tuple[int, str]]]:
    """The (row, column) cells to suppress in each balance table published with its summary.

    A balance table is one with the columns of :data:`BALANCE_COLUMNS`, published beside a
    ``balance_summary.csv`` of the same folder (its unadjusted ``n`` per group); without that summary the
    sizes are not published and no count is implied. Rows are 0-based data rows.

    >>> balance = pd.DataFrame({"covariate": ["age", "language_need", "sex=F", "sex=M"],
    ...     "adjustment": "unadjusted", "binary": [False, True, True, True],
    ...     "mean_treated": [40.1, 0.075, 0.5, 0.5], "mean_control": [41.0, 0.2, 0.45, 0.55],
    ...     "smd": 0.1, "variance_ratio": 1.0, "ks": 0.1})
    >>> summary = pd.DataFrame({"adjustment": "unadjusted", "group": ["treated", "control"], "n": [40, 60]})
    >>> cells = implied_count_cells({"match/balance.csv": balance, "match/balance_summary.csv": summary}, 10)
    >>> sorted({r for r, _ in cells["match/balance.csv"]})  # 3 of 40 treated; sex: 20/20 and 27/33
    [1]
    """
    out: dict[str, list[tuple[int, str]]] = {}
    for name, frame in frames.items():
        summary = frames.get(_summary_name(name))
        if not BALANCE_COLUMNS <= set(frame.columns) or summary is None:
            continue
        sizes = _group_sizes(summary)
        base = frame["covariate"].astype(str).str.split("=", n=1).str[0]
        plain = frame["adjustment"].astype(str).eq(UNADJUSTED) & frame["binary"].fillna(False).astype(bool)
        small = np.zeros(len(frame), dtype=bool)
        for column, group in (("mean_treated", "treated"), ("mean_control", "control")):
            n = sizes.get(group)
            if n is None:
                continue
            k = np.round(pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float) * n)
            small |= plain.to_numpy() & (_small(k, min_cell, allow_zero) | _small(n - k, min_cell, allow_zero))
        hidden = set(base[small])
        rows = np.flatnonzero(base.isin(hidden).to_numpy())
        cells = [(int(r), c) for r in rows for c in HIDDEN_COLUMNS if c in frame.columns]
        if cells:
            out[name] = cells
    return out
