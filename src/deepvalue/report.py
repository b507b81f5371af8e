"""One self-contained HTML report of a pipeline run.

:func:`build_report` reads the tables, figures and JSON files a workflow run leaves under
``results/`` and writes a single HTML file: CSS inline, every figure embedded as a base64
``data:`` URI, no scripts and no external links, so the file renders offline and can be mailed
or archived as it is.

The bytes are a function of the inputs only: no timestamps, dictionary keys in sorted order,
numbers formatted by :func:`fmt_num` / :func:`fmt_count`. Every table cell is escaped with
:func:`html.escape`.

Sections (each an ``<h2>`` with the id in :data:`SECTION_IDS`): question and data, cohort flow,
exposure, balance, estimates, refutations and sensitivity, value, validation, disclosure,
provenance. A missing input file does not stop the report: its section says what is missing.

Command line: ``python -m deepvalue.report --results results --config config/config.yaml
--out results/report.html [--validation-md docs/validation.md]``.
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import math
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd

SECTION_IDS = (
    "question-and-data",
    "cohort-flow",
    "exposure",
    "balance",
    "estimates",
    "refutations-and-sensitivity",
    "value",
    "validation",
    "disclosure",
    "provenance",
)

SECTION_TITLES = {
    "question-and-data": "Question and data",
    "cohort-flow": "Cohort flow",
    "exposure": "Exposure",
    "balance": "Balance",
    "estimates": "Estimates",
    "refutations-and-sensitivity": "Refutations and sensitivity",
    "value": "Value",
    "validation": "Validation against known truth",
    "disclosure": "Disclosure control",
    "provenance": "Provenance",
}

#: The figures the report embeds, relative to the results folder.
FIGURES = (
    "cohort/figures/continuity_by_service.png",
    "cohort/figures/continuous_share_by_site.png",
    "match/figures/love_plot.png",
    "match/figures/propensity_overlap.png",
    "figures/forest.png",
)

ILLUSTRATIVE_NOTICE = (
    "ILLUSTRATIVE VALUES: unit values marked illustrative are placeholders until replaced by "
    "checked figures (config/values.yaml). Every money figure that depends on one is not a result."
)

DASH = "\u2014"

CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0 auto;max-width:1180px;
padding:1em 2em;color:#222;line-height:1.4}
h1{border-bottom:3px solid #2b5d8a;padding-bottom:.2em}
h2{border-bottom:1px solid #bbb;margin-top:2em;color:#2b5d8a}
table{border-collapse:collapse;margin:.6em 0 1.2em 0;font-size:.85em}
th,td{border:1px solid #ccc;padding:3px 7px;vertical-align:top}
th{background:#eef2f6;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.note{font-size:.9em;color:#444;max-width:42em}
img{max-width:100%;height:auto;border:1px solid #ddd;margin:.4em 0}
figure{margin:.6em 0}
figcaption{font-size:.85em;color:#555}
.notice{border:3px solid #b00020;background:#fff0f0;color:#7a0014;padding:.8em 1em;font-weight:bold;
margin:1em 0}
.info{border-left:4px solid #2b5d8a;background:#f3f7fb;padding:.5em 1em;margin:.8em 0}
.pass{color:#0a6b2d;font-weight:bold}
.fail{color:#b00020;font-weight:bold}
.missing{color:#8a5a00;font-style:italic}
.flow{display:flex;flex-direction:column;align-items:flex-start;gap:0;margin:1em 0}
.flow-row{display:flex;align-items:center;gap:1.2em}
.flow-box{border:2px solid #2b5d8a;background:#f3f7fb;padding:.5em .9em;width:18em;box-sizing:border-box;
text-align:center;border-radius:4px}
.flow-excl{border:1px dashed #b06000;background:#fff7ec;padding:.35em .7em;max-width:30em;font-size:.85em;
border-radius:4px}
.flow-arrow{width:18em;text-align:center;color:#2b5d8a;font-size:1.3em;line-height:1.1}
.flow-n{font-size:1.15em;font-weight:bold}
nav ul{columns:2;font-size:.95em}
code{background:#f2f2f2;padding:0 .2em}
"""


# ------------------------------------------------------------------------------ number formats


def _is_missing(x: Any) -> bool:
    if x is None:
        return True
    try:
        return bool(pd.isna(x))
    except (TypeError, ValueError):
        return False


