"""The answer of a run in a few lines: per outcome the primary estimate with its interval in plain
words, how far the other methods agree, the robustness figures (E-value, Rosenbaum's Gamma, the
refuters), and the net value with its interval. Read from the run's tables as published (the
disclosure-checked copies, :func:`deepvalue.publish.report_inputs.checked_table`), never
recomputed, so a suppressed cell stays suppressed here too; a missing table leaves its part out.

Used by the console summary the workflow prints on success (:func:`console_summary`) and by the
report's opening summary (:mod:`deepvalue.publish.summary_section`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from deepvalue.publish.html import _as_bool, _read_csv
from deepvalue.publish.report_inputs import checked_table

#: Estimands of an effect of continuity on the outcome's own scale (the dose rows are per 0.1 of the
#: index or between index levels, and are not compared with them).
EFFECT_ESTIMANDS = ("ATT", "ATE", "ATO", "LATE")
DEFAULT_PRIMARY = ("aipw", "ATT")
_PRIMARY_NOTE = re.compile(r"^(\w+) (\w+) effect ")
_DESIGNS = {
    "regression": "regression",
    "logit_ame": "regression",
    "poisson_ra": "regression",
    "dml": "machine learning",
    "within_worker_regression": "within worker",
    "within_worker_aipw": "within worker",
    "psm": "matching",
    "ipw": "weighting",
    "overlap": "weighting",
    "aipw": "doubly robust",
    "iv": "instrument",
    "dowhy_regression": "DoWhy",
    "dowhy_psm": "DoWhy",
    "dowhy_ipw": "DoWhy",
}


@dataclass(frozen=True)
class OutcomeAnswer:
    """One outcome's answer (NaN where a table is missing or a cell is suppressed)."""

    outcome: str
    type: str
    method: str
    estimand: str
    estimate: float
    ci_lower: float
    ci_upper: float
    agree: int = 0  # adjusted estimates with the primary's sign
    adjusted: int = 0  # adjusted estimates shown
    exclude_zero: int = 0  # adjusted estimates whose CI excludes 0
    designs: tuple[str, ...] = ()
    evalue_point: float = np.nan
    evalue_ci: float = np.nan
    gamma: float = np.nan
    refuted_passed: int = 0
    refuted_total: int = 0
    skipped: str = ""  # the published reason when the primary method was skipped for this outcome

    @property
    def clear(self) -> bool:
        """Whether the interval excludes no effect."""
        return bool(self.ci_lower > 0 or self.ci_upper < 0)

    def sentence(self) -> str:
        """The estimate and its interval in plain words (an interval of a decrease as positive numbers)."""
        if not np.isfinite(self.estimate) and self.skipped:
            return f"{self.outcome}: no estimate ({self.method} {self.estimand} {self.skipped})."
        if not np.isfinite(self.estimate):
            return f"{self.outcome}: no estimate to show ({self.method} {self.estimand} is missing or suppressed)."
        what, unit, scale = _units(self.outcome, self.type)
        est, lo, hi = self.estimate * scale, self.ci_lower * scale, self.ci_upper * scale
        digits = _digits(est)
        if not (np.isfinite(lo) and np.isfinite(hi)):
            ci = "no interval"
        elif not self.clear:
            ci = f"95% CI {lo:,.{digits}f} to {hi:,.{digits}f}"
            return (
                f"{self.outcome}: no clear effect; continuity changed {what} by {est:,.{digits}f}{unit} ({ci}, "
                "an interval that includes no effect)."
            )
        else:
            lo, hi = (lo, hi) if est > 0 else (-hi, -lo)
            ci = f"95% CI {lo:,.{digits}f} to {hi:,.{digits}f}"
        verb = "raised" if est > 0 else "lowered"
        return f"{self.outcome}: continuity {verb} {what} by {abs(est):,.{digits}f}{unit} ({ci})."


def _digits(x: float) -> int:
    """Decimals that show `x` to three significant figures (none for 100 and more)."""
    if not np.isfinite(x) or x == 0:
        return 2
    return int(max(0, 2 - np.floor(np.log10(abs(x)))))


