"""The HTML report: the data of every section (``<id>_context`` in :mod:`deepvalue.publish.sections`,
:mod:`~deepvalue.publish.closing_sections` and the section modules), read from the disclosure-checked
results tables, laid out by ``templates/report.html.j2`` and one template per section, escaped.

:func:`build_report` writes ``results/report.html``; ``python -m deepvalue.publish.report`` is its
command line.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from deepvalue.publish.closing_sections import (
    disclosure_context,
    provenance_context,
    validation_context,
    value_context,
)
from deepvalue.publish.design_section import design_context
from deepvalue.publish.heterogeneity_section import heterogeneity_context
from deepvalue.publish.plan_section import plan_context
from deepvalue.publish.sections import (
    balance_context,
    cohort_flow_context,
    estimates_context,
    exposure_context,
    question_context,
    refutations_context,
)
from deepvalue.publish.summary_section import summary_context
from deepvalue.publish.templating import render

SECTION_IDS = (
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
)

SECTION_TITLES = {
    "summary": "Summary",
    "question-and-data": "Question and data",
    "cohort-flow": "Cohort flow",
    "exposure": "Exposure",
    "balance": "Balance",
    "estimates": "Estimates",
    "design": "Design: beyond selection on observables",
    "refutations-and-sensitivity": "Refutations and sensitivity",
    "heterogeneity": "Heterogeneity, targeting and mediation (exploratory)",
    "value": "Value",
    "validation": "Validation against known truth",
    "disclosure": "Disclosure control",
    "provenance": "Provenance",
}


# ------------------------------------------------------------------------------ the report


def report_context(results_dir: Path, cfg: dict, validation_md: Path | None = None) -> dict[str, Any]:
    """What the report says, as plain data for ``templates/report.html.j2``: the title, the plan block's data
    and, in :data:`SECTION_IDS` order, each section's id, title, template and data (its ``<id>_context``)."""
    results = Path(results_dir)
    cfg = cfg or {}
    data = {
        "summary": summary_context(results, cfg),
        "question-and-data": question_context(results, cfg),
        "cohort-flow": cohort_flow_context(results, cfg),
        "exposure": exposure_context(results, cfg),
        "balance": balance_context(results, cfg),
        "estimates": estimates_context(results, cfg),
        "design": design_context(results, cfg),
        "refutations-and-sensitivity": refutations_context(results, cfg),
        "heterogeneity": heterogeneity_context(results, cfg),
        "value": value_context(results, cfg),
        "validation": validation_context(results, cfg, Path(validation_md) if validation_md else None),
        "disclosure": disclosure_context(results, cfg),
        "provenance": provenance_context(results, cfg),
    }
    return {
        "title": str(cfg.get("title") or "deepvalue report: the value of continuity of care"),
        "plan": plan_context(results, cfg),
        "sections": [
            {"id": sid, "title": SECTION_TITLES[sid], "template": f"section-{sid}.html.j2", "data": data[sid]}
            for sid in SECTION_IDS
        ],
    }


def render_report(results_dir: Path, cfg: dict, validation_md: Path | None = None) -> str:
    """The report as one HTML string (see :func:`build_report`), from ``templates/report.html.j2``."""
    return render("report.html.j2", **report_context(results_dir, cfg, validation_md))


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

    p = argparse.ArgumentParser(prog="python -m deepvalue.publish.report", description=__doc__.splitlines()[0])
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
