"""The HTML report (deepvalue.publish.report) built from a real workflow run on a small synthetic extract.

The session fixture `small_workflow` (tests/conftest.py) runs `deepvalue synth` (1,500 clients, seed 3)
and the real snakemake workflow once per test session, so every section is built from real results.
"""

from __future__ import annotations

import base64
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from deepvalue.publish import closing_sections, html, report, sections

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


@pytest.fixture(scope="session")
def small_run(small_workflow):
    """The shared small run (conftest.small_workflow): read it, write nothing into it."""
    return small_workflow


@pytest.fixture(scope="session")
def built(small_run, tmp_path_factory):
    results, cfg = small_run
    out = tmp_path_factory.mktemp("report") / "report.html"
    report.build_report(results, cfg, out, validation_md=REPO / "docs" / "validation.md")
    return out


class Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.h2_ids: list[str] = []
        self.img_src: list[str] = []
        self.links: list[tuple[str, str, str]] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        if tag == "h2" and "id" in a:
            self.h2_ids.append(a["id"])
        if tag == "img":
            self.img_src.append(a.get("src") or "")
        for name in ("src", "href"):
            if a.get(name):
                self.links.append((tag, name, a[name]))


def parse(path: Path) -> Collector:
    c = Collector()
    c.feed(path.read_text(encoding="utf-8"))
    return c


def test_every_section_has_an_h2_with_its_id(built):
    ids = parse(built).h2_ids
    assert ids == list(report.SECTION_IDS)
    assert set(ids) >= {
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
    }


