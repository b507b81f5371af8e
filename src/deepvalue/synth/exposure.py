"""The exposure as the pipeline defines it (first K contacts within window_max_days, the chosen
continuity index), computed by the generator itself so truth.json describes the pipeline's
population.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deepvalue.synth.parameters import CONTINUITY_INDICES, DEFAULT_EXPOSURE, MAX_WINDOW_MAX_DAYS, FloatArray, IntArray

# ============================================================================================
# exposure
# ============================================================================================


def _resolve_exposure(exposure: dict | None) -> dict[str, Any]:
    resolved = dict(DEFAULT_EXPOSURE)
    if exposure:
        unknown = sorted(set(exposure) - set(DEFAULT_EXPOSURE))
        if unknown:
            raise ValueError(f"unknown exposure keys {unknown}; allowed: {sorted(DEFAULT_EXPOSURE)}")
        resolved.update(exposure)
    if resolved["index"] not in CONTINUITY_INDICES:
        raise ValueError(f"exposure index {resolved['index']!r} is not one of {list(CONTINUITY_INDICES)}")
    if not 0.0 < float(resolved["threshold"]) <= 1.0:
        raise ValueError("exposure threshold must be in (0, 1]")
    k = resolved["window_contacts"]
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 2 <= k <= 20:
        raise ValueError("exposure window_contacts must be an integer from 2 to 20")
    days = resolved["window_max_days"]
    if isinstance(days, bool) or not isinstance(days, (int, np.integer)) or not 1 <= days <= MAX_WINDOW_MAX_DAYS:
        raise ValueError(f"exposure window_max_days must be an integer from 1 to {MAX_WINDOW_MAX_DAYS}")
    resolved["threshold"] = float(resolved["threshold"])
    resolved["window_contacts"] = int(k)
    resolved["window_max_days"] = int(days)
    return resolved


def _window_continuity(window: IntArray, n_valid: IntArray, index: str) -> FloatArray:
    """Continuity index of each row of a worker window (DESIGN section 5 formulas).

    Parameters
    ----------
    window : (n, K) int array
        Worker codes of the first K window contacts; only the first ``n_valid`` are used.
    n_valid : (n,) int array
        Number of contacts N in each window (1..K).
    index : str
        One of ``CONTINUITY_INDICES``.

    Returns
    -------
    (n,) float array; NaN where the index is undefined (N = 1 for coc, secon, k).
    """
    k = window.shape[1]
    valid = np.arange(k)[None, :] < n_valid[:, None]
    # Padding gets distinct negative codes so it never matches a worker or itself.
    codes = np.where(valid, window, -1 - np.arange(k)[None, :])
    same = codes[:, :, None] == codes[:, None, :]
    per_position = np.where(valid, same.sum(axis=2), 0)  # n_i of the worker at each position
    n = n_valid.astype(np.float64)
    sum_sq = per_position.sum(axis=1).astype(np.float64)  # sum_i n_i^2
    earlier = np.tril(np.ones((k, k), dtype=bool), -1)
    first_seen = valid & ~np.any(same & earlier[None, :, :], axis=2)
    distinct = first_seen.sum(axis=1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        if index == "upc":
            return per_position.max(axis=1) / n
        if index == "hhi":
            return sum_sq / (n * n)
        if index == "coc":
            return np.where(n > 1, (sum_sq - n) / (n * (n - 1)), np.nan)
        if index == "secon":
            pair_valid = valid[:, 1:]
            same_next = (codes[:, 1:] == codes[:, :-1]) & pair_valid
            return np.where(n > 1, same_next.sum(axis=1) / (n - 1), np.nan)
        if index == "mmci":
            return (1 - distinct / (n + 0.1)) / (1 - 1 / (n + 0.1))
        if index == "k":
            return np.where(n > 1, (n - distinct) / (n - 1), np.nan)
    raise ValueError(f"unknown continuity index {index!r}")
