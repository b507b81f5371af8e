"""The HTML report: assembles the sections of :mod:`deepvalue.publish.sections` and
:mod:`deepvalue.publish.closing_sections` from the results tables, after the disclosure checks.

:func:`build_report` writes ``results/report.html``; ``python -m deepvalue.publish.report`` is its
command line.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from deepvalue.publish.closing_sections import (
    section_disclosure,
    section_provenance,
    section_validation,
    section_value,
)
from deepvalue.publish.design_section import section_design
from deepvalue.publish.heterogeneity_section import section_heterogeneity
from deepvalue.publish.html import (
    CSS,
    esc,
)
from deepvalue.publish.plan_section import plan_block
from deepvalue.publish.sections import (
    section_balance,
    section_cohort_flow,
    section_estimates,
    section_exposure,
    section_question,
    section_refutations,
)
from deepvalue.publish.summary_section import section_summary

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
    "heterogeneity": "Heterogeneity and targeting (exploratory)",
    "value": "Value",
    "validation": "Validation against known truth",
    "disclosure": "Disclosure control",
    "provenance": "Provenance",
}


# ------------------------------------------------------------------------------ the report


def render_report(results_dir: Path, cfg: dict, validation_md: Path | None = None) -> str:
    """The report as one HTML string (see :func:`build_report`)."""
    results = Path(results_dir)
    cfg = cfg or {}
    bodies = {
        "summary": section_summary(results, cfg),
        "question-and-data": section_question(results, cfg).strip(),
        "cohort-flow": section_cohort_flow(results, cfg).strip(),
        "exposure": section_exposure(results, cfg).strip(),
        "balance": section_balance(results, cfg).strip(),
        "estimates": section_estimates(results, cfg).strip(),
        "design": section_design(results, cfg).strip(),
        "refutations-and-sensitivity": section_refutations(results, cfg).strip(),
        "heterogeneity": section_heterogeneity(results, cfg).strip(),
        "value": section_value(results, cfg).strip(),
        "validation": section_validation(results, cfg, Path(validation_md) if validation_md else None).strip(),
        "disclosure": section_disclosure(results, cfg).strip(),
        "provenance": section_provenance(results, cfg).strip(),
    }
    nav = "".join(f'<li><a href="#{sid}">{esc(SECTION_TITLES[sid])}</a></li>' for sid in SECTION_IDS)
    sections = "\n".join(
        f'<section>\n<h2 id="{sid}">{esc(SECTION_TITLES[sid])}</h2>\n{bodies[sid]}\n</section>' for sid in SECTION_IDS
    )
    title = str(cfg.get("title") or "deepvalue report: the value of continuity of care")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f"<h1>{esc(title)}</h1>\n{plan_block(results, cfg).strip()}\n<nav><ul>{nav}</ul></nav>\n{sections}\n</body>\n</html>\n"
    )


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
