"""The report's sections: ``<id>_context(results, cfg)`` reads the run's files under ``results/`` and returns
what the section says as plain data (text already formatted, tables as :func:`~deepvalue.publish.html.table_data`);
``templates/section-<id>.html.j2`` lays it out, escaped. ``section_<id>(results, cfg)`` renders that one section.
A missing file is said in its section, never an error.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd

from deepvalue.publish.html import (
    COUNT,
    DASH,
    NOTE,
    NUM,
    Col,
    _as_bool,
    _is_missing,
    _read_json,
    figure_data,
    fmt_ci,
    fmt_count,
    fmt_num,
    table_data,
)
from deepvalue.publish.report_inputs import (
    checked_ingest,
    checked_table,
    cohort_arms,
    disclosure_settings,
)
from deepvalue.publish.templating import render

#: The figures the report embeds, relative to the results folder.
FIGURES = (
    "cohort/figures/continuity_by_service.png",
    "cohort/figures/continuous_share_by_site.png",
    "match/figures/love_plot.png",
    "match/figures/propensity_overlap.png",
    "figures/forest.png",
    "figures/km_curves.png",
    "figures/value_tornado.png",
)

ILLUSTRATIVE_NOTICE = (
    "ILLUSTRATIVE VALUES: unit values marked illustrative are placeholders until replaced by "
    "checked figures (config/values.yaml). Every money figure that depends on one is not a result."
)


# ------------------------------------------------------------------------------ sections


def _outcome_names(cfg: dict) -> list[str]:
    return [str(o["name"]) for o in cfg.get("outcomes", []) if isinstance(o, dict) and "name" in o]


def question_context(results: Path, cfg: dict) -> dict[str, Any]:
    """The question (from the config) and the extract's tables as the flow check leaves their counts."""
    exp = cfg.get("exposure", {}) or {}
    outcomes = _outcome_names(cfg)
    question = cfg.get("question") or (
        "Does continuity of care - the same worker for most of a client's early contacts - change "
        "clients' outcomes, and what is that change worth? Exposure: continuity index "
        f"{exp.get('index', 'upc')} at or above {exp.get('threshold', DASH)} over the first "
        f"{exp.get('window_contacts', DASH)} contacts (within {exp.get('window_max_days', DASH)} days). "
        f"Outcomes: {', '.join(outcomes) if outcomes else DASH}."
    )
    ingest = _read_json(results / "ingest_report.json")
    if ingest is None:
        return {"question": question, "tables": None}
    rows = []
    checked = checked_ingest(results, cfg) or {}
    for name in sorted(ingest.get("tables", {})):
        t, c = ingest["tables"][name], checked.get(name, {})
        # counts as the flow check leaves them: a small number of dropped rows shows as a dash
        dropped = [(reason, n) for reason, n in c.get("dropped", []) if _is_missing(n) or n]
        reasons = "; ".join(f"{reason}: {fmt_count(n)}" for reason, n in dropped) or "none"
        path = t.get("path", t.get("file", ""))
        read, written = c.get("rows_read"), c.get("rows_written")
        rows.append(
            {
                "table": name,
                "path": path if isinstance(path, str) else json.dumps(path, sort_keys=True),
                "rows_read": read,
                "rows_written": written,
                "rows_dropped": DASH if _is_missing(read) or _is_missing(written) else read - written,
                "reasons": reasons,
                # the examples in a warning (ids, dates, rows) are for the analyst's log, not a report
                "warnings": "; ".join(_without_examples(str(w)) for w in c.get("warnings", [])),
            }
        )
    tables = table_data(
        pd.DataFrame(rows),
        [
            Col("table"),
            Col("path", "file"),
            Col("rows_read", "rows read", **COUNT),
            Col("rows_written", "rows written", **COUNT),
            Col("rows_dropped", "rows dropped", **COUNT),
            Col("reasons", "drop reasons (rows)", **NOTE),
            Col("warnings", **NOTE),
        ],
    )
    return {
        "question": question,
        "extract_date": ingest.get("extract_date", DASH),
        "extract_date_source": ingest.get("extract_date_source", DASH),
        "tables": tables,
    }


def section_question(results: Path, cfg: dict) -> str:
    return render("section-question-and-data.html.j2", s=question_context(results, cfg))


def flow_steps(flow: pd.DataFrame) -> list[dict[str, Any]]:
    """The flow.csv steps for the ``flow`` macro: main boxes down (n remaining), exclusions to the side."""
    steps = []
    for rec in flow.to_dict("records"):
        step = str(rec.get("step", ""))
        excluded = step in ("excluded", "unmatched", "recoded")
        steps.append(
            {
                "step": step,
                "excluded": excluded,
                "n": fmt_count(rec.get("n_excluded") if excluded else rec.get("n_remaining")),
                "reason": "" if _is_missing(rec.get("reason")) else str(rec.get("reason")),
            }
        )
    return steps


