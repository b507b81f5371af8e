"""Value under uncertainty: unit values drawn from their ranges, effects drawn from the joint bootstrap,
switching values and the tornado table (issue 18 item 4).

A unit value (or the cost) with ``low`` and ``high`` in the values file is drawn from a
distribution: ``triangular`` (minimum ``low``, mode the point value, maximum ``high``), ``uniform``
on [low, high], or ``normal`` with mean the point value and SD (high - low) / (2 x 1.96), i.e.
[low, high] is its central 95% range. An entry without them is held at its point value and is
reported as such. The probabilistic analysis pairs each draw of the unit values with a draw of the
effects: a row of ``results/joint_draws.parquet`` taken at random (with replacement), so the effects
keep their correlation across outcomes; effects without joint draws are drawn from
Normal(estimate, SE), independently (the notes say which).
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

Z975 = 1.959963984540054


def draw_values(spec: Mapping, point: float, n: int, rng: np.random.Generator, factor: float = 1.0) -> np.ndarray:
    """``n`` draws of a value with ``low``/``high``/``distribution`` in ``spec`` (point value ``point``),
    times ``factor`` (the uprating); ``point x factor`` throughout without a range.

    >>> rng = np.random.default_rng(0)
    >>> draw_values({}, 5.0, 3, rng, 2.0).tolist()
    [10.0, 10.0, 10.0]
    >>> float(draw_values({"low": 1.0, "high": 3.0, "distribution": "uniform"}, 2.0, 10000, rng).mean().round(1))
    2.0
    """
    lo, hi = spec.get("low"), spec.get("high")
    if lo is None or hi is None or lo == hi:
        return np.full(n, float(point) * factor)
    dist = spec.get("distribution") or "triangular"
    if dist == "triangular":
        out = rng.triangular(float(lo), float(point), float(hi), size=n)
    elif dist == "uniform":
        out = rng.uniform(float(lo), float(hi), size=n)
    elif dist == "normal":
        out = rng.normal(float(point), (float(hi) - float(lo)) / (2 * Z975), size=n)
    else:
        raise ValueError(f"distribution: {dist!r}; fix: use triangular, uniform or normal")
    return out * factor


def has_range(spec: Mapping) -> bool:
    return spec.get("low") is not None and spec.get("high") is not None and spec.get("low") != spec.get("high")


def range_text(spec: Mapping, factor: float, price_year: int) -> str:
    """How a value enters the probabilistic analysis, for the notes."""
    if not has_range(spec):
        return "held at its point value in the probabilistic analysis (no low/high given)"
    return (
        f"probabilistic: {spec.get('distribution') or 'triangular'} on [{spec['low']:g}, {spec['high']:g}] "
        f"= [{spec['low'] * factor:.6g}, {spec['high'] * factor:.6g}] GBP in {price_year} prices"
    )


def joint_effects(
    joint: pd.DataFrame | None, picks: Mapping[str, tuple[str, str, str]], draws: int, rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], int]:
    """Effect draws per outcome from the joint draws: one random draw index (with replacement) shared by
    every outcome, so the draws keep their correlation. ``picks``: outcome -> (method, estimand, scale)
    of its valued row (whole cohort). Returns the outcomes found, and B (0 without joint draws)."""
    if joint is None or joint.empty:
        return {}, 0
    whole = joint[joint["subgroup"].fillna("").astype(str) == ""]
    found: dict[str, np.ndarray] = {}
    b = int(whole["draw"].max()) + 1 if len(whole) else 0
    if b == 0:
        return {}, 0
    idx = rng.integers(0, b, size=draws)
    for name, (method, estimand, scale) in picks.items():
        sel = whole[(whole["outcome"] == name) & (whole["method"] == method) & (whole["estimand"] == estimand)]
        if "scale" in sel and scale and (sel["scale"] == scale).any():
            sel = sel[sel["scale"] == scale]
        if len(sel) != b:
            continue
        values = sel.sort_values("draw")["estimate"].to_numpy(dtype=float)
        found[name] = values[idx]
    return found, b


def switching_value(point_unit: float, effect_factor: float, other_benefit: float, cost: float) -> float:
    """The unit value at which the net benefit is 0, the other values held at their points:
    effect x factor x u + other_benefit - cost = 0, so u = (cost - other_benefit) / (effect x factor).

    >>> switching_value(10.0, 2.0, 5.0, 25.0)
    10.0
    """
    if effect_factor == 0 or not math.isfinite(effect_factor):
        return math.nan
    return (cost - other_benefit) / effect_factor


def switching_text(outcome: str, value: float, effect_factor: float, price_year: int, unit: str) -> str:
    if not math.isfinite(value):
        return "switching value undefined (no effect)"
    what = f"one {unit} of {outcome}" if unit else f"one unit of {outcome}"
    if (effect_factor > 0 and value <= 0) or (effect_factor < 0 and value >= 0):
        return (
            f"continuity pays for itself whatever {what} is worth, down to nothing: the other outcomes cover the "
            f"cost (switching value {value:,.0f} GBP, {price_year} prices)"
        )
    if effect_factor > 0:
        return f"continuity pays for itself if {what} is worth at least {value:,.0f} GBP ({price_year} prices)"
    return f"continuity pays for itself if {what} is worth at most {value:,.0f} GBP ({price_year} prices)"


TORNADO_COLUMNS = ("account", "parameter", "input_low", "input_high", "net_low", "net_high", "net_point", "swing")


def tornado_rows(account: str, net_point: float, items: Sequence[tuple[str, float, float, float, float]]) -> list[dict]:
    """One row per uncertain input, largest swing first. ``items`` are (parameter, input_low, input_high,
    input_point, slope): the net benefit is linear in each input, so at an input x (the others at their
    points) it is net_point + slope x (x - input_point).

    >>> [r["net_low"] for r in tornado_rows("monetary", 10.0, [("cost", 80.0, 120.0, 100.0, -1.0)])]
    [30.0]
    """
    rows = []
    for name, lo, hi, point, slope in items:
        a, b = net_point + slope * (lo - point), net_point + slope * (hi - point)
        rows.append(
            {
                "account": account,
                "parameter": name,
                "input_low": float(lo),
                "input_high": float(hi),
                "net_low": float(a),
                "net_high": float(b),
                "net_point": float(net_point),
                "swing": float(abs(b - a)),
            }
        )
    rows.sort(key=lambda r: -r["swing"])
    return rows
