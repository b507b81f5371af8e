"""The threshold rule shared by the stages: what counts as a small cell, and counts said without one.

Every output that may leave a secure environment applies the same rule as the published tables
(:mod:`deepvalue.publish.disclosure`): no count of clients from 1 to ``min_cell - 1`` (setting
``disclosure.min_cell``, default 10), zeros allowed unless ``disclosure.allow_zero`` is false. The figures
of the cohort, match and estimate stages are drawn before the tables are published, so the rule lives here,
below every stage.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

DEFAULT_MIN_CELL = 10


def is_small(value: float, min_cell: int = DEFAULT_MIN_CELL, allow_zero: bool = True) -> bool:
    """Whether a count is a small cell: ``0 < value < min_cell`` (``0 <= value`` when zeros are small too).

    >>> [is_small(v) for v in (0, 1, 9, 10)], is_small(0, allow_zero=False)
    ([False, True, True, False], True)
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    lower = 0 if allow_zero else -1
    return lower < float(value) < min_cell


def count_phrase(n: int, noun: str, min_cell: int = DEFAULT_MIN_CELL) -> str:
    """``"<n> <noun>"``, or ``"fewer than <min_cell> <noun>"`` for a small count, for messages that can end
    up in a published table (a skipped estimate's notes).

    >>> count_phrase(1, "clients"), count_phrase(0, "clients"), count_phrase(25, "clients")
    ('fewer than 10 clients', '0 clients', '25 clients')
    """
    return f"fewer than {min_cell} {noun}" if is_small(n, min_cell) else f"{n} {noun}"


def merge_sparse_bins(
    counts: Sequence[float], min_cell: int = DEFAULT_MIN_CELL, allow_zero: bool = True
) -> list[tuple[int, int]]:
    """Consecutive bins ``[start, stop)`` of a histogram, merged so that each holds zero clients or at least
    ``min_cell``: a run of bins is closed once it reaches ``min_cell``, and a short run left at the end
    joins the previous one. Empty bins stand alone (unless zeros are small cells). When all bins together
    hold fewer than ``min_cell`` clients, the one group returned is small: the caller draws nothing.

    >>> merge_sparse_bins([0, 2, 3, 40, 0, 0, 12, 1])
    [(0, 1), (1, 4), (4, 5), (5, 6), (6, 8)]
    >>> merge_sparse_bins([0, 30, 2, 0, 1, 0, 0])
    [(0, 1), (1, 5), (5, 6), (6, 7)]
    """
    groups: list[tuple[int, int]] = []
    start, total = None, 0.0
    for i, n in enumerate(counts):
        if start is None and n == 0 and allow_zero:
            groups.append((i, i + 1))
            continue
        if start is None:
            start, total = i, 0.0
        total += n
        if total >= min_cell:
            groups.append((start, i + 1))
            start = None
    if start is not None and sum(counts[start:]) == 0:
        groups += [(i, i + 1) for i in range(start, len(counts))]
    elif start is not None:  # a short run at the end joins the previous run (across empty bins)
        stop = max(i for i in range(start, len(counts)) if counts[i] > 0) + 1
        while groups and sum(counts[groups[-1][0] : groups[-1][1]]) == 0:
            start = groups.pop()[0]
        if groups:
            start = groups.pop()[0]
        groups.append((start, stop))
        groups += [(i, i + 1) for i in range(stop, len(counts))]  # empty bins after the last client
    return groups