def questionnaire_reliability(results: Path, cfg: dict) -> dict[str, Any] | None:
    """Internal consistency of the questionnaires (cohort/questionnaire_reliability.csv): Cronbach's
    alpha with Feldt's interval and McDonald's omega per entry and administration, as a table; None when no
    questionnaire is configured (the table is empty)."""
    from deepvalue.publish.disclosure import check_table
    from deepvalue.publish.html import _read_csv

    rel = "cohort/questionnaire_reliability.csv"
    raw = _read_csv(Path(results) / rel)
    if raw is None or raw.empty:
        return None
    # n_items is the instrument's number of items, not a count of clients: not a disclosure cell
    min_cell, allow_zero = disclosure_settings(cfg, results)
    table = check_table(raw.rename(columns={"n_items": "items"}), rel, min_cell=min_cell, allow_zero=allow_zero)[0]
    return table_data(
        table,
        [
            Col("questionnaire"),
            Col("administration"),
            Col("n", "n administrations", **COUNT),
            Col("items", **COUNT),
            Col("alpha", "alpha", **NUM),
            Col("alpha_ci_lower", "alpha 95% CI lower", **NUM),
            Col("alpha_ci_upper", "alpha 95% CI upper", **NUM),
            Col("omega", "omega", **NUM),
            Col("rmsea", "RMSEA", **NUM),
            Col("one_factor_fits", "one factor fits"),
            Col("notes", **NOTE),
        ],
    )


def cohort_flow_context(results: Path, cfg: dict) -> dict[str, Any]:
    flow = checked_table(results, "cohort/flow.csv", cfg)
    oflow = checked_table(results, "cohort/outcome_flow.csv", cfg)
    mflow = checked_table(results, "match/flow.csv", cfg)
    step_cols = [
        Col("n_remaining", "n remaining", **COUNT),
        Col("n_excluded", "n excluded", **COUNT),
        Col("reason", **NOTE),
    ]
    return {
        "flow": None if flow is None else flow_steps(flow),
        "outcome_flow": None if oflow is None else table_data(oflow, [Col("outcome"), Col("step"), *step_cols]),
        "reliability": questionnaire_reliability(results, cfg),
        "match_flow": None if mflow is None else table_data(mflow, [Col("step"), *step_cols]),
    }


def section_cohort_flow(results: Path, cfg: dict) -> str:
    return render("section-cohort-flow.html.j2", s=cohort_flow_context(results, cfg))


def exposure_context(results: Path, cfg: dict) -> dict[str, Any]:
    k = disclosure_settings(cfg, results)[0]
    arms = cohort_arms(results, cfg)  # as balance_summary.csv publishes them
    shares = None
    if arms is not None:
        nt, nc = arms
        shares = {
            "share": fmt_num(nt / (nt + nc) if nt + nc else float("nan")),
            "treated": fmt_count(nt),
            "total": fmt_count(nt + nc),
            "control": fmt_count(nc),
        }
    fig = results / "cohort" / "figures"
    return {
        "arms": shares,
        "figures": [
            figure_data(
                fig / "continuity_by_service.png",
                "Continuity index by service",
                f"Continuity index by service. An index value with fewer than {k} clients in a service is merged "
                f"with a neighbouring value; a service with fewer than {k} clients is not drawn.",
            ),
            figure_data(
                fig / "continuous_share_by_site.png",
                "Share with continuous care by site",
                f"Share of clients with continuous care, by site. A site with fewer than {k} clients, treated or "
                "controls is pooled into 'other sites', or left out when the pool is still below that (the note "
                "under the axis says which).",
            ),
        ],
    }


def section_exposure(results: Path, cfg: dict) -> str:
    return render("section-exposure.html.j2", s=exposure_context(results, cfg))


