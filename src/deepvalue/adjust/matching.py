"""Greedy nearest-neighbour matching on the logit of the propensity score (ATT), in O(n log n).

DESIGN section 5 (Matching): 1:k matching with or without replacement, a caliper in SD units of
the logit (Austin 2011), exact matching within strata, a configurable matching order. Controls
are sorted once by (stratum, logit); each treated client finds its nearest still-available
controls by walking outwards from its position in that order, skipping used controls through
"next available" pointers with path compression (a union-find), so no distance matrix is ever
formed. The greedy loop is sequential by nature (each choice changes what is left for the
next), so it is one tight function compiled with numba.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from deepvalue.core.errors import AnalysisError, Problem
from deepvalue.core.keys import positions_in
from deepvalue.core.settings import MatchingSettings

try:
    from numba import njit
except ImportError:  # pragma: no cover - the same code runs as plain Python, about 100x slower

    def njit(*args, **kwargs):  # type: ignore[no-redef]
        if args and callable(args[0]):
            return args[0]
        return lambda func: func


Order = Literal["largest", "smallest", "random", "data"]
ORDERS = ("largest", "smallest", "random", "data")

#: Why a treated client has no match; every reason is always reported, zero or not. The last two
#: tell the user which constraint binds: the caliper (no control of the stratum is near enough,
#: used or not) or matching without replacement (near enough controls exist, but earlier treated
#: took them all).
NO_STRATUM = "no control in exact stratum"
NO_CALIPER = "no control within caliper"
USED_UP = "every control within caliper already used"
REASONS = (NO_STRATUM, NO_CALIPER, USED_UP)
_STATUS_MATCHED, _STATUS_NO_STRATUM, _STATUS_NO_CALIPER, _STATUS_USED_UP = 0, 1, 2, 3


@dataclass(frozen=True)
class MatchResult:
    """The matched sets and the ATT weights they imply.

    Attributes
    ----------
    pairs : pandas.DataFrame
        One row per (treated, control) pair: ``treated`` and ``control`` (row positions in the
        input), ``subclass`` (the matched set: one per matched treated, numbered 0, 1, ... in the
        order the treated were matched) and ``distance`` :math:`|\\eta_t - \\eta_c|`. Within a
        set the nearest control comes first.
    weights : ndarray
        ATT weight per row: 1 for a matched treated; for a control
        :math:`w_c = \\sum_{t: c \\in M(t)} 1 / |M(t)|` (with replacement a reused control can
        weigh more than 1); 0 for unmatched rows. The control weights sum to the number of
        matched treated.
    subclass : ndarray
        Matched set per row, -1 when unmatched. With replacement a control can belong to several
        sets; it is given the first (lowest-numbered) one, and ``pairs`` lists them all.
    n_treated_matched : int
    n_treated_unmatched : dict of str to int
        Unmatched treated by reason: ``no control in exact stratum``; ``no control within
        caliper`` (none of the stratum's controls, used or not, is within the caliper); ``every
        control within caliper already used`` (only without replacement: there were near enough
        controls, but earlier treated took them; a larger caliper will not help as much as
        replacement or a smaller ratio).
    caliper_abs : float or None
        The caliper in logit units, ``caliper * logit_sd``; None without a caliper.
    logit_sd : float
        The pooled SD of the logit, :math:`\\sqrt{(s_t^2 + s_c^2)/2}` over the whole sample.
    caliper, ratio, replace, order, seed
        The settings used.
    n_controls_matched : int
        Distinct controls with positive weight.
    """

    pairs: pd.DataFrame
    weights: npt.NDArray[np.float64]
    subclass: npt.NDArray[np.int64]
    n_treated_matched: int
    n_treated_unmatched: dict[str, int]
    caliper_abs: float | None
    logit_sd: float
    caliper: float | None = None
    ratio: int = 1
    replace: bool = False
    order: str = "largest"
    seed: int = 0
    n_controls_matched: int = 0


def match_nearest(
    logit: npt.ArrayLike,
    treatment: npt.ArrayLike,
    caliper: float | None = 0.2,
    ratio: int = 1,
    replace: bool = False,
    strata: npt.ArrayLike | None = None,
    order: Order = "largest",
    seed: int = 0,
) -> MatchResult:
    """Greedy 1:k nearest-neighbour matching on the logit of the propensity score.

    Treated units are taken one at a time in `order`; each takes its `ratio` nearest controls
    (distance :math:`d(t, c) = |\\eta_t - \\eta_c|`) among those still available, in the same
    stratum, with :math:`d \\le` ``caliper_abs``. Ties in distance go to the control with the
    lower row position. A treated unit with fewer than `ratio` controls within the caliper keeps
    the ones it found (its set has fewer controls, and their weights are larger); one with none
    is unmatched, and the reason is counted.

    The caliper is in SD units of the logit (Austin 2011, Pharm Stat 10:150, recommends 0.2 of
    the SD of the logit of the score). The SD is the pooled one over the whole sample, as in
    Austin's simulations: :math:`\\sqrt{(s_t^2 + s_c^2)/2}` with :math:`s_g^2` the sample
    variance (ddof = 1) of the logit among treated and among controls, ignoring strata.

    Parameters
    ----------
    logit
        Linear predictor of the propensity model, one per row (finite).
    treatment
        0/1 per row.
    caliper
        Maximum distance in SD units of the logit, or None for no caliper.
    ratio
        Controls per treated (k).
    replace
        Whether a control may be matched to more than one treated. With replacement the order
        makes no difference to who is matched (only to the numbering of the sets).
    strata
        Optional labels per row; matching happens only within equal labels (exact matching).
    order
        ``largest``: highest score first (the hardest to match first, MatchIt's default for
        greedy matching on the score); ``smallest``; ``random``: a permutation drawn with
        ``numpy.random.default_rng(seed)``; ``data``: row order. Ties keep row order.
    seed
        Seed for ``order="random"``.

    Returns
    -------
    MatchResult

    Notes
    -----
    Time is O(n log n): one sort of the controls by (stratum, logit, row) and one binary search
    per treated; the pointers that skip used controls cost amortised near-constant time (union-
    find with path halving). Memory is O(n). Distances are compared as computed in floating
    point; the walk assumes they grow with rank in the sorted order, which holds exactly except
    that two distinct logits one rounding unit apart can round to the same distance (then the
    nearer logit, not the lower row, wins).

    Examples
    --------
    >>> m = match_nearest([0.0, 1.0, 0.1, 0.9, 3.0], [1, 1, 0, 0, 0], caliper=None)
    >>> m.pairs[["treated", "control"]].to_numpy().tolist()
    [[1, 3], [0, 2]]
    >>> m.weights.tolist()
    [1.0, 1.0, 1.0, 1.0, 0.0]
    """
    x = np.ascontiguousarray(logit, dtype=np.float64)
    t = np.asarray(treatment)
    n = x.size
    if x.ndim != 1 or t.shape != (n,):
        raise ValueError(f"logit and treatment must be 1-D of the same length, got {x.shape} and {t.shape}")
    if not np.isfinite(x).all():
        raise ValueError("logit has missing or infinite values")
    if not np.isin(t, (0, 1)).all():
        raise ValueError("treatment must be 0/1")
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, not {order!r}")
    if int(ratio) != ratio or ratio < 1:
        raise ValueError(f"ratio must be a positive integer, not {ratio!r}")
    if caliper is not None and not caliper > 0:
        raise ValueError(f"caliper must be positive or None, not {caliper!r}")
    ratio = int(ratio)
    is_treated = t.astype(bool)
    rows = np.arange(n, dtype=np.int64)
    treated_rows, control_rows = rows[is_treated], rows[~is_treated]

    logit_sd = _pooled_sd(x[treated_rows], x[control_rows])
    caliper_abs = None if caliper is None else float(caliper) * logit_sd

    if strata is None:
        codes = np.zeros(n, dtype=np.int64)
        n_strata = 1
    else:
        labels = np.asarray(strata)
        if labels.shape != (n,):
            raise ValueError(f"strata has shape {labels.shape}, expected ({n},)")
        # missing labels form their own stratum rather than being dropped silently
        codes_raw, uniques = pd.factorize(labels, use_na_sentinel=False)
        codes = codes_raw.astype(np.int64)
        n_strata = max(len(uniques), 1)

    # Controls sorted by (stratum, logit, row); row position breaks ties among equal logits.
    sort = np.lexsort((control_rows, x[control_rows], codes[control_rows]))
    c_rows = control_rows[sort]
    c_logit = x[c_rows]
    c_stratum = codes[c_rows]
    strata_ids = np.arange(n_strata, dtype=np.int64)
    seg_lo = np.searchsorted(c_stratum, strata_ids, side="left").astype(np.int64)
    seg_hi = np.searchsorted(c_stratum, strata_ids, side="right").astype(np.int64)
    # start of each run of equal (stratum, logit): walking left, the lowest row of a run comes first
    m = c_rows.size
    new_run = np.ones(m, dtype=bool)
    if m > 1:
        new_run[1:] = (c_stratum[1:] != c_stratum[:-1]) | (c_logit[1:] != c_logit[:-1])
    run_start = np.maximum.accumulate(np.where(new_run, np.arange(m, dtype=np.int64), 0))

    t_order = _treated_order(x, treated_rows, order, seed)
    max_pairs = t_order.size * ratio
    pair_t = np.empty(max_pairs, dtype=np.int64)
    pair_c = np.empty(max_pairs, dtype=np.int64)
    pair_set = np.empty(max_pairs, dtype=np.int64)
    pair_d = np.empty(max_pairs, dtype=np.float64)
    status = np.empty(t_order.size, dtype=np.int64)
    n_pairs = _greedy_match(
        x,
        codes,
        t_order,
        c_logit,
        c_rows,
        run_start,
        seg_lo,
        seg_hi,
        ratio,
        bool(replace),
        np.inf if caliper_abs is None else caliper_abs,
        pair_t,
        pair_c,
        pair_set,
        pair_d,
        status,
    )
    pairs = pd.DataFrame(
        {
            "treated": pair_t[:n_pairs],
            "control": pair_c[:n_pairs],
            "subclass": pair_set[:n_pairs],
            "distance": pair_d[:n_pairs],
        }
    )
    weights, subclass = _att_weights(n, pairs, bool(replace))
    unmatched = {
        reason: int(np.count_nonzero(status == code))
        for reason, code in (
            (NO_STRATUM, _STATUS_NO_STRATUM),
            (NO_CALIPER, _STATUS_NO_CALIPER),
            (USED_UP, _STATUS_USED_UP),
        )
    }
    return MatchResult(
        pairs=pairs,
        weights=weights,
        subclass=subclass,
        n_treated_matched=int(np.count_nonzero(status == _STATUS_MATCHED)),
        n_treated_unmatched=unmatched,
        caliper_abs=caliper_abs,
        logit_sd=logit_sd,
        caliper=None if caliper is None else float(caliper),
        ratio=ratio,
        replace=bool(replace),
        order=order,
        seed=int(seed),
        n_controls_matched=int(np.count_nonzero(weights[control_rows])),
    )


def _pooled_sd(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> float:
    var = [float(np.var(g, ddof=1)) if g.size > 1 else 0.0 for g in (a, b)]
    return float(np.sqrt((var[0] + var[1]) / 2))


def _treated_order(
    x: npt.NDArray[np.float64], treated_rows: npt.NDArray[np.int64], order: str, seed: int
) -> npt.NDArray[np.int64]:
    """Row positions of the treated in the order they choose controls (stable: ties keep row order)."""
    if order == "largest":
        return treated_rows[np.argsort(-x[treated_rows], kind="stable")]
    if order == "smallest":
        return treated_rows[np.argsort(x[treated_rows], kind="stable")]
    if order == "random":
        return np.random.default_rng(seed).permutation(treated_rows)
    return treated_rows


def _att_weights(n: int, pairs: pd.DataFrame, replace: bool) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """ATT weights and the (first) matched set of every row, from the pairs."""
    treated = pairs["treated"].to_numpy()
    control = pairs["control"].to_numpy()
    sets = pairs["subclass"].to_numpy()
    set_size = np.bincount(sets) if sets.size else np.zeros(0, dtype=np.int64)
    weights = np.bincount(control, weights=1.0 / set_size[sets], minlength=n)
    weights[treated] = 1.0
    subclass = np.full(n, -1, dtype=np.int64)
    subclass[treated] = sets
    if replace:
        # pairs are in set order, so the first occurrence of a control is its lowest-numbered set
        first_controls, first_at = np.unique(control, return_index=True)
        subclass[first_controls] = sets[first_at]
    else:
        subclass[control] = sets
    return weights, subclass


@njit(cache=True)
def _find_right(parent, i):  # pragma: no cover - compiled
    # path halving: every visited node skips to its grandparent, so later searches are short
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


@njit(cache=True)
def _greedy_match(
    x,
    codes,
    t_order,
    c_logit,
    c_rows,
    run_start,
    seg_lo,
    seg_hi,
    ratio,
    replace,
    caliper_abs,
    pair_t,
    pair_c,
    pair_set,
    pair_d,
    status,
):  # pragma: no cover - compiled
    """The greedy loop. Returns the number of pairs written.

    Positions refer to the sorted controls. ``right[i]`` leads to the first available position
    >= i (sentinel m); ``left[i + 1]`` leads to one plus the last available position <= i
    (sentinel 0 = "none"). A used position is linked to its neighbour, so each is skipped at most
    a few times after path halving. With replacement nothing is ever used, and the pointers are
    plain cursors within one treated's search.
    """
    m = c_logit.size
    right = np.arange(m + 1)
    left = np.arange(m + 1)
    n_pairs = 0
    n_sets = 0
    for k in range(t_order.size):
        row = t_order[k]
        xt = x[row]
        s = codes[row]
        lo = seg_lo[s]
        hi = seg_hi[s]
        if lo == hi:
            status[k] = 1
            continue
        p = lo + np.searchsorted(c_logit[lo:hi], xt)  # first control with logit >= xt
        taken = 0
        # cursors for the with-replacement walk: next right position; left run [run_lo, run_hi]
        # and the next position inside it (a run is taken from its lowest row upwards)
        cur_r = p
        run_hi = p - 1
        run_lo = run_start[run_hi] if run_hi >= lo else lo
        cur_l = run_lo
        while taken < ratio:
            if replace:
                r = cur_r if cur_r < hi else -1
                lpos = cur_l if run_hi >= lo else -1
            else:
                r = _find_right(right, p)
                if r >= hi:
                    r = -1
                lpos = _find_right(left, p) - 1  # slot p = position p - 1
                if lpos < lo:
                    lpos = -1
                else:
                    # the available control with the lowest row in that run of equal logits
                    lpos = _find_right(right, run_start[lpos])
            found = r != -1 or lpos != -1
            pick = -1
            d = np.inf
            from_left = False
            if found:
                dr = np.inf if r == -1 else abs(xt - c_logit[r])
                dl = np.inf if lpos == -1 else abs(xt - c_logit[lpos])
                if lpos != -1 and (dl < dr or (dl == dr and c_rows[lpos] < c_rows[r])):
                    pick = lpos
                    d = dl
                    from_left = True
                else:
                    pick = r
                    d = dr
            if not found or d > caliper_abs:
                if taken == 0:
                    # was any control of the stratum, used or not, within the caliper? Its two
                    # neighbours in the sorted order are the nearest of all.
                    nearest = np.inf
                    if p < hi:
                        nearest = abs(xt - c_logit[p])
                    if p - 1 >= lo:
                        nearest = min(nearest, abs(xt - c_logit[p - 1]))
                    status[k] = 3 if nearest <= caliper_abs else 2
                break
            pair_t[n_pairs] = row
            pair_c[n_pairs] = c_rows[pick]
            pair_set[n_pairs] = n_sets
            pair_d[n_pairs] = d
            n_pairs += 1
            taken += 1
            if replace:
                if from_left:
                    cur_l += 1
                    if cur_l > run_hi:  # run exhausted: move to the run ending just left of it
                        run_hi = run_lo - 1
                        if run_hi >= lo:
                            run_lo = run_start[run_hi]
                            cur_l = run_lo
                else:
                    cur_r += 1
            else:
                right[pick] = pick + 1
                left[pick + 1] = pick
        if taken > 0:
            status[k] = 0
            n_sets += 1
    return n_pairs


@dataclass(frozen=True)
class PopulationMatch:
    """A population matched on the match stage's scores: the matcher's result, the logit it used
    (one per row of the population) and the exact-match strata (or None)."""

    result: MatchResult
    logit: npt.NDArray[np.float64]
    strata: npt.NDArray[np.int64] | None
    exact: tuple[str, ...]


def match_population(
    rows: pd.DataFrame,
    propensity: pd.DataFrame,
    matching: MatchingSettings,
    seed: int,
    *,
    ratio: int | None = None,
    replace: bool | None = None,
) -> PopulationMatch:
    """Match the clients of `rows` (an outcome's population, or a subgroup of it) on the logit the
    match stage fitted (`propensity`: client_id, logit), with `matching`'s caliper, exact strata
    and order; `ratio` and `replace` override the configured ones (the Rosenbaum bounds re-match
    1:1 without replacement). Exact columns absent from `rows` are left out.

    Raises
    ------
    AnalysisError
        Some clients have no propensity score (the match stage ran on another cohort).
    """
    if propensity is None or len(propensity) == 0:
        raise AnalysisError([Problem("match", None, "no propensity scores", "run the match stage")])
    pos = positions_in(rows["client_id"].array, propensity["client_id"].array)
    if (pos < 0).any():
        raise AnalysisError(
            [
                Problem(
                    "match",
                    "client_id",
                    f"{int((pos < 0).sum())} clients have no propensity score",
                    "rerun the match stage",
                )
            ]
        )
    logit = propensity["logit"].to_numpy(dtype=float)[pos]
    exact = tuple(c for c in matching.exact or () if c in rows)
    strata = rows.groupby(list(exact), sort=True, dropna=False).ngroup().to_numpy() if exact else None
    result = match_nearest(
        logit,
        rows["treatment"].to_numpy().astype(np.int64),
        caliper=matching.caliper,
        ratio=matching.ratio if ratio is None else ratio,
        replace=matching.replace if replace is None else replace,
        strata=strata,
        order=matching.order,
        seed=seed,
    )
    return PopulationMatch(result, logit, strata, exact)
