"""The report's opening summary (issue 18, item 3): first section, one sentence per outcome, one
figure, robustness, value and caveats; and a suppressed estimate stays suppressed in it."""

from __future__ import annotations

import re

import pandas as pd
from test_answer import CFG, _row, write_results

from deepvalue.core.tabular import write_csv
from deepvalue.publish import report
from deepvalue.publish.disclosure import publish


def summary_of(text: str) -> str:
    return text.split('<h2 id="summary">Summary</h2>')[1].split("<h2 ")[0]


def test_the_report_opens_with_the_summary(tmp_path):
    results = write_results(tmp_path / "results")
    out = tmp_path / "report.html"
    report.build_report(results, {**CFG, "exposure": {"window_contacts": 4, "window_max_days": 120}}, out)
    text = out.read_text(encoding="utf-8")
    assert re.findall(r'<h2 id="([^"]+)"', text)[0] == "summary" == report.SECTION_IDS[0]
    summary = summary_of(text)
    assert "<strong>The question.</strong>" in summary
    assert "job: continuity raised the share of clients with job by 10.0 percentage points (95% CI 5.0 to 15.0)." in (
        summary
    )
    assert "crises: continuity lowered crises by 0.300 per client (95% CI 0.100 to 0.500)." in summary
    assert summary.count("<svg") == 1 and summary.count("<circle") == 2  # one figure, a dot per outcome
    assert "E-value 2.50 (CI limit 1.50); Gamma 1.30" in summary
    assert "Net benefit £250 per treated client (95% interval £40 to £460), benefit-cost ratio 2.67" in summary
    assert "75% of the benefit rests on illustrative unit values" in summary
    assert "at least 4 contacts within 120 days" in summary
    assert "synthetic extract" not in summary  # not a synthetic study


def test_a_suppressed_estimate_stays_suppressed_in_the_summary(tmp_path):
    results = write_results(tmp_path / "results")
    # the crises estimate rests on 3 treated clients: the published copy suppresses it
    raw = pd.read_csv(results / "publish" / "estimates.csv")
    raw.loc[raw["outcome"] == "crises", "n_treated"] = 3
    raw.loc[(raw["outcome"] == "crises") & (raw["method"] == "aipw"), "estimate"] = -0.987654
    write_csv(raw, results / "estimates.csv")
    (results / "publish" / "estimates.csv").unlink()
    publish({"estimates.csv": results / "estimates.csv"}, results / "publish")
    published = pd.read_csv(results / "publish" / "estimates.csv")
    assert published.loc[published["outcome"] == "crises", "estimate"].isna().all()  # what the check did
    out = tmp_path / "report.html"
    report.build_report(results, {**CFG, "disclosure": {"min_cell": 10}}, out)
    summary = summary_of(out.read_text(encoding="utf-8"))
    assert "0.988" not in summary and "-0.987" not in summary and "98.8" not in summary
    assert "crises: no estimate to show (aipw ATT is missing or suppressed)." in summary
    assert summary.count("<circle") == 1  # only job is drawn
    assert "suppressed by disclosure control" in summary


def test_the_summary_without_results(tmp_path):
    out = tmp_path / "report.html"
    report.build_report(tmp_path, CFG, out)
    assert "No estimates: estimates.csv was not found" in summary_of(out.read_text(encoding="utf-8"))


def test_summary_labels_are_escaped(tmp_path):
    results = write_results(tmp_path / "results")
    est = pd.read_csv(results / "publish" / "estimates.csv")
    est = pd.concat([est, pd.DataFrame([_row("<b>x</b>", "aipw", "ATT", 1.0, 0.5, 1.5)])])
    write_csv(est, results / "publish" / "estimates.csv")
    out = tmp_path / "report.html"
    cfg = {"outcomes": [*CFG["outcomes"], {"name": "<b>x</b>", "type": "continuous"}]}
    report.build_report(results, cfg, out)
    summary = summary_of(out.read_text(encoding="utf-8"))
    assert "<b>x</b>" not in summary and "&lt;b&gt;x&lt;/b&gt;" in summary
