"""The report rendered from its Jinja2 templates (issue 18 item 6): what a results table says reaches the
page escaped, the sections come in the documented order, and no module of publish/ builds markup itself.

The fixture is a hand-written results folder (no workflow run), so these tests take a second.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pandas as pd

from deepvalue.publish import report

PUBLISH = Path(report.__file__).resolve().parent

#: The order docs/design.md and the report's nav promise: the summary first, provenance last.
DOCUMENTED_ORDER = [
    "summary",
    "question-and-data",
    "cohort-flow",
    "exposure",
    "balance",
    "estimates",
    "design",
    "refutations-and-sensitivity",
    "heterogeneity",
    "value",
    "validation",
    "disclosure",
    "provenance",
]

EVIL = "<script>alert('x')</script>"
ESCAPED = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"


def hostile_results(base: Path) -> tuple[Path, Path]:
    """A results folder whose outcome name, notes and refuter reading carry a script, and a Markdown file
    with one; counts are large enough that disclosure control leaves every cell."""
    results = base / "results"
    results.mkdir()
    rows = []
    for method in ("naive", "aipw", "within_worker_regression"):
        rows.append(
            {
                "outcome": EVIL,
                "subgroup": "",
                "method": method,
                "estimand": "ATT",
                "estimate": 0.1,
                "std_error": 0.02,
                "ci_lower": 0.06,
                "ci_upper": 0.14,
                "p_value": 0.001,
                "n_treated": 500,
                "n_control": 600,
                "scale": "risk_difference",
                "notes": f"note {EVIL}",
            }
        )
    pd.DataFrame(rows).to_csv(results / "estimates.csv", index=False)
    pd.DataFrame(
        {
            "outcome": [EVIL],
            "refuter": ["placebo_treatment_refuter"],
            "estimate": [0.1],
            "new_effect": [0.0],
            "p_value": [0.9],
            "passed": [True],
            "n_used": [1100],
            "simulations": [100],
            "reading": [f"reading {EVIL}"],
        }
    ).to_csv(results / "refutations.csv", index=False)
    md = base / "validation.md"
    md.write_text(f"# Validation {EVIL}\n\ntext `{EVIL}`\n\n| a |\n|---|\n| {EVIL} |\n", encoding="utf-8")
    return results, md


def test_a_script_in_a_results_table_reaches_the_page_escaped(tmp_path):
    results, md = hostile_results(tmp_path)
    page = report.render_report(results, {"title": f"title {EVIL}", "synthetic": {"truth": True}}, md)
    assert "<script" not in page.lower()
    sections = dict(re.findall(r'<h2 id="([^"]+)">.*?</h2>\n(.*?)\n</section>', page, re.S))
    # the escaped text is there, so the values did reach the page (the test can fail both ways)
    assert f"<title>title {ESCAPED}</title>" in page
    assert f"<td>{ESCAPED}</td>" in sections["estimates"]  # outcome name
    assert f'<td class="note">note {ESCAPED}</td>' in sections["estimates"]  # notes
    assert f'<td class="note">reading {ESCAPED}</td>' in sections["refutations-and-sensitivity"]
    assert f"<td>{ESCAPED}</td>" in sections["design"]
    assert f"<h3>Validation {ESCAPED}</h3>" in sections["validation"]  # docs/validation.md
    assert f"<code>{ESCAPED}</code>" in sections["validation"]


def test_the_sections_come_in_the_documented_order_summary_first(tmp_path):
    results, md = hostile_results(tmp_path)
    page = report.render_report(results, {}, md)
    assert re.findall(r'<h2 id="([^"]+)">', page) == DOCUMENTED_ORDER
    assert re.findall(r'<li><a href="#([^"]+)">', page) == DOCUMENTED_ORDER  # the nav
    assert list(report.SECTION_IDS) == DOCUMENTED_ORDER


def test_every_section_has_its_template(tmp_path):
    templates = PUBLISH / "templates"
    for sid in report.SECTION_IDS:
        assert (templates / f"section-{sid}.html.j2").is_file(), sid
    sections = report.report_context(tmp_path / "nothing", {})["sections"]
    assert [s["template"] for s in sections] == [f"section-{sid}.html.j2" for sid in DOCUMENTED_ORDER]


_TAG = re.compile(
    r"</?(?:p|div|span|table|thead|tbody|tr|td|th|h[1-6]|ul|li|b|strong|code|figure|img|svg|section|nav)\b"
)


def _docstrings(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


def test_no_module_of_publish_builds_markup_or_escapes_by_hand():
    """Markup is the templates' job: no tag in a string of publish/*.py (docstrings aside), no html.escape,
    no Markup (nothing needs to pass unescaped: figures are base64 data URIs, which escaping leaves alone)."""
    found = []
    for path in sorted(PUBLISH.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docs = _docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
                if _TAG.search(node.value):
                    found.append(f"{path.name}:{node.lineno}: {node.value[:60]!r}")
            if isinstance(node, ast.Attribute) and node.attr == "escape":
                found.append(f"{path.name}:{node.lineno}: .escape")
            if isinstance(node, ast.Name) and node.id in ("Markup", "esc"):
                found.append(f"{path.name}:{node.lineno}: {node.id}")
    assert not found, found


def test_the_check_sees_markup_built_in_python(tmp_path):
    # the check above would fail on the old way of building a cell
    tree = ast.parse("def cell(x):\n    return f'<td>{esc(x)}</td>'\n")
    strings = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    assert any(_TAG.search(s) for s in strings)
    assert any(isinstance(n, ast.Name) and n.id == "esc" for n in ast.walk(tree))


def test_the_mediation_rows_reach_the_section_and_a_small_cell_is_hidden(tmp_path):
    from deepvalue.publish.heterogeneity_section import section_heterogeneity

    results = tmp_path / "results"
    results.mkdir()
    base = {"mediator": "alliance", "estimand": "ATE", "std_error": 0.07, "p_value": 1e-6, "notes": "jackknife"}
    rows = [
        {**base, "outcome": "wellbeing", "effect": e, "estimate": v, "ci_lower": v - 0.14, "ci_upper": v + 0.14}
        | {"n_treated": 1017, "n_control": 744}
        for e, v in (
            ("total", 1.53),
            ("natural_direct", 0.96),
            ("natural_indirect", 0.571),
            ("proportion_mediated", 0.37),
        )
    ]
    rows.append({**rows[2], "outcome": EVIL, "estimate": 0.9876, "n_treated": 4})  # below the threshold of 10
    pd.DataFrame(rows).to_csv(results / "mediation.csv", index=False)
    pd.DataFrame(
        [{"outcome": "wellbeing", "estimand": "ATE", "estimate": 0.571, "bias": 0.43,
          "notes": "explain-away: gamma x delta that moves the lower limit to 0"}]
    ).to_csv(results / "mediation_sensitivity.csv", index=False)  # fmt: skip
    html = section_heterogeneity(results, {"disclosure": {"min_cell_count": 10}})
    body = html[html.index("How: mediation") :]
    assert "natural_indirect" in body and "0.571" in body and "1,017" in body
    assert "bias that explains it away" in body and "0.43" in body
    assert EVIL not in html and ESCAPED in body
    assert "0.9876" not in body  # the row of 4 treated clients lost its statistics
    assert section_heterogeneity(tmp_path, {}).count("mediation.csv") >= 1  # a missing table is said


def test_the_heterogeneity_section_reads_each_outcomes_test_in_a_sentence(tmp_path):
    from deepvalue.publish.heterogeneity_section import section_heterogeneity

    results = tmp_path / "results"
    results.mkdir()
    stats = ["blp_ate", "blp_het", *[f"gate_q{k}" for k in range(1, 6)], "gate_top_minus_bottom"]
    rows = []
    for outcome, p_het in (("income_gain_gbp", 0.002163), ("job_start", 0.7072), ("crisis_contacts", float("nan"))):
        for k, stat in enumerate(stats):
            p = p_het if stat == "blp_het" else 0.01
            rows.append({"outcome": outcome, "statistic": stat, "estimate": 100.0 * k + 1, "std_error": 10.0}
                        | {"ci_lower": 0.0, "ci_upper": 2.0, "p_value": p})  # fmt: skip
    pd.DataFrame(rows).to_csv(results / "heterogeneity.csv", index=False)
    html = section_heterogeneity(results, {"disclosure": {"min_cell_count": 10}})
    readings = html[html.index('<ul class="readings">') : html.index("</ul>")]
    assert "income_gain_gbp: the effect varies between clients (heterogeneity test p = 0.002163)" in readings
    assert "largest predicted effect: 601; the fifth with the smallest: 201" in readings  # gate_q5, gate_q1
    assert "job_start: no heterogeneity detected (p = 0.7072)" in readings
    assert "crisis_contacts: the heterogeneity test is not available" in readings


def test_the_sensitivity_table_has_a_row_per_scale_of_a_key(tmp_path):
    """One (outcome, method, estimand) can have rows on several scales (dose_levels' level contrasts, km_ipw's
    risk difference and restricted mean): the report keeps one row per scale, and a key whose only row is a
    skipped one (the restricted mean in days) is left out of the table."""
    from deepvalue.publish.sections import refutations_context

    results = tmp_path / "results"
    results.mkdir()
    rows = [
        ("job_start", "dose_levels", "level_contrast", "upc_0.5_vs_0.25", "evalue_point", 1.81, "a"),
        ("job_start", "dose_levels", "level_contrast", "upc_0.5_vs_0.25", "evalue_ci", 1.0, "a"),
        ("job_start", "dose_levels", "level_contrast", "upc_1_vs_0.25", "evalue_point", 2.19, "b"),
        ("job_start", "dose_levels", "level_contrast", "upc_1_vs_0.25", "evalue_ci", 1.49, "b"),
        ("job_start", "km_ipw", "ATT", "risk_difference_at_horizon", "evalue_point", 1.77, "c"),
        ("job_start", "km_ipw", "ATT", "rmst_difference_days", "skipped", float("nan"), "restricted mean"),
    ]
    columns = ["outcome", "method", "estimand", "scale", "measure", "value", "notes"]
    pd.DataFrame(rows, columns=columns).to_csv(results / "sensitivity.csv", index=False)
    table = refutations_context(results, {"disclosure": {"min_cell_count": 10}})["sensitivity"]
    assert table["headers"][:4] == ["outcome", "method", "estimand", "scale"]
    cells = [[c["text"] for c in r] for r in table["rows"]]
    assert [r[3] for r in cells] == ["upc_0.5_vs_0.25", "upc_1_vs_0.25", "risk_difference_at_horizon"], cells
    assert cells[1][4].startswith("2.19") and cells[0][4].startswith("1.81")  # each contrast its own E-value