def fmt_num(x: Any, sig: int = 4) -> str:
    """A number to `sig` significant digits, with thousands separators; missing -> an em dash.

    >>> fmt_num(3199468.37)
    '3,199,000'
    >>> fmt_num(0.0934206)
    '0.09342'
    >>> fmt_num(1176.92)
    '1,177'
    >>> fmt_num(-0.2864604)
    '-0.2865'
    >>> fmt_num(0.1), fmt_num(2.0), fmt_num(9999.7)
    ('0.1', '2', '10,000')
    >>> fmt_num(3.571822e-16)
    '3.572e-16'
    >>> fmt_num(float("nan")) == DASH
    True
    """
    if _is_missing(x):
        return DASH
    if isinstance(x, bool):
        return "yes" if x else "no"
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == 0:
        return "0"
    exponent = math.floor(math.log10(abs(v)))
    if exponent < -4:
        return f"{v:.{sig - 1}e}"
    decimals = sig - 1 - exponent
    rounded = round(v, decimals)
    if rounded != 0 and math.floor(math.log10(abs(rounded))) > exponent:  # 9999.7 -> 10,000
        decimals -= 1
        rounded = round(v, decimals)
    text = f"{rounded:,.{max(decimals, 0)}f}"
    if "." in text:  # as %g: no trailing zeros (0.1, not 0.1000)
        text = text.rstrip("0").rstrip(".")
    return text


def fmt_count(x: Any) -> str:
    """A count with thousands separators: ``fmt_count(38926) == '38,926'``; missing -> em dash.

    >>> fmt_count(38926.0)
    '38,926'
    """
    if _is_missing(x):
        return DASH
    try:
        return f"{int(round(float(x))):,d}"
    except (TypeError, ValueError):
        return str(x)


def fmt_ci(lo: Any, hi: Any) -> str:
    """``'lo to hi'`` with :func:`fmt_num`; em dash when either limit is missing."""
    if _is_missing(lo) or _is_missing(hi):
        return DASH
    return f"{fmt_num(lo)} to {fmt_num(hi)}"


def fmt_bool(x: Any) -> str:
    if _is_missing(x):
        return DASH
    if isinstance(x, str):
        return "yes" if x.strip().lower() in ("true", "1", "yes") else "no"
    return "yes" if bool(x) else "no"


def _as_bool(x: Any) -> bool:
    return fmt_bool(x) == "yes"


# ------------------------------------------------------------------------------ HTML pieces


def esc(x: Any) -> str:
    return html.escape("" if x is None else str(x), quote=True)


class Col:
    """One table column: source column name, header, formatter and CSS class of the cells."""

    def __init__(self, name: str, header: str | None = None, fmt: Callable[[Any], str] | None = None,
                 cls: str = "", raw: bool = False) -> None:
        self.name = name
        self.header = header if header is not None else name
        self.fmt = fmt or (lambda v: DASH if _is_missing(v) else str(v))
        self.cls = cls
        self.raw = raw  # fmt returns trusted HTML (built from escaped pieces)


NUM = dict(fmt=fmt_num, cls="num")
COUNT = dict(fmt=fmt_count, cls="num")
NOTE = dict(cls="note")


def html_table(frame: pd.DataFrame, cols: Iterable[Col] | None = None) -> str:
    """An escaped HTML table of `frame` (all columns as text when `cols` is None)."""
    if cols is None:
        cols = [Col(str(c)) for c in frame.columns]
    cols = list(cols)
    head = "".join(f"<th>{esc(c.header)}</th>" for c in cols)
    body = []
    for rec in frame.to_dict("records"):
        cells = []
        for c in cols:
            text = c.fmt(rec.get(c.name))
            cell = text if c.raw else esc(text)
            attr = f' class="{c.cls}"' if c.cls else ""
            cells.append(f"<td{attr}>{cell}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>\n" + "\n".join(body) + "\n</tbody></table>"


def kv_table(pairs: Iterable[tuple[str, str]]) -> str:
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in pairs)
    return f"<table><tbody>{rows}</tbody></table>"


def img_tag(path: Path, alt: str, caption: str = "") -> str:
    """A figure with the image embedded as a base64 data URI; a notice if the file is missing."""
    if not path.is_file():
        return f'<p class="missing">Figure not available: {esc(path.name)} was not found.</p>'
    mime = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg",
            ".jpeg": "image/jpeg"}.get(path.suffix.lower(), "application/octet-stream")
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="data:{mime};base64,{data}" alt="{esc(alt)}">{cap}</figure>'


def missing(what: str) -> str:
    return f'<p class="missing">Not available: {esc(what)} was not found in the results folder.</p>'


def _read_csv(path: Path) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    return pd.read_csv(path, keep_default_na=True)