def balance_context(results: Path, cfg: dict) -> dict[str, Any]:
    k = disclosure_settings(cfg, results)[0]
    fig = results / "match" / "figures"
    figures = [
        figure_data(
            fig / "love_plot.png",
            "Love plot of standardised mean differences",
            "Love plot: standardised mean differences before and after adjustment.",
        ),
        figure_data(
            fig / "propensity_overlap.png",
            "Propensity score overlap",
            f"Propensity score distributions, treated and control; score bins of fewer than {k} clients are "
            "merged with their neighbours.",
        ),
    ]
    summary = _read_json(results / "match" / "summary.json")
    shown = None
    if summary is not None:
        th = summary.get("thresholds", {})
        smd = summary.get("max_abs_smd", {})
        flagged = summary.get("flagged", {})
        rows = [
            {"adjustment": k, "max_abs_smd": smd[k], "flagged": ", ".join(flagged.get(k, [])) if k in flagged else ""}
            for k in sorted(smd)
        ]
        shown = {
            "smd": fmt_num(th.get("smd")),
            "variance_ratio": " to ".join(fmt_num(v) for v in th.get("variance_ratio", [])) or DASH,
            "constant": ", ".join(summary.get("dropped_constant") or []),
            "max_smd": table_data(
                pd.DataFrame(rows),
                [
                    Col("adjustment"),
                    Col("max_abs_smd", "max |SMD|", **NUM),
                    Col("flagged", "flagged covariates", **NOTE),
                ],
            ),
        }
    bal = checked_table(results, "match/balance.csv", cfg)
    flag = None
    if bal is not None:
        flag = table_data(
            bal[bal["flagged"].map(_as_bool)] if "flagged" in bal else bal.iloc[0:0],
            [
                Col("covariate"),
                Col("adjustment"),
                Col("mean_treated", "mean treated", **NUM),
                Col("mean_control", "mean control", **NUM),
                Col("smd", "SMD", **NUM),
                Col("variance_ratio", "variance ratio", **NUM),
                Col("ks", "KS", **NUM),
            ],
        )
    return {"figures": figures, "summary": shown, "flagged": flag}


def section_balance(results: Path, cfg: dict) -> str:
    return render("section-balance.html.j2", s=balance_context(results, cfg))


def _whole_cohort(frame: pd.DataFrame) -> pd.DataFrame:
    if "subgroup" not in frame:
        return frame
    sub = frame["subgroup"]
    return frame[sub.isna() | (sub.astype(str).str.strip() == "")]


def _is_skipped(frame: pd.DataFrame) -> pd.Series:
    notes = frame.get("notes", pd.Series("", index=frame.index)).fillna("").astype(str)
    return notes.str.startswith("skipped") | frame["estimate"].isna()


def estimates_context(results: Path, cfg: dict) -> dict[str, Any]:
    figures = [
        figure_data(
            results / "figures" / "forest.png",
            "Forest plot of effect estimates",
            "Forest plot of the effect estimates with 95% confidence intervals; an estimate the published "
            "estimates.csv hides is not drawn.",
        ),
        figure_data(
            results / "figures" / "km_curves.png",
            "Weighted Kaplan-Meier curves by arm",
            "km_ipw: IPW-weighted cumulative incidence by arm for each time-to-event outcome (ATT and ATE "
            "weights), clients with incomplete follow-up censored at the extract date; each step holds at least "
            "disclosure.min_cell events and a curve stops before fewer than disclosure.min_cell clients are at risk.",
        ),
    ]
    est = checked_table(results, "estimates.csv", cfg)
    if est is None:
        return {"figures": figures, "whole": None}
    skipped = _is_skipped(est)
    whole = _whole_cohort(est[~skipped]).copy()
    whole["ci"] = [fmt_ci(lo, hi) for lo, hi in zip(whole["ci_lower"], whole["ci_upper"])]
    sk = est[skipped].copy()
    if not sk.empty:
        sk["reason"] = sk["notes"].fillna("").astype(str).str.replace(r"^skipped:\s*", "", regex=True)
        sk["subgroup"] = sk["subgroup"].fillna("").astype(str).replace("", "whole cohort")
    return {
        "figures": figures,
        "whole": table_data(
            whole,
            [
                Col("outcome"),
                Col("method"),
                Col("estimand"),
                Col("estimate", **NUM),
                Col("std_error", "SE", **NUM),
                Col("ci", "95% CI", cls="num"),
                Col("p_value", "p", **NUM),
                Col("n_treated", "n treated", **COUNT),
                Col("n_control", "n control", **COUNT),
                Col("scale"),
                Col("notes", **NOTE),
            ],
        ),
        "instrument": _instrument_balance(results, cfg),
        "n_subgroup": fmt_count(n_sub) if (n_sub := int((~skipped).sum() - len(whole))) else "",
        "skipped": table_data(
            sk, [Col("outcome"), Col("subgroup"), Col("method"), Col("estimand"), Col("reason", **NOTE)]
        ),
    }


def section_estimates(results: Path, cfg: dict) -> str:
    return render("section-estimates.html.j2", s=estimates_context(results, cfg))


def _pass_fail(x: Any) -> str:
    if _is_missing(x):
        return DASH
    return "PASS" if _as_bool(x) else "FAIL"


