"""The answer at the end of a run (issue 18): the workflow prints a progress line per stage and,
on success, per outcome the primary estimate with its interval, the agreement of the methods, the
robustness figures, the net value and the report's path, read from the run's tables.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from types import SimpleNamespace

import pandas as pd
import pytest

from deepvalue.pipeline.progress import STAGE_DONE
from deepvalue.publish.answer import money

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def small_run(small_workflow):
    """The session's shared small run (tests/conftest.py) and what snakemake printed while running it."""
    results, _ = small_workflow
    base = results.parents[1]
    return results, SimpleNamespace(
        stdout=(base / "snakemake.stdout").read_text(), stderr=(base / "snakemake.stderr").read_text()
    )


def test_a_progress_line_per_stage(small_run):
    _, res = small_run
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("deepvalue [")]
    stages = {ln.split("]")[0].removeprefix("deepvalue [").split()[0] for ln in lines}
    # every rule of the run but the extract's synthesis (the test wrote the extract itself)
    assert stages == set(STAGE_DONE) - {"synthesize_extract"}
    assert any(ln.startswith("deepvalue [ingest_extract] extract read, checked and cleaned") for ln in lines)


def test_the_answer_is_printed_from_the_tables(small_run):
    results, res = small_run
    out = res.stdout
    assert "deepvalue: the answer of this run" in out
    est = pd.read_csv(results / "publish" / "estimates.csv")
    whole = est[est["subgroup"].isna()]
    # the three outcomes and the two questionnaire outcomes (on their points scale) of the synthetic study
    outcomes = ("job_start", "income_gain_gbp", "crisis_contacts", "wellbeing", "life_satisfaction")
    for outcome in outcomes:
        line = next(ln for ln in out.splitlines() if ln.strip().startswith(f"{outcome}:"))
        assert line.rstrip().endswith("[aipw ATT]"), line
        rows = whole[(whole["outcome"] == outcome) & (whole["method"] == "aipw") & (whole["estimand"] == "ATT")]
        row = rows[rows["scale"].isin(["points", "risk_difference", "mean_difference"])].iloc[0]
        scale = 100 if outcome == "job_start" else 1  # a risk difference is said in percentage points
        shown = float(re.search(r" by ([0-9.,]+) ", line).group(1).replace(",", ""))
        # three significant figures of the published estimate, as it is in the table
        assert shown == pytest.approx(abs(row["estimate"]) * scale, rel=5e-3), (line, row["estimate"])
        lowered = row["estimate"] < 0
        assert (" lowered " in line) == lowered and (" raised " in line) == (not lowered), line
    assert out.count("agreement: ") == len(outcomes) and out.count("robustness: E-value ") == len(outcomes)
    assert "Rosenbaum Gamma" in out and "refuters (DoWhy's) passed" in out
    value = pd.read_csv(results / "publish" / "value.csv")
    net = value[(value["level"] == "per_client") & (value["outcome"] == "total") & (value["quantity"] == "net_benefit")]
    assert f"net benefit {money(net['value'].iloc[0])} per treated client" in out
    assert "rests on illustrative unit values" in out
    assert f"report: {(results / 'report.html').resolve()}" in out
    assert f"brief: {(results / 'brief.pdf').resolve()}" in out


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext is absent (Debian's poppler-utils)")
def test_the_brief_says_what_the_console_says(small_run):
    """results/brief.pdf of a real run: at most two pages, each outcome's sentence as printed, in the manifest."""
    results, res = small_run
    pdf = results / "brief.pdf"
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert 1 <= int(re.search(r"^Pages:\s+(\d+)", info, flags=re.M).group(1)) <= 2
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, text=True, check=True)
    flat = re.sub(r"\s+", " ", text.stdout)
    sentences = [
        ln.strip().rsplit(" [", 1)[0] for ln in res.stdout.splitlines() if ln.startswith("  ") and "continuity " in ln
    ]
    assert len(sentences) == 5  # three outcomes and two questionnaire outcomes
    for sentence in sentences:
        assert sentence in flat, sentence
    assert re.search(r"^[0-9a-f]{64}  brief\.pdf$", (results / "MANIFEST.sha256").read_text(), flags=re.M)