def _checked(results: Path, rel: str) -> pd.DataFrame | None:
    """A table as published: the disclosure-checked copy under publish/ when there is one."""
    published = _read_csv(results / "publish" / rel)
    return published if published is not None else _read_csv(results / rel)


def _read_json(path: Path) -> dict | None:
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def _inline_md(text: str) -> str:
    """Escape `text` and turn markdown ``code`` spans into <code>."""
    parts = re.split(r"(`[^`]*`)", text)
    out = []
    for p in parts:
        if len(p) >= 2 and p.startswith("`") and p.endswith("`"):
            out.append(f"<code>{esc(p[1:-1])}</code>")
        else:
            out.append(esc(p))
    return "".join(out)


def markdown_to_html(text: str) -> str:
    """A small, safe markdown subset: headings (as h3/h4), paragraphs, pipe tables, code spans.

    >>> markdown_to_html("| a | b |\\n|---|---:|\\n| x<y | 2 |")
    '<table><thead><tr><th>a</th><th>b</th></tr></thead><tbody>\\n<tr><td>x&lt;y</td><td class="num">2</td></tr>\\n</tbody></table>'
    """
    blocks: list[str] = []
    lines = text.splitlines()
    i = 0
    para: list[str] = []

    def flush() -> None:
        if para:
            blocks.append("<p>" + _inline_md(" ".join(s.strip() for s in para)) + "</p>")
            para.clear()

    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith("|"):
            flush()
            rows = []
            while i < len(lines) and lines[i].strip().startswith("|"):
                rows.append([c.strip() for c in lines[i].strip().strip("|").split("|")])
                i += 1
            header, align = rows[0], []
            body = rows[1:]
            if body and all(re.fullmatch(r":?-+:?", c) for c in body[0]):
                align = ["num" if c.endswith(":") else "" for c in body[0]]
                body = body[1:]
            head = "".join(f"<th>{_inline_md(c)}</th>" for c in header)
            trs = []
            for r in body:
                tds = []
                for j, c in enumerate(r):
                    cls = align[j] if j < len(align) else ""
                    attr = f' class="{cls}"' if cls else ""
                    tds.append(f"<td{attr}>{_inline_md(c)}</td>")
                trs.append("<tr>" + "".join(tds) + "</tr>")
            blocks.append(f"<table><thead><tr>{head}</tr></thead><tbody>\n" + "\n".join(trs)
                          + "\n</tbody></table>")
            continue
        m = re.match(r"^(#{1,6})\s+(.*)$", stripped)
        if m:
            flush()
            level = min(len(m.group(1)) + 2, 6)
            blocks.append(f"<h{level}>{_inline_md(m.group(2))}</h{level}>")
        elif not stripped:
            flush()
        else:
            para.append(stripped)
        i += 1
    flush()
    return "\n".join(blocks)


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
    parts.append(f"<p><strong>Extract date:</strong> {esc(extract_date)} "
                 f"(source: {esc(ingest.get('extract_date_source', DASH))}).</p>")
    rows = []
    for name in sorted(ingest.get("tables", {})):
        t = ingest["tables"][name]
        dropped = [d for d in t.get("dropped", []) if d.get("rows", 0)]
        n_dropped = sum(int(d.get("rows", 0)) for d in t.get("dropped", []))
        reasons = "; ".join(f"{d.get('reason', '')}: {fmt_count(d.get('rows'))}" for d in dropped) or "none"
        warnings = "; ".join(str(w) for w in t.get("warnings", [])) or ""
        path = t.get("path", t.get("file", ""))
        rows.append({"table": name, "path": path if isinstance(path, str) else json.dumps(path, sort_keys=True), "rows_read": t.get("rows_read"),
                     "rows_written": t.get("rows_written"), "rows_dropped": n_dropped,
                     "reasons": reasons, "warnings": warnings})
    parts.append("<h3>Extract, by table</h3>")
    parts.append(html_table(pd.DataFrame(rows), [
        Col("table"), Col("path", "file"), Col("rows_read", "rows read", **COUNT),
        Col("rows_written", "rows written", **COUNT), Col("rows_dropped", "rows dropped", **COUNT),
        Col("reasons", "drop reasons (rows)", **NOTE), Col("warnings", **NOTE)]))
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
            out.append('<div class="flow-row"><div class="flow-arrow">&#8595;</div>'
                       f'<div class="flow-excl">{esc(step)}: <strong>{esc(fmt_count(n_exc))}</strong>'
                       f" &#8212; {esc(reason)}</div></div>")
        else:
            if not first:
                out.append('<div class="flow-row"><div class="flow-arrow">&#8595;</div></div>')
            out.append(f'<div class="flow-row"><div class="flow-box">{esc(step)}<br>'
                       f'<span class="flow-n">n = {esc(fmt_count(n_rem))}</span></div></div>')
        first = False
    out.append("</div>")
    return "\n".join(out)


