"""Contacts: the contact table and, in messy mode, the defects that cleaning must count."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from deepvalue.synth.arrays import _date_series, _day, _fixed_ids, _str_series
from deepvalue.synth.clients import _Clients, _labels
from deepvalue.synth.parameters import (
    ENROLMENT_START,
    MESSY_BEFORE_START_SHARE,
    MESSY_DUPLICATE_SHARE,
    MESSY_FUTURE_SHARE,
    MESSY_MAX_DAYS_OFF,
    MESSY_UNKNOWN_CLIENT_SHARE,
    MODE_PROBS,
    MODES,
    IntArray,
)


def _contacts_frame(
    rows: dict[str, IntArray],
    client_ids: pa.LargeStringArray,
    worker_ids: pa.LargeStringArray,
    client_width: int,
    contact_width: int,
) -> pd.DataFrame:
    n = len(client_ids)
    client = rows["client"]
    ids = client_ids
    if len(client) and client.max() >= n:
        # Unknown clients (messy mode) continue the numbering beyond the real clients.
        extra = _fixed_ids("C", np.arange(n + 1, int(client.max()) + 2), client_width)
        ids = pa.concat_arrays([client_ids, extra])
    return pd.DataFrame(
        {
            "contact_id": _str_series(_fixed_ids("K", rows["number"], contact_width)),
            "client_id": _str_series(pc.take(ids, pa.array(client))),
            "worker_id": _str_series(pc.take(worker_ids, pa.array(rows["worker"]))),
            "contact_date": _date_series(rows["day"]),
            "mode": _labels(MODES, rows["mode"]),
            "duration_minutes": rows["duration"],
        }
    )


def _inject_contact_defects(
    rng: np.random.Generator,
    rows: dict[str, IntArray],
    cl: _Clients,
    first_worker: IntArray,
    extract_day: int,
    n_workers: int,
) -> tuple[dict[str, IntArray], dict[str, int]]:
    """Add defect rows that cleaning drops; real rows stay as they are."""
    m, n = len(rows["day"]), len(cl.site)
    n_dup = round(MESSY_DUPLICATE_SHARE * m)
    n_unknown = round(MESSY_UNKNOWN_CLIENT_SHARE * m)
    n_before = round(MESSY_BEFORE_START_SHARE * m)
    n_future = round(MESSY_FUTURE_SHARE * m)

    dup = np.sort(rng.choice(m, size=n_dup, replace=False))
    unknown_client = n + rng.integers(0, max(10, n // 100), size=n_unknown)
    before_client = rng.integers(0, n, size=n_before)
    future_client = rng.integers(0, n, size=n_future)
    new_client = np.concatenate([unknown_client, before_client, future_client])
    new_day = np.concatenate(
        [
            rng.integers(_day(ENROLMENT_START), extract_day, size=n_unknown),
            cl.start_day[before_client] - rng.integers(1, MESSY_MAX_DAYS_OFF + 1, size=n_before),
            extract_day + rng.integers(1, MESSY_MAX_DAYS_OFF + 1, size=n_future),
        ]
    )
    n_new = len(new_client)
    new_worker = np.concatenate(
        [
            rng.integers(0, n_workers, size=n_unknown),
            first_worker[np.concatenate([before_client, future_client])],
        ]
    )
    extra = {
        "client": np.concatenate([rows["client"][dup], new_client]),
        "worker": np.concatenate([rows["worker"][dup], new_worker]),
        "day": np.concatenate([rows["day"][dup], new_day]),
        "mode": np.concatenate([rows["mode"][dup], rng.choice(len(MODES), size=n_new, p=np.asarray(MODE_PROBS))]),
        "duration": np.concatenate([rows["duration"][dup], 5 * rng.integers(1, 13, size=n_new)]),
        "number": np.concatenate([rows["number"][dup], m + 1 + np.arange(n_new)]),
    }
    # Keep the file sorted by (date, contact_id); a duplicate lands right after its original.
    scale = m + n_new + 1
    key = rows["day"] * scale + rows["number"]
    extra_key = extra["day"] * scale + extra["number"]
    extra_order = np.argsort(extra_key, kind="stable")
    at = np.searchsorted(key, extra_key[extra_order], side="right")
    take = np.insert(np.arange(m), at, m + extra_order)
    merged = {col: np.concatenate([rows[col], extra[col]])[take] for col in rows}
    counts = {
        "duplicate_contacts": n_dup,
        "unknown_client_contacts": n_unknown,
        "contacts_before_start": n_before,
        "future_contacts": n_future,
    }
    return merged, counts
