"""Multiplicity: Holm and Romano-Wolf adjusted p-values over the family of primary-method tests, and the
confirmatory row.

The family is every estimate row of results/estimates.csv with the primary method and estimand
(``estimation.primary``, :func:`deepvalue.core.primary.resolve_primary`): each outcome, for the whole
cohort and for each level of each subgroup column (outcomes x subgroups x the primary method), on each
of its scales. Left out: the "equal effects" Wald rows of the subgroups (other hypotheses), skipped
rows (no p-value), and the ``baseline_sd`` rows of the questionnaire outcomes, which restate the
``points`` row's test in other units (the same estimate, SE and p-value divided by one constant:
counting them would test one hypothesis twice and make Holm stricter for nothing).

- **Holm's step-down** (Holm 1979, *Scand. J. Statist.* 6): with the m p-values sorted,
  p_holm_(i) = max_{j <= i} min(1, (m - j + 1) p_(j)); it controls the family-wise error rate under
  any dependence. Tested equal to ``statsmodels.stats.multitest.multipletests(method="holm")``.
- **Romano-Wolf's step-down** (Romano and Wolf 2005, *Econometrica* 73(4); the bootstrap form of
  DoubleML's ``DoubleMLFramework.p_adjust("romano-wolf")``, Bach et al. 2022, *JMLR* 23): with the
  family's t-statistics t_r = estimate_r / SE_r sorted by |t| (largest first) and the joint bootstrap's
  centred statistics t*_{b,r} = (theta*_{b,r} - estimate_r) / SE_r (results/joint_draws.parquet, one
  multiplier per allocated worker shared by every row, :mod:`deepvalue.effects.joint`),
  p_(i) = max_{j <= i} mean_b[max_{k >= j} |t*_{b,(k)}| >= |t_(j)|]. It uses the estimates'
  correlation (clients common to two outcomes or subgroups, the same workers), so it is less
  strict than Holm when the tests are correlated, and it controls the family-wise error rate
  asymptotically. Tested equal to DoubleML's on the same draws; each step's share is the Monte Carlo
  p-value (1 + count) / (B + 1), so no adjusted p is 0 (DoubleML's count / B can be). In the table
  an adjusted p is at least the row's own p-value: 999 draws resolve p only to 0.001, and they are
  Gaussian where a CR2 row's p comes from t(G - 1), so without that floor a row with p = 0.0017 got
  an "adjusted" 0.001. The draws are Gaussian (normal
  multipliers by default), so a family of one gets the normal p-value, not the t(G-1) one of a CR2
  row: the two differ in the third digit at 100 workers.

``role`` is ``confirmatory`` for the whole-cohort row of the primary outcome, ``exploratory`` for the
rest. When the joint draws do not cover every row of the family (the primary method is not among
``estimation.joint_draws.methods``, or a row has no draws), ``p_romano_wolf`` is empty and ``notes``
says why: the step-down needs the whole family.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from deepvalue.effects.joint import KEYS, draws_matrix
from deepvalue.effects.questionnaire import BASELINE_SD

MULTIPLICITY_COLUMNS = [
    "outcome",
    "subgroup",
    "method",
    "estimand",
    "scale",
    "role",
    "estimate",
    "p_value",
    "p_holm",
    "p_romano_wolf",
    "family_size",
    "notes",
]
#: scales whose rows restate another row's test in other units (left out of the family)
RESCALED_SCALES = (BASELINE_SD,)


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values, in the order given (NaN stays NaN, outside the family)."""
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = ok.size
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    stepped = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(stepped)
    return out


