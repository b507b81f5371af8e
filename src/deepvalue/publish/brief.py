"""The two-page PDF brief for a policy maker (``results/brief.pdf``): the report's summary section
(:mod:`deepvalue.publish.summary_section`) under a title, laid out for A4 by
``templates/brief.html.j2`` and rendered by WeasyPrint.

One content for HTML and PDF: the brief renders :func:`~deepvalue.publish.summary_section.summary_context`
through the same template (``summary.html.j2``) as the report's first section, so it says nothing the
summary does not, and it reads only the disclosure-checked tables (a suppressed estimate is neither said
nor drawn). WeasyPrint needs Pango from the system: on Debian the packages of :data:`DEBIAN_PACKAGES`
(WeasyPrint's "First Steps", Debian >= 11, installing in a virtualenv from wheels); without them the
stage stops with a message naming them.

``python -m deepvalue.publish.brief --config study.yaml`` is its command line.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from deepvalue.core.errors import DeepvalueError, Problem
from deepvalue.publish.summary_section import summary_context
from deepvalue.publish.templating import render

log = logging.getLogger(__name__)

#: The Debian packages WeasyPrint's documentation lists for a virtualenv installed from wheels.
DEBIAN_PACKAGES = ("libpango-1.0-0", "libpangoft2-1.0-0", "libharfbuzz-subset0")
#: The brief is meant to fit on this many pages (a longer one is written, with a warning in the log).
MAX_PAGES = 2

LEDE = (
    "A two-page brief for a policy maker: the summary that opens the report (report.html), from the run's "
    "disclosure-checked tables. The report has the methods, the tables and the checks behind every figure here."
)


def render_brief_html(results: Path, cfg: dict) -> str:
    """The brief as one HTML string (what WeasyPrint lays out)."""
    cfg = cfg or {}
    title = str(cfg.get("title") or "The value of continuity of care: a brief")
    return render("brief.html.j2", title=title, lede=LEDE, **summary_context(Path(results), cfg))


def _weasyprint():
    """WeasyPrint's HTML class, or a :class:`DeepvalueError` naming what to install."""
    try:
        from weasyprint import HTML
    except ImportError as exc:  # the Python package (a conda env built before it was added)
        raise DeepvalueError(
            [Problem("environment", None, f"WeasyPrint is not installed ({exc})", "pip install -r requirements.lock")],
            headline="the PDF brief cannot be rendered",
        ) from None
    except OSError as exc:  # Pango and HarfBuzz are loaded from the system when weasyprint is imported
        packages = " ".join(DEBIAN_PACKAGES)
        raise DeepvalueError(
            [
                Problem(
                    "environment",
                    None,
                    f"WeasyPrint cannot load its system libraries (Pango, HarfBuzz): {exc}",
                    f"on Debian or Ubuntu: apt-get install -y --no-install-recommends {packages} "
                    "(other systems: WeasyPrint's installation guide)",
                )
            ],
            headline="the PDF brief cannot be rendered",
        ) from None
    return HTML


def brief_pdf(results: Path, cfg: dict) -> tuple[bytes, int]:
    """The brief's PDF bytes and its page count; the same tables give the same bytes."""
    html_class = _weasyprint()
    document = html_class(string=render_brief_html(Path(results), cfg), base_url=str(Path(results))).render()
    return document.write_pdf(), len(document.pages)


def build_brief(results_dir: Path, cfg: dict, out_path: Path) -> int:
    """Write the brief of the run in `results_dir` to `out_path` (parents created); return its page count."""
    data, pages = brief_pdf(Path(results_dir), cfg)
    if pages > MAX_PAGES:
        log.warning("the brief runs to %d pages (meant to fit on %d)", pages, MAX_PAGES)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    return pages


def main(argv: list[str] | None = None) -> None:
    import yaml

    p = argparse.ArgumentParser(prog="python -m deepvalue.publish.brief", description=__doc__.splitlines()[0])
    p.add_argument("--results", type=Path, default=Path("results"))
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--out", type=Path, default=Path("results/brief.pdf"))
    a = p.parse_args(argv)
    cfg = yaml.safe_load(a.config.read_text(encoding="utf-8")) or {}
    pages = build_brief(a.results, cfg, a.out)
    print(f"wrote {a.out} ({pages} page{'s' if pages != 1 else ''})")


if __name__ == "__main__":  # pragma: no cover
    main()