@dataclass
class RunAnswer:
    """The answer of a run: per outcome, and the value."""

    outcomes: list[OutcomeAnswer] = field(default_factory=list)
    net_benefit: tuple[float, float, float] | None = None
    benefit_cost_ratio: tuple[float, float, float] | None = None
    illustrative_share: float | None = None  # of the total benefit, the share resting on illustrative values
    cost_illustrative: bool = False
    price_year: int | None = None
    # the probabilistic analysis (effects and unit values drawn together): interval and P(net benefit > 0)
    net_probabilistic: tuple[float, float] | None = None
    p_positive: float | None = None
    with_wellbeing: tuple[float, float, float] | None = None  # net benefit with the WELLBY value (psa interval)


def _fmt(x: float) -> str:
    if not np.isfinite(x):
        return "-"
    a = abs(x)
    if a >= 100:
        return f"{x:,.0f}"
    if a >= 10:
        return f"{x:.1f}"
    return f"{x:.2g}" if a < 1 else f"{x:.2f}"


def _units(outcome: str, kind: str) -> tuple[str, str, float]:
    """(what changes, its unit, the factor to that unit) for an outcome type."""
    if kind == "binary":
        return f"the share of clients with {outcome}", " percentage points", 100.0
    if kind == "count":
        return f"{outcome}", " per client", 1.0
    if kind == "questionnaire":  # the points scale, signed so that a positive effect is an improvement
        return f"{outcome} (score, higher = better)", " points", 1.0
    return f"{outcome}", " per client", 1.0


def primary_of(value: pd.DataFrame | None) -> tuple[str, str]:
    """The method and estimand the value stage valued (its notes say "<method> <estimand> effect ...")."""
    if value is not None and "notes" in value:
        for note in value["notes"].dropna().astype(str):
            hit = _PRIMARY_NOTE.match(note)
            if hit:
                return hit.group(1), hit.group(2)
    return DEFAULT_PRIMARY


def _whole(frame: pd.DataFrame) -> pd.DataFrame:
    sub = frame["subgroup"] if "subgroup" in frame else pd.Series("", index=frame.index)
    return frame[sub.isna() | (sub.astype(str).str.strip() == "")]


def run_answer(results: Path, cfg: dict | None) -> RunAnswer:
    """The answer from ``estimates.csv``, ``sensitivity.csv``, ``refutations.csv`` and ``value.csv``
    under `results` (the published copies where the publish stage has run)."""
    results = Path(results)
    cfg = cfg or {}
    types = {str(o["name"]): str(o.get("type", "")) for o in cfg.get("outcomes", []) if isinstance(o, dict)}
    # questionnaire outcomes: their points rows (estimates.csv also has baseline_sd and share rows)
    questionnaires = [
        str(q["name"])
        for q in cfg.get("questionnaires") or []
        if isinstance(q, dict) and q.get("role", "outcome") == "outcome"
    ]
    types.update({name: "questionnaire" for name in questionnaires})
    est = checked_table(results, "estimates.csv", cfg)
    sens = checked_table(results, "sensitivity.csv", cfg)
    ref = _read_csv(results / "refutations.csv")
    value = checked_table(results, "value.csv", cfg)
    method, estimand = primary_of(value)
    answer = RunAnswer()
    if est is not None and not est.empty:
        whole = _whole(est)
        names = list(types) or list(pd.unique(whole["outcome"]))
        for name in names:
            rows = whole[whole["outcome"] == name]
            if name in questionnaires and "scale" in rows:
                rows = rows[rows["scale"] == "points"]
            if rows.empty:
                continue
            answer.outcomes.append(_outcome(name, types.get(name, ""), rows, method, estimand, sens, ref))
    if value is not None and not value.empty:
        _value(answer, value)
    return answer


def _num(x) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return np.nan


