"""The report's sections, one function each: ``section_<id>(results, cfg)`` returns the HTML of
one ``<h2>`` section from the run's files under ``results/``; a missing file is said in its
section, never an error.
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
    esc,
    fmt_ci,
    fmt_count,
    fmt_num,
    html_table,
    img_tag,
    missing,
)
from deepvalue.publish.report_inputs import (
    checked_ingest,
    checked_table,
    cohort_arms,
    disclosure_settings,
)

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


def section_question(results: Path, cfg: dict) -> str:
    exp = cfg.get("exposure", {}) or {}
    outcomes = _outcome_names(cfg)
    question = cfg.get("question") or (
        "Does continuity of care - the same worker for most of a client's early contacts - change "
        "clients' outcomes, and what is that change worth? Exposure: continuity index "
        f"{exp.get('index', 'upc')} at or above {exp.get('threshold', DASH)} over the first "
        f"{exp.get('window_contacts', DASH)} contacts (within {exp.get('window_max_days', DASH)} days). "
        f"Outcomes: {', '.join(outcomes) if outcomes else DASH}."
    )
    parts = [f"<p><strong>Question.</strong> {esc(question)}</p>"]
    ingest = _read_json(results / "ingest_report.json")
    if ingest is None:
        parts.append(missing("ingest_report.json"))
        return "\n".join(parts)
    extract_date = ingest.get("extract_date", DASH)
    parts.append(
        f"<p><strong>Extract date:</strong> {esc(extract_date)} "
        f"(source: {esc(ingest.get('extract_date_source', DASH))}).</p>"
    )
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
    parts.append("<h3>Extract, by table</h3>")
    parts.append(
        html_table(
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
    )
    return "\n".join(parts)


def flow_diagram(flow: pd.DataFrame) -> str:
    """The flow.csv steps as an HTML/CSS box diagram: main boxes down, exclusions to the side."""
    out = ['<div class="flow">']
    first = True
    for rec in flow.to_dict("records"):
        step = str(rec.get("step", ""))
        reason = "" if _is_missing(rec.get("reason")) else str(rec.get("reason"))
        n_rem, n_exc = rec.get("n_remaining"), rec.get("n_excluded")
        if step in ("excluded", "unmatched", "recoded"):
            out.append(
                '<div class="flow-row"><div class="flow-arrow">&#8595;</div>'
                f'<div class="flow-excl">{esc(step)}: <strong>{esc(fmt_count(n_exc))}</strong>'
                f" &#8212; {esc(reason)}</div></div>"
            )
        else:
            if not first:
                out.append('<div class="flow-row"><div class="flow-arrow">&#8595;</div></div>')
            out.append(
                f'<div class="flow-row"><div class="flow-box">{esc(step)}<br>'
                f'<span class="flow-n">n = {esc(fmt_count(n_rem))}</span></div></div>'
            )
        first = False
    out.append("</div>")
    return "\n".join(out)


def questionnaire_reliability(results: Path, cfg: dict) -> str:
    """Internal consistency of the questionnaires (cohort/questionnaire_reliability.csv): Cronbach's
    alpha with Feldt's interval and McDonald's omega per entry and administration; nothing when no
    questionnaire is configured (the table is empty)."""
    from deepvalue.publish.disclosure import check_table
    from deepvalue.publish.html import _read_csv

    rel = "cohort/questionnaire_reliability.csv"
    raw = _read_csv(Path(results) / rel)
    if raw is None or raw.empty:
        return ""
    # n_items is the instrument's number of items, not a count of clients: not a disclosure cell
    min_cell, allow_zero = disclosure_settings(cfg, results)
    table = check_table(raw.rename(columns={"n_items": "items"}), rel, min_cell=min_cell, allow_zero=allow_zero)[0]
    return "\n".join(
        [
            "<h3>Questionnaires: internal consistency</h3>",
            "<p>Cronbach's alpha with Feldt's 95% interval and McDonald's omega (one-factor ML fit; "
            "'fits' when RMSEA &lt;= 0.08 and no Heywood case) over the complete answers of each chosen "
            "administration (docs/design.md, Questionnaires).</p>",
            html_table(
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
            ),
        ]
    )


def section_cohort_flow(results: Path, cfg: dict) -> str:
    parts = []
    flow = checked_table(results, "cohort/flow.csv", cfg)
    if flow is None:
        parts.append(missing("cohort/flow.csv"))
    else:
        parts.append("<h3>From the extract to the analysis cohort</h3>")
        parts.append(flow_diagram(flow))
    oflow = checked_table(results, "cohort/outcome_flow.csv", cfg)
    parts.append("<h3>Outcome flow</h3>")
    if oflow is None:
        parts.append(missing("cohort/outcome_flow.csv"))
    else:
        parts.append(
            html_table(
                oflow,
                [
                    Col("outcome"),
                    Col("step"),
                    Col("n_remaining", "n remaining", **COUNT),
                    Col("n_excluded", "n excluded", **COUNT),
                    Col("reason", **NOTE),
                ],
            )
        )
    parts.append(questionnaire_reliability(results, cfg))
    mflow = checked_table(results, "match/flow.csv", cfg)
    if mflow is not None:
        parts.append("<h3>Matching flow (treated clients)</h3>")
        parts.append(
            html_table(
                mflow,
                [
                    Col("step"),
                    Col("n_remaining", "n remaining", **COUNT),
                    Col("n_excluded", "n excluded", **COUNT),
                    Col("reason", **NOTE),
                ],
            )
        )
    return "\n".join(parts)


def section_exposure(results: Path, cfg: dict) -> str:
    k = disclosure_settings(cfg, results)[0]
    parts = []
    arms = cohort_arms(results, cfg)  # as balance_summary.csv publishes them
    if arms is not None:
        nt, nc = arms
        share = nt / (nt + nc) if nt + nc else float("nan")
        parts.append(
            f'<p class="info"><strong>Treated (continuous care) share:</strong> {esc(fmt_num(share))} '
            f"({esc(fmt_count(nt))} treated of {esc(fmt_count(nt + nc))} in the cohort; "
            f"{esc(fmt_count(nc))} controls).</p>"
        )
    else:
        parts.append(missing("match/balance_summary.csv (treated share)"))
    fig = results / "cohort" / "figures"
    parts.append(
        img_tag(
            fig / "continuity_by_service.png",
            "Continuity index by service",
            f"Continuity index by service. An index value with fewer than {k} clients in a service is merged "
            f"with a neighbouring value; a service with fewer than {k} clients is not drawn.",
        )
    )
    parts.append(
        img_tag(
            fig / "continuous_share_by_site.png",
            "Share with continuous care by site",
            f"Share of clients with continuous care, by site. A site with fewer than {k} clients, treated or "
            "controls is pooled into 'other sites', or left out when the pool is still below that (the note "
            "under the axis says which).",
        )
    )
    return "\n".join(parts)


def section_balance(results: Path, cfg: dict) -> str:
    k = disclosure_settings(cfg, results)[0]
    parts = []
    fig = results / "match" / "figures"
    parts.append(
        img_tag(
            fig / "love_plot.png",
            "Love plot of standardised mean differences",
            "Love plot: standardised mean differences before and after adjustment.",
        )
    )
    parts.append(
        img_tag(
            fig / "propensity_overlap.png",
            "Propensity score overlap",
            f"Propensity score distributions, treated and control; score bins of fewer than {k} clients are "
            "merged with their neighbours.",
        )
    )
    summary = _read_json(results / "match" / "summary.json")
    if summary is None:
        parts.append(missing("match/summary.json"))
    else:
        th = summary.get("thresholds", {})
        parts.append(
            f"<p>Thresholds: |SMD| &gt; {esc(fmt_num(th.get('smd')))}; variance ratio outside "
            f"{esc(' to '.join(fmt_num(v) for v in th.get('variance_ratio', [])) or DASH)}.</p>"
        )
        constant = summary.get("dropped_constant") or []
        if constant:
            parts.append(
                '<p class="notice" id="dropped-constant">Left out of every model because they take one value in '
                f"the cohort: {esc(', '.join(constant))}.</p>"
            )
        smd = summary.get("max_abs_smd", {})
        flagged = summary.get("flagged", {})
        rows = [
            {"adjustment": k, "max_abs_smd": smd[k], "flagged": ", ".join(flagged.get(k, [])) if k in flagged else ""}
            for k in sorted(smd)
        ]
        parts.append("<h3>Maximum |SMD| before and after adjustment</h3>")
        parts.append(
            html_table(
                pd.DataFrame(rows),
                [
                    Col("adjustment"),
                    Col("max_abs_smd", "max |SMD|", **NUM),
                    Col("flagged", "flagged covariates", **NOTE),
                ],
            )
        )
    bal = checked_table(results, "match/balance.csv", cfg)
    if bal is None:
        parts.append(missing("match/balance.csv"))
    else:
        flag = bal[bal["flagged"].map(_as_bool)] if "flagged" in bal else bal.iloc[0:0]
        parts.append("<h3>Flagged covariates</h3>")
        if flag.empty:
            parts.append("<p>No covariate flagged under any adjustment.</p>")
        else:
            parts.append(
                html_table(
                    flag,
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
            )
    return "\n".join(parts)


def _whole_cohort(frame: pd.DataFrame) -> pd.DataFrame:
    if "subgroup" not in frame:
        return frame
    sub = frame["subgroup"]
    return frame[sub.isna() | (sub.astype(str).str.strip() == "")]


def _is_skipped(frame: pd.DataFrame) -> pd.Series:
    notes = frame.get("notes", pd.Series("", index=frame.index)).fillna("").astype(str)
    return notes.str.startswith("skipped") | frame["estimate"].isna()


def section_estimates(results: Path, cfg: dict) -> str:
    parts = [
        img_tag(
            results / "figures" / "forest.png",
            "Forest plot of effect estimates",
            "Forest plot of the effect estimates with 95% confidence intervals; an estimate the published "
            "estimates.csv hides is not drawn.",
        ),
        img_tag(
            results / "figures" / "km_curves.png",
            "Weighted Kaplan-Meier curves by arm",
            "km_ipw: IPW-weighted cumulative incidence by arm for each time-to-event outcome (ATT and ATE "
            "weights), clients with incomplete follow-up censored at the extract date; each step holds at least "
            "disclosure.min_cell events and a curve stops before fewer than disclosure.min_cell clients are at risk.",
        ),
    ]
    est = checked_table(results, "estimates.csv", cfg)
    if est is None:
        parts.append(missing("estimates.csv"))
        return "\n".join(parts)
    skipped = _is_skipped(est)
    whole = _whole_cohort(est[~skipped]).copy()
    whole["ci"] = [fmt_ci(lo, hi) for lo, hi in zip(whole["ci_lower"], whole["ci_upper"])]
    parts.append("<h3>Whole-cohort estimates</h3>")
    parts.append(
        html_table(
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
        )
    )
    parts.append(_instrument_balance(results, cfg))
    n_sub = int((~skipped).sum() - len(whole))
    if n_sub:
        parts.append(f"<p>{esc(fmt_count(n_sub))} subgroup estimates are in estimates.csv (not repeated here).</p>")
    parts.append("<h3>Skipped methods</h3>")
    sk = est[skipped].copy()
    if sk.empty:
        parts.append("<p>No method was skipped.</p>")
    else:
        sk["reason"] = sk["notes"].fillna("").astype(str).str.replace(r"^skipped:\s*", "", regex=True)
        sk["subgroup"] = sk["subgroup"].fillna("").astype(str).replace("", "whole cohort")
        parts.append(
            html_table(sk, [Col("outcome"), Col("subgroup"), Col("method"), Col("estimand"), Col("reason", **NOTE)])
        )
    return "\n".join(parts)


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


def section_refutations(results: Path, cfg: dict) -> str:
    parts = ["<h3>Refutations (DoWhy)</h3>"]
    ref = checked_table(results, "refutations.csv", cfg)
    note = subsample_note(checked_table(results, "estimates.csv", cfg), ref)
    if note:
        parts.append(f'<p class="info">{esc(note)}</p>')
    if ref is None:
        parts.append(missing("refutations.csv"))
    else:
        n_pass = int(ref["passed"].map(_as_bool).sum())
        parts.append(f"<p>{esc(fmt_count(n_pass))} of {esc(fmt_count(len(ref)))} refutation checks passed.</p>")
        parts.append(
            html_table(
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
        )
    parts.append("<h3>Sensitivity to unmeasured confounding</h3>")
    sens = checked_table(results, "sensitivity.csv", cfg)
    if sens is None:
        parts.append(missing("sensitivity.csv"))
        return "\n".join(parts)
    parts.append(
        "<p>E-value (point and CI limit nearest the null; VanderWeele &amp; Ding 2017), Rosenbaum "
        "Gamma (matched pairs: 1:1 pairs without replacement, smallest Gamma at which the two-sided test stops rejecting) and robustness "
        "value RV (Cinelli &amp; Hazlett 2020; q = 1, and at alpha = 0.05).</p>"
    )
    measures = ["evalue_point", "evalue_ci", "rosenbaum_gamma", "rv_q1", "rv_q1_alpha"]
    keys = ["outcome", "method", "estimand"]
    order = list(dict.fromkeys(tuple(r) for r in sens[keys].itertuples(index=False, name=None)))
    rows = []
    for k in order:
        sel = sens[(sens["outcome"] == k[0]) & (sens["method"] == k[1]) & (sens["estimand"] == k[2])]
        row = dict(zip(keys, k))
        for m in measures:
            vals = sel.loc[sel["measure"] == m, "value"]
            row[m] = vals.iloc[0] if len(vals) else float("nan")
        rows.append(row)
    headers = {
        "evalue_point": "E-value (point)",
        "evalue_ci": "E-value (CI)",
        "rosenbaum_gamma": "Rosenbaum Gamma",
        "rv_q1": "RV",
        "rv_q1_alpha": "RV (alpha 0.05)",
    }
    parts.append(html_table(pd.DataFrame(rows), [Col(k) for k in keys] + [Col(m, headers[m], **NUM) for m in measures]))
    gamma = sens[sens["measure"] == "rosenbaum_gamma"]
    if not gamma.empty:
        parts.append("<p>Rosenbaum bounds, how each was computed:</p>")
        parts.append(
            html_table(gamma, [Col("outcome"), Col("method"), Col("value", "Gamma", **NUM), Col("notes", **NOTE)])
        )
    parts.append(_dml_sensitivity(results, cfg))
    return "\n".join(parts)


def _instrument_balance(results: Path, cfg: dict) -> str:
    """The departure instrument's balance table (results/instrument_balance.csv), when there is one."""
    table = checked_table(results, "instrument_balance.csv", cfg)
    if table is None or table.empty:
        return ""
    table = table.sort_values("smd", key=lambda s: -s.abs(), kind="stable")
    worst = table[table["covariate"] != "treatment"].head(1)
    lead = (
        f"The largest difference is in {esc(str(worst['covariate'].iloc[0]))} (SMD {fmt_num(worst['smd'].iloc[0])})."
        if len(worst)
        else ""
    )
    return (
        "<h3>Is a departure as good as random?</h3><p>The departure designs (iv, departure_reduced_form) "
        "need the allocated worker's leaving in the exposure window to be unrelated to the clients' outcomes "
        "except through continuity. The confounders, the window length and continuity itself (the row "
        f"treatment: the first stage) by departure, unadjusted. {lead}</p>"
        + html_table(
            table,
            [
                Col("covariate"),
                Col("mean_treated", "mean, worker left", **NUM),
                Col("mean_control", "mean, worker stayed", **NUM),
                Col("smd", "SMD", **NUM),
            ],
        )
    )


