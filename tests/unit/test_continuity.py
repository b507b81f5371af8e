"""Tests for deepvalue.cohort.continuity: hand-worked reference values, properties, and a naive reference."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from deepvalue.cohort.continuity import INDEX_NAMES, continuity_from_sequences, continuity_indices, primary_worker

REFERENCE_CSV = Path(__file__).resolve().parents[1] / "reference" / "continuity_examples.csv"
# Reference file column -> library column (the file predates the `k_index` name).
REFERENCE_COLUMNS = {
    "upc": "upc",
    "coc": "coc",
    "secon": "secon",
    "hhi": "hhi",
    "mmci": "mmci",
    "k": "k_index",
}

# Exact integers and a handful of float operations: anything beyond rounding noise is a bug.
RTOL = 1e-12
ATOL = 1e-12


# --------------------------------------------------------------------------------------------------------
# Naive reference: one client at a time, straight from the definitions (DESIGN section 5).
# --------------------------------------------------------------------------------------------------------


def naive_indices(seq: Sequence[Hashable]) -> dict[str, float]:
    """Continuity indices of one client's worker sequence, written to be obviously right."""
    n = len(seq)
    counts = Counter(seq)
    m = len(counts)
    out = {
        "n_contacts": n,
        "n_workers": m,
        "upc": max(counts.values()) / n,
        "hhi": sum((c / n) ** 2 for c in counts.values()),
        "mmci": (1 - m / (n + 0.1)) / (1 - 1 / (n + 0.1)),
    }
    if n == 1:
        out.update(coc=math.nan, secon=math.nan, k_index=math.nan)
    else:
        same_pairs = sum(1 for a, b in zip(seq, seq[1:]) if a == b)
        out.update(
            coc=(sum(c * c for c in counts.values()) - n) / (n * (n - 1)),
            secon=same_pairs / (n - 1),
            k_index=(n - m) / (n - 1),
        )
    return out


def naive_primary(seq: Sequence[Hashable]) -> Hashable:
    """Most frequent worker; among ties, the one that appears first in the sequence."""
    counts = Counter(seq)
    top = max(counts.values())
    return next(w for w in seq if counts[w] == top)


def to_arrays(sequences: Sequence[Sequence[int]], client_codes: Sequence[int] | None = None):
    """Flatten integer-labelled sequences into ordered (client, worker) code arrays."""
    if client_codes is None:
        client_codes = range(len(sequences))
    client = np.repeat(np.asarray(list(client_codes), dtype=np.int64), [len(s) for s in sequences])
    worker = np.fromiter((w for s in sequences for w in s), dtype=np.int64, count=client.size)
    return client, worker


def assert_matches_naive(result: pd.DataFrame, sequences: Sequence[Sequence[Hashable]]) -> None:
    expected = pd.DataFrame([naive_indices(s) for s in sequences])
    assert_array_equal(result["n_contacts"].to_numpy(), expected["n_contacts"].to_numpy())
    assert_array_equal(result["n_workers"].to_numpy(), expected["n_workers"].to_numpy())
    for name in INDEX_NAMES:
        # assert_allclose treats NaN == NaN, so undefined values must be undefined in both.
        assert_allclose(result[name].to_numpy(), expected[name].to_numpy(), rtol=RTOL, atol=ATOL, err_msg=name)


# --------------------------------------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------------------------------------

# A small alphabet so that repeats (and ties) are common.
WORKERS = st.integers(min_value=0, max_value=5)
sequences_1 = st.lists(WORKERS, min_size=1, max_size=12)
sequences_2 = st.lists(WORKERS, min_size=2, max_size=12)
batches = st.lists(sequences_1, min_size=1, max_size=40)


def one(sequence: Sequence[Hashable]) -> pd.Series:
    """The single result row for one client's sequence."""
    df = continuity_from_sequences([sequence])
    assert len(df) == 1
    return df.iloc[0]


# --------------------------------------------------------------------------------------------------------
# Hand-worked reference values
# --------------------------------------------------------------------------------------------------------

REFERENCE = pd.read_csv(REFERENCE_CSV, dtype={"sequence": str})


