"""The values file (config/values.yaml): loading, validation with every problem at once, and its
coverage of the study's outcomes. The valuation itself is :mod:`deepvalue.value.valuation`.
"""

from __future__ import annotations

import math
from numbers import Real
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from deepvalue.core.errors import ConfigError, Problem, did_you_mean
from deepvalue.core.settings import METHOD_ESTIMANDS

_TOP_KEYS = ("discount_rate", "price_year", "uprating", "primary", "outcomes", "cost", "wellby")
_UPRATING_KEYS = ("name", "source", "illustrative", "index")
_PRIMARY_KEYS = ("method", "estimand")
_OUTCOME_KEYS = (
    "unit_value_gbp",
    "price_year",
    "source",
    "duration_years",
    "drop_off",
    "deadweight",
    "attribution",
    "illustrative",
    *("low", "high", "distribution", "discount_rate", "account", "unit", "overlaps"),
)
_OUTCOME_DEFAULTS = {"drop_off": 0.0, "deadweight": 0.0, "attribution": 0.0, "illustrative": True}
_COST_KEYS = ("gbp_per_client", "price_year", "basis", "source", "illustrative", "low", "high", "distribution")
#: How a unit value with ``low`` and ``high`` is drawn in the probabilistic analysis
#: (deepvalue.value.uncertainty.draw_values); an entry without them is held at its point value.
DISTRIBUTIONS = ("triangular", "uniform", "normal")
ACCOUNTS = ("monetary", "wellbeing")
_WELLBY_KEYS = (
    *("unit_value_gbp", "low", "high", "distribution", "price_year", "discount_rate", "source", "illustrative"),
    *("duration_years", "drop_off", "instruments", "overlaps"),
)
#: The instruments whose points are WELLBYs: life satisfaction 0-10, one point for one person for a year.
WELLBY_INSTRUMENTS = ("ons4_life_satisfaction",)


def _is_number(x: Any) -> bool:
    return isinstance(x, Real) and not isinstance(x, bool) and math.isfinite(float(x))


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def load_values(path: str | Path, outcomes: Iterable[str] | None = None) -> dict:
    """Read and validate a values file (see config/values.yaml).

    `outcomes`, if given, are the study's outcome names. A value for an outcome not among them is
    not an error (a bundled values file meets a study with its own outcome names): it is left
    unused and :func:`values_coverage` says so, with the closest study outcome. Every problem is
    reported at once in one ValueError, each naming the key and the fix.
    """
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ValueError(
            f"{path}: values file not found; fix: give the path of a values file such as config/values.yaml"
        ) from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({exc}); fix: correct the YAML syntax") from None
    return validate_values(raw, outcomes=outcomes, where=str(path))


