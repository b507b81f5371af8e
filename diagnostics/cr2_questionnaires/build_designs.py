"""Build and cache the analysed life_satisfaction rows + design for a few seeds (3,000 clients)."""

import pickle
import sys
import time
from pathlib import Path

import pandas as pd

from deepvalue.simulate.redraw_study import analysed_rows

DIAG = Path(__file__).resolve().parent  # the designs and outputs are written beside the scripts
for seed in map(int, sys.argv[1:]):
    t0 = time.time()
    rows, X, truth = analysed_rows(seed, 3000)
    cl = pd.factorize(rows["first_worker"])[0]
    with open(DIAG / f"design_{seed}.pkl", "wb") as f:
        pickle.dump({"rows": rows, "X": X, "truth": truth}, f)
    print(
        seed,
        len(rows),
        X.shape,
        "clusters",
        cl.max() + 1,
        "treated",
        int(rows.treatment.sum()),
        f"{time.time() - t0:.1f}s",
        flush=True,
    )
    print(list(X.columns))
