"""Reference values for km_ipw: lifelines' weighted Kaplan-Meier on a small data set.

lifelines 0.30.3 pins pandas < 3, which the project's environment cannot take, so it is run once
from a side folder (the project's interpreter with lifelines and pandas 2.3.3 first on the path):

    pip install --no-deps --target /tmp/km_ll lifelines==0.30.3 pandas==2.3.3 pytz==2026.6 \
        autograd==1.9.1 autograd-gamma==0.5.0
    PYTHONPATH=/tmp/km_ll python tests/reference/km_ipw/make_reference.py

It writes data.csv (durations in whole days with ties, censoring before the horizon, a treatment
and a known propensity score) and lifelines.json (per estimand and arm: the weighted survival at
every event time, at the horizon, and the restricted mean survival time to the horizon).
"""

import json
from pathlib import Path

import lifelines
import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from lifelines.utils import restricted_mean_survival_time

HORIZON = 182
here = Path(__file__).parent
rng = np.random.default_rng(20261201)
n = 400
x = rng.standard_normal(n)
e = 1 / (1 + np.exp(-(0.3 + 0.8 * x)))
d = (rng.random(n) < e).astype(int)
rate = 0.004 * np.exp(0.5 * x - 0.4 * d)
event_day = np.ceil(rng.exponential(1 / rate))
censor_day = np.where(rng.random(n) < 0.3, rng.integers(0, HORIZON, n), HORIZON)
duration = np.minimum(np.minimum(event_day, censor_day), HORIZON).astype(float)
observed = ((event_day <= censor_day) & (event_day <= HORIZON)).astype(int)
data = pd.DataFrame({"duration": duration, "event": observed, "treatment": d, "ps": np.round(e, 12)})
data.to_csv(here / "data.csv", index=False)

e = data["ps"].to_numpy()
weights = {
    "ATT": np.where(d == 1, 1.0, e / (1 - e)),
    "ATE": np.where(d == 1, 1 / e, 1 / (1 - e)),
}
out = {"lifelines": lifelines.__version__, "horizon": HORIZON, "estimands": {}}
for estimand, w in weights.items():
    arms = {}
    for arm, mask in (("treated", d == 1), ("control", d == 0)):
        kmf = KaplanMeierFitter().fit(duration[mask], observed[mask], weights=w[mask])
        sf = kmf.survival_function_
        arms[arm] = {
            "times": [float(t) for t in sf.index],
            "survival": [float(s) for s in sf.iloc[:, 0]],
            "survival_at_horizon": float(kmf.survival_function_at_times(HORIZON).iloc[0]),
            "rmst": float(restricted_mean_survival_time(kmf, t=HORIZON)),
        }
    out["estimands"][estimand] = arms
(here / "lifelines.json").write_text(json.dumps(out, indent=1) + "\n")