def test_every_image_is_an_embedded_png(built):
    srcs = parse(built).img_src
    # 2 cohort figures, Love plot, overlap, forest, km curves, the value's tornado
    assert len(srcs) == len(sections.FIGURES) == 7
    for src in srcs:
        assert src.startswith("data:image/png;base64,"), src[:60]
        assert base64.b64decode(src.split(",", 1)[1], validate=True)[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Figure not available" not in built.read_text(encoding="utf-8")


def test_no_external_resources_or_scripts(built):
    c = parse(built)
    for tag, attr, value in c.links:
        assert not re.match(r"(?i)\s*(https?:)?//", value), (tag, attr, value[:80])
        if attr == "href":
            assert value.startswith("#"), value
    assert "script" not in c.tags and "link" not in c.tags and "iframe" not in c.tags
    assert not re.search(r"(?i)url\(\s*['\"]?(https?:)?//", built.read_text(encoding="utf-8"))


def test_two_builds_give_identical_bytes(small_run, built, tmp_path):
    results, cfg = small_run
    again = tmp_path / "again.html"
    report.build_report(results, dict(cfg), again, validation_md=REPO / "docs" / "validation.md")
    assert again.read_bytes() == built.read_bytes()


def test_illustrative_notice_is_prominent(built):
    text = built.read_text(encoding="utf-8")
    assert 'id="illustrative-notice"' in text
    assert sections.ILLUSTRATIVE_NOTICE in text
    value = text.split('<h2 id="value"')[1].split("<h2 ")[0]
    assert value.index("illustrative-notice") < value.index("<table")  # above the tables


def test_sections_show_their_content(small_run, built):
    results, _ = small_run
    text = built.read_text(encoding="utf-8")
    sections = {sid: text.split(f'<h2 id="{sid}"')[1].split("<h2 ")[0] for sid in report.SECTION_IDS}
    assert "Extract date:" in sections["question-and-data"]
    assert "38,926" not in sections["question-and-data"]  # the small extract, not the default one
    assert 'class="flow-box"' in sections["cohort-flow"] and "analysis cohort" in sections["cohort-flow"]
    assert "Treated (continuous care) share" in sections["exposure"]
    assert "max |SMD|" in sections["balance"]
    assert "Whole-cohort estimates" in sections["estimates"] and "Skipped methods" in sections["estimates"]
    assert "PASS" in sections["refutations-and-sensitivity"]
    assert "Rosenbaum Gamma" in sections["refutations-and-sensitivity"]
    assert "Cohort totals" in sections["value"]
    # synthetic config -> covered yes/no and the rendered docs/validation.md table
    assert "<td>yes</td>" in sections["validation"] and "coverage (MCSE)" in sections["validation"]
    log = pd.read_csv(results / "publish" / "disclosure_log.csv")
    if log.empty:
        assert "Nothing suppressed" in sections["disclosure"]
    else:
        assert f"{len(log):,d} cells suppressed" in sections["disclosure"]
    assert "DoWhy refutations ran on a subsample of n_used clients" in sections["provenance"]
    assert re.search(r"<td[^>]*>[0-9a-f]{64}</td>", sections["provenance"])  # sha256 of an input


def test_counts_have_thousands_separators(small_run, built):
    results, _ = small_run
    flow = pd.read_csv(results / "cohort" / "flow.csv")
    n = int(flow["n_remaining"].iloc[0])
    assert f"n = {n:,d}" in built.read_text(encoding="utf-8")


def test_validation_not_applicable_without_truth(small_run, tmp_path):
    results, cfg = small_run
    cfg = {k: v for k, v in cfg.items() if k != "synthetic"}
    out = tmp_path / "r.html"
    report.build_report(results, cfg, out)
    section = out.read_text(encoding="utf-8").split('<h2 id="validation"')[1].split("<h2 ")[0]
    assert "Not applicable" in section and "<table" not in section


def test_table_cells_are_escaped():
    frame = pd.DataFrame({"a": ["<script>alert(1)</script>"], "b": [1234567.0]})
    out = html.html_table(frame, [html.Col("a"), html.Col("b", **html.NUM)])
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert "1,235,000" in out


def test_markdown_tables_are_escaped():
    out = html.markdown_to_html("# T\n\ntext `x<1`\n\n| a |\n|---|\n| <b>no</b> |\n")
    assert "<b>" not in out and "&lt;b&gt;" in out and "<code>x&lt;1</code>" in out


@pytest.mark.parametrize(
    "value, expected",
    [
        (0.0, "0"),
        (12345.678, "12,350"),
        (-1234.5, "-1,234"),
        (0.000123456, "0.0001235"),
        (1e-7, "1.000e-07"),
        (float("nan"), html.DASH),
        (None, html.DASH),
        (1.0, "1"),
    ],
)
def test_fmt_num(value, expected):
    assert html.fmt_num(value) == expected


def test_missing_inputs_do_not_stop_the_report(tmp_path):
    out = tmp_path / "empty.html"
    report.build_report(tmp_path / "nothing", {}, out)
    ids = parse(out).h2_ids
    assert ids == list(report.SECTION_IDS)
    assert "Not available" in out.read_text(encoding="utf-8")


def test_each_figure_is_embedded_byte_for_byte(small_run, built):
    results, _ = small_run
    srcs = parse(built).img_src
    for rel in sections.FIGURES:
        encoded = base64.b64encode((results / rel).read_bytes()).decode("ascii")
        assert f"data:image/png;base64,{encoded}" in srcs, rel


def test_steps_on_a_subsample_are_said_in_the_refutations_section(tmp_path):
    # DoWhy ran on 100 of 900 clients, its bootstrap on 50 rows, the refuters on 60: all said;
    # a refuter that used every client is not called a subsample
    pd.DataFrame(
        {
            "outcome": ["y", "y", "z"],
            "subgroup": ["", "", ""],
            "method": ["naive", "dowhy_psm", "naive"],
            "n_treated": [400, 50, 300],
            "n_control": [500, 50, 300],
            "notes": [
                "",
                "stratified subsample of 100 of 900 rows (seed 1); bootstrap: 100 replicates of 50 rows "
                "drawn from the 100 (m-out-of-n), SE and CI scaled by sqrt(50/100)",
                "",
            ],
        }
    ).to_csv(tmp_path / "estimates.csv", index=False)
    pd.DataFrame(
        {
            "outcome": ["y", "z"],
            "refuter": ["placebo_treatment_refuter"] * 2,
            "passed": [True, True],
            "n_used": [60, 600],
        }
    ).to_csv(tmp_path / "refutations.csv", index=False)
    page = sections.section_refutations(tmp_path, {})
    assert (
        "Run on subsamples (stratified by treatment): DoWhy estimates, y 100 of 900 clients; their "
        "bootstrap, replicates of 50 rows drawn from all (m-out-of-n; SE and CI rescaled to the full size); "
        "DoWhy refuters, y 60 of 900 clients. "
        "Our own estimates use every client."
    ) in page
    pd.DataFrame(
        {"outcome": ["z"], "refuter": ["placebo_treatment_refuter"], "passed": [True], "n_used": [600]}
    ).to_csv(tmp_path / "refutations.csv", index=False)
    pd.read_csv(tmp_path / "estimates.csv").iloc[[2]].to_csv(tmp_path / "estimates.csv", index=False)
    assert "Run on subsamples" not in sections.section_refutations(tmp_path, {})


def test_outcomes_not_valued_get_a_line_in_the_value_section(tmp_path):
    from deepvalue.value.valuation import load_values, value_table

    values = load_values(Path(__file__).resolve().parents[2] / "config" / "values.yaml")
    estimates = pd.DataFrame(
        {
            "outcome": ["Job entry", "crisis_contacts"],
            "subgroup": [None, None],
            "method": ["aipw", "aipw"],
            "estimand": ["ATT", "ATT"],
            "estimate": [0.1, -0.2],
            "std_error": [0.02, 0.05],
            "n_treated": [500, 500],
        }
    )
    table = value_table(estimates, values, n_clients=500, draws=100, outcomes=["Job entry", "crisis_contacts"])
    table.to_csv(tmp_path / "value.csv", index=False)
    out = closing_sections.section_value(tmp_path, {})
    notice = re.search(r'<div class="notice" id="not-valued">(.*?)</div>', out, re.S)
    assert notice and "<b>Job entry</b>: no unit value for this outcome in the values file" in notice.group(1)
    assert "crisis_contacts" not in notice.group(1)
    assert "1 outcome)" in notice.group(1)


def test_constant_covariates_left_out_are_said_in_the_balance_section(tmp_path):
    import json

    (tmp_path / "match").mkdir()
    summary = {"thresholds": {"smd": 0.1, "variance_ratio": [0.5, 2]}, "max_abs_smd": {}, "flagged": {}}
    (tmp_path / "match" / "summary.json").write_text(json.dumps({**summary, "dropped_constant": ["disability"]}))
    out = sections.section_balance(tmp_path, {})
    assert 'id="dropped-constant"' in out and "disability" in out
    (tmp_path / "match" / "summary.json").write_text(json.dumps({**summary, "dropped_constant": []}))
    assert "dropped-constant" not in sections.section_balance(tmp_path, {})


def test_questionnaire_outcomes_end_to_end(small_run, built):
    """Issue 15 on the small extract: responses.csv through ingest, cohort, every estimator, the
    sensitivity table, publication and the report; value.csv does not value them."""
    results, _ = small_run
    est = pd.read_csv(results / "estimates.csv", keep_default_na=False, na_values=[""])
    whole = est[est["subgroup"].isna()]
    wb = whole[whole["outcome"] == "wellbeing"]
    assert set(wb["scale"]) >= {"points", "baseline_sd", "share_meaningful_change"}
    assert wb.loc[wb["method"] != "naive", "notes"].str.contains("ANCOVA: wellbeing_baseline").all()
    assert set(whole.loc[whole["outcome"] == "life_satisfaction", "scale"]) >= {"points", "baseline_sd"}
    vs = pd.read_csv(results / "estimates_vs_truth.csv")
    q = vs[vs["outcome"].isin(["wellbeing", "life_satisfaction"]) & vs["method"].isin(["regression", "aipw"])]
    assert len(q) == 20 and (q["error_in_se"].abs() < 3.5).all(), q
    sens = pd.read_csv(results / "sensitivity.csv")
    mine = sens[sens["outcome"] == "wellbeing"]
    assert len(mine) and mine["notes"].str.contains("points scale").all()
    assert not mine.duplicated(["method", "estimand", "measure"]).any()
    # value.csv: life satisfaction in WELLBYs (the wellbeing account), SWEMWBS not valued (no official conversion)
    val = pd.read_csv(results / "value.csv")
    ls = val[(val["outcome"] == "life_satisfaction") & (val["quantity"] == "benefit")]
    assert len(ls) and (ls["account"] == "wellbeing").all() and ls["value"].notna().all()
    swemwbs = val[val["outcome"] == "wellbeing"]
    assert swemwbs["value"].isna().all() and swemwbs["notes"].str.startswith("not valued").all()
    assert (results / "publish" / "estimates.csv").is_file()
    html = built.read_text()
    assert "Questionnaires: internal consistency" in html and "share_meaningful_change" in html