def _dml_sensitivity(results: Path, cfg: dict) -> str:
    """DoubleML's omitted-variable bounds for the dml rows, with the benchmarked confounders."""
    table = checked_table(results, "dml/sensitivity.csv", cfg)
    if table is None or table.empty:
        return ""
    intro = (
        "<h3>Omitted-variable bounds for the DML estimates (DoubleML)</h3><p>Chernozhukov, Cinelli, Newey, "
        "Sharma &amp; Syrgkanis (2022): the range an unobserved confounder could move the dml estimate to "
        "(bounds), with confidence bounds for that range (one-sided 95% each), and the robustness value RV "
        "(the strength, as a share of residual variation of outcome and treatment, that would bring the "
        "estimate to 0). Rows with a benchmark: a confounder as strong as that observed covariate, whose "
        "strength (cf_y, cf_d, rho) DoubleML measures by leaving it out and refitting.</p>"
    )
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
    return intro + html_table(table.fillna({"benchmark": ""}), cols)


def _without_examples(text: str) -> str:
    """A warning without its "(e.g. ...)" examples.

    >>> _without_examples("10 rows have a client_id not in the clients table (e.g. 'c002', 'c001'); dropped")
    '10 rows have a client_id not in the clients table; dropped'
    """
    return re.sub(r"\s*\(e\.g\. [^()]*\)", "", text)
