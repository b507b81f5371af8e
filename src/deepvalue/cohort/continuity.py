"""Relational continuity indices for every client at once (DESIGN section 5, Exposure).

Each client's exposure window is a short, ordered sequence of contacts, each with one worker. This module
turns integer-coded (client, worker) contact arrays into one row of continuity indices per client, using
one sort and numpy segment reductions (no Python loop over clients or contacts), so that a million
clients with eight million contacts take seconds (DESIGN section 9).

Notation, over a client's window: N contacts, n_i of them with worker i, M distinct workers.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from itertools import chain
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = [
    "INDEX_NAMES",
    "continuity_indices",
    "continuity_from_sequences",
    "primary_worker",
]

INDEX_NAMES: tuple[str, ...] = ("upc", "coc", "secon", "hhi", "mmci", "k_index")
"""Names of the index columns returned by :func:`continuity_indices`, in column order."""

_INT64_MAX = int(np.iinfo(np.int64).max)

# Columns of the result frame, in order.
_COLUMNS: tuple[str, ...] = ("client", "n_contacts", "n_workers", *INDEX_NAMES)


class _Runs(NamedTuple):
    """Per-client segments and per-(client, worker) runs of an ordered contact table."""

    starts: npt.NDArray[np.intp]  # position of each client's first contact (one per client)
    n_contacts: npt.NDArray[np.int64]  # N per client
    run_counts: npt.NDArray[np.int64]  # n_i per (client, worker) run, runs grouped by client
    client_first_run: npt.NDArray[np.intp]  # index of each client's first run in run_counts
    run_first_pos: npt.NDArray[np.int64] | None  # first contact position of each run, if asked for


def _as_codes(values: npt.ArrayLike, name: str) -> npt.NDArray[np.int64]:
    """Validate a 1-D array of non-negative integer codes and return it as int64 (no copy if already)."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of integer codes, got {arr.ndim} dimensions")
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(
            f"{name} must hold integer codes, got dtype {arr.dtype}; factorise labels first (e.g. pandas.factorize)"
        )
    if arr.size:
        # pandas.factorize codes missing labels as -1: refusing negatives stops every missing worker
        # from silently becoming one shared "worker" and inflating continuity.
        if int(arr.min()) < 0:
            raise ValueError(f"{name} has negative codes (missing labels factorised to -1?)")
        if int(arr.max()) > _INT64_MAX:
            raise ValueError(f"{name} has codes above the int64 range")
    return arr.astype(np.int64, copy=False)


def _check_inputs(client: npt.ArrayLike, worker: npt.ArrayLike) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    c = _as_codes(client, "client")
    w = _as_codes(worker, "worker")
    if c.shape != w.shape:
        raise ValueError(f"client and worker differ in length ({c.size} vs {w.size})")
    # The caller sorts once, upstream; here a single O(n) pass proves each client's contacts are
    # contiguous, which every segment reduction below relies on.
    bad = np.flatnonzero(c[1:] < c[:-1])
    if bad.size:
        i = int(bad[0]) + 1
        raise ValueError(
            "client codes must be non-decreasing (contacts ordered by client, then by contact order); "
            f"first violation at position {i}: {int(c[i - 1])} then {int(c[i])} "
            f"({bad.size} violation{'s' if bad.size != 1 else ''} in all)"
        )
    return c, w


def _runs(c: npt.NDArray[np.int64], w: npt.NDArray[np.int64], with_first_pos: bool) -> _Runs:
    """Group an ordered contact table into clients and (client, worker) runs with one sort.

    Requires ``c.size > 0`` and validated inputs.
    """
    n = c.size
    new_client = np.empty(n, dtype=bool)
    new_client[0] = True
    np.not_equal(c[1:], c[:-1], out=new_client[1:])
    starts = np.flatnonzero(new_client)
    n_contacts = np.diff(np.append(starts, n)).astype(np.int64, copy=False)
    # Dense 0..n_clients-1 segment ids keep the combined sort key small even when client codes are sparse.
    seg = np.cumsum(new_client, dtype=np.int64)
    seg -= 1
    del new_client

    n_clients = starts.size
    width = int(w.max()) + 1
    order: npt.NDArray[np.intp] | None = None
    if n_clients * width - 1 <= _INT64_MAX:
        # Fast path: one int64 key (segment, worker) sorts far faster than a two-key lexsort.
        key = seg * width
        key += w
        if with_first_pos:
            # Stable, so within a run the first position in `order` is the earliest contact.
            order = np.argsort(key, kind="stable")
            key = key[order]
        else:
            key.sort()
        run_flag = np.empty(n, dtype=bool)
        run_flag[0] = True
        np.not_equal(key[1:], key[:-1], out=run_flag[1:])
        run_start = np.flatnonzero(run_flag)
        run_seg = key[run_start] // width
    else:
        # Worker codes too large to pack with the segment id: fall back to a (stable) two-key sort.
        order = np.lexsort((w, seg))
        s_seg = seg[order]
        s_w = w[order]
        run_flag = np.empty(n, dtype=bool)
        run_flag[0] = True
        run_flag[1:] = (s_seg[1:] != s_seg[:-1]) | (s_w[1:] != s_w[:-1])
        run_start = np.flatnonzero(run_flag)
        run_seg = s_seg[run_start]
    run_counts = np.diff(np.append(run_start, n)).astype(np.int64, copy=False)
    # Runs come out grouped by segment and every client has at least one run, so these first-run
    # indices are strictly increasing: exactly what ufunc.reduceat needs.
    seg_change = np.empty(run_seg.size, dtype=bool)
    seg_change[0] = True
    np.not_equal(run_seg[1:], run_seg[:-1], out=seg_change[1:])
    client_first_run = np.flatnonzero(seg_change)
    run_first_pos = None
    if with_first_pos and order is not None:
        run_first_pos = order[run_start].astype(np.int64, copy=False)
    return _Runs(starts, n_contacts, run_counts, client_first_run, run_first_pos)