def test_reference_file_is_complete() -> None:
    assert list(REFERENCE.columns) == ["sequence", "n_contacts", "n_workers", *REFERENCE_COLUMNS]
    assert len(REFERENCE) == 12
    # The N = 1 row is the only one with undefined cells, and exactly those three are empty.
    undefined = REFERENCE[["coc", "secon", "k"]].isna().all(axis=1)
    assert REFERENCE.loc[undefined, "n_contacts"].tolist() == [1]
    assert REFERENCE.drop(columns="sequence").isna().sum().sum() == 3


@pytest.mark.parametrize("row", REFERENCE.to_dict("records"), ids=list(REFERENCE["sequence"]))
def test_reference_row(row: dict) -> None:
    got = one(row["sequence"].split())
    assert got["n_contacts"] == row["n_contacts"]
    assert got["n_workers"] == row["n_workers"]
    for ref_col, col in REFERENCE_COLUMNS.items():
        # Reference values are rounded to 6 decimals; an empty cell (NaN) must come out NaN.
        assert_allclose(got[col], row[ref_col], rtol=0, atol=1e-6, equal_nan=True, err_msg=col)


def test_reference_all_rows_in_one_batch() -> None:
    got = continuity_from_sequences([s.split() for s in REFERENCE["sequence"]])
    assert_array_equal(got["client"].to_numpy(), np.arange(len(REFERENCE)))
    assert_array_equal(got["n_contacts"].to_numpy(), REFERENCE["n_contacts"].to_numpy())
    assert_array_equal(got["n_workers"].to_numpy(), REFERENCE["n_workers"].to_numpy())
    for ref_col, col in REFERENCE_COLUMNS.items():
        assert_allclose(got[col].to_numpy(), REFERENCE[ref_col].to_numpy(), rtol=0, atol=1e-6, err_msg=col)


def test_naive_reference_agrees_with_hand_worked_values() -> None:
    # The naive implementation is the oracle for the property tests, so check it against the file too.
    for row in REFERENCE.to_dict("records"):
        got = naive_indices(row["sequence"].split())
        for ref_col, col in REFERENCE_COLUMNS.items():
            assert_allclose(got[col], row[ref_col], rtol=0, atol=1e-6, equal_nan=True, err_msg=col)


# --------------------------------------------------------------------------------------------------------
# Output shape and types
# --------------------------------------------------------------------------------------------------------


def test_columns_dtypes_and_row_order() -> None:
    client = np.array([3, 3, 10, 10, 10, 42], dtype=np.int32)  # sparse codes, not starting at 0
    worker = np.array([5, 5, 1, 2, 1, 9], dtype=np.int32)
    df = continuity_indices(client, worker)
    assert list(df.columns) == ["client", "n_contacts", "n_workers", *INDEX_NAMES]
    assert df["client"].tolist() == [3, 10, 42]
    assert df["client"].dtype == np.int32  # the caller's codes, unchanged
    assert df["n_contacts"].dtype == np.int64 and df["n_workers"].dtype == np.int64
    for name in INDEX_NAMES:
        assert df[name].dtype == np.float64
    assert df["n_contacts"].tolist() == [2, 3, 1]
    assert df["n_workers"].tolist() == [1, 2, 1]
    assert isinstance(df.index, pd.RangeIndex)


def test_empty_input_gives_empty_frame_with_columns() -> None:
    df = continuity_indices(np.array([], dtype=np.int64), np.array([], dtype=np.int64))
    assert df.empty
    assert list(df.columns) == ["client", "n_contacts", "n_workers", *INDEX_NAMES]
    assert primary_worker(np.array([], dtype=np.int64), np.array([], dtype=np.int64)).size == 0


def test_index_names() -> None:
    assert INDEX_NAMES == ("upc", "coc", "secon", "hhi", "mmci", "k_index")


# --------------------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("func", [continuity_indices, primary_worker])
def test_unsorted_client_codes_raise(func) -> None:
    client = np.array([0, 0, 2, 1, 1])
    worker = np.array([0, 1, 0, 0, 1])
    with pytest.raises(ValueError, match="non-decreasing.*position 3: 2 then 1"):
        func(client, worker)


@pytest.mark.parametrize("func", [continuity_indices, primary_worker])
def test_interleaved_clients_raise(func) -> None:
    # Each client's contacts must be contiguous; 0 1 0 is not sorted by client.
    with pytest.raises(ValueError, match="non-decreasing"):
        func(np.array([0, 1, 0]), np.array([0, 0, 0]))


