"""Output checking (statistical disclosure control) for tables that leave the secure environment.

The rules follow the principles-based / rules-of-thumb output checking used by the UK Secure Research
Service and the ONS ("Statistical Disclosure Control" guidance and the SDC Handbook used by ONS SRS output
checkers; the same rules of thumb as Eurostat / SDAP "Handbook on Statistical Disclosure Control for
Outputs", 2019 and the GSS "Disclosure control for tables produced from administrative sources"):

1. Threshold rule (``primary_min_cell``). No count below ``min_cell`` (default 10) in any count column.
   Count columns are columns named ``n``, ``n_*`` or ``count*`` (case-insensitive). A cell with
   ``0 < n < min_cell`` is suppressed (set empty). Zero counts are allowed by default (``allow_zero=True``):
   in this pipeline a zero is a structural zero (an exclusion rule that removed nobody, a stratum without
   unmatched clients); it identifies nobody and reveals no attribute of anybody. Set ``allow_zero=False`` to
   treat zeros as small cells (``0 <= n < min_cell``).

   Derived statistics (``derived_from_suppressed_count``). In a table that is not a flow table, when a count
   in a row is suppressed, every other numeric column of that row (e.g. estimate, std_error, ci_lower,
   ci_upper, p_value in estimates.csv; sum_weights, ess in balance_summary.csv; new_effect, p_value in
   refutations.csv) is suppressed too, and so are the free-text columns in ``FREE_TEXT_COLUMNS`` (notes,
   reading), which quote numbers computed from the same rows.

   Complementary counts (``secondary_complement``). A suppressed ``n_treated`` / ``n_control`` also
   suppresses the other count of the pair in that row, because their sum is the analysis sample published
   in the flow tables (cross-table differencing). In a table with ``group`` and ``n`` columns, a suppressed
   ``n`` suppresses ``n`` in every row sharing the other label columns (the groups add up to a published
   total).

2. Secondary suppression in flow tables (``secondary_differencing``). A flow table has ``n_remaining`` and
   ``n_excluded``; ``n_remaining`` is the count AFTER the row's exclusion, so for consecutive linked rows
   ``R[i] = R[i-1] - E[i]``. Row i is linked to row i-1 when that identity holds in the unsuppressed data
   and the label columns other than ``step``/``reason`` (e.g. ``outcome``) are equal; linked rows form a
   chain. After primary suppression the published cells of a chain are audited as a linear system: for
   every suppressed cell the feasible range given the published cells, the chain identities and
   non-negativity is computed by linear programming; a cell is protected when that range is at least
   ``min_cell`` wide (so it can be neither recovered exactly by differencing nor pinned to a small
   interval). While some cell is unprotected, one more cell is suppressed, chosen deterministically among
   the published cells of identities that involve an unprotected cell: non-zero cells before zeros, then
   exclusions before remaining counts, exclusions earliest row first, remaining counts latest row first.
   For a single small exclusion ``E[i]`` this gives exactly: suppress ``R[i]`` (the remaining count in the
   same row, i.e. the "before" count of the following step) and the next row's exclusion ``E[i+1]``
   (complementary cell), extended to further rows while the suppressed exclusions add up to less than
   ``min_cell``; at the end of a chain suppressing ``R`` suffices. Then only the sum of the suppressed
   exclusions can be derived, never one of them.

3. Regression outputs need residual degrees of freedom >= 10 (``residual_df``). When a table has a
   ``df_resid`` column it is used; otherwise df is approximated by ``n_treated + n_control - 2`` (two
   parameters: intercept and treatment) or ``n_used - 2`` (refutations). This is an upper bound of the true
   residual df of covariate-adjusted models, so the rule is a minimum requirement. If df < 10 the row's
   statistics (all numeric non-count columns and free-text columns) are suppressed.

4. Secondary suppression across the tables published together (``cross_table_differencing``). The tables
   count the same clients again and again (the cohort, the treated and matched treated, each outcome's
   analysed clients, the rows of a subgroup column), so a count hidden in one table came back as a
   difference of counts published in others: balance_summary.csv showed 713 treated and 711 matched while
   match/flow.csv hid the 2 unmatched; an outcome's n_remaining before a step minus n_treated + n_control of
   its estimates gave the hidden exclusion; the whole-cohort row minus the published site rows gave a small
   site's counts. :mod:`deepvalue.publish.cross_table` writes every count of every table as an unknown of one
   linear system (the same population is one unknown, known to a reader once any of its cells is
   published; flow chains; treated + control; subgroup levels, dose levels and "equal effects" rows adding
   up; nested populations with a hidden non-negative difference such as the unmatched treated) and audits it
   as rule 2 audits one flow table: every small cell and every small hidden difference (the treated a PSM
   row left unmatched, the treated without the outcome measured) must keep a feasible range at least
   ``min_cell`` wide given all published counts. While one does not, the cheapest set of published counts
   that protects it is suppressed (cost: the number of cells a count is printed in, zeros last; a
   uniform-cost search over the counts next to what is hidden). So one small exclusion in an outcome's flow
   hides two or three more cells of that flow rather than the sample sizes of every estimate row, and a
   PSM row that left one treated client unmatched loses its n_treated, not its estimate. After such a
   suppression each table's own secondary rules run again (flow audit; group complements with their
   sum_weights and ess, which equal n in unweighted groups). A count hidden for differencing alone does not
   take the statistics of its row with it: they are not computed from a small count.

5. Counts in free text (``free_text_count``, action ``redacted``). Every text cell of every table (notes,
   reading, reason and the label columns too) is checked by :func:`deepvalue.publish.free_text.redact_counts`:
   a standalone integer from 1 to ``min_cell - 1`` becomes "fewer than <min_cell>" unless its context makes
   it a setting, a statistic or a unit ("at least 5 per parameter", "df = 1", "2 levels", "2 y", "contact 4");
   a copy of a count no published cell shows, and the smaller of "A of B" (or "A clients (B treated)") when
   the two differ by a small count, becomes "[suppressed]". The rule errs towards rewriting: an unknown
   phrasing with a small integer is rewritten. A cell already suppressed by rules 1-3 stays empty.

6. Counts implied by proportions (``implied_count``). The unadjusted means of binary covariates in
   balance.csv times the group sizes of balance_summary.csv are counts; when one (or its complement in the
   group) is small, the covariate's proportions and the statistics computed from them are suppressed in
   every adjustment's row, and a categorical covariate's in all its levels
   (:mod:`deepvalue.publish.implied_counts`).

7. Value tables (``derived_from_suppressed_count``). value.csv and value_tornado.csv lose the statistics
   of an outcome whose valued whole-cohort estimate is hidden, with the totals and the tornado rows
   (:mod:`deepvalue.publish.value_disclosure`).

The figures of the report apply the same threshold where they are drawn (:mod:`deepvalue.core.small_cells`:
small sites pooled or left out, sparse histogram bins and index values merged, the forest plot drawn from
the rows this check leaves); docs/design.md says how.

The log records table, row (0-based data row of the table), column, rule and action; it never records the
suppressed value or the text. Not covered (manual review): counts implied by statistics such as a
residual df ("df = n - 2 = 712"), and proportions in tables other than balance.csv.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.csv as pacsv
from scipy.optimize import linprog

from deepvalue.core.small_cells import DEFAULT_MIN_CELL, is_small
from deepvalue.core.tabular import write_csv
from deepvalue.publish.cross_table import RULE as CROSS_TABLE_RULE
from deepvalue.publish.cross_table import PopulationModel
from deepvalue.publish.free_text import redact_counts
from deepvalue.publish.implied_counts import RULE as IMPLIED_COUNT_RULE
from deepvalue.publish.implied_counts import implied_count_cells
from deepvalue.publish.value_disclosure import value_follows_its_estimates

MIN_CELL = DEFAULT_MIN_CELL
MIN_DF = 10
LOG_COLUMNS = ["table", "row", "column", "rule", "action"]
FREE_TEXT_COLUMNS = frozenset({"notes", "note", "reading", "details", "message"})
FLOW_LABELS = frozenset({"step", "reason"})
FREE_TEXT_RULE = "free_text_count"
_COUNT_RE = re.compile(r"^(n|n_.*|count.*)$", re.IGNORECASE)


def is_count_column(name: str) -> bool:
    return bool(_COUNT_RE.match(str(name)))


class _Checker:
    def __init__(self, frame: pd.DataFrame, name: str, min_cell: int, allow_zero: bool) -> None:
        self.orig = frame.reset_index(drop=True)
        self.name = name
        self.min_cell = min_cell
        self.allow_zero = allow_zero
        self.columns = list(self.orig.columns)
        self.counts = [c for c in self.columns if is_count_column(c)]
        self.suppressed: dict[tuple[int, str], str] = {}
        self.redacted: dict[tuple[int, str], str] = {}

    def suppress(self, row: int, column: str, rule: str) -> None:
        if pd.isna(self.orig.at[row, column]):
            return
        self.suppressed.setdefault((row, column), rule)

    def stats_columns(self) -> list[str]:
        return [
            c
            for c in self.columns
            if c not in self.counts
            and (
                pd.api.types.is_numeric_dtype(self.orig[c])
                or pd.api.types.is_bool_dtype(self.orig[c])
                or str(c).lower() in FREE_TEXT_COLUMNS
            )
        ]

    def label_columns(self, exclude: frozenset = frozenset()) -> list[str]:
        return [
            c
            for c in self.columns
            if c not in self.counts
            and not pd.api.types.is_numeric_dtype(self.orig[c])
            and not pd.api.types.is_bool_dtype(self.orig[c])
            and str(c).lower() not in FREE_TEXT_COLUMNS
            and str(c).lower() not in exclude
        ]

    # rule 1 ---------------------------------------------------------------------------------------------
    def primary(self) -> None:
        for column in self.counts:
            for row, value in enumerate(self.orig[column]):
                if pd.notna(value) and is_small(value, self.min_cell, self.allow_zero):
                    self.suppress(row, column, "primary_min_cell")

    def complements(self) -> None:
        lower = {c.lower(): c for c in self.counts}
        if "n_treated" in lower and "n_control" in lower:
            pair = (lower["n_treated"], lower["n_control"])
            for row in range(len(self.orig)):
                if any((row, c) in self.suppressed for c in pair):
                    for c in pair:
                        self.suppress(row, c, "secondary_complement")
        self.group_complements()

    def is_group_table(self) -> bool:
        return any(str(c).lower() == "group" for c in self.columns) and "n" in {c.lower() for c in self.counts}

    def group_complements(self) -> None:
        lower = {c.lower(): c for c in self.counts}
        groups = [c for c in self.columns if str(c).lower() == "group"]
        if groups and "n" in lower:
            ncol = lower["n"]
            keys = [c for c in self.label_columns() if c not in groups]
            # each row's labels as one tuple, read column-wise once (a .loc per row cost 12 s of a
            # 1,500-client run's publish step); rows with no label column all share the empty tuple
            labels = (
                list(self.orig[keys].astype(str).itertuples(index=False, name=None)) if keys else [()] * len(self.orig)
            )
            hit = {labels[row] for row in range(len(self.orig)) if (row, ncol) in self.suppressed}
            for row, label in enumerate(labels):
                if label in hit:
                    self.suppress(row, ncol, "secondary_complement")

    def derived(self) -> None:
        rows = sorted({row for row, column in self.suppressed if column in self.counts})
        for row in rows:
            for column in self.stats_columns():
                self.suppress(row, column, "derived_from_suppressed_count")

    # rule 3 ---------------------------------------------------------------------------------------------
    def residual_df(self) -> None:
        lower = {str(c).lower(): c for c in self.columns}
        if "df_resid" in lower:
            df = pd.to_numeric(self.orig[lower["df_resid"]], errors="coerce")
        elif "n_treated" in lower and "n_control" in lower:
            df = self.orig[lower["n_treated"]] + self.orig[lower["n_control"]] - 2
        elif "n_used" in lower:
            df = self.orig[lower["n_used"]] - 2
        else:
            return
        for row, value in enumerate(df):
            if pd.notna(value) and value < MIN_DF:
                for column in self.stats_columns():
                    if column.lower() != "df_resid":
                        self.suppress(row, column, "residual_df")

    # rule 2 ---------------------------------------------------------------------------------------------
    def is_flow(self) -> bool:
        lower = {str(c).lower() for c in self.columns}
        return {"n_remaining", "n_excluded"} <= lower

    def chains(self) -> list[list[int]]:
        lower = {str(c).lower(): c for c in self.columns}
        rem, exc = self.orig[lower["n_remaining"]], self.orig[lower["n_excluded"]]
        keys = self.label_columns(exclude=FLOW_LABELS)
        chains: list[list[int]] = []
        for row in range(len(self.orig)):
            linked = (
                row > 0
                and pd.notna(rem[row - 1])
                and pd.notna(rem[row])
                and pd.notna(exc[row])
                and rem[row - 1] - exc[row] == rem[row]
                and all(str(self.orig.at[row, k]) == str(self.orig.at[row - 1, k]) for k in keys)
            )
            if linked:
                chains[-1].append(row)
            else:
                chains.append([row])
        return chains

    def flow_secondary(self) -> None:
        lower = {str(c).lower(): c for c in self.columns}
        rcol, ecol = lower["n_remaining"], lower["n_excluded"]
        for chain in self.chains():
            if len(chain) < 2:
                continue
            # cells: (row, column); identities: R[i-1] - E[i] - R[i] = 0 for i in chain[1:]
            identities = [
                [(prev, rcol, 1.0), (row, ecol, -1.0), (row, rcol, -1.0)] for prev, row in zip(chain, chain[1:])
            ]
            cells = [(r, c) for ident in identities for r, c, _ in ident]
            cells = list(dict.fromkeys(cells))
            for _ in range(len(cells) + 1):
                unprotected = self._unprotected(identities)
                if not unprotected:
                    break
                candidates = {
                    (r, c)
                    for ident in identities
                    if any((r2, c2) in unprotected for r2, c2, _ in ident)
                    for r, c, _ in ident
                    if (r, c) not in self.suppressed
                }
                if not candidates:  # cannot happen for a chain, but fail safe: hide every count of the chain
                    candidates = {cell for cell in cells if cell not in self.suppressed}
                    for r, c in sorted(candidates):
                        self.suppress(r, c, "secondary_differencing")
                    break

                def priority(cell: tuple[int, str]) -> tuple:
                    r, c = cell
                    zero = float(self.orig.at[r, c]) == 0
                    return (zero, 0, r) if c == ecol else (zero, 1, -r)

                r, c = min(candidates, key=priority)
                self.suppress(r, c, "secondary_differencing")

    def _unprotected(self, identities) -> set[tuple[int, str]]:
        unknown = sorted({(r, c) for ident in identities for r, c, _ in ident if (r, c) in self.suppressed})
        if not unknown:
            return set()
        index = {cell: i for i, cell in enumerate(unknown)}
        a_eq, b_eq = [], []
        for ident in identities:
            coef = np.zeros(len(unknown))
            rhs = 0.0
            for r, c, sign in ident:
                if (r, c) in index:
                    coef[index[(r, c)]] += sign
                else:
                    rhs -= sign * float(self.orig.at[r, c])
            if coef.any():
                a_eq.append(coef)
                b_eq.append(rhs)
        out = set()
        for cell, i in index.items():
            lo, hi = feasible_range(np.array(a_eq), np.array(b_eq), len(unknown), i)
            if hi - lo < self.min_cell:
                out.add(cell)
        return out

    # ----------------------------------------------------------------------------------------------------
    def run_cells(self) -> None:
        """The rules on the table's own cells (1 to 3 above)."""
        self.primary()
        if self.is_flow():
            self.flow_secondary()
        else:
            self.complements()
            self.derived()
        self.residual_df()

    def close(self) -> None:
        """After cells were suppressed from outside (rule 4), the table's own secondary rules again: flow
        tables their differencing audit, group tables their complements and the statistics of those rows
        (sum_weights and ess equal n in unweighted groups). In other tables the statistics of a row whose
        count is hidden only against differencing stay: they are not computed from a small count."""
        if self.is_flow():
            self.flow_secondary()
        elif self.is_group_table():
            self.group_complements()
            rows = {row for row, column in self.suppressed if column in self.counts}
            for row in sorted(rows):
                for column in self.stats_columns():
                    self.suppress(row, column, "derived_from_suppressed_count")

    # rule 5 ---------------------------------------------------------------------------------------------
    def text_columns(self) -> list[str]:
        return [
            c
            for c in self.columns
            if c not in self.counts
            and not pd.api.types.is_numeric_dtype(self.orig[c])
            and not pd.api.types.is_bool_dtype(self.orig[c])
        ]

    def redact_text(self, suppressed_values: set[int]) -> None:
        """Counts below the threshold, and copies of suppressed counts, in every text cell (free_text.py)."""
        for column in self.text_columns():
            for row, value in enumerate(self.orig[column]):
                if (row, column) in self.suppressed or not isinstance(value, str):
                    continue
                text, n = redact_counts(value, self.min_cell, self.allow_zero, suppressed_values)
                if n:
                    self.redacted[(row, column)] = text

    def result(self) -> pd.DataFrame:
        out = self.orig.copy()
        for (row, column), text in self.redacted.items():
            series = out[column].astype(object)
            series.iloc[row] = text
            out[column] = series.astype(self.orig[column].dtype)
        for column in self.columns:
            rows = [r for r, c in self.suppressed if c == column]
            if not rows:
                continue
            series = out[column]
            if pd.api.types.is_bool_dtype(series):
                series = series.astype("boolean")
            elif pd.api.types.is_integer_dtype(series):
                series = series.astype("Int64")
            elif not pd.api.types.is_numeric_dtype(series):
                series = series.astype(object)
            series.iloc[sorted(rows)] = pd.NA if not pd.api.types.is_float_dtype(series) else np.nan
            out[column] = series
        return out

    def log(self) -> list[dict]:
        order = {c: i for i, c in enumerate(self.columns)}
        entries = [(cell, rule, "suppressed") for cell, rule in self.suppressed.items()]
        entries += [(cell, FREE_TEXT_RULE, "redacted") for cell in self.redacted]
        return [
            {"table": self.name, "row": int(r), "column": str(c), "rule": rule, "action": action}
            for (r, c), rule, action in sorted(entries, key=lambda item: (item[0][0], order[item[0][1]]))
        ]


