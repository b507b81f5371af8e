"""The HTML report opened in a real headless Chromium (Debian package `chromium`).

Skipped only when /usr/bin/chromium is absent. Builds the report from a real workflow run on a
small synthetic extract (the session's shared run, tests/conftest.py), dumps the rendered DOM and takes a
screenshot, which is kept next to the report in the test's temporary folder (its path is printed).
"""

from __future__ import annotations

import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from deepvalue.publish import report, sections

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
CHROMIUM = Path("/usr/bin/chromium")

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="/usr/bin/chromium is absent: install the Debian package with "
    "`apt-get install -y --no-install-recommends chromium` to run the browser test",
)


def chromium_cmd(user_data_dir: Path, *extra: str) -> list[str]:
    return [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={user_data_dir}",
        *extra,
    ]


@pytest.fixture(scope="module")
def report_html(small_workflow, tmp_path_factory) -> Path:
    results, cfg = small_workflow  # shared and read-only: the report is built beside it
    out = tmp_path_factory.mktemp("report_browser") / "report.html"
    report.build_report(results, cfg, out, validation_md=REPO / "docs" / "validation.md")
    return out


class DomCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.imgs: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "h2" and a.get("id"):
            self.ids.append(a["id"])
        if tag == "img":
            self.imgs.append(a.get("src") or "")


@needs_chromium
def test_rendered_dom_has_every_section_and_image(report_html, tmp_path):
    res = subprocess.run(
        chromium_cmd(tmp_path / "profile", "--dump-dom", report_html.as_uri()),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    dom = DomCollector()
    dom.feed(res.stdout)
    assert dom.ids == list(report.SECTION_IDS), res.stdout[:500]
    assert len(dom.imgs) == len(sections.FIGURES)
    assert all(src.startswith("data:image/png;base64,") for src in dom.imgs)


@needs_chromium
def test_screenshot_is_not_blank(report_html, tmp_path):
    from matplotlib import image as mpimg

    shot = report_html.with_name("report.png")
    res = subprocess.run(
        chromium_cmd(tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,6000", report_html.as_uri()),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert shot.is_file() and shot.stat().st_size > 0, res.stderr[-3000:]
    pixels = mpimg.imread(shot)
    assert pixels.shape[:2] == (6000, 1280)
    assert float(np.var(pixels[..., :3])) > 0
    print(f"report screenshot: {shot}")