def _pass_fail_mark(x: Any) -> str:
    """The class that colours a refuter's result (none for a missing one)."""
    return "" if _is_missing(x) else ("pass" if _as_bool(x) else "fail")


_SUBSAMPLE = re.compile(r"stratified subsample of (\d+) of (\d+) rows")
_BOOT_SUBSAMPLE = re.compile(r"bootstrap: (\d+) replicates of (\d+) rows drawn from")


def subsample_note(estimates: pd.DataFrame | None, refutations: pd.DataFrame | None) -> str:
    """One sentence naming every DoWhy step that ran on a subsample, from the tables' own notes.

    Examples
    --------
    >>> est = pd.DataFrame({"outcome": ["y"] * 3, "subgroup": [""] * 3,
    ...     "method": ["naive", "dowhy_regression", "dowhy_psm"], "n_treated": [200000, 52000, 52000],
    ...     "n_control": [253355, 48000, 48000], "notes": ["",
    ...     "stratified subsample of 100000 of 453355 rows (seed 1)",
    ...     "stratified subsample of 100000 of 453355 rows (seed 1); bootstrap: 100 replicates of "
    ...     "10000 rows drawn from the 100000 (m-out-of-n), SE and CI scaled by sqrt(10000/100000)"]})
    >>> subsample_note(est, pd.DataFrame({"outcome": ["y"], "n_used": [10000]}))
    'Run on subsamples (stratified by treatment): DoWhy estimates, y 100,000 of 453,355 clients; their bootstrap, replicates of 10,000 rows drawn from all (m-out-of-n; SE and CI rescaled to the full size); DoWhy refuters, y 10,000 of 453,355 clients. Our own estimates use every client.'
    >>> subsample_note(est.iloc[:1], pd.DataFrame({"outcome": ["y"], "n_used": [453355]}))
    ''
    """
    parts = []
    if estimates is not None and "notes" in estimates:
        dowhy = estimates[estimates["method"].astype(str).str.startswith("dowhy_")]
        sub = {}
        boot = set()
        for outcome, note in zip(dowhy["outcome"], dowhy["notes"].fillna("").astype(str)):
            if m := _SUBSAMPLE.search(note):
                sub[outcome] = (int(m.group(1)), int(m.group(2)))
            if m := _BOOT_SUBSAMPLE.search(note):
                boot.add(int(m.group(2)))
        if sub:
            parts.append(
                "DoWhy estimates, "
                + ", ".join(f"{o} {fmt_count(a)} of {fmt_count(b)} clients" for o, (a, b) in sub.items())
            )
        if boot:
            parts.append(
                "their bootstrap, replicates of "
                + " or ".join(f"{fmt_count(b)}" for b in sorted(boot))
                + " rows drawn from all (m-out-of-n; SE and CI rescaled to the full size)"
            )
    if refutations is not None and "n_used" in refutations and not refutations.empty:
        used = refutations.dropna(subset=["n_used"]).groupby("outcome", sort=False)["n_used"].max()
        total = _analysed_clients(estimates)
        cut = [(o, n, total[o]) for o, n in used.items() if o in total and n < total[o]]
        if cut:
            parts.append(
                "DoWhy refuters, " + ", ".join(f"{o} {fmt_count(n)} of {fmt_count(t)} clients" for o, n, t in cut)
            )
    if not parts:
        return ""
    return "Run on subsamples (stratified by treatment): " + "; ".join(parts) + ". Our own estimates use every client."


def _analysed_clients(estimates: pd.DataFrame | None) -> dict[str, int]:
    """Clients analysed per outcome: treated + control of the whole-cohort naive comparison."""
    if estimates is None or not {"method", "subgroup", "n_treated", "n_control"} <= set(estimates):
        return {}
    whole = estimates["subgroup"].isna() | (estimates["subgroup"].astype(str) == "")
    rows = estimates[(estimates["method"] == "naive") & whole]
    return {
        o: int(a + b)
        for o, a, b in zip(rows["outcome"], rows["n_treated"], rows["n_control"])
        if not (_is_missing(a) or _is_missing(b))
    }


