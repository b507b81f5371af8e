"""Arrow-hashed key lookups (deepvalue.core.keys)."""

from __future__ import annotations

import numpy as np

from deepvalue.core.keys import positions_in


def test_positions_in_finds_each_value_and_marks_the_absent():
    got = positions_in(["b", "x", "a", None], ["a", "b"])
    assert got.tolist() == [1, -1, 0, -1]


def test_positions_in_an_empty_key_list_is_all_absent():
    # an extract with a responses table but no questionnaire configured: the configured list is
    # empty (arrow's null type), and every row must read as "not configured", not crash
    got = positions_in(["SWEMWBS", "ONS4"], [])
    assert got.dtype == np.int64
    assert got.tolist() == [-1, -1]
