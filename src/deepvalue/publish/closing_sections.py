"""The report's closing sections (value, validation, disclosure, provenance), one function each,
as in :mod:`deepvalue.publish.sections`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from deepvalue.publish.html import (
    COUNT,
    DASH,
    NOTE,
    NUM,
    Col,
    _as_bool,
    _read_csv,
    _read_json,
    esc,
    fmt_bool,
    fmt_ci,
    fmt_count,
    html_table,
    img_tag,
    kv_table,
    markdown_to_html,
    missing,
)
from deepvalue.publish.report_inputs import (
    checked_ingest,
    checked_table,
    checked_truth_table,
)
from deepvalue.publish.sections import ILLUSTRATIVE_NOTICE


def section_value(results: Path, cfg: dict) -> str:
    val = checked_table(results, "value.csv", cfg)
    if val is None:
        return missing("value.csv")
    parts = []
    illus = val["illustrative"].map(_as_bool) if "illustrative" in val else pd.Series(False, index=val.index)
    if illus.any():
        parts.append(
            f'<div class="notice" id="illustrative-notice">{esc(ILLUSTRATIVE_NOTICE)} '
            f"{esc(fmt_count(int(illus.sum())))} of {esc(fmt_count(len(val)))} rows below depend on "
            "an illustrative value.</div>"
        )
    else:
        parts.append('<p class="info">No value in this table depends on an illustrative placeholder.</p>')
    notes = val.get("notes", pd.Series("", index=val.index)).fillna("").astype(str)
    unvalued = val[(val["level"] == "per_client") & notes.str.startswith("not valued")]
    if not unvalued.empty:
        items = "".join(
            f"<li><b>{esc(o)}</b>: {esc(n.removeprefix('not valued: '))}</li>"
            for o, n in zip(unvalued["outcome"], notes[unvalued.index])
        )
        parts.append(
            f'<div class="notice" id="not-valued">Not valued, and left out of the totals '
            f"({esc(fmt_count(len(unvalued)))} outcome{'s' if len(unvalued) != 1 else ''}):<ul>{items}</ul></div>"
        )
    parts.append(_value_sources(val, notes))
    val = val.copy()
    val["interval"] = [fmt_ci(lo, hi) for lo, hi in zip(val["ci_lower"], val["ci_upper"])]
    has_psa = {"psa_lower", "psa_upper", "p_positive", "switching_value"} <= set(val.columns)
    if has_psa:
        val["psa"] = [fmt_ci(lo, hi) for lo, hi in zip(val["psa_lower"], val["psa_upper"])]
        val["p_pos"] = [
            "" if not np.isfinite(pd.to_numeric(p, errors="coerce")) else f"{float(p):.0%}" for p in val["p_positive"]
        ]
        parts.append(
            "<p>Two intervals: the <b>95% interval</b> carries the sampling uncertainty of the effects only (drawn "
            "from the joint bootstrap of the estimates, which keeps their correlation across outcomes, when it has "
            "the valued rows), the unit values and cost at their points; the <b>probabilistic interval</b> draws "
            "the effects and the unit values and cost with a range together (Monte Carlo, seeded). <b>P(&gt; 0)</b> "
            "is the share of those draws with a positive benefit or net benefit (a ratio above 1). The "
            "<b>switching value</b> of an outcome is the unit value at which its account's net benefit is zero, "
            "the rest at their points (GBP per unit, in the price year). Money (fiscal savings, income) and "
            "wellbeing (WELLBYs) are kept apart: <code>total</code> is money only; <code>total_with_wellbeing</code> "
            "adds the wellbeing value and leaves out the monetary outcomes the wellbeing effect already holds.</p>"
        )
    cols = [
        Col("outcome"),
        Col("quantity"),
        Col("value", **NUM),
        Col("interval", "95% interval", cls="num"),
        *(
            [
                Col("psa", "probabilistic interval", cls="num"),
                Col("p_pos", "P(> 0)", cls="num"),
                Col("switching_value", "switching value", **NUM),
            ]
            if has_psa
            else []
        ),
        Col("price_year", "price year"),
        Col("illustrative", fmt=fmt_bool),
        Col("notes", **NOTE),
    ]
    for level, title in (("per_client", "Per client (GBP)"), ("cohort", "Cohort totals (GBP)")):
        part = val[val["level"] == level]
        parts.append(f"<h3>{esc(title)}</h3>")
        parts.append(html_table(part, cols) if not part.empty else "<p>No rows.</p>")
    other = val[~val["level"].isin(["per_client", "cohort"])]
    if not other.empty:
        parts.append("<h3>Other rows</h3>")
        parts.append(html_table(other, [Col("level")] + cols))
    parts.append("<h3>What moves the net benefit</h3>")
    parts.append(
        img_tag(
            results / "figures" / "value_tornado.png",
            "Tornado diagram of the net benefit per client",
            "Net benefit per treated client as each input moves over its range (an effect over its 95% CI, a unit "
            "value or the cost over its low-high range), the others at their points; largest swing on top. Inputs "
            "held at a point value have no bar.",
        )
    )
    return "\n".join(parts)


def _value_sources(val: pd.DataFrame, notes: pd.Series) -> str:
    """Which unit values are sourced and which illustrative, and which have a range."""
    per = val[(val["level"] == "per_client") & (val["quantity"].isin(["benefit", "cost"]))]
    per = per[~per["outcome"].astype(str).isin(["total_wellbeing", "total_with_wellbeing"])]
    per = per[~((per["outcome"] == "total") & (per["quantity"] == "benefit"))]
    items = []
    for idx, row in per.iterrows():
        note = str(notes.get(idx, ""))
        if note.startswith("not valued"):
            continue
        what = "the cost per client" if row["quantity"] == "cost" else f"{row['outcome']}"
        status = "illustrative placeholder" if _as_bool(row.get("illustrative")) else "sourced"
        kind = " (WELLBY)" if "WELLBY" in note else ""
        spread = "point value only" if "held at its point value" in note else "with a range"
        source = note.split("source: ", 1)[1].split(";", 1)[0] if "source: " in note else ""
        items.append(
            f"<li><b>{esc(what)}</b>{esc(kind)}: {esc(status)}, {esc(spread)}"
            + (f"; source: {esc(source)}" if source else "")
            + "</li>"
        )
    if not items:
        return ""
    return f'<div class="info" id="value-sources">The figures behind the value:<ul>{"".join(items)}</ul></div>'


def section_validation(results: Path, cfg: dict, validation_md: Path | None) -> str:
    synthetic = cfg.get("synthetic") or {}
    has_truth = isinstance(synthetic, dict) and bool(synthetic.get("truth"))
    parts = []
    if not has_truth:
        parts.append(
            "<p>Not applicable: this run is not on a synthetic extract with known truth "
            "(no <code>synthetic.truth</code> in the config).</p>"
        )
    else:
        evt = checked_truth_table(results, cfg)
        parts.append("<h3>This run against the generator's truth</h3>")
        if evt is None:
            parts.append(missing("estimates_vs_truth.csv"))
        else:
            evt = evt.copy()
            evt["ci"] = [fmt_ci(lo, hi) for lo, hi in zip(evt["ci_lower"], evt["ci_upper"])]
            shown = evt["covered"].notna()
            cov = evt.loc[shown, "covered"].map(_as_bool)
            parts.append(
                f"<p>{esc(fmt_count(int(cov.sum())))} of {esc(fmt_count(int(shown.sum())))} 95% CIs cover the "
                "truth.</p>"
            )
            parts.append(
                html_table(
                    evt,
                    [
                        Col("outcome"),
                        Col("method"),
                        Col("estimand"),
                        Col("scale"),  # km_ipw has two per estimand
                        Col("estimate", **NUM),
                        Col("ci", "95% CI", cls="num"),
                        Col("truth", **NUM),
                        Col("error", **NUM),
                        Col("error_in_se", "error / SE", **NUM),
                        Col("covered", fmt=fmt_bool),
                    ],
                )
            )
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
    rule = f"minimum cell count {fmt_count(d['min_cell'])}" if "min_cell" in d else "minimum cell count: default"
    if "allow_zero" in d:
        rule += f", zeros allowed: {fmt_bool(d['allow_zero'])}"
    log = _read_csv(results / "publish" / "disclosure_log.csv")
    if log is None:
        return missing("publish/disclosure_log.csv")
    parts = [
        f"<p>Tables published to <code>results/publish/</code> were checked ({esc(rule)}).</p>",
        '<p class="info">The tables in this report are the checked copies from '
        "<code>results/publish/</code> (suppressed cells show as a dash); the counts it takes from other "
        "files (the extract's rows, the treated share, the comparison with a synthetic truth) are checked "
        "the same way. The figures apply the same threshold: groups below it are pooled or left out and "
        "histogram bins below it are merged with their neighbours (each caption says how). Check them "
        "by eye before the report leaves the secure environment.</p>",
    ]
    if log.empty:
        parts.append(f'<p class="info"><strong>Nothing suppressed</strong> (threshold: {esc(rule)}).</p>')
    else:
        counts = log.groupby("table", sort=True).size()
        summary = "; ".join(f"{t}: {fmt_count(n)}" for t, n in counts.items())
        parts.append(
            f'<p class="info"><strong>{esc(fmt_count(len(log)))} cells suppressed</strong> '
            f"(threshold: {esc(rule)}). By table: {esc(summary)}.</p>"
        )
        parts.append(html_table(log, [Col(str(c)) for c in log.columns]))
    return "\n".join(parts)


def section_provenance(results: Path, cfg: dict) -> str:
    prov = _read_json(results / "provenance.json")
    parts = []
    ref = checked_table(results, "refutations.csv", cfg)
    if ref is not None and "n_used" in ref and not ref.empty:
        by_outcome = ref.groupby("outcome", sort=False)["n_used"].max()
        detail = "; ".join(f"{o}: {fmt_count(n)}" for o, n in by_outcome.items())
        cap = (((prov or {}).get("config") or {}).get("estimation") or {}).get("dowhy", {}).get("refutation_rows")
        cap_txt = f" (at most {fmt_count(cap)} rows, stratified by treatment)" if cap is not None else ""
        parts.append(
            f'<p class="info">Note: DoWhy refutations ran on a subsample of n_used clients{esc(cap_txt)}; '
            f"n_used by outcome: {esc(detail)}. When n_used equals the analysed sample the subsample is "
            "the whole sample.</p>"
        )
    if prov is None:
        parts.append(missing("provenance.json"))
        return "\n".join(parts)
    code = prov.get("code", {}) or {}
    commit = str(code.get("commit", DASH))
    if code.get("uncommitted_changes"):
        commit += " (with uncommitted changes)"
    parts.append(
        kv_table(
            [
                ("git commit", commit),
                ("seed", str(prov.get("seed", cfg.get("seed", DASH)))),
                ("extract date", str(prov.get("extract_date", DASH))),
                ("python", str(prov.get("python", DASH))),
                ("platform", str(prov.get("platform", DASH))),
                ("provenance version", str(prov.get("deepvalue_provenance_version", DASH))),
            ]
        )
    )
    inputs = prov.get("inputs", {}) or {}
    # file names only: the folder an extract sits in must not change the report's bytes
    # (provenance.json keeps the full paths)
    # row counts as the ingest section shows them (checked), not as recorded
    checked = checked_ingest(results, cfg) or {}
    rows = [
        dict(
            name=k,
            path=Path(str(inputs[k].get("path", ""))).name,
            rows_read=checked.get(k, {}).get("rows_read", np.nan),
            rows_written=checked.get(k, {}).get("rows_written", np.nan),
            **{kk: inputs[k].get(kk) for kk in ("bytes", "sha256")},
        )
        for k in sorted(inputs)
    ]
    parts.append("<h3>Inputs</h3>")
    parts.append(
        html_table(
            pd.DataFrame(rows, columns=["name", "path", "rows_read", "rows_written", "bytes", "sha256"]),
            [
                Col("name"),
                Col("path"),
                Col("rows_read", "rows read", **COUNT),
                Col("rows_written", "rows written", **COUNT),
                Col("bytes", **COUNT),
                Col("sha256", cls="note"),
            ],
        )
    )
    packages = prov.get("packages", {}) or {}
    parts.append("<h3>Package versions</h3>")
    parts.append(
        html_table(
            pd.DataFrame(
                [{"package": k, "version": packages[k]} for k in sorted(packages)], columns=["package", "version"]
            )
        )
    )
    return "\n".join(parts)