def validate_values(values: Any, outcomes: Iterable[str] | None = None, where: str = "values") -> dict:
    """Validate a values mapping (as read from YAML), fill defaults, return a normalised copy."""
    problems: list[str] = []

    def bad(key: str, message: str, fix: str) -> None:
        problems.append(f"key '{key}': {message}; fix: {fix}")

    def unknown_keys(mapping: Mapping, allowed: Iterable[str], prefix: str) -> None:
        allowed = tuple(allowed)
        for k in mapping:
            if k not in allowed:
                hint = did_you_mean(k, allowed)
                bad(f"{prefix}{k}", "unknown key", f"{hint}remove it or use one of: {', '.join(allowed)}")

    def number(
        mapping: Mapping, key: str, prefix: str, *, lo: float | None = None, hi: float | None = None, fix: str
    ) -> None:
        full = f"{prefix}{key}"
        if key not in mapping:
            bad(full, "missing", fix)
            return
        x = mapping[key]
        if not _is_number(x):
            bad(full, f"{x!r} is not a finite number", fix)
        elif lo is not None and x < lo:
            what = "negative" if lo == 0 else f"below {lo}"
            bad(full, f"{x!r} is {what}" + (f" (must be in [{lo}, {hi}])" if hi is not None else ""), fix)
        elif hi is not None and x > hi:
            bad(full, f"{x!r} is above {hi} (must be in [{lo}, {hi}])", fix)

    def text(mapping: Mapping, key: str, prefix: str, fix: str) -> None:
        x = mapping.get(key)
        if not isinstance(x, str) or not x.strip():
            bad(f"{prefix}{key}", "missing or empty" if x is None else f"{x!r} is not text", fix)

    def flag(mapping: Mapping, key: str, prefix: str) -> None:
        if not isinstance(mapping.get(key), bool):
            bad(
                f"{prefix}{key}",
                f"{mapping.get(key)!r} is not true/false",
                "write true while the number is a placeholder, false once the economist has confirmed it",
            )

    def value_range(mapping: dict, prefix: str, point_key: str) -> None:
        """``low`` and ``high`` around the point value, and the distribution they describe."""
        has = [k for k in ("low", "high") if mapping.get(k) is not None]
        if not has:
            if mapping.get("distribution") is not None:
                bad(prefix + "distribution", "given without low and high", "give low and high, or remove it")
            return
        if len(has) == 1:
            bad(prefix + ("high" if has == ["low"] else "low"), "missing", "give both low and high, or neither")
            return
        for k in ("low", "high"):
            number(mapping, k, prefix, fix="give a number in GBP")
        lo, hi, mid = mapping.get("low"), mapping.get("high"), mapping.get(point_key)
        if all(_is_number(x) for x in (lo, hi, mid)) and not lo <= mid <= hi:
            bad(
                prefix + "low",
                f"the range [{lo:g}, {hi:g}] does not contain the point value {mid:g}",
                "give low <= point value <= high",
            )
        dist = mapping.setdefault("distribution", "triangular")
        if dist not in DISTRIBUTIONS:
            bad(prefix + "distribution", f"{dist!r} is not known", f"use one of: {', '.join(DISTRIBUTIONS)}")

    if not isinstance(values, Mapping):
        raise ValueError(
            f"{where}: the file must be a mapping of keys ({', '.join(_TOP_KEYS)}); "
            f"got {type(values).__name__}; fix: start from config/values.yaml"
        )
    v: dict = {k: values[k] for k in values}
    unknown_keys(v, _TOP_KEYS, "")

    number(
        v,
        "discount_rate",
        "",
        lo=0.0,
        hi=1.0,
        fix="give the real annual rate as a share, e.g. 0.035 (HM Treasury Green Book)",
    )
    if not _is_int(v.get("price_year")):
        bad("price_year", f"{v.get('price_year')!r} is not a year", "give a year, e.g. 2025")

    # uprating
    index: dict[int, float] = {}
    up = v.get("uprating")
    if not isinstance(up, Mapping):
        bad(
            "uprating",
            "missing or not a mapping",
            "give uprating: {name, source, illustrative, index: {year: deflator, ...}}",
        )
        up = {}
    else:
        up = dict(up)
        unknown_keys(up, _UPRATING_KEYS, "uprating.")
        up.setdefault("illustrative", True)
        text(up, "source", "uprating.", "name the source of the deflator series")
        flag(up, "illustrative", "uprating.")
        idx = up.get("index")
        if not isinstance(idx, Mapping) or not idx:
            bad("uprating.index", "missing or empty", "give {year: index value, ...}")
        else:
            for year, val in idx.items():
                try:
                    y = int(year)
                except (TypeError, ValueError):
                    bad(f"uprating.index.{year}", "is not a year", "use years as keys, e.g. 2024")
                    continue
                if not _is_number(val) or val <= 0:
                    bad(
                        f"uprating.index.{year}",
                        f"{val!r} is not a positive number",
                        "give the deflator value for that year, e.g. 98.3",
                    )
                    continue
                index[y] = float(val)
        up["index"] = index
    v["uprating"] = up

    def year_in_index(year: Any, key: str) -> None:
        if not _is_int(year):
            bad(key, f"{year!r} is not a year", "give the year the value is priced in, e.g. 2022")
        elif index and year not in index:
            bad(
                key,
                f"{year} is not in uprating.index (years {min(index)}-{max(index)})",
                f"add {year} to uprating.index or re-express the value in a listed year",
            )

    if _is_int(v.get("price_year")):
        year_in_index(v["price_year"], "price_year")

    # primary method / estimand
    prim = v.get("primary", {"method": "aipw", "estimand": "ATT"})
    if not isinstance(prim, Mapping):
        bad("primary", "not a mapping", "give primary: {method: aipw, estimand: ATT}")
        prim = {}
    prim = {"method": "aipw", "estimand": "ATT", **dict(prim)}
    unknown_keys(prim, _PRIMARY_KEYS, "primary.")
    for k in _PRIMARY_KEYS:
        text(
            prim, k, "primary.", "name a method and estimand of results/estimates.csv, e.g. method: aipw, estimand: ATT"
        )
    v["primary"] = prim

    # the WELLBY: one point of life satisfaction (0-10) for one person for one year
    wb = v.get("wellby")
    if wb is not None:
        if not isinstance(wb, Mapping):
            bad(
                "wellby", "not a mapping", "give wellby: {unit_value_gbp, low, high, price_year, discount_rate, source}"
            )
            wb = None
        else:
            wb = {
                "illustrative": True,
                "duration_years": 1,
                "drop_off": 0.0,
                "instruments": list(WELLBY_INSTRUMENTS),
                **dict(wb),
            }
            unknown_keys(wb, _WELLBY_KEYS, "wellby.")
            number(wb, "unit_value_gbp", "wellby.", lo=0.0, fix="give GBP per WELLBY, e.g. 13000 (HM Treasury 2021)")
            value_range(wb, "wellby.", "unit_value_gbp")
            year_in_index(wb.get("price_year"), "wellby.price_year")
            number(wb, "discount_rate", "wellby.", lo=0.0, hi=1.0, fix="give the rate for wellbeing, as a share")
            text(wb, "source", "wellby.", "cite the guidance the WELLBY value comes from")
            flag(wb, "illustrative", "wellby.")
            if not isinstance(wb.get("instruments"), list) or not all(isinstance(x, str) for x in wb["instruments"]):
                bad("wellby.instruments", "not a list of instrument names", "e.g. [ons4_life_satisfaction]")
    v["wellby"] = wb

    # outcomes
    known = None if outcomes is None else list(outcomes)
    outs = v.get("outcomes")
    if not isinstance(outs, Mapping) or not outs:
        bad("outcomes", "missing or empty", "give at least one outcome with its unit value")
        outs = {}
    norm_outs: dict[str, dict] = {}
    del known  # unknown outcome names are reported by values_coverage, not refused
    for name, spec in outs.items():
        p = f"outcomes.{name}."
        if not isinstance(spec, Mapping):
            bad(
                f"outcomes.{name}",
                "not a mapping",
                "give unit_value_gbp, price_year, source, "
                "duration_years, drop_off, deadweight, attribution, illustrative",
            )
            continue
        s = {**_OUTCOME_DEFAULTS, "account": "monetary", "unit": "gbp", "overlaps": [], **dict(spec)}
        unknown_keys(s, _OUTCOME_KEYS, p)
        if s["unit"] == "wellby":
            if wb is None:
                bad(p + "unit", "is wellby but the file has no wellby block", "add wellby: {unit_value_gbp, ...}")
            else:
                for k in ("unit_value_gbp", "low", "high", "distribution", "price_year", "discount_rate", "source"):
                    s.setdefault(k, wb.get(k))
                s["illustrative"] = bool(spec.get("illustrative", wb.get("illustrative", True)))
                s.setdefault("duration_years", wb.get("duration_years", 1))
            s["account"] = "wellbeing"
        elif s["unit"] != "gbp":
            bad(p + "unit", f"{s['unit']!r} is not known", "use gbp (the default) or wellby")
        number(
            s,
            "unit_value_gbp",
            p,
            fix="give GBP per unit of the outcome (negative if one more unit is a cost, e.g. a crisis contact)",
        )
        value_range(s, p, "unit_value_gbp")
        if s.get("discount_rate") is not None:
            number(s, "discount_rate", p, lo=0.0, hi=1.0, fix="give this outcome's rate as a share, or remove it")
        if s["account"] not in ACCOUNTS:
            bad(p + "account", f"{s['account']!r} is not known", f"use one of: {', '.join(ACCOUNTS)}")
        if not isinstance(s["overlaps"], list) or not all(isinstance(x, str) for x in s["overlaps"]):
            bad(p + "overlaps", "not a list of outcome names", "list the outcomes whose value this one already holds")
        elif s["overlaps"] and s["account"] != "wellbeing":
            bad(p + "overlaps", "given for a monetary outcome", "overlaps belongs to a wellbeing outcome's entry")
        elif name in s["overlaps"]:
            bad(p + "overlaps", "names the outcome itself", "list other outcomes only")
        year_in_index(s.get("price_year"), p + "price_year")
        text(s, "source", p, "cite where the unit value comes from")
        d = s.get("duration_years")
        if not _is_int(d) or d < 1:
            bad(
                p + "duration_years",
                f"{d!r} is not a whole number of years >= 1",
                "give how many whole years the effect lasts, e.g. 2 (fractional years are not supported)",
            )
        for k, fix in (
            ("drop_off", "give the share of the effect lost each year after the first, between 0 and 1, e.g. 0.3"),
            (
                "deadweight",
                "give a share between 0 and 1; normally 0, because the "
                "causal effect is already net of what would have happened anyway",
            ),
            ("attribution", "give the share due to others, between 0 and 1; 0 = all due to this service"),
        ):
            number(s, k, p, lo=0.0, hi=1.0, fix=fix)
        flag(s, "illustrative", p)
        norm_outs[name] = s
    v["outcomes"] = norm_outs
    for name, s in norm_outs.items():
        for other in s.get("overlaps") or []:
            if other not in norm_outs:
                bad(
                    f"outcomes.{name}.overlaps",
                    f"{other!r} has no entry",
                    f"{did_you_mean(other, list(norm_outs))}name a valued outcome",
                )
            elif norm_outs[other]["account"] != "monetary":
                bad(f"outcomes.{name}.overlaps", f"{other!r} is not a monetary outcome", "list monetary outcomes only")

    # cost
    cost = v.get("cost")
    if not isinstance(cost, Mapping):
        bad("cost", "missing or not a mapping", "give cost: {gbp_per_client, price_year, basis, source, illustrative}")
        cost = {}
    else:
        cost = {"illustrative": True, **dict(cost)}
        unknown_keys(cost, _COST_KEYS, "cost.")
        number(
            cost,
            "gbp_per_client",
            "cost.",
            lo=0.0,
            fix="give the extra cost of continuity per treated client in GBP, >= 0",
        )
        year_in_index(cost.get("price_year"), "cost.price_year")
        text(cost, "source", "cost.", "cite where the cost comes from")
        text(cost, "basis", "cost.", "say what the cost is made of (e.g. extra worker hours)")
        flag(cost, "illustrative", "cost.")
        value_range(cost, "cost.", "gbp_per_client")
    v["cost"] = cost

    if problems:
        raise ValueError(
            f"{where}: {len(problems)} problem{'s' if len(problems) > 1 else ''}:\n"
            + "\n".join(f"  - {p}" for p in problems)
        )
    return v


