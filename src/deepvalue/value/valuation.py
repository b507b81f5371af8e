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
from typing import Any, Iterable, Mapping

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
    "value_analysis",
    "VALUE_COLUMNS",
    "PSA_COLUMNS",
    "VALUED_COLUMNS",
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
#: Columns added by the probabilistic analysis (issue 18 item 4), after today's.
PSA_COLUMNS = ("account", "psa_mean", "psa_lower", "psa_upper", "p_positive", "switching_value")
#: The estimate a row values (method and estimand of estimates.csv's whole-cohort row; empty for the cost),
#: read by the disclosure check so a hidden estimate hides the money made of it.
VALUED_COLUMNS = ("method", "estimand")


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
        if len(hit) > 1 and "scale" in hit and (hit["scale"] == "points").sum() == 1:
            hit = hit[hit["scale"] == "points"]  # a questionnaire outcome: its points (WELLBYs for life satisfaction)
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


def value_table(estimates: pd.DataFrame, values: Mapping, **options: Any) -> pd.DataFrame:
    """Benefit, cost, net benefit and benefit-cost ratio, per client and for the cohort: the first table of
    :func:`value_analysis` (same keyword options), without its tornado table."""
    return value_analysis(estimates, values, **options)[0]


def value_analysis(
    estimates: pd.DataFrame,
    values: Mapping,
    n_clients: int | None = None,
    seed: int = 0,
    draws: int = 10000,
    applies_to: Mapping[str, int] | None = None,
    outcomes: Iterable[str] | None = None,
    joint: pd.DataFrame | None = None,
    instruments: Mapping[str, str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The value table and the tornado table.

    `outcomes` are the study's outcomes, in order (default: those of the values file). One without
    a unit value gets a ``benefit`` row that says it is not valued (no number), and the totals
    leave it out; values for outcomes not in the study are not used, said in the totals' notes.
    `instruments` maps questionnaire outcomes to their instrument: an ``ons4_life_satisfaction``
    outcome without an entry is valued in WELLBYs from the values file's ``wellby`` block; another
    instrument without an entry is not valued (no official conversion to life satisfaction exists).

    `n_clients` is the number of treated clients in the cohort and `applies_to` the treated clients
    each outcome applies to (:func:`cohort_counts`); without them, the largest ``n_treated`` among
    the valued estimate rows and each row's ``n_treated`` (said in the notes). Rows: for each level
    (per_client, cohort), one ``benefit`` row per outcome, then ``total`` rows for benefit, cost,
    net_benefit and benefit_cost_ratio over the monetary outcomes; with a wellbeing outcome valued,
    a ``total_wellbeing`` benefit row and ``total_with_wellbeing`` benefit, net_benefit and
    benefit_cost_ratio rows (monetary outcomes the wellbeing entry ``overlaps`` left out).

    Columns: ``value`` is the point value; ``ci_lower``/``ci_upper`` the 2.5/97.5 percentiles over
    `draws` draws of the effects (from `joint`, ``results/joint_draws.parquet``, when it has the
    valued rows; else Normal(estimate, SE), independent across outcomes) with the unit values and
    cost at their points; ``psa_mean``/``psa_lower``/``psa_upper`` the same over draws of effects,
    unit values and cost together (:mod:`deepvalue.value.uncertainty`); ``p_positive`` the share of
    those draws above 0 (above 1 for a ratio); ``switching_value`` (benefit rows) the unit value at
    which the account's net benefit is 0, the rest at their points. Deterministic for a `seed`.
    """
    from deepvalue.value.uncertainty import (
        TORNADO_COLUMNS,
        Z975,
        draw_values,
        has_range,
        joint_effects,
        range_text,
        switching_text,
        switching_value,
        tornado_rows,
    )
    from deepvalue.value.values_file import WELLBY_INSTRUMENTS

    if not _is_int(draws) or draws < 1:
        raise ValueError(f"draws: {draws!r} is not a positive whole number; fix: e.g. 10000")
    missing = [c for c in ("outcome", "method", "estimand", "estimate", "std_error") if c not in estimates]
    if missing:
        raise ValueError(f"estimates: missing column(s) {', '.join(missing)}; fix: pass results/estimates.csv")
    study = list(values["outcomes"]) if outcomes is None else list(outcomes)
    instruments = dict(instruments or {})
    specs = dict(values["outcomes"])
    wb = values.get("wellby")
    wb_instruments = tuple((wb or {}).get("instruments") or WELLBY_INSTRUMENTS)
    for name in study:
        if name not in specs and wb is not None and instruments.get(name) in wb_instruments:
            specs[name] = wellby_entry(wb)
    values = {**values, "outcomes": specs}
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
    any_illustrative = bool(values["uprating"].get("illustrative", True))
    valued: dict[str, dict] = {}
    per_outcome = []
    not_valued = []
    for name in study:
        if name in no_value:
            inst = instruments.get(name)
            why = (
                f"not valued: no unit value for this {inst} outcome; no official conversion from {inst} to life "
                "satisfaction (WELLBYs) exists, so it is valued only with a unit value you supply "
                f"(add outcomes.{name} with unit_value_gbp, price_year and source)"
                if inst
                else "not valued: no unit value for this outcome in the values file "
                f"(add outcomes.{name} with unit_value_gbp, price_year and source)"
            )
            per_outcome.append((name, None, why))
            not_valued.append(name)
            continue
        spec = specs[name]
        row = rows[name]
        est, se = float(row["estimate"]), float(row["std_error"])
        if not (_is_number(est) and _is_number(se) and se >= 0):
            # a skipped estimate (an outcome without variation, too few clients) is not valued:
            # a row that says why, and the totals leave it out (it takes no block of draws)
            why = str(row.get("notes", "") or "no estimate").strip()
            per_outcome.append((name, None, f"not valued: no {method} {estimand} estimate ({why})"))
            not_valued.append(name)
            continue
        up = uprate(1.0, spec["price_year"], price_year, index)
        unit = spec["unit_value_gbp"] * up
        rate = r if spec.get("discount_rate") is None else float(spec["discount_rate"])
        pv = present_value_factor(spec["duration_years"], spec["drop_off"], rate)
        share = 1.0 if math.isnan(n_treated[name]) else n_treated[name] / cohort_ref
        factor = pv * (1.0 - spec["deadweight"]) * (1.0 - spec["attribution"]) * share
        # outcomes in config order, one block of normal draws each (used where the joint draws lack the row)
        eff = rng.normal(est, se, size=draws)
        illus = bool(spec["illustrative"]) or bool(values["uprating"].get("illustrative", True))
        any_illustrative |= illus
        wellby = spec.get("unit") == "wellby"
        n_txt = (
            "n_treated unknown, share 1"
            if math.isnan(n_treated[name])
            else (f"applies to {n_treated[name]:.0f} of {cohort_ref:.0f} treated clients ({basis}), share {share:.4g}")
        )
        note = (
            f"{method} {estimand} effect {est:.6g} (SE {se:.4g}) per client ({n_txt}); "
            + ("WELLBY: " if wellby else "")
            + f"unit value {spec['unit_value_gbp']:g} GBP{' per WELLBY' if wellby else ''} "
            f"({spec['price_year']} prices)"
            f" = {unit:.6g} GBP in {price_year} prices; "
            + range_text(spec, up, price_year)
            + f"; PV factor {pv:.6g} ({spec['duration_years']} y, drop-off {spec['drop_off']:g}, r {rate:g}"
            + ("" if spec.get("discount_rate") is None else ", this outcome's own rate")
            + f"); deadweight {spec['deadweight']:g}; attribution {spec['attribution']:g}; "
            f"source: {spec['source'].strip().rstrip('.')}" + ("; ILLUSTRATIVE value" if illus else "")
        )
        valued[name] = dict(
            est=est,
            se=se,
            unit=unit,
            up=up,
            factor=factor,
            spec=spec,
            eff=eff,
            illus=illus,
            account=spec.get("account", "monetary"),
            scale=str(row.get("scale", "") or ""),
        )
        per_outcome.append((name, valued[name], note))

    wellbeing = [n for n, v in valued.items() if v["account"] == "wellbeing"]
    if len([n for n in wellbeing if valued[n]["spec"].get("unit") == "wellby"]) > 1:
        raise ValueError(
            "wellby: more than one outcome is valued in WELLBYs "
            f"({', '.join(n for n in wellbeing if valued[n]['spec'].get('unit') == 'wellby')}); "
            "fix: value one life-satisfaction outcome (several measure the same benefit and would count it twice)"
        )

    # effect draws: the joint bootstrap where it has the valued row, else the independent normal draws
    picks = {n: (method, estimand, v["scale"]) for n, v in valued.items()}
    from_joint, b_joint = joint_effects(joint, picks, draws, rng)
    for n, v in valued.items():
        if n in from_joint:
            v["eff"] = from_joint[n]
    # unit value and cost draws (probabilistic analysis)
    for n, v in valued.items():
        v["unit_draws"] = draw_values(v["spec"], v["spec"]["unit_value_gbp"], draws, rng, v["up"])
    cost_spec = values["cost"]
    cost_up = uprate(1.0, cost_spec["price_year"], price_year, index)
    cost = cost_spec["gbp_per_client"] * cost_up
    cost_draws = draw_values(cost_spec, cost_spec["gbp_per_client"], draws, rng, cost_up)
    cost_illus = bool(cost_spec["illustrative"]) or bool(values["uprating"].get("illustrative"))
    any_illustrative |= cost_illus
    cost_note = (
        f"extra cost of continuity {cost_spec['gbp_per_client']:g} GBP per client "
        f"({cost_spec['price_year']} prices) = {cost:.6g} GBP in {price_year} prices; "
        f"basis: {cost_spec['basis'].strip()}; source: {cost_spec['source'].strip()}; "
        + range_text(cost_spec, cost_up, price_year)
        + ("; ILLUSTRATIVE value" if cost_illus else "")
    )

    monetary = [n for n, v in valued.items() if v["account"] == "monetary"]
    overlapped = sorted({o for n in wellbeing for o in valued[n]["spec"].get("overlaps") or [] if o in valued})
    combined = [n for n in monetary if n not in overlapped] + wellbeing

    def total(names: list[str]) -> tuple[float, np.ndarray, np.ndarray]:
        point = sum(valued[n]["est"] * valued[n]["unit"] * valued[n]["factor"] for n in names)
        ci = sum((valued[n]["eff"] * valued[n]["unit"] * valued[n]["factor"] for n in names), np.zeros(draws))
        psa = sum((valued[n]["eff"] * valued[n]["unit_draws"] * valued[n]["factor"] for n in names), np.zeros(draws))
        return float(point), ci, psa

    joint_txt = (
        f"effect draws from the joint bootstrap (results/joint_draws.parquet, B = {b_joint}, resampled), "
        "which keeps their correlation across outcomes"
        if from_joint and len(from_joint) == len(valued)
        else "effect draws independent across outcomes (Normal(estimate, SE); ignores their correlation)"
        if not from_joint
        else f"effect draws from the joint bootstrap for {', '.join(from_joint)}, independent normal for "
        f"{', '.join(n for n in valued if n not in from_joint)}"
    )
    no_estimate = [o for o in not_valued if o not in no_value]
    extra = (
        (f"; not valued (no estimate): {', '.join(no_estimate)}" if no_estimate else "")
        + (f"; not valued (no unit value): {', '.join(no_value)}" if no_value else "")
        + (f"; values not used (not outcomes of this study): {'; '.join(unused)}" if unused else "")
    )
    total_note = (
        f"sum over outcomes ({', '.join(monetary) or 'none'}), {method} {estimand} (monetary account); {joint_txt}"
        + (f"; wellbeing value ({', '.join(wellbeing)}) kept apart: see total_with_wellbeing" if wellbeing else "")
        + extra
    )
    combined_note = (
        f"monetary and wellbeing value together ({', '.join(combined)})"
        + (
            f"; left out because the wellbeing effect already holds their value (overlaps): {', '.join(overlapped)}"
            if overlapped
            else "; no monetary outcome is declared to overlap the wellbeing effect (outcomes.<name>.overlaps)"
        )
        + f"; {joint_txt}"
    )

    # switching values: per outcome, against the net benefit of its account (monetary, or monetary + wellbeing)
    m_point = total(monetary)[0]
    c_point_all = total(combined)[0]
    switch: dict[str, tuple[float, str]] = {}
    for n, v in valued.items():
        account_point = m_point if v["account"] == "monetary" else c_point_all
        own = v["est"] * v["unit"] * v["factor"]
        slope = v["est"] * v["factor"]
        sv = switching_value(v["unit"], slope, account_point - own, cost)
        unit_word = "WELLBY" if v["spec"].get("unit") == "wellby" else ""
        switch[n] = (sv, switching_text(n, sv, slope, price_year, unit_word))

    out: list[dict] = []
    for level, scale in (("per_client", 1.0), ("cohort", float(n_clients))):
        lvl_note = "" if level == "per_client" else f"; cohort of {n_clients} treated clients"

        def add(outcome, quantity, point, ci, psa, illus, note, account, sv=math.nan, ratio=False, valued=True):
            lo, hi = _interval(ci)
            plo, phi = _interval(psa)
            finite = psa[np.isfinite(psa)]
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
                    "account": account,
                    "psa_mean": float(finite.mean()) if finite.size else math.nan,
                    "psa_lower": plo,
                    "psa_upper": phi,
                    "p_positive": float((finite > (1.0 if ratio else 0.0)).mean()) if finite.size else math.nan,
                    "switching_value": sv,
                    "method": method if valued else "",
                    "estimand": estimand if valued else "",
                }
            )

        nan = np.full(draws, math.nan)
        for name, v, note in per_outcome:
            if v is None:
                add(name, "benefit", math.nan, nan, nan, True, note, "")
                continue
            mult = v["factor"] * scale
            sv, sv_txt = switch[name]
            add(
                name,
                "benefit",
                v["est"] * v["unit"] * mult,
                v["eff"] * v["unit"] * mult,
                v["eff"] * v["unit_draws"] * mult,
                v["illus"],
                f"{note}; {sv_txt}{lvl_note}",
                v["account"],
                sv,
            )
        c_draws = cost_draws * scale
        blocks = [("total", monetary, total_note, "monetary", any_illustrative)]
        if wellbeing:
            illus_w = any(valued[n]["illus"] for n in wellbeing)
            blocks.append(
                (
                    "total_wellbeing",
                    wellbeing,
                    "sum over the wellbeing outcomes; not money that changes hands; " + joint_txt,
                    "wellbeing",
                    illus_w,
                )
            )
            blocks.append(("total_with_wellbeing", combined, combined_note, "combined", any_illustrative or illus_w))
        for label, names, note, account, illus in blocks:
            b_point, b_ci, b_psa = total(names)
            b_point, b_ci, b_psa = b_point * scale, b_ci * scale, b_psa * scale
            add(label, "benefit", b_point, b_ci, b_psa, illus, note + lvl_note, account)
            if label == "total_wellbeing":
                continue
            c_point = cost * scale
            if label == "total":
                add(
                    "total",
                    "cost",
                    c_point,
                    np.full(draws, c_point),
                    c_draws,
                    cost_illus,
                    cost_note + lvl_note,
                    account,
                    valued=False,
                )
            add(
                label,
                "net_benefit",
                b_point - c_point,
                b_ci - c_point,
                b_psa - c_draws,
                illus,
                f"benefit - cost; {note}{lvl_note}",
                account,
            )
            if c_point > 0:
                with np.errstate(divide="ignore", invalid="ignore"):
                    add(
                        label,
                        "benefit_cost_ratio",
                        b_point / c_point,
                        b_ci / c_point,
                        b_psa / c_draws,
                        illus,
                        f"benefit / cost; {note}",
                        account,
                        ratio=True,
                    )
            else:
                add(label, "benefit_cost_ratio", math.nan, nan, nan, illus, "undefined: the cost is 0", account)

    # tornado (per client): each uncertain input at its low and high, the others at their points
    tornado: list[dict] = []
    for account, names in (("monetary", monetary), ("combined", combined if wellbeing else [])):
        if not names:
            continue
        net = total(names)[0] - cost
        items = []
        for n in names:
            v = valued[n]
            lo_e, hi_e = v["est"] - Z975 * v["se"], v["est"] + Z975 * v["se"]
            items.append((f"{n}: effect (95% CI)", lo_e, hi_e, v["est"], v["unit"] * v["factor"]))
            if has_range(v["spec"]):
                s = v["spec"]
                items.append(
                    (f"{n}: unit value", s["low"] * v["up"], s["high"] * v["up"], v["unit"], v["est"] * v["factor"])
                )
        if has_range(cost_spec):
            items.append(("cost per client", cost_spec["low"] * cost_up, cost_spec["high"] * cost_up, cost, -1.0))
        tornado += tornado_rows(account, net, items)

    columns = [*VALUE_COLUMNS, *PSA_COLUMNS, *VALUED_COLUMNS]
    return pd.DataFrame(out, columns=columns), pd.DataFrame(tornado, columns=list(TORNADO_COLUMNS))


def wellby_entry(wellby: Mapping) -> dict:
    """The values-file entry of an outcome valued in WELLBYs from the ``wellby`` block alone."""
    return {
        "unit": "wellby",
        "account": "wellbeing",
        "overlaps": list(wellby.get("overlaps") or []),
        **{k: wellby.get(k) for k in ("unit_value_gbp", "low", "high", "distribution", "price_year")},
        "discount_rate": wellby.get("discount_rate"),
        "source": wellby["source"],
        "duration_years": int(wellby.get("duration_years", 1)),
        "drop_off": float(wellby.get("drop_off", 0.0)),
        "deadweight": 0.0,
        "attribution": 0.0,
        "illustrative": bool(wellby.get("illustrative", True)),
    }
