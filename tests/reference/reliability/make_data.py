"""Write the item tables the reliability tests compare with R (psych 2.2.9, R's factanal).

Run from the repository root: .venv/bin/python tests/reference/reliability/make_data.py
one_factor.csv: 300 administrations of 7 items (1-5) from one latent trait, loadings 0.5-0.8.
two_factor.csv: 300 administrations of 6 items (1-5) from two uncorrelated traits (items 1-3, 4-6).
"""

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def likert(latent: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    cuts = np.array([-1.5, -0.5, 0.5, 1.5])
    return 1 + (latent[..., None] > cuts).sum(axis=-1)


rng = np.random.default_rng(20261201)
n = 300
eta = rng.standard_normal(n)
lam = np.array([0.5, 0.6, 0.7, 0.8, 0.6, 0.7, 0.55])
one = likert(eta[:, None] * lam + rng.standard_normal((n, 7)) * np.sqrt(1 - lam**2), rng)
e1, e2 = rng.standard_normal(n), rng.standard_normal(n)
lat = np.column_stack([e1, e1, e1, e2, e2, e2]) * 0.8 + rng.standard_normal((n, 6)) * 0.6
two = likert(lat, rng)
for name, x in (("one_factor", one), ("two_factor", two)):
    header = ",".join(f"i{j + 1}" for j in range(x.shape[1]))
    np.savetxt(HERE / f"{name}.csv", x, fmt="%d", delimiter=",", header=header, comments="")
