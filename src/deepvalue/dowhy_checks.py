"""DoWhy cross-checks: an explicit causal graph, DoWhy's backdoor estimators and its refuters.

The project's own estimators (numpy, statsmodels, linearmodels) give the reported numbers; this
module reruns the question through DoWhy 0.14 (Sharma and Kiciman 2020) as an independent
implementation and adds DoWhy's refutation tests (DESIGN section 5).

Graph. Every confounder column points to the treatment and to the outcome, the treatment points to
the outcome, and the instrument (if any) points to the treatment only. The graph is given to DoWhy
as GML, its preferred format (a DOT string would need pygraphviz or pydot).

Names. Design columns are renamed ``c0, c1, ...`` (treatment ``treatment``, outcome ``outcome``,
instrument ``instrument``) before DoWhy sees them: design names contain ``=`` and spaces, and
DoWhy 0.14 dispatches a graph *string* by regular expressions, so a name containing ``.dot``,
``.gml`` or ``.txt`` would make it try to open a file. The mapping back to design columns is
kept with the prepared data; results name only the outcome, in its own name.

Determinism. DoWhy's point estimates involve no random numbers, yet its propensity-score matching
ATT changed between runs on the same data (DESIGN section 9). The cause is identification, not
a seed: DoWhy builds the backdoor adjustment set from Python ``set`` objects, so the order of
the confounder columns depends on string hashing, which Python randomises per process
(``PYTHONHASHSEED``). DoWhy's default propensity model, ``LogisticRegression()`` (lbfgs, 100
iterations, unscaled columns), does not converge on this design and stops at an order-dependent
point, so the scores, the matches and the ATT move (0.087 to 0.149 for job_start on the default
synthetic cohort in six processes); OLS moves only in the last bits. Both causes are removed
here: the adjustment set is put back into the graph's column order after identification, and the
propensity model is a converged, practically unpenalised logistic regression on standardised
columns (Newton-Cholesky), like :mod:`deepvalue.propensity`. The remaining randomness (bootstrap
replicates, refuter simulations, the simulated unobserved confounder) is drawn from numpy's
global generator or from a ``RandomState`` built from the seed, reset before every call, so
reruns give identical numbers, in another process too. All DoWhy rows therefore take part in
byte-identity, on the same machine and BLAS thread count: with ``OPENBLAS_NUM_THREADS=1``
instead of 2 the IPW estimate changed in its 16th significant digit (OpenBLAS sums in another
order), as any BLAS-based estimate can.

Scale (DESIGN section 9). Refuters refit the model once per simulation, so they run on a
stratified subsample (``max_rows``, stated in ``n_used``); the bootstrap of the propensity-score
estimators likewise runs on at most ``bootstrap_max_rows`` rows and is rescaled to the full
sample (an m-out-of-n bootstrap: SE_n = SE_m * sqrt(m / n)).
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

from .design import covariate_design
from .errors import AnalysisError, Problem

TREATMENT = "treatment"
OUTCOME = "outcome"
INSTRUMENT = "instrument"

#: (row label, DoWhy method, target units) of the estimates, primary first.
METHODS: tuple[tuple[str, str, str], ...] = (
    ("dowhy_regression", "backdoor.linear_regression", "ate"),
    ("dowhy_psm", "backdoor.propensity_score_matching", "att"),
    ("dowhy_ipw", "backdoor.propensity_score_weighting", "ate"),
)
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
#: Refuter simulations: 100 is the least at which DoWhy's refutation p-value is its two-sided
#: percentile test; with fewer it assumes a normal distribution and reports one tail.
REFUTER_SIMULATIONS = 100
REFUTER_MAX_ROWS = 10_000
SUBSET_FRACTION = 0.8
#: add_unobserved_common_cause (direct simulation): U ~ N(0, 1) flips the treatment of the
#: UNOBSERVED_FLIP share of clients with the highest U and lowers the outcome by
#: UNOBSERVED_OUTCOME_SD outcome standard deviations per SD of U.
UNOBSERVED_FLIP = 0.05
UNOBSERVED_OUTCOME_SD = 0.1
SIGNIFICANCE = 0.05

REFUTERS = ("placebo_treatment_refuter", "random_common_cause", "data_subset_refuter",
            "add_unobserved_common_cause")


@dataclass(frozen=True)
class _Prepared:
    data: pd.DataFrame  # safe names: c0.., treatment, outcome[, instrument]
    confounders: list[str]
    column_names: dict[str, str]  # safe name -> design column / source name
    instrument: bool
    notes: list[str]


# --------------------------------------------------------------------------------------- graph

def causal_graph(treatment: str, outcome: str, confounders: Sequence[str],
                 instrument: str | None = None) -> str:
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
            raise ValueError(f"graph node name {name!r} cannot be passed to DoWhy; rename it "
                             "(no double quotes, line breaks, '.dot', '.gml' or '.txt')")
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
        warnings.filterwarnings("ignore", message="The copy keyword is deprecated",
                                category=Pandas4Warning, module=r"dowhy\.")
        yield


# ------------------------------------------------------------------------------ preparation

def _covariate_specs(frame: pd.DataFrame, covariate_columns: Sequence[Any]) -> list[dict]:
    specs = []
    for cov in covariate_columns:
        if isinstance(cov, dict):
            specs.append(cov)
        elif pd.api.types.is_numeric_dtype(frame[cov]):
            specs.append({"name": cov, "type": "numeric"})
        else:
            specs.append({"name": cov, "type": "categorical"})
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


def _prepare(frame: pd.DataFrame, outcome: str, covariate_columns: Sequence[Any], seed: int,
             instrument: str | None, max_rows: int | None) -> _Prepared:
    for col in ("treatment", outcome) + ((instrument,) if instrument else ()):
        if col not in frame:
            raise AnalysisError([Problem("analysis", col, "column not found",
                                         "pass the cohort table (results/cohort/analysis.parquet)")],
                                headline="DoWhy checks cannot run")
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
        raise AnalysisError([Problem(
            "analysis", outcome,
            f"{n_treated} treated and {n_control} control clients have this outcome measured",
            "DoWhy needs at least two of each; check the outcome's follow-up or drop the outcome")],
            headline="DoWhy checks cannot run")
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
    return _Prepared(data=data, confounders=safe, column_names=column_names,
                     instrument=has_instrument, notes=notes)


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
        raise RuntimeError(f"DoWhy's maximal backdoor set {sorted(found)} is not the graph's "
                           f"confounders and instrument {sorted(expected)}")
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

    return make_pipeline(StandardScaler(), LogisticRegression(C=PS_C, solver="newton-cholesky",
                                                              max_iter=100))


def _method_params(method: str) -> dict | None:
    if method == "backdoor.propensity_score_matching":
        return {"init_params": {"propensity_score_model": _propensity_model()}}
    if method == "backdoor.propensity_score_weighting":
        return {"init_params": {"propensity_score_model": _propensity_model(),
                                "weighting_scheme": "ips_normalized_weight",
                                "min_ps_score": PS_CLIP[0], "max_ps_score": PS_CLIP[1]}}
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
    return model.estimate_effect(estimand, method_name=method, target_units=target,
                                 method_params=_method_params(method))


# -------------------------------------------------------------------------------- estimates

def dowhy_estimates(frame: pd.DataFrame, outcome: str, covariate_columns: Sequence[Any], seed: int,
                    instrument: str | None = None, max_rows: int | None = None,
                    bootstrap_replicates: int = BOOTSTRAP_REPLICATES,
                    bootstrap_max_rows: int = BOOTSTRAP_MAX_ROWS,
                    replicates: pd.DataFrame | None = None) -> list[dict]:
    """DoWhy's regression, matching and weighting estimates of the effect of continuity.

    On the rows with `outcome` measured: build a ``CausalModel`` with :func:`causal_graph`,
    identify the backdoor estimand and estimate

    - ``dowhy_regression``: ``backdoor.linear_regression``, ATE = the treatment coefficient of
      OLS on treatment and the confounders; SE, CI and p-value are DoWhy's analytic ones
      (statsmodels OLS, classical, not cluster-robust);
    - ``dowhy_psm``: ``backdoor.propensity_score_matching``, ATT: each treated client is matched to
      the control with the nearest propensity score (1-NN with replacement, no caliper);
    - ``dowhy_ipw``: ``backdoor.propensity_score_weighting``, ATE with the Hajek (self-normalised)
      weights ``ips_normalized_weight``: weighted mean of treated minus weighted mean of controls
      with weights 1/e and 1/(1-e), each normalised to sum to one within its arm; scores clipped
      to ``PS_CLIP``. (DoWhy 0.14 divides by the weight sum within each arm whatever the scheme,
      so ``ips_weight`` gives the same number.)

    For matching and weighting DoWhy offers only its bootstrap: ``bootstrap_replicates``
    resamples, each refitting the propensity model (:func:`dowhy_bootstrap_replicates`, DoWhy's own
    replicate loop with one seed per replicate, so replicates can be computed in separate jobs);
    SE and CI = DoWhy's bootstrap SE and basic (reverse percentile) interval
    (:func:`bootstrap_interval`); p-value = normal approximation from the bootstrap SE. Above
    ``bootstrap_max_rows`` rows the bootstrap runs on a stratified subsample of that size and
    SE and CI half-widths are scaled by sqrt(m / n).

    Parameters
    ----------
    frame
        The cohort table (``results/cohort/analysis.parquet``): ``treatment`` (0/1), the outcome,
        the covariates, service, site, start_quarter.
    outcome
        Outcome column; rows where it is missing are left out.
    covariate_columns
        The config's covariates (``[{"name", "type"}]``) or plain column names (numeric dtype ->
        numeric, otherwise categorical); service, site and start quarter are always added
        (:func:`deepvalue.design.covariate_design`).
    seed
        Seeds numpy's global generator before every DoWhy call and the subsamples.
    instrument
        Column of an instrument (e.g. ``first_worker_left``): drawn into the graph (-> treatment
        only); backdoor estimates do not adjust for it.
    max_rows
        If given and exceeded, everything runs on a stratified subsample of this size (noted).
    replicates
        Bootstrap replicate estimates made beforehand by :func:`dowhy_bootstrap_replicates` with the
        same arguments (the workflow spreads them over jobs): rows of this outcome, replicates
        0 .. ``bootstrap_replicates`` - 1 of each method. None: computed here.

    Returns
    -------
    list of dict
        One per method: outcome, method, estimand, estimate, std_error, ci_lower, ci_upper,
        p_value, n_treated, n_control, notes.
    """
    prep = _prepare(frame, outcome, covariate_columns, seed, instrument, max_rows)
    data = prep.data
    keep = list(data.columns)
    n = len(data)
    t = data[TREATMENT].to_numpy()
    n_treated, n_control = int(t.sum()), int(n - t.sum())
    out = []
    if replicates is None:
        replicates = dowhy_bootstrap_replicates(frame, outcome, covariate_columns, seed,
                                                range(bootstrap_replicates), instrument=instrument,
                                                max_rows=max_rows, bootstrap_max_rows=bootstrap_max_rows,
                                                prepared=prep)
    with _quiet_dowhy():
        model, estimand = _model(prep)
        boot_prep = boot = None
        for label, method, target in METHODS:
            _drop_added(data, keep)
            est = _estimate(model, estimand, method, target, seed)
            value = float(est.value)
            notes = list(prep.notes)
            if method == PRIMARY_METHOD:
                se = _scalar(est.get_standard_error())
                lo, hi = np.asarray(est.get_confidence_intervals(), dtype=float).ravel()[:2]
                p = _scalar(est.test_stat_significance()["p_value"])
                notes.append("DoWhy OLS on treatment + confounders; classical (non-robust) SE")
            else:
                if method == "backdoor.propensity_score_weighting":
                    ps = data["propensity_score"].to_numpy()
                    clipped = int(((ps <= PS_CLIP[0]) | (ps >= PS_CLIP[1])).sum())
                    notes.append(f"DoWhy IPW, Hajek weights (ips_normalized_weight); scores clipped to "
                                 f"[{PS_CLIP[0]}, {PS_CLIP[1]}] ({clipped} clipped)")
                else:
                    notes.append("DoWhy PSM: 1-NN with replacement, no caliper, on the propensity score "
                                 "(not its logit)")
                notes.append(f"propensity: logistic regression on standardised confounders, L2 C={PS_C:g} "
                             "(practically unpenalised)")
                reps = _replicates_of(replicates, outcome, label, bootstrap_replicates)
                if n > bootstrap_max_rows:
                    if boot_prep is None:
                        boot_prep = _bootstrap_sample(prep, seed, bootstrap_max_rows)
                        boot = _model(boot_prep)
                    _drop_added(boot_prep.data, keep)
                    boot_value = float(_estimate(*boot, method, target, seed).value)
                    _drop_added(boot_prep.data, keep)
                    se_m, lo_m, hi_m = bootstrap_interval(boot_value, reps)
                    m = len(boot_prep.data)
                    scale = math.sqrt(m / n)
                    se = se_m * scale
                    lo = value - scale * (boot_value - lo_m)
                    hi = value + scale * (hi_m - boot_value)
                    notes.append(f"bootstrap: {bootstrap_replicates} replicates on a stratified subsample "
                                 f"of {m} rows, SE and CI scaled by sqrt({m}/{n})")
                else:
                    se, lo, hi = bootstrap_interval(value, reps)
                    notes.append(f"bootstrap: {bootstrap_replicates} replicates")
                p = _wald_p(value, se)
                notes.append("p: normal approximation from the bootstrap SE")
            out.append({
                "outcome": outcome, "method": label, "estimand": target.upper(), "estimate": value,
                "std_error": float(se), "ci_lower": float(lo), "ci_upper": float(hi), "p_value": float(p),
                "n_treated": n_treated, "n_control": n_control, "notes": "; ".join(notes),
            })
        _drop_added(data, keep)
    return out


# -------------------------------------------------------------------------------- bootstrap

#: Columns of a table of bootstrap replicate estimates.
REPLICATE_COLUMNS = ["outcome", "method", "replicate", "estimate"]


def _bootstrap_sample(prep: _Prepared, seed: int, max_rows: int) -> _Prepared:
    """The rows the bootstrap resamples: all, or a stratified subsample of `max_rows`."""
    keep = list(prep.data.columns)
    pos = stratified_subsample(prep.data[TREATMENT].to_numpy(), max_rows, seed)
    data = prep.data.iloc[pos][keep].reset_index(drop=True)
    return _Prepared(data, prep.confounders, prep.column_names, prep.instrument, [])


def replicate_range(replicates: int, jobs: int, job: int) -> range:
    """The bootstrap replicates job number `job` (0-based) of `jobs` computes: consecutive blocks.

    Examples
    --------
    >>> [list(replicate_range(10, 3, j)) for j in range(3)]
    [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    >>> list(replicate_range(2, 3, 2))
    []
    """
    if jobs < 1 or not 0 <= job < jobs:
        raise ValueError(f"job must be in 0..{jobs - 1}, got {job}")
    size = -(-replicates // jobs)
    return range(min(job * size, replicates), min((job + 1) * size, replicates))


def dowhy_bootstrap_replicates(frame: pd.DataFrame, outcome: str, covariate_columns: Sequence[Any], seed: int,
                         replicates: Sequence[int], instrument: str | None = None, max_rows: int | None = None,
                         bootstrap_max_rows: int = BOOTSTRAP_MAX_ROWS,
                         prepared: _Prepared | None = None) -> pd.DataFrame:
    """DoWhy's matching and weighting estimates on the bootstrap resamples numbered `replicates`.

    Each replicate is DoWhy 0.14's own bootstrap step
    (``CausalEstimator._generate_bootstrap_estimates``): draw ``n`` rows with replacement
    (``sklearn.utils.resample``), build a new estimator of the same kind, fit it (the propensity
    model is refitted) and estimate. DoWhy draws all replicates from numpy's global generator in
    one loop; here replicate ``r`` draws from ``RandomState([seed, r])``, so a replicate's number
    alone fixes it and any split of the replicates over jobs gives the same estimates.

    The data are those of :func:`dowhy_estimates` with the same arguments (rows with `outcome`
    measured, the `max_rows` subsample), cut to a stratified subsample of `bootstrap_max_rows`
    rows when larger. `prepared` passes those data when the caller has built them.

    Returns
    -------
    pandas.DataFrame
        outcome, method (``dowhy_psm``, ``dowhy_ipw``), replicate, estimate: one row per
        method and replicate, in that order.
    """
    prep = prepared or _prepare(frame, outcome, covariate_columns, seed, instrument, max_rows)
    boot = _bootstrap_sample(prep, seed, bootstrap_max_rows)
    keep = list(boot.data.columns)
    rows = []
    with _quiet_dowhy():
        model, estimand = _model(boot)
        for label, method, target in METHODS:
            if method == PRIMARY_METHOD:
                continue
            _drop_added(boot.data, keep)
            estimator = _estimate(model, estimand, method, target, seed).estimator
            _drop_added(boot.data, keep)  # resamples then refit the score (DoWhy reuses a present one)
            for r in replicates:
                rows.append((outcome, label, int(r), _one_replicate(estimator, boot.data, seed, int(r))))
    return pd.DataFrame(rows, columns=REPLICATE_COLUMNS).astype({"replicate": "int64", "estimate": float})


def _one_replicate(estimator, data: pd.DataFrame, seed: int, replicate: int) -> float:
    """One pass of DoWhy's bootstrap loop, with the replicate's own seed."""
    from sklearn.utils import resample

    new_data = resample(data, n_samples=len(data), random_state=np.random.RandomState([seed, replicate]))
    new = estimator.get_new_estimator_object(estimator._target_estimand, test_significance=False,
                                             evaluate_effect_strength=False, confidence_intervals=False)
    new.fit(new_data, effect_modifier_names=estimator._effect_modifier_names)
    effect = new.estimate_effect(new_data, treatment_value=estimator._treatment_value,
                                 control_value=estimator._control_value, target_units=estimator._target_units)
    return float(effect.value)


def _replicates_of(table: pd.DataFrame, outcome: str, method: str, expected: int) -> np.ndarray:
    rows = table[(table["outcome"] == outcome) & (table["method"] == method)].sort_values("replicate")
    numbers = rows["replicate"].to_numpy()
    if not np.array_equal(numbers, np.arange(expected)):
        raise ValueError(f"bootstrap replicates of {method} for {outcome}: expected 0..{expected - 1}, "
                         f"got {len(numbers)} ({numbers[:5].tolist()}...); rerun the dowhy_bootstrap jobs")
    return rows["estimate"].to_numpy(dtype=float)


def bootstrap_interval(value: float, replicates: np.ndarray,
                       confidence_level: float = CONFIDENCE_LEVEL) -> tuple[float, float, float]:
    """DoWhy's bootstrap standard error and basic interval from replicate estimates.

    As DoWhy 0.14 (``_estimate_std_error_with_bootstrap`` and
    ``_estimate_confidence_intervals_with_bootstrap``): SE = ``np.std`` of the replicates
    (ddof 0); with the sorted deviations ``v = sort(replicates - value)``, the interval is
    ``(value - v[int(0.975 R)], value - v[int(0.025 R)])`` (the reverse percentile interval).

    Examples
    --------
    >>> se, lo, hi = bootstrap_interval(1.0, np.linspace(0.8, 1.4, 101))
    >>> round(se, 4), round(lo, 3), round(hi, 3)
    (0.1749, 0.612, 1.188)
    """
    reps = np.asarray(replicates, dtype=float)
    se = float(np.std(reps))
    variations = np.sort(reps - value)
    left = (1 - confidence_level) / 2
    lower = value - variations[int((1 - left) * len(variations))]
    upper = value - variations[int(left * len(variations))]
    return se, float(lower), float(upper)


# ------------------------------------------------------------------------------- refutations

def dowhy_refutations(frame: pd.DataFrame, outcome: str, covariate_columns: Sequence[Any], seed: int,
                      max_rows: int | None = REFUTER_MAX_ROWS, simulations: int = REFUTER_SIMULATIONS,
                      instrument: str | None = None) -> pd.DataFrame:
    """DoWhy's refutation tests of the primary estimate (``backdoor.linear_regression``, ATE).

    Runs on the rows with `outcome` measured; above `max_rows` rows on a subsample of that size,
    stratified by treatment and drawn with `seed` (its size is ``n_used``; ``estimate`` is the
    original estimate on those rows). Each refuter gets a ``numpy.random.RandomState(seed)``
    (an int seed would make DoWhy's data-subset refuter draw the *same* subset in every
    simulation, as ``DataFrame.sample(random_state=int)`` restarts the generator).

    Refuters and the rule for ``passed``:

    - ``placebo_treatment_refuter``: treatment permuted across rows (``placebo_type="permute"``),
      `simulations` times; ``new_effect`` = mean placebo effect. ``p_value`` is DoWhy's
      probability that 0 belongs to the distribution of placebo effects (two-sided percentile
      test with >= 100 simulations; one normal tail with fewer). Passed: p_value > 0.05.
    - ``random_common_cause``: an independent N(0, 1) column added as a confounder, `simulations`
      times. Passed: new effect inside the original estimate's 95% CI. ``p_value`` (DoWhy: is the
      original estimate in the distribution of new ones) is reported, not used.
    - ``data_subset_refuter``: re-estimated on random 80% subsets, `simulations` times. Passed as
      for the random common cause.
    - ``add_unobserved_common_cause``: one simulated confounder U ~ N(0, 1) (direct simulation)
      that flips the treatment of the ``UNOBSERVED_FLIP`` share with the highest U and lowers the
      outcome by ``UNOBSERVED_OUTCOME_SD`` outcome SDs per SD of U. A sensitivity reading, not a
      test: passed = the sign of the effect is unchanged; no p-value.

    Returns
    -------
    pandas.DataFrame
        outcome, refuter, estimate, new_effect, p_value, passed, reading, n_used, simulations.
    """
    prep = _prepare(frame, outcome, covariate_columns, seed, instrument, max_rows)
    data = prep.data
    keep = list(data.columns)
    rows = []
    with _quiet_dowhy():
        model, estimand = _model(prep)
        est = _estimate(model, estimand, PRIMARY_METHOD, "ate", seed)
        original = float(est.value)
        lo, hi = np.asarray(est.get_confidence_intervals(), dtype=float).ravel()[:2]
        y_sd = float(data[OUTCOME].std(ddof=1))
        kappa_y = UNOBSERVED_OUTCOME_SD * y_sd if y_sd > 0 else UNOBSERVED_OUTCOME_SD
        for refuter in REFUTERS:
            _drop_added(data, keep)
            np.random.seed(seed)
            if refuter == "add_unobserved_common_cause":
                kwargs = {"simulation_method": "direct-simulation",
                          "confounders_effect_on_treatment": "binary_flip",
                          "confounders_effect_on_outcome": "linear",
                          "effect_strength_on_treatment": UNOBSERVED_FLIP,
                          "effect_strength_on_outcome": kappa_y, "plotmethod": None}
                sims = 1
            else:
                kwargs = {"num_simulations": simulations, "random_state": np.random.RandomState(seed)}
                if refuter == "placebo_treatment_refuter":
                    kwargs["placebo_type"] = "permute"
                elif refuter == "data_subset_refuter":
                    kwargs["subset_fraction"] = SUBSET_FRACTION
                sims = simulations
            res = model.refute_estimate(estimand, est, method_name=refuter, **kwargs)
            new = float(np.asarray(res.new_effect, dtype=float).ravel()[0])
            p = float("nan")
            if res.refutation_result is not None:
                p = _scalar(res.refutation_result["p_value"])
            passed, reading = _judge(refuter, original, new, p, lo, hi, sims)
            rows.append({"outcome": outcome, "refuter": refuter, "estimate": original, "new_effect": new,
                         "p_value": p, "passed": bool(passed), "reading": reading, "n_used": len(data),
                         "simulations": sims})
        _drop_added(data, keep)
    return pd.DataFrame(rows)


def _judge(refuter: str, original: float, new: float, p: float, lo: float, hi: float,
           sims: int) -> tuple[bool, str]:
    g = "{:.4g}".format
    if refuter == "placebo_treatment_refuter":
        test = "percentile" if sims >= 100 else "one-tailed normal"
        passed = bool(p > SIGNIFICANCE)
        verdict = "no effect without the real treatment" if passed else "the placebo effect differs from 0"
        return passed, (f"mean placebo effect {g(new)} vs estimate {g(original)}; p = {g(p)} ({test}) that 0 "
                        f"belongs to the placebo distribution: {verdict}")
    if refuter in ("random_common_cause", "data_subset_refuter"):
        what = "with a random common cause" if refuter == "random_common_cause" else "on 80% subsets"
        passed = bool(lo <= new <= hi)
        return passed, (f"effect {what} {g(new)} vs {g(original)} (95% CI {g(lo)} to {g(hi)}): "
                        f"{'inside' if passed else 'outside'} the CI; DoWhy p = {g(p)}")
    passed = bool(np.sign(new) == np.sign(original) and new != 0)
    return passed, (f"with an unobserved confounder (flips {UNOBSERVED_FLIP:.0%} of treatments, "
                    f"{UNOBSERVED_OUTCOME_SD} outcome SD per SD) the effect is {g(new)} vs {g(original)}: "
                    f"sign {'unchanged' if passed else 'changed'}")