def feasible_range(a_eq: np.ndarray, b_eq: np.ndarray, n: int, i: int) -> tuple[float, float]:
    """Range of unknown ``i`` over non-negative solutions of ``a_eq x = b_eq`` (an attacker's best bounds)."""
    if a_eq.size == 0:
        return 0.0, np.inf
    objective = np.zeros(n)
    objective[i] = 1.0
    low = linprog(objective, A_eq=a_eq, b_eq=b_eq, bounds=[(0, None)] * n, method="highs")
    high = linprog(-objective, A_eq=a_eq, b_eq=b_eq, bounds=[(0, None)] * n, method="highs")
    lo = low.fun if low.status == 0 else 0.0
    hi = -high.fun if high.status == 0 else np.inf  # status 3: unbounded
    return float(lo), float(hi)


def check_tables(
    frames: dict[str, pd.DataFrame], min_cell: int = MIN_CELL, allow_zero: bool = True
) -> dict[str, tuple[pd.DataFrame, list[dict]]]:
    """Apply the output checks to tables published together: each table's own rules (1 to 3), secondary
    suppression across all of them (4, :mod:`deepvalue.publish.cross_table`), then the free text (5).
    Returns, per table name, the checked copy and its log entries (no values)."""
    if min_cell < 1:
        raise ValueError(f"min_cell must be >= 1, got {min_cell}")
    checkers = {name: _Checker(frames[name], name, int(min_cell), allow_zero) for name in sorted(frames)}
    for checker in checkers.values():
        checker.run_cells()
    for name, cells in implied_count_cells(frames, int(min_cell), allow_zero).items():
        for row, column in cells:
            checkers[name].suppress(row, column, IMPLIED_COUNT_RULE)
    model = PopulationModel(
        {n: ch.orig for n, ch in checkers.items()},
        {n: ch.counts for n, ch in checkers.items()},
        {n: ch.chains() if ch.is_flow() else [] for n, ch in checkers.items()},
        int(min_cell),
        allow_zero,
    )
    protected: set[int] = set()
    while True:
        hidden = {(n, r, c) for n, ch in checkers.items() for r, c in ch.suppressed}
        before = len(hidden)
        for n, r, c in model.unmodelled_to_suppress(hidden):
            checkers[n].suppress(r, c, CROSS_TABLE_RULE)
        for checker in checkers.values():
            checker.close()
        if sum(len(ch.suppressed) for ch in checkers.values()) > before:
            continue
        cells = model.next_suppression(hidden, protected)
        if not cells:
            break
        for n, r, c in cells:
            checkers[n].suppress(r, c, CROSS_TABLE_RULE)
    _group_effects_follow_their_groups(checkers)
    _copies_follow_their_source(checkers)
    value_follows_its_estimates(checkers)
    values = model.hidden_values({(n, r, c) for n, ch in checkers.items() for r, c in ch.suppressed})
    for checker in checkers.values():
        checker.redact_text(values)
    return {n: (ch.result(), ch.log()) for n, ch in checkers.items()}