def _outcome(name, kind, rows, method, estimand, sens, ref) -> OutcomeAnswer:
    prim = rows[(rows["method"] == method) & (rows["estimand"] == estimand)]
    p = prim.iloc[0] if len(prim) else pd.Series(dtype=object)
    estimate, lo, hi = (_num(p.get(c)) for c in ("estimate", "ci_lower", "ci_upper"))
    note = str(p.get("notes") or "")
    skipped = note if note.startswith("skipped") else ""
    adj = rows[rows["method"].isin(list(_DESIGNS)) & rows["estimand"].isin(EFFECT_ESTIMANDS)]
    adj = adj[pd.to_numeric(adj["estimate"], errors="coerce").notna()]
    e = pd.to_numeric(adj["estimate"], errors="coerce").to_numpy()
    a_lo = pd.to_numeric(adj["ci_lower"], errors="coerce").to_numpy()
    a_hi = pd.to_numeric(adj["ci_upper"], errors="coerce").to_numpy()
    agree = int((np.sign(e) == np.sign(estimate)).sum()) if np.isfinite(estimate) else 0
    designs = tuple(dict.fromkeys(_DESIGNS[m] for m in adj["method"]))
    ev_p = ev_ci = gamma = np.nan
    if sens is not None and not sens.empty:
        mine = sens[sens["outcome"] == name]
        scale = p.get("scale")
        ev_p = _measure(mine, method, estimand, "evalue_point", scale)
        ev_ci = _measure(mine, method, estimand, "evalue_ci", scale)
        g = mine[mine["measure"] == "rosenbaum_gamma"]
        gamma = _num(g["value"].iloc[0]) if len(g) else np.nan
    passed = total = 0
    if ref is not None and not ref.empty:
        mine = ref[ref["outcome"] == name]
        total = len(mine)
        passed = int(mine["passed"].map(_as_bool).sum()) if "passed" in mine else 0
    return OutcomeAnswer(
        name,
        kind,
        method,
        estimand,
        estimate,
        lo,
        hi,
        agree=agree,
        adjusted=len(adj),
        exclude_zero=int(((a_lo > 0) | (a_hi < 0)).sum()),
        designs=designs,
        evalue_point=ev_p,
        evalue_ci=ev_ci,
        gamma=gamma,
        refuted_passed=passed,
        refuted_total=total,
        skipped=skipped,
    )


def _measure(frame: pd.DataFrame, method: str, estimand: str, measure: str, scale=None) -> float:
    """The measure of the primary row; with ``scale`` (the row's scale in estimates.csv) that scale's,
    as a key may have rows on several scales (km_ipw's risk difference and restricted mean)."""
    row = frame[(frame["method"] == method) & (frame["estimand"] == estimand) & (frame["measure"] == measure)]
    if isinstance(scale, str) and scale and "scale" in row:
        row = row[row["scale"].fillna("").astype(str) == scale]
    return _num(row["value"].iloc[0]) if len(row) else np.nan


def _value(answer: RunAnswer, value: pd.DataFrame) -> None:
    per = value[value["level"] == "per_client"]

    def triple(quantity: str) -> tuple[float, float, float] | None:
        row = per[(per["outcome"] == "total") & (per["quantity"] == quantity)]
        if row.empty:
            return None
        r = row.iloc[0]
        return _num(r["value"]), _num(r["ci_lower"]), _num(r["ci_upper"])

    answer.net_benefit = triple("net_benefit")
    answer.benefit_cost_ratio = triple("benefit_cost_ratio")
    net = per[(per["outcome"] == "total") & (per["quantity"] == "net_benefit")]
    if len(net) and {"psa_lower", "psa_upper", "p_positive"} <= set(net.columns):
        r = net.iloc[0]
        if np.isfinite(_num(r["psa_lower"])):
            answer.net_probabilistic = (_num(r["psa_lower"]), _num(r["psa_upper"]))
            answer.p_positive = _num(r["p_positive"])
    both = per[(per["outcome"] == "total_with_wellbeing") & (per["quantity"] == "net_benefit")]
    if len(both) and "psa_lower" in both:
        r = both.iloc[0]
        answer.with_wellbeing = (_num(r["value"]), _num(r["psa_lower"]), _num(r["psa_upper"]))
    totals = per["outcome"].astype(str).str.startswith("total")
    benefits = per[~totals & (per["quantity"] == "benefit")]
    amounts = pd.to_numeric(benefits["value"], errors="coerce").abs()
    flags = benefits["illustrative"].map(_as_bool) if "illustrative" in benefits else pd.Series(False)
    if amounts.notna().any() and amounts.sum() > 0:
        answer.illustrative_share = float(amounts[flags.to_numpy()].sum() / amounts.sum())
    cost = per[(per["outcome"] == "total") & (per["quantity"] == "cost")]
    answer.cost_illustrative = bool(len(cost) and _as_bool(cost["illustrative"].iloc[0]))
    years = pd.to_numeric(per.get("price_year", pd.Series(dtype=float)), errors="coerce").dropna()
    answer.price_year = int(years.iloc[0]) if len(years) else None


