"""Counts in free text: notes, readings, reasons and other text cells of a table that leaves the secure
environment (the rule ``free_text_count`` of :mod:`deepvalue.publish.disclosure`).

A table's count columns are checked cell by cell, but its notes quote numbers too ("unmatched: 1 no control
within caliper", "all 1 clients with start_quarter=2024Q1 = 1 are treated", "8 events and 28 non-events
among the treated, 4 and 47 among the controls"). The check treats every standalone integer of a text cell
as a possible count of people, and rewrites

* an integer from 1 to ``min_cell - 1`` as "fewer than <min_cell>", unless its context says it is not a
  count (:data:`NOT_COUNT_BEFORE`, :data:`NOT_COUNT_AFTER`: a setting or threshold such as "at least 5",
  a value after "=" such as "df = 1", a number of parameters, levels, replicates, years, days or GBP, an
  ordinal such as "contact 4", a seed);
* a zero, when zeros are small cells (``allow_zero=False``), only where a count word follows it ("0 events");
* an integer that equals the value of a count suppressed in a published table (``suppressed``), and the
  smaller of two integers of one cell that differ by 1 to ``min_cell - 1`` ("1338 of 1339 treated clients":
  the difference is a small count), as "[suppressed]", in the same contexts.

Integers that are part of a word, a decimal, a ratio, a date or a percentage ("2SLS", "S07", "2024Q1",
"0.25", "1:1", "2025-12-31", "95%") are not standalone. The context rules are tested on every phrasing the
pipeline writes (tests/unit/test_free_text.py); a new phrasing with a small integer is rewritten unless it
matches one of them, so the check errs towards redacting.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

SUPPRESSED_TEXT = "[suppressed]"

# a standalone integer (with or without thousands separators): not inside a word, decimal, ratio, date
_NUMBER = re.compile(r"(?<![\w.,:/\-+])(\d{1,3}(?:,\d{3})+|\d+)(?![\w%]|[.,:/\-]\d|-[A-Za-z])")

#: Words just before an integer that make it a setting, threshold, value or position, not a count.
NOT_COUNT_BEFORE = re.compile(
    r"(?:\b(?:at least|at most|fewer than|more than|less than|greater than|no more than|no fewer than|"
    r"minimum|maximum|seed|version|contact|year|step|first:|nn\(|factor|upc|coc|secon|hhi|mmci|k_index|"
    r"gamma|level|chapter|section|table|figure|line|all 0 or all)\s*|[=<>\u2264\u2265]\s*|"
    r"\s[-+*/x]\s)$",
    re.IGNORECASE,
)

#: Words just after an integer (one or two words on) that make it a setting, unit or size of a model.
NOT_COUNT_AFTER = re.compile(
    r"^\s*(?:\S+\s+)?(?:parameters?|levels?|replicates?|simulations?|draws?|folds?|jobs?|y|yrs?|years?|days?|"
    r"weeks?|months?|hours?|minutes?|seconds?|GBP|SDs?|df|degrees?|digits?|decimals?|matches|times|"
    r"outcomes?|methods?|covariates?|columns?|instruments?|categories|quarters?|sites?|services?|"
    r"subgroups?|tables?|files?|prices|percent|per cent|vs)\b",
    re.IGNORECASE,
)

#: Count words: a zero followed by one of these is a zero count (checked only when zeros are small cells).
COUNT_WORDS = re.compile(
    r"^\s*(?:\S+\s+){0,2}?(?:clients?|people|persons?|individuals?|patients?|workers?|rows?|records?|cases?|"
    r"observations?|treated|controls?|events?|non-events?|clusters?|pairs?|members?|clipped|unmatched|"
    r"excluded|dropped|trimmed|removed|used|contacts?)\b",
    re.IGNORECASE,
)

# the name before "=": a count name makes the value a count ("n = 3"), any other a value ("df = 1")
_COUNT_NAME_BEFORE_EQUALS = re.compile(r"\b(?:n|n_\w+|count\w*|clients|treated|controls?)\s*=\s*$", re.IGNORECASE)


# a part and its whole: "1338 of 1339 (treated clients)", "1000 clients (995 treated)"
_INT = r"(\d{1,3}(?:,\d{3})+|\d+)"
_PARTS = (re.compile(_INT + r"\s+of\s+(?:the\s+)?" + _INT), re.compile(_INT + r"\s+[A-Za-z][\w-]*\s+\(" + _INT))


def _as_int(text: str) -> int:
    return int(text.replace(",", ""))


def _is_counted(text: str, start: int, end: int) -> bool:
    """Whether the integer at text[start:end] may be a count of people (see the module docstring)."""
    before = text[max(0, start - 40) : start]
    after = text[end : end + 40]
    if _COUNT_NAME_BEFORE_EQUALS.search(before):
        return True
    if NOT_COUNT_BEFORE.search(before):
        return False
    return not NOT_COUNT_AFTER.match(after)


def redact_counts(text: str, min_cell: int, allow_zero: bool = True, suppressed: Iterable[int] = ()) -> tuple[str, int]:
    """``text`` with its possible counts below ``min_cell`` (and copies of suppressed counts) rewritten.

    Returns the new text and the number of integers rewritten.

    Examples
    --------
    >>> redact_counts("all 1 clients with start_quarter=2024Q1 = 1 are treated", 10)
    ('all fewer than 10 clients with start_quarter=2024Q1 = 1 are treated', 1)
    >>> redact_counts("matched within this population: 1338 of 1339 treated clients; unmatched: 1 no control", 10)[0]
    'matched within this population: [suppressed] of 1339 treated clients; unmatched: fewer than 10 no control'
    >>> redact_counts("at least 5 per parameter; df = 1; across 2 levels; 2SLS; 0.25; (2 y, r 0.035)", 10)
    ('at least 5 per parameter; df = 1; across 2 levels; 2SLS; 0.25; (2 y, r 0.035)', 0)
    """
    if not isinstance(text, str) or not text:
        return text, 0
    hidden = {int(v) for v in suppressed}
    found = [(m.start(), m.end(), _as_int(m.group(1))) for m in _NUMBER.finditer(text)]
    counted = [(s, e, v) for s, e, v in found if _is_counted(text, s, e)]
    replace: dict[tuple[int, int], str] = {}
    for s, e, v in found:
        if v == 0 and not allow_zero and COUNT_WORDS.match(text[e : e + 40]):
            replace[(s, e)] = f"fewer than {min_cell}"
    for s, e, v in counted:
        if 0 < v < min_cell:
            replace[(s, e)] = f"fewer than {min_cell}"
        elif v >= min_cell and v in hidden:
            replace[(s, e)] = SUPPRESSED_TEXT
    large = {(s, e): v for s, e, v in counted if v >= min_cell}
    for pattern in _PARTS:
        for m in pattern.finditer(text):
            part, whole = m.span(1), m.span(2)
            if part in large and whole in large and 0 < large[whole] - large[part] < min_cell:
                replace.setdefault(part, SUPPRESSED_TEXT)
            elif part in large and whole in large and 0 < large[part] - large[whole] < min_cell:
                replace.setdefault(whole, SUPPRESSED_TEXT)
    if not replace:
        return text, 0
    out, last = [], 0
    for s, e in sorted(replace):
        out.append(text[last:s])
        out.append(replace[(s, e)])
        last = e
    out.append(text[last:])
    return "".join(out), len(replace)
