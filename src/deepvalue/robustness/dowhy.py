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
columns (Newton-Cholesky), like :mod:`deepvalue.adjust.propensity`. The remaining randomness (bootstrap
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
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from deepvalue.robustness.dowhy_model import (
    BOOTSTRAP_MAX_ROWS,
    BOOTSTRAP_REPLICATES,
    CONFIDENCE_LEVEL,
    PRIMARY_METHOD,
    PS_C,
    PS_CLIP,
    TREATMENT,
    _drop_added,
    _estimate,
    _model,
    _prepare,
    _Prepared,
    _quiet_dowhy,
    _scalar,
    _wald_p,
    stratified_subsample,
)

#: (row label, DoWhy method, target units) of the estimates, primary first.
METHODS: tuple[tuple[str, str, str], ...] = (
    ("dowhy_regression", "backdoor.linear_regression", "ate"),
    ("dowhy_psm", "backdoor.propensity_score_matching", "att"),
    ("dowhy_ipw", "backdoor.propensity_score_weighting", "ate"),
)


# -------------------------------------------------------------------------------- estimates


def dowhy_estimates(
    frame: pd.DataFrame,
    outcome: str,
    covariate_columns: Sequence[Any],
    seed: int,
    instrument: str | None = None,
    max_rows: int | None = None,
    bootstrap_replicates: int = BOOTSTRAP_REPLICATES,
    bootstrap_max_rows: int = BOOTSTRAP_MAX_ROWS,
    replicates: pd.DataFrame | None = None,
) -> list[dict]:
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
        The study's covariates (:class:`deepvalue.core.settings.Covariate`) or plain column names (numeric dtype ->
        numeric, otherwise categorical); service, site and start quarter are always added
        (:func:`deepvalue.adjust.design.covariate_design`).
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
        replicates = dowhy_bootstrap_replicates(
            frame,
            outcome,
            covariate_columns,
            seed,
            range(bootstrap_replicates),
            instrument=instrument,
            max_rows=max_rows,
            bootstrap_max_rows=bootstrap_max_rows,
            prepared=prep,
        )
    with _quiet_dowhy():
        model, estimand = _model(prep)
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
                    notes.append(
                        f"DoWhy IPW, Hajek weights (ips_normalized_weight); scores clipped to "
                        f"[{PS_CLIP[0]}, {PS_CLIP[1]}] ({clipped} clipped)"
                    )
                else:
                    notes.append(
                        "DoWhy PSM: 1-NN with replacement, no caliper, on the propensity score (not its logit)"
                    )
                notes.append(
                    f"propensity: logistic regression on standardised confounders, L2 C={PS_C:g} "
                    "(practically unpenalised)"
                )
                reps = _replicates_of(replicates, outcome, label, bootstrap_replicates)
                if n > bootstrap_max_rows:
                    # m-out-of-n bootstrap: each replicate draws m of the n rows (with
                    # replacement), so sqrt(m/n) rescales the spread to the full size
                    m = bootstrap_max_rows
                    se_m, lo_m, hi_m = bootstrap_interval(value, reps)
                    scale = math.sqrt(m / n)
                    se = se_m * scale
                    lo = value - scale * (value - lo_m)
                    hi = value + scale * (hi_m - value)
                    notes.append(
                        f"bootstrap: {bootstrap_replicates} replicates of {m} rows drawn from the {n} (m-out-of-n), "
                        f"SE and CI scaled by sqrt({m}/{n})"
                    )
                else:
                    se, lo, hi = bootstrap_interval(value, reps)
                    notes.append(f"bootstrap: {bootstrap_replicates} replicates")
                p = _wald_p(value, se)
                notes.append("p: normal approximation from the bootstrap SE")
            out.append(
                {
                    "outcome": outcome,
                    "method": label,
                    "estimand": target.upper(),
                    "estimate": value,
                    "std_error": float(se),
                    "ci_lower": float(lo),
                    "ci_upper": float(hi),
                    "p_value": float(p),
                    "n_treated": n_treated,
                    "n_control": n_control,
                    "notes": "; ".join(notes),
                }
            )
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