def values_coverage(values: Mapping, outcomes: Iterable[str]) -> tuple[list[str], list[str]]:
    """Which study outcomes have no unit value, and which values are for no study outcome.

    Returns ``(not_valued, unused)``: the study outcomes (in study order) without an entry in
    ``values["outcomes"]``, and one line per unused entry, with the closest study outcome.

    >>> values_coverage({"outcomes": {"job_start": {}}}, ["Job start", "income"])
    (['Job start', 'income'], ["job_start (did you mean 'Job start'?)"])
    """
    study = list(outcomes)
    given = list(values.get("outcomes") or {})
    not_valued = [o for o in study if o not in given]
    unused = []
    for name in given:
        if name not in study:
            hint = did_you_mean(name, study).strip().rstrip(";").strip()
            unused.append(f"{name} ({hint})" if hint else name)
    return not_valued, unused


def values_warnings(values: Mapping, outcomes: Iterable[str], path: str | Path = "the values file") -> list[str]:
    """The coverage of :func:`values_coverage` as sentences for a log, `validate` and the report."""
    not_valued, unused = values_coverage(values, outcomes)
    out = []
    if not_valued:
        out.append(
            f"{path}: no unit value for {', '.join(not_valued)}; "
            f"{'it is' if len(not_valued) == 1 else 'they are'} reported as not valued "
            "(fix: add outcomes.<name> with unit_value_gbp, price_year and source to the values file)"
        )
    if unused:
        out.append(f"{path}: values for outcomes that are not in this study are not used: {'; '.join(unused)}")
    return out