@pytest.mark.parametrize("func", [continuity_indices, primary_worker])
def test_bad_inputs_raise(func) -> None:
    with pytest.raises(ValueError, match="differ in length"):
        func(np.array([0, 0]), np.array([1]))
    with pytest.raises(ValueError, match="negative"):
        func(np.array([0, 0]), np.array([1, -1]))  # -1 is pandas.factorize's code for a missing label
    with pytest.raises(ValueError, match="negative"):
        func(np.array([-1, 0]), np.array([1, 1]))
    with pytest.raises(TypeError, match="integer codes"):
        func(np.array([0.0, 0.0]), np.array([1, 1]))
    with pytest.raises(ValueError, match="1-D"):
        func(np.array([[0, 0]]), np.array([[1, 1]]))


def test_from_sequences_rejects_empty_sequence_and_missing_label() -> None:
    with pytest.raises(ValueError, match="sequence 1 is empty"):
        continuity_from_sequences([["A"], [], ["B"]])
    with pytest.raises(ValueError, match="negative"):
        continuity_from_sequences([["A", None, "A"]])


def test_from_sequences_labels_are_shared_across_clients_and_may_be_tuples() -> None:
    df = continuity_from_sequences([[("s1", 1), ("s1", 1), ("s1", 2)], [("s1", 2), 7]])
    assert df["n_workers"].tolist() == [2, 2]
    assert df["upc"].tolist() == pytest.approx([2 / 3, 0.5])


# --------------------------------------------------------------------------------------------------------
# Properties (hypothesis); every one follows from the definitions, as each docstring says.
# --------------------------------------------------------------------------------------------------------


@given(batches)
@settings(deadline=None)
def test_batch_equals_naive_one_client_at_a_time(sequences: list[list[int]]) -> None:
    # Workers are shared across clients, so this also checks that clients do not leak into each other.
    client, worker = to_arrays(sequences)
    assert_matches_naive(continuity_indices(client, worker), sequences)


@given(batches, st.randoms(use_true_random=False))
@settings(deadline=None)
def test_batch_with_sparse_client_codes(sequences: list[list[int]], rnd) -> None:
    codes = sorted(rnd.sample(range(10**9), len(sequences)))
    client, worker = to_arrays(sequences, codes)
    df = continuity_indices(client, worker)
    assert df["client"].tolist() == codes
    assert_matches_naive(df, sequences)


@given(batches)
def test_all_indices_in_unit_interval(sequences: list[list[int]]) -> None:
    """COC: n_i >= 1 gives sum n_i^2 >= N, and sum n_i^2 <= N^2; the rest are shares or ratios <= 1."""
    df = continuity_from_sequences(sequences)
    values = df[list(INDEX_NAMES)].to_numpy()
    defined = ~np.isnan(values)
    assert ((values[defined] >= 0) & (values[defined] <= 1)).all()
    # Only COC, SECON and K may be undefined, and only at N = 1.
    nan_rows = np.isnan(values).any(axis=1)
    assert_array_equal(nan_rows, df["n_contacts"].to_numpy() == 1)


@given(batches, st.permutations(range(6)))
@settings(deadline=None)
def test_relabelling_workers_changes_nothing(sequences: list[list[int]], perm: list[int]) -> None:
    client, worker = to_arrays(sequences)
    before = continuity_indices(client, worker)
    after = continuity_indices(client, np.asarray(perm)[worker])
    pd.testing.assert_frame_equal(before, after, check_exact=False, rtol=RTOL, atol=ATOL)
    # Any bijection onto other labels (here strings, through factorisation) as well.
    relabelled = [[f"worker-{perm[w] * 1000 + 17}" for w in s] for s in sequences]
    via_labels = continuity_from_sequences(relabelled)
    pd.testing.assert_frame_equal(before, via_labels, check_exact=False, rtol=RTOL, atol=ATOL)


@given(st.integers(min_value=2, max_value=50), WORKERS)
def test_single_worker_gives_one_everywhere(n: int, w: int) -> None:
    """M = 1: max n_i = N, sum n_i^2 = N^2, all N-1 pairs match, MMCI numerator = denominator."""
    row = one([w] * n)
    assert row["n_workers"] == 1
    for name in INDEX_NAMES:
        assert row[name] == 1.0, name  # exactly 1, not nearly