#: a table of group statistics without counts, the table that gives its groups' sizes, and how a group
#: is named in the first (statistic -> groups it rests on)
GROUP_LINKED = {"heterogeneity.csv": "heterogeneity_groups.csv"}


def _group_effects_follow_their_groups(checkers: dict[str, _Checker]) -> None:
    """A sorted group effect (``gate_qk`` of heterogeneity.csv) is suppressed with its group's size.

    heterogeneity.csv has no count column (its columns are fixed); the sizes of the fifths are the
    ``n`` of heterogeneity_groups.csv, so a small size (rule 1) hides the GATE of that fifth and the
    top-minus-bottom contrast when it rests on it (rule ``derived_from_suppressed_count``). The
    other fifths' sizes are hidden too (their complements), but their effects do not reveal them.
    """
    for stats_name, groups_name in GROUP_LINKED.items():
        if stats_name not in checkers or groups_name not in checkers:
            continue
        stats, groups = checkers[stats_name], checkers[groups_name]
        hidden = {
            (str(groups.orig.at[r, "outcome"]), f"gate_{groups.orig.at[r, 'group']}")
            for (r, c), rule in groups.suppressed.items()
            if c == "n" and rule == "primary_min_cell"
        }
        for row in range(len(stats.orig)):
            outcome, statistic = str(stats.orig.at[row, "outcome"]), str(stats.orig.at[row, "statistic"])
            rests_on = {statistic}
            if statistic == "gate_top_minus_bottom":
                rests_on = {"gate_q1", "gate_q5"}
            if any((outcome, g) in hidden for g in rests_on):
                for column in stats.stats_columns():
                    stats.suppress(row, column, "derived_from_suppressed_count")


