"""Secondary suppression across the published tables at once (rule ``cross_table_differencing``).

The tables count the same clients again and again: the cohort in cohort/flow.csv, outcome_flow.csv and
balance_summary.csv; the treated and the matched treated in match/flow.csv and balance_summary.csv; each
outcome's analysed clients in outcome_flow.csv, in n_treated + n_control of every estimate row and in
refutations.csv; a subgroup column's rows add up to the whole-cohort row and to its "equal effects" row.
Checked one table at a time, a count hidden in one table comes back as a difference of counts published in
others (713 treated - 711 matched = the 2 unmatched hidden in match/flow.csv).

:class:`PopulationModel` names the population each published count describes (a key such as
``("cohort", "treated")`` or ``("outcome", "job_start", "site=S07", "control")``) and writes what the
pipeline's tables say about those populations as linear identities:

* the same population counted in several cells is one unknown, known to the reader as soon as one of its
  cells is published (a count hidden in one table and printed in another is not hidden);
* flow tables: ``R[i-1] - E[i] = R[i]`` along each chain (as in the one-table check);
* a population splits into parts: treated + control, the levels of a subgroup column, the dose levels of
  the continuity index, the levels an "equal effects" test used;
* a population contains a smaller one (an outcome's treated among the cohort's treated, a method's matched
  or untrimmed clients among all): ``parent = child + d`` with ``d >= 0`` a hidden count of clients (the
  unmatched, the treated without the outcome measured). A hidden count is never published; when it is small
  (``0 < d < min_cell``) it must be protected like a small cell. DoWhy's stratified subsamples are nested
  the same way but their hidden counts (clients not drawn) say nothing about anybody and need no protection.

An identity is only added when the unsuppressed counts satisfy it exactly, so a table that does not have the
expected structure adds no identity (its own checks still apply). The audit then solves, for every small
cell or hidden count, the smallest and largest values it can take given every published count, the
identities and non-negativity (linear programming, as for one flow table); it is protected when that range
is at least ``min_cell`` wide. While one is not, one more population is suppressed everywhere it is
published, chosen deterministically among the published counts its identities reach: non-zero before zero,
fewest published cells first (the count printed in one place before the cohort size printed in twenty), then
the smallest value, then table and row order. The tables are recognised by their names under publish/
(``cohort/flow.csv``, ``cohort/outcome_flow.csv``, ``match/flow.csv``, ``match/balance_summary.csv``,
``estimates.csv``, ``refutations.csv``, ``mediation.csv``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

Cell = tuple[str, int, str]  # (table, row, column)
Key = tuple

RULE = "cross_table_differencing"
MAX_EVALUATIONS = 60  # audits per search for the cheapest protection of one small count
_DOSE_SCALE = re.compile(r"^(?P<index>.+)_(?P<level>[^_]+)_vs_(?P<ref>[^_]+)$")
EQUAL_EFFECTS = ": equal effects"


@dataclass
class _Relations:
    """What the annotators found: cells by population key, and identities between keys or cells."""

    keys: dict[Cell, Key] = field(default_factory=dict)
    linear: list[dict[Key, float]] = field(default_factory=list)  # sum(coef * count(key)) = 0
    nests: list[tuple[Key, Key, bool]] = field(default_factory=list)  # parent, child, hidden count sensitive
    cell_linear: list[dict[Cell, float]] = field(default_factory=list)  # flow chains, equal-effects sums
    cell_sums: list[tuple[Cell, list[Cell]]] = field(default_factory=list)  # total cell = sum of part cells
    unmodelled: list[Cell] = field(default_factory=list)  # cells that add up to something not found


def _text(value) -> str:
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def _value(frame: pd.DataFrame, row: int, column: str) -> float | None:
    v = frame.at[row, column]
    return None if pd.isna(v) else float(v)


# ------------------------------------------------------------------------------------------ annotators


def _flow_rows(frame: pd.DataFrame, step: str) -> list[int]:
    return [i for i, s in enumerate(frame["step"].map(_text)) if s == step]


def _annotate_cohort_flow(name: str, frame: pd.DataFrame, rel: _Relations) -> None:
    for row in _flow_rows(frame, "analysis cohort")[-1:]:
        rel.keys[(name, row, "n_remaining")] = ("cohort", "all")


def _annotate_outcome_flow(name: str, frame: pd.DataFrame, rel: _Relations) -> None:
    if "outcome" not in frame:
        return
    for row, (outcome, step) in enumerate(zip(frame["outcome"].map(_text), frame["step"].map(_text))):
        if step == "cohort":
            rel.keys[(name, row, "n_remaining")] = ("cohort", "all")
        elif step == "analysed":
            rel.keys[(name, row, "n_remaining")] = ("outcome", outcome, "", "all")


def _annotate_match_flow(name: str, frame: pd.DataFrame, rel: _Relations) -> None:
    steps = {
        "treated clients in the cohort": ("cohort", "treated"),
        "matched treated clients": ("cohort", "treated", "matched"),
        "cohort clients for the weighting estimators": ("cohort", "all"),
        "trimmed": ("cohort", "all", "untrimmed"),
    }
    for step, key in steps.items():
        for row in _flow_rows(frame, step)[-1:]:
            rel.keys[(name, row, "n_remaining")] = key
    rel.nests.append((("cohort", "treated"), ("cohort", "treated", "matched"), True))
    rel.nests.append((("cohort", "all"), ("cohort", "all", "untrimmed"), True))


def _annotate_balance_summary(name: str, frame: pd.DataFrame, rel: _Relations) -> None:
    if not {"adjustment", "group", "n"} <= set(frame.columns):
        return
    adjustments = []
    for row, (adj, group) in enumerate(zip(frame["adjustment"].map(_text), frame["group"].map(_text))):
        if group not in ("treated", "control"):
            continue
        if adj == "unadjusted":
            key = ("cohort", group)
        elif adj == "matched":
            key = ("cohort", group, "matched")
        else:
            key = ("cohort", group, "weighted", adj)
            adjustments.append(adj)
        rel.keys[(name, row, "n")] = key
    rel.linear.append({("cohort", "all"): 1.0, ("cohort", "treated"): -1.0, ("cohort", "control"): -1.0})
    for group in ("treated", "control"):
        rel.nests.append((("cohort", group), ("cohort", group, "matched"), True))
        for adj in dict.fromkeys(adjustments):
            rel.nests.append((("cohort", group), ("cohort", group, "weighted", adj), True))
    for adj in dict.fromkeys(adjustments):
        rel.linear.append(
            {
                ("cohort", "all", "untrimmed"): 1.0,
                ("cohort", "treated", "weighted", adj): -1.0,
                ("cohort", "control", "weighted", adj): -1.0,
            }
        )


def _annotate_estimates(name: str, frame: pd.DataFrame, rel: _Relations) -> None:
    need = {"outcome", "subgroup", "method", "estimand", "n_treated", "n_control", "scale"}
    if not need <= set(frame.columns):
        return
    outcome = frame["outcome"].map(_text)
    subgroup = frame["subgroup"].map(_text)
    method = frame["method"].map(_text)
    scale = frame["scale"].map(_text)
    arms = (("n_treated", "treated"), ("n_control", "control"))
    # standard rows: the clients of one arm of a population, or a subset of them (matched, untrimmed, drawn)
    standard: dict[tuple[str, str, str], list[tuple[int, float]]] = {}
    dose: dict[tuple[str, str], dict[str, list[Cell]]] = {}
    for row in range(len(frame)):
        k, s, m = outcome[row], subgroup[row], method[row]
        if s.endswith(EQUAL_EFFECTS):
            continue
        parsed = _DOSE_SCALE.match(scale[row]) if m == "dose_levels" else None
        if parsed:
            for column, level in (("n_treated", parsed["level"]), ("n_control", parsed["ref"])):
                if _value(frame, row, column) is not None:
                    rel.keys[(name, row, column)] = ("outcome", k, s, "dose", level)
                    dose.setdefault((k, s), {}).setdefault(level, []).append((name, row, column))
            continue
        for column, arm in arms:
            v = _value(frame, row, column)
            if v is not None:
                standard.setdefault((k, s, arm), []).append((row, v))
    for (k, s, arm), found in standard.items():
        full = max(v for _, v in found)
        for row, v in found:
            column = "n_treated" if arm == "treated" else "n_control"
            if v == full:
                rel.keys[(name, row, column)] = ("outcome", k, s, arm)
            else:
                m = method[row]
                child = ("outcome", k, s, arm, m, v)
                rel.keys[(name, row, column)] = child
                rel.nests.append((("outcome", k, s, arm), child, not m.startswith("dowhy_")))
    outcomes = dict.fromkeys(k for k, _, _ in standard)
    for k in outcomes:
        whole = {arm: ("outcome", k, "", arm) for arm in ("treated", "control")}
        rel.linear.append({("outcome", k, "", "all"): 1.0, whole["treated"]: -1.0, whole["control"]: -1.0})
        for arm, key in whole.items():
            rel.nests.append((("cohort", arm), key, True))
        columns = dict.fromkeys(s.split("=", 1)[0] for kk, s, _ in standard if kk == k and "=" in s)
        for col in columns:
            for arm, key in whole.items():
                levels = dict.fromkeys(s for kk, s, a in standard if kk == k and a == arm and s.startswith(col + "="))
                rel.linear.append({key: 1.0, **{("outcome", k, s, arm): -1.0 for s in levels}})
    for (k, s), levels in dose.items():
        _dose_identities(k, s, levels, rel)
    _equal_effects(name, frame, rel, outcome, subgroup, method, scale)


def _dose_identities(k: str, s: str, levels: dict[str, list[Cell]], rel: _Relations) -> None:
    """The dose levels (reference included) add up to the population; those at or above some level to the
    treated (the threshold), the rest to the controls. Identities that do not hold are dropped later."""
    try:
        ordered = sorted(levels, key=float)
    except ValueError:
        return
    keys = {level: ("outcome", k, s, "dose", level) for level in ordered}
    rel.linear.append(
        {("outcome", k, s, "treated"): 1.0, ("outcome", k, s, "control"): 1.0, **{v: -1.0 for v in keys.values()}}
    )
    for cut in range(1, len(ordered)):
        rel.linear.append({("outcome", k, s, "treated"): 1.0, **{keys[lv]: -1.0 for lv in ordered[cut:]}})
        rel.linear.append({("outcome", k, s, "control"): 1.0, **{keys[lv]: -1.0 for lv in ordered[:cut]}})


def _equal_effects(name, frame, rel, outcome, subgroup, method, scale) -> None:
    """An "equal effects" row counts the clients of the level rows its Wald test used (same method,
    estimand and scale, a finite estimate and SE): its cells are the sums of theirs."""
    estimate = pd.to_numeric(frame.get("estimate"), errors="coerce")
    se = pd.to_numeric(frame.get("std_error"), errors="coerce")
    notes = frame["notes"].map(_text) if "notes" in frame else pd.Series("", index=frame.index)
    estimand = frame["estimand"].map(_text)
    for row in range(len(frame)):
        if not subgroup[row].endswith(EQUAL_EFFECTS):
            continue
        col = subgroup[row][: -len(EQUAL_EFFECTS)]
        groups: dict[str, list[int]] = {}
        for r in range(len(frame)):
            if (
                outcome[r] == outcome[row]
                and subgroup[r].startswith(col + "=")
                and method[r] == method[row]
                and estimand[r] == estimand[row]
                and np.isfinite(estimate[r])
                and np.isfinite(se[r])
                and se[r] > 0
            ):
                groups.setdefault(scale[r], []).append(r)
        named = [g for sc, g in groups.items() if sc.replace("_", " ") in notes[row]]
        candidates = named or list(groups.values())
        for column in ("n_treated", "n_control"):
            total = _value(frame, row, column)
            if total is None:
                continue
            match = [g for g in candidates if sum(_value(frame, r, column) or 0 for r in g) == total]
            if len(match) >= 1 and (named or len(match) == 1):
                rel.cell_sums.append(((name, row, column), [(name, r, column) for r in match[0]]))
            else:
                rel.unmodelled.append((name, row, column))


def _annotate_refutations(name: str, frame: pd.DataFrame, rel: _Relations) -> None:
    if not {"outcome", "n_used"} <= set(frame.columns):
        return
    for row, k in enumerate(frame["outcome"].map(_text)):
        v = _value(frame, row, "n_used")
        if v is not None:
            child = ("refutation_sample", k, v)
            rel.keys[(name, row, "n_used")] = child
            rel.nests.append((("outcome", k, "", "all"), child, False))


def _annotate_mediation(name: str, frame: pd.DataFrame, rel: _Relations) -> None:
    """mediation.csv counts, per outcome, the arms of the outcome's analysed clients with the mediator
    measured: a subset of the outcome's whole-cohort arms in estimates.csv, whose difference (the
    clients without the mediator) is a hidden count to protect."""
    if not {"outcome", "n_treated", "n_control"} <= set(frame.columns):
        return
    for row, k in enumerate(frame["outcome"].map(_text)):
        if not k:
            continue
        for column, arm in (("n_treated", "treated"), ("n_control", "control")):
            v = _value(frame, row, column)
            if v is not None:
                child = ("outcome", k, "", arm, "mediator_measured", v)
                rel.keys[(name, row, column)] = child
                rel.nests.append((("outcome", k, "", arm), child, True))


ANNOTATORS = {
    "mediation.csv": _annotate_mediation,
    "cohort/flow.csv": _annotate_cohort_flow,
    "cohort/outcome_flow.csv": _annotate_outcome_flow,
    "match/flow.csv": _annotate_match_flow,
    "match/balance_summary.csv": _annotate_balance_summary,
    "estimates.csv": _annotate_estimates,
    "refutations.csv": _annotate_refutations,
}


# ------------------------------------------------------------------------------------------ the model


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict = {}

    def find(self, x):
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a, b) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


class PopulationModel:
    """The published counts of all tables as unknowns of one linear system (see the module docstring).

    ``frames`` maps each table name to its unsuppressed table; ``counts`` to its count columns;
    ``flow_chains`` to the chains of a flow table (lists of linked rows).
    """

    def __init__(
        self,
        frames: Mapping[str, pd.DataFrame],
        counts: Mapping[str, list[str]],
        flow_chains: Mapping[str, list[list[int]]],
        min_cell: int,
        allow_zero: bool,
    ) -> None:
        self.min_cell = min_cell
        self.allow_zero = allow_zero
        self.order = {name: i for i, name in enumerate(sorted(frames))}
        cells: list[Cell] = []
        value: dict[Cell, float] = {}
        for name in sorted(frames):
            frame = frames[name]
            for column in counts[name]:
                for row in range(len(frame)):
                    v = _value(frame, row, column)
                    if v is not None:
                        cells.append((name, row, column))
                        value[(name, row, column)] = v
        rel = _Relations()
        for name in sorted(frames):
            annotate = ANNOTATORS.get(name)
            if annotate is not None:
                annotate(name, frames[name].reset_index(drop=True), rel)
            for chain in flow_chains.get(name, []):
                for prev, row in zip(chain, chain[1:]):
                    rel.cell_linear.append(
                        {
                            (name, prev, "n_remaining"): 1.0,
                            (name, row, "n_excluded"): -1.0,
                            (name, row, "n_remaining"): -1.0,
                        }
                    )
        self.unmodelled = sorted(c for c in rel.unmodelled if c in value)
        uf = _UnionFind()
        index = {cell: i for i, cell in enumerate(cells)}
        for cell in cells:
            uf.find(index[cell])
        # one unknown per population key (cells whose counts disagree are kept apart)
        by_key: dict[Key, int] = {}
        for cell in cells:
            key = rel.keys.get(cell)
            if key is None:
                continue
            if key in by_key and value[cells[by_key[key]]] == value[cell]:
                uf.union(by_key[key], index[cell])
            else:
                by_key.setdefault(key, index[cell])
        # a nested population with the parent's count is the parent
        for parent, child, _ in rel.nests:
            if parent in by_key and child in by_key and value[cells[by_key[parent]]] == value[cells[by_key[child]]]:
                uf.union(by_key[parent], by_key[child])
        # equal-effects rows that add up the same level unknowns count the same clients
        sums: dict[tuple, int] = {}
        for total, parts in rel.cell_sums:
            signature = tuple(sorted(uf.find(index[p]) for p in parts if p in index))
            if total in index:
                if signature in sums and value[cells[sums[signature]]] == value[total]:
                    uf.union(sums[signature], index[total])
                else:
                    sums.setdefault(signature, index[total])
        roots = sorted({uf.find(i) for i in range(len(cells))})
        var_of = {root: j for j, root in enumerate(roots)}
        self.var_of_cell: dict[Cell, int] = {cell: var_of[uf.find(index[cell])] for cell in cells}
        self.cells: list[list[Cell]] = [[] for _ in roots]
        for cell in cells:
            self.cells[self.var_of_cell[cell]].append(cell)
        self.value: list[float] = [value[self.cells[j][0]] for j in range(len(roots))]
        self.hidden: list[bool] = [False] * len(roots)
        self.sensitive: list[bool] = [True] * len(roots)
        self.identities: list[dict[int, float]] = []
        key_var = {key: self.var_of_cell[cells[i]] for key, i in by_key.items()}
        for coefs in rel.linear:
            if all(k in key_var for k in coefs):
                self._add_identity({key_var[k]: c for k, c in coefs.items()})
        for coefs in rel.cell_linear:
            if all(c in self.var_of_cell for c in coefs):
                self._add_identity({self.var_of_cell[c]: v for c, v in coefs.items()})
        for total, parts in rel.cell_sums:
            if total in self.var_of_cell and all(p in self.var_of_cell for p in parts):
                coefs = {self.var_of_cell[total]: 1.0}
                for p in parts:
                    coefs[self.var_of_cell[p]] = coefs.get(self.var_of_cell[p], 0.0) - 1.0
                self._add_identity(coefs)
        seen_nests = set()
        for parent, child, sensitive in rel.nests:
            if parent not in key_var or child not in key_var:
                continue
            p, c = key_var[parent], key_var[child]
            if p == c or (p, c) in seen_nests or self.value[p] < self.value[c]:
                continue
            seen_nests.add((p, c))
            hidden = self._add_hidden(self.value[p] - self.value[c], sensitive)
            self._add_identity({p: 1.0, c: -1.0, hidden: -1.0})
        self._build_adjacency()

    def _add_hidden(self, value: float, sensitive: bool) -> int:
        self.cells.append([])
        self.value.append(value)
        self.hidden.append(True)
        self.sensitive.append(sensitive)
        return len(self.value) - 1

    def _add_identity(self, coefs: dict[int, float]) -> None:
        merged: dict[int, float] = {}
        for var, c in coefs.items():
            merged[var] = merged.get(var, 0.0) + c
        merged = {v: c for v, c in merged.items() if c != 0}
        if not merged:
            return
        residual = sum(c * self.value[v] for v, c in merged.items())
        if abs(residual) > 1e-6:  # the table is not built the way the annotator expects: no identity
            return
        if merged not in self.identities:
            self.identities.append(merged)

    def _build_adjacency(self) -> None:
        self.by_var: dict[int, list[int]] = {}
        for i, ident in enumerate(self.identities):
            for var in ident:
                self.by_var.setdefault(var, []).append(i)

    # -------------------------------------------------------------------------------------- the audit
    def _small(self, value: float) -> bool:
        lower = 0 if self.allow_zero else -1
        return lower < value < self.min_cell

    def unknown(self, suppressed: set[Cell], var: int) -> bool:
        """A count is known to a reader when any of its cells is published."""
        return self.hidden[var] or all(cell in suppressed for cell in self.cells[var])

    def hidden_values(self, suppressed: set[Cell]) -> set[int]:
        """Values of the counts no published cell shows (copies of them in free text are redacted)."""
        return {
            int(self.value[v])
            for v in range(len(self.value))
            if not self.hidden[v] and self.value[v].is_integer() and self.unknown(suppressed, v)
        }

    def unmodelled_to_suppress(self, suppressed: set[Cell]) -> list[Cell]:
        """Sums the model could not tie to their parts (an "equal effects" row whose levels were not found):
        hidden as soon as anything in their table is."""
        tables = {c[0] for c in suppressed}
        return [c for c in self.unmodelled if c not in suppressed and c[0] in tables]

    def _component(self, var: int, suppressed: set[Cell]) -> tuple[list[int], list[int]]:
        """Identities reachable from ``var`` through unknowns, and the published unknowns they touch."""
        seen_vars, seen_ids, todo = {var}, set(), [var]
        published: set[int] = set()
        while todo:
            v = todo.pop()
            for i in self.by_var.get(v, []):
                if i in seen_ids:
                    continue
                seen_ids.add(i)
                for w in self.identities[i]:
                    if w in seen_vars:
                        continue
                    seen_vars.add(w)
                    if self.unknown(suppressed, w):
                        todo.append(w)
                    else:
                        published.add(w)
        return sorted(seen_ids), sorted(published)

    def width(self, var: int, suppressed: set[Cell]) -> float:
        """Width of the range of ``var`` given every published count (an attacker's best bounds)."""
        from deepvalue.publish.disclosure import feasible_range

        ids, _ = self._component(var, suppressed)
        unknowns = sorted({w for i in ids for w in self.identities[i] if self.unknown(suppressed, w)} | {var})
        col = {w: j for j, w in enumerate(unknowns)}
        a_eq, b_eq = [], []
        for i in ids:
            coef = np.zeros(len(unknowns))
            rhs = 0.0
            for w, c in self.identities[i].items():
                if w in col:
                    coef[col[w]] += c
                else:
                    rhs -= c * self.value[w]
            if coef.any():
                a_eq.append(coef)
                b_eq.append(rhs)
        lo, hi = feasible_range(np.array(a_eq), np.array(b_eq), len(unknowns), col[var])
        return hi - lo

    def sensitive_unknowns(self, suppressed: set[Cell]) -> list[int]:
        return [
            v
            for v in range(len(self.value))
            if self.sensitive[v] and self._small(self.value[v]) and self.unknown(suppressed, v)
        ]

    def _priority(self, w: int) -> tuple:
        first = min(self.cells[w], key=lambda c: (self.order[c[0]], c[1], c[2]))
        return (self.value[w] == 0, len(self.cells[w]), self.value[w], self.order[first[0]], first[1], first[2])

    def _cost(self, w: int) -> float:
        # a published count printed in one place is cheaper to hide than one printed in twenty; zeros last
        return len(self.cells[w]) + (0.5 if self.value[w] == 0 else 0.0)

    def _cheapest_protection(self, var: int, suppressed: set[Cell]) -> list[int]:
        """The cheapest set of published populations whose suppression protects ``var`` (uniform-cost
        search over the published counts next to what is hidden, at most ``MAX_EVALUATIONS`` audits);
        when none is found, the cheapest single population that widens the range, else the cheapest."""
        import heapq

        heap: list[tuple] = [(0.0, (), ())]
        seen: set[tuple] = {()}
        evaluations = 0
        first_step: list[tuple[float, tuple, int]] = []
        while heap and evaluations < MAX_EVALUATIONS:
            cost, _, state = heapq.heappop(heap)
            extra = suppressed | {c for w in state for c in self.cells[w]}
            if state:
                evaluations += 1
                width = self.width(var, extra)
                if width >= self.min_cell:
                    return list(state)
                if len(state) == 1:
                    first_step.append((-width, self._priority(state[0]), state[0]))
            _, candidates = self._component(var, extra)
            for w in candidates:
                new = tuple(sorted((*state, w)))
                if new in seen:
                    continue
                seen.add(new)
                heapq.heappush(heap, (cost + self._cost(w), tuple(sorted(self._priority(x) for x in new)), new))
        if first_step:
            return [min(first_step)[2]]
        return []

    def next_suppression(self, suppressed: set[Cell], protected: set[int]) -> list[Cell]:
        """Cells of the next populations to suppress, or [] when every small count is protected.

        ``protected`` collects the small counts found protected (suppressing more never unprotects one).
        """
        for var in self.sensitive_unknowns(suppressed):
            if var in protected:
                continue
            if self.width(var, suppressed) >= self.min_cell:
                protected.add(var)
                continue
            chosen = self._cheapest_protection(var, suppressed)
            if chosen:
                return sorted({c for w in chosen for c in self.cells[w]})
        return []