def check_values_file(
    path: str | Path, outcomes: Iterable[str], methods: Iterable[str] | None = None
) -> tuple[dict, list[str]]:
    """The validated values file and its warnings (:func:`values_warnings`) for the study's outcomes.

    With `methods` (the study's ``estimation.methods``), ``primary`` must name a method among them
    and an estimand that method reports (:data:`deepvalue.core.settings.METHOD_ESTIMANDS`).

    Run before anything else (the Snakefile and ``deepvalue validate`` call it), so that a broken
    values file stops the run at once rather than after the estimation.

    Raises
    ------
    ConfigError
        One problem per line of the validation message, naming the values file.
    """
    outcomes = list(outcomes)
    try:
        values = load_values(path, outcomes=outcomes)
    except ValueError as exc:
        lines = str(exc).splitlines()
        # "<file>: N problems:" then "  - <problem>" lines; a single-line message is the problem
        items = [ln.strip().removeprefix("- ") for ln in lines[1:] if ln.strip()] or [lines[0]]
        problems = [
            Problem("values", None, item, "see the comments in config/values.yaml", path=str(path)) for item in items
        ]
        raise ConfigError(problems, headline="the values file is invalid") from None
    if methods is not None:
        methods = list(methods)
        method, estimand = values["primary"]["method"], values["primary"]["estimand"]
        pairs = [f"{m} {e}" for m in methods for e in METHOD_ESTIMANDS.get(m, ())]
        if estimand not in METHOD_ESTIMANDS.get(method, ()) or method not in methods:
            why = (
                f"method '{method}' is not among estimation.methods"
                if method in METHOD_ESTIMANDS and method not in methods
                else f"no method '{method}' with estimand '{estimand}'"
            )
            raise ConfigError(
                [
                    Problem(
                        "values",
                        None,
                        f"key 'primary' is {method} {estimand}: {why}, so there is no row to value",
                        f"{did_you_mean(f'{method} {estimand}', pairs)}set primary.method and primary.estimand "
                        f"to one of: {', '.join(pairs)}",
                        path=str(path),
                    )
                ],
                headline="the values file is invalid",
            )
    return values, values_warnings(values, outcomes, Path(path).name)
