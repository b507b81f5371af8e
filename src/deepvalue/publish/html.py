"""Data for the report's templates: number formats, tables as headers and cells of text, embedded figures,
a small Markdown subset, and reading the run's files. No markup is built here: the macros of
``templates/macros.html.j2`` lay these out, escaped (:mod:`deepvalue.publish.templating`).
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd

DASH = "\u2014"

# ------------------------------------------------------------------------------ number formats


def finite(*xs: Any) -> bool:
    """Every value is a finite number (not None, NaN, infinite or text)."""
    return all(isinstance(x, (int, float)) and math.isfinite(float(x)) for x in xs)


def _is_missing(x: Any) -> bool:
    if x is None:
        return True
    try:
        return bool(pd.isna(x))
    except (TypeError, ValueError):
        return False


def fmt_num(x: Any, sig: int = 4) -> str:
    """A number to `sig` significant digits, with thousands separators; missing -> an em dash.

    >>> fmt_num(3199468.37)
    '3,199,000'
    >>> fmt_num(0.0934206)
    '0.09342'
    >>> fmt_num(1176.92)
    '1,177'
    >>> fmt_num(-0.2864604)
    '-0.2865'
    >>> fmt_num(0.1), fmt_num(2.0), fmt_num(9999.7)
    ('0.1', '2', '10,000')
    >>> fmt_num(3.571822e-16)
    '3.572e-16'
    >>> fmt_num(float("nan")) == DASH
    True
    """
    if _is_missing(x):
        return DASH
    if isinstance(x, bool):
        return "yes" if x else "no"
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == 0:
        return "0"
    exponent = math.floor(math.log10(abs(v)))
    if exponent < -4:
        return f"{v:.{sig - 1}e}"
    decimals = sig - 1 - exponent
    rounded = round(v, decimals)
    if rounded != 0 and math.floor(math.log10(abs(rounded))) > exponent:  # 9999.7 -> 10,000
        decimals -= 1
        rounded = round(v, decimals)
    text = f"{rounded:,.{max(decimals, 0)}f}"
    if "." in text:  # as %g: no trailing zeros (0.1, not 0.1000)
        text = text.rstrip("0").rstrip(".")
    return text


def fmt_count(x: Any) -> str:
    """A count with thousands separators: ``fmt_count(38926) == '38,926'``; missing -> em dash.

    >>> fmt_count(38926.0)
    '38,926'
    """
    if _is_missing(x):
        return DASH
    try:
        return f"{int(round(float(x))):,d}"
    except (TypeError, ValueError):
        return str(x)


def fmt_ci(lo: Any, hi: Any) -> str:
    """``'lo to hi'`` with :func:`fmt_num`; em dash when either limit is missing."""
    if _is_missing(lo) or _is_missing(hi):
        return DASH
    return f"{fmt_num(lo)} to {fmt_num(hi)}"


def fmt_bool(x: Any) -> str:
    if _is_missing(x):
        return DASH
    if isinstance(x, str):
        return "yes" if x.strip().lower() in ("true", "1", "yes") else "no"
    return "yes" if bool(x) else "no"


def _as_bool(x: Any) -> bool:
    return fmt_bool(x) == "yes"


# ------------------------------------------------------------------------------ data for the templates


class Col:
    """One table column: source column name, header, formatter (value -> text) and CSS class of the cells;
    `mark`, when given, maps the value to the class of a span around the text (PASS/FAIL)."""

    def __init__(
        self,
        name: str,
        header: str | None = None,
        fmt: Callable[[Any], str] | None = None,
        cls: str = "",
        mark: Callable[[Any], str] | None = None,
    ) -> None:
        self.name = name
        self.header = header if header is not None else name
        self.fmt = fmt or (lambda v: DASH if _is_missing(v) else str(v))
        self.cls = cls
        self.mark = mark


NUM = dict(fmt=fmt_num, cls="num")
COUNT = dict(fmt=fmt_count, cls="num")
NOTE = dict(cls="note")


def table_data(frame: pd.DataFrame, cols: Iterable[Col] | None = None) -> dict[str, Any]:
    """`frame` as the ``table`` macro of ``templates/macros.html.j2`` takes it: headers and rows of cells, each
    cell its formatted text and class (all columns as text when `cols` is None)."""
    if cols is None:
        cols = [Col(str(c)) for c in frame.columns]
    cols = list(cols)
    rows = [
        [
            {"text": c.fmt(v), "cls": c.cls, "mark": c.mark(v) if c.mark else ""}
            for c in cols
            for v in (rec.get(c.name),)
        ]
        for rec in frame.to_dict("records")
    ]
    return {"headers": [c.header for c in cols], "rows": rows}


def html_table(frame: pd.DataFrame, cols: Iterable[Col] | None = None) -> str:
    """An escaped HTML table of `frame`: the ``table`` macro on :func:`table_data` (a string for tests and a
    quick look; the report's templates call the macro on the data, so nothing rendered here reaches them)."""
    from deepvalue.publish.templating import macro

    return macro("table", table_data(frame, cols))


def figure_data(path: Path, alt: str, caption: str = "") -> dict[str, str]:
    """A figure for the ``figure`` macro: the image as a base64 data URI (``src``; empty when the file is missing,
    and the macro says so). Base64 and the MIME types here have no character that HTML escaping changes."""
    src = ""
    if path.is_file():
        mime = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}.get(
            path.suffix.lower(), "application/octet-stream"
        )
        src = f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")
    return {"name": path.name, "src": src, "alt": alt, "caption": caption}


