"""Propensity score weights: inverse probability weights for the ATE and ATT, overlap weights (ATO).

DESIGN section 5 (Weighting). Each estimand re-weights the two groups to a common target
population: the whole sample (ATE), the treated (ATT), or the population with the most overlap
(ATO; Li, Morgan and Zaslavsky 2018, JASA 113:390), whose weights are bounded and need no
trimming. Optional symmetric trimming (Crump et al. 2009) gives weight 0 to clients with
extreme scores; how many is logged and available from :func:`trimmed`.
"""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np
import numpy.typing as npt

from deepvalue.core.errors import AnalysisError, Problem

Estimand = Literal["ATE", "ATT", "ATO"]
ESTIMANDS = ("ATE", "ATT", "ATO")

log = logging.getLogger("deepvalue")


def trimmed(score: npt.ArrayLike, trim: float | None) -> npt.NDArray[np.bool_]:
    """Which clients trimming drops: :math:`e_i < a` or :math:`e_i > 1 - a` (none when `trim` is None).

    Examples
    --------
    >>> trimmed([0.01, 0.5, 0.995], 0.05).tolist()
    [True, False, True]
    """
    e = np.asarray(score, dtype=np.float64)
    if trim is None:
        return np.zeros(e.shape, dtype=bool)
    if not 0 <= trim < 0.5:
        raise ValueError(f"trim must be in [0, 0.5), not {trim!r}")
    return (e < trim) | (e > 1 - trim)


def propensity_weights(
    score: npt.ArrayLike,
    treatment: npt.ArrayLike,
    estimand: Estimand,
    stabilize: bool = True,
    trim: float | None = None,
) -> npt.NDArray[np.float64]:
    """Propensity score weights for one estimand.

    With :math:`e_i` the score, :math:`T_i` the treatment and :math:`p` the share treated (among
    the clients kept after trimming):

    - ATE: treated :math:`p / e_i`, controls :math:`(1 - p) / (1 - e_i)` (unstabilised:
      :math:`1 / e_i` and :math:`1 / (1 - e_i)`);
    - ATT: treated 1, controls :math:`e_i / (1 - e_i)`, scaled to sum to the number of treated
      :math:`n_t` when stabilised;
    - ATO (overlap weights): treated :math:`1 - e_i`, controls :math:`e_i`.

    Stabilising (Robins, Hernan and Brumback 2000) multiplies the ATE weights by the marginal
    probability of the group received, so they average about 1 per group and the weighted
    sample has about the size of the real one; it changes neither the Hajek (normalised)
    estimate nor its consistency. Overlap weights are bounded by 1 and are not changed by
    `stabilize`.

    Parameters
    ----------
    score
        Propensity scores :math:`e_i \\in (0, 1)`.
    treatment
        0/1 per client.
    estimand
        ``"ATE"``, ``"ATT"`` or ``"ATO"``.
    stabilize
        See above.
    trim
        Give weight 0 to clients with :math:`e_i < a` or :math:`e_i > 1 - a` (``a = trim``);
        None keeps everyone. The number trimmed is logged.

    Returns
    -------
    ndarray
        One weight per client (0 for trimmed clients).

    Raises
    ------
    AnalysisError
        A kept client has a score of exactly 0 or 1 (its inverse weight is infinite), or
        trimming leaves no treated or no control clients.

    Examples
    --------
    >>> propensity_weights([0.5, 0.25, 0.5, 0.75], [1, 1, 0, 0], "ATE").tolist()
    [1.0, 2.0, 1.0, 2.0]
    >>> propensity_weights([0.5, 0.25, 0.5, 0.75], [1, 1, 0, 0], "ATT").tolist()
    [1.0, 1.0, 0.5, 1.5]
    """
    if estimand not in ESTIMANDS:
        raise ValueError(f"estimand must be one of {ESTIMANDS}, not {estimand!r}")
    e = np.asarray(score, dtype=np.float64)
    t = np.asarray(treatment)
    if e.ndim != 1 or t.shape != e.shape:
        raise ValueError(f"score and treatment must be 1-D of the same length, got {e.shape} and {t.shape}")
    if not np.isin(t, (0, 1)).all():
        raise ValueError("treatment must be 0/1")
    is_treated = t.astype(bool)
    drop = trimmed(e, trim)
    keep = ~drop
    if trim is not None:
        log.info(
            "weights (%s): trimmed %d of %d clients with score outside [%g, %g] (%d treated, %d control)",
            estimand,
            int(drop.sum()),
            e.size,
            trim,
            1 - trim,
            int((drop & is_treated).sum()),
            int((drop & ~is_treated).sum()),
        )
    n_treated = int((keep & is_treated).sum())
    n_control = int((keep & ~is_treated).sum())
    if n_treated == 0 or n_control == 0:
        group = "treated" if n_treated == 0 else "control"
        raise AnalysisError(
            [
                Problem(
                    "analysis",
                    "treatment",
                    f"no {group} clients are left after trimming at {trim}",
                    "lower weighting.trim (or set it to null)",
                )
            ],
            headline="the propensity weights cannot be formed",
        )
    # a score of exactly 0 (treated, ATE) or 1 (control, ATE and ATT) has an infinite weight
    infinite = keep & ~is_treated & (e >= 1)
    if estimand == "ATE":
        infinite |= keep & is_treated & (e <= 0)
    if estimand != "ATO" and infinite.any():
        raise AnalysisError(
            [
                Problem(
                    "analysis",
                    "treatment",
                    f"{int(infinite.sum())} client(s) have a propensity score of exactly 0 or 1 (no overlap), so "
                    f"their {estimand} weight is infinite",
                    "set weighting.trim (e.g. 0.01) or use overlap weights, which need no trimming",
                )
            ],
            headline="the propensity weights cannot be formed",
        )

    with np.errstate(divide="ignore", invalid="ignore"):
        if estimand == "ATE":
            p = n_treated / (n_treated + n_control) if stabilize else 1.0
            q = 1 - p if stabilize else 1.0
            w = np.where(is_treated, p / e, q / (1 - e))
        elif estimand == "ATT":
            w = np.where(is_treated, 1.0, e / (1 - e))
            if stabilize:
                control = keep & ~is_treated
                w[control] *= n_treated / w[control].sum()
        else:
            w = np.where(is_treated, 1 - e, e)
    w[drop] = 0.0
    return w


def effective_sample_size(w: npt.ArrayLike) -> float:
    """Kish's effective sample size :math:`(\\sum_i w_i)^2 / \\sum_i w_i^2` of one group.

    Equal weights give the number of clients with positive weight; unequal weights give fewer,
    the size of an unweighted sample with the same precision for a mean. Apply it per group
    (treated, control) as balance reports do.

    Examples
    --------
    >>> effective_sample_size([1.0, 1.0, 2.0])
    2.6666666666666665
    """
    w = np.asarray(w, dtype=np.float64)
    total_sq = float(w @ w)
    return float(w.sum() ** 2 / total_sq) if total_sq > 0 else 0.0