def _empty_frame(client_dtype: np.dtype) -> pd.DataFrame:
    data: dict[str, np.ndarray] = {
        "client": np.empty(0, dtype=client_dtype),
        "n_contacts": np.empty(0, dtype=np.int64),
        "n_workers": np.empty(0, dtype=np.int64),
    }
    data.update({name: np.empty(0, dtype=np.float64) for name in INDEX_NAMES})
    return pd.DataFrame(data, columns=list(_COLUMNS))


def continuity_indices(client: np.ndarray, worker: np.ndarray) -> pd.DataFrame:
    r"""Continuity indices for every client, from integer-coded contacts in one vectorised pass.

    Over a client's window of :math:`N` contacts, :math:`n_i` with worker :math:`i`, :math:`M` distinct
    workers, and :math:`S` the number of the :math:`N-1` consecutive contact pairs that have the same worker:

    =========  ===============================================================  ==========
    column     formula                                                          at N = 1
    =========  ===============================================================  ==========
    upc        :math:`\max_i n_i / N` (Usual Provider of Care)                  1
    coc        :math:`(\sum_i n_i^2 - N) / (N(N-1))` (Bice-Boxerman)            NaN
    secon      :math:`S / (N-1)` (Sequential Continuity)                        NaN
    hhi        :math:`\sum_i (n_i/N)^2` (Herfindahl-Hirschman)                  1
    mmci       :math:`(1 - M/(N+0.1)) / (1 - 1/(N+0.1))` (Modified Modified     1
               Continuity Index)
    k_index    :math:`(N - M) / (N - 1)` (Ejlertsson K)                         NaN
    =========  ===============================================================  ==========

    All indices lie in [0, 1]; 1 means every contact with one worker.

    Parameters
    ----------
    client : numpy.ndarray
        1-D non-negative integer client codes, one per contact.
    worker : numpy.ndarray
        1-D non-negative integer worker codes, same length as `client`.

    Returns
    -------
    pandas.DataFrame
        One row per distinct client code, in order of appearance (ascending, given the precondition),
        with columns ``client`` (the code, dtype as given), ``n_contacts`` (N), ``n_workers`` (M), then
        the float64 indices named in :data:`INDEX_NAMES` (NaN where undefined). Empty input gives an
        empty frame with these columns.

    Raises
    ------
    ValueError
        If `client` is not non-decreasing, the arrays differ in length or are not 1-D, or any code is
        negative (as :func:`pandas.factorize` codes missing labels).
    TypeError
        If either array is not of an integer dtype.

    Notes
    -----
    Precondition: the contacts are **already ordered by client, then by contact order** within each
    client (date, ties by contact id: DESIGN section 5), and already cut to the exposure window. Only the
    client ordering is checked (cheaply, O(n)); the within-client order matters for ``secon`` alone and
    cannot be checked here.

    The work is one sort of a packed int64 (client segment, worker) key to count :math:`n_i`, then
    ``np.maximum.reduceat`` / ``np.add.reduceat`` / ``np.bincount`` over the runs; time is
    O(n log n) and extra memory a few int64 arrays of the input length.

    Examples
    --------
    >>> import numpy as np
    >>> df = continuity_indices(np.array([0, 0, 0, 0, 1]), np.array([7, 7, 3, 7, 3]))
    >>> df[["client", "n_contacts", "n_workers", "upc", "secon"]]
       client  n_contacts  n_workers   upc     secon
    0       0           4          2  0.75  0.333333
    1       1           1          1  1.00       NaN
    """
    client_in = np.asarray(client)
    c, w = _check_inputs(client_in, worker)
    if c.size == 0:
        return _empty_frame(client_in.dtype)

    runs = _runs(c, w, with_first_pos=False)
    n_contacts = runs.n_contacts
    n_clients = runs.starts.size
    # Each (client, worker) run is one distinct worker, so M is the number of runs per client.
    n_workers = np.diff(np.append(runs.client_first_run, runs.run_counts.size)).astype(np.int64, copy=False)
    max_n = np.maximum.reduceat(runs.run_counts, runs.client_first_run)
    # Integer sum of squares: exact, unlike float weights in bincount.
    sum_sq = np.add.reduceat(runs.run_counts * runs.run_counts, runs.client_first_run)

    # S: contact j continues the previous contact's worker within the same client. A client's first
    # contact never counts, because its predecessor belongs to another client (or does not exist).
    same = np.empty(c.size, dtype=bool)
    np.equal(w[1:], w[:-1], out=same[1:])
    same[runs.starts] = False
    n_same = np.add.reduceat(same, runs.starts, dtype=np.int64)  # dtype: sum, not logical or
    del same

    nf = n_contacts.astype(np.float64)
    mf = n_workers.astype(np.float64)
    pairs = nf - 1.0
    defined = n_contacts > 1  # N = 1 has no pairs: coc, secon and k are 0/0

    def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
        return np.divide(num, den, out=np.full(n_clients, np.nan), where=defined)

    data: dict[str, np.ndarray] = {
        "client": client_in[runs.starts],
        "n_contacts": n_contacts,
        "n_workers": n_workers,
        "upc": max_n / nf,
        "coc": _ratio(sum_sq - nf, nf * pairs),
        "secon": _ratio(n_same.astype(np.float64), pairs),
        "hhi": sum_sq / (nf * nf),
        "mmci": (1.0 - mf / (nf + 0.1)) / (1.0 - 1.0 / (nf + 0.1)),
        "k_index": _ratio(nf - mf, pairs),
    }
    return pd.DataFrame(data, columns=list(_COLUMNS), copy=False)