#: a table whose rows repeat rows of another (without its counts), and the columns that name a row
ROW_LINKED = {
    "multiplicity.csv": ("estimates.csv", ("outcome", "subgroup", "method", "estimand", "scale")),
    # the indirect effect corrected for an unmeasured mediator-outcome confounder repeats mediation.csv's
    "mediation_sensitivity.csv": ("mediation.csv", ("outcome", "effect", "estimand")),
}


def _copies_follow_their_source(checkers: dict[str, _Checker]) -> None:
    """A row of multiplicity.csv (an estimate and its p-values, no counts) loses its statistics when the
    estimates.csv row it repeats lost its estimate or p-value (rule ``derived_from_suppressed_count``):
    the copy must not show what the source hides. The same for mediation_sensitivity.csv's rows (the
    indirect effect shifted by a bias) and the mediation.csv row of their effect."""
    for copy_name, (source_name, keys) in ROW_LINKED.items():
        if copy_name not in checkers or source_name not in checkers:
            continue
        copy, source = checkers[copy_name], checkers[source_name]

        def key(frame: pd.DataFrame, row: int) -> tuple[str, ...]:
            return tuple("" if pd.isna(frame.at[row, k]) else str(frame.at[row, k]) for k in keys)

        hidden = {key(source.orig, r) for r, c in source.suppressed if c in ("estimate", "p_value")}
        for row in range(len(copy.orig)):
            if key(copy.orig, row) in hidden:
                for column in copy.stats_columns():
                    copy.suppress(row, column, "derived_from_suppressed_count")