@given(WORKERS)
def test_one_contact(w: int) -> None:
    """N = 1: no consecutive pairs and N - 1 = 0, so COC, SECON and K are 0/0; UPC = HHI = MMCI = 1."""
    row = one([w])
    assert row["n_contacts"] == 1 and row["n_workers"] == 1
    assert row["upc"] == 1.0 and row["hhi"] == 1.0 and row["mmci"] == 1.0
    assert np.isnan(row["coc"]) and np.isnan(row["secon"]) and np.isnan(row["k_index"])


@given(sequences_1)
def test_upc_and_hhi_bounds(seq: list[int]) -> None:
    """max n_i >= mean n_i = N/M; sum p_i^2 >= 1/M (Cauchy-Schwarz); UPC^2 <= HHI <= UPC (p_i <= max p)."""
    row = one(seq)
    m = row["n_workers"]
    tol = 1e-12
    assert row["upc"] >= 1 / m - tol
    assert row["hhi"] >= 1 / m - tol
    assert row["upc"] ** 2 <= row["hhi"] + tol
    assert row["hhi"] <= row["upc"] + tol


@given(sequences_2)
def test_coc_and_k_zero_iff_every_worker_seen_once(seq: list[int]) -> None:
    """sum n_i^2 = N iff every n_i = 1 iff M = N; and N - M = 0 iff M = N."""
    row = one(seq)
    all_once = len(set(seq)) == len(seq)
    assert (row["coc"] == 0.0) == all_once
    assert (row["k_index"] == 0.0) == all_once


@given(sequences_2)
def test_coc_is_affine_in_hhi(seq: list[int]) -> None:
    """sum n_i^2 = N^2 HHI, so COC = (N HHI - 1) / (N - 1)."""
    row = one(seq)
    n = row["n_contacts"]
    assert_allclose(row["coc"], (n * row["hhi"] - 1) / (n - 1), rtol=1e-12, atol=1e-12)


@given(sequences_2)
def test_secon_at_most_k(seq: list[int]) -> None:
    """Each worker after the first needs a switch, so switches >= M - 1 and same pairs <= N - M."""
    row = one(seq)
    assert row["secon"] <= row["k_index"] + 1e-12


@given(sequences_2)
def test_secon_one_iff_single_worker(seq: list[int]) -> None:
    row = one(seq)
    assert (row["secon"] == 1.0) == (len(set(seq)) == 1)


@given(sequences_1)
def test_reversing_the_sequence_changes_nothing(seq: list[int]) -> None:
    """Counts are order-free and consecutive pairs are the same pairs read backwards."""
    pd.testing.assert_series_equal(one(seq), one(seq[::-1]), check_exact=False, rtol=RTOL, atol=ATOL)


@given(sequences_1, st.randoms(use_true_random=False))
def test_only_secon_depends_on_contact_order(seq: list[int], rnd) -> None:
    shuffled = list(seq)
    rnd.shuffle(shuffled)
    a, b = one(seq), one(shuffled)
    for name in ("n_contacts", "n_workers", "upc", "coc", "hhi", "mmci", "k_index"):
        assert_allclose(a[name], b[name], rtol=RTOL, atol=ATOL, err_msg=name)


@given(sequences_1)
def test_mmci_depends_only_on_n_and_m(seq: list[int]) -> None:
    """MMCI is a function of N and M; with M = N it is (0.1/(N+0.1)) / ((N-0.9)/(N+0.1)) = 0.1/(N-0.9)."""
    row = one(seq)
    n, m = row["n_contacts"], row["n_workers"]
    assert_allclose(row["mmci"], (1 - m / (n + 0.1)) / (1 - 1 / (n + 0.1)), rtol=1e-12)
    if m == n:
        assert_allclose(row["mmci"], 0.1 / (n - 0.9), rtol=1e-12)


# --------------------------------------------------------------------------------------------------------
# Larger random batches and the wide-code fallback
# --------------------------------------------------------------------------------------------------------


