"""Economic value of continuity (DESIGN.md section 5): unit values, discounting, uprating, and a
value table with bootstrap intervals that carry each effect's uncertainty.

Inputs are the causal estimates (results/estimates.csv) and a values file (config/values.yaml).
For each outcome k the benefit per client is

    effect_k x unit_value_k (uprated to price_year) x PV factor_k x (1 - deadweight_k)
             x (1 - attribution_k) x share_k

where ``share_k`` = the treated clients the outcome applies to over all treated clients of the
cohort, both counted in the cohort (``results/cohort/analysis.parquet``): an outcome applies to
the clients it is measured for (job starts to employment clients, say), whatever the method's own
sample (PSM's matched treated, or a trimmed weighting sample, are not the population the money is
for). Outcomes measured on a part of the cohort are thereby spread over all treated clients, so
that per-client values add up across outcomes and the cohort value is the per-client value times
the number of treated clients. Without cohort counts (a direct library call) the older rule is
used and said in the notes: each row's ``n_treated`` over the largest of them.

Timing convention (:func:`present_value_factor`): whole years only. The first year's benefit is
counted in full and undiscounted (year 0); in each later year the effect keeps ``1 - drop_off``
of the previous year's and is discounted by one more year at the Green Book rate.

Uncertainty: a parametric bootstrap draws each outcome's effect from Normal(estimate, std_error),
independently across outcomes (the estimates come from overlapping clients and are probably
correlated; the total's interval ignores that), with ``numpy.random.default_rng(seed)``. Unit
values, durations, drop-off, deadweight, attribution and costs are held fixed: the intervals show
the sampling uncertainty of the effects only, not the uncertainty of the (illustrative) values.
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from deepvalue.core.errors import did_you_mean
from deepvalue.value.values_file import (  # re-exported: the values file's API
    _is_int,
    _is_number,
    check_values_file,
    load_values,
    validate_values,
    values_coverage,
    values_warnings,
)

__all__ = [
    "load_values",
    "validate_values",
    "check_values_file",
    "values_coverage",
    "values_warnings",
    "present_value_factor",
    "uprate",
    "value_table",
    "VALUE_COLUMNS",
]

VALUE_COLUMNS = (
    "level",
    "outcome",
    "quantity",
    "value",
    "ci_lower",
    "ci_upper",
    "price_year",
    "illustrative",
    "notes",
)


# --------------------------------------------------------------------------------------------
# Building blocks


def present_value_factor(duration_years: int, drop_off: float, discount_rate: float) -> float:
    """Present value of one unit of effect a year, lasting `duration_years` whole years.

    sum_{t=0}^{T-1} (1 - drop_off)^t / (1 + discount_rate)^t: year 0 counted in full and
    undiscounted, later years decayed by the drop-off and discounted. Whole years only.

    >>> round(present_value_factor(3, 0.2, 0.035), 6)
    2.370394
    >>> present_value_factor(1, 0.5, 0.035)
    1.0
    """
    if not _is_int(duration_years) or duration_years < 1:
        raise ValueError(
            f"duration_years: {duration_years!r} is not a whole number >= 1; fix: "
            "give whole years (fractional years are not supported)"
        )
    if not (_is_number(drop_off) and 0.0 <= drop_off <= 1.0):
        raise ValueError(f"drop_off: {drop_off!r} is outside [0, 1]; fix: give a share")
    if not (_is_number(discount_rate) and discount_rate >= 0.0):
        raise ValueError(
            f"discount_rate: {discount_rate!r} is negative or not a number; fix: give a rate such as 0.035"
        )
    keep = 1.0 - float(drop_off)
    disc = 1.0 + float(discount_rate)
    return float(sum((keep / disc) ** t for t in range(duration_years)))


def uprate(value: float, from_year: int, to_year: int, index: Mapping[int, float]) -> float:
    """Re-express `value` from prices of `from_year` in prices of `to_year`:
    value x index[to_year] / index[from_year].

    >>> uprate(100.0, 2022, 2025, {2022: 80.0, 2025: 100.0})
    125.0
    """
    for year, key in ((from_year, "from_year"), (to_year, "to_year")):
        if year not in index:
            raise ValueError(
                f"{key}: {year!r} is not in the uprating index (years "
                f"{', '.join(str(y) for y in sorted(index))}); fix: add it to "
                "uprating.index"
            )
    return float(value) * float(index[to_year]) / float(index[from_year])


# --------------------------------------------------------------------------------------------
# The value table


def _pick_rows(estimates: pd.DataFrame, values: Mapping, names: Iterable[str]) -> dict[str, pd.Series]:
    method, estimand = values["primary"]["method"], values["primary"]["estimand"]
    sub = estimates["subgroup"] if "subgroup" in estimates else pd.Series("", index=estimates.index)
    overall = sub.isna() | (sub.astype(str).str.strip() == "")
    present = sorted(set(estimates["outcome"].astype(str)))
    rows: dict[str, pd.Series] = {}
    for name in names:
        if name not in present:
            raise ValueError(
                f"outcomes.{name}: no estimates for this outcome; fix: "
                f"{did_you_mean(name, present)}value only outcomes in the estimates "
                f"({', '.join(present)})"
            )
        hit = estimates[
            (estimates["outcome"] == name)
            & overall
            & (estimates["method"] == method)
            & (estimates["estimand"] == estimand)
        ]
        if len(hit) != 1:
            have = (
                estimates.loc[(estimates["outcome"] == name) & overall, ["method", "estimand"]]
                .astype(str)
                .agg(" ".join, axis=1)
            )
            raise ValueError(
                f"primary: {len(hit)} overall rows for {name} with method '{method}' and "
                f"estimand '{estimand}' (need exactly 1); fix: choose one of: "
                f"{', '.join(sorted(set(have)))}"
            )
        rows[name] = hit.iloc[0]
    return rows


def _interval(draws: np.ndarray) -> tuple[float, float]:
    if np.all(np.isnan(draws)):
        return (math.nan, math.nan)
    lo, hi = np.nanpercentile(draws, [2.5, 97.5])
    return float(lo), float(hi)


def cohort_counts(analysis: pd.DataFrame, outcomes: Iterable[str]) -> tuple[int, dict[str, int]]:
    """Treated clients of the cohort, and per outcome the treated clients it is measured for.

    >>> frame = pd.DataFrame({"treatment": [1, 1, 1, 0], "job": [1.0, None, 0.0, 1.0]})
    >>> cohort_counts(frame, ["job"])
    (3, {'job': 2})
    """
    treated = analysis["treatment"].to_numpy() == 1
    return int(treated.sum()), {
        name: int((treated & analysis[name].notna().to_numpy()).sum()) for name in outcomes if name in analysis
    }


def value_table(
    estimates: pd.DataFrame,
    values: Mapping,
    n_clients: int | None = None,
    seed: int = 0,
    draws: int = 10000,
    applies_to: Mapping[str, int] | None = None,
    outcomes: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Benefit, cost, net benefit and benefit-cost ratio, per client and for the cohort.

    `outcomes` are the study's outcomes, in order (default: those of the values file). One without
    a unit value gets a ``benefit`` row that says it is not valued (no number), and the totals
    leave it out; values for outcomes not in the study are not used, said in the totals' notes.

    `values` is the output of :func:`load_values` (or :func:`validate_values`). `n_clients` is the
    number of treated clients in the cohort and `applies_to` the treated clients each outcome
    applies to (:func:`cohort_counts`); without them, the largest ``n_treated`` among the valued
    estimate rows and each row's ``n_treated`` (said in the notes). Rows: for each level (per_client, cohort), one
    ``benefit`` row per outcome, then ``total`` rows for benefit, cost, net_benefit and
    benefit_cost_ratio. ``value`` is the point value (from the point estimates); ``ci_lower`` /
    ``ci_upper`` are 2.5/97.5 percentiles over `draws` bootstrap draws. The cost is fixed, so
    its interval is the point. Deterministic for a given `seed`.
    """
    if not _is_int(draws) or draws < 1:
        raise ValueError(f"draws: {draws!r} is not a positive whole number; fix: e.g. 10000")
    missing = [c for c in ("outcome", "method", "estimand", "estimate", "std_error") if c not in estimates]
    if missing:
        raise ValueError(f"estimates: missing column(s) {', '.join(missing)}; fix: pass results/estimates.csv")
    study = list(values["outcomes"]) if outcomes is None else list(outcomes)
    no_value, unused = values_coverage(values, study)
    rows = _pick_rows(estimates, values, [o for o in study if o not in no_value])
    r = float(values["discount_rate"])
    price_year = int(values["price_year"])
    index = values["uprating"]["index"]
    method, estimand = values["primary"]["method"], values["primary"]["estimand"]

    n_treated = {}
    for name, row in rows.items():
        n = row.get("n_treated", math.nan)
        n_treated[name] = float(n) if n is not None and _is_number(float(n)) and n > 0 else math.nan
    known_n = [n for n in n_treated.values() if not math.isnan(n)]
    cohort_ref = max(known_n) if known_n else math.nan
    basis = "n_treated of the estimate rows (no cohort counts given)"
    if applies_to is not None:
        if n_clients is None:
            raise ValueError("n_clients: give the cohort's treated clients with applies_to")
        n_treated = {name: float(applies_to.get(name, math.nan)) for name in rows}
        cohort_ref = float(n_clients)
        basis = "treated clients of the cohort the outcome is measured for"
    if n_clients is None:
        if math.isnan(cohort_ref):
            raise ValueError(
                "n_clients: not given and the estimates have no n_treated; fix: "
                "pass n_clients, the number of treated clients in the cohort"
            )
        n_clients = int(cohort_ref)
    if not _is_int(n_clients) or n_clients < 1:
        raise ValueError(
            f"n_clients: {n_clients!r} is not a positive whole number; fix: give the "
            "number of treated clients in the cohort"
        )

    rng = np.random.default_rng(seed)
    out: list[dict] = []
    any_illustrative = bool(values["uprating"].get("illustrative", True))
    point_total = 0.0
    draw_total = np.zeros(draws)
    per_outcome = []
    not_valued = []
    for name in study:
        if name in no_value:
            per_outcome.append(
                (
                    name,
                    math.nan,
                    np.full(draws, math.nan),
                    True,
                    "not valued: no unit value for this outcome in the values file "
                    f"(add outcomes.{name} with unit_value_gbp, price_year and source)",
                )
            )
            not_valued.append(name)
            continue
        spec = values["outcomes"][name]
        row = rows[name]
        est, se = float(row["estimate"]), float(row["std_error"])
        if not (_is_number(est) and _is_number(se) and se >= 0):
            # a skipped estimate (an outcome without variation, too few clients) is not valued:
            # a row that says why, and the totals leave it out (it takes no block of draws, so the
            # draws of the outcomes after it differ from a run where it is valued)
            why = str(row.get("notes", "") or "no estimate").strip()
            per_outcome.append(
                (name, math.nan, np.full(draws, math.nan), True, f"not valued: no {method} {estimand} estimate ({why})")
            )
            not_valued.append(name)
            continue
        unit = uprate(spec["unit_value_gbp"], spec["price_year"], price_year, index)
        pv = present_value_factor(spec["duration_years"], spec["drop_off"], r)
        share = 1.0 if math.isnan(n_treated[name]) else n_treated[name] / cohort_ref
        mult = unit * pv * (1.0 - spec["deadweight"]) * (1.0 - spec["attribution"]) * share
        # Outcomes in config order, one block of draws each, independent across outcomes.
        eff = rng.normal(est, se, size=draws)
        point = est * mult
        boot = eff * mult
        point_total += point
        draw_total += boot
        illus = bool(spec["illustrative"]) or bool(values["uprating"].get("illustrative", True))
        any_illustrative |= illus
        n_txt = (
            "n_treated unknown, share 1"
            if math.isnan(n_treated[name])
            else (f"applies to {n_treated[name]:.0f} of {cohort_ref:.0f} treated clients ({basis}), share {share:.4g}")
        )
        note = (
            f"{method} {estimand} effect {est:.6g} (SE {se:.4g}) per client ({n_txt}); "
            f"unit value {spec['unit_value_gbp']:g} GBP ({spec['price_year']} prices) = "
            f"{unit:.6g} GBP in {price_year} prices; PV factor {pv:.6g} "
            f"({spec['duration_years']} y, drop-off {spec['drop_off']:g}, r {r:g}); "
            f"deadweight {spec['deadweight']:g}; attribution {spec['attribution']:g}; "
            f"source: {spec['source'].strip().rstrip('.')}" + ("; ILLUSTRATIVE value" if illus else "")
        )
        per_outcome.append((name, point, boot, illus, note))

    cost_spec = values["cost"]
    cost = uprate(cost_spec["gbp_per_client"], cost_spec["price_year"], price_year, index)
    cost_illus = bool(cost_spec["illustrative"]) or bool(values["uprating"].get("illustrative"))
    any_illustrative |= cost_illus
    cost_note = (
        f"extra cost of continuity {cost_spec['gbp_per_client']:g} GBP per client "
        f"({cost_spec['price_year']} prices) = {cost:.6g} GBP in {price_year} prices; "
        f"basis: {cost_spec['basis'].strip()}; source: {cost_spec['source'].strip()}; "
        "held fixed (no interval)" + ("; ILLUSTRATIVE value" if cost_illus else "")
    )
    valued = [o for o in study if o not in not_valued]
    no_estimate = [o for o in not_valued if o not in no_value]
    total_note = (
        f"sum over outcomes ({', '.join(valued) or 'none'}), {method} {estimand}; "
        "bootstrap draws independent across outcomes (ignores their correlation)"
        + (f"; not valued (no estimate): {', '.join(no_estimate)}" if no_estimate else "")
        + (f"; not valued (no unit value): {', '.join(no_value)}" if no_value else "")
        + (f"; values not used (not outcomes of this study): {'; '.join(unused)}" if unused else "")
    )

    for level, scale in (("per_client", 1.0), ("cohort", float(n_clients))):

        def add(outcome: str, quantity: str, point: float, boot: np.ndarray, illus: bool, note: str) -> None:
            lo, hi = _interval(boot)
            out.append(
                {
                    "level": level,
                    "outcome": outcome,
                    "quantity": quantity,
                    "value": float(point),
                    "ci_lower": lo,
                    "ci_upper": hi,
                    "price_year": price_year,
                    "illustrative": bool(illus),
                    "notes": note,
                }
            )

        lvl_note = "" if level == "per_client" else f"; cohort of {n_clients} treated clients"
        for name, point, boot, illus, note in per_outcome:
            add(name, "benefit", point * scale, boot * scale, illus, note + lvl_note)
        b_point, b_draw = point_total * scale, draw_total * scale
        c_point = cost * scale
        add("total", "benefit", b_point, b_draw, any_illustrative, total_note + lvl_note)
        add("total", "cost", c_point, np.full(draws, c_point), cost_illus, cost_note + lvl_note)
        add(
            "total",
            "net_benefit",
            b_point - c_point,
            b_draw - c_point,
            any_illustrative,
            f"benefit - cost; {total_note}{lvl_note}",
        )
        if c_point > 0:
            add(
                "total",
                "benefit_cost_ratio",
                b_point / c_point,
                b_draw / c_point,
                any_illustrative,
                f"benefit / cost; {total_note}",
            )
        else:
            add(
                "total",
                "benefit_cost_ratio",
                math.nan,
                np.full(draws, math.nan),
                any_illustrative,
                "undefined: the cost is 0",
            )

    return pd.DataFrame(out, columns=list(VALUE_COLUMNS))