def _read_csv(path: Path) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    return pd.read_csv(path, keep_default_na=True)


def _read_json(path: Path) -> dict | None:
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def _inline_md(text: str) -> list[dict[str, Any]]:
    """`text` as spans of plain text and of markdown ``code`` (the template escapes both)."""
    spans = []
    for p in re.split(r"(`[^`]*`)", text):
        if len(p) >= 2 and p.startswith("`") and p.endswith("`"):
            spans.append({"code": True, "text": p[1:-1]})
        elif p:
            spans.append({"code": False, "text": p})
    return spans


def markdown_blocks(text: str) -> list[dict[str, Any]]:
    """A small markdown subset as data for the ``markdown`` macro: headings (as h3/h4...), paragraphs, pipe
    tables (a ``---:`` column right-aligned), code spans; no markup of the text passes through."""
    blocks: list[dict[str, Any]] = []
    lines = text.splitlines()
    i = 0
    para: list[str] = []

    def flush() -> None:
        if para:
            blocks.append({"kind": "paragraph", "spans": _inline_md(" ".join(s.strip() for s in para))})
            para.clear()

    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith("|"):
            flush()
            rows = []
            while i < len(lines) and lines[i].strip().startswith("|"):
                rows.append([c.strip() for c in lines[i].strip().strip("|").split("|")])
                i += 1
            header, align = rows[0], []
            body = rows[1:]
            if body and all(re.fullmatch(r":?-+:?", c) for c in body[0]):
                align = ["num" if c.endswith(":") else "" for c in body[0]]
                body = body[1:]
            blocks.append(
                {
                    "kind": "table",
                    "header": [_inline_md(c) for c in header],
                    "rows": [
                        [{"cls": align[j] if j < len(align) else "", "spans": _inline_md(c)} for j, c in enumerate(r)]
                        for r in body
                    ],
                }
            )
            continue
        m = re.match(r"^(#{1,6})\s+(.*)$", stripped)
        if m:
            flush()
            blocks.append({"kind": "heading", "level": min(len(m.group(1)) + 2, 6), "spans": _inline_md(m.group(2))})
        elif not stripped:
            flush()
        else:
            para.append(stripped)
        i += 1
    flush()
    return blocks


def markdown_to_html(text: str) -> str:
    """:func:`markdown_blocks` rendered by the ``markdown`` macro, every piece escaped.

    >>> markdown_to_html("| a | b |\\n|---|---:|\\n| x<y | 2 |")
    '<table><thead><tr><th>a</th><th>b</th></tr></thead><tbody>\\n<tr><td>x&lt;y</td><td class="num">2</td></tr>\\n</tbody></table>'
    """
    from deepvalue.publish.templating import macro

    return macro("markdown", markdown_blocks(text))