def section_cohort_flow(results: Path, cfg: dict) -> str:
    parts = []
    flow = _checked(results, "cohort/flow.csv")
    if flow is None:
        parts.append(missing("cohort/flow.csv"))
    else:
        parts.append("<h3>From the extract to the analysis cohort</h3>")
        parts.append(flow_diagram(flow))
    oflow = _checked(results, "cohort/outcome_flow.csv")
    parts.append("<h3>Outcome flow</h3>")
    if oflow is None:
        parts.append(missing("cohort/outcome_flow.csv"))
    else:
        parts.append(html_table(oflow, [
            Col("outcome"), Col("step"), Col("n_remaining", "n remaining", **COUNT),
            Col("n_excluded", "n excluded", **COUNT), Col("reason", **NOTE)]))
    mflow = _checked(results, "match/flow.csv")
    if mflow is not None:
        parts.append("<h3>Matching flow (treated clients)</h3>")
        parts.append(html_table(mflow, [Col("step"), Col("n_remaining", "n remaining", **COUNT),
                                        Col("n_excluded", "n excluded", **COUNT), Col("reason", **NOTE)]))
    return "\n".join(parts)


def section_exposure(results: Path, cfg: dict) -> str:
    parts = []
    summary = _read_json(results / "match" / "summary.json")
    if summary is not None and "n_treated" in summary and "n_control" in summary:
        nt, nc = int(summary["n_treated"]), int(summary["n_control"])
        share = nt / (nt + nc) if nt + nc else float("nan")
        parts.append(f'<p class="info"><strong>Treated (continuous care) share:</strong> {esc(fmt_num(share))} '
                     f"({esc(fmt_count(nt))} treated of {esc(fmt_count(nt + nc))} in the cohort; "
                     f"{esc(fmt_count(nc))} controls).</p>")
    else:
        parts.append(missing("match/summary.json (treated share)"))
    fig = results / "cohort" / "figures"
    parts.append(img_tag(fig / "continuity_by_service.png", "Continuity index by service",
                         "Continuity index by service."))
    parts.append(img_tag(fig / "continuous_share_by_site.png", "Share with continuous care by site",
                         "Share of clients with continuous care, by site."))
    return "\n".join(parts)


def section_balance(results: Path, cfg: dict) -> str:
    parts = []
    fig = results / "match" / "figures"
    parts.append(img_tag(fig / "love_plot.png", "Love plot of standardised mean differences",
                         "Love plot: standardised mean differences before and after adjustment."))
    parts.append(img_tag(fig / "propensity_overlap.png", "Propensity score overlap",
                         "Propensity score distributions, treated and control."))
    summary = _read_json(results / "match" / "summary.json")
    if summary is None:
        parts.append(missing("match/summary.json"))
    else:
        th = summary.get("thresholds", {})
        parts.append(f"<p>Thresholds: |SMD| &gt; {esc(fmt_num(th.get('smd')))}; variance ratio outside "
                     f"{esc(' to '.join(fmt_num(v) for v in th.get('variance_ratio', [])) or DASH)}.</p>")
        smd = summary.get("max_abs_smd", {})
        flagged = summary.get("flagged", {})
        rows = [{"adjustment": k, "max_abs_smd": smd[k],
                 "flagged": ", ".join(flagged.get(k, [])) if k in flagged else ""} for k in sorted(smd)]
        parts.append("<h3>Maximum |SMD| before and after adjustment</h3>")
        parts.append(html_table(pd.DataFrame(rows), [Col("adjustment"), Col("max_abs_smd", "max |SMD|", **NUM),
                                                     Col("flagged", "flagged covariates", **NOTE)]))
    bal = _checked(results, "match/balance.csv")
    if bal is None:
        parts.append(missing("match/balance.csv"))
    else:
        flag = bal[bal["flagged"].map(_as_bool)] if "flagged" in bal else bal.iloc[0:0]
        parts.append("<h3>Flagged covariates</h3>")
        if flag.empty:
            parts.append("<p>No covariate flagged under any adjustment.</p>")
        else:
            parts.append(html_table(flag, [
                Col("covariate"), Col("adjustment"), Col("mean_treated", "mean treated", **NUM),
                Col("mean_control", "mean control", **NUM), Col("smd", "SMD", **NUM),
                Col("variance_ratio", "variance ratio", **NUM), Col("ks", "KS", **NUM)]))
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
    parts = [img_tag(results / "figures" / "forest.png", "Forest plot of effect estimates",
                     "Forest plot of the effect estimates with 95% confidence intervals.")]
    est = _checked(results, "estimates.csv")
    if est is None:
        parts.append(missing("estimates.csv"))
        return "\n".join(parts)
    skipped = _is_skipped(est)
    whole = _whole_cohort(est[~skipped]).copy()
    whole["ci"] = [fmt_ci(lo, hi) for lo, hi in zip(whole["ci_lower"], whole["ci_upper"])]
    parts.append("<h3>Whole-cohort estimates</h3>")
    parts.append(html_table(whole, [
        Col("outcome"), Col("method"), Col("estimand"), Col("estimate", **NUM),
        Col("std_error", "SE", **NUM), Col("ci", "95% CI", cls="num"), Col("p_value", "p", **NUM),
        Col("n_treated", "n treated", **COUNT), Col("n_control", "n control", **COUNT), Col("scale"),
        Col("notes", **NOTE)]))
    n_sub = int((~skipped).sum() - len(whole))
    if n_sub:
        parts.append(f"<p>{esc(fmt_count(n_sub))} subgroup estimates are in estimates.csv "
                     "(not repeated here).</p>")
    parts.append("<h3>Skipped methods</h3>")
    sk = est[skipped].copy()
    if sk.empty:
        parts.append("<p>No method was skipped.</p>")
    else:
        sk["reason"] = sk["notes"].fillna("").astype(str).str.replace(r"^skipped:\s*", "", regex=True)
        sk["subgroup"] = sk["subgroup"].fillna("").astype(str).replace("", "whole cohort")
        parts.append(html_table(sk, [Col("outcome"), Col("subgroup"), Col("method"), Col("estimand"),
                                     Col("reason", **NOTE)]))
    return "\n".join(parts)


