"""Integer codes for text keys (ids, labels), through arrow's hash tables.

pandas' string paths (isin, map, Categorical, factorize on arrow strings) go through Python
objects at millions of rows; these helpers stay in arrow's C++ hashing and return numpy ints.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def _dictionary(values) -> pa.DictionaryArray:
    arr = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(values)
    enc = pc.dictionary_encode(arr)
    if isinstance(enc, pa.ChunkedArray):
        # chunks of one dictionary_encode call share a dictionary; unify in case they do not
        enc = enc.unify_dictionaries().combine_chunks() if enc.num_chunks > 1 else enc.chunk(0)
    return enc


def _indices(enc: pa.DictionaryArray) -> np.ndarray:
    return np.asarray(pc.fill_null(pc.cast(enc.indices, pa.int64()), -1).to_numpy(zero_copy_only=False))


def encode(values) -> tuple[np.ndarray, np.ndarray]:
    """(codes, labels): codes index into labels, in order of first appearance; missing = -1."""
    enc = _dictionary(values)
    return _indices(enc), np.asarray(enc.dictionary.to_pylist(), dtype=object)


def codes(values) -> np.ndarray:
    """Integer codes of a column (equal values, equal codes; missing = -1), via arrow hashing."""
    arr = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(values)
    if pa.types.is_floating(arr.type) or pa.types.is_integer(arr.type):
        arr = pc.cast(arr, pa.float64())
    return _indices(_dictionary(arr))


def positions_in(values, keys) -> np.ndarray:
    """Position of each value in `keys` (-1 when absent): a hash join, not a Python-level isin."""
    v = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(values)
    k = keys if isinstance(keys, (pa.Array, pa.ChunkedArray)) else pa.array(keys)
    if isinstance(k, pa.ChunkedArray):
        k = k.combine_chunks()
    if len(k) == 0:  # no keys (e.g. no questionnaire configured): an empty list has arrow's null type
        return np.full(len(v), -1, dtype=np.int64)
    idx = pc.fill_null(pc.cast(pc.index_in(v, value_set=k), pa.int64()), -1)
    return np.asarray(idx.to_numpy(zero_copy_only=False))
