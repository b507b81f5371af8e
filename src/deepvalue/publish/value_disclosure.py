"""The value tables follow the disclosure of the estimates they value (rule ``derived_from_suppressed_count``).

value.csv turns the primary estimate of each outcome into money: its benefit per client divided by the
published unit value gives the effect back, its notes quote the effect and its SE, and the tornado table
(value_tornado.csv) prints the effect's confidence limits as the ``input_low`` and ``input_high`` of the
row ``"<outcome>: effect (95% CI)"``. So when the disclosure check hides the whole-cohort estimate an
outcome is valued with (a small analysed population, too few residual degrees of freedom), the outcome's
value rows lose their statistics too, and so do the totals, which would give the hidden benefit back as
a difference of published ones (total minus the other outcomes), and every row of the tornado table
(each row's net values move around the same published total).

Which estimate a value row rests on is in its ``method`` and ``estimand`` columns (written by
:mod:`deepvalue.value.valuation`); a row without them follows every whole-cohort estimate of its outcome.
"""

from __future__ import annotations

import re

import pandas as pd

VALUE_TABLE = "value.csv"
TORNADO_TABLE = "value_tornado.csv"
SOURCE_TABLE = "estimates.csv"
#: value.csv rows that add up outcomes' rows (they give a hidden outcome back as a difference)
AGGREGATE = re.compile(r"^total")


def _text(value: object) -> str:
    return "" if pd.isna(value) else str(value)


def hidden_valued_outcomes(estimates: pd.DataFrame, suppressed_rows: set[int], value: pd.DataFrame) -> set[str]:
    """The outcomes of value.csv whose valued whole-cohort estimate is among ``suppressed_rows``.

    >>> est = pd.DataFrame({"outcome": ["a", "a", "b"], "subgroup": "", "method": ["aipw", "ipw", "aipw"],
    ...                     "estimand": "ATT"})
    >>> val = pd.DataFrame({"outcome": ["a", "b", "total"], "method": ["aipw", "", "aipw"],
    ...                     "estimand": ["ATT", "", "ATT"]})
    >>> sorted(hidden_valued_outcomes(est, {1}, val)), sorted(hidden_valued_outcomes(est, {2}, val))
    ([], ['b'])
    """
    whole = estimates["subgroup"].map(_text).str.strip() == ""
    hidden = estimates.loc[sorted(r for r in suppressed_rows if whole.iloc[r])]
    keys = set(zip(hidden["outcome"].map(_text), hidden["method"].map(_text), hidden["estimand"].map(_text)))
    outcomes = {o for o, _, _ in keys}
    blank = pd.Series("", index=value.index)
    methods = (value["method"] if "method" in value.columns else blank).map(_text)
    estimands = (value["estimand"] if "estimand" in value.columns else blank).map(_text)
    out = set()
    for outcome, method, estimand in zip(value["outcome"].map(_text), methods, estimands):
        if AGGREGATE.match(outcome) or outcome not in outcomes:
            continue
        if not method or (outcome, method, estimand) in keys:
            out.add(outcome)
    return out


def value_follows_its_estimates(checkers: dict, rule: str = "derived_from_suppressed_count") -> None:
    """Suppress the statistics of value.csv and value_tornado.csv that would show a hidden estimate.

    ``checkers`` maps a published table's name to its disclosure checker
    (:class:`deepvalue.publish.disclosure._Checker`); tables absent from it are left alone.
    """
    if SOURCE_TABLE not in checkers or VALUE_TABLE not in checkers:
        return
    source, value = checkers[SOURCE_TABLE], checkers[VALUE_TABLE]
    rows = {r for r, c in source.suppressed if c == "estimate"}
    hidden = hidden_valued_outcomes(source.orig, rows, value.orig)
    if not hidden:
        return
    for row, outcome in enumerate(value.orig["outcome"].map(_text)):
        if outcome in hidden or AGGREGATE.match(outcome):
            for column in value.stats_columns():
                value.suppress(row, column, rule)
    tornado = checkers.get(TORNADO_TABLE)
    if tornado is not None:
        for row in range(len(tornado.orig)):
            for column in tornado.stats_columns():
                tornado.suppress(row, column, rule)