def random_sequences(rng: np.random.Generator, n_clients: int, n_workers: int, max_len: int) -> list[list[int]]:
    lengths = rng.integers(1, max_len + 1, size=n_clients)
    return [rng.integers(0, n_workers, size=k).tolist() for k in lengths]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_large_random_batch_equals_naive(seed: int) -> None:
    rng = np.random.default_rng(seed)
    sequences = random_sequences(rng, n_clients=3000, n_workers=8, max_len=15)
    client, worker = to_arrays(sequences)
    assert_matches_naive(continuity_indices(client, worker), sequences)
    expected_primary = [naive_primary(s) for s in sequences]
    assert_array_equal(primary_worker(client, worker), expected_primary)


def test_wide_worker_codes_use_fallback_and_agree() -> None:
    # Codes near 2**62 cannot be packed with the client segment into one int64 key, which forces the
    # two-key lexsort path; results must be identical to the same data with small codes.
    rng = np.random.default_rng(7)
    sequences = random_sequences(rng, n_clients=500, n_workers=5, max_len=10)
    client, worker = to_arrays(sequences)
    mapping = np.array([2**62 + 11, 2**62 + 3, 5, 2**62, 2**61], dtype=np.int64)
    wide = mapping[worker]
    pd.testing.assert_frame_equal(continuity_indices(client, worker), continuity_indices(client, wide))
    assert_array_equal(primary_worker(client, wide), mapping[primary_worker(client, worker)])


def test_unsigned_codes_accepted() -> None:
    client = np.array([0, 0, 1], dtype=np.uint64)
    worker = np.array([2**63 + 1, 2**63 + 1, 0], dtype=np.uint64)  # beyond int64: refused, not wrapped
    with pytest.raises(ValueError, match="int64 range"):
        continuity_indices(client, worker)
    df = continuity_indices(client, np.array([4, 4, 0], dtype=np.uint8))
    assert df["upc"].tolist() == [1.0, 1.0]


# --------------------------------------------------------------------------------------------------------
# Primary worker
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sequence", "expected"),
    [
        ("A B B A", "A"),  # tie 2-2: A was seen first
        ("B A A B", "B"),  # tie 2-2: B was seen first
        ("A B C", "A"),  # all once: the first
        ("C B B", "B"),  # a clear majority beats being first
        ("A B C C B", "B"),  # tie B-C: B first seen at position 1, C at 2
        ("A B C A B C", "A"),
        ("D", "D"),
    ],
)
def test_primary_worker_tie_breaking(sequence: str, expected: str) -> None:
    labels = sequence.split()
    codes, uniques = pd.factorize(np.array(labels, dtype=object))
    # Factorised codes follow first appearance, so also run with reversed codes: ties must still go to
    # the worker seen first, not to the smallest (or largest) code.
    for worker in (codes, codes.max() - codes):
        got = primary_worker(np.zeros(len(labels), dtype=np.int64), worker)
        assert got.shape == (1,)
        assert labels[int(np.flatnonzero(worker == got[0])[0])] == expected


def test_primary_worker_in_a_batch_with_shared_workers() -> None:
    sequences = ["A B B A", "B A A B", "C", "A B C C B", "C C A"]
    client, worker = to_arrays([[ord(x) for x in s.split()] for s in sequences])
    got = [chr(w) for w in primary_worker(client, worker)]
    assert got == ["A", "B", "C", "B", "C"]
    assert primary_worker(client, worker.astype(np.int16)).dtype == np.int16  # codes returned as given


@given(batches)
@settings(deadline=None)
def test_primary_worker_equals_naive(sequences: list[list[int]]) -> None:
    client, worker = to_arrays(sequences)
    got = primary_worker(client, worker)
    assert_array_equal(got, [naive_primary(s) for s in sequences])
    # Aligned with continuity_indices rows, and the primary worker's share is UPC.
    df = continuity_indices(client, worker)
    assert got.size == len(df)
    share = [s.count(int(p)) / len(s) for s, p in zip(sequences, got)]
    assert_allclose(df["upc"].to_numpy(), share, rtol=RTOL)


@given(batches, st.permutations(range(6)))
@settings(deadline=None)
def test_primary_worker_follows_relabelling(sequences: list[list[int]], perm: list[int]) -> None:
    # Tie-breaking is by position, not by code, so relabelling maps the answer through the same bijection.
    client, worker = to_arrays(sequences)
    perm_arr = np.asarray(perm)
    expected = perm_arr[primary_worker(client, worker)]
    assert_array_equal(primary_worker(client, perm_arr[worker]), expected)