def agreement_words(o: OutcomeAnswer) -> str:
    """How far the adjusted estimates agree, in words."""
    if not o.adjusted:
        return "no other adjusted estimate to compare"
    return (
        f"{o.agree} of {o.adjusted} adjusted estimates ({', '.join(o.designs)}) have the same sign, "
        f"{o.exclude_zero} exclude no effect"
    )


def robustness_words(o: OutcomeAnswer) -> str:
    """The E-value, Rosenbaum's Gamma and the refuters, in words."""
    parts = []
    if np.isfinite(o.evalue_point):
        parts.append(f"E-value {_fmt(o.evalue_point)} (its CI limit {_fmt(o.evalue_ci)})")
    if np.isfinite(o.gamma):
        parts.append(f"Rosenbaum Gamma {o.gamma:.2f} (matched pairs)")
    if o.refuted_total:
        parts.append(f"{o.refuted_passed} of {o.refuted_total} refuters (DoWhy's) passed")
    return "; ".join(parts) if parts else "no robustness figures"


def money(x: float) -> str:
    return "-" if not np.isfinite(x) else (f"-£{abs(x):,.0f}" if x < 0 else f"£{x:,.0f}")


def value_words(answer: RunAnswer) -> str | None:
    """The net benefit and benefit-cost ratio per client, with their intervals, in words."""
    if answer.net_benefit is None:
        return None
    nb, lo, hi = answer.net_benefit
    text = f"net benefit {money(nb)} per treated client (95% interval {money(lo)} to {money(hi)})"
    if answer.benefit_cost_ratio is not None:
        r, rlo, rhi = answer.benefit_cost_ratio
        text += f", benefit-cost ratio {_fmt(r)} ({_fmt(rlo)} to {_fmt(rhi)})"
    if answer.net_probabilistic is not None:
        plo, phi = answer.net_probabilistic
        text += f"; with the unit values' ranges too, {money(plo)} to {money(phi)}"
        if answer.p_positive is not None and np.isfinite(answer.p_positive):
            text += f", probability of a positive net benefit {answer.p_positive:.0%}"
    if answer.with_wellbeing is not None:
        w, wlo, whi = answer.with_wellbeing
        text += f"; with the wellbeing value (WELLBYs) {money(w)} ({money(wlo)} to {money(whi)})"
    if answer.price_year:
        text += f", {answer.price_year} prices"
    return text


def illustrative_words(answer: RunAnswer) -> str | None:
    if answer.illustrative_share is None:
        return None
    share = f"{answer.illustrative_share:.0%} of the benefit rests on illustrative unit values"
    return share + (" and the cost is illustrative" if answer.cost_illustrative else "")


def console_summary(results: Path, cfg: dict | None, report: Path | None = None, brief: Path | None = None) -> str:
    """The lines the workflow prints when it has finished."""
    answer = run_answer(results, cfg)
    lines = ["", "deepvalue: the answer of this run (from results/*.csv; the report has the detail)"]
    if not answer.outcomes:
        lines.append("  no estimates yet (results/estimates.csv is missing)")
    for o in answer.outcomes:
        lines.append(f"  {o.sentence()} [{o.method} {o.estimand}]")
        lines.append(f"    agreement: {agreement_words(o)}")
        lines.append(f"    robustness: {robustness_words(o)}")
    words = value_words(answer)
    if words:
        lines.append(f"  value: {words}")
        ill = illustrative_words(answer)
        if ill:
            lines.append(f"    {ill}: not a result until they are replaced")
    if report is not None and Path(report).is_file():
        lines.append(f"  report: {Path(report).resolve()}")
    if brief is not None and Path(brief).is_file():
        lines.append(f"  brief: {Path(brief).resolve()}")
    return "\n".join(lines) + "\n"
