"""The report's closing sections (value, validation, disclosure, provenance): their data (``<id>_context``)
and one-section renderers, as in :mod:`deepvalue.publish.sections`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
    figure_data,
    fmt_bool,
    fmt_ci,
    fmt_count,
    markdown_blocks,
    table_data,
)
from deepvalue.publish.report_inputs import (
    checked_ingest,
    checked_table,
    checked_truth_table,
)
from deepvalue.publish.sections import ILLUSTRATIVE_NOTICE
from deepvalue.publish.templating import render


def value_context(results: Path, cfg: dict) -> dict[str, Any] | None:
    """The value tables by level, what rests on illustrative values and which outcomes are not valued (None
    when value.csv is missing)."""
    val = checked_table(results, "value.csv", cfg)
    if val is None:
        return None
    illus = val["illustrative"].map(_as_bool) if "illustrative" in val else pd.Series(False, index=val.index)
    notes = val.get("notes", pd.Series("", index=val.index)).fillna("").astype(str)
    unvalued = val[(val["level"] == "per_client") & notes.str.startswith("not valued")]
    val = val.copy()
    val["interval"] = [fmt_ci(lo, hi) for lo, hi in zip(val["ci_lower"], val["ci_upper"])]
    has_psa = {"psa_lower", "psa_upper", "p_positive", "switching_value"} <= set(val.columns)
    if has_psa:
        val["psa"] = [fmt_ci(lo, hi) for lo, hi in zip(val["psa_lower"], val["psa_upper"])]
        val["p_pos"] = [
            "" if not np.isfinite(pd.to_numeric(p, errors="coerce")) else f"{float(p):.0%}" for p in val["p_positive"]
        ]
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
    other = val[~val["level"].isin(["per_client", "cohort"])]
    return {
        "illustrative_notice": ILLUSTRATIVE_NOTICE,
        "n_illustrative": fmt_count(int(illus.sum())) if illus.any() else "",
        "n_rows": fmt_count(len(val)),
        "unvalued": [(o, n.removeprefix("not valued: ")) for o, n in zip(unvalued["outcome"], notes[unvalued.index])],
        "sources": _value_sources(val, notes),
        "has_psa": has_psa,
        "levels": [
            (title, table_data(val[val["level"] == level], cols))
            for level, title in (("per_client", "Per client (GBP)"), ("cohort", "Cohort totals (GBP)"))
        ],
        "other": None if other.empty else table_data(other, [Col("level")] + cols),
        "tornado": figure_data(
            results / "figures" / "value_tornado.png",
            "Tornado diagram of the net benefit per client",
            "Net benefit per treated client as each input moves over its range (an effect over its 95% CI, a unit "
            "value or the cost over its low-high range), the others at their points; largest swing on top. Inputs "
            "held at a point value have no bar.",
        ),
    }


def section_value(results: Path, cfg: dict) -> str:
    return render("section-value.html.j2", s=value_context(results, cfg))


def _value_sources(val: pd.DataFrame, notes: pd.Series) -> list[dict[str, str]]:
    """Which unit values are sourced and which illustrative, and which have a range."""
    per = val[(val["level"] == "per_client") & (val["quantity"].isin(["benefit", "cost"]))]
    per = per[~per["outcome"].astype(str).isin(["total_wellbeing", "total_with_wellbeing"])]
    per = per[~((per["outcome"] == "total") & (per["quantity"] == "benefit"))]
    items = []
    for idx, row in per.iterrows():
        note = str(notes.get(idx, ""))
        if note.startswith("not valued"):
            continue
        items.append(
            {
                "what": "the cost per client" if row["quantity"] == "cost" else f"{row['outcome']}",
                "status": "illustrative placeholder" if _as_bool(row.get("illustrative")) else "sourced",
                "kind": " (WELLBY)" if "WELLBY" in note else "",
                "spread": "point value only" if "held at its point value" in note else "with a range",
                "source": note.split("source: ", 1)[1].split(";", 1)[0] if "source: " in note else "",
            }
        )
    return items


def validation_context(results: Path, cfg: dict, validation_md: Path | None) -> dict[str, Any]:
    synthetic = cfg.get("synthetic") or {}
    out: dict[str, Any] = {
        "has_truth": isinstance(synthetic, dict) and bool(synthetic.get("truth")),
        "truth": None,
        "validation_md": None if validation_md is None else validation_md.name,
        "markdown": None,
    }
    if out["has_truth"]:
        evt = checked_truth_table(results, cfg)
        if evt is not None:
            evt = evt.copy()
            evt["ci"] = [fmt_ci(lo, hi) for lo, hi in zip(evt["ci_lower"], evt["ci_upper"])]
            shown = evt["covered"].notna()
            out["n_covered"] = fmt_count(int(evt.loc[shown, "covered"].map(_as_bool).sum()))
            out["n_shown"] = fmt_count(int(shown.sum()))
            out["truth"] = table_data(
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
    if validation_md is not None and validation_md.is_file():
        out["markdown"] = markdown_blocks(validation_md.read_text(encoding="utf-8"))
    return out


def section_validation(results: Path, cfg: dict, validation_md: Path | None) -> str:
    return render("section-validation.html.j2", s=validation_context(results, cfg, validation_md))


def _disclosure_cfg(cfg: dict, prov: dict | None) -> dict:
    d = cfg.get("disclosure")
    if not d and prov:
        d = (prov.get("config") or {}).get("disclosure")
    return d or {}


def disclosure_context(results: Path, cfg: dict) -> dict[str, Any] | None:
    """The rule the published tables were checked with and the cells suppressed (None without the log)."""
    prov = _read_json(results / "provenance.json")
    d = _disclosure_cfg(cfg, prov)
    rule = f"minimum cell count {fmt_count(d['min_cell'])}" if "min_cell" in d else "minimum cell count: default"
    if "allow_zero" in d:
        rule += f", zeros allowed: {fmt_bool(d['allow_zero'])}"
    log = _read_csv(results / "publish" / "disclosure_log.csv")
    if log is None:
        return None
    if log.empty:
        return {"rule": rule, "log": None}
    counts = log.groupby("table", sort=True).size()
    return {
        "rule": rule,
        "n_suppressed": fmt_count(len(log)),
        "by_table": "; ".join(f"{t}: {fmt_count(n)}" for t, n in counts.items()),
        "log": table_data(log, [Col(str(c)) for c in log.columns]),
    }


def section_disclosure(results: Path, cfg: dict) -> str:
    return render("section-disclosure.html.j2", s=disclosure_context(results, cfg))


def provenance_context(results: Path, cfg: dict) -> dict[str, Any]:
    """The run's code, seed, platform, inputs (checksums) and package versions from provenance.json."""
    prov = _read_json(results / "provenance.json")
    out: dict[str, Any] = {"refutations": None, "run": None}
    ref = checked_table(results, "refutations.csv", cfg)
    if ref is not None and "n_used" in ref and not ref.empty:
        by_outcome = ref.groupby("outcome", sort=False)["n_used"].max()
        cap = (((prov or {}).get("config") or {}).get("estimation") or {}).get("dowhy", {}).get("refutation_rows")
        out["refutations"] = {
            "by_outcome": "; ".join(f"{o}: {fmt_count(n)}" for o, n in by_outcome.items()),
            "cap": f" (at most {fmt_count(cap)} rows, stratified by treatment)" if cap is not None else "",
        }
    if prov is None:
        return out
    code = prov.get("code", {}) or {}
    commit = str(code.get("commit", DASH))
    if code.get("uncommitted_changes"):
        commit += " (with uncommitted changes)"
    out["run"] = [
        ("git commit", commit),
        ("seed", str(prov.get("seed", cfg.get("seed", DASH)))),
        ("extract date", str(prov.get("extract_date", DASH))),
        ("python", str(prov.get("python", DASH))),
        ("platform", str(prov.get("platform", DASH))),
        ("provenance version", str(prov.get("deepvalue_provenance_version", DASH))),
    ]
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
    out["inputs"] = table_data(
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
    packages = prov.get("packages", {}) or {}
    out["packages"] = table_data(
        pd.DataFrame([{"package": k, "version": packages[k]} for k in sorted(packages)], columns=["package", "version"])
    )
    return out


def section_provenance(results: Path, cfg: dict) -> str:
    return render("section-provenance.html.j2", s=provenance_context(results, cfg))