def _pass_fail(x: Any) -> str:
    if _is_missing(x):
        return DASH
    return '<span class="pass">PASS</span>' if _as_bool(x) else '<span class="fail">FAIL</span>'


_SUBSAMPLE = re.compile(r"stratified subsample of (\d+) of (\d+) rows")
_BOOT_SUBSAMPLE = re.compile(r"bootstrap: (\d+) replicates on a stratified subsample of (\d+) rows")


def subsample_note(estimates: pd.DataFrame | None, refutations: pd.DataFrame | None) -> str:
    """One sentence naming every DoWhy step that ran on a subsample, from the tables' own notes.

    Examples
    --------
    >>> est = pd.DataFrame({"outcome": ["y"] * 3, "subgroup": [""] * 3,
    ...     "method": ["naive", "dowhy_regression", "dowhy_psm"], "n_treated": [200000, 52000, 52000],
    ...     "n_control": [253355, 48000, 48000], "notes": ["",
    ...     "stratified subsample of 100000 of 453355 rows (seed 1)",
    ...     "stratified subsample of 100000 of 453355 rows (seed 1); bootstrap: 100 replicates on a "
    ...     "stratified subsample of 10000 rows, SE and CI scaled by sqrt(10000/100000)"]})
    >>> subsample_note(est, pd.DataFrame({"outcome": ["y"], "n_used": [10000]}))
    'Run on subsamples (stratified by treatment): DoWhy estimates, y 100,000 of 453,355 clients; their bootstrap, 10,000 rows (SE and CI rescaled to the full size); DoWhy refuters, y 10,000 of 453,355 clients. Our own estimates use every client.'
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
            parts.append("DoWhy estimates, " + ", ".join(f"{o} {fmt_count(a)} of {fmt_count(b)} clients"
                                                         for o, (a, b) in sub.items()))
        if boot:
            parts.append("their bootstrap, " + " or ".join(f"{fmt_count(b)}" for b in sorted(boot))
                         + " rows (SE and CI rescaled to the full size)")
    if refutations is not None and "n_used" in refutations and not refutations.empty:
        used = refutations.dropna(subset=["n_used"]).groupby("outcome", sort=False)["n_used"].max()
        total = _analysed_clients(estimates)
        cut = [(o, n, total[o]) for o, n in used.items() if o in total and n < total[o]]
        if cut:
            parts.append("DoWhy refuters, " + ", ".join(f"{o} {fmt_count(n)} of {fmt_count(t)} clients"
                                                        for o, n, t in cut))
    if not parts:
        return ""
    return ("Run on subsamples (stratified by treatment): " + "; ".join(parts)
            + ". Our own estimates use every client.")


def _analysed_clients(estimates: pd.DataFrame | None) -> dict[str, int]:
    """Clients analysed per outcome: treated + control of the whole-cohort naive comparison."""
    if estimates is None or not {"method", "subgroup", "n_treated", "n_control"} <= set(estimates):
        return {}
    whole = estimates["subgroup"].isna() | (estimates["subgroup"].astype(str) == "")
    rows = estimates[(estimates["method"] == "naive") & whole]
    return {o: int(a + b) for o, a, b in zip(rows["outcome"], rows["n_treated"], rows["n_control"])
            if not (_is_missing(a) or _is_missing(b))}


def section_refutations(results: Path, cfg: dict) -> str:
    parts = ["<h3>Refutations (DoWhy)</h3>"]
    ref = _checked(results, "refutations.csv")
    note = subsample_note(_checked(results, "estimates.csv"), ref)
    if note:
        parts.append(f'<p class="info">{esc(note)}</p>')
    if ref is None:
        parts.append(missing("refutations.csv"))
    else:
        n_pass = int(ref["passed"].map(_as_bool).sum())
        parts.append(f"<p>{esc(fmt_count(n_pass))} of {esc(fmt_count(len(ref)))} refutation checks passed.</p>")
        parts.append(html_table(ref, [
            Col("outcome"), Col("refuter"), Col("estimate", **NUM), Col("new_effect", "new effect", **NUM),
            Col("p_value", "p", **NUM), Col("passed", "result", fmt=_pass_fail, raw=True),
            Col("n_used", "n used", **COUNT), Col("simulations", **COUNT), Col("reading", **NOTE)]))
    parts.append("<h3>Sensitivity to unmeasured confounding</h3>")
    sens = _checked(results, "sensitivity.csv")
    if sens is None:
        parts.append(missing("sensitivity.csv"))
        return "\n".join(parts)
    parts.append("<p>E-value (point and CI limit nearest the null; VanderWeele &amp; Ding 2017), Rosenbaum "
                 "Gamma (matched pairs: smallest Gamma at which the one-sided p exceeds alpha) and robustness "
                 "value RV (Cinelli &amp; Hazlett 2020; q = 1, and at alpha = 0.05).</p>")
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
    headers = {"evalue_point": "E-value (point)", "evalue_ci": "E-value (CI)",
               "rosenbaum_gamma": "Rosenbaum Gamma", "rv_q1": "RV", "rv_q1_alpha": "RV (alpha 0.05)"}
    parts.append(html_table(pd.DataFrame(rows), [Col(k) for k in keys]
                            + [Col(m, headers[m], **NUM) for m in measures]))
    gamma = sens[sens["measure"] == "rosenbaum_gamma"]
    if not gamma.empty:
        parts.append("<p>Rosenbaum bounds, how each was computed:</p>")
        parts.append(html_table(gamma, [Col("outcome"), Col("method"), Col("value", "Gamma", **NUM),
                                        Col("notes", **NOTE)]))
    return "\n".join(parts)


def section_value(results: Path, cfg: dict) -> str:
    val = _checked(results, "value.csv")
    if val is None:
        return missing("value.csv")
    parts = []
    illus = val["illustrative"].map(_as_bool) if "illustrative" in val else pd.Series(False, index=val.index)
    if illus.any():
        parts.append(f'<div class="notice" id="illustrative-notice">{esc(ILLUSTRATIVE_NOTICE)} '
                     f"{esc(fmt_count(int(illus.sum())))} of {esc(fmt_count(len(val)))} rows below depend on "
                     "an illustrative value.</div>")
    else:
        parts.append('<p class="info">No value in this table depends on an illustrative placeholder.</p>')
    val = val.copy()
    val["interval"] = [fmt_ci(lo, hi) for lo, hi in zip(val["ci_lower"], val["ci_upper"])]
    cols = [Col("outcome"), Col("quantity"), Col("value", **NUM), Col("interval", "95% interval", cls="num"),
            Col("price_year", "price year"), Col("illustrative", fmt=fmt_bool), Col("notes", **NOTE)]
    for level, title in (("per_client", "Per client (GBP)"), ("cohort", "Cohort totals (GBP)")):
        part = val[val["level"] == level]
        parts.append(f"<h3>{esc(title)}</h3>")
        parts.append(html_table(part, cols) if not part.empty else "<p>No rows.</p>")
    other = val[~val["level"].isin(["per_client", "cohort"])]
    if not other.empty:
        parts.append("<h3>Other rows</h3>")
        parts.append(html_table(other, [Col("level")] + cols))
    return "\n".join(parts)


def section_validation(results: Path, cfg: dict, validation_md: Path | None) -> str:
    synthetic = cfg.get("synthetic") or {}
    has_truth = isinstance(synthetic, dict) and bool(synthetic.get("truth"))
    parts = []
    if not has_truth:
        parts.append("<p>Not applicable: this run is not on a synthetic extract with known truth "
                     "(no <code>synthetic.truth</code> in the config).</p>")
    else:
        evt = _read_csv(results / "estimates_vs_truth.csv")
        parts.append("<h3>This run against the generator's truth</h3>")
        if evt is None:
            parts.append(missing("estimates_vs_truth.csv"))
        else:
            evt = evt.copy()
            evt["ci"] = [fmt_ci(lo, hi) for lo, hi in zip(evt["ci_lower"], evt["ci_upper"])]
            cov = evt["covered"].map(_as_bool)
            parts.append(f"<p>{esc(fmt_count(int(cov.sum())))} of {esc(fmt_count(len(evt)))} 95% CIs cover "
                         "the truth.</p>")
            parts.append(html_table(evt, [
                Col("outcome"), Col("method"), Col("estimand"), Col("estimate", **NUM), Col("ci", "95% CI", cls="num"),
                Col("truth", **NUM), Col("error", **NUM), Col("error_in_se", "error / SE", **NUM),
                Col("covered", fmt=fmt_bool)]))
    if validation_md is not None:
        parts.append(f"<h3>Validation over many seeds ({esc(validation_md.name)})</h3>")
        if validation_md.is_file():
            parts.append(markdown_to_html(validation_md.read_text(encoding="utf-8")))
        else:
            parts.append(f'<p class="missing">{esc(validation_md.name)} was not found.</p>')
    return "\n".join(parts)


def _disclosure_cfg(cfg: dict, prov: dict | None) -> dict:
    d = cfg.get("disclosure")
    if not d and prov:
        d = (prov.get("config") or {}).get("disclosure")
    return d or {}


def section_disclosure(results: Path, cfg: dict) -> str:
    prov = _read_json(results / "provenance.json")
    d = _disclosure_cfg(cfg, prov)
    rule = (f"minimum cell count {fmt_count(d['min_cell'])}" if "min_cell" in d else "minimum cell count: default")
    if "allow_zero" in d:
        rule += f", zeros allowed: {fmt_bool(d['allow_zero'])}"
    log = _read_csv(results / "publish" / "disclosure_log.csv")
    if log is None:
        return missing("publish/disclosure_log.csv")
    parts = [f"<p>Tables published to <code>results/publish/</code> were checked ({esc(rule)}).</p>",
             '<p class="info">The tables in this report are the checked copies from '
             "<code>results/publish/</code> (suppressed cells show as a dash). The figures are drawn "
             "from the unchecked data: check them by eye before the report leaves the secure "
             "environment.</p>"]
    if log.empty:
        parts.append(f'<p class="info"><strong>Nothing suppressed</strong> (threshold: {esc(rule)}).</p>')
    else:
        counts = log.groupby("table", sort=True).size()
        summary = "; ".join(f"{t}: {fmt_count(n)}" for t, n in counts.items())
        parts.append(f'<p class="info"><strong>{esc(fmt_count(len(log)))} cells suppressed</strong> '
                     f"(threshold: {esc(rule)}). By table: {esc(summary)}.</p>")
        parts.append(html_table(log, [Col(str(c)) for c in log.columns]))
    return "\n".join(parts)


def section_provenance(results: Path, cfg: dict) -> str:
    prov = _read_json(results / "provenance.json")
    parts = []
    ref = _checked(results, "refutations.csv")
    if ref is not None and "n_used" in ref and not ref.empty:
        by_outcome = ref.groupby("outcome", sort=False)["n_used"].max()
        detail = "; ".join(f"{o}: {fmt_count(n)}" for o, n in by_outcome.items())
        cap = (((prov or {}).get("config") or {}).get("estimation") or {}).get("dowhy", {}).get("refutation_rows")
        cap_txt = f" (at most {fmt_count(cap)} rows, stratified by treatment)" if cap is not None else ""
        parts.append(f'<p class="info">Note: DoWhy refutations ran on a subsample of n_used clients{esc(cap_txt)}; '
                     f"n_used by outcome: {esc(detail)}. When n_used equals the analysed sample the subsample is "
                     "the whole sample.</p>")
    if prov is None:
        parts.append(missing("provenance.json"))
        return "\n".join(parts)
    code = prov.get("code", {}) or {}
    commit = str(code.get("commit", DASH))
    if code.get("uncommitted_changes"):
        commit += " (with uncommitted changes)"
    parts.append(kv_table([
        ("git commit", commit), ("seed", str(prov.get("seed", cfg.get("seed", DASH)))),
        ("extract date", str(prov.get("extract_date", DASH))), ("python", str(prov.get("python", DASH))),
        ("platform", str(prov.get("platform", DASH))),
        ("provenance version", str(prov.get("deepvalue_provenance_version", DASH)))]))
    inputs = prov.get("inputs", {}) or {}
    # file names only: the folder an extract sits in must not change the report's bytes
    # (provenance.json keeps the full paths)
    rows = [dict(name=k, path=Path(str(inputs[k].get("path", ""))).name,
                 **{kk: inputs[k].get(kk) for kk in ("rows_read", "rows_written", "bytes", "sha256")})
            for k in sorted(inputs)]
    parts.append("<h3>Inputs</h3>")
    parts.append(html_table(pd.DataFrame(rows, columns=["name", "path", "rows_read", "rows_written", "bytes",
                                                        "sha256"]), [
        Col("name"), Col("path"), Col("rows_read", "rows read", **COUNT),
        Col("rows_written", "rows written", **COUNT), Col("bytes", **COUNT), Col("sha256", cls="note")]))
    packages = prov.get("packages", {}) or {}
    parts.append("<h3>Package versions</h3>")
    parts.append(html_table(pd.DataFrame([{"package": k, "version": packages[k]} for k in sorted(packages)],
                                         columns=["package", "version"])))
    return "\n".join(parts)


# ------------------------------------------------------------------------------ the report


def render_report(results_dir: Path, cfg: dict, validation_md: Path | None = None) -> str:
    """The report as one HTML string (see :func:`build_report`)."""
    results = Path(results_dir)
    cfg = cfg or {}
    bodies = {
        "question-and-data": section_question(results, cfg),
        "cohort-flow": section_cohort_flow(results, cfg),
        "exposure": section_exposure(results, cfg),
        "balance": section_balance(results, cfg),
        "estimates": section_estimates(results, cfg),
        "refutations-and-sensitivity": section_refutations(results, cfg),
        "value": section_value(results, cfg),
        "validation": section_validation(results, cfg, Path(validation_md) if validation_md else None),
        "disclosure": section_disclosure(results, cfg),
        "provenance": section_provenance(results, cfg),
    }
    nav = "".join(f'<li><a href="#{sid}">{esc(SECTION_TITLES[sid])}</a></li>' for sid in SECTION_IDS)
    sections = "\n".join(
        f'<section>\n<h2 id="{sid}">{esc(SECTION_TITLES[sid])}</h2>\n{bodies[sid]}\n</section>'
        for sid in SECTION_IDS)
    title = str(cfg.get("title") or "deepvalue report: the value of continuity of care")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f"<h1>{esc(title)}</h1>\n<nav><ul>{nav}</ul></nav>\n{sections}\n</body>\n</html>\n"
    )


def build_report(results_dir: Path, cfg: dict, out_path: Path, validation_md: Path | None = None) -> None:
    """Write one self-contained HTML report of the run in `results_dir` to `out_path`.

    Parameters
    ----------
    results_dir : Path
        The workflow's ``results/`` folder.
    cfg : dict
        The study config (as loaded from its YAML); ``synthetic.truth`` switches on the
        comparison with the truth, ``disclosure`` gives the threshold shown.
    out_path : Path
        The HTML file to write (parent folders are created).
    validation_md : Path, optional
        ``docs/validation.md``; its tables are rendered in the validation section.

    The same inputs give the same bytes (UTF-8, ``\\n`` line ends).
    """
    text = render_report(Path(results_dir), cfg, validation_md)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(text.encode("utf-8"))


def main(argv: list[str] | None = None) -> None:
    import yaml

    p = argparse.ArgumentParser(prog="python -m deepvalue.report", description=__doc__.splitlines()[0])
    p.add_argument("--results", type=Path, default=Path("results"))
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--out", type=Path, default=Path("results/report.html"))
    p.add_argument("--validation-md", type=Path, default=None)
    a = p.parse_args(argv)
    cfg = yaml.safe_load(a.config.read_text(encoding="utf-8")) or {}
    build_report(a.results, cfg, a.out, a.validation_md)
    print(f"wrote {a.out}")


if __name__ == "__main__":  # pragma: no cover
    main()