def romano_wolf(t: np.ndarray, t_boot: np.ndarray, plus_one: bool = True) -> np.ndarray:
    """Romano-Wolf step-down adjusted p-values, in the order given.

    ``t``: the m observed t-statistics; ``t_boot``: B x m centred bootstrap t-statistics drawn jointly
    (one row per draw). Vectorised: after sorting the columns by |t| (largest first), the maximum over
    the hypotheses not yet rejected at step j is a cumulative maximum from the right.

    ``plus_one``: each step's share is the Monte Carlo p-value (1 + count) / (B + 1) (Davison and
    Hinkley 1997, *Bootstrap Methods and their Application*, ch. 4), never 0: a p-value of 0 from 999
    draws would claim more than the draws can show (the smallest is 1 / (B + 1) = 0.001).
    ``plus_one=False`` is DoubleML's count / B. The transform is monotone, so the step-down's maxima
    are the same either way.
    """
    t = np.asarray(t, dtype=float)
    t_boot = np.asarray(t_boot, dtype=float)
    if t_boot.ndim != 2 or t_boot.shape[1] != t.size:
        raise ValueError(f"t_boot must be B x {t.size}; got shape {t_boot.shape}")
    if t.size == 0:
        return np.empty(0)
    abs_t = np.abs(t)
    order = np.argsort(abs_t, kind="stable")[::-1]  # DoubleML's order: largest |t| first
    tail_max = np.maximum.accumulate(np.abs(t_boot[:, order])[:, ::-1], axis=1)[:, ::-1]
    count = (tail_max >= abs_t[order]).sum(axis=0)
    b = t_boot.shape[0]
    p_step = (count + 1) / (b + 1) if plus_one else np.minimum(1.0, count / b)
    out = np.empty(t.size)
    out[order] = np.maximum.accumulate(p_step)
    return out


def _family(estimates: pd.DataFrame, primary: dict[str, str]) -> pd.DataFrame:
    est = estimates.copy()
    est["subgroup"] = est["subgroup"].fillna("").astype(str)
    if "scale" not in est:
        est["scale"] = ""
    est["scale"] = est["scale"].fillna("").astype(str)
    return est[
        (est["method"] == primary["method"])
        & (est["estimand"] == primary["estimand"])
        & ~est["subgroup"].str.endswith(": equal effects")
        & ~est["scale"].isin(RESCALED_SCALES)
        & est["p_value"].notna()
    ].copy()


def _romano_wolf_column(family: pd.DataFrame, draws: pd.DataFrame | None) -> tuple[np.ndarray, str]:
    """The family's Romano-Wolf p-values from the joint draws, or NaN and the reason."""
    nan = np.full(len(family), np.nan)
    if draws is None:
        return nan, "Romano-Wolf not computed: no joint draws (results/joint_draws.parquet)"
    if family.empty:
        return nan, ""
    wide = draws_matrix(draws)
    want = pd.MultiIndex.from_frame(family[KEYS])
    missing = ~want.isin(wide.columns)
    if missing.any():
        first = family.loc[missing, KEYS].iloc[0]
        row = f"{first['outcome']} {first['subgroup'] or 'whole cohort'} {first['method']} {first['estimand']}"
        why = (
            f"Romano-Wolf not computed: tests of the family have no joint draws (the first: {row}); "
            "fix: add the primary method to estimation.joint_draws.methods (an influence-function method)"
        )
        return nan, why
    se = family["std_error"].to_numpy(dtype=float)
    if not (np.isfinite(se) & (se > 0)).all():
        return nan, "Romano-Wolf not computed: a test of the family has no positive standard error"
    est = family["estimate"].to_numpy(dtype=float)
    boot = wide.reindex(columns=want).to_numpy(dtype=float)
    # an adjusted p is never below the test's own p: the draws resolve p only to 1 / (B + 1), and they
    # are Gaussian where a CR2 row's p is from t(G - 1)
    return np.maximum(romano_wolf(est / se, (boot - est) / se), family["p_value"].to_numpy(dtype=float)), ""


def multiplicity_table(
    estimates: pd.DataFrame, primary: dict[str, str], draws: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The family's rows with their Holm and Romano-Wolf adjusted p-values; the primary whole-cohort row
    first. ``draws``: results/joint_draws.parquet (long, :data:`deepvalue.effects.joint.JOINT_COLUMNS`)."""
    family = _family(estimates, primary)
    family["role"] = np.where(
        (family["outcome"] == primary["outcome"]) & (family["subgroup"] == ""), "confirmatory", "exploratory"
    )
    family["p_holm"] = holm(family["p_value"].to_numpy(dtype=float))
    family["p_romano_wolf"], family["notes"] = _romano_wolf_column(family, draws)
    family["family_size"] = len(family)
    family = family.sort_values("role", kind="stable")  # "confirmatory" sorts first
    return family.reindex(columns=MULTIPLICITY_COLUMNS).reset_index(drop=True)
