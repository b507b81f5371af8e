"""Jinja2 templates of the published documents (``publish/templates/``), rendered with autoescape.

Every value a template shows is escaped by Jinja2 (``autoescape=True``); nothing in this package marks a
value :class:`markupsafe.Markup`, so only the templates' own text is markup. An undefined name is an error
(``StrictUndefined``), not an empty string. The templates are package
data (pyproject's ``package-data``), found through the installed package by
:class:`jinja2.PackageLoader`, so an editable and a regular install read the same files.

The report (``report.html.j2``, one ``section-<id>.html.j2`` per section, ``macros.html.j2``) and the PDF
brief (``brief.html.j2``) are rendered here; both show the summary from one template (``summary.html.j2``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The one template environment: autoescape on for every template, whatever its name."""
    return Environment(
        loader=PackageLoader("deepvalue.publish", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(name: str, **context: Any) -> str:
    """Render the template `name` (a file under ``publish/templates/``) with `context`.

    >>> "&lt;b&gt;" in render("summary.html.j2", **{**EMPTY_SUMMARY, "question": "<b>?"})
    True
    """
    return environment().get_template(name).render(**context)


def macro(name: str, *args: Any) -> str:
    """Call the macro `name` of ``templates/macros.html.j2`` (a table, a figure, Markdown) on plain data."""
    return str(getattr(environment().get_template("macros.html.j2").module, name)(*args))


#: A summary context with nothing in it (the doctest above, and the shape the template expects).
EMPTY_SUMMARY: dict[str, Any] = {
    "question": "",
    "answers": [],
    "figure": None,
    "robustness_note": "",
    "robustness": [],
    "value": None,
    "caveats": [],
}
