"""The two-page PDF brief (issue 18, item 3): rendered by WeasyPrint from the report's summary
template, read back with poppler (pdftoppm to PNG, pdftotext), at most two pages, the answer
sentences in its text and nothing the disclosure check suppresses.

Skipped only when Debian's poppler-utils is absent (`.ci/run` installs it, with WeasyPrint's
system libraries).
"""

from __future__ import annotations

import builtins
import re
import shutil
import subprocess
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_answer import CFG, _row, write_results

from conftest import REPO
from deepvalue.core.errors import DeepvalueError
from deepvalue.core.tabular import write_csv
from deepvalue.publish import brief
from deepvalue.publish.answer import run_answer
from deepvalue.publish.disclosure import publish
from deepvalue.publish.summary_section import section_summary

needs_poppler = pytest.mark.skipif(
    shutil.which("pdftoppm") is None or shutil.which("pdftotext") is None,
    reason="pdftoppm/pdftotext are absent: `apt-get install -y --no-install-recommends poppler-utils`",
)

STUDY = {**CFG, "exposure": {"window_contacts": 4, "window_max_days": 120}}


def pdf_text(pdf: Path) -> str:
    """The PDF's text with its line breaks and runs of spaces made single spaces (a sentence may wrap)."""
    res = subprocess.run(["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, text=True, check=True)
    return re.sub(r"\s+", " ", res.stdout)


def png_pages(pdf: Path, out: Path) -> list[Path]:
    subprocess.run(["pdftoppm", "-r", "60", "-png", str(pdf), str(out / "page")], check=True, capture_output=True)
    return sorted(out.glob("page*.png"))


@needs_poppler
def test_the_brief_renders_on_at_most_two_pages_with_the_answer(tmp_path):
    from matplotlib import image as mpimg

    results = write_results(tmp_path / "results")
    pdf = tmp_path / "brief.pdf"
    pages = brief.build_brief(results, STUDY, pdf)
    assert pdf.read_bytes().startswith(b"%PDF-")
    pngs = png_pages(pdf, tmp_path)
    assert 1 <= len(pngs) == pages <= brief.MAX_PAGES
    first = mpimg.imread(pngs[0])
    assert first.shape[0] > first.shape[1]  # A4 portrait
    assert float(np.var(first[..., :3])) > 0  # not blank
    text = pdf_text(pdf)
    for outcome in run_answer(results, STUDY).outcomes:
        assert outcome.sentence() in text, outcome.sentence()
    assert "job: continuity raised the share of clients with job by 10.0 percentage points (95% CI 5.0 to 15.0)." in (
        text
    )
    assert "Net benefit £250 per treated client (95% interval £40 to £460), benefit-cost ratio 2.67" in text
    assert "75% of the benefit rests on illustrative unit values" in text
    assert "E-value 2.50 (CI limit 1.50); Gamma 1.30" in text
    assert "at least 4 contacts within 120 days" in text
    # the figure's labels are text in the PDF: the two estimates and their interval limits
    for label in ("10.0", "5.0", "15.0", "-0.300", "-0.500", "-0.100", "dashed line: no effect (0)"):
        assert label in text, label


def test_the_brief_is_the_summary_section(tmp_path):
    """One content for HTML and PDF: the report's summary body is, byte for byte, inside the brief's HTML."""
    results = write_results(tmp_path / "results")
    body = section_summary(results, STUDY)
    html = brief.render_brief_html(results, STUDY)
    assert body.strip() and body.strip() in html
    assert html.count("<svg") == 1 and html.count("<circle") == 2


def test_the_same_tables_give_the_same_pdf(tmp_path):
    results = write_results(tmp_path / "results")
    first, _ = brief.brief_pdf(results, STUDY)
    second, _ = brief.brief_pdf(results, STUDY)
    assert first == second


@needs_poppler
def test_a_suppressed_estimate_is_not_in_the_brief(tmp_path):
    results = write_results(tmp_path / "results")
    # the crises estimate rests on 3 treated clients: the published copy suppresses it
    raw = pd.read_csv(results / "publish" / "estimates.csv")
    raw.loc[raw["outcome"] == "crises", "n_treated"] = 3
    raw.loc[(raw["outcome"] == "crises") & (raw["method"] == "aipw"), ["estimate", "ci_lower", "ci_upper"]] = (
        -0.987654,
        -1.234567,
        -0.765432,
    )
    write_csv(raw, results / "estimates.csv")
    (results / "publish" / "estimates.csv").unlink()
    publish({"estimates.csv": results / "estimates.csv"}, results / "publish")
    published = pd.read_csv(results / "publish" / "estimates.csv")
    assert published.loc[published["outcome"] == "crises", "estimate"].isna().all()  # what the check did
    pdf = tmp_path / "brief.pdf"
    brief.build_brief(results, {**STUDY, "disclosure": {"min_cell": 10}}, pdf)
    text = pdf_text(pdf)
    for shown in ("0.988", "0.987", "98.8", "1.23", "0.765", "0.766"):
        assert shown not in text, shown
    assert "crises: no estimate to show (aipw ATT is missing or suppressed)." in text
    assert "suppressed by disclosure control" in text
    assert "job: continuity raised the share of clients with job by 10.0 percentage points" in text


def test_labels_are_escaped_in_the_brief(tmp_path):
    results = write_results(tmp_path / "results")
    est = pd.read_csv(results / "publish" / "estimates.csv")
    est = pd.concat([est, pd.DataFrame([_row("<b>x</b>", "aipw", "ATT", 1.0, 0.5, 1.5)])])
    write_csv(est, results / "publish" / "estimates.csv")
    cfg = {"outcomes": [*CFG["outcomes"], {"name": "<b>x</b>", "type": "continuous"}], "title": "A & B <i>"}
    html = brief.render_brief_html(results, cfg)
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html
    assert "<title>A &amp; B &lt;i&gt;</title>" in html


def test_missing_system_libraries_name_the_debian_packages(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_pango(name, *args, **kwargs):
        if name == "weasyprint" or name.startswith("weasyprint."):
            raise OSError("cannot load library 'libgobject-2.0-0': libgobject-2.0-0: cannot open shared object file")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pango)
    with pytest.raises(DeepvalueError) as err:
        brief.build_brief(write_results(tmp_path / "results"), STUDY, tmp_path / "brief.pdf")
    message = str(err.value)
    assert "the PDF brief cannot be rendered" in message and "libgobject-2.0-0" in message
    assert "apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0" in message
    assert not (tmp_path / "brief.pdf").exists()


def test_the_debian_packages_are_the_ones_ci_installs():
    ci = (REPO / ".ci" / "run").read_text()
    for package in (*brief.DEBIAN_PACKAGES, "poppler-utils"):
        assert re.search(rf"apt-get install[^\n]*\b{re.escape(package)}\b", ci), package


def test_every_template_is_package_data():
    """A regular (non-editable) install carries the templates: pyproject's package-data covers each file, in
    subfolders too (setuptools' ``*`` does not cross a ``/``, so the match is segment by segment)."""
    globs = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["deepvalue"]
    package = REPO / "src" / "deepvalue"
    files = [p.relative_to(package).as_posix() for p in (package / "publish" / "templates").rglob("*") if p.is_file()]

    def covered(f: str, g: str) -> bool:
        fs, gs = f.split("/"), g.split("/")
        return len(fs) == len(gs) and all(fnmatch(a, b) for a, b in zip(fs, gs))

    assert files and all(any(covered(f, g) for g in globs) for f in files), files
    assert not covered("publish/templates/sections/x.html.j2", "publish/templates/*.j2")
