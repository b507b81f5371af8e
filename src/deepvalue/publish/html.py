"""HTML building blocks of the report: number formats, escaped tables, embedded figures, a small
Markdown subset, and reading the run's tables (each cell escaped with :func:`html.escape`).
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd

DASH = "\u2014"

CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0 auto;max-width:1180px;
padding:1em 2em;color:#222;line-height:1.4}
h1{border-bottom:3px solid #2b5d8a;padding-bottom:.2em}
h2{border-bottom:1px solid #bbb;margin-top:2em;color:#2b5d8a}
table{border-collapse:collapse;margin:.6em 0 1.2em 0;font-size:.85em}
th,td{border:1px solid #ccc;padding:3px 7px;vertical-align:top}
th{background:#eef2f6;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.note{font-size:.9em;color:#444;max-width:42em}
img{max-width:100%;height:auto;border:1px solid #ddd;margin:.4em 0}
figure{margin:.6em 0}
figcaption{font-size:.85em;color:#555}
.notice{border:3px solid #b00020;background:#fff0f0;color:#7a0014;padding:.8em 1em;font-weight:bold;
margin:1em 0}
.info{border-left:4px solid #2b5d8a;background:#f3f7fb;padding:.5em 1em;margin:.8em 0}
.pass{color:#0a6b2d;font-weight:bold}
.fail{color:#b00020;font-weight:bold}
.missing{color:#8a5a00;font-style:italic}
.flow{display:flex;flex-direction:column;align-items:flex-start;gap:0;margin:1em 0}
.flow-row{display:flex;align-items:center;gap:1.2em}
.flow-box{border:2px solid #2b5d8a;background:#f3f7fb;padding:.5em .9em;width:18em;box-sizing:border-box;
text-align:center;border-radius:4px}
.flow-excl{border:1px dashed #b06000;background:#fff7ec;padding:.35em .7em;max-width:30em;font-size:.85em;
border-radius:4px}
.flow-arrow{width:18em;text-align:center;color:#2b5d8a;font-size:1.3em;line-height:1.1}
.flow-n{font-size:1.15em;font-weight:bold}
nav ul{columns:2;font-size:.95em}
code{background:#f2f2f2;padding:0 .2em}
"""


# ------------------------------------------------------------------------------ number formats


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


# ------------------------------------------------------------------------------ HTML pieces


def esc(x: Any) -> str:
    return html.escape("" if x is None else str(x), quote=True)


class Col:
    """One table column: source column name, header, formatter and CSS class of the cells."""

    def __init__(
        self,
        name: str,
        header: str | None = None,
        fmt: Callable[[Any], str] | None = None,
        cls: str = "",
        raw: bool = False,
    ) -> None:
        self.name = name
        self.header = header if header is not None else name
        self.fmt = fmt or (lambda v: DASH if _is_missing(v) else str(v))
        self.cls = cls
        self.raw = raw  # fmt returns trusted HTML (built from escaped pieces)


NUM = dict(fmt=fmt_num, cls="num")
COUNT = dict(fmt=fmt_count, cls="num")
NOTE = dict(cls="note")


def html_table(frame: pd.DataFrame, cols: Iterable[Col] | None = None) -> str:
    """An escaped HTML table of `frame` (all columns as text when `cols` is None)."""
    if cols is None:
        cols = [Col(str(c)) for c in frame.columns]
    cols = list(cols)
    head = "".join(f"<th>{esc(c.header)}</th>" for c in cols)
    body = []
    for rec in frame.to_dict("records"):
        cells = []
        for c in cols:
            text = c.fmt(rec.get(c.name))
            cell = text if c.raw else esc(text)
            attr = f' class="{c.cls}"' if c.cls else ""
            cells.append(f"<td{attr}>{cell}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>\n" + "\n".join(body) + "\n</tbody></table>"


def kv_table(pairs: Iterable[tuple[str, str]]) -> str:
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in pairs)
    return f"<table><tbody>{rows}</tbody></table>"


def img_tag(path: Path, alt: str, caption: str = "") -> str:
    """A figure with the image embedded as a base64 data URI; a notice if the file is missing."""
    if not path.is_file():
        return f'<p class="missing">Figure not available: {esc(path.name)} was not found.</p>'
    mime = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}.get(
        path.suffix.lower(), "application/octet-stream"
    )
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="data:{mime};base64,{data}" alt="{esc(alt)}">{cap}</figure>'


def missing(what: str) -> str:
    return f'<p class="missing">Not available: {esc(what)} was not found in the results folder.</p>'


def _read_csv(path: Path) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    return pd.read_csv(path, keep_default_na=True)


def _read_json(path: Path) -> dict | None:
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def _inline_md(text: str) -> str:
    """Escape `text` and turn markdown ``code`` spans into <code>."""
    parts = re.split(r"(`[^`]*`)", text)
    out = []
    for p in parts:
        if len(p) >= 2 and p.startswith("`") and p.endswith("`"):
            out.append(f"<code>{esc(p[1:-1])}</code>")
        else:
            out.append(esc(p))
    return "".join(out)


def markdown_to_html(text: str) -> str:
    """A small, safe markdown subset: headings (as h3/h4), paragraphs, pipe tables, code spans.

    >>> markdown_to_html("| a | b |\\n|---|---:|\\n| x<y | 2 |")
    '<table><thead><tr><th>a</th><th>b</th></tr></thead><tbody>\\n<tr><td>x&lt;y</td><td class="num">2</td></tr>\\n</tbody></table>'
    """
    blocks: list[str] = []
    lines = text.splitlines()
    i = 0
    para: list[str] = []

    def flush() -> None:
        if para:
            blocks.append("<p>" + _inline_md(" ".join(s.strip() for s in para)) + "</p>")
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
            head = "".join(f"<th>{_inline_md(c)}</th>" for c in header)
            trs = []
            for r in body:
                tds = []
                for j, c in enumerate(r):
                    cls = align[j] if j < len(align) else ""
                    attr = f' class="{cls}"' if cls else ""
                    tds.append(f"<td{attr}>{_inline_md(c)}</td>")
                trs.append("<tr>" + "".join(tds) + "</tr>")
            blocks.append(f"<table><thead><tr>{head}</tr></thead><tbody>\n" + "\n".join(trs) + "\n</tbody></table>")
            continue
        m = re.match(r"^(#{1,6})\s+(.*)$", stripped)
        if m:
            flush()
            level = min(len(m.group(1)) + 2, 6)
            blocks.append(f"<h{level}>{_inline_md(m.group(2))}</h{level}>")
        elif not stripped:
            flush()
        else:
            para.append(stripped)
        i += 1
    flush()
    return "\n".join(blocks)
