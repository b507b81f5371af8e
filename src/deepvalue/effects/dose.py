"""Dose-response: the effect of the continuity index as a linear slope (per 0.1 of the index)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from deepvalue.effects.base import ArrayLike, EffectEstimate, _check_clusters, _floats, _linear_note, _sample
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
    ``per_0.1_upc``. The slope is an average over the index's range under linearity; estimand
    labelled ATE. ``d`` is used only to count the treated and control clients in the row;
    without it every client counts as treated.
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
    return s.result("ATE", slope * per, se * per, f"per_{per:g}_{name}", notes, n_treated=n1, n_control=n0)