def refutations_context(results: Path, cfg: dict) -> dict[str, Any]:
    ref = checked_table(results, "refutations.csv", cfg)
    out: dict[str, Any] = {
        "subsample_note": subsample_note(checked_table(results, "estimates.csv", cfg), ref),
        "refutations": None,
        "sensitivity": None,
    }
    if ref is not None:
        out["n_passed"] = fmt_count(int(ref["passed"].map(_as_bool).sum()))
        out["n_checks"] = fmt_count(len(ref))
        out["refutations"] = table_data(
            ref,
            [
                Col("outcome"),
                Col("refuter"),
                Col("estimate", **NUM),
                Col("new_effect", "new effect", **NUM),
                Col("p_value", "p", **NUM),
                Col("passed", "result", fmt=_pass_fail, mark=_pass_fail_mark),
                Col("n_used", "n used", **COUNT),
                Col("simulations", **COUNT),
                Col("reading", **NOTE),
            ],
        )
    sens = checked_table(results, "sensitivity.csv", cfg)
    if sens is None:
        return out
    measures = ["evalue_point", "evalue_ci", "rosenbaum_gamma", "rv_q1", "rv_q1_alpha"]
    # a key can have rows on several scales (km_ipw, dose_levels' level contrasts): the scale is a key too;
    # a key with only a "skipped" row (a restricted mean in days) is left out, its reason is in sensitivity.csv
    keys = ["outcome", "method", "estimand", "scale"] if "scale" in sens else ["outcome", "method", "estimand"]
    shown = sens[sens["measure"].isin(measures)]
    if "scale" in shown:
        shown = shown.assign(scale=shown["scale"].fillna(""))
    shown = shown.drop_duplicates([*keys, "measure"])  # the first row of a measure, as the table always showed
    order = pd.MultiIndex.from_frame(shown[keys].drop_duplicates())
    table = (
        shown.pivot(index=keys, columns="measure", values="value")
        .reindex(order)
        .reindex(columns=measures)
        .reset_index()
        if len(shown)
        else pd.DataFrame(columns=[*keys, *measures])
    )
    headers = {
        "evalue_point": "E-value (point)",
        "evalue_ci": "E-value (CI)",
        "rosenbaum_gamma": "Rosenbaum Gamma",
        "rv_q1": "RV",
        "rv_q1_alpha": "RV (alpha 0.05)",
    }
    out["sensitivity"] = table_data(table, [Col(k) for k in keys] + [Col(m, headers[m], **NUM) for m in measures])
    gamma = sens[sens["measure"] == "rosenbaum_gamma"]
    out["gamma"] = (
        None
        if gamma.empty
        else table_data(gamma, [Col("outcome"), Col("method"), Col("value", "Gamma", **NUM), Col("notes", **NOTE)])
    )
    out["dml"] = _dml_sensitivity(results, cfg)
    return out


def section_refutations(results: Path, cfg: dict) -> str:
    return render("section-refutations-and-sensitivity.html.j2", s=refutations_context(results, cfg))


def _instrument_balance(results: Path, cfg: dict) -> dict[str, Any] | None:
    """The departure instrument's balance table (results/instrument_balance.csv), when there is one."""
    table = checked_table(results, "instrument_balance.csv", cfg)
    if table is None or table.empty:
        return None
    table = table.sort_values("smd", key=lambda s: -s.abs(), kind="stable")
    worst = table[table["covariate"] != "treatment"].head(1)
    return {
        "worst": str(worst["covariate"].iloc[0]) if len(worst) else "",
        "worst_smd": fmt_num(worst["smd"].iloc[0]) if len(worst) else "",
        "table": table_data(
            table,
            [
                Col("covariate"),
                Col("mean_treated", "mean, worker left", **NUM),
                Col("mean_control", "mean, worker stayed", **NUM),
                Col("smd", "SMD", **NUM),
            ],
        ),
    }


def _dml_sensitivity(results: Path, cfg: dict) -> dict[str, Any] | None:
    """DoubleML's omitted-variable bounds for the dml rows, with the benchmarked confounders."""
    table = checked_table(results, "dml/sensitivity.csv", cfg)
    if table is None or table.empty:
        return None
    cols = [
        Col("outcome"),
        Col("estimand"),
        Col("benchmark", "as strong as"),
        Col("cf_y", **NUM),
        Col("cf_d", **NUM),
        Col("rho", **NUM),
        Col("estimate", **NUM),
        Col("theta_lower", "bound low", **NUM),
        Col("theta_upper", "bound high", **NUM),
        Col("ci_lower", "CI low", **NUM),
        Col("ci_upper", "CI high", **NUM),
        Col("rv", "RV", **NUM),
        Col("notes", **NOTE),
    ]
    return table_data(table.fillna({"benchmark": ""}), cols)


def _without_examples(text: str) -> str:
    """A warning without its "(e.g. ...)" examples.

    >>> _without_examples("10 rows have a client_id not in the clients table (e.g. 'c002', 'c001'); dropped")
    '10 rows have a client_id not in the clients table; dropped'
    """
    return re.sub(r"\s*\(e\.g\. [^()]*\)", "", text)