def dowhy_bootstrap_replicates(
    frame: pd.DataFrame,
    outcome: str,
    covariate_columns: Sequence[Any],
    seed: int,
    replicates: Sequence[int],
    instrument: str | None = None,
    max_rows: int | None = None,
    bootstrap_max_rows: int = BOOTSTRAP_MAX_ROWS,
    prepared: _Prepared | None = None,
) -> pd.DataFrame:
    """DoWhy's matching and weighting estimates on the bootstrap resamples numbered `replicates`.

    Each replicate is DoWhy 0.14's own bootstrap step
    (``CausalEstimator._generate_bootstrap_estimates``): draw ``n`` rows with replacement
    (``sklearn.utils.resample``), build a new estimator of the same kind, fit it (the propensity
    model is refitted) and estimate. DoWhy draws all replicates from numpy's global generator in
    one loop; here replicate ``r`` draws from ``RandomState([seed, r])``, so a replicate's number
    alone fixes it and any split of the replicates over jobs gives the same estimates.

    The data are those of :func:`dowhy_estimates` with the same arguments (rows with `outcome`
    measured, the `max_rows` subsample). When they have more than `bootstrap_max_rows` rows, each
    replicate draws `bootstrap_max_rows` of them (an m-out-of-n bootstrap: a fresh draw of m from
    all n rows for every replicate, Bickel, Goetze and van Zwet 1997), and the estimates job
    rescales the spread by sqrt(m/n). With n at most m it is DoWhy's ordinary bootstrap, which
    Abadie and Imbens (2008) show is not valid for nearest-neighbour matching: ``dowhy_psm``'s SE
    is then a cross-check, not an inference. `prepared` passes those data when the caller has built them.

    Returns
    -------
    pandas.DataFrame
        outcome, method (``dowhy_psm``, ``dowhy_ipw``), replicate, estimate: one row per
        method and replicate, in that order.
    """
    prep = prepared or _prepare(frame, outcome, covariate_columns, seed, instrument, max_rows)
    # the estimator is only a template (its kind and settings); every replicate resamples the data
    boot = _bootstrap_sample(prep, seed, bootstrap_max_rows)
    keep = list(boot.data.columns)
    data = prep.data[keep]
    size = min(len(data), bootstrap_max_rows)
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
                rows.append((outcome, label, int(r), _one_replicate(estimator, data, seed, int(r), size)))
    return pd.DataFrame(rows, columns=REPLICATE_COLUMNS).astype({"replicate": "int64", "estimate": float})


def _one_replicate(estimator, data: pd.DataFrame, seed: int, replicate: int, size: int | None = None) -> float:
    """One pass of DoWhy's bootstrap loop, with the replicate's own seed: `size` rows (default all)
    drawn with replacement from `data`."""
    from sklearn.utils import resample

    n_samples = len(data) if size is None else int(size)
    new_data = resample(data, n_samples=n_samples, random_state=np.random.RandomState([seed, replicate]))
    new = estimator.get_new_estimator_object(
        estimator._target_estimand, test_significance=False, evaluate_effect_strength=False, confidence_intervals=False
    )
    new.fit(new_data, effect_modifier_names=estimator._effect_modifier_names)
    effect = new.estimate_effect(
        new_data,
        treatment_value=estimator._treatment_value,
        control_value=estimator._control_value,
        target_units=estimator._target_units,
    )
    return float(effect.value)


def _replicates_of(table: pd.DataFrame, outcome: str, method: str, expected: int) -> np.ndarray:
    rows = table[(table["outcome"] == outcome) & (table["method"] == method)].sort_values("replicate")
    numbers = rows["replicate"].to_numpy()
    if not np.array_equal(numbers, np.arange(expected)):
        raise ValueError(
            f"bootstrap replicates of {method} for {outcome}: expected 0..{expected - 1}, "
            f"got {len(numbers)} ({numbers[:5].tolist()}...); rerun the dowhy_bootstrap jobs"
        )
    return rows["estimate"].to_numpy(dtype=float)


def bootstrap_interval(
    value: float, replicates: np.ndarray, confidence_level: float = CONFIDENCE_LEVEL
) -> tuple[float, float, float]:
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
