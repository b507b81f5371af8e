"""DoWhy's model of one outcome: the explicit causal graph, the prepared (optionally subsampled)
data with the project's confounder design, the converged logistic propensity model, and one
seeded call of a DoWhy estimator. Shared by the estimates, the bootstrap and the refuters.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from deepvalue.adjust.design import covariate_design
from deepvalue.core.errors import AnalysisError, Problem
from deepvalue.core.settings import Covariate

TREATMENT = "treatment"
OUTCOME = "outcome"
INSTRUMENT = "instrument"
PRIMARY_METHOD = "backdoor.linear_regression"
CONFIDENCE_LEVEL = 0.95
#: Bootstrap replicates for the standard error and CI of matching and weighting, where DoWhy
#: offers nothing but its bootstrap.
BOOTSTRAP_REPLICATES = 100
#: Rows the bootstrap runs on at most (stratified by treatment, then rescaled to the full n).
BOOTSTRAP_MAX_ROWS = 10_000
#: DoWhy clips (not drops) propensity scores to this range before weighting; its default,
#: passed explicitly so the number is visible here.
PS_CLIP = (0.05, 0.95)
#: Inverse L2 strength of the propensity model (on standardised columns): practically none.
PS_C = 1e4


@dataclass(frozen=True)
class _Prepared:
    data: pd.DataFrame  # safe names: c0.., treatment, outcome[, instrument]
    confounders: list[str]
    column_names: dict[str, str]  # safe name -> design column / source name
    instrument: bool
    notes: list[str]


# --------------------------------------------------------------------------------------- graph


def causal_graph(treatment: str, outcome: str, confounders: Sequence[str], instrument: str | None = None) -> str:
    """The explicit DAG as a GML string that ``dowhy.CausalModel(graph=...)`` accepts.

    Edges: each confounder -> treatment and -> outcome; treatment -> outcome; instrument ->
    treatment only (the exclusion restriction is the missing instrument -> outcome edge).

    Parameters
    ----------
    treatment, outcome
        Node names of the treatment and the outcome.
    confounders
        Node names of the adjustment set (observed common causes).
    instrument
        Node name of an instrument, or None.

    Raises
    ------
    ValueError
        For a duplicated or empty name, or one DoWhy would misread (a double quote, a line break,
        or ``.dot``, ``.gml``, ``.txt``, which make DoWhy 0.14 treat the string as a file path).

    Examples
    --------
    >>> g = causal_graph("t", "y", ["age", "site=S02"], instrument="z")
    >>> import networkx as nx
    >>> sorted(nx.parse_gml(g).edges())  # doctest: +NORMALIZE_WHITESPACE
    [('age', 't'), ('age', 'y'), ('site=S02', 't'), ('site=S02', 'y'), ('t', 'y'), ('z', 't')]
    """
    import networkx as nx

    names = [treatment, outcome, *confounders] + ([instrument] if instrument is not None else [])
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"graph node names must be non-empty strings, got {name!r}")
        if '"' in name or "\n" in name or "\r" in name or any(s in name for s in (".dot", ".gml", ".txt")):
            raise ValueError(
                f"graph node name {name!r} cannot be passed to DoWhy; rename it "
                "(no double quotes, line breaks, '.dot', '.gml' or '.txt')"
            )
    if len(set(names)) != len(names):
        raise ValueError(f"graph node names must be distinct: {names}")
    g = nx.DiGraph()
    g.add_nodes_from(names)
    for c in confounders:
        g.add_edge(c, treatment)
        g.add_edge(c, outcome)
    g.add_edge(treatment, outcome)
    if instrument is not None:
        g.add_edge(instrument, treatment)
    return "\n".join(nx.generate_gml(g))


# ---------------------------------------------------------------------------------- warnings


@contextmanager
def _quiet_dowhy() -> Iterator[None]:
    """Silence the known, harmless warnings DoWhy 0.14 raises under pandas 3 and scikit-learn 1.9.

    Each filter names the category, the message and the module the warning is attributed to,
    so the same warning from our own code, or any other warning from DoWhy, still shows.
    """
    from pandas.errors import Pandas4Warning

    with warnings.catch_warnings():
        # regression_estimator.py: `.astype(original_type, copy=False)` under Copy-on-Write
        warnings.filterwarnings(
            "ignore", message="The copy keyword is deprecated", category=Pandas4Warning, module=r"dowhy\."
        )
        yield


# ------------------------------------------------------------------------------ preparation


def _covariate_specs(frame: pd.DataFrame, covariate_columns: Sequence[Covariate | str]) -> list[Covariate]:
    specs = []
    for cov in covariate_columns:
        if isinstance(cov, Covariate):
            specs.append(cov)
        elif pd.api.types.is_numeric_dtype(frame[cov]):
            specs.append(Covariate(cov, "numeric"))
        else:
            specs.append(Covariate(cov, "categorical"))
    return specs


def stratified_subsample(treatment: np.ndarray, max_rows: int, seed: int) -> np.ndarray:
    """Sorted positions of a subsample of `max_rows` rows stratified by treatment.

    Each arm keeps its share (largest-remainder rounding); the rows within an arm are drawn
    without replacement by ``numpy.random.default_rng(seed)``. All positions when the data
    have at most `max_rows` rows.

    Examples
    --------
    >>> t = np.array([1] * 60 + [0] * 40)
    >>> pos = stratified_subsample(t, 10, seed=1)
    >>> len(pos), int(t[pos].sum())
    (10, 6)
    """
    n = len(treatment)
    if max_rows is None or n <= max_rows:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    arms = [np.flatnonzero(treatment == v) for v in (0, 1)]
    exact = [max_rows * len(a) / n for a in arms]
    take = [math.floor(x) for x in exact]
    short = max_rows - sum(take)
    for i in sorted(range(2), key=lambda i: exact[i] - take[i], reverse=True)[:short]:
        take[i] += 1
    picked = [rng.choice(a, size=k, replace=False) for a, k in zip(arms, take)]
    return np.sort(np.concatenate(picked))


def _prepare(
    frame: pd.DataFrame,
    outcome: str,
    covariate_columns: Sequence[Any],
    seed: int,
    instrument: str | None,
    max_rows: int | None,
) -> _Prepared:
    for col in ("treatment", outcome) + ((instrument,) if instrument else ()):
        if col not in frame:
            raise AnalysisError(
                [
                    Problem(
                        "analysis", col, "column not found", "pass the cohort table (results/cohort/analysis.parquet)"
                    )
                ],
                headline="DoWhy checks cannot run",
            )
    rows = frame[frame[outcome].notna()]
    if "client_id" in rows:
        # match ties and subsamples then do not depend on the order rows arrive in
        rows = rows.sort_values("client_id", kind="mergesort")
    notes = []
    n_measured = len(rows)
    t_all = rows["treatment"].to_numpy(dtype=np.int64)
    pos = stratified_subsample(t_all, max_rows, seed) if max_rows else np.arange(n_measured)
    if len(pos) < n_measured:
        rows = rows.iloc[pos]
        notes.append(f"stratified subsample of {len(pos)} of {n_measured} rows (seed {seed})")
    t = rows["treatment"].to_numpy(dtype=np.int64)
    n_treated, n_control = int(t.sum()), int(len(t) - t.sum())
    if n_treated < 2 or n_control < 2:
        raise AnalysisError(
            [
                Problem(
                    "analysis",
                    outcome,
                    f"{n_treated} treated and {n_control} control clients have this outcome measured",
                    "DoWhy needs at least two of each; check the outcome's follow-up or drop the outcome",
                )
            ],
            headline="DoWhy checks cannot run",
        )
    design = covariate_design(rows, _covariate_specs(rows, covariate_columns))
    safe = [f"c{i}" for i in range(design.X.shape[1])]
    column_names = dict(zip(safe, design.columns))
    data = pd.DataFrame(design.X.to_numpy(dtype=float), columns=safe)
    data[TREATMENT] = t
    data[OUTCOME] = rows[outcome].to_numpy(dtype=float)
    column_names.update({TREATMENT: "treatment", OUTCOME: outcome})
    has_instrument = False
    if instrument is not None:
        z = pd.to_numeric(rows[instrument], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        if np.isnan(z).any() or np.ptp(z) == 0:
            notes.append(f"instrument '{instrument}' left out of the graph (missing or constant)")
        else:
            data[INSTRUMENT] = z
            column_names[INSTRUMENT] = instrument
            has_instrument = True
    return _Prepared(data=data, confounders=safe, column_names=column_names, instrument=has_instrument, notes=notes)


def _model(prep: _Prepared):
    """CausalModel and backdoor estimand, adjusting for the confounders in the design's order.

    Identification uses ``maximal-adjustment`` (one d-separation check). DoWhy's ``default``
    then searches for a minimal set through all subsets by size, which with ~30 confounders
    runs for many minutes and gives up after 100,000 candidates, falling back to the maximal
    set. The maximal set contains the instrument (adjusting for it is valid but costs precision
    and amplifies any remaining confounding bias), so the estimand adjusts for the confounders
    only: a valid backdoor set of this graph, as the instrument's only edge is into treatment.
    """
    from dowhy import CausalModel

    graph = causal_graph(TREATMENT, OUTCOME, prep.confounders, INSTRUMENT if prep.instrument else None)
    model = CausalModel(data=prep.data, treatment=TREATMENT, outcome=OUTCOME, graph=graph)
    estimand = model.identify_effect(method_name="maximal-adjustment", proceed_when_unidentifiable=True)
    found = set(estimand.backdoor_variables.get("backdoor") or [])
    expected = set(prep.confounders) | ({INSTRUMENT} if prep.instrument else set())
    if found != expected:
        raise RuntimeError(
            f"DoWhy's maximal backdoor set {sorted(found)} is not the graph's "
            f"confounders and instrument {sorted(expected)}"
        )
    # also fixes the order: DoWhy builds the set from Python sets, ordered by string hashes,
    # which change between processes (PYTHONHASHSEED)
    estimand.set_backdoor_variables(list(prep.confounders), key="backdoor")
    return model, estimand


def _propensity_model():
    """Logistic regression on standardised columns by Newton-Cholesky (converges in a few steps).

    Practically unpenalised: ``C = PS_C`` adds ``|b|^2 / (2 C)`` (0.00005 per unit squared
    standardised coefficient) to the negative log-likelihood summed over clients, which changes
    nothing visible but keeps the Hessian invertible when a rare dummy is constant or collinear in
    a bootstrap resample (with ``C = inf`` scikit-learn then warns and falls back to lbfgs).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=PS_C, solver="newton-cholesky", max_iter=100))


