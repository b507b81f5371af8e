"""The threshold rule shared by the stages: what counts as a small cell, and counts said without one.

Every output that may leave a secure environment applies the same rule as the published tables
(:mod:`deepvalue.publish.disclosure`): no count of clients from 1 to ``min_cell - 1`` (setting
``disclosure.min_cell``, default 10), zeros allowed unless ``disclosure.allow_zero`` is false. The figures
of the cohort, match and estimate stages are drawn before the tables are published, so the rule lives here,
below every stage.
"""

from __future__ import annotations

import math

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