def primary_worker(client: np.ndarray, worker: np.ndarray) -> np.ndarray:
    r"""Each client's primary worker: the one seen most often, ties to the one seen first.

    For a client with counts :math:`n_i`, returns the worker :math:`i` maximising :math:`n_i`; among
    workers tied at the maximum, the one whose first contact comes earliest in the client's sequence.
    E.g. ``A B B A`` gives ``A`` and ``B A A B`` gives ``B``.

    Parameters
    ----------
    client : numpy.ndarray
        1-D non-negative integer client codes, one per contact.
    worker : numpy.ndarray
        1-D non-negative integer worker codes, same length as `client`.

    Returns
    -------
    numpy.ndarray
        Worker codes (dtype of `worker`), one per distinct client code in order of appearance: aligned
        with the rows of :func:`continuity_indices` on the same input.

    Raises
    ------
    ValueError, TypeError
        As :func:`continuity_indices`.

    Notes
    -----
    Same precondition as :func:`continuity_indices`: contacts ordered by client, then contact order.
    Vectorised: a stable sort gives each (client, worker) run its count and its earliest position, and
    one ``np.maximum.reduceat`` over the packed score ``count * (n + 1) + (n - first_position)`` picks
    the largest count, then the smallest first position, without a per-client argmax.
    """
    worker_in = np.asarray(worker)
    c, w = _check_inputs(client, worker_in)
    n = c.size
    if n == 0:
        return np.empty(0, dtype=worker_in.dtype)

    runs = _runs(c, w, with_first_pos=True)
    assert runs.run_first_pos is not None
    # counts <= n and first_pos < n, so the score is below (n + 1)^2: exact in int64 for n < 3e9.
    base = n + 1
    score = runs.run_counts * base + (n - runs.run_first_pos)
    best = np.maximum.reduceat(score, runs.client_first_run)
    first_pos = n - best % base
    return worker_in[first_pos]


def continuity_from_sequences(sequences: Sequence[Sequence[Hashable]]) -> pd.DataFrame:
    """Continuity indices for a list of worker-label sequences, one sequence per client.

    Convenience for tests, docs and small examples: labels are factorised across all sequences (so the
    same label is the same worker everywhere) and passed to :func:`continuity_indices`.

    Parameters
    ----------
    sequences : sequence of sequences of hashable
        ``sequences[k]`` is client k's worker labels in contact order, e.g. ``[["A", "A", "B"], ["C"]]``.

    Returns
    -------
    pandas.DataFrame
        As :func:`continuity_indices`, with ``client`` = k, the sequence's position.

    Raises
    ------
    ValueError
        If a sequence is empty (the indices need N >= 1) or a label is missing (None/NaN).

    Examples
    --------
    >>> continuity_from_sequences([list("AABAC")])[["upc", "coc", "secon", "hhi"]]
       upc  coc  secon   hhi
    0  0.6  0.3   0.25  0.44
    """
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    if (lengths == 0).any():
        first = int(np.flatnonzero(lengths == 0)[0])
        raise ValueError(f"sequence {first} is empty; every client needs N >= 1")
    total = int(lengths.sum())
    # fromiter with dtype=object keeps tuple labels as single labels (np.array would add dimensions).
    labels = np.fromiter(chain.from_iterable(sequences), dtype=object, count=total)
    worker, _ = pd.factorize(labels)
    client = np.repeat(np.arange(len(sequences), dtype=np.int64), lengths)
    return continuity_indices(client, worker)