def _method_params(method: str) -> dict | None:
    if method == "backdoor.propensity_score_matching":
        return {"init_params": {"propensity_score_model": _propensity_model()}}
    if method == "backdoor.propensity_score_weighting":
        return {
            "init_params": {
                "propensity_score_model": _propensity_model(),
                "weighting_scheme": "ips_normalized_weight",
                "min_ps_score": PS_CLIP[0],
                "max_ps_score": PS_CLIP[1],
            }
        }
    return None


def _drop_added(data: pd.DataFrame, keep: Sequence[str]) -> None:
    """Drop, in place, columns DoWhy wrote into the model's frame (scores, weights, d_y)."""
    extra = [c for c in data.columns if c not in set(keep)]
    if extra:
        for col in extra:
            del data[col]


def _scalar(x: Any) -> float:
    arr = np.asarray(x, dtype=float).ravel()
    return float(arr[0])


def _wald_p(estimate: float, se: float) -> float:
    if not (np.isfinite(se) and se > 0):
        return float("nan")
    return float(2 * stats.norm.sf(abs(estimate / se)))


def _estimate(model, estimand, method: str, target: str, seed: int):
    np.random.seed(seed)
    return model.estimate_effect(
        estimand, method_name=method, target_units=target, method_params=_method_params(method)
    )