def check_table(
    frame: pd.DataFrame, name: str, min_cell: int = MIN_CELL, allow_zero: bool = True
) -> tuple[pd.DataFrame, list[dict]]:
    """Apply the output checks to one table; return the checked copy and the log entries (no values)."""
    return check_tables({name: frame}, min_cell=min_cell, allow_zero=allow_zero)[name]


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV written by ``tabular.write_csv``: quoted empty strings stay strings, empty numbers are null."""
    return pacsv.read_csv(path).to_pandas()


def _output_name(name: str, path: Path) -> Path:
    rel = Path(name)
    if rel.is_absolute() or ".." in rel.parts:
        raise ValueError(f"table name must be a relative path inside out_dir: {name!r}")
    return rel if rel.suffix else rel.with_suffix(path.suffix or ".csv")


def publish(
    tables: dict[str, str | Path], out_dir: str | Path, min_cell: int = MIN_CELL, allow_zero: bool = True
) -> pd.DataFrame:
    """Check every table and write the checked copies plus ``disclosure_log.csv`` to ``out_dir``.

    ``tables`` maps a table name to its CSV path; the name is the output path relative to ``out_dir``
    (e.g. ``"cohort/flow.csv"``; without a suffix the input file's suffix is added), so two tables that
    share a file name (cohort/flow.csv, match/flow.csv) do not overwrite each other. Output is written
    through pyarrow (shortest round-trip floats), so the same input gives the same bytes.
    """
    out_dir = Path(out_dir)
    targets: dict[Path, str] = {}
    for name in sorted(tables):
        target = _output_name(name, Path(tables[name]))
        if target in targets or target == Path("disclosure_log.csv"):
            raise ValueError(f"two tables would be written to {target}: {targets.get(target)!r} and {name!r}")
        targets[target] = name
    checked = check_tables({name: read_table(tables[name]) for name in tables}, min_cell, allow_zero)
    entries: list[dict] = []
    for target, name in sorted(targets.items(), key=lambda item: item[1]):
        frame, log = checked[name]
        write_csv(frame, out_dir / target)
        entries.extend(log)
    log_frame = pd.DataFrame(entries, columns=LOG_COLUMNS).astype({"row": "int64"})
    write_csv(log_frame, out_dir / "disclosure_log.csv")
    return log_frame
