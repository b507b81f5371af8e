"""Dose-response: the effect of the continuity index as a linear slope (per 0.1 of the index)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from deepvalue.effects.base import (
    ArrayLike,
    EffectEstimate,
    _check_clusters,
    _design,
    _floats,
    _least_squares,
    _linear_note,
    _prune,
    _sample,
)
from deepvalue.effects.iv import _exog, _ols_on


def dose_response(
    y: ArrayLike,
    index: ArrayLike,
    X: pd.DataFrame,
    cluster: ArrayLike | None,
    per: float = 0.1,
    *,
    d: ArrayLike | None = None,
    outcome: str | None = None,
    subgroup: str = "",
    index_name: str | None = None,
) -> EffectEstimate:
    r"""Linear dose-response in the continuous continuity index, per ``per`` units (default 0.1).

    .. math::
        Y_i = \alpha + \beta\, \mathrm{UPC}_i + X_i'\gamma + \varepsilon_i, \qquad
        \text{estimate} = \beta \times \text{per}

    OLS with CR1 SE clustered by the allocated (first) worker (:func:`_least_squares`; HC1 without clusters). Scale
    ``per_0.1_upc``. The slope is an average over the index's range under linearity, not an
    average treatment effect: its estimand is labelled ``slope`` (:func:`dose_levels` gives the
    saturated version, one contrast per index level). ``d`` is used only to count the treated
    and control clients in the row; without it every client counts as treated.
    """
    s = _sample(y, None, "dose_response", outcome, subgroup)
    idx = s.take(index, "index")
    assert idx is not None
    codes = s.codes(cluster)
    _check_clusters(s, codes, "cluster")
    if np.ptp(idx) == 0:
        raise s.error("index", "the continuity index does not vary", "a dose-response needs varying continuity")
    ex = _exog(s, X, idx)
    slope, se = _ols_on(s.y, ex, idx, codes).coef(ex.W.shape[1])
    name = index_name or (index.name if isinstance(getattr(index, "name", None), str) else "index")
    notes = [f"OLS slope of the outcome on {name} x {per:g}", _linear_note(codes)]
    if ex.dropped:
        notes.append(f"{ex.dropped} collinear columns dropped")
    if d is None:
        n1, n0 = s.y.size, 0
    else:
        dd = _floats(d, "d")[s.keep]
        n1, n0 = int((dd == 1).sum()), int((dd == 0).sum())
    per = float(per)
    return s.result("slope", slope * per, se * per, f"per_{per:g}_{name}", notes, n_treated=n1, n_control=n0)


MAX_LEVELS = 10  # a saturated model by level only for an index with few values (UPC over 4 contacts has 4)
MIN_LEVEL_CLIENTS = 10


def dose_levels(
    y: ArrayLike,
    index: ArrayLike,
    X: pd.DataFrame,
    cluster: ArrayLike | None,
    *,
    outcome: str | None = None,
    subgroup: str = "",
    index_name: str | None = None,
) -> list[EffectEstimate]:
    r"""Saturated dose-response: the outcome at each level of the index against its lowest level.

    .. math::
        Y_i = \alpha + \sum_{v > v_0} \beta_v 1[\mathrm{UPC}_i = v] + X_i'\gamma + \varepsilon_i

    OLS with the same confounders and CR1 SEs as :func:`dose_response`; one row per level
    :math:`v` (estimand ``level_contrast``, scale ``<index>_<v>_vs_<v0>``), so a non-linear
    dose-response shows. Needs at most :data:`MAX_LEVELS` distinct values; levels with fewer than
    :data:`MIN_LEVEL_CLIENTS` clients are pooled into the next lower level (said in the notes).
    """
    s = _sample(y, None, "dose_levels", outcome, subgroup)
    idx = s.take(index, "index")
    assert idx is not None
    name = index_name or (index.name if isinstance(getattr(index, "name", None), str) else "index")
    codes = s.codes(cluster)
    _check_clusters(s, codes, "cluster")
    values, counts = np.unique(np.round(idx, 9), return_counts=True)
    if values.size > MAX_LEVELS:
        raise s.error(
            "index",
            f"{values.size} distinct values; the saturated version needs at most {MAX_LEVELS}",
            "read the linear dose_response row, or use an index with few levels (UPC over K contacts)",
        )
    levels = list(values)
    pooled = []
    for v, c in zip(values[1:], counts[1:]):
        if c < MIN_LEVEL_CLIENTS:
            levels.remove(v)
            pooled.append(f"{v:g} ({c} clients)")
    if len(levels) < 2:
        raise s.error("index", "fewer than two index levels with enough clients", "read the linear dose_response row")
    level_of = np.searchsorted(np.asarray(levels), np.round(idx, 9), side="right") - 1
    dummies = np.column_stack([(level_of == k).astype(float) for k in range(1, len(levels))])
    W = np.column_stack([dummies, _design(1.0, s.take(X, "X"))])
    W, gram, keep = _prune(W)
    if not keep[: dummies.shape[1]].all():
        raise s.error("index", "an index level is collinear with the confounders", "read the linear row")
    fit = _least_squares(s.y, W, codes, gram=gram)
    base = [
        f"OLS on indicators of {name} levels against {levels[0]:g}, confounders as dose_response",
        _linear_note(codes),
    ]
    if pooled:
        base.append("levels pooled into the next lower one for too few clients: " + ", ".join(pooled))
    out = []
    for k, v in enumerate(levels[1:]):
        est, se = fit.coef(k)
        n_v = int((level_of == k + 1).sum())
        n_0 = int((level_of == 0).sum())
        out.append(
            s.result("level_contrast", est, se, f"{name}_{v:g}_vs_{levels[0]:g}", base, n_treated=n_v, n_control=n_0)
        )
    return out
